"""The escalation engine, pure: a typed policy snapshot, a state and `now` in; a new state and events out.

An incident follows its policy as it was when declared (PagerDuty's rule), so the policy (and
any it hands off to) is copied into the incident at declaration: a `Snapshot`, parsed once from
its stored JSON and asked `level(i)`, `policy(id)` or `next_step(state)` (Grafana OnCall's
escalation snapshot works the same way). On-call, however, is resolved at the moment a level is
paged, from the live schedules (overrides added during an incident count); a schedule deleted
since falls back to its copy in the snapshot.

The same functions drive the live incidents and `python -m app simulate`, so the preview and
what happens at 03:00 cannot disagree.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any, Iterable, Literal, Mapping

from app.catalog import Catalog, Schedule
from app.oncall import who_is_on_call

Status = Literal["active", "waiting", "exhausted", "stopped"]
PERSON_POLICY = "person"  # the one-level policy of a person paged by name
MIN_DRILL_PACE = 60  # seconds: a drill's pace never times a level out sooner (app.catalog.schema.MIN_DRILL_PACE)


@dataclass(frozen=True)
class TargetSpec:
    """One target of a level as the policy names it: `kind` is "user", "schedule" or "user_group"."""

    kind: str
    ref: str


@dataclass(frozen=True)
class LevelSpec:
    targets: tuple[TargetSpec, ...]
    escalate_after: int
    notify_only: bool = False
    when_empty: str = "skip"


@dataclass(frozen=True)
class PolicySpec:
    id: str
    levels: tuple[LevelSpec, ...]
    repeat: int = 0
    then: str | None = None
    ack_timeout: int | None = None
    lead_on_ack: bool = False


def _policy_from(policy_id: str, data: Mapping[str, Any]) -> PolicySpec:
    levels = tuple(
        LevelSpec(
            targets=tuple(TargetSpec(kind, str(target[kind])) for target in level["targets"]
                          for kind in ("user", "schedule", "user_group") if target.get(kind)),
            escalate_after=int(level["escalate_after"]), notify_only=bool(level.get("notify_only")),
            when_empty=str(level.get("when_empty") or "skip"),
        )
        for level in data["levels"]
    )
    ack_timeout = data.get("ack_timeout")
    return PolicySpec(policy_id, levels, int(data.get("repeat") or 0), data.get("then"), int(ack_timeout) if ack_timeout else None,
                      bool(data.get("lead_on_ack")))


@functools.lru_cache(maxsize=512)
def _parse_snapshot(text: str) -> "Snapshot":
    data = json.loads(text)
    raw = data["policies"] if "policies" in data else {data["policy_id"]: data["policy"]}  # before hand-offs existed
    return Snapshot(data["policy_id"], MappingProxyType({pid: _policy_from(pid, spec) for pid, spec in raw.items()}),
                    MappingProxyType(data.get("schedules") or {}), frozenset(data.get("excluded") or ()))


def _policy_json(policy: PolicySpec) -> dict[str, Any]:
    return {
        "repeat": policy.repeat, "then": policy.then, "ack_timeout": policy.ack_timeout, "lead_on_ack": policy.lead_on_ack,
        "levels": [{"targets": [{t.kind: t.ref} for t in level.targets], "escalate_after": level.escalate_after,
                    "notify_only": level.notify_only, "when_empty": level.when_empty} for level in policy.levels],
    }


@dataclass(frozen=True)
class Snapshot:
    """A policy as it was when an incident (or one of its tracks) started: parse once, then ask."""

    root: str  # the policy the ladder starts on
    policies: Mapping[str, PolicySpec]  # the root and every policy it hands off to
    schedule_copies: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # schedules as they were, by name
    excluded: frozenset[str] = frozenset()  # a drill's people never to reach (the team's `drills.never`), lowercased

    @classmethod
    def from_catalog(cls, catalog: Catalog, policy_id: str) -> "Snapshot":
        """The policy, every policy it hands off to, and copies of the schedules they name."""
        policies: dict[str, PolicySpec] = {}
        current: str | None = policy_id
        while current is not None and current not in policies:
            policies[current] = _policy_from(current, catalog.policies[current].model_dump(mode="json"))
            current = catalog.policies[current].then
        schedules = {
            target.ref: catalog.schedules[target.ref].model_dump(mode="json")
            for policy in policies.values() for level in policy.levels for target in level.targets
            if target.kind == "schedule" and target.ref in catalog.schedules
        }
        return cls(policy_id, policies, schedules)

    @classmethod
    def for_person(cls, person: str, escalate_after: int) -> "Snapshot":
        """A person paged by name: one level, nobody after them."""
        level = LevelSpec((TargetSpec("user", person),), escalate_after)
        return cls(PERSON_POLICY, {PERSON_POLICY: PolicySpec(PERSON_POLICY, (level,))})

    @classmethod
    def from_json(cls, text: str) -> "Snapshot":
        """Parsed once per distinct text: the incidents of one policy and catalog version share their snapshot."""
        return _parse_snapshot(text)

    def drilled(self, pace: int | None, never: Iterable[str]) -> "Snapshot":
        """The same ladder for a drill: every level's timeout replaced by `pace` (never under a minute; None keeps the
        policy's own), and the people in `never` left out wherever a level resolves to people."""
        policies = self.policies
        if pace is not None:
            pace = max(pace, MIN_DRILL_PACE)
            policies = MappingProxyType({pid: replace(p, levels=tuple(replace(level, escalate_after=pace) for level in p.levels))
                                         for pid, p in self.policies.items()})
        return Snapshot(self.root, policies, self.schedule_copies, frozenset(ref.lower() for ref in never))

    def to_json(self) -> str:
        data: dict[str, Any] = {"policy_id": self.root, "policies": {pid: _policy_json(p) for pid, p in self.policies.items()},
                                "schedules": dict(self.schedule_copies)}
        if self.excluded:
            data["excluded"] = sorted(self.excluded)
        return json.dumps(data)

    def policy(self, policy_id: str | None = None) -> PolicySpec:
        return self.policies[policy_id or self.root]

    def level(self, index: int, policy_id: str | None = None) -> LevelSpec:
        return self.policy(policy_id).levels[index]

    def level_count(self, policy_id: str | None = None) -> int:
        return len(self.policy(policy_id).levels)

    @property
    def ack_timeout(self) -> int | None:
        """The root policy's: how long after an acknowledgement an open incident re-arms its ladder."""
        return self.policy().ack_timeout

    @property
    def lead_on_ack(self) -> bool:
        """The root policy's: whether the first acknowledger becomes the lead (as the policy said at declaration)."""
        return self.policy().lead_on_ack

    def schedule(self, name: str, live: Mapping[str, Schedule]) -> Schedule | None:
        """The live schedule (overrides added during the incident count), else the copy taken at declaration."""
        if name in live:
            return live[name]
        copy = self.schedule_copies.get(name)
        return Schedule.model_validate(copy) if copy is not None else None

    def next_step(self, state: "State", schedules: Mapping[str, Schedule]) -> "NextStep | None":
        """What happens when `state.due_at` passes with nobody acknowledging (for the summary and the escalate form)."""
        if state.due_at is None:
            return None
        policy = self.policy(state.policy)
        if state.level + 1 < len(policy.levels):
            plan = plan_level(self, state.level + 1, state.due_at, schedules, state.policy)
            return NextStep("level", state.due_at, state.policy, state.level + 1, plan.targets)
        if state.loop < policy.repeat:
            return NextStep("repeat", state.due_at, state.policy, 0)
        if policy.then:
            return NextStep("handoff", state.due_at, policy.then, 0)
        return NextStep("exhausted", state.due_at, state.policy, state.level)


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
    # The last level that paged someone (where an exhausted ladder stays). A notify-only level tells people
    # without handing them the incident, so it never counts here.
    paged_level: int | None = None
    paged_in: tuple[str, int] | None = None  # the (policy, loop) of `paged_level`, if not this state's own


def make_state(policy: str, level: int, loop: int, status: Status, due_at: datetime | None, paged_level: int | None,
           paged_in: tuple[str, int] | None) -> State:
    """A State, with `paged_in` only where it differs from the state's own (policy, loop)."""
    return State(policy, level, loop, status, due_at, paged_level, None if paged_in == (policy, loop) else paged_in)


@dataclass(frozen=True)
class NextStep:
    """The ladder's next move if nobody acknowledges: page `level` of `policy`, start again, hand off, or be exhausted."""

    kind: Literal["level", "repeat", "handoff", "exhausted"]
    at: datetime
    policy: str
    level: int
    targets: list[ResolvedTarget] = field(default_factory=list)


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


def plan_level(snapshot: Snapshot, level: int, at: datetime, live_schedules: Mapping[str, Schedule],
               policy_id: str | None = None) -> LevelPlan:
    """Who one level reaches at `at`, and why some of its targets reach nobody."""
    spec = snapshot.level(level, policy_id)
    targets: list[ResolvedTarget] = []
    gaps: list[str] = []
    for target in spec.targets:
        if target.kind == "user":
            targets.append(ResolvedTarget(target.ref, "person", "named in the policy"))
        elif target.kind == "user_group":
            targets.append(ResolvedTarget(target.ref, "user_group", f"user group {target.ref}"))
        else:
            schedule = snapshot.schedule(target.ref, live_schedules)
            if schedule is None:
                gaps.append(f"schedule {target.ref} no longer exists")
                continue
            on_call = who_is_on_call(schedule, at)
            if on_call.person is None:
                gaps.append(f"nobody is on call for {target.ref}: {on_call.reason}")
            else:
                targets.append(ResolvedTarget(on_call.person, "person", f"on call for {target.ref} ({on_call.reason})"))
    unique: dict[str, ResolvedTarget] = {}
    for resolved in targets:
        if resolved.kind == "person" and resolved.ref.lower() in snapshot.excluded:
            gaps.append(f"{resolved.ref} is not drilled (drills.never)")
            continue
        unique.setdefault(resolved.ref.lower(), resolved)
    return LevelPlan(level, list(unique.values()), gaps, spec.notify_only, spec.escalate_after, spec.when_empty)


def _walk(snapshot: Snapshot, policy_id: str, level: int, loop: int, now: datetime, schedules: Mapping[str, Schedule],
          paged_level: int | None, paged_in: tuple[str, int] | None, wrap: bool) -> tuple[State, list[Event]]:
    """From (policy, level, loop) onwards: page the first level that reaches someone.

    Empty levels are skipped (or waited on, if the level says `when_empty: wait`); past the last
    level the policy repeats from the top up to `repeat` times, then hands off (`then`) or is
    exhausted. A full pass that reaches nobody ends the walk: repeating it now cannot help.
    """
    events: list[Event] = []
    reached_in_pass = level > 0  # an advance from level k follows a page earlier in this pass
    paged_in = paged_in or (policy_id, loop)  # where `paged_level` was paged: hand-offs and repeats do not move it
    while True:
        policy = snapshot.policy(policy_id)
        if level >= len(policy.levels):
            if wrap and loop < policy.repeat and reached_in_pass:
                loop, level, reached_in_pass = loop + 1, 0, False
                events.append(Event("repeat", now, policy_id, 0, loop, detail=f"repeat {loop} of {policy.repeat}"))
                continue
            if wrap and policy.then:
                events.append(Event("handoff", now, policy_id, level - 1, loop, detail=f"handing off to policy {policy.then}"))
                policy_id, level, loop, reached_in_pass = policy.then, 0, 0, False
                continue
            if paged_level is not None:  # the ladder stays with the last level that paged someone, in its own policy
                policy_id, loop = paged_in
                last = paged_level
            else:
                last = len(policy.levels) - 1
            events.append(Event("exhausted", now, policy_id, last, loop))
            return make_state(policy_id, last, loop, "exhausted", None, paged_level, paged_in), events
        plan = plan_level(snapshot, level, now, schedules, policy_id)
        due = now + timedelta(seconds=plan.escalate_after)
        if plan.targets:
            events.append(Event("paged", now, policy_id, level, loop, plan.targets, plan.gaps, plan.notify_only))
            if plan.notify_only:  # it informs; the incident stays with the last level that paged
                return make_state(policy_id, level, loop, "active", due, paged_level, paged_in), events
            return make_state(policy_id, level, loop, "active", due, level, (policy_id, loop)), events
        if plan.when_empty == "wait":
            events.append(Event("waiting", now, policy_id, level, loop, gaps=plan.gaps))
            return make_state(policy_id, level, loop, "waiting", due, paged_level, paged_in), events
        events.append(Event("skipped", now, policy_id, level, loop, gaps=plan.gaps))
        level += 1


def start(snapshot: Snapshot, now: datetime, schedules: Mapping[str, Schedule]) -> tuple[State, list[Event]]:
    """Declaration: page level 1 (or the first level that reaches someone)."""
    return _walk(snapshot, snapshot.root, 0, 0, now, schedules, None, None, wrap=True)


def advance(snapshot: Snapshot, state: State, now: datetime, schedules: Mapping[str, Schedule]) -> tuple[State, list[Event]]:
    """Nobody acknowledged before `state.due_at`: page the next level (wrapping, handing off)."""
    if state.status not in ("active", "waiting") or state.due_at is None or state.due_at > now:
        return state, []
    return _walk(snapshot, state.policy, state.level + 1, state.loop, now, schedules, state.paged_level, state.paged_in, wrap=True)


def escalate_now(snapshot: Snapshot, state: State, now: datetime, schedules: Mapping[str, Schedule]) -> tuple[State, list[Event]]:
    """A responder asked for the next level now: no wrapping back to level 1, no hand-off."""
    return _walk(snapshot, state.policy, state.level + 1, state.loop, now, schedules, state.paged_level, state.paged_in, wrap=False)
