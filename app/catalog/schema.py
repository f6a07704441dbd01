"""The catalog's models: severities, teams, services, schedules and escalation policies.

Each model checks its own fields (limits, formats, one-of choices); references between entries
(a service's owner, a team's policies, a policy's schedules) are checked in checks, once the
whole file has been read. The rule models are in rule_schema.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from croniter import croniter
from pydantic import Field, field_validator, model_validator

from app.catalog.fields import (
    bounded_date,
    MAX_LEVELS,
    MAX_REPEAT,
    MAX_TARGETS,
    MIN_ACK_TIMEOUT,
    MIN_TIMEOUT_ONE_TARGET,
    MIN_TIMEOUT_SEVERAL_TARGETS,
    REARM_NOTICE,
    WEEKDAYS,
    _ID,
    _slack_channel,
    _SLACK_USERGROUP,
    Weekday,
    _clock,
    _Model,
    _one_of,
    _one_reference,
    _person,
    _zone,
    format_duration,
    parse_duration,
)
from app.catalog.rule_schema import Rule


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


class Digest(_Model):
    """A team's weekly digest: when (a cron over wall time in the team's zone) and where (the team's channel unless named)."""

    cron: str
    channel: str | None = None

    @field_validator("cron", mode="before")
    @classmethod
    def _cron(cls, value: Any) -> str:
        # The hand-offs' rule (five fields, croniter's reading), plus what a post to a channel needs: one minute of the
        # hour (no digest every minute), and a time that ever comes (not 30 February).
        if not isinstance(value, str) or not croniter.is_valid(value):
            raise ValueError(f"{value!r} is not a valid cron expression (e.g. '0 9 * * MON' for Mondays 09:00)")
        if len(value.split()) != 5 and not value.startswith("@"):
            raise ValueError(f"{value!r} has {len(value.split())} fields; a digest's cron is five: minute hour day month "
                             "weekday (e.g. '0 9 * * MON')")
        from app.handoffs import cron

        minutes = croniter(value).expanded[0]
        if len(minutes) != 1 or minutes[0] == "*":
            raise ValueError(f"{value!r} fires more than once an hour; give one minute (e.g. '0 9 * * MON')")
        if cron(value).days_before(date(401, 1, 1)) == 0:
            raise ValueError(f"{value!r} never fires (no such day); e.g. '0 9 * * MON' for Mondays 09:00")
        return value

    @field_validator("channel")
    @classmethod
    def _channel(cls, value: str | None) -> str | None:
        return _slack_channel(value, "#team-payments (lowercase)")


MIN_DRILL_PACE = 60  # seconds: a drill's faster pace never times a level out in under a minute
MAX_DRILL_PEOPLE = 200


class Drills(_Model):
    """Who may start a drill of the team's services, when, who is never drilled, and the default pace.

    A team without `drills:` (or a field left out): anyone may start one, at any time, at the policy's own pace,
    and nobody is excluded. `allowed: []` means nobody in Slack (the CLI, an operator's tool, still can).
    """

    allowed: list[str] | None = Field(default=None, max_length=MAX_DRILL_PEOPLE)
    hours: Window | None = None
    never: list[str] = Field(default_factory=list, max_length=MAX_DRILL_PEOPLE)
    pace: int | None = None

    @field_validator("allowed", "never")
    @classmethod
    def _people(cls, value: list[str] | None) -> list[str] | None:
        for person in value or []:
            _person(person)
        return value

    @field_validator("pace", mode="before")
    @classmethod
    def _pace(cls, value: Any) -> int | None:
        if value is None:
            return None
        seconds = parse_duration(value)
        if seconds < MIN_DRILL_PACE:
            raise ValueError(f"{value!r} is under a minute; a drill's pace is at least 1m (each level waits that long)")
        return seconds


class Team(_Zoned):
    name: str = Field(min_length=1)
    slack_channel: str | None = None
    slack_user_group: str | None = None
    working_hours: Window | None = None
    escalation_policy: str | PolicyChoice
    rules: list["Rule"] = Field(default_factory=list)
    digest: Digest | None = None
    drills: Drills | None = None

    @property
    def digest_channel(self) -> str | None:
        """Where the digest goes: its own channel, else the team's (None only in a catalog that failed its checks)."""
        return (self.digest.channel or self.slack_channel) if self.digest is not None else None

    @field_validator("slack_channel")
    @classmethod
    def _channel(cls, value: str | None) -> str | None:
        return _slack_channel(value, "#team-payments (lowercase)")

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
        _slack_channel(self.channel or None, "#payments-stakeholders")
        return self


# What people type to find a service: a few words, not a paragraph (routing compares every one per keystroke).
Phrase = Annotated[str, Field(min_length=1, max_length=100)]


MAX_RUNBOOKS = 10
MAX_ROLES = 20
RUNBOOK_URL_MAX = 500
_URL_REFUSED = re.compile(r"[\s<>|\"\\\x00-\x1f\x7f]")


class Runbook(_Model):
    """A link shown on the summary and the page DM: the first thing the person woken at 03:00 opens."""

    title: str = Field(min_length=1, max_length=75)
    url: str = Field(min_length=1, max_length=RUNBOOK_URL_MAX)

    @field_validator("url")
    @classmethod
    def _web_link(cls, value: str) -> str:
        # Rendered as Slack's <url|title>: only a web address, and nothing that could close the link or open another.
        if _URL_REFUSED.search(value):
            raise ValueError(f"{value[:80]!r} contains a space, a quote, a backslash, '<', '>' or '|'; percent-encode them (| is %7C)")
        parts = urlsplit(value)
        if parts.scheme.lower() not in ("http", "https"):
            raise ValueError(f"{value[:80]!r} is not a web link; a runbook URL starts with https:// (or http://)")
        if not parts.hostname or "@" in parts.netloc:
            raise ValueError(f"{value[:80]!r} names no host (or carries a user name); write it like https://wiki.example.com/runbooks/payments")
        return value


class Role(_Model):
    """A role someone takes in an incident (lead, scribe, comms): its name, and what the person in it should do."""

    id: str
    name: str = Field(min_length=1, max_length=75)
    description: str = Field(min_length=1, max_length=1000, description="sent to the person given the role")

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not _ID.match(value):
            raise ValueError("lowercase letters, digits, '-' and '_' (at most 63 characters)")
        return value


LEAD = "lead"
DEFAULT_LEAD = Role(id=LEAD, name="Incident lead", description=(
    "Coordinate the response: decide who does what, keep the channel focused on the fix, decide when to escalate, "
    "make sure status updates go out, and resolve the incident when it is over."))


class Service(_Model):
    id: str
    name: str = Field(min_length=1, max_length=75)
    description: str = Field(default="", max_length=1000)
    aliases: list[Phrase] = Field(default_factory=list, max_length=50)
    keywords: list[Phrase] = Field(default_factory=list, max_length=50)
    owner: str | None = None
    tier: int | None = Field(default=None, ge=1, le=5)
    stakeholders: list[Stakeholder] = Field(default_factory=list)
    runbooks: list[Runbook] = Field(default_factory=list, max_length=MAX_RUNBOOKS)
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
            if len(value.split()) != 5 and not value.startswith("@"):
                raise ValueError(f"{value!r} has {len(value.split())} fields; a hand-off is five: minute hour day month "
                                 "weekday (e.g. '0 9 * * MON')")
            return value
        raise ValueError(
            f"{value!r} is not a valid cron expression (e.g. '0 9 * * MON' for Mondays 09:00); "
            "or use the simple form {every: week, on: mon, at: \"09:00\"}"
        )

    @field_validator("start")
    @classmethod
    def _naive(cls, value: datetime) -> datetime:
        # Local wall time in the schedule's zone; an explicit offset would fight the zone's DST rules.
        return bounded_date(value)

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
        return bounded_date(value)

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
    lead_on_ack: bool = Field(default=False, description="the first acknowledger becomes the incident lead, if nobody leads yet")

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


class CatalogModel(_Model):
    severities: list[Severity] = Field(min_length=1)
    teams: dict[str, Team] = Field(min_length=1)
    services: list[Service] = Field(min_length=1)
    schedules: dict[str, Schedule] = Field(default_factory=dict)
    policies: dict[str, Policy] = Field(min_length=1)
    rules: list[Rule] = Field(default_factory=list)
    roles: list[Role] = Field(default_factory=list, max_length=MAX_ROLES)
