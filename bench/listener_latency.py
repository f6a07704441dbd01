"""Listener latency: time to Slack's HTTP response for `/incident` and an Acknowledge click.

Signed requests at 1, 10 and 50 concurrent clients (a new connection per request, as Slack does),
against three servers, each in its own process (the clients and the Slack stand-in live in this
one), measured in the same run:
  - baseline: a bare Bolt app whose listeners only ack, served by Bolt's own `app.start()`,
  - the same bare app behind waitress (the server Ladder uses),
  - Ladder itself (its listeners ack, then open the modal / acknowledge after the response).
Prints p50/p99 and failed requests per server and concurrency, with Ladder's p50 as a ratio of
the bare `app.start()` app's. Writes bench/results/listener_latency.json.

    .venv/bin/python -m bench.listener_latency [--requests 300]
"""

from __future__ import annotations

import argparse
import http.client
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlencode

from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.signature import SignatureVerifier

from bench.common import percentile
from tests.support import PEOPLE, ROOT, TEST_CATALOG, free_port, listening
from tests.slack_driver import SIGNING_SECRET, SlackDriver
from tests.slack_standin import BOT_TOKEN, SlackStandIn

RESULTS = Path(__file__).parent / "results"
LEVELS = (1, 10, 50)


def bare_app(api_url: str) -> App:
    """What Bolt alone costs: listeners that only ack (authorization still asks the stand-in's auth.test, once)."""
    app = App(signing_secret=SIGNING_SECRET, client=WebClient(token=BOT_TOKEN, base_url=api_url))

    @app.command("/incident")
    def command(ack):  # noqa: ANN001
        ack()

    @app.action("incident_ack")
    def click(ack):  # noqa: ANN001
        ack()

    return app


def one_request(port: int, body: str, verifier: SignatureVerifier) -> tuple[float, bool]:
    stamp = str(int(time.time()))
    headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Slack-Request-Timestamp": stamp,
               "X-Slack-Signature": verifier.generate_signature(timestamp=stamp, body=body)}
    started = time.perf_counter()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("POST", "/slack/events", body=body.encode(), headers=headers)
        response = conn.getresponse()
        response.read()
        conn.close()
        return time.perf_counter() - started, response.status == 200
    except OSError:
        return time.perf_counter() - started, False


def measure(port: int, bodies: list[str], clients: int) -> dict[str, float]:
    verifier = SignatureVerifier(SIGNING_SECRET)
    with ThreadPoolExecutor(max_workers=clients) as pool:
        results = list(pool.map(lambda body: one_request(port, body, verifier), bodies))
    ok = [latency for latency, good in results if good]
    return {"p50_ms": round(percentile(ok, 50) * 1000, 2) if ok else None, "p99_ms": round(percentile(ok, 99) * 1000, 2) if ok else None,
            "failed": sum(1 for _, good in results if not good), "requests": len(results)}


def bodies(kind: str, count: int, slack: SlackStandIn, incident_id: int, user: str) -> list[str]:
    if kind == "command":
        return [urlencode({"command": "/incident", "text": "bank transfers failing", "user_id": user, "channel_id": "C0GENERAL1",
                           "team_id": "T0LADDER1", "trigger_id": slack.issue_trigger(), "response_url": slack.response_url(),
                           "api_app_id": "A0LADDER1"}) for _ in range(count)]
    payload = {"type": "block_actions", "user": {"id": user}, "team": {"id": "T0LADDER1"}, "api_app_id": "A0LADDER1",
               "container": {"type": "message"}, "trigger_id": "1.2.3", "response_url": slack.response_url(),
               "actions": [{"action_id": "incident_ack", "block_id": "b", "type": "button", "value": str(incident_id)}]}
    return [urlencode({"payload": json.dumps(payload)}) for _ in range(count)]


def serve_bare(api_url: str, port: int, server: str) -> None:
    """Run in a child process: the bare app, on `app.start()` or behind waitress."""
    app = bare_app(api_url)
    if server == "start":
        app.start(port=port, http_server_logger_enabled=False)
        return
    from waitress import serve

    from app.slack.app import LadderRequestHandler

    serve(LadderRequestHandler(app), host="127.0.0.1", port=port, threads=16, backlog=1024, _quiet=True)


def spawn(argv: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, *argv], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT), **env},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_listening(port: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if listening(port):
            return
        time.sleep(0.1)
    raise SystemExit(f"nothing listening on {port}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=300, help="requests per server, kind and concurrency")
    args = parser.parse_args()
    logging.disable(logging.WARNING)

    slack = SlackStandIn().start()
    for name in PEOPLE:
        slack.add_user(name, f"{name}@example.com")
    slack.add_channel("team-payments")
    sam = slack.user_by_email("sam@example.com")

    processes: list[subprocess.Popen] = []
    servers: dict[str, int] = {}
    result: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        try:
            for name, server in (("bare Bolt, app.start()", "start"), ("bare Bolt, waitress", "waitress")):
                port = free_port()
                processes.append(spawn(["-c", f"from bench.listener_latency import serve_bare; serve_bare({slack.api_url!r}, {port}, {server!r})"], {}))
                servers[name] = port
            port = free_port()
            db = Path(tmp) / "ladder.db"
            processes.append(spawn(["-m", "app", "run"], {
                "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_API_URL": slack.api_url,
                "PORT": str(port), "HOST": "127.0.0.1", "DATABASE_PATH": str(db), "CATALOG_PATH": str(TEST_CATALOG),
                "LOG_LEVEL": "ERROR"}))
            servers["Ladder"] = port
            for port in servers.values():
                wait_listening(port)

            # An incident to acknowledge, declared through Ladder itself.
            driver = SlackDriver(f"http://127.0.0.1:{servers['Ladder']}/slack/events", slack)
            driver.slash("bank transfers failing", sam)
            view = driver.opened_view("declare_incident")
            driver.submit(view, sam, {})
            slack.wait_for(lambda: slack.incident_channels(), timeout=20)

            for name, port in servers.items():
                for kind in ("command", "ack"):
                    for clients in LEVELS:
                        key = f"{name} | {kind} | {clients}"
                        result[key] = measure(port, bodies(kind, args.requests, slack, 1, sam), clients)
                        print(f"{key:42} p50 {result[key]['p50_ms']} ms  p99 {result[key]['p99_ms']} ms  "
                              f"failed {result[key]['failed']}/{args.requests}", flush=True)
        finally:
            for process in processes:
                process.send_signal(signal.SIGTERM)
            for process in processes:
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()
            slack.stop()
    for kind in ("command", "ack"):
        for clients in LEVELS:
            base = result[f"bare Bolt, app.start() | {kind} | {clients}"]["p50_ms"]
            ours = result[f"Ladder | {kind} | {clients}"]["p50_ms"]
            if base and ours:
                print(f"ratio Ladder / bare app.start() p50, {kind} at {clients} clients: {ours / base:.2f}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "listener_latency.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
