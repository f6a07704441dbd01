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
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from app import cli, review
from app.slack import timeline_view
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
    ("main", 1, "payments", [], "2026-11-23T10:00:00Z", "skipped", None, None, None),
    ("main", 2, "payments", ["alice@example.com"], "2026-11-23T10:00:00Z", "timed_out", None, None, None),
    ("main", 3, "payments", ["dana@example.com"], "2026-11-23T10:08:00Z", "superseded", None, None, 180.0),
    ("main", 1, "payments-critical", ["mallory@example.com"], "2026-11-23T10:10:00Z", "acknowledged", "mallory", 180, None),
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
            ("schedule_gap", "2026-11-23T10:00:00Z"), ("level_timed_out", "2026-11-23T10:00:00Z"),
            ("page_failed", "2026-11-23T10:08:00Z"), ("update_gap", "2026-11-23T10:50:00Z")]
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
        assert_one_time_form(data)
        # Every timeline entry, as /incident timeline points to it: the JSON has them all, the Markdown as an appendix.
        recorded = engine.timeline(incident["id"])
        assert [(e["kind"], e["at"], e["actor"], e["text"]) for e in data["timeline"]] == [
            (e["kind"], e["at"].replace(".000000Z", "Z"), e["actor"], e["text"]) for e in recorded]

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
        appendix = markdown.split("\n## Timeline\n", 1)[1]
        lines = [line for line in appendix.splitlines() if line.startswith("- ")]
        assert len(lines) == len(recorded) and lines[0].startswith("- 2026-11-23 10:00:00 UTC (11:00:00 CET) · `declared`: Declared by ")
        assert any(line.startswith("- 2026-11-23 10:12:00 UTC (11:12:00 CET) · `status_update`: ") and "&lt;!channel&gt;" in line
                   for line in lines)

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


# -- the clock and the ladder's story in the corners ------------------------------------------------------------

UTC_FORM = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
LOCAL_FORM = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d")
LOOKS_LIKE_A_TIME = re.compile(r"\d{4}-\d\d-\d\dT")


def assert_one_time_form(data: Any, key: str = "") -> int:
    """Every instant in the review's JSON is `YYYY-MM-DDTHH:MM:SSZ` (a clock step's `local`: the same with the zone's offset).
    Returns how many it checked, so a test can tell it saw some."""
    if isinstance(data, dict):
        return sum(assert_one_time_form(value, name) for name, value in data.items() if name != "text")  # typed words are words
    if isinstance(data, list):
        return sum(assert_one_time_form(value, key) for value in data)
    if isinstance(data, str) and LOOKS_LIKE_A_TIME.match(data):
        assert (LOCAL_FORM if key == "local" else UTC_FORM).fullmatch(data), (key, data)
        return 1
    return 0


def _resolve(engine: Engine, incident: dict, who: str = "dana") -> None:
    opened = len(engine.slack.ok_calls_to("views.open"))
    engine.driver.click(summary_of(engine), "incident_resolve", engine.user(who))
    engine.driver.submit(engine.driver.opened_view("resolve_incident", after=opened), engine.user(who), {})
    engine.slack.wait_for(lambda: engine.runtime.store.incident(incident["id"])["status"] == "resolved")


def _built(engine: Engine) -> review.Review:
    return review.build(review.load(engine.runtime.store, engine.runtime.catalog, 1))


def test_a_rearm_that_fired_late_is_late_on_the_rung_it_paged(slack, tmp_path, clock: Clock) -> None:
    # tests/engine_catalog.yaml: payments re-arms 30 minutes after an acknowledgement (announced 5 minutes before).
    engine, close = start_engine(slack, tmp_path, clock)
    try:
        incident, _, _ = declare(engine, severity="sev2")
        engine.deliver()
        engine.at(minutes=1)  # 10:01
        engine.driver.click(engine.dms("alice")[0], "incident_ack", engine.user("alice"))
        engine.slack.wait_for(lambda: engine.runtime.store.incident(incident["id"])["status"] == "acknowledged")
        engine.at(minutes=30)  # 10:31: the ack timeout is announced; the re-arm is due at 10:36
    finally:
        close()  # Ladder is down from 10:31 to 10:51
    clock.advance(minutes=20)
    engine, close = start_engine(slack, tmp_path, clock)
    try:
        engine.deliver()  # 10:51: re-armed, 15 minutes late; level 1 paged again
        _resolve(engine, incident, "alice")
        late = [e for e in engine.timeline(incident["id"]) if e["kind"] == "late"]
        assert [(e["at"], json.loads(e["data"])) for e in late] == [("2026-11-23T10:51:00.000000Z", {"late_by_s": 900.0, "track": "main"})]
        built = _built(engine)
        rungs = [(lv.paged_at, lv.level, lv.outcome, lv.late_s) for lv in built.levels]
        assert rungs == [("2026-11-23T10:00:00Z", 1, "acknowledged", None), ("2026-11-23T10:51:00Z", 1, "stopped", 900.0)]
        assert "- **Level 1 of payments**, 2026-11-23 10:51:00 UTC (10:51:00 UTC), fired 15m late: " in review.markdown(built)
    finally:
        close()


def test_a_level_acknowledged_after_it_timed_out_says_so_and_the_next_level_says_who_stopped_it(slack, tmp_path, clock: Clock) -> None:
    engine, close = start_engine(slack, tmp_path, clock)  # payments: level 1 alice (on call) 5m, level 2 dana
    try:
        incident, _, _ = declare(engine, severity="sev2")
        engine.deliver()
        engine.at(minutes=5)  # 10:05: level 2 (dana) paged
        engine.at(minutes=2)  # 10:07: alice acknowledges her level 1 page after all
        alice = engine.user("alice")
        engine.driver.click(engine.dms("alice")[0], "incident_ack", alice)
        engine.slack.wait_for(lambda: engine.runtime.store.incident(incident["id"])["status"] == "acknowledged")
        _resolve(engine, incident, "alice")
        built = _built(engine)
        markdown = review.markdown(built)
        person = f"`alice@example.com` (`{alice}`)"
        assert (f"- **Level 1 of payments**, 2026-11-23 10:00:00 UTC (10:00:00 UTC): timed out unanswered (after 5m); {person} "
                "acknowledged later, 7m after being paged.") in markdown
        assert f"- **Level 2 of payments**, 2026-11-23 10:05:00 UTC (10:05:00 UTC): stopped: acknowledged at level 1 by {person}." in markdown
        assert "timed out unanswered by" not in markdown and "handled elsewhere" not in markdown
        # The JSON says the same: a timed-out level keeps its outcome; who acknowledged it later, and when (module docstring).
        data = review.as_json(built)
        assert [(lv["level"], lv["outcome"], lv["acknowledged_by"], lv["ack_after_s"], lv["stopped_by"]) for lv in data["levels"]] == [
            (1, "timed_out", alice, 420, None),
            (2, "stopped", None, None, {"user_id": alice, "at": "2026-11-23T10:07:00Z", "level": 1, "policy": "payments", "loop": 0})]
        assert [f.text for f in built.findings if f.kind == "level_timed_out"] == [
            f"Level 1 of payments (alice@example.com) timed out: nobody acknowledged within 5m (alice@example.com ({alice}) "
            "acknowledged later, 7m after being paged)."]
    finally:
        close()


GROUP_CATALOG = TESTS / "review_group_catalog.yaml"


@pytest.mark.parametrize("members", ["none", "a member whose DM fails"])
def test_a_user_group_that_reached_nobody_is_not_the_first_page(members: str, slack, tmp_path, clock: Clock) -> None:
    engine, close = start_engine(slack, tmp_path, clock, GROUP_CATALOG)
    try:
        if members == "none":
            slack.usergroups["S0ONCALL"] = []
        else:
            alice = engine.user("alice")
            slack.usergroups["S0ONCALL"] = [alice]
            slack.fail("chat.postMessage", error="user_disabled", match=lambda args: args.get("channel") == alice)
        incident, _, _ = declare(engine, severity="sev2")
        engine.deliver()
        engine.deliver()  # the group expanded (into nobody, or into alice's page, which fails)
        engine.at(minutes=5)  # 10:05: level 2, dana: the first page that reached a person
        engine.at(minutes=1)
        engine.driver.click(engine.dms("dana")[0], "incident_ack", engine.user("dana"))
        engine.slack.wait_for(lambda: engine.runtime.store.incident(incident["id"])["status"] == "acknowledged")
        _resolve(engine, incident)
        built = _built(engine)
        assert (built.first_page_at, built.time_to_first_page_s) == ("2026-11-23T10:05:00Z", 300)
        assert [(m.name, m.at) for m in built.clock][1] == ("first page", "2026-11-23T10:05:00Z")
        assert [(t.target, t.how) for t in built.levels[0].targets] == [("S0ONCALL", "user_group")]
        fields = timeline_view.clock_fields(engine.runtime.store.incident(incident["id"]), engine.timeline(incident["id"]),
                                            engine.runtime.store.pages(incident["id"]), timeline_view.People([]))
        assert fields[1] == "*First page delivered*\n<!date^1795428300^{date_short_pretty} {time}|2026-11-23 10:05 UTC> · after 5m"
    finally:
        close()


# -- pure cases: rows as older versions of Ladder left them -----------------------------------------------------

T0 = "2026-11-23T10:00:00.000000Z"


def _material(**parts: Any) -> review.Material:
    incident = {"number": 4, "title": "t", "service_name": "S", "team_name": "T", "severity": "sev2", "status": "resolved",
                "declared_by": "U0SAM", "declared_at": T0, "mitigated_at": None, "mitigated_by": None,
                "resolved_at": "2026-11-23T10:30:00.000000Z", "resolved_by": "U0SAM", "resolution_note": "", "lead": None}
    incident.update(parts.pop("incident", {}))
    return review.Material(incident, [], parts.pop("pages", []), parts.pop("timeline", []), parts.pop("roles", []),
                           parts.pop("followups", []), **parts)


def _page(page_id: int, target: str, **columns: Any) -> dict[str, Any]:
    return {"id": page_id, "track": "main", "round": 0, "policy": "p", "level": 0, "loop": 0, "target": target, "via": "named in the policy",
            "notify_only": 0, "requested_by": None, "user_id": None, "status": "pending", "created_at": T0, "sent_at": None,
            "acknowledged_at": None, "error": None, **columns}


def _entry(at: str, what: str, text: str = "", /, actor: str | None = None, **data: Any) -> dict[str, Any]:
    return {"at": at, "kind": what, "text": text, "actor": actor, "data": json.dumps(data)}


def test_a_failed_page_is_dated_by_its_failure_not_by_when_it_was_queued() -> None:
    pages = [_page(7, "dana@example.com", status="failed", error="users_not_found"),
             _page(8, "erin@example.com", status="failed", error="user_disabled", level=1)]  # an older failure: no page_id recorded
    timeline = [_entry(T0, "level_paged", policy="p", level=0, loop=0, track="main"),
                _entry("2026-11-23T10:03:20.500000Z", "delivery_failed", "Could not send a page: users_not_found.", kind="page",
                       outbox_id=3, page_id=7)]
    found = [(f.at[:19], f.text) for f in review.build(_material(pages=pages, timeline=timeline)).findings if f.kind == "page_failed"]
    assert found == [("2026-11-23T10:00:00", "The page to erin@example.com (level 2) was not delivered: user_disabled."),
                     ("2026-11-23T10:03:20", "The page to dana@example.com (level 1) was not delivered: users_not_found.")]


def test_a_lead_set_before_roles_were_recorded_is_among_the_roles() -> None:
    timeline = [_entry("2026-11-23T10:02:00.000000Z", "lead", "U0SAM made U0ALICE the incident lead.", "U0SAM", lead="U0ALICE")]
    material = _material(incident={"lead": "U0ALICE"}, timeline=timeline,
                         roles=[{"role": "scribe", "user_id": "U0BOB", "assigned_by": "U0BOB", "assigned_at": "2026-11-23T10:04:00.000000Z"}])
    built = review.build(material)
    assert built.roles == [{"role": "lead", "user_id": "U0ALICE", "assigned_by": "U0SAM", "assigned_at": "2026-11-23T10:02:00Z"},
                           {"role": "scribe", "user_id": "U0BOB", "assigned_by": "U0BOB", "assigned_at": "2026-11-23T10:04:00Z"}]
    assert "- lead: `U0ALICE`" in review.markdown(built)
    # Set since schema 7, the lead has its row: listed once.
    with_row = _material(incident={"lead": "U0ALICE"}, roles=[{"role": "lead", "user_id": "U0ALICE", "assigned_by": "U0ALICE",
                                                               "assigned_at": T0}])
    assert [r["role"] for r in review.build(with_row).roles] == ["lead"]


@pytest.mark.parametrize("target, user_id, status, kind, how", [
    ("S0ONCALL", None, "sent", "user_group", "user_group"),
    ("S0ONCALL", None, "failed", "user_group", "user_group"),  # usergroups.users.list refused: still a group
    ("S0ONCALL", None, "sent", None, "user_group"),  # no outbox row left: its reference is a user group's ID
    ("Sam@example.com", None, "cancelled", None, "dm"),  # a person whose page was cancelled (acknowledged meanwhile)
    ("SAM", None, "cancelled", "person", "dm"),  # the recorded kind wins over the look of the reference
    ("Sara@example.com", None, "pending", None, "dm"),
    ("U0SAM", "U0SAM", "sent", None, "dm"),
])
def test_a_target_is_a_user_group_by_its_recorded_kind_or_its_id(target: str, user_id: str | None, status: str, kind: str | None,
                                                                   how: str) -> None:
    timeline = [_entry(T0, "level_paged", policy="p", level=0, loop=0, track="main")]
    material = _material(pages=[_page(1, target, user_id=user_id, status=status)], timeline=timeline,
                         **({"page_kinds": {1: kind}} if kind else {}))
    assert [(t.target, t.how) for t in review.build(material).levels[0].targets] == [(target, how)]


def test_every_instant_in_the_json_has_one_form() -> None:
    micro = "2026-11-23T10:05:00.123456Z"
    pages = [_page(1, "U0BOB", user_id="U0BOB", status="sent", sent_at=micro, acknowledged_at="2026-11-23T10:06:00.654321Z"),
             _page(2, "erin@example.com", status="failed", error="x", level=1)]
    timeline = [_entry(T0, "level_paged", policy="p", level=0, loop=0, track="main"),
                _entry(micro, "rule_fired", rule="r"), _entry(micro, "rule_snoozed", actor="U0BOB", rule="r", until="2026-11-23T10:20:00.5Z"),
                _entry(micro, "severity_changed", actor="U0BOB", **{"from": "sev2", "to": "sev1"}),
                _entry(micro, "policy_switched", policy="q"), _entry(micro, "status_update", "2026-11-23T10:05:00.123456Z", "U0BOB",
                                                                        text="2026-11-23T10:05:00.123456Z is when it broke"),
                _entry(micro, "gap", "Level 1: nobody", policy="p", level=5), _entry(micro, "acknowledged", actor="U0ERIN")]
    material = _material(pages=pages, timeline=timeline, incident={"mitigated_at": micro, "mitigated_by": "U0BOB"}, zone="Europe/Berlin",
                         roles=[{"role": "scribe", "user_id": "U0BOB", "assigned_by": "U0BOB", "assigned_at": micro}],
                         followups=[{"id": 1, "owner": "U0BOB", "due_on": "2026-11-30", "text": "x", "created_by": "U0BOB",
                                     "created_at": micro, "done_at": micro, "done_by": "U0BOB"}],
                         )
    data = json.loads(review.render(review.build(material, now=datetime(2026, 11, 23, 11, 0, 0, 999, tzinfo=timezone.utc)), "json"))
    assert assert_one_time_form(data) >= 25
