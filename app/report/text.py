"""The report for a terminal: a few aligned tables, durations as people read them (4m 05s, 1h 20m, 2d 3h)."""

from __future__ import annotations

from typing import Sequence

from app.report.model import Report, Spread

WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


def duration(seconds: int | None) -> str:
    """Readable and short: 45s, 4m 05s, 1h 20m, 2d 03h; '-' for nothing."""
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m {seconds % 60:02d}s"
    if seconds < 86400:
        return f"{seconds // 3600}h {seconds % 3600 // 60:02d}m"
    return f"{seconds // 86400}d {seconds % 86400 // 3600:02d}h"


def _spread(spread: Spread) -> str:
    if not spread.count:
        return "-"
    return f"{duration(spread.p50_s)} / {duration(spread.p90_s)} / {duration(spread.max_s)}"


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], right: Sequence[bool] | None = None) -> list[str]:
    """Columns padded to their widest cell; numbers (or the columns `right` says) aligned right."""
    cells = [[str(c) for c in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    flags = right or [isinstance(rows[0][i], (int, float)) if rows else False for i in range(len(headers))]
    out = []
    for index, row in enumerate(cells):
        line = "  ".join(c.rjust(w) if flags[i] else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths)))
        out.append("  " + line.rstrip())
        if index == 0:
            out.append("  " + "  ".join("-" * w for w in widths))
    return out


def render(report: Report) -> str:
    scope = ", ".join(f"{k} {v}" for k, v in (("team", report.team), ("service", report.service)) if v)
    lines = [f"Ladder report: {report.since:%Y-%m-%d %H:%M} to {report.until:%Y-%m-%d %H:%M} UTC"
             + (f" ({scope})" if scope else "") + f": {report.incidents} incident(s)", ""]
    lines.append("Incidents (times as p50 / p90 / max)")
    lines += table(["team", "service", "severity", "incidents", "to ack", "to mitigate", "to resolve", "to 1st escalation"],
                   [[g.team, g.service, g.severity, g.incidents, _spread(g.time_to_ack), _spread(g.time_to_mitigate),
                     _spread(g.time_to_resolve), _spread(g.time_to_first_escalation)] for g in report.groups],
                   [False, False, False, True, True, True, True, True])
    lines += ["", "Escalation levels"]
    lines += table(["policy", "level", "reached", "acknowledged", "timed out", "skipped", "acked only by another team"],
                   [[f.policy, f.level, f.reached, f.acknowledged, f.timed_out, f.skipped, f.acknowledged_by_other_team]
                    for f in report.levels])
    lines += ["", "On-call load (team zone; night 22:00-07:00)"]
    lines += table(["team", "person", "pages", "outside hours", "at night", "nights interrupted", "share of pages", "share of on-call"],
                   [[p.team, p.person, p.pages, p.outside_working_hours, p.at_night, p.nights_interrupted,
                     f"{p.share_of_pages:.0%}", f"{p.share_of_oncall:.0%}"] for p in report.people],
                   [False, False, True, True, True, True, True, True])
    lines += ["", "Weeks (Monday UTC)"]
    severities = list(report.severities) + sorted({s for w in report.weeks for s in w.incidents_by_severity} - set(report.severities))
    lines += table(["week", *severities, "ack p50", "resolve p50", "pages"],
                   [[w.week_start.isoformat(), *(w.incidents_by_severity.get(s, 0) for s in severities), duration(w.time_to_ack_p50_s),
                     duration(w.time_to_resolve_p50_s), w.pages] for w in report.weeks],
                   [False, *([True] * len(severities)), True, True, True])
    lines += ["", "Pages by hour of week (UTC)"]
    lines += table(["day", *(f"{h:02d}" for h in range(24))],
                   [[WEEKDAYS[d], *(n or "." for n in report.pages_by_hour_of_week[d])] for d in range(7)],
                   [False, *([True] * 24)])
    return "\n".join(lines) + "\n"
