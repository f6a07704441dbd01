"""`/incident timeline`: the whole timeline, to whoever asks in an incident's channel, through Slack's protocol.

One scripted night-time incident (tests/timeline_catalog.yaml, freezegun) does everything a timeline must
make readable: a level skipped because nobody is on call, a page Slack refuses, a ladder that climbs on
its timeout, Ladder down past a due time and the escalation firing late after the restart, a nudge that
is snoozed; then acknowledged, mitigated and resolved with a hostile note. The command's ephemeral
answer is compared line by line, `<!date^…>` timestamps included. A property test then feeds the pure
renderer any timeline (random kinds, hostile texts, thousands of entries) and checks Slack's limits
(kit raises past them) and that nobody is pinged.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.slack import kit
from app.slack.timeline_view import LINES_CHARS_MAX, OUTSIDE_AN_INCIDENT, timeline_message
from app.store import iso
from tests.support import TESTS, Clock, Engine, declare, mrkdwn_strings, start_engine, summary_of

TIMELINE_CATALOG = TESTS / "timeline_catalog.yaml"
HOSTILE_NOTE = "<!channel> rolled back <@U0> & fixed"
NIGHT = datetime(2026, 11, 24, 3, 0, tzinfo=timezone.utc)  # a Tuesday: the office schedule has nobody until 09:00


def at(minutes: float) -> str:
    """A `<!date^…>` token for NIGHT + minutes, as the timeline lines show it (the viewer's zone; UTC as fallback)."""
    moment = NIGHT + timedelta(minutes=minutes)
    return f"<!date^{int(moment.timestamp())}^{{time}}|{moment:%Y-%m-%d %H:%M} UTC>"


def ephemeral(reply: Any) -> dict[str, Any]:
    assert reply.status == 200, reply.body
    body = json.loads(reply.body)
    assert body.get("response_type") == "ephemeral", body
    return body


def lines_of(body: dict[str, Any]) -> list[str]:
    """The entry lines: every section's text after the clock, split into lines."""
    return [line for block in body["blocks"] if block["type"] == "section" and "text" in block
            for line in block["text"]["text"].split("\n")]


def run_the_night(slack, tmp_path: Path, clock: Clock) -> tuple[Engine, Any, dict[str, Any]]:
    """The scripted incident; returns the engine (running), its close, and the incident row."""
    clock.move_to(NIGHT)
    engine, close = start_engine(slack, tmp_path, clock, TIMELINE_CATALOG)
    try:
        alice = engine.user("alice")
        slack.fail("chat.postMessage", error="user_disabled", match=lambda args: args.get("channel") == alice)  # alice's page
        incident, _, _ = declare(engine, "bank transfers failing", user="sam", severity="sev2")
        engine.deliver()
        engine.at(minutes=1)  # open for 1m outside working hours: the `awake` nudge
        nudge = next(m for m in engine.slack.messages_in(engine.slack.incident_channels()[0]["id"]) if "is the on-call awake?" in m["text"])
        engine.driver.click(nudge, "nudge_snooze_15", engine.user("carol"))
        engine.slack.wait_for(lambda: [r for r in engine.slack.responses if "Snoozed" in json.dumps(r)])
        engine.at(minutes=4)  # 03:05: nobody acknowledged level 2 (dana) within 5m: level 3 (alice), whose page fails
    finally:
        close()  # Ladder is down from 03:05...
    clock.move_to(NIGHT + timedelta(minutes=30))  # ...to 03:30; level 3's 10 minutes ran out at 03:15
    engine, close = start_engine(slack, tmp_path, clock, TIMELINE_CATALOG)
    try:
        engine.deliver()  # level 4 (bob), 15 minutes late; the snoozed nudge is back too
        bob = engine.user("bob")
        engine.at(minutes=1)  # 03:31
        engine.driver.click(engine.dms("bob")[0], "incident_ack", bob)
        engine.slack.wait_for(lambda: engine.runtime.store.incident(incident["id"])["status"] == "acknowledged")
        engine.at(minutes=9)  # 03:40
        engine.driver.click(summary_of(engine), "incident_mitigate", bob)
        engine.slack.wait_for(lambda: engine.runtime.store.incident(incident["id"])["status"] == "mitigated")
        engine.at(minutes=10)  # 03:50
        opened = len(engine.slack.ok_calls_to("views.open"))
        engine.driver.click(summary_of(engine), "incident_resolve", bob)
        reply = engine.driver.submit(engine.driver.opened_view("resolve_incident", after=opened), bob, {"note": HOSTILE_NOTE})
        assert reply.status == 200 and reply.body == "", reply.body
        engine.deliver()
    except BaseException:
        close()
        raise
    return engine, close, engine.runtime.store.incident(incident["id"])


def test_the_timeline_of_a_night_shows_skips_failures_lateness_and_nudges_to_whoever_asks(slack, tmp_path, clock: Clock) -> None:
    engine, close, incident = run_the_night(slack, tmp_path, clock)
    try:
        sam, carol, dana, bob = (f"<@{engine.user(n)}>" for n in ("sam", "carol", "dana", "bob"))
        channel = engine.slack.incident_channels()[0]["id"]
        posted_before = len(engine.slack.calls_to("chat.postMessage")) + len(engine.slack.calls_to("chat.postEphemeral"))
        body = ephemeral(engine.driver.slash("timeline", engine.user("dana"), channel_id=channel))

        lines = lines_of(body)
        # Written by the declaration, in one transaction: in this order.
        assert lines[:5] == [
            f":rotating_light: {at(0)} Declared by {sam}: SEV2 · Major, service Bank transfers (team Payments).",
            f":scroll: {at(0)} Escalation policy night: the Payments team's policy.",
            f":zzz: {at(0)} Level 1: nobody is on call for office: layer 1 only covers Mon–Fri 09:00–17:00 UTC.",
            f":fast_forward: {at(0)} Skipped level 1: it resolves to nobody right now.",
            f":pager: {at(0)} Paging level 2 (declared): dana@example.com.",
        ]
        # Delivered in parallel lanes (pages first, the channel beside them): either may be recorded first.
        assert sorted(lines[5:7]) == sorted([
            f":incoming_envelope: {at(0)} Paged {dana} (level 2, named in the policy).",
            f":hash: {at(0)} Channel #inc-1-bank-transfers-failing created.",
        ])
        assert lines[7:] == [
            f":bell: {at(1)} Rule `awake` (open for 1m): nudge.",
            f":sleeping: {at(1)} {carol} snoozed rule `awake` for 15 min, until {at(16)}.",
            f":pager: {at(5)} Paging level 3 (no acknowledgement within 5m): alice@example.com.",
            f":x: {at(5)} *Delivery failed*: Could not send a page: user_disabled (the page to alice@example.com, level 3).",
            f":snail: {at(30)} Paging level 4 (no acknowledgement within 10m; 15m late: it was due 03:15:00 UTC and Ladder was not "
            "running or was busy): bob@example.com.",
            f":snail: {at(30)} *This escalation fired 15m late*: it was due {at(15)}; Ladder was not running or was busy.",
            f":bell: {at(30)} Rule `awake` (open for 1m): nudge.",  # back after its snooze
            f":incoming_envelope: {at(30)} Paged {bob} (level 4, named in the policy).",
            f":white_check_mark: {at(31)} Acknowledged by {bob} after 31m.",
            f":large_yellow_circle: {at(40)} Mitigated by {bob} after 40m.",
            f":large_green_circle: {at(50)} Resolved by {bob}. Note: &lt;!channel&gt; rolled back &lt;@U0&gt; &amp; fixed",
        ]
        header, clock_block, story = body["blocks"][:3]
        assert header["text"]["text"] == "INC-1 · bank transfers failing · timeline"
        dated = lambda minutes: at(minutes).replace("^{time}|", "^{date_short_pretty} {time}|")  # noqa: E731
        assert [f["text"] for f in clock_block["fields"]] == [
            f"*Declared*\n{dated(0)} · {sam}",
            f"*First page delivered*\n{dated(0)} · after 0s",
            f"*Acknowledged*\n{dated(31)} · after 31m · {bob}",
            f"*Mitigated*\n{dated(40)} · after 40m · {bob}",
            f"*Resolved*\n{dated(50)} · after 50m · {bob}",
            "*Status*\nresolved",
        ]
        assert story["elements"][0]["text"] == (
            ":pager: 3 levels paged · :fast_forward: 1 level skipped (nobody on call) · :snail: *1 escalation fired late* (up to 15m) · "
            ":x: *1 page failed*: alice@example.com (user_disabled) · :bell: 2 rules fired (1 snoozed)")
        assert body["text"] == "INC-1 timeline: 18 entries"
        assert "<!channel>" not in mrkdwn_strings(body)
        # Only the asker sees it: nothing was posted to the channel for it.
        assert len(engine.slack.calls_to("chat.postMessage")) + len(engine.slack.calls_to("chat.postEphemeral")) == posted_before
    finally:
        close()


def test_outside_an_incident_channel_it_says_where_to_type_it(ladder) -> None:
    for channel in ("C0GENERAL1", ""):
        body = ephemeral(ladder.driver.slash("timeline", ladder.user("sam"), channel_id=channel))
        assert body["text"] == OUTSIDE_AN_INCIDENT
        assert "in an incident's channel" in body["text"] and "blocks" not in body
        # `python -m app review` refuses an open incident: it is named as where a resolved one's whole story is.
        assert "Once an incident is resolved, the review Ladder posts in its channel (and `python -m app review INC-<n>`)" in body["text"]
    assert ladder.slack.calls_to("views.open") == []  # not taken for a declaration of an incident called "timeline"


@pytest.mark.parametrize("status, whole", [
    ("triggered", "every entry will be in the review Ladder posts here when it is resolved."),
    ("mitigated", "every entry will be in the review Ladder posts here when it is resolved."),
    ("resolved", "the review posted in this channel (and `python -m app review INC-12`) has every entry."),
])
def test_a_long_timeline_points_to_the_review_that_has_every_entry(status: str, whole: str) -> None:
    incident = {"number": 12, "title": "t", "status": status, "declared_at": iso(START), "declared_by": "U0KNOWN1"}
    entries = [{"kind": "rule_fired", "at": iso(START + timedelta(minutes=n)), "actor": None, "text": "x" * 300, "data": "{}"}
               for n in range(400)]
    note = [b["elements"][0]["text"] for b in timeline_message(incident, entries, []).blocks if b["type"] == "context"][1]
    assert note.startswith(":scissors: The ") and note.endswith(f"are not shown here; {whole}")


def test_a_rearm_that_fired_late_counts_in_the_story(slack, tmp_path, clock: Clock) -> None:
    engine, close = start_engine(slack, tmp_path, clock)  # tests/engine_catalog.yaml: payments re-arms 30m after an acknowledgement
    try:
        incident, _, _ = declare(engine, severity="sev2")
        engine.deliver()
        engine.at(minutes=1)
        engine.driver.click(engine.dms("alice")[0], "incident_ack", engine.user("alice"))
        engine.slack.wait_for(lambda: engine.runtime.store.incident(incident["id"])["status"] == "acknowledged")
        engine.at(minutes=30)  # 10:31: announced; the re-arm is due at 10:36
    finally:
        close()  # down until 10:51
    clock.advance(minutes=20)
    engine, close = start_engine(slack, tmp_path, clock)
    try:
        engine.deliver()  # re-armed 15 minutes late
        body = ephemeral(engine.driver.slash("timeline", engine.user("alice"), channel_id=engine.slack.incident_channels()[0]["id"]))
        assert body["blocks"][2]["elements"][0]["text"] == ":pager: 2 levels paged · :snail: *1 escalation fired late* (up to 15m)"
    finally:
        close()


def test_help_lists_the_command(ladder) -> None:
    assert "`/incident timeline`" in ladder.driver.slash("help", ladder.user("sam")).body


# -- any timeline fits Slack and pings nobody -----------------------------------------------------------------

KINDS = ["declared", "policy", "level_paged", "paged", "gap", "level_skipped", "level_waiting", "repeat", "handoff", "exhausted",
         "late", "escalated", "acknowledged", "page_acknowledged", "ack_timeout", "rearmed", "mitigated", "resolved", "rule_fired",
         "rule_snoozed", "rule_dismissed", "rule_skipped", "rule_failed", "step_failed", "delivery_failed", "page_stuck",
         "status_update", "role_assigned", "followup_added", "followup_done", "a_kind_from_the_future"]
HOSTILE = ["<!channel>", "<!here|here>", "<!everyone>", "<!subteam^S123|@oncall>", "<@U0HOSTILE>", "<#C0GENERAL1>",
           "<https://evil.example|click>", "&lt;!channel&gt;", "*bold* _it_ ~s~ `code`", "> quoted", "\n\n\u2028line", "U0KNOWN1",
           "x" * 3000, "&" * 2000, "<" * 1500, "\u202e\u200b", "late", "late_by_s", "{time}", "^", "|", "Z" * 10]
IDS = ["U0KNOWN1", "W0KNOWN2", "U00001001"]
START = datetime(2026, 11, 24, 3, 0, tzinfo=timezone.utc)
DATE_TOKEN = re.compile(r"<!date\^-?[0-9]+\^\{[a-z_]+\}(?: \{[a-z_]+\})?\|[0-9: -]+UTC>")

texts = st.one_of(st.sampled_from(HOSTILE), st.text(max_size=60), st.lists(st.sampled_from(HOSTILE), max_size=4).map(" ".join))
datas = st.one_of(
    st.fixed_dictionaries({}, optional={
        "late_by_s": st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**6, 10**9), texts, st.none()),
        "until": st.one_of(st.just("2026-11-24T03:16:00.000000Z"), texts), "track": st.one_of(st.just("main"), texts),
        "kind": st.sampled_from(["page", "post_message", "x"]), "user_id": st.sampled_from(IDS + ["<!channel>"]),
        "reason": texts}).map(json.dumps),
    texts, st.just("[1, 2]"), st.just("null"), st.none())
ats = st.one_of(st.integers(0, 3 * 24 * 3600).map(lambda s: iso(START + timedelta(seconds=s))), st.just("not a time"), st.none())
entries_st = st.lists(st.fixed_dictionaries({
    "kind": st.one_of(st.sampled_from(KINDS), texts), "at": ats, "actor": st.one_of(st.none(), st.sampled_from(IDS), texts),
    "text": texts, "data": datas}), max_size=80)
pages_st = st.lists(st.fixed_dictionaries({
    "status": st.sampled_from(["sent", "failed", "pending", "cancelled"]), "level": st.integers(-1, 5),
    "target": st.one_of(st.sampled_from(IDS + ["alice@example.com"]), texts), "user_id": st.one_of(st.none(), st.sampled_from(IDS)),
    "error": st.one_of(st.none(), texts), "sent_at": st.one_of(st.none(), ats), "notify_only": st.booleans()}), max_size=12)
incidents_st = st.fixed_dictionaries({
    "number": st.integers(1, 10**6), "title": texts, "status": st.sampled_from(["triggered", "acknowledged", "mitigated", "resolved"]),
    "declared_at": ats, "declared_by": st.sampled_from(IDS), "acknowledged_at": ats, "acknowledged_by": st.one_of(st.none(), texts),
    "mitigated_at": ats, "mitigated_by": st.one_of(st.none(), st.sampled_from(IDS)), "resolved_at": ats,
    "resolved_by": st.one_of(st.none(), st.sampled_from(IDS))})


def recorded_ids(incident: dict[str, Any], entries: list[dict[str, Any]], pages: list[dict[str, Any]]) -> set[str]:
    """Every value Ladder recorded about people: the only things a mention may name."""
    values: list[Any] = [incident.get(k) for k in ("declared_by", "acknowledged_by", "mitigated_by", "resolved_by", "lead")]
    for entry in entries:
        values.append(entry.get("actor"))
        try:
            data = json.loads(entry["data"]) if isinstance(entry.get("data"), str) else {}
        except ValueError:
            data = {}
        if isinstance(data, dict):
            values += list(data.values())
    for page in pages:
        values += [page.get("user_id"), page.get("target"), page.get("requested_by")]
    return {v for v in values if isinstance(v, str)}


def check_fits_and_pings_nobody(incident, entries, pages) -> None:
    message = timeline_message(incident, entries, pages)  # kit raises past any of Slack's limits
    blocks = message.blocks
    assert len(blocks) <= kit.MESSAGE_BLOCKS_MAX
    lines = lines_of({"blocks": blocks})
    assert message.shown + message.left_out == len(entries)
    if entries:
        assert len(lines) == message.shown >= 1  # one line per entry shown, the most recent always among them
    lines_chars = sum(len(b["text"]["text"]) for b in blocks if b["type"] == "section" and "text" in b)
    assert lines_chars <= LINES_CHARS_MAX + 100
    for block in blocks:
        for text in [block.get("text", {}).get("text", "")] + [e["text"] for e in block.get("elements", []) + block.get("fields", [])]:
            limit = kit.FIELD_TEXT_MAX if block.get("fields") else kit.SECTION_TEXT_MAX
            assert len(text) <= limit
    said = mrkdwn_strings({"text": message.text, "blocks": blocks})
    allowed = recorded_ids(incident, entries, pages)
    for mentioned in re.findall(r"<@([^>]*)>", said):
        assert mentioned in allowed and re.fullmatch(r"[UW][A-Z0-9]{2,}", mentioned), mentioned
    leftover = DATE_TOKEN.sub("", re.sub(r"<@[UW][A-Z0-9]{2,}>", "", said))
    assert "<" not in leftover and ">" not in leftover, leftover[:300]
    if message.left_out:
        assert f"The {message.left_out} earliest" in said or "The 1 earliest entry" in said
        if incident.get("status") == "resolved":  # the review has every entry (its Timeline appendix); it exists once resolved
            assert (f"the review posted in this channel (and `python -m app review INC-{incident['number']}`) has every entry."
                    in said)
        else:
            assert "every entry will be in the review Ladder posts here when it is resolved." in said and "python -m app" not in said


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(incidents_st, entries_st, pages_st)
def test_any_timeline_renders_within_slacks_limits_and_pings_nobody(incident, entries, pages) -> None:
    check_fits_and_pings_nobody(incident, entries, pages)


@pytest.mark.parametrize("count, text", [
    (0, ""),
    (1, "<!channel> " * 400),
    (49, "short"),
    (300, "Paging level 2 (no acknowledgement within 5m): alice@example.com."),  # a ladder repeating for hours
    (3000, "<!here> & " * 200),  # an alert storm of hostile, maximal texts
    (5000, "x"),
])
def test_long_timelines_keep_the_clock_and_the_most_recent_entries(count: int, text: str) -> None:
    incident = {"number": 12, "title": "<!channel> storm", "status": "triggered", "declared_at": iso(START), "declared_by": "U0KNOWN1"}
    kinds = ["level_paged", "late", "rule_fired", "rule_snoozed", "delivery_failed", "a_kind_from_the_future"]
    entries = [{"kind": kinds[n % len(kinds)], "at": iso(START + timedelta(minutes=n)), "actor": "U0KNOWN1", "text": f"{n}: {text}",
                "data": json.dumps({"late_by_s": n, "kind": "page"})} for n in range(count)]
    check_fits_and_pings_nobody(incident, entries, [])
    message = timeline_message(incident, entries, [])
    lines = lines_of({"blocks": message.blocks})
    if count:
        newest = int((START + timedelta(minutes=count - 1)).timestamp())
        assert lines[-1].split(" ", 2)[1].startswith(f"<!date^{newest}^")  # the newest entry is the last line
    if count >= 300:
        assert message.left_out > 0 and message.blocks[1]["type"] == "section"  # the clock stays
    else:
        assert message.left_out == 0


@pytest.mark.parametrize("late_by_s", [1e308, -5, float("nan"), float("inf"), "15m", None, True, 10**30])
@pytest.mark.parametrize("at_", ["2026-11-24T03:30:00.000000Z", "garbage", None, "9999-12-31T23:59:59.999999Z", "0001-01-01T00:00:30.000000Z"])
def test_a_broken_entry_shows_its_own_words_and_never_raises(late_by_s: Any, at_: Any) -> None:
    incident = {"number": 3, "title": "t", "status": "triggered", "declared_at": "garbage", "declared_by": None}
    entries = [{"kind": "late", "at": at_, "actor": None, "text": "This escalation fired 5m late (due 03:25:00 UTC).",
                "data": json.dumps({"late_by_s": late_by_s})},
               {"kind": "rule_snoozed", "at": at_, "actor": None, "text": "U1 snoozed rule `x` for 15 min.", "data": '{"until": "soon"}'}]
    message = timeline_message(incident, entries, [{"status": "failed", "level": "two", "target": None, "error": None}])
    line = lines_of({"blocks": message.blocks})[0]
    assert ("fired 5m late (due 03:25:00 UTC)" in line) != ("*This escalation fired" in line)
    check_fits_and_pings_nobody(incident, entries, [])
