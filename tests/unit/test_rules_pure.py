"""Rule timing, pure (`app.rules`): scope, occurrences, when a rule is next due, re-checks at firing time.

The incident is declared on Monday 2026-11-23 10:00 UTC (10:00 in London, inside Payments' working
hours, Mon-Fri 09:00-18:00 Europe/London). `tests/test_rules.py` drives the same rules through Slack.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from app import rules
from app.catalog import ScopedRule
from app.rules import Facts, Memory
from app.store import iso
from tests.unit.catalogs import MONDAY, RULES_YAML, catalog

CATALOG = catalog(RULES_YAML)
T0 = MONDAY


def rule(rule_id: str) -> ScopedRule:
    return CATALOG.rules_by_id[rule_id]


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def facts(**changes: Any) -> Facts:
    base: dict[str, Any] = dict(status="triggered", severity="sev2", service_id="bank-transfers", team_id="payments", private=False,
                                declared_at=T0, severity_since=T0, triggered_since=T0, acknowledged_at=None, last_update_at=None,
                                lead=None)
    return Facts(**{**base, **changes})


def due(rule_id: str, incident: Facts, memory: Memory = Memory()) -> tuple[datetime, str] | None:
    return rules.next_due(rule(rule_id), incident, memory, CATALOG)


# -- in_scope ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("rule_id", "inside", "outside"), [
    ("payments-nights", {}, {"team_id": "identity", "service_id": "login"}),  # written in team payments
    ("login-declared", {"service_id": "login", "team_id": "identity"}, {}),  # written in service login
    ("identity-only", {"team_id": "identity", "service_id": "login"}, {}),  # if: {team: [identity]}
    ("transfers-only", {}, {"service_id": "login"}),  # if: {service: [bank-transfers]}
    ("tier1-open", {}, {"service_id": "login"}),  # login is tier 3
    ("tier1-open", {}, {"service_id": "ghost"}),  # a service no longer in the catalog has no tier
    ("no-lead", {"private": False}, {"private": True}),
])
def test_in_scope(rule_id: str, inside: dict[str, Any], outside: dict[str, Any]) -> None:
    assert rules.in_scope(rule(rule_id), facts(**inside), CATALOG) is True
    assert rules.in_scope(rule(rule_id), facts(**outside), CATALOG) is False
    assert due(rule_id, facts(**outside)) is None


def test_severity_is_not_scope_but_is_checked_for_due_and_firing() -> None:
    minor = facts(severity="sev3")
    assert rules.in_scope(rule("sev1-declared"), minor, CATALOG) is True
    assert due("sev1-declared", minor) is None
    assert rules.holds_at(rule("sev1-declared"), minor, CATALOG, T0) is False
    assert due("sev1-declared", facts(severity="sev1")) == (T0, "declared")
    assert due("silence", facts(severity="sev3")) is None  # if: {severity: [sev1, sev2]}


# -- occurrence ---------------------------------------------------------------------------------------------------


def occurrence(rule_id: str, **changes: Any) -> tuple[str, datetime] | None:
    return rules.occurrence(rule(rule_id), facts(**changes), CATALOG)


def test_occurrence_of_declared_open_and_lead_unassigned() -> None:
    assert occurrence("sev1-declared") == ("declared", T0)
    assert occurrence("tier1-open", status="acknowledged") == ("open", T0)
    assert occurrence("no-lead") == ("no_lead", T0)
    assert occurrence("no-lead", lead="U0BOB") is None


def test_occurrence_of_severity_changed() -> None:
    raised = at(20)
    assert occurrence("raised-sev2", severity="sev1") is None  # declared at sev1: no change yet
    assert occurrence("raised-sev2", severity="sev1", severity_since=raised) == (f"severity:{raised.isoformat()}", raised)
    assert occurrence("raised-sev2", severity="sev2", severity_since=raised) == (f"severity:{raised.isoformat()}", raised)
    assert occurrence("raised-sev2", severity="sev3", severity_since=raised) is None  # lowered to sev3: not at least sev2
    assert occurrence("raised-to-sev1", severity="sev2", severity_since=raised) is None  # `to` wants exactly sev1
    assert occurrence("raised-to-sev1", severity="sev1", severity_since=raised) == (f"severity:{raised.isoformat()}", raised)


def test_occurrence_of_unacknowledged_and_acknowledged() -> None:
    assert occurrence("sev1-unacked") == (f"unacked:{T0.isoformat()}", T0)
    assert occurrence("sev1-unacked", status="acknowledged", acknowledged_at=at(2)) is None
    rearmed = at(70)  # an ack timeout re-armed the ladder: a new unacknowledged stretch
    assert occurrence("sev1-unacked", triggered_since=rearmed) == (f"unacked:{rearmed.isoformat()}", rearmed)
    assert occurrence("acked-1h", status="acknowledged", acknowledged_at=at(3)) == (f"acked:{at(3).isoformat()}", at(3))
    assert occurrence("acked-1h") is None
    assert occurrence("acked-1h", status="acknowledged", acknowledged_at=None) is None
    # Mitigated is still "acknowledged and not resolved": the same occurrence goes on (no new one, no end).
    assert occurrence("acked-1h", status="mitigated", acknowledged_at=at(3)) == (f"acked:{at(3).isoformat()}", at(3))
    assert occurrence("sev1-unacked", status="mitigated", acknowledged_at=at(3)) is None


def test_occurrence_of_silence_counts_from_the_last_update() -> None:
    assert occurrence("silence") == (f"silence:{T0.isoformat()}", T0)
    assert occurrence("silence", last_update_at=at(12)) == (f"silence:{at(12).isoformat()}", at(12))
    assert occurrence("silence", last_update_at=at(-5)) == (f"silence:{T0.isoformat()}", T0)  # before the declaration


def test_a_resolved_incident_has_no_occurrence_of_anything() -> None:
    for scoped in CATALOG.rules:
        assert rules.occurrence(scoped, facts(status="resolved", severity="sev1", severity_since=at(5), lead=None), CATALOG) is None


# -- next_due -----------------------------------------------------------------------------------------------------


def test_next_due_adds_the_trigger_duration_to_the_occurrence() -> None:
    assert due("sev1-unacked", facts(severity="sev1")) == (at(5), f"unacked:{T0.isoformat()}")
    assert due("tier1-open", facts()) == (at(120), "open")
    assert due("no-lead", facts()) == (at(15), "no_lead")
    assert due("acked-1h", facts(status="acknowledged", acknowledged_at=at(3))) == (at(63), f"acked:{at(3).isoformat()}")
    assert due("payments-nights", facts()) == (at(1), "open")
    assert due("sev1-unacked", facts(severity="sev1", status="acknowledged", acknowledged_at=at(1))) is None


def test_severity_conditions_count_from_severity_since() -> None:
    # Declared SEV3 at 10:00, raised to SEV1 at 10:20: "unacknowledged 5m at SEV1" is due at 10:25, not 10:05.
    raised = facts(severity="sev1", severity_since=at(20))
    assert due("sev1-unacked", raised) == (at(25), f"unacked:{T0.isoformat()}")
    # The same for silence: last update 10:05, raised from SEV3 to SEV2 at 10:20 -> due 10:50, not 10:35.
    assert due("silence", facts(severity="sev2", severity_since=at(20), last_update_at=at(5))) == (at(50), f"silence:{at(5).isoformat()}")
    # A rule without severity conditions keeps its own clock.
    assert due("tier1-open", facts(severity="sev1", severity_since=at(20))) == (at(120), "open")


def test_once_per_occurrence_without_every() -> None:
    incident = facts(severity="sev1")
    key = f"unacked:{T0.isoformat()}"
    assert due("sev1-unacked", incident, Memory(occurrence=key, fired_at=at(5))) is None
    # A new occurrence (re-armed at 11:10) is due again, whatever fired before.
    rearmed = replace(incident, triggered_since=at(70))
    assert due("sev1-unacked", rearmed, Memory(occurrence=key, fired_at=at(5))) == (at(75), f"unacked:{at(70).isoformat()}")


def test_every_repeats_from_the_last_firing() -> None:
    incident = facts()
    key = f"silence:{T0.isoformat()}"
    assert due("silence", incident) == (at(30), key)
    assert due("silence", incident, Memory(occurrence=key, fired_at=at(30))) == (at(60), key)
    assert due("silence", incident, Memory(occurrence=key, fired_at=at(41))) == (at(71), key)  # fired late: counts from then
    # An update starts a new silence: 30m from the update, not from the last reminder.
    updated = replace(incident, last_update_at=at(50))
    assert due("silence", updated, Memory(occurrence=key, fired_at=at(41))) == (at(80), f"silence:{at(50).isoformat()}")


def test_snooze_postpones_but_never_brings_forward() -> None:
    incident = facts(severity="sev1")
    key = f"unacked:{T0.isoformat()}"
    assert due("sev1-unacked", incident, Memory(snoozed_until=at(15))) == (at(15), key)
    assert due("sev1-unacked", incident, Memory(snoozed_until=at(2))) == (at(5), key)
    assert due("sev1-unacked", incident, Memory(occurrence=key, fired_at=at(5), snoozed_until=at(60))) is None  # fired, no every
    silence = f"silence:{T0.isoformat()}"
    assert due("silence", facts(), Memory(occurrence=silence, fired_at=at(30), snoozed_until=at(75))) == (at(75), silence)
    assert due("silence", facts(), Memory(occurrence=silence, fired_at=at(30), snoozed_until=at(45))) == (at(60), silence)


def test_dismiss_stops_a_rule_for_good() -> None:
    assert due("silence", facts(), Memory(dismissed=True)) is None
    assert due("silence", facts(last_update_at=at(90)), Memory(occurrence="silence:old", fired_at=at(30), dismissed=True)) is None


# -- holds_at -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("moment", "outside"), [
    (datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc), False),  # Monday 10:00 GMT
    (datetime(2026, 11, 23, 17, 59, tzinfo=timezone.utc), False),
    (datetime(2026, 11, 23, 18, 0, tzinfo=timezone.utc), True),  # the window ends at 18:00
    (datetime(2026, 11, 23, 8, 59, tzinfo=timezone.utc), True),
    (datetime(2026, 11, 28, 12, 0, tzinfo=timezone.utc), True),  # Saturday
    (datetime(2026, 7, 6, 8, 30, tzinfo=timezone.utc), False),  # Monday 09:30 BST: London time, not UTC
    (datetime(2026, 7, 6, 17, 30, tzinfo=timezone.utc), True),  # Monday 18:30 BST
])
def test_holds_at_rechecks_working_hours_in_the_teams_zone(moment: datetime, outside: bool) -> None:
    assert rules.holds_at(rule("payments-nights"), facts(), CATALOG, moment) is outside
    assert rules.holds_at(rule("office-hours"), facts(), CATALOG, moment) is not outside


def test_a_team_without_working_hours_is_always_within_them() -> None:
    identity = facts(team_id="identity", service_id="login")
    for moment in (T0, datetime(2026, 11, 28, 3, 0, tzinfo=timezone.utc)):
        assert rules.holds_at(rule("office-hours"), identity, CATALOG, moment) is True


def test_holds_at_rechecks_severity_and_scope() -> None:
    assert rules.holds_at(rule("sev1-unacked"), facts(severity="sev1"), CATALOG, at(5)) is True
    assert rules.holds_at(rule("sev1-unacked"), facts(severity="sev2"), CATALOG, at(5)) is False  # lowered before it fired
    assert rules.holds_at(rule("transfers-only"), facts(service_id="login", team_id="identity"), CATALOG, at(10)) is False


# -- Facts, Memory, describe ----------------------------------------------------------------------------------------


def test_facts_and_memory_from_rows() -> None:
    incident = {"status": "triggered", "severity": "sev1", "service_id": "bank-transfers", "team_id": "payments", "private": 0,
                "declared_at": iso(T0), "severity_since": None, "triggered_since": iso(at(70)), "acknowledged_at": None,
                "last_update_at": iso(at(12)), "lead": None}
    assert Facts.of(incident) == facts(severity="sev1", triggered_since=at(70), last_update_at=at(12))
    assert Memory.of({"occurrence": "open", "fired_at": iso(at(5)), "snoozed_until": None, "dismissed_by": "U0BOB"}) == Memory(
        "open", at(5), None, True)
    assert Memory.of({}) == Memory()


def test_describe() -> None:
    assert rules.describe(rule("sev1-unacked")) == "unacknowledged for 5m at sev1 or worse"
    assert rules.describe(rule("silence")) == "no update for 30m at sev1/sev2"
    assert rules.describe(rule("raised-sev2")) == "severity changed at least sev2"
    assert rules.describe(rule("acked-1h")) == "acknowledged but unresolved for 1h"
