"""The HTML report: one self-contained file, readable offline and safe to open.

`render(report, catalog)` returns the whole document as text: inline CSS, the four charts as inline SVG, tables
for every figure. Nothing is fetched (no URL, no script, no font, no image file), so the file can be mailed,
attached to a review or archived and still shows the same thing. Every name in it came from a catalog or Slack
and is escaped as text (`html.escape`), so a team called `<script>` is shown, never run.
"""

from __future__ import annotations

from datetime import datetime, timezone
from html import escape
from typing import Any, Iterable, Sequence

from app.report import charts
from app.report.charts import Labels
from app.report.model import GroupFigures, LevelFigures, PersonLoad, Report, Spread, WeekFigures

NONE = "\u2014"  # an em dash: no value (a percentile of nothing)
# A person's share of the pages this many times their share of the on-call time is marked as uneven.
UNEVEN = 1.5

_CSS = """
:root { color-scheme: light; --ink: #222; --muted: #5f6368; --line: #dadce0; --band: #f6f7f9; --accent: #b2182b; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 "DejaVu Sans", system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink); background: #fff; }
main { max-width: 1180px; margin: 0 auto; padding: 28px 28px 48px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 36px 0 10px; padding-bottom: 4px; border-bottom: 2px solid var(--line); }
p { margin: 6px 0; }
.period { color: var(--muted); margin: 0 0 16px; }
.filters span { display: inline-block; margin-right: 14px; }
.totals { display: flex; flex-wrap: wrap; gap: 12px; margin: 18px 0 8px; padding: 0; }
.totals div { background: var(--band); border: 1px solid var(--line); border-radius: 6px; padding: 10px 16px; min-width: 150px; }
.totals dt { color: var(--muted); font-size: 13px; }
.totals dd { margin: 2px 0 0; font-size: 22px; font-weight: bold; }
.empty { background: var(--band); border-left: 4px solid var(--muted); padding: 10px 14px; }
figure.chart { margin: 0 0 22px; padding: 12px; border: 1px solid var(--line); border-radius: 6px; background: #fff; }
figure.chart svg { display: block; width: 100%; max-width: 1000px; height: auto; margin: 0 auto; }
figcaption { color: var(--muted); font-size: 13px; margin-top: 6px; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: 13.5px; margin: 4px 0 8px; }
caption { text-align: left; color: var(--muted); font-size: 13px; padding: 0 0 6px; }
th, td { padding: 5px 8px; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
thead th { background: var(--band); font-weight: 600; white-space: nowrap; border-bottom: 2px solid var(--line); }
thead tr.group th { text-align: center; white-space: normal; border-bottom: 1px solid var(--line); }
thead tr.group th[rowspan] { text-align: left; vertical-align: bottom; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.name { overflow-wrap: break-word; max-width: 260px; }
tbody tr:nth-child(even) { background: #fbfbfc; }
tr.uneven td { background: #fdecea; }
.note { color: var(--muted); font-size: 13px; }
footer { margin-top: 40px; color: var(--muted); font-size: 13px; border-top: 1px solid var(--line); padding-top: 10px; }
"""


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def _when(moment: datetime) -> str:
    moment = _utc(moment)
    return f"{moment.day} {moment:%b %Y %H:%M}"


def period(report: Report) -> str:
    """'28 Sep 2026 00:00 – 9 Nov 2026 00:00 UTC' (plain text: escape it where it goes)."""
    return f"{_when(report.since)} \u2013 {_when(report.until)} UTC"


def duration(seconds: int | None) -> str:
    """A duration as people read it: 45s, 4m 30s, 2h 05m, 3d 4h; a missing one is a dash."""
    if seconds is None:
        return NONE
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        minutes, secs = divmod(seconds, 60)
        return f"{minutes}m {secs:02d}s" if secs else f"{minutes}m"
    if seconds < 86400:
        hours, rest = divmod(seconds, 3600)
        return f"{hours}h {rest // 60:02d}m"
    days, rest = divmod(seconds, 86400)
    return f"{days}d {rest // 3600}h"


def _percent(share: float) -> str:
    return f"{share * 100:.0f}%"


def _th(label: str, numeric: bool = False, span: int = 1, rows: int = 1) -> str:
    attributes = ' scope="col"' if span == 1 else f' scope="colgroup" colspan="{span}"'
    if rows > 1:
        attributes += f' rowspan="{rows}"'
    if numeric:
        attributes += ' class="num"'
    return f"<th{attributes}>{_e(label)}</th>"


def _td(value: object, numeric: bool = False, name: bool = False) -> str:
    css = ' class="num"' if numeric else (' class="name"' if name else "")
    return f"<td{css}>{_e(value)}</td>"


def _table(caption: str, head: Sequence[str], rows: Iterable[str], label: str) -> str:
    body = "".join(rows)
    return (
        f'<div class="scroll"><table aria-label="{_e(label)}"><caption>{_e(caption)}</caption>'
        f"<thead>{''.join(head)}</thead><tbody>{body}</tbody></table></div>"
    )


def _spread_cells(spread: Spread) -> list[str]:
    return [_td(duration(spread.p50_s), True), _td(duration(spread.p90_s), True), _td(duration(spread.max_s), True)]


def _groups(groups: Sequence[GroupFigures], labels: Labels, severity_rank: dict[str, int]) -> str:
    if not groups:
        return '<p class="empty">No incidents in this period.</p>'
    head = [
        "<tr class=\"group\">"
        + _th("Team", rows=2)
        + _th("Service", rows=2)
        + _th("Severity", rows=2)
        + _th("Incidents", True, rows=2)
        + _th("Time to acknowledge (MTTA)", span=3)
        + _th("Time to resolve (MTTR)", span=3)
        + _th("Time to mitigate", span=2)
        + _th("Time to first escalation", span=2)
        + "</tr>",
        "<tr>" + "".join(_th(x, True) for x in ("p50", "p90", "max", "p50", "p90", "max", "p50", "n", "p50", "n")) + "</tr>",
    ]
    ordered = sorted(groups, key=lambda g: (labels.team(g.team), labels.service(g.service), severity_rank.get(g.severity, 10**6), g.severity))
    rows = [
        "<tr>"
        + _td(labels.team(g.team), name=True)
        + _td(labels.service(g.service), name=True)
        + _td(labels.severity(g.severity), name=True)
        + _td(g.incidents, True)
        + "".join(_spread_cells(g.time_to_ack))
        + "".join(_spread_cells(g.time_to_resolve))
        + _td(duration(g.time_to_mitigate.p50_s), True)
        + _td(g.time_to_mitigate.count, True)
        + _td(duration(g.time_to_first_escalation.p50_s), True)
        + _td(g.time_to_first_escalation.count, True)
        + "</tr>"
        for g in ordered
    ]
    return _table(
        "Durations from declaration; p50/p90/max over the incidents where it happened (n of them).",
        head,
        rows,
        "Figures by team, service and severity",
    )


def _levels(levels: Sequence[LevelFigures]) -> str:
    if not levels:
        return '<p class="empty">No ladder reached a level in this period.</p>'
    head = [
        "<tr>"
        + _th("Policy")
        + _th("Level", True)
        + _th("Reached", True)
        + _th("Acknowledged", True)
        + _th("Acknowledged %", True)
        + _th("Timed out", True)
        + _th("Skipped", True)
        + _th("Acknowledged only by another team", True)
        + "</tr>"
    ]
    rows = [
        "<tr>"
        + _td(level.policy, name=True)
        + _td(level.level, True)
        + _td(level.reached, True)
        + _td(level.acknowledged, True)
        + _td(_percent(level.acknowledged / level.reached) if level.reached else NONE, True)
        + _td(level.timed_out, True)
        + _td(level.skipped, True)
        + _td(level.acknowledged_by_other_team, True)
        + "</tr>"
        for level in sorted(levels, key=lambda x: (x.policy, x.level))
    ]
    return _table("How often each level of each policy was reached, and what became of it.", head, rows, "The ladder's responsiveness")


def _people(people: Sequence[PersonLoad], labels: Labels) -> str:
    if not people:
        return '<p class="empty">No pages in this period.</p>'
    head = [
        "<tr>"
        + _th("Person")
        + _th("Team")
        + _th("Pages", True)
        + _th("Outside working hours", True)
        + _th("At night", True)
        + _th("Nights interrupted", True)
        + _th("Share of pages", True)
        + _th("Share of on-call time", True)
        + "</tr>"
    ]
    rows = []
    for person in sorted(people, key=lambda p: (-p.pages, -p.outside_working_hours, labels.team(p.team), p.person)):
        uneven = person.pages > 0 and person.share_of_pages > UNEVEN * person.share_of_oncall
        rows.append(
            ('<tr class="uneven">' if uneven else "<tr>")
            + _td(person.person, name=True)
            + _td(labels.team(person.team), name=True)
            + _td(person.pages, True)
            + _td(person.outside_working_hours, True)
            + _td(person.at_night, True)
            + _td(person.nights_interrupted, True)
            + _td(_percent(person.share_of_pages), True)
            + _td(_percent(person.share_of_oncall), True)
            + "</tr>"
        )
    caption = (
        "Night is 22:00\u201307:00 in the team's zone. Highlighted: a share of the team's pages more than "
        f"{UNEVEN:g} times the share of its on-call time."
    )
    return _table(caption, head, rows, "On-call load and fairness")


def _weeks(weeks: Sequence[WeekFigures], severities: Sequence[str], labels: Labels) -> str:
    if not weeks:
        return '<p class="empty">No weeks in this period.</p>'
    head = [
        "<tr>"
        + _th("Week starting")
        + "".join(_th(labels.severity(s), True) for s in severities)
        + _th("Incidents", True)
        + _th("MTTA p50", True)
        + _th("MTTR p50", True)
        + _th("Pages", True)
        + "</tr>"
    ]
    rows = [
        "<tr>"
        + f'<th scope="row">{_e(week.week_start.isoformat())}</th>'
        + "".join(_td(week.incidents_by_severity.get(s, 0), True) for s in severities)
        + _td(sum(week.incidents_by_severity.values()), True)
        + _td(duration(week.time_to_ack_p50_s), True)
        + _td(duration(week.time_to_resolve_p50_s), True)
        + _td(week.pages, True)
        + "</tr>"
        for week in sorted(weeks, key=lambda w: w.week_start)
    ]
    return _table("Weeks start on Monday 00:00 UTC.", head, rows, "Trends by week")


def _charts(report: Report, labels: Labels) -> str:
    figures = []
    for spec in charts.CHARTS:
        figures.append(
            f'<figure class="chart" id="chart-{_e(spec.key)}">{charts.svg(spec.key, report, labels)}'
            f"<figcaption>{_e(spec.caption)}</figcaption></figure>"
        )
    return "".join(figures)


def _totals(report: Report) -> str:
    pages = sum(p.pages for p in report.people)
    figures = (
        ("Incidents", report.incidents),
        ("Pages", pages),
        ("People paged", sum(1 for p in report.people if p.pages)),
        ("Pages outside working hours", sum(p.outside_working_hours for p in report.people)),
        ("Nights interrupted", sum(p.nights_interrupted for p in report.people)),
    )
    return '<dl class="totals">' + "".join(f"<div><dt>{_e(k)}</dt><dd>{_e(v)}</dd></div>" for k, v in figures) + "</dl>"


def render(report: Report, catalog: Any = None) -> str:
    """The report as one self-contained HTML document (the catalog gives display names; None shows ids)."""
    labels = Labels.of(catalog)
    when = period(report)
    filters = []
    if report.team:
        filters.append(f"<span>Team: <strong>{_e(labels.team(report.team))}</strong></span>")
    if report.service:
        filters.append(f"<span>Service: <strong>{_e(labels.service(report.service))}</strong></span>")
    scope = " \u00b7 ".join(x for x in (labels.team(report.team) if report.team else "", labels.service(report.service) if report.service else "") if x)
    title = f"Ladder report: {when}" + (f" ({scope})" if scope else "")
    severities = charts.severity_order(report)
    severity_rank = {s: i for i, s in enumerate(severities)}
    empty = (
        f'<p class="empty">No incidents between {_e(_when(report.since))} and {_e(_when(report.until))} UTC.</p>'
        if report.incidents == 0
        else ""
    )
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        "<main>",
        "<header>",
        "<h1>Incidents and on-call load</h1>",
        f'<p class="period">{_e(when)}</p>',
        f'<p class="filters">{"".join(filters)}</p>' if filters else "",
        _totals(report),
        empty,
        "</header>",
        '<section aria-labelledby="h-charts"><h2 id="h-charts">Charts</h2>',
        _charts(report, labels),
        "</section>",
        '<section aria-labelledby="h-groups"><h2 id="h-groups">By team, service and severity</h2>',
        _groups(report.groups, labels, severity_rank),
        "</section>",
        '<section aria-labelledby="h-levels"><h2 id="h-levels">The ladder\'s responsiveness</h2>',
        _levels(report.levels),
        "</section>",
        '<section aria-labelledby="h-people"><h2 id="h-people">On-call load and fairness</h2>',
        _people(report.people, labels),
        "</section>",
        '<section aria-labelledby="h-weeks"><h2 id="h-weeks">Trends by week</h2>',
        _weeks(report.weeks, severities, labels),
        "</section>",
        "<footer>Made by Ladder (<code>python -m app report</code>). Times in UTC; "
        "a week starts on Monday 00:00 UTC. This file is self-contained: it loads nothing.</footer>",
        "</main>",
        "</body>",
        "</html>",
    ]
    return "\n".join(p for p in parts if p) + "\n"
