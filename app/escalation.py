"""Escalation policy snapshots and who a level pages (pure: no I/O, `now` is an argument).

An incident follows its policy as it was when declared (PagerDuty's rule), so the policy is
copied into the incident at declaration. On-call, however, is resolved at the moment a level
is paged, from the live schedules (overrides added during an incident count); a schedule that
has since been deleted falls back to its copy in the snapshot.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Mapping

from app.catalog import Catalog, Policy, Schedule
from app.oncall import who_is_on_call


@dataclass(frozen=True)
class ResolvedTarget:
    """One thing to page: a person (e-mail or Slack ID) or a Slack user group to expand."""

    ref: str
    kind: str  # "person" | "user_group"
    via: str  # how we got there, for the timeline: "user", "schedule payments-primary", ...


@dataclass(frozen=True)
class LevelPlan:
    level: int
    targets: list[ResolvedTarget]
    gaps: list[str]  # why some targets resolved to nobody
    notify_only: bool
    escalate_after: int


def snapshot_policy(catalog: Catalog, policy_id: str, policy: Policy) -> dict[str, Any]:
    schedules = {
        target.schedule: catalog.schedules[target.schedule].model_dump(mode="json")
        for level in policy.levels
        for target in level.targets
        if target.schedule and target.schedule in catalog.schedules
    }
    return {"policy_id": policy_id, "policy": policy.model_dump(mode="json"), "schedules": schedules}


def level_count(snapshot: Mapping[str, Any]) -> int:
    return len(snapshot["policy"]["levels"])


def plan_level(snapshot: Mapping[str, Any], level: int, at: datetime, live_schedules: Mapping[str, Schedule]) -> LevelPlan:
    spec = snapshot["policy"]["levels"][level]
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
                targets.append(ResolvedTarget(on_call.person, "person", f"on call for {name}"))
    unique: dict[str, ResolvedTarget] = {}
    for target in targets:
        unique.setdefault(target.ref.lower(), target)
    return LevelPlan(level, list(unique.values()), gaps, bool(spec.get("notify_only")), int(spec["escalate_after"]))
