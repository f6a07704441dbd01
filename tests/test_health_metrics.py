"""What an operator sees of a running Ladder: `GET /healthz` for the load balancer, `GET /metrics` for Prometheus.

Over real HTTP against a Ladder served like production (waitress, the Slack stand-in behind it), on
the frozen clock: the figures move as incidents are declared and delivered, as Slack answers 429 or
refuses, as an edited catalog is rejected; /healthz turns 503, with the reason, when the database
cannot be reached or the timers this host runs fall behind. Socket Mode, which serves Slack no HTTP,
answers both on HEALTH_PORT: that one runs `python -m app run` as a child process, on the real clock.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.config import SettingsError, load_settings
from tests.slack_standin import APP_TOKEN, BOT_TOKEN, SlackStandIn
from tests.socket_mode_standin import SocketModeStandIn
from tests.support import ROOT, TEST_CATALOG, Ladder, declare, free_port, start_ladder

GOOD = {"SLACK_BOT_TOKEN": "xoxb-123-456-abc", "SLACK_SIGNING_SECRET": "s3cr3t"}
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


# -- helpers -------------------------------------------------------------------------------------------
def get(port: int, path: str) -> tuple[int, bytes, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read(), response.getheader("Content-Type") or ""
    finally:
        conn.close()


def port_of(ladder: Ladder) -> int:
    return int(urlparse(ladder.url).port or 0)


def healthz(ladder: Ladder) -> tuple[int, dict[str, str]]:
    status, body, content_type = get(port_of(ladder), "/healthz")
    assert content_type == "application/json"
    return status, json.loads(body)


def scrape(port: int) -> Samples:
    """Every sample /metrics shows, as Prometheus would parse it."""
    status, body, content_type = get(port, "/metrics")
    assert status == 200 and content_type.startswith("text/plain; version=0.0.4")
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(body.decode()) for s in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float:
    """A sample's value; 0 for a series not shown (yet)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def total(samples: Samples, name: str) -> float:
    return sum(v for (n, _), v in samples.items() if n == name)


# -- /healthz ------------------------------------------------------------------------------------------
def test_a_fresh_ladder_is_healthy_and_says_which_host_it_is(ladder: Ladder) -> None:
    status, body = healthz(ladder)
    assert status == 200
    assert body == {"status": "ok", "database": "ok", "lease": "standby", "timers": "-", "host": ladder.runtime.host}
    assert ladder.runtime.host == f"{socket.gethostname()}:{os.getpid()}"  # HOST_NAME unset: hostname:pid
    ladder.deliver()  # takes the lease and ticks
    assert healthz(ladder) == (200, {**body, "lease": "held", "timers": "on time"})


def test_the_database_out_of_reach_is_a_503_with_the_reason(ladder: Ladder, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> None:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(ladder.runtime.store, "ping", broken)
    monkeypatch.setattr(ladder.runtime.store, "outbox_depth_by_kind", broken)  # what a scrape reads
    status, body = healthz(ladder)
    assert status == 503
    assert body["status"] == "unavailable" and body["database"] == "unreachable"
    assert body["reason"] == "the database cannot be reached (OperationalError)"  # a fixed phrase: no driver text
    assert value(scrape(port_of(ladder)), "ladder_database_up") == 0

    monkeypatch.undo()  # the database is back
    assert healthz(ladder)[0] == 200
    assert value(scrape(port_of(ladder)), "ladder_database_up") == 1


def test_a_database_that_does_not_answer_is_a_503_within_the_probe_deadline(ladder: Ladder,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    released = threading.Event()
    monkeypatch.setattr(ladder.runtime.store, "ping", lambda: released.wait(10))
    monkeypatch.setattr(ladder.runtime.health.probe, "seconds", 0.3)
    try:
        started = time.monotonic()
        status, body = healthz(ladder)
        assert time.monotonic() - started < 5
        assert status == 503 and body["reason"] == "the database did not answer within 0.3 s"
    finally:
        released.set()


def test_a_lease_holder_whose_last_tick_is_old_is_a_503_timers_late(ladder: Ladder) -> None:
    ladder.deliver()
    assert healthz(ladder)[1]["timers"] == "on time"
    ladder.clock.advance(seconds=60)
    ladder.runtime.worker.hold_lease(ladder.clock())  # still the holder (it renewed), but no tick has run for a minute
    status, body = healthz(ladder)
    assert status == 503
    assert (body["lease"], body["timers"]) == ("held", "late")
    assert body["reason"] == "timers late: the last tick completed 60 s ago"
    ladder.deliver()  # the timers run again
    status, body = healthz(ladder)
    assert status == 200 and body["timers"] == "on time" and "reason" not in body


def test_ticks_that_leave_due_work_waiting_are_a_503(ladder: Ladder) -> None:
    """A tick that completes but does not advance what is due (here: it advances nothing) is not 'on time'."""
    declare(ladder)
    ladder.deliver()
    ladder.runtime.worker.due_work = lambda now: None
    ladder.clock.advance(minutes=6)  # level 2 came due a minute ago
    ladder.deliver()
    status, body = healthz(ladder)
    assert status == 503 and body["timers"] == "late"
    assert body["reason"] == "timers late: work due over 5 s ago is still waiting"


# -- /metrics --------------------------------------------------------------------------------------------
def test_metrics_parse_and_name_this_host(ladder: Ladder) -> None:
    samples = scrape(port_of(ladder))
    host = ladder.runtime.host
    assert value(samples, "ladder_host_info", host=host, engine="SQLite") == 1
    assert value(samples, "ladder_lease_held", host=host) == 0
    assert value(samples, "ladder_database_up") == 1
    assert value(samples, "ladder_outbox_depth", kind="page") == 0
    assert value(samples, "ladder_catalog_reloads_total", result="rejected") == 0
    names = {name for name, _ in samples}
    assert {"ladder_page_delivery_seconds_count", "ladder_escalation_lateness_seconds_count",
            "ladder_tick_seconds_count"} <= names
    ladder.deliver()
    assert value(scrape(port_of(ladder)), "ladder_lease_held", host=host) == 1


def test_a_declared_incident_moves_the_outbox_the_page_latency_and_the_ticks(ladder: Ladder) -> None:
    before = scrape(port_of(ladder))
    declare(ladder)
    queued = scrape(port_of(ladder))
    assert value(queued, "ladder_outbox_depth", kind="page") == 1  # alice's page, waiting for the worker
    assert total(queued, "ladder_outbox_depth") > 1  # the channel, its summary, the announcement…

    ladder.clock.advance(seconds=2)  # the worker picks it up two seconds after the declaration
    ladder.deliver()
    after = scrape(port_of(ladder))
    assert value(after, "ladder_page_delivery_seconds_count") == value(before, "ladder_page_delivery_seconds_count") + 1
    assert value(after, "ladder_page_delivery_seconds_sum") == pytest.approx(2.0)
    assert value(after, "ladder_page_delivery_seconds_bucket", le="1.0") == 0
    assert value(after, "ladder_page_delivery_seconds_bucket", le="2.0") == 1
    assert total(after, "ladder_outbox_depth") == 0
    assert value(after, "ladder_tick_seconds_count") > value(before, "ladder_tick_seconds_count")


def test_an_escalation_that_fires_late_shows_its_lateness(ladder: Ladder) -> None:
    declare(ladder)
    ladder.deliver()
    ladder.clock.advance(minutes=6)  # nobody acknowledged; the worker was away when level 2 came due at 5 minutes
    ladder.deliver()
    samples = scrape(port_of(ladder))
    assert value(samples, "ladder_escalation_lateness_seconds_count") == 1
    assert value(samples, "ladder_escalation_lateness_seconds_sum") == pytest.approx(60.0)
    assert len(ladder.slack.dm_with(ladder.user("dana"))["messages"]) == 1


def test_slack_429s_and_failures_are_counted_by_method_and_error(ladder: Ladder) -> None:
    ladder.slack.fail("chat.postMessage", status=429, retry_after=7)
    ladder.slack.fail("users.lookupByEmail", error="users_not_found")  # alice's page cannot be sent: fails for good
    declare(ladder)
    ladder.deliver()
    samples = scrape(port_of(ladder))
    assert value(samples, "ladder_slack_rate_limited_total", method="chat.postMessage") == 1
    assert value(samples, "ladder_slack_failures_total", method="users.lookupByEmail", error="users_not_found") == 1
    assert total(samples, "ladder_slack_failures_total") == 1  # a 429 is not counted twice


@pytest.fixture
def ladder_env(tmp_path: Path) -> dict[str, str]:
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(TEST_CATALOG.read_text())
    return {"CATALOG_PATH": str(catalog)}


def test_catalog_reloads_are_counted_ok_and_rejected(ladder: Ladder, ladder_env: dict[str, str]) -> None:
    path = Path(ladder_env["CATALOG_PATH"])
    good = path.read_text()

    def save(text: str) -> None:
        path.write_text(text)
        stat = path.stat()
        os.utime(path, (stat.st_atime, stat.st_mtime + 1))  # a later mtime even within one second

    save(good.replace("owner: identity", "owner: identiy"))
    assert ladder.runtime.catalog_watcher.poll(ladder.clock()) is False
    samples = scrape(port_of(ladder))
    assert value(samples, "ladder_catalog_reloads_total", result="rejected") == 1
    assert value(samples, "ladder_catalog_reloads_total", result="ok") == 0
    save(good.replace("escalate_after: 10m}", "escalate_after: 11m}"))
    assert ladder.runtime.catalog_watcher.poll(ladder.clock()) is True
    assert value(scrape(port_of(ladder)), "ladder_catalog_reloads_total", result="ok") == 1


def test_two_runtimes_in_one_process_keep_their_own_figures(slack: SlackStandIn, tmp_path: Path, clock) -> None:
    """Each Runtime has its own registry: a second one neither fails to register nor shows the first one's figures."""
    (tmp_path / "a").mkdir()
    first, close_first = start_ladder(slack, tmp_path / "a", clock, HOST_NAME="ladder-a")
    try:
        (tmp_path / "b").mkdir()
        second, close_second = start_ladder(slack, tmp_path / "b", clock, HOST_NAME="ladder-b")
        try:
            first.runtime.metrics.page_delivered(1.0)
            assert value(scrape(port_of(first)), "ladder_page_delivery_seconds_count") == 1
            samples = scrape(port_of(second))
            assert value(samples, "ladder_page_delivery_seconds_count") == 0
            assert value(samples, "ladder_host_info", host="ladder-b", engine="SQLite") == 1
        finally:
            close_second()
    finally:
        close_first()


# -- settings ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "env, name",
    [
        ({**GOOD, "HEALTH_PORT": "0"}, "HEALTH_PORT"),
        ({**GOOD, "HEALTH_PORT": "health"}, "HEALTH_PORT"),
        ({**GOOD, "HEALTH_PORT": "70000"}, "HEALTH_PORT"),
        ({**GOOD, "PORT": "3001", "HEALTH_PORT": "3001"}, "HEALTH_PORT"),  # HTTP mode already serves them on PORT
        ({**GOOD, "HOST_NAME": "two words"}, "HOST_NAME"),
        ({**GOOD, "HOST_NAME": 'ladder"1'}, "HOST_NAME"),
        ({**GOOD, "HOST_NAME": "x" * 101}, "HOST_NAME"),
    ],
)
def test_bad_health_and_host_settings_name_the_setting(env: dict[str, str], name: str) -> None:
    with pytest.raises(SettingsError, match=name) as error:
        load_settings(env, env_file=None)
    assert len(str(error.value)) < 500


def test_health_and_host_settings() -> None:
    settings = load_settings(GOOD, env_file=None)
    assert settings.health_port == 0 and settings.host_name == f"{socket.gethostname()}:{os.getpid()}"
    settings = load_settings({**GOOD, "HEALTH_PORT": "9102", "HOST_NAME": "ladder-1.eu"}, env_file=None)
    assert (settings.health_port, settings.host_name) == (9102, "ladder-1.eu")
    settings = load_settings({"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_APP_TOKEN": APP_TOKEN, "HEALTH_PORT": "3000"}, env_file=None)
    assert settings.health_port == 3000  # Socket Mode listens on no PORT: any port will do


# -- Socket Mode: HEALTH_PORT, and the host's name in its logs --------------------------------------------
def test_socket_mode_answers_healthz_and_metrics_on_health_port(slack: SlackStandIn, tmp_path: Path) -> None:
    socket_mode = SocketModeStandIn().start()
    slack.socket_url = socket_mode.url
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLACK_") and "PROXY" not in k.upper()}
    env.update({"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_APP_TOKEN": APP_TOKEN, "SLACK_API_URL": slack.api_url,
                "HOST": "127.0.0.1", "HEALTH_PORT": str(port), "HOST_NAME": "ladder-sm-1", "TICK_SECONDS": "0.2",
                "DATABASE_PATH": str(tmp_path / "ladder.db"), "CATALOG_PATH": str(TEST_CATALOG), "PYTHONPATH": str(ROOT)})
    bot = subprocess.Popen([sys.executable, "-m", "app", "run"], env=env, cwd=tmp_path, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True)
    try:
        body: dict[str, str] = {}
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and body.get("lease") != "held":
            try:
                status, raw, _ = get(port, "/healthz")
                body = json.loads(raw)
            except OSError:
                pass  # not listening yet
            time.sleep(0.1)
        assert status == 200, body
        assert body == {"status": "ok", "database": "ok", "lease": "held", "timers": "on time", "host": "ladder-sm-1"}
        samples = scrape(port)
        assert value(samples, "ladder_lease_held", host="ladder-sm-1") == 1
        assert get(port, "/slack/events")[0] == 404  # this port is the operators', not Slack's
    finally:
        bot.send_signal(signal.SIGTERM)
        _, logs = bot.communicate(timeout=20)
        socket_mode.stop()
    assert bot.returncode == 0, logs
    running = next(line for line in logs.splitlines() if "Ladder is running in Socket Mode" in line)
    assert " ladder-sm-1 INFO app: " in running  # every line says which host wrote it
