"""Who is on call for a schedule at an instant, and when that changes.

A schedule has layers; each layer rotates its members at hand-offs given as a cron expression
(or the simple daily/weekly form) in the schedule's own zone, optionally only within
restriction windows. Overrides win over every layer; a later layer wins over an earlier one
wherever it has someone. Cron is evaluated on local wall-clock time and only then turned into
an instant, so "Monday 09:00" stays 09:00 local across DST. One rule (`handoffs.local_to_utc`)
turns every wall time into an instant, for hand-offs, layer starts, restriction windows and
override bounds alike: a local time that does not exist (spring forward) is the first instant
after the gap, one that exists twice (fall back) is its first occurrence. The rotation's position
is counted by arithmetic (`app.handoffs`), so an answer ten years out costs what one tomorrow does.
Everything here is pure: the caller passes the instant, so the live engine and `simulate` agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from app.catalog import WEEKDAYS, Layer, Schedule, Window
from app.handoffs import handoffs, local_to_utc

@dataclass(frozen=True)
class OnCall:
    """The person on call, or None with the reason (a gap), so callers can explain a skip."""

    person: str | None
    reason: str


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _layer_name(layer: Layer, index: int) -> str:
    return layer.name or f"layer {index + 1}"


def _in_window(window: Window, at: datetime, zone: ZoneInfo) -> bool:
    """Whether `at` falls in one of the window's instant intervals: [its start, its end) on a day it covers."""
    today = at.astimezone(zone).date()
    for day in (today - timedelta(days=1), today):  # a window that wraps past midnight began the day before
        if WEEKDAYS[day.weekday()] not in window.days:
            continue
        end_day = day + timedelta(days=1) if window.end <= window.start else day
        if _wall(day, window.start, zone) <= at < _wall(end_day, window.end, zone):
            return True
    return False


def _wall(day: date, clock: time, zone: ZoneInfo) -> datetime:
    return local_to_utc(datetime.combine(day, clock), zone)


def layer_on_call(schedule: Schedule, index: int, at: datetime) -> OnCall:
    layer = schedule.layers[index]
    zone = schedule.zone
    start = local_to_utc(layer.start, zone)
    if at < start:
        return OnCall(None, f"{_layer_name(layer, index)} starts {layer.start.isoformat(timespec='minutes')} {schedule.timezone}")
    if layer.restrictions and not any(_in_window(window, at, zone) for window in layer.restrictions):
        hours = "; ".join(w.describe() for w in layer.restrictions)
        return OnCall(None, f"{_layer_name(layer, index)} only covers {hours} {schedule.timezone}")
    moved = handoffs(layer.cron, layer.start, schedule.timezone).count_until(at)
    return OnCall(layer.members[moved % len(layer.members)], _layer_name(layer, index))


def who_is_on_call(schedule: Schedule, at: datetime) -> OnCall:
    at = _aware(at).astimezone(timezone.utc)
    zone = schedule.zone
    for override in schedule.overrides:
        if local_to_utc(override.start, zone) <= at < local_to_utc(override.end, zone):
            return OnCall(override.user, "override")
    gaps = []
    for index in range(len(schedule.layers) - 1, -1, -1):  # later layers win
        result = layer_on_call(schedule, index, at)
        if result.person is not None:
            return result
        gaps.append(result.reason)
    return OnCall(None, "; ".join(gaps))


def _change_points(schedule: Schedule, start: datetime, end: datetime, *, with_handoffs: bool = True) -> list[datetime]:
    """Every instant in (start, end] at which the answer can change (without hand-offs: whether anyone is on call)."""
    zone = schedule.zone
    points: set[datetime] = set()
    for layer in schedule.layers:
        if with_handoffs:
            points.update(handoffs(layer.cron, layer.start, schedule.timezone).between(start, end))
        points.add(local_to_utc(layer.start, zone))
        day = start.astimezone(zone).date() - timedelta(days=1)
        while day <= end.astimezone(zone).date():
            for window in layer.restrictions:
                for clock in (window.start, window.end):
                    points.add(local_to_utc(datetime.combine(day, clock), zone))
            day += timedelta(days=1)
    for override in schedule.overrides:
        points.update((local_to_utc(override.start, zone), local_to_utc(override.end, zone)))
    return sorted(p for p in points if start < p <= end)


@dataclass(frozen=True)
class Shift:
    start: datetime
    on_call: OnCall


def shifts(schedule: Schedule, start: datetime, end: datetime) -> list[Shift]:
    """Who is on call from `start` to `end`: the first shift, then one per change of person."""
    start = _aware(start).astimezone(timezone.utc)
    end = _aware(end).astimezone(timezone.utc)
    result = [Shift(start, who_is_on_call(schedule, start))]
    for point in _change_points(schedule, start, end):
        current = who_is_on_call(schedule, point)
        if current.person != result[-1].on_call.person:
            result.append(Shift(point, current))
    return result


def coverage(schedule: Schedule, start: datetime, end: datetime) -> list[tuple[datetime, bool]]:
    """Whether anyone is on call from `start` to `end`: (instant, someone) at `start` and wherever that can change.

    Only layer starts, restriction windows and overrides can open or close a gap; a hand-off changes who is on
    call, never whether (a layer always has a member to hand to). So the work is the same for a rotation that
    hands off every minute as for a weekly one.
    """
    start = _aware(start).astimezone(timezone.utc)
    end = _aware(end).astimezone(timezone.utc)
    return [(point, who_is_on_call(schedule, point).person is not None)
            for point in [start, *_change_points(schedule, start, end, with_handoffs=False)]]
