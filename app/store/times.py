"""The one text form of an instant in the database: UTC ISO-8601 with microseconds.

SQL never reads the clock; callers pass `now`, so tests move time freely.
"""

from __future__ import annotations

from datetime import datetime, timezone


def iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_iso(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
