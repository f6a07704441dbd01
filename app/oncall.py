"""Who is on call for a schedule at an instant.

Hand-offs are cron expressions evaluated in the schedule's own time zone, so "Monday 09:00" stays
09:00 local across DST changes. Overrides win over the rotation. Everything here is pure: the
caller passes the instant, so the live engine and `simulate` get the same answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from croniter import croniter

from app.catalog import Schedule

# Hand-offs are counted from the rotation start; cap the walk so a bad config cannot hang a tick.
_MAX_HANDOFFS = 200_000


@dataclass(frozen=True)
class OnCall:
    """The person on call, or None with the reason (a gap), so callers can explain a skip."""

    person: str | None
    reason: str


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def handoffs_between(schedule: Schedule, start: datetime, end: datetime) -> int:
    """Number of hand-offs in (start, end], evaluated in the schedule's zone."""
    zone = schedule.zone
    cursor = croniter(schedule.rotation.handoff, start.astimezone(zone))
    end_local = end.astimezone(zone)
    count = 0
    while count < _MAX_HANDOFFS:
        nxt = cursor.get_next(datetime)
        if nxt > end_local:
            break
        count += 1
    return count


def who_is_on_call(schedule: Schedule, at: datetime) -> OnCall:
    at = _aware(at)
    zone = schedule.zone
    local = at.astimezone(zone)
    for override in schedule.overrides:
        start = override.start.replace(tzinfo=zone)
        end = override.end.replace(tzinfo=zone)
        if start <= local < end:
            return OnCall(override.user, "override")
    rotation = schedule.rotation
    start = rotation.start.replace(tzinfo=zone)
    if local < start:
        return OnCall(None, f"the rotation starts {rotation.start.isoformat(timespec='minutes')} {schedule.timezone}")
    index = handoffs_between(schedule, start, local) % len(rotation.members)
    return OnCall(rotation.members[index], "rotation")
