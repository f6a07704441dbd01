"""The Store: SQLite connections, transactions and migrations, plus the reads and one-shot writes
that need no use case around them. (`PostgresStore`, in postgres.py, is the same Store on PostgreSQL.)

Write transactions are `BEGIN IMMEDIATE`, so two writers queue instead of failing half way, and
yield a `Tx` whose methods are every statement a use case may run, grouped by concern (one module
each beside this one). Every thread gets its own connection (SQLite connections are not shared
across threads). Nothing outside this package writes SQL.
"""

from __future__ import annotations

import sqlite3
import threading

import psycopg
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Callable, Iterator

from app.store.app_home import HomeReads, HomeWrites
from app.store.digests import DigestReads, DigestWrites
from app.store.followups import FollowupReads, FollowupWrites
from app.store.health import HealthReads
from app.store.incidents import IncidentReads, IncidentWrites
from app.store.leases import LeaseWrites
from app.store.opening import DatabaseUnusable, describe
from app.store.outbox import OutboxReads, OutboxRow, OutboxWrites
from app.store.reports import ReportReads, ReportWrites
from app.store.roles import RoleReads, RoleWrites
from app.store.rule_timers import RuleTimerReads, RuleTimerWrites
from app.store.schema import MIGRATIONS, SCHEMA_VERSION
from app.store.sql import SQLITE, Connection, Dialect
from app.store.times import iso
from app.store.tracks import TrackReads, TrackWrites


# What a failed statement raises, on either engine: `except STORAGE_ERRORS` where a request must answer in words.
STORAGE_ERRORS: tuple[type[Exception], ...] = (sqlite3.Error, psycopg.Error)


def database_busy(error: Exception) -> bool:
    """Another process holds the write lock: waiting longer may succeed (unlike a full or read-only disk)."""
    text = str(error).lower()
    if isinstance(error, (psycopg.errors.LockNotAvailable, psycopg.errors.QueryCanceled)):
        return True  # lock_timeout / statement_timeout: another host's write held the lock past this request's patience
    return isinstance(error, sqlite3.OperationalError) and ("locked" in text or "busy" in text)


def database_unreachable(error: Exception) -> bool:
    """The database server could not be reached (down, restarting, failing over): it may well be back in seconds."""
    return isinstance(error, (psycopg.OperationalError, psycopg.InterfaceError)) and not database_busy(error)


def storage_problem(error: Exception) -> str:
    """A storage failure in words a responder can act on (never a traceback in Slack, never the database's password)."""
    text = str(error).lower()
    if database_busy(error):
        return "the database is busy (locked by another process)"
    if database_unreachable(error):
        return "the database cannot be reached right now (it may be restarting)"
    if "full" in text:
        return "the disk is full"
    if "readonly" in text or "read-only" in text:
        return "the database is read-only"
    return "the database could not be written"


class Tx(IncidentWrites, TrackWrites, RuleTimerWrites, OutboxWrites, LeaseWrites, RoleWrites, FollowupWrites, ReportWrites,
         DigestWrites, HomeWrites):
    """One open write transaction: reads see its own writes; it commits when the `with` block ends."""

    def __init__(self, conn: Connection, dialect: Dialect = SQLITE) -> None:
        self.conn = conn
        self.dialect = dialect

    @contextmanager
    def snapshot(self) -> Iterator["Tx"]:
        """Reads inside a write transaction already see one state: the writers' lock keeps every other writer out."""
        yield self

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """A part of the transaction that an exception undoes alone: one due item, one bad row, never the batch."""
        self.conn.execute("SAVEPOINT item")
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK TO item")
            self.conn.execute("RELEASE item")
            raise
        else:
            self.conn.execute("RELEASE item")


class Store(IncidentReads, TrackReads, RuleTimerReads, OutboxReads, RoleReads, FollowupReads, ReportReads, DigestReads, HomeReads,
            HealthReads):
    """Thread-safe access to the Ladder database file."""

    dialect: Dialect = SQLITE
    engine = "SQLite"

    def __init__(self, path: Path | str, busy_timeout: float = 30.0, *, background_checkpoints: bool = False) -> None:
        """`background_checkpoints`: the caller runs `checkpoint()` about once a second (the bot's periodic thread does),
        so no commit copies the write-ahead log into the database file itself. Otherwise SQLite does that in whichever
        commit takes the log past 1,000 pages: every fiftieth click or so paid for it, with the process's write lock held.
        """
        self.path = str(path)
        self.busy_timeout = busy_timeout  # how long a writer waits for another process's lock before giving up
        self.background_checkpoints = background_checkpoints
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        self._write_lock = threading.RLock()
        try:
            self._migrate()
        except sqlite3.Error as exc:
            # Raised here, at start-up, in words: a traceback from deep in sqlite3 tells nobody what to fix.
            self.close()
            raise DatabaseUnusable(describe(Path(self.path), exc)) from None
        except DatabaseUnusable:
            self.close()
            raise

    # -- connections -------------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout={int(self.busy_timeout * 1000)}")
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        if self.background_checkpoints:
            conn.execute("PRAGMA wal_autocheckpoint=0")
        return conn

    def checkpoint(self) -> None:
        """Copy what the write-ahead log holds into the database file, without waiting for anyone (PASSIVE): the
        background half of `background_checkpoints`. Readers and writers go on meanwhile; what a reader still uses
        waits for the next call."""
        self.conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()  # read to the end: an open statement would pin the log

    @property
    def conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
            with self._all_lock:
                self._all.append(conn)
        return conn

    def describe(self) -> str:
        """Where the data is, for a log line."""
        return self.path

    @contextmanager
    def snapshot(self) -> Iterator["Store"]:
        """Several reads that see one state: a savepoint is a read transaction outside a write, and nests inside one."""
        self.conn.execute("SAVEPOINT snapshot")
        try:
            yield self
        finally:
            self.conn.execute("RELEASE snapshot")

    @contextmanager
    def impatient(self, seconds: float) -> Iterator[None]:
        """This thread's writes give up after `seconds` of another process's lock (a listener owes Slack an answer in 3 s)."""
        conn = self.conn
        conn.execute(f"PRAGMA busy_timeout={int(min(seconds, self.busy_timeout) * 1000)}")
        try:
            yield
        finally:
            conn.execute(f"PRAGMA busy_timeout={int(self.busy_timeout * 1000)}")

    def close(self) -> None:
        with self._all_lock:
            connections, self._all = self._all, []
        for conn in connections:
            try:
                conn.close()
            except sqlite3.ProgrammingError:
                pass
        self._local = threading.local()

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        """One write transaction. No Slack call may happen inside it (see design.md).

        Writers of this process queue on a lock first: SQLite's own busy handler would make a
        waiting writer sleep with back-off (up to 100 ms a try), which shows up as tail latency on
        every click. Other processes on the same file still meet the busy timeout, rarely.
        """
        conn = self.conn
        with self._write_lock:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield Tx(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            else:
                conn.execute("COMMIT")

    # -- schema -------------------------------------------------------------------------------
    def _migrate(self) -> None:
        """One migration per transaction, each deciding from the version it reads under the write lock: two processes
        opening a new file at the same moment apply each migration once (the second finds it done)."""
        self.conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
        while True:
            with self.transaction() as tx:
                row = tx.conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
                current = int(row["value"]) if row else 0
                if current > SCHEMA_VERSION:
                    raise DatabaseUnusable(f"{Path(self.path).absolute()} was written by a newer Ladder (schema {current}; this "
                                           f"one knows {SCHEMA_VERSION}); run that version, or name another file.")
                if current == SCHEMA_VERSION:
                    return
                for statement in MIGRATIONS[current + 1]:
                    tx.conn.execute(statement)
                tx.conn.execute("INSERT INTO meta(key, value) VALUES ('schema_version', ?) "
                                "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (str(current + 1),))

    def anything_due(self, now: datetime) -> bool:
        """Whether any timer of any kind is due: one indexed look, so that a quiet tick costs one statement."""
        stamp = iso(now)
        return bool(self.conn.execute(
            "SELECT EXISTS (SELECT 1 FROM tracks WHERE due_at IS NOT NULL AND due_at <= ?) "
            "OR EXISTS (SELECT 1 FROM rule_timers WHERE due_at IS NOT NULL AND due_at <= ?) "
            "OR EXISTS (SELECT 1 FROM followups WHERE remind_at IS NOT NULL AND remind_at <= ?) "
            "OR EXISTS (SELECT 1 FROM digests WHERE due_at IS NOT NULL AND due_at <= ?)", (stamp, stamp, stamp, stamp)).fetchone()[0])

    # -- one-shot writes: each its own short transaction --------------------------------------------
    def claim_due(self, now: datetime, holder: str, limit: int, claim_seconds: float = 120,
                  pages: bool | None = None) -> list[OutboxRow]:
        """Atomically take due rows whose prerequisite (if any) has been sent; pages come first.

        `pages=True` takes only pages, `False` only the rest, `None` both: pages have a lane of
        their own so that channel housekeeping can never hold one back. (Rows whose prerequisite
        failed are failed beforehand by `delivered.fail_orphans`.)
        """
        with self.transaction() as tx:
            return tx.claim(now, holder, limit, claim_seconds, pages)

    def release_stale_claims(self, now: datetime, holder: str) -> int:
        with self.transaction() as tx:
            return tx.release_stale_claims(now, holder)

    def hand_back(self, row_ids: list[int], holder: str) -> None:
        with self.transaction() as tx:
            tx.hand_back(row_ids, holder)

    def unclaim(self, row_id: int, holder: str) -> None:
        with self.transaction() as tx:
            tx.unclaim(row_id, holder)

    def retry_later(self, row_id: int, at: datetime, error: str, in_doubt: bool = False) -> None:
        with self.transaction() as tx:
            tx.retry_later(row_id, at, error, in_doubt)

    def update_payload(self, row_id: int, payload: dict) -> None:  # type: ignore[type-arg]
        """Remember a row's progress between attempts (e.g. which messages a refresh has already updated)."""
        with self.transaction() as tx:
            tx.update_payload(row_id, payload)

    def acquire_lease(self, name: str, holder: str, now: datetime, seconds: float,
                      holder_is_gone: Callable[[str], bool] = lambda _holder: False) -> bool:
        """Take or renew the named lease; True while `holder` owns it. One worker loop per database."""
        with self.transaction() as tx:
            return tx.take_lease(name, holder, now, seconds, holder_is_gone)

    def release_lease(self, name: str, holder: str) -> None:
        with self.transaction() as tx:
            tx.release_lease(name, holder)

    def cache_user(self, ref: str, user_id: str, now: datetime) -> None:
        with self.transaction() as tx:
            tx.cache_user(ref, user_id, now)
