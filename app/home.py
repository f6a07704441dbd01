"""The App Home: what a person sees when they open Ladder in Slack, and when it is published again.

- `opened`: someone opened the Home tab: remember it, and queue a publication of their Home.
- `refresh_for_incident`: an incident changed (its summary was refreshed): queue a publication for the people it
  concerns who have opened their Home lately. Not for everyone: a Home shows only the incidents of the person's teams
  and those that involve them, so the work an incident change costs grows with the people involved (its team, who was
  paged, who acted, who owns a follow-up), never with the workspace (2,000 people, most of whom never look).
- `load`: the facts one Home shows, read from the catalog and the store at the moment it is sent.

Publications coalesce: each is an outbox row keyed `publish_home:<user>:<n>`, and a new one is queued only when
none is waiting to be sent (a row already sending, or sent, may have read the store before this change). The view is
built when the row is sent, so ten changes in a second make one views.publish call per person, not ten
(views.publish is rate-limited per workspace; delivery sends these one at a time, after every other kind).

Who "I" am in the catalog: people are named there by e-mail or Slack ID; the `slack_users` cache maps e-mails to IDs
(filled when someone is paged, or by delivery's users.info when a Home is published for someone it does not know).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Iterable

from app import outbox
from app.catalog import Catalog, Schedule
from app.oncall import Shift, shifts
from app.store import Store, Tx

Row = dict[str, Any]

RECENT_HOME = timedelta(days=30)  # who opened their Home within this long gets it refreshed when an incident changes
PAGES_SINCE = timedelta(days=7)
SHIFT_HORIZON = timedelta(days=35)  # how far ahead "my next shift" looks
PAGES_SHOWN = 15
FOLLOWUPS_SHOWN = 15


@dataclass(frozen=True)
class ScheduleNow:
    """One schedule of one of my teams: who is on call now, until when, and my own next shift on it."""

    schedule_id: str
    timezone: str
    on_call: str | None  # a Slack user ID when known, else the catalog's reference (an e-mail)
    reason: str  # why nobody, when nobody
    until: datetime | None  # the next change of person within the horizon
    mine_now: bool
    my_next: datetime | None  # when my next shift on it starts (None: not within the horizon, or on call now)


@dataclass(frozen=True)
class TeamNow:
    team_id: str
    name: str
    schedules: list[ScheduleNow]


@dataclass
class HomeData:
    """Everything one person's Home shows, as of `now`; `home_view` turns it into blocks."""

    user_id: str
    now: datetime
    known: bool  # the catalog names this person (in a schedule or a policy)
    teams: list[TeamNow] = field(default_factory=list)
    incidents: list[Row] = field(default_factory=list)  # open incidents that concern me, most severe then newest first
    severity_labels: dict[str, str] = field(default_factory=dict)
    severity_ranks: dict[str, int] = field(default_factory=dict)
    pages: list[Row] = field(default_factory=list)
    pages_total: int = 0
    followups: list[Row] = field(default_factory=list)
    followups_total: int = 0


# -- use cases -----------------------------------------------------------------------------------------------

def opened(store: Store, user_id: str, now: datetime) -> bool:
    """`app_home_opened` on the Home tab: remember who looked, and queue their Home (False: one is already waiting)."""
    with store.transaction() as tx:
        tx.record_home_open(user_id, now)
        return queue_publish(tx, user_id, now)


def queue_publish(tx: Tx, user_id: str, now: datetime) -> bool:
    """Queue a publication of this person's Home unless one is waiting to be sent (it will show this change too)."""
    latest = tx.latest_home_publish(user_id)
    if latest is not None and latest["status"] == "pending":
        return False
    number = _number(latest["dedupe_key"]) + 1 if latest is not None else 1
    return tx.enqueue(outbox.publish_home(user_id, number), now)


_NUMBER = re.compile(r"[0-9]+")


def _number(key: str) -> int:
    match = _NUMBER.match(key.rsplit(":", 1)[-1])
    return int(match.group()) if match else 0


def refresh_for_incident(tx: Tx, catalog: Catalog, incident: Row, now: datetime) -> int:
    """Queue the Homes this incident's change shows on: the people it involves who opened their Home lately."""
    people = involved(tx, catalog, incident)
    queued = 0
    for user_id in sorted(tx.recent_home_users(people, now - RECENT_HOME)):
        queued += queue_publish(tx, user_id, now)
    return queued


def involved(tx: Tx | Store, catalog: Catalog, incident: Row) -> set[str]:
    """Slack IDs of those whose Home shows this incident: its team's people (unless it is private), whoever was paged,
    acted or owns a follow-up."""
    people = {incident.get(column) for column in ("declared_by", "acknowledged_by", "mitigated_by", "resolved_by", "lead")}
    people.update(page["user_id"] for page in tx.pages(incident["id"]))
    people.update(f["owner"] for f in tx.followups(incident["id"]))
    team = catalog.teams.get(incident["team_id"])
    if team is not None and not incident["private"]:  # a private incident is not shown to its team (see `load`)
        refs = team_refs(catalog, incident["team_id"])
        people.update(ref for ref in refs if "@" not in ref)
        people.update(tx.user_ids_of_refs(ref for ref in refs if "@" in ref).values())
    return {p for p in people if p}


# -- who is in which team --------------------------------------------------------------------------------------

def team_schedules(catalog: Catalog, team_id: str) -> list[str]:
    """The schedules the team's policies page, in name order."""
    team = catalog.teams[team_id]
    return sorted({t.schedule for pid in team.policy_ids() if pid in catalog.policies
                   for level in catalog.policies[pid].levels for t in level.targets if t.schedule and t.schedule in catalog.schedules})


def norm(ref: str) -> str:
    """A catalog reference as compared: e-mails in lower case (as the cache keeps them), Slack IDs as they are."""
    return ref.lower() if "@" in ref else ref


def schedule_refs(schedule: Schedule) -> set[str]:
    return {norm(m) for layer in schedule.layers for m in layer.members} | {norm(o.user) for o in schedule.overrides}


def team_refs(catalog: Catalog, team_id: str) -> set[str]:
    """Everyone the team's policies name: users targeted directly and the members (and overrides) of their schedules."""
    team = catalog.teams[team_id]
    refs = {norm(t.user) for pid in team.policy_ids() if pid in catalog.policies
            for level in catalog.policies[pid].levels for t in level.targets if t.user}
    for schedule_id in team_schedules(catalog, team_id):
        refs |= schedule_refs(catalog.schedules[schedule_id])
    return refs


def teams_of(catalog: Catalog, refs: Iterable[str]) -> list[str]:
    mine = {norm(r) for r in refs}
    return [team_id for team_id in catalog.teams if team_refs(catalog, team_id) & mine]


# -- what a Home shows ------------------------------------------------------------------------------------------

def load(store: Store, catalog: Catalog, user_id: str, now: datetime) -> HomeData:
    """The facts of this person's Home now (reads only; run when the publication is sent, so it is fresh)."""
    refs = {user_id, *store.refs_of_user(user_id)}
    my_teams = teams_of(catalog, refs)
    known = bool(my_teams)
    data = HomeData(user_id, now, known,
                    severity_labels={s.id: s.label for s in catalog.severities},
                    severity_ranks=dict(catalog.ranks))
    people: set[str] = set()
    for team_id in my_teams:
        people |= team_refs(catalog, team_id)
    ids = store.user_ids_of_refs(r for r in people if "@" in r)
    for team_id in my_teams:
        data.teams.append(TeamNow(team_id, catalog.teams[team_id].name,
                                  [_schedule_now(catalog.schedules[s], s, refs, ids, now) for s in team_schedules(catalog, team_id)]))
    paging_me = store.open_incidents_paging(user_id)
    people_columns = ("declared_by", "acknowledged_by", "mitigated_by", "lead")
    # A private incident is hidden from its team (no announcement): it shows only to those it paged or who acted on it.
    concerning = [i for i in store.open_incidents()
                  if i["id"] in paging_me or user_id in (i.get(c) for c in people_columns)
                  or (i["team_id"] in my_teams and not i["private"])]
    newest_first = sorted(concerning, key=lambda i: i["declared_at"], reverse=True)
    data.incidents = sorted(newest_first, key=lambda i: data.severity_ranks.get(i["severity"], len(data.severity_ranks) + 1))
    data.pages, data.pages_total = store.pages_to_user(user_id, now - PAGES_SINCE, PAGES_SHOWN)
    data.followups, data.followups_total = store.open_followups_of(user_id, FOLLOWUPS_SHOWN)
    return data


def _schedule_now(schedule: Schedule, schedule_id: str, refs: set[str], ids: dict[str, str], now: datetime) -> ScheduleNow:
    timeline: list[Shift] = shifts(schedule, now, now + SHIFT_HORIZON)
    current = timeline[0].on_call
    mine_now = current.person is not None and norm(current.person) in refs
    my_next = next((s.start for s in timeline[1:] if s.on_call.person is not None and norm(s.on_call.person) in refs), None)
    person = current.person
    shown = ids.get(norm(person), person) if person is not None else None
    return ScheduleNow(schedule_id, schedule.timezone, shown, current.reason, timeline[1].start if len(timeline) > 1 else None,
                       mine_now, None if mine_now else my_next)
