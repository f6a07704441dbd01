"""How long `check` and `simulate` take on a large generated catalog.

Generates 2,000 services, 300 teams, 300 schedules (two layers each, one restricted) and 300
policies (three levels, repeats, hand-offs on some), then times, in this process:
  - check: parse + validate + cross-references (the part that gates a reload),
  - lint: the reachability warning (168 hours x every policy),
  - simulate --no-ack for 50 services spread over the week,
  - routing, as `/incident <text>` and the type-ahead use it: building the index once per catalog,
    then `route` (the pre-selected service) and `search` (the menu's options) per call, median and
    p99 over 400 texts (names, aliases, typos, lower case, noise, prefixes), against rapidfuzz's
    `process.extractOne` over every service name in the same run (the obvious way to do it),
and, end to end, `python -m app check` and `python -m app simulate` as a user runs them.
The baseline, measured in the same run, is PyYAML's fastest safe load (libyaml) of the same file: the ratio says
what Ladder's validation costs on top of merely reading the YAML. Writes bench/results/catalog_scale.json.

    .venv/bin/python -m bench.catalog_scale [--services 2000 --teams 300 --schedules 300]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import yaml

from rapidfuzz import process

from app import routing
from app.catalog import parse_catalog
from app.catalog.lint import lint
from app.simulate import simulate

RESULTS = Path(__file__).parent / "results"
ROOT = Path(__file__).resolve().parent.parent
ZONES = ["Europe/London", "America/New_York", "Europe/Berlin", "Asia/Tokyo", "Australia/Sydney", "UTC"]


def generate(services: int, teams: int, schedules: int) -> str:
    out = ["severities:",
           '  - {id: sev1, label: "SEV1", rank: 1}', '  - {id: sev2, label: "SEV2", rank: 2}', '  - {id: sev3, label: "SEV3", rank: 3}',
           "teams:"]
    for t in range(teams):
        out += [f"  team-{t}:", f"    name: Team {t}", f"    timezone: {ZONES[t % len(ZONES)]}",
                "    working_hours: {days: [mon, tue, wed, thu, fri], start: '09:00', end: '18:00'}",
                f"    escalation_policy: {{default: policy-{t}, outside_working_hours: policy-{(t + 1) % teams}, by_severity: {{sev1: policy-{(t + 2) % teams}}}}}"]
    out.append("services:")
    for s in range(services):
        out.append(f"  - {{id: svc-{s}, name: Service {s}, aliases: [alias-{s}, thing {s}], keywords: [kw{s}], owner: team-{s % teams}, tier: {1 + s % 5}}}")
    out.append("schedules:")
    for k in range(schedules):
        zone = ZONES[k % len(ZONES)]
        out += [f"  sched-{k}:", f"    timezone: {zone}", "    layers:",
                f"      - {{name: weekly, members: [p{k}a@example.com, p{k}b@example.com, p{k}c@example.com], handoff: {{every: week, on: mon, at: '09:00'}}, start: '2026-01-05T09:00'}}",
                f"      - {{name: office, members: [p{k}d@example.com], handoff: '0 10 * * *', start: '2026-01-01T10:00', restrictions: [{{days: [mon, tue, wed, thu, fri], start: '09:00', end: '17:00'}}]}}",
                f"    overrides: [{{user: p{k}e@example.com, start: '2026-12-24T00:00', end: '2026-12-26T00:00'}}]"]
    out.append("policies:")
    for p in range(teams):
        then = f"\n    then: policy-{p + 1}" if p % 10 == 0 and p + 1 < teams else ""
        out += [f"  policy-{p}:", "    repeat: 2", "    levels:",
                f"      - {{targets: [{{schedule: sched-{p % schedules}}}], escalate_after: 5m}}",
                f"      - {{targets: [{{schedule: sched-{(p + 1) % schedules}}}, {{user: lead{p}@example.com}}], escalate_after: 10m}}",
                f"      - {{targets: [{{user: head{p}@example.com}}], escalate_after: 15m, notify_only: true}}" + then]
    return "\n".join(out) + "\n"


def timed(fn, repeat: int) -> tuple[float, object]:
    samples, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples), result


def routing_texts(services: int, count: int = 400) -> list[str]:
    """What people type: a name, an alias, a typo in one, lower case with noise around it, a type-ahead prefix."""
    shapes = [lambda n: f"Service {n}", lambda n: f"alias-{n} is down", lambda n: f"thnig {n} failing for customers",
              lambda n: f"service {n} errors since the deploy", lambda n: f"kw{n}", lambda n: "Serv", lambda n: "everything is broken"]
    return [shapes[i % len(shapes)]((i * 7919) % services) for i in range(count)]


def per_call(fn, items: list[str]) -> dict[str, float]:
    samples = []
    for item in items:
        start = time.perf_counter()
        fn(item)
        samples.append(time.perf_counter() - start)
    samples.sort()
    return {"median_ms": round(statistics.median(samples) * 1000, 3), "p99_ms": round(samples[int(len(samples) * 0.99) - 1] * 1000, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--services", type=int, default=2000)
    parser.add_argument("--teams", type=int, default=300)
    parser.add_argument("--schedules", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    text = generate(args.services, args.teams, args.schedules)
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    base, _ = timed(lambda: yaml.load(text, Loader=loader), args.repeat)  # noqa: S506 - a safe loader
    check, catalog = timed(lambda: parse_catalog(text, "generated.yaml"), args.repeat)
    lint_time, warnings = timed(lambda: lint(catalog, datetime(2026, 11, 22, tzinfo=timezone.utc)), 1)
    week = datetime(2026, 11, 23, tzinfo=timezone.utc)
    picks = [(f"svc-{(i * 37) % args.services}", week + timedelta(hours=(i * 7) % 168)) for i in range(50)]
    sim_total, sims = timed(lambda: [simulate(catalog, s, "sev2", at, True) for s, at in picks], 1)
    index_time, _ = timed(lambda: routing.RoutingIndex(catalog), 1)
    texts = routing_texts(args.services)
    routing.route(catalog, texts[0])  # the catalog's index, built once (what the bot does on the first /incident after a load)
    names = [service.name for service in catalog.services.values()]
    route_figures = per_call(lambda t: routing.route(catalog, t), texts)
    search_figures = per_call(lambda t: routing.search(catalog, t), texts)
    fuzz_figures = per_call(lambda t: process.extractOne(t, names), texts)

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "generated.yaml"
        path.write_text(text)
        cli = {}
        for name, argv in {"check": ["check", str(path)],
                           "simulate": ["simulate", "--catalog", str(path), "--service", "svc-1", "--at", "2026-11-28T03:00", "--no-ack"]}.items():
            start = time.perf_counter()
            done = subprocess.run([sys.executable, "-m", "app", *argv], cwd=ROOT, capture_output=True, text=True)
            cli[name] = time.perf_counter() - start
            assert done.returncode == 0, done.stderr

    result = {
        "services": args.services, "teams": args.teams, "schedules": args.schedules, "yaml_bytes": len(text),
        "baseline_yaml_safe_load_ms": round(base * 1000, 1),
        "check_validate_ms": round(check * 1000, 1), "check_ratio_to_yaml_load": round(check / base, 2),
        "lint_reachability_ms": round(lint_time * 1000, 1), "lint_warnings": len(warnings),
        "simulate_no_ack_ms_per_incident": round(sim_total / len(picks) * 1000, 2),
        "simulate_steps_per_incident": round(sum(len(s.events) for s in sims) / len(sims), 1),
        "cli_check_s": round(cli["check"], 2), "cli_simulate_s": round(cli["simulate"], 2),
        "routing_index_build_ms": round(index_time * 1000, 1), "routing_route": route_figures, "routing_search": search_figures,
        "baseline_rapidfuzz_extract_one": fuzz_figures,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "catalog_scale.json").write_text(json.dumps(result, indent=2))
    print(f"catalog of {args.services} services, {args.teams} teams, {args.schedules} schedules ({len(text) // 1024} KiB of YAML):")
    print(f"  baseline: YAML safe load only: {result['baseline_yaml_safe_load_ms']} ms")
    print(f"  check (parse + validate):      {result['check_validate_ms']} ms  ({result['check_ratio_to_yaml_load']}x the YAML load)")
    print(f"  lint (168 h x every policy):   {result['lint_reachability_ms']} ms, {result['lint_warnings']} warning(s)")
    print(f"  simulate --no-ack:             {result['simulate_no_ack_ms_per_incident']} ms per incident "
          f"({result['simulate_steps_per_incident']} steps each, 50 incidents)")
    print(f"  routing: index built once in {result['routing_index_build_ms']} ms; per call, median / p99: route"
          f" {route_figures['median_ms']} / {route_figures['p99_ms']} ms, search {search_figures['median_ms']} / {search_figures['p99_ms']} ms;"
          f" baseline rapidfuzz extractOne over the names {fuzz_figures['median_ms']} / {fuzz_figures['p99_ms']} ms")
    print(f"  end to end: python -m app check {result['cli_check_s']} s, simulate {result['cli_simulate_s']} s")


if __name__ == "__main__":
    main()
