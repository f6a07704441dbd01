"""Small catalogs for the unit tests, parsed with the pure `parse_catalog` (no files, no database).

The moments the tests use (all UTC, no DST in play):
- MONDAY 2026-11-23 10:00: alice is on call for `primary` (weekly MON 09:00 hand-offs since
  2026-01-05, alice first: 46 hand-offs later it is alice again); heidi covers `office`.
- SATURDAY_NIGHT 2026-11-28 03:00: still alice for `primary`; nobody for `office`
  (weekdays 09:00-17:00 only).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from functools import lru_cache

from app.catalog import Catalog, parse_catalog
from app.escalation import Snapshot

MONDAY = datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)
SATURDAY_NIGHT = datetime(2026, 11, 28, 3, 0, tzinfo=timezone.utc)

_HEADER = """
severities:
  - {id: sev1, label: "SEV1 · Critical", rank: 1}
  - {id: sev2, label: "SEV2 · Major", rank: 2}
  - {id: sev3, label: "SEV3 · Minor", rank: 3}
"""

ESCALATION_YAML = _HEADER + """
teams:
  payments: {name: Payments, escalation_policy: payments}
services:
  - {id: bank-transfers, name: Bank transfers, owner: payments}
schedules:
  primary:
    timezone: UTC
    rotation: {members: [alice@example.com, bob@example.com], handoff: "0 9 * * MON", start: "2026-01-05T09:00"}
  office:
    timezone: UTC
    rotation: {members: [heidi@example.com], restrictions: [{days: [mon, tue, wed, thu, fri], start: "09:00", end: "17:00"}]}
policies:
  payments:
    repeat: 1
    ack_timeout: 30m
    levels:
      - {targets: [{schedule: primary}], escalate_after: 5m}
      - {targets: [{user: dana@example.com}], escalate_after: 10m}
  nights:
    levels:
      - {targets: [{schedule: office}], escalate_after: 5m}
      - {targets: [{user: oscar@example.com}], escalate_after: 10m}
  patient:
    levels:
      - {targets: [{schedule: office}], escalate_after: 5m, when_empty: wait}
      - {targets: [{user: oscar@example.com}], escalate_after: 10m}
  critical:
    levels:
      - {targets: [{user: mallory@example.com}], escalate_after: 5m}
      - {targets: [{user: dana@example.com}, {user: judy@example.com}], escalate_after: 5m}
    then: leadership
  leadership:
    levels:
      - {targets: [{user: walter@example.com}], escalate_after: 10m}
  heads-up:
    levels:
      - {targets: [{user: alice@example.com}], escalate_after: 5m}
      - {targets: [{user: quinn@example.com}], escalate_after: 2m, notify_only: true}
      - {targets: [{user: dana@example.com}], escalate_after: 5m}
      - {targets: [{user: quinn@example.com}], escalate_after: 1m, notify_only: true}
  office-only:
    repeat: 2
    levels:
      - {targets: [{schedule: office}], escalate_after: 5m}
  office-late:
    levels:
      - {targets: [{user: oscar@example.com}], escalate_after: 5m}
      - {targets: [{schedule: office}], escalate_after: 5m}
"""

# The same schedules, with an override on `primary` added since (zed covers all of November 2026).
ESCALATION_WITH_OVERRIDE_YAML = ESCALATION_YAML.replace(
    'handoff: "0 9 * * MON", start: "2026-01-05T09:00"}',
    'handoff: "0 9 * * MON", start: "2026-01-05T09:00"}\n'
    '    overrides: [{user: zed@example.com, start: "2026-11-01T00:00", end: "2026-12-01T00:00"}]',
)

RULES_YAML = _HEADER + """
teams:
  payments:
    name: Payments
    timezone: Europe/London
    working_hours: {days: [mon, tue, wed, thu, fri], start: "09:00", end: "18:00"}
    escalation_policy: only
    rules:
      - {id: payments-nights, when: {open_for: 1m}, if: {working_hours: outside}, do: nudge, say: "Night-time incident."}
  identity:
    name: Identity
    escalation_policy: only
services:
  - id: bank-transfers
    name: Bank transfers
    owner: payments
    tier: 1
  - id: login
    name: Login
    owner: identity
    tier: 3
    rules:
      - {id: login-declared, when: {declared: true}, do: nudge, say: "Login is down."}
policies:
  only:
    levels:
      - {targets: [{user: dana@example.com}], escalate_after: 5m}
rules:
  - {id: sev1-declared, when: {declared: true}, if: {severity_at_least: sev1}, do: nudge, say: "Who leads?"}
  - {id: raised-sev2, when: {severity_changed: {at_least: sev2}}, do: nudge}
  - {id: raised-to-sev1, when: {severity_changed: {to: sev1}}, do: nudge}
  - {id: sev1-unacked, when: {unacknowledged_for: 5m}, if: {severity_at_least: sev1}, do: escalate}
  - {id: tier1-open, when: {open_for: 2h}, if: {tier: [1]}, do: nudge}
  - {id: acked-1h, when: {acknowledged_for: 1h}, do: nudge}
  - {id: silence, when: {no_update_for: 30m}, if: {severity: [sev1, sev2]}, do: remind_update, every: 30m}
  - {id: no-lead, when: {lead_unassigned_for: 15m}, if: {private: false}, do: nudge}
  - {id: identity-only, when: {open_for: 10m}, if: {team: [identity]}, do: nudge}
  - {id: transfers-only, when: {open_for: 10m}, if: {service: [bank-transfers]}, do: nudge}
  - {id: office-hours, when: {open_for: 10m}, if: {working_hours: within}, do: nudge}
"""


@lru_cache(maxsize=None)
def catalog(text: str) -> Catalog:
    """Parse once per text: catalogs are immutable, and validation is the slow part of a unit test."""
    return parse_catalog(text, "<unit>")


def snap(policy_id: str) -> Snapshot:
    """A policy of ESCALATION_YAML, snapshotted as a declaration would."""
    return Snapshot.from_catalog(catalog(ESCALATION_YAML), policy_id)


def at(minutes: float, base: datetime = MONDAY) -> datetime:
    return base + timedelta(minutes=minutes)
