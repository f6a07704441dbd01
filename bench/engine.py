"""Escalation engine: tick cost with nothing due, cost per escalation fired, and lateness.

Builds a database with 10,000 open and 100,000 resolved incidents (bulk SQL in the app's own
schema; open incidents' timers are a day away), then measures, in this run:
  - a tick with nothing due (median of 2,000), against a bare `SELECT 1` on the same connection,
  - the cost per escalation fired: 1,000 tracks due at once, advanced by one tick,
  - lateness of 1,000 escalations due within the same minute, with the real worker loop ticking
    every second and a Slack stand-in that answers every call in 100 ms: fire time minus due
    time (p50/p99), and when the resulting page reached Slack.
Goal: a tick with nothing due under 2 ms whatever the number of incidents; p99 lateness under one
tick interval. Writes bench/results/engine.json.

    .venv/bin/python -m bench.engine [--open 10000 --resolved 100000 --due 1000 --latency 0.1]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from app.worker import tick
from app.escalation import Snapshot
from app.runtime import Runtime
from app.store import iso, parse_iso
from bench.common import percentile
from tests.support import PEOPLE, ladder_settings
from tests.slack_standin import SlackStandIn

RESULTS = Path(__file__).parent / "results"
CATALOG = Path(__file__).resolve().parent.parent / "tests" / "engine_catalog.yaml"


def populate(runtime: Runtime, opened: int, resolved: int, now: datetime) -> None:
    catalog = runtime.catalog
    snapshot = Snapshot.from_catalog(catalog, "payments").to_json()
    far = iso(now + timedelta(days=1))
    stamp = iso(now - timedelta(hours=1))
    with runtime.store.transaction() as tx:
        for number in range(1, opened + resolved + 1):
            status = "triggered" if number <= opened else "resolved"
            tx.conn.execute(
                """INSERT INTO incidents(id, number, title, service_id, service_name, team_id, team_name, severity, status,
                     declared_by, declared_at, updated_at, channel_id, resolved_at)
                   VALUES (?, ?, ?, 'bank-transfers', 'Bank transfers', 'payments', 'Payments', 'sev2', ?, 'U0SAM', ?, ?, NULL, ?)""",
                (number, number, f"Incident {number}", status, stamp, stamp, stamp if status == "resolved" else None))
            tx.conn.execute(
                """INSERT INTO tracks(incident_id, track, label, snapshot, policy, level, loop, state, paged_at, due_at, created_at)
                   VALUES (?, 'main', 'Payments', ?, 'payments', 0, 0, ?, ?, ?, ?)""",
                (number, snapshot, "active" if status == "triggered" else "stopped", stamp, far if status == "triggered" else None, stamp))


def make_due(runtime: Runtime, count: int, first: datetime, spread_seconds: float) -> None:
    """Bring `count` open incidents' timers to instants spread over `spread_seconds` from `first`."""
    with runtime.store.transaction() as tx:
        rows = tx.conn.execute("SELECT id FROM tracks WHERE state = 'active' ORDER BY id LIMIT ?", (count,)).fetchall()
        for index, row in enumerate(rows):
            due = first + timedelta(seconds=spread_seconds * index / max(1, count))
            tx.conn.execute("UPDATE tracks SET due_at = ? WHERE id = ?", (iso(due), row["id"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--open", type=int, default=10_000)
    parser.add_argument("--resolved", type=int, default=100_000)
    parser.add_argument("--due", type=int, default=1_000)
    parser.add_argument("--latency", type=float, default=0.1)
    args = parser.parse_args()

    slack = SlackStandIn().start()
    for name in PEOPLE:
        slack.add_user(name, f"{name}@example.com")
    slack.add_channel("team-payments")
    result: dict[str, object] = {"open": args.open, "resolved": args.resolved, "due": args.due, "slack_latency_s": args.latency}
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        runtime = Runtime(ladder_settings(slack, db, CATALOG, TICK_SECONDS="1", DELIVERY_THREADS="8"))
        try:
            now = datetime.now(timezone.utc)
            started = time.perf_counter()
            populate(runtime, args.open, args.resolved, now)
            result["populate_s"] = round(time.perf_counter() - started, 1)
            store, catalog = runtime.store, runtime.catalog

            # 1. A tick with nothing due.
            samples, base = [], []
            for _ in range(2000):
                t0 = time.perf_counter()
                store.conn.execute("SELECT 1").fetchone()
                base.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                tick(store, catalog, now)
                samples.append(time.perf_counter() - t0)
            idle, baseline = statistics.median(samples), statistics.median(base)
            result.update(idle_tick_ms=round(idle * 1000, 4), idle_tick_p99_ms=round(percentile(samples, 99) * 1000, 4),
                          baseline_select1_ms=round(baseline * 1000, 4), idle_tick_ratio_to_select1=round(idle / baseline, 1))

            # 2. Cost per escalation fired: 1,000 due at once, one tick.
            make_due(runtime, args.due, now - timedelta(seconds=1), 0)
            t0 = time.perf_counter()
            report = tick(store, catalog, now)
            fired_cost = time.perf_counter() - t0
            result.update(batch_fired=report.fired, per_escalation_ms=round(fired_cost / max(1, report.fired) * 1000, 3),
                          batch_tick_ms=round(fired_cost * 1000, 1))
            with store.transaction() as tx:  # the pages of that batch are not part of the next measurement
                tx.conn.execute("UPDATE outbox SET status = 'cancelled' WHERE status = 'pending'")

            # 3. Lateness with the live loop: 1,000 escalations due within the next minute.
            slack.slow("*", args.latency)
            first = datetime.now(timezone.utc) + timedelta(seconds=3)
            with store.transaction() as tx:  # fresh incidents for the live run: the batch above moved theirs on
                tx.conn.execute("UPDATE tracks SET due_at = ? WHERE state = 'active' AND level = 1",
                             (iso(now + timedelta(days=1)),))
                rows = tx.conn.execute("SELECT id FROM tracks WHERE state = 'active' AND level = 0 ORDER BY id LIMIT ?", (args.due,)).fetchall()
                for index, row in enumerate(rows):
                    tx.conn.execute("UPDATE tracks SET due_at = ? WHERE id = ?", (iso(first + timedelta(seconds=60 * index / args.due)), row["id"]))
                live_ids = [row["id"] for row in rows]
            dues = {row["incident_id"]: parse_iso(row["due_at"]) for row in
                    store.conn.execute(f"SELECT incident_id, due_at FROM tracks WHERE id IN ({','.join(map(str, live_ids))})")}
            pages_before = len(slack.calls_to("chat.postMessage"))
            runtime.worker.start()
            deadline = time.monotonic() + 60 + 120
            while time.monotonic() < deadline:
                fired = store.conn.execute(
                    f"SELECT COUNT(*) AS n FROM tracks WHERE id IN ({','.join(map(str, live_ids))}) AND level = 1").fetchone()["n"]
                if fired == len(live_ids):
                    break
                time.sleep(0.5)
            lateness = []
            for row in store.conn.execute(
                    f"SELECT incident_id, at FROM timeline WHERE kind = 'level_paged' AND incident_id IN ({','.join(map(str, dues))})"):
                lateness.append((parse_iso(row["at"]) - dues[row["incident_id"]]).total_seconds())
            result.update(live_fired=len(lateness), lateness_p50_s=round(percentile(lateness, 50), 3),
                          lateness_p99_s=round(percentile(lateness, 99), 3), lateness_max_s=round(max(lateness), 3),
                          tick_interval_s=1.0)
            until = time.monotonic() + 120
            while time.monotonic() < until and store.pending_count():
                time.sleep(0.5)
            arrivals = len(slack.calls_to("chat.postMessage")) - pages_before
            result["pages_reached_slack"] = arrivals
        finally:
            runtime.close()
            slack.stop()
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "engine.json").write_text(json.dumps(result, indent=2))
    print(f"engine with {args.open:,} open and {args.resolved:,} resolved incidents (populated in {result['populate_s']} s):")
    print(f"  tick with nothing due: median {result['idle_tick_ms']} ms, p99 {result['idle_tick_p99_ms']} ms "
          f"(baseline SELECT 1: {result['baseline_select1_ms']} ms, ratio {result['idle_tick_ratio_to_select1']}x); goal < 2 ms")
    print(f"  {result['batch_fired']} escalations due at once: one tick of {result['batch_tick_ms']} ms, "
          f"{result['per_escalation_ms']} ms per escalation fired")
    print(f"  {result['live_fired']} escalations due within one minute, live loop ticking every 1 s, Slack answering in "
          f"{args.latency * 1000:.0f} ms: lateness p50 {result['lateness_p50_s']} s, p99 {result['lateness_p99_s']} s, "
          f"max {result['lateness_max_s']} s; goal p99 < 1 tick (1 s)")
    print(f"  pages that reached Slack afterwards: {result['pages_reached_slack']}")


if __name__ == "__main__":
    main()
