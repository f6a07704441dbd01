"""An independent reference for "who is on call at instant t", checked against app.oncall.

The reference is written from docs/catalog.md ("schedules", "Time zones and DST") alone, as
literally as possible and without looking at app/oncall.py:

- ONE rule maps a local wall time W (in the schedule's zone) to an instant, `to_instant`: the
  first UTC minute whose local wall clock reads W; if no minute does (W is in a spring-forward
  gap), the first minute whose wall clock reads later than W, i.e. the first instant after the gap.
- A layer's rotation is found by walking UTC minutes one by one and reading the wall clock. The
  wall times that map to minute u are exactly those in (latest wall clock seen before u, wall
  clock at u]: one time normally, the whole gap after a spring-forward jump, none while the
  clock repeats an hour after falling back. If any of them matches the cron, the rotation moves
  once at u (if u is strictly after the layer's start instant).
- Restriction windows on local date D are [to_instant(D start), to_instant(D' end)), D' = D + 1
  when end < start; overrides are [to_instant(start), to_instant(end)); overrides win, then the
  last layer that has someone, then nobody.

Hand-off crons are evaluated by a small parser of their minute/hour/day-of-week fields (the
generator only makes crons whose day-of-month and month are `*`); it is checked against
croniter.match below. croniter.match itself is too slow (~150 µs) to call every minute.
"""

from __future__ import annotations

import bisect
import multiprocessing
import os
import time as clock
from datetime import datetime, time, timedelta, timezone
from functools import lru_cache
from typing import NamedTuple
from zoneinfo import ZoneInfo

import pytest
from croniter import croniter
from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st

from app.catalog import Schedule
from app.oncall import who_is_on_call

UTC = timezone.utc
MINUTE = timedelta(minutes=1)
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ZONES = ("Europe/London", "America/New_York", "Australia/Sydney", "Asia/Kolkata", "America/St_Johns", "Pacific/Chatham", "UTC")


# -- the wall-time rule -------------------------------------------------------------------------------


def local_of(u: datetime, zone: ZoneInfo) -> datetime:
    """The naive wall clock in `zone` at the UTC instant `u`."""
    return u.astimezone(zone).replace(tzinfo=None)


@lru_cache(maxsize=None)
def to_instant(wall: datetime, zone_name: str) -> datetime:
    """THE rule: the first minute whose wall clock reads `wall`, else (a gap) the first one reading later."""
    assert wall.tzinfo is None and wall.second == 0 and wall.microsecond == 0, wall
    zone = ZoneInfo(zone_name)
    # The true instant is within an hour of wall - (offset there); scan 3 h each side of it.
    guess = wall.replace(tzinfo=UTC) - zone.utcoffset(wall)
    first = guess - timedelta(hours=3)
    minutes = [first + k * MINUTE for k in range(6 * 60 + 1)]
    walls = [local_of(u, zone) for u in minutes]
    # the scan must start over an hour before any occurrence (a clock repeats at most an hour) and end after wall
    assert walls[0] < wall - timedelta(hours=1) and walls[-1] > wall, (wall, zone_name)
    for u, local in zip(minutes, walls):
        if local == wall:
            return u  # first occurrence
    for u, local in zip(minutes, walls):
        if local > wall:
            return u  # first instant after the gap
    raise AssertionError("unreachable")


# -- crons: minute, hour and day of week; day of month and month must be `*` ---------------------------

_DOW_NAMES = {"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}


def _cron_field(text: str, low: int, high: int, names: dict[str, int] | None = None) -> frozenset[int]:
    def value(token: str) -> int:
        token = token.lower()
        return names[token] if names and token in names else int(token)

    values: set[int] = set()
    for item in text.split(","):
        step = 1
        if "/" in item:
            item, step_text = item.split("/")
            step = int(step_text)
        if item == "*":
            a, b = low, high
        elif "-" in item:
            a, b = (value(part) for part in item.split("-"))
        else:
            assert step == 1, "N/step is not used by the generator"
            a = b = value(item)
        values.update(range(a, b + 1, step))
    return frozenset(values)


@lru_cache(maxsize=None)
def parse_cron(cron: str) -> tuple[frozenset[int], frozenset[int], frozenset[int]]:
    minute, hour, dom, month, dow = cron.split()
    assert dom == "*" and month == "*", cron
    days = frozenset(d % 7 for d in _cron_field(dow, 0, 7, _DOW_NAMES))  # 7 is Sunday too
    return _cron_field(minute, 0, 59), _cron_field(hour, 0, 23), days


def cron_matches(cron: str, wall: datetime) -> bool:
    minutes, hours, days = parse_cron(cron)
    return wall.minute in minutes and wall.hour in hours and (wall.weekday() + 1) % 7 in days


# -- the reference ------------------------------------------------------------------------------------


class Reference:
    """Rotations walked minute by minute from the earliest layer start up to `until`."""

    def __init__(self, schedule: Schedule, until: datetime) -> None:
        self.schedule = schedule
        self.zone_name = schedule.timezone
        self.zone = ZoneInfo(schedule.timezone)
        self.until = until
        self.starts = [to_instant(layer.start, self.zone_name) for layer in schedule.layers]
        self.handoffs: list[list[datetime]] = [[] for _ in schedule.layers]
        self.notes: set[str] = set()  # what this example exercised, for --hypothesis-show-statistics
        self.begin = min(self.starts)
        # The latest wall clock before the walk (a fall-back repeats at most an hour).
        latest = max(local_of(self.begin - k * MINUTE, self.zone) for k in range(1, 121))
        crons = [layer.cron for layer in schedule.layers]
        u = self.begin
        while u <= until:
            local = local_of(u, self.zone)
            if local > latest:  # else the clock is repeating an hour: those walls mapped to their first occurrence
                walls = [latest + k * MINUTE for k in range(1, (local - latest) // MINUTE + 1)]
                latest = local
                for i, cron in enumerate(crons):
                    if u > self.starts[i] and any(cron_matches(cron, w) for w in walls):
                        self.handoffs[i].append(u)  # once per instant, however many walls land here
                        if len(walls) > 1 and any(cron_matches(cron, w) for w in walls[:-1]):
                            self.notes.add("hand-off wall in a gap")
            elif any(u > self.starts[i] and cron_matches(cron, local) for i, cron in enumerate(crons)):
                self.notes.add("hand-off wall repeated (second occurrence skipped)")
            u += MINUTE

    def instant(self, wall: datetime) -> datetime:
        return to_instant(wall, self.zone_name)

    def in_windows(self, index: int, t: datetime) -> bool:
        today = local_of(t, self.zone).date()
        for shift in range(-2, 2):
            day = today + timedelta(days=shift)
            for window in self.schedule.layers[index].restrictions:
                if WEEKDAYS[day.weekday()] not in window.days:
                    continue
                end_day = day if window.end > window.start else day + timedelta(days=1)
                if self.instant(datetime.combine(day, window.start)) <= t < self.instant(datetime.combine(end_day, window.end)):
                    return True
        return False

    def layer_person(self, index: int, t: datetime) -> str | None:
        assert t <= self.until + MINUTE, "asked past the walk"
        layer = self.schedule.layers[index]
        if t < self.starts[index]:
            return None
        if layer.restrictions and not self.in_windows(index, t):
            return None
        moves = bisect.bisect_right(self.handoffs[index], t)
        return layer.members[moves % len(layer.members)]

    def who(self, t: datetime) -> set[str | None]:
        """Everyone the docs allow: overrides covering t (the docs do not order overlapping ones), else one answer."""
        covering = {o.user for o in self.schedule.overrides if self.instant(o.start) <= t < self.instant(o.end)}
        if covering:
            return covering
        person = None
        for index in range(len(self.schedule.layers)):
            person = self.layer_person(index, t) or person
        return {person}

    def events(self) -> list[datetime]:
        """Instants where the answer may change: starts, hand-offs, window and override bounds."""
        out = set(self.starts)
        for series in self.handoffs:
            out.update(series)
        for o in self.schedule.overrides:
            out.update((self.instant(o.start), self.instant(o.end)))
        first, last = local_of(self.begin, self.zone).date(), local_of(self.until, self.zone).date()
        day = first - timedelta(days=1)
        while day <= last:
            for layer in self.schedule.layers:
                for window in layer.restrictions:
                    end_day = day if window.end > window.start else day + timedelta(days=1)
                    out.add(self.instant(datetime.combine(day, window.start)))
                    out.add(self.instant(datetime.combine(end_day, window.end)))
            day += timedelta(days=1)
        return sorted(e for e in out if self.begin - timedelta(hours=1) <= e <= self.until)


# -- DST transitions, found by scanning the offset day by day -----------------------------------------


@lru_cache(maxsize=None)
def transitions(zone_name: str) -> tuple[datetime, ...]:
    """Instants in 2026-2027 at which the zone's UTC offset changes (the first minute of the new offset)."""
    zone = ZoneInfo(zone_name)

    def offset(u: datetime) -> timedelta:
        return u.astimezone(zone).utcoffset()

    found = []
    day = datetime(2026, 1, 1, tzinfo=UTC)
    while day < datetime(2028, 1, 1, tzinfo=UTC):
        following = day + timedelta(days=1)
        if offset(day) != offset(following):
            u = day
            while offset(u) == offset(day):
                u += MINUTE
            found.append(u)
        day = following
    return tuple(found)


# Zones without DST get a few arbitrary pivots instead.
FLAT_PIVOTS = (datetime(2026, 3, 8, 7, 0, tzinfo=UTC), datetime(2026, 10, 25, 1, 0, tzinfo=UTC), datetime(2027, 1, 1, 0, 0, tzinfo=UTC))


def pivots(zone_name: str) -> tuple[datetime, ...]:
    return transitions(zone_name) or FLAT_PIVOTS


# -- the generator ------------------------------------------------------------------------------------


class Pivot(NamedTuple):
    """Where the generator aims: the transition's wall clock and how far the clock jumps there."""

    wall: datetime  # the first wall time the old offset no longer reads (02:00 in New York in March, 02:00 BST in London in October)
    jump: int  # minutes: +60 spring forward (walls [wall, wall + 60) do not exist), -60 fall back ([wall - 60, wall) repeat), 0 none


def hhmm(t: time) -> str:
    return f"{t.hour:02d}:{t.minute:02d}"


@st.composite
def clock_near(draw, pv: Pivot) -> time:
    """A clock time: in or at the edges of the gap / repeated hour, near the transition, or anywhere."""
    where = draw(st.sampled_from(("affected", "affected", "near", "near", "anywhere")))
    if where == "anywhere":
        return time(draw(st.integers(0, 23)), draw(st.sampled_from((0, 0, 15, 30, 45, draw(st.integers(0, 59))))))
    if where == "affected":
        low, high = min(0, pv.jump) - 1, max(0, pv.jump)
        k = draw(st.one_of(st.sampled_from((low, 0, high, (low + high) // 2)), st.integers(low, high)))
    else:
        k = draw(st.one_of(st.sampled_from(range(-150, 151, 15)), st.integers(-150, 150)))
    return (pv.wall + k * MINUTE).time()


@st.composite
def wall_near(draw, pv: Pivot) -> datetime:
    """A wall date-time, usually on the transition day."""
    return datetime.combine(pv.wall.date() + timedelta(days=draw(st.sampled_from((0, 0, 0, -1)))), draw(clock_near(pv)))


@st.composite
def handoffs(draw, pv: Pivot):
    at = draw(clock_near(pv))
    m, h = at.minute, at.hour
    day_of_pivot = WEEKDAYS[pv.wall.weekday()]
    form = draw(st.sampled_from(("day", "week", "daily", "two", "quarter", "weekdays", "six", "hourly", "minute")))
    if form == "day":
        return {"every": "day", "at": hhmm(at)}
    if form == "week":
        return {"every": "week", "on": draw(st.sampled_from((day_of_pivot,) * 3 + WEEKDAYS)), "at": hhmm(at)}
    if form == "daily":
        return f"{m} {h} * * *"
    if form == "two":
        other = draw(st.one_of(st.just((h + 1) % 24), st.just((h - 1) % 24), st.integers(0, 23)).filter(lambda x: x != h))
        return f"{m} {min(h, other)},{max(h, other)} * * *"
    if form == "quarter":
        return draw(st.sampled_from(("*/15 * * * *", "*/30 * * * *", "*/20 * * * *")))
    if form == "weekdays":
        return f"{m} {h} * * {draw(st.sampled_from(('MON-FRI', 'SAT,SUN', day_of_pivot.upper())))}"
    if form == "six":
        return f"{draw(st.sampled_from((0, 0, m)))} */{draw(st.sampled_from((6, 6, 4, 3)))} * * *"
    if form == "hourly":
        return f"{m} * * * *"
    return "* * * * *"


@st.composite
def windows(draw, pv: Pivot) -> dict:
    start = draw(clock_near(pv))
    end = draw(clock_near(pv))
    if end == start:
        end = (datetime.combine(pv.wall.date(), start) + draw(st.sampled_from((1, 30, 60, -60))) * MINUTE).time()
    days = draw(st.lists(st.sampled_from(WEEKDAYS), min_size=1, max_size=7, unique=True))
    if draw(st.integers(0, 3)):  # usually include the transition day or the day before
        days = sorted({*days, WEEKDAYS[(pv.wall.weekday() - draw(st.sampled_from((0, 0, 1)))) % 7]}, key=WEEKDAYS.index)
    return {"days": days, "start": hhmm(start), "end": hhmm(end)}


@st.composite
def overrides(draw, pv: Pivot) -> dict:
    start = draw(wall_near(pv))
    if draw(st.booleans()):
        end = datetime.combine(start.date() + timedelta(days=draw(st.sampled_from((0, 0, 1)))), draw(clock_near(pv)))
    else:
        end = start + draw(st.integers(1, 36 * 60)) * MINUTE
    if end <= start:
        end = start + draw(st.integers(1, 180)) * MINUTE
    return {"user": draw(st.sampled_from(("o1@example.com", "o2@example.com"))), "start": start.isoformat(timespec="minutes"),
            "end": end.isoformat(timespec="minutes")}


@st.composite
def scenarios(draw, with_restrictions: bool, with_overrides: bool):
    zone_name = draw(st.sampled_from(ZONES))
    zone = ZoneInfo(zone_name)
    pivot = draw(st.sampled_from(pivots(zone_name)))
    before, after = local_of(pivot - MINUTE, zone) + MINUTE, local_of(pivot, zone)
    pv = Pivot(before, (after - before) // MINUTE)
    layers = []
    for index in range(draw(st.integers(1, 3))):
        layer = {
            "name": f"l{index}",
            "members": [f"{'pqr'[index]}{m}@example.com" for m in range(draw(st.integers(1, 4)))],
            "handoff": draw(handoffs(pv)),
            "start": draw(wall_near(pv)).isoformat(timespec="minutes"),
        }
        if with_restrictions and draw(st.booleans()):
            layer["restrictions"] = draw(st.lists(windows(pv), min_size=1, max_size=2))
        layers.append(layer)
    data = {"timezone": zone_name, "layers": layers}
    if with_overrides:
        data["overrides"] = draw(st.lists(overrides(pv), min_size=1, max_size=2))
    probes = draw(st.lists(st.tuples(st.sampled_from(("pivot", "event", "event", "uniform")), st.integers(-100_000, 100_000),
                                     st.sampled_from((-1, 0, 0, 1)), st.sampled_from((0, 0, 0, 30, 59))), min_size=1, max_size=8))
    return data, pivot, probes


HORIZON = timedelta(hours=30)


def check(data: dict, pivot: datetime, probes: list) -> None:
    schedule = Schedule.model_validate(data)
    reference = Reference(schedule, pivot + HORIZON)
    events = reference.events()
    low = reference.begin - timedelta(hours=1)
    span = (reference.until - low) // MINUTE
    for kind, k, delta, seconds in probes:
        if kind == "pivot":
            t = pivot + (k % 361 - 180) * MINUTE
        elif kind == "event" and events:
            t = events[k % len(events)] + delta * MINUTE
        else:
            t = low + (k % span) * MINUTE
        t = min(t, reference.until) + timedelta(seconds=seconds)
        expected = reference.who(t)
        got = who_is_on_call(schedule, t).person
        if abs(t - pivot) <= timedelta(hours=2):
            reference.notes.add("probe within 2 h of the transition")
        reference.notes.add("answer: " + ("override" if expected & {o.user for o in schedule.overrides} else
                                          "nobody" if expected == {None} else "a layer"))
        assert got in expected, (
            f"at {t:%Y-%m-%d %H:%M:%S} UTC ({local_of(t, reference.zone):%a %Y-%m-%d %H:%M:%S} {schedule.timezone}): "
            f"app says {got}, reference says {' or '.join(map(str, sorted(expected, key=str)))}")
    for layer in schedule.layers:
        reference.notes.add(f"start: {wall_kind(layer.start, schedule.timezone)}")
        for window in layer.restrictions:
            pivot_day = local_of(pivot, reference.zone).date()
            for bound in (window.start, window.end):
                reference.notes.add(f"window bound on the transition day: {wall_kind(datetime.combine(pivot_day, bound), schedule.timezone)}")
    for o in schedule.overrides:
        reference.notes.add(f"override bound: {wall_kind(o.start, schedule.timezone)}, {wall_kind(o.end, schedule.timezone)}")
    for note in sorted(reference.notes):
        event(note)


def wall_kind(wall: datetime, zone_name: str) -> str:
    zone = ZoneInfo(zone_name)
    u = to_instant(wall, zone_name)
    if local_of(u, zone) != wall:
        return "in a gap"
    if any(local_of(u + k * MINUTE, zone) == wall for k in (30, 60)):
        return "repeated"
    return "plain"


# No explain phase: it re-runs many variants of a failure and can triple the time of a failing run.
# A deeper run: REFERENCE_EXAMPLES_SCALE=10 .venv/bin/python -m pytest -q tests/test_oncall_reference.py
SCALE = float(os.environ.get("REFERENCE_EXAMPLES_SCALE", "1"))
COMMON = settings(deadline=None, database=None, phases=(Phase.generate, Phase.shrink),
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@settings(COMMON, max_examples=round(120 * SCALE))
@given(scenarios(with_restrictions=False, with_overrides=False))
def test_rotations_match_the_reference(scenario) -> None:
    check(*scenario)


@settings(COMMON, max_examples=round(100 * SCALE))
@given(scenarios(with_restrictions=True, with_overrides=False))
def test_restricted_layers_match_the_reference(scenario) -> None:
    check(*scenario)


@settings(COMMON, max_examples=round(80 * SCALE))
@given(scenarios(with_restrictions=True, with_overrides=True))
def test_overrides_match_the_reference(scenario) -> None:
    check(*scenario)


# -- the reference checked against itself and croniter ------------------------------------------------


def test_transitions_found() -> None:
    assert transitions("Europe/London")[:2] == (datetime(2026, 3, 29, 1, 0, tzinfo=UTC), datetime(2026, 10, 25, 1, 0, tzinfo=UTC))
    assert transitions("America/New_York")[0] == datetime(2026, 3, 8, 7, 0, tzinfo=UTC)
    assert transitions("Asia/Kolkata") == () and transitions("UTC") == ()
    assert all(len(transitions(z)) == 4 for z in ("Australia/Sydney", "America/St_Johns", "Pacific/Chatham"))


@pytest.mark.parametrize("zone_name", [z for z in ZONES if transitions(z)])
def test_the_walk_and_the_rule_agree(zone_name: str) -> None:
    # The walk's "walls in (latest seen, now]" is the same mapping as to_instant, around each transition.
    zone = ZoneInfo(zone_name)
    for pivot in transitions(zone_name)[:2]:
        begin = pivot - timedelta(hours=2)
        latest = max(local_of(begin - k * MINUTE, zone) for k in range(1, 121))
        for step in range(4 * 60):
            u = begin + step * MINUTE
            local = local_of(u, zone)
            walls = [latest + k * MINUTE for k in range(1, (local - latest) // MINUTE + 1)] if local > latest else []
            latest = max(latest, local)
            for wall in walls:
                assert to_instant(wall, zone_name) == u, (wall, u)
            if not walls:  # a repeated wall clock: its first occurrence was earlier
                assert to_instant(local, zone_name) < u


def test_to_instant_by_brute_force() -> None:
    # London 2026-03-29: 01:00 GMT -> 02:00 BST at 01:00 UTC; 2026-10-25: 02:00 BST -> 01:00 GMT at 01:00 UTC.
    assert to_instant(datetime(2026, 3, 29, 0, 59), "Europe/London") == datetime(2026, 3, 29, 0, 59, tzinfo=UTC)
    assert to_instant(datetime(2026, 3, 29, 1, 0), "Europe/London") == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
    assert to_instant(datetime(2026, 3, 29, 1, 59), "Europe/London") == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
    assert to_instant(datetime(2026, 3, 29, 2, 0), "Europe/London") == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
    assert to_instant(datetime(2026, 10, 25, 1, 30), "Europe/London") == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    assert to_instant(datetime(2026, 10, 25, 2, 0), "Europe/London") == datetime(2026, 10, 25, 2, 0, tzinfo=UTC)
    # Chatham: 2026-09-27 02:45 +12:45 -> 03:45 +13:45 (14:00 UTC on the 26th)
    assert to_instant(datetime(2026, 9, 27, 3, 0), "Pacific/Chatham") == datetime(2026, 9, 26, 14, 0, tzinfo=UTC)


CRONS = ("30 2 * * *", "30 1,2 * * *", "*/15 * * * *", "*/20 * * * *", "45 9 * * MON-FRI", "5 3 * * SAT,SUN", "0 */6 * * *",
         "15 */4 * * *", "7 * * * *", "* * * * *", "0 9 * * MON", "59 23 * * SUN", "0 0 * * 0", "0 0 * * 7")


@pytest.mark.parametrize("cron", CRONS)
def test_cron_parser_agrees_with_croniter(cron: str) -> None:
    walls = [datetime(2026, 3, 2) + k * timedelta(minutes=37) for k in range(7 * 24 * 60 // 37 + 1)]
    walls += [datetime(2026, 3, 2) + timedelta(days=d, hours=h, minutes=m) for d in range(7) for h in (0, 2, 3, 9, 23)
              for m in (0, 5, 7, 15, 30, 45, 59)]
    for wall in walls:
        assert cron_matches(cron, wall) == croniter.match(cron, wall), (cron, wall)


# -- named regressions (answers worked by hand; the reference must agree too) --------------------------


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def answers(data: dict, until: datetime, moments: list[datetime]) -> tuple[list, list]:
    schedule = Schedule.model_validate(data)
    reference = Reference(schedule, until)
    return [reference.who(t) for t in moments], [who_is_on_call(schedule, t).person for t in moments]


def test_new_york_spring_forward_handoff_is_at_0300_edt() -> None:
    # Daily 02:30 in New York, [a, b] from Fri 6 March 12:00 EST. Sat 7 March 02:30 EST (07:30 UTC): -> b.
    # Sun 8 March: 02:00 EST jumps to 03:00 EDT at 07:00 UTC; 02:30 does not exist -> hand-off at 03:00 EDT
    # = 07:00 UTC: -> a (not at 03:30 EDT = 07:30 UTC). Mon 9 March 02:30 EDT = 06:30 UTC: -> b.
    data = {"timezone": "America/New_York", "rotation": {"members": ["a@example.com", "b@example.com"],
                                                         "handoff": {"every": "day", "at": "02:30"}, "start": "2026-03-06T12:00"}}
    moments = [at(2026, 3, 7, 7, 29), at(2026, 3, 7, 7, 30), at(2026, 3, 8, 6, 59), at(2026, 3, 8, 7, 0), at(2026, 3, 8, 7, 29),
               at(2026, 3, 8, 7, 30), at(2026, 3, 9, 6, 29), at(2026, 3, 9, 6, 30)]
    hand = ["a", "b", "b", "a", "a", "a", "a", "b"]
    expected = [{f"{x}@example.com"} for x in hand]
    reference, app = answers(data, at(2026, 3, 10), moments)
    assert reference == expected
    assert [{x} for x in app] == expected


def test_london_two_handoffs_on_spring_forward_night() -> None:
    # "30 1,2 * * *" in London, [a, b] from Sat 28 March 12:00 GMT. Sun 29 March: 01:00 GMT -> 02:00 BST at 01:00 UTC.
    # 01:30 is in the gap -> 02:00 BST (01:00 UTC): -> b. 02:30 BST exists (01:30 UTC): -> a. Two distinct instants,
    # two moves. Every later day has two hand-offs too, so from 29 March to 1 June (3 + 30 + 31 + 1 = 65 days,
    # both of each day's hand-offs before 13:00 BST) the rotation moved 130 times: even, so 1 June 12:00 UTC is a.
    data = {"timezone": "Europe/London", "rotation": {"members": ["a@example.com", "b@example.com"],
                                                      "handoff": "30 1,2 * * *", "start": "2026-03-28T12:00"}}
    moments = [at(2026, 3, 29, 0, 59), at(2026, 3, 29, 1, 0), at(2026, 3, 29, 1, 29), at(2026, 3, 29, 1, 30),
               at(2026, 3, 30, 0, 30), at(2026, 3, 30, 1, 30), at(2026, 6, 1, 12, 0)]
    hand = ["a", "b", "b", "a", "b", "a", "a"]
    expected = [{f"{x}@example.com"} for x in hand]
    reference, app = answers(data, at(2026, 6, 1, 12, 0), moments)
    assert reference == expected
    assert [{x} for x in app] == expected


def test_layer_starting_in_the_new_york_gap_starts_at_0300_edt() -> None:
    # Layer 1 starts 2026-03-08T02:45, which does not exist: it starts at 03:00 EDT = 07:00 UTC. Before that,
    # layer 0 (x, from March 1) is the last layer with someone; from 07:00 UTC layer 1's first member a wins.
    data = {"timezone": "America/New_York", "layers": [
        {"members": ["x@example.com"], "start": "2026-03-01T00:00"},
        {"members": ["a@example.com", "b@example.com"], "start": "2026-03-08T02:45"}]}
    moments = [at(2026, 3, 8, 6, 59), at(2026, 3, 8, 7, 0), at(2026, 3, 8, 7, 44), at(2026, 3, 8, 7, 45)]
    expected = [{"x@example.com"}, {"a@example.com"}, {"a@example.com"}, {"a@example.com"}]
    reference, app = answers(data, at(2026, 3, 9), moments)
    assert reference == expected
    assert [{x} for x in app] == expected


def test_override_ending_in_the_london_gap_ends_at_0200_bst() -> None:
    # Override o from 2026-03-29T00:00 (GMT, 00:00 UTC) to 01:30, which does not exist: it ends at 02:00 BST = 01:00 UTC.
    data = {"timezone": "Europe/London", "rotation": {"members": ["a@example.com"], "start": "2026-03-01T00:00"},
            "overrides": [{"user": "o@example.com", "start": "2026-03-29T00:00", "end": "2026-03-29T01:30"}]}
    moments = [at(2026, 3, 28, 23, 59), at(2026, 3, 29, 0, 0), at(2026, 3, 29, 0, 59), at(2026, 3, 29, 1, 0), at(2026, 3, 29, 1, 29)]
    expected = [{"a@example.com"}, {"o@example.com"}, {"o@example.com"}, {"a@example.com"}, {"a@example.com"}]
    reference, app = answers(data, at(2026, 3, 30), moments)
    assert reference == expected
    assert [{x} for x in app] == expected


def test_per_minute_handoff_a_year_later_is_arithmetic_and_fast() -> None:
    # UTC, "* * * * *", 3 members from 2026-01-05T09:07. Hand-offs at every minute strictly after the start, up to t:
    # floor((t - start) / 1 min) of them. t = start + 365 days + 17 min + 30 s: 365 * 1440 + 17 = 525_617 moves,
    # 525_617 % 3 = 2 -> m2.
    members = ["m0@example.com", "m1@example.com", "m2@example.com"]
    schedule = Schedule.model_validate({"timezone": "UTC", "rotation": {"members": members, "handoff": "* * * * *",
                                                                        "start": "2026-01-05T09:07"}})
    start = at(2026, 1, 5, 9, 7)
    t = start + timedelta(days=365, minutes=17, seconds=30)
    moves = (t - start) // MINUTE
    assert moves == 525_617 and moves % 3 == 2
    # Asked in a forked child, so a slow app fails this test in 3 s instead of holding up the suite.
    context = multiprocessing.get_context("fork")
    answers = context.Queue()

    def ask() -> None:
        began = clock.perf_counter()
        person = who_is_on_call(schedule, t).person
        answers.put((person, clock.perf_counter() - began))

    child = context.Process(target=ask, daemon=True)
    child.start()
    child.join(timeout=3.0)
    if child.is_alive():
        child.kill()
        child.join()
        pytest.fail("who_is_on_call took over 3 s (the limit is 1 s)")
    got, elapsed = answers.get(timeout=1.0)
    assert got == members[moves % 3]
    assert elapsed < 1.0, f"took {elapsed:.2f} s"


def test_window_bounds_in_the_repeated_hour_are_first_occurrences() -> None:
    # The stated rule for every wall time (docs/catalog.md spells it out for hand-offs only): London, Sun 2026-10-25,
    # 02:00 BST -> 01:00 GMT at 01:00 UTC, so 01:00-01:59 happens twice. A window 00:00-01:30 ends at the first 01:30
    # (BST, 00:30 UTC): the second 01:15 (GMT, 01:15 UTC) is outside it although the clock reads 01:15. A window
    # 01:30-03:00 starts at the first 01:30 (00:30 UTC) and ends at 03:00 GMT (03:00 UTC): the second 01:15 is inside.
    moments = [at(2026, 10, 25, 0, 15), at(2026, 10, 25, 0, 45), at(2026, 10, 25, 1, 15), at(2026, 10, 25, 1, 45)]
    for window, hand in (({"days": ["sun"], "start": "00:00", "end": "01:30"}, ["a", None, None, None]),
                         ({"days": ["sun"], "start": "01:30", "end": "03:00"}, [None, "a", "a", "a"])):
        data = {"timezone": "Europe/London", "rotation": {"members": ["a@example.com"], "start": "2026-10-20T00:00",
                                                          "restrictions": [window]}}
        expected = [{x and f"{x}@example.com"} for x in hand]
        reference, app = answers(data, at(2026, 10, 26), moments)
        assert reference == expected
        assert [{x} for x in app] == expected, window
