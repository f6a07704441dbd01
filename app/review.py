"""The review draft of a resolved incident: its clock, the ladder's story, what Ladder noticed by itself, and what is left.

`build` is pure: it reads the incident as the store holds it (`Material`: the row, its tracks, pages,
timeline, roles and follow-ups, with the owning team's zone and update cadence from the catalog)
and returns a `Review`. `markdown` renders it as a document a team edits into its postmortem, and
`as_json` as data with stable keys for other tools. The same document is printed by
`python -m app review INC-12` and uploaded to the incident channel when it is resolved; both call
`load` then `build`, so they always agree.

Everything here is worked out from what the timeline recorded (`kind` and `data`), never from its
words. Everything a person typed (a title, an update, a follow-up) is data: Markdown-escaped, and
`<`, `>`, `&` made inert, so the file pings nobody and renders no link someone slipped in. The
Markdown ends with every timeline entry (its words, escaped the same way), and the JSON has them as
`timeline`: the review is where a timeline too long for `/incident timeline` is read whole.

In the JSON, every instant is UTC as `YYYY-MM-DDTHH:MM:SSZ`; only a clock step's `local` is the same
instant in the team's zone, with its offset (`2026-11-23T11:00:00+01:00`). A level's
`acknowledged_by` and `ack_after_s` say who acknowledged one of its pages and how long after it was
paged, whatever its `outcome`: on a `timed_out` (or `superseded`) level that acknowledgement came
after the ladder had already moved on, and the Markdown says "acknowledged later". A level still
paging when someone acknowledged elsewhere on its ladder ends `stopped`, with `stopped_by` saying
whose acknowledgement it was and on which rung (`level` None: they were not paged on this ladder).
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from app.catalog import format_duration
from app.escalation import Snapshot
from app.store import parse_iso
from app.text import incident_ref

if TYPE_CHECKING:
    from app.catalog import Catalog
    from app.store import Store

Row = dict[str, Any]

# Entries that end the rung a track was on: the ladder moved (paged, skipped, waited, started again) or gave up.
_RUNG_KINDS = ("level_paged", "level_skipped", "level_waiting")
_ENDS_RUNG = _RUNG_KINDS + ("exhausted", "repeat", "handoff")
_NOT_TIMEOUTS = ("policy_switched", "rearmed", "escalated")  # a ladder moved by these at that instant did not time out
# What Markdown (CommonMark, and Slack's own preview) reads as markup in running text.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]#|~])")  # inline markup; typed text never starts a line here (see md_text)
_SLACK_USER_GROUP = re.compile(r"S[A-Z0-9]{2,}")  # as the catalog accepts one; a user is a U/W ID or an e-mail


# -- what the store holds --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Material:
    """Everything the review is built from, read in one go (`store.incident_record`) plus two facts from the catalog."""

    incident: Row
    tracks: list[Row]
    pages: list[Row]
    timeline: list[Row]
    roles: list[Row]
    followups: list[Row]
    zone: str = "UTC"  # the owning team's time zone (UTC when the team is gone from the catalog)
    update_cadence_s: int | None = None  # the shortest `no_update_for` rule that applies; None: no such rule
    page_kinds: dict[int, str] = field(default_factory=dict)  # page id -> "person" | "user_group", as its outbox row asked


class NotReviewable(Exception):
    """No such incident, or it is still open: there is nothing to review yet."""


def update_cadence(catalog: "Catalog", incident: Row) -> int | None:
    """How often the incident was meant to get an update: its shortest `no_update_for` rule (at its final severity)."""
    from app import rules

    facts = rules.Facts.of(incident)
    durations = [scoped.rule.when.duration for scoped in catalog.rules
                 if scoped.rule.when.kind == "no_update_for" and rules.in_scope(scoped, facts, catalog)
                 and rules.severity_holds(scoped, facts, catalog)]
    return min((d for d in durations if d), default=None)


def load(store: "Store", catalog: "Catalog | None", number: int) -> Material:
    """The material for INC-`number`, or NotReviewable saying why."""
    record = store.incident_record(number)
    if record is None:
        raise NotReviewable(f"{incident_ref(number)} does not exist.")
    incident = record["incident"]
    if incident["status"] != "resolved":
        raise NotReviewable(f"{incident_ref(number)} is still open ({incident['status']}): its review is written once it is resolved.")
    team = catalog.teams.get(incident["team_id"]) if catalog is not None else None
    cadence = update_cadence(catalog, incident) if catalog is not None else None
    return Material(incident, record["tracks"], record["pages"], record["timeline"], record["roles"], record["followups"],
                    team.timezone if team is not None else "UTC", cadence, _page_kinds(store.outbox_rows(incident["id"])))


def _page_kinds(rows: list[Row]) -> dict[int, str]:
    """What each page was meant to reach (a person or a user group to expand), as its outbox row says (pages do not)."""
    kinds: dict[int, str] = {}
    for row in rows:
        if row["kind"] != "page":
            continue
        try:
            payload = json.loads(row["payload"] or "{}")
        except json.JSONDecodeError:
            continue
        if isinstance(payload, dict) and isinstance(payload.get("page_id"), int) and isinstance(payload.get("kind"), str):
            kinds[payload["page_id"]] = payload["kind"]
    return kinds


# -- the review ---------------------------------------------------------------------------------------------

@dataclass
class Moment:
    """One step of the incident clock."""

    name: str
    at: str | None  # UTC ISO
    local: str | None  # the same instant in the team's zone
    since_declared_s: int | None
    since_previous_s: int | None


@dataclass
class Target:
    """One person (or user group) reached on a rung, and what became of it."""

    target: str
    user_id: str | None
    how: str  # "dm" | "user_group" | "notify_only" | "merged" (already paged within the minute: no second DM)
    via: str
    status: str  # the page's status: sent, failed, cancelled, merged, pending
    sent_at: str | None
    acknowledged_at: str | None
    error: str | None


@dataclass
class Level:
    """One rung of one ladder: a level of a policy on one loop of one round, and how it ended."""

    track: str
    track_label: str
    policy: str
    level: int  # 1-based, as people say it
    loop: int
    paged_at: str
    outcome: str  # acknowledged | timed_out | skipped | waiting | notified | superseded | stopped
    targets: list[Target]
    acknowledged_by: str | None = None
    ack_after_s: int | None = None
    late_s: float | None = None  # how late the escalation that reached this rung fired (None: on time)
    escalate_after_s: int | None = None
    why: str = ""  # for a skipped or waiting level: why nobody was reachable
    stopped_by: dict[str, Any] | None = None  # a `stopped` level: whose acknowledgement stopped it, and on which rung
    acknowledged_at: datetime | None = field(default=None, repr=False)  # working value; `as_json` leaves it out


@dataclass
class Finding:
    kind: str  # level_timed_out | schedule_gap | page_failed | ack_by_unpaged | other_team | update_gap
    at: str
    text: str


@dataclass
class Review:
    ref: str
    title: str
    service: str
    team: str
    severity: str
    status: str
    zone: str
    declared_by: str
    declared_at: str
    first_page_at: str | None
    first_ack_at: str | None
    first_ack_by: str | None
    mitigated_at: str | None
    mitigated_by: str | None
    resolved_at: str | None
    resolved_by: str | None
    resolution_note: str
    time_to_first_page_s: int | None
    time_to_ack_s: int | None
    time_to_mitigate_s: int | None
    time_to_resolve_s: int | None
    clock: list[Moment]
    levels: list[Level]
    severity_changes: list[dict[str, Any]]
    policy_switches: list[dict[str, Any]]
    nudges: list[dict[str, Any]]
    findings: list[Finding]
    roles: list[dict[str, Any]]
    updates: list[dict[str, Any]]
    followups: list[dict[str, Any]]
    generated_at: str | None = None
    people: dict[str, str] = field(default_factory=dict)  # Slack user ID -> the reference the catalog pages them by
    timeline: list[dict[str, Any]] = field(default_factory=list)  # every entry: at, kind, actor, text


def _iso(moment: datetime | None) -> str | None:
    """An instant as the review's one form, `2026-11-23T10:00:00Z` (the store keeps microseconds; a review needs none)."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


def _stamp(text: Any) -> str | None:
    """A recorded instant (the store's text) in the review's form; None for nothing, or for what is not an instant."""
    try:
        return _iso(parse_iso(text)) if isinstance(text, str) else None
    except ValueError:
        return None


def _seconds(start: datetime | None, end: datetime | None) -> int | None:
    return int((end - start).total_seconds()) if start and end else None


def _data(entry: Row) -> dict[str, Any]:
    raw = entry.get("data")
    try:
        value = json.loads(raw) if isinstance(raw, str) else (raw or {})
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def _escalate_after(tracks: dict[str, Row], track: str, policy: str, level: int) -> int | None:
    row = tracks.get(track)
    if row is None:
        return None
    try:
        return Snapshot.from_json(row["snapshot"]).level(level, policy).escalate_after
    except Exception:  # noqa: BLE001 - a snapshot of an older shape: the review goes without the figure
        return None


def build(material: Material, now: datetime | None = None) -> Review:
    """The review of one resolved incident, from what the store holds; pure."""
    incident = material.incident
    zone = ZoneInfo(material.zone)
    timeline = [(entry, _data(entry), parse_iso(entry["at"])) for entry in material.timeline]
    tracks = {t["track"]: t for t in material.tracks}
    pages = material.pages
    people = {p["user_id"]: p["target"] for p in pages if p["user_id"] and p["target"] != p["user_id"]}

    declared = parse_iso(incident["declared_at"])
    first_page = min((parse_iso(p["sent_at"]) for p in pages if _reached_someone(p) and p["level"] >= 0 and not p["notify_only"]),
                     default=None)
    acks = [(at, entry) for entry, _, at in timeline if entry["kind"] == "acknowledged"]
    first_ack, first_ack_by = (acks[0][0], acks[0][1]["actor"]) if acks else (None, None)
    mitigated, resolved = parse_iso(incident.get("mitigated_at")), parse_iso(incident["resolved_at"])

    clock: list[Moment] = []
    previous = None
    for name, at in (("declared", declared), ("first page", first_page), ("first acknowledgement", first_ack),
                     ("mitigated", mitigated), ("resolved", resolved)):
        local = at.astimezone(zone).isoformat(timespec="seconds") if at else None
        clock.append(Moment(name, _iso(at), local, _seconds(declared, at), _seconds(previous, at) if at else None))
        previous = at or previous

    levels = _levels(timeline, tracks, pages, material.page_kinds)
    findings = _findings(material, timeline, levels, tracks, people, first_ack_by, resolved)
    severity_changes = [{"at": _iso(at), "from": d.get("from"), "to": d.get("to"), "by": e["actor"]}
                        for e, d, at in timeline if e["kind"] == "severity_changed"]
    policy_switches = [{"at": _iso(at), "policy": d.get("policy"), "text": e["text"]}
                       for e, d, at in timeline if e["kind"] == "policy_switched"]
    updates = [{"at": _iso(at), "by": e["actor"], "text": d.get("text", "")} for e, d, at in timeline if e["kind"] == "status_update"]
    roles = _roles(material, timeline)
    followups = [{"id": f["id"], "owner": f["owner"], "due_on": f["due_on"], "text": f["text"], "created_by": f["created_by"],
                  "created_at": _stamp(f["created_at"]), "done_at": _stamp(f["done_at"]), "done_by": f["done_by"]} for f in material.followups]
    entries = [{"at": _stamp(e["at"]), "kind": e["kind"], "actor": e["actor"], "text": e["text"] or ""} for e, _, _ in timeline]
    return Review(
        ref=incident_ref(incident["number"]), title=incident["title"], service=incident["service_name"], team=incident["team_name"],
        severity=incident["severity"], status=incident["status"], zone=material.zone, declared_by=incident["declared_by"],
        declared_at=_iso(declared) or "", first_page_at=_iso(first_page), first_ack_at=_iso(first_ack), first_ack_by=first_ack_by,
        mitigated_at=_iso(mitigated), mitigated_by=incident.get("mitigated_by"), resolved_at=_iso(resolved),
        resolved_by=incident["resolved_by"], resolution_note=incident["resolution_note"] or "",
        time_to_first_page_s=_seconds(declared, first_page), time_to_ack_s=_seconds(declared, first_ack),
        time_to_mitigate_s=_seconds(declared, mitigated), time_to_resolve_s=_seconds(declared, resolved),
        clock=clock, levels=levels, severity_changes=severity_changes, policy_switches=policy_switches,
        nudges=_nudges(timeline), findings=findings, roles=roles, updates=updates, followups=followups,
        generated_at=_iso(now), people=people, timeline=entries)


def _reached_someone(page: Row) -> bool:
    """A page that reached a person: delivered to (or merged into a page already sent to) a known Slack user.

    A user group's own row is marked sent once it is expanded, even into no members or members whose DMs all
    failed; it reached nobody by itself (its members' pages are rows of their own).
    """
    return bool(page["user_id"]) and bool(page["sent_at"]) and page["status"] in ("sent", "merged")


def _roles(material: Material, timeline: list[tuple[Row, dict[str, Any], datetime | None]]) -> list[dict[str, Any]]:
    """Who held each role; a lead set before roles were rows (schema 7) is only the incident's `lead`, as `roles._holder` reads it."""
    roles = [{"role": r["role"], "user_id": r["user_id"], "assigned_by": r["assigned_by"], "assigned_at": _stamp(r["assigned_at"])}
             for r in material.roles]
    lead = material.incident.get("lead")
    if lead and not any(r["role"] == "lead" for r in roles):
        given = [(e, at) for e, d, at in timeline if e["kind"] == "lead" and d.get("lead") == lead]  # how the lead was set then
        entry, at = given[-1] if given else (None, None)
        roles.insert(0, {"role": "lead", "user_id": lead, "assigned_by": entry["actor"] if entry else None, "assigned_at": _iso(at)})
    return roles


def _levels(timeline: list[tuple[Row, dict[str, Any], datetime | None]], tracks: dict[str, Row], pages: list[Row],
            kinds: dict[int, str] | None = None) -> list[Level]:
    """Every rung each ladder reached, in order, with its people and how it ended."""
    kinds = kinds or {}
    levels: list[Level] = []
    rung_of: dict[str, int] = {}  # track -> index in `levels` of the rung it is on
    moved_at: dict[tuple[str, str], set[str]] = {}  # (track, at) -> the kinds of entry that moved it then
    lateness: dict[tuple[str, str], float] = {}
    for entry, data, _ in timeline:
        if entry["kind"] == "late":
            lateness[(data.get("track", "main"), entry["at"])] = float(data.get("late_by_s") or 0)
        if entry["kind"] in _NOT_TIMEOUTS:
            # An "escalated" to the next level moves the main ladder; to a team or person it starts another one.
            track = "main" if entry["kind"] != "escalated" or data.get("to") == "next" else ""
            moved_at.setdefault((track, entry["at"]), set()).add(entry["kind"])

    def end(track: str, at: str, when: datetime | None, kind: str) -> None:
        """The rung `track` was on ends at `at`: timed out if the ladder's own clock moved it, else superseded."""
        index = rung_of.pop(track, None)
        if index is None:
            return
        level = levels[index]
        if level.outcome != "open":
            return
        acked_in_time = level.acknowledged_at is not None and (when is None or level.acknowledged_at <= when)
        if acked_in_time:
            level.outcome = "acknowledged"
        elif kind in _ENDS_RUNG and not moved_at.get((track, at)):
            level.outcome = "timed_out"
            if level.escalate_after_s is None and when is not None:  # its policy is no longer in the track's snapshot (switched)
                waited = _seconds(parse_iso(level.paged_at), when)
                level.escalate_after_s = int(waited - lateness.get((track, at), 0)) if waited is not None else None
        else:
            level.outcome = "superseded"

    for entry, data, when in timeline:
        kind = entry["kind"]
        track = data.get("track", "main")
        if kind in _ENDS_RUNG:
            end(track, entry["at"], when, kind)
        elif kind == "policy_switched" or kind == "rearmed":
            end("main", entry["at"], when, kind)
        if kind not in _RUNG_KINDS:
            continue
        policy, number, loop = data.get("policy", ""), int(data.get("level", 0)), int(data.get("loop", 0))
        row = tracks.get(track)
        label = row["label"] if row else track
        if kind == "level_paged":
            opened = [p for p in pages if p["track"] == track and p["policy"] == policy and p["level"] == number and p["loop"] == loop
                      and p["created_at"] == entry["at"]]
            round_ = opened[0]["round"] if opened else None
            rung_pages = [p for p in pages if p["track"] == track and p["policy"] == policy and p["level"] == number
                          and p["loop"] == loop and p["round"] == round_]
            notify_only = bool(rung_pages) and all(p["notify_only"] for p in rung_pages)
            level = Level(track, label, policy, number + 1, loop, _stamp(entry["at"]) or "", "notified" if notify_only else "open",
                          [_target(p, kinds) for p in rung_pages if not _is_group_member(p, rung_pages)],
                          escalate_after_s=_escalate_after(tracks, track, policy, number))
            _acknowledged(level, rung_pages, when)
        else:
            gaps = [e["text"] for e, d, _ in timeline if e["kind"] == "gap" and e["at"] == entry["at"] and d.get("track", "main") == track
                    and d.get("level") == number and d.get("policy") == policy]
            level = Level(track, label, policy, number + 1, loop, _stamp(entry["at"]) or "",
                          "skipped" if kind == "level_skipped" else "waiting", [],
                          why=" ".join(_gap_reason(g) for g in gaps) or "it resolved to nobody.")
        late = lateness.get((track, entry["at"]))
        level.late_s = late if late else None
        levels.append(level)
        if level.outcome == "open":
            rung_of[track] = len(levels) - 1
    acks = [(at, entry["actor"]) for entry, _, at in timeline if entry["kind"] == "acknowledged" and at is not None]
    for level in levels:
        if level.outcome == "open":
            level.outcome = "acknowledged" if level.acknowledged_by else "stopped"  # still current when someone owned or resolved it
        if level.outcome == "stopped" and level.track == "main":
            level.stopped_by = _stopped_by(level, acks, levels)
    return levels


def _stopped_by(level: Level, acks: list[tuple[datetime, str | None]], levels: list[Level]) -> dict[str, Any] | None:
    """The incident's acknowledgement that stopped the main ladder while `level` was its rung, and on which rung it was given."""
    paged = parse_iso(level.paged_at)
    at, user_id = next(((at, who) for at, who in acks if paged is None or at >= paged), (None, None))
    if at is None or not user_id:
        return None
    acked = [lvl for lvl in levels if lvl.track == level.track and lvl.acknowledged_by == user_id and lvl.acknowledged_at is not None
             and lvl.acknowledged_at <= at]
    rung = next((lvl for lvl in acked if lvl.acknowledged_at == at), acked[-1] if acked else None)
    return {"user_id": user_id, "at": _iso(at), "level": rung.level if rung else None, "policy": rung.policy if rung else None,
            "loop": rung.loop if rung else None}


def _gap_reason(text: str) -> str:
    """A gap entry's words without the level's name in front ("Level 1: nobody is on call for x: ..." -> "nobody is on call ...")."""
    for start in ("nobody is on call", "schedule "):
        if start in text:
            return text[text.index(start):]
    return text.partition(": ")[2] or text


def _is_group_member(page: Row, rung: list[Row]) -> bool:
    """A user group's member paged on expansion: listed under the group, not beside it."""
    return page["via"].startswith("member of ") and any(p["target"] == page["via"][len("member of "):] for p in rung)


def _target(page: Row, kinds: dict[int, str]) -> Target:
    kind = kinds.get(page["id"])  # what its outbox row asked for; a page with no row (merged, or purged) goes by its reference
    group = kind == "user_group" if kind else bool(_SLACK_USER_GROUP.fullmatch(page["target"])) and not page["user_id"]
    if page["status"] == "merged":
        how = "merged"
    elif page["notify_only"]:
        how = "notify_only"
    elif group:
        how = "user_group"
    else:
        how = "dm"
    return Target(page["target"], page["user_id"], how, page["via"], page["status"], _stamp(page["sent_at"]), _stamp(page["acknowledged_at"]),
                  page["error"])


def _acknowledged(level: Level, rung: list[Row], paged: datetime | None) -> None:
    acked = sorted((p for p in rung if p["acknowledged_at"] and not p["notify_only"]), key=lambda p: p["acknowledged_at"])
    if acked:
        level.acknowledged_by = acked[0]["user_id"]
        level.acknowledged_at = parse_iso(acked[0]["acknowledged_at"])
        level.ack_after_s = _seconds(paged, level.acknowledged_at)


def _nudges(timeline: list[tuple[Row, dict[str, Any], datetime | None]]) -> list[dict[str, Any]]:
    """Each rule that fired, and what people did about it before it fired again."""
    nudges: list[dict[str, Any]] = []
    current: dict[str, dict[str, Any]] = {}
    answers = {"rule_snoozed": "snoozed", "rule_dismissed": "dismissed"}
    for entry, data, at in timeline:
        rule = data.get("rule")
        if entry["kind"] == "rule_fired":
            current[rule] = {"rule": rule, "at": _iso(at), "answers": []}
            nudges.append(current[rule])
        elif entry["kind"] in answers and rule in current:
            answer = {"answer": answers[entry["kind"]], "by": entry["actor"], "at": _iso(at)}
            if data.get("until"):
                answer["until"] = _stamp(data["until"])
            current[rule]["answers"].append(answer)
        elif entry["kind"] == "escalated" and entry["actor"] and isinstance(data.get("reason"), str):
            for rule_id, nudge in current.items():
                if data["reason"] == f"from the `{rule_id}` nudge":
                    nudge["answers"].append({"answer": "escalated", "by": entry["actor"], "at": _iso(at)})
    return nudges


def _findings(material: Material, timeline: list[tuple[Row, dict[str, Any], datetime | None]], levels: list[Level],
              tracks: dict[str, Row], people: dict[str, str], first_ack_by: str | None, resolved: datetime | None) -> list[Finding]:
    """What Ladder can tell by itself went wrong or changed, in the order it happened."""
    found: list[Finding] = []
    for level in levels:
        where = _rung_name(level)
        if level.outcome == "timed_out":
            waited = f" within {format_duration(level.escalate_after_s)}" if level.escalate_after_s else ""
            who = ", ".join(t.target for t in level.targets) or "nobody"
            later = f" ({_who(level.acknowledged_by, people)} {_later(level)})" if level.acknowledged_by else ""
            found.append(Finding("level_timed_out", level.paged_at, f"{where} ({who}) timed out: nobody acknowledged{waited}{later}."))
        if level.outcome in ("skipped", "waiting"):
            found.append(Finding("schedule_gap", level.paged_at, f"{where} {'was skipped' if level.outcome == 'skipped' else 'waited'}: "
                                                                 f"{level.why}"))
    for entry, data, _ in timeline:
        if entry["kind"] == "gap" and not any(
                l.paged_at == _stamp(entry["at"]) and l.outcome in ("skipped", "waiting") and l.track == data.get("track", "main")
                and l.policy == data.get("policy") and data.get("level") == l.level - 1 for l in levels):
            found.append(Finding("schedule_gap", _stamp(entry["at"]) or "", entry["text"]))
    failed_at = {d["page_id"]: at for e, d, at in timeline if e["kind"] == "delivery_failed" and isinstance(d.get("page_id"), int)}
    for page in material.pages:
        if page["status"] == "failed":
            # When it failed: its delivery_failed entry (which names the page since schema 7); older ones, when it was queued.
            found.append(Finding("page_failed", _iso(failed_at.get(page["id"])) or _stamp(page["created_at"]) or "",
                                 f"The page to {page['target']} (level {page['level'] + 1}) was not delivered: {page['error'] or 'failed'}."))
    paged_users = {p["user_id"] for p in material.pages if p["user_id"] and p["status"] in ("sent", "merged")}
    for entry, data, _ in timeline:
        if entry["kind"] == "acknowledged" and entry["actor"] and entry["actor"] not in paged_users:
            found.append(Finding("ack_by_unpaged", _stamp(entry["at"]) or "",
                                 f"{_who(entry['actor'], people)} acknowledged without having been paged."))
    for track in material.tracks:
        if track["track"].startswith("team:"):
            why = f": {track['reason']}" if track["reason"] else ""
            found.append(Finding("other_team", _stamp(track["created_at"]) or "",
                                 f"Escalated to another team, {track['label']} (a change of scope){why}."))
    cadence = material.update_cadence_s
    declared = parse_iso(material.incident["declared_at"])
    if cadence and declared and resolved:
        marks = [declared] + [at for e, _, at in timeline if e["kind"] == "status_update" and at] + [resolved]
        for start, stop in zip(marks, marks[1:]):
            silence = _seconds(start, stop) or 0
            if silence > cadence:
                since = "the declaration" if start == declared else "the last update"
                found.append(Finding("update_gap", _iso(stop) or "", f"No status update for {format_duration(silence)} after {since} "
                                                                     f"(the cadence is {format_duration(cadence)})."))
    return sorted(found, key=lambda f: f.at)


def _later(level: Level) -> str:
    """A timed-out (or superseded) level's page acknowledged after the ladder moved on."""
    return "acknowledged later" + (f", {format_duration(level.ack_after_s)} after being paged" if level.ack_after_s is not None else "")


def _rung_name(level: Level) -> str:
    loop = f", loop {level.loop + 1}" if level.loop else ""
    where = "" if level.track == "main" else f"{level.track_label}: "
    return f"{where}Level {level.level} of {level.policy}{loop}"


def _who(user_id: str | None, people: dict[str, str]) -> str:
    if not user_id:
        return "a rule"
    return f"{people[user_id]} ({user_id})" if user_id in people else user_id


# -- renderings ---------------------------------------------------------------------------------------------

def as_json(review: Review) -> dict[str, Any]:
    """The review as data: these keys are a contract (other tools read them); add keys, never rename one."""
    data = asdict(review)
    data["levels"] = [{**{k: v for k, v in lvl.items() if k != "acknowledged_at"}, "targets": [t["target"] for t in lvl["targets"]],
                       "pages": lvl["targets"]} for lvl in data["levels"]]
    return data


def md_text(text: str | None) -> str:
    """Typed text as inert Markdown: no markup, no HTML, no Slack mention or link (`<!channel>` pings nobody)."""
    if not text:
        return ""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _MD_SPECIAL.sub(r"\\\1", text)
    return " ".join(text.split())  # one line: a typed newline must not start a heading or a list


def _code(text: str | None) -> str:
    """An identifier (a user ID, an e-mail, a policy id) in a code span, where nothing is markup."""
    if not text:
        return "—"
    return f"`{text.replace('`', 'ʼ')}`"


def _dur(seconds: int | float | None) -> str:
    return format_duration(int(seconds)) if seconds is not None else "—"


def _time(iso_text: str | None, zone: ZoneInfo) -> str:
    moment = parse_iso(iso_text)
    if moment is None:
        return "—"
    local = moment.astimezone(zone)
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC ({local:%H:%M:%S %Z})"


def _person(user_id: str | None, people: dict[str, str]) -> str:
    return _code(people.get(user_id or "", user_id)) + (f" ({_code(user_id)})" if user_id in people else "")


_HOW = {"dm": "DM", "user_group": "user group", "notify_only": "notify-only DM", "merged": "already paged (no second DM)"}
_OUTCOME = {"acknowledged": "acknowledged", "timed_out": "timed out unanswered", "skipped": "skipped", "waiting": "waited",
            "notified": "notified (no acknowledgement asked)", "superseded": "superseded", "stopped": "stopped (handled elsewhere)"}


def _ending(level: Level, people: dict[str, str]) -> str:
    """How a rung ended, in the words the JSON's `outcome`, `acknowledged_by` and `stopped_by` hold."""
    if level.outcome == "acknowledged" and level.acknowledged_by:
        return f"acknowledged by {_person(level.acknowledged_by, people)} after {_dur(level.ack_after_s)}."
    if level.outcome == "stopped" and level.stopped_by:
        stop = level.stopped_by
        where = ""
        if stop.get("level") is not None:
            where = f" at level {stop['level']}" + (f" of {_code(stop['policy'])}" if stop.get("policy") != level.policy else "") + (
                f", loop {stop['loop'] + 1}" if stop.get("loop") != level.loop and stop.get("loop") is not None else "")
        return f"stopped: acknowledged{where} by {_person(stop['user_id'], people)}."
    said = _OUTCOME.get(level.outcome, level.outcome)
    if level.outcome == "timed_out" and level.escalate_after_s:
        said += f" (after {_dur(level.escalate_after_s)})"
    if level.acknowledged_by:  # acknowledged, but only once the ladder had moved on
        said += f"; {_person(level.acknowledged_by, people)} {_later(level)}"
    return said + (f": {md_text(level.why)}" if level.why else ".")


def markdown(review: Review) -> str:
    """The review as a Markdown document to edit into the postmortem."""
    zone = ZoneInfo(review.zone)
    people = review.people
    out = [f"# {review.ref} review: {md_text(review.title)}", "",
           f"*Draft written by Ladder from the incident's timeline. Times in UTC and in {review.team and md_text(review.team)}'s "
           f"zone ({review.zone}).*", "",
           f"- **Service:** {md_text(review.service)}", f"- **Team:** {md_text(review.team)}",
           f"- **Severity at the end:** {_code(review.severity)}", f"- **Declared by:** {_person(review.declared_by, people)}",
           f"- **Acknowledged first by:** {_person(review.first_ack_by, people) if review.first_ack_by else '—'}",
           f"- **Resolved by:** {_person(review.resolved_by, people)}"]
    if review.resolution_note:
        out.append(f"- **Resolution note:** {md_text(review.resolution_note)}")
    out += ["", "## Clock", "", "| step | UTC | local | since declared | since previous step |", "|---|---|---|---|---|"]
    for moment in review.clock:
        at = parse_iso(moment.at)
        local = at.astimezone(zone) if at else None
        out.append(f"| {moment.name} | {f'{at:%Y-%m-%d %H:%M:%S}' if at else '—'} | {f'{local:%Y-%m-%d %H:%M:%S %Z}' if local else '—'} "
                   f"| {_dur(moment.since_declared_s)} | {_dur(moment.since_previous_s) if moment.name != 'declared' else '—'} |")
    out += ["", f"Time to acknowledge: **{_dur(review.time_to_ack_s)}**. Time to mitigate: **{_dur(review.time_to_mitigate_s)}**. "
                f"Time to resolve: **{_dur(review.time_to_resolve_s)}**.", "", "## The ladder", ""]
    if not review.levels:
        out.append("No level paged anyone.")
    for level in review.levels:
        late = f", fired {_dur(level.late_s)} late" if level.late_s else ""
        out.append(f"- **{md_text(_rung_name(level))}**, {_time(level.paged_at, zone)}{late}: {_ending(level, people)}")
        for target in level.targets:
            status = "failed: " + md_text(target.error) if target.status == "failed" else target.status
            out.append(f"  - {_code(target.target)} by {_HOW[target.how]} ({md_text(target.via)}): {status}")
    if review.severity_changes or review.policy_switches:
        out += ["", "### Severity and policy", ""]
        changes = [(c["at"], f"severity {_code(c['from'])} → {_code(c['to'])} by {_person(c['by'], people)}") for c in review.severity_changes]
        changes += [(p["at"], f"main ladder switched to policy {_code(p['policy'])}, from level 1") for p in review.policy_switches]
        out += [f"- {_time(at, zone)}: {what}" for at, what in sorted(changes, key=lambda c: c[0] or "")]
    if review.nudges:
        out += ["", "### Nudges", ""]
        for nudge in review.nudges:
            answered = "; ".join(f"{a['answer']} by {_person(a['by'], people)} at {_time(a['at'], zone)}" for a in nudge["answers"])
            out.append(f"- rule {_code(nudge['rule'])} at {_time(nudge['at'], zone)}: {answered or 'no answer'}")
    out += ["", "## Findings", ""]
    out += [f"- {md_text(f.text)} ({_time(f.at, zone)})" for f in review.findings] or ["Ladder noticed nothing by itself."]
    out += ["", "## Roles", ""]
    out += [f"- {md_text(r['role'])}: {_person(r['user_id'], people)}" for r in review.roles] or ["No roles were given."]
    out += ["", "## Updates posted", ""]
    out += [f"- {_time(u['at'], zone)}, {_person(u['by'], people)}: {md_text(u['text'])}" for u in review.updates] or ["No status updates."]
    out += ["", "## Follow-ups", ""]
    out += [f"- [{'x' if f['done_at'] else ' '}] {md_text(f['text'])} (owner {_person(f['owner'], people)}, due {md_text(f['due_on'])})"
            for f in review.followups] or ["None yet: add them with `/incident followup @owner YYYY-MM-DD what`."]
    out += ["", "## What happened, in our words", "", "_Write here: impact, cause, what helped, what did not._", ""]
    out += ["## Timeline", "", "Every entry Ladder recorded, oldest first.", ""]
    out += [f"- {_time(e['at'], zone)} · {_code(e['kind'])}: {md_text(e['text'])}" for e in review.timeline] or ["Nothing was recorded."]
    out.append("")
    return "\n".join(out)


def render(review: Review, form: str) -> str:
    return json.dumps(as_json(review), indent=2, ensure_ascii=False) + "\n" if form == "json" else markdown(review)


# -- the file posted in Slack ---------------------------------------------------------------------------------

MAX_FILE_BYTES = 1_000_000  # far below Slack's file limit; a review this long is cut and says so
TITLE_MAX = 250
COMMENT_MAX = 3000  # initial_comment is a message: well inside its 4,000 characters


@dataclass(frozen=True)
class Upload:
    filename: str  # ASCII, short, one per incident: how a retry recognises the file in the channel
    title: str
    content: bytes
    comment: str  # mrkdwn, typed text escaped


def for_upload(review: Review) -> Upload:
    """The review as the file Slack gets: the Markdown document, within Slack's limits."""
    from app.text import escape_mrkdwn, truncate

    content = markdown(review).encode("utf-8")
    if len(content) > MAX_FILE_BYTES:
        note = "\n\n*(Cut here: the whole review is printed by `python -m app review " f"{review.ref}`.)*\n".encode()
        content = content[:MAX_FILE_BYTES - len(note)].decode("utf-8", "ignore").encode("utf-8") + note
    title = truncate(f"{review.ref} review: {' '.join(review.title.split())}", TITLE_MAX)
    comment = truncate(f":memo: Review draft for {review.ref} · {escape_mrkdwn(' '.join(review.title.split()))}: the clock, the "
                       "ladder's story and what Ladder noticed. Edit it into your postmortem.", COMMENT_MAX)
    return Upload(f"{review.ref.lower()}-review.md", title, content, comment)
