"""Every Slack call on the declare path, failing each way Slack fails: nothing is lost, nothing is silent.

A transient failure (429 with Retry-After, 500, 503, an answer that times out after Slack acted,
Slack unreachable) only delays: after it the incident ends up complete (page, channel, members,
topic, pinned summary, announcement) with each side effect once. A permanent error
(not_in_channel, channel_not_found, user_not_found, is_archived) is never dropped silently: the
row fails, the timeline says what, and a failed page is posted where people look.
"""

from __future__ import annotations

import json

import pytest

from app.runtime import Runtime
from app.slack.delivery import MAX_BACKOFF_SECONDS
from tests.support import Ladder, declare, ladder_settings
from tests.tcp_switch import TcpSwitch

CALLS = {
    "users.lookupByEmail": None,
    "chat.postMessage (page)": lambda args: str(args.get("channel", "")).startswith("U"),
    "conversations.create": None,
    "conversations.invite": None,
    "conversations.setTopic": None,
    "chat.postMessage (summary)": lambda args: str(args.get("channel", "")).startswith("C") and bool(args.get("blocks")),
    "pins.add": None,
    "chat.postMessage (announcement)": lambda args: args.get("channel") == "#team-payments",
}
# "timeout": Slack does what was asked, but its answer comes after the client stopped waiting (SLACK_TIMEOUT=1):
# the retry must find what the first attempt did instead of doing it twice.
TRANSIENT = [{"status": 429, "retry_after": 7}, {"status": 500}, {"status": 503}, {"hold": 1.5}]
PERMANENT = ["not_in_channel", "channel_not_found", "user_not_found", "is_archived"]


def inject(ladder: Ladder, call: str, **fault) -> None:
    method = call.split(" ")[0]
    ladder.slack.fail(method, match=CALLS[call], **fault)


def settle(ladder: Ladder, minutes: int = 10) -> None:
    for _ in range(minutes * 2):
        ladder.deliver()
        ladder.clock.advance(seconds=30)


def assert_complete(ladder: Ladder, incident_id: int) -> None:
    alice = ladder.user("alice")
    assert len(ladder.slack.dm_with(alice)["messages"]) == 1, "the page arrived exactly once"
    channels = ladder.slack.incident_channels()
    assert len(channels) == 1
    channel = channels[0]
    assert {ladder.user("sam"), alice} <= channel["members"]
    assert channel["topic"].startswith("INC-1")
    summaries = [m for m in channel["messages"] if m["blocks"] and "incident_resolve" in json.dumps(m["blocks"])]
    assert len(summaries) == 1 and summaries[0]["ts"] in channel["pins"]
    assert len(ladder.slack.channel_named("team-payments")["messages"]) == 1
    rows = ladder.runtime.store.outbox_rows(incident_id)
    assert all(r["status"] == "sent" for r in rows), [(r["kind"], r["status"], r["last_error"]) for r in rows if r["status"] != "sent"]


@pytest.fixture
def ladder_env() -> dict[str, str]:
    return {"SLACK_TIMEOUT": "1"}


@pytest.mark.parametrize("fault", TRANSIENT, ids=lambda f: str(f.get("status", "timeout")))
@pytest.mark.parametrize("call", list(CALLS))
def test_a_transient_failure_only_delays(ladder: Ladder, call: str, fault: dict) -> None:
    inject(ladder, call, **fault)
    incident, _, _ = declare(ladder)
    settle(ladder)
    assert_complete(ladder, incident["id"])


@pytest.mark.parametrize("error", PERMANENT)
@pytest.mark.parametrize("call", list(CALLS))
def test_a_permanent_error_is_never_silent(ladder: Ladder, call: str, error: str) -> None:
    inject(ladder, call, error=error)
    incident, _, _ = declare(ladder)
    settle(ladder)
    store = ladder.runtime.store
    rows = store.outbox_rows(incident["id"])
    failed = [r for r in rows if r["status"] == "failed"]
    timeline = store.timeline(incident["id"])
    assert all(r["status"] in ("sent", "failed") for r in rows), "nothing is left hanging"
    if failed:
        # Whatever could not be done is on the timeline, by name.
        assert sum(1 for e in timeline if e["kind"] == "delivery_failed") >= len(failed)
    page = store.pages(incident["id"])[0]
    if page["status"] == "failed":
        # A page that did not go out is said out loud in the incident channel.
        channel = ladder.slack.incident_channels()
        assert channel and any("Could not page alice@example.com" in m["text"] for m in channel[0]["messages"])
    else:
        assert page["status"] == "sent" and len(ladder.slack.dm_with(ladder.user("alice"))["messages"]) == 1


def test_slack_unreachable_then_back_delivers_everything_once(ladder: Ladder, tmp_path) -> None:
    """Connection refused on every call (Slack or the proxy on the way is down) for four minutes, then it is back."""
    switch = TcpSwitch(ladder.slack.port).on()
    # A second runtime on the same database talks to Slack through the switch; the first only serves the forms.
    cut_off = Runtime(ladder_settings(ladder.slack, tmp_path / "ladder.db", SLACK_API_URL=switch.url(), SLACK_TIMEOUT="1"))
    switch.off()
    try:
        incident, _, _ = declare(ladder)
        for _ in range(8):  # within level 1's five minutes: nobody else is due a page meanwhile
            cut_off.worker.drain(ladder.clock())
            ladder.clock.advance(seconds=30)
        rows = cut_off.store.outbox_rows(incident["id"])
        assert ladder.slack.calls_to("chat.postMessage") == [] and ladder.slack.calls_to("conversations.create") == []
        assert {r["kind"]: r["status"] for r in rows if r["kind"] in ("page", "create_channel")} == {"page": "pending", "create_channel": "pending"}
        page_row = next(r for r in rows if r["kind"] == "page")
        assert "could not reach Slack" in page_row["last_error"]
        # The page has been failing for minutes: that is said where people look, as soon as Slack can be reached.
        switch.on()
        # Each row waits out its own jittered back-off (up to 1.25 x the cap): drain every 30 s until all went out.
        for _ in range(int(MAX_BACKOFF_SECONDS * 1.25 / 30) + 2):
            cut_off.worker.drain(ladder.clock())
            if all(r["status"] == "sent" for r in cut_off.store.outbox_rows(incident["id"])):
                break
            ladder.clock.advance(seconds=30)
        assert len(ladder.slack.dm_with(ladder.user("alice"))["messages"]) == 1, "the page arrived exactly once"
        channels = ladder.slack.incident_channels()
        assert len(channels) == 1 and channels[0]["pins"]
        rows = cut_off.store.outbox_rows(incident["id"])
        assert all(r["status"] == "sent" for r in rows), [(r["kind"], r["status"]) for r in rows if r["status"] != "sent"]
        # The page had been failing for minutes: once Slack is back, the channel and the team are told it was late.
        assert any("has not gone out" in m["text"] for m in channels[0]["messages"])
        team = [m["text"] for m in ladder.slack.channel_named("team-payments")["messages"]]
        assert len(team) == 2 and sum("has not gone out" in t for t in team) == 1, team
        assert "connection refused" in next(t for t in team if "has not gone out" in t)
    finally:
        switch.off()
        cut_off.close()
