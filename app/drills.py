"""Live drills: the real ladder of a service, run on purpose and marked as a drill everywhere.

A drill is an incident (`incidents.drill = 1`) declared through the real declare path, so its pages go
out exactly as a real incident's would, at the times `simulate` predicts, with three differences decided
at declaration and kept in its policy snapshot (so a restart resumes it unchanged):

- its pace: every level's timeout replaced by the drill's (the request's, else the team's `drills.pace`,
  never under a minute; none: the policy's own);
- the team's `drills.never` people are left out wherever a level resolves to people (a level left with
  nobody is skipped, and the timeline says "not drilled");
- it tells nobody outside its own channel: no team-channel announcement, no stakeholders, and rules that
  would reach outside the channel (`notify`, escalations to another team or a person) do not act for it
  (`drill_safe`, checked where rules fire, in app.nudges).

Unlike a real incident, a drill's acknowledgement does not stop its ladder: the point is to test every rung.
Acknowledging (from the page DM or the summary) marks the clicker's own pages as acknowledged (the timeline
says on which rung and how long after the page reached them, their DM says "You acknowledged", the channel
gets a line), and the incident stays `triggered`: the main ladder climbs on at the drill's pace, so every rung
is paged at the times `simulate --no-ack` predicts, whatever people click. Someone not paged in the drill who
clicks Acknowledge is told so, and nothing is recorded.

The *first pass* is what a drill tests: the rungs (policy, level) on loop 0 of the main ladder's root policy,
then those of each policy it handed off to (`then:`), counted once the ladder has reached that policy (a
hand-off follows the root's repeats, so a first pass that answered ends the drill before them). A rung of the
first pass is *tested* once the ladder reached it on loop 0 and either it paged nobody (skipped or waited on:
tested-and-skipped; notify-only: nothing to acknowledge) or at least one of its loop-0 pages was acknowledged,
in time or later. A drill ends by itself (`finish_if_over`, after each acknowledgement and each step of its
main ladder) when:

- every rung of the first pass is tested: the ladder has reached the last one and each that paged someone
  was acknowledged, so nothing is left to test (ending `answered`);
- or the main ladder is exhausted (every level, repeat and hand-off; ending `exhausted`, whoever answered).

Someone marking it Mitigated, or resolving it, stops it at once (ending `stopped`). When it ends by itself it is
resolved by Ladder on behalf of whoever started it, its resolution note says why with each first-pass rung in
short (what `/incident drill` lists), and its channel gets a *drill report* (`report_text`, built on
`review.build`) instead of the review upload: each rung, reached or not, who acknowledged after how long (a
page's `acknowledged_at` against its `sent_at`), what timed out, what was skipped and why, and why it ended.
Drills never count in reports of real incidents (`report.figures.counts`) and are listed on their own
(`recent`, `python -m app drill --list`).

The catalog says, per team, who may start a drill of its services (`drills.allowed`; the CLI is an operator's
tool and is always allowed), when (`drills.hours`, in the team's zone), who is never drilled (`drills.never`)
and the default pace. A team without `drills:` lets anyone start one at any time, at the policy's pace,
with nobody excluded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app import escalation, incidents, routing
from app.catalog import Catalog, ScopedRule, Service, format_duration
from app.catalog.schema import MIN_DRILL_PACE, Drills
from app.escalation import Snapshot
from app.incidents import DeclareRequest, Outcome
from app.review import Material, Review, build, load
from app.store import Store, Tx, iso, parse_iso
from app.text import escape_mrkdwn, incident_ref, truncate
from app.tracks import MAIN, OWNED

Row = dict[str, Any]

CLI_USER = "USLACKBOT"  # who a drill started from the CLI without --as is declared by: Slack's own user, in every workspace
LISTED = 20  # drills shown by `/incident drill` alone and `python -m app drill --list`
NO_DRILLS = Drills()  # a team without `drills:`: anyone, any time, the policy's pace, nobody excluded
MARK = ":test_tube: DRILL"


@dataclass(frozen=True)
class DrillRequest:
    """A drill to start: `service` is a service id or words routed to one (as `/incident drill bank transfers`)."""

    service: str
    severity_id: str | None
    started_by: str  # a Slack user ID
    starter_refs: tuple[str, ...] = ()  # everything the catalog may call the starter: their ID and known e-mails
    pace: int | None = None  # seconds; None: the team's `drills.pace`, else each level's own timeout
    operator: bool = False  # from the CLI: `drills.allowed` does not apply; the hours and an open SEV1 still do
    plain: bool = False  # the answer is for a terminal (the CLI): plain text, no mrkdwn escaping, emoji or backticks

    def show(self, text: str) -> str:
        """Text from the catalog or the request as the answer shows it: escaped for Slack's mrkdwn, as is for a terminal."""
        return text if self.plain else escape_mrkdwn(text)


def drills_of(catalog: Catalog, team_id: str) -> Drills:
    team = catalog.teams.get(team_id)
    return team.drills if team is not None and team.drills is not None else NO_DRILLS


def find_service(catalog: Catalog, text: str, plain: bool = False) -> tuple[Service | None, str]:
    """A service by id or name, else the one routing is sure of; with no service, a hint naming the closest ones
    (in mrkdwn, or `plain` for a terminal)."""
    wanted = " ".join(text.split())
    if wanted in catalog.services:
        return catalog.services[wanted], ""
    by_name = next((s for s in catalog.services.values() if s.name.lower() == wanted.lower()), None)
    if by_name is not None:
        return by_name, ""
    routed = routing.route(catalog, wanted) if wanted else None
    if routed is not None:
        return routed, ""
    close = routing.search(catalog, wanted, limit=3) if wanted else []
    named = (f"{s.id} ({s.name})" if plain else f"`{s.id}` ({escape_mrkdwn(s.name)})" for s in close)
    return None, (f" Did you mean {', '.join(named)}?" if close else "")


def _allowed(rules: Drills, request: DrillRequest) -> bool:
    if request.operator or rules.allowed is None:
        return True
    mine = {ref.lower() for ref in (request.started_by, *request.starter_refs)}
    return any(ref.lower() in mine for ref in rules.allowed)


def _open_top_severity(store: Store, catalog: Catalog, team_id: str) -> Row | None:
    """A real (not drill) incident of the team at the catalog's most severe level, open now."""
    top = min(catalog.ranks.values(), default=None)
    return next((i for i in sorted(store.open_incidents(), key=lambda i: i["number"])
                 if i["team_id"] == team_id and not i["drill"] and catalog.ranks.get(i["severity"]) == top), None)


def refusal(store: Store, catalog: Catalog, request: DrillRequest, now: datetime) -> str | None:
    """Why this drill may not start now, in words for whoever asked; None when it may."""
    show = request.show
    service, hint = find_service(catalog, request.service, request.plain)
    if service is None:
        return f"No service “{show(truncate(request.service, 80))}” in the catalog.{hint}"
    if request.severity_id and catalog.severity(request.severity_id) is None:
        known = ", ".join(s.id if request.plain else f"`{s.id}`" for s in catalog.severities)
        return f"No severity “{show(truncate(request.severity_id, 40))}” in the catalog; known: {known}."
    team_id, team = catalog.team_for_service(service.id)
    rules = drills_of(catalog, team_id)
    pace = request.pace if request.pace is not None else rules.pace
    if pace is not None and pace < MIN_DRILL_PACE:
        return f"A drill's pace is at least 1m (each level waits that long); {format_duration(max(pace, 0))} is too fast."
    if not _allowed(rules, request):
        who = ", ".join(show(ref) for ref in rules.allowed or []) or "nobody in Slack (only from the CLI)"
        return f"You may not start drills of team {show(team.name)}'s services: its catalog allows {who}."
    if rules.hours is not None:
        local = now.astimezone(team.zone)
        if not rules.hours.contains(local):
            return (f"Drills of team {show(team.name)} may start {rules.hours.describe()} ({team.timezone}) only; "
                    f"it is {local:%a %H:%M} there now.")
    real = _open_top_severity(store, catalog, team_id)
    if real is not None:
        severity = catalog.severity(real["severity"])
        return (f"{incident_ref(real['number'])} ({severity.label if severity else real['severity']}) of team {show(team.name)} "
                "is open right now: no drill while a real one needs them.")
    return None


def start(store: Store, catalog: Catalog, request: DrillRequest, now: datetime) -> Outcome:
    """Refuse with the reason, or declare the drill through the real declare path and say what happens next."""
    reason = refusal(store, catalog, request, now)
    if reason is not None:
        return Outcome(None, False, reason)
    service, _ = find_service(catalog, request.service)
    assert service is not None
    team_id, team = catalog.team_for_service(service.id)
    pace = request.pace if request.pace is not None else drills_of(catalog, team_id).pace
    declared = incidents.declare(store, catalog, DeclareRequest(
        title=f"DRILL: {service.name} (nothing is broken)", service_id=service.id, severity_id=request.severity_id,
        declared_by=request.started_by, description="A drill of the escalation ladder: pages are real, the incident is not.",
        drill=True, drill_pace=pace), now)
    incident = declared.incident
    assert incident is not None
    return Outcome(incident, True, _what_next(store, catalog, incident, now, request), declared.data)


def _what_next(store: Store, catalog: Catalog, incident: Row, now: datetime, request: DrillRequest) -> str:
    """The answer to whoever started it: who the ladder will page (as on call now), at what pace."""
    ref = incident_ref(incident["number"])
    track = store.track(incident["id"], MAIN)
    show = request.show
    lines = [f"{'DRILL' if request.plain else MARK}: {ref} started on {show(incident['service_name'])} (team {show(incident['team_name'])}, "
             f"{'every level ' + format_duration(incident['drill_pace']) if incident['drill_pace'] else 'the policy’s own timeouts'})."]
    if track is not None:
        snapshot = Snapshot.from_json(track["snapshot"])
        for index in range(snapshot.level_count()):
            plan = escalation.plan_level(snapshot, index, now, catalog.schedules)
            who = ", ".join(show(t.ref) for t in plan.targets) or "nobody (skipped)"
            notes = f" ({'; '.join(show(g) for g in plan.gaps)})" if plan.gaps else ""
            lines.append(f"• Level {index + 1}: {who}{notes}, then {format_duration(plan.escalate_after)} to answer")
    lines.append("An acknowledgement does not stop a drill's ladder: every rung is paged at these times. It ends by itself when every "
                 "rung has been answered or the ladder is exhausted, and posts a drill report in its channel.")
    return "\n".join(lines)


def drill_safe(scoped: ScopedRule) -> bool:
    """Whether a rule may act for a drill: only within its own channel and ladder (a nudge, a reminder, the next level)."""
    rule = scoped.rule
    if rule.do == "notify":
        return False
    return not (rule.do == "escalate" and rule.escalate_to != "next")


# -- acknowledging, and the end of a drill -----------------------------------------------------------------

def acknowledged(tx: Tx, incident: Row, user_id: str, my_tracks: set[str], stopped: list[Row], now: datetime) -> Outcome:
    """A drill's Acknowledge, in `incidents.acknowledge`'s transaction after it marked the clicker's pages acknowledged
    (`my_tracks`: the tracks they had unacknowledged pages on; `stopped`: additive tracks of theirs it stopped, as for a
    real incident): record it rung by rung, keep the main ladder climbing, and end the drill if that was the last rung."""
    incident_id = incident["id"]
    ref = incident_ref(incident["number"])
    pages = tx.pages(incident_id)
    if not my_tracks:  # nothing of theirs to acknowledge: nothing changes
        if any(p["user_id"] == user_id and p["level"] >= 0 and not p["notify_only"] for p in pages):
            return Outcome(incident, False, f"{MARK}: you already acknowledged your page in this drill ({ref}); nothing more to record.")
        return Outcome(incident, False, f"{MARK}: you were not paged in this drill ({ref}); nothing recorded.")
    main = tx.track(incident_id, MAIN)
    root = Snapshot.from_json(main["snapshot"]).root if main else ""
    mine = [p for p in pages if p["user_id"] == user_id and p["acknowledged_at"] == iso(now) and not p["notify_only"] and p["level"] >= 0]
    rungs = [{"track": p["track"], "policy": p["policy"], "level": p["level"], "loop": p["loop"], "seconds": _after(p)} for p in mine]
    words = "; ".join(f"{_rung_name(r['policy'], r['level'], r['loop'], root, r['track'])} after {format_duration(r['seconds'])}"
                      for r in rungs) or "their page"
    incident = tx.bump_incident(incident_id, now)
    tx.add_timeline(incident_id, now, "page_acknowledged", f"{user_id} acknowledged their drill page ({words}); the ladder climbs on.",
                    actor=user_id, data={"tracks": [t["track"] for t in stopped], "drill": True, "rungs": rungs})
    incidents.say_and_refresh(tx, incident, now, f"drill_ack:{user_id}:{incident['version']}",
                              f":white_check_mark: <@{user_id}> acknowledged their drill page ({words}). "
                              "The ladder climbs on: a drill tests every rung.")
    over = finish_if_over(tx, incident_id, now)
    return Outcome(tx.incident(incident_id) or incident, True,
                   f"{MARK}: you acknowledged your page for {ref} ({words}). Thank you: that is what it tests."
                   + (" That was the last rung to test: the drill is over, and its report is posted in its channel." if over else ""),
                   {"page_only": True})


def _after(page: Row) -> int:
    """How long after the page reached them it was acknowledged: its `acknowledged_at` against its `sent_at`."""
    sent, acked = parse_iso(page["sent_at"] or page["created_at"]), parse_iso(page["acknowledged_at"])
    return max(int((acked - sent).total_seconds()), 0) if sent and acked else 0


def _rung_name(policy: str, level: int, loop: int, root: str, track: str = MAIN) -> str:
    """"level 2", "level 1 of policy x", "level 1 (repeat 1)" (`level` 0-based, as stored)."""
    name = f"level {level + 1}" + ("" if policy == root else f" of policy {policy}") + (f" (repeat {loop})" if loop else "")
    return name if track == MAIN else f"{track}: {name}"


@dataclass(frozen=True)
class Rung:
    """One rung (policy, level) of a drill's first pass (see the module's docstring), as far as the ladder got."""

    policy: str
    level: int  # 0-based, as stored
    reached: bool  # the main ladder paged it, skipped it or waited on it on loop 0
    paged: bool  # it paged someone and wants an acknowledgement (not skipped, waited on or notify-only)
    outcome: str  # not_reached | skipped | waiting | notified | acknowledged | acknowledged_late | timed_out | waiting_for_ack
    acks: tuple[tuple[str, str | None, int], ...] = ()  # (target, user ID, seconds after its page reached them), by time
    why: str = ""  # a skipped or waited-on rung: why nobody was reachable

    @property
    def tested(self) -> bool:
        return self.reached and (not self.paged or bool(self.acks))


_RUNG_KINDS = ("level_paged", "level_skipped", "level_waiting")
_ENDS_RUNG = _RUNG_KINDS + ("exhausted", "repeat", "handoff")


def _data(entry: Row) -> dict[str, Any]:
    raw = entry.get("data")
    value = json.loads(raw) if isinstance(raw, str) and raw else (raw or {})
    return value if isinstance(value, dict) else {}


def first_pass(snapshot: Snapshot, track: Row, timeline: list[Row], pages: list[Row]) -> list[Rung]:
    """The first pass's rungs and how each went, from the main ladder's timeline entries and pages; pure."""
    entries = [(e, _data(e)) for e in timeline]
    switched = max((i for i, (e, _) in enumerate(entries) if e["kind"] == "policy_switched"), default=-1)
    main = [(e, d) for e, d in entries[switched + 1:] if d.get("track", MAIN) == MAIN and e["kind"] in _ENDS_RUNG]
    chain = [snapshot.root]
    while (then := snapshot.policy(chain[-1]).then) and then in snapshot.policies and then not in chain:
        chain.append(then)
    reached_policies = [p for i, p in enumerate(chain) if i == 0 or any(
        d.get("policy") == p and int(d.get("loop", 0)) == 0 for e, d in main if e["kind"] in _RUNG_KINDS)]
    rungs = []
    for policy in reached_policies:
        for level in range(snapshot.level_count(policy)):
            at = next((i for i, (e, d) in enumerate(main) if e["kind"] in _RUNG_KINDS and d.get("policy") == policy
                       and int(d.get("level", -1)) == level and int(d.get("loop", 0)) == 0), None)
            if at is None:
                rungs.append(Rung(policy, level, False, False, "not_reached"))
                continue
            entry = main[at][0]
            if entry["kind"] != "level_paged":
                gaps = [e["text"] for e, d in entries if e["kind"] == "gap" and e["at"] == entry["at"] and d.get("track", MAIN) == MAIN
                        and d.get("policy") == policy and d.get("level") == level]
                why = " ".join(g.partition(": ")[2] or g for g in gaps) or "it resolved to nobody"
                rungs.append(Rung(policy, level, True, False, "skipped" if entry["kind"] == "level_skipped" else "waiting", why=why))
                continue
            mine = [p for p in pages if p["track"] == MAIN and p["round"] == track["round"] and p["policy"] == policy
                    and p["level"] == level and p["loop"] == 0]
            if mine and all(p["notify_only"] for p in mine):
                rungs.append(Rung(policy, level, True, False, "notified"))
                continue
            acked = sorted((p for p in mine if p["acknowledged_at"] and not p["notify_only"]), key=lambda p: p["acknowledged_at"])
            ended = main[at + 1][0]["at"] if at + 1 < len(main) else None  # when the ladder moved past it
            if acked:
                outcome = "acknowledged" if ended is None or acked[0]["acknowledged_at"] <= ended else "acknowledged_late"
            else:
                outcome = "timed_out" if ended is not None else "waiting_for_ack"
            rungs.append(Rung(policy, level, True, True, outcome, tuple((p["target"], p["user_id"], _after(p)) for p in acked)))
    return rungs


def summary(rungs: list[Rung], root: str) -> str:
    """Each first-pass rung in short, in plain words (the resolution note, so `/incident drill` lists it)."""
    said = []
    for rung in rungs:
        name = _rung_name(rung.policy, rung.level, 0, root)
        if rung.acks:
            target, _, seconds = rung.acks[0]
            late = " (after it timed out)" if rung.outcome == "acknowledged_late" else ""
            said.append(f"{name}: {target} after {format_duration(seconds)}{late}")
        else:
            said.append(f"{name}: " + {"timed_out": "no acknowledgement", "waiting_for_ack": "no acknowledgement yet",
                                       "not_reached": "not reached", "notified": "notified",
                                       "skipped": f"skipped ({rung.why.rstrip('.')})",
                                       "waiting": f"nobody to page, waited ({rung.why.rstrip('.')})"}.get(rung.outcome, rung.outcome))
    return "; ".join(said)


def _why_over(tx: Tx, incident: Row) -> tuple[str, str, list[Rung], str] | None:
    """(ending kind, why in words, the first pass, its root) if the drill is over now, else None."""
    main = tx.track(incident["id"], MAIN)
    if main is None:
        return None
    snapshot = Snapshot.from_json(main["snapshot"])
    rungs = first_pass(snapshot, main, tx.timeline(incident["id"]), tx.pages(incident["id"]))
    if incident["status"] in OWNED:  # someone marked it mitigated (a drill is never acknowledged as a whole)
        who = incident["mitigated_by"] or incident["acknowledged_by"]
        return "stopped", f"stopped by {who} ({'marked mitigated' if incident['mitigated_by'] else 'acknowledged'})", rungs, snapshot.root
    if main["state"] == "exhausted":
        untested = ", ".join(_rung_name(r.policy, r.level, 0, snapshot.root) for r in rungs if r.reached and not r.tested)
        why = ("the ladder is exhausted: nobody acknowledged on any rung" if not any(r.acks for r in rungs) and untested
               else "the ladder is exhausted" + (f"; not acknowledged: {untested}" if untested else ""))
        return "exhausted", why, rungs, snapshot.root
    if rungs and all(r.tested for r in rungs):
        return "answered", "every rung has been answered", rungs, snapshot.root
    return None


def finish_if_over(tx: Tx, incident_id: int, now: datetime) -> bool:
    """End a drill that is over (see the module's docstring: every first-pass rung tested, the main ladder exhausted, or
    someone marked it mitigated): resolve it, in the caller's transaction, with the drill report queued in its channel."""
    incident = tx.incident(incident_id)
    if incident is None or not incident["drill"] or incident["status"] == "resolved":
        return False
    over = _why_over(tx, incident)
    if over is None:
        return False
    kind, why, rungs, root = over
    brief = summary(rungs, root)
    by = (incident["mitigated_by"] or incident["acknowledged_by"]) if kind == "stopped" else None
    tx.add_timeline(incident_id, now, "drill_over", f"Drill over: {why}.",
                    data={"kind": kind, "why": why, "by": by,
                          "rungs": [{"policy": r.policy, "level": r.level + 1, "outcome": r.outcome,
                                     "acks": [{"target": t, "user_id": u, "after_s": s} for t, u, s in r.acks]} for r in rungs]})
    incidents.close(tx, incident, incident["declared_by"], f"Drill over: {why}." + (f" {brief}." if brief else ""), now)
    return True


def recent(store: Store, limit: int = LISTED) -> list[Row]:
    """The latest drills, newest first (their own list: they are never among the real incidents' figures)."""
    return store.drills(limit)


def listing(rows: list[Row], catalog: Catalog | None = None) -> list[dict[str, Any]]:
    """The drills as data (stable keys, for `--json`)."""
    return [{"incident": incident_ref(r["number"]), "service": r["service_id"], "team": r["team_id"], "severity": r["severity"],
             "status": r["status"], "declared_at": r["declared_at"], "declared_by": r["declared_by"], "pace_s": r["drill_pace"],
             "resolved_at": r["resolved_at"], "ended": ended(r)} for r in rows]


def ended(row: Row) -> str | None:
    """How a drill ended, in plain words: its resolution note when it ended by itself, else who stopped it (None: running)."""
    if row["status"] != "resolved":
        return None
    note = row["resolution_note"] or ""
    if note.startswith("Drill over:"):
        return note
    return f"Stopped by {row['resolved_by']} (resolved by hand)." + (f" Note: {note}" if note else "")


def listing_text(rows: list[Row], mrkdwn: bool = False) -> str:
    if not rows:
        return "No drills yet."
    lines = []
    for r in rows:
        who = f"<@{r['declared_by']}>" if mrkdwn else r["declared_by"]
        over = ended(r)
        state = (escape_mrkdwn(over) if mrkdwn else over) if over else f"running ({r['status']})"
        pace = f", every level {format_duration(r['drill_pace'])}" if r["drill_pace"] else ""
        name = escape_mrkdwn(r["service_name"]) if mrkdwn else r["service_name"]
        lines.append(f"{'• ' if mrkdwn else ''}{incident_ref(r['number'])} {r['declared_at'][:16].replace('T', ' ')} UTC · {name} · "
                     f"{r['severity']}{pace} · by {who} · {state}")
    return "\n".join(lines)


# -- the drill report ---------------------------------------------------------------------------------------

def _since(declared: datetime | None, at: str | None) -> str:
    moment = parse_iso(at) if at else None
    if declared is None or moment is None:
        return ""
    return f"+{format_duration(max(int((moment - declared).total_seconds()), 0))}" if moment > declared else "+0m"


def _ending(over: Row | None, incident: Row, declared: datetime | None) -> str:
    """Why the drill ended, and when: from its `drill_over` entry (none: someone resolved it by hand)."""
    if over is None:
        after = _since(declared, incident["resolved_at"]).lstrip("+")
        return f"stopped by <@{incident['resolved_by']}> (resolved by hand), {after} after it started."
    data = _data(over)
    why = escape_mrkdwn(str(data.get("why", "")))
    if data.get("kind") == "stopped" and data.get("by"):
        why = why.replace(f"stopped by {escape_mrkdwn(data['by'])}", f"stopped by <@{data['by']}>")
    return f"{why}, {_since(declared, over['at']).lstrip('+')} after it started."


def _between(start: str | None, end: str | None) -> str:
    first, last = parse_iso(start) if start else None, parse_iso(end) if end else None
    return format_duration(max(int((last - first).total_seconds()), 0)) if first and last else "?"


def _rung(level: Any) -> str:
    """One rung as reached: whom, who acknowledged after how long (from each page's `sent_at`), and how it ended."""
    reached = [t for t in level.targets if t.user_id and t.status in ("sent", "merged")]
    others = [t for t in level.targets if t not in reached]
    parts = []
    if reached:
        parts.append("reached " + ", ".join(f"{escape_mrkdwn(t.target)} (<@{t.user_id}>)" if t.target != t.user_id else f"<@{t.user_id}>"
                                            for t in reached))
    for target in others:
        what = f"failed: {escape_mrkdwn(target.error or 'no reason given')}" if target.status == "failed" else target.status
        parts.append(f"{escape_mrkdwn(target.target)} {what}")
    acked = sorted((t for t in level.targets if t.acknowledged_at and t.user_id and t.how != "notify_only"),
                   key=lambda t: t.acknowledged_at or "")
    by = ", ".join(f"<@{t.user_id}> after {_between(t.sent_at, t.acknowledged_at)}" for t in acked)
    if level.outcome == "acknowledged" and by:
        ending = f"acknowledged by {by}"
    elif level.outcome == "timed_out":
        ending = "timed out: no acknowledgement" + (f" within {format_duration(level.escalate_after_s)}" if level.escalate_after_s else "")
        if by:
            ending += f" (acknowledged later by {by})"
    elif level.outcome == "skipped":
        ending = f"skipped: {escape_mrkdwn(level.why)}"
    elif level.outcome == "waiting":
        ending = f"nobody to page, waited: {escape_mrkdwn(level.why)}"
    elif level.outcome == "notified":
        ending = "notified (no acknowledgement asked)"
    elif level.outcome == "stopped":
        ending = "still waiting for an acknowledgement when the drill ended"
    elif level.outcome == "superseded":
        ending = "the ladder was moved on by hand before an acknowledgement" + (f" (acknowledged later by {by})" if by else "")
    else:
        ending = level.outcome.replace("_", " ")
    return "; ".join(parts + [ending])


def _tally(rungs: list[Rung]) -> str:
    paging = [r for r in rungs if r.paged]
    answered = [r for r in paging if r.acks]
    skipped = [r for r in rungs if r.outcome in ("skipped", "waiting")]
    unreached = [r for r in rungs if not r.reached]
    return (f"*First pass:* {len(answered)} of {len(paging)} rungs that paged someone acknowledged"
            + (f", {len(skipped)} skipped" if skipped else "") + (f", {len(unreached)} not reached" if unreached else "") + ".")


def report_text(material: Material, now: datetime | None = None) -> str:
    """The drill report posted in its channel: every rung the main ladder reached (repeats too) and every rung of its first
    pass it did not, from the review's levels and `first_pass`."""
    review: Review = build(material, now)
    incident = material.incident
    declared = parse_iso(incident["declared_at"])
    over = next((e for e in reversed(material.timeline) if e["kind"] == "drill_over"), None)
    main = next((t for t in material.tracks if t["track"] == MAIN), None)
    snapshot = Snapshot.from_json(main["snapshot"]) if main else None
    rungs = first_pass(snapshot, main, material.timeline, material.pages) if snapshot and main else []
    pace = f"every level {format_duration(incident['drill_pace'])}" if incident["drill_pace"] else "the policy's own timeouts"
    lines = [f"{MARK} report · {review.ref} · {escape_mrkdwn(review.service)} (team {escape_mrkdwn(review.team)}, "
             f"policy `{snapshot.root if snapshot else '?'}`, {pace}). Nothing was broken.",
             f"*Ended:* {_ending(over, incident, declared)}", _tally(rungs), ""]
    ended_at = parse_iso(over["at"] if over else incident["resolved_at"])
    for level in review.levels:
        paged_at = parse_iso(level.paged_at)
        if (level.outcome == "stopped" and paged_at and ended_at and abs((paged_at - ended_at).total_seconds()) < 1
                and all(t.status == "cancelled" for t in level.targets)):
            continue  # paged in the very step that ended the drill: nothing was sent
        where = "" if level.track == MAIN else f"{escape_mrkdwn(level.track_label)}: "
        loop = f", loop {level.loop + 1}" if level.loop else ""
        lines.append(f"• {where}Level {level.level} of `{level.policy}`{loop} ({_since(declared, level.paged_at)}): {_rung(level)}")
    for rung in rungs:
        if not rung.reached:
            lines.append(f"• Level {rung.level + 1} of `{rung.policy}`: not reached (the drill ended first).")
    lines += ["", "Drills never count in reports of real incidents. The whole timeline: "
                  f"`python -m app review {review.ref}`."]
    return truncate("\n".join(lines), 3900)


def report_for(store: Store, catalog: Catalog | None, number: int, now: datetime) -> str:
    """The report of drill `number`, read from the store (what delivery posts)."""
    return report_text(load(store, catalog, number), now)
