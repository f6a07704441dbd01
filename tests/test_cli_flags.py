"""Every flag of the catalog tools, given hostile values: refused at once, in one line naming the flag, exit 2.

The real `python -m app` as a process, because the answer a person gets is the process's: its
exit code, its stderr and how long it took. Before, `--for abc` was a traceback, `--at` in year
9999 worked for 40 s and then overflowed, and `--at ''` exited 1 without naming the flag.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "manifests" / "catalog.yaml"
HUGE = "9" * 100_000  # one argument may be at most 128 KiB on Linux
SIM = ["simulate", "--catalog", str(EXAMPLE), "--service", "bank-transfers", "--no-ack"]
ONCALL = ["oncall", "--catalog", str(EXAMPLE)]
CHECK = ["check", str(EXAMPLE)]
# Measured as the child's CPU time, which a busy machine does not inflate: about half a second to start Python
# and read the flags. What matters is the order of magnitude: year 9999 used to take 40 s.
PROMPTLY = 3.0


def run(args: list[str], cwd: Path = ROOT) -> tuple[subprocess.CompletedProcess, float]:
    """Run the CLI; (the result, the CPU seconds it spent)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLACK_") and k != "CATALOG_PATH"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = subprocess.run([sys.executable, "-m", "app", *args], env={**env, "PYTHONPATH": str(ROOT)}, cwd=cwd,
                            capture_output=True, text=True, timeout=60)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return result, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


AT_VALUES = ["", "garbage", "-5", "0", "0001-01-01T00:00", "9999-12-31T23:59", "0001-01-01T00:30+01:00",
             "2026-13-45T99:99", HUGE]
CASES = [
    *[(SIM, "--at", v) for v in AT_VALUES],
    *[(ONCALL, "--at", v) for v in ("", "9999-12-31T23:59", "-5", HUGE)],
    *[(CHECK, "--at", v) for v in ("", "0001-01-01T00:00", HUGE)],
    *[(SIM, "--for", v) for v in ("0", "0s", "abc", "-5m", "", "5x", "1h-5m", HUGE)],
    *[(SIM, "--service", v) for v in ("", "nope", "-x", HUGE)],
    *[(SIM, "--severity", v) for v in ("", "sev9", HUGE)],
    *[(ONCALL, "--team", v) for v in ("", "nope", "-x", HUGE)],
    *[(ONCALL, "--schedule", v) for v in ("", "nope", HUGE)],
    *[(["oncall"], "--catalog", v) for v in ("", "/nonexistent/catalog.yaml", "/")],
    *[(["simulate", "--service", "x"], "--catalog", v) for v in ("/nonexistent/catalog.yaml",)],
    *[(["check"], "PATH", v) for v in ("/nonexistent/catalog.yaml", "/")],
    *[(["run"], "--env-file", v) for v in ("/nonexistent/.env", "/")],
]


def _id(case: tuple[list[str], str, str]) -> str:
    command, flag, value = case
    return f"{command[0]} {flag}={value if len(value) < 30 else 'huge'}"


@pytest.mark.parametrize("command, flag, value", CASES, ids=[_id(c) for c in CASES])
def test_a_hostile_value_is_refused_at_once_naming_the_flag(command: list[str], flag: str, value: str) -> None:
    args = [*command, value] if flag == "PATH" else [*command, flag, value]
    result, took = run(args)
    assert result.returncode == 2, result.stderr + result.stdout[:500]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr[:2000]
    assert f"argument {flag}: " in lines[0], lines[0]
    assert len(lines[0]) < 400, "a huge value is quoted cut, not whole"
    assert result.stdout == ""
    assert took < PROMPTLY, f"took {took:.1f} s of CPU"


@pytest.mark.parametrize("value, says", [
    ("abc", "'abc' is not a duration; write it like 30m, 4h, 1h30m or 2d"),
    ("-5m", "'-5m' is not a duration"),  # reaches its own check, not argparse's "expected one argument"
    ("0", "'0' is not a duration"),
    ("0s", "'0s' is no time at all; give a duration longer than 0"),
])
def test_for_says_what_is_wrong_with_the_duration(value: str, says: str) -> None:
    result, _ = run([*SIM, "--for", value])
    assert result.stderr.startswith(f"python -m app simulate: error: argument --for: {says}"), result.stderr


@pytest.mark.parametrize("value", ["0001-01-01T00:00", "9999-12-31T23:59"])
def test_at_outside_the_catalogs_years_says_the_range(value: str) -> None:
    result, _ = run([*SIM, "--at", value])
    assert f"argument --at: '{value}' is out of range; give a time between 1970-01-01 and 2200-12-31" in result.stderr


def test_an_unknown_service_lists_a_few_known_ones() -> None:
    result, _ = run([*SIM, "--service", "nope"])
    assert "argument --service: unknown service 'nope'; known services: bank-transfers, card-payments" in result.stderr
    assert "and 2 more" in result.stderr  # ten named, the rest counted: one line even with 2,000 services


@pytest.mark.parametrize("command", [["check"], ["oncall"], ["simulate", "--service", "bank-transfers"]])
def test_a_tool_run_from_another_directory_says_where_it_looked_for_the_catalog(tmp_path: Path, command: list[str]) -> None:
    result, _ = run(command, cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith(f"ladder: CATALOG_PATH is not set, so Ladder looked for manifests/catalog.yaml in the "
                                    f"working directory {tmp_path}: there is no file {tmp_path / 'manifests' / 'catalog.yaml'}.")
    assert "invalid" not in result.stderr and "problem(s)" not in result.stderr


def test_a_reader_that_stops_early_gets_no_traceback() -> None:
    """`simulate … | head`: the pipe closes while Ladder is still writing (about 90 kB, more than a pipe holds)."""
    process = subprocess.Popen([sys.executable, "-m", "app", *SIM, "--severity", "sev1", "--at", "2026-11-28T03:00", "--for", "720h", "--json"],
                               env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None and process.stdout.read(1) == b"{"
    process.stdout.close()
    _, err = process.communicate(timeout=30)
    assert b"Traceback" not in err and b"BrokenPipe" not in err
