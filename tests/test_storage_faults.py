"""A locked or full database: the user is told plainly, nothing is half-recorded, and it works again after."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path
from typing import Iterator

import pytest

from app.runtime import Runtime
from tests.slack_driver import SlackDriver
from tests.support import Ladder, declare, ladder_settings, serve


@pytest.fixture
def quick(slack, tmp_path: Path, clock) -> Iterator[Ladder]:
    """Ladder whose writers give up after half a second of another process's lock (instead of 30 s)."""
    runtime = Runtime(ladder_settings(slack, tmp_path / "ladder.db"), busy_timeout=0.5)
    url, stop = serve(runtime)
    yield Ladder(runtime, SlackDriver(url, slack), slack, clock, url)
    stop()
    runtime.close()


def result_modal(ladder: Ladder, view_id: str) -> str:
    updates = ladder.slack.wait_for(lambda: [c for c in ladder.slack.ok_calls_to("views.update") if c.args["view_id"] == view_id])
    return str(updates[-1].args["view"])


def submit_declaration(ladder: Ladder) -> str:
    ladder.driver.slash("bank transfers failing", ladder.user("sam"))
    view = ladder.driver.opened_view("declare_incident")
    assert ladder.driver.submit(view, ladder.user("sam"), {}).status == 200
    return view["id"]


def test_a_locked_database_is_said_plainly_and_nothing_is_half_recorded(quick: Ladder, tmp_path: Path) -> None:
    other = sqlite3.connect(tmp_path / "ladder.db", isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")  # another process holds the database
    try:
        view_id = submit_declaration(quick)
        text = result_modal(quick, view_id)
        assert "could not record this incident: the database is busy" in text and "Nothing was paged" in text
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert quick.runtime.store.incident_by_number(1) is None and quick.runtime.store.outbox_rows() == []
    declare(quick)  # and once the lock is gone, declaring works
    quick.deliver()
    assert quick.slack.dm_with(quick.user("alice"))["messages"]


def test_a_click_while_the_database_is_locked_changes_nothing_and_says_so(quick: Ladder, tmp_path: Path) -> None:
    incident, _, _ = declare(quick)
    quick.deliver()
    other = sqlite3.connect(tmp_path / "ladder.db", isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        quick.driver.click(quick.slack.dm_with(quick.user("alice"))["messages"][0], "incident_ack", quick.user("alice"))
        answer = quick.slack.wait_for(lambda: [r for r in quick.slack.responses if "could not record that" in r["body"].get("text", "")])
        assert "the database is busy" in answer[0]["body"]["text"] and answer[0]["body"]["response_type"] == "ephemeral"
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert quick.runtime.store.incident(incident["id"])["status"] == "triggered"


@pytest.mark.parametrize("message, said", [
    ("database is locked", "the database is busy"),
    ("database or disk is full", "the disk is full"),
    ("attempt to write a readonly database", "the database is read-only"),
    ("disk I/O error", "the database could not be written"),
])
def test_storage_problems_in_words(message: str, said: str) -> None:
    from app.store import storage_problem

    assert storage_problem(sqlite3.OperationalError(message)).startswith(said)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 4 MB file system (tmpfs) for the database, so it can really fill up."""
    mountpoint = tmp_path / "disk"
    mountpoint.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mountpoint)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip("mounting a small tmpfs needs root")
    yield mountpoint
    subprocess.run(["umount", "-l", str(mountpoint)], capture_output=True)


def fill(disk: Path) -> Path:
    filler = disk / "filler"
    with open(filler, "wb") as out:
        try:
            while True:
                out.write(b"\0" * 65536)
                out.flush()
        except OSError:
            pass
    return filler


def test_a_full_disk_is_said_plainly_nothing_is_half_recorded_and_room_brings_it_back(slack, small_disk: Path, clock) -> None:
    runtime = Runtime(ladder_settings(slack, small_disk / "ladder.db"))
    url, stop = serve(runtime)
    ladder = Ladder(runtime, SlackDriver(url, slack), slack, clock, url)
    try:
        declare(ladder)
        ladder.deliver()
        filler = fill(small_disk)
        ladder.driver.slash("bank transfers failing", ladder.user("sam"))
        view = ladder.driver.opened_view("declare_incident", after=1)
        reply = ladder.driver.submit(view, ladder.user("sam"), {"title": "Card payments failing"})
        shown = json.dumps(reply.json()["view"])
        assert "the disk is full" in shown and "Nothing was paged" in shown, shown
        assert runtime.store.incident_by_number(2) is None and len(ladder.slack.dm_with(ladder.user("alice"))["messages"]) == 1
        filler.unlink()  # room again: the same form declares, exactly once
        reply = ladder.driver.submit(view, ladder.user("sam"), {"title": "Card payments failing"})
        assert "INC-2" in json.dumps(reply.json()["view"])
        ladder.deliver()
        assert len(ladder.slack.dm_with(ladder.user("alice"))["messages"]) == 2
    finally:
        stop()
        runtime.close()
