"""Ack timeouts (PagerDuty's): an acknowledged incident still open too long re-arms its ladder.

The main track of an acknowledged incident keeps a timer when its policy has `ack_timeout`. When
it is due, the channel is told first (with a **Still on it** button) and the track waits
`REARM_NOTICE` more; if nobody pushes it back, the incident goes back to triggered and the ladder
pages level 1 again, in a new round.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from app import escalation, outbox, tracks
from app.catalog import REARM_NOTICE, Catalog, format_duration
from app.escalation import Snapshot
from app.store import Store, Tx, iso, parse_iso
from app.text import incident_ref

Row = dict


def advance_due(store: Store, catalog: Catalog, now: datetime, limit: int) -> tracks.Advanced:
    """Announce or carry out every ack timeout that is due, `limit` at most, in one transaction."""
    due = store.due_track_ids(now, limit, states=("acked", "rearming"))
    done = tracks.Advanced(len(due))
    if due:
        with store.transaction() as tx:
            lateness = tracks.each_isolated(tx, due, lambda track_id: _advance(tx, catalog, track_id, now),
                                            lambda track_id, failure: tracks.park_track(tx, track_id, failure, now), "ack timeout")
            done.lateness += [late for late in lateness if late is not None]
    return done


def _advance(tx: Tx, catalog: Catalog, track_id: int, now: datetime) -> float | None:
    """Announce or carry out one ack timeout; how late a re-arm fired (None when nothing re-armed)."""
    track = tx.track_by_id(track_id)
    if track is None or track["due_at"] is None or track["due_at"] > iso(now):
        return None  # another runner, or a click, got there first
    incident = tx.incident(track["incident_id"])
    assert incident is not None
    if incident["status"] == "resolved":
        tx.save_track(track, state="stopped")
    elif track["state"] == "acked":
        _announce(tx, incident, track, now)
    elif track["state"] == "rearming":
        late = (now - parse_iso(track["due_at"])).total_seconds()  # type: ignore[operator]
        _rearm(tx, catalog, incident, track, now, late)
        return late
    return None


def _announce(tx: Tx, incident: Row, track: Row, now: datetime) -> None:
    """An acknowledged incident still open after the ack timeout: say so first, re-arm a little later."""
    at = now + timedelta(seconds=REARM_NOTICE)
    if not tx.save_track(track, state="rearming", due_at=at):
        return
    ref = incident_ref(incident["number"])
    acked = parse_iso(incident["acknowledged_at"])
    since = format_duration(int((now - acked).total_seconds())) if acked else "a while"
    tx.add_timeline(incident["id"], now, "ack_timeout",
                    f"Acknowledged {since} ago and still open: the ladder re-arms at {at:%H:%M} UTC unless someone is still on it.",
                    data={"rearms_at": iso(at)})
    incident = tx.bump_incident(incident["id"], now)
    tx.enqueue(outbox.channel_message(
        incident["id"], f"rearm_notice:{track['id']}:{track['round']}",
        f":hourglass: {ref} was acknowledged by <@{incident['acknowledged_by']}> {since} ago and is still open. "
        f"The ladder re-arms and pages level 1 again at <!date^{int(at.timestamp())}^{{time}}|{at:%H:%M} UTC> "
        "unless someone clicks *Still on it*.", actions=["still_on_it", "escalate"]), now)
    tx.enqueue(outbox.refresh(incident["id"], incident["version"]), now)


def _rearm(tx: Tx, catalog: Catalog, incident: Row, track: Row, now: datetime, late: float) -> None:
    """Back to triggered, and the ladder starts again from level 1."""
    due = parse_iso(track["due_at"])
    track = tx.restart_track(track["id"])
    owner = incident["acknowledged_by"]
    incident = tx.bump_incident(incident["id"], now, status="triggered", acknowledged_by=None, acknowledged_at=None,
                                triggered_since=iso(now))
    tx.touch_rule_timers(incident["id"], now)
    tx.add_timeline(incident["id"], now, "rearmed",
                    f"Ack timeout: {owner} acknowledged but the incident is still open, so the ladder re-armed"
                    f"{tracks.late_note(due, late)}.", data={"previous_owner": owner})
    snapshot = Snapshot.from_json(track["snapshot"])
    state, events = escalation.start(snapshot, now, catalog.schedules)
    tracks.commit(tx, incident["id"], track, tracks.decide(track, snapshot, state, events, None, "ack timeout"), now)
    if late >= tracks.LATE_NOTE_SECONDS and due is not None:
        # As a late escalation does (tracks._advance): the review and `/incident timeline` count lateness by this entry.
        tx.add_timeline(incident["id"], now, "late", f"This re-arm fired {format_duration(int(late))} late (due {due:%H:%M:%S} UTC).",
                        data={"late_by_s": round(late, 3), "track": tracks.MAIN})
    tx.enqueue(outbox.channel_message(incident["id"], f"rearmed:{track['id']}:{track['round']}",
                                      f":rotating_light: {incident_ref(incident['number'])} is still open after its ack timeout: "
                                      "the ladder re-armed and pages level 1 again."), now)
    tx.enqueue(outbox.refresh(incident["id"], incident["version"]), now)
