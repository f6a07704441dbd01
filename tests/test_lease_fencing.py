"""No two runners, even when the lease holder is cut off from PostgreSQL (a network partition) but still alive.

Two Workers on one real PostgreSQL database, as two hosts. The holder's renewals start failing as if the network
to the database were cut; the other host keeps asking for the lease. The holder must stop acting as the holder
(no tick, no send) before the other host can get the lease: the lease expires by the server's clock, and the holder
gives up by its own clock, measured from before its last successful renewal, half a second early.

Real time on purpose: the lease runs on the database server's clock, which no freezegun can move.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone

import psycopg

from app.store.engines import open_store
from app.worker import Worker


class _NoDelivery:
    def deliver(self, row, now):  # pragma: no cover - nothing is claimed in this test
        raise AssertionError("nothing should be sent")


def _now() -> datetime:
    return datetime.now(timezone.utc)


def test_a_holder_cut_off_from_the_database_stops_before_another_host_can_take_the_lease(postgres_url: str) -> None:
    stores = [open_store("", postgres_url), open_store("", postgres_url)]
    cut_off, standby = (Worker(store, _NoDelivery(), holder=f"host-{n}:1:x") for n, store in enumerate(stores))  # type: ignore[arg-type]
    try:
        assert cut_off.hold_lease(_now()) and cut_off.holds_lease()
        assert not standby.hold_lease(_now())

        def partitioned(*_args, **_kwargs):
            raise psycopg.OperationalError("connection timeout expired")

        stores[0].acquire_lease = partitioned  # type: ignore[method-assign]
        stopped_at = taken_at = None
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and taken_at is None:
            try:
                cut_off.hold_lease(_now())
            except psycopg.OperationalError:
                pass
            if stopped_at is None and not cut_off.holds_lease():
                stopped_at = time.monotonic()
            if standby.hold_lease(_now()):
                taken_at = time.monotonic()
                assert not cut_off.holds_lease(), "two hosts act as the lease holder at the same moment"
            time.sleep(0.05)
        assert taken_at is not None, "the standby never took the lease of a holder cut off from the database"
        assert stopped_at is not None and stopped_at < taken_at
        assert taken_at - stopped_at >= 0.3  # the holder's margin: it gave up well before the lease could be taken
        assert standby.holds_lease()
    finally:
        for worker in (cut_off, standby):
            worker._pool.shutdown(wait=False)
        for store in stores:
            store.close()
