"""A validated catalog and the lookups the rest of the app needs, and how problems are reported.

`CatalogIssue` locates a problem by file, line and dotted path; `Catalog.issue` does the same for
problems found after validation (the linter's warnings).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Iterable, Literal, TypeVar

from app.catalog.rule_schema import Rule
from app.catalog.schema import DEFAULT_LEAD, LEAD, CatalogModel, Role, Severity, Team


@dataclass(frozen=True)
class ScopedRule:
    """A rule and where it was written: global, a team's or a service's (which then applies only there)."""

    rule: Rule
    team: str | None = None
    service: str | None = None
    path: tuple[Any, ...] = ()


def _shortened(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text):,} characters)"


@dataclass(frozen=True)
class CatalogIssue:
    file: str
    line: int | None
    path: str
    message: str
    level: Literal["error", "warning"] = "error"

    def __post_init__(self) -> None:
        # A message quotes what the file says; a 100 kB value or key must not become a 100 kB report.
        object.__setattr__(self, "path", _shortened(self.path, 200))
        object.__setattr__(self, "message", _shortened(self.message, 600))

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        prefix = "warning: " if self.level == "warning" else ""
        return f"{where}: {prefix}{self.path or '(top level)'}: {self.message}"

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "path": self.path, "message": self.message, "level": self.level}


_T = TypeVar("_T")


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
        # The lead always exists (the catalog may rename it or say what it does), first; then the catalog's, in its order.
        self.roles: dict[str, Role] = {LEAD: DEFAULT_LEAD, **{r.id: r for r in model.roles}}
        self._derived: dict[Callable[["Catalog"], Any], Any] = {}

    def derived(self, build: Callable[["Catalog"], _T]) -> _T:
        """`build(self)`, made once and kept with this catalog (routing's index, the declare form).

        A hot reload brings a new Catalog, so whatever was derived from the old one goes with it.
        Two threads asking at once may both build; the first result is kept and both get it.
        """
        try:
            return self._derived[build]  # type: ignore[no-any-return]
        except KeyError:
            return self._derived.setdefault(build, build(self))  # type: ignore[no-any-return]

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


def _scoped_rules(model: CatalogModel) -> list[ScopedRule]:
    rules = [ScopedRule(r, path=("rules", i)) for i, r in enumerate(model.rules)]
    for team_id, team in model.teams.items():
        rules += [ScopedRule(r, team=team_id, path=("teams", team_id, "rules", i)) for i, r in enumerate(team.rules)]
    for index, service in enumerate(model.services):
        rules += [ScopedRule(r, service=service.id, path=("services", index, "rules", i)) for i, r in enumerate(service.rules)]
    return rules


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
