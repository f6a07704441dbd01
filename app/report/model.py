"""The figures of a report, as data: what `figures.compute` returns and every renderer reads.

Durations are whole seconds; instants are UTC; a week starts on Monday 00:00 UTC (a team's own
zone would give every team different weeks in one report). A percentile of no values is None.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime


@dataclass(frozen=True)
class Spread:
    """How long something took, over the incidents where it happened."""

    count: int
    p50_s: int | None
    p90_s: int | None
    max_s: int | None


@dataclass(frozen=True)
class GroupFigures:
    """The incidents of one team, service and severity declared in the period."""

    team: str  # team id
    service: str  # service id
    severity: str  # severity id
    incidents: int
    time_to_ack: Spread  # MTTA: declared -> first acknowledgement
    time_to_resolve: Spread  # MTTR: declared -> resolved
    time_to_mitigate: Spread  # declared -> mitigated
    time_to_first_escalation: Spread  # declared -> the first page of a level after the first


@dataclass(frozen=True)
class LevelFigures:
    """How one level of one policy answered: how often a ladder reached it and what became of it."""

    policy: str
    level: int  # 1-based, as people say it
    reached: int  # times a ladder arrived at this level (paged, skipped or waited)
    acknowledged: int  # someone paged at this level acknowledged
    timed_out: int  # the ladder moved on without an acknowledgement
    skipped: int  # resolved to nobody and was skipped (or waited)
    acknowledged_by_other_team: int  # incidents acknowledged only by people paged through another team's track


@dataclass(frozen=True)
class PersonLoad:
    """One person's share of the pages and of the on-call time."""

    person: str  # the catalog reference the pages were addressed to (pages.target, lowercased: an e-mail, or a Slack ID)
    team: str  # whose zone and working hours apply: the team whose ladder paged them (X for a team:X track, else the owning team)
    pages: int
    outside_working_hours: int
    at_night: int  # 22:00-07:00 in the team's zone
    nights_interrupted: int  # distinct nights (22:00-07:00 spans, in the team's zone) with at least one page
    share_of_pages: float  # this person's pages / all pages to people of this team, 0..1
    share_of_oncall: float  # this person's on-call time / the team's schedules' covered time in the period, 0..1


@dataclass(frozen=True)
class WeekFigures:
    week_start: date  # the Monday (UTC)
    incidents_by_severity: dict[str, int]
    time_to_ack_p50_s: int | None
    time_to_resolve_p50_s: int | None
    pages: int


@dataclass(frozen=True)
class Report:
    since: datetime
    until: datetime
    team: str | None
    service: str | None
    incidents: int
    groups: list[GroupFigures]
    levels: list[LevelFigures]
    people: list[PersonLoad]
    weeks: list[WeekFigures]
    # pages by hour of the week: [weekday 0=Monday][hour 0..23], in UTC
    pages_by_hour_of_week: list[list[int]] = field(default_factory=lambda: [[0] * 24 for _ in range(7)])
    severities: list[str] = field(default_factory=list)  # severity ids in the catalog's order (most severe first), for charts
