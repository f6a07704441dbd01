"""Treat user text as data: escape it before it reaches mrkdwn, and fit it into Slack's limits."""

from __future__ import annotations

import re
import unicodedata
from string import Formatter

_WORD = re.compile(r"[a-z0-9]+")


def incident_ref(number: int) -> str:
    """How people name an incident: INC-42."""
    return f"INC-{number}"


def escape_mrkdwn(text: str) -> str:
    """Slack's three control characters; a title like `<!channel>` then pings nobody."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def words(text: str) -> list[str]:
    """Text as routing compares it: accents folded, lower case, runs of letters and digits."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    return _WORD.findall(folded)


def name_key(text: str) -> str:
    """Two names with the same key are the same name to a person and to routing ("Log-in" and "log in")."""
    return " ".join(words(text)) or text.casefold().strip()


def mention(ref: str) -> str:
    """A person as the catalog or Slack names them: a Slack ID becomes a mention, an e-mail stays (escaped) text."""
    return f"<@{ref}>" if "@" not in ref else escape_mrkdwn(ref)


def track_label(track: dict) -> str:  # type: ignore[type-arg]
    """An escalation track's name in mrkdwn: a person track mentions them, a team track names the team."""
    return mention(track["label"]) if track["track"].startswith("person:") else escape_mrkdwn(track["label"])


SAY_PLACEHOLDERS = ("ref", "title", "severity", "service", "team", "elapsed", "channel")
_FORMATTER = Formatter()


def template_problem(template: str, allowed: tuple[str, ...] = SAY_PLACEHOLDERS) -> str | None:
    """What is wrong with a message template, in words for `check`; None when it is fine.

    Only bare placeholders from `allowed` are filled in: no attributes, indexes, conversions or format
    specs (`{ref:>99999999999}` would ask for gigabytes), and a literal brace is written twice.
    """
    try:
        parts = list(_FORMATTER.parse(template))
    except ValueError:
        return "has a lone '{' or '}'; write '{{' or '}}' for a literal brace"
    for _literal, field, spec, conversion in parts:
        if field is None:
            continue
        if field not in allowed:
            return f"{{{field}}} is not a placeholder; use {', '.join('{' + a + '}' for a in allowed)}"
        if spec or conversion:
            return f"{{{field}}} takes no format or conversion; write just {{{field}}}"
    return None


def fill(template: str, values: dict[str, str]) -> str:
    """The template with its placeholders filled; anything it cannot fill stays as written. Never raises."""
    try:
        parts = list(_FORMATTER.parse(template))
    except ValueError:
        return template
    out = []
    for literal, field, spec, conversion in parts:
        out.append(literal)
        if field is None:
            continue
        if field in values and not spec and not conversion:
            out.append(values[field])
        else:
            out.append("{" + field + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}")
    return "".join(out)
