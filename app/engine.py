"""The escalation engine's clock: `tick(now)` advances every track whose timer is due.

Timers are rows (`tracks.due_at`), found by an indexed query; there are no in-memory timers,
so a restart loses nothing. A tick with nothing due is one indexed read and no write. When
something is due, one write transaction advances every due track (compare-and-swap on each
track's version), writes the pages, timeline entries and outbox rows the engine decided, and
records how late it fired: after downtime an overdue escalation fires once, late, and says so.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from app import escalation, nudges
from app.catalog import REARM_NOTICE, Catalog, format_duration
from app.incidents import (
    MAIN, apply_events, bump_incident, enqueue_channel_message, enqueue_refresh, incident_in, incident_ref, save_track,
    touch_rule_timers, track_state,
)
from app.store import Store, iso, parse_iso

log = logging.getLogger(__name__)

LATE_NOTE_SECONDS = 5  # below this, firing "late" is just the tick interval and not worth a timeline entry
BATCH = 500


@dataclass
class TickReport:
    fired: int = 0
    lateness: list[float] = field(default_factory=list)  # seconds past due, one per track advanced
    rules_fired: int = 0


def due_tracks(store: Store, now: datetime, limit: int = BATCH) -> list[int]:
    rows = store.conn.execute(
        "SELECT id FROM tracks WHERE due_at IS NOT NULL AND due_at <= ? ORDER BY due_at LIMIT ?", (iso(now), limit)
    ).fetchall()
    return [r["id"] for r in rows]


def tick(store: Store, catalog: Catalog, now: datetime, limit: int = BATCH) -> TickReport:
    """Advance everything due at `now`, `limit` tracks per write transaction (short write locks)."""
    report = TickReport()
    while True:
        due = due_tracks(store, now, limit)
        if not due:
            break
        _advance_batch(store, catalog, now, due, report)
        if len(due) < limit:
            break
    while True:
        timers = nudges.due_timers(store, now, limit)
        if not timers:
            return report
        with store.transaction() as conn:
            report.rules_fired += sum(nudges.advance_timer(conn, catalog, timer_id, now) for timer_id in timers)
        if len(timers) < limit:
            return report


def _advance_batch(store: Store, catalog: Catalog, now: datetime, due: list[int], report: TickReport) -> None:
    with store.transaction() as conn:
        for track_id in due:
            row = conn.execute("SELECT * FROM tracks WHERE id = ?", (track_id,)).fetchone()
            if row is None or row["due_at"] is None or row["due_at"] > iso(now):
                continue  # another runner, or a click, got there first
            track = dict(row)
            incident = incident_in(conn, track["incident_id"])
            assert incident is not None
            late = (now - parse_iso(track["due_at"])).total_seconds()  # type: ignore[operator]
            if incident["status"] == "resolved":
                save_track(conn, track, state="stopped")
                continue
            if track["state"] in ("active", "waiting"):
                if _advance(conn, catalog, incident, track, now, late):
                    report.fired += 1
                    report.lateness.append(late)
            elif track["state"] == "acked":
                _announce_rearm(conn, incident, track, now)
            elif track["state"] == "rearming":
                _rearm(conn, catalog, incident, track, now, late)
                report.fired += 1
                report.lateness.append(late)
            else:
                save_track(conn, track, state=track["state"])  # a stray timer on a stopped track: clear it


def _late_note(track: dict[str, Any], late: float) -> str:
    if late < LATE_NOTE_SECONDS:
        return ""
    due = parse_iso(track["due_at"])
    return f"; {format_duration(int(late))} late: it was due {due:%H:%M:%S} UTC and Ladder was not running or was busy"


def _advance(conn: sqlite3.Connection, catalog: Catalog, incident: dict[str, Any], track: dict[str, Any], now: datetime, late: float) -> bool:
    if track["track"] == MAIN and incident["status"] == "acknowledged":
        save_track(conn, track, state="stopped")  # an acknowledgement always stops the main clock; never page past it
        return False
    snapshot = json.loads(track["snapshot"])
    state = track_state(conn, track)
    waited = escalation.policy_spec(snapshot, state.policy)["levels"][state.level]["escalate_after"]
    new_state, events = escalation.advance(snapshot, state, now, catalog.schedules)
    reason = f"no acknowledgement within {format_duration(int(waited))}{_late_note(track, late)}"
    if not apply_events(conn, incident, track, new_state, events, now, None, reason):
        return False
    if late >= LATE_NOTE_SECONDS:
        Store.add_timeline(conn, incident["id"], now, "late",
                           f"This escalation fired {format_duration(int(late))} late (due {parse_iso(track['due_at']):%H:%M:%S} UTC).",
                           data={"late_by_s": round(late, 3), "track": track["track"]})
    incident = bump_incident(conn, incident["id"], now)
    if any(e.kind == "exhausted" for e in events):
        who = "" if track["track"] == MAIN else f" ({track['label']})"  # labels are mrkdwn-safe
        enqueue_channel_message(
            conn, incident, now, f"exhausted:{track['id']}:{track['round']}",
            f":warning: Nobody acknowledged {incident_ref(incident['number'])}{who}: the ladder is exhausted after every level"
            " and repeat. Escalate to page another team or a person.", actions=["escalate"])
    enqueue_refresh(conn, incident, now)
    return True


def _announce_rearm(conn: sqlite3.Connection, incident: dict[str, Any], track: dict[str, Any], now: datetime) -> None:
    """An acknowledged incident still open after the ack timeout: say so first, re-arm a little later."""
    at = now + timedelta(seconds=REARM_NOTICE)
    if not save_track(conn, track, state="rearming", due_at=at):
        return
    ref = incident_ref(incident["number"])
    acked = parse_iso(incident["acknowledged_at"])
    since = format_duration(int((now - acked).total_seconds())) if acked else "a while"
    Store.add_timeline(conn, incident["id"], now, "ack_timeout",
                       f"Acknowledged {since} ago and still open: the ladder re-arms at {at:%H:%M} UTC unless someone is still on it.")
    incident = bump_incident(conn, incident["id"], now)
    enqueue_channel_message(
        conn, incident, now, f"rearm_notice:{track['id']}:{track['round']}",
        f":hourglass: {ref} was acknowledged by <@{incident['acknowledged_by']}> {since} ago and is still open. "
        f"The ladder re-arms and pages level 1 again at <!date^{int(at.timestamp())}^{{time}}|{at:%H:%M} UTC> "
        "unless someone clicks *Still on it*.", actions=["still_on_it", "escalate"])
    enqueue_refresh(conn, incident, now)


def _rearm(conn: sqlite3.Connection, catalog: Catalog, incident: dict[str, Any], track: dict[str, Any], now: datetime, late: float) -> None:
    """PagerDuty's ack timeout: back to triggered, and the ladder starts again from level 1."""
    conn.execute("UPDATE tracks SET round = round + 1, level = 0, loop = 0 WHERE id = ?", (track["id"],))
    track = dict(conn.execute("SELECT * FROM tracks WHERE id = ?", (track["id"],)).fetchone())
    owner = incident["acknowledged_by"]
    incident = bump_incident(conn, incident["id"], now, status="triggered", acknowledged_by=None, acknowledged_at=None,
                             triggered_since=iso(now))
    touch_rule_timers(conn, incident["id"], now)
    Store.add_timeline(conn, incident["id"], now, "rearmed",
                       f"Ack timeout: <@{owner}> acknowledged but the incident is still open, so the ladder re-armed{_late_note(track, late)}.",
                       data={"previous_owner": owner})
    snapshot = json.loads(track["snapshot"])
    state, events = escalation.start(snapshot, now, catalog.schedules)
    apply_events(conn, incident, track, state, events, now, None, "ack timeout")
    enqueue_channel_message(conn, incident, now, f"rearmed:{track['id']}:{track['round']}",
                            f":rotating_light: {incident_ref(incident['number'])} is still open after its ack timeout: "
                            "the ladder re-armed and pages level 1 again.")
    enqueue_refresh(conn, incident, now)
