"""The report's figures, computed purely from what the store holds for a period (no I/O, no clock).

`compute(material, catalog, since, until, team, service)` reads `material`, an iterable of one
bundle per incident declared in [since, until) (`store.report_material` yields them chunk by chunk,
so 100,000 incidents never sit in memory at once; a test passes a list), and keeps only running
counts and one duration per incident and measure. Every definition a number depends on is here:

- **Which incidents count**: `counts(incident)`, the one place incidents are filtered (drills, when
  they exist, never count). An incident belongs to the week, team, service and severity it has now
  (a severity changed during the incident counts as the one it ended with).
- **Durations** are whole seconds from `declared_at`: time to acknowledge (MTTA) to the first
  `acknowledged` timeline entry (a re-armed ladder's second acknowledgement does not restart it);
  time to resolve (MTTR) to `resolved_at`; time to mitigate to `mitigated_at`; time to first
  escalation to the first page of any rung other than the main ladder's first paged rung (its next
  level by timeout or the Escalate button, a repeat, a switched policy, a re-armed ladder, or another
  team or person escalated to). A `Spread` counts the incidents where it happened (an open incident has no MTTR).
- **Percentiles** are nearest-rank: p-th of n sorted values is the value at rank ceil(p * n / 100)
  (1-based), so p50 of [1, 2, 3, 4] is 2 and p90 of ten values is the ninth. Every percentile is one
  of the values (no interpolation), which makes them easy to compute by hand.
- **A page** is a DM that reached a person: a page row with status `sent`, not a stakeholder notice
  (level -1), not a user group's own row (its members' pages count, one each), not a `merged` row (no
  second DM was sent), and not a notify-only level's notice: notify-only levels tell people without
  handing them the incident ("tell me, don't reassign"), so they are not paging load. Its time is when
  it was sent. People are keyed by the catalog reference the page was addressed to (`pages.target`:
  an e-mail, or a Slack ID where the catalog names one), lowercased, because schedules name people
  by those references, not by Slack user ID. A user group's member is paged by Slack ID: they are keyed by the e-mail
  Ladder knows for that ID (`slack_users`), unless the catalog names them by the Slack ID, else by the ID.
- **A person's team** (whose zone and working hours apply, and whose pages they share) is the team
  whose ladder paged them: the owning team for the main ladder and a person escalated to by name,
  team X for a `team:X` track. A person paged for two teams appears once per team.
- **Outside working hours**: the page's local time (team's zone) is outside `Team.working_hours`; a
  team without working hours has none outside. **At night**: local 22:00-07:00. **Nights
  interrupted**: distinct nights with a page; a night is named by the date it starts on (a page at
  03:00 on the 2nd belongs to the night of the 1st), in the team's zone, so DST changes nothing.
- **Share of on-call time**: each person's time on call over the team's schedules (those its policies
  and their hand-offs name) in [since, until), over the time those schedules had someone on call
  (summed per schedule). Share of pages: the person's pages for the team over the team's pages.
- **Levels** (per policy, 1-based): an arrival is a `level_paged`, `level_skipped` or `level_waiting`
  timeline entry. `reached` counts arrivals; `skipped` the skipped or waited-on ones; `acknowledged`
  the paged arrivals where someone paged at that rung (in that round: a user group's members too, whose pages are
  written when the group is expanded) acknowledged before the ladder's next step;
  `timed_out` the paged arrivals (notify-only ones too) that the ladder left by itself: no
  acknowledgement, the next step came at least `escalate_after` later and nobody asked for it.
  `acknowledged_by_other_team` counts, at each rung of another team's track that acknowledged, the
  incidents whose only acknowledgements came from people paged on a `team:` track.
- **Weeks** start on Monday 00:00 UTC; incidents, their p50s and their pages count in the week the
  incident was declared. Pages by hour of week are in UTC, by when each page was sent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Iterable

from app.escalation import PERSON_POLICY
from app.oncall import shifts
from app.report.model import GroupFigures, LevelFigures, PersonLoad, Report, Spread, WeekFigures
from app.store.times import parse_iso

if TYPE_CHECKING:
    from app.catalog import Catalog, Team
    from app.store.reports import IncidentRows

Row = dict[str, Any]
MAIN = "main"  # tracks.MAIN; not imported to keep this module free of the use cases' imports
STAKEHOLDERS = "stakeholders"
NIGHT_STARTS, NIGHT_ENDS = 22, 7  # local hours: a page from 22:00 to 06:59 is at night
ARRIVALS = frozenset({"level_paged", "level_skipped", "level_waiting"})
STEPS = ARRIVALS | {"repeat", "handoff", "exhausted"}
BOUNDARIES = frozenset({"policy_switched", "rearmed"})  # the main ladder starts again: what came before did not time out


# -- small pure helpers (the tests compare them with brute force) -----------------------------------------

def counts(incident: Row) -> bool:
    """Whether an incident counts in a report: the one filter. Drills (issue 16) never will."""
    return not incident.get("drill")


def percentile(ordered: list[int], p: int) -> int | None:
    """Nearest rank: the value at 1-based rank ceil(p * n / 100) of the sorted values; None for no values."""
    if not ordered:
        return None
    rank = max(1, (p * len(ordered) + 99) // 100)
    return ordered[rank - 1]


def spread(values: list[int]) -> Spread:
    ordered = sorted(values)
    return Spread(len(ordered), percentile(ordered, 50), percentile(ordered, 90), ordered[-1] if ordered else None)


def night_of(local: datetime) -> date | None:
    """The night a local time falls in, named by the date it starts on; None in the day."""
    if local.hour >= NIGHT_STARTS:
        return local.date()
    if local.hour < NIGHT_ENDS:
        return local.date() - timedelta(days=1)
    return None


def week_start(moment: datetime) -> date:
    """The Monday (UTC) of the week `moment` falls in."""
    day = moment.astimezone(timezone.utc).date()
    return day - timedelta(days=day.weekday())


def seconds_between(start: datetime, end: datetime | None) -> int | None:
    return None if end is None else int((end - start).total_seconds())


def page_team(page: Row, incident: Row) -> str:
    """The team whose ladder paged this person: X for a `team:X#n` track, else the owning team."""
    track = page["track"]
    return track[5:].split("#", 1)[0] if track.startswith("team:") else incident["team_id"]


def is_page(page: Row) -> bool:
    """A DM that reached a person (see the module docstring for what is left out and why)."""
    return (page["level"] >= 0 and page["track"] != STAKEHOLDERS and not page["notify_only"] and page["status"] == "sent"
            and page["via"] != f"user group {page['target']}")


def team_schedules(catalog: "Catalog", team_id: str) -> list[str]:
    """The schedules a team's policies (and the policies they hand off to) page, in the catalog's order."""
    team = catalog.teams.get(team_id)
    if team is None:
        return []
    seen: list[str] = []
    pending = sorted(team.policy_ids())
    policies: set[str] = set()
    while pending:
        policy_id = pending.pop()
        policy = catalog.policies.get(policy_id)
        if policy is None or policy_id in policies:
            continue
        policies.add(policy_id)
        if policy.then:
            pending.append(policy.then)
        for level in policy.levels:
            for target in level.targets:
                if target.schedule and target.schedule in catalog.schedules and target.schedule not in seen:
                    seen.append(target.schedule)
    return [s for s in catalog.schedules if s in seen]


def oncall_seconds(catalog: "Catalog", team_id: str, since: datetime, until: datetime) -> tuple[dict[str, int], int]:
    """Seconds each person (lowercased reference) was on call over the team's schedules in [since, until), and the total
    time those schedules had someone on call (summed per schedule)."""
    per_person: dict[str, int] = {}
    covered = 0
    for schedule_id in team_schedules(catalog, team_id):
        found = shifts(catalog.schedules[schedule_id], since, until)
        for index, shift in enumerate(found):
            end = found[index + 1].start if index + 1 < len(found) else until
            person = shift.on_call.person
            if person is None or end <= shift.start:
                continue
            seconds = int((end - shift.start).total_seconds())
            per_person[person.lower()] = per_person.get(person.lower(), 0) + seconds
            covered += seconds
    return per_person, covered


# -- the running counts -----------------------------------------------------------------------------------

@dataclass
class _Group:
    incidents: int = 0
    ack: list[int] = field(default_factory=list)
    resolve: list[int] = field(default_factory=list)
    mitigate: list[int] = field(default_factory=list)
    escalate: list[int] = field(default_factory=list)


@dataclass
class _Level:
    reached: int = 0
    acknowledged: int = 0
    timed_out: int = 0
    skipped: int = 0
    other_team: int = 0


@dataclass
class _Person:
    pages: int = 0
    outside: int = 0
    night: int = 0
    nights: set[date] = field(default_factory=set)


@dataclass
class _Week:
    by_severity: dict[str, int] = field(default_factory=dict)
    ack: list[int] = field(default_factory=list)
    resolve: list[int] = field(default_factory=list)
    pages: int = 0


class _Figures:
    def __init__(self, catalog: "Catalog", since: datetime, until: datetime) -> None:
        self.catalog = catalog
        self.since, self.until = since, until
        self.incidents = 0
        self.groups: dict[tuple[str, str, str], _Group] = {}
        self.levels: dict[tuple[str, int], _Level] = {}
        self.people: dict[tuple[str, str], _Person] = {}
        self.team_pages: dict[str, int] = {}
        self.weeks: dict[date, _Week] = {}
        self.hours = [[0] * 24 for _ in range(7)]
        self.named = {ref.lower() for schedule in catalog.schedules.values() for layer in schedule.layers for ref in layer.members}
        self.named |= {o.user.lower() for schedule in catalog.schedules.values() for o in schedule.overrides}
        self.named |= {t.user.lower() for policy in catalog.policies.values() for level in policy.levels for t in level.targets if t.user}

    def add(self, rows: "IncidentRows") -> None:
        incident = rows.incident
        declared = parse_iso(incident["declared_at"])
        assert declared is not None
        self.incidents += 1
        group = self.groups.setdefault((incident["team_id"], incident["service_id"], incident["severity"]), _Group())
        group.incidents += 1
        week = self.weeks.setdefault(week_start(declared), _Week())
        week.by_severity[incident["severity"]] = week.by_severity.get(incident["severity"], 0) + 1
        acks = [e for e in rows.timeline if e["kind"] == "acknowledged"]
        acked = parse_iso(acks[0]["at"]) if acks else parse_iso(incident["acknowledged_at"])
        for measure, end in ((group.ack, acked), (group.resolve, parse_iso(incident["resolved_at"])),
                             (group.mitigate, parse_iso(incident["mitigated_at"])), (group.escalate, _first_escalation(rows.pages))):
            seconds = seconds_between(declared, end)
            if seconds is not None:
                measure.append(seconds)
                if measure is group.ack:
                    week.ack.append(seconds)
                elif measure is group.resolve:
                    week.resolve.append(seconds)
        for page in rows.pages:
            if is_page(page):
                self._page(page, incident, week)
        self._levels(rows, acks[0]["actor"] if acks else incident["acknowledged_by"])

    def _page(self, page: Row, incident: Row, week: _Week) -> None:
        at = parse_iso(page["sent_at"] or page["created_at"])
        assert at is not None
        team_id = page_team(page, incident)
        team: Team | None = self.catalog.teams.get(team_id)
        local = at.astimezone(team.zone) if team is not None else at.astimezone(timezone.utc)
        person = self.people.setdefault((self._person(page), team_id), _Person())
        person.pages += 1
        if team is not None and team.working_hours is not None and not team.working_hours.contains(local):
            person.outside += 1
        night = night_of(local)
        if night is not None:
            person.night += 1
            person.nights.add(night)
        self.team_pages[team_id] = self.team_pages.get(team_id, 0) + 1
        week.pages += 1
        utc = at.astimezone(timezone.utc)
        self.hours[utc.weekday()][utc.hour] += 1

    def _person(self, page: Row) -> str:
        """The catalog reference a page reached, lowercased: its target, or for a user group's member (paged by Slack ID)
        the e-mail Ladder knows for them, unless the catalog names them by that Slack ID."""
        target = page["target"].lower()
        if page.get("email") and page["via"].startswith("member of ") and target not in self.named:
            return page["email"].lower()
        return target

    def _levels(self, rows: "IncidentRows", first_acknowledger: str | None) -> None:
        sequences: dict[str, list[Row]] = {}
        for entry in rows.timeline:
            if entry["kind"] in STEPS:
                sequences.setdefault(entry["data"].get("track", MAIN), []).append(entry)
            elif entry["kind"] in BOUNDARIES:
                sequences.setdefault(MAIN, []).append(entry)
        for track, entries in sequences.items():
            for index, entry in enumerate(entries):
                if entry["kind"] not in ARRIVALS or entry["data"].get("policy") in (None, PERSON_POLICY):
                    continue
                data = entry["data"]
                figures = self.levels.setdefault((data["policy"], int(data["level"])), _Level())
                figures.reached += 1
                if entry["kind"] != "level_paged":
                    figures.skipped += 1
                    continue
                after = entries[index + 1:]
                following = after[0] if after else None
                same = [p for p in rows.pages if p["track"] == track and p["policy"] == data["policy"] and p["level"] == data["level"]
                        and p["loop"] == data.get("loop", 0) and p["created_at"] >= entry["at"]]
                # The rung's round is that of the rows written with the arrival; a user group's members get theirs later,
                # when delivery expands the group, in the same round (a rung is paged once per round).
                rounds = {p["round"] for p in same if p["created_at"] == entry["at"]}
                rung = [p for p in same if p["round"] in rounds]
                if any(p["acknowledged_at"] and (following is None or p["acknowledged_at"] <= following["at"]) for p in rung):
                    figures.acknowledged += 1
                elif following is not None and self._left_by_itself(entry, after):
                    figures.timed_out += 1
        for policy, level in _other_team_rungs(rows.pages, first_acknowledger):
            self.levels.setdefault((policy, level), _Level()).other_team += 1

    def _left_by_itself(self, arrival: Row, after: list[Row]) -> bool:
        """The ladder's next step after `arrival` came from its own timer: a step, nobody asked for it, not too early."""
        following = after[0]
        if following["kind"] not in STEPS:
            return False
        walk = [e for e in after if e["at"] == following["at"] and e["kind"] in STEPS]
        if any(e["actor"] for e in walk if e["kind"] == "level_paged"):
            return False
        policy = self.catalog.policies.get(arrival["data"]["policy"])
        level = int(arrival["data"]["level"])
        waited = seconds_between(parse_iso(arrival["at"]), parse_iso(following["at"])) or 0  # type: ignore[arg-type]
        if policy is not None and level < len(policy.levels):
            return waited >= policy.levels[level].escalate_after
        return waited > 0

    def report(self, team: str | None, service: str | None) -> Report:
        catalog = self.catalog
        ranks = catalog.ranks
        groups = [GroupFigures(t, s, sev, g.incidents, spread(g.ack), spread(g.resolve), spread(g.mitigate), spread(g.escalate))
                  for (t, s, sev), g in sorted(self.groups.items(), key=lambda kv: (kv[0][0], kv[0][1], ranks.get(kv[0][2], 99), kv[0][2]))]
        scope = self._scope(team, service)
        for policy_id in sorted({p for t in scope if t in catalog.teams for p in _policies_of(catalog, t)}):
            for level in range(len(catalog.policies[policy_id].levels)):
                self.levels.setdefault((policy_id, level), _Level())
        levels = [LevelFigures(p, lv + 1, f.reached, f.acknowledged, f.timed_out, f.skipped, f.other_team)
                  for (p, lv), f in sorted(self.levels.items())]
        people = self._people(scope | set(self.team_pages))
        weeks = []
        day = week_start(self.since)
        while datetime(day.year, day.month, day.day, tzinfo=timezone.utc) < self.until:
            w = self.weeks.get(day, _Week())
            weeks.append(WeekFigures(day, dict(sorted(w.by_severity.items(), key=lambda kv: (ranks.get(kv[0], 99), kv[0]))),
                                     percentile(sorted(w.ack), 50), percentile(sorted(w.resolve), 50), w.pages))
            day += timedelta(days=7)
        return Report(self.since, self.until, team, service, self.incidents, groups, levels, people, weeks,
                      [row[:] for row in self.hours], [s.id for s in catalog.severities])

    def _scope(self, team: str | None, service: str | None) -> set[str]:
        if team is not None:
            return {team}
        if service is not None:
            owner = self.catalog.services[service].owner if service in self.catalog.services else None
            return {owner} if owner else set()
        return set(self.catalog.teams)

    def _people(self, teams: set[str]) -> list[PersonLoad]:
        loads = []
        for team_id in sorted(teams):
            oncall, covered = oncall_seconds(self.catalog, team_id, self.since, self.until)
            total = self.team_pages.get(team_id, 0)
            names = {p for (p, t) in self.people if t == team_id} | set(oncall)
            for person in names:
                figures = self.people.get((person, team_id), _Person())
                loads.append(PersonLoad(person, team_id, figures.pages, figures.outside, figures.night, len(figures.nights),
                                        figures.pages / total if total else 0.0, oncall.get(person, 0) / covered if covered else 0.0))
        return sorted(loads, key=lambda load: (load.team, -load.pages, load.person))


def _policies_of(catalog: "Catalog", team_id: str) -> set[str]:
    found: set[str] = set()
    pending = list(catalog.teams[team_id].policy_ids())
    while pending:
        policy_id = pending.pop()
        if policy_id in found or policy_id not in catalog.policies:
            continue
        found.add(policy_id)
        then = catalog.policies[policy_id].then
        if then:
            pending.append(then)
    return found


def _first_escalation(pages: list[Row]) -> datetime | None:
    """When the first rung other than the main ladder's first paged rung paged anyone (notify-only and stakeholder notices aside)."""
    paging = [p for p in pages if p["level"] >= 0 and p["track"] != STAKEHOLDERS and not p["notify_only"]]
    main = [p for p in paging if p["track"] == MAIN]
    first = min(main, key=lambda p: p["created_at"]) if main else None
    rung = (lambda p: (p["round"], p["policy"], p["level"], p["loop"]))
    later = [p["created_at"] for p in paging if first is None or p["track"] != MAIN or rung(p) != rung(first)]
    return parse_iso(min(later)) if later else None


def _other_team_rungs(pages: list[Row], first_acknowledger: str | None) -> set[tuple[str, int]]:
    """The rungs of other teams' tracks that acknowledged an incident nobody else acknowledged (empty otherwise)."""
    acknowledged = [p for p in pages if p["acknowledged_at"] and p["level"] >= 0 and p["track"] != STAKEHOLDERS]
    if not acknowledged or any(not p["track"].startswith("team:") for p in acknowledged):
        return set()
    if first_acknowledger is None or first_acknowledger not in {p["user_id"] for p in acknowledged}:
        return set()
    return {(p["policy"], int(p["level"])) for p in acknowledged}


def compute(material: Iterable["IncidentRows"], catalog: "Catalog", since: datetime, until: datetime, team: str | None = None,
            service: str | None = None) -> "Report":
    """The report over the incidents in `material` (those declared in [since, until), of `team` or `service` if given)."""
    figures = _Figures(catalog, since, until)
    for rows in material:
        if counts(rows.incident):
            figures.add(rows)
    return figures.report(team, service)
