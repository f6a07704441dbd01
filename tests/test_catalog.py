"""The catalog: validation errors name file, line and field; routing; on-call; channel names."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from app.catalog import CatalogError, load_catalog, parse_catalog, parse_duration
from app.escalation import Snapshot, plan_level
from app.incidents import channel_name_for
from app.oncall import who_is_on_call
from app.routing import rank, route, search

EXAMPLE = Path(__file__).resolve().parent.parent / "manifests" / "catalog.yaml"

MINIMAL = """\
severities:
  - {id: sev1, label: "SEV1"}
teams:
  core: {name: Core, escalation_policy: core}
services:
  - {id: api, name: API, owner: core}
schedules:
  primary:
    timezone: Europe/London
    rotation: {members: [a@example.com, b@example.com], handoff: "0 9 * * MON", start: "2026-01-05T09:00"}
policies:
  core:
    levels:
      - {targets: [{schedule: primary}], escalate_after: 5m}
"""


@pytest.fixture(scope="module")
def catalog():
    return load_catalog(EXAMPLE)


def issues_of(text: str) -> list[str]:
    with pytest.raises(CatalogError) as info:
        parse_catalog(text, "org.yaml")
    return [str(i) for i in info.value.issues]


def test_minimal_catalog_is_valid() -> None:
    assert parse_catalog(MINIMAL).services["api"].owner == "core"


def test_unknown_owner_names_file_line_and_field() -> None:
    problems = issues_of(MINIMAL.replace("owner: core", "owner: coer"))
    assert problems == ["org.yaml:6: services[0].owner: unknown team 'coer'; known teams: core"]


def test_bad_cron_and_zone_are_reported_together_with_lines() -> None:
    text = MINIMAL.replace('"0 9 * * MON"', '"0 9 * * FUNDAY"').replace("Europe/London", "Europe/Londn")
    problems = issues_of(text)
    assert any(p.startswith("org.yaml:9: schedules.primary.timezone:") and "Europe/Londn" in p for p in problems)
    assert any(p.startswith("org.yaml:10: schedules.primary.rotation.handoff:") and "cron" in p for p in problems)


def test_unknown_schedule_reference() -> None:
    problems = issues_of(MINIMAL.replace("{schedule: primary}", "{schedule: primry}"))
    assert problems[0].startswith("org.yaml:14: policies.core.levels[0].targets[0].schedule: unknown schedule 'primry'")


@pytest.mark.parametrize("timeout, targets, ok", [
    ("1m", "[{user: a@example.com}]", True),
    ("59s", "[{user: a@example.com}]", False),
    ("5m", "[{user: a@example.com}, {user: b@example.com}]", True),
    ("4m", "[{user: a@example.com}, {user: b@example.com}]", False),
])
def test_escalate_after_minimums(timeout: str, targets: str, ok: bool) -> None:
    text = MINIMAL.replace("[{schedule: primary}], escalate_after: 5m", f"{targets}, escalate_after: {timeout}")
    if ok:
        parse_catalog(text)
    else:
        assert "escalate_after must be at least" in issues_of(text)[0]


def test_bad_yaml_names_the_line() -> None:
    problems = issues_of(MINIMAL + "  oops: [unclosed\n")
    assert problems[0].startswith("org.yaml:") and "not valid YAML" in problems[0]


def test_durations() -> None:
    assert parse_duration("5m") == 300 and parse_duration("1h30m") == 5400 and parse_duration("90s") == 90
    with pytest.raises(ValueError):
        parse_duration("five minutes")


def test_example_catalog_routes_what_people_say(catalog) -> None:
    assert route(catalog, "bank transfers failing").id == "bank-transfers"
    assert route(catalog, "Can't LOG IN!!").id == "login"
    assert route(catalog, "payouts delayed").id == "bank-transfers"
    assert route(catalog, "bank tranfsers down").id == "bank-transfers"  # a small typo
    assert route(catalog, "something is weird") is None


def test_ambiguous_text_offers_candidates_not_a_guess(catalog) -> None:
    text = "card payments and bank transfers failing"
    assert route(catalog, text) is None
    assert {m.service.id for m in rank(catalog, text)[:2]} == {"card-payments", "bank-transfers"}


def test_type_ahead_search(catalog) -> None:
    assert [s.id for s in search(catalog, "led")][:1] == ["ledger"]


def test_on_call_layers_restrictions_and_override(catalog) -> None:
    schedule = catalog.schedules["payments-primary"]
    at = lambda *args: datetime(*args, tzinfo=timezone.utc)  # noqa: E731
    # Weekdays 09:00-18:00 London the "business hours" layer (carol) wins over the weekly rotation.
    assert who_is_on_call(schedule, at(2026, 11, 23, 10, 0)).person == "carol@example.com"
    assert who_is_on_call(schedule, at(2026, 11, 23, 10, 0)).reason == "business hours"
    # Outside it, the earlier layer shows through: alice this week, bob from Monday 30 Nov 09:00 London.
    assert who_is_on_call(schedule, at(2026, 11, 28, 12, 0)).person == "alice@example.com"
    assert who_is_on_call(schedule, at(2026, 11, 30, 8, 59)).person == "alice@example.com"
    assert who_is_on_call(schedule, at(2026, 11, 30, 18, 0)).person == "bob@example.com"
    # The override wins over every layer.
    assert who_is_on_call(schedule, at(2026, 12, 25, 12, 0)).person == "dana@example.com"
    assert who_is_on_call(schedule, at(2026, 12, 25, 12, 0)).reason == "override"


def test_on_call_hand_off_stays_local_across_dst() -> None:
    catalog = parse_catalog(MINIMAL)
    schedule = catalog.schedules["primary"]
    # London is UTC+1 in summer: the Monday 09:00 hand-off happens at 08:00 UTC.
    before = who_is_on_call(schedule, datetime(2026, 7, 6, 7, 59, tzinfo=timezone.utc)).person
    after = who_is_on_call(schedule, datetime(2026, 7, 6, 8, 0, tzinfo=timezone.utc)).person
    assert before != after


def test_before_rotation_start_is_an_explained_gap() -> None:
    schedule = parse_catalog(MINIMAL).schedules["primary"]
    on_call = who_is_on_call(schedule, datetime(2025, 1, 1, tzinfo=timezone.utc))
    assert on_call.person is None and "starts" in on_call.reason


def test_snapshot_survives_catalog_edits(catalog) -> None:
    snapshot = Snapshot.from_catalog(catalog, "payments")
    at = datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)
    # The schedule was deleted from the catalog since: the snapshot's copy still answers.
    plan = plan_level(snapshot, 0, at, live_schedules={})
    assert [t.ref for t in plan.targets] == ["carol@example.com"]  # business hours on a Monday


@pytest.mark.parametrize("title, expected", [
    ("Bank transfers failing", "inc-42-bank-transfers-failing"),
    ("Zahlungen schlagen fehl: Überweisung!", "inc-42-zahlungen-schlagen-fehl-uberweisung"),
    ("🔥🔥🔥", "inc-42"),
    ("a" * 200, "inc-42-" + "a" * 73),
    ("--Weird__NAME--", "inc-42-weird__name"),
])
def test_channel_names_follow_slacks_rules(title: str, expected: str) -> None:
    name = channel_name_for(42, title)
    assert name == expected
    assert len(name) <= 80
