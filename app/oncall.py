"""Who is on call for a schedule at an instant, and when that changes.

A schedule has layers; each layer rotates its members at hand-offs given as a cron expression
(or the simple daily/weekly form) in the schedule's own zone, optionally only within
restriction windows. Overrides win over every layer; a later layer wins over an earlier one
wherever it has someone. Cron is evaluated on local wall-clock time and only then turned into
an instant, so "Monday 09:00" stays 09:00 local across DST; a local time that does not exist
(spring forward) happens at the first instant after the gap, one that exists twice (fall back)
happens once, at its first occurrence. Everything here is pure: the caller passes the instant,
so the live engine and `simulate` get the same answer.
"""

from __future__ import annotations

import bisect
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo

from croniter import croniter

from app.catalog import Layer, Schedule

# Hand-offs are counted from the layer start; cap the walk so a bad config cannot hang a tick.
_MAX_HANDOFFS = 500_000


@dataclass(frozen=True)
class OnCall:
    """The person on call, or None with the reason (a gap), so callers can explain a skip."""

    person: str | None
    reason: str


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def local_to_utc(naive: datetime, zone: ZoneInfo) -> datetime:
    """Wall time in `zone` -> the instant (fold=0: first occurrence; a gap time lands after the gap)."""
    return naive.replace(tzinfo=zone, fold=0).astimezone(timezone.utc)


class _HandoffSeries:
    """The hand-off instants of one layer, computed once and extended on demand (thread-safe)."""

    def __init__(self, cron: str, start: datetime, zone: ZoneInfo) -> None:
        self._iter = croniter(cron, start)  # naive local wall time
        self._zone = zone
        self._instants: list[datetime] = []
        self._lock = threading.Lock()

    def _extend_past(self, moment: datetime) -> None:
        while (not self._instants or self._instants[-1] <= moment) and len(self._instants) < _MAX_HANDOFFS:
            instant = local_to_utc(self._iter.get_next(datetime), self._zone)
            if self._instants and instant <= self._instants[-1]:
                continue  # a wall time repeated by a fall-back hour hands off once
            self._instants.append(instant)

    def count_until(self, moment: datetime) -> int:
        """Hand-offs in (start, moment]."""
        with self._lock:
            self._extend_past(moment)
            return bisect.bisect_right(self._instants, moment)

    def between(self, start: datetime, end: datetime) -> list[datetime]:
        with self._lock:
            self._extend_past(end)
            lo = bisect.bisect_right(self._instants, start)
            hi = bisect.bisect_right(self._instants, end)
            return self._instants[lo:hi]


@lru_cache(maxsize=4096)
def _series(cron: str, start: datetime, zone_name: str) -> _HandoffSeries:
    return _HandoffSeries(cron, start, ZoneInfo(zone_name))


def _layer_name(layer: Layer, index: int) -> str:
    return layer.name or f"layer {index + 1}"


def layer_on_call(schedule: Schedule, index: int, at: datetime) -> OnCall:
    layer = schedule.layers[index]
    zone = schedule.zone
    start = local_to_utc(layer.start, zone)
    if at < start:
        return OnCall(None, f"{_layer_name(layer, index)} starts {layer.start.isoformat(timespec='minutes')} {schedule.timezone}")
    local = at.astimezone(zone)
    if layer.restrictions and not any(window.contains(local) for window in layer.restrictions):
        hours = "; ".join(w.describe() for w in layer.restrictions)
        return OnCall(None, f"{_layer_name(layer, index)} only covers {hours} {schedule.timezone}")
    handoffs = _series(layer.cron, layer.start, schedule.timezone).count_until(at)
    return OnCall(layer.members[handoffs % len(layer.members)], _layer_name(layer, index))


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


def _change_points(schedule: Schedule, start: datetime, end: datetime) -> list[datetime]:
    """Every instant in (start, end] at which the answer can change."""
    zone = schedule.zone
    points: set[datetime] = set()
    for layer in schedule.layers:
        points.update(_series(layer.cron, layer.start, schedule.timezone).between(start, end))
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
