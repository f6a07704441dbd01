"""The review draft of a resolved incident, through Slack's protocol on a scripted incident with known times.

One incident, minute by minute (Monday 2026-11-23, UTC; the Payments team keeps Europe/Berlin time, UTC+1):
10:00 declared SEV2 by sam: level 1 (the weekend rota) is skipped, nobody is on it; level 2 pages alice.
10:05 level 2 times out, but Ladder is down; it comes back at 10:08 and pages level 3 (dana) 3 minutes late.
      dana's page fails: Slack knows no user with her e-mail.
10:10 bob raises it to SEV1: the main ladder switches to payments-critical and pages mallory; the `raised` nudge fires.
10:11 bob snoozes the nudge. 10:12 erin posts a status update. 10:13 mallory acknowledges. 10:20 mallory mitigates.
10:50 mallory resolves it (the `updates` rule asked for an update at 10:32, nobody posted one).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app import cli
from tests.support import TESTS, Clock, Engine, declare, start_engine, summary_of

CATALOG = TESTS / "review_catalog.yaml"
UPLOAD_STEPS = ("files.getUploadURLExternal", "upload", "files.completeUploadExternal")


def _wait_kind(engine: Engine, incident_id: int, kind: str) -> None:
    engine.slack.wait_for(lambda: any(e["kind"] == kind for e in engine.timeline(incident_id)))


def _channel_messages(engine: Engine) -> list[dict]:
    return engine.slack.messages_in(engine.slack.incident_channels()[0]["id"])


def _review_cli(capsys: pytest.CaptureFixture[str], db: Path, *args: str) -> tuple[int, str, str]:
    code = cli.main(["review", *args, "--db", str(db), "--catalog", str(CATALOG)])
    out, err = capsys.readouterr()
    return code, out, err


def _script(slack, tmp_path: Path, clock: Clock) -> tuple[Engine, object, dict]:
    """Run the incident above; returns the running engine (resolved incident, review not yet delivered)."""
    engine, close = start_engine(slack, tmp_path, clock, CATALOG)
    incident, _, _ = declare(engine, severity="sev2")
    engine.deliver()
    close()  # Ladder is down from 10:00 to 10:08: level 2's timeout (10:05) passes unnoticed
    slack.fail("users.lookupByEmail", error="users_not_found", match=lambda args: args.get("email") == "dana@example.com")
    clock.advance(minutes=8)
    engine, close = start_engine(slack, tmp_path, clock, CATALOG)
    engine.deliver()  # 10:08: level 3 fires, 3 minutes late; dana's page fails for good
    bob, erin, mallory = engine.user("bob"), engine.user("erin"), engine.user("mallory")

    engine.at(minutes=2)  # 10:10
    engine.driver.click(summary_of(engine), "incident_severity", bob, option_value="sev1")
    engine.slack.wait_for(lambda: engine.runtime.store.incident(incident["id"])["severity"] == "sev1")
    engine.deliver()  # mallory paged; the `raised` nudge posted
    nudge = next(m for m in _channel_messages(engine) if "page leadership?" in m["text"])
    engine.at(minutes=1)  # 10:11
    engine.driver.click(nudge, "nudge_snooze_15", bob)
    _wait_kind(engine, incident["id"], "rule_snoozed")

    engine.at(minutes=1)  # 10:12
    channel = engine.slack.incident_channels()[0]["id"]
    opened = len(engine.slack.ok_calls_to("views.open"))
    engine.driver.slash("update", erin, channel_id=channel)
    engine.driver.submit(engine.driver.opened_view("status_update", after=opened), erin,
                         {"update": "Card payouts <!channel> paused; *rolling back* batcher"})
    _wait_kind(engine, incident["id"], "status_update")

    engine.at(minutes=1)  # 10:13
    engine.driver.click(engine.dms("mallory")[-1], "incident_ack", mallory)
    engine.slack.wait_for(lambda: engine.runtime.store.incident(incident["id"])["status"] == "acknowledged")
    engine.at(minutes=7)  # 10:20
    engine.driver.click(summary_of(engine), "incident_mitigate", mallory)
    engine.slack.wait_for(lambda: engine.runtime.store.incident(incident["id"])["status"] == "mitigated")
    for _ in range(3):
        engine.at(minutes=10)  # 10:30, 10:40, 10:50 (the snoozed nudge is back at 10:30; the update reminder due at 10:32 fires on the 10:40 tick)
    engine.driver.click(summary_of(engine), "incident_resolve", mallory)
    engine.driver.submit(engine.driver.opened_view("resolve_incident"), mallory, {"note": "Rolled back <@U0ADMIN01> & fixed"})
    engine.slack.wait_for(lambda: engine.runtime.store.incident(incident["id"])["status"] == "resolved")
    return engine, close, incident


EXPECTED_LEVELS = [
    # track, level, policy, targets, paged_at, outcome, acknowledged_by, ack_after_s, late_s
    ("main", 1, "payments", [], "2026-11-23T10:00:00.000000Z", "skipped", None, None, None),
    ("main", 2, "payments", ["alice@example.com"], "2026-11-23T10:00:00.000000Z", "timed_out", None, None, None),
    ("main", 3, "payments", ["dana@example.com"], "2026-11-23T10:08:00.000000Z", "superseded", None, None, 180.0),
    ("main", 1, "payments-critical", ["mallory@example.com"], "2026-11-23T10:10:00.000000Z", "acknowledged", "mallory", 180, None),
]


def test_the_review_of_a_scripted_incident_has_exactly_its_numbers_and_findings(slack, tmp_path, clock: Clock,
                                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    engine, close, incident = _script(slack, tmp_path, clock)
    try:
        before = len(slack.calls)
        engine.deliver()  # the resolution message, and the review uploaded
        db = tmp_path / "ladder.db"

        code, out, _ = _review_cli(capsys, db, "INC-1", "--format", "json")
        assert code == 0
        data = json.loads(out)
        people = {engine.user(name): name for name in ("alice", "bob", "dana", "erin", "mallory", "sam")}
        assert {k: data[k] for k in ("ref", "title", "service", "team", "severity")} == {
            "ref": "INC-1", "title": "bank transfers failing", "service": "Bank transfers", "team": "Payments", "severity": "sev1"}
        assert (data["declared_at"], data["first_page_at"], data["first_ack_at"], data["mitigated_at"], data["resolved_at"]) == (
            "2026-11-23T10:00:00Z", "2026-11-23T10:00:00Z", "2026-11-23T10:13:00Z", "2026-11-23T10:20:00Z", "2026-11-23T10:50:00Z")
        assert (data["time_to_ack_s"], data["time_to_mitigate_s"], data["time_to_resolve_s"]) == (780, 1200, 3000)
        assert [m["local"] for m in data["clock"]] == [
            "2026-11-23T11:00:00+01:00", "2026-11-23T11:00:00+01:00", "2026-11-23T11:13:00+01:00", "2026-11-23T11:20:00+01:00",
            "2026-11-23T11:50:00+01:00"]
        assert [m["since_previous_s"] for m in data["clock"]] == [None, 0, 780, 420, 1800]
        levels = [(lv["track"], lv["level"], lv["policy"], lv["targets"], lv["paged_at"], lv["outcome"],
                   people.get(lv["acknowledged_by"]), lv["ack_after_s"], lv["late_s"]) for lv in data["levels"]]
        assert levels == EXPECTED_LEVELS
        dana_page = data["levels"][2]["pages"][0]
        assert (dana_page["how"], dana_page["status"]) == ("dm", "failed") and "users_not_found" in dana_page["error"]
        assert [(f["kind"], f["at"]) for f in data["findings"]] == [
            ("schedule_gap", "2026-11-23T10:00:00.000000Z"), ("level_timed_out", "2026-11-23T10:00:00.000000Z"),
            ("page_failed", "2026-11-23T10:08:00.000000Z"), ("update_gap", "2026-11-23T10:50:00Z")]
        assert [f["text"] for f in data["findings"]] == [
            "Level 1 of payments was skipped: nobody is on call for weekend: layer 1 only covers Sat,Sun 00:00–23:59 UTC.",
            "Level 2 of payments (alice@example.com) timed out: nobody acknowledged within 5m.",
            "The page to dana@example.com (level 3) was not delivered: no Slack user has the e-mail dana@example.com (users_not_found).",
            "No status update for 38m after the last update (the cadence is 20m).",
        ]
        assert [(c["from"], c["to"], people[c["by"]]) for c in data["severity_changes"]] == [("sev2", "sev1", "bob")]
        assert [p["policy"] for p in data["policy_switches"]] == ["payments-critical"]
        assert [(n["rule"], n["at"], [(a["answer"], people[a["by"]]) for a in n["answers"]]) for n in data["nudges"]] == [
            ("raised", "2026-11-23T10:10:00Z", [("snoozed", "bob")]),  # snoozed 15 minutes: back on the 10:30 tick
            ("raised", "2026-11-23T10:30:00Z", []), ("updates", "2026-11-23T10:40:00Z", [])]
        assert [(people[u["by"]], u["at"]) for u in data["updates"]] == [("erin", "2026-11-23T10:12:00Z")]
        assert data["followups"] == []

        # The upload: Slack's three steps, in order, with the length of what was sent; the file is the CLI's Markdown.
        steps = [c for c in slack.calls[before:] if c.method in UPLOAD_STEPS]
        assert [c.method for c in steps] == list(UPLOAD_STEPS) and all(c.status == 200 for c in steps)
        asked, sent, completed = steps
        file_id = asked.response["file_id"]
        content = slack.file_content(file_id)
        assert content is not None and int(asked.args["length"]) == len(content) == sent.args["length"]
        assert asked.args["filename"] == "inc-1-review.md"
        assert json.loads(completed.args["files"]) == [{"id": file_id, "title": "INC-1 review: bank transfers failing"}]
        channel = slack.incident_channels()[0]
        assert completed.args["channel_id"] == channel["id"]
        shared = [m for m in _channel_messages(engine) if m.get("files")]
        assert len(shared) == 1 and shared[0]["files"][0]["id"] == file_id and "Review draft for INC-1" in shared[0]["text"]

        code, markdown, _ = _review_cli(capsys, db, "1")
        assert code == 0 and markdown == content.decode("utf-8")
        assert "| first acknowledgement | 2026-11-23 10:13:00 | 2026-11-23 11:13:00 CET | 13m | 13m |" in markdown
        assert "- **Level 3 of payments**, 2026-11-23 10:08:00 UTC (11:08:00 CET), fired 3m late: superseded." in markdown
        assert "timed out unanswered" in markdown and "## Findings" in markdown
        # Typed text is data: no mention, no markup survives.
        assert "<!channel>" not in markdown and "<@U0ADMIN01>" not in markdown
        assert "Card payouts &lt;!channel&gt; paused; \\*rolling back\\* batcher" in markdown
        assert "Rolled back &lt;@U0ADMIN01&gt; &amp; fixed" in markdown

        engine.at(minutes=5)  # delivered once: a later tick uploads nothing more
        assert len([c for c in slack.calls if c.method == "files.completeUploadExternal"]) == 1
    finally:
        close()


def test_review_of_an_unknown_or_open_incident_says_so_and_exits_1(slack, tmp_path, clock: Clock,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    engine, close = start_engine(slack, tmp_path, clock, CATALOG)
    try:
        declare(engine, severity="sev2")
        engine.deliver()
        db = tmp_path / "ladder.db"
        assert _review_cli(capsys, db, "INC-1")[::2] == (1, "ladder: INC-1 is still open (triggered): its review is written once it is resolved.\n")
        assert _review_cli(capsys, db, "INC-7")[::2] == (1, "ladder: INC-7 does not exist.\n")
        assert not slack.calls_to("files.getUploadURLExternal")  # nothing uploaded for an open incident
    finally:
        close()


@pytest.mark.parametrize("raw", ["abc", "INC-", "INC-0", "-3", "INC-1x", ""])
def test_review_refuses_what_is_not_an_incident(raw: str, tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.main(["review", raw, "--db", str(tmp_path / "none.db")])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "argument INCIDENT:" in err and "name it like INC-12 or 12" in err


def test_review_without_a_database_names_the_flag(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["review", "INC-1", "--db", str(tmp_path / "none.db"), "--catalog", str(CATALOG)]) == 2
    assert "--db" in capsys.readouterr().err


def test_an_upload_whose_answer_timed_out_is_found_in_the_channel_and_not_posted_twice(slack, tmp_path, clock: Clock) -> None:
    engine, close = start_engine(slack, tmp_path, clock, CATALOG, SLACK_TIMEOUT="1")
    try:
        incident, _, _ = declare(engine, severity="sev2")
        engine.deliver()
        alice = engine.user("alice")
        engine.at(minutes=6)  # level 2 (alice) paged
        engine.driver.click(summary_of(engine), "incident_resolve", alice)
        engine.driver.submit(engine.driver.opened_view("resolve_incident"), alice, {})
        engine.slack.wait_for(lambda: engine.runtime.store.incident(incident["id"])["status"] == "resolved")
        # Slack shares the file, but its answer to the last step comes after Ladder stopped waiting.
        slack.fail("files.completeUploadExternal", hold=1.5)
        engine.deliver()
        slack.wait_for(lambda: slack.ok_calls_to("files.completeUploadExternal"))  # it did take effect
        assert engine.runtime.store.conn.execute("SELECT in_doubt FROM outbox WHERE kind = 'upload_review'").fetchone()[0] == 1
        engine.at(minutes=5)  # the retry looks in the channel first, and finds it
        assert len(slack.calls_to("files.completeUploadExternal")) == 1
        assert len(slack.calls_to("files.getUploadURLExternal")) == 1
        assert len([m for m in _channel_messages(engine) if m.get("files")]) == 1
        assert slack.calls_to("conversations.history")
    finally:
        close()
