"""Declare-to-page: from the view submission leaving "Slack" to the page DM arriving at Slack.

Runs the real app (waitress + Bolt + worker loop) against the Slack stand-in, which answers
every Web API call after `--latency` seconds (Slack-like: 100 ms by default). Prints the median
and p90 over `--runs` declarations (after one warm-up) and, as the baseline measured in the same run, one bare
chat.postMessage round trip through slack_sdk: the ratio says how many Slack round trips the
page costs. Writes bench/results/declare_to_page.json.

    .venv/bin/python -m bench.declare_to_page [--runs 20] [--latency 0.1]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from slack_sdk import WebClient

from app.config import Settings
from app.runtime import Runtime
from bench.common import percentile
from tests.support import PEOPLE, ladder_settings, serve
from tests.slack_driver import SlackDriver
from tests.slack_standin import BOT_TOKEN, SlackStandIn

RESULTS = Path(__file__).parent / "results"


def pages(slack: SlackStandIn) -> list:
    """DMs to people: chat.postMessage whose channel is a user ID (whoever is on call today)."""
    return [c for c in slack.calls_to("chat.postMessage") if str(c.args.get("channel", "")).startswith("U")]


def measure(slack: SlackStandIn, settings: Settings, runs: int) -> tuple[float, list[float]]:
    """The real app on `settings`, served over HTTP with its worker loop: seconds from each view submission to its
    page DM at the stand-in. Returns the first (it includes the one-off users.lookupByEmail of the on-call's e-mail)
    and the `runs` after it."""
    runtime = Runtime(settings)
    url, stop = serve(runtime)
    runtime.worker.start()
    driver = SlackDriver(url, slack)
    sam = slack.user_by_email("sam@example.com")
    elapsed: list[float] = []
    try:
        for run in range(runs + 1):
            opened = len(slack.ok_calls_to("views.open"))
            driver.slash("bank transfers failing", sam)
            view = driver.opened_view("declare_incident", after=opened)
            seen = len(pages(slack))
            submission = driver.submission(view, sam, {"title": f"Bank transfers failing {run}"})
            start = time.monotonic()
            driver.post_payload(submission)
            page = slack.wait_for(lambda: pages(slack)[seen:], timeout=30)[0]
            elapsed.append(page.at - start)  # the page reaching Slack
    finally:
        stop()
        runtime.close()
    return elapsed[0], elapsed[1:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20, help="measured declarations (after one warm-up)")
    parser.add_argument("--latency", type=float, default=0.1, help="seconds the stand-in takes to answer each call")
    args = parser.parse_args()

    slack = SlackStandIn().start()
    for name in PEOPLE:
        slack.add_user(name, f"{name}@example.com")
    slack.add_channel("team-payments")
    slack.slow("*", args.latency)

    baseline = []
    client = WebClient(token=BOT_TOKEN, base_url=slack.api_url)
    for _ in range(args.runs):
        start = time.monotonic()
        client.chat_postMessage(channel="#team-payments", text="baseline")
        baseline.append(time.monotonic() - start)

    with tempfile.TemporaryDirectory() as tmp:
        try:
            first, samples = measure(slack, ladder_settings(slack, Path(tmp) / "bench.db", DELIVERY_THREADS="4"), args.runs)
        finally:
            slack.stop()

    median, p90 = statistics.median(samples), percentile(samples, 90)
    base = statistics.median(baseline)
    result = {
        "runs": args.runs, "latency_s": args.latency,
        "declare_to_page_median_ms": round(median * 1000, 1), "declare_to_page_p90_ms": round(p90 * 1000, 1),
        "first_declare_to_page_ms": round((first or 0) * 1000, 1),
        "baseline_one_slack_call_median_ms": round(base * 1000, 1),
        "ratio_to_one_slack_call": round(median / base, 2),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "declare_to_page.json").write_text(json.dumps(result, indent=2))
    print(f"declare-to-page (Slack answers in {args.latency * 1000:.0f} ms), {len(samples)} declarations after the first:")
    print(f"  median {result['declare_to_page_median_ms']} ms, p90 {result['declare_to_page_p90_ms']} ms; "
          f"first (uncached e-mail lookup) {result['first_declare_to_page_ms']} ms")
    print(f"  baseline, one chat.postMessage round trip: {result['baseline_one_slack_call_median_ms']} ms")
    print(f"  ratio: {result['ratio_to_one_slack_call']}x one Slack call")


if __name__ == "__main__":
    main()
