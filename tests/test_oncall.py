"""On-call resolution: rotations, hand-offs, restrictions, overrides, layers, DST in two zones."""

from __future__ import annotations

import bisect
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.catalog import Schedule
from app.oncall import coverage, shifts, who_is_on_call

UTC = timezone.utc


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def daily(zone: str, clock: str, start: str, members: tuple[str, ...] = ("a@x.io", "b@x.io")) -> Schedule:
    return Schedule.model_validate({"timezone": zone, "rotation": {"members": list(members), "handoff": {"every": "day", "at": clock}, "start": start}})


def handoff_instants(schedule: Schedule, start: datetime, end: datetime) -> list[datetime]:
    return [s.start for s in shifts(schedule, start, end)[1:]]


# -- DST: spring forward (a local time that does not exist) and fall back (one that exists twice) --------

def test_new_york_spring_forward_hands_off_after_the_gap() -> None:
    # 2026-03-08 02:00 EST -> 03:00 EDT: 02:30 does not exist that day; the hand-off happens at the first
    # instant after the gap, 03:00 EDT (07:00 UTC), as docs/catalog.md says (not 03:30, as Ladder once did).
    schedule = daily("America/New_York", "02:30", "2026-03-01T02:30")
    assert handoff_instants(schedule, at(2026, 3, 7, 12), at(2026, 3, 9, 12)) == [at(2026, 3, 8, 7, 0), at(2026, 3, 9, 6, 30)]


def test_new_york_fall_back_hands_off_once() -> None:
    # 2026-11-01 02:00 EDT -> 01:00 EST: 01:30 happens twice; the hand-off happens once, the first time.
    schedule = daily("America/New_York", "01:30", "2026-10-25T01:30")
    assert handoff_instants(schedule, at(2026, 10, 31, 12), at(2026, 11, 2, 12)) == [at(2026, 11, 1, 5, 30), at(2026, 11, 2, 6, 30)]
    assert who_is_on_call(schedule, at(2026, 11, 1, 5, 29)).person != who_is_on_call(schedule, at(2026, 11, 1, 6, 31)).person


def test_london_spring_forward_hands_off_after_the_gap() -> None:
    # 2026-03-29 01:00 GMT -> 02:00 BST: 01:30 does not exist; the hand-off happens at the first instant after
    # the gap, 02:00 BST (01:00 UTC).
    schedule = daily("Europe/London", "01:30", "2026-03-22T01:30")
    assert handoff_instants(schedule, at(2026, 3, 28, 12), at(2026, 3, 30, 12)) == [at(2026, 3, 29, 1, 0), at(2026, 3, 30, 0, 30)]


def test_london_fall_back_hands_off_once() -> None:
    # 2026-10-25 02:00 BST -> 01:00 GMT: 01:30 happens twice; one hand-off, at 01:30 BST (00:30 UTC).
    schedule = daily("Europe/London", "01:30", "2026-10-18T01:30")
    assert handoff_instants(schedule, at(2026, 10, 24, 12), at(2026, 10, 26, 12)) == [at(2026, 10, 25, 0, 30), at(2026, 10, 26, 1, 30)]


def test_weekly_handoff_keeps_local_time_across_dst() -> None:
    schedule = Schedule.model_validate({"timezone": "Europe/London", "rotation": {
        "members": ["a@x.io", "b@x.io"], "handoff": "0 9 * * MON", "start": "2026-01-05T09:00"}})
    # Winter: 09:00 London is 09:00 UTC; summer: 08:00 UTC.
    assert handoff_instants(schedule, at(2026, 3, 1), at(2026, 4, 7)) == [
        at(2026, 3, 2, 9), at(2026, 3, 9, 9), at(2026, 3, 16, 9), at(2026, 3, 23, 9), at(2026, 3, 30, 8), at(2026, 4, 6, 8)]


# -- rotations, restrictions, overrides, layers -------------------------------------------------------

def test_rotation_cycles_through_members_in_order() -> None:
    schedule = daily("UTC", "10:00", "2026-01-01T10:00", ("a@x.io", "b@x.io", "c@x.io"))
    people = [who_is_on_call(schedule, at(2026, 1, day, 12)).person for day in range(1, 8)]
    assert people == ["a@x.io", "b@x.io", "c@x.io", "a@x.io", "b@x.io", "c@x.io", "a@x.io"]
    assert who_is_on_call(schedule, at(2026, 1, 2, 9, 59)).person == "a@x.io"
    assert who_is_on_call(schedule, at(2026, 1, 2, 10, 0)).person == "b@x.io"


def layered(**extra: object) -> Schedule:
    return Schedule.model_validate({
        "timezone": "America/New_York",
        "layers": [
            {"name": "nights", "members": ["night@x.io"], "handoff": {"every": "week"}, "start": "2026-01-05T09:00"},
            {"name": "days", "members": ["day1@x.io", "day2@x.io"], "handoff": {"every": "week", "on": "mon", "at": "09:00"},
             "start": "2026-01-05T09:00", "restrictions": [{"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "17:00"}]},
        ],
        **extra,
    })


def test_later_layer_wins_where_it_has_someone_and_the_earlier_shows_through() -> None:
    schedule = layered()
    # Wednesday 2026-11-25 12:00 New York (17:00 UTC): the restricted day layer.
    assert who_is_on_call(schedule, at(2026, 11, 25, 17)).reason == "days"
    # 17:00 New York is outside the window: the night layer shows through.
    assert who_is_on_call(schedule, at(2026, 11, 25, 22)) .person == "night@x.io"
    # Saturday: no weekday restriction matches.
    assert who_is_on_call(schedule, at(2026, 11, 28, 17)).person == "night@x.io"


def test_restriction_without_fallback_is_an_explained_gap() -> None:
    schedule = Schedule.model_validate({"timezone": "Europe/Berlin", "rotation": {
        "members": ["a@x.io"], "restrictions": [{"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "18:00"}]}})
    on_call = who_is_on_call(schedule, at(2026, 11, 28, 12))  # Saturday
    assert on_call.person is None and "only covers Mon–Fri 09:00–18:00 Europe/Berlin" in on_call.reason


def test_overnight_restriction_belongs_to_the_day_it_starts() -> None:
    schedule = Schedule.model_validate({"timezone": "UTC", "rotation": {
        "members": ["a@x.io"], "restrictions": [{"days": ["fri"], "start": "22:00", "end": "06:00"}]}})
    assert who_is_on_call(schedule, at(2026, 11, 27, 23)).person == "a@x.io"  # Friday 23:00
    assert who_is_on_call(schedule, at(2026, 11, 28, 5, 59)).person == "a@x.io"  # Saturday 05:59
    assert who_is_on_call(schedule, at(2026, 11, 28, 6)).person is None
    assert who_is_on_call(schedule, at(2026, 11, 26, 23)).person is None  # Thursday night


def test_override_wins_over_every_layer_in_the_schedule_zone() -> None:
    schedule = layered(overrides=[{"user": "cover@x.io", "start": "2026-11-25T12:00", "end": "2026-11-25T13:00"}])
    assert who_is_on_call(schedule, at(2026, 11, 25, 16, 59)).reason == "days"
    assert who_is_on_call(schedule, at(2026, 11, 25, 17, 0)).person == "cover@x.io"  # 12:00 New York
    assert who_is_on_call(schedule, at(2026, 11, 25, 18, 0)).reason == "days"


def test_week_of_shifts_lists_each_change_once() -> None:
    schedule = layered()
    week = shifts(schedule, at(2026, 11, 23, 0), at(2026, 11, 30, 0))
    people = [s.on_call.person for s in week]
    assert all(a != b for a, b in zip(people, people[1:]))
    assert people.count("night@x.io") == 6  # Monday morning, each weekday evening, the weekend
    starts = [s.start.astimezone(ZoneInfo("America/New_York")).strftime("%a %H:%M") for s in week]
    assert starts[1:3] == ["Mon 09:00", "Mon 17:00"]


# -- properties -----------------------------------------------------------------------------------------

ZONES = ["UTC", "Europe/London", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe", "Pacific/Chatham", "America/Sao_Paulo"]
members = st.lists(st.sampled_from(["a@x.io", "b@x.io", "c@x.io", "U0AAAA1"]), min_size=1, max_size=4)
clock = st.builds(lambda h, m: f"{h:02d}:{m:02d}", st.integers(0, 23), st.sampled_from([0, 15, 30, 45]))
handoff = st.one_of(
    st.builds(lambda c: {"every": "day", "at": c}, clock),
    st.builds(lambda c, d: {"every": "week", "at": c, "on": d}, clock, st.sampled_from(["mon", "wed", "sun"])),
    st.sampled_from(["0 * * * *", "30 2 * * *", "0 9 * * MON-FRI", "15 1 1 * *"]),
)
window = st.builds(lambda d, s, e: {"days": d, "start": s, "end": e},
                   st.lists(st.sampled_from(["mon", "tue", "wed", "thu", "fri", "sat", "sun"]), min_size=1, max_size=7, unique=True),
                   clock, clock).filter(lambda w: w["start"] != w["end"])
layer = st.builds(lambda m, h, r: {"members": m, "handoff": h, "start": "2026-01-01T00:00", "restrictions": r},
                  members, handoff, st.lists(window, max_size=2))
schedules = st.builds(lambda z, layers: Schedule.model_validate({"timezone": z, "layers": layers}),
                      st.sampled_from(ZONES), st.lists(layer, min_size=1, max_size=3))
instants = st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31)).map(lambda d: d.replace(tzinfo=UTC))


@settings(max_examples=150, deadline=None)
@given(schedules, instants)
def test_on_call_is_a_member_or_an_explained_gap(schedule: Schedule, instant: datetime) -> None:
    result = who_is_on_call(schedule, instant)
    everyone = {m for layer in schedule.layers for m in layer.members}
    if result.person is None:
        assert result.reason  # a gap always says why
    else:
        assert result.person in everyone


@settings(max_examples=150, deadline=None)
@given(schedules, instants, st.sampled_from(ZONES))
def test_the_same_instant_in_another_zone_gives_the_same_answer(schedule: Schedule, instant: datetime, zone: str) -> None:
    assert who_is_on_call(schedule, instant) == who_is_on_call(schedule, instant.astimezone(ZoneInfo(zone)))


@pytest.mark.parametrize("zone", ["Europe/London", "America/New_York"])
def test_hourly_rotation_never_hands_off_twice_in_the_repeated_hour(zone: str) -> None:
    schedule = Schedule.model_validate({"timezone": zone, "rotation": {"members": ["a@x.io", "b@x.io", "c@x.io"], "handoff": "0 * * * *", "start": "2026-10-01T00:00"}})
    day = {"Europe/London": at(2026, 10, 24, 20), "America/New_York": at(2026, 10, 31, 20)}[zone]
    changes = handoff_instants(schedule, day, day + timedelta(hours=12))
    assert all((b - a) >= timedelta(minutes=59) for a, b in zip(changes, changes[1:]))


@settings(max_examples=60, deadline=None)
@given(schedules, instants)
def test_shifts_agree_with_asking_at_every_hour(schedule: Schedule, instant: datetime) -> None:
    """`shifts` (used by --week and the linter) finds every change that hour-by-hour asking finds."""
    start = instant.replace(minute=0, second=0, microsecond=0)
    listed = shifts(schedule, start, start + timedelta(hours=48))
    starts = [s.start for s in listed]
    for hour in range(48):
        moment = start + timedelta(hours=hour)
        current = listed[bisect.bisect_right(starts, moment) - 1].on_call.person
        assert current == who_is_on_call(schedule, moment).person


@settings(max_examples=60, deadline=None)
@given(schedules, instants, st.lists(st.builds(lambda d, h: {"user": "o@x.io", "start": f"2026-{d}T{h:02d}:00", "end": f"2026-{d}T{h + 3:02d}:30"},
                                               st.sampled_from(["03-08", "03-29", "10-25", "11-01", "06-10"]), st.integers(0, 20)), max_size=2))
def test_coverage_agrees_with_asking_at_every_hour(schedule: Schedule, instant: datetime, overrides: list[dict]) -> None:
    """`coverage` (used by the linter: no hand-offs listed) says whether anyone is on call as asking each hour does."""
    schedule = Schedule.model_validate({**schedule.model_dump(), "overrides": overrides})
    start = instant.replace(minute=0, second=0, microsecond=0)
    changes = coverage(schedule, start, start + timedelta(hours=48))
    points = [point for point, _ in changes]
    for hour in range(49):
        moment = start + timedelta(hours=hour)
        assert changes[bisect.bisect_right(points, moment) - 1][1] == (who_is_on_call(schedule, moment).person is not None)
