"""The engine as real processes: SIGKILL at any point and restart; two workers on one database file.

These run `python -m app run` as subprocesses against the Slack stand-in, on the real clock (a
child process cannot share a frozen one). Overdue work is prepared by declaring incidents "ten
minutes ago" through the use case itself, so nothing waits for a timer to come due.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path


from app.catalog import load_catalog
from app.incidents import DeclareRequest, declare
from app.runtime import Runtime
from tests.slack_driver import SIGNING_SECRET, SlackDriver
from tests.slack_standin import BOT_TOKEN, SlackStandIn
from tests.support import ENGINE_CATALOG, ROOT, free_port, ladder_settings, listening, until

# Real time, on purpose: no test here asks for the `clock` (freezegun) or `ladder` fixture. The bots are
# child processes on the wall clock; a clock frozen in this process would disagree with theirs about every
# timer and lease, so the in-process Runtimes below use the real `app.worker.utcnow` too.


def start_bot(slack: SlackStandIn, db: Path, cwd: Path, port: int | None = None) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLACK_") and "PROXY" not in k.upper()}
    env.update({"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_API_URL": slack.api_url,
                "PORT": str(port or free_port()), "HOST": "127.0.0.1", "DATABASE_PATH": str(db), "CATALOG_PATH": str(ENGINE_CATALOG),
                "PYTHONPATH": str(ROOT), "TICK_SECONDS": "0.2"})
    return subprocess.Popen([sys.executable, "-m", "app", "run"], env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def kill(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(10)  # reaped, so its PID is really gone


def overdue_incidents(slack: SlackStandIn, db: Path, count: int) -> list[int]:
    """Declare incidents ten minutes ago and deliver their level-1 pages: level 2 is now 5 minutes overdue."""
    runtime = Runtime(ladder_settings(slack, db, ENGINE_CATALOG))
    try:
        catalog = load_catalog(ENGINE_CATALOG)
        ago = datetime.now(timezone.utc) - timedelta(minutes=10)
        sam = slack.user_by_email("sam@example.com")
        ids = [declare(runtime.store, catalog, DeclareRequest(f"Transfers failing {n}", "bank-transfers", "sev2", sam), ago).incident["id"]
               for n in range(count)]
        runtime.worker.drain(ago)
        return ids
    finally:
        runtime.close()


def dana_pages(slack: SlackStandIn) -> int:
    dm = slack.dm_with(slack.user_by_email("dana@example.com"))
    return len(dm["messages"]) if dm else 0


def level_two_pages(runtime_db: Path, slack: SlackStandIn, incident_id: int) -> list[dict]:
    runtime = Runtime(ladder_settings(slack, runtime_db, ENGINE_CATALOG))
    try:
        return [e for e in runtime.store.timeline(incident_id) if e["kind"] == "level_paged" and '"level": 1' in e["data"]]
    finally:
        runtime.close()


def test_sigkill_at_any_point_then_restart_fires_each_overdue_escalation_once(slack, tmp_path) -> None:
    db = tmp_path / "ladder.db"
    ids = overdue_incidents(slack, db, 3)
    # Slack refuses every DM while the process is being killed, so no page can be half-sent:
    # every kill lands between two of Ladder's own steps (tick, claim, retry bookkeeping).
    slack.fail("chat.postMessage", status=503, times=10_000, match=lambda args: str(args.get("channel", "")).startswith("U"))
    rng = random.Random(4)
    for _ in range(4):
        bot = start_bot(slack, db, tmp_path)
        time.sleep(rng.uniform(0.3, 2.0))
        kill(bot)
    bot = start_bot(slack, db, tmp_path)  # make sure the tick happened at least once before Slack recovers
    until(lambda: all(level_two_pages(db, slack, i) for i in ids), 20, "the overdue escalations to fire")
    kill(bot)
    assert dana_pages(slack) == 0
    slack.heal()
    bot = start_bot(slack, db, tmp_path)
    try:
        until(lambda: dana_pages(slack) == 3, 20, "the three level-2 pages to arrive")
        time.sleep(1.5)  # several more ticks of a live process: nothing more may go out
    finally:
        bot.send_signal(signal.SIGTERM)
        bot.wait(15)
    assert dana_pages(slack) == 3
    for incident_id in ids:
        fired = level_two_pages(db, slack, incident_id)
        assert len(fired) == 1, fired
        runtime = Runtime(ladder_settings(slack, db, ENGINE_CATALOG))
        try:
            late = [e for e in runtime.store.timeline(incident_id) if e["kind"] == "late"]
        finally:
            runtime.close()
        assert len(late) == 1 and "late (due" in late[0]["text"]


def test_two_processes_on_one_database_page_once_and_take_over_when_one_dies(slack, tmp_path) -> None:
    db = tmp_path / "ladder.db"
    ids = overdue_incidents(slack, db, 5)
    first, second = start_bot(slack, db, tmp_path), start_bot(slack, db, tmp_path)
    try:
        until(lambda: dana_pages(slack) == 5, 20, "five level-2 pages")
        time.sleep(1.5)
        assert dana_pages(slack) == 5  # each exactly once, with two loops competing for the same rows
        for incident_id in ids:
            assert len(level_two_pages(db, slack, incident_id)) == 1
        runtime = Runtime(ladder_settings(slack, db, ENGINE_CATALOG))
        try:
            holder = runtime.store.conn.execute("SELECT holder FROM leases WHERE name = 'worker'").fetchone()["holder"]
        finally:
            runtime.close()
        leader = first if f":{first.pid}:" in holder else second
        survivor = second if leader is first else first
        leader.send_signal(signal.SIGSTOP)  # hung, not dead: the survivor must wait out the lease, then take over
        try:
            started = time.monotonic()
            more = overdue_incidents(slack, db, 1)
            until(lambda: dana_pages(slack) == 6, 15, "the survivor to take over")
            took = time.monotonic() - started
        finally:
            leader.send_signal(signal.SIGCONT)
        assert took < 8, f"take-over took {took:.1f}s"
        assert len(level_two_pages(db, slack, more[0])) == 1
        assert survivor.poll() is None
    finally:
        for bot in (first, second):
            bot.send_signal(signal.SIGTERM)
        for bot in (first, second):
            try:
                bot.wait(15)
            except subprocess.TimeoutExpired:
                kill(bot)


def page_dms(slack: SlackStandIn) -> list[dict]:
    """Every page DM Slack holds, by the outbox row that sent it (its message metadata)."""
    with slack.lock:
        return [m for c in slack.channels.values() if c["is_im"] for m in c["messages"]
                if (m.get("metadata") or {}).get("event_type") == "ladder_outbox"]


def test_sigkill_during_declarations_and_deliveries_loses_and_doubles_nothing(slack, tmp_path) -> None:
    """Declarations keep arriving while the bot is killed again and again, often with a page in flight."""
    db, port = tmp_path / "ladder.db", free_port()
    url = f"http://127.0.0.1:{port}/slack/events"
    driver = SlackDriver(url, slack)
    sam = slack.user_by_email("sam@example.com")
    # Slack acts on each page at once but its answer takes half a second: a kill in that window leaves a
    # page Slack has delivered and Ladder has not recorded, the case that would page someone twice.
    slack.fail("chat.postMessage", hold=0.5, times=10_000, match=lambda args: str(args.get("channel", "")).startswith("U"))
    bot = start_bot(slack, db, tmp_path, port)
    until(lambda: listening(port), 20, "the bot to listen")
    opened = len(slack.ok_calls_to("views.open"))
    driver.slash("bank transfers failing", sam)
    form = driver.opened_view("declare_incident", after=opened)
    answered: list[str] = []  # titles of the declarations Slack was told had succeeded
    rng = random.Random(7)
    try:
        for round_ in range(4):
            if round_:
                bot = start_bot(slack, db, tmp_path, port)
                until(lambda: listening(port), 20, "the bot to listen again")
            deadline = time.monotonic() + rng.uniform(0.8, 2.0)
            n = 0
            while time.monotonic() < deadline:
                title = f"Transfers failing {round_}-{n}"
                n += 1
                view = {**form, "id": f"V{round_:02d}{n:06d}"}
                try:
                    reply = driver.post_payload(driver.submission(view, sam, {"title": title}))
                except OSError:
                    continue
                if reply.status == 200 and title in reply.body:
                    answered.append(title)
            kill(bot)
        slack.heal()
        bot = start_bot(slack, db, tmp_path, port)

        def drained() -> bool:
            runtime = Runtime(ladder_settings(slack, db, ENGINE_CATALOG))
            try:
                return runtime.store.conn.execute(
                    "SELECT COUNT(*) AS n FROM outbox WHERE kind = 'page' AND status != 'sent'").fetchone()["n"] == 0
            finally:
                runtime.close()

        until(drained, 30, "every page to be sent after the last restart")
        time.sleep(1.0)  # more ticks of a live process: nothing more may go out
    finally:
        bot.send_signal(signal.SIGTERM)
        bot.wait(15)

    runtime = Runtime(ladder_settings(slack, db, ENGINE_CATALOG))
    try:
        store = runtime.store
        incidents = store.conn.execute("SELECT * FROM incidents").fetchall()
        titles = {i["title"] for i in incidents}
        assert answered and set(answered) <= titles, "every declaration the user saw succeed exists"
        for incident in incidents:  # and none is half-created
            kinds = {r["kind"] for r in store.outbox_rows(incident["id"])}
            assert {"page", "create_channel", "post_summary"} <= kinds, (incident["title"], kinds)
            assert any(e["kind"] == "declared" for e in store.timeline(incident["id"]))
        sent = store.conn.execute("SELECT o.id FROM outbox o WHERE o.kind = 'page' AND o.status = 'sent'").fetchall()
        dms = [m["metadata"]["event_payload"]["outbox_id"] for m in page_dms(slack)]
        assert sorted(dms) == sorted(r["id"] for r in sent), "each page reached Slack exactly once"
        assert len(sent) >= len(incidents)
    finally:
        runtime.close()
