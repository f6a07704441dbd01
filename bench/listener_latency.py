"""Listener latency: Slack's view of Ladder (time to the HTTP answer) under load, against the strongest bare baseline.

Three processes besides this one (which runs only the clients): Ladder (`python -m app run`, waitress,
its worker loop), the baseline (a bare Bolt app with `process_before_response=True` whose listeners
only ack, served by the same waitress `create_server` settings as Ladder), and the Slack stand-in
(bench.okslack: answers every Web API call at once). Ladder runs on a copy of a cached history
(bench.history, default 10,000 incidents) plus a pool of fresh open incidents, with the 12-service
bench catalog grown to 100 and 2,000 services. Each (catalog size x repeat) starts from a fresh copy
and fresh processes; three repeats give the spread.

Per repeat, for each server:
  - closed loop at 1, 10 and 50 clients: `/incident <text>` (Ladder routes it and opens the declare
    form after the answer) and an Acknowledge click, each click on a distinct open (triggered)
    incident; a new connection per request, as Slack makes; a 3 s client timeout, counted as a failure;
  - open loop (requests sent on a fixed schedule whatever the answers, latency counted from the
    scheduled instant): --rate requests a second for --seconds, mixed commands, Acknowledge clicks
    on distinct incidents, human messages in incident channels and service type-ahead, during an
    escalation burst: --burst incidents declared (by this process, before Ladder starts) five minutes
    before the window, so their first level times out and their ladders climb inside it;
  - server CPU per request: the server process's utime+stime (/proc/<pid>/stat) over each batch and
    the second after it (Ladder's after-the-answer work: forms opened, refreshes sent), / requests;
    split by thread (/proc/<pid>/task/*/stat and comm, read at the same instants) into
      background: the threads named (app.threads) ladder-worker, ladder-delivery and ladder-periodic,
        which send what a request caused (summary refresh, channel post) off the request path; in the
        mixed open loop they also climb the escalation burst's ladders, which no request caused;
      follow-ups: Bolt's listener threads (ladder-listener), running what a listener does after the
        answer: routing the text and opening the declare form (views.open), ephemeral replies;
      answer: the rest of the process (total - background - follow-ups): waitress's threads checking
        the signature, parsing, running Bolt and the use case up to Slack's answer, the main thread,
        and any thread that exited during the batch. This is what the 2x goal compares with the
        baseline, whose listeners only ack (so all of its CPU is answer).
    A thread not there at the first reading (executor threads start lazily) counts from 0.
Figures: p50/p99/max and failures per (catalog, server, kind, clients), medians over the repeats with
the p99 spread (min-max); CPU per request as total, answer, follow-ups and background; and Ladder's
answer CPU per request as a multiple of the baseline's, with Ladder's total beside it.
Writes bench/results/listener_latency.json.

    .venv/bin/python -m bench.listener_latency [--services 12 100 2000] [--repeats 3] [--requests 200]
        [--incidents 10000] [--rate 40] [--seconds 15] [--burst 200]
"""

from __future__ import annotations

import argparse
import http.client
import json
import logging
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from app import incidents
from app.catalog import load_catalog
from app.store import Store
from bench import history, payloads
from bench.catalogs import catalog_file
from bench.common import percentile, provenance
from tests.slack_driver import SIGNING_SECRET
from tests.slack_standin import BOT_TOKEN
from tests.support import ROOT, free_port, listening

RESULTS = Path(__file__).parent / "results"
LEVELS = (1, 10, 50)
TIMEOUT = 3.0  # Slack's deadline for an answer
PAYMENTS_SERVICES = ["bank-transfers", "card-payments", "ledger", "data-exports"]
CLICKER = "U0ALICE01"
CLK_TCK = os.sysconf("SC_CLK_TCK")


# -- the baseline -----------------------------------------------------------------------------------------------

def serve_bare(api_url: str, port: int) -> None:
    """Run in a child process: a bare Bolt app (listeners that only ack), on waitress with Ladder's server settings."""
    from slack_bolt import App
    from slack_sdk import WebClient
    from waitress.server import create_server

    from app.slack.app import LadderRequestHandler

    logging.disable(logging.WARNING)
    app = App(signing_secret=SIGNING_SECRET, client=WebClient(token=BOT_TOKEN, base_url=api_url), process_before_response=True)
    app.command("/incident")(lambda ack: ack())
    app.action({"action_id": __import__("re").compile(".*")})(lambda ack: ack())
    app.options("service")(lambda ack: ack(options=[]))
    app.event("message")(lambda: None)
    server = create_server(LadderRequestHandler(app, signing_secret=SIGNING_SECRET), host="127.0.0.1", port=port, threads=16,
                           backlog=1024, connection_limit=1000, channel_timeout=30, ident="Ladder", clear_untrusted_proxy_headers=True)
    server.run()


# -- processes --------------------------------------------------------------------------------------------------

def spawn(argv: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, *argv], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT), **env},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_listening(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if listening(port):
            return
        time.sleep(0.05)
    raise SystemExit(f"nothing listening on {port}")


def stop(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def stat_cpu_seconds(stat: str) -> float:
    """utime + stime from a /proc stat line; comm (in parentheses) may hold spaces and ')', so split at the last ')'."""
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime (fields 14 and 15 of stat)


def cpu_seconds(pid: int) -> float:
    return stat_cpu_seconds(Path(f"/proc/{pid}/stat").read_text())


BACKGROUND_THREADS = ("ladder-worker", "ladder-deliver", "ladder-periodic")  # comm prefixes (app.threads names them)
FOLLOW_UP_THREADS = ("ladder-listener",)
# Each figure reported per request, from its part of `cpu_split`.
CPU_FIGURES = {"cpu_ms_per_request": "total", "answer_cpu_ms_per_request": "answer",
               "follow_up_cpu_ms_per_request": "follow_ups", "background_cpu_ms_per_request": "background"}


def cpu_reading(pid: int) -> tuple[float, dict[tuple[int, str], tuple[str, float]]]:
    """The process's CPU seconds and each live thread's, keyed by (tid, start time) so a reused tid is a new thread."""
    total = cpu_seconds(pid)
    threads: dict[tuple[int, str], tuple[str, float]] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            stat = (task / "stat").read_text()
            comm = (task / "comm").read_text().rstrip("\n")
        except OSError:  # the thread ended between the listing and the read
            continue
        started = stat.rsplit(")", 1)[1].split()[19]  # starttime, field 22 of stat
        threads[(int(task.name), started)] = (comm, stat_cpu_seconds(stat))
    return total, threads


def cpu_split(before: tuple[float, dict[tuple[int, str], tuple[str, float]]],
              after: tuple[float, dict[tuple[int, str], tuple[str, float]]]) -> dict[str, float]:
    """CPU seconds between two readings: the process total, its background and follow-up threads', and the rest (answer)."""
    total = after[0] - before[0]

    def used_by(prefixes: tuple[str, ...]) -> float:
        return sum(seconds - before[1].get(key, ("", 0.0))[1] for key, (comm, seconds) in after[1].items() if comm.startswith(prefixes))

    background, follow_ups = used_by(BACKGROUND_THREADS), used_by(FOLLOW_UP_THREADS)
    return {"total": total, "background": background, "follow_ups": follow_ups, "answer": total - background - follow_ups}


# -- clients ----------------------------------------------------------------------------------------------------

def send(port: int, request: payloads.Request) -> tuple[float, bool]:
    body, content_type = request
    headers = payloads.signed_headers(body, content_type)
    started = time.perf_counter()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
        conn.request("POST", "/slack/events", body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        conn.close()
        elapsed = time.perf_counter() - started
        return elapsed, response.status == 200 and elapsed <= TIMEOUT
    except OSError:  # refused, reset, or the 3 s timeout
        return time.perf_counter() - started, False


def summarise(results: list[tuple[float, bool]], cpu: dict[str, float] | None = None) -> dict[str, Any]:
    ok = [latency for latency, good in results if good]
    figures: dict[str, Any] = {"requests": len(results), "failed": sum(1 for _, good in results if not good)}
    if ok:
        figures.update(p50_ms=round(percentile(ok, 50) * 1000, 2), p99_ms=round(percentile(ok, 99) * 1000, 2),
                       max_ms=round(max(ok) * 1000, 2))
    if cpu is not None:
        for name, part in CPU_FIGURES.items():
            figures[name] = round(cpu[part] / len(results) * 1000, 3)
    return figures


def closed_loop(port: int, pid: int, requests: list[payloads.Request], clients: int) -> dict[str, Any]:
    before = cpu_reading(pid)
    with ThreadPoolExecutor(max_workers=clients) as pool:
        results = list(pool.map(lambda request: send(port, request), requests))
    time.sleep(1.0)  # the work after the answer (forms, refreshes) belongs to these requests
    return summarise(results, cpu_split(before, cpu_reading(pid)))


def open_loop(port: int, pid: int, requests: list[tuple[str, payloads.Request]], rate: float) -> dict[str, Any]:
    """Each request sent at its slot (start + n / rate) by whichever sender is free; latency from the slot."""
    results: dict[str, list[tuple[float, bool]]] = {}
    lock = threading.Lock()
    start = time.perf_counter() + 0.2
    before = cpu_reading(pid)

    def fire(n: int) -> None:
        kind, request = requests[n]
        slot = start + n / rate
        time.sleep(max(0.0, slot - time.perf_counter()))
        elapsed, good = send(port, request)
        latency = time.perf_counter() - slot
        with lock:
            results.setdefault(kind, []).append((latency, good and latency <= TIMEOUT))

    with ThreadPoolExecutor(max_workers=200) as pool:
        list(pool.map(fire, range(len(requests))))
    time.sleep(1.0)
    cpu = cpu_split(before, cpu_reading(pid))
    every = [r for rs in results.values() for r in rs]
    return {"all": summarise(every, cpu), **{kind: summarise(rs) for kind, rs in sorted(results.items())}}


# -- Ladder's database for one repeat -----------------------------------------------------------------------------

def prepare(size: int, catalog_path: Path, work: Path, clicks: int, mixed_clicks: int) -> tuple[Path, list[int], dict[int, str]]:
    """The history plus `clicks + mixed_clicks` fresh triggered incidents (delivered), once per catalog size."""
    db = history.copy_of(size, work / "prepared.db")
    ladder = history.Ladder(db, load_catalog(catalog_path))
    try:
        now = datetime.now(timezone.utc)
        ladder.drain(now)
        ids = history.declare_open(ladder, clicks + mixed_clicks, now, seed=size, services=PAYMENTS_SERVICES)
        channels = {i: ladder.store.incident(i)["channel_id"] for i in ids}
    finally:
        ladder.close()
    return db, ids, channels


def declare_burst(db: Path, catalog_path: Path, count: int, due_in: float, spread: float) -> list[int]:
    """`count` incidents declared 5 minutes (their first level's timeout) before now + due_in..due_in + spread."""
    catalog = load_catalog(catalog_path)
    store = Store(db)
    ids = []
    try:
        base = datetime.now(timezone.utc) + timedelta(seconds=due_in) - timedelta(minutes=5)
        for n in range(count):
            request = incidents.DeclareRequest(f"Burst incident {n}", PAYMENTS_SERVICES[n % 4], "sev3", "U0SAM0001",
                                               view_id=f"VBURST{n:06d}-{time.time_ns()}")
            ids.append(incidents.declare(store, catalog, request, base + timedelta(seconds=spread * n / count)).incident["id"])
    finally:
        store.close()
    return ids


def ladder_fired(db: Path, ids: list[int]) -> int:
    store = Store(db)
    try:
        marks = ",".join(map(str, ids)) or "0"
        return store.conn.execute(f"SELECT COUNT(*) FROM tracks WHERE track = 'main' AND incident_id IN ({marks}) "
                                  "AND (level > 0 OR state != 'active')").fetchone()[0]
    finally:
        store.close()


# -- one repeat ---------------------------------------------------------------------------------------------------

def one_repeat(args: argparse.Namespace, catalog_path: Path, prepared: tuple[Path, list[int], dict[int, str]], work: Path,
               slack_url: str) -> dict[str, Any]:
    source, ids, channels = prepared
    db = work / "ladder.db"
    for suffix in ("", "-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    shutil.copyfile(source, db)
    mixed_count = int(args.rate * args.seconds)
    clicks_needed = args.requests * len(LEVELS)
    closed_ids, mixed_ids = ids[:clicks_needed], ids[clicks_needed:]
    burst = declare_burst(db, catalog_path, args.burst, due_in=12.0, spread=5.0)  # Ladder starts now; the window opens at ~+8 s

    ports = {"bare Bolt": free_port(), "Ladder": free_port()}
    started = time.monotonic()
    processes = {
        "Ladder": spawn(["-m", "app", "run"], {
            "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_API_URL": slack_url,
            "PORT": str(ports["Ladder"]), "HOST": "127.0.0.1", "DATABASE_PATH": str(db), "CATALOG_PATH": str(catalog_path),
            "LOG_LEVEL": "ERROR"}),
        "bare Bolt": spawn(["-c", f"from bench.listener_latency import serve_bare; serve_bare({slack_url!r}, {ports['bare Bolt']})"], {}),
    }
    out: dict[str, Any] = {}
    try:
        for port in ports.values():
            wait_listening(port)
        out["ladder_start_s"] = round(time.monotonic() - started, 2)
        rng = random.Random(args.seed)
        trigger = lambda: f"{rng.randrange(10**9)}.{rng.randrange(10**9)}.bench"  # noqa: E731 - okslack takes any trigger
        response_url = f"{slack_url.removesuffix('/api/')}/response/1"
        texts = ["bank transfers failing", "card payments down", "login errors", "public api 500s", "search slow"]

        def command(n: int) -> payloads.Request:
            return payloads.command(texts[n % len(texts)], CLICKER, trigger(), response_url)

        def click(incident_id: int) -> payloads.Request:
            return payloads.button("incident_ack", str(incident_id), CLICKER, trigger(), response_url, channel=channels[incident_id])

        for port in ports.values():  # warm-up, untimed: imports, first views.open, connection set-up
            for n in range(10):
                send(port, command(n))
                send(port, payloads.suggestion("bank", CLICKER))

        # The mixed open loop first, while the burst's ladders climb.
        mixed_plan: list[tuple[str, payloads.Request]] = []
        click_iter = iter(mixed_ids)
        for n in range(mixed_count):
            roll = rng.random()
            if roll < 0.3:
                mixed_plan.append(("command", command(n)))
            elif roll < 0.6:
                incident_id = next(click_iter, None)
                mixed_plan.append(("click", click(incident_id)) if incident_id else ("command", command(n)))
            elif roll < 0.85:
                mixed_plan.append(("message", payloads.message_event(channels[rng.choice(ids)], "U0BOB0001", "any news?")))
            else:
                mixed_plan.append(("type-ahead", payloads.suggestion(rng.choice(["b", "ba", "ban", "bank", "log", "api"]), CLICKER)))
        time.sleep(max(0.0, started + 8 - time.monotonic()))
        out["mixed"] = {"Ladder": open_loop(ports["Ladder"], processes["Ladder"].pid, mixed_plan, args.rate)}
        out["burst_ladders_climbed"] = f"{ladder_fired(db, burst)}/{len(burst)}"
        out["mixed"]["bare Bolt"] = open_loop(ports["bare Bolt"], processes["bare Bolt"].pid, mixed_plan, args.rate)

        click_iter = iter(closed_ids)
        for name, port in ports.items():
            for clients in LEVELS:
                for kind in ("command", "click"):
                    if kind == "command":
                        batch = [command(n) for n in range(args.requests)]
                    elif name == "Ladder":
                        batch = [click(next(click_iter)) for _ in range(args.requests)]
                    else:
                        batch = [click(i) for i in closed_ids[:args.requests]]
                    out[f"{name} | {kind} | {clients}"] = closed_loop(port, processes[name].pid, batch, clients)
    finally:
        for process in processes.values():
            stop(process)
    return out


def merge(repeats: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians over the repeats, with the p99 spread."""
    merged: dict[str, Any] = {}
    keys = [k for k in repeats[0] if " | " in k]
    for key in keys:
        runs = [r[key] for r in repeats]
        p99s = [r["p99_ms"] for r in runs if "p99_ms" in r]
        merged[key] = {"p50_ms": statistics.median(r.get("p50_ms", float("nan")) for r in runs),
                       "p99_ms": statistics.median(p99s) if p99s else None,
                       "p99_spread_ms": [min(p99s), max(p99s)] if p99s else None,
                       "max_ms": max(r.get("max_ms", 0) for r in runs), "failed": sum(r["failed"] for r in runs),
                       "requests": sum(r["requests"] for r in runs), **cpu_medians(runs)}
    for server in ("Ladder", "bare Bolt"):
        for kind in repeats[0]["mixed"][server]:
            runs = [r["mixed"][server][kind] for r in repeats]
            p99s = [r["p99_ms"] for r in runs if "p99_ms" in r]
            merged[f"{server} | mixed {kind}"] = {
                "p50_ms": statistics.median(r.get("p50_ms", float("nan")) for r in runs),
                "p99_ms": statistics.median(p99s) if p99s else None, "p99_spread_ms": [min(p99s), max(p99s)] if p99s else None,
                "max_ms": max(r.get("max_ms", 0) for r in runs), "failed": sum(r["failed"] for r in runs),
                "requests": sum(r["requests"] for r in runs),
                **(cpu_medians(runs) if kind == "all" else {})}
    return merged


def cpu_medians(runs: list[dict[str, Any]]) -> dict[str, float]:
    """Each CPU figure's median over the repeats (each its own median: the parts need not sum to the total)."""
    return {name: statistics.median(r[name] for r in runs) for name in CPU_FIGURES}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--services", type=int, nargs="+", default=[12, 100, 2000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--requests", type=int, default=200, help="requests per server, kind and concurrency")
    parser.add_argument("--incidents", type=int, default=10_000, help="history size (bench.history)")
    parser.add_argument("--rate", type=float, default=40.0, help="open-loop requests a second")
    parser.add_argument("--seconds", type=float, default=15.0, help="open-loop window")
    parser.add_argument("--burst", type=int, default=200, help="ladders timing out during the open-loop window")
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()
    logging.getLogger("app").setLevel(logging.ERROR)

    slack_port = free_port()
    slack = spawn(["-m", "bench.okslack", str(slack_port)], {})
    slack_url = f"http://127.0.0.1:{slack_port}/api/"
    wait_listening(slack_port)
    result: dict[str, Any] = {**provenance(), "settings": {**vars(args), "timeout_s": TIMEOUT, "levels": LEVELS, "cpus": os.cpu_count()}, "catalogs": {}}
    began = time.monotonic()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            for services in args.services:
                catalog_path = catalog_file(services, work)
                prepared = prepare(args.incidents, catalog_path, work, args.requests * len(LEVELS), int(args.rate * args.seconds * 0.35) + 1)
                repeats = []
                for repeat in range(args.repeats):
                    repeats.append(one_repeat(args, catalog_path, prepared, work, slack_url))
                    print(f"{services} services, repeat {repeat + 1}/{args.repeats} done ({time.monotonic() - began:.0f} s)", flush=True)
                merged = merge(repeats)
                result["catalogs"][str(services)] = {"merged": merged, "repeats": repeats}
                print_table(services, merged, repeats)
    finally:
        stop(slack)
    result["seconds"] = round(time.monotonic() - began, 1)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "listener_latency.json").write_text(json.dumps(result, indent=2))


def print_table(services: int, merged: dict[str, Any], repeats: list[dict[str, Any]]) -> None:
    print(f"\n{services} services ({len(repeats)} repeats; medians, p99 spread min-max; 3 s timeout = failure):")
    for key, row in merged.items():
        spread = f"[{row['p99_spread_ms'][0]:.1f}-{row['p99_spread_ms'][1]:.1f}]" if row.get("p99_spread_ms") else ""
        cpu = (f"  cpu/req {row['cpu_ms_per_request']:.2f} ms (answer {row['answer_cpu_ms_per_request']:.2f}, follow-ups"
               f" {row['follow_up_cpu_ms_per_request']:.2f}, background {row['background_cpu_ms_per_request']:.2f})"
               if "cpu_ms_per_request" in row else "")
        print(f"  {key:34} p50 {row['p50_ms']:8.2f}  p99 {row['p99_ms'] or float('nan'):8.2f} {spread:17} max {row['max_ms']:8.1f}"
              f"  failed {row['failed']}/{row['requests']}{cpu}")

    def median_over_levels(server: str, kind: str, figure: str) -> float:
        return statistics.median(merged[f"{server} | {kind} | {c}"][figure] for c in LEVELS)

    for kind in ("command", "click"):
        ours = median_over_levels("Ladder", kind, "answer_cpu_ms_per_request")
        base = median_over_levels("bare Bolt", kind, "answer_cpu_ms_per_request")  # bare Bolt's listeners only ack: all answer
        total = median_over_levels("Ladder", kind, "cpu_ms_per_request")
        follow_ups = median_over_levels("Ladder", kind, "follow_up_cpu_ms_per_request")
        background = median_over_levels("Ladder", kind, "background_cpu_ms_per_request")
        times = (lambda ms: f"{ms / base:.2f}x") if base else (lambda ms: "n/a: bare Bolt measured 0")
        print(f"  CPU per {kind} to the answer: Ladder {ours:.2f} ms, bare Bolt {base:.2f} ms: {times(ours)} (goal <= 2x);"
              f" then follow-ups {follow_ups:.2f} ms and the worker {background:.2f} ms; Ladder total {total:.2f} ms ({times(total)})")
    print(f"  escalation burst: ladders climbed during the window {[r['burst_ladders_climbed'] for r in repeats]}")


if __name__ == "__main__":
    main()
