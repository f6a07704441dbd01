"""Two promises that had slipped: `/healthz` answers over HTTP, and a notify-only level informs without owning.

A notify-only level ("tell me, don't reassign") tells people; the summary says they were
*notified*, and an exhausted ladder stays with the last level that was *paged*, in the summary,
on the timeline and in `simulate`.
"""

from __future__ import annotations

import http.client
import json
import re
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlparse

from app.catalog import load_catalog
from app.simulate import render, simulate
from tests.support import block_text, declare, start_engine, summary_of

CATALOG = Path(__file__).parent / "notify_only_catalog.yaml"


def test_healthz_answers_ok_over_http(ladder) -> None:
    url = urlparse(ladder.url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=5)
    try:
        conn.request("GET", "/healthz")
        response = conn.getresponse()
        assert response.status == 200
        assert json.loads(response.read())["status"] == "ok"  # the fields are tests/test_health_metrics.py's
        conn.request("POST", "/healthz", body=b"")  # only GET is the health check; anything else is not Slack's path either
        response = conn.getresponse()
        response.read()
        assert response.status == 404
    finally:
        conn.close()


def test_a_notify_only_level_is_shown_as_notified_and_never_owns_the_exhausted_ladder(slack, tmp_path, clock) -> None:
    engine, close = start_engine(slack, tmp_path, clock, CATALOG)
    try:
        incident, _, _ = declare(engine, "bank transfers failing")
        engine.deliver()
        assert len(engine.dms("alice")) == 1
        engine.at(minutes=5)  # nobody acknowledged: level 2 only informs dana
        assert len(engine.dms("dana")) == 1
        summary = block_text(summary_of(engine))
        assert re.search(r"Level 2 of 2: dana@example\.com[^\"]* notified <!date", summary)
        assert "paged <!date" not in summary.split("Level 2 of 2")[1]

        engine.at(minutes=10)  # the last level's timeout: the ladder is exhausted
        summary = block_text(summary_of(engine))
        assert f"Level 1 of 2: <@{engine.user('alice')}> paged" in summary and "exhausted: nobody acknowledged" in summary
        exhausted = [e["text"] for e in engine.timeline(incident["id"]) if e["kind"] == "exhausted"]
        assert exhausted == ["The ladder is exhausted for the incident: nobody acknowledged; it stays with level 1."]
    finally:
        close()


def test_simulate_says_an_exhausted_ladder_stays_with_the_last_level_paged() -> None:
    sim = simulate(load_catalog(CATALOG), "bank-transfers", None, datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc), no_ack=True)
    text = render(sim, load_catalog(CATALOG))
    assert "notify dana@example.com" in text
    assert "the ladder is exhausted: the incident stays with level 1" in text


def test_raised_onto_a_policy_that_only_notifies_the_ladder_is_exhausted_on_that_policy_and_the_summary_says_so(
        slack, tmp_path, clock) -> None:
    """After a severity switch, pages of the old policy are not the new ladder's position (they once made it
    point at a policy its snapshot does not hold: every refresh of the incident failed)."""
    engine, close = start_engine(slack, tmp_path, clock, CATALOG)
    try:
        incident, _, _ = declare(engine, "bank transfers failing", severity="sev2")
        engine.deliver()
        assert len(engine.dms("alice")) == 1
        engine.driver.click(summary_of(engine), "incident_severity", engine.user("bob"), option_value="sev1")
        engine.slack.wait_for(lambda: engine.runtime.store.incident(incident["id"])["severity"] == "sev1")
        engine.deliver()
        assert len(engine.dms("judy")) == 1  # the new policy's level 1 only informs
        engine.at(minutes=5)  # nobody acknowledged: the new policy is exhausted
        track = engine.runtime.store.track(incident["id"])
        assert (track["state"], track["policy"]) == ("exhausted", "payments-sev1")
        summary = block_text(summary_of(engine))
        assert "exhausted: nobody acknowledged" in summary
        assert all(row["status"] == "sent" for row in engine.runtime.store.outbox_rows(incident["id"]) if row["kind"] == "refresh")
    finally:
        close()


def test_the_http_server_stops_even_when_its_wake_up_pipe_is_gone(slack, tmp_path: Path) -> None:
    """Stopping pulls waitress's trigger (a pipe) so the loop closes its own sockets; with that pipe gone (seen once under
    load, cause unproven) the sockets are closed from the stopping thread instead, and the server still stops."""
    import os
    import threading

    from app.runtime import Runtime
    from app.slack.server import http_server, run_http_server, stop_http_server
    from tests.support import ladder_settings

    runtime = Runtime(ladder_settings(slack, tmp_path / "ladder.db"))
    server = http_server(runtime, host="127.0.0.1", port=0, asyncore_loop_timeout=0.05)
    thread = threading.Thread(target=run_http_server, args=(server,), daemon=True)
    thread.start()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", server.effective_port, timeout=5)
        conn.request("GET", "/healthz")
        assert conn.getresponse().status == 200
        conn.close()
        os.close(server.trigger.trigger)  # the write end of the wake-up pipe, as the failure left it
        stop_http_server(server)
        thread.join(5)
        assert not thread.is_alive(), "the HTTP server did not stop"
        assert not server._map  # noqa: SLF001 - every socket it served is closed
    finally:
        runtime.close()
