"""Delivering outbox rows to Slack: one handler per kind, and how failures are treated.

(Over 400 lines: one small handler per outbox kind, plus the failure handling they all share.)

This is transport: it sends, retries, holds back under rate limits and looks for a post an
interrupted attempt may have made. What an outcome means (a page recorded as sent, a channel's
ID, a failure on the timeline) is reported to `app.delivered`, which records it. A row is sent
after the transaction that wrote it has committed. A 429 waits exactly Slack's
`Retry-After`; timeouts, connection errors and 5xx back off and retry without limit (a page is
never dropped); an error Slack will repeat forever (e.g. `users_not_found`) fails the row and
says so on the timeline and in the incident channel, because a silent failure is worse.
"""

from __future__ import annotations

import contextlib
import logging
import random
import socket
import threading
import urllib.error
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError

from app import delivered, followups, home, tracks
from app.catalog import Catalog
from app.incidents import channel_name_for
from app.metrics import NO_METRICS, Recorder
from app.outbox import Kind
from app.slack import blocks
from app.slack.home_view import home_view
from app.slack.rate_gates import RateGates
from app.store import (STORAGE_ERRORS, OutboxRow, Store, database_busy, database_unreachable, iso, parse_iso,
                       storage_problem)
from app.text import incident_ref

log = logging.getLogger(__name__)

TRANSIENT_ERRORS = {"ratelimited", "rate_limited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
MAX_BACKOFF_SECONDS = 300
PAGE_MAX_BACKOFF_SECONDS = 20  # a page goes out within seconds of Slack coming back, however long it was away
MAX_NAME_ATTEMPTS = 50
NETWORK_ERRORS = (urllib.error.URLError, socket.timeout, TimeoutError, ConnectionError, OSError)  # Slack not reached
OUTBOX_EVENT = "ladder_outbox"  # message metadata on everything Ladder posts: how a retry recognises a post that did arrive
LOOKBACK = 50  # recent messages searched for it


class RetryLater(Exception):
    def __init__(self, seconds: float, reason: str, rate_limited: bool = False) -> None:
        self.seconds = seconds
        self.reason = reason
        self.rate_limited = rate_limited
        super().__init__(reason)


# Kinds whose Slack method has a per-method (workspace-wide) rate tier: sent one at a time, and one 429
# holds back the whole kind. Messages are limited per channel, so a 429 holds back that channel only
# (a person's DM, an incident channel): never pages to others, and never a storm of 429s on one channel.
GATED_KINDS = {Kind.CREATE_CHANNEL, Kind.INVITE, Kind.SET_TOPIC, Kind.PIN_SUMMARY, Kind.REFRESH,  # refresh: chat.update, Tier 3
               Kind.PUBLISH_HOME}  # views.publish, Tier 4


class PermanentFailure(Exception):
    """Slack will keep refusing this call; retrying cannot help."""


UNRECORDED = "unrecorded"  # the outcome could not be written (the database was away): the row is still claimed


@dataclass
class DeliveryResult:
    row_id: int
    kind: str
    outcome: str  # "sent" | "retry" | "failed" | "skipped" | UNRECORDED
    detail: str = ""


def _backoff(attempts: int, cap: float) -> float:
    return min(cap, 2 ** min(attempts, 9)) * (0.75 + random.random() / 2)


def classify(exc: BaseException, attempts: int, cap: float = MAX_BACKOFF_SECONDS) -> Exception:
    """Turn whatever slack_sdk raised into RetryLater or PermanentFailure."""
    if isinstance(exc, SlackApiError):
        status = exc.response.status_code
        error = (exc.response.data or {}).get("error", "") if isinstance(exc.response.data, dict) else ""
        if status == 429 or error in ("ratelimited", "rate_limited"):
            headers = {k.lower(): v for k, v in (exc.response.headers or {}).items()}
            raw = headers.get("retry-after", "1")
            raw = raw[0] if isinstance(raw, list) else raw
            try:
                seconds = max(1.0, float(raw))
            except ValueError:
                seconds = 30.0
            return RetryLater(seconds, f"rate limited by Slack (Retry-After {raw}s)", rate_limited=True)
        if status >= 500 or error in TRANSIENT_ERRORS:
            return RetryLater(_backoff(attempts, cap), f"Slack answered {status} {error}".strip())
        return PermanentFailure(error or f"HTTP {status}")
    if isinstance(exc, NETWORK_ERRORS):
        return RetryLater(_backoff(attempts, cap), _network_trouble(exc))
    return PermanentFailure(f"{type(exc).__name__}: {exc}")


def _network_trouble(exc: BaseException) -> str:
    """What went wrong on the way to Slack, in words for the channel (not an exception class)."""
    cause = exc.reason if isinstance(exc, urllib.error.URLError) and isinstance(exc.reason, BaseException) else exc
    if isinstance(cause, (TimeoutError, socket.timeout)):
        return "Slack did not answer in time"
    if isinstance(cause, ConnectionRefusedError):
        return "could not reach Slack (connection refused)"
    if isinstance(cause, socket.gaierror):
        return "could not reach Slack (DNS lookup failed)"
    if isinstance(cause, ConnectionError):
        return "could not reach Slack (connection lost)"
    return f"could not reach Slack ({type(cause).__name__})"


def outcome_unknown(exc: BaseException) -> bool:
    """The request may have reached Slack and taken effect: the answer timed out, it did not fail to arrive."""
    if isinstance(exc, urllib.error.URLError) and not isinstance(exc, urllib.error.HTTPError):
        exc = exc.reason if isinstance(exc.reason, BaseException) else exc
    return isinstance(exc, (TimeoutError, socket.timeout))


def _behind(exc: BaseException | None, kind: Any) -> Any:
    """The exception of type `kind` behind `exc`, if any: handlers turn Slack's answers into PermanentFailure or
    RetryLater `from None`, which keeps the original as the context."""
    for _ in range(5):
        if exc is None or isinstance(exc, kind):
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


def _error_code(exc: SlackApiError) -> str:
    data = exc.response.data
    return data.get("error", "") if isinstance(data, dict) else ""


class SlackDelivery:
    """Sends one claimed outbox row; the worker decides when and in which thread."""

    def __init__(self, store: Store, client: WebClient, catalog: Callable[[], Catalog], page_alert_after: float = 120,
                 clock: Callable[[], datetime] | None = None, *, metrics: Recorder = NO_METRICS) -> None:
        self.store = store
        self.metrics = metrics  # page latency, 429s and failures by Web API method
        self.client = client
        self.catalog = catalog
        self.page_alert_after = page_alert_after  # a page still failing after this long is reported to humans
        self.clock = clock  # when a row may wait its turn, Retry-After counts from the answer, not from the dispatch
        self._bot_user_id: str | None = None  # from auth.test, when a channel of ours has to be recognised
        self.gates = RateGates()  # keyed by _gate_key: a method, or one channel for messages
        self._kind_locks = {kind: threading.Lock() for kind in GATED_KINDS}
        self._handlers: dict[str, Callable[[OutboxRow, datetime], None]] = {
            Kind.PAGE: self._page,
            Kind.CREATE_CHANNEL: self._create_channel,
            Kind.INVITE: self._invite,
            Kind.SET_TOPIC: self._set_topic,
            Kind.POST_SUMMARY: self._post_summary,
            Kind.PIN_SUMMARY: self._pin_summary,
            Kind.ANNOUNCE: self._announce,
            Kind.POST_MESSAGE: self._post_message,
            Kind.REFRESH: self._refresh,
            Kind.CHANNEL_MESSAGE: self._channel_message,
            Kind.DIRECT_MESSAGE: self._direct_message,
            Kind.UPLOAD_REVIEW: self._upload_review,
            Kind.PUBLISH_HOME: self._publish_home,
            Kind.DIGEST: self._digest,
        }

    def deliver(self, row: OutboxRow, now: datetime) -> DeliveryResult:
        # Rate-tiered methods go one call at a time (Slack allows ~1 every few seconds anyway), so one 429
        # closes the gate before the next call is even made.
        with self._kind_locks[row.kind] if row.kind in GATED_KINDS else contextlib.nullcontext():
            now = self._now(now)  # the wait for the lock counts
            key = self._gate_key(row)
            gate = self.gates.closed_until(key, now)
            if gate is not None:
                # Slack said "slow down" for this method: queued rows wait it out too instead of each earning a 429.
                self.store.retry_later(row.id, gate, "waiting for Slack's rate limit on this method")
                return DeliveryResult(row.id, row.kind, "retry", "rate-limit gate")
            return self._send(row, now, key)

    def _now(self, dispatched: datetime) -> datetime:
        """The time now, for a row dispatched at `dispatched` (it may have waited for a lock or for Slack since)."""
        return max(dispatched, self.clock()) if self.clock is not None else dispatched

    def _gate_key(self, row: OutboxRow) -> str:
        """What one of Slack's rate limits covers: a whole method (Tier 2/3), or one channel (chat.postMessage)."""
        if row.kind in GATED_KINDS:
            return row.kind
        if row.kind in (Kind.ANNOUNCE, Kind.CHANNEL_MESSAGE, Kind.DIGEST):
            return f"chat.postMessage:{row.payload.get('channel')}"
        if row.kind == Kind.DIRECT_MESSAGE:
            return f"chat.postMessage:{row.payload.get('user')}"
        if row.kind == Kind.PAGE:
            page = self.store.page(row.payload.get("page_id"))
            return f"chat.postMessage:dm:{page['target'] if page else row.id}"
        return f"chat.postMessage:incident:{row.incident_id}"  # post_summary, post_message

    def _send(self, row: OutboxRow, now: datetime, gate_key: str) -> DeliveryResult:
        handler = self._handlers.get(row.kind)
        try:
            if handler is None:
                raise PermanentFailure(f"unknown outbox kind {row.kind!r}")
            try:
                handler(row, now)
            except delivered.Gone as gone:
                raise PermanentFailure(str(gone)) from None
            self.gates.sent(gate_key, self._now(now))
            return DeliveryResult(row.id, row.kind, "sent")
        except Exception as exc:  # noqa: BLE001 - every failure must land on the row, never vanish
            storage = _behind(exc, STORAGE_ERRORS)
            if storage is not None and (database_unreachable(storage) or database_busy(storage)):
                return self._database_away(row, now, exc)  # a bad row (an integrity error, say) still fails below
            cap = PAGE_MAX_BACKOFF_SECONDS if row.kind == Kind.PAGE else MAX_BACKOFF_SECONDS
            outcome = exc if isinstance(exc, (RetryLater, PermanentFailure)) else classify(exc, row.attempts, cap)
            self._count_failure(exc)
            if isinstance(outcome, RetryLater):
                answered = self._now(now)
                at = answered + timedelta(seconds=outcome.seconds)
                if outcome.rate_limited:
                    self.gates.rate_limited(gate_key, answered, outcome.seconds, pace=row.kind in GATED_KINDS)
                log.warning("outbox %s (%s) will retry at %s: %s", row.id, row.kind, iso(at), outcome.reason)
                self.store.retry_later(row.id, at, outcome.reason, in_doubt=outcome_unknown(exc))
                if row.kind == Kind.PAGE and row.created_at is not None and (now - row.created_at).total_seconds() >= self.page_alert_after:
                    delivered.page_stuck(self.store, self.catalog(), row, now=now, reason=outcome.reason)
                return DeliveryResult(row.id, row.kind, "retry", outcome.reason)
            reason = str(outcome)
            log.error("outbox %s (%s) failed for good: %s", row.id, row.kind, reason)
            delivered.failed(self.store, row, reason, now)
            return DeliveryResult(row.id, row.kind, "failed", reason)

    def _database_away(self, row: OutboxRow, now: datetime, exc: BaseException) -> DeliveryResult:
        """Our own database failed around the call (PostgreSQL restarting, say): Slack is not to blame, so the row is
        never failed for it. It is tried again in a second, in doubt (the call itself may have reached Slack); if even
        that cannot be written, the worker hands the claim back once the database answers ("unrecorded")."""
        reason = f"{storage_problem(exc)} (around Slack's call)"
        log.warning("outbox %s (%s) will be retried: %s", row.id, row.kind, reason)
        try:
            self.store.retry_later(row.id, self._now(now) + timedelta(seconds=1), reason, in_doubt=True)
        except STORAGE_ERRORS:
            return DeliveryResult(row.id, row.kind, UNRECORDED, reason)
        return DeliveryResult(row.id, row.kind, "retry", reason)

    def _count_failure(self, exc: BaseException) -> None:
        """A failed call in the metrics: 429s by method, other failures by method and Slack's error code."""
        answer = _behind(exc, SlackApiError)
        if answer is None:
            trouble = _behind(exc, NETWORK_ERRORS)  # no answer at all; which method was being called is not known here
            if trouble is not None:
                self.metrics.slack_failed("unknown", "timeout" if outcome_unknown(trouble) else "connection_error")
            return  # otherwise ours: a gone incident, a bad row; no call to Slack failed
        method = (answer.response.api_url or "").rstrip("/").rpartition("/")[2]
        code = _error_code(answer) or f"http_{answer.response.status_code}"
        if answer.response.status_code == 429 or code in ("ratelimited", "rate_limited"):
            self.metrics.slack_rate_limited(method)
        else:
            self.metrics.slack_failed(method, code)

    # -- helpers ------------------------------------------------------------------------------
    def _incident(self, row: OutboxRow) -> dict[str, Any]:
        incident = self.store.incident(row.incident_id) if row.incident_id else None
        if incident is None:
            raise PermanentFailure("the incident is gone")
        return incident

    def _resolve_user(self, ref: str, now: datetime) -> str:
        """E-mail or Slack ID -> Slack user ID, through users.lookupByEmail with a cache."""
        if "@" not in ref:
            return ref
        cached = self.store.cached_user(ref)
        if cached:
            return cached
        try:
            response = self.client.users_lookupByEmail(email=ref)
        except SlackApiError as exc:
            if _error_code(exc) in ("users_not_found", "user_not_found"):
                raise PermanentFailure(f"no Slack user has the e-mail {ref} (users_not_found)") from None
            raise
        user_id = response["user"]["id"]
        self.store.cache_user(ref, user_id, now)
        return user_id

    # -- handlers -------------------------------------------------------------------------------
    def _page(self, row: OutboxRow, now: datetime) -> None:
        job = delivered.page_to_send(self.store, row, now)
        if job is None:
            return  # no longer wanted (acknowledged or resolved meanwhile): recorded as cancelled
        if row.payload.get("kind") == "user_group":
            response = self.client.usergroups_users_list(usergroup=job.page["target"])
            delivered.group_expanded(self.store, row, job, list(response.get("users") or []), now)
            return
        user_id = self._resolve_user(job.page["target"], now)
        page = {**job.page, "user_id": user_id}
        sent = self._post(row, user_id, text=blocks.page_text(job.incident),
                          blocks=blocks.page_blocks(job.incident, self.catalog(), page, tracks.awaits_own_acknowledgement(job.track)))
        delivered.page_sent(self.store, row, job, user_id, sent["channel"], sent["ts"], now)
        if row.created_at is not None:
            self.metrics.page_delivered((self._now(now) - row.created_at).total_seconds())

    def _post(self, row: OutboxRow, channel: str, **message: Any) -> dict[str, Any]:
        """chat.postMessage, marked with the row it delivers; returns the posted message's channel and ts.

        An attempt cut short (the process died mid-call, the answer timed out) may have posted already:
        then the channel is searched for the row's mark first, so nobody is paged or told twice.
        """
        if row.in_doubt:
            found = self._already_posted(channel, row.id)
            if found is not None:
                return found
        response = self.client.chat_postMessage(channel=channel, unfurl_links=False, **message,
                                                metadata={"event_type": OUTBOX_EVENT, "event_payload": {"outbox_id": row.id}})
        return {"channel": response["channel"], "ts": response["ts"]}

    def _already_posted(self, channel: str, row_id: int) -> dict[str, Any] | None:
        try:
            if channel.startswith("#"):  # history needs the channel's ID
                named = self._channels_named(channel[1:])
                if not named:
                    return None
                channel = named[0]["id"]
            elif channel.startswith(("U", "W")):
                channel = self.client.conversations_open(users=channel)["channel"]["id"]
            history = self.client.conversations_history(channel=channel, limit=LOOKBACK, include_all_metadata=True)
        except SlackApiError as exc:
            if _error_code(exc) in ("not_in_channel", "channel_not_found", "missing_scope"):
                log.warning("cannot look for outbox %s in %s (%s); sending it again", row_id, channel, _error_code(exc))
                return None
            raise
        for message in history.get("messages") or []:
            metadata = message.get("metadata") or {}
            if metadata.get("event_type") == OUTBOX_EVENT and (metadata.get("event_payload") or {}).get("outbox_id") == row_id:
                log.info("outbox %s had reached Slack before the interruption; not sending it again", row_id)
                return {"channel": channel, "ts": message["ts"]}
        return None

    def _create_channel(self, row: OutboxRow, now: datetime) -> None:
        incident = self._incident(row)
        if incident["channel_id"]:
            delivered.sent(self.store, row, now)
            return
        base = row.payload["name"]
        name = base
        for attempt in range(1, MAX_NAME_ATTEMPTS + 1):
            try:
                channel = self.client.conversations_create(name=name, is_private=bool(row.payload.get("private")))["channel"]
                break
            except SlackApiError as exc:
                if _error_code(exc) != "name_taken":
                    raise
                # After an attempt cut short, the taken name may be the channel that attempt created.
                mine = self._own_channel_named(name, incident) if row.in_doubt else None
                if mine is not None:
                    channel = mine
                    break
                suffix = f"-{attempt + 1}"
                name = base[: 80 - len(suffix)].rstrip("-_") + suffix
        else:
            raise PermanentFailure(f"every channel name from {base} to {name} is taken")

        delivered.channel_created(self.store, row, incident["id"], channel["id"], channel["name"], now)

    def _own_channel_named(self, name: str, incident: dict[str, Any]) -> dict[str, Any] | None:
        """The channel called `name` if this bot created it since the incident was declared, else None."""
        if self._bot_user_id is None:
            self._bot_user_id = self.client.auth_test()["user_id"]
        declared = parse_iso(incident["declared_at"])
        for channel in self._channels_named(name):
            recent = declared is None or (channel.get("created") or 0) >= declared.timestamp() - 60
            if channel.get("creator") == self._bot_user_id and recent:
                return channel
        return None

    def _channels_named(self, name: str) -> list[dict[str, Any]]:
        """Slack has no lookup by name: page through the channels the bot can see (only after an interrupted call)."""
        found, cursor = [], None
        while True:
            listing = self.client.conversations_list(types="public_channel,private_channel", exclude_archived=True,
                                                     limit=1000, cursor=cursor)
            found += [c for c in listing.get("channels") or [] if c.get("name") == name]
            cursor = (listing.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return found

    def _invite(self, row: OutboxRow, now: datetime) -> None:
        incident = self._incident(row)
        try:
            self.client.conversations_invite(channel=incident["channel_id"], users=row.payload["user_id"])
        except SlackApiError as exc:
            code = _error_code(exc)
            if code not in ("already_in_channel", "cant_invite_self"):
                if code in ("user_not_found", "cant_invite", "user_is_restricted", "ura_max_channels", "is_archived"):
                    raise PermanentFailure(f"invite <@{row.payload['user_id']}>: {code}") from None
                raise
        delivered.sent(self.store, row, now)

    def _set_topic(self, row: OutboxRow, now: datetime) -> None:
        incident = self._incident(row)
        self.client.conversations_setTopic(channel=incident["channel_id"], topic=blocks.topic_text(incident, self.catalog()))
        delivered.sent(self.store, row, now)

    def _summary_payload(self, incident: dict[str, Any], now: datetime) -> dict[str, Any]:
        catalog = self.catalog()
        views = [tracks.view(track, catalog) for track in self.store.tracks(incident["id"])]
        today = followups.today_in(followups.zone_of(catalog, incident), now).isoformat()  # what "overdue" means on the summary
        return {
            "text": blocks.summary_text(incident),
            "blocks": blocks.summary_blocks(incident, catalog, views, self.store.pages(incident["id"]),
                                            self.store.followups(incident["id"]), today, roles=self.store.roles(incident["id"])),
        }

    def _post_summary(self, row: OutboxRow, now: datetime) -> None:
        incident = self._incident(row)
        posted = self._post(row, incident["channel_id"], **self._summary_payload(incident, now))
        delivered.summary_posted(self.store, row, incident["id"], posted["ts"], now)

    def _pin_summary(self, row: OutboxRow, now: datetime) -> None:
        incident = self._incident(row)
        try:
            self.client.pins_add(channel=incident["channel_id"], timestamp=incident["summary_ts"])
        except SlackApiError as exc:
            if _error_code(exc) != "already_pinned":
                raise
        delivered.sent(self.store, row, now)

    def _post_to_named_channel(self, row: OutboxRow, channel: str, text: str) -> None:
        """A message to a channel named in the catalog or settings: the bot may not be there, and saying so helps."""
        try:
            self._post(row, channel, text=text)
        except SlackApiError as exc:
            code = _error_code(exc)
            if code in ("channel_not_found", "not_in_channel", "is_archived"):
                raise PermanentFailure(f"{code} for {channel}; invite the Ladder bot there or fix the catalog or settings") from None
            raise

    def _announce(self, row: OutboxRow, now: datetime) -> None:
        incident = self._incident(row)
        self._post_to_named_channel(row, row.payload["channel"], blocks.announcement_text(incident, self.catalog()))
        delivered.sent(self.store, row, now)

    def _post_message(self, row: OutboxRow, now: datetime) -> None:
        incident = self._incident(row)
        if row.payload.get("resolution"):
            payload = {"text": f"{incident_ref(incident['number'])} resolved", "blocks": blocks.resolution_blocks(incident)}
        elif row.payload.get("drill_report"):  # rendered now, from the store, like the review it stands in for
            from app import drills

            payload = {"text": drills.report_for(self.store, self.catalog(), incident["number"], now)}
        elif row.payload.get("actions"):
            text = blocks.drill_marked(incident, row.payload["text"])
            payload = {"text": text, "blocks": blocks.channel_message_blocks(incident, text, row.payload["actions"], row.payload.get("rule"))}
        else:
            payload = {"text": blocks.drill_marked(incident, row.payload["text"])}
        self._post(row, incident["channel_id"], **payload)
        delivered.sent(self.store, row, now)

    def _channel_message(self, row: OutboxRow, now: datetime) -> None:
        """A message to a named channel (the admin channel, a team channel), not the incident's own."""
        text = row.payload["text"]
        incident = self.store.incident(row.incident_id) if row.incident_id else None
        if incident is not None and "{channel}" in text:
            # Not waiting for the incident channel (the message must go even if creating it fails): link it if it exists.
            text = text.replace("{channel}", f"<#{incident['channel_id']}>" if incident["channel_id"]
                                else f"#{incident['channel_name'] or channel_name_for(incident['number'], incident['title'])}")
        self._post_to_named_channel(row, row.payload["channel"], text)
        delivered.sent(self.store, row, now)

    def _direct_message(self, row: OutboxRow, now: datetime) -> None:
        """A DM that is not a page (a role's instructions, a follow-up reminder): chat.postMessage to the user's ID."""
        text = row.payload["text"]
        self._post(row, row.payload["user"], text=text, blocks=blocks.direct_message_blocks(text, row.payload.get("buttons") or []))
        delivered.sent(self.store, row, now)

    def _upload_review(self, row: OutboxRow, now: datetime) -> None:
        """The review draft as a Markdown file in the incident channel: Slack's three-step external upload (files_upload_v2).

        Rendered now, from the store, so a follow-up added since the resolve is in it. After an attempt cut short
        (the answer to the last step timed out) the channel's recent history is searched for the file first; a file
        uploaded but never completed is discarded by Slack, so starting over from step one is safe.
        """
        from app import review

        incident = self._incident(row)
        try:
            upload = review.for_upload(review.build(review.load(self.store, self.catalog(), incident["number"]), now))
        except review.NotReviewable as exc:
            raise PermanentFailure(str(exc)) from None
        self._upload(row, incident["channel_id"], upload.filename, upload.title, upload.content, upload.comment)
        delivered.sent(self.store, row, now)

    def _upload(self, row: OutboxRow, channel_id: str, filename: str, title: str, content: str | bytes, comment: str) -> None:
        """One file shared in one channel (by ID) with a comment, once: files_upload_v2, Slack's three-step external upload.

        After an attempt cut short the channel's recent history is searched for the file first (by its name, from this
        bot); a file uploaded but never completed is discarded by Slack, so starting over from step one is safe.
        """
        if row.in_doubt and self._file_already_shared(channel_id, filename):
            return
        try:
            self.client.files_upload_v2(channel=channel_id, filename=filename, title=title, content=content, initial_comment=comment)
        except SlackRequestError as exc:  # step two (the raw upload) answered something other than 200
            raise RetryLater(_backoff(row.attempts, MAX_BACKOFF_SECONDS), f"the file upload failed ({exc})") from None

    def _file_already_shared(self, channel: str, filename: str) -> bool:
        if self._bot_user_id is None:
            self._bot_user_id = self.client.auth_test()["user_id"]
        history = self.client.conversations_history(channel=channel, limit=LOOKBACK)
        for message in history.get("messages") or []:
            if any(f.get("name") == filename and f.get("user") == self._bot_user_id for f in message.get("files") or []):
                log.info("the file %s had reached Slack before the interruption; not uploading it again", filename)
                return True
        return False

    def _refresh(self, row: OutboxRow, now: datetime) -> None:
        """Bring the pinned summary and every paging DM in line with the incident's current state.

        One row makes several chat.update calls. Under a rate limit a retry skips the messages this
        row already updated: starting over would spend the few calls allowed on the same first
        message and never reach the last (any later change of state queues a refresh of its own).
        """
        incident = self._incident(row)
        catalog = self.catalog()
        by_track = {t["track"]: t for t in self.store.tracks(incident["id"])}
        updates: list[tuple[str, Callable[[], dict[str, Any]]]] = []
        if incident["summary_ts"] and incident["channel_id"]:
            updates.append(("summary", lambda: {"channel": incident["channel_id"], "ts": incident["summary_ts"],
                                                 **self._summary_payload(incident, now)}))
        for page in self.store.pages(incident["id"]):
            if page["dm_ts"] and page["dm_channel"]:
                updates.append((f"page:{page['id']}", lambda page=page: {
                    "channel": page["dm_channel"], "ts": page["dm_ts"], "text": blocks.page_text(incident),
                    "blocks": blocks.page_blocks(incident, catalog, page, tracks.awaits_own_acknowledgement(by_track.get(page["track"])))}))
        already = set(row.payload.get("updated", []))
        done = set(already)
        try:
            for key, message in updates:
                if key not in done:
                    self.client.chat_update(**message())
                    done.add(key)
        except Exception:
            if done != already:
                self.store.update_payload(row.id, {**row.payload, "updated": sorted(done)})
            raise
        delivered.refreshed(self.store, self.catalog(), row, now)

    def _publish_home(self, row: OutboxRow, now: datetime) -> None:
        """A person's App Home, built now from the store (so it shows every change made before this row was sent).

        Someone the cache cannot name in the catalog is looked up once (users.info gives their e-mail, kept in the
        cache): the catalog names people by e-mail, Slack's event by ID.
        """
        user_id = row.payload["user"]
        if not self.store.refs_of_user(user_id):
            try:
                email = ((self.client.users_info(user=user_id).get("user") or {}).get("profile") or {}).get("email")
            except SlackApiError as exc:
                if _error_code(exc) in ("user_not_found", "users_not_found"):
                    raise PermanentFailure(f"Slack knows no user {user_id} (user_not_found)") from None
                raise
            if email:
                self.store.cache_user(email, user_id, now)
        self.client.views_publish(user_id=user_id, view=home_view(home.load(self.store, self.catalog(), user_id, now)))
        delivered.sent(self.store, row, now)

    def _digest(self, row: OutboxRow, now: datetime) -> None:
        """A team's digest, built now from the store: the summary with a chart (an upload), or alone on a quiet week.

        The catalog names the channel; the upload's last step needs its ID (`_channel_id`). A channel the bot cannot
        post to fails the row for good, saying so (the digest of the next period tries again).
        """
        from app import digests

        post = digests.build(self.store, self.catalog(), row.payload)
        channel = row.payload["channel"]
        if post.chart is None:
            self._post_to_named_channel(row, channel, post.text)
        else:
            channel_id = self._channel_id(channel)
            try:
                self._upload(row, channel_id, post.filename, post.title, post.chart, post.text)
            except SlackApiError as exc:
                code = _error_code(exc)
                if code in ("channel_not_found", "not_in_channel", "is_archived"):
                    raise PermanentFailure(f"{code} for {channel}; invite the Ladder bot there or fix the catalog") from None
                raise
        delivered.sent(self.store, row, now)

    def _channel_id(self, channel: str) -> str:
        """A channel named in the catalog (`#team-payments`, or an ID) -> its ID, for methods that take only IDs."""
        if not channel.startswith("#"):
            return channel
        named = self._channels_named(channel[1:])  # archived ones are not listed, nor private ones without the bot
        if not named:
            raise PermanentFailure(f"channel_not_found for {channel} (no such channel, archived, or private without the "
                                   "bot); invite the Ladder bot there or fix the catalog")
        if named[0].get("is_member") is False:
            raise PermanentFailure(f"not_in_channel for {channel}; invite the Ladder bot there or fix the catalog")
        return str(named[0]["id"])
