"""Hand-off instants of a rotation, counted by arithmetic: the same cost a day or ten years after its start.

A hand-off rule is a cron expression over *local wall time* in the schedule's zone. One rule turns
a wall time into an instant (`local_to_utc`): a time inside a spring-forward gap means the first
instant after the gap; a time that exists twice means its first occurrence. Several wall times
landing on the same instant hand off once.

Counting: between two transitions of the zone the UTC offset is constant, so wall time and instant
are one-to-one and "how many hand-offs in (x, y]" is "how many matching wall minutes in
(x + offset, y + offset]", which a calendar of matching days answers without enumerating anything.
At a spring-forward transition the skipped wall times that match collapse onto the transition
instant (one hand-off); after a fall-back transition the repeated wall times are not counted again.
The count up to each transition is kept, so a question is one bisect and one segment's arithmetic.
"""

from __future__ import annotations

import bisect
import threading
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo

from croniter import croniter

UTC = timezone.utc
TINY = timedelta(microseconds=1)


def offset_at(instant: datetime, zone: ZoneInfo) -> timedelta:
    """The zone's UTC offset at an instant. Through `fromutc`, which keeps `fold`: `astimezone` under freezegun
    (the tests' clock) rebuilds the datetime without it and reads a repeated hour with the wrong offset."""
    return zone.fromutc(instant.astimezone(UTC).replace(tzinfo=zone)).utcoffset()  # type: ignore[return-value]


def local_to_utc(naive: datetime, zone: ZoneInfo) -> datetime:
    """Wall time in `zone` -> the instant: the first occurrence of a repeated time, the first instant after a gap."""
    first = naive.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) == naive:
        return first
    # In a spring-forward gap: fold=0 read it with the offset before the gap, fold=1 with the one after;
    # the transition instant, the first instant after the gap, lies between them.
    return _switch(zone, *sorted((first, naive.replace(tzinfo=zone, fold=1).astimezone(UTC))))


def _switch(zone: ZoneInfo, lo: datetime, hi: datetime) -> datetime:
    """The first instant in (lo, hi] whose offset is not lo's (one transition in between), to the second."""
    before = offset_at(lo, zone)
    while hi - lo > timedelta(seconds=1):
        middle = lo + (hi - lo) / 2
        if offset_at(middle, zone) == before:
            lo = middle
        else:
            hi = middle
    return hi.replace(microsecond=0) if hi.microsecond else hi


# -- the calendar of a cron expression ---------------------------------------------------------------

class Cron:
    """A five-field cron expression as sets of minutes, hours and matching days, counted arithmetically."""

    def __init__(self, expression: str) -> None:
        self.expression = expression
        fields = croniter(expression).expanded
        if len(fields) != 5:
            raise ValueError(f"{expression!r} has {len(fields)} fields; a hand-off is minute hour day month weekday")
        minutes, hours, doms, months, dows = fields
        self.minutes = list(range(60)) if minutes == ["*"] else sorted(int(m) for m in minutes)
        self.hours = list(range(24)) if hours == ["*"] else sorted(int(h) for h in hours)
        self._hour_set = set(self.hours)
        self.per_day = len(self.minutes) * len(self.hours)
        raw = expression.upper().split()
        # L (last), W (nearest weekday) and # (nth weekday) do not survive croniter's expansion: ask croniter per day.
        special = len(raw) == 5 and ("L" in raw[2] or "W" in raw[2] or "#" in raw[4] or "L" in raw[4])
        self._simple = not special and all(str(v).isdigit() for field in (doms, months, dows) for v in field if v != "*")
        self._doms = None if doms == ["*"] else {int(d) for d in doms} if self._simple else None
        self._months = None if months == ["*"] else {int(m) for m in months} if self._simple else None
        self._dows = None if dows == ["*"] else {int(d) % 7 for d in dows} if self._simple else None
        self._years: dict[int, int] = {}  # matching days before 1 January of a year, counted from `_base`
        self._base: int | None = None
        self._lock = threading.Lock()

    def _day_matches(self, day: date) -> bool:
        if not self._simple:  # L, W, #: croniter's own definition, at the day's first matching time
            return bool(croniter.match(self.expression, datetime(day.year, day.month, day.day, self.hours[0], self.minutes[0])))
        if self._months is not None and day.month not in self._months:
            return False
        dom_ok = self._doms is None or day.day in self._doms
        dow_ok = self._dows is None or (day.weekday() + 1) % 7 in self._dows
        if self._doms is not None and self._dows is not None:
            return dom_ok or dow_ok  # cron's rule when both day fields are restricted: either one
        return dom_ok and dow_ok

    @lru_cache(maxsize=4096)  # noqa: B019 - one Cron per expression, kept for the process's life
    def _month(self, year: int, month: int) -> tuple[int, ...]:
        """Matching days before each day of the month: index d-1 counts days 1..d-1; the last entry is the total."""
        counts = [0]
        day = date(year, month, 1)
        while day.month == month:
            counts.append(counts[-1] + self._day_matches(day))
            day += timedelta(days=1)
        return tuple(counts)

    @lru_cache(maxsize=1024)  # noqa: B019
    def _months_before(self, year: int) -> tuple[int, ...]:
        """Matching days in the year before each month: index m-1 counts months 1..m-1; the last entry is the year's total."""
        counts = [0]
        for month in range(1, 13):
            counts.append(counts[-1] + self._month(year, month)[-1])
        return tuple(counts)

    def _year_total(self, year: int) -> int:
        return self._months_before(year)[-1]

    def _before_year(self, year: int) -> int:
        known = self._years.get(year)
        if known is not None:
            return known
        with self._lock:
            if self._base is None:
                self._base = year
                self._years[year] = 0
            while year not in self._years:
                if year > self._base:
                    last = max(y for y in self._years)
                    self._years[last + 1] = self._years[last] + self._year_total(last)
                else:
                    first = min(self._years)
                    self._years[first - 1] = self._years[first] - self._year_total(first - 1)
            return self._years[year]

    def days_before(self, day: date) -> int:
        """Matching days before `day`, from an arbitrary (fixed) origin: only differences mean anything."""
        return self._before_year(day.year) + self._months_before(day.year)[day.month - 1] + self._month(day.year, day.month)[day.day - 1]

    def upto(self, wall: datetime) -> int:
        """Matching wall minutes at or before `wall` (same origin as `days_before`)."""
        count = self.days_before(wall.date()) * self.per_day
        if self._day_matches(wall.date()):
            count += bisect.bisect_left(self.hours, wall.hour) * len(self.minutes)
            if wall.hour in self._hour_set:
                count += bisect.bisect_right(self.minutes, wall.minute)
        return count

    def between(self, after: datetime, upto: datetime) -> int:
        """Matching wall minutes in (after, upto]."""
        return max(0, self.upto(upto) - self.upto(after))

    def matches(self, wall: datetime) -> bool:
        return wall.second == 0 and wall.microsecond == 0 and self.between(wall - TINY, wall) == 1

    def walls(self, after: datetime, upto: datetime) -> list[datetime]:
        """The matching wall minutes in (after, upto], in order (for listing hand-offs over a short span)."""
        found = []
        day = after.date()
        while day <= upto.date():
            if self._day_matches(day):
                for hour in self.hours:
                    for minute in self.minutes:
                        wall = datetime(day.year, day.month, day.day, hour, minute)
                        if after < wall <= upto:
                            found.append(wall)
            day += timedelta(days=1)
        return found


@lru_cache(maxsize=1024)
def cron(expression: str) -> Cron:
    return Cron(expression)


# -- the zone's transitions -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Transition:
    at: datetime  # the first instant with the new offset
    before: timedelta
    after: timedelta


@lru_cache(maxsize=4096)
def _transitions_in(zone_key: str, year: int) -> tuple[Transition, ...]:
    """The zone's offset changes during a UTC year: sampled every three days, each change narrowed to the second."""
    zone = ZoneInfo(zone_key)
    found = []
    moment = datetime(year, 1, 1, tzinfo=UTC)
    end = datetime(year + 1, 1, 1, tzinfo=UTC) if year < 9999 else datetime(9999, 12, 31, 23, 59, tzinfo=UTC)
    offset = offset_at(moment, zone)
    while moment < end:
        step = min(moment + timedelta(days=3), end)
        next_offset = offset_at(step, zone)
        if next_offset != offset:
            found.append(Transition(_switch(zone, moment, step), offset, next_offset))
            offset = next_offset
        moment = step
    return tuple(found)


# -- one rotation's hand-offs -----------------------------------------------------------------------------

class Handoffs:
    """The hand-off instants of one cron rule in one zone after one start instant."""

    def __init__(self, expression: str, start: datetime, zone: ZoneInfo) -> None:
        self.cron = cron(expression)
        self.zone = zone
        self.start = start  # an instant: hand-offs strictly after it count
        self._lock = threading.Lock()
        # Transitions after the start, and the hand-offs in (start, transition) before each: extended on demand.
        self._marks: list[datetime] = []
        self._counts: list[int] = []
        self._known_until = start.year - 1  # transitions listed through this UTC year
        self._transitions: list[Transition] = []

    def _offset(self, moment: datetime) -> timedelta:
        return offset_at(moment, self.zone)

    def _extend(self, moment: datetime) -> None:
        while self._known_until < moment.year:
            self._known_until += 1
            for transition in _transitions_in(self.zone.key, self._known_until):
                if transition.at > self.start:
                    # The stretch since the previous transition (including its own instant), or since the start (excluding it).
                    previous_count = self._counts[-1] if self._counts else 0
                    since = self._marks[-1] - TINY if self._marks else self.start
                    self._counts.append(previous_count + self._in_segment(since, transition.at - TINY,
                                                                          self._transitions[-1] if self._transitions else None))
                    self._marks.append(transition.at)
                    self._transitions.append(transition)

    def _in_segment(self, after: datetime, upto: datetime, entered: Transition | None) -> int:
        """Hand-offs at instants in (after, upto], all within one constant-offset stretch entered through `entered`."""
        if upto <= after:
            return 0
        offset = self._offset(upto)
        low = after + offset
        count = 0
        if entered is not None and entered.after < entered.before:
            low = max(low, entered.at + entered.before - TINY)  # fall back: the repeated wall times were counted already
        elif entered is not None and entered.after > entered.before and after < entered.at <= upto:
            # Spring forward: the skipped wall times that match hand off once, at the transition itself
            # (unless the first wall time after the gap matches too: that is the same instant, counted below).
            gap_start, gap_end = entered.at + entered.before, entered.at + entered.after
            if self.cron.between(gap_start - TINY, gap_end - TINY) and not self.cron.matches(gap_end):
                count += 1
        return count + self.cron.between(low, upto + offset)

    def count_until(self, moment: datetime) -> int:
        """Hand-offs in (start, moment]."""
        if moment <= self.start:
            return 0
        with self._lock:
            self._extend(moment)
            index = bisect.bisect_right(self._marks, moment)
            if index == 0:
                return self._in_segment(self.start, moment, None)
            return self._counts[index - 1] + self._in_segment(self._marks[index - 1] - TINY, moment, self._transitions[index - 1])

    def between(self, after: datetime, upto: datetime) -> list[datetime]:
        """The hand-off instants in (after, upto] (for listing a week's shifts)."""
        after = max(after, self.start)
        if upto <= after:
            return []
        instants: set[datetime] = set()
        first = after.astimezone(self.zone).replace(tzinfo=None) - timedelta(hours=3)  # wide: a gap or repeat may be near
        last = upto.astimezone(self.zone).replace(tzinfo=None) + timedelta(hours=3)
        for wall in self.cron.walls(first, last):
            instant = local_to_utc(wall, self.zone)
            if after < instant <= upto:
                instants.add(instant)
        return sorted(instants)


@lru_cache(maxsize=4096)
def handoffs(expression: str, start_wall: datetime, zone_key: str) -> Handoffs:
    zone = ZoneInfo(zone_key)
    return Handoffs(expression, local_to_utc(start_wall, zone), zone)
