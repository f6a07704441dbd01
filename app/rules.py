"""Nudge and auto-escalation rules, pure: an incident's facts and a rule's memory in; when it fires out.

A rule fires once per *occurrence* of its trigger (a declaration, a severity change, a period of
silence, an unacknowledged stretch...), or every `every` while the occurrence lasts. Durations count
from when the rule's severity condition became true, so a rule "unacknowledged 5 min at SEV1"
starts counting when the incident is raised to SEV1, not at its declaration. Nothing here reads the
clock or the database: the engine calls `next_due` and `holds_at`, and `simulate` does too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Mapping

from app.catalog import Catalog, ScopedRule, format_duration
from app.store import parse_iso
from app.tracks import OWNED

WORKING_HOURS_RECHECK = 60  # minute granularity: a rule waiting on (or outside) working hours looks again a minute later


@dataclass(frozen=True)
class Facts:
    """What rules can see of an incident."""

    status: str
    severity: str
    service_id: str
    team_id: str
    private: bool
    declared_at: datetime
    severity_since: datetime
    triggered_since: datetime
    acknowledged_at: datetime | None
    last_update_at: datetime | None
    lead: str | None

    @classmethod
    def of(cls, incident: Mapping[str, Any]) -> "Facts":
        declared = parse_iso(incident["declared_at"])
        assert declared is not None
        return cls(
            status=incident["status"], severity=incident["severity"], service_id=incident["service_id"], team_id=incident["team_id"],
            private=bool(incident["private"]), declared_at=declared,
            severity_since=parse_iso(incident.get("severity_since")) or declared,
            triggered_since=parse_iso(incident.get("triggered_since")) or declared,
            acknowledged_at=parse_iso(incident.get("acknowledged_at")),
            last_update_at=parse_iso(incident.get("last_update_at")), lead=incident.get("lead"),
        )


@dataclass(frozen=True)
class Memory:
    """What a rule's timer remembers for one incident."""

    occurrence: str | None = None
    fired_at: datetime | None = None
    snoozed_until: datetime | None = None
    dismissed: bool = False

    @classmethod
    def of(cls, timer: Mapping[str, Any]) -> "Memory":
        return cls(timer.get("occurrence"), parse_iso(timer.get("fired_at")), parse_iso(timer.get("snoozed_until")),
                   bool(timer.get("dismissed_by")))


def in_scope(scoped: ScopedRule, facts: Facts, catalog: Catalog) -> bool:
    """Conditions that cannot change during an incident: where the rule was written, service, team, tier, privacy."""
    rule = scoped.rule
    if scoped.team and scoped.team != facts.team_id:
        return False
    if scoped.service and scoped.service != facts.service_id:
        return False
    cond = rule.if_
    if cond.service and facts.service_id not in cond.service:
        return False
    if cond.team and facts.team_id not in cond.team:
        return False
    if cond.tier:
        service = catalog.services.get(facts.service_id)
        if service is None or service.tier not in cond.tier:
            return False
    if cond.private is not None and cond.private != facts.private:
        return False
    return True


def severity_holds(scoped: ScopedRule, facts: Facts, catalog: Catalog) -> bool:
    cond = scoped.rule.if_
    if cond.severity and facts.severity not in cond.severity:
        return False
    if cond.severity_at_least:
        return catalog.ranks.get(facts.severity, 99) <= catalog.ranks.get(cond.severity_at_least, 0)
    return True


def holds_at(scoped: ScopedRule, facts: Facts, catalog: Catalog, at: datetime) -> bool:
    """Every condition, re-checked at the moment of firing (working hours included)."""
    if not (in_scope(scoped, facts, catalog) and severity_holds(scoped, facts, catalog)):
        return False
    wanted = scoped.rule.if_.working_hours
    if wanted is None:
        return True
    team = catalog.teams.get(facts.team_id)
    # A team without working hours is always "within" them: there are no hours to be outside of.
    within = team is None or team.working_hours is None or team.working_hours.contains(at.astimezone(team.zone))
    return within if wanted == "within" else not within


def occurrence(scoped: ScopedRule, facts: Facts, catalog: Catalog) -> tuple[str, datetime] | None:
    """The trigger's current occurrence (a key that changes when a new one starts) and when its clock starts."""
    when = scoped.rule.when
    kind = when.kind
    if facts.status == "resolved":
        return None
    if kind == "declared":
        return "declared", facts.declared_at
    if kind == "severity_changed":
        if facts.severity_since <= facts.declared_at:
            return None
        (how, severity), = when.severity_changed.items()  # type: ignore[union-attr]
        rank, wanted = catalog.ranks.get(facts.severity, 99), catalog.ranks.get(severity, 0)
        if (how == "to" and facts.severity != severity) or (how == "at_least" and rank > wanted):
            return None
        return f"severity:{facts.severity_since.isoformat()}", facts.severity_since
    if kind == "unacknowledged_for":
        return (f"unacked:{facts.triggered_since.isoformat()}", facts.triggered_since) if facts.status == "triggered" else None
    if kind == "open_for":
        return "open", facts.declared_at
    if kind == "acknowledged_for":
        if facts.status not in OWNED or facts.acknowledged_at is None:  # acknowledged, or mitigated: not resolved yet
            return None
        return f"acked:{facts.acknowledged_at.isoformat()}", facts.acknowledged_at
    if kind == "no_update_for":
        since = max(facts.last_update_at or facts.declared_at, facts.declared_at)
        return f"silence:{since.isoformat()}", since
    if kind == "lead_unassigned_for":
        return ("no_lead", facts.declared_at) if facts.lead is None else None
    raise AssertionError(kind)


def next_due(scoped: ScopedRule, facts: Facts, memory: Memory, catalog: Catalog) -> tuple[datetime, str] | None:
    """When the rule should fire next for this incident, and for which occurrence; None: not until something changes."""
    if memory.dismissed or not in_scope(scoped, facts, catalog) or not severity_holds(scoped, facts, catalog):
        return None
    current = occurrence(scoped, facts, catalog)
    if current is None:
        return None
    key, start = current
    rule = scoped.rule
    if rule.if_.severity or rule.if_.severity_at_least:
        start = max(start, facts.severity_since)  # the rules of a new severity apply from that moment
    due = start + timedelta(seconds=rule.when.duration)
    if memory.occurrence == key and memory.fired_at is not None:
        if rule.every is None:
            return None
        due = max(due, memory.fired_at + timedelta(seconds=rule.every))
    if memory.snoozed_until is not None:
        due = max(due, memory.snoozed_until)
    return due, key


def describe(scoped: ScopedRule) -> str:
    """A rule in words, for the timeline and `simulate`."""
    rule = scoped.rule
    when = rule.when
    changed = " ".join(f"{how.replace('_', ' ')} {severity}" for how, severity in (when.severity_changed or {}).items())
    text = {
        "declared": "declared",
        "severity_changed": f"severity changed {changed}",
        "unacknowledged_for": f"unacknowledged for {format_duration(when.duration)}",
        "open_for": f"open for {format_duration(when.duration)}",
        "no_update_for": f"no update for {format_duration(when.duration)}",
        "acknowledged_for": f"acknowledged but unresolved for {format_duration(when.duration)}",
        "lead_unassigned_for": f"no lead for {format_duration(when.duration)}",
    }[when.kind]
    if rule.if_.severity_at_least:
        text += f" at {rule.if_.severity_at_least} or worse"
    elif rule.if_.severity:
        text += f" at {'/'.join(rule.if_.severity)}"
    return text
