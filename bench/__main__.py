"""Run every benchmark, one after another: `.venv/bin/python -m bench`.

Each prints its figures with a ratio against a baseline measured in the same run, and writes a
JSON result under bench/results/. They are on demand, never part of the tests.
"""

from __future__ import annotations

import subprocess
import sys
import time

BENCHES = ["declare_to_page", "alert_storm", "catalog_scale", "engine", "listener_latency", "memory", "oncall"]


def main() -> int:
    failed = []
    for name in BENCHES:
        print(f"\n=== bench.{name} ===", flush=True)
        started = time.monotonic()
        code = subprocess.call([sys.executable, "-m", f"bench.{name}"])
        print(f"=== bench.{name}: {'ok' if code == 0 else f'failed ({code})'} in {time.monotonic() - started:.0f} s ===", flush=True)
        if code != 0:
            failed.append(name)
    print("\nresults in bench/results/*.json" + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
