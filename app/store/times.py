"""The one text form of an instant in the database: UTC ISO-8601 with microseconds.

SQL never reads the clock; callers pass `now`, so tests move time freely.
"""

from __future__ import annotations

from datetime import datetime, timezone


def iso(moment: datetime) -> str:
    """`2026-11-23T10:00:00.000000Z`: fixed width, so text order is time order (and SQL compares it as text)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    # isoformat, not strftime: the same text, several times faster, and every escalation writes a dozen of these.
    return moment.astimezone(timezone.utc).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def parse_iso(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.fromisoformat(text.removesuffix("Z")).replace(tzinfo=timezone.utc)
