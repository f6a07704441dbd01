"""The catalog file: who owns which business service, who is on call, how pages climb.

Loaded from YAML and validated with pydantic. Every problem is reported with the file, the line
and the dotted path of the field, because a catalog mistake is otherwise found at 2 a.m. The
loader collects *all* problems rather than stopping at the first, so one `check` run shows them
all. The full format is documented in docs/catalog.md.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime, time
from pathlib import Path
from typing import Any, Iterable, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from croniter import croniter
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

MAX_LEVELS = 20
MAX_TARGETS = 10
MAX_REPEAT = 9
MIN_TIMEOUT_ONE_TARGET = 60
MIN_TIMEOUT_SEVERAL_TARGETS = 300
REARM_NOTICE = 300  # an ack timeout is announced in the channel this long before the ladder re-arms
MIN_ACK_TIMEOUT = 600
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]

_DURATION = re.compile(r"^\s*(?:(\d+)\s*h)?\s*(?:(\d+)\s*m)?\s*(?:(\d+)\s*s)?\s*$")
_SLACK_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_SLACK_CHANNEL = re.compile(r"^(#[a-z0-9][a-z0-9_-]{0,79}|[CG][A-Z0-9]{2,})$")
_SLACK_USERGROUP = re.compile(r"^S[A-Z0-9]{2,}$")
_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_CLOCK = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)(?::([0-5]\d))?$")


def parse_duration(value: Any) -> int:
    """'5m', '1h30m', '90s' or a bare number of seconds -> seconds."""
    if isinstance(value, bool):
        raise ValueError("a duration such as 5m, 1h30m or 90s")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match and any(match.groups()):
            hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
            return hours * 3600 + minutes * 60 + seconds
    raise ValueError(f"{value!r} is not a duration; write it like 5m, 1h30m or 90s")


def format_duration(seconds: int) -> str:
    hours, rest = divmod(int(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{hours}h" if hours else "", f"{minutes}m" if minutes else "", f"{secs}s" if secs else ""]
    return "".join(parts) or "0s"


def is_person_ref(value: str) -> bool:
    return bool(_EMAIL.match(value) or _SLACK_USER_ID.match(value))


def _person(value: str) -> str:
    if not is_person_ref(value):
        raise ValueError(f"{value!r} is neither an e-mail address nor a Slack user ID (U…/W…)")
    return value


def _clock(value: Any) -> time:
    if isinstance(value, time):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        # YAML 1.1 reads an unquoted 09:00 as sexagesimal 540; take it back to a clock time.
        hours, minutes = divmod(value, 60)
        if 0 <= hours <= 23:
            return time(hours, minutes)
    if isinstance(value, str):
        match = _CLOCK.match(value.strip())
        if match:
            return time(int(match.group(1)), int(match.group(2)), int(match.group(3) or 0))
        if value.strip() == "24:00":
            return time(23, 59, 59, 999999)
    raise ValueError(f"{value!r} is not a time of day; write it like \"09:00\"")


def _zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{value!r} is not a known IANA time zone (e.g. Europe/London, America/New_York)") from None
    return value


def _one_reference(entry: Any, what: str, fields: tuple[str, ...]) -> None:
    """Targets and stakeholders name exactly one thing; people and user groups must look right."""
    if sum(1 for name in fields if getattr(entry, name)) != 1:
        raise ValueError(f"{what} names exactly one of: {', '.join(fields)}")
    if getattr(entry, "user", None):
        _person(entry.user)
    group = getattr(entry, "user_group", None)
    if group and not _SLACK_USERGROUP.match(group):
        raise ValueError(f"{group!r} is not a Slack user group ID (S…)")


def _plain(error: Any) -> str:
    """pydantic's message for one error, in the catalog's own words ("at most 9; got 10")."""
    kind, ctx, given = error["type"], error.get("ctx") or {}, error.get("input")
    many = "items" if isinstance(given, (list, dict)) else "characters"
    if kind in ("less_than_equal", "less_than"):
        return f"at most {ctx.get('le', ctx.get('lt'))}; got {given!r}"
    if kind in ("greater_than_equal", "greater_than"):
        return f"at least {ctx.get('ge', ctx.get('gt'))}; got {given!r}"
    if kind == "too_long":
        return f"at most {ctx.get('max_length')} {many}; got {ctx.get('actual_length')}"
    if kind == "too_short":
        return f"at least {ctx.get('min_length')} {many}; got {ctx.get('actual_length')}"
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return f"must be a whole number; got {given!r}"
    if kind in ("bool_parsing", "bool_type"):
        return f"must be true or false; got {given!r}"
    if kind == "string_type":
        return f"must be text; got {given!r}"
    return str(error["msg"]).removeprefix("Value error, ")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _one_of(model: type[BaseModel], value: dict[str, Any]) -> Any:
    """Validate the mapping form of a `str | mapping` field, with one readable message on failure."""
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        messages = []
        for error in exc.errors():
            where = ".".join(str(p) for p in error["loc"])
            detail = _plain(error)
            if error["type"] == "extra_forbidden":
                detail = f"unknown field (allowed: {', '.join(model.model_fields)})"
            elif error["type"] == "missing":
                detail = "is required"
            messages.append(f"{where}: {detail}" if where else detail)
        raise ValueError("; ".join(messages)) from None


class Severity(_Model):
    id: str
    label: str = Field(min_length=1, max_length=75)
    description: str = Field(default="", max_length=75)
    rank: int | None = Field(default=None, ge=1, description="1 is the most severe; defaults to the list order")


class Window(_Model):
    """Days and hours in a zone given by the owner (team or schedule). end < start wraps past midnight."""

    days: list[Weekday] = Field(default_factory=lambda: ["mon", "tue", "wed", "thu", "fri"], min_length=1)
    start: time = time(9, 0)
    end: time = time(18, 0)

    @field_validator("start", "end", mode="before")
    @classmethod
    def _times(cls, value: Any) -> time:
        return _clock(value)

    @model_validator(mode="after")
    def _not_empty(self) -> "Window":
        if self.start == self.end:
            raise ValueError("start and end are the same time; the window would be empty")
        return self

    def contains(self, local: datetime) -> bool:
        day = WEEKDAYS[local.weekday()]
        now = local.time().replace(tzinfo=None)
        if self.start < self.end:
            return day in self.days and self.start <= now < self.end
        # Overnight window (e.g. 18:00-09:00): the evening belongs to `day`, the morning to the day before.
        yesterday = WEEKDAYS[(local.weekday() - 1) % 7]
        return (day in self.days and now >= self.start) or (yesterday in self.days and now < self.end)

    def describe(self) -> str:
        days = ",".join(d.title() for d in self.days)
        if self.days == ["mon", "tue", "wed", "thu", "fri"]:
            days = "Mon–Fri"
        elif len(self.days) == 7:
            days = "every day"
        return f"{days} {self.start.strftime('%H:%M')}–{self.end.strftime('%H:%M')}"


class PolicyChoice(_Model):
    """A team's policy by severity and working hours: 'weekdays vs nights' on one service."""

    default: str
    by_severity: dict[str, str] = Field(default_factory=dict)
    outside_working_hours: str | None = None


class _Zoned(_Model):
    """Something whose times are wall-clock times in its own IANA zone (a team, a schedule)."""

    timezone: str = "UTC"

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        return _zone(value)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class Team(_Zoned):
    name: str = Field(min_length=1)
    slack_channel: str | None = None
    slack_user_group: str | None = None
    working_hours: Window | None = None
    escalation_policy: str | PolicyChoice
    rules: list["Rule"] = Field(default_factory=list)

    @field_validator("slack_channel")
    @classmethod
    def _channel(cls, value: str | None) -> str | None:
        if value is not None and not _SLACK_CHANNEL.match(value):
            raise ValueError("a channel name like #team-payments (lowercase) or a channel ID like C0123ABCD")
        return value

    @field_validator("escalation_policy", mode="before")
    @classmethod
    def _policy(cls, value: Any) -> str | PolicyChoice:
        if isinstance(value, dict):
            return _one_of(PolicyChoice, value)
        if isinstance(value, str) and value:
            return value
        raise ValueError("a policy id, or {default: <policy>, by_severity: {<severity>: <policy>}, outside_working_hours: <policy>}")

    @field_validator("slack_user_group")
    @classmethod
    def _group(cls, value: str | None) -> str | None:
        if value is not None and not _SLACK_USERGROUP.match(value):
            raise ValueError(f"{value!r} is not a Slack user group ID (S…)")
        return value


    @property
    def choice(self) -> PolicyChoice:
        if isinstance(self.escalation_policy, str):
            return PolicyChoice(default=self.escalation_policy)
        return self.escalation_policy

    def policy_ids(self) -> set[str]:
        choice = self.choice
        return {choice.default, *choice.by_severity.values(), *([choice.outside_working_hours] if choice.outside_working_hours else [])}


class Stakeholder(_Model):
    """Told about an incident on a service, never paged: a person, a user group or a channel."""

    user: str | None = None
    user_group: str | None = None
    channel: str | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> "Stakeholder":
        _one_reference(self, "a stakeholder", ("user", "user_group", "channel"))
        if self.channel and not _SLACK_CHANNEL.match(self.channel):
            raise ValueError("a channel name like #payments-stakeholders or a channel ID like C0123ABCD")
        return self


class Service(_Model):
    id: str
    name: str = Field(min_length=1, max_length=75)
    description: str = ""
    aliases: list[str] = Field(default_factory=list)
    keywords: list[str] = Field(default_factory=list)
    owner: str | None = None
    tier: int | None = Field(default=None, ge=1, le=5)
    stakeholders: list[Stakeholder] = Field(default_factory=list)
    rules: list["Rule"] = Field(default_factory=list)

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not _ID.match(value):
            raise ValueError("lowercase letters, digits, '-' and '_' (at most 63 characters)")
        return value


class SimpleHandoff(_Model):
    """The friendly form of a hand-off: every day or week at a local time."""

    every: Literal["day", "week"]
    at: time = time(9, 0)
    on: Weekday = "mon"

    @field_validator("at", mode="before")
    @classmethod
    def _at(cls, value: Any) -> time:
        return _clock(value)

    def cron(self) -> str:
        day = "*" if self.every == "day" else self.on.upper()
        return f"{self.at.minute} {self.at.hour} * * {day}"


class Layer(_Model):
    name: str | None = None
    members: list[str] = Field(min_length=1)
    handoff: str | SimpleHandoff = "0 9 * * MON"
    start: datetime = datetime(2026, 1, 5, 9, 0)
    restrictions: list[Window] = Field(default_factory=list)

    @field_validator("members")
    @classmethod
    def _members(cls, value: list[str]) -> list[str]:
        for member in value:
            _person(member)
        return value

    @field_validator("handoff", mode="before")
    @classmethod
    def _handoff(cls, value: Any) -> str | SimpleHandoff:
        if isinstance(value, dict):
            return _one_of(SimpleHandoff, value)
        if isinstance(value, str) and croniter.is_valid(value):
            return value
        raise ValueError(
            f"{value!r} is not a valid cron expression (e.g. '0 9 * * MON' for Mondays 09:00); "
            "or use the simple form {every: week, on: mon, at: \"09:00\"}"
        )

    @field_validator("start")
    @classmethod
    def _naive(cls, value: datetime) -> datetime:
        # Local wall time in the schedule's zone; an explicit offset would fight the zone's DST rules.
        return value.replace(tzinfo=None)

    @property
    def cron(self) -> str:
        return self.handoff if isinstance(self.handoff, str) else self.handoff.cron()


class Override(_Model):
    user: str
    start: datetime
    end: datetime

    @field_validator("user")
    @classmethod
    def _user(cls, value: str) -> str:
        return _person(value)

    @field_validator("start", "end")
    @classmethod
    def _naive(cls, value: datetime) -> datetime:
        return value.replace(tzinfo=None)

    @model_validator(mode="after")
    def _ordered(self) -> "Override":
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class Schedule(_Zoned):
    layers: list[Layer] = Field(min_length=1)
    overrides: list[Override] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _rotation_shorthand(cls, data: Any) -> Any:
        # `rotation:` is the one-layer form; it keeps the first catalogs working unchanged.
        if isinstance(data, dict) and "rotation" in data:
            if "layers" in data:
                raise ValueError("give either rotation (one layer) or layers, not both")
            data = {**data, "layers": [data["rotation"]]}
            del data["rotation"]
        return data



class Target(_Model):
    user: str | None = None
    schedule: str | None = None
    user_group: str | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> "Target":
        _one_reference(self, "a target", ("user", "schedule", "user_group"))
        return self

    def describe(self) -> str:
        if self.user:
            return self.user
        if self.schedule:
            return f"schedule {self.schedule}"
        return f"user group {self.user_group}"


class Level(_Model):
    targets: list[Target] = Field(min_length=1, max_length=MAX_TARGETS)
    escalate_after: int
    notify_only: bool = False
    when_empty: Literal["skip", "wait"] = "skip"

    @field_validator("escalate_after", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> int:
        return parse_duration(value)

    @model_validator(mode="after")
    def _minimum(self) -> "Level":
        minimum = MIN_TIMEOUT_ONE_TARGET if len(self.targets) == 1 else MIN_TIMEOUT_SEVERAL_TARGETS
        if self.escalate_after < minimum:
            raise ValueError(
                f"escalate_after must be at least {format_duration(minimum)} for a level with "
                f"{len(self.targets)} target(s); got {format_duration(self.escalate_after)}"
            )
        return self


class Policy(_Model):
    repeat: int = Field(default=0, ge=0, le=MAX_REPEAT)
    levels: list[Level] = Field(min_length=1, max_length=MAX_LEVELS)
    then: str | None = Field(default=None, description="hand off to this policy when this one is exhausted")
    ack_timeout: int | None = Field(default=None, description="re-arm the ladder if still unresolved this long after an acknowledgement")

    @field_validator("ack_timeout", mode="before")
    @classmethod
    def _ack_timeout(cls, value: Any) -> int | None:
        if value is None:
            return None
        seconds = parse_duration(value)
        if seconds < MIN_ACK_TIMEOUT:
            raise ValueError(f"ack_timeout must be at least {format_duration(MIN_ACK_TIMEOUT)} (the re-arm is announced "
                             f"{format_duration(REARM_NOTICE)} ahead); got {format_duration(seconds)}")
        return seconds


class Trigger(_Model):
    """When a rule fires; exactly one field. Durations count from when the rule's conditions became true."""

    declared: bool | None = None
    severity_changed: dict[Literal["to", "at_least"], str] | None = None
    unacknowledged_for: int | None = None
    open_for: int | None = None
    no_update_for: int | None = None
    acknowledged_for: int | None = None
    lead_unassigned_for: int | None = None

    @field_validator("unacknowledged_for", "open_for", "no_update_for", "acknowledged_for", "lead_unassigned_for", mode="before")
    @classmethod
    def _durations(cls, value: Any) -> int | None:
        return None if value is None else parse_duration(value)

    @model_validator(mode="after")
    def _exactly_one(self) -> "Trigger":
        given = [name for name in type(self).model_fields if getattr(self, name) not in (None, False)]
        if len(given) != 1:
            raise ValueError(f"`when` names exactly one of: {', '.join(type(self).model_fields)}")
        if self.severity_changed is not None and len(self.severity_changed) != 1:
            raise ValueError("severity_changed takes {to: <severity>} or {at_least: <severity>}")
        return self

    @property
    def kind(self) -> str:
        return next(name for name in type(self).model_fields if getattr(self, name) not in (None, False))

    @property
    def duration(self) -> int:
        value = getattr(self, self.kind)
        return value if isinstance(value, int) and not isinstance(value, bool) else 0


class Conditions(_Model):
    """Which incidents a rule applies to; all given fields must hold, re-checked when it fires."""

    severity: list[str] | None = None
    severity_at_least: str | None = None
    service: list[str] | None = None
    team: list[str] | None = None
    tier: list[int] | None = None
    private: bool | None = None
    working_hours: Literal["within", "outside"] | None = None


class EscalateTo(_Model):
    team: str | None = None
    person: str | None = None

    @model_validator(mode="after")
    def _one(self) -> "EscalateTo":
        if bool(self.team) == bool(self.person):
            raise ValueError("escalate_to is `next`, {team: <team id>} or {person: <e-mail or Slack ID>}")
        if self.person:
            _person(self.person)
        return self


class Rule(_Model):
    id: str
    when: Trigger
    if_: Conditions = Field(default_factory=Conditions, alias="if")
    do: Literal["nudge", "escalate", "notify", "remind_update"]
    say: str = Field(default="", max_length=1500)
    every: int | None = None
    escalate_to: Literal["next"] | EscalateTo = "next"
    channel: str | None = None
    stakeholders: bool = False

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("id")
    @classmethod
    def _rule_id(cls, value: str) -> str:
        if not _ID.match(value):
            raise ValueError("lowercase letters, digits, '-' and '_' (at most 63 characters)")
        return value

    @field_validator("every", mode="before")
    @classmethod
    def _every(cls, value: Any) -> int | None:
        if value is None:
            return None
        seconds = parse_duration(value)
        if seconds < 60:
            raise ValueError(f"every must be at least 1m (rules run with minute granularity); got {format_duration(seconds)}")
        return seconds

    @field_validator("channel")
    @classmethod
    def _rule_channel(cls, value: str | None) -> str | None:
        if value is not None and not _SLACK_CHANNEL.match(value):
            raise ValueError("a channel name like #incident-leadership or a channel ID like C0123ABCD")
        return value

    @model_validator(mode="after")
    def _action_fields(self) -> "Rule":
        if self.do == "notify" and not (self.channel or self.stakeholders):
            raise ValueError("a notify rule needs channel: <#channel> and/or stakeholders: true")
        if self.do != "notify" and (self.channel or self.stakeholders):
            raise ValueError("channel and stakeholders belong to `do: notify` rules")
        return self


class CatalogModel(_Model):
    severities: list[Severity] = Field(min_length=1)
    teams: dict[str, Team] = Field(min_length=1)
    services: list[Service] = Field(min_length=1)
    schedules: dict[str, Schedule] = Field(default_factory=dict)
    policies: dict[str, Policy] = Field(min_length=1)
    rules: list[Rule] = Field(default_factory=list)


Team.model_rebuild()
Service.model_rebuild()


@dataclass(frozen=True)
class ScopedRule:
    """A rule and where it was written: global, a team's or a service's (which then applies only there)."""

    rule: Rule
    team: str | None = None
    service: str | None = None
    path: tuple[Any, ...] = ()


@dataclass(frozen=True)
class CatalogIssue:
    file: str
    line: int | None
    path: str
    message: str
    level: Literal["error", "warning"] = "error"

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        prefix = "warning: " if self.level == "warning" else ""
        return f"{where}: {prefix}{self.path or '(top level)'}: {self.message}"

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "path": self.path, "message": self.message, "level": self.level}


class CatalogError(Exception):
    """The catalog is invalid; `issues` lists every problem found."""

    def __init__(self, issues: list[CatalogIssue]) -> None:
        self.issues = issues
        super().__init__("\n".join(str(i) for i in issues))


class Catalog:
    """A validated catalog plus the lookups the rest of the app needs."""

    def __init__(self, model: CatalogModel, source: str, digest: str, lines: dict[tuple[Any, ...], int] | None = None) -> None:
        self.model = model
        self.source = source
        self.digest = digest
        self._lines = lines or {}
        ranked = [(s.rank if s.rank is not None else index + 1, index, s) for index, s in enumerate(model.severities)]
        self.severities = [s for _, _, s in sorted(ranked)]
        self.ranks = {s.id: rank for rank, _, s in ranked}
        self.services = {s.id: s for s in model.services}
        self.teams = model.teams
        self.schedules = model.schedules
        self.policies = model.policies
        self.rules = _scoped_rules(model)
        self.rules_by_id = {scoped.rule.id: scoped for scoped in self.rules}

    def issue(self, path: tuple[Any, ...], message: str, level: Literal["error", "warning"] = "warning") -> CatalogIssue:
        """A problem found after validation (e.g. by the linter), located in the source file."""
        return CatalogIssue(self.source, _line_for(self._lines, path), _dotted(path), message, level)

    def severity(self, severity_id: str) -> Severity | None:
        return next((s for s in self.severities if s.id == severity_id), None)

    def default_severity(self) -> Severity:
        """The least severe one: declaring should never page harder than the declarer asked."""
        return self.severities[-1]

    def team_for_service(self, service_id: str) -> tuple[str, Team]:
        owner = self.services[service_id].owner
        assert owner is not None  # validation rejects a service without an owner
        return owner, self.teams[owner]

    def choose_policy(self, team_id: str, severity_id: str | None, at: datetime) -> tuple[str, str]:
        """Which of the team's policies applies, and why (for the timeline and `simulate`)."""
        team = self.teams[team_id]
        choice = team.choice
        if severity_id and severity_id in choice.by_severity:
            severity = self.severity(severity_id)
            return choice.by_severity[severity_id], f"{severity.label if severity else severity_id} uses it"
        if choice.outside_working_hours and team.working_hours is not None:
            local = at.astimezone(team.zone)
            hours = f"{team.name} working hours ({team.working_hours.describe()} {team.timezone})"
            if not team.working_hours.contains(local):
                return choice.outside_working_hours, f"outside {hours}"
            return choice.default, f"within {hours}"
        return choice.default, f"the {team.name} team's policy"


# libyaml's parser when PyYAML has it (about 7x faster on a large catalog); the pure one otherwise.
_SafeLoader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader) if yaml.__with_libyaml__ else yaml.SafeLoader


def _scoped_rules(model: CatalogModel) -> list[ScopedRule]:
    rules = [ScopedRule(r, path=("rules", i)) for i, r in enumerate(model.rules)]
    for team_id, team in model.teams.items():
        rules += [ScopedRule(r, team=team_id, path=("teams", team_id, "rules", i)) for i, r in enumerate(team.rules)]
    for index, service in enumerate(model.services):
        rules += [ScopedRule(r, service=service.id, path=("services", index, "rules", i)) for i, r in enumerate(service.rules)]
    return rules


class _UniqueKeyLoader(_SafeLoader):  # type: ignore[misc, valid-type]
    """A safe loader with YAML 1.2's plain scalars and no silent duplicate keys.

    YAML 1.1 reads `on:` as the boolean true and `09:00` as the number 540, and keeps the last
    of two equal keys; in a catalog each of those is a mistake waiting for 2 a.m.
    """


_UniqueKeyLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float")]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_UniqueKeyLoader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
_UniqueKeyLoader.add_implicit_resolver("tag:yaml.org,2002:int", re.compile(r"^[-+]?[0-9]+$"), list("-+0123456789"))
_UniqueKeyLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?$"), list("-+0123456789."))


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (first on line {seen[key]})", key_node.start_mark)
        seen[key] = key_node.start_mark.line + 1
    return loader.construct_mapping(node, deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _read_yaml(text: str) -> tuple[Any, dict[tuple[Any, ...], int]]:
    """Parse once: the data, and each YAML path (keys and list indexes) mapped to its 1-based line."""
    loader = _UniqueKeyLoader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return None, {}
        lines: dict[tuple[Any, ...], int] = {}

        def walk(node: yaml.Node, path: tuple[Any, ...]) -> None:
            lines[path] = node.start_mark.line + 1
            if isinstance(node, yaml.MappingNode):
                for key, value in node.value:
                    child = path + (key.value,)
                    walk(value, child)
                    lines[child] = key.start_mark.line + 1
            elif isinstance(node, yaml.SequenceNode):
                for index, item in enumerate(node.value):
                    walk(item, path + (index,))

        walk(root, ())
        return loader.construct_document(root), lines
    finally:
        loader.dispose()


def _line_for(lines: dict[tuple[Any, ...], int], path: tuple[Any, ...]) -> int | None:
    for cut in range(len(path), -1, -1):
        if path[:cut] in lines:
            return lines[path[:cut]]
    return None


def _dotted(path: Iterable[Any]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


@dataclass
class _Problems:
    items: list[tuple[tuple[Any, ...], str]] = field(default_factory=list)

    def add(self, path: tuple[Any, ...], message: str) -> None:
        self.items.append((path, message))


def _known(kind: str, names: Iterable[str]) -> str:
    listed = ", ".join(sorted(names))
    return f"known {kind}: {listed}" if listed else f"no {kind} are defined"


@dataclass
class _Sections:
    """The entries that validated, by their position in the file, and every name the file declares.

    Cross-references are checked against the declared names, so a team with a bad field still
    exists for the services that name it: one mistake is reported once, not again as "unknown".
    """

    severities: list[tuple[int, Severity]]
    services: list[tuple[int, Service]]
    teams: dict[str, Team]
    schedules: dict[str, Schedule]
    policies: dict[str, Policy]
    declared: dict[str, set[str]]
    rules: list[ScopedRule] = field(default_factory=list)

    @classmethod
    def of(cls, model: CatalogModel) -> "_Sections":
        return cls(list(enumerate(model.severities)), list(enumerate(model.services)), dict(model.teams),
                   dict(model.schedules), dict(model.policies),
                   {"severities": {s.id for s in model.severities}, "teams": set(model.teams),
                    "schedules": set(model.schedules), "policies": set(model.policies),
                    "services": {s.id for s in model.services}},
                   _scoped_rules(model))


def _cross_references(sections: _Sections) -> list[tuple[tuple[Any, ...], str]]:
    """Checks pydantic cannot do field by field: references, duplicates, ownership, cycles."""
    problems = _Problems()
    declared = sections.declared
    seen: set[Any] = set()
    for index, severity in sections.severities:
        if severity.id in seen:
            problems.add(("severities", index, "id"), f"duplicate severity id {severity.id!r}")
        seen.add(severity.id)
    ranks = [s.rank for _, s in sections.severities if s.rank is not None]
    if len(ranks) != len(set(ranks)):
        problems.add(("severities",), "two severities share a rank; each rank must be unique")
    seen = set()
    for index, service in sections.services:
        if service.id in seen:
            problems.add(("services", index, "id"), f"duplicate service id {service.id!r}")
        seen.add(service.id)
        if service.owner is None:
            problems.add(("services", index), f"service {service.id!r} has no owner; add owner: <team id> ({_known('teams', declared['teams'])})")
        elif service.owner not in declared["teams"]:
            problems.add(("services", index, "owner"), f"unknown team {service.owner!r}; {_known('teams', declared['teams'])}")
    for team_id, team in sections.teams.items():
        choice = team.choice
        base = ("teams", team_id, "escalation_policy")
        references = [(base if isinstance(team.escalation_policy, str) else base + ("default",), choice.default)]
        references += [(base + ("by_severity", sev), pid) for sev, pid in choice.by_severity.items()]
        if choice.outside_working_hours:
            references.append((base + ("outside_working_hours",), choice.outside_working_hours))
            if team.working_hours is None:
                problems.add(base + ("outside_working_hours",), "needs the team's working_hours to know what 'outside' means")
        for path, policy_id in references:
            if policy_id not in declared["policies"]:
                problems.add(path, f"unknown policy {policy_id!r}; {_known('policies', declared['policies'])}")
        for severity_id in choice.by_severity:
            if severity_id not in declared["severities"]:
                problems.add(base + ("by_severity", severity_id), f"unknown severity {severity_id!r}; {_known('severities', declared['severities'])}")
    for policy_id, policy in sections.policies.items():
        for level_index, level in enumerate(policy.levels):
            for target_index, target in enumerate(level.targets):
                if target.schedule and target.schedule not in declared["schedules"]:
                    problems.add(("policies", policy_id, "levels", level_index, "targets", target_index, "schedule"),
                                 f"unknown schedule {target.schedule!r}; {_known('schedules', declared['schedules'])}")
        if policy.then is not None and policy.then not in declared["policies"]:
            problems.add(("policies", policy_id, "then"), f"unknown policy {policy.then!r}; {_known('policies', declared['policies'])}")
    _rule_references(sections, problems)
    for policy_id in sections.policies:
        chain, current = [policy_id], sections.policies[policy_id].then
        while current is not None and current in sections.policies:
            if current in chain:
                if current == policy_id:
                    problems.add(("policies", policy_id, "then"),
                                 f"hand-offs form a cycle: {' -> '.join(chain + [current])}; a ladder must end")
                break
            chain.append(current)
            current = sections.policies[current].then
    return problems.items


def _rule_references(sections: _Sections, problems: _Problems) -> None:
    declared = sections.declared
    seen: dict[str, tuple[Any, ...]] = {}
    for scoped in sections.rules:
        rule, path = scoped.rule, scoped.path
        if rule.id in seen:
            problems.add(path + ("id",), f"duplicate rule id {rule.id!r} (also at {_dotted(seen[rule.id])}); rule ids must be unique")
        seen.setdefault(rule.id, path)
        severities = list(rule.if_.severity or []) + ([rule.if_.severity_at_least] if rule.if_.severity_at_least else [])
        severities += list((rule.when.severity_changed or {}).values())
        for severity in severities:
            if severity not in declared["severities"]:
                problems.add(path, f"rule {rule.id!r}: unknown severity {severity!r}; {_known('severities', declared['severities'])}")
        for team in rule.if_.team or []:
            if team not in declared["teams"]:
                problems.add(path + ("if", "team"), f"unknown team {team!r}; {_known('teams', declared['teams'])}")
        for service in rule.if_.service or []:
            if service not in declared.get("services", set()):
                problems.add(path + ("if", "service"), f"unknown service {service!r}")
        target = rule.escalate_to
        if isinstance(target, EscalateTo) and target.team and target.team not in declared["teams"]:
            problems.add(path + ("escalate_to", "team"), f"unknown team {target.team!r}; {_known('teams', declared['teams'])}")


def _entry_by_entry(data: dict[str, Any]) -> _Sections:
    """After a failed whole-file validation: keep every entry that is valid on its own."""
    def valid(model: type[BaseModel], value: Any) -> Any:
        try:
            return model.model_validate(value)
        except ValidationError:
            return None

    def listed(key: str, model: type[BaseModel]) -> list[tuple[int, Any]]:
        items = data.get(key) if isinstance(data.get(key), list) else []
        return [(i, v) for i, v in ((i, valid(model, item)) for i, item in enumerate(items)) if v is not None]

    def mapped(key: str, model: type[BaseModel]) -> dict[str, Any]:
        items = data.get(key) if isinstance(data.get(key), dict) else {}
        return {k: v for k, v in ((str(k), valid(model, item)) for k, item in items.items()) if v is not None}

    def names(key: str) -> set[str]:
        value = data.get(key)
        if isinstance(value, dict):
            return {str(k) for k in value}
        if isinstance(value, list):
            return {str(item["id"]) for item in value if isinstance(item, dict) and "id" in item}
        return set()

    return _Sections(listed("severities", Severity), listed("services", Service), mapped("teams", Team),
                     mapped("schedules", Schedule), mapped("policies", Policy),
                     {key: names(key) for key in ("severities", "teams", "schedules", "policies", "services")})


def parse_catalog(text: str, source: str = "<catalog>") -> Catalog:
    """Validate catalog text; raise CatalogError listing every problem with file:line and path."""
    try:
        data, lines = _read_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise CatalogError([CatalogIssue(source, line, "", f"not valid YAML: {problem}")]) from None
    if not isinstance(data, dict):
        raise CatalogError([CatalogIssue(source, 1, "", "the catalog must be a mapping with severities, teams, services, schedules and policies")])
    issues: list[CatalogIssue] = []
    try:
        model: CatalogModel | None = CatalogModel.model_validate(data)
    except ValidationError as exc:
        model = None
        for error in exc.errors():
            path = tuple(p for p in error["loc"] if not (isinstance(p, str) and p.startswith("function-")))
            message = _plain(error)
            if error["type"] == "missing":
                message = f"{path[-1]} is required here" if path else message
            path = _as_written(path, lines)
            issues.append(CatalogIssue(source, _line_for(lines, path), _dotted(path), message))
    sections = _Sections.of(model) if model is not None else _entry_by_entry(data)
    issues += [CatalogIssue(source, _line_for(lines, p), _dotted(p), m) for p, m in _cross_references(sections)]
    if issues or model is None:
        raise CatalogError(sorted(_dedupe(issues), key=lambda i: (i.line or 0, i.path)))
    return Catalog(model, source, hashlib.sha256(text.encode()).hexdigest()[:12], lines)


def _as_written(path: tuple[Any, ...], lines: dict[tuple[Any, ...], int]) -> tuple[Any, ...]:
    """Name a field the way the file does: `rotation:` is stored as `layers[0]` once parsed."""
    if len(path) >= 4 and path[0] == "schedules" and path[2:4] == ("layers", 0) and ("schedules", path[1], "rotation") in lines:
        return ("schedules", path[1], "rotation", *path[4:])
    return path


def _dedupe(issues: list[CatalogIssue]) -> list[CatalogIssue]:
    """A union type (str | mapping) fails once per alternative; keep the most specific message."""
    seen: dict[tuple[str, str], CatalogIssue] = {}
    for issue in issues:
        seen.setdefault((issue.path, issue.message), issue)
    return list(seen.values())


def load_catalog(path: Path) -> Catalog:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CatalogError([CatalogIssue(str(path), None, "", f"cannot read the catalog: {exc.strerror or exc}")]) from None
    return parse_catalog(text, str(path))
