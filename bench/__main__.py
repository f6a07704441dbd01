"""Run every benchmark, one after another: `.venv/bin/python -m bench [name ...]`.

Each prints its figures with a ratio against a baseline measured in the same run (or, for the
slope, against the smallest history), and writes a JSON result under bench/results/. They are on
demand, never part of the tests. What each measures:

  history            builds (or finds cached) the 1k and 10k histories the others run on
  slope              every listener and use case at 1k / 10k / 100k incidents of history: median and slope
  listener_latency   HTTP answer time at 1/10/50 clients and a mixed open loop during an escalation burst,
                     12 / 100 / 2,000 services, vs bare Bolt on the same waitress; CPU per request; 3 repeats
  engine             idle tick, cost per escalation fired, lateness from due to the page reaching Slack
  memory             peak RSS of the bot on the 10k history
  declare_to_page    view submission -> page DM at Slack
  alert_storm        500 declarations in 60 s under Slack's rate tiers; early retries fail the run
  catalog_scale      check / lint / simulate on 2,000 services
  oncall             who_is_on_call a day, a year and ten years after a rotation's start
  report             `python -m app report` on 1k / 10k / 100k incidents (the sizes cached): wall time and peak memory
  multi_host         declare-to-page and tick cost on PostgreSQL against SQLite; takeover after SIGKILL of the lease holder
"""

from __future__ import annotations

import subprocess
import sys
import time

BENCHES = ["history", "slope", "listener_latency", "engine", "memory", "declare_to_page", "alert_storm", "catalog_scale", "oncall", "report", "multi_host"]
ARGS = {"slope": ["--sizes", "1000", "10000"]}  # 100k on request: `python -m bench.slope --sizes 1000 10000 100000`


def main(argv: list[str]) -> int:
    chosen = argv or BENCHES
    unknown = [name for name in chosen if name not in BENCHES]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(BENCHES)}", file=sys.stderr)
        return 2
    failed = []
    for name in chosen:
        print(f"\n=== bench.{name} ===", flush=True)
        started = time.monotonic()
        code = subprocess.call([sys.executable, "-m", f"bench.{name}", *ARGS.get(name, [])])
        print(f"=== bench.{name}: {'ok' if code == 0 else f'failed ({code})'} in {time.monotonic() - started:.0f} s ===", flush=True)
        if code != 0:
            failed.append(name)
    print("\nresults in bench/results/*.json" + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
