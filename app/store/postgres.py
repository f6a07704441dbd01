"""The Store on PostgreSQL: the same statements, tables and transactions as on SQLite, for several hosts at once.

Chosen by `DATABASE_URL=postgresql://…` (app/store/opening.py `open_store`). What differs from SQLite stays here:

- **Connections** come from a psycopg 3 pool. A read outside a transaction borrows one for that statement; a
  write transaction holds one from `BEGIN` to `COMMIT`. The pool checks a connection before lending it, so after
  the server restarts (a failover) the dead ones are replaced and the next request just works.
- **One writer at a time, as on SQLite.** Every write transaction first takes one transaction-scoped advisory
  lock. Every use case reads, decides and writes under it, exactly as under SQLite's `BEGIN IMMEDIATE`, so the
  two engines give the same answers (an incident number is never taken twice; a compare-and-swap never races).
  Reads never wait for it. Ladder needs availability, not write throughput: one host alone sustains far more
  declarations than any team makes.
- **Statements** are written once with `?` placeholders; `_translate` turns them into psycopg's `%s` (and
  doubles a literal `%`). Booleans are sent as 0/1, as SQLite stores them. Rows answer by name and position,
  like `sqlite3.Row`.
- **The schema** is app/store/schema.py's one history, each statement carried over by `postgres_ddl`: 64-bit
  integers, identity ids, and byte-order ("C") text so that timestamps and key ranges compare as on SQLite
  whatever the database's locale. Migrations run under the writers' lock, in one transaction: several hosts
  starting at once apply them once.
- **The lease** (which host runs the timers) expires by the database server's clock, never a host's, so two
  hosts with skewed clocks still agree who holds it (app/store/leases.py).
- **Waking the timer host**: a transaction that queues Slack work also sends `NOTIFY` (delivered at commit),
  and the host that sends the outbox `LISTEN`s, so a page declared on one host leaves from another at once.
"""

from __future__ import annotations

import logging
import re
import threading
from contextlib import contextmanager
from functools import lru_cache
from typing import Any, Callable, Iterator, Sequence

import psycopg
from psycopg_pool import ConnectionPool

from app.config import redact_database_url
from app.store.db import Store, Tx
from app.store.opening import DatabaseUnusable
from app.store.schema import MIGRATIONS, SCHEMA_VERSION
from app.store.sql import POSTGRESQL

log = logging.getLogger(__name__)

WRITERS_LOCK = 0x4C61646465720001  # pg_advisory_xact_lock key of "one writer at a time" ("Ladder", 1)
WORK_CHANNEL = "ladder_outbox"  # NOTIFY channel: Slack work was queued
POOL_SIZE = 16  # connections per host at most: request threads + delivery threads + the worker
CONNECT_TIMEOUT = 5  # seconds to reach the server before a connection attempt gives up
# psycopg_pool retries a failed connection in the background with a delay that doubles each time (1, 2, 4, 8 s…) and
# blocks the pool from growing meanwhile: after a 20 s outage a host would stay cut off for 10 s more. Giving up the
# background attempt after a second lets the next request open a connection itself, at once.
RECONNECT_GIVE_UP = 1.0
# Every Ladder session: the server ends one left idle inside a transaction (a host paused or cut off while it held
# the writers' lock would otherwise stop every other host's writes for good), and both ends notice a silent peer
# in seconds rather than TCP's two hours.
SESSION = {
    "connect_timeout": CONNECT_TIMEOUT,
    "options": "-c idle_in_transaction_session_timeout=5s -c tcp_keepalives_idle=5 -c tcp_keepalives_interval=2 "
               "-c tcp_keepalives_count=3",
    "keepalives": 1, "keepalives_idle": 5, "keepalives_interval": 2, "keepalives_count": 3, "tcp_user_timeout": 15000,
}
LEASE_PATIENCE = 1.0  # seconds a renewal waits for its connection: the holder must renew within 2.5 s or stop


# -- statements ---------------------------------------------------------------------------------------
@lru_cache(maxsize=4096)
def _translate(sql: str) -> str:
    """`?` placeholders (outside quoted literals) to psycopg's `%s`; a literal `%` doubled, as psycopg requires."""
    out: list[str] = []
    quoted = False
    for char in sql:
        if char == "'":
            quoted = not quoted
            out.append(char)
        elif char == "%":
            out.append("%%")
        elif char == "?" and not quoted:
            out.append("%s")
        else:
            out.append(char)
    return "".join(out)


@lru_cache(maxsize=1024)
def _row_class(names: tuple[str, ...]) -> type[tuple]:  # type: ignore[type-arg]
    """A tuple that also answers by column name and to `dict(row)`, like sqlite3.Row (first of two same names wins)."""
    index: dict[str, int] = {}
    for position, name in enumerate(names):
        index.setdefault(name, position)

    class Row(tuple):  # type: ignore[type-arg]
        __slots__ = ()

        def __getitem__(self, key: Any) -> Any:
            if isinstance(key, str):
                return tuple.__getitem__(self, index[key])
            return tuple.__getitem__(self, key)

        def keys(self) -> list[str]:
            return list(names)

    return Row


def _row_factory(cursor: Any) -> Callable[[Sequence[Any]], Any]:
    names = tuple(column.name for column in cursor.description or ())
    return _row_class(names)


class Result:
    """A statement's rows, read to the end before its connection goes back to the pool."""

    def __init__(self, rows: list[Any], rowcount: int) -> None:
        self._rows = iter(rows)
        self.rowcount = rowcount

    def fetchone(self) -> Any:
        return next(self._rows, None)

    def fetchall(self) -> list[Any]:
        return list(self._rows)

    def __iter__(self) -> Iterator[Any]:
        return self._rows


class PgConnection:
    """One psycopg connection speaking the store's dialect (see the module docstring)."""

    def __init__(self, raw: psycopg.Connection[Any]) -> None:
        self.raw = raw

    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> Result:
        values = [int(value) if isinstance(value, bool) else value for value in parameters]
        cursor = self.raw.execute(_translate(sql), values)  # type: ignore[arg-type]
        rows = cursor.fetchall() if cursor.description is not None else []
        return Result(rows, cursor.rowcount)


class _Borrowing:
    """`Store.conn` on PostgreSQL: each statement borrows a pooled connection for just that statement."""

    def __init__(self, store: "PostgresStore") -> None:
        self.store = store

    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> Result:
        with self.store.borrow() as raw:
            return PgConnection(raw).execute(sql, parameters)


def postgres_ddl(statement: str) -> str:
    """A migration statement of schema.py (SQLite's words) as PostgreSQL says it; the history itself is shared."""
    ddl = re.sub(r"\bid INTEGER PRIMARY KEY\b", "id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY", statement)
    ddl = re.sub(r"\bINTEGER\b", "BIGINT", ddl)
    if re.match(r"\s*(CREATE TABLE|ALTER TABLE \w+ ADD COLUMN)\b", ddl):
        ddl = re.sub(r"\bTEXT\b", 'TEXT COLLATE "C"', ddl)  # byte order, as SQLite compares: ISO instants, key ranges
    return ddl.replace("instr(", "strpos(")  # same arguments, PostgreSQL's name


# -- the store ----------------------------------------------------------------------------------------
def _configure(raw: psycopg.Connection[Any]) -> None:
    raw.autocommit = True  # BEGIN/COMMIT are explicit, as on SQLite; a read outside one is its own transaction
    raw.row_factory = _row_factory  # type: ignore[assignment]


class PostgresStore(Store):
    """The Store on a PostgreSQL server, shared by every Ladder host that names it."""

    dialect = POSTGRESQL
    engine = "PostgreSQL"
    # The timers' lease: renewed every worker step (about once a second), so a host that dies is replaced within
    # this plus one step; under the 5 s an on-call rota can tell (a SQLite file's 5 s lease has a same-machine PID check).
    lease_seconds = 3.0

    def __init__(self, url: str, busy_timeout: float = 30.0, *, pool_size: int = POOL_SIZE) -> None:  # noqa: D107
        self.url = url
        self.path = redact_database_url(url)  # what log lines and messages show: no password
        self.busy_timeout = busy_timeout
        self.background_checkpoints = False
        self._local = threading.local()
        self._borrowing = _Borrowing(self)  # `conn`, asked for by every read: one object, not one per statement
        self.pool: ConnectionPool[Any] = ConnectionPool(
            url, min_size=1, max_size=pool_size, open=False, configure=_configure, check=ConnectionPool.check_connection,
            kwargs={**SESSION, "application_name": "ladder"}, timeout=busy_timeout,
            reconnect_timeout=RECONNECT_GIVE_UP, name="ladder")
        # The lease's own connections: a renewal must never wait behind a storm of requests for a pooled one.
        self.lease_pool: ConnectionPool[Any] = ConnectionPool(
            url, min_size=1, max_size=2, open=False, configure=_configure, check=ConnectionPool.check_connection,
            kwargs={**SESSION, "application_name": "ladder-lease"}, timeout=LEASE_PATIENCE,
            reconnect_timeout=RECONNECT_GIVE_UP, name="ladder-lease")
        try:
            # One plain connection first: a wrong password or database name gets PostgreSQL's own words at once (the
            # pool would retry it with back-off and then report only its own timeout).
            psycopg.connect(url, **SESSION).close()
            self.pool.open(wait=True, timeout=CONNECT_TIMEOUT + 1)
            self.lease_pool.open(wait=False)
            self._migrate()
        except (psycopg.Error, DatabaseUnusable) as exc:
            self.pool.close()
            self.lease_pool.close()
            if isinstance(exc, DatabaseUnusable):
                raise
            raise DatabaseUnusable(f"the PostgreSQL database at {self.path} could not be used: "
                                   f"{_reason(exc)}. Check DATABASE_URL, and that the server is running.") from None

    # -- connections -------------------------------------------------------------------------------
    def describe(self) -> str:
        return self.path

    def _patience(self) -> float:
        return getattr(self._local, "patience", None) or self.busy_timeout

    @contextmanager
    def borrow(self) -> Iterator[psycopg.Connection[Any]]:
        """A pooled connection, waited for no longer than this thread's patience (a request owes Slack an answer)."""
        with self.pool.connection(timeout=self._patience()) as raw:
            yield raw

    @property
    def conn(self) -> _Borrowing:  # type: ignore[override]
        return self._borrowing

    def checkpoint(self) -> None:
        """Nothing to do: the server manages its own write-ahead log."""

    @contextmanager
    def impatient(self, seconds: float) -> Iterator[None]:
        previous = getattr(self._local, "patience", None)
        self._local.patience = min(seconds, self.busy_timeout)
        try:
            yield
        finally:
            self._local.patience = previous

    def close(self) -> None:
        self.pool.close()
        self.lease_pool.close()

    @contextmanager
    def transaction(self) -> Iterator[Tx]:  # type: ignore[override]
        """One write transaction, after every other host's and thread's (the writers' advisory lock)."""
        with self.borrow() as raw:
            conn = PgConnection(raw)
            conn.execute("BEGIN")
            try:
                patience = getattr(self._local, "patience", None)
                if patience is not None:
                    conn.execute(f"SET LOCAL lock_timeout = {int(patience * 1000)}")
                conn.execute("SELECT pg_advisory_xact_lock(?)", (WRITERS_LOCK,))
                tx = Tx(conn, POSTGRESQL)
                yield tx
            except BaseException:
                if not raw.closed:
                    try:
                        conn.execute("ROLLBACK")
                    except psycopg.Error:
                        pass  # the connection broke: the server rolls back by itself, and the pool drops it
                raise
            else:
                if tx.queued_work:
                    conn.execute(POSTGRESQL.notify_work)  # one per transaction, delivered at commit: wakes the sender
                conn.execute("COMMIT")

    @contextmanager
    def snapshot(self) -> Iterator[Tx]:  # type: ignore[override]
        """Several reads that see one state: a read-only repeatable-read transaction on one connection."""
        with self.borrow() as raw:
            conn = PgConnection(raw)
            conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            try:
                yield Tx(conn, POSTGRESQL)
            finally:
                if not raw.closed:
                    conn.execute("COMMIT")

    # -- schema -------------------------------------------------------------------------------------
    def _migrate(self) -> None:
        """Every pending migration in one transaction, under the writers' lock: a second host starting waits, then
        finds them done."""
        with self.transaction() as tx:
            conn = tx.conn
            conn.execute('CREATE TABLE IF NOT EXISTS meta (key TEXT COLLATE "C" PRIMARY KEY, value TEXT)')
            row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            current = int(row["value"]) if row else 0
            if current > SCHEMA_VERSION:
                raise DatabaseUnusable(f"the PostgreSQL database at {self.path} was written by a newer Ladder (schema "
                                       f"{current}; this one knows {SCHEMA_VERSION}); run that version, or name another "
                                       "database.")
            for version in range(current + 1, SCHEMA_VERSION + 1):
                for statement in MIGRATIONS[version]:
                    conn.execute(postgres_ddl(statement))
                conn.execute("INSERT INTO meta(key, value) VALUES ('schema_version', ?) "
                             "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (str(version),))
        if current < SCHEMA_VERSION:
            log.info("PostgreSQL schema brought from version %d to %d", current, SCHEMA_VERSION)

    # -- the lease and the wake-up ---------------------------------------------------------------------
    def acquire_lease(self, name: str, holder: str, now: Any, seconds: float,
                      holder_is_gone: Callable[[str], bool] = lambda _holder: False) -> bool:
        """Take or renew the lease by the server's clock (`now` and `holder_is_gone` are one machine's views: unused).

        One statement, outside the writers' lock and on the lease's own connections: a renewal never waits behind a
        long write or a storm of requests.
        """
        with self.lease_pool.connection(timeout=LEASE_PATIENCE) as raw:
            return Tx(PgConnection(raw), POSTGRESQL).take_lease_by_server_clock(name, holder, seconds)

    def release_lease(self, name: str, holder: str) -> None:
        with self.lease_pool.connection(timeout=LEASE_PATIENCE) as raw:
            Tx(PgConnection(raw), POSTGRESQL).release_lease(name, holder)

    def listen_for_work(self, wake: Callable[[], None], stop: threading.Event, poll: float = 1.0) -> None:
        """Call `wake` whenever any host queues Slack work, until `stop`; reconnects by itself after an outage."""
        while not stop.is_set():
            try:
                with psycopg.connect(self.url, autocommit=True, **SESSION, application_name="ladder-listen") as raw:
                    raw.execute(f"LISTEN {WORK_CHANNEL}")
                    wake()  # whatever was queued while not listening
                    while not stop.is_set():
                        for _ in raw.notifies(timeout=poll, stop_after=1):
                            wake()
            except psycopg.Error as exc:
                if not stop.is_set():
                    log.warning("listening for queued Slack work failed (%s); the worker polls meanwhile", _reason(exc))
                    stop.wait(poll)


def _reason(error: BaseException) -> str:
    """A psycopg error in one line without the connection string (which may carry a password)."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return re.sub(r"postgres(?:ql)?://\S+", lambda m: redact_database_url(m.group(0)), text)
