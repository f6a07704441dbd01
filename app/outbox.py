"""The outbox contract: what kinds of Slack work there are, how each is keyed, and what goes first.

A use case never calls Slack. It builds `Message`s here and writes them through the store in
the same transaction as the state they follow from; delivery sends them after commit. The dedupe
key says what a row *is* (this page, this incident's channel, this rule's third notice), so
writing it twice is a no-op: a double click, a retried request or two workers cannot send
anything twice. Every key is put together here, from the parts a caller names (an incident and a
tag, a page's rung and target), so the format has one owner.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from typing import Any


class Kind(StrEnum):
    PAGE = "page"  # a DM to one person (or a user group to expand into people)
    CREATE_CHANNEL = "create_channel"
    INVITE = "invite"
    SET_TOPIC = "set_topic"
    POST_SUMMARY = "post_summary"
    PIN_SUMMARY = "pin_summary"
    ANNOUNCE = "announce"  # the incident announced in a team or stakeholder channel
    POST_MESSAGE = "post_message"  # a message in the incident's own channel
    REFRESH = "refresh"  # re-render the pinned summary and every paging DM
    CHANNEL_MESSAGE = "channel_message"  # a message to a named channel (admin, team)
    DIRECT_MESSAGE = "direct_message"  # a DM that is not a page: a role's instructions, a follow-up and its reminders
    UPLOAD_REVIEW = "upload_review"  # the review draft of a resolved incident, as a Markdown file in its channel
    PUBLISH_HOME = "publish_home"  # a person's App Home, rendered from the store when sent (views.publish)
    DIGEST = "digest"  # a team's weekly digest: the period's figures and a chart, built from the store when sent


class Priority(IntEnum):
    """Lower goes first. Pages never wait behind channel housekeeping."""

    PAGE = 0
    CHANNEL = 1  # creating the channel, inviting, the summary; and warnings about pages
    MESSAGE = 3
    REFRESH = 4
    HOME = 5  # an App Home is a view of what the rows before it change
    DIGEST = 6  # a look back at last week waits behind everything about the incidents of now


@dataclass(frozen=True)
class Message:
    """One unit of Slack work to write to the outbox."""

    kind: Kind
    key: str
    priority: Priority
    incident_id: int | None = None
    payload: dict[str, Any] = field(default_factory=dict)
    depends_on: str | None = None  # the key of a row that must be sent first (e.g. the channel must exist)


# -- keys ------------------------------------------------------------------------------------------------

def page_key(incident_id: int, track: str, round_: int, policy: str, level: int, loop: int, target: str) -> str:
    return f"page:{incident_id}:{track}:{round_}:{policy}:{level}:{loop}:{target.lower()}"


def channel_key(incident_id: int) -> str:
    return f"create_channel:{incident_id}"


def summary_key(incident_id: int) -> str:
    return f"post_summary:{incident_id}"


def incident_key(kind: Kind, incident_id: int, *parts: object) -> str:
    """Keys of the kinds that are one per incident (and per invitee, channel or tag)."""
    return ":".join([kind.value, str(incident_id), *(str(p) for p in parts)])


def message_key(incident_id: int, tag: str) -> str:
    return f"message:{incident_id}:{tag}"


def notice_key(*parts: object) -> str:
    """A message to a named channel: `notice_key("rule", rule_id, count, incident_id, channel)`."""
    return ":".join(str(p) for p in parts)


# -- builders --------------------------------------------------------------------------------------------

def page(incident_id: int, page_id: int, key: str, target_kind: str) -> Message:
    return Message(Kind.PAGE, key, Priority.PAGE, incident_id, {"page_id": page_id, "kind": target_kind})


def channel_message(incident_id: int, tag: str, text: str, actions: list[str] | None = None, rule: str | None = None,
                    priority: Priority = Priority.MESSAGE) -> Message:
    """A message in the incident channel (sent once it exists); `actions` adds buttons, `rule` says which rule's."""
    payload: dict[str, Any] = {"text": text}
    if actions:
        payload["actions"] = actions
    if rule:
        payload["rule"] = rule
    return Message(Kind.POST_MESSAGE, message_key(incident_id, tag), priority, incident_id, payload, channel_key(incident_id))


def resolution(incident_id: int) -> Message:
    return Message(Kind.POST_MESSAGE, message_key(incident_id, "resolved"), Priority.MESSAGE, incident_id, {"resolution": True},
                   channel_key(incident_id))


def drill_report(incident_id: int) -> Message:
    """A finished drill's report in its channel (instead of the review upload), rendered from the store when sent."""
    return Message(Kind.POST_MESSAGE, message_key(incident_id, "drill_report"), Priority.MESSAGE, incident_id, {"drill_report": True},
                   channel_key(incident_id))


def upload_review(incident_id: int) -> Message:
    """The review draft, uploaded to the incident channel once it exists; its content is rendered when it is sent."""
    return Message(Kind.UPLOAD_REVIEW, incident_key(Kind.UPLOAD_REVIEW, incident_id), Priority.MESSAGE, incident_id,
                   depends_on=channel_key(incident_id))


def refresh(incident_id: int, tag: object) -> Message:
    """Re-render the summary and DMs; `tag` (usually the incident's version) makes one refresh per change."""
    return Message(Kind.REFRESH, incident_key(Kind.REFRESH, incident_id, tag), Priority.REFRESH, incident_id)


def announce(incident_id: int, channel: str) -> Message:
    return Message(Kind.ANNOUNCE, incident_key(Kind.ANNOUNCE, incident_id, channel), Priority.MESSAGE, incident_id,
                   {"channel": channel}, channel_key(incident_id))


def invite(incident_id: int, user_id: str) -> Message:
    return Message(Kind.INVITE, incident_key(Kind.INVITE, incident_id, user_id), Priority.CHANNEL, incident_id,
                   {"user_id": user_id}, channel_key(incident_id))


def named_channel_message(key: str, channel: str, text: str, incident_id: int | None = None,
                          priority: Priority = Priority.MESSAGE) -> Message:
    """A message to a channel named in the catalog or settings, not the incident's own (it need not exist yet)."""
    return Message(Kind.CHANNEL_MESSAGE, key, priority, incident_id, {"channel": channel, "text": text})


@dataclass(frozen=True)
class Button:
    """A button on a direct message: what the listeners will see (`action_id`, `value`) and what the person reads."""

    action_id: str
    text: str
    value: str
    style: str | None = None


def direct_message(key: str, user_id: str, text: str, incident_id: int | None = None, buttons: list[Button] | None = None,
                   priority: Priority = Priority.MESSAGE) -> Message:
    """A DM to one person (by Slack user ID) that pages nobody: mrkdwn `text`, and buttons under it.

    `key` says what the message is (`dm_key`), so a role given twice in a row or a reminder written twice sends one DM.
    """
    payload: dict[str, Any] = {"user": user_id, "text": text}
    if buttons:
        payload["buttons"] = [[b.action_id, b.text, b.value, b.style] for b in buttons]
    return Message(Kind.DIRECT_MESSAGE, key, priority, incident_id, payload)


def dm_key(*parts: object) -> str:
    """`dm_key("role", incident_id, role, user_id)`, `dm_key("followup", followup_id, "reminder", n)`."""
    return ":".join(["dm", *(str(p) for p in parts)])


def home_key(user_id: str, number: int) -> str:
    """The `number`th publication of this person's App Home: zero-padded, so the newest key sorts last."""
    return f"{Kind.PUBLISH_HOME.value}:{user_id}:{number:010d}"


def publish_home(user_id: str, number: int) -> Message:
    """Publish this person's App Home (built when sent, so one row covers every change made before it goes out)."""
    return Message(Kind.PUBLISH_HOME, home_key(user_id, number), Priority.HOME, None, {"user": user_id})


def digest_key(team_id: str, period_start: str) -> str:
    """One digest per team and period, named by the period's start (UTC ISO): never posted twice, across restarts."""
    return f"{Kind.DIGEST.value}:{team_id}:{period_start}"


def digest(team_id: str, channel: str, since: str, until: str, missed: int) -> Message:
    """The digest of [since, until) (UTC ISO) for `channel`; `missed` earlier periods went unposted (Ladder was down)."""
    return Message(Kind.DIGEST, digest_key(team_id, since), Priority.DIGEST, None,
                   {"team": team_id, "channel": channel, "since": since, "until": until, "missed": missed})


def channel_setup(incident_id: int, name: str, private: bool, declared_by: str) -> list[Message]:
    """Everything a new incident's channel needs, in dependency order: create, topic, summary, pin, invite the declarer."""
    created = channel_key(incident_id)
    return [
        Message(Kind.CREATE_CHANNEL, created, Priority.CHANNEL, incident_id, {"name": name, "private": private}),
        Message(Kind.SET_TOPIC, incident_key(Kind.SET_TOPIC, incident_id), Priority.CHANNEL, incident_id, depends_on=created),
        Message(Kind.POST_SUMMARY, summary_key(incident_id), Priority.CHANNEL, incident_id, depends_on=created),
        Message(Kind.PIN_SUMMARY, incident_key(Kind.PIN_SUMMARY, incident_id), Priority.CHANNEL, incident_id,
                depends_on=summary_key(incident_id)),
        invite(incident_id, declared_by),
    ]
