"""`simulate`: the path an incident would take, on the live engine, minute by minute."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

from app.catalog import load_catalog, parse_catalog
from app.simulate import render, simulate

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "manifests" / "catalog.yaml"
SAT_3AM = datetime(2026, 11, 28, 3, 0, tzinfo=timezone.utc)


def steps(sim) -> list[tuple[int, str, str, int, list[str]]]:
    return [(s["minute"], s["kind"], s["policy"], s["level"], [t["ref"] for t in s["targets"]]) for s in sim.as_dict()["steps"]]


def test_weekend_night_uses_the_night_policy_and_repeats() -> None:
    catalog = load_catalog(EXAMPLE)
    sim = simulate(catalog, "bank-transfers", "sev2", SAT_3AM, no_ack=True)
    assert sim.policy_id == "payments-nights" and "outside Payments working hours" in sim.policy_reason
    assert steps(sim) == [
        (0, "paged", "payments-nights", 1, ["alice@example.com"]),
        (10, "paged", "payments-nights", 2, ["dana@example.com"]),
        (25, "repeat", "payments-nights", 1, []),
        (25, "paged", "payments-nights", 1, ["alice@example.com"]),
        (35, "paged", "payments-nights", 2, ["dana@example.com"]),
        (50, "exhausted", "payments-nights", 2, []),
    ]
    assert sim.ends == "exhausted"


def test_sev1_hands_off_to_leadership() -> None:
    sim = simulate(load_catalog(EXAMPLE), "bank-transfers", "sev1", SAT_3AM, no_ack=True)
    assert sim.policy_id == "payments-critical"
    assert [(m, k, p) for m, k, p, _, _ in steps(sim)] == [
        (0, "paged", "payments-critical"), (5, "paged", "payments-critical"), (10, "handoff", "payments-critical"),
        (10, "paged", "leadership"), (20, "exhausted", "leadership")]


def test_without_no_ack_it_stops_at_the_first_page_and_says_when_the_next_comes() -> None:
    catalog = load_catalog(EXAMPLE)
    sim = simulate(catalog, "bank-transfers", "sev2", datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc), no_ack=False)
    assert steps(sim) == [(0, "paged", "payments", 1, ["carol@example.com"])]
    assert sim.next_due == datetime(2026, 11, 23, 10, 5, tzinfo=timezone.utc)
    text = render(sim, catalog)
    assert "within Payments working hours" in text and "if nobody acknowledges within 5m" in text


CATALOG = """\
severities: [{id: sev1, label: SEV1}]
teams: {core: {name: Core, escalation_policy: core}}
services: [{id: api, name: API, owner: core}]
schedules:
  office:
    timezone: UTC
    rotation: {members: [o@example.com], restrictions: [{days: [mon, tue, wed, thu, fri], start: '09:00', end: '17:00'}]}
policies:
  core:
    repeat: 1
    levels:
      - {targets: [{schedule: office}], escalate_after: 5m, when_empty: %s}
      - {targets: [{user: boss@example.com}], escalate_after: 10m, notify_only: true}
"""


def test_empty_level_is_skipped_at_once_by_default() -> None:
    sim = simulate(parse_catalog(CATALOG % "skip"), "api", None, SAT_3AM, no_ack=True)
    assert [(m, k, lvl) for m, k, _, lvl, _ in steps(sim)] == [
        (0, "skipped", 1), (0, "paged", 2), (10, "repeat", 1), (10, "skipped", 1), (10, "paged", 2), (20, "exhausted", 2)]
    assert sim.events[0].gaps == ["nobody is on call for office: layer 1 only covers Mon–Fri 09:00–17:00 UTC"]
    assert sim.events[1].notify_only


def test_empty_level_can_wait_out_its_timeout() -> None:
    sim = simulate(parse_catalog(CATALOG % "wait"), "api", None, SAT_3AM, no_ack=True)
    assert [(m, k, lvl) for m, k, _, lvl, _ in steps(sim)][:2] == [(0, "waiting", 1), (5, "paged", 2)]


def test_cli_simulate_json_and_text() -> None:
    args = [sys.executable, "-m", "app", "simulate", "--catalog", str(EXAMPLE), "--service", "bank-transfers",
            "--severity", "sev1", "--at", "2026-11-28T03:00", "--no-ack"]
    result = subprocess.run([*args, "--json"], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["policy"] == "payments-critical" and data["steps"][-1]["kind"] == "exhausted"
    text = subprocess.run(args, capture_output=True, text=True, cwd=ROOT, timeout=60).stdout
    assert "+10m   Sat 03:10  policy payments-critical exhausted: handing off to policy leadership" in text
    unknown = subprocess.run([*args[:6], "--service", "nope"], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert unknown.returncode == 2 and "argument --service: unknown service 'nope'" in unknown.stderr  # a bad flag, as argparse says it


def test_cli_check_json_and_oncall_week() -> None:
    check = subprocess.run([sys.executable, "-m", "app", "check", str(EXAMPLE), "--json"], capture_output=True, text=True, cwd=ROOT, timeout=60)
    data = json.loads(check.stdout)
    assert check.returncode == 0 and data["ok"] and data["summary"]["services"] == 12 and data["errors"] == []
    oncall = subprocess.run([sys.executable, "-m", "app", "oncall", "--catalog", str(EXAMPLE), "--schedule", "payments-primary",
                             "--at", "2026-11-23T10:00", "--week", "--json"], capture_output=True, text=True, cwd=ROOT, timeout=60)
    report = json.loads(oncall.stdout)
    entry = report["schedules"][0]
    assert entry["on_call"] == "carol@example.com"
    assert [s["on_call"] for s in entry["shifts"][:3]] == ["carol@example.com", "alice@example.com", "carol@example.com"]
    text = subprocess.run([sys.executable, "-m", "app", "oncall", "--catalog", str(EXAMPLE), "--team", "payments", "--at", "2026-11-28T03:00"],
                          capture_output=True, text=True, cwd=ROOT, timeout=60).stdout
    assert "Team Payments: policy payments-nights (outside Payments working hours" in text


def test_cli_check_reports_every_error_and_exits_1(tmp_path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(EXAMPLE.read_text().replace("owner: identity", "owner: identiy").replace("timezone: Europe/Berlin", "timezone: Europe/Berln"))
    result = subprocess.run([sys.executable, "-m", "app", "check", str(broken), "--json"], capture_output=True, text=True, cwd=ROOT, timeout=60)
    data = json.loads(result.stdout)
    assert result.returncode == 1 and not data["ok"]
    paths = {e["path"] for e in data["errors"]}
    assert {"services[3].owner", "services[4].owner", "teams.platform.timezone", "schedules.platform-primary.timezone"} <= paths
    assert all(e["line"] for e in data["errors"])


def test_simulate_shows_the_rules_beside_the_ladder() -> None:
    sim = simulate(load_catalog(EXAMPLE), "bank-transfers", "sev1", SAT_3AM, no_ack=True, horizon=timedelta(hours=1))
    rules = [(r["minute"], r["rule"], r["do"]) for r in sim.as_dict()["rules"]]
    assert rules == [
        (0, "sev1-tell-leadership", "notify #incident-leadership"),
        (0, "sev1-assign-lead", "nudge"),
        (5, "sev1-unacknowledged", "escalate: nothing further up the ladder to page"),  # the ladder's own level 2 came first
        (10, "payments-sev1-leadership", "escalate to team leadership (their ladder starts)"),
        (30, "status-updates", "remind update"),
        (60, "status-updates", "remind update"),
    ]


def test_a_rule_that_escalates_before_the_policy_moves_the_simulated_ladder() -> None:
    text = CATALOG % "skip" + """
rules:
  - {id: fast, when: {unacknowledged_for: 1m}, do: escalate}
"""
    catalog = parse_catalog(text.replace("when_empty: skip", "when_empty: skip").replace("{schedule: office}", "{user: o@example.com}"))
    sim = simulate(catalog, "api", None, SAT_3AM, no_ack=True, horizon=timedelta(minutes=30))
    paged = [(s["minute"], s["level"]) for s in sim.as_dict()["steps"] if s["kind"] == "paged"]
    assert paged[:2] == [(0, 1), (1, 2)]  # level 2 at minute 1, by the rule, not at minute 5 by the policy
