"""Use cases: declare, acknowledge, still on it, change severity, resolve (escalating more is in `additive`).

Each use case loads what it needs inside one write transaction, decides (the ladder's moves are
decided purely by `escalation` and turned into changes by `tracks.decide`), and writes the new
state, the timeline entries and the outbox rows for the Slack side effects it implies through the
store's `Tx`; delivery happens later, outside it. State changes are compare-and-swap (a status or
version in the WHERE clause), so a double click or a retried request changes nothing the second
time and says so. Additive escalation never takes the incident from whoever owns it: each track
climbs its own policy until someone on it acknowledges.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from app import escalation, outbox, rules, tracks
from app.catalog import Catalog, format_duration
from app.escalation import Snapshot
from app.store import Store, Tx, iso, parse_iso
from app.text import escape_mrkdwn, incident_ref, track_label, truncate, typed_text_problem
from app.tracks import MAIN, OWNED, STAKEHOLDERS

TITLE_MAX = 120
DESCRIPTION_MAX = 2900
CHANNEL_NAME_MAX = 80

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
    drill: bool = False  # a drill (app.drills): the real ladder, marked, telling nobody outside its channel
    drill_pace: int | None = None  # a drill's every level times out after this many seconds (None: the policy's own)


@dataclass
class Outcome:
    """What a use case did: `changed` is False when nothing changed, and `message` says why."""

    incident: dict[str, Any] | None
    changed: bool
    message: str = ""
    data: dict[str, Any] = field(default_factory=dict)


def channel_name_for(number: int, title: str, prefix: str = "inc") -> str:
    """Slack's rules: lowercase letters, digits, '-' and '_', at most 80 characters (a drill's starts `drill-`)."""
    folded = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode("ascii").lower()
    slug = re.sub(r"[^a-z0-9_]+", "-", folded).strip("-_")
    slug = re.sub(r"-{2,}", "-", slug)
    base = f"{prefix}-{number}"
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
    elif problem := typed_text_problem(title, "The title"):
        errors["title"] = f"{problem} For example “Bank transfers failing”."
    if not request.service_id:
        errors["service"] = "Pick the affected service, so the right team is paged."
    elif request.service_id not in catalog.services:
        errors["service"] = "That service is no longer in the catalog; pick another."
    if request.severity_id and catalog.severity(request.severity_id) is None:
        errors["severity"] = "That severity is no longer in the catalog; pick another."
    if len(request.description) > DESCRIPTION_MAX:
        errors["description"] = f"Keep the description under {DESCRIPTION_MAX} characters."
    elif problem := typed_text_problem(request.description, "The description", multiline=True):
        errors["description"] = problem
    if errors:
        raise InvalidInput(errors)


def validate_resolution(note: str) -> None:
    """The resolution note is optional; one that is there is kept on the timeline, so it must be readable text."""
    if problem := typed_text_problem(note, "The note", multiline=True):
        raise InvalidInput({"note": problem})


Row = dict[str, Any]


# -- shared steps ----------------------------------------------------------------------------------------

def sync_rule_timers(tx: Tx, catalog: Catalog, incident: Row) -> None:
    """Create the timers of every rule that can apply to this incident, due when each next fires."""
    facts = rules.Facts.of(incident)
    for scoped in catalog.rules:
        if rules.in_scope(scoped, facts, catalog):
            timer = tx.ensure_rule_timer(incident["id"], scoped.rule.id)
            due = rules.next_due(scoped, facts, rules.Memory.of(timer), catalog)
            tx.set_rule_due(timer, due[0] if due else None, compare=False)


def say_and_refresh(tx: Tx, incident: Row, now: datetime, tag: str, text: str, actions: list[str] | None = None,
                    rule: str | None = None) -> None:
    """A message in the incident channel, and a refresh of the summary and DMs for the incident's new version."""
    tx.enqueue(outbox.channel_message(incident["id"], tag, text, actions, rule), now)
    tx.enqueue(outbox.refresh(incident["id"], incident["version"]), now)


def open_incident(tx: Tx, incident_id: int) -> tuple[Row | None, Outcome | None]:
    """The incident, or the Outcome that says it does not exist."""
    incident = tx.incident(incident_id)
    return incident, (Outcome(None, False, NOT_FOUND) if incident is None else None)


def _paged_refs(tx: Tx, incident_id: int) -> list[str]:
    """Who the incident's ladders reached (stakeholders, told at level -1, are not paged)."""
    return [p["target"] for p in tx.pages(incident_id) if p["level"] >= 0]


def _notify_stakeholders(tx: Tx, catalog: Catalog, incident: Row, now: datetime) -> None:
    """Tell, don't page: a service's stakeholders hear about it without being handed the incident."""
    service = catalog.services[incident["service_id"]]
    for stakeholder in service.stakeholders:
        if stakeholder.channel:
            if not incident["private"]:
                tx.enqueue(outbox.announce(incident["id"], stakeholder.channel), now)
            continue
        ref = stakeholder.user or stakeholder.user_group or ""
        kind = "person" if stakeholder.user else "user_group"
        tracks.record_page(tx, incident["id"], tracks.PageRequest(STAKEHOLDERS, 0, STAKEHOLDERS, -1, 0, ref, kind,
                                                                  f"stakeholder of {service.name}", True, None), now)


# -- queries: what listeners need to know before a use case runs ------------------------------------------

def find(store: Store, incident_id: int) -> Row | None:
    return store.incident(incident_id)


def in_channel(store: Store, channel_id: str) -> Row | None:
    """The incident whose channel this is (`/incident lead|update|escalate` are typed there)."""
    return store.incident_by_channel(channel_id)


def timeline_in_channel(store: Store, channel_id: str) -> tuple[Row, list[Row], list[Row]] | None:
    """`/incident timeline`: the incident whose channel this is, its timeline and its pages (each read by an index)."""
    incident = store.incident_by_channel(channel_id) if channel_id else None
    if incident is None:
        return None
    return incident, store.timeline(incident["id"]), store.pages(incident["id"])


# -- use cases ----------------------------------------------------------------------------------------

def declare(store: Store, catalog: Catalog, request: DeclareRequest, now: datetime) -> Outcome:
    """Record the incident, snapshot its policy, page level 1 and queue the channel, all at once."""
    validate_declare(request, catalog)
    severity = catalog.severity(request.severity_id) if request.severity_id else catalog.default_severity()
    assert severity is not None
    service = catalog.services[request.service_id or ""]
    team_id, team = catalog.team_for_service(service.id)
    policy_id, why = catalog.choose_policy(team_id, severity.id, now)
    snapshot = Snapshot.from_catalog(catalog, policy_id)
    if request.drill:  # the same ladder, at the drill's pace, without the people never drilled
        snapshot = snapshot.drilled(request.drill_pace, team.drills.never if team.drills else ())
    title = request.title.strip()

    with store.transaction() as tx:
        if request.view_id:
            existing = tx.incident_by_view(request.view_id)
            if existing is not None:
                return Outcome(existing, False, "This form was already submitted.", {"paged": _paged_refs(tx, existing["id"])})
        incident = tx.insert_incident(
            now, title=title, description=request.description.strip(), service_id=service.id, service_name=service.name,
            team_id=team_id, team_name=team.name, severity=severity.id, private=int(request.private), status="triggered",
            declared_by=request.declared_by, declared_in=request.declared_in, declare_view_id=request.view_id,
            drill=int(request.drill), drill_pace=request.drill_pace)
        incident_id = incident["id"]
        drill = "Drill d" if request.drill else "D"
        tx.add_timeline(incident_id, now, "declared",
                        f"{drill}eclared by {request.declared_by}: {severity.label}, service {service.name} (team {team.name}).",
                        actor=request.declared_by, data={"severity": severity.id, "service": service.id, "policy": policy_id,
                                                         **({"drill": True, "pace": request.drill_pace} if request.drill else {})})
        tx.add_timeline(incident_id, now, "policy", f"Escalation policy {policy_id}: {why}.", data={"policy": policy_id})
        events = tracks.start(tx, catalog, incident, MAIN, team.name, snapshot, now, None, "declared")
        if not request.drill:  # a drill tells nobody outside its own channel: no stakeholders, no team announcement
            _notify_stakeholders(tx, catalog, incident, now)
        sync_rule_timers(tx, catalog, incident)
        name = channel_name_for(incident["number"], service.name, "drill") if request.drill else channel_name_for(incident["number"], title)
        for message in outbox.channel_setup(incident_id, name, bool(request.private), request.declared_by):
            tx.enqueue(message, now)
        if team.slack_channel and not request.private and not request.drill:
            tx.enqueue(outbox.announce(incident_id, team.slack_channel), now)
        if request.drill:
            from app import drills  # drills build on this module
            drills.finish_if_over(tx, incident_id, now)  # a ladder that reaches nobody at all ends the drill at once
        incident = tx.incident(incident_id)
        paged_refs = _paged_refs(tx, incident_id)
    paged = [e for e in events if e.kind == "paged"]
    return Outcome(incident, True, f"{incident_ref(incident['number'])} declared.",  # type: ignore[index]
                   {"paged_level": paged[-1].level if paged else None, "paged": paged_refs})


def acknowledge(store: Store, incident_id: int, user_id: str, now: datetime, catalog: Catalog | None = None) -> Outcome:
    """The first acknowledgement owns the incident; later ones acknowledge the clicker's own page.

    If the policy snapshotted for the main ladder says `lead_on_ack`, the first acknowledger also
    becomes the lead (when nobody leads yet); `catalog` gives the lead role's name and instructions.
    """
    from app import roles  # roles builds on this module's shared steps, so it is imported where it is used
    with store.transaction() as tx:
        incident, refusal = open_incident(tx, incident_id)
        if incident is None:
            return refusal  # type: ignore[return-value]
        ref = incident_ref(incident["number"])
        if incident["status"] == "resolved":
            return Outcome(incident, False, f"{ref} is already resolved.")
        my_tracks = tx.unacknowledged_page_tracks(incident_id, user_id)
        by_key = {t["track"]: t for t in tx.tracks(incident_id)}
        tx.acknowledge_pages(incident_id, user_id, now)
        stopped = []
        for key in sorted(my_tracks - {MAIN}):
            track = by_key.get(key)
            if track and track["state"] in ("active", "waiting", "exhausted"):
                tx.save_track(track, state="stopped")
                stopped.append(track)
        if stopped:
            tx.cancel_pending_pages(incident_id, f"acknowledged by {user_id}", sorted(my_tracks - {MAIN}))
        if incident["drill"] and incident["status"] == "triggered":
            from app import drills  # drills build on this module
            return drills.acknowledged(tx, incident, user_id, my_tracks, stopped, now)  # a drill tests every rung: its ladder climbs on

        if incident["status"] in OWNED:
            if not my_tracks:
                return Outcome(incident, False, f"{ref} was already acknowledged by <@{incident['acknowledged_by']}>.")
            incident = tx.bump_incident(incident_id, now)
            tx.add_timeline(incident_id, now, "page_acknowledged",
                            f"{user_id} acknowledged their page ({', '.join(t['label'] for t in stopped) or 'main ladder'}).",
                            actor=user_id, data={"tracks": [t["track"] for t in stopped]})
            labels = ", ".join(track_label(t) for t in stopped)
            say_and_refresh(tx, incident, now, f"page_ack:{user_id}:{incident['version']}",
                           f":white_check_mark: <@{user_id}> acknowledged their page" + (f" ({labels})" if labels else "") + ".")
            return Outcome(incident, True, f"You acknowledged your page for {ref}; <@{incident['acknowledged_by']}> owns the incident.",
                           {"page_only": True})

        if not tx.acknowledge_incident(incident_id, user_id, now):  # BEGIN IMMEDIATE serialises writers; the CAS guards all the same
            return Outcome(incident, False, f"{ref} changed while you clicked; try again.")
        tx.touch_rule_timers(incident_id, now)
        main = by_key.get(MAIN)
        snapshot = Snapshot.from_json(main["snapshot"]) if main else None
        timeout = snapshot.ack_timeout if snapshot else None
        if main is not None:
            # Acknowledgement stops the clock; with an ack timeout the ladder re-arms if still unresolved.
            tx.save_track(main, state="acked" if timeout else "stopped", due_at=now + timedelta(seconds=timeout) if timeout else None)
        tx.cancel_pending_pages(incident_id, f"acknowledged by {user_id}", [MAIN])
        incident = tx.bump_incident(incident_id, now)
        declared = parse_iso(incident["declared_at"])
        assert declared is not None
        seconds = int((now - declared).total_seconds())
        tx.add_timeline(incident_id, now, "acknowledged", f"Acknowledged by {user_id} after {format_duration(seconds)}.",
                        actor=user_id, data={"seconds_to_ack": seconds})
        rearm = f" If it is still open in {format_duration(timeout)}, the ladder re-arms." if timeout else ""
        leads = snapshot is not None and snapshot.lead_on_ack and roles.lead_on_acknowledgement(tx, catalog, incident, user_id, now)
        lead = f" <@{user_id}> leads it (this policy makes the first acknowledger the lead)." if leads else ""
        say_and_refresh(tx, incident, now, f"ack:{incident['version']}",
                       f":white_check_mark: <@{user_id}> acknowledged {ref}. The escalation clock is stopped.{rearm}{lead}")
    return Outcome(incident, True, f"You acknowledged {ref}.")


def still_on_it(store: Store, incident_id: int, user_id: str, now: datetime) -> Outcome:
    """"Still on it": push the ack timeout back instead of letting the ladder re-arm."""
    with store.transaction() as tx:
        incident, refusal = open_incident(tx, incident_id)
        if incident is None:
            return refusal  # type: ignore[return-value]
        ref = incident_ref(incident["number"])
        track = tx.track(incident_id, MAIN)
        if incident["status"] != "acknowledged" or track is None or track["state"] not in ("acked", "rearming"):
            return Outcome(incident, False, f"{ref} is not waiting on an acknowledgement timeout.")
        timeout = Snapshot.from_json(track["snapshot"]).ack_timeout or 0
        tx.save_track(track, state="acked", due_at=now + timedelta(seconds=timeout))
        incident = tx.bump_incident(incident_id, now)
        tx.add_timeline(incident_id, now, "still_on_it", f"{user_id} is still on it: the ack timeout restarts.", actor=user_id)
        say_and_refresh(tx, incident, now, f"still_on_it:{incident['version']}",
                       f":hammer_and_wrench: <@{user_id}> is still on it. The ladder re-arms in {format_duration(timeout)} if {ref} is still open.")
    return Outcome(incident, True, f"Thanks: the ladder stays quiet for another {format_duration(timeout)}.")


def change_severity(store: Store, catalog: Catalog, incident_id: int, severity_id: str, user_id: str, now: datetime) -> Outcome:
    """Change severity; a raise that makes the team's policy stricter switches the main ladder to it."""
    severity = catalog.severity(severity_id)
    with store.transaction() as tx:
        incident, refusal = open_incident(tx, incident_id)
        if incident is None:
            return refusal  # type: ignore[return-value]
        ref = incident_ref(incident["number"])
        if severity is None:  # removed from the catalog since the menu was drawn, or a forged value
            current = catalog.severity(incident["severity"])
            return Outcome(incident, False, f"Ladder does not know the severity “{escape_mrkdwn(truncate(severity_id, 40))}”: it is not in "
                                            f"the catalog. {ref} stays {current.label if current else incident['severity']}.")
        if incident["status"] == "resolved":
            return Outcome(incident, False, f"{ref} is resolved; its severity can no longer change.")
        if incident["severity"] == severity_id:
            return Outcome(incident, False, f"{ref} is already {severity.label}.")
        old_id = incident["severity"]
        old = catalog.severity(old_id)
        old_label = old.label if old else old_id
        raised = catalog.ranks.get(severity_id, 99) < catalog.ranks.get(old_id, 99)
        incident = tx.bump_incident(incident_id, now, severity=severity_id, severity_since=iso(now))
        tx.touch_rule_timers(incident_id, now)
        tx.add_timeline(incident_id, now, "severity_changed", f"Severity changed from {old_label} to {severity.label} by {user_id}.",
                        actor=user_id, data={"from": old_id, "to": severity_id})
        text = f":rotating_light: <@{user_id}> changed the severity of {ref} from {old_label} to *{severity.label}*."
        if raised and incident["team_id"] in catalog.teams:
            text += _switch_policy_if_stricter(tx, catalog, incident, severity.label, now)
        say_and_refresh(tx, incident, now, f"severity:{incident['version']}", text)
    return Outcome(incident, True, f"{ref} is now {severity.label}.")


def _switch_policy_if_stricter(tx: Tx, catalog: Catalog, incident: Row, label: str, now: datetime) -> str:
    track = tx.track(incident["id"], MAIN)
    if track is None:
        return ""
    policy_id, why = catalog.choose_policy(incident["team_id"], incident["severity"], now)
    if policy_id == Snapshot.from_json(track["snapshot"]).root:
        return ""
    snapshot = Snapshot.from_catalog(catalog, policy_id)
    if incident.get("drill"):  # still a drill: its pace, and nobody it must never reach
        snapshot = snapshot.drilled(incident["drill_pace"], Snapshot.from_json(track["snapshot"]).excluded)
    track = tx.restart_track(track["id"], snapshot_json=snapshot.to_json(), policy=policy_id)
    tx.add_timeline(incident["id"], now, "policy_switched",
                    f"Raised to {label}: the main ladder switched to policy {policy_id} ({why}), from level 1.", data={"policy": policy_id})
    if incident["status"] == "triggered":
        state, events = escalation.start(snapshot, now, catalog.schedules)
        tracks.commit(tx, incident["id"], track, tracks.decide(track, snapshot, state, events, None, f"raised to {label}"), now)
        return f" The ladder switched to the *{policy_id}* policy and pages its level 1 now."
    if incident["status"] == "mitigated":  # a mitigated incident's ladder never pages again
        return f" Its policy for new pages is now *{policy_id}*; the ladder stays stopped while {incident_ref(incident['number'])} is mitigated."
    return f" The ladder switched to the *{policy_id}* policy (it applies if the ladder re-arms)."


def mitigate(store: Store, incident_id: int, user_id: str, now: datetime, catalog: Catalog | None = None) -> Outcome:
    """Containment: the impact is stopped, the cause may not be. Between acknowledged and resolved on the incident clock.

    Mitigating an incident nobody acknowledged acknowledges it too (whoever stopped the bleeding owns it), and either
    way the main ladder stops for good: no more pages and no ack-timeout re-arm. Escalations someone asked for on
    other tracks keep going until their own people answer. As with an acknowledgement, a policy with `lead_on_ack`
    makes whoever acknowledged this way the lead.
    """
    from app import roles  # roles builds on this module's shared steps, so it is imported where it is used
    with store.transaction() as tx:
        incident, refusal = open_incident(tx, incident_id)
        if incident is None:
            return refusal  # type: ignore[return-value]
        ref = incident_ref(incident["number"])
        if incident["status"] == "resolved":
            return Outcome(incident, False, f"{ref} is already resolved.")
        if incident["status"] == "mitigated":
            return Outcome(incident, False, f"{ref} was already mitigated by <@{incident['mitigated_by']}>.")
        declared = parse_iso(incident["declared_at"])
        assert declared is not None
        seconds = int((now - declared).total_seconds())
        changes: dict[str, Any] = {"status": "mitigated", "mitigated_by": user_id, "mitigated_at": iso(now)}
        if incident["status"] == "triggered":
            changes.update(acknowledged_by=user_id, acknowledged_at=iso(now))
            tx.acknowledge_pages(incident_id, user_id, now)
            tx.cancel_pending_pages(incident_id, f"mitigated by {user_id}", [MAIN])
            tx.add_timeline(incident_id, now, "acknowledged", f"Acknowledged by {user_id} after {format_duration(seconds)} "
                            "(by mitigating it).", actor=user_id, data={"seconds_to_ack": seconds})
        main = tx.track(incident_id, MAIN)
        if main is not None and main["state"] not in ("stopped", "exhausted"):
            tx.save_track(main, state="stopped")
        tx.touch_rule_timers(incident_id, now)
        leads = (incident["status"] == "triggered" and main is not None and Snapshot.from_json(main["snapshot"]).lead_on_ack
                 and roles.lead_on_acknowledgement(tx, catalog, incident, user_id, now))
        incident = tx.bump_incident(incident_id, now, **changes)
        tx.add_timeline(incident_id, now, "mitigated", f"Mitigated by {user_id} after {format_duration(seconds)}.",
                        actor=user_id, data={"seconds_to_mitigate": seconds})
        lead = f" <@{user_id}> leads it (this policy makes the first acknowledger the lead)." if leads else ""
        say_and_refresh(tx, incident, now, f"mitigated:{incident['version']}",
                        f":large_yellow_circle: <@{user_id}> marked {ref} *mitigated*: the impact is contained. "
                        f"Resolve it once the cause is fixed.{lead}")
        if incident["drill"]:
            from app import drills  # drills build on this module
            drills.finish_if_over(tx, incident_id, now)  # whoever marked it mitigated stopped the drill
    return Outcome(incident, True, f"{ref} is mitigated.")


def resolve(store: Store, incident_id: int, user_id: str, note: str, now: datetime) -> Outcome:
    with store.transaction() as tx:
        incident, refusal = open_incident(tx, incident_id)
        if incident is None:
            return refusal  # type: ignore[return-value]
        ref = incident_ref(incident["number"])
        if incident["status"] == "resolved":
            return Outcome(incident, False, f"{ref} was already resolved by <@{incident['resolved_by']}>.")
        incident = close(tx, incident, user_id, note.strip(), now, actor=user_id)
    return Outcome(incident, True, f"{ref} is resolved.")


def close(tx: Tx, incident: Row, user_id: str, note: str, now: datetime, actor: str | None = None) -> Row:
    """Resolve inside the caller's transaction: every ladder and rule stops, nothing pending is sent. A real incident gets
    its resolution post and review draft; a drill its drill report instead (rendered when sent, app.drills.report_text).
    `actor` is who the timeline names (None: Ladder itself, ending a drill)."""
    incident_id = incident["id"]
    for track in tx.tracks(incident_id):
        tx.save_track(track, state="stopped")
    tx.stop_rule_timers(incident_id)
    tx.cancel_pending_pages(incident_id, f"resolved by {user_id}")
    incident = tx.bump_incident(incident_id, now, status="resolved", resolved_by=user_id, resolved_at=iso(now), resolution_note=note)
    tx.add_timeline(incident_id, now, "resolved", f"Resolved by {actor or 'Ladder'}." + (f" Note: {note}" if note else ""),
                    actor=actor, data={"note": note})
    if incident["drill"]:
        tx.enqueue(outbox.drill_report(incident_id), now)
    else:
        tx.enqueue(outbox.resolution(incident_id), now)
        tx.enqueue(outbox.upload_review(incident_id), now)  # the review draft, rendered when sent (with what was added since)
    tx.enqueue(outbox.refresh(incident_id, incident["version"]), now)
    return incident
