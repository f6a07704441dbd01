"""Use cases: declare, acknowledge, escalate, change severity, resolve.

Each use case is one SQLite transaction that writes the new state, the timeline entries and the
outbox rows for the Slack side effects it implies; delivery happens later, outside it. State
changes are compare-and-swap (a status or version in the WHERE clause), so a double click or a
retried request changes nothing the second time and says so.

An incident escalates along *tracks*: the main ladder of the owning team, plus one track per
team or person a responder escalated to. Additive escalation never takes the incident from
whoever owns it; each track climbs its own policy until someone on it acknowledges. Where a
ladder moves, the pure engine in `app.escalation` decides and `apply_events` records it.
"""

from __future__ import annotations

import json
import re
import sqlite3
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from app import escalation, rules
from app.catalog import Catalog, format_duration
from app.escalation import Event, State
from app.store import Store, iso, parse_iso
from app.text import escape_mrkdwn

TITLE_MAX = 120
DESCRIPTION_MAX = 2900
CHANNEL_NAME_MAX = 80
MAIN = "main"
STAKEHOLDERS = "stakeholders"  # the track of notify-only notices sent to a service's stakeholders
PERSON_TIMEOUT = 600  # a named person paged additively: how long before the channel hears nobody answered

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


# -- rows --------------------------------------------------------------------------------------------

def incident_in(conn: sqlite3.Connection, incident_id: int) -> dict[str, Any] | None:
    row = conn.execute("SELECT * FROM incidents WHERE id = ?", (incident_id,)).fetchone()
    return dict(row) if row else None


def bump_incident(conn: sqlite3.Connection, incident_id: int, now: datetime, **changes: Any) -> dict[str, Any]:
    assignments = ", ".join(f"{column} = ?" for column in changes)
    conn.execute(
        f"UPDATE incidents SET {assignments}{', ' if changes else ''}version = version + 1, updated_at = ? WHERE id = ?",
        (*changes.values(), iso(now), incident_id),
    )
    incident = incident_in(conn, incident_id)
    assert incident is not None
    return incident


def _tracks_of(conn: sqlite3.Connection, incident_id: int) -> list[dict[str, Any]]:
    rows = conn.execute("SELECT * FROM tracks WHERE incident_id = ? ORDER BY track != 'main', id", (incident_id,))
    return [dict(r) for r in rows]


def awaits_own_acknowledgement(track: dict[str, Any] | None) -> bool:
    """An additive track (a team or person escalated to) still paging: its pages want their own acknowledgement,
    even when the incident itself is acknowledged."""
    return track is not None and track["track"] != MAIN and track["state"] in ("active", "waiting")


def track_state(conn: sqlite3.Connection, track: dict[str, Any]) -> State:
    """The engine's view of a track row."""
    paged = conn.execute(
        "SELECT MAX(level) AS level FROM pages WHERE incident_id = ? AND track = ? AND round = ? AND policy = ? AND loop = ?",
        (track["incident_id"], track["track"], track["round"], track["policy"], track["loop"]),
    ).fetchone()["level"]
    status = track["state"] if track["state"] in ("active", "waiting", "exhausted") else "stopped"
    return State(track["policy"], track["level"], track["loop"], status, parse_iso(track["due_at"]), paged)


def save_track(conn: sqlite3.Connection, track: dict[str, Any], *, state: str, due_at: datetime | None = None,
               paged_at: datetime | None = None, **changes: Any) -> bool:
    """Compare-and-swap on the track's version: False when someone moved it first (nothing written)."""
    columns = {"state": state, "due_at": iso(due_at) if due_at else None, **changes}
    if paged_at is not None:
        columns["paged_at"] = iso(paged_at)
    assignments = ", ".join(f"{c} = ?" for c in columns)
    cursor = conn.execute(
        f"UPDATE tracks SET {assignments}, version = version + 1 WHERE id = ? AND version = ?",
        (*columns.values(), track["id"], track["version"]),
    )
    return cursor.rowcount == 1


PAGE_AGAIN_AFTER = 60  # seconds: two ladders reaching the same person in the same minute page them once


def insert_page(conn: sqlite3.Connection, incident_id: int, now: datetime, track: str, policy: str, level: int, loop: int,
                ref: str, kind: str, via: str, notify_only: bool, requested_by: str | None, round_: int = 0) -> None:
    """A page row and its outbox row, once per (incident, track, round, policy, level, loop, target).

    A person already paged for this incident within the last minute (by another track, say the
    policy's hand-off and a rule escalating to the same team) is not paged again; the timeline says so.
    """
    if not notify_only:
        # The same person may be named by e-mail on one ladder and by Slack ID on another.
        recent = conn.execute(
            "SELECT track, user_id FROM pages WHERE incident_id = ? AND notify_only = 0 AND acknowledged_at IS NULL "
            "AND status IN ('pending', 'sending', 'sent') AND created_at >= ? "
            "AND (lower(target) = lower(?) OR user_id = ? OR user_id = (SELECT user_id FROM slack_users WHERE ref = lower(?)) "
            "     OR lower(target) IN (SELECT ref FROM slack_users WHERE user_id = ?))",
            (incident_id, iso(now - timedelta(seconds=PAGE_AGAIN_AFTER)), ref, ref, ref, ref),
        ).fetchone()
        if recent is not None:
            # Still a page of this track (its ladder reached them; their acknowledgement stops it), just not a second DM.
            user_id = recent["user_id"] or (ref if "@" not in ref else None)
            conn.execute(
                "INSERT INTO pages(incident_id, track, round, policy, level, loop, target, via, notify_only, requested_by, created_at, "
                "status, user_id, sent_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, 'merged', ?, ?) ON CONFLICT DO NOTHING",
                (incident_id, track, round_, policy, level, loop, ref, via, requested_by, iso(now), user_id, iso(now)),
            )
            Store.add_timeline(conn, incident_id, now, "page_merged", f"{escape_mrkdwn(ref)} was paged for this incident less than a minute "
                               f"ago ({recent['track']}); not sending a second page for {track}.", data={"target": ref, "track": track})
            return
    cursor = conn.execute(
        "INSERT INTO pages(incident_id, track, round, policy, level, loop, target, via, notify_only, requested_by, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        (incident_id, track, round_, policy, level, loop, ref, via, int(notify_only), requested_by, iso(now)),
    )
    if cursor.rowcount == 1:
        Store.enqueue(
            conn, now, "page", f"page:{incident_id}:{track}:{round_}:{policy}:{level}:{loop}:{ref.lower()}",
            incident_id=incident_id, payload={"page_id": cursor.lastrowid, "kind": kind}, priority=PRIORITY_PAGE,
        )


# -- rule timers --------------------------------------------------------------------------------------

def sync_rule_timers(conn: sqlite3.Connection, catalog: Catalog, incident: dict[str, Any]) -> None:
    """Create the timers of every rule that can apply to this incident, due when each next fires."""
    facts = rules.Facts.of(incident)
    for scoped in catalog.rules:
        if not rules.in_scope(scoped, facts, catalog):
            continue
        conn.execute("INSERT INTO rule_timers(incident_id, rule_id) VALUES (?, ?) ON CONFLICT DO NOTHING", (incident["id"], scoped.rule.id))
        timer = dict(conn.execute("SELECT * FROM rule_timers WHERE incident_id = ? AND rule_id = ?", (incident["id"], scoped.rule.id)).fetchone())
        due = rules.next_due(scoped, facts, rules.Memory.of(timer), catalog)
        conn.execute("UPDATE rule_timers SET due_at = ?, version = version + 1 WHERE id = ?", (iso(due[0]) if due else None, timer["id"]))


def touch_rule_timers(conn: sqlite3.Connection, incident_id: int, now: datetime) -> None:
    """The incident changed: let the next tick re-evaluate its rules (they may now fire, wait longer, or never)."""
    conn.execute("UPDATE rule_timers SET due_at = ?, version = version + 1 WHERE incident_id = ? AND dismissed_by IS NULL",
                 (iso(now), incident_id))


# -- outbox helpers ---------------------------------------------------------------------------------

def enqueue_refresh(conn: sqlite3.Connection, incident: dict[str, Any], now: datetime, tag: str | None = None) -> None:
    """Re-render the pinned summary and every paging DM from the current state."""
    Store.enqueue(conn, now, "refresh", f"refresh:{incident['id']}:{tag or incident['version']}",
                  incident_id=incident["id"], priority=PRIORITY_REFRESH)


def enqueue_channel_message(conn: sqlite3.Connection, incident: dict[str, Any], now: datetime, tag: str, text: str,
                            actions: list[str] | None = None, rule: str | None = None) -> None:
    """A message in the incident channel; `actions` adds buttons (e.g. ["escalate"]), `rule` says which rule's."""
    payload: dict[str, Any] = {"text": text}
    if actions:
        payload["actions"] = actions
    if rule:
        payload["rule"] = rule
    Store.enqueue(conn, now, "post_message", f"message:{incident['id']}:{tag}",
                  incident_id=incident["id"], payload=payload, priority=PRIORITY_MESSAGE,
                  depends_on=f"create_channel:{incident['id']}")


# -- applying the engine's decisions -------------------------------------------------------------------

def _level_name(track: dict[str, Any], snapshot_root: str, event: Event) -> str:
    name = f"level {event.level + 1}" if event.policy == snapshot_root else f"level {event.level + 1} of policy {event.policy}"
    return name if track["track"] == MAIN else f"{track['label']}: {name}"


def apply_events(conn: sqlite3.Connection, incident: dict[str, Any], track: dict[str, Any], state: State, events: list[Event],
                 now: datetime, actor: str | None, reason: str, timer: tuple[str, datetime | None] | None = None) -> bool:
    """Record what the engine decided for one track: pages, timeline entries, the new state (CAS).

    `timer` keeps the track's own (state, due_at) instead of the engine's: an additive page on an
    acknowledged incident moves the ladder's position but must not restart its clock.
    """
    iid = incident["id"]
    root = json.loads(track["snapshot"])["policy_id"]
    for event in events:
        data = {"track": track["track"], "policy": event.policy, "level": event.level, "loop": event.loop}
        name = _level_name(track, root, event)
        for gap in event.gaps:
            Store.add_timeline(conn, iid, now, "gap", f"{name[0].upper()}{name[1:]}: {gap}.", data=data)
        if event.kind == "paged":
            for target in event.targets:
                insert_page(conn, iid, now, track["track"], event.policy, event.level, event.loop, target.ref, target.kind,
                            target.via, event.notify_only, track["requested_by"] or actor, track["round"])
            verb = "Notifying" if event.notify_only else "Paging"
            names = ", ".join(escape_mrkdwn(t.ref) for t in event.targets)
            Store.add_timeline(conn, iid, now, "level_paged", f"{verb} {name} ({reason}): {names}.",
                               actor=actor, data={**data, "targets": [t.ref for t in event.targets]})
        elif event.kind == "skipped":
            Store.add_timeline(conn, iid, now, "level_skipped", f"Skipped {name}: it resolves to nobody right now.", data=data)
        elif event.kind == "waiting":
            Store.add_timeline(conn, iid, now, "level_waiting", f"Waiting on {name}: it resolves to nobody right now.", data=data)
        elif event.kind == "repeat":
            Store.add_timeline(conn, iid, now, "repeat", f"End of the policy: starting again from level 1 ({event.detail}).", data=data)
        elif event.kind == "handoff":
            Store.add_timeline(conn, iid, now, "handoff", f"Policy {event.policy} is exhausted: {event.detail}.", data=data)
        elif event.kind == "exhausted":
            who = "the incident" if track["track"] == MAIN else track["label"]
            text = (f"Nobody could be paged for {who}: every level resolves to nobody right now." if state.paged_level is None
                    else f"The ladder is exhausted for {who}: nobody acknowledged; it stays with {name}.")
            Store.add_timeline(conn, iid, now, "exhausted", text, data=data)
    paged = any(e.kind == "paged" for e in events)
    status, due_at = timer if timer is not None else (state.status, state.due_at)
    return save_track(conn, track, state=status, due_at=due_at, paged_at=now if paged else None,
                      policy=state.policy, level=state.level, loop=state.loop)


def _new_track(conn: sqlite3.Connection, incident_id: int, key: str, label: str, snapshot: dict[str, Any], now: datetime,
               requested_by: str | None = None, reason: str = "") -> dict[str, Any]:
    """A new escalation track; `label` is mrkdwn-safe already (an escaped team name, or a mention)."""
    conn.execute(
        "INSERT INTO tracks(incident_id, track, label, snapshot, policy, state, requested_by, reason, created_at) "
        "VALUES (?, ?, ?, ?, ?, 'active', ?, ?, ?)",
        (incident_id, key, label, json.dumps(snapshot), snapshot["policy_id"], requested_by, reason, iso(now)),
    )
    row = conn.execute("SELECT * FROM tracks WHERE incident_id = ? AND track = ?", (incident_id, key)).fetchone()
    return dict(row)


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
        insert_page(conn, incident["id"], now, STAKEHOLDERS, STAKEHOLDERS, -1, 0, ref, kind, f"stakeholder of {service.name}", True, None)


# -- use cases ----------------------------------------------------------------------------------------

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
        conn.execute("UPDATE incidents SET severity_since = declared_at, triggered_since = declared_at WHERE id = ?", (cursor.lastrowid,))
        incident_id = cursor.lastrowid
        incident = incident_in(conn, incident_id)
        assert incident is not None
        Store.add_timeline(
            conn, incident_id, now, "declared",
            f"Declared by <@{request.declared_by}>: {severity.label}, service {service.name} (team {team.name}).",
            actor=request.declared_by, data={"severity": severity.id, "service": service.id, "policy": policy_id},
        )
        Store.add_timeline(conn, incident_id, now, "policy", f"Escalation policy {policy_id}: {why}.", data={"policy": policy_id})
        track = _new_track(conn, incident_id, MAIN, escape_mrkdwn(team.name), snapshot, now)
        state, events = escalation.start(snapshot, now, catalog.schedules)
        apply_events(conn, incident, track, state, events, now, None, "declared")
        _notify_stakeholders(conn, catalog, incident, now)
        sync_rule_timers(conn, catalog, incident)

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
        incident = incident_in(conn, incident_id)
    paged_level = state.level if any(e.kind == "paged" for e in events) else None
    return Outcome(incident, True, f"{incident_ref(number)} declared.", {"paged_level": paged_level})


def _cancel_pending_pages(conn: sqlite3.Connection, incident_id: int, reason: str, tracks: list[str] | None = None) -> None:
    """Nothing pages after an acknowledgement or a resolution (stakeholder notices still go)."""
    in_tracks = "" if tracks is None else f" AND track IN ({','.join('?' * len(tracks))})"
    args = [] if tracks is None else list(tracks)
    conn.execute(
        "UPDATE outbox SET status = 'cancelled', last_error = ? WHERE incident_id = ? AND kind = 'page' AND status = 'pending' "
        f"AND json_extract(payload, '$.page_id') IN (SELECT id FROM pages WHERE incident_id = ? AND notify_only = 0{in_tracks})",
        (reason, incident_id, incident_id, *args),
    )
    conn.execute(
        f"UPDATE pages SET status = 'cancelled' WHERE incident_id = ? AND status = 'pending' AND notify_only = 0{in_tracks} AND id NOT IN "
        "(SELECT json_extract(payload, '$.page_id') FROM outbox WHERE incident_id = ? AND kind = 'page' AND status IN ('sending', 'sent'))",
        (incident_id, *args, incident_id),
    )


def _ack_timeout(track: dict[str, Any]) -> int | None:
    snapshot = json.loads(track["snapshot"])
    value = escalation.policy_spec(snapshot, snapshot["policy_id"]).get("ack_timeout")
    return int(value) if value else None


def _stop_main_on_ack(conn: sqlite3.Connection, track: dict[str, Any], now: datetime) -> None:
    """Acknowledgement stops the clock; with an ack timeout the ladder re-arms if still unresolved."""
    timeout = _ack_timeout(track)
    if timeout:
        save_track(conn, track, state="acked", due_at=now + timedelta(seconds=timeout))
    else:
        save_track(conn, track, state="stopped")


def acknowledge(store: Store, incident_id: int, user_id: str, now: datetime) -> Outcome:
    """The first acknowledgement owns the incident; later ones acknowledge the clicker's own page."""
    with store.transaction() as conn:
        incident = incident_in(conn, incident_id)
        if incident is None:
            return Outcome(None, False, NOT_FOUND)
        ref = incident_ref(incident["number"])
        if incident["status"] == "resolved":
            return Outcome(incident, False, f"{ref} is already resolved.")
        mine = conn.execute(
            "SELECT DISTINCT track FROM pages WHERE incident_id = ? AND user_id = ? AND acknowledged_at IS NULL AND notify_only = 0",
            (incident_id, user_id),
        ).fetchall()
        my_tracks = {r["track"] for r in mine}
        tracks = {t["track"]: t for t in _tracks_of(conn, incident_id)}
        conn.execute("UPDATE pages SET acknowledged_at = ? WHERE incident_id = ? AND user_id = ? AND acknowledged_at IS NULL",
                     (iso(now), incident_id, user_id))
        stopped = []
        for key in sorted(my_tracks - {MAIN}):
            track = tracks.get(key)
            if track and track["state"] in ("active", "waiting", "exhausted"):
                save_track(conn, track, state="stopped")
                stopped.append(track["label"])
        if stopped:
            _cancel_pending_pages(conn, incident_id, f"acknowledged by {user_id}", sorted(my_tracks - {MAIN}))

        if incident["status"] == "acknowledged":
            if not my_tracks:
                return Outcome(incident, False, f"{ref} was already acknowledged by <@{incident['acknowledged_by']}>.")
            incident = bump_incident(conn, incident_id, now)
            Store.add_timeline(conn, incident_id, now, "page_acknowledged",
                               f"<@{user_id}> acknowledged their page ({', '.join(stopped) or 'main ladder'}).", actor=user_id)
            enqueue_channel_message(conn, incident, now, f"page_ack:{user_id}:{incident['version']}",
                                    f":white_check_mark: <@{user_id}> acknowledged their page"
                                    + (f" ({', '.join(stopped)})" if stopped else "") + ".")
            enqueue_refresh(conn, incident, now)
            return Outcome(incident, True, f"You acknowledged your page for {ref}; <@{incident['acknowledged_by']}> owns the incident.",
                           {"page_only": True})

        changed = conn.execute(
            "UPDATE incidents SET status = 'acknowledged', acknowledged_by = ?, acknowledged_at = ? WHERE id = ? AND status = 'triggered'",
            (user_id, iso(now), incident_id),
        ).rowcount
        if not changed:  # BEGIN IMMEDIATE serialises writers; this is the compare-and-swap guard all the same
            return Outcome(incident, False, f"{ref} changed while you clicked; try again.")
        touch_rule_timers(conn, incident_id, now)
        if MAIN in tracks:
            _stop_main_on_ack(conn, tracks[MAIN], now)
        _cancel_pending_pages(conn, incident_id, f"acknowledged by {user_id}", [MAIN])
        incident = bump_incident(conn, incident_id, now)
        declared = parse_iso(incident["declared_at"])
        assert declared is not None
        seconds = int((now - declared).total_seconds())
        Store.add_timeline(conn, incident_id, now, "acknowledged", f"Acknowledged by <@{user_id}> after {format_duration(seconds)}.",
                           actor=user_id, data={"seconds_to_ack": seconds})
        timeout = _ack_timeout(tracks[MAIN]) if MAIN in tracks else None
        rearm = f" If it is still open in {format_duration(timeout)}, the ladder re-arms." if timeout else ""
        enqueue_channel_message(conn, incident, now, f"ack:{incident['version']}",
                                f":white_check_mark: <@{user_id}> acknowledged {ref}. The escalation clock is stopped.{rearm}")
        enqueue_refresh(conn, incident, now)
    return Outcome(incident, True, f"You acknowledged {ref}.")


def still_on_it(store: Store, incident_id: int, user_id: str, now: datetime) -> Outcome:
    """"Still on it": push the ack timeout back instead of letting the ladder re-arm."""
    with store.transaction() as conn:
        incident = incident_in(conn, incident_id)
        if incident is None:
            return Outcome(None, False, NOT_FOUND)
        ref = incident_ref(incident["number"])
        track = next((t for t in _tracks_of(conn, incident_id) if t["track"] == MAIN), None)
        if incident["status"] != "acknowledged" or track is None or track["state"] not in ("acked", "rearming"):
            return Outcome(incident, False, f"{ref} is not waiting on an acknowledgement timeout.")
        timeout = _ack_timeout(track) or 0
        save_track(conn, track, state="acked", due_at=now + timedelta(seconds=timeout))
        incident = bump_incident(conn, incident_id, now)
        Store.add_timeline(conn, incident_id, now, "still_on_it", f"<@{user_id}> is still on it: the ack timeout restarts.", actor=user_id)
        enqueue_channel_message(conn, incident, now, f"still_on_it:{incident['version']}",
                                f":hammer_and_wrench: <@{user_id}> is still on it. The ladder re-arms in {format_duration(timeout)} if {ref} is still open.")
        enqueue_refresh(conn, incident, now)
    return Outcome(incident, True, f"Thanks: the ladder stays quiet for another {format_duration(timeout)}.")


def change_severity(store: Store, catalog: Catalog, incident_id: int, severity_id: str, user_id: str, now: datetime) -> Outcome:
    """Change severity; a raise that makes the team's policy stricter switches the main ladder to it."""
    severity = catalog.severity(severity_id)
    if severity is None:
        return Outcome(None, False, "That severity is no longer in the catalog.")
    with store.transaction() as conn:
        incident = incident_in(conn, incident_id)
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
        raised = catalog.ranks.get(severity_id, 99) < catalog.ranks.get(old_id, 99)
        incident = bump_incident(conn, incident_id, now, severity=severity_id, severity_since=iso(now))
        touch_rule_timers(conn, incident_id, now)
        Store.add_timeline(conn, incident_id, now, "severity_changed",
                           f"Severity changed from {old_label} to {severity.label} by <@{user_id}>.",
                           actor=user_id, data={"from": old_id, "to": severity_id})
        text = f":rotating_light: <@{user_id}> changed the severity of {ref} from {old_label} to *{severity.label}*."
        if raised and incident["team_id"] in catalog.teams:
            text += _switch_policy_if_stricter(conn, catalog, incident, severity.label, now)
        enqueue_channel_message(conn, incident, now, f"severity:{incident['version']}", text)
        enqueue_refresh(conn, incident, now)
    return Outcome(incident, True, f"{ref} is now {severity.label}.")


def _switch_policy_if_stricter(conn: sqlite3.Connection, catalog: Catalog, incident: dict[str, Any], label: str, now: datetime) -> str:
    track = next((t for t in _tracks_of(conn, incident["id"]) if t["track"] == MAIN), None)
    if track is None:
        return ""
    policy_id, why = catalog.choose_policy(incident["team_id"], incident["severity"], now)
    if policy_id == json.loads(track["snapshot"])["policy_id"]:
        return ""
    snapshot = escalation.snapshot_policy(catalog, policy_id)
    conn.execute("UPDATE tracks SET snapshot = ?, policy = ?, level = 0, loop = 0 WHERE id = ?",
                 (json.dumps(snapshot), policy_id, track["id"]))
    track = dict(conn.execute("SELECT * FROM tracks WHERE id = ?", (track["id"],)).fetchone())
    Store.add_timeline(conn, incident["id"], now, "policy_switched",
                       f"Raised to {label}: the main ladder switched to policy {policy_id} ({why}), from level 1.",
                       data={"policy": policy_id})
    if incident["status"] == "triggered":
        state, events = escalation.start(snapshot, now, catalog.schedules)
        apply_events(conn, incident, track, state, events, now, None, f"raised to {label}")
        return f" The ladder switched to the *{policy_id}* policy and pages its level 1 now."
    return f" The ladder switched to the *{policy_id}* policy (it applies if the ladder re-arms)."


def resolve(store: Store, incident_id: int, user_id: str, note: str, now: datetime) -> Outcome:
    with store.transaction() as conn:
        incident = incident_in(conn, incident_id)
        if incident is None:
            return Outcome(None, False, NOT_FOUND)
        ref = incident_ref(incident["number"])
        if incident["status"] == "resolved":
            return Outcome(incident, False, f"{ref} was already resolved by <@{incident['resolved_by']}>.")
        note = note.strip()
        for track in _tracks_of(conn, incident_id):
            save_track(conn, track, state="stopped")
        conn.execute("UPDATE rule_timers SET due_at = NULL, version = version + 1 WHERE incident_id = ?", (incident_id,))
        _cancel_pending_pages(conn, incident_id, f"resolved by {user_id}")
        incident = bump_incident(conn, incident_id, now, status="resolved", resolved_by=user_id, resolved_at=iso(now), resolution_note=note)
        Store.add_timeline(conn, incident_id, now, "resolved", f"Resolved by <@{user_id}>." + (f" Note: {escape_mrkdwn(note)}" if note else ""),
                           actor=user_id, data={"note": note})
        Store.enqueue(
            conn, now, "post_message", f"message:{incident_id}:resolved", incident_id=incident_id,
            payload={"resolution": True}, priority=PRIORITY_MESSAGE, depends_on=f"create_channel:{incident_id}",
        )
        enqueue_refresh(conn, incident, now)
    return Outcome(incident, True, f"{ref} is resolved.")


@dataclass
class EscalateRequest:
    """Additive escalation: `to` is "next" (the main ladder's next level), "team:<id>" or "person:<ref>".

    `by` is the Slack user who asked, or None when a rule (`by_rule`) escalates on its own.
    """

    to: str
    by: str | None
    reason: str = ""
    expected_version: int | None = None
    by_rule: str | None = None

    @property
    def who(self) -> str:
        return f"<@{self.by}>" if self.by else f"rule `{self.by_rule}`"


def escalate(store: Store, catalog: Catalog, incident_id: int, request: EscalateRequest, now: datetime) -> Outcome:
    """Page more people now. Never a reassignment: whoever acknowledged keeps the incident."""
    with store.transaction() as conn:
        incident = incident_in(conn, incident_id)
        if incident is None:
            return Outcome(None, False, NOT_FOUND)
        return escalate_in(conn, catalog, incident, request, now)


def escalate_in(conn: sqlite3.Connection, catalog: Catalog, incident: dict[str, Any], request: EscalateRequest, now: datetime) -> Outcome:
    """`escalate` inside a transaction the caller holds (a rule firing in the engine's tick)."""
    incident_id = incident["id"]
    ref = incident_ref(incident["number"])
    if incident["status"] == "resolved":
        return Outcome(incident, False, f"{ref} is resolved; there is nobody left to escalate to. Declare a new incident if it is back.")
    if request.expected_version is not None and incident["version"] != request.expected_version:
        return Outcome(incident, False, f"{ref} changed while you had the form open (someone escalated or acknowledged); "
                                        "nothing was paged. Look at the summary and escalate again if you still need to.")
    reason = request.reason.strip()
    kind, _, target = request.to.partition(":")
    if kind == "next":
        outcome = _escalate_next(conn, catalog, incident, request, now)
    elif kind == "team":
        outcome = _escalate_to_team(conn, catalog, incident, target, request, now)
    elif kind == "person":
        outcome = _escalate_to_person(conn, catalog, incident, target, request, now)
    else:
        outcome = Outcome(incident, False, "Choose whom to escalate to.")
    if not outcome.changed:
        return outcome
    Store.add_timeline(conn, incident_id, now, "escalated",
                       f"{request.who} escalated to {outcome.data['label']}" + (f": {escape_mrkdwn(reason)}" if reason else "."),
                       actor=request.by, data={"to": request.to, "reason": reason, "rule": request.by_rule})
    incident = bump_incident(conn, incident_id, now)
    text = f":arrow_double_up: {request.who} escalated {ref} to {outcome.data['label']}" + (f": {escape_mrkdwn(reason)}" if reason else ".")
    if incident["acknowledged_by"]:
        text += f" <@{incident['acknowledged_by']}> still owns the incident."
    enqueue_channel_message(conn, incident, now, f"escalate:{incident['version']}", text)
    enqueue_refresh(conn, incident, now)
    return Outcome(incident, True, f"Escalated {ref} to {outcome.data['label']}.", outcome.data)


def _escalate_next(conn: sqlite3.Connection, catalog: Catalog, incident: dict[str, Any], request: EscalateRequest, now: datetime) -> Outcome:
    ref = incident_ref(incident["number"])
    track = next(t for t in _tracks_of(conn, incident["id"]) if t["track"] == MAIN)
    snapshot = json.loads(track["snapshot"])
    state = track_state(conn, track)
    if state.level + 1 >= escalation.level_count(snapshot, state.policy):
        return Outcome(incident, False, f"{ref} is already at the last level of the {state.policy} policy; nobody further up to page. "
                                        "Escalate to another team or a person instead.")
    new_state, events = escalation.escalate_now(snapshot, state, now, catalog.schedules)
    if not any(e.kind == "paged" for e in events):
        return Outcome(incident, False, f"Every level above the current one of {ref} resolves to nobody right now; nobody was paged.")
    # Additive: on an acknowledged incident the acknowledger keeps it and the ladder's clock stays as it is.
    timer = (track["state"], parse_iso(track["due_at"])) if incident["status"] == "acknowledged" else None
    apply_events(conn, incident, track, new_state, events, now, request.by, f"escalated by {request.who}", timer)
    return Outcome(incident, True, data={"label": f"level {new_state.level + 1}", "level": new_state.level})


def _escalate_to_team(conn: sqlite3.Connection, catalog: Catalog, incident: dict[str, Any], team_id: str, request: EscalateRequest,
                      now: datetime) -> Outcome:
    if team_id not in catalog.teams:
        return Outcome(incident, False, "That team is not in the catalog (any more).")
    team = catalog.teams[team_id]
    existing = [t for t in _tracks_of(conn, incident["id"]) if t["track"] == MAIN and incident["team_id"] == team_id
                or t["track"].startswith(f"team:{team_id}#")]
    active = [t for t in existing if t["state"] in ("active", "waiting")]
    if active:
        return Outcome(incident, False, f"{team.name} is already being paged for {incident_ref(incident['number'])}; "
                                        "wait for their acknowledgement or escalate their ladder from the summary.")
    policy_id, why = catalog.choose_policy(team_id, incident["severity"], now)
    snapshot = escalation.snapshot_policy(catalog, policy_id)
    key = f"team:{team_id}#{len(existing) + 1}"
    track = _new_track(conn, incident["id"], key, escape_mrkdwn(team.name), snapshot, now, request.by, request.reason.strip())
    state, events = escalation.start(snapshot, now, catalog.schedules)
    apply_events(conn, incident, track, state, events, now, request.by, f"escalated by {request.who} through policy {policy_id}: {why}")
    if not any(e.kind == "paged" for e in events):
        return Outcome(incident, True, data={"label": f"{team.name} (nobody reachable right now)"})
    return Outcome(incident, True, data={"label": team.name, "track": key})


def _escalate_to_person(conn: sqlite3.Connection, catalog: Catalog, incident: dict[str, Any], person: str, request: EscalateRequest,
                        now: datetime) -> Outcome:
    if not person:
        return Outcome(incident, False, "Choose the person to page.")
    count = conn.execute("SELECT COUNT(*) AS n FROM tracks WHERE incident_id = ? AND track LIKE ?",
                         (incident["id"], f"person:{person}#%")).fetchone()["n"]
    live = conn.execute("SELECT 1 FROM tracks WHERE incident_id = ? AND track LIKE ? AND state IN ('active', 'waiting')",
                        (incident["id"], f"person:{person}#%")).fetchone()
    label = f"<@{person}>" if "@" not in person else escape_mrkdwn(person)
    if live:
        return Outcome(incident, False, f"{label} is already being paged for {incident_ref(incident['number'])}.")
    snapshot = {"policy_id": "person", "schedules": {}, "policies": {"person": {
        "repeat": 0, "then": None, "levels": [{"targets": [{"user": person}], "escalate_after": PERSON_TIMEOUT,
                                               "notify_only": False, "when_empty": "skip"}]}}}
    track = _new_track(conn, incident["id"], f"person:{person}#{count + 1}", label, snapshot, now, request.by, request.reason.strip())
    state, events = escalation.start(snapshot, now, catalog.schedules)
    apply_events(conn, incident, track, state, events, now, request.by, f"escalated by {request.who}")
    return Outcome(incident, True, data={"label": label})
