"""SQLite through sqlite-utils: the schema, its migrations, transactions and the outbox.

One file holds everything: incidents, their timelines, escalation state, the outbox of Slack
side effects and the worker lease. Write transactions are `BEGIN IMMEDIATE` so two writers
queue instead of failing half way; every thread gets its own connection (SQLite connections
are not shared across threads). Times are UTC ISO-8601 strings written by the caller: SQL
never reads the clock, so tests can move time freely.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

import sqlite_utils

SCHEMA_VERSION = 4

_MIGRATIONS: dict[int, list[str]] = {
    1: [
        """CREATE TABLE incidents (
            id INTEGER PRIMARY KEY,
            number INTEGER NOT NULL UNIQUE,
            title TEXT NOT NULL,
            description TEXT NOT NULL DEFAULT '',
            service_id TEXT NOT NULL,
            service_name TEXT NOT NULL,
            team_id TEXT NOT NULL,
            team_name TEXT NOT NULL,
            severity TEXT NOT NULL,
            private INTEGER NOT NULL DEFAULT 0,
            status TEXT NOT NULL,
            declared_by TEXT NOT NULL,
            declared_at TEXT NOT NULL,
            declared_in TEXT,
            declare_view_id TEXT UNIQUE,
            acknowledged_by TEXT,
            acknowledged_at TEXT,
            resolved_by TEXT,
            resolved_at TEXT,
            resolution_note TEXT,
            channel_id TEXT,
            channel_name TEXT,
            summary_ts TEXT,
            policy_id TEXT NOT NULL,
            policy_snapshot TEXT NOT NULL,
            catalog_digest TEXT NOT NULL,
            version INTEGER NOT NULL DEFAULT 1,
            updated_at TEXT NOT NULL
        )""",
        "CREATE INDEX incidents_open ON incidents(status) WHERE status != 'resolved'",
        """CREATE TABLE escalations (
            incident_id INTEGER PRIMARY KEY REFERENCES incidents(id),
            level INTEGER NOT NULL,
            loop INTEGER NOT NULL DEFAULT 0,
            state TEXT NOT NULL,
            paged_at TEXT,
            due_at TEXT,
            version INTEGER NOT NULL DEFAULT 1
        )""",
        "CREATE INDEX escalations_due ON escalations(due_at) WHERE state = 'active'",
        """CREATE TABLE timeline (
            id INTEGER PRIMARY KEY,
            incident_id INTEGER NOT NULL REFERENCES incidents(id),
            at TEXT NOT NULL,
            kind TEXT NOT NULL,
            actor TEXT,
            text TEXT NOT NULL,
            data TEXT NOT NULL DEFAULT '{}'
        )""",
        "CREATE INDEX timeline_incident ON timeline(incident_id, id)",
        """CREATE TABLE pages (
            id INTEGER PRIMARY KEY,
            incident_id INTEGER NOT NULL REFERENCES incidents(id),
            level INTEGER NOT NULL,
            loop INTEGER NOT NULL DEFAULT 0,
            target TEXT NOT NULL,
            via TEXT NOT NULL DEFAULT '',
            notify_only INTEGER NOT NULL DEFAULT 0,
            requested_by TEXT,
            user_id TEXT,
            dm_channel TEXT,
            dm_ts TEXT,
            status TEXT NOT NULL DEFAULT 'pending',
            created_at TEXT NOT NULL,
            sent_at TEXT,
            acknowledged_at TEXT,
            error TEXT,
            UNIQUE (incident_id, level, loop, target)
        )""",
        """CREATE TABLE outbox (
            id INTEGER PRIMARY KEY,
            incident_id INTEGER REFERENCES incidents(id),
            kind TEXT NOT NULL,
            dedupe_key TEXT NOT NULL UNIQUE,
            payload TEXT NOT NULL DEFAULT '{}',
            priority INTEGER NOT NULL DEFAULT 5,
            depends_on TEXT,
            status TEXT NOT NULL DEFAULT 'pending',
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at TEXT NOT NULL,
            claimed_by TEXT,
            claimed_until TEXT,
            last_error TEXT,
            created_at TEXT NOT NULL,
            sent_at TEXT
        )""",
        "CREATE INDEX outbox_due ON outbox(status, next_attempt_at, priority)",
        """CREATE TABLE slack_users (
            ref TEXT PRIMARY KEY,
            user_id TEXT NOT NULL,
            fetched_at TEXT NOT NULL
        )""",
        """CREATE TABLE leases (
            name TEXT PRIMARY KEY,
            holder TEXT NOT NULL,
            expires_at TEXT NOT NULL
        )""",
    ],
    # 2: escalation tracks. An incident has a main ladder plus one track per team or person it was
    # additively escalated to; each track has its own policy snapshot, state, timer and version.
    2: [
        """CREATE TABLE tracks (
            id INTEGER PRIMARY KEY,
            incident_id INTEGER NOT NULL REFERENCES incidents(id),
            track TEXT NOT NULL,
            label TEXT NOT NULL,
            snapshot TEXT NOT NULL,
            policy TEXT NOT NULL,
            level INTEGER NOT NULL DEFAULT 0,
            loop INTEGER NOT NULL DEFAULT 0,
            state TEXT NOT NULL,
            paged_at TEXT,
            due_at TEXT,
            requested_by TEXT,
            reason TEXT NOT NULL DEFAULT '',
            round INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL,
            version INTEGER NOT NULL DEFAULT 1,
            UNIQUE (incident_id, track)
        )""",
        """INSERT INTO tracks(incident_id, track, label, snapshot, policy, level, loop, state, paged_at, due_at, created_at, version)
           SELECT e.incident_id, 'main', i.team_name, i.policy_snapshot, i.policy_id, e.level, e.loop, e.state, e.paged_at,
                  e.due_at, i.declared_at, e.version
           FROM escalations e JOIN incidents i ON i.id = e.incident_id""",
        "DROP TABLE escalations",
        "CREATE INDEX tracks_due ON tracks(due_at) WHERE due_at IS NOT NULL",
        """CREATE TABLE pages_v2 (
            id INTEGER PRIMARY KEY,
            incident_id INTEGER NOT NULL REFERENCES incidents(id),
            track TEXT NOT NULL DEFAULT 'main',
            round INTEGER NOT NULL DEFAULT 0,
            policy TEXT NOT NULL,
            level INTEGER NOT NULL,
            loop INTEGER NOT NULL DEFAULT 0,
            target TEXT NOT NULL,
            via TEXT NOT NULL DEFAULT '',
            notify_only INTEGER NOT NULL DEFAULT 0,
            requested_by TEXT,
            user_id TEXT,
            dm_channel TEXT,
            dm_ts TEXT,
            status TEXT NOT NULL DEFAULT 'pending',
            created_at TEXT NOT NULL,
            sent_at TEXT,
            acknowledged_at TEXT,
            error TEXT,
            UNIQUE (incident_id, track, round, policy, level, loop, target)
        )""",
        """INSERT INTO pages_v2(id, incident_id, policy, level, loop, target, via, notify_only, requested_by, user_id,
                 dm_channel, dm_ts, status, created_at, sent_at, acknowledged_at, error)
           SELECT p.id, p.incident_id, i.policy_id, p.level, p.loop, p.target, p.via, p.notify_only, p.requested_by,
                  p.user_id, p.dm_channel, p.dm_ts, p.status, p.created_at, p.sent_at, p.acknowledged_at, p.error
           FROM pages p JOIN incidents i ON i.id = p.incident_id""",
        "DROP TABLE pages",
        "ALTER TABLE pages_v2 RENAME TO pages",
        "CREATE INDEX pages_incident ON pages(incident_id)",
    ],
    # 3: rules. What they need to know about an incident, and one timer row per (incident, rule).
    3: [
        "ALTER TABLE incidents ADD COLUMN lead TEXT",
        "ALTER TABLE incidents ADD COLUMN last_update_at TEXT",
        "ALTER TABLE incidents ADD COLUMN severity_since TEXT",
        "ALTER TABLE incidents ADD COLUMN triggered_since TEXT",
        "UPDATE incidents SET severity_since = declared_at, triggered_since = declared_at",
        """CREATE TABLE rule_timers (
            id INTEGER PRIMARY KEY,
            incident_id INTEGER NOT NULL REFERENCES incidents(id),
            rule_id TEXT NOT NULL,
            due_at TEXT,
            occurrence TEXT,
            fired_at TEXT,
            fire_count INTEGER NOT NULL DEFAULT 0,
            snoozed_until TEXT,
            dismissed_by TEXT,
            version INTEGER NOT NULL DEFAULT 1,
            UNIQUE (incident_id, rule_id)
        )""",
        "CREATE INDEX rule_timers_due ON rule_timers(due_at) WHERE due_at IS NOT NULL",
    ],
    4: [
        # 1 when the last attempt's outcome is unknown (the process died mid-call, or Slack's answer timed
        # out): Slack may have done it, so the next attempt looks before it repeats a page.
        "ALTER TABLE outbox ADD COLUMN in_doubt INTEGER NOT NULL DEFAULT 0",
    ],
}


def database_busy(error: Exception) -> bool:
    """Another process holds the write lock: waiting longer may succeed (unlike a full or read-only disk)."""
    text = str(error).lower()
    return isinstance(error, sqlite3.OperationalError) and ("locked" in text or "busy" in text)


def storage_problem(error: Exception) -> str:
    """A storage failure in words a responder can act on (never a traceback in Slack)."""
    text = str(error).lower()
    if database_busy(error):
        return "the database is busy (locked by another process)"
    if "full" in text:
        return "the disk is full"
    if "readonly" in text or "read-only" in text:
        return "the database is read-only"
    return "the database could not be written"


def iso(moment: datetime) -> str:
    """The one text form of an instant in the database: UTC, seconds and microseconds, 'Z'-free."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_iso(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)


@dataclass
class OutboxRow:
    id: int
    incident_id: int | None
    kind: str
    dedupe_key: str
    payload: dict[str, Any]
    attempts: int
    created_at: datetime | None = None
    in_doubt: bool = False  # the previous attempt may have reached Slack (see migration 4)


class Store:
    """Thread-safe access to the Ladder database file."""

    def __init__(self, path: Path | str, busy_timeout: float = 30.0) -> None:
        self.path = str(path)
        self.busy_timeout = busy_timeout  # how long a writer waits for another process's lock before giving up
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        self._write_lock = threading.RLock()
        self._migrate()

    # -- connections -------------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout={int(self.busy_timeout * 1000)}")
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        return conn

    @property
    def conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
            with self._all_lock:
                self._all.append(conn)
        return conn

    @contextmanager
    def impatient(self, seconds: float) -> Iterator[None]:
        """This thread's writes give up after `seconds` of another process's lock (a listener owes Slack an answer in 3 s)."""
        conn = self.conn
        conn.execute(f"PRAGMA busy_timeout={int(min(seconds, self.busy_timeout) * 1000)}")
        try:
            yield
        finally:
            conn.execute(f"PRAGMA busy_timeout={int(self.busy_timeout * 1000)}")

    @property
    def db(self) -> sqlite_utils.Database:
        """sqlite-utils view of this thread's connection, for reads and schema introspection."""
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite_utils.Database(self.conn)
            self._local.db = db
        return db

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
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction. No Slack call may happen inside it (see design.md).

        Writers of this process queue on a lock first: SQLite's own busy handler would make a
        waiting writer sleep with back-off (up to 100 ms a try), which shows up as tail latency on
        every click. Other processes on the same file still meet the busy timeout, rarely.
        """
        conn = self.conn
        with self._write_lock:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            else:
                conn.execute("COMMIT")

    # -- schema -------------------------------------------------------------------------------
    def _migrate(self) -> None:
        db = self.db
        if "meta" not in db.table_names():
            db["meta"].create({"key": str, "value": str}, pk="key", if_not_exists=True)
        row = self.conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        current = int(row["value"]) if row else 0
        if current > SCHEMA_VERSION:
            raise RuntimeError(
                f"{self.path} was written by a newer Ladder (schema {current}; this one knows {SCHEMA_VERSION})."
            )
        for version in range(current + 1, SCHEMA_VERSION + 1):
            with self.transaction() as conn:
                for statement in _MIGRATIONS[version]:
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO meta(key, value) VALUES ('schema_version', ?) "
                    "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    (str(version),),
                )

    # -- reads ----------------------------------------------------------------------------------
    def incident(self, incident_id: int) -> dict[str, Any] | None:
        row = self.conn.execute("SELECT * FROM incidents WHERE id = ?", (incident_id,)).fetchone()
        return dict(row) if row else None

    def incident_by_number(self, number: int) -> dict[str, Any] | None:
        row = self.conn.execute("SELECT * FROM incidents WHERE number = ?", (number,)).fetchone()
        return dict(row) if row else None

    def incident_by_view(self, view_id: str) -> dict[str, Any] | None:
        row = self.conn.execute("SELECT * FROM incidents WHERE declare_view_id = ?", (view_id,)).fetchone()
        return dict(row) if row else None

    def incident_by_channel(self, channel_id: str) -> dict[str, Any] | None:
        row = self.conn.execute("SELECT * FROM incidents WHERE channel_id = ?", (channel_id,)).fetchone()
        return dict(row) if row else None

    def timeline(self, incident_id: int) -> list[dict[str, Any]]:
        rows = self.conn.execute("SELECT * FROM timeline WHERE incident_id = ? ORDER BY id", (incident_id,))
        return [dict(r) for r in rows]

    def pages(self, incident_id: int) -> list[dict[str, Any]]:
        rows = self.conn.execute("SELECT * FROM pages WHERE incident_id = ? ORDER BY id", (incident_id,))
        return [dict(r) for r in rows]

    def page(self, page_id: int) -> dict[str, Any] | None:
        row = self.conn.execute("SELECT * FROM pages WHERE id = ?", (page_id,)).fetchone()
        return dict(row) if row else None

    def tracks(self, incident_id: int) -> list[dict[str, Any]]:
        """The incident's escalation tracks, the main ladder first."""
        rows = self.conn.execute("SELECT * FROM tracks WHERE incident_id = ? ORDER BY track != 'main', id", (incident_id,))
        return [dict(r) for r in rows]

    def rule_timers(self, incident_id: int) -> list[dict[str, Any]]:
        rows = self.conn.execute("SELECT * FROM rule_timers WHERE incident_id = ? ORDER BY id", (incident_id,))
        return [dict(r) for r in rows]

    def track(self, incident_id: int, track: str = "main") -> dict[str, Any] | None:
        row = self.conn.execute("SELECT * FROM tracks WHERE incident_id = ? AND track = ?", (incident_id, track)).fetchone()
        return dict(row) if row else None

    def outbox_rows(self, incident_id: int | None = None) -> list[dict[str, Any]]:
        if incident_id is None:
            rows = self.conn.execute("SELECT * FROM outbox ORDER BY id")
        else:
            rows = self.conn.execute("SELECT * FROM outbox WHERE incident_id = ? ORDER BY id", (incident_id,))
        return [dict(r) for r in rows]

    def cached_user(self, ref: str) -> str | None:
        row = self.conn.execute("SELECT user_id FROM slack_users WHERE ref = ?", (ref.lower(),)).fetchone()
        return row["user_id"] if row else None

    def cache_user(self, ref: str, user_id: str, now: datetime) -> None:
        self.conn.execute(
            "INSERT INTO slack_users(ref, user_id, fetched_at) VALUES (?, ?, ?) "
            "ON CONFLICT(ref) DO UPDATE SET user_id = excluded.user_id, fetched_at = excluded.fetched_at",
            (ref.lower(), user_id, iso(now)),
        )

    # -- writes used inside use-case transactions ----------------------------------------------
    @staticmethod
    def add_timeline(
        conn: sqlite3.Connection, incident_id: int, now: datetime, kind: str, text: str,
        actor: str | None = None, data: dict[str, Any] | None = None,
    ) -> None:
        conn.execute(
            "INSERT INTO timeline(incident_id, at, kind, actor, text, data) VALUES (?, ?, ?, ?, ?, ?)",
            (incident_id, iso(now), kind, actor, text, json.dumps(data or {})),
        )

    @staticmethod
    def enqueue(
        conn: sqlite3.Connection, now: datetime, kind: str, dedupe_key: str, *,
        incident_id: int | None = None, payload: dict[str, Any] | None = None,
        priority: int = 5, depends_on: str | None = None,
    ) -> bool:
        """Add an outbox row; False when a row with that dedupe key already exists (never twice)."""
        cursor = conn.execute(
            "INSERT INTO outbox(incident_id, kind, dedupe_key, payload, priority, depends_on, next_attempt_at, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(dedupe_key) DO NOTHING",
            (incident_id, kind, dedupe_key, json.dumps(payload or {}), priority, depends_on, iso(now), iso(now)),
        )
        return cursor.rowcount == 1

    # -- outbox claiming --------------------------------------------------------------------------
    def claim_due(
        self, now: datetime, holder: str, limit: int, claim_seconds: float = 120, pages: bool | None = None,
    ) -> list[OutboxRow]:
        """Atomically take due rows whose prerequisite (if any) has been sent; pages come first.

        `pages=True` takes only pages, `False` only the rest, `None` both: pages have a lane of
        their own so that channel housekeeping can never hold one back.
        """
        until = iso(datetime.fromtimestamp(now.timestamp() + claim_seconds, timezone.utc))
        lane = {True: "AND o.kind = 'page'", False: "AND o.kind != 'page'", None: ""}[pages]
        with self.transaction() as conn:
            if pages is not True:  # page rows never wait on a prerequisite, so the page lane has no orphans
                self._fail_orphans(conn, now)
            rows = conn.execute(
                f"""SELECT o.* FROM outbox o
                   WHERE o.status = 'pending' AND o.next_attempt_at <= ? {lane}
                     AND (o.depends_on IS NULL OR EXISTS (
                          SELECT 1 FROM outbox d WHERE d.dedupe_key = o.depends_on AND d.status = 'sent'))
                   ORDER BY o.priority, o.id LIMIT ?""",
                (iso(now), limit),
            ).fetchall()
            claimed = []
            for row in rows:
                conn.execute(
                    "UPDATE outbox SET status = 'sending', claimed_by = ?, claimed_until = ?, attempts = attempts + 1 "
                    "WHERE id = ? AND status = 'pending'",
                    (holder, until, row["id"]),
                )
                claimed.append(
                    OutboxRow(row["id"], row["incident_id"], row["kind"], row["dedupe_key"],
                              json.loads(row["payload"]), row["attempts"] + 1, parse_iso(row["created_at"]), bool(row["in_doubt"]))
                )
            return claimed

    @staticmethod
    def _fail_orphans(conn: sqlite3.Connection, now: datetime) -> None:
        """Rows queued after their prerequisite had already failed would wait forever: fail them, visibly."""
        orphans = conn.execute(
            "SELECT o.id, o.incident_id, o.kind, d.kind AS needs FROM outbox o JOIN outbox d ON d.dedupe_key = o.depends_on "
            "WHERE o.status = 'pending' AND d.status = 'failed'"
        ).fetchall()
        for orphan in orphans:
            reason = f"not sent because {orphan['needs'].replace('_', ' ')} failed"
            Store.mark_failed(conn, orphan["id"], reason)
            if orphan["incident_id"] is not None:
                Store.add_timeline(conn, orphan["incident_id"], now, "delivery_failed",
                                   f"Could not {orphan['kind'].replace('_', ' ')}: {reason}.", data={"outbox_id": orphan["id"]})

    def release_stale_claims(self, now: datetime, holder: str) -> int:
        """Rows claimed by a runner that is gone (crash, lease lost) go back to pending."""
        with self.transaction() as conn:
            cursor = conn.execute(
                "UPDATE outbox SET status = 'pending', claimed_by = NULL, claimed_until = NULL, in_doubt = 1 "
                "WHERE status = 'sending' AND (claimed_by != ? OR claimed_until <= ?)",
                (holder, iso(now)),
            )
            return cursor.rowcount

    @staticmethod
    def mark_sent(conn: sqlite3.Connection, row_id: int, now: datetime) -> None:
        conn.execute(
            "UPDATE outbox SET status = 'sent', sent_at = ?, claimed_by = NULL, claimed_until = NULL, last_error = NULL, "
            "in_doubt = 0 WHERE id = ?",
            (iso(now), row_id),
        )

    def retry_later(self, row_id: int, at: datetime, error: str, in_doubt: bool = False) -> None:
        """Back to pending until `at`; `in_doubt` once an attempt may have reached Slack, until one is known to have."""
        with self.transaction() as conn:
            conn.execute(
                "UPDATE outbox SET status = 'pending', next_attempt_at = ?, claimed_by = NULL, claimed_until = NULL, "
                "last_error = ?, in_doubt = MAX(in_doubt, ?) WHERE id = ?",
                (iso(at), error, int(in_doubt), row_id),
            )

    def update_payload(self, row_id: int, payload: dict[str, Any]) -> None:
        """Remember a row's progress between attempts (e.g. which messages a refresh has already updated)."""
        with self.transaction() as conn:
            conn.execute("UPDATE outbox SET payload = ? WHERE id = ?", (json.dumps(payload), row_id))

    @staticmethod
    def mark_failed(conn: sqlite3.Connection, row_id: int, error: str) -> list[dict[str, Any]]:
        """Fail a row and, transitively, the rows waiting on it; returns every row failed."""
        failed = []
        queue = [row_id]
        while queue:
            current = queue.pop()
            conn.execute(
                "UPDATE outbox SET status = 'failed', last_error = ?, claimed_by = NULL, claimed_until = NULL WHERE id = ?",
                (error, current),
            )
            row = conn.execute("SELECT * FROM outbox WHERE id = ?", (current,)).fetchone()
            failed.append(dict(row))
            waiting = conn.execute(
                "SELECT id FROM outbox WHERE depends_on = ? AND status = 'pending'", (row["dedupe_key"],)
            ).fetchall()
            queue.extend(r["id"] for r in waiting)
            error = f"not sent because {row['kind']} failed"
        return failed

    def pending_count(self) -> int:
        row = self.conn.execute("SELECT COUNT(*) AS n FROM outbox WHERE status IN ('pending', 'sending')").fetchone()
        return int(row["n"])

    # -- lease -------------------------------------------------------------------------------------
    def acquire_lease(self, name: str, holder: str, now: datetime, seconds: float,
                      holder_is_gone: Callable[[str], bool] = lambda _holder: False) -> bool:
        """Take or renew the named lease; True while `holder` owns it. One worker loop per database.

        An expired lease is free; so is one whose holder is known to be gone (`holder_is_gone`).
        """
        expires = iso(datetime.fromtimestamp(now.timestamp() + seconds, timezone.utc))
        with self.transaction() as conn:
            row = conn.execute("SELECT holder, expires_at FROM leases WHERE name = ?", (name,)).fetchone()
            if row is None:
                conn.execute("INSERT INTO leases(name, holder, expires_at) VALUES (?, ?, ?)", (name, holder, expires))
                return True
            if row["holder"] == holder or row["expires_at"] <= iso(now) or holder_is_gone(row["holder"]):
                conn.execute("UPDATE leases SET holder = ?, expires_at = ? WHERE name = ?", (holder, expires, name))
                return True
            return False

    def release_lease(self, name: str, holder: str) -> None:
        with self.transaction() as conn:
            conn.execute("DELETE FROM leases WHERE name = ? AND holder = ?", (name, holder))
