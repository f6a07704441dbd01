"""The report as JSON with stable keys, for other tools (`python -m app report --format json`).

Keys (durations in whole seconds, `null` where nothing happened; instants UTC ISO-8601; dates YYYY-MM-DD):

    since, until, team, service        the period [since, until) and the filters (null when not given)
    incidents                          incidents declared in the period
    severities                         severity ids, most severe first
    groups[]                           per team, service and severity:
        team, service, severity, incidents,
        time_to_ack, time_to_resolve, time_to_mitigate, time_to_first_escalation:
            {count, p50_s, p90_s, max_s}   (nearest-rank percentiles over `count` incidents)
    levels[]                           per level of each policy: policy, level (1-based), reached, acknowledged,
                                       timed_out, skipped, acknowledged_by_other_team
    people[]                           per person and team: person (catalog reference), team, pages,
                                       outside_working_hours, at_night, nights_interrupted,
                                       share_of_pages, share_of_oncall (0..1, rounded to 4 places)
    weeks[]                            per week (Monday UTC): week_start, incidents_by_severity {severity: n},
                                       time_to_ack_p50_s, time_to_resolve_p50_s, pages
    pages_by_hour_of_week              7 rows (Monday first) of 24 counts (UTC hours)

What each figure means is in app/report/figures.py. A key is never renamed or removed; new ones may be added.
"""

from __future__ import annotations

import json
from typing import Any

from app.report.model import Report, Spread
from app.store.times import iso


def _spread(spread: Spread) -> dict[str, Any]:
    return {"count": spread.count, "p50_s": spread.p50_s, "p90_s": spread.p90_s, "max_s": spread.max_s}


def as_dict(report: Report) -> dict[str, Any]:
    return {
        "since": iso(report.since), "until": iso(report.until), "team": report.team, "service": report.service,
        "incidents": report.incidents, "severities": list(report.severities),
        "groups": [{"team": g.team, "service": g.service, "severity": g.severity, "incidents": g.incidents,
                    "time_to_ack": _spread(g.time_to_ack), "time_to_resolve": _spread(g.time_to_resolve),
                    "time_to_mitigate": _spread(g.time_to_mitigate), "time_to_first_escalation": _spread(g.time_to_first_escalation)}
                   for g in report.groups],
        "levels": [{"policy": f.policy, "level": f.level, "reached": f.reached, "acknowledged": f.acknowledged,
                    "timed_out": f.timed_out, "skipped": f.skipped, "acknowledged_by_other_team": f.acknowledged_by_other_team}
                   for f in report.levels],
        "people": [{"person": p.person, "team": p.team, "pages": p.pages, "outside_working_hours": p.outside_working_hours,
                    "at_night": p.at_night, "nights_interrupted": p.nights_interrupted,
                    "share_of_pages": round(p.share_of_pages, 4), "share_of_oncall": round(p.share_of_oncall, 4)}
                   for p in report.people],
        "weeks": [{"week_start": w.week_start.isoformat(), "incidents_by_severity": dict(w.incidents_by_severity),
                   "time_to_ack_p50_s": w.time_to_ack_p50_s, "time_to_resolve_p50_s": w.time_to_resolve_p50_s, "pages": w.pages}
                  for w in report.weeks],
        "pages_by_hour_of_week": [list(row) for row in report.pages_by_hour_of_week],
    }


def render(report: Report) -> str:
    return json.dumps(as_dict(report), indent=2) + "\n"
