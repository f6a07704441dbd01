"""Rules at work: firing due rule timers, and what people do with the nudges they post.

A due timer is re-evaluated against the incident as it is *now* (conditions re-checked at the
moment of firing: an incident resolved while a rule waited gets nothing). If it still fires, its
action runs in the engine's write transaction and the timer records the occurrence it fired for,
so the same occurrence never fires twice: not across a restart, not with two workers. Outbox
dedupe keys name the occurrence and the count as a second guard.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta
from typing import Any

from app import rules
from app.catalog import Catalog, EscalateTo, ScopedRule, format_duration
from app.incidents import (
    NOT_FOUND, STAKEHOLDERS, EscalateRequest, Outcome, bump_incident, enqueue_channel_message, enqueue_refresh, escalate_in,
    incident_in, incident_ref, insert_page, touch_rule_timers,
)
from app.store import Store, iso, parse_iso
from app.text import escape_mrkdwn, truncate

SNOOZE_CHOICES = (15, 60)  # minutes, offered on every nudge


class _SafeDict(dict):  # type: ignore[type-arg]
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def render_say(text: str, incident: dict[str, Any], catalog: Catalog, elapsed: timedelta) -> str:
    """A rule's `say`, with {ref} {title} {severity} {service} {team} {elapsed} filled in (user text escaped)."""
    severity = catalog.severity(incident["severity"])
    values = _SafeDict(
        ref=incident_ref(incident["number"]), title=escape_mrkdwn(incident["title"]),
        severity=severity.label if severity else incident["severity"], service=escape_mrkdwn(incident["service_name"]),
        team=escape_mrkdwn(incident["team_name"]), elapsed=format_duration(int(elapsed.total_seconds()) // 60 * 60),
        channel="{channel}",  # filled in at delivery, when the incident channel exists (see SlackDelivery)
    )
    return text.format_map(values)


def _mention(incident: dict[str, Any]) -> str:
    """Nudges speak to the lead, else the acknowledger, else nobody in particular."""
    who = incident.get("lead") or incident.get("acknowledged_by")
    return f"<@{who}> " if who else ""


# -- the tick --------------------------------------------------------------------------------------------

def due_timers(store: Store, now: datetime, limit: int) -> list[int]:
    rows = store.conn.execute("SELECT id FROM rule_timers WHERE due_at IS NOT NULL AND due_at <= ? ORDER BY due_at LIMIT ?",
                              (iso(now), limit)).fetchall()
    return [r["id"] for r in rows]


def advance_timer(conn: sqlite3.Connection, catalog: Catalog, timer_id: int, now: datetime) -> bool:
    """Re-evaluate one due timer: fire it (True) or set its next due time."""
    timer = conn.execute("SELECT * FROM rule_timers WHERE id = ?", (timer_id,)).fetchone()
    if timer is None or timer["due_at"] is None or timer["due_at"] > iso(now):
        return False
    timer = dict(timer)
    scoped = catalog.rules_by_id.get(timer["rule_id"])
    incident = incident_in(conn, timer["incident_id"])
    if scoped is None or incident is None:  # the rule was removed from the catalog since
        _set_due(conn, timer, None)
        return False
    facts = rules.Facts.of(incident)
    due = rules.next_due(scoped, facts, rules.Memory.of(timer), catalog)
    if due is None or due[0] > now:
        _set_due(conn, timer, due[0] if due else None)
        return False
    if not rules.holds_at(scoped, facts, catalog, now):  # e.g. waiting for working hours to start or end
        _set_due(conn, timer, now + timedelta(seconds=rules.WORKING_HOURS_RECHECK))
        return False
    occurrence = due[1]
    cursor = conn.execute(
        "UPDATE rule_timers SET occurrence = ?, fired_at = ?, fire_count = fire_count + 1, snoozed_until = NULL, "
        "version = version + 1 WHERE id = ? AND version = ?", (occurrence, iso(now), timer["id"], timer["version"]))
    if cursor.rowcount != 1:
        return False
    timer = dict(conn.execute("SELECT * FROM rule_timers WHERE id = ?", (timer["id"],)).fetchone())
    _fire(conn, catalog, incident, scoped, timer, now)
    after = rules.next_due(scoped, rules.Facts.of(incident_in(conn, incident["id"]) or incident), rules.Memory.of(timer), catalog)
    _set_due(conn, timer, after[0] if after else None)
    return True


def _set_due(conn: sqlite3.Connection, timer: dict[str, Any], due: datetime | None) -> None:
    conn.execute("UPDATE rule_timers SET due_at = ?, version = version + 1 WHERE id = ? AND version = ?",
                 (iso(due) if due else None, timer["id"], timer["version"]))


def _fire(conn: sqlite3.Connection, catalog: Catalog, incident: dict[str, Any], scoped: ScopedRule, timer: dict[str, Any], now: datetime) -> None:
    rule = scoped.rule
    key = f"rule:{rule.id}:{timer['fire_count']}"
    ref = incident_ref(incident["number"])
    declared = parse_iso(incident["declared_at"]) or now
    say = render_say(rule.say, incident, catalog, now - declared) if rule.say else ""
    what = rules.describe(scoped)
    Store.add_timeline(conn, incident["id"], now, "rule_fired", f"Rule `{rule.id}` ({what}): {rule.do.replace('_', ' ')}.",
                       data={"rule": rule.id, "occurrence": timer["occurrence"], "count": timer["fire_count"]})
    if rule.do == "nudge":
        actions = ["rule_escalate", "snooze_15", "snooze_60", "dismiss"]
        if not incident.get("lead"):
            actions.insert(0, "take_lead")
        text = f":bell: {_mention(incident)}{say or f'{ref}: {what}. Time to decide whether to escalate.'}"
        enqueue_channel_message(conn, incident, now, key, text, actions=actions, rule=rule.id)
    elif rule.do == "remind_update":
        text = f":memo: {_mention(incident)}{say or f'{ref} has had no update for a while: post a status update for everyone following.'}"
        enqueue_channel_message(conn, incident, now, key, text, actions=["post_update", "snooze_15", "snooze_60", "dismiss"], rule=rule.id)
    elif rule.do == "notify":
        text = say or f":mega: {ref} · {escape_mrkdwn(incident['title'])} ({incident['service_name']}): {what}."
        if rule.channel:
            Store.enqueue(conn, now, "channel_message", f"{key}:{incident['id']}:{rule.channel}", incident_id=incident["id"],
                          payload={"channel": rule.channel, "text": truncate(text, 3900)}, priority=3)
        if rule.stakeholders:
            service = catalog.services.get(incident["service_id"])
            for stakeholder in service.stakeholders if service else []:
                ref_ = stakeholder.user or stakeholder.user_group
                if ref_:
                    insert_page(conn, incident["id"], now, f"rule:{rule.id}", STAKEHOLDERS, -1, 0, ref_,
                                "person" if stakeholder.user else "user_group", f"stakeholder of {service.name}", True, None,
                                timer["fire_count"])
    elif rule.do == "escalate":
        target = rule.escalate_to
        to = "next" if target == "next" else (f"team:{target.team}" if isinstance(target, EscalateTo) and target.team
                                             else f"person:{target.person}")  # type: ignore[union-attr]
        outcome = escalate_in(conn, catalog, incident, EscalateRequest(to, None, say or what, by_rule=rule.id), now)
        if not outcome.changed:
            Store.add_timeline(conn, incident["id"], now, "rule_skipped", f"Rule `{rule.id}` could not escalate: {outcome.message}")


# -- what people do with nudges ----------------------------------------------------------------------------

def _live_timer(conn: sqlite3.Connection, incident_id: int, rule_id: str) -> tuple[dict[str, Any] | None, dict[str, Any] | None, Outcome | None]:
    """The incident and its timer for this rule, or the Outcome that says why a snooze or dismiss cannot apply."""
    incident = incident_in(conn, incident_id)
    row = conn.execute("SELECT * FROM rule_timers WHERE incident_id = ? AND rule_id = ?", (incident_id, rule_id)).fetchone()
    if incident is None or row is None:
        return incident, None, Outcome(incident, False, NOT_FOUND if incident is None else "That reminder no longer exists.")
    timer = dict(row)
    if timer["dismissed_by"]:
        return incident, timer, Outcome(incident, False, f"<@{timer['dismissed_by']}> already dismissed this reminder for "
                                                         f"{incident_ref(incident['number'])}.")
    return incident, timer, None


def snooze(store: Store, incident_id: int, rule_id: str, minutes: int, user_id: str, now: datetime) -> Outcome:
    """Postpone this rule for this incident: it comes back in `minutes`, even if it already fired."""
    if minutes not in SNOOZE_CHOICES:
        return Outcome(None, False, f"Snooze for {' or '.join(str(m) for m in SNOOZE_CHOICES)} minutes.")
    with store.transaction() as conn:
        incident, timer, refusal = _live_timer(conn, incident_id, rule_id)
        if refusal is not None:
            return refusal
        until = now + timedelta(minutes=minutes)
        conn.execute("UPDATE rule_timers SET snoozed_until = ?, occurrence = NULL, due_at = ?, version = version + 1 WHERE id = ?",
                     (iso(until), iso(until), timer["id"]))
        Store.add_timeline(conn, incident_id, now, "rule_snoozed", f"<@{user_id}> snoozed rule `{rule_id}` for {minutes} min.",
                           actor=user_id, data={"rule": rule_id, "until": iso(until)})
    return Outcome(incident, True, f"Snoozed: this comes back at <!date^{int(until.timestamp())}^{{time}}|{until:%H:%M} UTC>.")


def dismiss(store: Store, incident_id: int, rule_id: str, user_id: str, now: datetime) -> Outcome:
    """Stop this rule for this incident, for good."""
    with store.transaction() as conn:
        incident, timer, refusal = _live_timer(conn, incident_id, rule_id)
        if refusal is not None:
            return refusal
        conn.execute("UPDATE rule_timers SET dismissed_by = ?, due_at = NULL, version = version + 1 WHERE id = ?", (user_id, timer["id"]))
        Store.add_timeline(conn, incident_id, now, "rule_dismissed", f"<@{user_id}> dismissed rule `{rule_id}` for this incident.",
                           actor=user_id, data={"rule": rule_id})
        incident = bump_incident(conn, incident_id, now)
        enqueue_channel_message(conn, incident, now, f"dismissed:{rule_id}", f"<@{user_id}> dismissed the `{rule_id}` reminder for this incident.")
    return Outcome(incident, True, "Dismissed for this incident.")


def escalate_now(store: Store, catalog: Catalog, incident_id: int, rule_id: str, user_id: str, now: datetime) -> Outcome:
    """A nudge's "Escalate now": the rule's own target (or the next level), decided by a human."""
    scoped = catalog.rules_by_id.get(rule_id)
    target = scoped.rule.escalate_to if scoped else "next"
    to = "next" if target == "next" else (f"team:{target.team}" if target.team else f"person:{target.person}")  # type: ignore[union-attr]
    with store.transaction() as conn:
        incident = incident_in(conn, incident_id)
        if incident is None:
            return Outcome(None, False, NOT_FOUND)
        return escalate_in(conn, catalog, incident, EscalateRequest(to, user_id, f"from the `{rule_id}` nudge"), now)


def assign_lead(store: Store, incident_id: int, lead: str, by: str, now: datetime) -> Outcome:
    with store.transaction() as conn:
        incident = incident_in(conn, incident_id)
        if incident is None:
            return Outcome(None, False, NOT_FOUND)
        ref = incident_ref(incident["number"])
        if incident["status"] == "resolved":
            return Outcome(incident, False, f"{ref} is resolved.")
        if incident["lead"] == lead:
            return Outcome(incident, False, f"<@{lead}> already leads {ref}.")
        incident = bump_incident(conn, incident_id, now, lead=lead)
        touch_rule_timers(conn, incident_id, now)
        who = "took the lead" if lead == by else f"made <@{lead}> the incident lead"
        Store.add_timeline(conn, incident_id, now, "lead", f"<@{by}> {who}.", actor=by, data={"lead": lead})
        enqueue_channel_message(conn, incident, now, f"lead:{incident['version']}", f":crown: <@{by}> {who} of {ref}.")
        enqueue_refresh(conn, incident, now)
    return Outcome(incident, True, f"<@{lead}> leads {ref}.")


def post_update(store: Store, incident_id: int, user_id: str, text: str, now: datetime) -> Outcome:
    """A status update: posted in the channel, on the timeline, and it resets "no update for" rules."""
    text = text.strip()
    with store.transaction() as conn:
        incident = incident_in(conn, incident_id)
        if incident is None:
            return Outcome(None, False, NOT_FOUND)
        incident = bump_incident(conn, incident_id, now, last_update_at=iso(now))
        touch_rule_timers(conn, incident_id, now)
        Store.add_timeline(conn, incident_id, now, "status_update", f"Status update from <@{user_id}>: {escape_mrkdwn(text)}",
                           actor=user_id, data={"text": text})
        enqueue_channel_message(conn, incident, now, f"update:{incident['version']}",
                                f":loudspeaker: *Status update* from <@{user_id}>:\n{escape_mrkdwn(text)}")
    return Outcome(incident, True, "Posted.")


def record_human_message(store: Store, channel_id: str, user_id: str, now: datetime) -> bool:
    """Someone wrote in an incident channel: that is an update, as far as "no update for" rules go."""
    with store.transaction() as conn:
        row = conn.execute("SELECT id, status, last_update_at FROM incidents WHERE channel_id = ?", (channel_id,)).fetchone()
        if row is None or row["status"] == "resolved":
            return False
        if row["last_update_at"] and row["last_update_at"] >= iso(now):
            return False
        conn.execute("UPDATE incidents SET last_update_at = ? WHERE id = ?", (iso(now), row["id"]))
        touch_rule_timers(conn, row["id"], now)
    return True
