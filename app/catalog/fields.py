"""The pieces every catalog model shares: limits, value parsers and field validators.

Durations ('5m', '1h30m'), clock times, IANA zones, people (e-mail or Slack user ID) and Slack
channel and user-group IDs are checked here, and pydantic's error messages are reworded in the
catalog's own terms, so a mistake reads the same whichever model it was found in.
"""

from __future__ import annotations

import re
from datetime import datetime, time
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, ValidationError

MAX_LEVELS = 20
MAX_TARGETS = 10
MAX_REPEAT = 9
MIN_TIMEOUT_ONE_TARGET = 60
MIN_TIMEOUT_SEVERAL_TARGETS = 300
REARM_NOTICE = 300  # an ack timeout is announced in the channel this long before the ladder re-arms
MIN_ACK_TIMEOUT = 600
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]

_DURATION = re.compile(r"^\s*(?:(\d+)\s*h)?\s*(?:(\d+)\s*m)?\s*(?:(\d+)\s*s)?\s*$")
_SLACK_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_SLACK_CHANNEL = re.compile(r"^(#[a-z0-9][a-z0-9_-]{0,79}|[CG][A-Z0-9]{2,})$")
_SLACK_USERGROUP = re.compile(r"^S[A-Z0-9]{2,}$")
_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_CLOCK = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)(?::([0-5]\d))?$")


MAX_DURATION = 30 * 24 * 3600  # no timer in a catalog waits longer than a month
EARLIEST, LATEST = 1970, 2200  # the years a schedule's dates may name


def parse_duration(value: Any) -> int:
    """'5m', '1h30m', '90s' or a bare number of seconds -> seconds, at most 720h."""
    if isinstance(value, bool):
        raise ValueError("a duration such as 5m, 1h30m or 90s")
    seconds: int | None = None
    if isinstance(value, int):
        seconds = value
    elif isinstance(value, str) and len(value) <= 40:
        match = _DURATION.match(value)
        if match and any(match.groups()):
            hours, minutes, secs = (int(g) if g else 0 for g in match.groups())
            seconds = hours * 3600 + minutes * 60 + secs
    if seconds is None:
        raise ValueError(f"{value!r} is not a duration; write it like 5m, 1h30m or 90s")
    if not 0 <= seconds <= MAX_DURATION:
        raise ValueError(f"{value!r} is out of range; a duration is from 0s to {MAX_DURATION // 3600}h")
    return seconds


def bounded_date(value: datetime) -> datetime:
    """A schedule's wall time, naive and within the years a rotation can sensibly name."""
    if not EARLIEST <= value.year <= LATEST:
        raise ValueError(f"{value.isoformat(timespec='minutes')} is out of range; give a date between {EARLIEST} and {LATEST}")
    return value.replace(tzinfo=None)


def format_duration(seconds: int) -> str:
    hours, rest = divmod(int(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{hours}h" if hours else "", f"{minutes}m" if minutes else "", f"{secs}s" if secs else ""]
    return "".join(parts) or "0s"


def is_person_ref(value: str) -> bool:
    return bool(_EMAIL.match(value) or _SLACK_USER_ID.match(value))


def _slack_channel(value: str | None, example: str) -> str | None:
    """A Slack channel as the catalog names one (`#name` or an ID), or None; the message's example fits the field."""
    if value is not None and not _SLACK_CHANNEL.match(value):
        raise ValueError(f"a channel name like {example} or a channel ID like C0123ABCD")
    return value


def _person(value: str) -> str:
    if not is_person_ref(value):
        raise ValueError(f"{value!r} is neither an e-mail address nor a Slack user ID (U…/W…)")
    return value


def _clock(value: Any) -> time:
    if isinstance(value, time):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        # YAML 1.1 reads an unquoted 09:00 as sexagesimal 540; take it back to a clock time.
        hours, minutes = divmod(value, 60)
        if 0 <= hours <= 23:
            return time(hours, minutes)
    if isinstance(value, str):
        match = _CLOCK.match(value.strip())
        if match:
            return time(int(match.group(1)), int(match.group(2)), int(match.group(3) or 0))
        if value.strip() == "24:00":
            return time(23, 59, 59, 999999)
    raise ValueError(f"{value!r} is not a time of day; write it like \"09:00\"")


_ZONE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+){0,2}")


def _zone(value: str) -> str:
    """An IANA name, looked up in the zone database; never a path the lookup would try to open."""
    try:
        if len(value) > 64 or not _ZONE_NAME.fullmatch(value):
            raise ValueError
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(f"{value!r} is not a known IANA time zone (e.g. Europe/London, America/New_York)") from None
    return value


def _one_reference(entry: Any, what: str, fields: tuple[str, ...]) -> None:
    """Targets and stakeholders name exactly one thing; people and user groups must look right."""
    if sum(1 for name in fields if getattr(entry, name)) != 1:
        raise ValueError(f"{what} names exactly one of: {', '.join(fields)}")
    if getattr(entry, "user", None):
        _person(entry.user)
    group = getattr(entry, "user_group", None)
    if group and not _SLACK_USERGROUP.match(group):
        raise ValueError(f"{group!r} is not a Slack user group ID (S…)")


def _plain(error: Any) -> str:
    """pydantic's message for one error, in the catalog's own words ("at most 9; got 10")."""
    kind, ctx, given = error["type"], error.get("ctx") or {}, error.get("input")
    many = "items" if isinstance(given, (list, dict)) else "characters"
    if kind in ("less_than_equal", "less_than"):
        return f"at most {ctx.get('le', ctx.get('lt'))}; got {given!r}"
    if kind in ("greater_than_equal", "greater_than"):
        return f"at least {ctx.get('ge', ctx.get('gt'))}; got {given!r}"
    if kind == "too_long":
        return f"at most {ctx.get('max_length')} {many}; got {ctx.get('actual_length')}"
    if kind == "too_short":
        return f"at least {ctx.get('min_length')} {many}; got {ctx.get('actual_length')}"
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return f"must be a whole number; got {given!r}"
    if kind in ("bool_parsing", "bool_type"):
        return f"must be true or false; got {given!r}"
    if kind == "string_type":
        return f"must be text; got {given!r}"
    return str(error["msg"]).removeprefix("Value error, ")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _one_of(model: type[BaseModel], value: dict[str, Any]) -> Any:
    """Validate the mapping form of a `str | mapping` field, with one readable message on failure."""
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        messages = []
        for error in exc.errors():
            where = ".".join(str(p) for p in error["loc"])
            detail = _plain(error)
            if error["type"] == "extra_forbidden":
                detail = f"unknown field (allowed: {', '.join(model.model_fields)})"
            elif error["type"] == "missing":
                detail = "is required"
            messages.append(f"{where}: {detail}" if where else detail)
        raise ValueError("; ".join(messages)) from None
