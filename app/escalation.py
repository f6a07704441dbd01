"""The escalation engine, pure: a policy snapshot, a state and `now` in; a new state and events out.

An incident follows its policy as it was when declared (PagerDuty's rule), so the policy (and
any it hands off to) is copied into the incident at declaration. On-call, however, is resolved
at the moment a level is paged, from the live schedules (overrides added during an incident
count); a schedule deleted since falls back to its copy in the snapshot.

The same functions drive the live incidents and `python -m app simulate`, so the preview and
what happens at 03:00 cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, Mapping

from app.catalog import Catalog, Schedule
from app.oncall import who_is_on_call

Status = Literal["active", "waiting", "exhausted", "stopped"]


@dataclass(frozen=True)
class ResolvedTarget:
    """One thing to page: a person (e-mail or Slack ID) or a Slack user group to expand."""

    ref: str
    kind: str  # "person" | "user_group"
    via: str  # how we got there, for the timeline: "on call for payments-primary (weekly)", ...


@dataclass(frozen=True)
class LevelPlan:
    level: int
    targets: list[ResolvedTarget]
    gaps: list[str]  # why some targets resolved to nobody
    notify_only: bool
    escalate_after: int
    when_empty: str


@dataclass(frozen=True)
class State:
    """Where an incident stands on its ladder. `due_at` is when `advance` must be called next."""

    policy: str
    level: int
    loop: int
    status: Status
    due_at: datetime | None
    paged_level: int | None = None  # the last level that paged someone (where an exhausted ladder stays)


@dataclass(frozen=True)
class Event:
    kind: Literal["paged", "skipped", "waiting", "repeat", "handoff", "exhausted"]
    at: datetime
    policy: str
    level: int
    loop: int
    targets: list[ResolvedTarget] = field(default_factory=list)
    gaps: list[str] = field(default_factory=list)
    notify_only: bool = False
    detail: str = ""


def snapshot_policy(catalog: Catalog, policy_id: str) -> dict[str, Any]:
    """The policy, every policy it hands off to, and copies of the schedules they name."""
    policies: dict[str, Any] = {}
    current: str | None = policy_id
    while current is not None and current not in policies:
        policy = catalog.policies[current]
        policies[current] = policy.model_dump(mode="json")
        current = policy.then
    schedules = {
        target["schedule"]: catalog.schedules[target["schedule"]].model_dump(mode="json")
        for policy in policies.values()
        for level in policy["levels"]
        for target in level["targets"]
        if target.get("schedule") and target["schedule"] in catalog.schedules
    }
    return {"policy_id": policy_id, "policies": policies, "schedules": schedules}


def _policies(snapshot: Mapping[str, Any]) -> Mapping[str, Any]:
    if "policies" in snapshot:
        return snapshot["policies"]
    return {snapshot["policy_id"]: snapshot["policy"]}  # snapshots written before hand-offs existed


def policy_spec(snapshot: Mapping[str, Any], policy_id: str) -> Mapping[str, Any]:
    return _policies(snapshot)[policy_id]


def level_count(snapshot: Mapping[str, Any], policy_id: str | None = None) -> int:
    return len(policy_spec(snapshot, policy_id or snapshot["policy_id"])["levels"])


def plan_level(
    snapshot: Mapping[str, Any], level: int, at: datetime, live_schedules: Mapping[str, Schedule], policy_id: str | None = None,
) -> LevelPlan:
    spec = policy_spec(snapshot, policy_id or snapshot["policy_id"])["levels"][level]
    targets: list[ResolvedTarget] = []
    gaps: list[str] = []
    for target in spec["targets"]:
        if target.get("user"):
            targets.append(ResolvedTarget(target["user"], "person", "named in the policy"))
        elif target.get("user_group"):
            targets.append(ResolvedTarget(target["user_group"], "user_group", f"user group {target['user_group']}"))
        elif target.get("schedule"):
            name = target["schedule"]
            schedule = live_schedules.get(name)
            if schedule is None and name in snapshot.get("schedules", {}):
                schedule = Schedule.model_validate(snapshot["schedules"][name])
            if schedule is None:
                gaps.append(f"schedule {name} no longer exists")
                continue
            on_call = who_is_on_call(schedule, at)
            if on_call.person is None:
                gaps.append(f"nobody is on call for {name}: {on_call.reason}")
            else:
                targets.append(ResolvedTarget(on_call.person, "person", f"on call for {name} ({on_call.reason})"))
    unique: dict[str, ResolvedTarget] = {}
    for target in targets:
        unique.setdefault(target.ref.lower(), target)
    return LevelPlan(level, list(unique.values()), gaps, bool(spec.get("notify_only")), int(spec["escalate_after"]),
                     spec.get("when_empty", "skip"))


def _walk(snapshot: Mapping[str, Any], policy_id: str, level: int, loop: int, now: datetime,
          schedules: Mapping[str, Schedule], paged_level: int | None, wrap: bool) -> tuple[State, list[Event]]:
    """From (policy, level, loop) onwards: page the first level that reaches someone.

    Empty levels are skipped (or waited on, if the level says `when_empty: wait`); past the last
    level the policy repeats from the top up to `repeat` times, then hands off (`then`) or is
    exhausted. A full pass that reaches nobody ends the walk: repeating it now cannot help.
    """
    events: list[Event] = []
    reached_in_pass = level > 0  # an advance from level k follows a page earlier in this pass
    while True:
        spec = policy_spec(snapshot, policy_id)
        if level >= len(spec["levels"]):
            if wrap and loop < int(spec.get("repeat", 0)) and reached_in_pass:
                loop, level, reached_in_pass = loop + 1, 0, False
                events.append(Event("repeat", now, policy_id, 0, loop, detail=f"repeat {loop} of {spec.get('repeat', 0)}"))
                continue
            if wrap and spec.get("then"):
                events.append(Event("handoff", now, policy_id, level - 1, loop, detail=f"handing off to policy {spec['then']}"))
                policy_id, level, loop, reached_in_pass = spec["then"], 0, 0, False
                continue
            last = paged_level if paged_level is not None else len(spec["levels"]) - 1
            events.append(Event("exhausted", now, policy_id, last, loop))
            return State(policy_id, last, loop, "exhausted", None, paged_level), events
        plan = plan_level(snapshot, level, now, schedules, policy_id)
        due = now + timedelta(seconds=plan.escalate_after)
        if plan.targets:
            events.append(Event("paged", now, policy_id, level, loop, plan.targets, plan.gaps, plan.notify_only))
            return State(policy_id, level, loop, "active", due, level), events
        if plan.when_empty == "wait":
            events.append(Event("waiting", now, policy_id, level, loop, gaps=plan.gaps))
            return State(policy_id, level, loop, "waiting", due, paged_level), events
        events.append(Event("skipped", now, policy_id, level, loop, gaps=plan.gaps))
        level += 1


def start(snapshot: Mapping[str, Any], now: datetime, schedules: Mapping[str, Schedule]) -> tuple[State, list[Event]]:
    """Declaration: page level 1 (or the first level that reaches someone)."""
    return _walk(snapshot, snapshot["policy_id"], 0, 0, now, schedules, None, wrap=True)


def advance(snapshot: Mapping[str, Any], state: State, now: datetime, schedules: Mapping[str, Schedule]) -> tuple[State, list[Event]]:
    """Nobody acknowledged before `state.due_at`: page the next level (wrapping, handing off)."""
    if state.status not in ("active", "waiting") or state.due_at is None or state.due_at > now:
        return state, []
    return _walk(snapshot, state.policy, state.level + 1, state.loop, now, schedules, state.paged_level, wrap=True)


def escalate_now(snapshot: Mapping[str, Any], state: State, now: datetime, schedules: Mapping[str, Schedule]) -> tuple[State, list[Event]]:
    """A responder asked for the next level now: no wrapping back to level 1, no hand-off."""
    return _walk(snapshot, state.policy, state.level + 1, state.loop, now, schedules, state.paged_level, wrap=False)
