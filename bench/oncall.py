"""Who is on call: cost of one answer a day, a year and ten years after a rotation's start.

For per-minute, hourly and weekly hand-offs in Europe/London (two DST transitions a year), this
measures `who_is_on_call` cold (the first question about that rotation: its calendar is built)
and warm (the median of 200 more questions at instants spread over the same day), and compares
them with the obvious baseline run in the same process: enumerating every hand-off since the
start with croniter, as Ladder did before (capped at 20 s; per-minute ten years out never ends).
Goal: warm cost at ten years under 2x the cost at one day. Writes bench/results/oncall.json.

    .venv/bin/python -m bench.oncall
"""

from __future__ import annotations

import json
import statistics
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from croniter import croniter

from app.catalog import Schedule
from app.oncall import who_is_on_call

RESULTS = Path(__file__).parent / "results"
START = datetime(2026, 1, 5, 9, 0)
RULES = {"per-minute": "* * * * *", "hourly": "0 * * * *", "weekly": "0 9 * * MON"}
DISTANCES = {"1 day": timedelta(days=1), "1 year": timedelta(days=365), "10 years": timedelta(days=3652)}
BASELINE_BUDGET_S = 20.0


def schedule(rule: str, variant: int) -> Schedule:
    # A fresh start minute per measurement, so "cold" really is the first question about that rotation.
    start = START + timedelta(minutes=variant)
    return Schedule.model_validate({"timezone": "Europe/London", "rotation": {
        "members": ["a@example.com", "b@example.com", "c@example.com"], "handoff": rule, "start": start.isoformat()}})


def enumerate_baseline(rule: str, start: datetime, until: datetime) -> float | None:
    """Seconds croniter takes to walk every hand-off from the start to `until` (None: over budget)."""
    began = time.perf_counter()
    it = croniter(rule, start)
    while it.get_next(datetime) < until:
        if time.perf_counter() - began > BASELINE_BUDGET_S:
            return None
    return time.perf_counter() - began


def main() -> None:
    results: dict[str, dict[str, object]] = {}
    variant = 0
    for name, rule in RULES.items():
        results[name] = {}
        for label, distance in DISTANCES.items():
            variant += 1
            sched = schedule(rule, variant)
            at = (sched.layers[0].start + distance).replace(tzinfo=timezone.utc)
            began = time.perf_counter()
            who_is_on_call(sched, at)
            cold = time.perf_counter() - began
            samples = []
            for i in range(200):
                moment = at + timedelta(minutes=7 * i)
                began = time.perf_counter()
                who_is_on_call(sched, moment)
                samples.append(time.perf_counter() - began)
            warm = statistics.median(samples)
            base = enumerate_baseline(rule, sched.layers[0].start, sched.layers[0].start + distance)
            results[name][label] = {"cold_ms": round(cold * 1000, 3), "warm_us": round(warm * 1e6, 1),
                                    "baseline_enumerate_s": None if base is None else round(base, 3)}
        ratio = results[name]["10 years"]["warm_us"] / results[name]["1 day"]["warm_us"]  # type: ignore[index, operator]
        results[name]["ratio_10y_to_1d"] = round(ratio, 2)
    print("who_is_on_call, Europe/London, 3 members (warm = median of 200 questions; baseline = croniter walking every hand-off):")
    for name, rows in results.items():
        print(f"  {name} hand-off: ratio 10 years / 1 day = {rows['ratio_10y_to_1d']} (goal < 2)")
        for label in DISTANCES:
            row = rows[label]
            base = row["baseline_enumerate_s"]  # type: ignore[index]
            base_text = f"{base} s" if base is not None else f"over {BASELINE_BUDGET_S:.0f} s"
            print(f"    {label:>8} after start: warm {row['warm_us']} us, cold {row['cold_ms']} ms; baseline {base_text}")  # type: ignore[index]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "oncall.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
