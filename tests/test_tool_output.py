"""What `simulate` and `oncall` print: times given with an offset, walks that are cut, columns that stay apart."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from app import oncall_report
from app.catalog import load_catalog
from app.simulate import MAX_HORIZON, MAX_STEPS, render, simulate

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "manifests" / "catalog.yaml"
SAT_3AM = datetime(2026, 11, 28, 3, 0, tzinfo=timezone.utc)
PLUS_ONE = timezone(timedelta(hours=1))
PLUS_NINE = timezone(timedelta(hours=9))


def app(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLACK_")}
    return subprocess.run([sys.executable, "-m", "app", *args], env={**env, "PYTHONPATH": str(ROOT)}, cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("at, says", [
    ("2026-11-28T03:00+01:00", "declared Sat 2026-11-28 02:00 Europe/London (02:00 UTC)."),
    ("2026-11-28T03:00", "declared Sat 2026-11-28 03:00 Europe/London (03:00 UTC)."),  # naive is UTC, as documented
    ("2026-11-28T03:00Z", "declared Sat 2026-11-28 03:00 Europe/London (03:00 UTC)."),
    ("2026-07-01T03:00-04:00", "declared Wed 2026-07-01 08:00 Europe/London (07:00 UTC)."),
])
def test_simulate_at_with_an_offset_is_that_instant_labelled_in_utc(at: str, says: str) -> None:
    result = app("simulate", "--catalog", str(EXAMPLE), "--service", "bank-transfers", "--at", at)
    assert result.returncode == 0, result.stderr
    assert says in result.stdout.splitlines()[0]


@pytest.mark.parametrize("at, says", [
    ("2026-11-28T21:00+09:00", "On call at Sat 2026-11-28 12:00 UTC:"),
    ("2026-11-28T12:00", "On call at Sat 2026-11-28 12:00 UTC:"),
])
def test_oncall_at_with_an_offset_is_that_instant_labelled_in_utc(at: str, says: str) -> None:
    text = app("oncall", "--catalog", str(EXAMPLE), "--team", "payments", "--at", at)
    assert text.returncode == 0, text.stderr
    assert text.stdout.splitlines()[0] == says
    data = json.loads(app("oncall", "--catalog", str(EXAMPLE), "--at", at, "--json").stdout)
    assert data["at"] == "2026-11-28T12:00:00+00:00"


def test_the_renderers_label_utc_whatever_offset_they_are_given() -> None:
    """The class of the bug, not one caller: a report built at any aware instant says that instant in UTC."""
    catalog = load_catalog(EXAMPLE)
    sim = simulate(catalog, "bank-transfers", None, datetime(2026, 11, 28, 3, 0, tzinfo=PLUS_ONE), no_ack=False)
    assert "declared Sat 2026-11-28 02:00 Europe/London (02:00 UTC)." in render(sim, catalog)
    report = oncall_report.build(catalog, datetime(2026, 11, 28, 21, 0, tzinfo=PLUS_NINE), team="payments")
    assert oncall_report.render_text(report, catalog).startswith("On call at Sat 2026-11-28 12:00 UTC:")


def test_a_horizon_beyond_30_days_is_cut_and_says_where() -> None:
    catalog = load_catalog(EXAMPLE)
    sim = simulate(catalog, "bank-transfers", "sev3", SAT_3AM, no_ack=True, horizon=timedelta(hours=9999))
    assert sim.asked == timedelta(hours=9999) and sim.until == SAT_3AM + MAX_HORIZON == datetime(2026, 12, 28, 3, 0, tzinfo=timezone.utc)
    assert ("--for 9999h was cut to 720h (30 days), the longest simulate follows: nothing after Mon 2026-12-28 03:00 "
            "Europe/London is shown.") in render(sim, catalog)
    assert sim.as_dict()["horizon_cut"] == {"asked": "9999h", "followed": "720h"}
    far = simulate(catalog, "bank-transfers", "sev3", datetime(2200, 12, 31, 23, 0, tzinfo=timezone.utc), no_ack=True,
                   horizon=timedelta(days=36_600))  # a century asked, at the far end of the years --at accepts
    assert far.until == datetime(2201, 1, 30, 23, 0, tzinfo=timezone.utc)


def test_a_walk_longer_than_the_step_limit_says_where_it_stops() -> None:
    catalog = load_catalog(EXAMPLE)
    sim = simulate(catalog, "bank-transfers", "sev1", SAT_3AM, no_ack=True, horizon=timedelta(hours=720))
    assert sim.cut_at == datetime(2026, 12, 8, 9, 0, tzinfo=timezone.utc) and sim.asked is None
    text = render(sim, catalog)
    assert text.splitlines()[-1] == (f"The walk stops here, after {MAX_STEPS} steps, at Tue 2026-12-08 09:00 Europe/London "
                                     "(+14760m); later steps are not shown. A shorter --for shows a walk whole.")
    assert sim.as_dict()["steps_cut_at"] == "2026-12-08T09:00:00+00:00"
    assert simulate(catalog, "bank-transfers", "sev1", SAT_3AM, no_ack=True).cut_at is None


STEP = re.compile(r"^(\+\d+m +)(Mon|Tue|Wed|Thu|Fri|Sat|Sun) \d\d:\d\d  \S")


def test_columns_never_run_together() -> None:
    """Ten days in, "+14670m" is seven characters: it once ran into the clock beside it ("+14670mSat 03:30")."""
    catalog = load_catalog(EXAMPLE)
    long = render(simulate(catalog, "bank-transfers", "sev1", SAT_3AM, no_ack=True, horizon=timedelta(hours=720)), catalog)
    steps = [line for line in long.splitlines() if line.startswith("+")]
    assert len(steps) > 400 and all(STEP.match(line) for line in steps), [s for s in steps if not STEP.match(s)][:3]
    assert len({len(STEP.match(line).group(1)) for line in steps}) == 1  # one width: the clocks line up
    short = render(simulate(catalog, "bank-transfers", "sev1", SAT_3AM, no_ack=True, horizon=timedelta(hours=1)), catalog)
    assert "+10m   Sat 03:10  policy payments-critical exhausted" in short  # the documented layout is unchanged


def test_cli_for_9999h_runs_and_says_it_was_cut() -> None:
    result = app("simulate", "--catalog", str(EXAMPLE), "--service", "bank-transfers", "--at", "2026-11-28T03:00",
                 "--no-ack", "--for", "9999h")
    assert result.returncode == 0, result.stderr
    assert "--for 9999h was cut to 720h (30 days)" in result.stdout


def test_the_cli_and_the_catalog_agree_on_the_years_a_time_may_name() -> None:
    from app.catalog.fields import EARLIEST, LATEST
    from app.cli_args import EARLIEST_YEAR, LATEST_YEAR

    assert (EARLIEST_YEAR, LATEST_YEAR) == (EARLIEST, LATEST)
