"""`python -m app report` on the cached histories: wall time and peak memory per size, against a process that only starts.

For each size (default 1k, 10k, 100k) whose history is cached (bench/history.py; a size not built yet is skipped with
a message, never built here: the 100k history takes hours), a private copy is opened once (a newer schema migrates it
in place, building `incidents_declared` on the copy; not timed), then the real command runs in a subprocess over the
whole history, `--format json` and `--format text`, writing to a file. Peak memory is the child's ru_maxrss (os.wait4);
the baseline is the same interpreter importing the report's modules and exiting, so the difference is the report's own.

    .venv/bin/python -m bench.report [--sizes 1000 10000 100000]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench import history
from bench.catalogs import BASE
from bench.common import provenance

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = Path(__file__).resolve().parent.parent


def _child(argv: list[str]) -> tuple[float, float, int, str]:
    """Run argv; (wall seconds, peak RSS in MiB, exit code, stderr)."""
    started = time.monotonic()
    process = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.monotonic() - started
    err = process.stderr.read()
    process.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_maxrss / 1024, process.returncode, err


def measure(count: int, work: Path) -> dict[str, Any] | None:
    source = history.CACHE / f"{history.cache_key(count, 30)}.db"
    if not source.exists():
        print(f"{count:,}: no cached history at {source.name}; build it with `python -m bench.history {count}` (skipped)")
        return None
    db = history.copy_of(count, work / f"history-{count}.db")
    from app.store import Store
    Store(db).close()  # migrate the copy now, so that the timed runs only read
    span = history.YEAR * max(1, math.ceil(count / history.PER_YEAR_MAX))
    since = (history.END - span - timedelta(days=1)).date().isoformat()
    until = history.END.date().isoformat()
    base_wall, base_rss, _, _ = _child([sys.executable, "-c", "import app.cli, app.report.figures, app.report.text, app.report.as_json, "
                                                              "app.store, app.catalog"])
    result: dict[str, Any] = {"incidents": count, "since": since, "until": until, "baseline_start_s": round(base_wall, 3),
                              "baseline_rss_mib": round(base_rss, 1)}
    for fmt in ("json", "text"):
        out = work / f"report-{count}.{fmt}"
        wall, rss, code, err = _child([sys.executable, "-m", "app", "report", "--since", since, "--until", until, "--db", str(db),
                                       "--catalog", str(BASE), "--format", fmt, "--out", str(out)])
        if code != 0:
            raise SystemExit(f"report on {count:,} incidents failed ({code}): {err.strip()}")
        result[fmt] = {"wall_s": round(wall, 2), "peak_rss_mib": round(rss, 1), "over_baseline_mib": round(rss - base_rss, 1),
                       "output_kib": round(out.stat().st_size / 1024, 1)}
        print(f"{count:>7,} incidents, --format {fmt}: {wall:6.2f} s wall, peak RSS {rss:6.1f} MiB "
              f"({rss - base_rss:+.1f} MiB over a bare start of {base_rss:.1f} MiB in {base_wall:.2f} s)", flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 100_000])
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="ladder-bench-report-") as tmp:
        for count in args.sizes:
            found = measure(count, Path(tmp))
            if found is not None:
                results.append(found)
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / "report.json"
    path.write_text(json.dumps({"bench": "report", **provenance(), "sizes": results}, indent=2) + "\n")
    print(f"results in {path}")


if __name__ == "__main__":
    main()
