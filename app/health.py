"""`GET /healthz` and `GET /metrics`: what a load balancer and Prometheus ask a Ladder host.

A host is healthy when it can reach its database and, if it holds the lease, its timers run on
time: the last tick completed within a few tick periods and nothing due has waited longer than
that. A load balancer understands two answers, so there are two: 200 with a short JSON body, or
503 with the reason in it. The reasons are fixed phrases (the exception's class at most), never
an error's text, which could carry a DATABASE_URL's host or more.

HTTP mode answers both paths on PORT (`LadderRequestHandler` hands them here); with HEALTH_PORT
set, a small server answers them on that port too, which is how a Socket Mode host, serving no
HTTP otherwise, is probed.
"""

from __future__ import annotations

import json
import logging
import threading
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Callable, Iterable

from prometheus_client.exposition import choose_encoder

from app.threads import name_native_thread

if TYPE_CHECKING:
    from waitress.server import BaseWSGIServer

    from app.metrics import Metrics
    from app.runtime import Runtime
    from app.store import Store

log = logging.getLogger(__name__)

PROBE_SECONDS = 2.0  # a database that has not answered `SELECT 1` by then is as good as away, for a load balancer
LATE_TICKS = 5  # the timers are late when no tick completed for this many tick periods…
LATE_FLOOR_SECONDS = 5.0  # …and at least this long (the bound for a page after it is due)
PATHS = ("/healthz", "/metrics")


@dataclass(frozen=True)
class Verdict:
    """The answer to `/healthz`: healthy or not, and the fields of its JSON body."""

    healthy: bool
    body: dict[str, str]

    @property
    def status(self) -> str:
        return "200 OK" if self.healthy else "503 Service Unavailable"


class DatabaseProbe:
    """`store.ping()` with a deadline: a probe waits at most `seconds`, however long the database takes.

    The ping runs on a thread of its own; while one is still waiting on the database, later probes
    wait on that same one instead of piling up a thread each (a load balancer asks every few seconds).
    """

    def __init__(self, ping: Callable[[], object], seconds: float = PROBE_SECONDS) -> None:
        self.ping = ping
        self.seconds = seconds
        self._lock = threading.Lock()
        self._pending: Future[object] | None = None

    def __call__(self) -> str | None:
        """None when the database answered; otherwise why not, in a fixed phrase."""
        with self._lock:
            if self._pending is None or self._pending.done():
                self._pending = Future()
                threading.Thread(target=self._run, args=(self._pending,), name="ladder-health-probe", daemon=True).start()
            pending = self._pending
        try:
            pending.result(self.seconds)
        except FutureTimeout:
            return f"the database did not answer within {self.seconds:g} s"
        except Exception as exc:  # noqa: BLE001 - whatever the driver raised, the host cannot use its database
            return f"the database cannot be reached ({type(exc).__name__})"
        return None

    def _run(self, pending: Future[object]) -> None:
        name_native_thread("ladder-health-probe")
        try:
            pending.set_result(self.ping())
        except BaseException as exc:  # noqa: BLE001 - handed to whoever waits on the probe
            pending.set_exception(exc)


class Health:
    """Judges this host's health on request; cheap enough for a probe every second."""

    def __init__(self, store: "Store", metrics: "Metrics", holds_lease: Callable[[], bool], clock: Callable[[], datetime],
                 tick_seconds: float, host: str) -> None:
        self.store = store
        self.metrics = metrics
        self.holds_lease = holds_lease
        self.clock = clock
        self.host = host
        self.late_after = timedelta(seconds=max(LATE_FLOOR_SECONDS, LATE_TICKS * tick_seconds))
        self.probe = DatabaseProbe(self._ping)
        self._was_healthy = True

    def _ping(self) -> None:
        """`SELECT 1`, waiting for a pooled connection (PostgreSQL) no longer than a probe does."""
        with self.store.impatient(PROBE_SECONDS):
            self.store.ping()

    def check(self) -> Verdict:
        now = self.clock()
        problem = self.probe()
        self.metrics.database_probed(problem is None)
        started, finished = self.metrics.ticks()
        ticking = started is not None and (finished is None or started > finished)  # a tick under way runs the timers here
        held = self.holds_lease() or ticking
        body = {"status": "ok", "database": "ok" if problem is None else "unreachable",
                "lease": "held" if held else "standby", "timers": "-", "host": self.host}
        if problem is None and held:
            late = self._timers_late(now, started, finished)
            body["timers"] = "late" if late else "on time"
            problem = late
        if problem is not None:
            body["status"] = "unavailable"
            body["reason"] = problem
        self._log_change(problem)
        return Verdict(problem is None, body)

    def _timers_late(self, now: datetime, started: datetime | None, finished: datetime | None) -> str | None:
        """Why the timers this host runs are late, or None."""
        if finished is not None and now - finished > self.late_after:
            return f"timers late: the last tick completed {int((now - finished).total_seconds())} s ago"
        if finished is None and started is not None and now - started > self.late_after:
            return f"timers late: the first tick has run for {int((now - started).total_seconds())} s"
        try:
            with self.store.impatient(PROBE_SECONDS):
                overdue = self.store.anything_due(now - self.late_after)
        except Exception as exc:  # noqa: BLE001 - the probe above has just reached it; say what failed here
            return f"the database cannot be read ({type(exc).__name__})"
        if overdue:
            return f"timers late: work due over {int(self.late_after.total_seconds())} s ago is still waiting"
        return None

    def _log_change(self, problem: str | None) -> None:
        """One log line when the verdict turns, not one per probe."""
        if problem is not None and self._was_healthy:
            log.warning("health check failing: %s", problem)
        elif problem is None and not self._was_healthy:
            log.info("health check passing again")
        self._was_healthy = problem is None


class OpsEndpoints:
    """A WSGI app answering `GET /healthz` and `GET /metrics`; 404 for anything else."""

    def __init__(self, health: Health, metrics: "Metrics") -> None:
        self.health = health
        self.metrics = metrics

    @staticmethod
    def handles(environ: dict[str, Any]) -> bool:
        return environ.get("REQUEST_METHOD") == "GET" and environ.get("PATH_INFO") in PATHS

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if not self.handles(environ):
            start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
            return [b"not found: this port answers GET /healthz and GET /metrics\n"]
        if environ["PATH_INFO"] == "/metrics":
            # The format the scraper asks for (Accept), as prometheus-client's own server chooses it; by default
            # `generate_latest`'s text format 0.0.4, which every Prometheus reads.
            encode, content_type = choose_encoder(environ.get("HTTP_ACCEPT", ""))
            start_response("200 OK", [("Content-Type", content_type)])
            return [encode(self.metrics.registry)]
        verdict = self.health.check()
        start_response(verdict.status, [("Content-Type", "application/json"), ("Cache-Control", "no-store")])
        return [json.dumps(verdict.body, separators=(",", ":")).encode() + b"\n"]


def ops_server(runtime: "Runtime", host: str | None = None, port: int | None = None, **adjustments: object) -> "BaseWSGIServer":
    """The HEALTH_PORT server: waitress with a couple of threads, serving only the two paths."""
    from waitress.server import create_server

    settings = runtime.settings
    return create_server(runtime.ops, host=host or settings.host, port=settings.health_port if port is None else port,
                         threads=2, ident="Ladder", clear_untrusted_proxy_headers=True, max_request_body_size=0,
                         **adjustments)
