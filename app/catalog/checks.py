"""Cross-reference checks: what pydantic cannot see one field at a time.

Unknown or duplicate ids, services without an owner, hand-off cycles, rules that name what the
file does not declare. The loader runs them after validation, even a failed one, so one `check`
run reports every problem.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

from pydantic import BaseModel, ValidationError

from app.catalog.lookups import ScopedRule, _dotted, _scoped_rules
from app.catalog.rule_schema import EscalateTo
from app.text import name_key
from app.catalog.schema import CatalogModel, Policy, Role, Schedule, Service, Severity, Team


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
    roles: list[tuple[int, Role]] = field(default_factory=list)

    @classmethod
    def of(cls, model: CatalogModel) -> "_Sections":
        return cls(list(enumerate(model.severities)), list(enumerate(model.services)), dict(model.teams),
                   dict(model.schedules), dict(model.policies),
                   {"severities": {s.id for s in model.severities}, "teams": set(model.teams),
                    "schedules": set(model.schedules), "policies": set(model.policies),
                    "services": {s.id for s in model.services}},
                   _scoped_rules(model), list(enumerate(model.roles)))


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
    _names_that_collide(sections, problems)
    seen = set()
    for index, role in sections.roles:
        if role.id in seen:
            problems.add(("roles", index, "id"), f"duplicate role id {role.id!r}; each role is given by its id (`/incident role {role.id} @someone`)")
        seen.add(role.id)
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
        if team.digest is not None and team.digest_channel is None:
            problems.add(("teams", team_id, "digest", "channel"), "the digest has nowhere to go; give digest.channel "
                         "(e.g. \"#team-payments\") or the team's slack_channel")
    for policy_id, policy in sections.policies.items():
        for level_index, level in enumerate(policy.levels):
            for target_index, target in enumerate(level.targets):
                if target.schedule and target.schedule not in declared["schedules"]:
                    problems.add(("policies", policy_id, "levels", level_index, "targets", target_index, "schedule"),
                                 f"unknown schedule {target.schedule!r}; {_known('schedules', declared['schedules'])}")
        if policy.then is not None and policy.then not in declared["policies"]:
            problems.add(("policies", policy_id, "then"), f"unknown policy {policy.then!r}; {_known('policies', declared['policies'])}")
    _rule_references(sections, problems)
    _hand_off_cycles(sections.policies, problems)
    return problems.items


def _hand_off_cycles(policies: dict[str, Policy], problems: _Problems) -> None:
    """Each policy on a `then:` cycle is told the cycle, once; linear in the number of policies.

    Following each chain from each policy is quadratic, and with a list for "seen" cubic: 3,000
    chained policies held `check` for minutes. Here every policy is walked once: a chain that
    reaches a policy already settled stops there.
    """
    settled: set[str] = set()
    for start in policies:
        chain: list[str] = []
        on_chain: dict[str, int] = {}
        current: str | None = start
        while current is not None and current in policies and current not in settled:
            if current in on_chain:
                cycle = chain[on_chain[current]:]
                for at, policy_id in enumerate(cycle):
                    loop = cycle[at:at + 8] + cycle[:max(0, at + 8 - len(cycle))]
                    said = " -> ".join(loop + [policy_id]) if len(cycle) <= 8 else f"{' -> '.join(loop)} -> … ({len(cycle)} policies)"
                    problems.add(("policies", policy_id, "then"), f"hand-offs form a cycle: {said}; a ladder must end")
                break
            on_chain[current] = len(chain)
            chain.append(current)
            current = policies[current].then
        settled.update(chain)


_NAME_KIND = {"id": "id", "name": "name"}


def _names_that_collide(sections: _Sections, problems: _Problems) -> None:
    """A name, id or alias may name one service only.

    People pick a service by what they call it and routing pre-selects the service whose name the
    title says; two services both called "login" (in any case or punctuation) are one name to both,
    so neither could ever be picked for it. Compared as routing compares: by `name_key`.
    """
    owner_of: dict[str, tuple[str, tuple[Any, ...]]] = {}
    for index, service in sections.services:
        names = [(("services", index, "id"), service.id.replace("-", " ")), (("services", index, "name"), service.name)]
        names += [(("services", index, "aliases", i), alias) for i, alias in enumerate(service.aliases)]
        for path, name in names:
            key = name_key(name)
            if not key:
                continue
            first = owner_of.setdefault(key, (service.id, path))
            if first[0] != service.id:
                what, theirs = (_NAME_KIND.get(p[2], "alias") for p in (path, first[1]))
                problems.add(path, f"{what} {name!r} already names service {first[0]!r} (its {theirs}, {_dotted(first[1])}); "
                                   "a name, id or alias may name one service only, or people cannot pick either by it")


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
                     {key: names(key) for key in ("severities", "teams", "schedules", "policies", "services")},
                     roles=listed("roles", Role))
