"""Warnings about a valid catalog that would still fail someone at 2 a.m.

Today: a policy that reaches nobody at some hours of the week (every level, and every policy it
hands off to, resolves to an empty schedule then), reported with those hours so the gap can be
closed before it is found the hard way. Each schedule's week is resolved once, then shared.
"""

from __future__ import annotations

import bisect
from datetime import datetime, timedelta, timezone

from app.catalog import Catalog, CatalogIssue
from app.oncall import coverage

HOURS_IN_WEEK = 7 * 24


def week_start(now: datetime) -> datetime:
    """Monday 00:00 UTC of the week after `now`: the week the warnings speak about."""
    today = now.astimezone(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    return today + timedelta(days=7 - today.weekday())


def _schedule_hours(catalog: Catalog, week: datetime) -> dict[str, list[bool]]:
    """For each schedule, whether anyone is on call at the start of each hour of the week.

    Read off the schedule's coverage: one evaluation per instant where a gap can open or close (layer starts,
    restriction windows, overrides), never one per hand-off, so a rotation handing off every minute costs what
    a weekly one does.
    """
    hours = [week + timedelta(hours=h) for h in range(HOURS_IN_WEEK)]
    covered = {}
    for name, schedule in catalog.schedules.items():
        changes = coverage(schedule, week, hours[-1])
        starts = [point for point, _ in changes]
        covered[name] = [changes[bisect.bisect_right(starts, at) - 1][1] for at in hours]
    return covered


def _policy_hours(catalog: Catalog, policy_id: str, covered: dict[str, list[bool]]) -> list[bool]:
    """Hours at which some level of the policy, or of a policy it hands off to, reaches someone."""
    reach = [False] * HOURS_IN_WEEK
    seen: set[str] = set()
    current: str | None = policy_id
    while current is not None and current not in seen:
        seen.add(current)
        policy = catalog.policies[current]
        for level in policy.levels:
            for target in level.targets:
                if target.user or target.user_group:
                    return [True] * HOURS_IN_WEEK  # a named person or group is always there to page
                reach = [a or b for a, b in zip(reach, covered[target.schedule or ""])]
        current = policy.then
    return reach


def _ranges(hours: list[datetime]) -> list[tuple[datetime, datetime]]:
    ranges: list[tuple[datetime, datetime]] = []
    for hour in hours:
        if ranges and ranges[-1][1] == hour:
            ranges[-1] = (ranges[-1][0], hour + timedelta(hours=1))
        else:
            ranges.append((hour, hour + timedelta(hours=1)))
    return ranges


def describe_hours(hours: list[datetime]) -> str:
    return ", ".join(f"{a:%a %H:%M}–{b:%a %H:%M}" for a, b in _ranges(hours)) + " UTC"


def lint(catalog: Catalog, now: datetime | None = None) -> list[CatalogIssue]:
    week = week_start(now or datetime.now(timezone.utc))
    covered = _schedule_hours(catalog, week)
    warnings = []
    for policy_id in catalog.policies:
        hours = [week + timedelta(hours=h) for h, ok in enumerate(_policy_hours(catalog, policy_id, covered)) if not ok]
        if hours:
            warnings.append(catalog.issue(
                ("policies", policy_id),
                f"reaches nobody for {len(hours)} hour(s) of the week of {week:%Y-%m-%d}: {describe_hours(hours)}; "
                "every level resolves to an empty schedule then (add a layer, an override or a named person)",
            ))
    return warnings
