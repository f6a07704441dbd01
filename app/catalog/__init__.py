"""The catalog file: who owns which business service, who is on call, how pages climb.

Loaded from YAML and validated with pydantic. Every problem is reported with the file, the line
and the dotted path of the field, because a catalog mistake is otherwise found at 2 a.m. The
loader collects *all* problems rather than stopping at the first, so one `check` run shows them
all. The full format is documented in docs/catalog.md.

The package, from the bottom up (each module imports only the ones above it):

- `fields`: limits (MAX_LEVELS, MIN_ACK_TIMEOUT…), parse_duration/format_duration, and the
  validators the models share (clock times, zones, people, Slack IDs) with pydantic's messages
  reworded in the catalog's terms.
- `rule_schema`: the models of a rule (Trigger, Conditions, EscalateTo, Rule).
- `schema`: the other models (Severity, Team, Service, Schedule, Policy…) and CatalogModel, the
  whole file.
- `lookups`: Catalog (a validated catalog and its lookups: severity(), default_severity(),
  team_for_service(), choose_policy()…), ScopedRule, CatalogIssue and CatalogError.
- `checks`: the cross-reference checks pydantic cannot do field by field.
- `loader`: reading the YAML with line numbers; parse_catalog and load_catalog.
- `lint`: warnings about a valid catalog (a policy that reaches nobody at some hours).
- `watch`: hot reload of the catalog file in the running bot.

`lint` and `watch` are not imported here: lint needs app.oncall, which imports this package, so
import them as `app.catalog.lint` and `app.catalog.watch`.
"""

from app.catalog.fields import (
    MAX_LEVELS,
    MAX_REPEAT,
    MAX_TARGETS,
    MIN_ACK_TIMEOUT,
    MIN_TIMEOUT_ONE_TARGET,
    MIN_TIMEOUT_SEVERAL_TARGETS,
    REARM_NOTICE,
    WEEKDAYS,
    Weekday,
    format_duration,
    is_person_ref,
    parse_duration,
)
from app.catalog.loader import load_catalog, parse_catalog
from app.catalog.lookups import Catalog, CatalogError, CatalogIssue, ScopedRule
from app.catalog.rule_schema import Conditions, EscalateTo, Rule, Trigger
from app.catalog.schema import (
    CatalogModel,
    Layer,
    Level,
    Override,
    Policy,
    PolicyChoice,
    Schedule,
    Service,
    Severity,
    SimpleHandoff,
    Stakeholder,
    Target,
    Team,
    Window,
)

__all__ = [
    "MAX_LEVELS", "MAX_REPEAT", "MAX_TARGETS", "MIN_ACK_TIMEOUT", "MIN_TIMEOUT_ONE_TARGET",
    "MIN_TIMEOUT_SEVERAL_TARGETS", "REARM_NOTICE", "WEEKDAYS", "Weekday",
    "format_duration", "is_person_ref", "parse_duration",
    "Conditions", "EscalateTo", "Rule", "Trigger",
    "CatalogModel", "Layer", "Level", "Override", "Policy", "PolicyChoice", "Schedule", "Service",
    "Severity", "SimpleHandoff", "Stakeholder", "Target", "Team", "Window",
    "Catalog", "CatalogError", "CatalogIssue", "ScopedRule",
    "load_catalog", "parse_catalog",
]
