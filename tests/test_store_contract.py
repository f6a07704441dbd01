"""The store's contract, on both engines: what every use case relies on, whichever database holds the data.

Each test runs once on a SQLite file and once on a real PostgreSQL server (tests/postgres.py). Where two hosts
matter, two Store objects open the same database, as two Ladder hosts would, and race from several threads.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable, Iterator

import pytest

from app.outbox import Kind, Message, Priority
from app.store import STORAGE_ERRORS, Store, database_busy, storage_problem
from app.store.engines import open_store
from app.store.schema import SCHEMA_VERSION

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)

Opener = Callable[[], Store]


@pytest.fixture(params=["sqlite", "postgresql"])
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    """Opens a new Store on the same database each time it is called (one per 'host'); all closed afterwards."""
    opened: list[Store] = []
    url = request.getfixturevalue("postgres_url") if request.param == "postgresql" else None

    def open_one() -> Store:
        store = open_store(tmp_path / "ladder.db", url)
        opened.append(store)
        return store

    yield open_one
    for store in opened:
        store.close()


def _incident(tx, title: str = "Payouts late", **extra) -> dict:
    return tx.insert_incident(NOW, title=title, service_id="payouts", service_name="Payouts", team_id="payments",
                              team_name="Payments", severity="sev2", status="triggered", declared_by="U0SAM", **extra)


PAGE = dict(track="main", round_=0, policy="payments", level=0, loop=0, target="alice@example.com", via="", notify_only=True,
            requested_by=None)


def _message(key: str, kind: Kind = Kind.CHANNEL_MESSAGE, priority: Priority = Priority.MESSAGE,
             depends_on: str | None = None) -> Message:
    return Message(kind, key, priority, None, {"text": key}, depends_on)


def test_a_transaction_that_fails_leaves_nothing_and_a_savepoint_undoes_only_its_part(opener: Opener) -> None:
    store = opener()
    with pytest.raises(RuntimeError):
        with store.transaction() as tx:
            incident = _incident(tx)
            tx.add_timeline(incident["id"], NOW, "declared", "declared")
            raise RuntimeError("the use case changed its mind")
    assert store.incident_by_number(1) is None
    with store.transaction() as tx:
        incident = _incident(tx)
        with pytest.raises(ValueError):
            with tx.savepoint():
                tx.add_timeline(incident["id"], NOW, "bad", "one bad item")
                raise ValueError
        tx.add_timeline(incident["id"], NOW, "good", "the next item")
    assert [e["kind"] for e in store.timeline(incident["id"])] == ["good"]


def test_rows_answer_by_name_and_position_and_booleans_are_stored_as_0_and_1(opener: Opener) -> None:
    store = opener()
    with store.transaction() as tx:
        incident = _incident(tx, private=True)
        page_id = tx.insert_page(incident["id"], NOW, **PAGE)
    assert incident["private"] == 1 and incident["number"] == 1
    assert store.page(page_id)["notify_only"] == 1
    record = store.incident_record(1)
    assert record is not None and record["incident"]["title"] == "Payouts late" and len(record["pages"]) == 1
    with store.transaction() as tx:  # the same page again: nothing new, and the caller is told
        assert tx.insert_page(incident["id"], NOW, **PAGE) is None


def test_an_outbox_key_is_queued_once_and_claims_take_pages_first_and_wait_for_prerequisites(opener: Opener) -> None:
    store = opener()
    with store.transaction() as tx:
        assert tx.enqueue(_message("channel"), NOW)
        assert not tx.enqueue(_message("channel"), NOW)  # the same dedupe key: never twice
        tx.enqueue(_message("after-channel", depends_on="channel"), NOW)
        tx.enqueue(_message("page", Kind.PAGE, Priority.PAGE), NOW)
    first = store.claim_due(NOW, "host-a", 10)
    assert [row.dedupe_key for row in first] == ["page", "channel"]  # pages first; the dependant waits
    assert store.claim_due(NOW, "host-a", 10) == []  # claimed rows are not claimed again
    with store.transaction() as tx:
        tx.mark_sent(first[1].id, NOW)
    assert [row.dedupe_key for row in store.claim_due(NOW, "host-a", 10)] == ["after-channel"]


def test_two_hosts_claiming_at_once_never_take_the_same_row(opener: Opener) -> None:
    hosts = [opener(), opener()]
    with hosts[0].transaction() as tx:
        for n in range(200):
            tx.enqueue(_message(f"m{n}", Kind.PAGE if n % 3 == 0 else Kind.CHANNEL_MESSAGE), NOW)
    taken: list[tuple[str, int]] = []
    lock = threading.Lock()
    start = threading.Barrier(6)

    def claim(index: int) -> None:
        store = hosts[index % 2]
        start.wait(10)  # all at once: a thread started late would find nothing left to race for
        while rows := store.claim_due(NOW, f"host-{index}", 7):
            with lock:
                taken.extend((f"host-{index}", row.id) for row in rows)
            time.sleep(0.001)  # let the others at the lock: a lock is not fair, and one thread could drain the queue alone

    with ThreadPoolExecutor(6) as pool:
        list(pool.map(claim, range(6)))
    ids = [row_id for _host, row_id in taken]
    assert len(ids) == 200 and len(set(ids)) == 200  # every row once, none twice
    assert len({host for host, _ in taken}) > 1  # they really raced


def test_a_lease_has_one_holder_until_it_expires_or_is_released(opener: Opener) -> None:
    a, b = opener(), opener()
    assert a.acquire_lease("worker", "host-a", NOW, 0.4)
    assert not b.acquire_lease("worker", "host-b", NOW, 0.4)
    assert a.acquire_lease("worker", "host-a", NOW, 0.4)  # renewed by its holder
    # SQLite expires by the callers' clock, PostgreSQL by the server's: move both past the lease.
    later = NOW + timedelta(seconds=1)
    time.sleep(0.5) if a.engine == "PostgreSQL" else None
    assert b.acquire_lease("worker", "host-b", later, 5)
    assert not a.acquire_lease("worker", "host-a", later, 5)
    b.release_lease("worker", "host-b")
    assert a.acquire_lease("worker", "host-a", later, 5)


def test_hosts_starting_at_once_apply_the_schema_once(opener: Opener) -> None:
    with ThreadPoolExecutor(4) as pool:
        stores = list(pool.map(lambda _n: opener(), range(4)))
    assert all(store.conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0] == str(SCHEMA_VERSION)
               for store in stores)


def test_incident_numbers_stay_unique_when_two_hosts_declare_at_once(opener: Opener) -> None:
    hosts = [opener(), opener()]

    def declare(n: int) -> int:
        with hosts[n % 2].transaction() as tx:
            return _incident(tx, title=f"incident {n}")["number"]

    with ThreadPoolExecutor(8) as pool:
        numbers = list(pool.map(declare, range(40)))
    assert sorted(numbers) == list(range(1, 41))


def test_instants_compare_in_time_order_to_the_microsecond(opener: Opener) -> None:
    store = opener()
    with store.transaction() as tx:
        incident = _incident(tx)
        for n, rule in enumerate(["a", "b", "c"]):
            tx.conn.execute("INSERT INTO rule_timers(incident_id, rule_id, due_at) VALUES (?, ?, ?)",
                            (incident["id"], rule, (NOW + timedelta(microseconds=n)).isoformat(timespec="microseconds")
                             .replace("+00:00", "Z")))
    assert store.anything_due(NOW) and len(store.due_rule_timer_ids(NOW + timedelta(microseconds=1), 10)) == 2


def test_a_writer_held_up_by_another_host_gives_up_within_its_patience_and_says_busy(opener: Opener) -> None:
    a, b = opener(), opener()
    if a.engine == "SQLite":
        b.busy_timeout = 0.3
    entered, release = threading.Event(), threading.Event()

    def hold() -> None:
        with a.transaction() as tx:
            _incident(tx)
            entered.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert entered.wait(10)
        started = time.monotonic()
        with pytest.raises(STORAGE_ERRORS) as raised:
            with b.impatient(0.3):
                with b.transaction() as tx:
                    _incident(tx, title="second")
        assert time.monotonic() - started < 3
        assert database_busy(raised.value) and "busy" in storage_problem(raised.value)
    finally:
        release.set()
        holder.join(10)


def test_postgresql_going_away_is_said_in_words_and_the_same_store_works_again_once_it_is_back(postgres_server,
                                                                                           postgres_url: str) -> None:
    """A restart or failover of the server: no reopening, no host restart; meanwhile each statement fails fast, in words."""
    store = open_store("", postgres_url)
    try:
        with store.transaction() as tx:
            _incident(tx)
        postgres_server.stop()
        for attempt in range(3):
            started = time.monotonic()
            with pytest.raises(STORAGE_ERRORS) as raised:
                with store.impatient(1.0):
                    store.incident_by_number(1)
            assert time.monotonic() - started < 3
            problem = storage_problem(raised.value)
            assert problem == "the database cannot be reached right now (it may be restarting)"
        password = postgres_url.split(":")[2].split("@")[0]
        assert password not in str(raised.value) and password not in store.describe()
        postgres_server.start()
        assert store.incident_by_number(1)["title"] == "Payouts late"  # the pool replaced its dead connections
        with store.transaction() as tx:
            assert _incident(tx, title="after the restart")["number"] == 2
    finally:
        postgres_server.start()
        store.close()


def test_work_queued_on_one_postgresql_host_wakes_the_sender_on_another_at_commit(postgres_url: str) -> None:
    """The lease holder LISTENs; a declaration on another host NOTIFYs at commit, once, and only if it queued work."""
    declaring, sending = open_store("", postgres_url), open_store("", postgres_url)
    woken, stop = threading.Event(), threading.Event()
    listener = threading.Thread(target=sending.listen_for_work, args=(woken.set, stop, 0.1), daemon=True)
    try:
        listener.start()
        assert woken.wait(5)  # once listening, it wakes for whatever was queued before
        woken.clear()
        with declaring.transaction() as tx:
            _incident(tx)  # no Slack work: nobody is woken
        assert not woken.wait(0.5)
        with declaring.transaction() as tx:
            tx.enqueue(_message("page", Kind.PAGE, Priority.PAGE), NOW)
            assert not woken.wait(0.3)  # not before the commit: the sender would find nothing
        assert woken.wait(2)
    finally:
        stop.set()
        listener.join(5)
        declaring.close()
        sending.close()
