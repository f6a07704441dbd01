"""Cost against history: every listener and every use case, timed on histories of 1k, 10k and 100k incidents.

For each size, a private copy of the cached history (bench.history: built through the use cases,
with pages, escalations, timeline, rule timers and sent outbox rows) gets a pool of fresh open
incidents (declared and delivered the same way, on payments services so Still on it applies),
then, in this process:
  - listeners: signed requests through Ladder's whole WSGI app (`LadderRequestHandler`, as waitress
    calls it, Bolt's dispatch included), each on a distinct open incident where the request changes
    it (Acknowledge, escalate, resolve, declare submit) or cycling over the pool otherwise; timed to
    Slack's answer and, separately, until the work Bolt runs after the answer (opening a form, the
    ephemeral reply) is done. Every listener: /incident (declare form), /incident oncall,
    /incident update, lead, timeline, role and followup (typed in an incident channel), each summary
    button (Acknowledge, Still on it, Take the lead, Escalate, Mitigated, Resolve, Post an update,
    Add follow-up, the severity menu), each modal submit (declare, status update, escalate,
    resolve), the service type-ahead, a human message in an incident channel, and the App Home
    being opened.
  - use cases, called directly with an explicit `now`: declare, acknowledge, still_on_it,
    change_severity, mitigate, assign_role, post_update, record_human_message, additive.escalate,
    resolve, followups.add and done, the review of a resolved incident, the App Home's data, the
    reads listeners make (find, in_channel, escalate_choices) and a worker tick with nothing due.
Every size is set up first and stays open; each listener and use case is then measured in five
rounds, the sizes taking turns within each round (in a rotating order), so that a busy spell on a
shared host lands on every size alike instead of on whichever size was being measured at the time.
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

from app import additive, followups, home, incidents, nudges, review, roles
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


# People of the history (their pages, their on-call) who open the App Home: the IDs the history builder gave them.
PEOPLE_IDS = [history.user_id_for(f"{name}@example.com") for name in ("alice", "bob", "carol", "dana")]
ROUNDS = 5  # each listener and use case is measured in this many rounds, the sizes taking turns within each


class Subject:
    """One history size, set up and open for the whole run: its database copy, its Ladder, its stand-in and its incidents."""

    def __init__(self, size: int, pool: int, work: Path, clock: SimClock) -> None:
        """`clock` is shared by every size, so that their pools are declared (and their ladders fall due) at the same moment."""
        self.size = size
        db = history.copy_of(size, work / f"slope-{size}.db")
        self.catalog = load_catalog(BASE)
        self.clock = clock
        builder = history.Ladder(db, self.catalog)
        try:
            builder.drain(self.clock())  # what fell due since the history ended (its open incidents' ladders and rules), untimed
            self.clicks = history.declare_open(builder, pool, self.clock(), seed=size, services=PAYMENTS_SERVICES)
            self.spare = history.declare_open(builder, pool, self.clock(), seed=size + 1, first_number=20_000_000,
                                              services=PAYMENTS_SERVICES)
        finally:
            builder.close()
        self.slack = SlackStandIn().start()
        for name in PEOPLE:
            self.slack.add_user(name, f"{name}@example.com")
        self.runtime = Runtime(ladder_settings(self.slack, db, BASE), clock=self.clock)
        self.store = self.runtime.store
        self.app = InProcessApp(self.runtime)
        self.channels = {i: self.store.incident(i)["channel_id"] for i in self.clicks + self.spare}
        self.declared: list[int] = []
        self.followups: list[int] = []
        self.db = db

    def trigger(self) -> str:
        return self.slack.issue_trigger()

    def close(self) -> None:
        self.runtime.close()
        self.slack.stop()


def _chunks(items: list[int], rounds: int) -> list[list[tuple[int, int]]]:
    """(n, item) pairs split into `rounds` consecutive chunks: round r measures chunk r at every size."""
    numbered = list(enumerate(items))
    per = -(-len(numbered) // rounds)
    return [numbered[r * per:(r + 1) * per] for r in range(rounds)]


def measure(subjects: list[Subject], repeat: int) -> dict[int, dict[str, Any]]:
    """Every listener and use case at every size, in rounds: within a round the sizes take turns (in a rotating order),
    so a busy spell on the host falls on every size alike rather than on whichever was being measured then."""
    results: dict[int, dict[str, Any]] = {s.size: {"listeners": {}, "use_cases": {}} for s in subjects}

    def in_rounds(pool_of: Callable[[Subject], list[int]], distinct: bool,
                  sample: Callable[[Subject, int, int], tuple[float, ...]]) -> dict[int, list[tuple[float, ...]]]:
        """`sample` over each size's pool in rounds: each incident once if `distinct`, else `repeat` samples cycling over it."""
        def items(s: Subject) -> list[int]:
            pool = pool_of(s)
            return pool if distinct else [pool[n % len(pool)] for n in range(repeat)]

        samples: dict[int, list[tuple[float, ...]]] = {s.size: [] for s in subjects}
        chunks = {s.size: _chunks(items(s), ROUNDS) for s in subjects}
        for r in range(ROUNDS):
            turn = subjects[r % len(subjects):] + subjects[:r % len(subjects)]
            for subject in turn:
                for n, item in chunks[subject.size][r]:
                    samples[subject.size].append(sample(subject, n, item))
        return samples

    def listener(name: str, make: Callable[[Subject, int, int], payloads.Request], distinct: bool, expect: int = 200) -> None:
        def sample(subject: Subject, n: int, item: int) -> tuple[float, ...]:
            status, answer, total = subject.app.call(make(subject, n, item))
            assert status == expect, (name, subject.size, status)
            return answer, total

        for size, got in in_rounds(lambda s: s.clicks, distinct, sample).items():
            results[size]["listeners"][name] = {"answer_ms": ms([a for a, _ in got]), "with_follow_up_ms": ms([t for _, t in got]),
                                                "samples": len(got)}

    def use_case(name: str, run: Callable[[Subject, int, int], Any], distinct: bool) -> None:
        def sample(subject: Subject, n: int, item: int) -> tuple[float, ...]:
            started = time.perf_counter()
            run(subject, n, item)
            return (time.perf_counter() - started,)

        for size, got in in_rounds(lambda s: s.spare, distinct, sample).items():
            results[size]["use_cases"][name] = {"median_ms": ms([g[0] for g in got]), "samples": len(got)}

    def button(action: str) -> Callable[[Subject, int, int], payloads.Request]:
        return lambda s, n, i: payloads.button(action, str(i), CLICKER, s.trigger(), s.slack.response_url())

    for subject in subjects:
        for _ in range(3):  # warm-up: imports, caches, the first views.open; untimed
            subject.app.call(payloads.command("bank transfers failing", CLICKER, subject.trigger(), subject.slack.response_url()))
            subject.app.call(payloads.suggestion("bank", CLICKER))
            subject.app.call(payloads.button("incident_resolve", str(subject.clicks[0]), CLICKER, subject.trigger(), subject.slack.response_url()))
    listener("type-ahead (service search)", lambda s, n, i: payloads.suggestion(["bank", "card", "log", "api"][n % 4], CLICKER), False)
    listener("/incident <text> (declare form)", lambda s, n, i: payloads.command("bank transfers failing", CLICKER, s.trigger(),
                                                                                 s.slack.response_url()), False)
    listener("/incident oncall", lambda s, n, i: payloads.command("oncall", CLICKER, s.trigger(), s.slack.response_url()), False)
    listener("/incident update (in channel)", lambda s, n, i: payloads.command("update", CLICKER, s.trigger(), s.slack.response_url(),
                                                                               channel=s.channels[i]), False)
    listener("/incident lead (in channel)", lambda s, n, i: payloads.command(f"lead <@U0LEAD{n:04d}>", CLICKER, s.trigger(),
                                                                             s.slack.response_url(), channel=s.channels[i]), False)
    listener("message in an incident channel", lambda s, n, i: payloads.message_event(s.channels[i], "U0BOB0001", "looking at it"), False)
    listener("button: Escalate (opens form)", button("incident_escalate"), False)
    listener("button: Resolve (opens form)", button("incident_resolve"), False)
    listener("button: Post an update (opens form)", button("incident_post_update"), False)
    listener("button: Take the lead", lambda s, n, i: payloads.button("incident_take_lead", str(i), f"U0TAKE{n:04d}", s.trigger(),
                                                                      s.slack.response_url()), False)
    listener("menu: severity", lambda s, n, i: payloads.menu("incident_severity", f"{i}:{'sev2' if (n // len(s.clicks)) % 2 == 0 else 'sev3'}",
                                                             CLICKER, s.trigger(), s.slack.response_url()), False)
    listener("submit: status update", lambda s, n, i: payloads.update_submission(i, CLICKER, s.trigger()), False)
    listener("button: Acknowledge", button("incident_ack"), True)
    listener("button: Still on it", button("incident_still_on_it"), False)
    listener("submit: escalate to a team", lambda s, n, i: payloads.escalate_submission(i, OTHER_TEAMS[n % 3], CLICKER, s.trigger()), True)
    listener("submit: declare", lambda s, n, i: payloads.declare_submission(f"Benchmark incident {n}", PAYMENTS_SERVICES[n % 4], "sev3",
                                                                            CLICKER, s.trigger()), True)
    listener("button: Mitigated", button("incident_mitigate"), True)
    listener("submit: resolve", lambda s, n, i: payloads.resolve_submission(i, CLICKER, s.trigger()), True)
    listener("/incident timeline (in channel)", lambda s, n, i: payloads.command("timeline", CLICKER, s.trigger(), s.slack.response_url(),
                                                                                 channel=s.channels[i]), False)
    # `role lead`: the bench catalog names no other role (and its digest keys the cached histories).
    listener("/incident role (in channel)", lambda s, n, i: payloads.command(f"role lead <@U0ROLE{n:04d}>", CLICKER, s.trigger(),
                                                                             s.slack.response_url(), channel=s.channels[i]), False)
    listener("/incident followup (in channel)", lambda s, n, i: payloads.command(
        f"followup <@U0FOLLOW{n % 7}> 2031-01-15 Add an alert on queue depth", CLICKER, s.trigger(), s.slack.response_url(),
        channel=s.channels[i]), False)
    listener("button: Add follow-up (opens form)", button("incident_add_followup"), False)
    listener("App Home opened", lambda s, n, i: payloads.app_home_opened(PEOPLE_IDS[n % len(PEOPLE_IDS)]), False)

    # -- use cases, directly -------------------------------------------------------------------------------
    def declare(s: Subject, n: int, _: int) -> None:
        request = incidents.DeclareRequest(f"Use-case incident {n}", PAYMENTS_SERVICES[n % 4], "sev3", CLICKER,
                                           declared_in="C0GENERAL1", view_id=f"VUSECASE{s.size}-{n}")
        s.declared.append(incidents.declare(s.store, s.catalog, request, s.clock()).incident["id"])

    use_case("incidents.declare", declare, True)
    use_case("incidents.find", lambda s, n, i: incidents.find(s.store, i), False)
    use_case("incidents.in_channel", lambda s, n, i: incidents.in_channel(s.store, s.channels[i]), False)
    use_case("additive.escalate_choices", lambda s, n, i: additive.escalate_choices(s.store, s.catalog, s.store.incident(i), s.clock()), False)
    use_case("nudges.record_human_message", lambda s, n, i: nudges.record_human_message(s.store, s.channels[i], "U0BOB0001", s.clock()), False)
    use_case("nudges.post_update", lambda s, n, i: nudges.post_update(s.store, i, CLICKER, "Still mitigating.", s.clock()), False)
    use_case("roles.assign_role (lead)", lambda s, n, i: roles.assign_role(s.store, s.catalog, i, "lead", f"U0UC{n:05d}", CLICKER,
                                                                         s.clock()), False)
    use_case("incidents.change_severity", lambda s, n, i: incidents.change_severity(
        s.store, s.catalog, i, "sev2" if (n // len(s.spare)) % 2 == 0 else "sev3", CLICKER, s.clock()), False)
    use_case("incidents.acknowledge", lambda s, n, i: incidents.acknowledge(s.store, i, CLICKER, s.clock()), True)
    use_case("incidents.still_on_it", lambda s, n, i: incidents.still_on_it(s.store, i, CLICKER, s.clock()), False)
    use_case("additive.escalate", lambda s, n, i: additive.escalate(
        s.store, s.catalog, i, additive.EscalateRequest(f"team:{OTHER_TEAMS[n % 3]}", CLICKER, "more hands"), s.clock()), True)
    use_case("incidents.mitigate", lambda s, n, i: incidents.mitigate(s.store, i, CLICKER, s.clock(), s.catalog), True)
    use_case("incidents.resolve", lambda s, n, i: incidents.resolve(s.store, i, CLICKER, "done", s.clock()), True)

    def add_followup(s: Subject, n: int, i: int) -> None:
        s.followups.append(followups.add(s.store, s.catalog, followups.FollowupRequest(
            i, f"U0FU{n % 7:05d}", (s.clock() + timedelta(days=30)).date().isoformat(), "Add an alert", CLICKER), s.clock()).data["followup_id"])

    use_case("followups.add", add_followup, False)
    use_case("followups.done", lambda s, n, i: followups.done(s.store, s.followups[n], CLICKER, s.clock()), False)
    use_case("review.load + build (resolved above)", lambda s, n, i: review.build(review.load(
        s.store, s.catalog, s.store.incident(i)["number"]), s.clock()), False)
    use_case("home.load", lambda s, n, i: home.load(s.store, s.catalog, PEOPLE_IDS[n % len(PEOPLE_IDS)], s.clock()), False)

    def acknowledge_declared(s: Subject, n: int, _: int) -> None:
        incidents.acknowledge(s.store, s.declared[n], CLICKER, s.clock())

    use_case("incidents.acknowledge (declared above)", acknowledge_declared, True)
    quiet = {s.size: s.clock() + timedelta(seconds=1) for s in subjects}
    for subject in subjects:
        tick(subject.store, subject.catalog, quiet[subject.size])  # whatever is due now fires once, untimed; the ticks below find nothing due
    use_case("worker tick, nothing due", lambda s, n, i: tick(s.store, s.catalog, quiet[s.size]), False)
    for subject in subjects:
        results[subject.size].update(incidents=subject.size, database_mib=round(history.size(subject.db), 1),
                                     history=history.built_figures(subject.size))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 100_000])
    parser.add_argument("--pool", type=int, default=60, help="fresh open incidents per size (distinct ones for what changes them)")
    parser.add_argument("--repeat", type=int, default=200, help="samples of each listener that does not use up an incident")
    args = parser.parse_args()
    logging.getLogger("app").setLevel(logging.ERROR)
    logging.getLogger("slack_bolt").setLevel(logging.ERROR)
    if len(set(args.sizes)) != len(args.sizes):
        parser.error(f"--sizes: each size once; got {args.sizes}")
    for size in args.sizes:
        history.cached(size)  # built (or found) first: setting the sizes up then takes seconds, not the hours a build can
    started = time.monotonic()
    clock = SimClock(history.END + timedelta(hours=3))
    with tempfile.TemporaryDirectory() as tmp:
        subjects: list[Subject] = []
        try:
            for size in args.sizes:
                subjects.append(Subject(size, args.pool, Path(tmp), clock))
                print(f"set up {size:,} incidents ({time.monotonic() - started:.0f} s)", flush=True)
            by_size = measure(subjects, args.repeat)
        finally:
            for subject in subjects:
                subject.close()
        print(f"measured in {time.monotonic() - started:.0f} s", flush=True)
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
