"""Rules at work: firing due rule timers, and what people do with the nudges they post.

A due timer is re-evaluated against the incident as it is *now* (conditions re-checked at the
moment of firing: an incident resolved while a rule waited gets nothing). If it still fires, its
action runs in the worker's tick, in its write transaction, and the timer records the occurrence it fired for,
so the same occurrence never fires twice: not across a restart, not with two workers. Outbox
dedupe keys name the occurrence and the count as a second guard.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from app import outbox, rules, tracks
from app.catalog import Catalog, EscalateTo, ScopedRule, format_duration
from app.additive import EscalateRequest, escalate_in
from app.drills import drill_safe
from app.incidents import NOT_FOUND, InvalidInput, Outcome
from app.store import Store, Tx, iso, parse_iso
from app.text import escape_mrkdwn, fill, incident_ref, truncate, typed_text_problem, visible_length
from app.tracks import STAKEHOLDERS

SNOOZE_CHOICES = (15, 60)  # minutes, offered on every nudge


def render_say(text: str, incident: dict[str, Any], catalog: Catalog, elapsed: timedelta) -> str:
    """A rule's `say`, with {ref} {title} {severity} {service} {team} {elapsed} filled in (user text escaped)."""
    severity = catalog.severity(incident["severity"])
    values = dict(
        ref=incident_ref(incident["number"]), title=escape_mrkdwn(incident["title"]),
        severity=severity.label if severity else incident["severity"], service=escape_mrkdwn(incident["service_name"]),
        team=escape_mrkdwn(incident["team_name"]), elapsed=format_duration(int(elapsed.total_seconds()) // 60 * 60),
        channel="{channel}",  # filled in at delivery, when the incident channel exists (see SlackDelivery)
    )
    return fill(text, values)  # never raises: `check` refuses a bad template, and an old one renders as written


def _mention(incident: dict[str, Any]) -> str:
    """Nudges speak to the lead, else the acknowledger, else nobody in particular."""
    who = incident.get("lead") or incident.get("acknowledged_by")
    return f"<@{who}> " if who else ""


# -- the tick --------------------------------------------------------------------------------------------

def advance_due(store: Store, catalog: Catalog, now: datetime, limit: int) -> tracks.Advanced:
    """Look at every rule timer that is due, `limit` at most, in one transaction: fire it or set when to look again."""
    due = store.due_rule_timer_ids(now, limit)
    done = tracks.Advanced(len(due))
    if due:
        with store.transaction() as tx:
            fired = tracks.each_isolated(tx, due, lambda timer_id: advance_timer(tx, catalog, timer_id, now),
                                         lambda timer_id, failure: _park(tx, timer_id, failure, now), "rule timer")
            done.rules_fired = sum(bool(f) for f in fired)
    return done


def _park(tx: Tx, timer_id: int, failure: Exception, now: datetime) -> None:
    """A rule that raised for this incident is off for it, and the timeline says why (the catalog needs a look)."""
    timer = tx.rule_timer(timer_id)
    if timer is None:
        return
    tx.park_rule_timer(timer_id)
    tx.add_timeline(timer["incident_id"], now, "rule_failed",
                    f"Rule `{timer['rule_id']}` failed for this incident ({type(failure).__name__}: {failure}); it is off for it.",
                    data={"rule": timer["rule_id"], "error": f"{type(failure).__name__}: {failure}"})


def advance_timer(tx: Tx, catalog: Catalog, timer_id: int, now: datetime) -> bool:
    """Re-evaluate one due timer: fire it (True) or set its next due time."""
    timer = tx.rule_timer(timer_id)
    if timer is None or timer["due_at"] is None or timer["due_at"] > iso(now):
        return False
    scoped = catalog.rules_by_id.get(timer["rule_id"])
    incident = tx.incident(timer["incident_id"])
    if scoped is None or incident is None:  # the rule was removed from the catalog since
        tx.set_rule_due(timer, None)
        return False
    facts = rules.Facts.of(incident)
    due = rules.next_due(scoped, facts, rules.Memory.of(timer), catalog)
    if due is None or due[0] > now:
        tx.set_rule_due(timer, due[0] if due else None)
        return False
    if not rules.holds_at(scoped, facts, catalog, now):  # e.g. waiting for working hours to start or end
        tx.set_rule_due(timer, now + timedelta(seconds=rules.WORKING_HOURS_RECHECK))
        return False
    if incident["drill"] and not drill_safe(scoped):  # a drill tells nobody outside its channel: the rule is off for it
        tx.set_rule_due(timer, None)
        tx.add_timeline(incident["id"], now, "rule_skipped", f"Rule `{scoped.rule.id}` ({rules.describe(scoped)}) does not act in a "
                        "drill: it would reach people outside the drill's channel and ladder.", data={"rule": scoped.rule.id, "drill": True})
        return False
    fired = tx.record_rule_fired(timer, due[1], now)
    if fired is None:
        return False
    _fire(tx, catalog, incident, scoped, fired, now)
    after = rules.next_due(scoped, rules.Facts.of(tx.incident(incident["id"]) or incident), rules.Memory.of(fired), catalog)
    tx.set_rule_due(fired, after[0] if after else None)
    return True


def _fire(tx: Tx, catalog: Catalog, incident: dict[str, Any], scoped: ScopedRule, timer: dict[str, Any], now: datetime) -> None:
    rule = scoped.rule
    key = f"rule:{rule.id}:{timer['fire_count']}"
    ref = incident_ref(incident["number"])
    declared = parse_iso(incident["declared_at"]) or now
    say = render_say(rule.say, incident, catalog, now - declared) if rule.say else ""
    what = rules.describe(scoped)
    tx.add_timeline(incident["id"], now, "rule_fired", f"Rule `{rule.id}` ({what}): {rule.do.replace('_', ' ')}.",
                       data={"rule": rule.id, "occurrence": timer["occurrence"], "count": timer["fire_count"]})
    if rule.do == "nudge":
        actions = ["rule_escalate", "snooze_15", "snooze_60", "dismiss"]
        if not incident.get("lead"):
            actions.insert(0, "take_lead")
        text = f":bell: {_mention(incident)}{say or f'{ref}: {what}. Time to decide whether to escalate.'}"
        tx.enqueue(outbox.channel_message(incident["id"], key, text, actions, rule.id), now)
    elif rule.do == "remind_update":
        text = f":memo: {_mention(incident)}{say or f'{ref} has had no update for a while: post a status update for everyone following.'}"
        tx.enqueue(outbox.channel_message(incident["id"], key, text, ["post_update", "snooze_15", "snooze_60", "dismiss"], rule.id), now)
    elif rule.do == "notify":
        text = say or f":mega: {ref} · {escape_mrkdwn(incident['title'])} ({incident['service_name']}): {what}."
        if rule.channel:
            tx.enqueue(outbox.named_channel_message(outbox.notice_key(key, incident["id"], rule.channel), rule.channel, truncate(text, 3900),
                                                    incident["id"]), now)
        if rule.stakeholders:
            service = catalog.services.get(incident["service_id"])
            for stakeholder in service.stakeholders if service else []:
                ref_ = stakeholder.user or stakeholder.user_group
                if ref_:
                    request = tracks.PageRequest(f"rule:{rule.id}", timer["fire_count"], STAKEHOLDERS, -1, 0, ref_,
                                                 "person" if stakeholder.user else "user_group", f"stakeholder of {service.name}",
                                                 True, None)
                    tracks.record_page(tx, incident["id"], request, now)
    elif rule.do == "escalate":
        target = rule.escalate_to
        to = "next" if target == "next" else (f"team:{target.team}" if isinstance(target, EscalateTo) and target.team
                                             else f"person:{target.person}")  # type: ignore[union-attr]
        outcome = escalate_in(tx, catalog, incident, EscalateRequest(to, None, say or what, by_rule=rule.id), now)
        if not outcome.changed:
            tx.add_timeline(incident["id"], now, "rule_skipped", f"Rule `{rule.id}` could not escalate: {outcome.message}")


# -- what people do with nudges ----------------------------------------------------------------------------

def _live_timer(tx: Tx, incident_id: int, rule_id: str) -> tuple[dict[str, Any] | None, dict[str, Any] | None, Outcome | None]:
    """The incident and its timer for this rule, or the Outcome that says why a snooze or dismiss cannot apply."""
    incident = tx.incident(incident_id)
    timer = tx.rule_timer_for(incident_id, rule_id)
    if incident is None or timer is None:
        return incident, None, Outcome(incident, False, NOT_FOUND if incident is None else "That reminder no longer exists.")
    if timer["dismissed_by"]:
        return incident, timer, Outcome(incident, False, f"<@{timer['dismissed_by']}> already dismissed this reminder for "
                                                         f"{incident_ref(incident['number'])}.")
    return incident, timer, None


def snooze(store: Store, incident_id: int, rule_id: str, minutes: int, user_id: str, now: datetime) -> Outcome:
    """Postpone this rule for this incident: it comes back in `minutes`, even if it already fired."""
    if minutes not in SNOOZE_CHOICES:
        return Outcome(None, False, f"Snooze for {' or '.join(str(m) for m in SNOOZE_CHOICES)} minutes.")
    with store.transaction() as tx:
        incident, timer, refusal = _live_timer(tx, incident_id, rule_id)
        if refusal is not None:
            return refusal
        assert timer is not None
        until = now + timedelta(minutes=minutes)
        tx.snooze_rule_timer(timer["id"], until)
        tx.add_timeline(incident_id, now, "rule_snoozed", f"{user_id} snoozed rule `{rule_id}` for {minutes} min.",
                        actor=user_id, data={"rule": rule_id, "until": iso(until)})
    return Outcome(incident, True, f"Snoozed: this comes back at <!date^{int(until.timestamp())}^{{time}}|{until:%H:%M} UTC>.")


def dismiss(store: Store, incident_id: int, rule_id: str, user_id: str, now: datetime) -> Outcome:
    """Stop this rule for this incident, for good."""
    with store.transaction() as tx:
        incident, timer, refusal = _live_timer(tx, incident_id, rule_id)
        if refusal is not None:
            return refusal
        assert timer is not None
        tx.dismiss_rule_timer(timer["id"], user_id)
        tx.add_timeline(incident_id, now, "rule_dismissed", f"{user_id} dismissed rule `{rule_id}` for this incident.",
                        actor=user_id, data={"rule": rule_id})
        incident = tx.bump_incident(incident_id, now)
        tx.enqueue(outbox.channel_message(incident_id, f"dismissed:{rule_id}",
                                          f"<@{user_id}> dismissed the `{rule_id}` reminder for this incident."), now)
    return Outcome(incident, True, "Dismissed for this incident.")


def escalate_now(store: Store, catalog: Catalog, incident_id: int, rule_id: str, user_id: str, now: datetime) -> Outcome:
    """A nudge's "Escalate now": the rule's own target (or the next level), decided by a human.

    Only from a nudge that rule posted on this incident: the button's value names the rule, and a
    value naming one that never nudged here (forged, or from another incident's message) pages nobody.
    """
    scoped = catalog.rules_by_id.get(rule_id)
    target = scoped.rule.escalate_to if scoped else "next"
    to = "next" if target == "next" else (f"team:{target.team}" if target.team else f"person:{target.person}")  # type: ignore[union-attr]
    with store.transaction() as tx:
        incident = tx.incident(incident_id)
        if incident is None:
            return Outcome(None, False, NOT_FOUND)
        timer = tx.rule_timer_for(incident_id, rule_id)
        if timer is None or not timer["fire_count"] or (scoped is not None and scoped.rule.do != "nudge"):
            return Outcome(incident, False, f"No “{escape_mrkdwn(truncate(rule_id, 60))}” nudge was posted for "
                                            f"{incident_ref(incident['number'])}, so there is nothing to escalate from: nothing changed. "
                                            "To page more people, use Escalate on the incident's summary.")
        return escalate_in(tx, catalog, incident, EscalateRequest(to, user_id, f"from the `{rule_id}` nudge"), now)


UPDATE_MIN_VISIBLE = 3  # characters a status update must show: "ok" tells the people following nothing


def validate_update(text: str) -> None:
    """A status update is read by everyone following the incident, so it must say something in readable text."""
    problem = typed_text_problem(text, "The update", multiline=True)
    if problem is None and visible_length(text) < UPDATE_MIN_VISIBLE:
        problem = "Write a sentence or two: what you know, what you are doing."
    if problem:
        raise InvalidInput({"update": problem})


def post_update(store: Store, incident_id: int, user_id: str, text: str, now: datetime) -> Outcome:
    """A status update: posted in the channel, on the timeline, and it resets "no update for" rules."""
    text = text.strip()
    with store.transaction() as tx:
        incident = tx.incident(incident_id)
        if incident is None:
            return Outcome(None, False, NOT_FOUND)
        if incident["status"] == "resolved":  # an update form opened before the resolve; it must not re-arm reminders
            return Outcome(incident, False, f"{incident_ref(incident['number'])} is resolved.")
        incident = tx.bump_incident(incident_id, now, last_update_at=iso(now))
        tx.touch_rule_timers(incident_id, now)
        tx.add_timeline(incident_id, now, "status_update", f"Status update from {user_id}: {text}", actor=user_id, data={"text": text})
        tx.enqueue(outbox.channel_message(incident_id, f"update:{incident['version']}",
                                          f":loudspeaker: *Status update* from <@{user_id}>:\n{escape_mrkdwn(text)}"), now)
    return Outcome(incident, True, "Posted.")


def record_human_message(store: Store, channel_id: str, user_id: str, now: datetime) -> bool:
    """Someone wrote in an incident channel: that is an update, as far as "no update for" rules go."""
    with store.transaction() as tx:
        incident = tx.incident_by_channel(channel_id)
        if incident is None or incident["status"] == "resolved":
            return False
        if incident["last_update_at"] and incident["last_update_at"] >= iso(now):
            return False
        tx.set_incident_fields(incident["id"], last_update_at=iso(now))
        tx.touch_rule_timers(incident["id"], now)
    return True
