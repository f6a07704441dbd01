"""Follow-ups: an owner, a due date, a DM, a line on the summary, and a reminder once a day at 09:00 team time once overdue.

Through the Slack stand-in with the frozen clock. The catalog puts Payments in Europe/London (UTC in
November, UTC+1 from the last Sunday of March), so "09:00 team time" is checked across a DST change.
"""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Iterator
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app import cli, followups
from app.slack import blocks
from tests.support import TESTS, Clock, Engine, block_text, declare, start_engine, summary_of

CATALOG = TESTS / "followups_catalog.yaml"
UTC = timezone.utc


@pytest.fixture
def engine(slack, tmp_path, clock: Clock) -> Iterator[Engine]:
    ladder, close = start_engine(slack, tmp_path, clock, CATALOG)
    yield ladder
    close()


def _open_incident(engine: Engine) -> dict:
    """A SEV2 on Bank transfers (Payments), acknowledged so that nobody else is paged meanwhile."""
    incident, _, _ = declare(engine, severity="sev2")
    engine.deliver()
    engine.driver.click(engine.dms("alice")[0], "incident_ack", engine.user("alice"))
    engine.slack.wait_for(lambda: engine.runtime.store.incident(incident["id"])["status"] == "acknowledged")
    engine.deliver()
    return incident


def _resolved_incident(engine: Engine) -> dict:
    incident = _open_incident(engine)
    opened = len(engine.slack.ok_calls_to("views.open"))
    engine.driver.click(summary_of(engine), "incident_resolve", engine.user("alice"))
    engine.driver.submit(engine.driver.opened_view("resolve_incident", after=opened), engine.user("alice"), {"note": "rolled back"})
    engine.slack.wait_for(lambda: engine.runtime.store.incident(incident["id"])["status"] == "resolved")
    engine.deliver()
    return incident


def _channel(engine: Engine) -> str:
    return engine.slack.incident_channels()[0]["id"]


def _command(engine: Engine, text: str, who: str = "sam", channel: str | None = None):
    return engine.driver.slash(f"followup {text}", engine.user(who), channel_id=channel or _channel(engine))


def _followup_dms(engine: Engine, name: str) -> list[dict]:
    return [m for m in engine.dms(name) if "follow-up" in m["text"]]


def _reminders(engine: Engine, name: str) -> list[dict]:
    return [m for m in engine.dms(name) if m["text"].startswith(":alarm_clock:")]


def _at(engine: Engine, when: datetime) -> None:
    """Move the frozen clock to `when` (UTC) and run one worker step."""
    engine.clock.move_to(when)
    engine.deliver()


def _add(engine: Engine, due: str, owner: str = "ivan", text: str = "Alert on payout queue depth") -> None:
    reply = _command(engine, f"<@{engine.user(owner)}|{owner}> {due} {text}")
    assert "Follow-up added" in reply.body, reply.body
    engine.deliver()


# -- adding one -----------------------------------------------------------------------------------------------

def test_a_followup_typed_in_full_is_recorded_at_once_dms_its_owner_and_shows_on_the_summary(engine: Engine) -> None:
    incident = _open_incident(engine)
    ivan = engine.user("ivan")
    reply = _command(engine, f"<@{ivan}|ivan> 2026-12-01 Alert on payout queue depth &amp; &lt;b&gt; <!channel>")
    assert reply.status == 200 and "Follow-up added to INC-1" in reply.body and "2026-12-01" in reply.body
    engine.deliver()

    [dm] = _followup_dms(engine, "ivan")
    assert "INC-1" in dm["text"] and f"<#{_channel(engine)}>" in dm["text"] and "*2026-12-01*" in dm["text"]
    assert "depth &amp; &lt;b&gt; @channel" in dm["text"] and "<!channel>" not in dm["text"]  # user text is data
    _, done = engine.driver.find_element(dm, blocks.FOLLOWUP_DONE)
    summary = block_text(summary_of(engine))
    assert "*Follow-ups*" in summary and f"<@{ivan}>, due 2026-12-01: Alert on payout queue depth" in summary
    assert "overdue" not in summary
    assert any("added a follow-up for" in t for t in engine.channel_texts())
    entry = next(e for e in engine.timeline(incident["id"]) if e["kind"] == "followup_added")
    assert entry["actor"] == engine.user("sam")
    assert json.loads(entry["data"]) == {"followup_id": int(done["value"]), "owner": ivan, "due_on": "2026-12-01"}
    row = engine.runtime.store.followups(incident["id"])[0]
    assert row["remind_at"] == "2026-12-02T09:00:00.000000Z"  # 09:00 London (GMT) the day after it is due


def test_the_add_followup_button_on_a_resolved_summary_opens_the_form_and_submitting_records_it(engine: Engine) -> None:
    incident = _resolved_incident(engine)
    summary = summary_of(engine)
    assert "incident_resolve" not in block_text(summary)
    opened = len(engine.slack.ok_calls_to("views.open"))
    assert engine.driver.click(summary, blocks.ADD_FOLLOWUP, engine.user("alice")).status == 200
    form = engine.driver.opened_view(blocks.FOLLOWUP_VIEW, after=opened)
    reply = engine.driver.submit(form, engine.user("alice"), {"owner": engine.user("ivan"), "due": "2026-12-04", "text": "Write the review"})
    assert reply.status == 200 and reply.body == "", reply.body
    engine.deliver()
    assert len(_followup_dms(engine, "ivan")) == 1
    assert "due 2026-12-04: Write the review" in block_text(summary_of(engine))
    assert engine.runtime.store.followups(incident["id"])[0]["created_by"] == engine.user("alice")


@pytest.mark.parametrize("typed, owner, due, text", [
    ("<@{ivan}|ivan> write the runbook", True, None, "write the runbook"),
    ("2026-12-01 write the runbook", False, "2026-12-01", "write the runbook"),
    ("<@{ivan}|ivan> 2026-12-01", True, "2026-12-01", None),
    ("<@{ivan}|ivan> 2026-13-45 write the runbook", True, None, "write the runbook"),  # not a date: not offered to Slack as one
    ("<@{ivan}|ivan> 2026-11-01 write the runbook", True, "2026-11-01", "write the runbook"),  # in the past: the form says so
    ("<@{ivan}|ivan> 9999-12-31 write the runbook", True, "9999-12-31", "write the runbook"),  # too far: the form says so
    ("", False, None, None),
])
def test_a_command_missing_a_part_or_failing_a_check_opens_the_form_prefilled(engine: Engine, typed: str, owner: bool,
                                                                              due: str | None, text: str | None) -> None:
    _open_incident(engine)
    ivan = engine.user("ivan")
    opened = len(engine.slack.ok_calls_to("views.open"))
    assert _command(engine, typed.format(ivan=ivan)).status == 200
    form = engine.driver.opened_view(blocks.FOLLOWUP_VIEW, after=opened)
    element = {b["block_id"]: b["element"] for b in form["blocks"] if "element" in b}
    assert element["owner"].get("initial_user") == (ivan if owner else None)
    assert element["due"].get("initial_date") == due
    assert element["text"].get("initial_value") == text
    assert engine.runtime.store.followups(1) == []


def test_outside_an_incident_channel_the_command_says_where_to_type_it(engine: Engine) -> None:
    _open_incident(engine)
    reply = _command(engine, f"<@{engine.user('ivan')}> 2026-12-01 x", channel="C0GENERAL1")
    assert "in an incident's channel" in reply.body and "Add follow-up" in reply.body


@pytest.mark.parametrize("inputs, field, words", [
    ({"owner": None}, "owner", "Pick the person"),
    ({"due": None}, "due", "Pick the date"),
    ({"due": "2026-11-22"}, "due", "in the past"),  # yesterday in London
    ({"due": "01/12/2026"}, "due", "YYYY-MM-DD"),
    ({"due": "2026-02-30"}, "due", "YYYY-MM-DD"),
    ({"due": "9999-12-31"}, "due", "within 5 years"),  # its reminder dates would overflow
    ({"due": "2031-11-23"}, "due", "within 5 years"),
    ({"text": ""}, "text", "Say what should be done"),
    ({"text": "   "}, "text", "Say what should be done"),
    ({"text": "\u200b\u202e"}, "text", "invisible"),
    ({"text": "a\x00b"}, "text", "control characters"),
    ({"text": "x" * 301}, "text", "under 300"),
])
def test_a_bad_field_in_the_form_gets_an_inline_error_on_that_field(engine: Engine, inputs: dict, field: str, words: str) -> None:
    incident = _open_incident(engine)
    opened = len(engine.slack.ok_calls_to("views.open"))
    engine.driver.click(summary_of(engine), blocks.ADD_FOLLOWUP, engine.user("sam"))
    form = engine.driver.opened_view(blocks.FOLLOWUP_VIEW, after=opened)
    good = {"owner": engine.user("ivan"), "due": "2026-11-23", "text": "Write the review"}  # today is fine
    reply = engine.driver.submit(form, engine.user("sam"), {**good, **inputs})
    assert reply.status == 200
    body = reply.json()
    assert body["response_action"] == "errors" and list(body["errors"]) == [field] and words in body["errors"][field], body
    assert engine.runtime.store.followups(incident["id"]) == []


# -- reminders ------------------------------------------------------------------------------------------------

def test_reminders_come_once_a_day_at_nine_team_time_after_the_due_date_and_stop_when_done(engine: Engine) -> None:
    incident = _resolved_incident(engine)
    _add(engine, "2026-11-25")
    _at(engine, datetime(2026, 11, 25, 23, 0, tzinfo=UTC))  # due today: not overdue yet
    _at(engine, datetime(2026, 11, 26, 8, 59, tzinfo=UTC))
    assert _reminders(engine, "ivan") == []
    _at(engine, datetime(2026, 11, 26, 9, 0, tzinfo=UTC))
    [first] = _reminders(engine, "ivan")
    assert "was due *2026-11-25* (1 day ago)" in first["text"]
    engine.deliver()
    assert ":warning: *overdue*" in block_text(summary_of(engine))  # the summary says so from the first reminder
    for hour in (10, 15, 23):
        _at(engine, datetime(2026, 11, 26, hour, 0, tzinfo=UTC))
    assert len(_reminders(engine, "ivan")) == 1
    _at(engine, datetime(2026, 11, 27, 9, 0, 30, tzinfo=UTC))
    assert len(_reminders(engine, "ivan")) == 2 and "(2 days ago)" in _reminders(engine, "ivan")[-1]["text"]

    oscar = engine.user("oscar")  # anyone may mark it done
    assert engine.driver.click(_reminders(engine, "ivan")[-1], blocks.FOLLOWUP_DONE, oscar).status == 200
    engine.slack.wait_for(lambda: [r for r in engine.slack.responses if "Marked done" in r["body"].get("text", "")])
    engine.deliver()
    row = engine.runtime.store.followups(incident["id"])[0]
    assert row["done_by"] == oscar and row["remind_at"] is None and row["reminders"] == 2
    assert f":white_check_mark: done by <@{oscar}>" in block_text(summary_of(engine))
    assert "followup_done" in [e["kind"] for e in engine.timeline(incident["id"])]
    for day in (28, 29, 30):
        _at(engine, datetime(2026, 11, day, 9, 0, tzinfo=UTC))
    assert len(_reminders(engine, "ivan")) == 2

    engine.driver.click(_followup_dms(engine, "ivan")[0], blocks.FOLLOWUP_DONE, engine.user("ivan"))  # the first DM's button
    reply = engine.slack.wait_for(lambda: [r for r in engine.slack.responses if "already marked done" in r["body"].get("text", "")])
    assert f"<@{oscar}>" in reply[-1]["body"]["text"]


def test_a_restart_neither_loses_nor_repeats_a_reminder(slack, tmp_path, clock: Clock) -> None:
    engine, close = start_engine(slack, tmp_path, clock, CATALOG)
    try:
        _resolved_incident(engine)
        _add(engine, "2026-11-25")
        clock.move_to(datetime(2026, 11, 26, 9, 0, tzinfo=UTC))
        engine.runtime.worker.tick(clock())  # the reminder is committed to the outbox... and Ladder stops before sending it
    finally:
        close()
    assert _reminders(engine, "ivan") == []
    engine, close = start_engine(slack, tmp_path, clock, CATALOG)
    try:
        engine.deliver()
        engine.deliver()
        assert len(_reminders(engine, "ivan")) == 1  # sent once, after the restart
        close()
        engine, close = start_engine(slack, tmp_path, clock, CATALOG)  # and again, on the same day
        engine.deliver()
        assert len(_reminders(engine, "ivan")) == 1
        _at(engine, datetime(2026, 11, 27, 9, 0, tzinfo=UTC))
        assert len(_reminders(engine, "ivan")) == 2
    finally:
        close()


def test_after_three_days_of_downtime_the_owner_gets_one_reminder_not_three(slack, tmp_path, clock: Clock) -> None:
    engine, close = start_engine(slack, tmp_path, clock, CATALOG)
    try:
        incident = _resolved_incident(engine)
        _add(engine, "2026-11-25")
    finally:
        close()
    clock.move_to(datetime(2026, 11, 29, 14, 0, tzinfo=UTC))  # reminders were due on the 26th, 27th and 28th... and today's
    engine, close = start_engine(slack, tmp_path, clock, CATALOG)
    try:
        for _ in range(3):
            engine.deliver()
        [reminder] = _reminders(engine, "ivan")
        assert "(4 days ago)" in reminder["text"]
        assert engine.runtime.store.followups(incident["id"])[0]["remind_at"] == "2026-11-30T09:00:00.000000Z"
        _at(engine, datetime(2026, 11, 30, 8, 59, tzinfo=UTC))
        assert len(_reminders(engine, "ivan")) == 1
        _at(engine, datetime(2026, 11, 30, 9, 0, tzinfo=UTC))
        assert len(_reminders(engine, "ivan")) == 2
    finally:
        close()


def test_a_dst_change_between_reminders_keeps_them_at_nine_local(engine: Engine) -> None:
    incident = _resolved_incident(engine)
    _add(engine, "2027-03-26")  # London goes from GMT to BST on Sunday 2027-03-28
    _at(engine, datetime(2027, 3, 27, 9, 0, tzinfo=UTC))  # Saturday 09:00 GMT
    assert len(_reminders(engine, "ivan")) == 1
    assert engine.runtime.store.followups(incident["id"])[0]["remind_at"] == "2027-03-28T08:00:00.000000Z"
    _at(engine, datetime(2027, 3, 28, 7, 59, tzinfo=UTC))
    assert len(_reminders(engine, "ivan")) == 1
    _at(engine, datetime(2027, 3, 28, 8, 0, tzinfo=UTC))  # Sunday 09:00 BST
    assert len(_reminders(engine, "ivan")) == 2


# -- the command line -------------------------------------------------------------------------------------------

def _cli(capsys: pytest.CaptureFixture[str], db: Path, *args: str) -> tuple[int, str, str]:
    try:
        code = cli.main(["followups", "--db", str(db), "--catalog", str(CATALOG), *args])
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_the_cli_lists_followups_as_text_or_json_and_filters_by_team_and_overdue(engine: Engine, tmp_path: Path,
                                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    _resolved_incident(engine)
    _add(engine, "2026-11-24", text="Overdue soon")
    _add(engine, "2026-12-10", owner="judy", text="Later")
    _at(engine, datetime(2026, 11, 26, 9, 0, tzinfo=UTC))
    db = tmp_path / "ladder.db"

    code, out, _ = _cli(capsys, db)
    lines = out.splitlines()
    assert code == 0 and len(lines) == 2
    assert lines[0].startswith("INC-1") and engine.user("ivan") in lines[0] and "2026-11-24" in lines[0] and "OVERDUE" in lines[0]
    assert "Overdue soon" in lines[0] and "open" in lines[1] and "Later" in lines[1]

    code, out, _ = _cli(capsys, db, "--json")
    listed = json.loads(out)
    assert code == 0 and [f["text"] for f in listed] == ["Overdue soon", "Later"]
    assert set(listed[0]) == {"incident", "owner", "due_on", "text", "done_at", "overdue", "created_at"}
    assert listed[0]["incident"] == "INC-1" and listed[0]["overdue"] is True and listed[1]["overdue"] is False

    code, out, _ = _cli(capsys, db, "--overdue", "--json")
    assert [f["text"] for f in json.loads(out)] == ["Overdue soon"]
    code, out, _ = _cli(capsys, db, "--team", "identity")
    assert code == 0 and out.strip() == "No follow-ups."
    code, out, _ = _cli(capsys, db, "--team", "payments", "--json")
    assert len(json.loads(out)) == 2

    code, _, err = _cli(capsys, db, "--team", "nope")
    assert code == 2 and "argument --team" in err and "'nope'" in err and "payments" in err
    code, _, err = _cli(capsys, db, "--overdue=yes")
    assert code == 2 and "--overdue" in err
    code, _, err = _cli(capsys, tmp_path / "missing.db")
    assert code == 2 and "no database" in err


# -- pure: the schedule and the summary's list ---------------------------------------------------------------------

ZONES = ["Europe/London", "America/New_York", "Australia/Lord_Howe", "Asia/Kathmandu", "UTC", "America/Santiago"]


def _reference_nine(day: date, zone: ZoneInfo) -> datetime:
    """09:00 on `day` in `zone`, by walking the minutes around it: the first instant whose wall time is 09:00 or later
    that day (a repeated 09:00 is its first occurrence; one in a gap is the first instant after the gap)."""
    guess = datetime.combine(day, time(9), tzinfo=UTC) - timedelta(hours=15)
    wanted = datetime.combine(day, time(9))
    for minute in range(0, 32 * 60):
        at = guess + timedelta(minutes=minute)
        if at.astimezone(zone).replace(tzinfo=None) >= wanted:
            return at
    raise AssertionError("no 09:00 found")


@settings(max_examples=60, deadline=None)
@given(due=st.dates(date(2025, 1, 1), date(2035, 12, 31)), zone=st.sampled_from(ZONES),
       late=st.integers(0, 4 * 24 * 60))
def test_the_reminder_schedule_matches_a_walk_over_the_days(due: date, zone: str, late: int) -> None:
    tz = ZoneInfo(zone)
    first = followups.first_reminder(due, tz)
    assert first == _reference_nine(due + timedelta(days=1), tz)
    sent = first + timedelta(minutes=late)  # however late this reminder went out (downtime), the next is the next day's 09:00
    following = followups.next_reminder(sent, tz)
    assert following == _reference_nine(sent.astimezone(tz).date() + timedelta(days=1), tz)
    assert following > sent


def test_the_summary_cuts_a_long_list_of_followups_with_and_n_more() -> None:
    rows = [{"owner": "U0IVAN001", "due_on": "2026-12-01", "text": "&" * 300, "done_at": None, "done_by": None}] * 30
    text = blocks.followups_text(rows, "2026-11-23")
    assert len(text) <= 3000 and text.endswith("more") and "…and 29 more" in text
    short = [{**rows[0], "text": "x"}] * 30
    text = blocks.followups_text(short, "2026-11-23")
    assert text.count("• ") == blocks.FOLLOWUPS_SHOWN and text.endswith("…and 10 more")
    assert blocks.followups_text(short[:3], "2026-11-23").count("• ") == 3
