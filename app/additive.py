"""Additive escalation: page the main ladder's next level, another team or a named person, now.

Never a reassignment: whoever acknowledged keeps the incident, and each team or person escalated to
gets a track of its own that climbs its own policy until someone on it acknowledges. A responder
asks from the summary's Escalate button or `/incident escalate`; a rule asks by itself (`by_rule`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from app import escalation, tracks
from app.catalog import Catalog
from app.escalation import Snapshot
from app.incidents import InvalidInput, Outcome, Row, open_incident, say_and_refresh
from app.store import Store, Tx, parse_iso
from app.text import escape_mrkdwn, incident_ref, mention, typed_text_problem
from app.tracks import MAIN

PERSON_TIMEOUT = 600  # a named person paged additively: how long before the channel hears nobody answered


def escalate_choices(store: Store, catalog: Catalog, incident: Row, now: datetime) -> tuple[str | None, list[tuple[str, str]]] | str:
    """For the escalate form: who the main ladder's next level reaches now, and the other teams; or why not."""
    if incident["status"] == "resolved":
        return f"{incident_ref(incident['number'])} is resolved; there is nobody left to escalate to."
    main = store.track(incident["id"], MAIN)
    next_level = None
    if main is not None:
        snapshot = Snapshot.from_json(main["snapshot"])
        level = main["level"] + 1
        if level < snapshot.level_count(main["policy"]):
            plan = escalation.plan_level(snapshot, level, now, catalog.schedules, main["policy"])
            who = ", ".join(t.ref for t in plan.targets) or "nobody on call now"
            next_level = f"Level {level + 1} of {main['policy']}: {who}"
    if incident.get("drill"):  # a drill tells nobody outside its channel: only its own next level (`escalate_in` refuses the rest)
        if next_level is None:
            return (f"{incident_ref(incident['number'])} is a drill at its ladder's last level: a drill tells nobody outside its "
                    "channel, so there is nobody further to escalate to.")
        return next_level, []
    teams = [(tid, t.name) for tid, t in sorted(catalog.teams.items(), key=lambda kv: kv[1].name.lower()) if tid != incident["team_id"]]
    return next_level, teams


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
        """Who asked, in mrkdwn."""
        return f"<@{self.by}>" if self.by else f"rule `{self.by_rule}`"

    @property
    def who_plain(self) -> str:
        return self.by if self.by else f"rule `{self.by_rule}`"


def validate_reason(reason: str) -> None:
    """The reason is optional; one that is given goes to the channel and the timeline, so it must be readable text."""
    if problem := typed_text_problem(reason, "The reason"):
        raise InvalidInput({"reason": problem})


def escalate(store: Store, catalog: Catalog, incident_id: int, request: EscalateRequest, now: datetime) -> Outcome:
    """Page more people now. Never a reassignment: whoever acknowledged keeps the incident."""
    with store.transaction() as tx:
        incident, refusal = open_incident(tx, incident_id)
        if incident is None:
            return refusal  # type: ignore[return-value]
        return escalate_in(tx, catalog, incident, request, now)


def escalate_in(tx: Tx, catalog: Catalog, incident: Row, request: EscalateRequest, now: datetime) -> Outcome:
    """`escalate` inside a transaction the caller holds (a rule firing in the worker's tick)."""
    incident_id = incident["id"]
    ref = incident_ref(incident["number"])
    if incident["status"] == "resolved":
        return Outcome(incident, False, f"{ref} is resolved; there is nobody left to escalate to. Declare a new incident if it is back.")
    if request.expected_version is not None and incident["version"] != request.expected_version:
        return Outcome(incident, False, f"{ref} changed while you had the form open (someone escalated or acknowledged); "
                                        "nothing was paged. Look at the summary and escalate again if you still need to.")
    reason = request.reason.strip()
    kind, _, target = request.to.partition(":")
    if incident.get("drill") and kind in ("team", "person"):
        return Outcome(incident, False, f"{ref} is a drill, and a drill tells nobody outside its channel: escalating to another "
                                        "team or a person is not drilled. Escalating to the next level is.")
    if kind == "next":
        outcome = _escalate_next(tx, catalog, incident, request, now)
    elif kind == "team":
        outcome = _escalate_to_team(tx, catalog, incident, target, request, now)
    elif kind == "person":
        outcome = _escalate_to_person(tx, catalog, incident, target, request, now)
    else:
        outcome = Outcome(incident, False, "Choose whom to escalate to.")
    if not outcome.changed:
        return outcome
    tx.add_timeline(incident_id, now, "escalated",
                    f"{request.who_plain} escalated to {outcome.data['plain']}" + (f": {reason}" if reason else "."),
                    actor=request.by, data={"to": request.to, "reason": reason, "rule": request.by_rule})
    incident = tx.bump_incident(incident_id, now)
    text = f":arrow_double_up: {request.who} escalated {ref} to {outcome.data['label']}" + (f": {escape_mrkdwn(reason)}" if reason else ".")
    if incident["acknowledged_by"]:
        text += f" <@{incident['acknowledged_by']}> still owns the incident."
    say_and_refresh(tx, incident, now, f"escalate:{incident['version']}", text)
    return Outcome(incident, True, f"Escalated {ref} to {outcome.data['label']}.", outcome.data)


def _escalate_next(tx: Tx, catalog: Catalog, incident: Row, request: EscalateRequest, now: datetime) -> Outcome:
    ref = incident_ref(incident["number"])
    track = tx.track(incident["id"], MAIN)
    assert track is not None
    snapshot = Snapshot.from_json(track["snapshot"])
    state = tracks.state_of(track, tx.last_paged(track))
    if state.level + 1 >= snapshot.level_count(state.policy):
        return Outcome(incident, False, f"{ref} is already at the last level of the {state.policy} policy; nobody further up to page. "
                                        "Escalate to another team or a person instead.")
    new_state, events = escalation.escalate_now(snapshot, state, now, catalog.schedules)
    if not any(e.kind == "paged" for e in events):
        return Outcome(incident, False, f"Every level above the current one of {ref} resolves to nobody right now; nobody was paged.")
    # Additive: on an acknowledged incident the acknowledger keeps it and the ladder's clock stays as it is.
    timer = (track["state"], parse_iso(track["due_at"])) if incident["status"] in tracks.OWNED else None
    changes = tracks.decide(track, snapshot, new_state, events, request.by, f"escalated by {request.who_plain}", timer)
    tracks.commit(tx, incident["id"], track, changes, now)
    label = f"level {new_state.level + 1}"
    return Outcome(incident, True, data={"label": label, "plain": label, "level": new_state.level})


def _escalate_to_team(tx: Tx, catalog: Catalog, incident: Row, team_id: str, request: EscalateRequest, now: datetime) -> Outcome:
    if team_id not in catalog.teams:
        return Outcome(incident, False, "That team is not in the catalog (any more).")
    team = catalog.teams[team_id]
    existing = [t for t in tx.tracks(incident["id"]) if t["track"] == MAIN and incident["team_id"] == team_id
                or t["track"].startswith(f"team:{team_id}#")]
    if any(t["state"] in ("active", "waiting") for t in existing):
        return Outcome(incident, False, f"{escape_mrkdwn(team.name)} is already being paged for {incident_ref(incident['number'])}; "
                                        "wait for their acknowledgement or escalate their ladder from the summary.")
    policy_id, why = catalog.choose_policy(team_id, incident["severity"], now)
    key = f"team:{team_id}#{len(existing) + 1}"
    events = tracks.start(tx, catalog, incident, key, team.name, Snapshot.from_catalog(catalog, policy_id), now, request.by,
                          f"escalated by {request.who_plain} through policy {policy_id}: {why}", request.by, request.reason.strip())
    if not any(e.kind == "paged" for e in events):
        plain = f"{team.name} (nobody reachable right now)"
        return Outcome(incident, True, data={"label": escape_mrkdwn(plain), "plain": plain})
    return Outcome(incident, True, data={"label": escape_mrkdwn(team.name), "plain": team.name, "track": key})


def _escalate_to_person(tx: Tx, catalog: Catalog, incident: Row, person: str, request: EscalateRequest, now: datetime) -> Outcome:
    if not person:
        return Outcome(incident, False, "Choose the person to page.")
    theirs = [t for t in tx.tracks(incident["id"]) if t["track"].lower().startswith(f"person:{person.lower()}#")]  # e-mails: any case
    label = mention(person)
    if any(t["state"] in ("active", "waiting") for t in theirs):
        return Outcome(incident, False, f"{label} is already being paged for {incident_ref(incident['number'])}.")
    tracks.start(tx, catalog, incident, f"person:{person}#{len(theirs) + 1}", person, Snapshot.for_person(person, PERSON_TIMEOUT), now,
                 request.by, f"escalated by {request.who_plain}", request.by, request.reason.strip())
    return Outcome(incident, True, data={"label": label, "plain": person})
