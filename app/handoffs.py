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

A first question costs milliseconds whatever the rule (`L`, `W` and `#` included), the start and the date:
the matching days are worked out once per kind of year (14: leap or not, weekday of 1 January) by a pure day
rule, and the zone's transitions come from its own data (scanned only after its last listed one, where a
yearly rule repeats with the calendar). Nothing is asked of croniter day by day.
"""

from __future__ import annotations

import bisect
import calendar
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

def _year_type(year: int) -> tuple[bool, int]:
    """What a year's calendar depends on: whether it is a leap year and the weekday of 1 January (14 kinds)."""
    return calendar.isleap(year), date(year, 1, 1).weekday()


# The Gregorian calendar repeats every 400 years (146,097 days, exactly 20,871 weeks): the kinds of years 1-400.
_CYCLE = 400
_CYCLE_TYPES = tuple(_year_type(year) for year in range(1, _CYCLE + 1))


class DayRule:
    """Which days of a month the day-of-month, month and day-of-week fields match, as `croniter.match` reads them.

    Pure, from croniter's own parse (`expanded`, `nth_weekday_of_month`, `nearest_weekday`), so one month costs
    a few set operations instead of one `croniter.match` (~150 µs) per day. A month's matching days depend only
    on the month, its length and the weekday of its 1st. croniter's reading, which this reproduces:

    - day of month: numbers (a day past the month's end never matches), `L` the last day; `nW` (alone in the
      field) the weekday nearest day n within the month, which replaces the field's other reading;
    - day of week: numbers (0 and 7 are Sunday); `D#n` the n-th such weekday, `LD` the last one, which replace
      the plain reading;
    - both day fields restricted (neither is `*`): a day matches either (cron's OR rule), where the day-of-month
      side still honours `#`/`L` and the day-of-week side still honours `W` (croniter blanks the plain field
      only); with `#`, a day-of-week `L` or `W` in play, a side that can never match makes the whole expression
      match nothing (`nothing`: croniter gives up looking 50 years back and answers no; a side that matches at
      all does so at least every 40 years, so it is always found).
    """

    def __init__(self, doms: list, months: list, dows: list, nth: dict, nearest: set) -> None:
        self.months = None if "*" in months else frozenset(int(m) for m in months)
        self.dom_any = "*" in doms
        self.doms = frozenset(int(d) for d in doms if d not in ("*", "l"))
        self.last = "l" in doms
        self.dow_any = "*" in dows
        self.dows = frozenset(int(d) % 7 for d in dows if d != "*")
        wanted: dict[int, set] = {}
        for key, which in nth.items():
            for weekday in range(7) if key == "*" else (int(key) % 7,):
                wanted.setdefault(weekday, set()).update(which)
        self.nth = {weekday: frozenset(which) for weekday, which in wanted.items()}
        self.nearest = frozenset(int(d) for d in nearest)
        self.either = not self.dom_any and not self.dow_any
        self.nothing = False
        if self.either and (self.nth or self.nearest):
            kinds = [(month, length, first) for month in range(1, 13) if self.months is None or month in self.months
                     for length in _lengths(month) for first in range(7)]
            self.nothing = not any(self._sides(*kind)[0] for kind in kinds) or not any(self._sides(*kind)[1] for kind in kinds)

    def days(self, month: int, length: int, first: int) -> frozenset[int]:
        """The matching days of a month `length` days long whose 1st is weekday `first` (Monday 0)."""
        if self.nothing or (self.months is not None and month not in self.months):
            return frozenset()
        if self.either:
            by_day, by_weekday = self._sides(month, length, first)
            return by_day | by_weekday
        every = frozenset(range(1, length + 1))
        return self._day_field(length, first, every) & self._weekday_field(length, first, every)

    def _sides(self, month: int, length: int, first: int) -> tuple[frozenset[int], frozenset[int]]:
        """cron's OR rule: (day-of-month with day-of-week as `*`, day-of-week with day-of-month as `*`)."""
        every = frozenset(range(1, length + 1))
        by_day = self._day_field(length, first, every) & (self._nth_days(length, first) if self.nth else every)
        by_weekday = (self._nearest_days(length, first) if self.nearest else every) & self._weekday_field(length, first, every)
        return by_day, by_weekday

    def _day_field(self, length: int, first: int, every: frozenset[int]) -> frozenset[int]:
        if self.nearest:
            return self._nearest_days(length, first)
        if self.dom_any:
            return every
        return frozenset(d for d in self.doms if d <= length) | ({length} if self.last else set())

    def _weekday_field(self, length: int, first: int, every: frozenset[int]) -> frozenset[int]:
        if self.nth:
            return self._nth_days(length, first)
        if self.dow_any:
            return every
        # cron counts weekdays from Sunday = 0; Python's weekday() from Monday = 0.
        return frozenset(day for day in every if (first + day) % 7 in self.dows)

    def _nth_days(self, length: int, first: int) -> frozenset[int]:
        found = set()
        for weekday, which in self.nth.items():
            occurrences = range(1 + ((weekday - 1) - first) % 7, length + 1, 7)
            for n in which:
                if n == "l":
                    found.add(occurrences[-1])
                elif int(n) <= len(occurrences):
                    found.add(occurrences[int(n) - 1])
        return frozenset(found)

    def _nearest_days(self, length: int, first: int) -> frozenset[int]:
        found = set()
        for wanted in self.nearest:
            day = min(wanted, length)
            weekday = (first + day - 1) % 7
            if weekday == 5:  # Saturday: the Friday before, unless that is last month
                day = day - 1 if day > 1 else day + 2
            elif weekday == 6:  # Sunday: the Monday after, unless that is next month
                day = day + 1 if day < length else day - 2
            found.add(day)
        return frozenset(found)


def _lengths(month: int) -> tuple[int, ...]:
    return (28, 29) if month == 2 else (calendar.monthrange(2001, month)[1],)


class _Year:
    """One kind of year's matching days: cumulative counts per month, and per day within each month."""

    def __init__(self, rule: DayRule, leap: bool, first: int) -> None:
        self.before_month = [0]
        self.before_day: list[tuple[int, ...]] = []
        for month in range(1, 13):
            length = calendar.mdays[month] + (1 if leap and month == 2 else 0)
            matching = rule.days(month, length, first)
            counts = [0]
            for day in range(1, length + 1):
                counts.append(counts[-1] + (day in matching))
            self.before_day.append(tuple(counts))
            self.before_month.append(self.before_month[-1] + counts[-1])
            first = (first + length) % 7
        self.total = self.before_month[-1]


class Cron:
    """A five-field cron expression as sets of minutes, hours and matching days, counted arithmetically.

    A year's matching days depend only on its kind (`_year_type`): each kind is worked out once per expression,
    and the days before a year come from a 400-year cycle's running totals, so any date costs the same.
    """

    def __init__(self, expression: str) -> None:
        self.expression = expression
        parsed = croniter(expression)
        fields = parsed.expanded
        if len(fields) != 5:
            raise ValueError(f"{expression!r} has {len(fields)} fields; a hand-off is minute hour day month weekday")
        minutes, hours, doms, months, dows = fields
        self.minutes = list(range(60)) if "*" in minutes else sorted(int(m) for m in minutes)
        self.hours = list(range(24)) if "*" in hours else sorted(int(h) for h in hours)
        self._hour_set = set(self.hours)
        self.per_day = len(self.minutes) * len(self.hours)
        self.rule = DayRule(doms, months, dows, parsed.nth_weekday_of_month, parsed.nearest_weekday)
        self._kinds: dict[tuple[bool, int], _Year] = {}
        self._cycle: tuple[int, ...] | None = None  # matching days in years 1 .. 1+k of the cycle, k = 0..400

    def _kind(self, kind: tuple[bool, int]) -> _Year:
        known = self._kinds.get(kind)
        if known is None:  # the same answer from any thread: no lock needed
            known = self._kinds[kind] = _Year(self.rule, *kind)
        return known

    def _year(self, year: int) -> _Year:
        return self._kind(_year_type(year))

    def _before_year(self, year: int) -> int:
        """Matching days in years 1 .. year-1."""
        cycle = self._cycle
        if cycle is None:
            running = [0]
            for kind in _CYCLE_TYPES:
                running.append(running[-1] + self._kind(kind).total)
            cycle = self._cycle = tuple(running)
        cycles, rest = divmod(year - 1, _CYCLE)
        return cycles * cycle[-1] + cycle[rest]

    def _day_matches(self, day: date) -> bool:
        counts = self._year(day.year).before_day[day.month - 1]
        return counts[day.day] > counts[day.day - 1]

    def days_before(self, day: date) -> int:
        """Matching days before `day`, counted from 1 January of year 1 (only differences are used)."""
        kind = self._year(day.year)
        return self._before_year(day.year) + kind.before_month[day.month - 1] + kind.before_day[day.month - 1][day.day - 1]

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


def _bucket(instant: datetime) -> int:
    """The UTC year a transition is listed under: (1 January, next 1 January], as the three-day scan finds them."""
    return (instant - TINY).year


def _sampled(zone_key: str, year: int) -> tuple[Transition, ...]:
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


@dataclass(frozen=True)
class _ZoneData:
    by_year: dict[int, tuple[Transition, ...]]  # the explicit transitions (offset changes only), by `_bucket`
    last_year: int | None  # the bucket of the last explicit transition
    ruled: bool  # a yearly DST rule (the TZif footer) follows the explicit transitions; else the last offset stays


@lru_cache(maxsize=256)
def _zone_data(zone_key: str) -> _ZoneData | None:
    """The explicit transitions of the TZif data zoneinfo reads for this key, or None where they are not exposed.

    Through zoneinfo's pure-Python twin of ZoneInfo (`zoneinfo._zoneinfo`, in the standard library since 3.9):
    it finds the file the same way the C one does. Offsets are read from the real zone at each instant, so
    only the instants come from the twin. Anything unexpected means None, and every year is sampled instead.
    """
    try:
        from zoneinfo import _zoneinfo

        twin = _zoneinfo.ZoneInfo.no_cache(zone_key)
        instants = [datetime.fromtimestamp(int(t), UTC) for t in twin._trans_utc]
        ruled = callable(getattr(twin._tz_after, "transitions", None))
    except Exception:  # noqa: BLE001 - a private module: any surprise falls back to sampling
        return None
    zone = ZoneInfo(zone_key)
    by_year: dict[int, list[Transition]] = {}
    for at in instants:
        before, after = offset_at(at - timedelta(seconds=1), zone), offset_at(at, zone)
        if before != after:  # a change of name or of DST flag alone moves no wall clock
            by_year.setdefault(_bucket(at), []).append(Transition(at, before, after))
    last_year = _bucket(instants[-1]) if instants else None
    if ruled and last_year is None:
        return None  # a rule with no explicit history: sample
    return _ZoneData({year: tuple(found) for year, found in by_year.items()}, last_year, ruled)


@lru_cache(maxsize=1024)
def _around_new_year(year: int) -> tuple[int, bool, bool, bool]:
    """What a yearly rule's changes listed under a UTC year depend on: the calendar from December before to February after."""
    return date(year, 1, 1).weekday(), calendar.isleap(year - 1), calendar.isleap(year), calendar.isleap(year + 1)


@lru_cache(maxsize=16384)
def _transitions_in(zone_key: str, year: int) -> tuple[Transition, ...]:
    """The zone's offset changes listed under a UTC year (`_bucket`), each at the first instant of the new offset.

    Up to the zone's last explicit transition, the TZif data's own list. After it, a yearly rule (a POSIX TZ
    string: "the last Sunday of March at 01:00", or a day of the year) whose dates depend only on the calendar
    around the year, so a year is a representative year's changes moved by whole days; a representative (the
    first year with the same calendar, two years clear of the explicit list) and the two years at the seam are
    sampled. So a question 230 years after a rotation's start samples about twenty years, not 230.
    """
    data = _zone_data(zone_key)
    if data is None:
        return _sampled(zone_key, year)
    if data.last_year is None or year < data.last_year:
        return data.by_year.get(year, ())
    if not data.ruled:
        return data.by_year.get(year, ()) if year == data.last_year else ()
    if year <= data.last_year + 1:
        return _sampled(zone_key, year)
    representative = data.last_year + 2
    while _around_new_year(representative) != _around_new_year(year):
        representative += 1
    if representative == year:
        return _sampled(zone_key, year)
    shift = date(year, 1, 1) - date(representative, 1, 1)
    return tuple(Transition(t.at + shift, t.before, t.after) for t in _transitions_in(zone_key, representative))


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
