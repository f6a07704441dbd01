"""`/incident drill check`: the preflight's findings as ephemeral messages, within Slack's limits.

The answer goes through the command's response_url, which takes at most five messages: the findings
are packed into sections of at most 3,000 characters, sections into messages of at most 50 blocks,
and whatever does not fit in five is counted, with the CLI named for the whole list.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.catalog import Catalog
from app.preflight import BLOCKS, Finding, Result, summary
from app.slack import kit
from app.text import escape_mrkdwn, truncate

MAX_MESSAGES = 5  # a response_url takes five posts
CHECKING = ("Checking every rung of the ladders against Slack (people, DMs, user groups, channels, schedules over the next "
            "7 days); nobody is sent a message. The answer comes here, only to you, in a moment.")
CLI = "`python -m app drill --preflight`"


@dataclass(frozen=True)
class Message:
    text: str
    blocks: list[kit.Block]


def _place(finding: Finding) -> str:
    if finding.policy is None:
        return "around the ladders"
    return f"policy `{escape_mrkdwn(finding.policy)}`" + (f", level {finding.level}" if finding.level is not None else "")


def _line(finding: Finding) -> str:
    icon = ":no_entry:" if finding.severity == BLOCKS else ":warning:"
    return truncate(f"{icon} *{escape_mrkdwn(finding.target)}*: {escape_mrkdwn(finding.problem)}\n"
                    f"        _Fix:_ {escape_mrkdwn(finding.fix)}", kit.SECTION_TEXT_MAX)


def _chunks(result: Result, catalog: Catalog) -> list[str]:
    """The findings as mrkdwn pieces (a team's title, a place, a finding), each short enough for a section."""
    pieces: list[str] = []
    team_now = place_now = None
    for finding in result.findings:
        if finding.team != team_now:
            team_now, place_now = finding.team, None
            name = catalog.teams[finding.team].name if finding.team in catalog.teams else "Settings"
            pieces.append(f"*{escape_mrkdwn(name)}*" + (f" (`{escape_mrkdwn(finding.team)}`)" if finding.team else ""))
        place = _place(finding)
        if place != place_now:
            place_now = place
            pieces.append(f"_{place}_")
        pieces.append(_line(finding))
    return pieces


def messages(result: Result, catalog: Catalog) -> list[Message]:
    """Every finding, in at most five messages of at most 50 blocks, and the verdict last."""
    checked = result.checked
    intro = (f"*Drill preflight*: {len(result.teams)} team(s), {checked['policies']} policies; {checked['people']} people, "
             f"{checked['groups']} user group(s) and {checked['channels']} channel(s) checked; schedules for {result.days} "
             "day(s). Nobody was sent a message.")
    verdict = (":white_check_mark: " if not result.findings else ":no_entry: " if result.blocking else ":warning: ") + summary(result) + "."
    sections: list[str] = []
    for piece in _chunks(result, catalog):
        if sections and len(sections[-1]) + 1 + len(piece) <= kit.SECTION_TEXT_MAX:
            sections[-1] += "\n" + piece
        else:
            sections.append(piece)
    per_message = kit.MESSAGE_BLOCKS_MAX - 2  # room for the intro and the verdict
    batches = [sections[i:i + per_message] for i in range(0, len(sections), per_message)] or [[]]
    if len(batches) > MAX_MESSAGES:
        left = sum(len(batch) for batch in batches[MAX_MESSAGES:])
        batches = batches[:MAX_MESSAGES]
        verdict += f" ({left} more section(s) of findings are not shown here: {CLI} lists them all.)"
    built = []
    for index, batch in enumerate(batches):
        blocks = [kit.section(text) for text in batch]
        if index == 0:
            blocks.insert(0, kit.section(intro))
        if index == len(batches) - 1:
            blocks.append(kit.section(verdict))
        built.append(Message(verdict if index == len(batches) - 1 else "Drill preflight (continued)", kit.message(blocks)))
    return built
