"""Treat user text as data: escape it before it reaches mrkdwn, and fit it into Slack's limits."""

from __future__ import annotations


def escape_mrkdwn(text: str) -> str:
    """Slack's three control characters; a title like `<!channel>` then pings nobody."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
