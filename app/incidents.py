"""Use cases: declare, acknowledge, escalate, change severity, resolve.

Each use case is one SQLite transaction that writes the new state, the timeline entries and the
outbox rows for the Slack side effects it implies; delivery happens later, outside it. State
changes are compare-and-swap (a status or version in the WHERE clause), so a double click or a
retried request changes nothing the second time and says so. Where the ladder moves, the pure
engine in `app.escalation` decides and `_apply` records what it decided.
"""

from __future__ import annotations

import json
import re
import sqlite3
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from app import escalation
from app.catalog import Catalog
from app.escalation import Event, State
from app.store import Store, iso, parse_iso
from app.text import escape_mrkdwn

TITLE_MAX = 120
DESCRIPTION_MAX = 2900
CHANNEL_NAME_MAX = 80
STAKEHOLDERS = "stakeholders"  # the `policy` of notify-only pages sent to a service's stakeholders

# Outbox priorities: lower goes first. Pages never wait behind channel housekeeping.
PRIORITY_PAGE = 0
PRIORITY_CHANNEL = 1
PRIORITY_MESSAGE = 3
PRIORITY_REFRESH = 4

NOT_FOUND = "That incident does not exist (any more)."


class InvalidInput(Exception):
    """Bad user input; `errors` maps a form field to a message shown next to that field."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))


@dataclass
class DeclareRequest:
    title: str
    service_id: str | None
    severity_id: str | None
    declared_by: str
    description: str = ""
    private: bool = False
    declared_in: str | None = None
    view_id: str | None = None


@dataclass
class Outcome:
    """What a use case did: `changed` is False when nothing changed, and `message` says why."""

    incident: dict[str, Any] | None
    changed: bool
    message: str = ""
    data: dict[str, Any] = field(default_factory=dict)


def incident_ref(number: int) -> str:
    return f"INC-{number}"


def channel_name_for(number: int, title: str) -> str:
    """Slack's rules: lowercase letters, digits, '-' and '_', at most 80 characters."""
    folded = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode("ascii").lower()
    slug = re.sub(r"[^a-z0-9_]+", "-", folded).strip("-_")
    slug = re.sub(r"-{2,}", "-", slug)
    base = f"inc-{number}"
    if slug:
        base = f"{base}-{slug}"
    return base[:CHANNEL_NAME_MAX].rstrip("-_")


def validate_declare(request: DeclareRequest, catalog: Catalog) -> None:
    errors: dict[str, str] = {}
    title = request.title.strip()
    if not title:
        errors["title"] = "Give the incident a title, e.g. “Bank transfers failing”."
    elif len(title) > TITLE_MAX:
        errors["title"] = f"Keep the title under {TITLE_MAX} characters (it is {len(title)}); put details in the description."
    if not request.service_id:
        errors["service"] = "Pick the affected service, so the right team is paged."
    elif request.service_id not in catalog.services:
        errors["service"] = "That service is no longer in the catalog; pick another."
    if request.severity_id and catalog.severity(request.severity_id) is None:
        errors["severity"] = "That severity is no longer in the catalog; pick another."
    if len(request.description) > DESCRIPTION_MAX:
        errors["description"] = f"Keep the description under {DESCRIPTION_MAX} characters."
    if errors:
        raise InvalidInput(errors)


def _incident_in(conn: sqlite3.Connection, incident_id: int) -> dict[str, Any] | None:
    row = conn.execute("SELECT * FROM incidents WHERE id = ?", (incident_id,)).fetchone()
    return dict(row) if row else None


def _bump(conn: sqlite3.Connection, incident_id: int, now: datetime, **changes: Any) -> dict[str, Any]:
    assignments = ", ".join(f"{column} = ?" for column in changes)
    conn.execute(
        f"UPDATE incidents SET {assignments}{', ' if changes else ''}version = version + 1, updated_at = ? WHERE id = ?",
        (*changes.values(), iso(now), incident_id),
    )
    incident = _incident_in(conn, incident_id)
    assert incident is not None
    return incident


def state_of(conn: sqlite3.Connection, incident: dict[str, Any]) -> tuple[State, int]:
    """The engine's view of an incident's escalation row, and the row's version (for CAS)."""
    row = conn.execute("SELECT * FROM escalations WHERE incident_id = ?", (incident["id"],)).fetchone()
    status = row["state"] if row["state"] in ("active", "waiting", "exhausted", "stopped") else "stopped"
    paged = conn.execute(
        "SELECT MAX(level) AS level FROM pages WHERE incident_id = ? AND policy = ? AND loop = ? AND level >= 0",
        (incident["id"], row["policy"] or incident["policy_id"], row["loop"]),
    ).fetchone()["level"]
    state = State(row["policy"] or incident["policy_id"], row["level"], row["loop"], status, parse_iso(row["due_at"]), paged)
    return state, row["version"]


def _enqueue_refresh(conn: sqlite3.Connection, incident: dict[str, Any], now: datetime) -> None:
    """Re-render the pinned summary and every paging DM from the current state."""
    Store.enqueue(
        conn, now, "refresh", f"refresh:{incident['id']}:{incident['version']}",
        incident_id=incident["id"], priority=PRIORITY_REFRESH,
    )


def _enqueue_channel_message(conn: sqlite3.Connection, incident: dict[str, Any], now: datetime, tag: str, text: str) -> None:
    Store.enqueue(
        conn, now, "post_message", f"message:{incident['id']}:{tag}:{incident['version']}",
        incident_id=incident["id"], payload={"text": text}, priority=PRIORITY_MESSAGE,
        depends_on=f"create_channel:{incident['id']}",
    )


def insert_page(conn: sqlite3.Connection, incident_id: int, now: datetime, policy: str, level: int, loop: int,
                 ref: str, kind: str, via: str, notify_only: bool, requested_by: str | None) -> None:
    """A page row and its outbox row, once per (incident, policy, level, loop, target)."""
    cursor = conn.execute(
        "INSERT INTO pages(incident_id, policy, level, loop, target, via, notify_only, requested_by, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        (incident_id, policy, level, loop, ref, via, int(notify_only), requested_by, iso(now)),
    )
    if cursor.rowcount == 1:
        Store.enqueue(
            conn, now, "page", f"page:{incident_id}:{policy}:{level}:{loop}:{ref.lower()}",
            incident_id=incident_id, payload={"page_id": cursor.lastrowid, "kind": kind}, priority=PRIORITY_PAGE,
        )


def _level_name(incident: dict[str, Any], event: Event) -> str:
    name = f"Level {event.level + 1}"
    return name if event.policy == incident["policy_id"] else f"{name} of policy {event.policy}"


def _apply(conn: sqlite3.Connection, incident: dict[str, Any], state: State, events: list[Event], now: datetime,
           actor: str | None, reason: str) -> None:
    """Record what the engine decided: pages and their outbox rows, timeline entries, the new state."""
    iid = incident["id"]
    for event in events:
        data = {"policy": event.policy, "level": event.level, "loop": event.loop}
        for gap in event.gaps:
            Store.add_timeline(conn, iid, now, "gap", f"{_level_name(incident, event)}: {gap}.", data=data)
        if event.kind == "paged":
            for target in event.targets:
                insert_page(conn, iid, now, event.policy, event.level, event.loop, target.ref, target.kind, target.via,
                             event.notify_only, actor)
            verb = "Notifying" if event.notify_only else "Paging"
            names = ", ".join(escape_mrkdwn(t.ref) for t in event.targets)
            Store.add_timeline(conn, iid, now, "level_paged", f"{verb} {_level_name(incident, event).lower()} ({reason}): {names}.",
                               actor=actor, data={**data, "targets": [t.ref for t in event.targets]})
        elif event.kind == "skipped":
            Store.add_timeline(conn, iid, now, "level_skipped",
                               f"{_level_name(incident, event)} skipped: it resolves to nobody right now.", data=data)
        elif event.kind == "waiting":
            Store.add_timeline(conn, iid, now, "level_waiting",
                               f"{_level_name(incident, event)} resolves to nobody right now; waiting it out before the next level.", data=data)
        elif event.kind == "repeat":
            Store.add_timeline(conn, iid, now, "repeat", f"End of the policy: starting again from level 1 ({event.detail}).", data=data)
        elif event.kind == "handoff":
            Store.add_timeline(conn, iid, now, "handoff", f"Policy {event.policy} is exhausted: {event.detail}.", data=data)
        elif event.kind == "exhausted":
            text = ("Nobody could be paged: every level resolves to nobody right now." if state.paged_level is None
                    else f"The ladder is exhausted: the incident stays with level {event.level + 1}.")
            Store.add_timeline(conn, iid, now, "exhausted", text, data=data)
    paged = any(e.kind == "paged" for e in events)
    conn.execute(
        "UPDATE escalations SET policy = ?, level = ?, loop = ?, state = ?, due_at = ?, "
        "paged_at = CASE WHEN ? THEN ? ELSE paged_at END, version = version + 1 WHERE incident_id = ?",
        (state.policy, state.level, state.loop, state.status, iso(state.due_at) if state.due_at else None,
         int(paged), iso(now), iid),
    )


def _notify_stakeholders(conn: sqlite3.Connection, catalog: Catalog, incident: dict[str, Any], now: datetime) -> None:
    """Tell, don't page: a service's stakeholders hear about it without being handed the incident."""
    service = catalog.services[incident["service_id"]]
    for stakeholder in service.stakeholders:
        if stakeholder.channel:
            if not incident["private"]:
                Store.enqueue(conn, now, "announce", f"announce:{incident['id']}:{stakeholder.channel}", incident_id=incident["id"],
                              payload={"channel": stakeholder.channel}, priority=PRIORITY_MESSAGE,
                              depends_on=f"create_channel:{incident['id']}")
            continue
        ref = stakeholder.user or stakeholder.user_group or ""
        kind = "person" if stakeholder.user else "user_group"
        insert_page(conn, incident["id"], now, STAKEHOLDERS, -1, 0, ref, kind, f"stakeholder of {service.name}", True, None)


def declare(store: Store, catalog: Catalog, request: DeclareRequest, now: datetime) -> Outcome:
    """Record the incident, snapshot its policy, page level 1 and queue the channel, all at once."""
    validate_declare(request, catalog)
    severity = catalog.severity(request.severity_id) if request.severity_id else catalog.default_severity()
    assert severity is not None
    service = catalog.services[request.service_id or ""]
    team_id, team = catalog.team_for_service(service.id)
    policy_id, why = catalog.choose_policy(team_id, severity.id, now)
    snapshot = escalation.snapshot_policy(catalog, policy_id)
    title = request.title.strip()

    with store.transaction() as conn:
        if request.view_id:
            existing = conn.execute("SELECT * FROM incidents WHERE declare_view_id = ?", (request.view_id,)).fetchone()
            if existing is not None:
                return Outcome(dict(existing), False, "This form was already submitted.")
        number = conn.execute("SELECT COALESCE(MAX(number), 0) + 1 AS n FROM incidents").fetchone()["n"]
        cursor = conn.execute(
            """INSERT INTO incidents(number, title, description, service_id, service_name, team_id, team_name,
                 severity, private, status, declared_by, declared_at, declared_in, declare_view_id,
                 policy_id, policy_snapshot, catalog_digest, updated_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'triggered', ?, ?, ?, ?, ?, ?, ?, ?)""",
            (
                number, title, request.description.strip(), service.id, service.name, team_id, team.name,
                severity.id, int(request.private), request.declared_by, iso(now), request.declared_in,
                request.view_id, policy_id, json.dumps(snapshot), catalog.digest, iso(now),
            ),
        )
        incident_id = cursor.lastrowid
        conn.execute("INSERT INTO escalations(incident_id, policy, level, loop, state) VALUES (?, ?, 0, 0, 'active')",
                     (incident_id, policy_id))
        incident = _incident_in(conn, incident_id)
        assert incident is not None
        Store.add_timeline(
            conn, incident_id, now, "declared",
            f"Declared by <@{request.declared_by}>: {severity.label}, service {service.name} (team {team.name}).",
            actor=request.declared_by, data={"severity": severity.id, "service": service.id, "policy": policy_id},
        )
        Store.add_timeline(conn, incident_id, now, "policy", f"Escalation policy {policy_id}: {why}.", data={"policy": policy_id})
        state, events = escalation.start(snapshot, now, catalog.schedules)
        _apply(conn, incident, state, events, now, None, "declared")
        _notify_stakeholders(conn, catalog, incident, now)

        channel_key = f"create_channel:{incident_id}"
        Store.enqueue(
            conn, now, "create_channel", channel_key, incident_id=incident_id, priority=PRIORITY_CHANNEL,
            payload={"name": channel_name_for(number, title), "private": bool(request.private)},
        )
        for kind in ("set_topic", "post_summary"):
            Store.enqueue(conn, now, kind, f"{kind}:{incident_id}", incident_id=incident_id,
                          priority=PRIORITY_CHANNEL, depends_on=channel_key)
        Store.enqueue(conn, now, "pin_summary", f"pin_summary:{incident_id}", incident_id=incident_id,
                      priority=PRIORITY_CHANNEL, depends_on=f"post_summary:{incident_id}")
        Store.enqueue(conn, now, "invite", f"invite:{incident_id}:{request.declared_by}", incident_id=incident_id,
                      payload={"user_id": request.declared_by}, priority=PRIORITY_CHANNEL, depends_on=channel_key)
        if team.slack_channel and not request.private:
            Store.enqueue(conn, now, "announce", f"announce:{incident_id}:{team.slack_channel}", incident_id=incident_id,
                          payload={"channel": team.slack_channel}, priority=PRIORITY_MESSAGE, depends_on=channel_key)
        incident = _incident_in(conn, incident_id)
    paged_level = state.level if any(e.kind == "paged" for e in events) else None
    return Outcome(incident, True, f"{incident_ref(number)} declared.", {"paged_level": paged_level})


def _cancel_pending_pages(conn: sqlite3.Connection, incident_id: int, reason: str) -> None:
    """Nothing pages after an acknowledgement or a resolution (stakeholder notices still go)."""
    conn.execute(
        "UPDATE outbox SET status = 'cancelled', last_error = ? WHERE incident_id = ? AND kind = 'page' AND status = 'pending' "
        "AND json_extract(payload, '$.page_id') IN (SELECT id FROM pages WHERE incident_id = ? AND notify_only = 0)",
        (reason, incident_id, incident_id),
    )
    conn.execute(
        "UPDATE pages SET status = 'cancelled' WHERE incident_id = ? AND status = 'pending' AND notify_only = 0 AND id NOT IN "
        "(SELECT json_extract(payload, '$.page_id') FROM outbox WHERE incident_id = ? AND kind = 'page' AND status IN ('sending', 'sent'))",
        (incident_id, incident_id),
    )


def acknowledge(store: Store, incident_id: int, user_id: str, now: datetime) -> Outcome:
    with store.transaction() as conn:
        incident = _incident_in(conn, incident_id)
        if incident is None:
            return Outcome(None, False, NOT_FOUND)
        ref = incident_ref(incident["number"])
        if incident["status"] == "resolved":
            return Outcome(incident, False, f"{ref} is already resolved.")
        if incident["status"] == "acknowledged":
            who = incident["acknowledged_by"]
            return Outcome(incident, False, f"{ref} was already acknowledged by <@{who}>.")
        changed = conn.execute(
            "UPDATE incidents SET status = 'acknowledged', acknowledged_by = ?, acknowledged_at = ? "
            "WHERE id = ? AND status = 'triggered'",
            (user_id, iso(now), incident_id),
        ).rowcount
        if not changed:  # BEGIN IMMEDIATE serialises writers; this is the compare-and-swap guard all the same
            return Outcome(incident, False, f"{ref} changed while you clicked; try again.")
        conn.execute("UPDATE escalations SET state = 'stopped', due_at = NULL, version = version + 1 WHERE incident_id = ?", (incident_id,))
        conn.execute(
            "UPDATE pages SET acknowledged_at = ? WHERE incident_id = ? AND user_id = ? AND acknowledged_at IS NULL",
            (iso(now), incident_id, user_id),
        )
        _cancel_pending_pages(conn, incident_id, f"acknowledged by {user_id}")
        incident = _bump(conn, incident_id, now)
        declared = parse_iso(incident["declared_at"])
        assert declared is not None
        seconds = int((now - declared).total_seconds())
        Store.add_timeline(conn, incident_id, now, "acknowledged", f"Acknowledged by <@{user_id}> after {seconds}s.",
                           actor=user_id, data={"seconds_to_ack": seconds})
        _enqueue_channel_message(conn, incident, now, "ack", f":white_check_mark: <@{user_id}> acknowledged {ref}. The escalation clock is stopped.")
        _enqueue_refresh(conn, incident, now)
    return Outcome(incident, True, f"You acknowledged {ref}.")


def change_severity(store: Store, catalog: Catalog, incident_id: int, severity_id: str, user_id: str, now: datetime) -> Outcome:
    severity = catalog.severity(severity_id)
    if severity is None:
        return Outcome(None, False, "That severity is no longer in the catalog.")
    with store.transaction() as conn:
        incident = _incident_in(conn, incident_id)
        if incident is None:
            return Outcome(None, False, NOT_FOUND)
        ref = incident_ref(incident["number"])
        if incident["status"] == "resolved":
            return Outcome(incident, False, f"{ref} is resolved; its severity can no longer change.")
        if incident["severity"] == severity_id:
            return Outcome(incident, False, f"{ref} is already {severity.label}.")
        old_id = incident["severity"]
        old = catalog.severity(old_id)
        old_label = old.label if old else old_id
        incident = _bump(conn, incident_id, now, severity=severity_id)
        Store.add_timeline(conn, incident_id, now, "severity_changed",
                           f"Severity changed from {old_label} to {severity.label} by <@{user_id}>.",
                           actor=user_id, data={"from": old_id, "to": severity_id})
        _enqueue_channel_message(conn, incident, now, "severity",
                                 f":rotating_light: <@{user_id}> changed the severity of {ref} from {old_label} to *{severity.label}*.")
        _enqueue_refresh(conn, incident, now)
    return Outcome(incident, True, f"{ref} is now {severity.label}.")


def resolve(store: Store, incident_id: int, user_id: str, note: str, now: datetime) -> Outcome:
    with store.transaction() as conn:
        incident = _incident_in(conn, incident_id)
        if incident is None:
            return Outcome(None, False, NOT_FOUND)
        ref = incident_ref(incident["number"])
        if incident["status"] == "resolved":
            return Outcome(incident, False, f"{ref} was already resolved by <@{incident['resolved_by']}>.")
        note = note.strip()
        conn.execute("UPDATE escalations SET state = 'stopped', due_at = NULL, version = version + 1 WHERE incident_id = ?", (incident_id,))
        _cancel_pending_pages(conn, incident_id, f"resolved by {user_id}")
        incident = _bump(conn, incident_id, now, status="resolved", resolved_by=user_id, resolved_at=iso(now), resolution_note=note)
        Store.add_timeline(conn, incident_id, now, "resolved", f"Resolved by <@{user_id}>." + (f" Note: {escape_mrkdwn(note)}" if note else ""),
                           actor=user_id, data={"note": note})
        Store.enqueue(
            conn, now, "post_message", f"message:{incident_id}:resolved", incident_id=incident_id,
            payload={"resolution": True}, priority=PRIORITY_MESSAGE, depends_on=f"create_channel:{incident_id}",
        )
        _enqueue_refresh(conn, incident, now)
    return Outcome(incident, True, f"{ref} is resolved.")


def escalate_next(
    store: Store, catalog: Catalog, incident_id: int, user_id: str, reason: str, now: datetime,
    expected_escalation_version: int | None = None,
) -> Outcome:
    """Page the next level of the snapshot now. Additive: whoever acknowledged keeps the incident."""
    with store.transaction() as conn:
        incident = _incident_in(conn, incident_id)
        if incident is None:
            return Outcome(None, False, NOT_FOUND)
        ref = incident_ref(incident["number"])
        if incident["status"] == "resolved":
            return Outcome(incident, False, f"{ref} is resolved; there is nobody left to escalate to. Declare a new incident if it is back.")
        state, version = state_of(conn, incident)
        if expected_escalation_version is not None and version != expected_escalation_version:
            return Outcome(incident, False, f"{ref} was escalated by someone else while you had the form open; nothing more was paged.")
        snapshot = json.loads(incident["policy_snapshot"])
        if state.level + 1 >= escalation.level_count(snapshot, state.policy):
            return Outcome(incident, False, f"{ref} is already at the last level of the {state.policy} policy; nobody further up to page.")
        new_state, events = escalation.escalate_now(snapshot, state, now, catalog.schedules)
        if not any(e.kind == "paged" for e in events):
            return Outcome(incident, False, f"Every level above the current one of {ref} resolves to nobody right now; nobody was paged.")
        reason = reason.strip()
        Store.add_timeline(conn, incident_id, now, "escalated", f"Escalated by <@{user_id}>" + (f": {escape_mrkdwn(reason)}" if reason else "."),
                           actor=user_id, data={"reason": reason})
        if incident["status"] == "acknowledged":
            new_state = escalation.stopped(new_state)  # additive: the acknowledger keeps it and no timer restarts
        _apply(conn, incident, new_state, events, now, user_id, f"escalated by <@{user_id}>")
        incident = _bump(conn, incident_id, now)
        text = f":arrow_double_up: <@{user_id}> escalated {ref} to level {new_state.level + 1}" + (f": {escape_mrkdwn(reason)}" if reason else ".")
        _enqueue_channel_message(conn, incident, now, "escalate", text)
        _enqueue_refresh(conn, incident, now)
    return Outcome(incident, True, f"Escalated {ref} to level {new_state.level + 1}.", {"level": new_state.level})
