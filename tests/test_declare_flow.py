"""Declare -> channel + summary + DM page -> acknowledge -> change severity -> resolve, through Slack's protocol."""

from __future__ import annotations

from tests.conftest import Ladder


def declare(ladder: Ladder, text: str = "bank transfers failing", user: str = "sam", **inputs):
    reply = ladder.driver.slash(text, ladder.user(user))
    assert reply.status == 200, reply.body
    view = ladder.driver.opened_view("declare_incident")
    reply = ladder.driver.submit(view, ladder.user(user), inputs)
    assert reply.status == 200, reply.body
    ladder.slack.wait_for(lambda: ladder.runtime.store.incident_by_view(view["id"]))
    return view, reply


def test_declare_pages_on_call_and_opens_channel(ladder: Ladder) -> None:
    view, reply = declare(ladder, severity="sev1")
    assert reply.json()["response_action"] == "update"
    results = ladder.deliver()
    assert all(r.outcome == "sent" for r in results), results
    alice = ladder.user("alice")
    dm = ladder.slack.dm_with(alice)
    assert dm is not None and len(dm["messages"]) == 1
    channel = ladder.slack.channel_named("inc-1-bank-transfers-failing")
    assert channel is not None
    assert {ladder.user("sam"), alice} <= channel["members"]
    summary = channel["messages"][0]
    assert summary["ts"] in channel["pins"]
    assert "INC-1" in channel["topic"]
