"""Block Kit as plain dicts, with Slack's limits checked as they are built.

Messages (the pinned summary, pages, channel posts) are rendered every time an incident changes,
by the worker, for each of them: building them through slack_sdk's model objects cost about half
of the worker's CPU per Slack call (each object validates itself by reflection). These builders
make the same dicts directly and refuse what slack_sdk's models refuse, with the same
`SlackObjectFormationError`, so a limit still fails here rather than in Slack; and a little more
(a field past 2,000 characters, a context text past 3,000), which Slack would refuse anyway. The tests build
every message both ways (tests/reference_blocks.py, through slack_sdk's models) and compare.

The limits are Slack's (https://api.slack.com/reference/block-kit), as slack_sdk encodes them.
"""

from __future__ import annotations

from typing import Any

from slack_sdk.errors import SlackObjectFormationError

MESSAGE_BLOCKS_MAX = 50
SECTION_TEXT_MAX = 3000
SECTION_FIELDS_MAX = 10
FIELD_TEXT_MAX = 2000
HEADER_TEXT_MAX = 150
CONTEXT_ELEMENTS_MAX = 10
ACTIONS_ELEMENTS_MAX = 25
BLOCK_ID_MAX = 255
ACTION_ID_MAX = 255
BUTTON_TEXT_MAX = 75
BUTTON_VALUE_MAX = 2000
BUTTON_STYLES = ("primary", "danger")
PLACEHOLDER_MAX = 150
OPTIONS_MAX = 100
OPTION_TEXT_MAX = 75
OPTION_VALUE_MAX = 150

Block = dict[str, Any]


def _at_most(value: str, limit: int, what: str) -> str:
    if len(value) > limit:
        raise SlackObjectFormationError(f"{what} cannot exceed {limit} characters; got {len(value)}")
    return value


def _not_more(items: list[Any], limit: int, what: str) -> list[Any]:
    if len(items) > limit:
        raise SlackObjectFormationError(f"{what} cannot hold more than {limit}; got {len(items)}")
    return items


def _text_object(kind: str, text: str, limit: int, what: str) -> Block:
    """A text object; an empty text is left out, as slack_sdk leaves it out (Slack then says which block lacks it)."""
    made: Block = {"type": kind}
    if _at_most(text, limit, what):
        made["text"] = text
    return made


def mrkdwn(text: str, limit: int = SECTION_TEXT_MAX, what: str = "text") -> Block:
    return _text_object("mrkdwn", text, limit, what)


def plain(text: str, limit: int, what: str, emoji: bool = True) -> Block:
    made = _text_object("plain_text", text, limit, what)
    made["emoji"] = emoji
    return made


def section(text: str) -> Block:
    """A section of mrkdwn text (at most 3,000 characters)."""
    return {"type": "section", "text": mrkdwn(text)}


def fields_section(fields: list[str]) -> Block:
    """A section of mrkdwn fields, shown two abreast (at most 10, each at most 2,000 characters)."""
    return {"type": "section", "fields": [mrkdwn(f, FIELD_TEXT_MAX, "field") for f in _not_more(fields, SECTION_FIELDS_MAX, "fields")]}


def header(text: str) -> Block:
    """A header in plain text without emoji shortcodes turned to emoji: a title is shown as typed."""
    return {"type": "header", "text": plain(text, HEADER_TEXT_MAX, "header text", emoji=False)}


def context(*texts: str) -> Block:
    return {"type": "context", "elements": [mrkdwn(t) for t in _not_more(list(texts), CONTEXT_ELEMENTS_MAX, "context elements")]}


def actions(block_id: str, elements: list[Block]) -> Block:
    block: Block = {"type": "actions", "block_id": _at_most(block_id, BLOCK_ID_MAX, "block_id")}
    if elements:
        block["elements"] = _not_more(elements, ACTIONS_ELEMENTS_MAX, "actions elements")
    return block


def button(action_id: str, text: str, value: str, style: str | None = None) -> Block:
    element: Block = {"type": "button", "action_id": _at_most(action_id, ACTION_ID_MAX, "action_id"),
                      "text": plain(text, BUTTON_TEXT_MAX, "button text")}
    if _at_most(value, BUTTON_VALUE_MAX, "button value"):
        element["value"] = value
    if style is not None:
        if style not in BUTTON_STYLES:
            raise SlackObjectFormationError(f"style must be one of {BUTTON_STYLES}; got {style!r}")
        element["style"] = style
    return element


def option(value: str, text: str) -> Block:
    return {"text": plain(text, OPTION_TEXT_MAX, "option text"), "value": _at_most(value, OPTION_VALUE_MAX, "option value")}


def static_select(action_id: str, placeholder: str, options: list[Block]) -> Block:
    select: Block = {"type": "static_select", "action_id": _at_most(action_id, ACTION_ID_MAX, "action_id"),
                     "placeholder": plain(placeholder, PLACEHOLDER_MAX, "placeholder")}
    if _not_more(options, OPTIONS_MAX, "options"):
        select["options"] = options
    return select


def message(blocks: list[Block]) -> list[Block]:
    """The blocks of one message (at most 50)."""
    if len(blocks) > MESSAGE_BLOCKS_MAX:
        raise ValueError(f"a message holds at most {MESSAGE_BLOCKS_MAX} blocks; built {len(blocks)}")
    return blocks
