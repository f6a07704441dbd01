"""A host that is alive but not working must not keep the cluster from paging (found in review of 751400b).

Two shapes, both on a real PostgreSQL, both on real time (the lease runs by the server's clock):

1. The lease holder's timer loop is stuck (a statement hung on a connection to a failed-over server, a tick that never
   returns), while its `_keep_lease` thread goes on renewing the lease on connections of its own. Before commit
   751400b the lease was renewed only by the loop, so a stuck loop lost the lease and another host took over within
   seconds; now nobody runs the timers or sends the outbox for as long as the loop stays stuck.
2. A host frozen in the middle of a write transaction (VM paused, SIGSTOP, a network partition: no FIN/RST ever
   reaches the server) keeps the writers' advisory lock. Nothing on the server ends its session (no
   idle_in_transaction_session_timeout, TCP keep-alives after two hours), and the worker loop's writes have no
   lock_timeout: every other host's timers and outbox wait behind it.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone


import psycopg

from app.store.engines import open_store
from app.store.postgres import WRITERS_LOCK
from app.worker import Worker
from tests.support import until

TAKEOVER_S = 10.0  # generous: the lease is 3 s on PostgreSQL and each loop steps once a second


class _NoDelivery:
    def deliver(self, row, now):  # pragma: no cover - nothing is queued in these tests
        raise AssertionError("nothing should be sent")


def _now() -> datetime:
    return datetime.now(timezone.utc)


def test_a_holder_whose_timer_loop_is_stuck_loses_the_lease_to_a_working_host(postgres_url: str) -> None:
    stuck_store, standby_store = open_store("", postgres_url), open_store("", postgres_url)
    unstick = threading.Event()
    ticks_started = threading.Event()

    def hung_tick(_now: datetime) -> None:  # a tick that never comes back (e.g. a statement on a dead connection)
        ticks_started.set()
        unstick.wait(60)

    stuck = Worker(stuck_store, _NoDelivery(), holder="host-a:1:x", due_work=hung_tick)  # type: ignore[arg-type]
    standby = Worker(standby_store, _NoDelivery(), holder="host-b:2:y", due_work=lambda _now: None)  # type: ignore[arg-type]
    try:
        stuck.start()
        assert ticks_started.wait(10), "the first host never ran a tick"
        standby.start()
        until(standby.holds_lease, TAKEOVER_S, "the lease to pass from host-a, whose timer loop is stuck, to host-b (if "
              "this times out, host-a's _keep_lease thread renews it though no host runs the timers or sends pages)")
    finally:
        unstick.set()
        for worker in (stuck, standby):
            worker.stop(timeout=5)
        for store in (stuck_store, standby_store):
            store.close()


def test_a_host_frozen_inside_a_write_does_not_stop_every_other_host_for_good(postgres_url: str) -> None:
    store = open_store("", postgres_url)
    paused_host = open_store("", postgres_url)  # a Ladder host paused (VM, SIGSTOP, partition) mid-transaction
    done = threading.Event()
    errors: list[BaseException] = []

    def the_holders_loop_claims_due_rows() -> None:  # Worker.dispatch_due's first write, on the loop's own patience
        try:
            store.claim_due(_now(), "host-b:2:y", 4, pages=True)
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)
        finally:
            done.set()

    thread = threading.Thread(target=the_holders_loop_claims_due_rows, daemon=True)
    try:
        try:
            with paused_host.borrow() as frozen:  # its session, as the server sees it: inside a write, then silence
                frozen.execute("BEGIN")
                frozen.execute("SELECT pg_advisory_xact_lock(%s)", (WRITERS_LOCK,))
                started = time.monotonic()
                thread.start()
                finished = done.wait(20)
                assert finished, ("a host frozen inside a write transaction has held the writers' lock for 20 s and the "
                                  "lease holder's loop still waits for it: no page leaves any host until that session ends")
                assert not errors and time.monotonic() - started < 10  # the server ended the idle session after 5 s
        except psycopg.Error:
            pass  # what the paused host meets when it wakes: its session was ended (and its transaction undone)
    finally:
        thread.join(10)
        paused_host.close()
        store.close()
