"""Warnings about a valid catalog that would still fail someone at 2 a.m.

Today: a policy that reaches nobody at some hours of the week (every level resolves to an empty
schedule then), reported with those hours so the gap can be closed before it is found the hard way.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from app.catalog import Catalog, CatalogIssue
from app.escalation import plan_level, snapshot_policy

HOURS_IN_WEEK = 7 * 24


def week_start(now: datetime) -> datetime:
    """Monday 00:00 UTC of the week after `now`: the week the warnings speak about."""
    today = now.astimezone(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    return today + timedelta(days=7 - today.weekday())


def unreachable_hours(catalog: Catalog, policy_id: str, week: datetime) -> list[datetime]:
    snapshot = snapshot_policy(catalog, policy_id)
    levels = len(catalog.policies[policy_id].levels)
    hours = []
    for hour in range(HOURS_IN_WEEK):
        at = week + timedelta(hours=hour)
        if not any(plan_level(snapshot, level, at, catalog.schedules).targets for level in range(levels)):
            hours.append(at)
    return hours


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
    warnings = []
    for policy_id in catalog.policies:
        hours = unreachable_hours(catalog, policy_id, week)
        if hours:
            warnings.append(catalog.issue(
                ("policies", policy_id),
                f"reaches nobody for {len(hours)} hour(s) of the week of {week:%Y-%m-%d}: {describe_hours(hours)}; "
                "every level resolves to an empty schedule then (add a layer, an override or a named person)",
            ))
    return warnings
