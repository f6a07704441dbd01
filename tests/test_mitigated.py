"""Mitigated: the containment step of the incident clock, between acknowledged and resolved, through Slack's protocol."""

from __future__ import annotations

import json
from typing import Iterator

import pytest

from tests.support import Clock, Engine, block_text, declare, start_engine, summary_of


@pytest.fixture
def engine(slack, tmp_path, clock: Clock) -> Iterator[Engine]:
    ladder, close = start_engine(slack, tmp_path, clock)
    yield ladder
    close()


def _kinds(engine: Engine, incident_id: int) -> list[str]:
    return [e["kind"] for e in engine.timeline(incident_id)]


def test_mitigating_an_acknowledged_incident_stops_the_ack_timeout_and_shows_on_the_summary(engine: Engine) -> None:
    incident, _, _ = declare(engine, severity="sev2")  # the payments policy re-arms 30 min after an acknowledgement
    engine.deliver()
    alice, bob = engine.user("alice"), engine.user("bob")
    engine.at(minutes=2)
    engine.driver.click(engine.dms("alice")[0], "incident_ack", alice)
    engine.slack.wait_for(lambda: engine.runtime.store.incident(incident["id"])["status"] == "acknowledged")
    engine.at(minutes=1)
    summary = summary_of(engine)
    engine.driver.find_element(summary, "incident_mitigate")  # offered once someone owns it
    assert engine.driver.click(summary, "incident_mitigate", bob).status == 200
    engine.slack.wait_for(lambda: engine.runtime.store.incident(incident["id"])["status"] == "mitigated")
    engine.at(seconds=1)

    summary = summary_of(engine)
    assert ":large_yellow_circle: Mitigated" in block_text(summary)
    assert f"*Mitigated*\\n<@{bob}>" in block_text(summary)
    assert "incident_mitigate" not in block_text(summary)  # no second Mitigated button
    engine.driver.find_element(summary, "incident_resolve")  # resolving is still one click away
    assert any("marked INC-1 *mitigated*" in t for t in engine.channel_texts())
    entry = next(e for e in engine.timeline(incident["id"]) if e["kind"] == "mitigated")
    assert entry["actor"] == bob and json.loads(entry["data"]) == {"seconds_to_mitigate": 180}

    engine.at(hours=2)  # long past the 30-minute ack timeout: mitigated never re-arms or pages anyone again
    assert engine.dms("dana") == [] and len(engine.dms("alice")) == 1
    assert "rearmed" not in _kinds(engine, incident["id"])


def test_mitigating_before_anyone_acknowledged_acknowledges_it_and_no_level_pages_after(engine: Engine) -> None:
    incident, _, _ = declare(engine, severity="sev2")
    engine.deliver()
    bob = engine.user("bob")
    engine.at(minutes=1)
    engine.driver.click(summary_of(engine), "incident_mitigate", bob)
    engine.slack.wait_for(lambda: engine.runtime.store.incident(incident["id"])["status"] == "mitigated")
    row = engine.runtime.store.incident(incident["id"])
    assert row["acknowledged_by"] == bob and row["mitigated_by"] == bob
    engine.at(minutes=30)
    assert engine.dms("dana") == []  # level 2 was due at 5 minutes
    assert _kinds(engine, incident["id"]).count("acknowledged") == 1
    # The page DM no longer asks anyone to acknowledge.
    assert "incident_ack" not in block_text(engine.dms("alice")[0])


def test_mitigating_twice_or_after_resolving_changes_nothing_and_says_so(engine: Engine) -> None:
    incident, _, _ = declare(engine, severity="sev2")
    engine.deliver()
    bob, alice = engine.user("bob"), engine.user("alice")
    summary = summary_of(engine)
    engine.driver.click(summary, "incident_mitigate", bob)
    engine.slack.wait_for(lambda: engine.runtime.store.incident(incident["id"])["status"] == "mitigated")
    engine.driver.click(summary, "incident_mitigate", alice)  # an old copy of the summary, still showing the button
    reply = engine.slack.wait_for(lambda: [r for r in engine.slack.responses if "already mitigated" in json.dumps(r)])
    assert f"<@{bob}>" in json.dumps(reply[-1])
    assert _kinds(engine, incident["id"]).count("mitigated") == 1
