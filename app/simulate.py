"""`simulate`: the escalation path an incident declared at a given instant would follow.

Built on the live engine (`app.escalation.start` / `advance`) and the same policy choice as
`declare`, never on a second implementation: what it prints is what Ladder would do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from app import escalation, rules
from app.catalog import Catalog, ScopedRule, format_duration
from app.escalation import Event

MAX_STEPS = 500  # a walk this long is cut, and the output says where (rules that repeat every few minutes never end)
# No timer in a catalog waits longer than a month (app.catalog.fields.MAX_DURATION): a longer walk shows nothing new in
# kind, only more of it, and an unbounded one overflows the calendar. A longer horizon is cut here, and said so.
MAX_HORIZON = timedelta(days=30)


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
    rule_steps: list["RuleStep"] = field(default_factory=list)
    ends: str = ""  # how the walk ended: "acknowledged?" (default) or "exhausted"
    next_due: datetime | None = None
    until: datetime | None = None  # with no_ack: the end of the window followed
    asked: timedelta | None = None  # the horizon asked for, when it was longer than MAX_HORIZON and was cut
    cut_at: datetime | None = None  # where the walk stopped after MAX_STEPS steps, before `until`

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
            "rules": [{"minute": _minutes(self.declared_at, r.at), "at": r.at.isoformat(), "rule": r.rule, "do": r.action,
                       "when": r.text} for r in self.rule_steps],
            "ends": self.ends, "next_escalation_at": self.next_due.isoformat() if self.next_due else None,
            "until": self.until.isoformat() if self.until else None,
            "horizon_cut": {"asked": format_duration(int(self.asked.total_seconds())),
                            "followed": format_duration(int(MAX_HORIZON.total_seconds()))} if self.asked else None,
            "steps_cut_at": self.cut_at.isoformat() if self.cut_at else None,
        }


def _minutes(start: datetime, at: datetime) -> int:
    return int((at - start).total_seconds() // 60)


@dataclass(frozen=True)
class RuleStep:
    at: datetime
    rule: str
    action: str
    text: str


def _rules_for(catalog: Catalog, service_id: str, team_id: str, severity: str, at: datetime) -> tuple[list[ScopedRule], rules.Facts]:
    facts = rules.Facts(status="triggered", severity=severity, service_id=service_id, team_id=team_id, private=False,
                        declared_at=at, severity_since=at, triggered_since=at, acknowledged_at=None, last_update_at=None, lead=None)
    return [r for r in catalog.rules if rules.in_scope(r, facts, catalog)], facts


def simulate(catalog: Catalog, service_id: str, severity_id: str | None, at: datetime, no_ack: bool,
             horizon: timedelta = timedelta(hours=4)) -> Simulation:
    """Declare at `at`; with `no_ack`, nobody acknowledges, posts an update or takes the lead: follow the
    ladder to its end and the rules up to `horizon` (at most MAX_HORIZON; `asked` records a longer one). Without it:
    what happens at declaration, and what next. A walk longer than MAX_STEPS stops there, and `cut_at` says where."""
    severity = catalog.severity(severity_id) if severity_id else catalog.default_severity()
    if severity is None:
        raise KeyError(f"unknown severity {severity_id!r}; known: {', '.join(s.id for s in catalog.severities)}")
    if service_id not in catalog.services:
        raise KeyError(f"unknown service {service_id!r}; known: {', '.join(sorted(catalog.services))}")
    service = catalog.services[service_id]
    team_id, team = catalog.team_for_service(service_id)
    policy_id, why = catalog.choose_policy(team_id, severity.id, at)
    snapshot = escalation.Snapshot.from_catalog(catalog, policy_id)
    result = Simulation(service_id, service.name, team_id, team.name, team.timezone, severity.id, at, policy_id, why)
    state, events = escalation.start(snapshot, at, catalog.schedules)
    result.events.extend(events)
    scoped_rules, facts = _rules_for(catalog, service_id, team_id, severity.id, at)
    memory = {r.rule.id: rules.Memory() for r in scoped_rules}
    if horizon > MAX_HORIZON:
        result.asked, horizon = horizon, MAX_HORIZON
    end = at + horizon if no_ack else at
    result.until = end if no_ack else None
    finished = False
    for _ in range(MAX_STEPS):
        due_rules = [(d[0], d[1], r) for r in scoped_rules if (d := rules.next_due(r, facts, memory[r.rule.id], catalog))]
        next_rule = min(due_rules, key=lambda x: x[0], default=None)
        ladder_due = state.due_at if no_ack else None
        # Same order as the live tick: the ladder's timers first, then the rules due at the same instant.
        if next_rule is not None and next_rule[0] <= end and (ladder_due is None or next_rule[0] < ladder_due):
            when, occurrence, scoped = next_rule
            memory[scoped.rule.id] = rules.Memory(occurrence, when)
            if not rules.holds_at(scoped, facts, catalog, when):
                continue
            action = scoped.rule.do.replace("_", " ")
            if scoped.rule.do == "escalate":
                target = scoped.rule.escalate_to
                if target == "next":
                    more: list[Event] = []
                    if state.level + 1 < snapshot.level_count(state.policy):
                        state, more = escalation.escalate_now(snapshot, state, when, catalog.schedules)
                        result.events.extend(more)
                    action = "escalate to the next level" if any(e.kind == "paged" for e in more) else \
                        "escalate: nothing further up the ladder to page"
                else:
                    action = f"escalate to team {target.team} (their ladder starts)" if target.team else f"escalate to {target.person}"  # type: ignore[union-attr]
            elif scoped.rule.do == "notify":
                action = f"notify {scoped.rule.channel or 'the stakeholders'}"
            result.rule_steps.append(RuleStep(when, scoped.rule.id, action, rules.describe(scoped)))
            continue
        if ladder_due is None:
            finished = True
            break
        state, events = escalation.advance(snapshot, state, ladder_due, catalog.schedules)
        result.events.extend(events)
    if not finished:
        result.cut_at = max([e.at for e in result.events] + [r.at for r in result.rule_steps], default=at)
    result.next_due = state.due_at
    result.ends = state.status
    return result


def _stamp_width(sim: Simulation) -> int:
    """The width of the "+12m" column: at least the documented 7, and always a space wider than its longest entry.

    A fixed width let a walk of ten days ("+14670m") run into the clock beside it.
    """
    instants = [e.at for e in sim.events] + [r.at for r in sim.rule_steps]
    longest = max((len(f"+{_minutes(sim.declared_at, at)}m") for at in instants), default=0)
    return max(7, longest + 1)


def render(sim: Simulation, catalog: Catalog) -> str:
    zone = catalog.teams[sim.team_id].zone
    severity = catalog.severity(sim.severity)
    local = sim.declared_at.astimezone(zone)
    width = _stamp_width(sim)
    lines = [
        f"An incident on {sim.service_name} (team {sim.team_name}), {severity.label if severity else sim.severity}, "
        f"declared {local:%a %Y-%m-%d %H:%M} {sim.timezone} ({sim.declared_at.astimezone(timezone.utc):%H:%M} UTC).",
        f"Policy {sim.policy_id}: {sim.policy_reason}.",
        "",
    ]
    lines_at: list[tuple[datetime, int, str]] = []
    for order, step in enumerate(sim.rule_steps, start=len(sim.events)):  # after the ladder's own steps of the same minute
        stamp = f"+{_minutes(sim.declared_at, step.at)}m".ljust(width) + f"{step.at.astimezone(zone):%a %H:%M}  "
        lines_at.append((step.at, order, f"{stamp}rule {step.rule} ({step.text}): {step.action}"))
    for order, event in enumerate(sim.events):
        lines_at.append((event.at, order, _event_line(sim, event, zone, width)))
    lines += [line for _, _, line in sorted(lines_at, key=lambda x: (x[0], x[1])) if line]
    if sim.next_due is not None:
        after = format_duration(int((sim.next_due - sim.events[-1].at).total_seconds()))
        lines.append(f"{'':{width}}{sim.next_due.astimezone(zone):%a %H:%M}  if nobody acknowledges within {after}, the next level is "
                     "paged (run with --no-ack to see the whole ladder and the rules)")
    lines += _cuts(sim, zone)
    return "\n".join(lines)


def _cuts(sim: Simulation, zone: Any) -> list[str]:
    """Where the walk stopped short of what was asked, and why: a cut that is not said looks like a quiet night."""
    lines = []
    if sim.asked is not None and sim.until is not None:
        lines.append(f"--for {format_duration(int(sim.asked.total_seconds()))} was cut to "
                     f"{format_duration(int(MAX_HORIZON.total_seconds()))} ({MAX_HORIZON.days} days), the longest simulate follows: "
                     f"nothing after {sim.until.astimezone(zone):%a %Y-%m-%d %H:%M} {sim.timezone} is shown.")
    if sim.cut_at is not None:
        lines.append(f"The walk stops here, after {MAX_STEPS} steps, at {sim.cut_at.astimezone(zone):%a %Y-%m-%d %H:%M} "
                     f"{sim.timezone} (+{_minutes(sim.declared_at, sim.cut_at)}m); later steps are not shown. "
                     "A shorter --for shows a walk whole.")
    return lines


def _event_line(sim: Simulation, event: Event, zone: Any, width: int = 7) -> str:
    lines: list[str] = []
    when = event.at.astimezone(zone)
    stamp = f"+{_minutes(sim.declared_at, event.at)}m".ljust(width) + f"{when:%a %H:%M}  "
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
    return "\n".join(lines)
