"""What delivery reports, recorded: the domain's side of every outcome of a Slack call.

`slack/delivery.py` only transports: it sends a row, retries, honours rate limits, and reports
what happened here (`page_sent`, `channel_created`, `failed`, ...). These functions decide what
that means (whether a page may still go, what the timeline says, who must be told a page did not
arrive) and write it in one transaction with the row's new status.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app import home, outbox
from app.catalog import Catalog
from app.escalation import Snapshot
from app.outbox import Kind, Priority
from app.store import OutboxRow, Store, iso
from app.text import escape_mrkdwn, incident_ref
from app.tracks import OWNED, PageRequest, awaits_own_acknowledgement, record_page

Row = dict[str, Any]


class Gone(Exception):
    """The row's incident or page no longer exists: nothing to send, ever."""


@dataclass(frozen=True)
class PageJob:
    """A page that is still wanted, with what its DM shows."""

    page: Row
    incident: Row
    track: Row | None


def page_to_send(store: Store, row: OutboxRow, now: datetime) -> PageJob | None:
    """The page to send, or None when it is no longer wanted (then it is recorded as cancelled, and the row done).

    Nothing pages after an acknowledgement or a resolution, unless a responder asked for this page
    (additive escalation) or it only informs: an additive track pages until someone on it acknowledges.
    """
    page = store.page(row.payload["page_id"])
    if page is None:
        raise Gone("the page row is gone")
    incident = store.incident(row.incident_id) if row.incident_id else None
    if incident is None:
        raise Gone("the incident is gone")
    track = store.track(incident["id"], page["track"])
    if row.payload.get("kind") == "user_group":
        return PageJob(page, incident, track)  # expanded whatever happened since: each member's own page is checked
    additive = page["requested_by"] or awaits_own_acknowledgement(track)
    acknowledged_meanwhile = incident["status"] in OWNED and not (page["notify_only"] or additive)
    if incident["status"] == "resolved" or acknowledged_meanwhile:
        with store.transaction() as tx:
            tx.set_page(page["id"], status="cancelled")
            tx.mark_sent(row.id, now)
        return None
    return PageJob(page, incident, track)


def sent(store: Store, row: OutboxRow, now: datetime) -> None:
    """A row whose outcome needs no record beyond being sent (a topic, a pin, an invite, a message)."""
    with store.transaction() as tx:
        tx.mark_sent(row.id, now)


def refreshed(store: Store, catalog: Catalog, row: OutboxRow, now: datetime) -> None:
    """An incident's summary and DMs show its change: so will the App Homes of the people it concerns.

    Every change of an incident queues one refresh (keyed by its version), so this is the one place that sees them
    all; the Homes are queued here, with the refresh marked sent, and coalesce per person (`home.queue_publish`).
    """
    with store.transaction() as tx:
        incident = tx.incident(row.incident_id) if row.incident_id else None
        if incident is not None:
            home.refresh_for_incident(tx, catalog, incident, now)
        tx.mark_sent(row.id, now)


def page_sent(store: Store, row: OutboxRow, job: PageJob, user_id: str, channel: str, ts: str, now: datetime) -> None:
    page, incident = job.page, job.incident
    with store.transaction() as tx:
        tx.set_page(page["id"], user_id=user_id, dm_channel=channel, dm_ts=ts, status="sent", sent_at=iso(now))
        verb = "Notified" if page["notify_only"] else "Paged"
        tx.add_timeline(incident["id"], now, "paged", f"{verb} {user_id} (level {page['level'] + 1}, {page['via']}).",
                        data={"page_id": page["id"], "level": page["level"], "user_id": user_id})
        tx.enqueue(outbox.invite(incident["id"], user_id), now)
        tx.mark_sent(row.id, now)


def group_expanded(store: Store, row: OutboxRow, job: PageJob, members: list[str], now: datetime) -> None:
    """A Slack user group paged: each member gets a page of their own, on the same rung of the same ladder."""
    page, incident = job.page, job.incident
    with store.transaction() as tx:
        tx.set_page(page["id"], status="sent", sent_at=iso(now))
        if not members:
            tx.add_timeline(incident["id"], now, "gap", f"User group {page['target']} has no members; nobody paged from it.")
        if incident["drill"] and job.track is not None:  # a drill's `drills.never` people, by ID or by an e-mail Ladder has resolved
            excluded = Snapshot.from_json(job.track["snapshot"]).excluded
            ids = {ref for ref in excluded if "@" not in ref} | {uid.lower() for uid in tx.user_ids_of_refs(excluded).values()}
            for member in [m for m in members if m.lower() in ids]:
                tx.add_timeline(incident["id"], now, "gap", f"{member}, a member of {page['target']}, is not drilled (drills.never).",
                                data={"track": page["track"], "policy": page["policy"], "level": page["level"], "user_id": member})
            members = [m for m in members if m.lower() not in ids]
        for member in members:
            record_page(tx, incident["id"], PageRequest(page["track"], page["round"], page["policy"], page["level"], page["loop"],
                                                        member, "person", f"member of {page['target']}", bool(page["notify_only"]),
                                                        page["requested_by"]), now)
        tx.mark_sent(row.id, now)


def channel_created(store: Store, row: OutboxRow, incident_id: int, channel_id: str, name: str, now: datetime) -> None:
    with store.transaction() as tx:
        tx.set_incident_fields(incident_id, channel_id=channel_id, channel_name=name)
        tx.add_timeline(incident_id, now, "channel_created", f"Channel #{name} created.", data={"channel_id": channel_id, "name": name})
        # Paging DMs went out before the channel existed: give them the link now.
        tx.enqueue(outbox.refresh(incident_id, "channel"), now)
        tx.mark_sent(row.id, now)


def summary_posted(store: Store, row: OutboxRow, incident_id: int, ts: str, now: datetime) -> None:
    with store.transaction() as tx:
        tx.set_incident_fields(incident_id, summary_ts=ts)
        tx.mark_sent(row.id, now)


def failed(store: Store, row: OutboxRow, reason: str, now: datetime) -> None:
    """Slack will keep refusing: fail the row (and what waits on it), say so on the timeline, and tell the channel of a page."""
    with store.transaction() as tx:
        failed_rows = tx.mark_failed(row.id, reason)
        if row.incident_id is None:
            return
        for failed_row in failed_rows:
            data = {"outbox_id": failed_row["id"], "kind": failed_row["kind"]}
            if failed_row["id"] == row.id and row.kind == Kind.PAGE:
                data["page_id"] = row.payload.get("page_id")  # which page: the timeline and the review name its person
            tx.add_timeline(row.incident_id, now, "delivery_failed", f"Could not {describe(failed_row)}: {failed_row['last_error']}.",
                            data=data)
        if row.kind == Kind.PAGE:
            page_id = row.payload.get("page_id")
            tx.set_page(page_id, status="failed", error=reason)
            page = tx.page(page_id)
            if page is not None and tx.incident(row.incident_id) is not None:
                # Tell the humans in the channel: a page that did not go out must not look like silence.
                tx.enqueue(outbox.channel_message(
                    row.incident_id, f"page_failed:{page_id}",
                    f":warning: Could not page {escape_mrkdwn(page['target'])} ({escape_mrkdwn(reason)}). Page them another way or escalate.",
                    priority=Priority.CHANNEL), now)


def fail_orphans(store: Store, now: datetime) -> None:
    """Rows queued after their prerequisite had already failed would wait forever: fail them, visibly."""
    if not store.orphans():  # the usual case, every tick: a read, no write lock
        return
    with store.transaction() as tx:
        for orphan in tx.orphans():
            reason = f"not sent because {orphan['needs'].replace('_', ' ')} failed"
            for failed_row in tx.mark_failed(orphan["id"], reason):
                if failed_row["incident_id"] is not None:
                    tx.add_timeline(failed_row["incident_id"], now, "delivery_failed",
                                    f"Could not {describe(failed_row)}: {failed_row['last_error']}.",
                                    data={"outbox_id": failed_row["id"], "kind": failed_row["kind"]})


def page_stuck(store: Store, catalog: Catalog, row: OutboxRow, reason: str, now: datetime) -> None:
    """A page Slack keeps refusing is still retried, but people must know it has not arrived (once)."""
    with store.transaction() as tx:
        incident = tx.incident(row.incident_id) if row.incident_id else None
        page = tx.page(row.payload.get("page_id"))
        if incident is None or page is None:
            return
        minutes = int((now - row.created_at).total_seconds() // 60) if row.created_at else 0
        text = (f":warning: The page to {escape_mrkdwn(page['target'])} for {incident_ref(incident['number'])} has not gone out for "
                f"{minutes} min (Slack: {escape_mrkdwn(reason)}). Ladder keeps retrying; reach them another way if you can.")
        key = f"page_stuck:{page['id']}"
        if tx.enqueue(outbox.channel_message(incident["id"], key, text, priority=Priority.CHANNEL), now):
            tx.add_timeline(incident["id"], now, "page_stuck", f"The page to {page['target']} is still failing: {reason}.",
                            data={"page_id": page["id"]})
        team = catalog.teams.get(incident["team_id"])
        if team is not None and team.slack_channel and not incident["private"] and not incident["drill"]:
            tx.enqueue(outbox.named_channel_message(outbox.notice_key(key, "team"), team.slack_channel, text, incident["id"], Priority.CHANNEL), now)


def describe(row: Row) -> str:
    """What an outbox row was for, in words for the timeline."""
    payload = json.loads(row["payload"] or "{}")
    return {
        Kind.PAGE: "send a page",
        Kind.CREATE_CHANNEL: f"create the channel #{payload.get('name', '')}",
        Kind.INVITE: f"invite {payload.get('user_id', '')} to the channel",
        Kind.SET_TOPIC: "set the channel topic",
        Kind.POST_SUMMARY: "post the incident summary",
        Kind.PIN_SUMMARY: "pin the incident summary",
        Kind.ANNOUNCE: f"announce the incident in {payload.get('channel', 'the team channel')}",
        Kind.POST_MESSAGE: "post to the incident channel",
        Kind.REFRESH: "update the incident summary",
        Kind.CHANNEL_MESSAGE: f"post to {payload.get('channel', 'a channel')}",
        Kind.DIRECT_MESSAGE: f"send a direct message to {payload.get('user', 'someone')}",
        Kind.UPLOAD_REVIEW: "upload the review draft",
        Kind.PUBLISH_HOME: f"publish the App Home of {payload.get('user', 'someone')}",
        Kind.DIGEST: f"post the digest of team {payload.get('team', '?')} to {payload.get('channel', 'its channel')}",
    }.get(row["kind"], row["kind"])
