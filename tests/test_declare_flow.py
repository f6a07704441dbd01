"""Declare -> channel + summary + DM page -> acknowledge -> change severity -> resolve, through Slack's protocol."""

from __future__ import annotations

import json

from tests.support import Ladder, block_text, declare, summary_of


def test_the_whole_life_of_an_incident(ladder: Ladder) -> None:
    slack, driver = ladder.slack, ladder.driver
    sam, alice, bob = ladder.user("sam"), ladder.user("alice"), ladder.user("bob")

    # /incident <text> opens the modal pre-filled: title from the text, service routed from it.
    incident, view, reply = declare(ladder, "bank transfers failing", severity="sev2", description="Payouts stuck since 09:50")
    title_block = next(b for b in view["blocks"] if b["block_id"] == "title")
    service_block = next(b for b in view["blocks"] if b["block_id"] == "service")
    assert title_block["element"]["initial_value"] == "bank transfers failing"
    assert service_block["element"]["initial_option"]["value"] == "bank-transfers"
    # The incident was recorded before Slack got its answer, and the answer is the result: no extra Slack call.
    assert "INC-1" in json.dumps(reply.json()["view"])
    assert not [c for c in slack.calls_to("views.update") if c.args["view_id"] == view["id"]]

    ladder.deliver()

    # The owning team's on-call (alice, payments-primary) is paged by DM with an Acknowledge button.
    dm = slack.dm_with(alice)
    page = dm["messages"][0]
    assert "INC-1" in page["text"] and "Bank transfers" in block_text(page)
    driver.find_element(page, "incident_ack")
    # The dedicated channel: named by Slack's rules, topic, declarer and paged people invited, summary pinned.
    channel = slack.channel_named("inc-1-bank-transfers-failing")
    assert {sam, alice} <= channel["members"]
    assert channel["topic"].startswith("INC-1 · SEV2 · Major · Bank transfers")
    summary = channel["messages"][0]
    assert summary["ts"] in channel["pins"]
    for action in ("incident_ack", "incident_escalate", "incident_severity", "incident_resolve"):
        driver.find_element(summary, action)
    assert "Payouts stuck since 09:50" in block_text(summary)
    assert f"Level 1 of 2: <@{alice}> paged" in block_text(summary)
    # The page DM got the channel link once the channel existed.
    assert f"<#{channel['id']}>" in block_text(slack.dm_with(alice)["messages"][0])
    # The team channel gets a one-line announcement linking the incident channel.
    team = slack.channel_named("team-payments")
    assert f"<#{channel['id']}>" in team["messages"][0]["text"]

    # Acknowledge from the DM: recorded, summary updated in place, channel told.
    reply = driver.click(slack.dm_with(alice)["messages"][0], "incident_ack", alice)
    assert reply.status == 200
    slack.wait_for(lambda: ladder.runtime.store.incident(incident["id"])["status"] == "acknowledged")
    ladder.deliver()
    summary = slack.messages_in(channel["id"])[0]
    assert ":large_orange_circle: Acknowledged" in block_text(summary)
    assert f"<@{alice}>" in block_text(summary)
    assert summary["edits"] >= 1
    assert any("acknowledged INC-1" in m["text"] for m in slack.messages_in(channel["id"]))
    assert "incident_ack" not in block_text(summary)  # no Acknowledge button once acknowledged

    # Change severity with the select on the summary.
    reply = driver.click(summary, "incident_severity", bob, option_value="sev1")
    assert reply.status == 200
    slack.wait_for(lambda: ladder.runtime.store.incident(incident["id"])["severity"] == "sev1")
    ladder.deliver()
    summary = slack.messages_in(channel["id"])[0]
    assert "SEV1 · Critical" in block_text(summary)
    assert any("from SEV2 · Major to *SEV1 · Critical*" in m["text"] for m in slack.messages_in(channel["id"]))
    change = next(e for e in ladder.runtime.store.timeline(incident["id"]) if e["kind"] == "severity_changed")
    assert json.loads(change["data"]) == {"from": "sev2", "to": "sev1"} and change["actor"] == bob

    # Resolve: a modal with an optional note; the resolution is posted and the summary shows it.
    driver.click(summary, "incident_resolve", bob)
    resolve_view = driver.opened_view("resolve_incident")
    reply = driver.submit(resolve_view, bob, {"note": "Rolled back the payout batcher"})
    assert reply.status == 200 and reply.body == ""
    ladder.deliver()
    messages = slack.messages_in(channel["id"])
    resolution = next(m for m in messages if "resolved INC-1" in block_text(m))
    assert "Rolled back the payout batcher" in block_text(resolution)
    summary = messages[0]
    assert ":large_green_circle: Resolved" in block_text(summary)
    assert "incident_resolve" not in block_text(summary)
    assert "Resolved by" in block_text(slack.dm_with(alice)["messages"][0])

    # Every step is on the timeline, with who did it.
    kinds = [e["kind"] for e in ladder.runtime.store.timeline(incident["id"])]
    for kind in ("declared", "level_paged", "paged", "channel_created", "acknowledged", "severity_changed", "resolved"):
        assert kind in kinds, kinds


def test_page_goes_out_before_channel_creation_finishes(ladder: Ladder) -> None:
    ladder.slack.slow("conversations.create", 1.0)
    declare(ladder)
    ladder.deliver()
    page = next(c for c in ladder.slack.ok_calls_to("chat.postMessage") if c.args["channel"].startswith("U"))
    create = ladder.slack.ok_calls_to("conversations.create")[0]
    assert page.done_at < create.done_at


def test_help_is_ephemeral_usage(ladder: Ladder) -> None:
    reply = ladder.driver.slash("help", ladder.user("sam"))
    assert reply.status == 200
    assert "/incident <what is broken>" in reply.body
    assert not ladder.slack.calls_to("views.open")


def test_ambiguous_text_preselects_nothing(ladder: Ladder) -> None:
    ladder.driver.slash("something is weird", ladder.user("sam"))
    view = ladder.driver.opened_view("declare_incident")
    service = next(b for b in view["blocks"] if b["block_id"] == "service")
    assert "initial_option" not in service["element"]
    title = next(b for b in view["blocks"] if b["block_id"] == "title")
    assert title["element"]["initial_value"] == "something is weird"


def test_inline_errors_on_the_offending_fields(ladder: Ladder) -> None:
    ladder.driver.slash("", ladder.user("sam"))
    view = ladder.driver.opened_view("declare_incident")
    reply = ladder.driver.submit(view, ladder.user("sam"), {"title": "   ", "service": None})
    errors = reply.json()
    assert errors["response_action"] == "errors"
    assert set(errors["errors"]) == {"title", "service"}
    reply = ladder.driver.submit(view, ladder.user("sam"), {"title": "x" * 121, "service": "login"})
    assert set(reply.json()["errors"]) == {"title"}
    assert "under 120 characters" in reply.json()["errors"]["title"]
    assert ladder.runtime.store.incident_by_number(1) is None


def test_private_incident_gets_private_channel_and_no_announcement(ladder: Ladder) -> None:
    declare(ladder, "bank transfers failing", private=["private"])
    ladder.deliver()
    channel = ladder.slack.incident_channels()[0]
    assert channel["is_private"]
    assert ladder.slack.channel_named("team-payments")["messages"] == []


def test_escalate_pages_the_next_level_without_taking_the_incident(ladder: Ladder) -> None:
    incident, _, _ = declare(ladder)
    ladder.deliver()
    alice, dana = ladder.user("alice"), ladder.user("dana")
    ladder.driver.click(ladder.slack.dm_with(alice)["messages"][0], "incident_ack", alice)
    ladder.slack.wait_for(lambda: ladder.runtime.store.incident(incident["id"])["status"] == "acknowledged")
    ladder.deliver()
    ladder.driver.click(summary_of(ladder), "incident_escalate", alice)
    view = ladder.driver.opened_view("escalate_incident")
    assert "dana@example.com" in json.dumps(view["blocks"])  # the form says who will be paged
    reply = ladder.driver.submit(view, alice, {"reason": "need ledger access <!channel>"})
    assert reply.status == 200 and reply.body == ""
    ladder.deliver()
    assert ladder.slack.dm_with(dana)["messages"], "level 2 paged"
    current = ladder.runtime.store.incident(incident["id"])
    assert current["status"] == "acknowledged" and current["acknowledged_by"] == alice
    note = [m["text"] for m in ladder.slack.messages_in(summary_of(ladder)["channel"]) if "escalated" in m["text"]][0]
    assert "&lt;!channel&gt;" in note and "<!channel>" not in note
    # The same form submitted again pages nobody else: the ladder moved since it was opened.
    reply = ladder.driver.submit(view, alice, {"reason": "again"})
    assert "changed while you had the form open" in reply.body and "nothing was paged" in reply.body
    # At the top of the ladder the form no longer offers "the next level": another team or a person still can be.
    opened = len(ladder.slack.ok_calls_to("views.open"))
    ladder.driver.click(summary_of(ladder), "incident_escalate", alice)
    view = ladder.driver.opened_view("escalate_incident", after=opened)
    choices = [o["value"] for o in next(b for b in view["blocks"] if b.get("block_id") == "to")["element"]["options"]]
    assert choices == ["team", "person"]


def test_a_modal_submitted_twice_declares_once(ladder: Ladder) -> None:
    incident, view, _ = declare(ladder)
    reply = ladder.driver.submit(view, ladder.user("sam"), {})
    assert reply.status == 200 and "INC-1" in json.dumps(reply.json()["view"])  # the same incident, shown again
    assert ladder.runtime.store.incident_by_number(2) is None
    ladder.deliver()
    assert len(ladder.slack.incident_channels()) == 1
    assert len(ladder.slack.dm_with(ladder.user("alice"))["messages"]) == 1


def test_large_catalog_uses_type_ahead_service_menu(slack, tmp_path, clock) -> None:
    from app.runtime import Runtime
    from tests.support import TEST_CATALOG, ladder_settings, serve
    from tests.slack_driver import SlackDriver

    text = TEST_CATALOG.read_text()
    extra = "".join(f"  - {{id: svc-{i}, name: Service number {i}, owner: platform}}\n" for i in range(120))
    catalog = tmp_path / "big.yaml"
    catalog.write_text(text.replace("\nschedules:", extra + "\nschedules:", 1))
    runtime = Runtime(ladder_settings(slack, tmp_path / "ladder.db", catalog))
    url, stop = serve(runtime)
    try:
        driver = SlackDriver(url, slack)
        sam = slack.user_by_email("sam@example.com")
        driver.slash("ledger balances wrong", sam)
        view = driver.opened_view("declare_incident")
        element = next(b for b in view["blocks"] if b["block_id"] == "service")["element"]
        assert element["type"] == "external_select"
        assert element["initial_option"]["value"] == "ledger"  # routed from the text, even type-ahead
        reply = driver.suggest(view, "service", "service", "number 11", sam)
        assert reply.status == 200
        options = reply.json()["options"]
        assert options and len(options) <= 100
        assert options[0]["value"] == "svc-11"
        reply = driver.submit(view, sam, {"service": "svc-11", "title": "Number 11 down"})
        assert reply.json()["response_action"] == "update"
        incident = slack.wait_for(lambda: runtime.store.incident_by_view(view["id"]))
        assert incident["service_id"] == "svc-11" and incident["team_id"] == "platform"
    finally:
        stop()
        runtime.close()
