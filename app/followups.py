"""Follow-ups: the actions agreed during or after an incident, each with an owner and a due date.

Adding one tells its owner by DM (with a Done button), says so in the incident channel and on
the timeline, and lists it on the summary. Once it is overdue its owner is reminded by DM once a
day at 09:00 in the owning team's zone, until somebody marks it done. The reminder is a row with
an indexed `remind_at`, advanced by the worker's tick like every other timer: a restart loses
none and repeats none (each reminder's outbox key carries its number, written in the same
transaction that counts it), and after days of downtime the owner gets one reminder, not one per
day missed, because the next one is always set to the next calendar day's 09:00.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from app import outbox, tracks
from app.catalog import Catalog
from app.handoffs import local_to_utc
from app.incidents import InvalidInput, Outcome, Row, open_incident, say_and_refresh
from app.store import Store, Tx, iso
from app.text import escape_mrkdwn, incident_ref, typed_text_problem

log = logging.getLogger(__name__)

TEXT_MAX = 300
REMIND_AT = time(9, 0)  # local time in the owning team's zone
DUE_WITHIN_DAYS = 5 * 365  # a follow-up due further out is a typo (9999-12-31 would overflow the reminder dates)
DONE_ACTION = "followup_done"  # the Done button on the owner's DMs (app.slack.blocks.FOLLOWUP_DONE)
NOT_FOUND = "That follow-up does not exist (any more)."
RETRY_AFTER_FAILURE = timedelta(hours=1)

_SLACK_USER = re.compile(r"[UW][A-Z0-9]{2,20}")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


@dataclass
class FollowupRequest:
    incident_id: int
    owner: str | None  # a Slack user ID
    due_on: str | None  # YYYY-MM-DD, as the date picker or the command gives it
    text: str
    created_by: str


# -- pure: dates and zones ---------------------------------------------------------------------------------

def zone_of(catalog: Catalog, incident: Row) -> ZoneInfo:
    """The owning team's zone; UTC when the team has left the catalog since the incident was declared."""
    team = catalog.teams.get(incident["team_id"])
    return team.zone if team is not None else ZoneInfo("UTC")


def today_in(zone: ZoneInfo, now: datetime) -> date:
    return now.astimezone(zone).date()


def at_nine(day: date, zone: ZoneInfo) -> datetime:
    """09:00 on `day` in `zone`, as a UTC instant (the project's rule: a wall time in a gap is the first instant after it)."""
    return local_to_utc(datetime.combine(day, REMIND_AT), zone).astimezone(timezone.utc)


def first_reminder(due_on: date, zone: ZoneInfo) -> datetime:
    """The first reminder: 09:00 on the day after the due date, when the follow-up has become overdue."""
    return at_nine(due_on + timedelta(days=1), zone)


def next_reminder(now: datetime, zone: ZoneInfo) -> datetime:
    """After a reminder sent at `now`: 09:00 on the next calendar day there. Never sooner, however late this one was."""
    return at_nine(today_in(zone, now) + timedelta(days=1), zone)


def overdue(followup: Row, today: date) -> bool:
    return followup["done_at"] is None and followup["due_on"] < today.isoformat()


def parse_due(raw: str | None) -> date | None:
    """YYYY-MM-DD, or None when it is not one."""
    text = (raw or "").strip()
    if not _ISO_DATE.fullmatch(text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def validate(request: FollowupRequest, zone: ZoneInfo, now: datetime) -> date:
    """The due date, or InvalidInput naming each field to fix (owner, due, text), all at once."""
    errors: dict[str, str] = {}
    if not request.owner:
        errors["owner"] = "Pick the person who owns this follow-up."
    elif not _SLACK_USER.fullmatch(request.owner):
        errors["owner"] = "Pick the owner from the list (a Slack user)."
    due = parse_due(request.due_on)
    today = today_in(zone, now)
    if not (request.due_on or "").strip():
        errors["due"] = "Pick the date it is due."
    elif due is None:
        errors["due"] = "Give the due date as YYYY-MM-DD, e.g. 2026-12-01."
    elif due < today:
        errors["due"] = f"That date is in the past; pick today ({today.isoformat()}) or later."
    elif due > today + timedelta(days=DUE_WITHIN_DAYS):
        errors["due"] = f"Pick a date within {DUE_WITHIN_DAYS // 365} years ({(today + timedelta(days=DUE_WITHIN_DAYS)).isoformat()} at the latest)."
    text = request.text.strip()
    if not text:
        errors["text"] = "Say what should be done, e.g. “Add an alert on payout queue depth”."
    elif len(text) > TEXT_MAX:
        errors["text"] = f"Keep it under {TEXT_MAX} characters (it is {len(text)}); link to a ticket for details."
    elif problem := typed_text_problem(text, "The follow-up"):
        errors["text"] = problem
    if errors:
        raise InvalidInput(errors)
    assert due is not None
    return due


# -- messages ------------------------------------------------------------------------------------------------

def _where(incident: Row) -> str:
    ref = incident_ref(incident["number"])
    return f"{ref} (<#{incident['channel_id']}>)" if incident["channel_id"] else ref


def _done_button(followup_id: int) -> list[outbox.Button]:
    return [outbox.Button(DONE_ACTION, "Done", str(followup_id), "primary")]


def _owner_dm(incident: Row, followup: Row, created_by: str) -> str:
    return (f":pushpin: <@{created_by}> gave you a follow-up from {_where(incident)}, due *{followup['due_on']}*:\n"
            f">{escape_mrkdwn(followup['text'])}\nClick *Done* when it is done; if it is overdue Ladder reminds you once a day.")


def _reminder_dm(incident: Row, followup: Row, today: date) -> str:
    late = (today - date.fromisoformat(followup["due_on"])).days
    days = "1 day" if late == 1 else f"{late} days"
    return (f":alarm_clock: Your follow-up from {_where(incident)} was due *{followup['due_on']}* ({days} ago):\n"
            f">{escape_mrkdwn(followup['text'])}\nClick *Done* once it is done, and the reminders stop.")


# -- use cases -----------------------------------------------------------------------------------------------

def add(store: Store, catalog: Catalog, request: FollowupRequest, now: datetime) -> Outcome:
    """Record a follow-up on an open or resolved incident, tell its owner and the channel, and schedule its reminder."""
    with store.transaction() as tx:
        incident, refusal = open_incident(tx, request.incident_id)
        if incident is None:
            return refusal  # type: ignore[return-value]
        zone = zone_of(catalog, incident)
        due = validate(request, zone, now)  # raises: the transaction rolls back having written nothing
        owner, text = request.owner or "", request.text.strip()
        followup = tx.insert_followup(incident["id"], owner, due.isoformat(), text, request.created_by, now, first_reminder(due, zone))
        tx.add_timeline(incident["id"], now, "followup_added", f"Follow-up for {owner}, due {due.isoformat()}, added by "
                        f"{request.created_by}: {text}", actor=request.created_by,
                        data={"followup_id": followup["id"], "owner": owner, "due_on": due.isoformat()})
        incident = tx.bump_incident(incident["id"], now)
        say_and_refresh(tx, incident, now, f"followup:{followup['id']}",
                        f":pushpin: <@{request.created_by}> added a follow-up for <@{owner}>, due *{due.isoformat()}*: "
                        f"{escape_mrkdwn(text)}")
        tx.enqueue(outbox.direct_message(outbox.dm_key("followup", followup["id"], "added"), owner,
                                         _owner_dm(incident, followup, request.created_by), incident["id"],
                                         _done_button(followup["id"])), now)
    return Outcome(incident, True, f"Follow-up added to {incident_ref(incident['number'])} for <@{owner}>, due {due.isoformat()}.",
                   {"followup_id": followup["id"]})


def done(store: Store, followup_id: int, user_id: str, now: datetime) -> Outcome:
    """Anyone may mark a follow-up done: its reminders stop. A second click says who was first."""
    with store.transaction() as tx:
        followup = tx.followup(followup_id)
        if followup is None:
            return Outcome(None, False, NOT_FOUND)
        incident = tx.incident(followup["incident_id"])
        assert incident is not None
        ref = incident_ref(incident["number"])
        if followup["done_at"] is not None:
            return Outcome(incident, False, f"That follow-up from {ref} was already marked done by <@{followup['done_by']}>.")
        if not tx.mark_followup_done(followup, user_id, now):
            return Outcome(incident, False, "That follow-up changed while you clicked; try again.")
        tx.add_timeline(incident["id"], now, "followup_done", f"Follow-up done (marked by {user_id}): {followup['text']}",
                        actor=user_id, data={"followup_id": followup_id, "owner": followup["owner"]})
        incident = tx.bump_incident(incident["id"], now)
        tx.enqueue(outbox.refresh(incident["id"], incident["version"]), now)
    return Outcome(incident, True, f":white_check_mark: Marked done: “{escape_mrkdwn(followup['text'])}” ({ref}).")


def advance_due(store: Store, catalog: Catalog, now: datetime, limit: int) -> tracks.Advanced:
    """Remind the owner of every overdue follow-up whose reminder is due, `limit` at most, in one transaction."""
    due = store.due_followup_ids(now, limit)
    done_now = tracks.Advanced(len(due))
    if due:
        with store.transaction() as tx:
            tracks.each_isolated(tx, due, lambda followup_id: _remind(tx, catalog, followup_id, now),
                                 lambda followup_id, failure: _park(tx, followup_id, failure, now), "follow-up reminder")
    return done_now


def _remind(tx: Tx, catalog: Catalog, followup_id: int, now: datetime) -> None:
    followup = tx.followup(followup_id)
    if followup is None or followup["remind_at"] is None or followup["remind_at"] > iso(now):
        return  # another runner, or a Done click, got there first
    if followup["done_at"] is not None:
        tx.set_followup_reminder(followup_id, None)
        return
    incident = tx.incident(followup["incident_id"])
    assert incident is not None
    zone = zone_of(catalog, incident)
    number = followup["reminders"] + 1
    if not tx.record_reminder(followup, next_reminder(now, zone)):
        return
    tx.enqueue(outbox.direct_message(outbox.dm_key("followup", followup_id, "reminder", number), followup["owner"],
                                     _reminder_dm(incident, followup, today_in(zone, now)), incident["id"],
                                     _done_button(followup_id)), now)
    if number == 1:  # it has just become overdue: the summary says so
        tx.enqueue(outbox.refresh(incident["id"], f"followup:{followup_id}:overdue"), now)


def _park(tx: Tx, followup_id: int, failure: Exception, now: datetime) -> None:
    """A reminder that raised is tried again a little later rather than every tick (logged by each_isolated)."""
    tx.set_followup_reminder(followup_id, now + RETRY_AFTER_FAILURE)


# -- the list (python -m app followups) ------------------------------------------------------------------

def listing(store: Store, catalog: Catalog, team: str | None = None, overdue_only: bool = False, *,
            now: datetime) -> list[dict[str, Any]]:
    """Every follow-up (of one team's incidents), by due date, with stable keys for `--json`."""
    zones: dict[str, ZoneInfo] = {}
    lines = []
    for row in store.followup_listing(team, open_only=overdue_only):
        zone = zones.get(row["team_id"])
        if zone is None:
            zone = zones[row["team_id"]] = zone_of(catalog, row)
        late = overdue(row, today_in(zone, now))
        if overdue_only and not late:
            continue
        lines.append({"incident": incident_ref(row["incident_number"]), "owner": row["owner"], "due_on": row["due_on"],
                      "text": row["text"], "done_at": row["done_at"], "overdue": late, "created_at": row["created_at"]})
    return lines


def render_text(lines: list[dict[str, Any]]) -> str:
    """One line per follow-up: incident, owner, due date, state, text."""
    if not lines:
        return "No follow-ups."
    out = []
    for line in lines:
        state = f"done {line['done_at'][:10]}" if line["done_at"] else ("OVERDUE" if line["overdue"] else "open")
        text = "".join(c if c.isprintable() else " " for c in line["text"])
        out.append(f"{line['incident']:<9} {line['owner']:<12} due {line['due_on']}  {state:<15} {text}")
    return "\n".join(out)
