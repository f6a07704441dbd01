"""`simulate`: the escalation path an incident declared at a given instant would follow.

Built on the live engine (`app.escalation.start` / `advance`) and the same policy choice as
`declare`, never on a second implementation: what it prints is what Ladder would do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from app import escalation
from app.catalog import Catalog, format_duration
from app.escalation import Event

MAX_STEPS = 500


@dataclass
class Simulation:
    service_id: str
    service_name: str
    team_id: str
    team_name: str
    timezone: str
    severity: str
    declared_at: datetime
    policy_id: str
    policy_reason: str
    events: list[Event] = field(default_factory=list)
    ends: str = ""  # how the walk ended: "acknowledged?" (default) or "exhausted"
    next_due: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "service": self.service_id, "team": self.team_id, "severity": self.severity,
            "declared_at": self.declared_at.isoformat(), "policy": self.policy_id, "policy_reason": self.policy_reason,
            "steps": [
                {"minute": _minutes(self.declared_at, e.at), "at": e.at.isoformat(), "kind": e.kind, "policy": e.policy,
                 "level": e.level + 1, "loop": e.loop, "notify_only": e.notify_only, "detail": e.detail,
                 "targets": [{"ref": t.ref, "via": t.via} for t in e.targets], "gaps": e.gaps}
                for e in self.events
            ],
            "ends": self.ends, "next_escalation_at": self.next_due.isoformat() if self.next_due else None,
        }


def _minutes(start: datetime, at: datetime) -> int:
    return int((at - start).total_seconds() // 60)


def simulate(catalog: Catalog, service_id: str, severity_id: str | None, at: datetime, no_ack: bool) -> Simulation:
    """Declare at `at`; with `no_ack`, let nobody acknowledge and follow the ladder to its end."""
    severity = catalog.severity(severity_id) if severity_id else catalog.default_severity()
    if severity is None:
        raise KeyError(f"unknown severity {severity_id!r}; known: {', '.join(s.id for s in catalog.severities)}")
    if service_id not in catalog.services:
        raise KeyError(f"unknown service {service_id!r}; known: {', '.join(sorted(catalog.services))}")
    service = catalog.services[service_id]
    team_id, team = catalog.team_for_service(service_id)
    policy_id, why = catalog.choose_policy(team_id, severity.id, at)
    snapshot = escalation.snapshot_policy(catalog, policy_id)
    result = Simulation(service_id, service.name, team_id, team.name, team.timezone, severity.id, at, policy_id, why)
    state, events = escalation.start(snapshot, at, catalog.schedules)
    result.events.extend(events)
    steps = 0
    while no_ack and state.due_at is not None and steps < MAX_STEPS:
        state, events = escalation.advance(snapshot, state, state.due_at, catalog.schedules)
        result.events.extend(events)
        steps += 1
    result.next_due = state.due_at
    result.ends = state.status
    return result


def render(sim: Simulation, catalog: Catalog) -> str:
    zone = catalog.teams[sim.team_id].zone
    severity = catalog.severity(sim.severity)
    local = sim.declared_at.astimezone(zone)
    lines = [
        f"An incident on {sim.service_name} (team {sim.team_name}), {severity.label if severity else sim.severity}, "
        f"declared {local:%a %Y-%m-%d %H:%M} {sim.timezone} ({sim.declared_at:%H:%M} UTC).",
        f"Policy {sim.policy_id}: {sim.policy_reason}.",
        "",
    ]
    for event in sim.events:
        when = event.at.astimezone(zone)
        stamp = f"+{_minutes(sim.declared_at, event.at)}m".ljust(7) + f"{when:%a %H:%M}  "
        level = f"level {event.level + 1}" + ("" if event.policy == sim.policy_id else f" of {event.policy}")
        for gap in event.gaps:
            lines.append(f"{stamp}{level}: {gap}")
        if event.kind == "paged":
            verb = "notify" if event.notify_only else "page"
            who = ", ".join(f"{t.ref} ({t.via})" for t in event.targets)
            prefix = "" if event.at == sim.declared_at else "no acknowledgement: "
            lines.append(f"{stamp}{prefix}{level}: {verb} {who}")
        elif event.kind == "skipped":
            lines.append(f"{stamp}{level} skipped: it resolves to nobody")
        elif event.kind == "waiting":
            lines.append(f"{stamp}{level} resolves to nobody: waiting it out")
        elif event.kind == "repeat":
            lines.append(f"{stamp}end of the policy: {event.detail}, back to level 1")
        elif event.kind == "handoff":
            lines.append(f"{stamp}policy {event.policy} exhausted: {event.detail}")
        elif event.kind == "exhausted":
            lines.append(f"{stamp}the ladder is exhausted: the incident stays with {level}")
    if sim.next_due is not None:
        after = format_duration(int((sim.next_due - sim.events[-1].at).total_seconds()))
        lines.append(f"{'':7}{sim.next_due.astimezone(zone):%a %H:%M}  if nobody acknowledges within {after}, the next level is "
                     "paged (run with --no-ack to see the whole ladder)")
    return "\n".join(lines)
