"""Each team's weekly digest: the period's figures and a chart, posted to the team's channel once per period.

The catalog says when (`digest.cron`, wall time in the team's zone) and where (`digest.channel`, else the team's
`slack_channel`). A digest covers one period: [the fire before, this fire), a week for a weekly cron. Fire times
follow the project's one rule for local time (`app.handoffs`, which the rotations' hand-offs use): a time in a
spring-forward gap means the first instant after the gap, a time that exists twice its first occurrence.

How it stays once per period without costing the tick anything:
- the schedule is a row per team in the store (`digests`: `due_at` indexed, the `last_period` queued), advanced
  by the worker's tick like every other timer; a tick with no digest due reads one index (`Store.anything_due`);
- when one is due, the tick computes nothing heavy: in one transaction it queues ONE outbox row keyed by team and
  period start (`outbox.digest_key`) and moves `due_at` to the next fire (compare-and-swap). A restart, a second
  runner or a retried tick finds the key taken. The figures and the chart are built when the row is sent
  (`build`, called by delivery), from the store, outside any transaction;
- after downtime spanning several periods, only the latest is posted, and it says how many were missed;
- a catalog edit (or a start) re-plans the rows once (`keep_in_step`, memoised per store by the catalog's content
  digest): a new digest is scheduled, a removed one stops, a changed cron or zone is scheduled afresh. Each row
  stores what its `due_at` was planned from (`schedule`, "cron|zone"): while that is the catalog's, the row keeps
  its `due_at`, even overdue after downtime (then it is posted late, and the periods that fell due after it are
  counted as missed). A row from before that column existed keeps its `due_at` only while it is the next fire after
  the last period queued;
- no stretch of time is in two digests, and none falls between two: a period starts where the last one posted ended
  (later only after downtime, at the latest fire before it, with the missed ones named). An edited schedule is
  re-planned from the later of now and the end of the last period posted; when that first fire would close a
  stub of a period (shorter than a day, or than the schedule's own period when it fires more often), it is merged
  into the next one: moving Monday 09:00 to 10:00 at 09:30 posts nothing at 10:00, and next Monday's digest covers
  the week and an hour since the last. After an edit the first period can be longer than usual, never shorter.
"""

from __future__ import annotations

import logging
import weakref
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from app import outbox
from app.catalog import Catalog
from app.handoffs import TINY, handoffs
from app.store import Store, Tx, iso, parse_iso
from app.text import escape_mrkdwn
from app.tracks import Advanced, each_isolated

if TYPE_CHECKING:
    from app.report.charts import Labels
    from app.report.model import Report

log = logging.getLogger(__name__)

ORIGIN_WALL = datetime(1970, 1, 5)  # fires are listed from where asked; the hand-off counter only needs an early start
FIRST_WINDOW = timedelta(days=8)  # a weekly cron fires within one window; rarer ones widen it fourfold each time
HORIZON = timedelta(days=9 * 366)  # the rarest valid cron (29 February on a given weekday...) fires within this
RETRY_AFTER_FAILURE = timedelta(hours=1)
RESYNC_AFTER_FAILURE = timedelta(minutes=1)
STUB = timedelta(days=1)  # after an edit, a first period shorter than this (or than the schedule's own) is merged
ALL = "*"  # the service and severity of the whole period as one group: the period's overall MTTA and MTTR


# -- when: fire times of a cron in a zone (pure) ------------------------------------------------------------

@dataclass(frozen=True)
class Plan:
    """What the catalog says about one team's digest."""

    team_id: str
    cron: str
    zone: ZoneInfo
    channel: str

    @property
    def schedule(self) -> str:
        """What a row's `due_at` is planned from, as stored: an edit of either changes it."""
        return f"{self.cron}|{self.zone.key}"


def plan_of(catalog: Catalog, team_id: str) -> Plan | None:
    team = catalog.teams.get(team_id)
    if team is None or team.digest is None or team.digest_channel is None:
        return None
    return Plan(team_id, team.digest.cron, team.zone, team.digest_channel)


def fires_between(plan: Plan, after: datetime, upto: datetime) -> list[datetime]:
    """The fire instants in (after, upto], in order, each once (wall times in a gap collapse onto its end)."""
    return handoffs(plan.cron, ORIGIN_WALL, plan.zone.key).between(after, upto)


def next_fire(plan: Plan, after: datetime) -> datetime | None:
    """The first fire strictly after `after` (None only for a cron that never fires, which the catalog refuses)."""
    start, span = after, FIRST_WINDOW
    while start - after < HORIZON:
        found = fires_between(plan, start, start + span)
        if found:
            return found[0]
        start, span = start + span, span * 4
    return None


def last_fire(plan: Plan, upto: datetime) -> datetime | None:
    """The last fire at or before `upto`."""
    end, span = upto, FIRST_WINDOW
    while upto - end < HORIZON:
        found = fires_between(plan, end - span, end)
        if found:
            return found[-1]
        end, span = end - span, span * 4
    return None


def period_end(last_period: str | None) -> datetime | None:
    """The end of a stored period `start/end` (the fire time that queued it)."""
    return parse_iso(last_period.partition("/")[2]) if last_period else None


def planned_due(plan: Plan | None, row: dict[str, Any] | None, now: datetime) -> datetime | None:
    """When a team's next digest is due under the catalog in force (see the module docstring)."""
    if plan is None:
        return None
    stored = parse_iso(row["due_at"]) if row else None
    end = period_end(row["last_period"]) if row else None
    if stored is not None and row is not None:
        schedule = row.get("schedule")
        if schedule == plan.schedule:
            return stored  # unchanged: kept, even overdue
        if schedule is None and _still_a_fire(plan, stored, end, now):
            return stored  # a row from before schema 11
    return replanned(plan, end, now)


def _still_a_fire(plan: Plan, stored: datetime, end: datetime | None, now: datetime) -> bool:
    """A row that does not say what it was planned from is unchanged if it is where the schedule would put it."""
    if end is not None:
        return next_fire(plan, end) == stored
    if stored > now:
        return next_fire(plan, now) == stored
    return next_fire(plan, stored - TINY) == stored


def replanned(plan: Plan, end: datetime | None, now: datetime) -> datetime | None:
    """The first fire after now and after the last period posted (`end`), a stub of a period merged into the next."""
    if end is None or end <= now:
        first = next_fire(plan, now)
    else:
        first = next_fire(plan, end)
    if first is None or end is None:
        return first
    following = next_fire(plan, first)
    if following is not None and first - end < min(STUB, following - first):
        return following
    return first


# -- keeping the rows in step with the catalog ----------------------------------------------------------------

_synced: "weakref.WeakKeyDictionary[Store, tuple[str, datetime | None]]" = weakref.WeakKeyDictionary()


def keep_in_step(store: Store, catalog: Catalog, now: datetime) -> None:
    """Re-plan the digests when the catalog in force is not the one they were planned with (a dict lookup otherwise).

    Called at the start of every tick, before `anything_due`: a digest added by an edit must be scheduled even when
    nothing else is due. A failure is logged and retried a minute later; it never stops the tick.
    """
    done = _synced.get(store)
    if done is not None and done[0] == catalog.digest and (done[1] is None or now < done[1]):
        return
    try:
        complete = sync(store, catalog, now)
    except Exception:  # noqa: BLE001 - the digests wait; the pages must not
        log.exception("planning the digests for catalog %s failed; trying again in a minute", catalog.digest)
        complete = False
    _synced[store] = (catalog.digest, None if complete else now + RESYNC_AFTER_FAILURE)


def sync(store: Store, catalog: Catalog, now: datetime) -> bool:
    """Bring every team's row in line with the catalog; False if another runner moved a row meanwhile (try again)."""
    rows = {row["team_id"]: row for row in store.digest_rows()}
    changes = []
    for team_id, row in rows.items():
        plan = plan_of(catalog, team_id)
        due = planned_due(plan, row, now)
        schedule = plan.schedule if plan is not None else None
        if due != parse_iso(row["due_at"]) or schedule != row["schedule"]:
            changes.append((row, due, schedule))
    new = []
    for team_id in catalog.teams:
        plan = plan_of(catalog, team_id)
        if plan is not None and team_id not in rows:
            new.append((team_id, next_fire(plan, now), plan.schedule))
    if not changes and not new:
        return True
    complete = True
    with store.transaction() as tx:
        for team_id, due, schedule in new:
            complete &= tx.insert_digest(team_id, due, schedule)
        for row, due, schedule in changes:
            complete &= tx.schedule_digest(row, due, schedule)
    for team_id, due, _ in new:
        log.info("digest of team %s scheduled: next at %s", team_id, iso(due) if due else "never")
    for row, due, _ in changes:
        log.info("digest of team %s re-planned: next at %s", row["team_id"], iso(due) if due else "none (no digest)")
    return complete


# -- the tick: queue the due ones -------------------------------------------------------------------------------

def advance_due(store: Store, catalog: Catalog, now: datetime, limit: int) -> Advanced:
    """Queue every due digest (`limit` at most) in one transaction: one outbox row each, the next fire scheduled."""
    due = store.due_digest_teams(now, limit)
    done = Advanced(len(due))
    if due:
        with store.transaction() as tx:
            each_isolated(tx, due, lambda team_id: _queue(tx, catalog, team_id, now),  # type: ignore[arg-type]
                          lambda team_id, failure: _park(tx, team_id, now), "digest")  # type: ignore[arg-type]
    return done


def _queue(tx: Tx, catalog: Catalog, team_id: str, now: datetime) -> None:
    row = tx.digest_row(team_id)
    if row is None or row["due_at"] is None or row["due_at"] > iso(now):
        return  # another runner got there first
    plan = plan_of(catalog, team_id)
    latest = last_fire(plan, now) if plan is not None else None
    if plan is None or latest is None:
        tx.schedule_digest(row, None, None)
        return
    due = parse_iso(row["due_at"])
    assert due is not None
    unposted = fires_between(plan, due - TINY, latest - TINY)  # fires in [due, latest): periods nobody posted
    end = period_end(row["last_period"])
    if unposted:
        start = unposted[-1]  # downtime: the latest period only
    elif end is not None and end < latest:
        start = end  # from where the last one ended: after an edit, longer than usual, never overlapping it
    else:
        start = last_fire(plan, latest - TINY) or latest - timedelta(days=7)
    missed = len(unposted)
    if not tx.record_digest(row, f"{iso(start)}/{iso(latest)}", next_fire(plan, latest), plan.schedule):
        return
    tx.enqueue(outbox.digest(team_id, plan.channel, iso(start), iso(latest), missed), now)


def _park(tx: Tx, team_id: str, now: datetime) -> None:
    """A digest that raised is tried again later rather than every tick (logged by each_isolated)."""
    row = tx.digest_row(team_id)
    if row is not None:
        tx.schedule_digest(row, now + RETRY_AFTER_FAILURE, row["schedule"])


# -- what is posted: built when the row is sent -----------------------------------------------------------------

@dataclass(frozen=True)
class DigestPost:
    text: str  # mrkdwn: the summary (the upload's initial comment)
    chart: bytes | None  # PNG, or None when there is nothing to draw (a quiet week, no pages)
    filename: str
    title: str


def build(store: Store, catalog: Catalog, payload: dict[str, Any]) -> DigestPost:
    """The digest of one team and period, from the store: the report's own figures, a summary, pages per person."""
    from app.report import charts, figures
    from app.store.reports import IncidentRows

    team_id = payload["team"]
    since, until = parse_iso(payload["since"]), parse_iso(payload["until"])
    assert since is not None and until is not None
    material = [rows for rows in store.report_material(since, until, team=team_id) if figures.counts(rows.incident)]
    by_severity = Counter(rows.incident["severity"] for rows in material)
    # One group for the whole period: its spreads are the period's p50s over every incident, by the report's definitions.
    whole = [IncidentRows({**rows.incident, "service_id": ALL, "severity": ALL}, rows.pages, rows.tracks, rows.timeline)
             for rows in material]
    report = figures.compute(whole, catalog, since, until, team=team_id)
    team = catalog.teams.get(team_id)
    name = team.name if team is not None else team_id
    zone = team.zone if team is not None else ZoneInfo("UTC")
    labels = charts.Labels.of(catalog)
    text = summary(report, by_severity, name, zone, since, until, int(payload.get("missed") or 0), labels)
    local_start = since.astimezone(zone)
    pages = sum(p.pages for p in report.people)
    chart = charts.png(charts.PEOPLE, report, labels) if pages else None
    return DigestPost(text, chart, f"ladder-digest-{team_id}-{local_start:%Y-%m-%d}.png",
                      f"{name}: pages per person, {_when(since, zone)} to {_when(until, zone)}")


def _when(moment: datetime, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).strftime("%a %d %b %H:%M")


def _span(since: datetime, until: datetime) -> str:
    days = round((until - since) / timedelta(days=1))
    return {1: "day", 7: "week"}.get(days, "period")


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def summary(report: "Report", by_severity: Counter[str], name: str, zone: ZoneInfo, since: datetime, until: datetime,
            missed: int, labels: "Labels") -> str:
    """The digest's mrkdwn: the period, incidents by severity, MTTA/MTTR p50, pages (out of hours, at night), the
    busiest person, the level that timed out most. Catalog names are data: escaped."""
    from app.report.text import duration

    span = _span(since, until)
    lines = [f":bar_chart: *Ladder digest for {escape_mrkdwn(name)}*: {_when(since, zone)} to {_when(until, zone)} "
             f"({zone.key})"]
    if missed:
        lines.append(f"_Ladder was not running when {_plural(missed, 'earlier digest')} fell due; "
                     f"{'it was' if missed == 1 else 'they were'} missed, and this one covers the latest {span} only._")
    if not report.incidents:
        lines.append(f":relieved: A quiet {span}: no incidents.")
        return "\n".join(lines)
    order = {severity: index for index, severity in enumerate(report.severities)}
    severities = sorted(by_severity, key=lambda s: (order.get(s, len(order)), s))
    counts = ", ".join(f"{escape_mrkdwn(labels.severity(s))}: {by_severity[s]}" for s in severities)
    lines.append(f"• *{_plural(report.incidents, 'incident')}* ({counts})")
    group = report.groups[0] if report.groups else None
    ack = group.time_to_ack.p50_s if group else None
    resolve = group.time_to_resolve.p50_s if group else None
    lines.append(f"• Time to acknowledge, p50: *{duration(ack)}* · time to resolve, p50: *{duration(resolve)}*")
    pages = sum(p.pages for p in report.people)
    outside = sum(p.outside_working_hours for p in report.people)
    night = sum(p.at_night for p in report.people)
    lines.append(f"• *{_plural(pages, 'page')}*: {outside} outside working hours, {night} at night (22:00–07:00)")
    paged = [p for p in report.people if p.pages]
    if paged:
        busiest = min(paged, key=lambda p: (-p.pages, p.person))
        lines.append(f"• Busiest: {escape_mrkdwn(busiest.person)} ({_plural(busiest.pages, 'page')})")
    timed_out = [f for f in report.levels if f.timed_out]
    if timed_out:
        level = min(timed_out, key=lambda f: (-f.timed_out, f.policy, f.level))
        lines.append(f"• Timed out most: {escape_mrkdwn(level.policy)} level {level.level} ({_plural(level.timed_out, 'time')})")
    return "\n".join(lines)

