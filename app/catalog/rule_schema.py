"""The models of a rule: when it fires, which incidents it applies to, what it does.

Rules are written at the top level, in a team or in a service; `ScopedRule` (in lookups) records
which. Their cross-references (severities, teams, services) are checked in checks.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from app.catalog.fields import _ID, _Model, _person, _slack_channel, format_duration, parse_duration
from app.text import template_problem


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

    @field_validator("say")
    @classmethod
    def _say(cls, value: str) -> str:
        problem = template_problem(value)
        if problem is not None:
            raise ValueError(f"the message {problem}")
        return value

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
        return _slack_channel(value, "#incident-leadership")

    @model_validator(mode="after")
    def _action_fields(self) -> "Rule":
        if self.do == "notify" and not (self.channel or self.stakeholders):
            raise ValueError("a notify rule needs channel: <#channel> and/or stakeholders: true")
        if self.do != "notify" and (self.channel or self.stakeholders):
            raise ValueError("channel and stakeholders belong to `do: notify` rules")
        return self
