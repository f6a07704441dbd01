"""The catalog in the running bot: `/incident oncall`, hot reload, and snapshots that do not move."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from app.runtime import Runtime
from tests.conftest import TEST_CATALOG, Ladder, ladder_settings, serve
from tests.slack_driver import SlackDriver
from tests.test_declare_flow import declare, summary_of


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
    runtime = Runtime(ladder_settings(slack, tmp_path / "ladder.db", catalog, ADMIN_CHANNEL="#ladder-admin"), clock=clock)
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
