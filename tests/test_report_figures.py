"""The report's figures equal hand-computed ones on six weeks of incidents played through the real use cases.

tests/report_history.py plays 60 incidents (two teams in London and New York, across both autumn
DST changes, with skipped levels, timeouts, an exhausted ladder, manual escalations and escalations
to the other team) and writes down what each should have done. Every expected figure below is
computed from those script records with a plain implementation of the definitions in
app/report/figures.py (nearest-rank percentiles, nights named by their evening's date, on-call time
walked minute by minute), never by calling the report's code. One test per figure.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app import incidents
from app.catalog import load_catalog
from app.report import figures
from app.report.model import Report
from app.store import Store
from bench.history import InProcessSlack, Ladder
from tests import report_history as history
from tests.report_history import CATALOG, SINCE, UNTIL, ZONE_OF, Scripted


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Scripted], Report, Store]:
    app_log = logging.getLogger("app")
    level = app_log.level
    app_log.setLevel(logging.CRITICAL)  # building the history is not what this module tests; restored for the next module
    try:
        db = tmp_path_factory.mktemp("report") / "ladder.db"
        scripted = history.build(db)
    finally:
        app_log.setLevel(level)
    store = Store(db)
    report = figures.compute(store.report_material(SINCE, UNTIL, chunk=7), load_catalog(CATALOG), SINCE, UNTIL)
    yield scripted, report, store
    store.close()


# -- plain references ----------------------------------------------------------------------------------------

def nearest_rank(values: list[int], p: int) -> int | None:
    """The smallest value with at least p% of the values at or below it (the definition, by brute force)."""
    if not values:
        return None
    return min(v for v in values if sum(1 for w in values if w <= v) * 100 >= p * len(values))


def expected_spread(values: list[int]) -> tuple[int, int | None, int | None, int | None]:
    return len(values), nearest_rank(values, 50), nearest_rank(values, 90), max(values) if values else None


def as_tuple(spread: figures.Spread) -> tuple[int, int | None, int | None, int | None]:
    return spread.count, spread.p50_s, spread.p90_s, spread.max_s


def by_group(scripted: list[Scripted]) -> dict[tuple[str, str, str], list[Scripted]]:
    groups: dict[tuple[str, str, str], list[Scripted]] = defaultdict(list)
    for s in scripted:
        groups[(s.team, s.service, s.severity)].append(s)
    return groups


def monday(moment: datetime) -> date:
    day = moment.date()
    return day - timedelta(days=day.weekday())


def outside_hours(team: str, at: datetime) -> bool:
    local = at.astimezone(ZONE_OF[team])
    start, end = (9, 18) if team == "payments" else (8, 17)
    return not (local.weekday() < 5 and start <= local.hour < end)


def night_date(local: datetime) -> date | None:
    if local.hour >= 22:
        return local.date()
    if local.hour < 7:
        return local.date() - timedelta(days=1)
    return None


# -- the history is what the issue asks for -----------------------------------------------------------------

def test_the_history_has_what_the_figures_need(built) -> None:
    scripted, report, _ = built
    assert len(scripted) >= 50 and report.incidents == len(scripted)
    assert min(s.declared for s in scripted) < datetime(2026, 10, 25, 1, tzinfo=timezone.utc) < max(s.declared for s in scripted)
    assert min(s.declared for s in scripted) < datetime(2026, 11, 1, 6, tzinfo=timezone.utc) < max(s.declared for s in scripted)
    arrivals = [a for s in scripted for a in s.arrivals]
    assert any(not a.paged for a in arrivals) and any(a.timed_out for a in arrivals)
    assert sum(1 for s in scripted if s.other_team_rung) >= 5
    assert {s.team for s in scripted} == {"payments", "identity"}


# -- per team, service and severity ------------------------------------------------------------------------

def test_incidents_per_team_service_and_severity(built) -> None:
    scripted, report, _ = built
    assert {(g.team, g.service, g.severity): g.incidents for g in report.groups} == {k: len(v) for k, v in by_group(scripted).items()}


def test_time_to_acknowledge(built) -> None:
    scripted, report, _ = built
    expected = {k: expected_spread([s.ack_s for s in v if s.ack_s is not None]) for k, v in by_group(scripted).items()}
    assert {(g.team, g.service, g.severity): as_tuple(g.time_to_ack) for g in report.groups} == expected


def test_time_to_resolve(built) -> None:
    scripted, report, _ = built
    expected = {k: expected_spread([s.resolve_s for s in v if s.resolve_s is not None]) for k, v in by_group(scripted).items()}
    assert {(g.team, g.service, g.severity): as_tuple(g.time_to_resolve) for g in report.groups} == expected
    assert sum(g.time_to_resolve.count for g in report.groups) == len(scripted) - len(history.OPEN)


def test_time_to_mitigate(built) -> None:
    scripted, report, _ = built
    expected = {k: expected_spread([s.mitigate_s for s in v if s.mitigate_s is not None]) for k, v in by_group(scripted).items()}
    assert {(g.team, g.service, g.severity): as_tuple(g.time_to_mitigate) for g in report.groups} == expected
    assert any(g.time_to_mitigate.count for g in report.groups)


def test_time_to_first_escalation(built) -> None:
    scripted, report, _ = built
    expected = {k: expected_spread([s.escalate_s for s in v if s.escalate_s is not None]) for k, v in by_group(scripted).items()}
    assert {(g.team, g.service, g.severity): as_tuple(g.time_to_first_escalation) for g in report.groups} == expected


# -- the ladder's levels ---------------------------------------------------------------------------------------

def level_table(report: Report) -> dict[tuple[str, int], tuple[int, int, int, int]]:
    return {(f.policy, f.level): (f.reached, f.acknowledged, f.timed_out, f.skipped) for f in report.levels}


def test_levels_reached_acknowledged_timed_out_skipped(built) -> None:
    scripted, report, _ = built
    expected: dict[tuple[str, int], list[int]] = {(p, lv): [0, 0, 0, 0] for p in ("payments", "identity") for lv in (1, 2, 3)}
    for s in scripted:
        for a in s.arrivals:
            row = expected[(a.policy, a.level + 1)]
            row[0] += 1
            row[1] += a.acknowledged
            row[2] += a.timed_out
            row[3] += not a.paged
    assert level_table(report) == {k: tuple(v) for k, v in expected.items()}
    assert level_table(report)[("payments", 2)][3] > 0  # the daytime level was skipped out of hours


def test_acknowledged_only_by_another_team(built) -> None:
    scripted, report, _ = built
    expected = Counter(s.other_team_rung for s in scripted if s.other_team_rung)
    got = {(f.policy, f.level - 1): f.acknowledged_by_other_team for f in report.levels if f.acknowledged_by_other_team}
    assert got == dict(expected)


# -- per person ------------------------------------------------------------------------------------------------

def pages_of(scripted: list[Scripted]) -> list[tuple[str, str, datetime]]:
    return [page for s in scripted for page in s.pages]


def person_table(report: Report, attribute: str) -> dict[tuple[str, str], object]:
    return {(p.person, p.team): getattr(p, attribute) for p in report.people if getattr(p, attribute)}


def test_pages_per_person(built) -> None:
    scripted, report, _ = built
    assert person_table(report, "pages") == dict(Counter((person, team) for person, team, _ in pages_of(scripted)))
    assert not any(p.person in ("sue@example.com", "vera@example.com") for p in report.people)  # a stakeholder, a notify-only level


def test_pages_outside_working_hours(built) -> None:
    scripted, report, _ = built
    expected = Counter((person, team) for person, team, at in pages_of(scripted) if outside_hours(team, at))
    assert person_table(report, "outside_working_hours") == dict(expected)


def test_pages_at_night(built) -> None:
    scripted, report, _ = built
    expected = Counter((person, team) for person, team, at in pages_of(scripted) if night_date(at.astimezone(ZONE_OF[team])))
    assert person_table(report, "at_night") == dict(expected)


def test_nights_interrupted(built) -> None:
    scripted, report, _ = built
    nights: dict[tuple[str, str], set[date]] = defaultdict(set)
    for person, team, at in pages_of(scripted):
        night = night_date(at.astimezone(ZONE_OF[team]))
        if night:
            nights[(person, team)].add(night)
    assert person_table(report, "nights_interrupted") == {k: len(v) for k, v in nights.items()}


def test_share_of_pages(built) -> None:
    scripted, report, _ = built
    pages = pages_of(scripted)
    per_team = Counter(team for _, team, _ in pages)
    expected = {k: n / per_team[k[1]] for k, n in Counter((person, team) for person, team, _ in pages).items()}
    assert person_table(report, "share_of_pages") == pytest.approx(expected)


def test_share_of_oncall_time(built) -> None:
    _, report, _ = built
    minutes: dict[tuple[str, str], int] = Counter()
    schedules = {"payments": ["payments-primary", "payments-daytime"], "identity": ["identity-primary"]}
    at = SINCE
    while at < UNTIL:  # who is on call, minute by minute, by the script's own model of the schedules
        for team, names in schedules.items():
            for name in names:
                person = history.on_call(name, at)
                if person:
                    minutes[(person, team)] += 1
        at += timedelta(minutes=1)
    totals = Counter()
    for (person, team), n in minutes.items():
        totals[team] += n
    expected = {k: n / totals[k[1]] for k, n in minutes.items()}
    assert person_table(report, "share_of_oncall") == pytest.approx(expected)
    assert expected[("carol@example.com", "payments")] == pytest.approx(30 * 8 * 60 / (42 * 24 * 60 + 30 * 8 * 60))


# -- trends ---------------------------------------------------------------------------------------------------

def test_weeks_incidents_by_severity(built) -> None:
    scripted, report, _ = built
    expected: dict[date, Counter] = defaultdict(Counter)
    for s in scripted:
        expected[monday(s.declared)][s.severity] += 1
    assert [w.week_start for w in report.weeks] == [SINCE.date() + timedelta(weeks=n) for n in range(6)]
    assert {w.week_start: w.incidents_by_severity for w in report.weeks} == {k: dict(v) for k, v in expected.items()}


def test_weeks_p50_time_to_acknowledge_and_resolve(built) -> None:
    scripted, report, _ = built
    week = lambda s: monday(s.declared)  # noqa: E731
    for w in report.weeks:
        mine = [s for s in scripted if week(s) == w.week_start]
        assert w.time_to_ack_p50_s == nearest_rank([s.ack_s for s in mine if s.ack_s is not None], 50)
        assert w.time_to_resolve_p50_s == nearest_rank([s.resolve_s for s in mine if s.resolve_s is not None], 50)


def test_weeks_pages(built) -> None:
    scripted, report, _ = built
    expected = Counter(monday(s.declared) for s in scripted for _ in s.pages)
    assert {w.week_start: w.pages for w in report.weeks if w.pages} == dict(expected)


def test_pages_by_hour_of_week(built) -> None:
    scripted, report, _ = built
    grid = [[0] * 24 for _ in range(7)]
    for _, _, at in pages_of(scripted):
        grid[at.weekday()][at.hour] += 1
    assert report.pages_by_hour_of_week == grid


def test_a_team_or_a_service_reports_only_its_incidents(built) -> None:
    scripted, _, store = built
    catalog = load_catalog(CATALOG)
    for team in ("payments", "identity"):
        report = figures.compute(store.report_material(SINCE, UNTIL, team=team), catalog, SINCE, UNTIL, team=team)
        assert report.incidents == sum(1 for s in scripted if s.team == team)
        assert {g.team for g in report.groups} == {team}
    report = figures.compute(store.report_material(SINCE, UNTIL, service="cards"), catalog, SINCE, UNTIL, service="cards")
    assert report.incidents == sum(1 for s in scripted if s.service == "cards")


def test_chunks_do_not_change_the_figures(built) -> None:
    _, report, store = built
    catalog = load_catalog(CATALOG)
    assert figures.compute(store.report_material(SINCE, UNTIL, chunk=1000), catalog, SINCE, UNTIL) == report


def test_drills_never_count() -> None:
    assert figures.counts({"id": 1}) and not figures.counts({"id": 1, "drill": 1})


def test_a_team_without_working_hours_has_no_page_outside_them(tmp_path) -> None:
    text = CATALOG.read_text().replace('    working_hours: {days: [mon, tue, wed, thu, fri], start: "08:00", end: "17:00"}\n', "")
    (tmp_path / "catalog.yaml").write_text(text)
    catalog = load_catalog(tmp_path / "catalog.yaml")
    assert catalog.teams["identity"].working_hours is None
    incident = {"id": 1, "number": 1, "team_id": "identity", "service_id": "login", "severity": "sev3", "status": "resolved",
                "declared_at": "2026-11-01T05:00:00.000000Z", "acknowledged_by": None, "acknowledged_at": None,
                "mitigated_at": None, "resolved_at": None}
    page = {"incident_id": 1, "track": "main", "round": 0, "policy": "identity", "level": 0, "loop": 0, "target": "erin@example.com",
            "via": "on call", "notify_only": 0, "user_id": "UERIN0000", "status": "sent", "created_at": incident["declared_at"],
            "sent_at": incident["declared_at"], "acknowledged_at": None}
    from app.store.reports import IncidentRows
    report = figures.compute([IncidentRows(incident, [page], [], [])], catalog, SINCE, UNTIL)
    erin = next(p for p in report.people if p.person == "erin@example.com")
    assert (erin.pages, erin.outside_working_hours, erin.at_night) == (1, 0, 1)


# -- the pure helpers against brute force, over random inputs (DST days included) -------------------------------

@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=10_000), max_size=40), st.integers(min_value=1, max_value=100))
def test_percentile_is_nearest_rank(values: list[int], p: int) -> None:
    assert figures.percentile(sorted(values), p) == nearest_rank(values, p)


ZONES = ["Europe/London", "America/New_York", "Australia/Lord_Howe", "UTC", "Asia/Kolkata"]
DST_DAYS = [datetime(2026, 10, 25, tzinfo=timezone.utc), datetime(2026, 11, 1, tzinfo=timezone.utc),
            datetime(2026, 3, 29, tzinfo=timezone.utc), datetime(2026, 3, 8, tzinfo=timezone.utc), datetime(2026, 4, 5, tzinfo=timezone.utc)]


def nights_by_walking(pages: list[datetime], zone: ZoneInfo, start: datetime, end: datetime) -> int:
    """Walk every minute from `start`; a night begins each time local time enters 22:00-07:00; count nights with a page."""
    minute_of = {p.replace(second=0, microsecond=0) for p in pages}
    night, in_night, hit = 0, False, set()
    at = start
    while at < end:
        local = at.astimezone(zone)
        dark = local.hour >= 22 or local.hour < 7
        if dark and not in_night:
            night += 1
        in_night = dark
        if dark and at in minute_of:
            hit.add(night)
        at += timedelta(minutes=1)
    return len(hit)


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(ZONES), st.sampled_from(DST_DAYS), st.lists(st.integers(min_value=0, max_value=3 * 24 * 60 - 1), max_size=12))
def test_nights_interrupted_against_walking_minutes(zone_name: str, day: datetime, offsets: list[int]) -> None:
    zone = ZoneInfo(zone_name)
    start = day - timedelta(hours=36)  # a midday well before, in every zone: the walk starts outside a night
    start = start.replace(hour=12) if zone_name != "Australia/Lord_Howe" else start.replace(hour=2)
    pages = [start + timedelta(hours=12, minutes=m) for m in offsets]
    nights = {figures.night_of(p.astimezone(zone)) for p in pages} - {None}
    assert len(nights) == nights_by_walking(pages, zone, start, start + timedelta(days=4))


# -- a level that pages a Slack user group -------------------------------------------------------------------

GROUP_CATALOG = """
severities:
  - {id: sev3, label: "SEV3", rank: 3}
teams:
  payments: {name: Payments, timezone: Europe/London, escalation_policy: payments}
services:
  - {id: bank-transfers, name: Bank transfers, owner: payments}
policies:
  payments:
    levels:
      - {targets: [{user_group: S0GROUP01}], escalate_after: 5m}
      - {targets: [{user: dana@example.com}], escalate_after: 5m}
"""


def test_a_user_groups_level_counts_its_members_acknowledgement_and_keys_them_by_e_mail(tmp_path) -> None:
    class GroupSlack(InProcessSlack):
        @staticmethod
        def _answer(method, params, serial, base="http://in-process.invalid"):
            if method == "usergroups.users.list":
                return {"users": ["UALICE000", "UBOB00000"]}
            return InProcessSlack._answer(method, params, serial, base)

    (tmp_path / "catalog.yaml").write_text(GROUP_CATALOG)
    catalog = load_catalog(tmp_path / "catalog.yaml")
    ladder = Ladder(tmp_path / "ladder.db", catalog, client=GroupSlack())
    start = datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)
    ladder.store.cache_user("alice@example.com", "UALICE000", start)  # bob's e-mail is not known
    declared = incidents.declare(ladder.store, catalog, incidents.DeclareRequest(
        title="transfers failing", service_id="bank-transfers", severity_id="sev3", declared_by="USAM"), start)
    ladder.drain(start + timedelta(seconds=2))  # delivery expands the group two seconds after the level was paged
    ladder.drain(start + timedelta(seconds=3))
    incidents.acknowledge(ladder.store, declared.incident["id"], "UALICE000", start + timedelta(minutes=1), catalog)
    report = figures.compute(ladder.store.report_material(start - timedelta(days=1), start + timedelta(days=1)), catalog,
                             start - timedelta(days=1), start + timedelta(days=1))
    assert level_table(report)[("payments", 1)] == (1, 1, 0, 0)
    assert {(p.person, p.pages) for p in report.people} == {("alice@example.com", 1), ("ubob00000", 1)}
