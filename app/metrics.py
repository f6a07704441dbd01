"""What an operator graphs and alerts on: Ladder's figures in Prometheus' format (`GET /metrics`).

The worker, the delivery and the catalog watcher report what happened through a few small calls
(`page_delivered(seconds)`, `tick_finished(...)`, `slack_rate_limited(method)`, …) on a `Recorder`
they are handed; the default one records nothing, so a Worker or a SlackDelivery built without
metrics (a test, a benchmark) behaves exactly as before. Figures that are a state rather than an
event (outbox depth, who holds the lease) are read when Prometheus scrapes, not kept in step.

Each `Metrics` has its own CollectorRegistry, never the library's global one: a process that builds
several Runtimes (the tests do) would otherwise register the same names twice and fail. Label values
are bounded (outbox kinds, Web API method names, Slack's error codes), so no series is created per
incident, per user or per message.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from contextlib import contextmanager
from datetime import datetime
from typing import Callable, Iterable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from app.outbox import Kind

log = logging.getLogger(__name__)

# Seconds. A page should reach Slack within a second or two; minutes mean Slack (or this host) was away.
PAGE_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
# Seconds past due: under a tick is normal; past 5 s an on-call rota notices.
LATENESS_BUCKETS = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)
# Seconds of one tick: a quiet tick is one indexed read (about a millisecond).
TICK_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

_METHOD = re.compile(r"[a-z]+(\.[A-Za-z]+){1,3}")  # chat.postMessage, admin.users.session.reset
_ERROR = re.compile(r"[a-z0-9_]{1,64}")  # Slack's error codes: channel_not_found, ratelimited


def method_label(method: str) -> str:
    """A Web API method name as a label value, or "other": never free text in a label."""
    return method if _METHOD.fullmatch(method or "") else "other"


def error_label(error: str) -> str:
    """Slack's error code (or our own short code such as `http_503`) as a label value, or "other"."""
    return error if _ERROR.fullmatch(error or "") else "other"


class Recorder:
    """The calls the loop, the delivery and the watcher report through. This one records nothing."""

    @contextmanager
    def ticking(self, now: datetime) -> Iterator[Callable[[object], None]]:
        """Around one tick at `now`: `done(report)` inside hands over its TickReport (for the lateness).

        A tick that raises is not a completed one: /healthz goes on counting from the last that completed.
        """
        self.tick_started(now)
        started = time.perf_counter()  # the tick's cost in real seconds, whatever the app's clock says
        lateness: list[float] = []
        completed = False
        try:
            yield lambda report: lateness.extend(getattr(report, "lateness", ()))
            completed = True
        finally:
            if completed:
                self.tick_finished(now, time.perf_counter() - started, lateness)
            else:
                self.tick_failed(now)

    def page_delivered(self, seconds: float) -> None:
        """A page row reached Slack `seconds` after it was written."""

    def tick_started(self, now: datetime) -> None:
        """The lease holder starts advancing due timers at `now` (the app's clock)."""

    def tick_finished(self, now: datetime, seconds: float, lateness: Iterable[float]) -> None:
        """A tick started at `now` took `seconds` and fired escalations this many seconds past due."""

    def tick_failed(self, now: datetime) -> None:
        """The tick started at `now` raised: it is no longer under way, and it did not complete."""

    def slack_rate_limited(self, method: str) -> None:
        """Slack answered 429 to a call of `method`."""

    def slack_failed(self, method: str, error: str) -> None:
        """A call of `method` failed (Slack's error code, `http_<status>`, or a network failure)."""

    def catalog_reloaded(self, ok: bool) -> None:
        """An edited catalog was put in force (ok) or rejected."""

    def database_probed(self, up: bool) -> None:
        """The last health probe reached the database (or did not)."""


NO_METRICS = Recorder()


class Metrics(Recorder):
    """One Runtime's figures, in a registry of their own (see the module docstring)."""

    def __init__(self, host: str, *, outbox_depth: Callable[[], dict[str, int]], lease_held: Callable[[], bool],
                 engine: str = "") -> None:
        """`outbox_depth` and `lease_held` are read at scrape time (a store read and the worker's own view)."""
        self.host = host
        self.registry = CollectorRegistry(auto_describe=False)
        self._lock = threading.Lock()
        self._tick_started: datetime | None = None
        self._tick_finished: datetime | None = None  # the `now` of the last tick that completed
        r = self.registry
        # First: a scrape reads the outbox before it reports `ladder_database_up`, which that read updates, so the
        # gauge is true at every scrape even when nothing asks /healthz.
        r.register(OutboxDepth(outbox_depth, self.database_probed))
        self.page_delivery = Histogram("ladder_page_delivery_seconds", "Seconds from a page's outbox row being written to "
                                       "Slack accepting the DM", buckets=PAGE_BUCKETS, registry=r)
        self.lateness = Histogram("ladder_escalation_lateness_seconds", "Seconds past due at which an escalation fired",
                                  buckets=LATENESS_BUCKETS, registry=r)
        self.tick_seconds = Histogram("ladder_tick_seconds", "Seconds one timers tick took on the lease holder",
                                      buckets=TICK_BUCKETS, registry=r)
        self.rate_limited = Counter("ladder_slack_rate_limited", "Calls Slack answered with 429, by Web API method",
                                    ["method"], registry=r)
        self.failures = Counter("ladder_slack_failures", "Calls to Slack that failed, by Web API method and Slack's error code",
                                ["method", "error"], registry=r)
        self.reloads = Counter("ladder_catalog_reloads", "Edited catalogs put in force (ok) or rejected", ["result"], registry=r)
        for result in ("ok", "rejected"):
            self.reloads.labels(result=result)  # both series from the start: an alert on `rejected` needs a 0 before the 1
        self.database_up = Gauge("ladder_database_up", "1 when the last health probe or scrape reached the database", registry=r)
        self.database_up.set(1)  # the store opened it moments ago
        Info("ladder_host", "This Ladder host", ["host"], registry=r).labels(host=host).info({"engine": engine})
        held = Gauge("ladder_lease_held", "1 while this host holds the lease and runs the timers", ["host"], registry=r)
        held.labels(host=host).set_function(lambda: 1.0 if lease_held() else 0.0)

    # -- the Recorder calls --------------------------------------------------------------------------
    def page_delivered(self, seconds: float) -> None:
        self.page_delivery.observe(max(0.0, seconds))  # another host's clock may be a little ahead

    def tick_started(self, now: datetime) -> None:
        with self._lock:
            self._tick_started = now

    def tick_finished(self, now: datetime, seconds: float, lateness: Iterable[float]) -> None:
        self.tick_seconds.observe(max(0.0, seconds))
        for late in lateness:
            self.lateness.observe(max(0.0, late))
        with self._lock:
            self._tick_finished = now

    def tick_failed(self, now: datetime) -> None:
        with self._lock:
            self._tick_started = self._tick_finished  # nothing under way any more; the last completed one stands

    def slack_rate_limited(self, method: str) -> None:
        self.rate_limited.labels(method=method_label(method)).inc()

    def slack_failed(self, method: str, error: str) -> None:
        self.failures.labels(method=method_label(method), error=error_label(error)).inc()

    def catalog_reloaded(self, ok: bool) -> None:
        self.reloads.labels(result="ok" if ok else "rejected").inc()

    def database_probed(self, up: bool) -> None:
        self.database_up.set(1 if up else 0)

    # -- read by the health check --------------------------------------------------------------------
    def ticks(self) -> tuple[datetime | None, datetime | None]:
        """(when the running or last tick started, when the last completed tick started), by the app's clock."""
        with self._lock:
            return self._tick_started, self._tick_finished


class OutboxDepth(Collector):
    """`ladder_outbox_depth{kind}`: rows pending or being sent, read from the store at each scrape.

    Every kind is reported, 0 included, so a graph shows the queue draining to nothing rather than
    a series that vanishes. When the database cannot be read the family is empty (and
    `ladder_database_up` says why): a scrape still answers.
    """

    def __init__(self, read: Callable[[], dict[str, int]], reached: Callable[[bool], None] = lambda _up: None) -> None:
        self.read = read
        self.reached = reached  # told whether the read reached the database (`ladder_database_up`)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily("ladder_outbox_depth", "Outbox rows pending or being sent, by kind", labels=["kind"])
        try:
            depth = self.read()
        except Exception as exc:  # noqa: BLE001 - a scrape must answer while the database is away
            log.warning("outbox depth not read for /metrics: %s", type(exc).__name__)
            self.reached(False)
            yield family
            return
        self.reached(True)
        for kind in sorted({*(k.value for k in Kind), *depth}):
            family.add_metric([kind], float(depth.get(kind, 0)))
        yield family

    def describe(self) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily("ladder_outbox_depth", "Outbox rows pending or being sent, by kind", labels=["kind"])
