"""`/incident timeline`: an incident's whole timeline as one ephemeral Block Kit message; pure.

The timeline in the store says what Ladder did in plain words (`kind`, `at`, `actor`, `text`,
`data`); this turns it into what a responder woken at 03:00 can read at a glance: the incident
clock (declared, first page, acknowledged, mitigated, resolved, each with how long after the
declaration), one line on the ladder's story (levels paged, skipped, late, failed pages, nudges
and what people did with them), then one line per entry with an emoji for its kind and its time
as `<!date^…>`, which Slack shows in each viewer's own zone.

Everything in an entry's text may hold what someone typed (a title, a reason, a note), so it is
escaped before it reaches mrkdwn; only the Slack user IDs Ladder itself recorded (actors, paged
people, the incident's owners) become mentions, so a note saying `<!channel>` pings nobody.

Slack takes 50 blocks a message and 3,000 characters a section: lines are packed several to a
section, and past `LINES_CHARS_MAX` the oldest entries are left out, saying how many and where the
whole timeline is: the review (app/review.py), posted in the channel when the incident is resolved.
Kinds this module does not know (newer code, other helpers' features) get a neutral line with their
text, so a new kind never breaks the command.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Iterable

from app.catalog import format_duration
from app.slack import kit
from app.slack.blocks import slack_date
from app.store import iso, parse_iso
from app.text import escape_mrkdwn, incident_ref, truncate

Row = dict[str, Any]

LINES_CHARS_MAX = 36_000  # the entries' lines, all sections together: about a dozen full sections, a long read already
LINE_SECTIONS_MAX = 40  # with the header, the clock, the story and the "left out" note: at most 44 of Slack's 50 blocks
TEXT_SHOWN_MAX = 400  # characters of one entry's own text (before escaping, which at most quintuples it): a line stays < 3,000
DATED_AFTER = timedelta(hours=12)  # a timeline longer than this shows the date on every line, not only the time
FAILED_PAGES_NAMED = 3
LATE_SHOWN_MAX = 366 * 24 * 3600  # seconds: a lateness past a year is not one Ladder recorded; its entry's own words are shown

_SLACK_USER_ID = re.compile(r"[UW][A-Z0-9]{2,}")
_LATE_IN_TEXT = re.compile(r"\blate\b")

# One emoji per kind: the ladder's moves, the humans' answers, and what went wrong, told apart at a glance.
EMOJI: dict[str, str] = {
    "declared": ":rotating_light:",
    "policy": ":scroll:",
    "policy_switched": ":twisted_rightwards_arrows:",
    "severity_changed": ":thermometer:",
    "level_paged": ":pager:",
    "paged": ":incoming_envelope:",
    "page_merged": ":link:",
    "gap": ":zzz:",
    "level_skipped": ":fast_forward:",
    "level_waiting": ":hourglass_flowing_sand:",
    "repeat": ":repeat:",
    "handoff": ":arrow_right:",
    "exhausted": ":no_entry:",
    "late": ":snail:",
    "escalated": ":arrow_double_up:",
    "acknowledged": ":white_check_mark:",
    "page_acknowledged": ":white_check_mark:",
    "still_on_it": ":hammer_and_wrench:",
    "ack_timeout": ":hourglass:",
    "rearmed": ":arrows_counterclockwise:",
    "mitigated": ":large_yellow_circle:",
    "resolved": ":large_green_circle:",
    "rule_fired": ":bell:",
    "rule_snoozed": ":sleeping:",
    "rule_dismissed": ":no_bell:",
    "rule_skipped": ":warning:",
    "rule_failed": ":x:",
    "step_failed": ":x:",
    "delivery_failed": ":x:",
    "page_stuck": ":warning:",
    "lead": ":crown:",
    "role_assigned": ":bust_in_silhouette:",
    "status_update": ":loudspeaker:",
    "channel_created": ":hash:",
    "followup_added": ":pushpin:",
    "followup_done": ":ballot_box_with_check:",
}
NEUTRAL_EMOJI = ":small_blue_diamond:"

# Kinds that mean something went wrong or took longer than it should: their line starts with a bold label.
ALARM_LABEL: dict[str, str] = {
    "delivery_failed": "Delivery failed",
    "page_stuck": "Page not delivered yet",
    "step_failed": "Ladder step failed",
    "rule_failed": "Rule failed",
    "rule_skipped": "Rule could not act",
    "exhausted": "Exhausted",
}


@dataclass(frozen=True)
class TimelineMessage:
    """What `/incident timeline` answers: the notification text and the blocks (within Slack's limits)."""

    text: str
    blocks: list[kit.Block]
    shown: int  # entries with a line in the message
    left_out: int  # earlier entries that did not fit


def _data(entry: Row) -> dict[str, Any]:
    """An entry's data as a dict, whatever the row holds (JSON text, a dict, or something broken: then nothing)."""
    raw = entry.get("data")
    if isinstance(raw, dict):
        return raw
    if isinstance(raw, (str, bytes)):
        try:
            parsed = json.loads(raw)
        except (ValueError, RecursionError):
            return {}
        return parsed if isinstance(parsed, dict) else {}
    return {}


def _moment(value: Any) -> datetime | None:
    try:
        return parse_iso(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _date(value: Any, fmt: str) -> str:
    """A time as Slack shows it in the viewer's zone (UTC as the fallback); "—" for a time that is not one."""
    return slack_date(value, fmt) if _moment(value) is not None else "—"


def _seconds(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _after(start: datetime | None, end: datetime | None) -> str:
    if start is None or end is None:
        return ""
    return f"after {format_duration(max(0, int((end - start).total_seconds())))}"


class People:
    """The Slack user IDs Ladder recorded for this incident: only these become mentions in a line's text."""

    def __init__(self, ids: Iterable[Any]) -> None:
        known = sorted({i for i in ids if isinstance(i, str) and _SLACK_USER_ID.fullmatch(i)}, key=len, reverse=True)
        self.ids = frozenset(known)
        self._pattern = (re.compile(r"(?<![A-Za-z0-9@])(" + "|".join(map(re.escape, known)) + r")(?![A-Za-z0-9])")
                         if known else None)

    @classmethod
    def of(cls, incident: Row, entries: list[Row], pages: list[Row]) -> "People":
        ids: list[Any] = [incident.get(k) for k in ("declared_by", "acknowledged_by", "mitigated_by", "resolved_by", "lead")]
        for entry in entries:
            data = _data(entry)
            ids += [entry.get("actor"), data.get("user_id"), data.get("lead"), data.get("previous_owner"), data.get("owner"),
                    data.get("user")]
        for page in pages:
            ids += [page.get("user_id"), page.get("target"), page.get("requested_by")]
        return cls(ids)

    def mention(self, user_id: Any) -> str | None:
        return f"<@{user_id}>" if user_id in self.ids else None

    def words(self, text: Any, limit: int = TEXT_SHOWN_MAX) -> str:
        """Recorded plain words as mrkdwn: cut, on one line, escaped, and the known people mentioned."""
        plain = " ".join(str(text if text is not None else "").split())
        escaped = escape_mrkdwn(truncate(plain, limit))
        if self._pattern is None:
            return escaped
        return self._pattern.sub(lambda m: f"<@{m.group(1)}>", escaped)


# -- one line per entry ----------------------------------------------------------------------------------------

def _body(entry: Row, data: dict[str, Any], people: People, time_format: str, page: Row | None) -> str:
    kind = entry.get("kind")
    text = people.words(entry.get("text"))
    if page is not None:  # a page Slack refused: whose it was (the entry itself only has the outbox row)
        who = people.mention(page.get("user_id")) or people.words(page.get("target"), 80)
        rung = f"level {page['level'] + 1}" if page["level"] >= 0 else "a notice"
        text = text.rstrip(".") + f" (the page to {who}, {rung})."
    if kind == "late":
        late = _seconds(data.get("late_by_s"))
        at = _moment(entry.get("at"))
        due_at = at - timedelta(seconds=late) if late is not None and at is not None and 0 <= late <= min(
            LATE_SHOWN_MAX, (at - datetime.min.replace(tzinfo=at.tzinfo)).total_seconds()) else None
        if late is not None and due_at is not None:
            track = data.get("track")
            which = "" if track in (None, "main") else f" ({people.words(track, 80)})"
            due = _date(iso(due_at), time_format)
            text = f"*This escalation{which} fired {format_duration(int(late))} late*: it was due {due}; Ladder was not running or was busy."
    elif kind == "rule_snoozed" and _moment(data.get("until")) is not None:
        text = text.rstrip(".") + f", until {_date(data['until'], time_format)}."
    label = ALARM_LABEL.get(kind) if isinstance(kind, str) else None
    if label:
        text = f"*{label}*: {text}"
    actor = people.mention(entry.get("actor"))
    if actor and actor not in text:
        text += f" (by {actor})"
    return text


def _emoji(entry: Row) -> str:
    kind = entry.get("kind")
    emoji = EMOJI.get(kind, NEUTRAL_EMOJI) if isinstance(kind, str) else NEUTRAL_EMOJI
    if kind in ("level_paged", "rearmed") and _LATE_IN_TEXT.search(str(entry.get("text") or "")):
        return EMOJI["late"]  # the escalation that fired late, next to the line that says by how much
    return emoji


def entry_line(entry: Row, people: People, time_format: str = "{time}", page: Row | None = None) -> str:
    """One entry: emoji, when (in the viewer's zone), what happened (`page`: the failed page a delivery_failed entry is about)."""
    return f"{_emoji(entry)} {_date(entry.get('at'), time_format)} {_body(entry, _data(entry), people, time_format, page)}"


def failed_pages_by_entry(entries: list[Row], pages: list[Row]) -> dict[int, Row]:
    """Which failed page each "could not send a page" entry is about (by position in `entries`).

    The entry names the page (`page_id`); an older entry without it is paired by Slack's reason, which the
    page row records too, in order, each page once. An entry with no such page is left as it is.
    """
    failed = [p for p in pages if p.get("status") == "failed" and isinstance(p.get("level"), int)]
    paired: dict[int, Row] = {}
    for position, entry in enumerate(entries):
        if entry.get("kind") != "delivery_failed" or _data(entry).get("kind") != "page":
            continue
        text = str(entry.get("text") or "")
        page_id = _data(entry).get("page_id")  # recorded since schema 7; older entries are paired by Slack's reason
        page = next((p for p in failed if p.get("id") == page_id), None) if page_id is not None else None
        page = page or next((p for p in failed if p.get("error") and str(p["error"]) in text), None)
        if page is not None:
            failed.remove(page)
            paired[position] = page
    return paired


# -- the clock and the story -------------------------------------------------------------------------------------

def _first(entries: list[Row], kind: str) -> Row | None:
    return next((e for e in entries if e.get("kind") == kind), None)


def _first_page_at(pages: list[Row]) -> str | None:
    """When the first page that asked someone to act (not a notice) reached a person.

    Only a page with the Slack user it reached counts: a user group's own row is marked sent once it is
    expanded, even into no members, or into members whose DMs all failed (see `review._reached_someone`).
    """
    sent = [p["sent_at"] for p in pages if isinstance(p.get("sent_at"), str) and _moment(p["sent_at"]) is not None
            and p.get("user_id") and p.get("status") in ("sent", "merged")
            and not p.get("notify_only") and isinstance(p.get("level"), int) and p["level"] >= 0]
    return min(sent) if sent else None


def clock_fields(incident: Row, entries: list[Row], pages: list[Row], people: People) -> list[str]:
    """Declared, first page, acknowledged, mitigated, resolved: when, by whom, and how long after the declaration."""
    declared_at = incident.get("declared_at")
    declared = _moment(declared_at)
    fmt = "{date_short_pretty} {time}"

    def step(title: str, at: Any, who: Any, missing: str) -> str:
        moment = _moment(at)
        if moment is None:
            return f"*{title}*\n{missing}"
        by = people.mention(who)
        after = _after(declared, moment)
        return f"*{title}*\n{_date(at, fmt)}" + (f" · {after}" if after else "") + (f" · {by}" if by else "")

    ack = _first(entries, "acknowledged")
    mitigated = _first(entries, "mitigated")
    first_page = _first_page_at(pages)
    by = people.mention(incident.get("declared_by"))
    return [
        f"*Declared*\n{_date(declared_at, fmt)}" + (f" · {by}" if by else ""),
        step("First page delivered", first_page, None, "none delivered" if pages else "nobody paged"),
        step("Acknowledged", ack.get("at") if ack else incident.get("acknowledged_at"),
             ack.get("actor") if ack else incident.get("acknowledged_by"), "not yet"),
        step("Mitigated", incident.get("mitigated_at") or (mitigated or {}).get("at"),
             incident.get("mitigated_by") or (mitigated or {}).get("actor"), "not yet"),
        step("Resolved", incident.get("resolved_at"), incident.get("resolved_by"), "not yet"),
        f"*Status*\n{escape_mrkdwn(str(incident.get('status') or '—'))}",
    ]


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def story(entries: list[Row], pages: list[Row], people: People) -> str:
    """The ladder's story in one line, over the whole timeline (also the entries left out of a long one)."""
    kinds = [e.get("kind") for e in entries]
    parts = []
    if kinds.count("level_paged"):
        parts.append(f":pager: {_count(kinds.count('level_paged'), 'level')} paged")
    skipped = kinds.count("level_skipped")
    if skipped:
        parts.append(f":fast_forward: {_count(skipped, 'level')} skipped (nobody on call)")
    if kinds.count("level_waiting"):
        parts.append(f":hourglass_flowing_sand: waited on {_count(kinds.count('level_waiting'), 'level')} with nobody on call")
    lateness = [s for s in (_seconds(_data(e).get("late_by_s")) for e in entries if e.get("kind") == "late") if s is not None]
    if lateness:
        parts.append(f":snail: *{_count(len(lateness), 'escalation')} fired late* (up to {format_duration(int(max(lateness)))})")
    failed = [p for p in pages if p.get("status") == "failed"]
    if failed:
        named = ", ".join(f"{people.mention(p.get('user_id')) or people.words(p.get('target'), 60)}"
                          + (f" ({people.words(p.get('error'), 60)})" if p.get("error") else "") for p in failed[:FAILED_PAGES_NAMED])
        more = f" and {len(failed) - FAILED_PAGES_NAMED} more" if len(failed) > FAILED_PAGES_NAMED else ""
        parts.append(f":x: *{_count(len(failed), 'page')} failed*: {named}{more}")
    elif kinds.count("page_stuck"):
        parts.append(f":warning: *{_count(kinds.count('page_stuck'), 'page')} slow to deliver*")
    other_failures = kinds.count("delivery_failed") - len(failed)
    if other_failures > 0:
        parts.append(f":x: {_count(other_failures, 'other delivery', 'other deliveries')} failed")
    if "exhausted" in kinds:
        parts.append(":no_entry: *the ladder was exhausted*")
    fired = kinds.count("rule_fired")
    if fired:
        answers = [_count(kinds.count(k), word, word) for k, word in (("rule_snoozed", "snoozed"), ("rule_dismissed", "dismissed"))
                   if kinds.count(k)]
        from_nudge = sum(1 for e in entries if e.get("kind") == "escalated" and "nudge" in str(_data(e).get("reason") or ""))
        if from_nudge:
            answers.append(f"{from_nudge} escalated from a nudge")
        parts.append(f":bell: {_count(fired, 'rule')} fired" + (f" ({', '.join(answers)})" if answers else ""))
    return " · ".join(parts) if parts else "Nothing on the ladder yet."


# -- the message --------------------------------------------------------------------------------------------------

def _pack(lines: list[str], budget: int, max_sections: int) -> tuple[list[str], int]:
    """The most recent lines that fit, packed into section texts (oldest first); and how many lines fit."""
    sections: list[list[str]] = []
    size = used = 0
    for line in reversed(lines):
        line = truncate(line, kit.SECTION_TEXT_MAX)  # never needed (see TEXT_SHOWN_MAX); a guard, not a layout
        if used + len(line) + 1 > budget:
            break
        if not sections or size + len(line) + 1 > kit.SECTION_TEXT_MAX:
            if len(sections) == max_sections:
                break
            sections.append([])
            size = 0
        sections[-1].append(line)
        size += len(line) + 1
        used += len(line) + 1
    shown = sum(len(s) for s in sections)
    return ["\n".join(reversed(s)) for s in reversed(sections)], shown


def timeline_message(incident: Row, entries: list[Row], pages: list[Row], *, budget: int = LINES_CHARS_MAX,
                     max_sections: int = LINE_SECTIONS_MAX) -> TimelineMessage:
    """The ephemeral answer to `/incident timeline`: the clock, the ladder's story, then the entries, oldest first."""
    ref = incident_ref(incident.get("number") or 0)
    people = People.of(incident, entries, pages)
    times = [m for m in (_moment(e.get("at")) for e in entries) if m is not None]
    dated = bool(times) and max(times) - min(times) > DATED_AFTER
    time_format = "{date_short_pretty} {time}" if dated else "{time}"
    failed = failed_pages_by_entry(entries, pages)
    lines = [entry_line(e, people, time_format, failed.get(n)) for n, e in enumerate(entries)]
    sections, shown = _pack(lines, budget, max_sections)
    left_out = len(entries) - shown
    built = [
        kit.header(truncate(f"{ref} · {incident.get('title') or ''} · timeline", kit.HEADER_TEXT_MAX)),
        kit.fields_section(clock_fields(incident, entries, pages, people)),
        kit.context(truncate(story(entries, pages, people), kit.SECTION_TEXT_MAX)),
    ]
    if left_out:
        whole = (f"the review posted in this channel (and `python -m app review {ref}`) has every entry."
                 if incident.get("status") == "resolved" else "every entry will be in the review Ladder posts here when it is resolved.")
        built.append(kit.context(
            f":scissors: The {_count(left_out, 'earliest entry', 'earliest entries')} of {len(entries)} "
            f"{'is' if left_out == 1 else 'are'} not shown here; {whole}"))
    if not entries:
        built.append(kit.section("Nothing on the timeline yet."))
    built += [kit.section(text) for text in sections]
    text = f"{ref} timeline: {_count(len(entries), 'entry', 'entries')}" + (f", the last {shown} shown" if left_out else "")
    return TimelineMessage(text, kit.message(built), shown, left_out)


OUTSIDE_AN_INCIDENT = ("Run `/incident timeline` in an incident's channel: it shows that incident's timeline, only to you. "
                       "Once an incident is resolved, the review Ladder posts in its channel (and `python -m app review INC-<n>`) "
                       "has every entry.")
