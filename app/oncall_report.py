"""Who is on call, for people: the answer `python -m app oncall` and `/incident oncall` give.

One report, rendered as plain text for the terminal, as mrkdwn for Slack, or as JSON for scripts.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from app import escalation
from app.catalog import Catalog
from app.oncall import shifts, who_is_on_call
from app.text import escape_mrkdwn, mention

WEEK = timedelta(days=7)


def _known(kind: str, names: Any) -> str:
    return f"known {kind}: {', '.join(sorted(names)) or 'none'}"


def build(catalog: Catalog, at: datetime, team: str | None = None, schedule: str | None = None, week: bool = False) -> dict[str, Any]:
    report: dict[str, Any] = {"at": at.isoformat(), "schedules": [], "team": None}
    if team is not None:
        if team not in catalog.teams:
            raise KeyError(f"unknown team {team!r}; {_known('teams', catalog.teams)}")
        policy_id, why = catalog.choose_policy(team, None, at)
        snapshot = escalation.Snapshot.from_catalog(catalog, policy_id)
        levels = []
        for index in range(snapshot.level_count()):
            plan = escalation.plan_level(snapshot, index, at, catalog.schedules)
            levels.append({"level": index + 1, "notify_only": plan.notify_only, "escalate_after_s": plan.escalate_after,
                           "targets": [{"ref": t.ref, "via": t.via} for t in plan.targets], "gaps": plan.gaps})
        report["team"] = {"id": team, "name": catalog.teams[team].name, "policy": policy_id, "policy_reason": why, "levels": levels}
        names = sorted({t.schedule for pid in catalog.teams[team].policy_ids() for lvl in catalog.policies[pid].levels
                        for t in lvl.targets if t.schedule})
    elif schedule is not None:
        if schedule not in catalog.schedules:
            raise KeyError(f"unknown schedule {schedule!r}; {_known('schedules', catalog.schedules)}")
        names = [schedule]
    else:
        names = sorted(catalog.schedules)
    for name in names:
        definition = catalog.schedules[name]
        on_call = who_is_on_call(definition, at)
        entry: dict[str, Any] = {"id": name, "timezone": definition.timezone, "on_call": on_call.person, "reason": on_call.reason}
        if week:
            entry["shifts"] = [{"start": s.start.isoformat(), "on_call": s.on_call.person, "reason": s.on_call.reason}
                               for s in shifts(definition, at, at + WEEK)]
        report["schedules"].append(entry)
    return report


def render_text(report: dict[str, Any], catalog: Catalog) -> str:
    at = datetime.fromisoformat(report["at"]).astimezone(timezone.utc)  # the label says UTC, whatever offset `at` came with
    lines = [f"On call at {at:%a %Y-%m-%d %H:%M} UTC:"]
    if report["team"]:
        team = report["team"]
        lines.append(f"Team {team['name']}: policy {team['policy']} ({team['policy_reason']})")
        for level in team["levels"]:
            who = ", ".join(f"{t['ref']} ({t['via']})" for t in level["targets"]) or "nobody"
            note = " [notify only]" if level["notify_only"] else ""
            lines.append(f"  level {level['level']}{note}: {who}")
            lines.extend(f"    gap: {gap}" for gap in level["gaps"])
    for entry in report["schedules"]:
        zone = catalog.schedules[entry["id"]].zone
        who = entry["on_call"] or f"nobody ({entry['reason']})"
        lines.append(f"Schedule {entry['id']} ({entry['timezone']}): {who}")
        for shift in entry.get("shifts", [])[1:]:
            start = datetime.fromisoformat(shift["start"]).astimezone(zone)
            lines.append(f"  from {start:%a %d %b %H:%M} {entry['timezone']}: {shift['on_call'] or 'nobody (' + shift['reason'] + ')'}")
    return "\n".join(lines)


def render_mrkdwn(report: dict[str, Any], catalog: Catalog) -> str:
    """For Slack: the same facts, user-visible names escaped (people are e-mails or IDs from the catalog)."""
    def person(ref: str | None) -> str:
        if ref is None:
            return "_nobody_"
        return mention(ref)

    lines = []
    if report["team"]:
        team = report["team"]
        lines.append(f"*{escape_mrkdwn(team['name'])}* — policy `{team['policy']}` ({escape_mrkdwn(team['policy_reason'])})")
        for level in team["levels"]:
            who = ", ".join(person(t["ref"]) for t in level["targets"]) or "_nobody right now_"
            lines.append(f"• Level {level['level']}{' (notify only)' if level['notify_only'] else ''}: {who}")
    for entry in report["schedules"]:
        suffix = "" if entry["on_call"] else f" ({escape_mrkdwn(entry['reason'])})"
        lines.append(f"• Schedule `{entry['id']}`: {person(entry['on_call'])}{suffix}")
    return "\n".join(lines) or "No schedules are defined in the catalog."
