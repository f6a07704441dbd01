"""The background loop: once a second, advance whatever is due and send what the outbox holds.

`tick(now)` runs every kind of due work, one module each (GoAlert's engine runs a list of
managers the same way): `DUE_WORK` lists them, each with one `advance_due(store, catalog, now,
limit)` that keeps its own queries together and advances at most `limit` items in one short
write transaction. Timers are rows with an indexed `due_at`, not in-memory timers, so a restart
loses nothing; a tick with nothing due is a few indexed reads and no write; overdue work found
after downtime fires once, late, and says so on the timeline.

Exactly one loop runs per database: a lease row says who; a second process (or host, on
PostgreSQL) waits and takes over within a few seconds if the first dies. The holder renews the
lease every step and stops running timers once its own clock says the lease may have lapsed
(before any other host may take it), so two runners never overlap even when the holder is cut
off from the database. Rows are claimed before sending and handed to a small thread pool, so a
page never waits behind a slow channel creation.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable

from app import ack_timeouts, digests, followups, nudges, tracks
from app.catalog import Catalog
from app.delivered import fail_orphans
from app.metrics import NO_METRICS, Recorder
from app.slack.delivery import UNRECORDED, DeliveryResult, SlackDelivery
from app.store import STORAGE_ERRORS, OutboxRow, Store, storage_problem
from app.threads import name_native_thread
from app.tracks import Advanced

log = logging.getLogger(__name__)

LEASE_NAME = "worker"
LEASE_SECONDS = 5.0  # a second process takes over within this long after the first dies (the store may say less)
LEASE_MARGIN = 0.5  # the holder stops this long before its lease could lapse: a renewal's own trip takes time
STUCK_SECONDS = 5.0  # a step with no sign of progress for this long is stuck: its host stops renewing the lease
DELIVERY_PATIENCE = 5.0  # seconds a delivery thread's store call waits for the database before giving up for now
BATCH = 500  # due items advanced per write transaction: short write locks

# In order: the ladders climb before the rules due at the same instant look at the incident.
DUE_WORK: tuple[Callable[[Store, Catalog, datetime, int], Advanced], ...] = (
    tracks.advance_due, ack_timeouts.advance_due, nudges.advance_due, followups.advance_due, digests.advance_due,
)


@dataclass
class TickReport:
    fired: int = 0  # escalations and re-arms
    lateness: list[float] = field(default_factory=list)  # seconds past due, one per escalation or re-arm
    rules_fired: int = 0


def tick(store: Store, catalog: Catalog, now: datetime, limit: int = BATCH,
         progress: Callable[[], None] = lambda: None) -> TickReport:
    """Advance everything due at `now`, kind by kind, `limit` items per write transaction (`progress` after each)."""
    report = TickReport()
    digests.keep_in_step(store, catalog, now)  # after a catalog edit or a start only; otherwise one dict lookup
    if not store.anything_due(now):  # the usual tick: one indexed look instead of one per kind of work
        return report
    for advance_due in DUE_WORK:
        while True:
            done = advance_due(store, catalog, now, limit)
            progress()  # the lease keeper's sign that this holder still works (Worker.beat)
            report.fired += len(done.lateness)
            report.lateness += done.lateness
            report.rules_fired += done.rules_fired
            if done.looked_at < limit:
                break
    return report


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def holder_is_gone(holder: str) -> bool:
    """A lease holder on this host whose process no longer exists (e.g. killed): no need to wait out its lease."""
    parts = holder.split(":")
    if len(parts) != 3:  # not `hostname:pid:id` (HOST_NAME set): no process to look for
        return False
    host, pid_text, _id = parts
    if host != socket.gethostname() or not pid_text.isdigit() or int(pid_text) == os.getpid():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, owned by someone else
    return False


class Worker:
    def __init__(
        self, store: Store, delivery: SlackDelivery, *, clock: Callable[[], datetime] = utcnow,
        tick_seconds: float = 1.0, threads: int = 4, holder: str | None = None,
        periodic: list[Callable[[datetime], object]] | None = None,
        due_work: Callable[[datetime], object] | None = None, metrics: Recorder = NO_METRICS,
    ) -> None:
        self.store = store
        self.delivery = delivery
        self.clock = clock
        self.tick_seconds = tick_seconds
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        # Checks run once a tick in every process, on a thread of their own (a catalog reload can take seconds;
        # pages must not wait for it).
        self.periodic = list(periodic or [])
        self.due_work = due_work  # `tick` with its store and catalog: run only by the lease holder
        self.metrics = metrics  # tick duration and escalation lateness; /healthz reads when the last tick completed
        # Pages get a lane of their own: half the threads (at least one) never send anything else.
        self.page_threads = max(1, threads // 2)
        self.other_threads = max(1, threads - self.page_threads)
        self._pool = ThreadPoolExecutor(max_workers=self.page_threads + self.other_threads, thread_name_prefix="ladder-delivery",
                                        initializer=name_native_thread, initargs=("ladder-delivery",))
        self._in_flight: dict[bool, set[Future[DeliveryResult]]] = {True: set(), False: set()}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._periodic_thread: threading.Thread | None = None
        self._has_lease = False
        self.lease_seconds = getattr(store, "lease_seconds", LEASE_SECONDS)
        self._lease_until = 0.0  # time.monotonic() by which this holder must have renewed, or stop
        self._listen_thread: threading.Thread | None = None
        self._lease_thread: threading.Thread | None = None
        self._unrecorded: set[int] = set()  # rows claimed and tried whose outcome the database could not take
        self._lease_lock = threading.Lock()  # the loop and the keeper both renew: one at a time
        self._stepping = False  # the loop is inside a step (renew, tick, dispatch)
        self._beat = 0.0  # time.monotonic() of the step's last sign of progress

    # -- control -------------------------------------------------------------------------------
    def wake(self) -> None:
        """Called right after a use case commits, so its page goes out now, not at the next tick."""
        self._wake.set()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="ladder-worker", daemon=True)
        self._thread.start()
        if self.periodic:
            self._periodic_thread = threading.Thread(target=self._run_periodic, name="ladder-periodic", daemon=True)
            self._periodic_thread.start()
        self._lease_thread = threading.Thread(target=self._keep_lease, name="ladder-lease", daemon=True)
        self._lease_thread.start()
        listen = getattr(self.store, "listen_for_work", None)
        if listen is not None:  # PostgreSQL: a page queued on another host wakes this one at once
            self._listen_thread = threading.Thread(target=listen, args=(self._wake.set, self._stop), name="ladder-listen",
                                                   daemon=True)
            self._listen_thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        for thread in (self._thread, self._periodic_thread, self._listen_thread, self._lease_thread):
            if thread is not None:
                thread.join(timeout)
        self._pool.shutdown(wait=True, cancel_futures=False)
        if self._has_lease:
            self.store.release_lease(LEASE_NAME, self.holder)

    # -- one step --------------------------------------------------------------------------------
    def beat(self) -> None:
        """A sign that the loop is making progress (each step, each batch of a tick): the lease keeper renews only
        while it sees one, so a holder whose loop hangs (a statement stuck on a dead connection) loses the lease."""
        self._beat = time.monotonic()

    def hold_lease(self, now: datetime) -> bool:
        with self._lease_lock:
            return self._hold_lease(now)

    def _hold_lease(self, now: datetime) -> bool:
        had = self._has_lease
        asked = time.monotonic()  # the lease runs from no earlier than this, by any clock
        try:
            self._has_lease = self.store.acquire_lease(LEASE_NAME, self.holder, now, self.lease_seconds, holder_is_gone)
        except Exception:
            self._has_lease = self.holds_lease()  # cut off from the database: hold on only while the lease surely runs
            raise
        if self._has_lease:
            self._lease_until = asked + self.lease_seconds - LEASE_MARGIN
        if self._has_lease and not had:
            log.info("%s now runs the timers and sends the outbox", self.holder)
            released = self.store.release_stale_claims(now, self.holder)
            if released:
                log.info("took over %d outbox rows left mid-send by a previous runner", released)
        elif had and not self._has_lease:
            log.warning("%s no longer holds the lease: another host runs the timers now", self.holder)
        return self._has_lease

    def holds_lease(self) -> bool:
        """Whether this runner may still act as the lease holder: renewed recently enough that nobody else can hold it."""
        return self._has_lease and time.monotonic() < self._lease_until

    def tick(self, now: datetime) -> None:
        """Advance everything due at `now` (its pages and messages join the outbox)."""
        self.beat()
        if self.due_work is not None:
            with self.metrics.ticking(now) as done:  # its duration, its escalations' lateness, when it last completed
                done(self.due_work(now))

    def dispatch_due(self, now: datetime) -> int:
        """Claim due rows up to each lane's free threads and send them in the background."""
        claimed = 0
        fail_orphans(self.store, now)  # before the other lane claims: a row whose prerequisite failed never would be
        for pages, capacity in ((True, self.page_threads), (False, self.other_threads)):
            with self._lock:
                self._in_flight[pages] = {f for f in self._in_flight[pages] if not f.done()}
                free = capacity - len(self._in_flight[pages])
            if free <= 0:
                continue
            for row in self.store.claim_due(now, self.holder, free, pages=pages):
                future = self._pool.submit(self._deliver_while_holding, row, now)
                future.add_done_callback(lambda _f: self._wake.set())
                with self._lock:
                    self._in_flight[pages].add(future)
                claimed += 1
        return claimed

    def _deliver_while_holding(self, row: OutboxRow, now: datetime) -> DeliveryResult:
        """Send a claimed row, unless the lease may have lapsed while it queued for a thread: then another host may
        already own it, so it is handed back (if still ours) rather than sent twice.

        No store call here waits long for the database (a stop must not hang on an absent one); a row whose outcome
        could not be written is remembered and handed back, in doubt, once the database answers (`_hand_back`).
        """
        with self.store.impatient(DELIVERY_PATIENCE):
            try:
                if not self.holds_lease():
                    self.store.unclaim(row.id, self.holder)
                    return DeliveryResult(row.id, row.kind, "skipped", "lease lost before sending")
                result = self.delivery.deliver(row, now)
            except STORAGE_ERRORS as error:
                result = DeliveryResult(row.id, row.kind, UNRECORDED, storage_problem(error))
        if result.outcome == UNRECORDED:
            with self._lock:
                self._unrecorded.add(row.id)
        return result

    def _hand_back(self) -> None:
        """Rows this runner claimed but could not record an outcome for go back to pending, in doubt (the in-doubt
        look-up runs before they are sent again): otherwise they would sit claimed until the claim expired."""
        with self._lock:
            ids, self._unrecorded = self._unrecorded, set()
        if not ids:
            return
        try:
            self.store.hand_back(sorted(ids), self.holder)
        except STORAGE_ERRORS:
            with self._lock:
                self._unrecorded |= ids
            raise
        log.info("handed back %d outbox rows whose outcome the database could not take", len(ids))

    def _keep_lease(self) -> None:
        """Renew the lease in step with its length, also while a long tick runs: the loop renews it only between steps."""
        name_native_thread("ladder-lease")
        while not self._stop.wait(self.lease_seconds / 4):
            stuck = self._stepping and time.monotonic() - self._beat > STUCK_SECONDS
            if stuck and self._has_lease:
                log.warning("%s: the timer loop has made no progress for %.0f s; letting the lease go to another host",
                            self.holder, time.monotonic() - self._beat)
            if self._has_lease and not stuck:
                try:
                    self.hold_lease(self.clock())
                except Exception:  # noqa: BLE001 - holds_lease() runs out by itself; the loop says why
                    pass

    def drain(self, now: datetime, max_rounds: int = 100) -> list[DeliveryResult]:
        """Send everything due at `now`, including rows unlocked by those sent; return what happened.

        Used by tests and tools that move the clock themselves instead of running the loop.
        """
        results: list[DeliveryResult] = []
        if not self.hold_lease(now):
            return results
        self.tick(now)
        for _ in range(max_rounds):
            fail_orphans(self.store, now)
            rows = self.store.claim_due(now, self.holder, 100)
            if not rows:
                break
            futures = [self._pool.submit(self.delivery.deliver, row, now) for row in rows]
            wait(futures)
            results.extend(f.result() for f in futures)
        return results

    # -- the loop ----------------------------------------------------------------------------------
    def _run(self) -> None:
        name_native_thread("ladder-worker")  # the OS-level name: `top -H`, and the benchmark's CPU split
        while not self._stop.is_set():
            self._wake.clear()  # before the step: a wake that arrives during it is not lost
            self.beat()
            self._stepping = True
            try:
                now = self.clock()
                if self.hold_lease(now):
                    self._hand_back()
                    try:
                        self.tick(now)
                    except Exception:  # noqa: BLE001 - whatever is already in the outbox still goes out
                        log.exception("advancing due work failed; sending the outbox all the same")
                    if self.holds_lease():  # a tick that outlasted the lease sends nothing: another host may hold it now
                        self.dispatch_due(now)
            except Exception:  # noqa: BLE001 - the loop must outlive any single bad step
                log.exception("worker step failed; retrying at the next tick")
            finally:
                self._stepping = False
            self._wake.wait(self.tick_seconds)

    def _run_periodic(self) -> None:
        name_native_thread("ladder-periodic")
        while not self._stop.is_set():
            for check in self.periodic:
                try:
                    check(self.clock())
                except Exception:  # noqa: BLE001 - a failed check is tried again next time
                    log.exception("periodic check %s failed", getattr(check, "__name__", check))
            self._stop.wait(self.tick_seconds)
