"""Escalation tracks: what the pure ladder's events mean for an incident, and climbing the ladders that are due.

An incident escalates along *tracks*: the main ladder of the owning team, plus one track per team
or person a responder (or a rule) escalated to. `escalation` decides where a ladder goes; `decide`
turns its events into changes (the pages to send, the timeline entries, the track's new position)
without touching the database; `commit` writes them inside the caller's transaction, the track
with a compare-and-swap on its version, so a double click or two workers move it once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable

from app import escalation, outbox
from app.catalog import Catalog, format_duration
from app.escalation import Event, NextStep, Snapshot, State
from app.store import Store, Tx, iso, parse_iso
from app.text import incident_ref, track_label

log = logging.getLogger(__name__)

MAIN = "main"
STAKEHOLDERS = "stakeholders"  # the track of notify-only notices sent to a service's stakeholders
OWNED = frozenset({"acknowledged", "mitigated"})  # statuses in which someone owns the incident: the main ladder never pages
PAGE_AGAIN_AFTER = 60  # seconds: two ladders reaching the same person in the same minute page them once
LATE_NOTE_SECONDS = 5  # below this, firing "late" is just the tick interval and not worth a timeline entry
STEP_RETRY = timedelta(minutes=5)  # a ladder step that raised is tried again this much later

Row = dict[str, Any]


@dataclass(frozen=True)
class PageRequest:
    """One person (or user group) to reach, and on which rung of which ladder."""

    track: str
    round: int
    policy: str
    level: int
    loop: int
    target: str
    target_kind: str  # "person" | "user_group"
    via: str
    notify_only: bool
    requested_by: str | None


@dataclass(frozen=True)
class Entry:
    """A timeline entry: structure in `kind` and `data`, plain words in `text` (Slack markup is added where shown)."""

    kind: str
    text: str
    data: dict[str, Any] = field(default_factory=dict)
    actor: str | None = None
    pages: tuple["PageRequest", ...] = ()  # a "level_paged" entry's pages, written just before it


@dataclass
class LadderChanges:
    """What one step of one ladder changes: pages, timeline entries, and the track's new position."""

    entries: list[Entry]
    state: str
    due_at: datetime | None
    paged: bool
    position: State

    @property
    def pages(self) -> list[PageRequest]:
        return [page for entry in self.entries for page in entry.pages]


@dataclass
class Advanced:
    """What one `advance_due` did (each due-work module returns one; see worker.tick)."""

    looked_at: int = 0  # due items read: fewer than the limit means none is left
    lateness: list[float] = field(default_factory=list)  # seconds past due, one per escalation or re-arm fired
    rules_fired: int = 0


def each_isolated(tx: Tx, item_ids: list[int], step: Callable[[int], Any], park: Callable[[int, Exception], None],
                  what: str) -> list[Any]:
    """Run `step` on each due item in a savepoint of its own: one that raises is undone alone and parked, and the
    rest of the batch (other incidents' pages) goes on. Returns each step's result, None for a failed one."""
    results = []
    for item_id in item_ids:
        try:
            with tx.savepoint():
                results.append(step(item_id))
            continue
        except Exception as exc:  # noqa: BLE001 - nothing one item does may stop the others
            log.exception("%s %s failed; parked, the others go on", what, item_id)
            failure = exc
        results.append(None)
        try:
            with tx.savepoint():
                park(item_id, failure)
        except Exception:  # noqa: BLE001
            log.exception("could not park %s %s", what, item_id)
    return results


def park_track(tx: Tx, track_id: int, failure: Exception, now: datetime) -> None:
    """A ladder step raised: say so on the incident's timeline and try again later (its pages matter too much to drop)."""
    track = tx.track_by_id(track_id)
    if track is None:
        return
    retry = now + STEP_RETRY
    tx.park_track(track_id, retry)
    tx.add_timeline(track["incident_id"], now, "step_failed",
                    f"Ladder could not advance {track['label'] if track['track'] != MAIN else 'the ladder'} "
                    f"({type(failure).__name__}: {failure}); it tries again at {retry:%H:%M} UTC.",
                    data={"track": track["track"], "error": f"{type(failure).__name__}: {failure}", "retry_at": iso(retry)})


def state_of(track: Row, last_paged: Row | None) -> State:
    """The pure engine's view of a track row (`last_paged` from the store: where it last paged someone)."""
    status = track["state"] if track["state"] in ("active", "waiting", "exhausted") else "stopped"
    paged_level, paged_in = (last_paged["level"], (last_paged["policy"], last_paged["loop"])) if last_paged else (None, None)
    return escalation.make_state(track["policy"], track["level"], track["loop"], status, parse_iso(track["due_at"]), paged_level, paged_in)


def awaits_own_acknowledgement(track: Row | None) -> bool:
    """An additive track (a team or person escalated to) still paging: its pages want their own acknowledgement,
    even when the incident itself is acknowledged."""
    return track is not None and track["track"] != MAIN and track["state"] in ("active", "waiting")


def level_name(track: Row, root: str, policy: str, level: int) -> str:
    name = f"level {level + 1}" if policy == root else f"level {level + 1} of policy {policy}"
    return name if track["track"] == MAIN else f"{track['label']}: {name}"


def decide(track: Row, snapshot: Snapshot, state: State, events: list[Event], actor: str | None, reason: str,
           timer: tuple[str, datetime | None] | None = None) -> LadderChanges:
    """What the engine's events mean for one track; pure.

    `timer` keeps the track's own (state, due_at) instead of the engine's: an additive page on an
    acknowledged incident moves the ladder's position but must not restart its clock.
    """
    entries: list[Entry] = []
    for event in events:
        data = {"track": track["track"], "policy": event.policy, "level": event.level, "loop": event.loop}
        name = level_name(track, snapshot.root, event.policy, event.level)
        entries += [Entry("gap", f"{name[0].upper()}{name[1:]}: {gap}.", data) for gap in event.gaps]
        if event.kind == "paged":
            pages = tuple(PageRequest(track["track"], track["round"], event.policy, event.level, event.loop, t.ref, t.kind, t.via,
                                      event.notify_only, track["requested_by"] or actor) for t in event.targets)
            verb = "Notifying" if event.notify_only else "Paging"
            entries.append(Entry("level_paged", f"{verb} {name} ({reason}): {', '.join(t.ref for t in event.targets)}.",
                                 {**data, "targets": [t.ref for t in event.targets]}, actor, pages))
        elif event.kind == "skipped":
            entries.append(Entry("level_skipped", f"Skipped {name}: it resolves to nobody right now.", data))
        elif event.kind == "waiting":
            entries.append(Entry("level_waiting", f"Waiting on {name}: it resolves to nobody right now.", data))
        elif event.kind == "repeat":
            entries.append(Entry("repeat", f"End of the policy: starting again from level 1 ({event.detail}).", data))
        elif event.kind == "handoff":
            entries.append(Entry("handoff", f"Policy {event.policy} is exhausted: {event.detail}.", data))
        elif event.kind == "exhausted":
            who = "the incident" if track["track"] == MAIN else track["label"]
            text = (f"Nobody could be paged for {who}: no level that pages (rather than only notifies) reaches anyone right now."
                    if state.paged_level is None
                    else f"The ladder is exhausted for {who}: nobody acknowledged; it stays with {name}.")
            entries.append(Entry("exhausted", text, data))
    status, due_at = timer if timer is not None else (state.status, state.due_at)
    return LadderChanges(entries, status, due_at, any(e.kind == "paged" for e in events), state)


def commit(tx: Tx, incident_id: int, track: Row, changes: LadderChanges, now: datetime) -> bool:
    """Write one ladder step: its pages and timeline, then the track (compare-and-swap; False if someone moved it first)."""
    for entry in changes.entries:
        for request in entry.pages:
            record_page(tx, incident_id, request, now)
        tx.add_timeline(incident_id, now, entry.kind, entry.text, entry.actor, entry.data)
    position = changes.position
    return tx.save_track(track, state=changes.state, due_at=changes.due_at, paged_at=now if changes.paged else None,
                         policy=position.policy, level=position.level, loop=position.loop)


def record_page(tx: Tx, incident_id: int, request: PageRequest, now: datetime) -> None:
    """A page row and its outbox row, once per rung and target.

    A person already paged for this incident within the last minute (by another track, say the
    policy's hand-off and a rule escalating to the same team) is not paged again; the timeline says so.
    """
    columns = dict(track=request.track, round_=request.round, policy=request.policy, level=request.level, loop=request.loop,
                   target=request.target, via=request.via, notify_only=request.notify_only, requested_by=request.requested_by)
    recent = None if request.notify_only else tx.recent_page_to(incident_id, request.target, now - timedelta(seconds=PAGE_AGAIN_AFTER))
    if recent is not None:
        # Still a page of this track (its ladder reached them; their acknowledgement stops it), just not a second DM.
        user_id = recent["user_id"] or (request.target if "@" not in request.target else None)
        tx.insert_page(incident_id, now, **columns, merged=True, merged_user=user_id)
        tx.add_timeline(incident_id, now, "page_merged", f"{request.target} was paged for this incident less than a minute ago "
                        f"({recent['track']}); not sending a second page for {request.track}.",
                        data={"target": request.target, "track": request.track})
        return
    page_id = tx.insert_page(incident_id, now, **columns)
    if page_id is not None:
        key = outbox.page_key(incident_id, request.track, request.round, request.policy, request.level, request.loop, request.target)
        tx.enqueue(outbox.page(incident_id, page_id, key, request.target_kind), now)


def start(tx: Tx, catalog: Catalog, incident: Row, key: str, label: str, snapshot: Snapshot, now: datetime, actor: str | None,
          reason: str, requested_by: str | None = None, request_reason: str = "") -> list[Event]:
    """A new track (the main ladder at declaration, or an additive one), paging its first level that reaches someone."""
    track = tx.insert_track(incident["id"], key, label, snapshot.to_json(), snapshot.root, now, requested_by, request_reason)
    state, events = escalation.start(snapshot, now, catalog.schedules)
    commit(tx, incident["id"], track, decide(track, snapshot, state, events, actor, reason), now)
    return events


@dataclass(frozen=True)
class TrackView:
    """What the summary and the DMs show of one track, worked out here so that Slack code only renders."""

    row: Row
    levels: int  # how many levels its current policy has
    root: str  # the policy it started on
    notify_only: bool  # its current level only informs (the summary says "notified", not "paged")
    next: NextStep | None  # what happens if nobody acknowledges
    awaits_own_acknowledgement: bool


def view(track: Row, catalog: Catalog) -> TrackView:
    snapshot = Snapshot.from_json(track["snapshot"])
    state = state_of(track, None)
    levels = snapshot.level_count(track["policy"])
    notify_only = track["level"] < levels and snapshot.level(track["level"], track["policy"]).notify_only
    return TrackView(track, levels, snapshot.root, notify_only, snapshot.next_step(state, catalog.schedules),
                     awaits_own_acknowledgement(track))


# -- the ladders that are due ------------------------------------------------------------------------------

def advance_due(store: Store, catalog: Catalog, now: datetime, limit: int) -> Advanced:
    """Climb every ladder whose level timed out unacknowledged, `limit` at most, in one transaction."""
    # Stopped and exhausted tracks never keep a timer; one found anyway is cleared here. Ack timeouts are ack_timeouts'.
    due = store.due_track_ids(now, limit, states=("active", "waiting", "stopped", "exhausted"))
    done = Advanced(len(due))
    if due:
        with store.transaction() as tx:
            lateness = each_isolated(tx, due, lambda track_id: _advance(tx, catalog, track_id, now),
                                     lambda track_id, failure: park_track(tx, track_id, failure, now), "track")
            done.lateness += [late for late in lateness if late is not None]
    return done


def late_note(due: datetime | None, late: float) -> str:
    if late < LATE_NOTE_SECONDS or due is None:
        return ""
    return f"; {format_duration(int(late))} late: it was due {due:%H:%M:%S} UTC and Ladder was not running or was busy"


def _advance(tx: Tx, catalog: Catalog, track_id: int, now: datetime) -> float | None:
    track = tx.track_by_id(track_id)
    if track is None or track["due_at"] is None or track["due_at"] > iso(now) or track["state"] in ("acked", "rearming"):
        return None  # another runner, or a click, got there first
    incident = tx.incident(track["incident_id"])
    assert incident is not None
    if track["state"] not in ("active", "waiting"):
        tx.save_track(track, state=track["state"])  # a stray timer on a stopped track: clear it
        return None
    if incident["status"] == "resolved" or (track["track"] == MAIN and incident["status"] in OWNED):
        tx.save_track(track, state="stopped")  # an acknowledgement always stops the main clock; never page past it
        return None
    due = parse_iso(track["due_at"])
    late = (now - due).total_seconds() if due else 0.0
    snapshot = Snapshot.from_json(track["snapshot"])
    state = state_of(track, tx.last_paged(track))
    waited = snapshot.level(state.level, state.policy).escalate_after
    new_state, events = escalation.advance(snapshot, state, now, catalog.schedules)
    reason = f"no acknowledgement within {format_duration(waited)}{late_note(due, late)}"
    if not commit(tx, incident["id"], track, decide(track, snapshot, new_state, events, None, reason), now):
        return None
    if late >= LATE_NOTE_SECONDS:
        tx.add_timeline(incident["id"], now, "late", f"This escalation fired {format_duration(int(late))} late (due {due:%H:%M:%S} UTC).",
                        data={"late_by_s": round(late, 3), "track": track["track"]})
    incident = tx.bump_incident(incident["id"], now)
    if incident["drill"] and track["track"] == MAIN:
        from app import drills  # drills build on the use cases, which build on this module
        if drills.finish_if_over(tx, incident["id"], now):  # exhausted, or its last rung skipped: over, and reported
            return late
    if any(e.kind == "exhausted" for e in events):
        who = "" if track["track"] == MAIN else f" ({track_label(track)})"
        tx.enqueue(outbox.channel_message(
            incident["id"], f"exhausted:{track['id']}:{track['round']}",
            f":warning: Nobody acknowledged {incident_ref(incident['number'])}{who}: the ladder is exhausted after every level"
            " and repeat. Escalate to page another team or a person.", actions=["escalate"]), now)
    tx.enqueue(outbox.refresh(incident["id"], incident["version"]), now)
    return late
