"""The command line's values, checked while argparse reads them: a bad one is refused at once.

Why here, before any command runs: a value that cannot be right (a time in year 1, a duration of
"abc", an empty --at) should get its answer in a fraction of a second, before the catalog is read
and before the engine walks towards year 9999, and in argparse's own words ("argument --for: …"),
so that every flag, checked here or later against the catalog, is refused the same way: one line
naming the flag, exit 2. This module imports nothing heavy, so that answer stays fast.
"""

from __future__ import annotations

import argparse
import re
import sys
from datetime import datetime, timedelta, timezone
from typing import NoReturn

# The years a catalog's dates may name (app.catalog.fields.EARLIEST/LATEST; a test keeps them equal). Outside
# them no schedule can say anything, and the far ends overflow datetime arithmetic after minutes of work.
EARLIEST_YEAR, LATEST_YEAR = 1970, 2200
# Far beyond any horizon a command follows (simulate cuts at 30 days and says so), and far inside what
# timedelta can hold, so that "--for 99999999h" is cut like "--for 9999h" instead of overflowing.
_LONGEST = timedelta(days=100 * 366)
_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
TIME_EXAMPLE = "2026-11-28T03:00 (UTC) or 2026-11-28T03:00+01:00"


def shown(raw: str, limit: int = 40) -> str:
    """A value as a message quotes it: escaped (no terminal control codes) and cut, so a huge value cannot flood a line."""
    return repr(raw if len(raw) <= limit else raw[:limit] + "…")


def instant(raw: str) -> datetime:
    """--at: 'now', or ISO 8601 meaning UTC without an offset, converted to UTC with one; within the catalog's years.

    Converted here, once, so that everything after (the engine, the labels that say "UTC") sees one zone.
    """
    text = raw.strip()
    if text.lower() == "now":
        return datetime.now(timezone.utc)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{shown(raw)} is not a time; write it like {TIME_EXAMPLE}") from None
    try:
        moment = moment.astimezone(timezone.utc) if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    except OverflowError:  # 0001-01-01T00:00+01:00 has no UTC instant
        moment = datetime.min.replace(tzinfo=timezone.utc)
    if not EARLIEST_YEAR <= moment.year <= LATEST_YEAR:
        raise argparse.ArgumentTypeError(
            f"{shown(raw)} is out of range; give a time between {EARLIEST_YEAR}-01-01 and {LATEST_YEAR}-12-31")
    return moment


def duration(raw: str) -> timedelta:
    """--for: '30m', '4h', '1h30m', '2d', '90s'; longer than nothing. A long one is kept (the command cuts it and says so)."""
    match = _DURATION.match(raw.strip().lower()) if len(raw) <= 40 else None
    if not raw.strip() or match is None:
        raise argparse.ArgumentTypeError(f"{shown(raw)} is not a duration; write it like 30m, 4h, 1h30m or 2d")
    days, hours, minutes, seconds = (int(group) if group else 0 for group in match.groups())
    total = ((days * 24 + hours) * 60 + minutes) * 60 + seconds
    if total <= 0:
        raise argparse.ArgumentTypeError(f"{shown(raw)} is no time at all; give a duration longer than 0, such as 30m or 4h")
    return timedelta(seconds=min(total, int(_LONGEST.total_seconds())))


MAX_PREFLIGHT_DAYS = 31


def days(raw: str) -> int:
    """--days of a preflight: a whole number of days from 1 to 31 (each hour of them is checked)."""
    text = raw.strip()
    if not text.isdigit() or len(text) > 6:
        raise argparse.ArgumentTypeError(f"{shown(raw)} is not a whole number of days; give 1 to {MAX_PREFLIGHT_DAYS}, such as 7")
    if not 1 <= int(text) <= MAX_PREFLIGHT_DAYS:
        raise argparse.ArgumentTypeError(f"{shown(raw)} is out of range; give 1 to {MAX_PREFLIGHT_DAYS} days")
    return int(text)


REPORT_YEARS = (2000, 2200)


def report_day(raw: str) -> datetime:
    """--since/--until of a report: a date (2026-10-01, midnight UTC) or an ISO time as --at takes it, in 2000-2200."""
    text = raw.strip()
    try:
        moment = datetime.fromisoformat(text) if text else None
    except ValueError:
        moment = None
    if moment is None:
        raise argparse.ArgumentTypeError(f"{shown(raw)} is not a date; write it like 2026-10-01 (midnight UTC) or {TIME_EXAMPLE}")
    try:
        moment = moment.astimezone(timezone.utc) if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    except OverflowError:
        moment = datetime.min.replace(tzinfo=timezone.utc)
    if not REPORT_YEARS[0] <= moment.year <= REPORT_YEARS[1]:
        raise argparse.ArgumentTypeError(f"{shown(raw)} is out of range; give a date between {REPORT_YEARS[0]}-01-01 and {REPORT_YEARS[1]}-12-31")
    return moment


def incident_number(raw: str) -> int:
    """An incident as people name it: INC-12 or 12."""
    match = re.fullmatch(r"(?:INC-)?([1-9][0-9]{0,8})", raw.strip(), re.IGNORECASE)
    if match is None:
        raise argparse.ArgumentTypeError(f"{shown(raw)} is not an incident; name it like INC-12 or 12")
    return int(match.group(1))


# The options that take a value. A value that starts with '-' ("--for -5m") is read by argparse as another option,
# and it answers "expected one argument", which hides what is wrong with the value itself.
VALUE_FLAGS = frozenset({"--at", "--for", "--service", "--severity", "--team", "--schedule", "--catalog", "--env-file", "--db", "--format",
                         "--since", "--until", "--out", "--days", "--pace", "--as"})
_DASH_VALUE = re.compile(r"^-(?!-)")


def attach_dash_values(argv: list[str]) -> list[str]:
    """`--for -5m` as `--for=-5m`, so that the value reaches its own check and is refused for what it is."""
    out: list[str] = []
    index = 0
    while index < len(argv):
        token = argv[index]
        if token in VALUE_FLAGS and index + 1 < len(argv) and _DASH_VALUE.match(argv[index + 1]):
            out.append(f"{token}={argv[index + 1]}")
            index += 2
            continue
        out.append(token)
        index += 1
    return out


class Parser(argparse.ArgumentParser):
    """argparse, answering a usage error in one line (`prog: error: argument --x: why`), exit 2.

    argparse prints the whole usage first; with many options that buries the one line that says
    what is wrong. `--help` still shows the usage.
    """

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def refuse(args: argparse.Namespace, flag: str, message: str) -> NoReturn:
    """A flag whose value was checked after parsing (against the catalog): refused like one argparse refused."""
    parser: argparse.ArgumentParser | None = getattr(args, "parser", None)
    if parser is None:  # pragma: no cover - every subcommand sets it
        print(f"ladder: error: argument {flag}: {message}", file=sys.stderr)
        raise SystemExit(2)
    parser.error(f"argument {flag}: {message}")
