"""Alert storm: 500 incidents declared within 60 seconds while Slack enforces its rate tiers.

The real app (waitress + Bolt + worker loop) runs against the Slack stand-in, which answers each
call in 100 ms and enforces Slack's tiers with token buckets: Tier 2 methods (conversations.create,
setTopic, pins.add) 20 a minute, Tier 3 (invite, chat.update, users.lookupByEmail) 50, Tier 4
(views.*) 100, chat.postMessage one a second per channel; beyond that, 429 with Retry-After.

The storm itself runs in real time: 500 submissions spread evenly over 60 seconds through the real
HTTP path (a slash command has opened each form beforehand), then another minute for the pages.
Draining 500 channels at 20 a minute takes 25 minutes more, so from then on the app's clock, the
stand-in's rate windows and its answer latency all run `--speed` times faster, in step; every
figure is in storm seconds.

Figures: pages delivered, p50/p99 time from submission to the page reaching Slack, channels
created and how long they took, what was lost (must be nothing), and 429s per method against the
calls that succeeded. Failures, each of which fails the run (exit 1): a page lost, a duplicate page,
and any call made before the Retry-After Slack gave for that method (or channel) had passed. Baseline measured in the same run: the same storm with Slack unlimited.
Writes bench/results/alert_storm.json.

    .venv/bin/python -m bench.alert_storm [--incidents 500] [--speed 20]
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from app.runtime import Runtime
from bench.common import percentile, provenance
from tests.support import ladder_settings, serve
from tests.slack_driver import SlackDriver
from tests.slack_standin import SlackStandIn

RESULTS = Path(__file__).parent / "results"
TEAMS = 10
STORM_START = datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)
DECLARE_WINDOW = 60.0  # storm seconds over which the declarations arrive
SLACK_LATENCY = 0.1  # storm seconds per Slack call
TIERS = {  # method -> (calls a minute, burst)
    "conversations.create": (20, 2), "conversations.setTopic": (20, 2), "pins.add": (20, 2),
    "conversations.invite": (50, 5), "chat.update": (50, 5), "users.lookupByEmail": (50, 5),
    "views.open": (100, 10), "views.update": (100, 10), "chat.postMessage": (60, 3),  # per channel
}


def storm_catalog(path: Path) -> Path:
    """Ten teams, one service and one on-call each; a one-level ladder that does not escalate during the storm."""
    lines = ["severities:", "  - {id: sev1, label: SEV1, rank: 1}", "  - {id: sev2, label: SEV2, rank: 2}", "teams:"]
    for n in range(TEAMS):
        lines += [f"  team-{n}:", f"    name: Team {n}", f'    slack_channel: "#team-{n}"', f"    escalation_policy: policy-{n}"]
    lines.append("services:")
    lines += [f"  - {{id: service-{n}, name: Service {n}, owner: team-{n}}}" for n in range(TEAMS)]
    lines.append("policies:")
    for n in range(TEAMS):
        lines += [f"  policy-{n}:", "    levels:", f"      - {{targets: [{{user: oncall{n}@example.com}}], escalate_after: 120m}}"]
    path.write_text("\n".join(lines) + "\n")
    return path


class StormClock:
    """Storm seconds: real time at first, then `fast_forward` runs it faster (both the app and the stand-in read it)."""

    def __init__(self) -> None:
        self._base = (time.monotonic(), 0.0, 1.0)  # real at the last change, storm seconds then, speed

    def seconds(self) -> float:
        real, storm, speed = self._base
        return storm + (time.monotonic() - real) * speed

    def now(self) -> datetime:
        return STORM_START + timedelta(seconds=self.seconds())

    def fast_forward(self, speed: float) -> None:
        self._base = (time.monotonic(), self.seconds(), speed)


def run_storm(incidents: int, speed: float, limited: bool) -> dict[str, Any]:
    clock = StormClock()
    slack = SlackStandIn()
    slack.clock = clock.seconds
    slack.start()
    for n in range(TEAMS):
        slack.add_user(f"oncall{n}", f"oncall{n}@example.com")
        slack.add_channel(f"team-{n}")
    declarer = slack.add_user("sam", "sam@example.com")
    slack.slow("*", SLACK_LATENCY)

    with tempfile.TemporaryDirectory() as tmp:
        catalog = storm_catalog(Path(tmp) / "catalog.yaml")
        runtime = Runtime(ladder_settings(slack, Path(tmp) / "storm.db", catalog, TICK_SECONDS=str(1 / speed)), clock=clock.now)
        url, stop = serve(runtime)
        driver = SlackDriver(url, slack)
        try:
            views = open_forms(driver, slack, declarer, incidents)
            if limited:
                for method, (per_minute, burst) in TIERS.items():
                    slack.rate_limit(method, per_minute, burst)
            runtime.worker.start()
            submitted = declare_all(driver, declarer, views, clock)
            time.sleep(max(0.0, 2 * DECLARE_WINDOW - (clock.seconds() - min(submitted.values()))))  # a real minute for the pages
            clock.fast_forward(speed)
            slack.slow("*", SLACK_LATENCY / speed)
            drained_at = wait_until_done(runtime, incidents, clock)
            return measure(runtime, slack, submitted, drained_at, limited)
        finally:
            runtime.worker.stop()
            stop()
            runtime.close()
            slack.stop()


def open_forms(driver: SlackDriver, slack: SlackStandIn, declarer: str, incidents: int) -> list[dict[str, Any]]:
    """Before the storm: each declarer's `/incident Service n` has opened its form (not timed)."""
    views = []
    for n in range(incidents):
        opened = len(slack.ok_calls_to("views.open"))
        driver.slash(f"Service {n % TEAMS}", declarer)
        views.append(driver.opened_view("declare_incident", after=opened))
    return views


def declare_all(driver: SlackDriver, declarer: str, views: list[dict[str, Any]], clock: StormClock) -> dict[str, float]:
    """Submit every form at its slot in the window; returns title -> when (storm seconds) it was submitted."""
    submitted: dict[str, float] = {}
    lock = threading.Lock()
    step = DECLARE_WINDOW / len(views)
    start = clock.seconds()

    def submit(n: int) -> None:
        title = f"Storm incident {n:04d}"
        payload = driver.submission(views[n], declarer, {"title": title})
        time.sleep(max(0.0, start + n * step - clock.seconds()))
        at = clock.seconds()
        reply = driver.post_payload(payload)
        assert reply.status == 200, (reply.status, reply.body[:200])
        with lock:
            submitted[title] = at

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(submit, range(len(views))))
    return submitted


def wait_until_done(runtime: Runtime, incidents: int, clock: StormClock) -> float:
    """Until every outbox row has been sent or failed; returns when (storm seconds)."""
    deadline = clock.seconds() + 3 * 3600
    while clock.seconds() < deadline:
        row = runtime.store.conn.execute(
            "SELECT COUNT(*) AS n, SUM(status IN ('pending', 'sending')) AS open FROM outbox").fetchone()
        if row["n"] >= incidents and not row["open"]:
            return clock.seconds()
        time.sleep(0.2)
    raise SystemExit("the storm did not drain within three storm hours")


def measure(runtime: Runtime, slack: SlackStandIn, submitted: dict[str, float], drained_at: float, limited: bool) -> dict[str, Any]:
    store = runtime.store
    page_calls = [c for c in slack.calls_to("chat.postMessage") if str(c.args.get("channel", "")).startswith("U")]
    first_page: dict[str, float] = {}
    for call in page_calls:
        if call.status == 200 and call.response.get("ok"):
            title = str(call.args.get("text", "")).split(" · ", 1)[-1]
            first_page.setdefault(title, call.at)
    to_page = [first_page[t] - at for t, at in submitted.items() if t in first_page]
    created = slack.ok_calls_to("conversations.create")
    incidents = store.conn.execute("SELECT * FROM incidents").fetchall()
    pages = store.conn.execute("SELECT status, COUNT(*) AS n FROM pages GROUP BY status").fetchall()
    outbox = store.conn.execute("SELECT kind, status, COUNT(*) AS n FROM outbox GROUP BY kind, status").fetchall()
    rate_limited = Counter(c.method for c in slack.calls if c.status == 429)
    succeeded = Counter(c.method for c in slack.calls if c.status == 200 and c.response.get("ok"))
    too_early = early_retries(slack)
    return {
        "slack_rate_limited": limited,
        "declared": len(incidents),
        "pages_delivered": sum(r["n"] for r in pages if r["status"] == "sent"),
        "pages_by_status": {r["status"]: r["n"] for r in pages},
        "incidents_paged": len(first_page),
        "time_to_page_p50_s": round(percentile(to_page, 50), 2) if to_page else None,
        "time_to_page_p99_s": round(percentile(to_page, 99), 2) if to_page else None,
        "time_to_page_max_s": round(max(to_page), 2) if to_page else None,
        "channels_created": len(created),
        "incidents_with_channel": sum(1 for i in incidents if i["channel_id"]),
        "last_channel_at_s": round(max(c.at for c in created) - min(submitted.values()), 1) if created else None,
        "storm_drained_at_s": round(drained_at - min(submitted.values()), 1),
        "outbox_not_sent": {f"{r['kind']}:{r['status']}": r["n"] for r in outbox if r["status"] != "sent"},
        "http_429_by_method": dict(rate_limited),
        "ok_calls_by_method": dict(succeeded),
        "retries_before_retry_after": too_early,
        "duplicate_pages": sum(1 for c in page_calls if c.status == 200 and c.response.get("ok"))
        - sum(r["n"] for r in pages if r["status"] == "sent"),
    }


def early_retries(slack: SlackStandIn) -> dict[str, int]:
    """Calls made to a rate-limited method (per channel for messages) before the Retry-After Slack gave had passed."""
    blocked_until: dict[str, float] = {}
    early: Counter[str] = Counter()
    for call in sorted(slack.calls, key=lambda c: c.at):
        key = f"{call.method}:{call.args.get('channel', '')}" if call.method == "chat.postMessage" else call.method
        at = call.at
        if key in blocked_until and at < blocked_until[key] - 0.5:  # half a storm second for the two clocks' skew
            early[call.method] += 1
        if call.status == 429:
            blocked_until[key] = max(blocked_until.get(key, 0.0), call.done_at + float(call.headers.get("Retry-After", 0)))
    return dict(early)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--incidents", type=int, default=500)
    parser.add_argument("--speed", type=float, default=20.0, help="storm seconds per real second once the pages are out")
    args = parser.parse_args()
    logging.getLogger("app").setLevel(logging.ERROR)  # the storm's retries are the figures, not log lines

    baseline = run_storm(args.incidents, args.speed, limited=False)
    storm = run_storm(args.incidents, args.speed, limited=True)
    lost = storm["declared"] - storm["incidents_paged"]
    early = sum(storm["retries_before_retry_after"].values())
    failures = {"pages_lost": lost, "duplicate_pages": storm["duplicate_pages"], "retries_before_retry_after": early}
    result = {"incidents": args.incidents, "speed": args.speed, "rate_limited": storm, "unlimited_baseline": baseline,
              "pages_lost": lost, "failures": failures, "failed": any(failures.values()), **provenance(),
              "ratio_p99_to_baseline": round(storm["time_to_page_p99_s"] / baseline["time_to_page_p99_s"], 2)
              if storm["time_to_page_p99_s"] and baseline["time_to_page_p99_s"] else None}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "alert_storm.json").write_text(json.dumps(result, indent=2))
    for name, figures in (("Slack rate tiers enforced", storm), ("baseline, Slack unlimited", baseline)):
        print(f"{name}: {figures['declared']} declared, {figures['pages_delivered']} pages delivered "
              f"({figures['incidents_paged']} incidents paged), time to page p50 {figures['time_to_page_p50_s']} s, "
              f"p99 {figures['time_to_page_p99_s']} s, max {figures['time_to_page_max_s']} s")
        print(f"  channels created {figures['channels_created']} (last at {figures['last_channel_at_s']} s), "
              f"all work drained at {figures['storm_drained_at_s']} s; not sent: {figures['outbox_not_sent'] or 'nothing'}")
        print(f"  429s: {figures['http_429_by_method'] or 'none'}; retries before Retry-After: {figures['retries_before_retry_after'] or 'none'}; "
              f"duplicate pages: {figures['duplicate_pages']}")
    print(f"pages lost: {lost}; p99 time to page vs unlimited Slack: {result['ratio_p99_to_baseline']}x")
    print(f"failures (each fails the run): {failures}" + ("  FAILED" if result["failed"] else "  none"))
    if result["failed"]:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
