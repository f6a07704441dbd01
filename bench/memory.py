"""Memory: peak RSS of the running bot on a year of history.

Copies the cached history of --incidents incidents (bench.history: built through the use cases, with
pages, escalations, timeline, rule timers and sent outbox rows), starts `python -m app run` on it
against the Slack stand-in, lets it serve a few dozen
requests (declarations, /incident oncall, acknowledgements) and tick, then reads the process's
peak resident set (VmHWM). The baseline, measured in the same run, is an interpreter that only
imports the app. Writes bench/results/memory.json.

    .venv/bin/python -m bench.memory [--incidents 10000]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import history
from bench.common import provenance
from bench.catalogs import BASE as CATALOG
from bench.listener_latency import wait_listening
from tests.support import ROOT, free_port
from tests.slack_driver import SIGNING_SECRET, SlackDriver
from tests.slack_standin import BOT_TOKEN, SlackStandIn

RESULTS = Path(__file__).parent / "results"


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM (not Linux?)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--incidents", type=int, default=10_000, help="history size (bench.history; built and cached on first use)")
    args = parser.parse_args()

    baseline = subprocess.Popen([sys.executable, "-c", "import app.runtime, app.cli, sys; sys.stdin.read()"],
                                cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdin=subprocess.PIPE)
    time.sleep(3)
    base = peak_rss_mib(baseline.pid)
    baseline.communicate(b"")

    slack = SlackStandIn().start()
    history.add_people(slack)
    sam = slack.user_by_email("sam@example.com")
    with tempfile.TemporaryDirectory() as tmp:
        db = history.copy_of(args.incidents, Path(tmp) / "ladder.db")
        size = db.stat().st_size / 2**20
        port = free_port()
        bot = subprocess.Popen([sys.executable, "-m", "app", "run"], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env={**os.environ, "PYTHONPATH": str(ROOT), "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET,
                                    "SLACK_API_URL": slack.api_url, "PORT": str(port), "HOST": "127.0.0.1", "DATABASE_PATH": str(db),
                                    "CATALOG_PATH": str(CATALOG), "LOG_LEVEL": "ERROR"})
        try:
            wait_listening(port)
            driver = SlackDriver(f"http://127.0.0.1:{port}/slack/events", slack)
            for n in range(20):
                opened = len(slack.ok_calls_to("views.open"))
                driver.slash(f"bank transfers failing {n}", sam)
                view = driver.opened_view("declare_incident", after=opened)
                driver.submit(view, sam, {})
                driver.slash("oncall", sam)
            time.sleep(3)  # a few ticks, and the outbox drained
            peak = peak_rss_mib(bot.pid)
        finally:
            bot.send_signal(signal.SIGTERM)
            bot.wait(15)
            slack.stop()
    result = {**provenance(), "incidents": args.incidents, "database_mib": round(size, 1), "bot_peak_rss_mib": round(peak, 1),
              "baseline_import_only_mib": round(base, 1), "ratio_to_baseline": round(peak / base, 2)}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "memory.json").write_text(json.dumps(result, indent=2))
    print(f"bot with {args.incidents:,} incidents in a {result['database_mib']} MiB database, after 20 declarations and 20 /incident oncall:")
    print(f"  peak RSS {result['bot_peak_rss_mib']} MiB; baseline (interpreter + imports only) {result['baseline_import_only_mib']} MiB; "
          f"ratio {result['ratio_to_baseline']}x")


if __name__ == "__main__":
    main()
