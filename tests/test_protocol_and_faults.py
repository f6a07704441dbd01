"""Slack's protocol at the edges: signatures, retries, double clicks, Slack failures, restarts."""

from __future__ import annotations

import json
import threading
import time

from app.runtime import Runtime
from tests.slack_driver import SlackDriver
from tests.support import START, Ladder, block_text, declare, ladder_settings, mrkdwn_strings, serve, summary_of


def test_bad_signature_is_rejected_without_running_a_listener(ladder: Ladder) -> None:
    reply = ladder.driver.slash("bank transfers failing", ladder.user("sam"), signature="v0=" + "0" * 64)
    assert reply.status == 401
    assert reply.json() == {"error": "invalid request"}
    assert not ladder.slack.calls_to("views.open")


def test_replayed_timestamp_older_than_five_minutes_is_rejected(ladder: Ladder) -> None:
    reply = ladder.driver.slash("bank transfers failing", ladder.user("sam"), timestamp=ladder.driver.now() - 301)
    assert reply.status == 401
    reply = ladder.driver.slash("bank transfers failing", ladder.user("sam"), timestamp=ladder.driver.now() - 290)
    assert reply.status == 200
    ladder.slack.wait_for(lambda: ladder.slack.calls_to("views.open"))
    assert len(ladder.slack.calls_to("views.open")) == 1


def test_command_text_containing_payload_still_opens_the_form(ladder: Ladder) -> None:
    # Bolt alone parses any form body containing "payload" as an interaction and answers 404.
    reply = ladder.driver.slash("card payload rejected", ladder.user("sam"))
    assert reply.status == 200
    view = ladder.driver.opened_view("declare_incident")
    title = next(b for b in view["blocks"] if b["block_id"] == "title")
    assert title["element"]["initial_value"] == "card payload rejected"


def test_double_click_on_acknowledge_records_one_acknowledgement(ladder: Ladder) -> None:
    incident, _, _ = declare(ladder)
    ladder.deliver()
    alice, bob = ladder.user("alice"), ladder.user("bob")
    page = ladder.slack.dm_with(alice)["messages"][0]
    assert ladder.driver.click(page, "incident_ack", alice).status == 200
    assert ladder.driver.click(page, "incident_ack", alice).status == 200
    summary = summary_of(ladder)
    assert ladder.driver.click(summary, "incident_ack", bob).status == 200
    answers = ladder.slack.wait_for(lambda: len(ladder.slack.responses) >= 2 and ladder.slack.responses)
    assert all("already acknowledged by" in a["body"]["text"] for a in answers)
    assert all(a["body"]["response_type"] == "ephemeral" for a in answers)
    acks = [e for e in ladder.runtime.store.timeline(incident["id"]) if e["kind"] == "acknowledged"]
    assert len(acks) == 1 and acks[0]["actor"] == alice
    ladder.deliver()
    channel = summary["channel"]
    assert sum("acknowledged INC-1" in m["text"] for m in ladder.slack.messages_in(channel)) == 1


def test_click_on_unknown_or_stale_incident_gets_an_explanation(ladder: Ladder) -> None:
    declare(ladder)
    ladder.deliver()
    summary = summary_of(ladder)
    forged = json.loads(json.dumps(summary))
    for block in forged["blocks"]:
        for element in block.get("elements", []):
            if element.get("action_id") == "incident_ack":
                element["value"] = "999"
    reply = ladder.driver.click(forged, "incident_ack", ladder.user("bob"))
    assert reply.status == 200
    answer = ladder.slack.wait_for(lambda: ladder.slack.responses)[-1]["body"]
    assert answer["response_type"] == "ephemeral" and "does not know" in answer["text"]

    # Resolve, then click the (stale) Resolve button of an old copy of the summary.
    ladder.driver.click(summary, "incident_resolve", ladder.user("bob"))
    ladder.driver.submit(ladder.driver.opened_view("resolve_incident"), ladder.user("bob"))
    reply = ladder.driver.click(summary, "incident_resolve", ladder.user("carol"))
    assert reply.status == 200
    answer = ladder.slack.wait_for(lambda: len(ladder.slack.responses) >= 2 and ladder.slack.responses)[-1]["body"]
    assert "already resolved" in answer["text"]
    reply = ladder.driver.click(summary, "incident_escalate", ladder.user("carol"))
    answer = ladder.slack.wait_for(lambda: len(ladder.slack.responses) >= 3 and ladder.slack.responses)[-1]["body"]
    assert "resolved" in answer["text"] and "nobody left to escalate" in answer["text"]


def test_user_text_is_escaped_so_it_pings_nobody(ladder: Ladder) -> None:
    hostile = "<!channel> bank transfers & <@U0BOSS> down"
    declare(ladder, "", title=hostile, service="bank-transfers", description="*ping* <!here> <https://evil.example|click>")
    ladder.deliver()
    channel = ladder.slack.incident_channels()[0]
    assert channel["name"] == "inc-1-channel-bank-transfers-u0boss-down"
    parsed = "\n".join(mrkdwn_strings(m) for c in ladder.slack.channels.values() for m in c["messages"])
    for raw in ("<!channel>", "<@U0BOSS>", "<!here>", "<https://evil"):
        assert raw not in parsed
    escaped = "&lt;!channel&gt; bank transfers &amp; &lt;@U0BOSS&gt; down"
    assert escaped in summary_of(ladder)["text"]
    assert escaped in block_text(ladder.slack.dm_with(ladder.user("alice"))["messages"][0])
    assert escaped in ladder.slack.channel_named("team-payments")["messages"][0]["text"]
    # The header is plain_text, which Slack never parses for mentions: the title reads as typed.
    assert summary_of(ladder)["blocks"][0]["text"]["text"] == f"INC-1 · {hostile}"


def test_rate_limited_channel_creation_is_delayed_not_lost(ladder: Ladder) -> None:
    ladder.slack.fail("conversations.create", status=429, retry_after=30)
    incident, _, _ = declare(ladder)
    results = ladder.deliver()
    # The page does not wait for the channel.
    assert ladder.slack.dm_with(ladder.user("alice"))["messages"]
    assert ladder.slack.incident_channels() == []
    row = next(r for r in ladder.runtime.store.outbox_rows(incident["id"]) if r["kind"] == "create_channel")
    assert row["status"] == "pending" and "Retry-After 30" in row["last_error"]
    assert any(r.outcome == "retry" for r in results)
    # Not before Retry-After has passed...
    ladder.clock.advance(seconds=29)
    ladder.deliver()
    assert len(ladder.slack.calls_to("conversations.create")) == 1
    # ...then exactly once, and everything that waited on it follows.
    ladder.clock.advance(seconds=2)
    ladder.deliver()
    assert len(ladder.slack.ok_calls_to("conversations.create")) == 1
    channel = ladder.slack.incident_channels()[0]
    assert channel["messages"] and channel["pins"]
    assert all(r["status"] == "sent" for r in ladder.runtime.store.outbox_rows(incident["id"]))


def test_server_errors_and_timeouts_are_retried_until_the_page_goes_out(ladder: Ladder) -> None:
    ladder.slack.fail("chat.postMessage", status=503, times=2)
    incident, _, _ = declare(ladder)
    ladder.deliver()
    for _ in range(6):
        ladder.clock.advance(minutes=10)
        ladder.deliver()
    assert ladder.slack.dm_with(ladder.user("alice"))["messages"]
    page = ladder.runtime.store.pages(incident["id"])[0]
    assert page["status"] == "sent"


def test_channel_name_taken_gets_a_suffix(ladder: Ladder) -> None:
    ladder.slack.add_channel("inc-1-bank-transfers-failing")
    declare(ladder)
    ladder.deliver()
    assert ladder.slack.channel_named("inc-1-bank-transfers-failing-2")["messages"]


def test_unknown_person_is_reported_not_silently_dropped(ladder: Ladder) -> None:
    ladder.slack.users = {k: v for k, v in ladder.slack.users.items() if v["name"] != "alice"}
    incident, _, _ = declare(ladder)
    ladder.deliver()
    page = ladder.runtime.store.pages(incident["id"])[0]
    assert page["status"] == "failed" and "users_not_found" in page["error"]
    channel = ladder.slack.incident_channels()[0]
    assert any("Could not page alice@example.com" in m["text"] for m in channel["messages"])
    assert any(e["kind"] == "delivery_failed" for e in ladder.runtime.store.timeline(incident["id"]))


def test_restart_between_commit_and_delivery_delivers_each_row_once(ladder: Ladder, tmp_path) -> None:
    incident, _, _ = declare(ladder)
    # The process stops before the worker sent anything.
    rows = ladder.runtime.store.outbox_rows(incident["id"])
    assert rows and all(r["status"] == "pending" for r in rows)
    ladder.runtime.close()

    restarted = Runtime(ladder_settings(ladder.slack, tmp_path / "ladder.db"))
    try:
        restarted.worker.drain(ladder.clock())
        restarted.worker.drain(ladder.clock())
        assert len(ladder.slack.ok_calls_to("conversations.create")) == 1
        assert len(ladder.slack.dm_with(ladder.user("alice"))["messages"]) == 1
        channel = ladder.slack.incident_channels()[0]
        assert len([m for m in channel["messages"] if m["blocks"] and "incident_resolve" in json.dumps(m["blocks"])]) == 1
        assert len(ladder.slack.ok_calls_to("pins.add")) == 1
        assert all(r["status"] == "sent" for r in restarted.store.outbox_rows(incident["id"]))
    finally:
        restarted.close()


def test_rows_claimed_by_a_dead_runner_are_resent_once(ladder: Ladder, tmp_path) -> None:
    incident, _, _ = declare(ladder)
    store = ladder.runtime.store
    claimed = store.claim_due(ladder.clock(), "crashed-runner", 100)
    assert claimed
    ladder.runtime.close()
    # The dead runner's lease expires; the next runner takes over its rows.
    ladder.clock.advance(seconds=15)
    restarted = Runtime(ladder_settings(ladder.slack, tmp_path / "ladder.db"))
    try:
        restarted.worker.drain(ladder.clock())
        assert len(ladder.slack.dm_with(ladder.user("alice"))["messages"]) == 1
        assert all(r["status"] == "sent" for r in restarted.store.outbox_rows(incident["id"]))
    finally:
        restarted.close()


def test_live_worker_pages_right_after_submission(slack, tmp_path, clock) -> None:
    """With the real background loop running, the page goes out without anyone calling drain."""
    runtime = Runtime(ladder_settings(slack, tmp_path / "live.db", TICK_SECONDS="30"))
    url, stop = serve(runtime)
    runtime.worker.start()
    try:
        driver = SlackDriver(url, slack)
        sam = slack.user_by_email("sam@example.com")
        driver.slash("login broken", sam)
        view = driver.opened_view("declare_incident")
        driver.submit(view, sam, {"severity": "sev1"})
        # TICK_SECONDS=30: only the wake-up after commit can explain a page within seconds.
        slack.wait_for(lambda: slack.incident_channels() and any(
            c["is_im"] and c["messages"] for c in slack.channels.values()), timeout=5)
    finally:
        stop()
        runtime.close()


def slack_on_ladders_clock(ladder: Ladder) -> None:
    """Slack's rate windows run on the scenario's clock, so a test moves both at once."""
    ladder.slack.clock = lambda: (ladder.clock() - START).total_seconds()


def assert_retry_after_respected(calls: list) -> None:
    """No call reached Slack before the Retry-After of the 429 before it had passed."""
    blocked_until = 0.0
    for call in sorted(calls, key=lambda c: c.at):
        assert call.at >= blocked_until, f"called at {call.at} s, Slack had said wait until {blocked_until} s"
        if call.status == 429:
            blocked_until = call.done_at + float(call.headers["Retry-After"])


def test_a_backlog_under_a_rate_tier_goes_out_at_slacks_pace_not_in_a_429_storm(ladder: Ladder) -> None:
    """conversations.create is Tier 2 (about 20 a minute): past the burst, Ladder learns the pace from Retry-After."""
    slack_on_ladders_clock(ladder)
    ladder.slack.rate_limit("conversations.create", per_minute=20, burst=2)
    for n in range(12):
        declare(ladder, "", title=f"Storm {n}", service="bank-transfers")
    ladder.deliver()
    assert [c.status for c in ladder.slack.calls_to("conversations.create")] == [200, 200, 429]
    assert len([c for c in ladder.slack.calls_to("chat.postMessage") if c.args["channel"].startswith("U")]) == 12  # pages never wait
    for _ in range(60):  # a minute, a second at a time
        ladder.clock.advance(seconds=1)
        ladder.deliver()
    assert len(ladder.slack.incident_channels()) == 12
    calls = ladder.slack.calls_to("conversations.create")
    assert_retry_after_respected(calls)
    # Without pacing every channel past the burst would earn its own 429 first (ten of them).
    assert [c.status for c in calls].count(429) <= 3, [c.status for c in calls]


def test_a_rate_limited_refresh_keeps_its_progress_instead_of_starting_over(ladder: Ladder) -> None:
    """Acknowledging updates the pinned summary and the page DM: two chat.update calls under one Tier-3 budget."""
    slack_on_ladders_clock(ladder)
    declare(ladder)
    ladder.deliver()
    alice = ladder.user("alice")
    # One chat.update a second, no burst: each retry can afford exactly one call. Starting the refresh
    # over would update the summary again each time and never reach the DM.
    ladder.slack.rate_limit("chat.update", per_minute=60, burst=1)
    before = len(ladder.slack.calls_to("chat.update"))
    ladder.driver.click(ladder.slack.dm_with(alice)["messages"][0], "incident_ack", alice)
    for _ in range(10):
        ladder.deliver()
        ladder.clock.advance(seconds=1)
    assert "incident_ack" not in block_text(summary_of(ladder))
    assert "incident_ack" not in block_text(ladder.slack.dm_with(alice)["messages"][0])
    updates = ladder.slack.calls_to("chat.update")[before:]
    assert_retry_after_respected(updates)
    assert sum(1 for c in updates if c.status == 200) == 2, "each message updated once"


def test_a_slow_catalog_reload_does_not_hold_back_a_page(slack, tmp_path) -> None:
    """A large catalog takes seconds to load; the reload runs beside the worker, so pages keep flowing meanwhile.

    Real time, not the frozen clock: what is measured is how long the running loop takes to page."""
    runtime = Runtime(ladder_settings(slack, tmp_path / "live.db", TICK_SECONDS="0.2"))
    slow, reloading = threading.Event(), threading.Event()

    def reload_check(now) -> None:
        if slow.is_set():
            reloading.set()
            time.sleep(3)  # what a 13 MB catalog cost when the reload ran on the worker's own thread

    runtime.worker.periodic = [reload_check]
    url, stop = serve(runtime)
    runtime.worker.start()
    try:
        driver = SlackDriver(url, slack)
        sam = slack.user_by_email("sam@example.com")
        driver.slash("login broken", sam)
        view = driver.opened_view("declare_incident")
        slow.set()
        assert reloading.wait(5)  # a reload is under way now
        driver.submit(view, sam, {"severity": "sev1"})
        submitted = time.monotonic()
        slack.wait_for(lambda: any(c["is_im"] and c["messages"] for c in slack.channels.values()), timeout=5)
        assert time.monotonic() - submitted < 1.5  # not after the reload's 3 s
    finally:
        slow.clear()
        stop()
        runtime.close()
