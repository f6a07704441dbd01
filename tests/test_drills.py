"""Live drills through Slack's protocol on a frozen clock: the real ladder, at the times `simulate` predicts, marked as a
drill everywhere, telling nobody outside its channel, never paging the people the catalog excludes, surviving a
restart, and reporting each rung when it ends by itself."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator

import pytest

from app import cli, drills, incidents
from app.catalog import load_catalog
from app.report import figures
from app.simulate import simulate
from app.store import parse_iso
from tests.support import START, TESTS, Clock, Engine, block_text, declare, start_engine

DRILLS_CATALOG = TESTS / "drills_catalog.yaml"


@pytest.fixture
def engine(slack, tmp_path, clock: Clock) -> Iterator[Engine]:
    ladder, close = start_engine(slack, tmp_path, clock, DRILLS_CATALOG)
    yield ladder
    close()


def start_drill(engine: Engine, text: str, user: str = "sam") -> dict:
    """`/incident drill <text>` by `user`; the drill it declared, once the answer to them is posted."""
    before = len(engine.slack.responses)
    reply = engine.driver.slash(f"drill {text}", engine.user(user))
    assert reply.status == 200, reply.body
    answer = engine.slack.wait_for(lambda: engine.slack.responses[before:])[0]["body"]["text"]
    assert answer.startswith(":test_tube: DRILL: INC-"), answer
    engine.deliver()
    return engine.runtime.store.drills(1)[0]


def refused(engine: Engine, text: str, user: str = "sam") -> str:
    before = len(engine.slack.responses)
    engine.driver.slash(f"drill {text}", engine.user(user))
    return engine.slack.wait_for(lambda: engine.slack.responses[before:])[0]["body"]["text"]


def drill_channel(engine: Engine) -> dict:
    return next(c for c in engine.slack.channels.values() if c["name"].startswith("drill-"))


def drill_texts(engine: Engine) -> list[str]:
    return [m["text"] for m in engine.slack.messages_in(drill_channel(engine)["id"])]


def drill_summary(engine: Engine) -> dict:
    """The drill's summary, found by its blocks (a header naming the incident), not by its place: a rule's nudge may be
    posted in the channel before it."""
    return next(m for m in engine.slack.messages_in(drill_channel(engine)["id"])
                if (m.get("blocks") or [{}])[0].get("type") == "header" and "INC-" in block_text(m))


def drill_report(engine: Engine) -> str:
    reports = [t for t in drill_texts(engine) if "DRILL report" in t]
    assert len(reports) == 1, reports
    return reports[0]


def acknowledge(engine: Engine, name: str, message: dict | None = None) -> str:
    """`name` clicks Acknowledge (on their first DM unless `message` says where); the answer only they see."""
    before = len(engine.slack.responses)
    assert engine.driver.click(message or engine.dms(name)[0], "incident_ack", engine.user(name)).status == 200
    answer = engine.slack.wait_for(lambda: engine.slack.responses[before:])[0]["body"]["text"]
    engine.deliver()
    return answer


def play(engine: Engine, minutes: int, clicks: dict[int, str]) -> dict[str, str]:
    """Run the clock from now (the drill's start) to `minutes` later, a worker step on every whole minute, and at each
    `clicks` moment (seconds after the start) that person acknowledges; what each was answered."""
    start = engine.clock()
    answers = {}
    for second in sorted({m * 60 for m in range(1, minutes + 1)} | set(clicks)):
        engine.clock.move_to(start + timedelta(seconds=second))
        engine.deliver()
        if second in clicks:
            answers[clicks[second]] = acknowledge(engine, clicks[second])
    return answers


def page_log(engine: Engine, incident_id: int) -> list[tuple[int, str]]:
    """(minutes after the start, whom) for every page of the drill's main ladder that went out, in order."""
    declared = datetime.fromisoformat(engine.runtime.store.incident(incident_id)["declared_at"])
    return [(int((datetime.fromisoformat(p["created_at"]) - declared).total_seconds() // 60), p["target"])
            for p in engine.runtime.store.pages(incident_id) if p["track"] == "main" and p["status"] == "sent"]


def predicted(service: str, pace: int | None) -> list[tuple[int, str]]:
    """What `simulate --no-ack` says that service's ladder pages; with a pace, the same rungs one pace apart."""
    sim = simulate(load_catalog(DRILLS_CATALOG), service, None, START, no_ack=True)
    pages = [(int((e.at - START).total_seconds() // 60), t.ref) for e in sim.events if e.kind == "paged" for t in e.targets]
    if pace is None:
        return pages
    rungs = sorted({minute for minute, _ in pages})
    return [(rungs.index(minute) * pace // 60, ref) for minute, ref in pages]


def test_a_drill_pages_at_the_times_simulate_predicts_and_ends_by_itself_with_a_report(engine: Engine) -> None:
    drill = start_drill(engine, "login")
    for _ in range(50):
        engine.at(minutes=1)
    assert page_log(engine, drill["id"]) == predicted("login", None)
    assert engine.dms("frank")[0]["text"].startswith(":test_tube: DRILL · Paged: INC-1")
    assert ":test_tube: *DRILL: nothing is broken; please acknowledge as you would.*" in block_text(engine.dms("frank")[0])
    row = engine.runtime.store.incident(drill["id"])
    assert row["status"] == "resolved"
    assert row["resolution_note"] == ("Drill over: the ladder is exhausted: nobody acknowledged on any rung. level 1: no acknowledgement; "
                                      "level 2: no acknowledgement; level 3: no acknowledgement.")
    report = drill_report(engine)
    assert report.count("timed out: no acknowledgement within") == 6  # three levels, twice (repeat: 1)
    assert "*Ended:* the ladder is exhausted: nobody acknowledged on any rung, 40m after it started." in report
    assert "*First pass:* 0 of 3 rungs that paged someone acknowledged." in report


@pytest.mark.parametrize("pace", [60, 120])
def test_a_paced_drill_pages_one_pace_apart(engine: Engine, pace: int) -> None:
    outcome = drills.start(engine.runtime.store, engine.runtime.catalog,
                           drills.DrillRequest("login", None, engine.user("sam"), pace=pace), engine.clock())
    assert outcome.changed, outcome.message
    engine.deliver()
    for _ in range(int(7 * pace / 60) + 2):
        engine.at(minutes=1)
    assert page_log(engine, outcome.incident["id"]) == predicted("login", pace)
    assert engine.runtime.store.incident(outcome.incident["id"])["status"] == "resolved"  # exhausted after 6 paces


def test_people_never_drilled_are_never_messaged_and_nobody_outside_the_channel_is_told(engine: Engine) -> None:
    drill = start_drill(engine, "bank transfers")
    for _ in range(20):
        engine.at(minutes=1)
    assert engine.dms("judy") == []  # level 2 is only judy: skipped; level 3 pages dana without her
    assert page_log(engine, drill["id"]) == [(0, "alice@example.com"), (5, "dana@example.com")]
    gaps = [e["text"] for e in engine.timeline(drill["id"]) if e["kind"] == "gap"]
    assert any("judy@example.com is not drilled" in g for g in gaps)
    # No team-channel announcement, no stakeholders (channel or person), no rule reaching outside the drill channel.
    for channel in ("team-payments", "general"):
        assert engine.slack.messages_in(engine.slack.channel_named(channel)["id"]) == []
    assert engine.dms("ivan") == []
    skipped = {json.loads(e["data"])["rule"] for e in engine.timeline(drill["id"]) if e["kind"] == "rule_skipped"}
    assert skipped == {"tell-general", "tell-stakeholders"}
    # Marked everywhere: the channel's name, the summary, the posts in it (the nudge too), the page DMs.
    channel = drill_channel(engine)
    assert channel["name"] == "drill-1-bank-transfers"
    assert ":test_tube: *DRILL*: nothing is broken" in block_text(drill_summary(engine))
    assert any(t.startswith(":test_tube: DRILL · :bell:") and "who is leading?" in t for t in drill_texts(engine))
    report = next(t for t in drill_texts(engine) if "DRILL report" in t)
    assert "skipped: judy@example.com is not drilled (drills.never)" in report
    assert "Level 3 of `payments` (+5m): reached dana@example.com" in report


@pytest.mark.parametrize("judy_late", [False, True])
def test_an_acknowledgement_does_not_stop_the_ladder_and_the_report_matches_the_scripted_clicks(engine: Engine, judy_late: bool) -> None:
    """Level 1 (frank) acknowledges after 30s, level 2 (judy) does not answer in time, level 3 (oscar) after 1m10s: every rung
    is paged when `simulate --no-ack` says. With judy silent, level 2 stays untested and the drill runs to exhaustion (the
    repeat pages everyone again); with judy answering late, oscar's acknowledgement answers the last rung and ends it."""
    drill = start_drill(engine, "login")
    frank, judy, oscar = engine.user("frank"), engine.user("judy"), engine.user("oscar")
    answers = play(engine, 1, {30: "frank"})
    assert answers["frank"] == ":test_tube: DRILL: you acknowledged your page for INC-1 (level 1 after 30s). Thank you: that is what it tests."
    row = engine.runtime.store.incident(drill["id"])
    assert row["status"] == "triggered" and row["acknowledged_by"] is None  # the drill goes on: the ladder climbs
    assert ":white_check_mark: You acknowledged" in block_text(engine.dms("frank")[0])
    assert (f":test_tube: DRILL · :white_check_mark: <@{frank}> acknowledged their drill page (level 1 after 30s). "
            "The ladder climbs on: a drill tests every rung.") in drill_texts(engine)
    acked = [e for e in engine.timeline(drill["id"]) if e["kind"] == "page_acknowledged"]
    assert [json.loads(e["data"])["rungs"] for e in acked] == [[{"track": "main", "policy": "identity", "level": 0, "loop": 0, "seconds": 30}]]

    clicks = {15 * 60 + 70: "oscar"} | ({16 * 60: "judy"} if judy_late else {})
    play(engine, 49, {second - 60: who for second, who in clicks.items()})  # `play` counts from now: one minute in
    row = engine.runtime.store.incident(drill["id"])
    assert row["status"] == "resolved"
    report = drill_report(engine)
    assert f"Level 1 of `identity` (+0m): reached frank@example.com (<@{frank}>); acknowledged by <@{frank}> after 30s" in report
    assert f"Level 3 of `identity` (+15m): reached oscar@example.com (<@{oscar}>); acknowledged by <@{oscar}> after 1m10s" in report
    if not judy_late:
        assert page_log(engine, drill["id"]) == predicted("login", None)  # every rung, twice, whatever people clicked
        assert f"Level 2 of `identity` (+5m): reached judy@example.com (<@{judy}>); timed out: no acknowledgement within 10m\n" in report
        assert "*Ended:* the ladder is exhausted; not acknowledged: level 2, 40m after it started." in report
        assert "*First pass:* 2 of 3 rungs that paged someone acknowledged." in report
        assert f"Level 1 of `identity`, loop 2 (+20m): reached frank@example.com (<@{frank}>); timed out: no acknowledgement within 5m" in report
        assert parse_iso(row["resolved_at"]) == (START + timedelta(minutes=40))
        assert row["resolution_note"] == ("Drill over: the ladder is exhausted; not acknowledged: level 2. level 1: frank@example.com after 30s; "
                                          "level 2: no acknowledgement; level 3: oscar@example.com after 1m10s.")
    else:
        assert page_log(engine, drill["id"]) == predicted("login", None)[:3]  # the first pass, on time; nothing after it
        assert (f"Level 2 of `identity` (+5m): reached judy@example.com (<@{judy}>); timed out: no acknowledgement within 10m "
                f"(acknowledged later by <@{judy}> after 11m)") in report
        assert "*Ended:* every rung has been answered, 16m10s after it started." in report
        assert "*First pass:* 3 of 3 rungs that paged someone acknowledged." in report
        assert parse_iso(row["resolved_at"]) == (START + timedelta(minutes=16, seconds=10))
    assert "not reached" not in report
    assert not engine.slack.calls_to("files.getUploadURLExternal")  # the drill report stands in for the review upload


def test_a_drill_everyone_answers_ends_right_after_the_last_levels_acknowledgement(engine: Engine) -> None:
    drill = start_drill(engine, "login")
    answers = play(engine, 45, {30: "frank", 5 * 60 + 45: "judy", 15 * 60 + 20: "oscar"})
    assert answers["oscar"].endswith("That was the last rung to test: the drill is over, and its report is posted in its channel.")
    row = engine.runtime.store.incident(drill["id"])
    assert row["status"] == "resolved" and parse_iso(row["resolved_at"]) == (START + timedelta(minutes=15, seconds=20))
    assert row["resolution_note"] == ("Drill over: every rung has been answered. level 1: frank@example.com after 30s; "
                                      "level 2: judy@example.com after 45s; level 3: oscar@example.com after 20s.")
    assert page_log(engine, drill["id"]) == predicted("login", None)[:3]  # each level at simulate's time; no repeat after
    assert [len(engine.dms(name)) for name in ("frank", "judy", "oscar")] == [1, 1, 1]
    report = drill_report(engine)
    assert "*Ended:* every rung has been answered, 15m20s after it started." in report
    assert f"Level 2 of `identity` (+5m): reached judy@example.com (<@{engine.user('judy')}>); acknowledged by <@{engine.user('judy')}> after 45s" \
        in report
    listing = engine.driver.slash("drill", engine.user("carol")).body
    assert "Drill over: every rung has been answered. level 1: frank@example.com after 30s;" in listing


def test_someone_not_paged_in_the_drill_changes_nothing(engine: Engine) -> None:
    drill = start_drill(engine, "login")
    store = engine.runtime.store
    before = (store.incident(drill["id"]), store.timeline(drill["id"]), store.pages(drill["id"]), len(drill_texts(engine)))
    assert acknowledge(engine, "sam", drill_summary(engine)) == \
        ":test_tube: DRILL: you were not paged in this drill (INC-1); nothing recorded."
    assert (store.incident(drill["id"]), store.timeline(drill["id"]), store.pages(drill["id"]), len(drill_texts(engine))) == before
    acknowledge(engine, "frank")
    again = acknowledge(engine, "frank", drill_summary(engine))  # their page is acknowledged already
    assert again == ":test_tube: DRILL: you already acknowledged your page in this drill (INC-1); nothing more to record."
    assert len([e for e in store.timeline(drill["id"]) if e["kind"] == "page_acknowledged"]) == 1


def test_marking_a_drill_mitigated_stops_it_at_once(engine: Engine) -> None:
    drill = start_drill(engine, "login")
    engine.at(minutes=1)
    assert engine.driver.click(drill_summary(engine), "incident_mitigate", engine.user("bob")).status == 200
    engine.slack.wait_for(lambda: engine.runtime.store.incident(drill["id"])["status"] == "resolved")
    engine.deliver()
    bob = engine.user("bob")
    assert engine.runtime.store.incident(drill["id"])["resolution_note"].startswith(f"Drill over: stopped by {bob} (marked mitigated).")
    assert f"*Ended:* stopped by <@{bob}> (marked mitigated), 1m after it started." in drill_report(engine)
    engine.at(minutes=10)
    assert engine.dms("judy") == []


def test_resolving_a_drill_by_hand_stops_it_and_says_so(engine: Engine) -> None:
    drill = start_drill(engine, "login")
    engine.at(minutes=2)
    carol = engine.user("carol")
    assert incidents.resolve(engine.runtime.store, drill["id"], carol, "enough for today", engine.clock()).changed
    engine.deliver()
    assert f"*Ended:* stopped by <@{carol}> (resolved by hand), 2m after it started." in drill_report(engine)
    assert drills.listing(drills.recent(engine.runtime.store))[0]["ended"] == f"Stopped by {carol} (resolved by hand). Note: enough for today"


def test_a_restart_mid_drill_resumes_it(slack, tmp_path: Path, clock: Clock) -> None:
    first, close = start_engine(slack, tmp_path, clock, DRILLS_CATALOG)
    outcome = drills.start(first.runtime.store, first.runtime.catalog,
                           drills.DrillRequest("login", None, first.user("sam"), pace=120), clock())
    first.deliver()
    first.at(minutes=3)  # frank at +0, judy at +2
    close()
    clock.advance(minutes=2)  # Ladder is down while oscar's rung (+4m) comes due
    second, close = start_engine(slack, tmp_path, clock, DRILLS_CATALOG)
    try:
        second.deliver()
        for _ in range(10):
            second.at(minutes=1)
        log = page_log(second, outcome.incident["id"])
        assert [ref for _, ref in log] == [ref for _, ref in predicted("login", 120)]
        assert log[2] == (5, "oscar@example.com")  # late, once, and said so on the timeline
        assert any(e["kind"] == "late" for e in second.timeline(outcome.incident["id"]))
        assert second.runtime.store.incident(outcome.incident["id"])["status"] == "resolved"
    finally:
        close()


def test_acknowledgements_before_a_restart_still_count_after_it(slack, tmp_path: Path, clock: Clock) -> None:
    first, close = start_engine(slack, tmp_path, clock, DRILLS_CATALOG)
    outcome = drills.start(first.runtime.store, first.runtime.catalog,
                           drills.DrillRequest("login", None, first.user("sam"), pace=120), clock())
    drill_id = outcome.incident["id"]
    first.deliver()
    play(first, 3, {60: "frank"})  # frank at +0 acknowledges at +1m; judy paged at +2m
    close()
    clock.advance(minutes=2)  # Ladder is down while oscar's rung (+4m) comes due
    second, close = start_engine(slack, tmp_path, clock, DRILLS_CATALOG)
    try:
        second.deliver()  # oscar's page, late
        assert second.runtime.store.incident(drill_id)["status"] == "triggered"
        play(second, 1, {10: "judy", 30: "oscar"})  # judy after her rung timed out, then oscar: every rung answered
        row = second.runtime.store.incident(drill_id)
        assert row["status"] == "resolved" and parse_iso(row["resolved_at"]) == (START + timedelta(minutes=5, seconds=30))
        assert row["resolution_note"] == ("Drill over: every rung has been answered. level 1: frank@example.com after 1m; "
                                          "level 2: judy@example.com after 3m10s (after it timed out); level 3: oscar@example.com after 30s.")
        assert page_log(second, drill_id) == [(0, "frank@example.com"), (2, "judy@example.com"), (5, "oscar@example.com")]
        report = drill_report(second)
        assert f"Level 1 of `identity` (+0m): reached frank@example.com (<@{second.user('frank')}>); acknowledged by " \
               f"<@{second.user('frank')}> after 1m" in report
    finally:
        close()


def test_a_real_sev1_open_refuses_a_drill_of_that_team(engine: Engine) -> None:
    declare(engine, severity="sev1")
    engine.deliver()
    answer = refused(engine, "bank-transfers")
    assert "INC-1 (SEV1 · Critical) of team Payments is open right now" in answer
    assert engine.runtime.store.drills(5) == []
    start_drill(engine, "login")  # another team's drill is fine


@pytest.mark.parametrize(("text", "user", "at", "reason"), [
    ("warp drive", "sam", None, "No service “warp drive” in the catalog."),
    ("bank", "sam", None, "No service “bank” in the catalog. Did you mean `bank-transfers` (Bank transfers)?"),  # routing's guess
    ("bank-transfers", "bob", None, "You may not start drills of team Payments's services: its catalog allows sam@example.com, "
                                    "carol@example.com."),
    ("bank-transfers", "sam", datetime(2026, 11, 28, 11, 0, tzinfo=timezone.utc),
     "Drills of team Payments may start Mon–Fri 09:00–17:00 (Europe/London) only; it is Sat 11:00 there now."),
    ("bank-transfers", "sam", datetime(2026, 11, 23, 17, 30, tzinfo=timezone.utc), "it is Mon 17:30 there now."),
])
def test_a_drill_that_may_not_start_is_refused_with_the_reason(engine: Engine, text: str, user: str, at: datetime | None,
                                                                reason: str) -> None:
    if at is not None:
        engine.clock.move_to(at)
    answer = refused(engine, text, user)
    assert reason in answer, answer
    assert engine.runtime.store.drills(5) == [] and not [c for c in engine.slack.channels.values() if c["name"].startswith("drill-")]


def test_a_pace_under_a_minute_is_refused(engine: Engine) -> None:
    outcome = drills.start(engine.runtime.store, engine.runtime.catalog,
                           drills.DrillRequest("login", None, engine.user("sam"), pace=30), engine.clock())
    assert not outcome.changed and "at least 1m" in outcome.message
    assert engine.runtime.store.drills(5) == []


def test_a_team_without_drills_lets_anyone_start_one_and_the_listing_shows_it(engine: Engine) -> None:
    start_drill(engine, "login sev2", user="bob")
    listing = engine.driver.slash("drill", engine.user("carol")).body
    assert "INC-1" in listing and "Login" in listing and "sev2" in listing


def test_reports_of_real_incidents_leave_drills_out(engine: Engine) -> None:
    start_drill(engine, "login")
    declare(engine, severity="sev2")
    engine.deliver()
    engine.at(minutes=1)
    material = list(engine.runtime.store.report_material(START - timedelta(days=1), START + timedelta(days=1)))
    assert len(material) == 2  # both in the store
    report = figures.compute(material, engine.runtime.catalog, START - timedelta(days=1), START + timedelta(days=1))
    assert report.incidents == 1


def test_the_cli_starts_a_drill_as_an_operator_and_lists_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from app.store import Store

    db = tmp_path / "ladder.db"
    Store(db).close()
    args = ["drill", "--db", str(db), "--catalog", str(DRILLS_CATALOG)]
    with pytest.raises(SystemExit) as refused:
        cli.main([*args, "--service", "login", "--pace", "30s"])
    assert refused.value.code == 2 and "argument --pace: 30s is too fast" in capsys.readouterr().err
    assert cli.main([*args, "--service", "login", "--pace", "2m", "--as", "U0SAM"]) == 0
    assert "DRILL: INC-1 started on Login" in capsys.readouterr().out
    assert cli.main([*args, "--list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(d["incident"], d["service"], d["pace_s"], d["declared_by"]) for d in listed] == [("INC-1", "login", 120, "U0SAM")]


RAISED_CATALOG = """\
severities:
  - {id: sev1, label: "SEV1 · Critical", rank: 1}
  - {id: sev3, label: "SEV3 · Minor", rank: 3}
teams:
  payments:
    name: Payments
    timezone: Europe/London
    slack_channel: "#team-payments"
    escalation_policy: {default: payments, by_severity: {sev1: payments-critical}}
    drills: {never: [judy@example.com], pace: 2m}
  identity: {name: Identity, escalation_policy: identity}
services:
  - {id: bank-transfers, name: Bank transfers, owner: payments}
  - {id: login, name: Login, owner: identity}
schedules:
  payments-primary:
    timezone: Europe/London
    rotation: {members: [alice@example.com, bob@example.com], handoff: "0 9 * * MON", start: "2026-01-05T09:00"}
policies:
  payments:
    levels:
      - {targets: [{schedule: payments-primary}], escalate_after: 5m}
      - {targets: [{user: dana@example.com}], escalate_after: 5m}
  payments-critical:
    levels:
      - {targets: [{user: judy@example.com}], escalate_after: 30m}
      - {targets: [{user: dana@example.com}], escalate_after: 30m}
  identity:
    levels:
      - {targets: [{user: judy@example.com}], escalate_after: 5m}
"""


def _drill_in_process(tmp_path: Path) -> tuple[Any, Any, dict, datetime]:
    from app.store import Store

    path = tmp_path / "catalog.yaml"
    path.write_text(RAISED_CATALOG)
    catalog, store = load_catalog(path), Store(tmp_path / "ladder.db")
    now = datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)
    incident = drills.start(store, catalog, drills.DrillRequest("bank-transfers", "sev3", "USAM", operator=True), now).incident
    return catalog, store, incident, now


def test_raising_a_drills_severity_keeps_its_pace_and_never_reaches_the_people_never_drilled(tmp_path: Path) -> None:
    """The stricter policy's level 1 is judy, whom the team never drills: she is left out, and the pace stays 2m."""
    from app import worker
    from app.escalation import Snapshot

    catalog, store, incident, now = _drill_in_process(tmp_path)
    assert incidents.change_severity(store, catalog, incident["id"], "sev1", "USAM", now + timedelta(minutes=1)).changed
    snapshot = Snapshot.from_json(store.track(incident["id"], "main")["snapshot"])
    assert snapshot.root == "payments-critical" and [level.escalate_after for level in snapshot.policy().levels] == [120, 120]
    for minute in range(2, 8):
        worker.tick(store, catalog, now + timedelta(minutes=minute))
    assert "judy@example.com" not in {p["target"] for p in store.pages(incident["id"])}


def test_a_drill_never_escalates_to_another_team_or_a_person(tmp_path: Path) -> None:
    from app import additive

    catalog, store, incident, now = _drill_in_process(tmp_path)
    for to in ("person:judy@example.com", "team:identity"):
        outcome = additive.escalate(store, catalog, incident["id"], additive.EscalateRequest(to, "USAM"), now + timedelta(minutes=1))
        assert not outcome.changed and "tells nobody outside its channel" in outcome.message
    assert [p["track"] for p in store.pages(incident["id"])] == ["main"]
    outcome = additive.escalate(store, catalog, incident["id"], additive.EscalateRequest("next", "USAM"), now + timedelta(minutes=1))
    assert outcome.changed  # the next level of its own ladder is still one click away


def test_the_escalate_form_of_a_drill_offers_no_other_team(tmp_path: Path) -> None:
    from app import additive

    catalog, store, incident, now = _drill_in_process(tmp_path)
    next_level, teams = additive.escalate_choices(store, catalog, store.incident(incident["id"]), now)  # type: ignore[misc]
    assert next_level and next_level.startswith("Level 2") and teams == []


@pytest.mark.parametrize("flag, value, says", [
    ("--service", "nosuch", "unknown service 'nosuch'; known services: bank-transfers, login"),
    ("--service", "", "unknown service ''"),
    ("--pace", "30s", "30s is too fast: a drill's pace is at least 1m"),
    ("--pace", "59s", "59s is too fast"),
    ("--severity", "sev9", "unknown severity 'sev9'; known severities: sev1, sev3"),
])
def test_the_cli_refuses_a_wrong_value_naming_its_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                       flag: str, value: str, says: str) -> None:
    """A wrong command-line value is exit 2 naming the flag, like every other subcommand's; nothing is declared."""
    from app.store import Store

    (tmp_path / "catalog.yaml").write_text(RAISED_CATALOG)
    Store(tmp_path / "ladder.db").close()
    given = {"--service": "bank-transfers", flag: value}
    with pytest.raises(SystemExit) as refused:
        cli.main(["drill", "--db", str(tmp_path / "ladder.db"), "--catalog", str(tmp_path / "catalog.yaml"),
                  *[part for pair in given.items() for part in pair]])
    assert refused.value.code == 2
    assert f"argument {flag}: {says}" in capsys.readouterr().err
    assert Store(tmp_path / "ladder.db").drills(5) == []


def test_the_cli_answers_in_plain_text(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A terminal shows what it is given: no mrkdwn escaping, no emoji shortcode, a star in a name kept."""
    from app.store import Store

    (tmp_path / "catalog.yaml").write_text(RAISED_CATALOG.replace("name: Bank transfers", 'name: "Ledger <core> & *co*"'))
    Store(tmp_path / "ladder.db").close()
    assert cli.main(["drill", "--db", str(tmp_path / "ladder.db"), "--catalog", str(tmp_path / "catalog.yaml"),
                     "--service", "bank-transfers"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("DRILL: INC-1 started on Ledger <core> & *co* (team Payments, every level 2m)."), out
    assert "&lt;" not in out and "&amp;" not in out and ":test_tube:" not in out
