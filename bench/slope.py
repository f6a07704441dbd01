"""Cost against history: every listener and every use case, timed on a year of 1k, 10k and 100k incidents.

For each size, a private copy of the cached history (bench.history: built through the use cases,
with pages, escalations, timeline, rule timers and sent outbox rows) gets a pool of fresh open
incidents (declared and delivered the same way, on payments services so Still on it applies),
then, in this process:
  - listeners: signed requests through Ladder's whole WSGI app (`LadderRequestHandler`, as waitress
    calls it, Bolt's dispatch included), each on a distinct open incident where the request changes
    it (Acknowledge, escalate, resolve, declare submit) or cycling over the pool otherwise; timed to
    Slack's answer and, separately, until the work Bolt runs after the answer (opening a form, the
    ephemeral reply) is done. Every listener: /incident (declare form), /incident oncall,
    /incident update and lead (typed in an incident channel), each summary button (Acknowledge,
    Still on it, Take the lead, Escalate, Resolve, Post an update, the severity menu), each modal
    submit (declare, status update, escalate, resolve), the service type-ahead, and a human message
    in an incident channel.
  - use cases, called directly with an explicit `now`: declare, acknowledge, still_on_it,
    change_severity, assign_lead, post_update, record_human_message, additive.escalate, resolve, the
    reads listeners make (find, in_channel, escalate_choices) and a worker tick with nothing due.
The figure per listener and use case is the median at each size and the slope, median at the
largest size / median at the smallest (goal: about 1, at most 1.2). The Slack stand-in runs in
this process (it answers the follow-ups' views.open and response_url calls between samples, never
during one). Writes bench/results/slope.json.

    .venv/bin/python -m bench.slope [--sizes 1000 10000 100000] [--pool 60] [--repeat 200]
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import platform
import statistics
import tempfile
import threading
import time
from concurrent.futures import Future, wait
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Callable

from app import additive, incidents, nudges
from app.catalog import load_catalog
from app.runtime import Runtime
from app.slack.app import EVENTS_PATH, LadderRequestHandler
from app.worker import tick
from bench import history, payloads
from bench.catalogs import BASE
from bench.common import provenance
from tests.slack_driver import SIGNING_SECRET
from tests.slack_standin import SlackStandIn
from tests.support import PEOPLE, ladder_settings

RESULTS = Path(__file__).parent / "results"
PAYMENTS_SERVICES = ["bank-transfers", "card-payments", "ledger", "data-exports"]
OTHER_TEAMS = ["identity", "platform", "growth"]
CLICKER = "U0ALICE01"
GOAL = 1.2


class SimClock:
    """The app's clock: the history's end plus a few hours, moving with real time (so every `now` is later than the last)."""

    def __init__(self, start: datetime) -> None:
        self.start, self.real = start, time.monotonic()

    def __call__(self) -> datetime:
        return self.start + timedelta(seconds=time.monotonic() - self.real)


class InProcessApp:
    """Ladder's WSGI app called directly, as waitress calls it; knows when Bolt's after-the-answer work is done."""

    def __init__(self, runtime: Runtime) -> None:
        self.handler = LadderRequestHandler(runtime.bolt, path=EVENTS_PATH, signing_secret=SIGNING_SECRET)
        executor = runtime.bolt._listener_runner.listener_executor  # noqa: SLF001 - the bench watches Bolt's follow-ups
        self.pending: list[Future] = []
        self._lock = threading.Lock()
        submit = executor.submit

        def tracked(*args: Any, **kwargs: Any) -> Future:
            future = submit(*args, **kwargs)
            with self._lock:
                self.pending.append(future)
            return future

        executor.submit = tracked  # type: ignore[method-assign]

    def call(self, request: payloads.Request) -> tuple[int, float, float]:
        """(HTTP status, seconds to Slack's answer, seconds until the follow-ups finished too)."""
        body, content_type = request
        headers = payloads.signed_headers(body, content_type)
        environ = {"REQUEST_METHOD": "POST", "PATH_INFO": EVENTS_PATH, "QUERY_STRING": "", "SERVER_NAME": "127.0.0.1",
                   "SERVER_PORT": "3000", "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(body),
                   "CONTENT_TYPE": content_type, "CONTENT_LENGTH": str(len(body)),
                   "HTTP_X_SLACK_REQUEST_TIMESTAMP": headers["X-Slack-Request-Timestamp"],
                   "HTTP_X_SLACK_SIGNATURE": headers["X-Slack-Signature"]}
        status: list[str] = []
        started = time.perf_counter()
        b"".join(self.handler(environ, lambda s, h, exc_info=None: status.append(s)))
        answered = time.perf_counter()
        with self._lock:
            pending, self.pending = self.pending, []
        wait(pending, timeout=30)
        return int(status[0].split()[0]), answered - started, time.perf_counter() - started


def ms(seconds: list[float]) -> float:
    return round(statistics.median(seconds) * 1000, 3)


def measure_size(size: int, pool: int, repeat: int, work: Path) -> dict[str, Any]:
    db = history.copy_of(size, work / f"slope-{size}.db")
    catalog = load_catalog(BASE)
    clock = SimClock(history.END + timedelta(hours=3))
    builder = history.Ladder(db, catalog)
    try:
        builder.drain(clock())  # what fell due since the history ended (its open incidents' ladders and rules), untimed
        clicks = history.declare_open(builder, pool, clock(), seed=size, services=PAYMENTS_SERVICES)
        spare = history.declare_open(builder, pool, clock(), seed=size + 1, first_number=20_000_000, services=PAYMENTS_SERVICES)
    finally:
        builder.close()
    slack = SlackStandIn().start()
    for name in PEOPLE:
        slack.add_user(name, f"{name}@example.com")
    runtime = Runtime(ladder_settings(slack, db, BASE), clock=clock)
    store = runtime.store
    app = InProcessApp(runtime)
    channels = {i: store.incident(i)["channel_id"] for i in clicks + spare}
    listeners: dict[str, dict[str, float]] = {}
    use_cases: dict[str, dict[str, float]] = {}
    try:
        def listener(name: str, make: Callable[[int, int], payloads.Request], items: list[int], expect: int = 200) -> None:
            answers, totals = [], []
            for n, item in enumerate(items):
                status, answer, total = app.call(make(n, item))
                assert status == expect, (name, status)
                answers.append(answer)
                totals.append(total)
            listeners[name] = {"answer_ms": ms(answers), "with_follow_up_ms": ms(totals), "samples": len(items)}

        def trigger() -> str:
            return slack.issue_trigger()

        cycle = [clicks[n % len(clicks)] for n in range(repeat)]
        button = lambda action: lambda n, i: payloads.button(action, str(i), CLICKER, trigger(), slack.response_url())  # noqa: E731
        for _ in range(3):  # warm-up: imports, caches, the first views.open; untimed
            app.call(payloads.command("bank transfers failing", CLICKER, trigger(), slack.response_url()))
            app.call(payloads.suggestion("bank", CLICKER))
            app.call(payloads.button("incident_resolve", str(clicks[0]), CLICKER, trigger(), slack.response_url()))
        listener("type-ahead (service search)", lambda n, i: payloads.suggestion(["bank", "card", "log", "api"][n % 4], CLICKER), cycle)
        listener("/incident <text> (declare form)", lambda n, i: payloads.command("bank transfers failing", CLICKER, trigger(),
                                                                                  slack.response_url()), cycle)
        listener("/incident oncall", lambda n, i: payloads.command("oncall", CLICKER, trigger(), slack.response_url()), cycle)
        listener("/incident update (in channel)", lambda n, i: payloads.command("update", CLICKER, trigger(), slack.response_url(),
                                                                                channel=channels[i]), cycle)
        listener("/incident lead (in channel)", lambda n, i: payloads.command(f"lead <@U0LEAD{n:04d}>", CLICKER, trigger(),
                                                                              slack.response_url(), channel=channels[i]), cycle)
        listener("message in an incident channel", lambda n, i: payloads.message_event(channels[i], "U0BOB0001", "looking at it"), cycle)
        listener("button: Escalate (opens form)", button("incident_escalate"), cycle)
        listener("button: Resolve (opens form)", button("incident_resolve"), cycle)
        listener("button: Post an update (opens form)", button("incident_post_update"), cycle)
        listener("button: Take the lead", lambda n, i: payloads.button("incident_take_lead", str(i), f"U0TAKE{n:04d}", trigger(),
                                                                       slack.response_url()), cycle)
        listener("menu: severity", lambda n, i: payloads.menu("incident_severity", f"{i}:{'sev2' if (n // len(clicks)) % 2 == 0 else 'sev3'}",
                                                              CLICKER, trigger(), slack.response_url()), cycle)
        listener("submit: status update", lambda n, i: payloads.update_submission(i, CLICKER, trigger()), cycle)
        listener("button: Acknowledge", button("incident_ack"), clicks)
        listener("button: Still on it", button("incident_still_on_it"), cycle)
        listener("submit: escalate to a team", lambda n, i: payloads.escalate_submission(i, OTHER_TEAMS[n % 3], CLICKER, trigger()), clicks)
        listener("submit: declare", lambda n, i: payloads.declare_submission(f"Benchmark incident {n}", PAYMENTS_SERVICES[n % 4], "sev3",
                                                                             CLICKER, trigger()), clicks)
        listener("submit: resolve", lambda n, i: payloads.resolve_submission(i, CLICKER, trigger()), clicks)

        # -- use cases, directly -------------------------------------------------------------------------------
        def use_case(name: str, run: Callable[[int, int], Any], items: list[int]) -> None:
            samples = []
            for n, item in enumerate(items):
                started = time.perf_counter()
                run(n, item)
                samples.append(time.perf_counter() - started)
            use_cases[name] = {"median_ms": ms(samples), "samples": len(items)}

        spare_cycle = [spare[n % len(spare)] for n in range(repeat)]
        declared: list[int] = []

        def declare(n: int, _: int) -> None:
            request = incidents.DeclareRequest(f"Use-case incident {n}", PAYMENTS_SERVICES[n % 4], "sev3", CLICKER,
                                               declared_in="C0GENERAL1", view_id=f"VUSECASE{size}-{n}")
            declared.append(incidents.declare(store, catalog, request, clock()).incident["id"])

        use_case("incidents.declare", declare, spare)
        use_case("incidents.find", lambda n, i: incidents.find(store, i), spare_cycle)
        use_case("incidents.in_channel", lambda n, i: incidents.in_channel(store, channels[i]), spare_cycle)
        use_case("additive.escalate_choices", lambda n, i: additive.escalate_choices(store, catalog, store.incident(i), clock()), spare_cycle)
        use_case("nudges.record_human_message", lambda n, i: nudges.record_human_message(store, channels[i], "U0BOB0001", clock()),
                 spare_cycle)
        use_case("nudges.post_update", lambda n, i: nudges.post_update(store, i, CLICKER, "Still mitigating.", clock()), spare_cycle)
        use_case("nudges.assign_lead", lambda n, i: nudges.assign_lead(store, i, f"U0UC{n:05d}", CLICKER, clock()), spare_cycle)
        use_case("incidents.change_severity", lambda n, i: incidents.change_severity(
            store, catalog, i, "sev2" if (n // len(spare)) % 2 == 0 else "sev3", CLICKER, clock()), spare_cycle)
        use_case("incidents.acknowledge", lambda n, i: incidents.acknowledge(store, i, CLICKER, clock()), spare)
        use_case("incidents.still_on_it", lambda n, i: incidents.still_on_it(store, i, CLICKER, clock()), spare_cycle)
        use_case("additive.escalate", lambda n, i: additive.escalate(
            store, catalog, i, additive.EscalateRequest(f"team:{OTHER_TEAMS[n % 3]}", CLICKER, "more hands"), clock()), spare)
        use_case("incidents.resolve", lambda n, i: incidents.resolve(store, i, CLICKER, "done", clock()), spare)
        use_case("incidents.acknowledge (declared above)", lambda n, i: incidents.acknowledge(store, i, CLICKER, clock()), declared)
        quiet = clock() + timedelta(seconds=1)
        tick(store, catalog, quiet)  # whatever is due now fires once, untimed; then the ticks below find nothing due
        use_case("worker tick, nothing due", lambda n, i: tick(store, catalog, quiet), list(range(repeat)))
    finally:
        runtime.close()
        slack.stop()
    figures = history.built_figures(size)
    return {"incidents": size, "database_mib": round(history.size(db), 1), "history": figures,
            "listeners": listeners, "use_cases": use_cases}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 100_000])
    parser.add_argument("--pool", type=int, default=60, help="fresh open incidents per size (distinct ones for what changes them)")
    parser.add_argument("--repeat", type=int, default=200, help="samples of each listener that does not use up an incident")
    args = parser.parse_args()
    logging.getLogger("app").setLevel(logging.ERROR)
    logging.getLogger("slack_bolt").setLevel(logging.ERROR)
    started = time.monotonic()
    by_size = {}
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            at = time.monotonic()
            by_size[size] = measure_size(size, args.pool, args.repeat, Path(tmp))
            by_size[size]["measure_seconds"] = round(time.monotonic() - at, 1)
            print(f"measured {size:,} incidents in {by_size[size]['measure_seconds']} s", flush=True)
            (Path(tmp) / f"slope-{size}.db").unlink(missing_ok=True)
    small, large = min(args.sizes), max(args.sizes)
    table: dict[str, dict[str, Any]] = {}
    for group, key in (("listeners", "answer_ms"), ("use_cases", "median_ms")):
        for name in by_size[small][group]:
            row = {str(size): by_size[size][group][name][key] for size in args.sizes}
            if group == "listeners":
                row["with_follow_up_ms"] = {str(size): by_size[size][group][name]["with_follow_up_ms"] for size in args.sizes}
            row["slope"] = round(by_size[large][group][name][key] / by_size[small][group][name][key], 2)
            table[f"{group[:-1].replace('_', ' ')}: {name}"] = row
    over = [name for name, row in table.items() if row["slope"] > GOAL]
    result = {**provenance(), "sizes": args.sizes, "slope_is": f"median at {large:,} / median at {small:,}", "goal": f"<= {GOAL}",
              "over_goal": over, "figures": table, "by_size": by_size, "host": platform.node(),
              "seconds": round(time.monotonic() - started, 1)}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "slope.json").write_text(json.dumps(result, indent=2))
    header = "".join(f"{f'{size:,}':>11}" for size in args.sizes)
    print(f"\n{'median ms (listeners: to Slack answer)':58}{header}   slope")
    for name, row in table.items():
        cells = "".join(f"{row[str(size)]:>11.3f}" for size in args.sizes)
        print(f"{name:58}{cells}   {row['slope']:.2f}{'  <-- over ' + str(GOAL) if row['slope'] > GOAL else ''}")
    print(f"\n{len(over)} of {len(table)} over the goal of {GOAL}; results in bench/results/slope.json")


if __name__ == "__main__":
    main()
