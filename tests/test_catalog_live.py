"""The catalog in the running bot: `/incident oncall`, hot reload, and snapshots that do not move."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from app.runtime import Runtime
from tests.slack_driver import SlackDriver
from tests.support import TEST_CATALOG, Ladder, declare, ladder_settings, serve, summary_of


def test_oncall_for_everyone_and_for_a_team(ladder: Ladder) -> None:
    reply = ladder.driver.slash("oncall", ladder.user("sam"))
    assert reply.status == 200
    assert "Schedule `payments-primary`: alice@example.com" in reply.body
    assert "Schedule `identity-primary`: frank@example.com" in reply.body
    reply = ladder.driver.slash("oncall Payments", ladder.user("sam"))
    assert "*Payments* — policy `payments`" in reply.body and "Level 2: dana@example.com" in reply.body
    reply = ladder.driver.slash("oncall <!channel>", ladder.user("sam"))
    assert "No team called “&lt;!channel&gt;”" in reply.body and "`payments`" in reply.body
    assert not ladder.slack.calls_to("views.open")


@pytest.fixture
def live(slack, tmp_path, clock):
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(TEST_CATALOG.read_text())
    runtime = Runtime(ladder_settings(slack, tmp_path / "ladder.db", catalog, ADMIN_CHANNEL="#ladder-admin"))
    slack.add_channel("ladder-admin")
    url, stop = serve(runtime)
    yield Ladder(runtime, SlackDriver(url, slack), slack, clock, url), catalog
    stop()
    runtime.close()


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))
    stat = path.stat()
    os.utime(path, (stat.st_atime, stat.st_mtime + 1))  # a later mtime even within one second


def test_valid_edit_is_picked_up_and_open_incidents_keep_their_snapshot(live) -> None:
    ladder, path = live
    incident, _, _ = declare(ladder)
    ladder.deliver()
    # Dana leaves; Oscar becomes payments level 2. New incidents follow the new catalog at once...
    edit(path, "- {targets: [{user: dana@example.com}], escalate_after: 10m}", "- {targets: [{user: oscar@example.com}], escalate_after: 10m}")
    assert ladder.runtime.catalog_watcher.poll(ladder.clock()) is True
    assert "oscar@example.com" in ladder.driver.slash("oncall payments", ladder.user("sam")).body
    # ...but the open incident follows its policy as it was when declared.
    ladder.driver.click(summary_of(ladder), "incident_escalate", ladder.user("alice"))
    view = ladder.driver.opened_view("escalate_incident")
    assert "dana@example.com" in json.dumps(view["blocks"])
    ladder.driver.submit(view, ladder.user("alice"))
    ladder.slack.wait_for(lambda: [p for p in ladder.runtime.store.pages(incident["id"]) if p["level"] == 1])
    ladder.deliver()
    assert ladder.slack.dm_with(ladder.user("dana"))["messages"]
    assert ladder.slack.dm_with(ladder.user("oscar")) is None


def test_broken_edit_is_rejected_reported_and_the_last_good_catalog_stays(live, caplog) -> None:
    ladder, path = live
    edit(path, "owner: identity", "owner: identiy")
    assert ladder.runtime.catalog_watcher.poll(ladder.clock()) is False
    assert "services[3].owner: unknown team 'identiy'" in caplog.text
    ladder.deliver()
    notice = ladder.slack.channel_named("ladder-admin")["messages"]
    assert len(notice) == 1 and "unknown team 'identiy'" in notice[0]["text"] and "keeps the last good version" in notice[0]["text"]
    # The bot still routes and declares with the last good catalog.
    incident, _, _ = declare(ladder, "login broken")
    assert incident["team_id"] == "identity"
    # Polling again without a new edit does not re-post; fixing the file brings it back.
    assert ladder.runtime.catalog_watcher.poll(ladder.clock()) is None
    edit(path, "owner: identiy", "owner: identity")
    edit(path, "name: Login\n", "name: Login and 2FA\n")
    assert ladder.runtime.catalog_watcher.poll(ladder.clock()) is True
    assert ladder.runtime.catalog.services["login"].name == "Login and 2FA"
    ladder.deliver()
    assert len(ladder.slack.channel_named("ladder-admin")["messages"]) == 1


def test_stakeholders_are_told_and_user_groups_expanded_and_the_policy_choice_recorded(slack, tmp_path, clock) -> None:
    text = TEST_CATALOG.read_text()
    text = text.replace("    aliases: [payments, transfers, wire, payouts, sepa]\n    owner: payments\n",
                        "    aliases: [payments, transfers, wire, payouts, sepa]\n    owner: payments\n"
                        "    stakeholders: [{user: quinn@example.com}, {channel: '#payments-stakeholders'}]\n")
    text = text.replace("  payments:\n    name: Payments\n    slack_channel: \"#team-payments\"\n    escalation_policy: payments\n",
                        "  payments:\n    name: Payments\n    slack_channel: \"#team-payments\"\n"
                        "    escalation_policy: {default: payments, by_severity: {sev1: payments-sev1}}\n")
    text = text.replace("\npolicies:\n", "\npolicies:\n  payments-sev1:\n    levels:\n"
                        "      - {targets: [{user_group: S0PAYONCALL}, {schedule: payments-primary}], escalate_after: 5m}\n")
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(text)
    quinn = slack.add_user("quinn", "quinn@example.com")
    slack.usergroups["S0PAYONCALL"] = [slack.user_by_email("bob@example.com"), slack.user_by_email("carol@example.com")]
    slack.add_channel("payments-stakeholders")
    runtime = Runtime(ladder_settings(slack, tmp_path / "ladder.db", catalog))
    url, stop = serve(runtime)
    try:
        ladder = Ladder(runtime, SlackDriver(url, slack), slack, clock, url)
        incident, _, _ = declare(ladder, severity="sev1")
        ladder.deliver()
        # SEV1 chose the team's SEV1 policy, and the timeline says why.
        assert runtime.store.track(incident["id"])["policy"] == "payments-sev1"  # the main ladder follows it
        assert any("payments-sev1: SEV1 · Critical uses it" in e["text"] for e in runtime.store.timeline(incident["id"]))
        # The user group was expanded into its members at paging time, alongside the on-call.
        paged = {c["user"] for c in slack.channels.values() if c["is_im"] and c["messages"]}
        assert {ladder.user("bob"), ladder.user("carol"), ladder.user("alice")} <= paged
        assert slack.ok_calls_to("usergroups.users.list")
        # The stakeholder is told, without an Acknowledge button; the stakeholder channel gets the announcement.
        note = slack.dm_with(quinn)["messages"][0]
        assert "stakeholder of Bank transfers" in json.dumps(note["blocks"]) and "incident_ack" not in json.dumps(note["blocks"])
        assert "INC-1" in slack.channel_named("payments-stakeholders")["messages"][0]["text"]
        # Acknowledging stops pages, not stakeholder notices (they were never pages).
        assert all(p["status"] == "sent" for p in runtime.store.pages(incident["id"]) if p["notify_only"])
    finally:
        stop()
        runtime.close()


def test_a_reload_prepares_routing_and_the_declare_form_before_it_is_in_force(live) -> None:
    from app import routing
    from app.slack import blocks

    ladder, path = live
    edit(path, "name: Ledger\n", "name: General ledger\n")
    assert ladder.runtime.catalog_watcher.poll(ladder.clock()) is True
    catalog = ladder.runtime.catalog
    assert {routing.RoutingIndex, blocks.DeclareForm} <= set(catalog._derived)  # built on the reload's thread, not by a request
    ladder.driver.slash("general ledgre wrong", ladder.user("sam"))
    service = next(b for b in ladder.driver.opened_view("declare_incident")["blocks"] if b["block_id"] == "service")["element"]
    assert service["initial_option"]["text"]["text"] == "General ledger"
    assert "General ledger" in [o["text"]["text"] for o in service["options"]]
