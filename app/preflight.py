"""Preflight: every rung of every ladder checked against the live workspace, and nobody disturbed.

A catalog can be valid (`check`) and still fail at 03:00: the person at level 2 left the company, the
user group was emptied, the team channel was archived, the rotation has nobody on Saturdays, the
policy handed off to reaches nobody. `simulate` answers "who would be paged"; the preflight answers
"would it reach them", for every ladder at once, without a drill's pages.

Two halves:
- `walk` (pure) reads the catalog: every policy a team can reach (its default, its `by_severity`
  and `outside_working_hours` choices, every `then:` hand-off, and the ladders of the teams its
  rules escalate to); every person, Slack user group and channel named on the way, with the
  places that name them; and, hour by hour over the next N days (from `app.oncall.coverage`, at
  the instants a gap can open or close), the hours at which a level, a policy or a whole ladder
  resolves to nobody, only at the hours that policy would be chosen.
- `Workspace` asks Slack about each distinct person, group and channel once, with calls that post
  nothing: users.lookupByEmail or users.info (and users.list, once, only to tell a deactivated
  account from an unknown e-mail: lookupByEmail answers both with users_not_found),
  conversations.open (opens or returns the bot's DM with someone, posting nothing),
  usergroups.users.list, conversations.info (by ID) or conversations.list (by name). A 429 is
  waited out for its Retry-After, within a time budget for the whole run.

Each problem is one `Finding`, reported once at the first place that names it (the others are
listed in it): `blocks_page` when a page would not arrive (a person, group or ladder that reaches
nobody), `warning` when the page still goes but something around it fails (a channel, a stakeholder,
a level skipped at some hours, a hand-off to a policy that reaches nobody).
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterable
from zoneinfo import ZoneInfo

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from app.catalog import Catalog, Policy, Target, format_duration
from app.handoffs import local_to_utc
from app.oncall import coverage, who_is_on_call

BLOCKS = "blocks_page"
WARNING = "warning"
HOUR = timedelta(hours=1)
DEFAULT_DAYS = 7
DEFAULT_BUDGET = 120.0  # seconds of Slack calls and Retry-After waits in one run, at most
RANGES_SHOWN = 8  # hour ranges listed in one finding; the rest are counted


@dataclass(frozen=True)
class Finding:
    """One problem, where it is and what to do: the JSON's `findings` items, in these keys."""

    severity: str  # BLOCKS or WARNING
    team: str | None
    policy: str | None
    level: int | None  # 1-based, as people count levels
    target: str
    problem: str
    fix: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Place:
    """Where the catalog names a person, group or channel: a rung (policy and level) or another role."""

    team: str | None
    policy: str | None
    level: int | None
    target: str  # as shown: "alice@example.com (schedule payments-primary)", "#team-payments (team channel)"
    pages: bool  # a page would go there (a rung, a rule's escalation); otherwise it is told or posted to

    def where(self) -> str:
        if self.policy is not None and self.level is not None:
            return f"policy {self.policy} level {self.level}"
        return self.target


@dataclass
class Walk:
    """What the catalog names, in walk order, and the hours at which its ladders reach nobody."""

    teams: list[str]
    policies: dict[str, str]  # policy id -> the first team whose ladder reaches it
    people: dict[str, list[Place]] = field(default_factory=dict)
    groups: dict[str, list[Place]] = field(default_factory=dict)
    channels: dict[str, list[Place]] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)


@dataclass
class Result:
    start: datetime
    days: int
    teams: list[str]
    findings: list[Finding]
    checked: dict[str, int]

    @property
    def blocking(self) -> int:
        return sum(1 for f in self.findings if f.severity == BLOCKS)

    @property
    def warnings(self) -> int:
        return len(self.findings) - self.blocking

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.blocking == 0, "start": self.start.strftime("%Y-%m-%dT%H:%M:%SZ"), "days": self.days,
                "teams": self.teams, "checked": self.checked, "findings": [f.as_dict() for f in self.findings],
                "summary": summary(self)}


def summary(result: Result) -> str:
    """The last line: what a person needs to know if they read nothing else."""
    if not result.findings:
        return "All rungs reach someone"
    return f"{result.blocking} problem(s) would stop a page; {result.warnings} warning(s)"


# -- the walk (pure) ----------------------------------------------------------------------------------------

def _chain(catalog: Catalog, policy_id: str) -> list[str]:
    """The policy and every policy it hands off to, in order (a cycle ends where it closes)."""
    chain: list[str] = []
    current: str | None = policy_id
    while current is not None and current not in chain:
        chain.append(current)
        current = catalog.policies[current].then
    return chain


def _rules_of(catalog: Catalog, team_id: str) -> Iterable[Any]:
    """The rules that can act on an incident of this team: its own, its services', and the global ones it matches."""
    services = {s.id for s in catalog.services.values() if s.owner == team_id}
    for scoped in catalog.rules:
        conditions = scoped.rule.if_
        if scoped.team is not None:
            applies = scoped.team == team_id
        elif scoped.service is not None:
            applies = scoped.service in services
        else:
            applies = ((conditions.team is None or team_id in conditions.team)
                       and (conditions.service is None or bool(services & set(conditions.service))))
        if applies:
            yield scoped.rule


def _add(into: dict[str, list[Place]], ref: str, place: Place) -> None:
    into.setdefault(ref, []).append(place)


def _future_override_users(catalog: Catalog, schedule_id: str, start: datetime) -> list[str]:
    schedule = catalog.schedules[schedule_id]
    return [o.user for o in schedule.overrides if local_to_utc(o.end, schedule.zone) > start]


def _name_targets(catalog: Catalog, walk: Walk, team_id: str, policy_id: str, index: int, target: Target, start: datetime) -> None:
    level = index + 1
    if target.user:
        _add(walk.people, target.user, Place(team_id, policy_id, level, target.user, True))
    elif target.user_group:
        _add(walk.groups, target.user_group, Place(team_id, policy_id, level, f"user group {target.user_group}", True))
    elif target.schedule and target.schedule in catalog.schedules:
        schedule = catalog.schedules[target.schedule]
        members = [m for layer in schedule.layers for m in layer.members]
        for person in dict.fromkeys([*members, *_future_override_users(catalog, target.schedule, start)]):
            _add(walk.people, person, Place(team_id, policy_id, level, f"{person} (schedule {target.schedule})", True))


def walk(catalog: Catalog, now: datetime, days: int = DEFAULT_DAYS, team: str | None = None, admin_channel: str = "") -> Walk:
    """Every team (or one, and the teams its rules escalate to), policy, person, group and channel, and the hours' gaps."""
    start = now.astimezone(timezone.utc).replace(minute=0, second=0, microsecond=0)
    teams = [team] if team is not None else list(catalog.teams)
    result = Walk(teams, {})
    for team_id in teams:  # grows while it is read: a rule may escalate to a team not listed yet
        team_model = catalog.teams[team_id]
        if team_model.slack_channel:
            _add(result.channels, team_model.slack_channel, Place(team_id, None, None, f"{team_model.slack_channel} (team channel)", False))
        if team_model.slack_user_group:
            _add(result.groups, team_model.slack_user_group,
                 Place(team_id, None, None, f"user group {team_model.slack_user_group} (the team's slack_user_group)", False))
        roots = [team_model.choice.default, *team_model.choice.by_severity.values(),
                 *([team_model.choice.outside_working_hours] if team_model.choice.outside_working_hours else [])]
        for root in dict.fromkeys(roots):
            for policy_id in _chain(catalog, root):
                if policy_id in result.policies:
                    continue
                result.policies[policy_id] = team_id
                for index, level in enumerate(catalog.policies[policy_id].levels):
                    for target in level.targets:
                        _name_targets(catalog, result, team_id, policy_id, index, target, start)
        for service in catalog.services.values():
            if service.owner != team_id:
                continue
            for stakeholder in service.stakeholders:
                told = f"stakeholder of {service.name}"
                if stakeholder.user:
                    _add(result.people, stakeholder.user, Place(team_id, None, None, f"{stakeholder.user} ({told})", False))
                elif stakeholder.user_group:
                    _add(result.groups, stakeholder.user_group,
                         Place(team_id, None, None, f"user group {stakeholder.user_group} ({told})", False))
                elif stakeholder.channel:
                    _add(result.channels, stakeholder.channel, Place(team_id, None, None, f"{stakeholder.channel} ({told})", False))
        for rule in _rules_of(catalog, team_id):
            if rule.do == "notify" and rule.channel:
                _add(result.channels, rule.channel, Place(team_id, None, None, f"{rule.channel} (rule {rule.id} posts there)", False))
            if rule.do == "escalate" and not isinstance(rule.escalate_to, str):
                if rule.escalate_to.person:
                    person = rule.escalate_to.person
                    _add(result.people, person, Place(team_id, None, None, f"{person} (rule {rule.id} escalates to them)", True))
                elif rule.escalate_to.team and rule.escalate_to.team not in teams:
                    teams.append(rule.escalate_to.team)
    if admin_channel:
        _add(result.channels, admin_channel, Place(None, None, None, f"{admin_channel} (ADMIN_CHANNEL)", False))
    result.findings = _gap_findings(catalog, result, start, days * 24)
    return result


# -- hours at which rungs reach nobody (pure) ------------------------------------------------------------------

def _empty_hours(catalog: Catalog, schedule_id: str, start: datetime, count: int) -> list[bool]:
    """For each hour from `start`, whether nobody is on call at some instant of it (gaps open and close at coverage's points)."""
    end = start + count * HOUR
    changes = coverage(catalog.schedules[schedule_id], start, end)
    empty = [False] * count
    for (at, someone), (until, _) in zip(changes, [*changes[1:], (end, True)]):
        if someone or until <= at:
            continue
        for hour in range(int((at - start) // HOUR), min(math.ceil((until - start) / HOUR), count)):
            empty[hour] = True
    return empty


def _level_empty(catalog: Catalog, policy: Policy, count: int, schedules: dict[str, list[bool]]) -> list[list[bool]]:
    """Per level, per hour: nobody to page. A named person or user group is always someone (Slack says otherwise below)."""
    never = [False] * count
    levels = []
    for level in policy.levels:
        hours = [True] * count
        for target in level.targets:
            empty = schedules.get(target.schedule or "", never) if target.schedule else never
            hours = [a and b for a, b in zip(hours, empty)]
        levels.append(hours)
    return levels


def _roots_in_force(catalog: Catalog, teams: list[str], start: datetime, count: int) -> dict[str, list[bool]]:
    """For each policy a team may start a ladder on, the hours it would be chosen (for some severity)."""
    in_force: dict[str, list[bool]] = {}
    for team_id in teams:
        team = catalog.teams[team_id]
        by_hour = team.choice.outside_working_hours is not None and team.working_hours is not None
        instants = [start + k * HOUR for k in range(count)] if by_hour else [start]
        for index, at in enumerate(instants):
            for severity in catalog.severities:
                chosen = catalog.choose_policy(team_id, severity.id, at)[0]
                hours = in_force.setdefault(chosen, [False] * count)
                if by_hour:
                    hours[index] = True
                else:
                    hours[:] = [True] * count
    return in_force


def _span(a: datetime, b: datetime, zone: ZoneInfo) -> str:
    local_a, local_b = a.astimezone(zone), b.astimezone(zone)
    head = f"{local_a:%a %Y-%m-%d %H:%M}"
    if local_b.date() == local_a.date():
        return f"{head}–{local_b:%H:%M}"
    if local_b.date() == local_a.date() + timedelta(days=1) and (local_b.hour, local_b.minute) == (0, 0):
        return f"{head}–24:00"
    return f"{head}–{local_b:%a %Y-%m-%d %H:%M}"


def _runs(hours: list[int]) -> list[tuple[int, int]]:
    """Consecutive hour indexes as [first, last + 1) runs."""
    runs: list[tuple[int, int]] = []
    for hour in hours:
        if runs and runs[-1][1] == hour:
            runs[-1] = (runs[-1][0], hour + 1)
        else:
            runs.append((hour, hour + 1))
    return runs


def describe_hours(hours: list[int], start: datetime, zone_name: str) -> str:
    """'Sat 2026-11-28 00:00–24:00, Sun … Europe/London': the hours as ranges in the team's zone, the first few."""
    zone = ZoneInfo(zone_name)
    runs = _runs(hours)
    shown = ", ".join(_span(start + a * HOUR, start + b * HOUR, zone) for a, b in runs[:RANGES_SHOWN])
    more = f" and {len(runs) - RANGES_SHOWN} more" if len(runs) > RANGES_SHOWN else ""
    return f"{shown}{more} {zone_name}"


def _describe_level(catalog: Catalog, policy_id: str, index: int) -> str:
    return ", ".join(t.describe() for t in catalog.policies[policy_id].levels[index].targets)


def _why_empty(catalog: Catalog, policy_id: str, index: int, at: datetime) -> str:
    """Why the level's schedules have nobody then, as oncall says it."""
    reasons = []
    for target in catalog.policies[policy_id].levels[index].targets:
        if target.schedule and target.schedule in catalog.schedules:
            reasons.append(f"schedule {target.schedule}: {who_is_on_call(catalog.schedules[target.schedule], at).reason}")
    return "; ".join(reasons)


def _skip_to(catalog: Catalog, policy_id: str, index: int, hour: int, empty: dict[str, list[list[bool]]]) -> str:
    """Where the ladder goes from an empty level at that hour: the next level that reaches someone, a repeat or a hand-off."""
    policy = catalog.policies[policy_id]
    levels = empty[policy_id]
    for later in range(index + 1, len(levels)):
        if not levels[later][hour]:
            return f"level {later + 1} ({_describe_level(catalog, policy_id, later)})"
    if policy.then:
        return f"policy {policy.then} (its `then:` hand-off)"
    if policy.repeat and any(not levels[earlier][hour] for earlier in range(index)):
        return "level 1 again (repeat)"
    return "nothing: the ladder ends there"


def _gap_findings(catalog: Catalog, walked: Walk, start: datetime, count: int) -> list[Finding]:
    """Whole ladders, then policies, then levels that reach nobody at some hours; each hour explained once, at the widest."""
    schedule_ids = {t.schedule for pid in walked.policies for level in catalog.policies[pid].levels for t in level.targets
                    if t.schedule and t.schedule in catalog.schedules}
    schedules = {sid: _empty_hours(catalog, sid, start, count) for sid in sorted(schedule_ids)}
    empty = {pid: _level_empty(catalog, catalog.policies[pid], count, schedules) for pid in walked.policies}
    all_empty = {pid: [all(level[h] for level in levels) for h in range(count)] for pid, levels in empty.items()}
    roots = _roots_in_force(catalog, walked.teams, start, count)
    live = {pid: [False] * count for pid in walked.policies}
    handed_from: dict[str, str] = {}
    for root, hours in roots.items():
        for earlier, policy_id in itertools.pairwise(_chain(catalog, root)):
            handed_from.setdefault(policy_id, earlier)
        for policy_id in _chain(catalog, root):
            live[policy_id] = [a or b for a, b in zip(live[policy_id], hours)]
    explained = {pid: [False] * count for pid in walked.policies}
    findings: list[Finding] = []

    def zone_of(policy_id: str) -> str:
        return catalog.teams[walked.policies[policy_id]].timezone

    for root in walked.policies:  # 1. a ladder that reaches nobody at all: every level of it and of its hand-offs is empty
        if root not in roots:
            continue
        chain = _chain(catalog, root)
        hours = [h for h in range(count) if roots[root][h] and all(all_empty[p][h] for p in chain)]
        if not hours:
            continue
        for policy_id in chain:
            for h in hours:
                explained[policy_id][h] = True
        via = f" and of {', '.join(chain[1:])} (handed off to)" if len(chain) > 1 else ""
        why = _why_empty(catalog, root, 0, start + hours[0] * HOUR)
        findings.append(Finding(
            BLOCKS, walked.policies[root], root, None, "the whole ladder",
            f"reaches nobody at all during {describe_hours(hours, start, zone_of(root))}: every level of {root}{via} "
            f"resolves to nobody then ({why}); an incident declared then pages no one",
            "add a layer or an override to cover those hours, or a level (or a `then:` policy) with a named person"))
    for policy_id in walked.policies:  # 2. a policy that reaches nobody while its ladder goes on elsewhere
        hours = [h for h in range(count) if live[policy_id][h] and all_empty[policy_id][h] and not explained[policy_id][h]]
        if not hours:
            continue
        for h in hours:
            explained[policy_id][h] = True
        when = describe_hours(hours, start, zone_of(policy_id))
        why = _why_empty(catalog, policy_id, 0, start + hours[0] * HOUR)
        if policy_id in handed_from:
            earlier = handed_from[policy_id]
            findings.append(Finding(
                WARNING, walked.policies[earlier], earlier, None, f"then: {policy_id}",
                f"hands off to {policy_id}, which reaches nobody during {when} ({why}): when {earlier} is exhausted then, "
                "the ladder ends with nobody paged",
                f"cover those hours in {policy_id}'s schedules, give it a level with a named person, or hand off elsewhere"))
        else:
            findings.append(Finding(
                WARNING, walked.policies[policy_id], policy_id, None, "every level",
                f"every level resolves to nobody during {when} ({why}); the ladder goes straight to "
                f"{catalog.policies[policy_id].then} (its `then:` hand-off)",
                "cover those hours in the policy's schedules, or add a level with a named person"))
    for policy_id in walked.policies:  # 3. a level skipped (or waited on) at some hours
        for index, level in enumerate(catalog.policies[policy_id].levels):
            hours = [h for h in range(count) if live[policy_id][h] and empty[policy_id][index][h] and not explained[policy_id][h]]
            if not hours:
                continue
            schedules_named = ", ".join(f"schedule {t.schedule}" for t in level.targets if t.schedule)
            why = _why_empty(catalog, policy_id, index, start + hours[0] * HOUR)
            onward = _skip_to(catalog, policy_id, index, hours[0], empty)
            then = (f"the ladder would wait there for {format_duration(level.escalate_after)} (when_empty: wait), then go on to {onward}"
                    if level.when_empty == "wait" else f"the ladder would skip to {onward}")
            findings.append(Finding(
                WARNING, walked.policies[policy_id], policy_id, index + 1, schedules_named,
                f"resolves to nobody during {describe_hours(hours, start, zone_of(policy_id))} ({why}); {then}",
                "add a layer or an override to the schedule for those hours, or another target to the level"))
    return findings


# -- the workspace (read-only Slack calls) ----------------------------------------------------------------------

class Unreachable(Exception):
    """Slack could not be reached at all (network, DNS, proxy): the run cannot say anything about the workspace."""


@dataclass(frozen=True)
class Verdict:
    problem: str
    fix: str
    checked: bool = True  # False: Slack could not be asked (time budget spent, an error on its side); never a page-stopper


_DEACTIVATED_FIX = "replace them in the catalog (or have a Slack admin reactivate the account)"
_INVITE = "invite Ladder to it (`/invite @Ladder` in the channel)"


class Workspace:
    """Questions to Slack that post nothing, each distinct one asked once; 429 waited out within a time budget."""

    def __init__(self, client: WebClient, *, budget: float = DEFAULT_BUDGET, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.client = client
        self.budget = budget
        self._sleep = sleep
        self._clock = clock
        self._deadline = clock() + budget
        self._deactivated: dict[str, dict[str, Any]] | None = None
        self._channels: dict[str, dict[str, Any]] | str | None = None  # by name, or why they could not be listed

    def _call(self, ask: Callable[[], Any]) -> dict[str, Any] | str:
        """`ask()`'s answer (one Web API call), or Slack's error code; a 429 is retried after Retry-After while the budget lasts.

        Each call is written out where it is made (`lambda: self.client.users_info(...)`), so tests/test_manifest.py sees
        every method the app calls and the scopes it needs."""
        failures = 0
        while True:
            if self._clock() > self._deadline:
                return "time_budget_spent"
            try:
                return dict(ask().data)
            except SlackApiError as exc:
                status = exc.response.status_code
                if status == 429 or (status >= 500 and failures < 2):
                    if status >= 500:
                        failures += 1
                    wait = _retry_after(exc.response.headers) if status == 429 else float(failures)
                    if self._clock() + wait > self._deadline:
                        return "time_budget_spent"
                    self._sleep(wait)
                    continue
                if status != 200:
                    return f"http_{status}"
                return str(exc.response.get("error") or "unknown_error")
            except OSError as exc:  # URLError, a refused connection, a timeout: Slack is not there at all
                raise Unreachable(str(getattr(exc, "reason", None) or exc.strerror or exc)) from None

    def _unchecked(self, method: str, code: str) -> Verdict:
        if code == "time_budget_spent":
            return Verdict(f"not checked: the preflight's {self.budget:.0f} s for Slack ran out (Slack was rate-limiting it)",
                           "run the preflight again in a few minutes, or with --team for fewer checks", checked=False)
        if code == "missing_scope":
            return Verdict(f"not checked: the app lacks the scope {method} needs (missing_scope)",
                           "reinstall the app from manifests/slack-app.yaml", checked=False)
        return Verdict(f"not checked: Slack answered {method} with {code}", "run the preflight again", checked=False)

    def _deactivated_by_email(self) -> dict[str, dict[str, Any]]:
        """Deactivated accounts by e-mail (users.list, once a run): lookupByEmail cannot tell them from unknown e-mails."""
        if self._deactivated is None:
            self._deactivated = {}
            cursor = None
            while True:
                page = self._call(lambda: self.client.users_list(limit=200, cursor=cursor))
                if isinstance(page, str):
                    break
                for user in page.get("members") or []:
                    email = ((user.get("profile") or {}).get("email") or "").lower()
                    if user.get("deleted") and email:
                        self._deactivated[email] = user
                cursor = (page.get("response_metadata") or {}).get("next_cursor")
                if not cursor:
                    break
        return self._deactivated

    def person(self, ref: str) -> Verdict | None:
        """An active, human Slack user the bot can open a DM with; otherwise what is wrong."""
        method = "users.lookupByEmail" if "@" in ref else "users.info"
        answer = self._call((lambda: self.client.users_lookupByEmail(email=ref)) if "@" in ref
                            else (lambda: self.client.users_info(user=ref)))
        if answer in ("users_not_found", "user_not_found"):
            if "@" in ref and ref.lower() in self._deactivated_by_email():
                return Verdict("deactivated in Slack: the page cannot reach them", _DEACTIVATED_FIX)
            what = "e-mail" if "@" in ref else "ID"
            return Verdict(f"no Slack user has this {what} ({answer}): the page cannot reach them",
                           f"correct the {what} in the catalog, or add the person to the workspace")
        if isinstance(answer, str):
            return self._unchecked(method, answer)
        user = answer.get("user") or {}
        if user.get("deleted"):
            return Verdict("deactivated in Slack: the page cannot reach them", _DEACTIVATED_FIX)
        if user.get("is_bot"):
            return Verdict("a bot user, not a person: a page to it reaches nobody", "name a person (or a schedule) instead")
        opened = self._call(lambda: self.client.conversations_open(users=user.get("id") or ref))
        if isinstance(opened, dict):
            return None
        if opened == "user_disabled":
            return Verdict("deactivated in Slack (conversations.open: user_disabled): the page cannot reach them", _DEACTIVATED_FIX)
        if opened == "cannot_dm_bot":
            return Verdict("a bot user (conversations.open: cannot_dm_bot): a page to it reaches nobody", "name a person instead")
        if opened in ("user_not_visible", "user_not_found"):
            return Verdict(f"Ladder cannot open a DM with them (conversations.open: {opened}); they may be a guest or in "
                           "another workspace", "name someone in this workspace, or ask a Slack admin why the bot cannot see them")
        return self._unchecked("conversations.open", opened)

    def group(self, ref: str) -> Verdict | None:
        """A Slack user group that exists and has members."""
        answer = self._call(lambda: self.client.usergroups_users_list(usergroup=ref))
        if answer == "no_such_subteam":
            return Verdict("no such Slack user group (no_such_subteam): a page to it reaches nobody",
                           "correct the group's ID (S…) in the catalog; Slack shows it in the group's profile")
        if isinstance(answer, str):
            return self._unchecked("usergroups.users.list", answer)
        if not answer.get("users"):
            return Verdict("the user group has no members: a page to it reaches nobody",
                           "add people to the group in Slack, or name people or a schedule in the catalog")
        return None

    def _channels_by_name(self) -> dict[str, dict[str, Any]] | str:
        """Every channel the bot can see, archived ones too (conversations.list, once a run): Slack has no lookup by name."""
        if self._channels is None:
            found: dict[str, dict[str, Any]] = {}
            cursor = None
            while True:
                page = self._call(lambda: self.client.conversations_list(types="public_channel,private_channel",
                                                                         exclude_archived=False, limit=1000, cursor=cursor))
                if isinstance(page, str):
                    self._channels = page  # asked once: the next name gets the same answer
                    return page
                for channel in page.get("channels") or []:
                    found.setdefault(str(channel.get("name")), channel)
                cursor = (page.get("response_metadata") or {}).get("next_cursor")
                if not cursor:
                    break
            self._channels = found
        return self._channels

    def channel(self, ref: str) -> Verdict | None:
        """A channel that exists, is not archived, and the bot can post in (any public one; a private one it is in)."""
        if ref.startswith("#"):
            listing = self._channels_by_name()
            if isinstance(listing, str):
                return self._unchecked("conversations.list", listing)
            info = listing.get(ref[1:])
            if info is None:
                return Verdict("no channel by that name that Ladder can see: it does not exist, or it is private and Ladder "
                               "is not in it", f"create it or correct the name in the catalog; if it is private, {_INVITE}")
        else:
            answer = self._call(lambda: self.client.conversations_info(channel=ref))
            if answer == "channel_not_found":
                return Verdict("no channel with this ID that Ladder can see (channel_not_found): it does not exist, or it is "
                               "private and Ladder is not in it", f"correct the ID in the catalog; if it is private, {_INVITE}")
            if isinstance(answer, str):
                return self._unchecked("conversations.info", answer)
            info = answer.get("channel") or {}
        if info.get("is_archived"):
            return Verdict("the channel is archived: nothing can be posted there", "unarchive it, or name another channel")
        if info.get("is_private") and not info.get("is_member"):
            return Verdict("a private channel Ladder is not in (not_in_channel): nothing can be posted there", _INVITE)
        return None


def _retry_after(headers: Any) -> float:
    for name in ("Retry-After", "retry-after"):
        value = (headers or {}).get(name)
        if isinstance(value, list):
            value = value[0] if value else None
        if value is not None:
            try:
                return max(1.0, float(value))
            except ValueError:
                break
    return 1.0


# -- the run --------------------------------------------------------------------------------------------------

def _finding(verdict: Verdict, places: list[Place]) -> Finding:
    """One finding for a thing named in several places: at the first place a page goes, the others listed."""
    paging = [p for p in places if p.pages]
    first = (paging or places)[0]
    others = list(dict.fromkeys(p.where() for p in places if p is not first and p.where() != first.where()))
    also = f" (also named at: {', '.join(others[:3])}{f' and {len(others) - 3} more' if len(others) > 3 else ''})" if others else ""
    severity = BLOCKS if paging and verdict.checked else WARNING
    return Finding(severity, first.team, first.policy, first.level, first.target, verdict.problem + also, verdict.fix)


def run(catalog: Catalog, workspace: Workspace, now: datetime, *, days: int = DEFAULT_DAYS, team: str | None = None,
        admin_channel: str = "") -> Result:
    """Walk the catalog, ask Slack about everything it names, and list what would fail, in the catalog's order."""
    walked = walk(catalog, now, days, team, admin_channel)
    findings = list(walked.findings)
    for things, ask in ((walked.people, workspace.person), (walked.groups, workspace.group), (walked.channels, workspace.channel)):
        for ref, places in things.items():
            verdict = ask(ref)
            if verdict is not None:
                findings.append(_finding(verdict, places))
    team_order = {t: i for i, t in enumerate(walked.teams)}
    policy_order = {p: i for i, p in enumerate(walked.policies)}
    findings.sort(key=lambda f: (team_order.get(f.team or "", len(team_order)), f.policy is None,
                                 policy_order.get(f.policy or "", -1), f.level or 0))
    checked = {"people": len(walked.people), "groups": len(walked.groups), "channels": len(walked.channels),
               "policies": len(walked.policies)}
    start = now.astimezone(timezone.utc).replace(minute=0, second=0, microsecond=0)
    return Result(start, days, walked.teams, findings, checked)


# -- text ------------------------------------------------------------------------------------------------------

def _heading(finding: Finding) -> str:
    if finding.policy is None:
        return "  around the ladders"
    return f"  policy {finding.policy}" + (f", level {finding.level}" if finding.level is not None else "")


def render_text(result: Result, catalog: Catalog) -> str:
    """For a terminal: grouped by team, policy and level; the last line says whether a page would be stopped."""
    lines = [f"Preflight of {len(result.teams)} team(s) and {result.checked['policies']} policies: "
             f"{result.checked['people']} people, {result.checked['groups']} user group(s) and "
             f"{result.checked['channels']} channel(s) checked in Slack; schedules for {result.days} day(s) from "
             f"{result.start:%a %Y-%m-%d %H:%M} UTC. Nobody was sent a message."]
    team_now = heading_now = None
    for finding in result.findings:
        if finding.team != team_now:
            team_now, heading_now = finding.team, None
            name = catalog.teams[finding.team].name if finding.team in catalog.teams else None
            lines += ["", f"{finding.team} ({name})" if name else "Settings"]
        heading = _heading(finding)
        if heading != heading_now:
            heading_now = heading
            lines.append(heading)
        mark = "BLOCKS A PAGE" if finding.severity == BLOCKS else "warning"
        lines.append(f"    [{mark}] {finding.target}: {finding.problem}")
        lines.append(f"        fix: {finding.fix}")
    lines += ["", summary(result) + "."]
    return "\n".join(lines)
