"""The catalog file: who owns which business service, who is on call, how pages climb.

Loaded from YAML and validated with pydantic. Every problem is reported with the file, the line
and the dotted path of the field, because a catalog mistake is otherwise found at 2 a.m. The
loader collects *all* problems rather than stopping at the first, so one `check` run shows them all.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from croniter import croniter
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

MAX_LEVELS = 20
MAX_TARGETS = 10
MAX_REPEAT = 9
MIN_TIMEOUT_ONE_TARGET = 60
MIN_TIMEOUT_SEVERAL_TARGETS = 300

_DURATION = re.compile(r"^\s*(?:(\d+)\s*h)?\s*(?:(\d+)\s*m)?\s*(?:(\d+)\s*s)?\s*$")
_SLACK_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_SLACK_CHANNEL = re.compile(r"^(#[a-z0-9][a-z0-9_-]{0,79}|[CG][A-Z0-9]{2,})$")
_SLACK_USERGROUP = re.compile(r"^S[A-Z0-9]{2,}$")
_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


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


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Severity(_Model):
    id: str
    label: str = Field(min_length=1, max_length=75)
    description: str = Field(default="", max_length=75)
    rank: int | None = None


class Team(_Model):
    name: str = Field(min_length=1)
    slack_channel: str | None = None
    escalation_policy: str

    @field_validator("slack_channel")
    @classmethod
    def _channel(cls, value: str | None) -> str | None:
        if value is not None and not _SLACK_CHANNEL.match(value):
            raise ValueError("a channel name like #team-payments (lowercase) or a channel ID like C0123ABCD")
        return value


class Service(_Model):
    id: str
    name: str = Field(min_length=1, max_length=75)
    description: str = ""
    aliases: list[str] = Field(default_factory=list)
    owner: str

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not _ID.match(value):
            raise ValueError("lowercase letters, digits, '-' and '_' (at most 63 characters)")
        return value


class Rotation(_Model):
    members: list[str] = Field(min_length=1)
    handoff: str = "0 9 * * MON"
    start: datetime = datetime(2026, 1, 5, 9, 0)

    @field_validator("members")
    @classmethod
    def _members(cls, value: list[str]) -> list[str]:
        for member in value:
            if not is_person_ref(member):
                raise ValueError(f"{member!r} is neither an e-mail address nor a Slack user ID (U…/W…)")
        return value

    @field_validator("handoff")
    @classmethod
    def _cron(cls, value: str) -> str:
        if not croniter.is_valid(value):
            raise ValueError(f"{value!r} is not a valid cron expression (e.g. '0 9 * * MON' for Mondays 09:00)")
        return value

    @field_validator("start")
    @classmethod
    def _naive(cls, value: datetime) -> datetime:
        # Local wall time in the schedule's zone; an explicit offset would fight the zone's DST rules.
        return value.replace(tzinfo=None)


class Override(_Model):
    user: str
    start: datetime
    end: datetime

    @field_validator("user")
    @classmethod
    def _user(cls, value: str) -> str:
        if not is_person_ref(value):
            raise ValueError(f"{value!r} is neither an e-mail address nor a Slack user ID (U…/W…)")
        return value

    @field_validator("start", "end")
    @classmethod
    def _naive(cls, value: datetime) -> datetime:
        return value.replace(tzinfo=None)

    @model_validator(mode="after")
    def _ordered(self) -> "Override":
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class Schedule(_Model):
    timezone: str = "UTC"
    rotation: Rotation
    overrides: list[Override] = Field(default_factory=list)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not a known IANA time zone (e.g. Europe/London, America/New_York)") from None
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class Target(_Model):
    user: str | None = None
    schedule: str | None = None
    user_group: str | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> "Target":
        given = [k for k in ("user", "schedule", "user_group") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError("a target names exactly one of: user, schedule, user_group")
        if self.user and not is_person_ref(self.user):
            raise ValueError(f"{self.user!r} is neither an e-mail address nor a Slack user ID (U…/W…)")
        if self.user_group and not _SLACK_USERGROUP.match(self.user_group):
            raise ValueError(f"{self.user_group!r} is not a Slack user group ID (S…)")
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


class CatalogModel(_Model):
    severities: list[Severity] = Field(min_length=1)
    teams: dict[str, Team] = Field(min_length=1)
    services: list[Service] = Field(min_length=1)
    schedules: dict[str, Schedule] = Field(default_factory=dict)
    policies: dict[str, Policy] = Field(min_length=1)


@dataclass(frozen=True)
class CatalogIssue:
    file: str
    line: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.path or '(top level)'}: {self.message}"


class CatalogError(Exception):
    """The catalog is invalid; `issues` lists every problem found."""

    def __init__(self, issues: list[CatalogIssue]) -> None:
        self.issues = issues
        super().__init__("\n".join(str(i) for i in issues))


class Catalog:
    """A validated catalog plus the lookups the rest of the app needs."""

    def __init__(self, model: CatalogModel, source: str, digest: str) -> None:
        self.model = model
        self.source = source
        self.digest = digest
        self.severities = list(model.severities)
        self.services = {s.id: s for s in model.services}
        self.teams = model.teams
        self.schedules = model.schedules
        self.policies = model.policies

    def severity(self, severity_id: str) -> Severity | None:
        return next((s for s in self.severities if s.id == severity_id), None)

    def default_severity(self) -> Severity:
        """The least severe one: declaring should never page harder than the declarer asked."""
        return self.severities[-1]

    def team_for_service(self, service_id: str) -> tuple[str, Team]:
        service = self.services[service_id]
        return service.owner, self.teams[service.owner]

    def policy_for_team(self, team_id: str) -> tuple[str, Policy]:
        policy_id = self.teams[team_id].escalation_policy
        return policy_id, self.policies[policy_id]


def _line_map(text: str) -> dict[tuple[Any, ...], int]:
    """Map each YAML path (keys and list indexes) to its 1-based line, for error messages."""
    lines: dict[tuple[Any, ...], int] = {}
    try:
        root = yaml.compose(text)
    except yaml.YAMLError:
        return lines

    def walk(node: yaml.Node, path: tuple[Any, ...]) -> None:
        lines[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                child = path + (key.value,)
                lines[child] = key.start_mark.line + 1
                walk(value, child)
                lines[child] = key.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                walk(item, path + (index,))

    if root is not None:
        walk(root, ())
    return lines


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


def _cross_references(model: CatalogModel) -> list[tuple[tuple[Any, ...], str]]:
    """Checks pydantic cannot do field by field: references, duplicates, ownership."""
    problems: list[tuple[tuple[Any, ...], str]] = []
    seen: set[str] = set()
    for index, severity in enumerate(model.severities):
        if severity.id in seen:
            problems.append((("severities", index, "id"), f"duplicate severity id {severity.id!r}"))
        seen.add(severity.id)
    seen = set()
    for index, service in enumerate(model.services):
        if service.id in seen:
            problems.append((("services", index, "id"), f"duplicate service id {service.id!r}"))
        seen.add(service.id)
        if service.owner not in model.teams:
            problems.append(
                (("services", index, "owner"), f"unknown team {service.owner!r}; known teams: {', '.join(sorted(model.teams))}")
            )
    for team_id, team in model.teams.items():
        if team.escalation_policy not in model.policies:
            problems.append(
                (
                    ("teams", team_id, "escalation_policy"),
                    f"unknown policy {team.escalation_policy!r}; known policies: {', '.join(sorted(model.policies))}",
                )
            )
    for policy_id, policy in model.policies.items():
        for level_index, level in enumerate(policy.levels):
            for target_index, target in enumerate(level.targets):
                if target.schedule and target.schedule not in model.schedules:
                    problems.append(
                        (
                            ("policies", policy_id, "levels", level_index, "targets", target_index, "schedule"),
                            f"unknown schedule {target.schedule!r}; known schedules: {', '.join(sorted(model.schedules)) or 'none'}",
                        )
                    )
    return problems


def parse_catalog(text: str, source: str = "<catalog>") -> Catalog:
    """Validate catalog text; raise CatalogError listing every problem with file:line and path."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise CatalogError([CatalogIssue(source, line, "", f"not valid YAML: {problem}")]) from None
    if not isinstance(data, dict):
        raise CatalogError([CatalogIssue(source, 1, "", "the catalog must be a mapping with severities, teams, services, schedules and policies")])
    lines = _line_map(text)
    try:
        model = CatalogModel.model_validate(data)
    except ValidationError as exc:
        issues = []
        for error in exc.errors():
            path = tuple(p for p in error["loc"] if not (isinstance(p, str) and p.startswith("function-")))
            message = error["msg"].removeprefix("Value error, ")
            issues.append(CatalogIssue(source, _line_for(lines, path), _dotted(path), message))
        raise CatalogError(issues) from None
    problems = _cross_references(model)
    if problems:
        raise CatalogError([CatalogIssue(source, _line_for(lines, p), _dotted(p), m) for p, m in problems])
    return Catalog(model, source, hashlib.sha256(text.encode()).hexdigest()[:12])


def load_catalog(path: Path) -> Catalog:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CatalogError([CatalogIssue(str(path), None, "", f"cannot read the catalog: {exc.strerror or exc}")]) from None
    return parse_catalog(text, str(path))
