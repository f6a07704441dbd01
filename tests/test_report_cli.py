"""`python -m app report`: text, JSON with stable keys, --out, an empty range (exit 0) and bad flags (one line, exit 2)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Iterator

import pytest

from app.cli import main
from tests import report_history as history
from tests.report_history import CATALOG


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    app_log = logging.getLogger("app")
    level = app_log.level
    app_log.setLevel(logging.CRITICAL)  # building the history is not what this module tests; restored for the next module
    try:
        path = tmp_path_factory.mktemp("report-cli") / "ladder.db"
        history.build(path)
    finally:
        app_log.setLevel(level)
    yield path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def base(db: Path, *more: str) -> list[str]:
    return ["report", "--since", "2026-10-05", "--until", "2026-11-16", "--db", str(db), "--catalog", str(CATALOG), *more]


def test_text_has_every_table(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, *base(db))
    assert code == 0
    assert "60 incident(s)" in out
    for heading in ("Incidents (times as p50 / p90 / max)", "Escalation levels", "On-call load", "Weeks (Monday UTC)",
                    "Pages by hour of week (UTC)"):
        assert heading in out
    assert "alice@example.com" in out and "2026-10-26" in out


def test_json_keys_are_stable(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, *base(db, "--format", "json"))
    assert code == 0
    data = json.loads(out)
    assert list(data) == ["since", "until", "team", "service", "incidents", "severities", "groups", "levels", "people", "weeks",
                          "pages_by_hour_of_week"]
    assert data["incidents"] == 60 and data["since"] == "2026-10-05T00:00:00.000000Z"
    assert list(data["groups"][0]) == ["team", "service", "severity", "incidents", "time_to_ack", "time_to_resolve",
                                       "time_to_mitigate", "time_to_first_escalation"]
    assert list(data["groups"][0]["time_to_ack"]) == ["count", "p50_s", "p90_s", "max_s"]
    assert list(data["levels"][0]) == ["policy", "level", "reached", "acknowledged", "timed_out", "skipped", "acknowledged_by_other_team"]
    assert list(data["people"][0]) == ["person", "team", "pages", "outside_working_hours", "at_night", "nights_interrupted",
                                       "share_of_pages", "share_of_oncall"]
    assert list(data["weeks"][0]) == ["week_start", "incidents_by_severity", "time_to_ack_p50_s", "time_to_resolve_p50_s", "pages"]
    assert len(data["weeks"]) == 6 and len(data["pages_by_hour_of_week"]) == 7


def test_team_and_service_filters(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, *base(db, "--format", "json", "--team", "identity"))
    assert {g["team"] for g in json.loads(out)["groups"]} == {"identity"}
    _, out, _ = run(capsys, *base(db, "--format", "json", "--service", "cards"))
    assert {g["service"] for g in json.loads(out)["groups"]} == {"cards"}


def test_out_writes_the_file(db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "report.json"
    code, out, _ = run(capsys, *base(db, "--format", "json", "--out", str(target)))
    assert code == 0 and out == ""
    assert json.loads(target.read_text())["incidents"] == 60


def test_an_empty_range_says_so_and_exits_0(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "report", "--since", "2025-01-01", "--until", "2025-02-01", "--db", str(db), "--catalog", str(CATALOG))
    assert code == 0
    assert out.strip() == "no incidents between 2025-01-01 00:00 and 2025-02-01 00:00 UTC"


@pytest.mark.parametrize("flags, named", [
    (["--since", "yesterday"], "--since"),
    (["--since", "2026-13-01"], "--since"),
    (["--since", "1999-12-31"], "--since"),
    (["--since", "2026-10-05", "--until", "2201-01-01"], "--until"),
    (["--since", "2026-10-05", "--until", "2026-10-05"], "--until"),
    (["--since", "2026-10-05", "--until", "2026-10-01"], "--until"),
    (["--since", "2026-10-05", "--team", "nope"], "--team"),
    (["--since", "2026-10-05", "--service", "nope"], "--service"),
    (["--since", "2026-10-05", "--format", "pdf"], "--format"),
    (["--since", "-5"], "--since"),
    (["--since", "2200-01-01"], "--since"),  # in the future, with no --until: --since is at fault, not the --until never given
])
def test_bad_flags_name_the_flag_and_exit_2(db: Path, capsys: pytest.CaptureFixture[str], flags: list[str], named: str) -> None:
    code, out, err = run(capsys, "report", *flags, "--db", str(db), "--catalog", str(CATALOG))
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and f"argument {named}" in err


def test_out_refuses_a_directory_or_an_unwritable_place(db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for place in (tmp_path, tmp_path / "missing" / "report.txt"):
        code, out, err = run(capsys, *base(db, "--out", str(place)))
        assert code == 2 and out == ""
        assert len(err.strip().splitlines()) == 1 and "argument --out" in err


def test_a_missing_database_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "report", "--since", "2026-10-05", "--db", str(tmp_path / "none.db"), "--catalog", str(CATALOG))
    assert code == 2 and "--db" in err
