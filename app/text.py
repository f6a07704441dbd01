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


# Letters and symbols that Unicode draws as nothing (Hangul fillers, the braille blank): text made of them looks empty.
_BLANK_LOOKING = frozenset("\u115f\u1160\u3164\uffa0\u2800")


def _shows(char: str) -> bool:
    """Whether a character shows by itself: not a space, a control or format character (zero-width, bidi), or a lone mark."""
    return unicodedata.category(char)[0] not in "CZM" and char not in _BLANK_LOOKING


def visible_length(text: str) -> int:
    """How many characters of `text` a reader sees: "\u202e\u200b" looks empty, and counts 0."""
    return sum(1 for char in text if _shows(char))


def typed_text_problem(text: str, what: str, *, multiline: bool = False) -> str | None:
    """Why text someone typed cannot be kept as it is, in words for the form field; None when it can.

    NUL and other control characters (line breaks only in a field with lines) and lone surrogates
    are refused: Slack cannot show them and they corrupt what is stored and searched. Text that
    is there but shows nothing (zero-width spaces, direction marks) would make an incident or a
    note nobody can read. Format characters inside visible text stay: emoji sequences need them.
    """
    allowed = "\t\n\r" if multiline else "\t"
    if any(unicodedata.category(char) in ("Cc", "Cs") and char not in allowed for char in text):
        return f"{what} contains control characters (such as NUL) that Slack cannot show; type it again or paste it as plain text."
    if text.strip() and not visible_length(text):
        return f"{what} has only invisible characters (zero-width spaces, direction marks); write it in words."
    return None


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
