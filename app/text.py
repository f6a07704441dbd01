"""Treat user text as data: escape it before it reaches mrkdwn, and fit it into Slack's limits."""

from __future__ import annotations


def incident_ref(number: int) -> str:
    """How people name an incident: INC-42."""
    return f"INC-{number}"


def escape_mrkdwn(text: str) -> str:
    """Slack's three control characters; a title like `<!channel>` then pings nobody."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def mention(ref: str) -> str:
    """A person as the catalog or Slack names them: a Slack ID becomes a mention, an e-mail stays (escaped) text."""
    return f"<@{ref}>" if "@" not in ref else escape_mrkdwn(ref)


def track_label(track: dict) -> str:  # type: ignore[type-arg]
    """An escalation track's name in mrkdwn: a person track mentions them, a team track names the team."""
    return mention(track["label"]) if track["track"].startswith("person:") else escape_mrkdwn(track["label"])
