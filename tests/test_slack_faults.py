"""Every Slack call on the declare path, failing each way Slack fails: nothing is lost, nothing is silent.

A transient failure (429 with Retry-After, 500, 503) only delays: after it the incident ends up
complete (page, channel, members, topic, pinned summary, announcement) with each side effect once.
A permanent error (not_in_channel, channel_not_found, user_not_found, is_archived) is never
dropped silently: the row fails, the timeline says what, and a failed page is posted where people look.
"""

from __future__ import annotations

import json

import pytest

from tests.conftest import Ladder
from tests.test_declare_flow import declare

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
TRANSIENT = [{"status": 429, "retry_after": 7}, {"status": 500}, {"status": 503}]
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


@pytest.mark.parametrize("fault", TRANSIENT, ids=lambda f: str(f["status"]))
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
