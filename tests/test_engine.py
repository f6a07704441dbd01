"""The escalation engine through Slack's protocol, with time moved by freezegun and `tick(now)` called directly.

Each test declares through signed requests into the real Bolt app, moves the frozen clock, calls the
worker's step (engine tick + outbox delivery) and asserts on what the Slack stand-in received.
"""

from __future__ import annotations

import json
from typing import Iterator

import pytest

from app.worker import tick, utcnow
from tests.support import Clock, Engine, block_text, declare, start_engine, summary_of


@pytest.fixture
def engine(slack, tmp_path, clock: Clock) -> Iterator[Engine]:
    ladder, close = start_engine(slack, tmp_path, clock)
    yield ladder
    close()


def test_an_unanswered_page_climbs_repeats_and_is_exhausted_on_time(engine: Engine) -> None:
    incident, _, _ = declare(engine, "bank transfers failing", severity="sev2")
    engine.deliver()
    assert len(engine.dms("alice")) == 1
    line = block_text(summary_of(engine))
    assert "escalates to level 2 (dana@example.com) at" in line  # the summary says what happens next, and when
    engine.at(minutes=4, seconds=59)
    assert engine.dms("dana") == []
    engine.at(seconds=1)  # due now: fires within this tick
    assert len(engine.dms("dana")) == 1
    engine.at(minutes=10)  # end of the policy: repeat 1 of 1, back to level 1
    assert len(engine.dms("alice")) == 2
    engine.at(minutes=5)
    assert len(engine.dms("dana")) == 2
    engine.at(minutes=10)  # repeats used up: exhausted, and the channel is told with an Escalate button
    kinds = [e["kind"] for e in engine.timeline(incident["id"])]
    assert kinds.count("level_paged") == 4 and kinds.count("repeat") == 1 and kinds.count("exhausted") == 1
    exhausted = next(m for m in engine.slack.messages_in(engine.slack.incident_channels()[0]["id"]) if "exhausted" in m["text"])
    engine.driver.find_element(exhausted, "incident_escalate")
    assert "exhausted: nobody acknowledged" in block_text(summary_of(engine))
    engine.at(hours=2)
    assert len(engine.dms("alice")) == 2 and len(engine.dms("dana")) == 2  # nothing after exhaustion


def test_acknowledgement_stops_the_clock(engine: Engine) -> None:
    incident, _, _ = declare(engine)
    engine.deliver()
    engine.at(minutes=1)
    engine.driver.click(engine.dms("alice")[0], "incident_ack", engine.user("alice"))
    engine.slack.wait_for(lambda: engine.runtime.store.incident(incident["id"])["status"] == "acknowledged")
    engine.at(minutes=20)
    assert engine.dms("dana") == []
    assert engine.runtime.store.track(incident["id"])["state"] == "acked"  # the payments policy has an ack timeout


def test_a_level_with_nobody_on_call_is_skipped_at_once_and_the_timeline_says_why(slack, tmp_path, clock: Clock) -> None:
    clock.move_to("2026-11-28 03:00:00")  # Saturday night: the office schedule has nobody
    engine, close = start_engine(slack, tmp_path, clock)
    try:
        incident, _, _ = declare(engine, "", title="Intranet down", service="intranet")
        engine.deliver()
        assert len(engine.dms("oscar")) == 1 and engine.dms("heidi") == []
        texts = [e["text"] for e in engine.timeline(incident["id"])]
        assert any("nobody is on call for office: layer 1 only covers Mon–Fri 09:00–17:00 UTC" in t for t in texts)
        assert any(t.startswith("Skipped level 1") for t in texts)
    finally:
        close()


def test_a_level_that_waits_pages_the_next_level_after_its_timeout(slack, tmp_path, clock: Clock) -> None:
    clock.move_to("2026-11-28 03:00:00")
    engine, close = start_engine(slack, tmp_path, clock)
    try:
        incident, _, _ = declare(engine, "", title="Printers on fire", service="printers")
        engine.deliver()
        assert engine.dms("oscar") == []
        assert "nobody on call at this level" in block_text(summary_of(engine))
        engine.at(minutes=5)
        assert len(engine.dms("oscar")) == 1
        assert any(e["kind"] == "level_waiting" for e in engine.timeline(incident["id"]))
    finally:
        close()


def test_ack_timeout_is_announced_then_rearms_the_ladder(engine: Engine) -> None:
    incident, _, _ = declare(engine)
    engine.deliver()
    engine.driver.click(engine.dms("alice")[0], "incident_ack", engine.user("alice"))
    engine.slack.wait_for(lambda: engine.runtime.store.incident(incident["id"])["status"] == "acknowledged")
    engine.deliver()
    assert any("the ladder re-arms" in t for t in engine.channel_texts())
    engine.at(minutes=30)  # ack timeout: announced first, with Still on it
    notice = next(m for m in engine.slack.messages_in(engine.slack.incident_channels()[0]["id"]) if ":hourglass:" in m["text"])
    engine.driver.find_element(notice, "incident_still_on_it")
    assert len(engine.dms("alice")) == 1
    engine.at(minutes=5)  # nobody said "still on it": re-armed, triggered again, level 1 paged again
    assert engine.runtime.store.incident(incident["id"])["status"] == "triggered"
    assert len(engine.dms("alice")) == 2
    assert any("re-armed" in t for t in engine.channel_texts())
    engine.at(minutes=5)
    assert len(engine.dms("dana")) == 1  # and it climbs again


def test_still_on_it_keeps_the_ladder_quiet(engine: Engine) -> None:
    incident, _, _ = declare(engine)
    engine.deliver()
    engine.driver.click(engine.dms("alice")[0], "incident_ack", engine.user("alice"))
    engine.slack.wait_for(lambda: engine.runtime.store.incident(incident["id"])["status"] == "acknowledged")
    engine.at(minutes=30)
    notice = next(m for m in engine.slack.messages_in(engine.slack.incident_channels()[0]["id"]) if ":hourglass:" in m["text"])
    engine.driver.click(notice, "incident_still_on_it", engine.user("alice"))
    engine.slack.wait_for(lambda: engine.runtime.store.track(incident["id"])["state"] == "acked")
    engine.at(minutes=6)
    assert engine.runtime.store.incident(incident["id"])["status"] == "acknowledged"
    assert len(engine.dms("alice")) == 1
    assert any(e["kind"] == "still_on_it" and e["actor"] == engine.user("alice") for e in engine.timeline(incident["id"]))


def open_escalate_form(engine: Engine, user: str) -> dict:
    opened = len(engine.slack.ok_calls_to("views.open"))
    engine.driver.click(summary_of(engine), "incident_escalate", engine.user(user))
    return engine.driver.opened_view("escalate_incident", after=opened)


def test_additive_escalation_to_another_team_runs_their_ladder_and_keeps_the_owner(engine: Engine) -> None:
    incident, _, _ = declare(engine)
    engine.deliver()
    alice, frank = engine.user("alice"), engine.user("frank")
    engine.driver.click(engine.dms("alice")[0], "incident_ack", alice)
    engine.slack.wait_for(lambda: engine.runtime.store.incident(incident["id"])["status"] == "acknowledged")
    engine.deliver()
    view = open_escalate_form(engine, "alice")
    # Picking "another team" without a team gets an inline error on that field.
    reply = engine.driver.submit(view, alice, {"to": "team"})
    assert reply.json() == {"response_action": "errors", "errors": {"team": "Pick the team to page."}}
    reply = engine.driver.submit(view, alice, {"to": "team", "team": "identity", "reason": "login tokens look broken"})
    assert reply.status == 200 and reply.body == ""
    engine.deliver()
    assert len(engine.dms("frank")) == 1  # Identity's on-call, through Identity's policy
    current = engine.runtime.store.incident(incident["id"])
    assert current["status"] == "acknowledged" and current["acknowledged_by"] == alice
    summary = block_text(summary_of(engine))
    assert "*Identity* (escalated by <@" in summary and "login tokens look broken" in summary
    assert "escalates to level 2 (judy@example.com)" in summary
    # Identity's ladder climbs on its own while nobody there acknowledges...
    engine.at(minutes=5)
    assert len(engine.dms("judy")) == 1
    # ...until someone on it acknowledges their page: alice still owns the incident.
    engine.driver.click(engine.dms("frank")[0], "incident_ack", frank)
    answer = engine.slack.wait_for(lambda: [r for r in engine.slack.responses if "owns the incident" in r["body"].get("text", "")])
    assert answer[0]["body"]["response_type"] == "ephemeral"
    engine.deliver()
    assert engine.runtime.store.incident(incident["id"])["acknowledged_by"] == alice
    assert f"acknowledged by <@{frank}>" in block_text(summary_of(engine))
    engine.at(minutes=30)
    assert len(engine.dms("judy")) == 1


def test_escalating_to_a_person_who_does_not_answer_tells_the_channel(engine: Engine) -> None:
    declare(engine)
    engine.deliver()
    quinn = engine.slack.add_user("quinn", "quinn@example.com")
    view = open_escalate_form(engine, "bob")
    engine.driver.submit(view, engine.user("bob"), {"to": "person", "person": quinn, "reason": "she wrote the ledger"})
    engine.deliver()
    assert engine.slack.dm_with(quinn)["messages"]
    engine.at(minutes=10)
    assert any("Nobody acknowledged INC-1 (<@" in t for t in engine.channel_texts())


def test_escalate_after_resolve_is_refused_with_a_message(engine: Engine) -> None:
    declare(engine)
    engine.deliver()
    view = open_escalate_form(engine, "bob")
    engine.driver.click(summary_of(engine), "incident_resolve", engine.user("bob"))
    engine.driver.submit(engine.driver.opened_view("resolve_incident"), engine.user("bob"))
    reply = engine.driver.submit(view, engine.user("bob"), {"to": "next"})
    assert "is resolved; there is nobody left to escalate to" in reply.body
    engine.at(hours=1)
    assert engine.dms("dana") == []  # resolution stopped the ladder too


def test_incident_escalate_command_in_the_incident_channel(engine: Engine) -> None:
    declare(engine)
    engine.deliver()
    channel = engine.slack.incident_channels()[0]["id"]
    reply = engine.driver.slash("escalate", engine.user("bob"), channel_id=channel)
    assert reply.status == 200
    view = engine.driver.opened_view("escalate_incident")
    assert view["private_metadata"]
    reply = engine.driver.slash("escalate", engine.user("bob"), channel_id="C0GENERAL1")
    assert "in an incident's channel" in reply.body


def test_raising_severity_switches_to_the_stricter_policy_visibly(engine: Engine) -> None:
    incident, _, _ = declare(engine, severity="sev2")
    engine.deliver()
    engine.driver.click(summary_of(engine), "incident_severity", engine.user("bob"), option_value="sev1")
    engine.slack.wait_for(lambda: engine.runtime.store.incident(incident["id"])["severity"] == "sev1")
    engine.deliver()
    assert len(engine.dms("mallory")) == 1  # level 1 of payments-critical, at once
    assert any("switched to the *payments-critical* policy" in t for t in engine.channel_texts())
    assert any(e["kind"] == "policy_switched" for e in engine.timeline(incident["id"]))
    engine.at(minutes=5)
    assert len(engine.dms("judy")) == 1 and len(engine.dms("dana")) == 1  # its level 2
    assert len(engine.dms("alice")) == 1  # the old ladder does not go on beside it


def test_an_overdue_escalation_fires_once_late_after_a_restart(slack, tmp_path, clock: Clock) -> None:
    engine, close = start_engine(slack, tmp_path, clock)
    incident, _, _ = declare(engine)
    engine.deliver()
    close()  # Ladder is down...
    clock.advance(minutes=12)  # ...for 12 minutes; level 2 was due 7 minutes ago
    engine, close = start_engine(slack, tmp_path, clock)
    try:
        engine.deliver()
        assert len(engine.dms("dana")) == 1
        late = [e for e in engine.timeline(incident["id"]) if e["kind"] == "late"]
        assert len(late) == 1 and "fired 7m late" in late[0]["text"] and json.loads(late[0]["data"])["late_by_s"] == 420
        engine.deliver()
        engine.at(seconds=1)
        assert len(engine.dms("dana")) == 1  # once
    finally:
        close()


def test_a_failing_page_is_retried_reported_and_finally_delivered(slack, tmp_path, clock: Clock) -> None:
    engine, close = start_engine(slack, tmp_path, clock, PAGE_ALERT_AFTER="120")
    try:
        slack.fail("chat.postMessage", status=503, times=1000, match=lambda args: str(args.get("channel", "")).startswith("U"))
        incident, _, _ = declare(engine)
        engine.deliver()
        assert engine.dms("alice") == []
        for _ in range(6):
            engine.at(seconds=30)
        stuck = [t for t in engine.channel_texts() if "has not gone out" in t]
        assert len(stuck) == 1 and "alice@example.com" in stuck[0]
        assert any("has not gone out" in m["text"] for m in slack.channel_named("team-payments")["messages"])
        slack.heal()
        engine.at(minutes=5)
        assert len(engine.dms("alice")) == 1
        assert engine.runtime.store.pages(incident["id"])[0]["status"] == "sent"
    finally:
        close()


def test_a_tick_with_nothing_due_writes_nothing(engine: Engine) -> None:
    declare(engine)
    engine.deliver()
    store = engine.runtime.store
    before = store.conn.total_changes
    report = tick(store, engine.runtime.catalog, utcnow())
    assert report.fired == 0 and store.conn.total_changes == before


def test_two_ladders_reaching_the_same_person_in_the_same_minute_page_once(engine: Engine) -> None:
    incident, _, _ = declare(engine)
    engine.deliver()
    view = open_escalate_form(engine, "bob")
    engine.driver.submit(view, engine.user("bob"), {"to": "person", "person": engine.user("alice")})
    engine.slack.wait_for(lambda: any(e["kind"] == "page_merged" for e in engine.timeline(incident["id"])))
    engine.deliver()
    assert len(engine.dms("alice")) == 1
    assert "(already paged)" in block_text(summary_of(engine))
    engine.at(minutes=5)
    engine.at(minutes=10)  # the main ladder repeats: a page minutes later is a new page
    assert len(engine.dms("alice")) == 2
    engine.driver.click(engine.dms("alice")[0], "incident_ack", engine.user("alice"))
    engine.slack.wait_for(lambda: engine.runtime.store.incident(incident["id"])["status"] == "acknowledged")
    person = next(t for t in engine.runtime.store.tracks(incident["id"]) if t["track"].startswith("person:"))
    assert person["state"] == "stopped"  # her acknowledgement covers the merged page's ladder too
