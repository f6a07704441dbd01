"""The outbox table: Slack work written with the state it follows from, claimed and sent after commit."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from app.outbox import Kind, Message
from app.store.times import iso, parse_iso
from app.store.sql import Connection, Dialect

Row = dict[str, Any]


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


class OutboxReads:
    conn: Connection
    dialect: Dialect

    def outbox_rows(self, incident_id: int | None = None) -> list[Row]:
        if incident_id is None:
            return [dict(r) for r in self.conn.execute("SELECT * FROM outbox ORDER BY id")]
        return [dict(r) for r in self.conn.execute("SELECT * FROM outbox WHERE incident_id = ? ORDER BY id", (incident_id,))]

    def pending_count(self) -> int:
        return int(self.conn.execute("SELECT COUNT(*) AS n FROM outbox WHERE status IN ('pending', 'sending')").fetchone()["n"])

    def orphans(self) -> list[Row]:
        """Rows queued after their prerequisite had already failed: they would wait forever."""
        return [dict(r) for r in self.conn.execute(
            "SELECT o.id, o.incident_id, o.kind, d.kind AS needs FROM outbox o JOIN outbox d ON d.dedupe_key = o.depends_on "
            "WHERE o.status = 'pending' AND d.status = 'failed'")]


class OutboxWrites(OutboxReads):
    queued_work = False  # set once this transaction has queued a row
    def enqueue(self, message: Message, now: datetime) -> bool:
        """Add an outbox row; False when a row with that dedupe key already exists (never twice)."""
        cursor = self.conn.execute(
            "INSERT INTO outbox(incident_id, kind, dedupe_key, payload, priority, depends_on, next_attempt_at, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(dedupe_key) DO NOTHING",
            (message.incident_id, message.kind.value, message.key, json.dumps(message.payload), int(message.priority),
             message.depends_on, iso(now), iso(now)))
        if cursor.rowcount == 1:
            self.queued_work = True  # PostgreSQL: the transaction's commit wakes the sending host (PostgresStore)
        return cursor.rowcount == 1

    def mark_sent(self, row_id: int, now: datetime) -> None:
        self.conn.execute(
            "UPDATE outbox SET status = 'sent', sent_at = ?, claimed_by = NULL, claimed_until = NULL, last_error = NULL, "
            "in_doubt = 0 WHERE id = ?", (iso(now), row_id))

    def mark_failed(self, row_id: int, error: str) -> list[Row]:
        """Fail a row and, transitively, the rows waiting on it; returns every row failed."""
        failed = []
        queue = [row_id]
        while queue:
            current = queue.pop()
            self.conn.execute(
                "UPDATE outbox SET status = 'failed', last_error = ?, claimed_by = NULL, claimed_until = NULL WHERE id = ?",
                (error, current))
            row = dict(self.conn.execute("SELECT * FROM outbox WHERE id = ?", (current,)).fetchone())
            failed.append(row)
            waiting = self.conn.execute("SELECT id FROM outbox WHERE depends_on = ? AND status = 'pending'", (row["dedupe_key"],))
            queue.extend(r["id"] for r in waiting.fetchall())
            error = f"not sent because {row['kind']} failed"
        return failed

    def claim(self, now: datetime, holder: str, limit: int, claim_seconds: float, pages: bool | None) -> list[OutboxRow]:
        """Take due rows whose prerequisite (if any) has been sent; pages first (see Store.claim_due)."""
        until = iso(now + timedelta(seconds=claim_seconds))
        lane = {True: f"AND o.kind = '{Kind.PAGE}'", False: f"AND o.kind != '{Kind.PAGE}'", None: ""}[pages]
        rows = self.conn.execute(
            f"""SELECT o.* FROM outbox o
               WHERE o.status = 'pending' AND o.next_attempt_at <= ? {lane}
                 AND (o.depends_on IS NULL OR EXISTS (
                      SELECT 1 FROM outbox d WHERE d.dedupe_key = o.depends_on AND d.status = 'sent'))
               ORDER BY o.priority, o.id LIMIT ?{self.dialect.skip_locked}""",
            (iso(now), limit)).fetchall()
        claimed = []
        for row in rows:
            try:
                payload = json.loads(row["payload"])
            except ValueError:  # a row no handler could read would fail every claim after it: fail it alone
                self.mark_failed(row["id"], "its payload is not readable JSON")
                continue
            self.conn.execute(
                "UPDATE outbox SET status = 'sending', claimed_by = ?, claimed_until = ?, attempts = attempts + 1 "
                "WHERE id = ? AND status = 'pending'", (holder, until, row["id"]))
            claimed.append(OutboxRow(row["id"], row["incident_id"], row["kind"], row["dedupe_key"], payload,
                                     row["attempts"] + 1, parse_iso(row["created_at"]), bool(row["in_doubt"])))
        return claimed

    def release_stale_claims(self, now: datetime, holder: str) -> int:
        """Rows claimed by a runner that is gone (crash, lease lost) go back to pending, in doubt."""
        return self.conn.execute(
            "UPDATE outbox SET status = 'pending', claimed_by = NULL, claimed_until = NULL, in_doubt = 1 "
            "WHERE status = 'sending' AND (claimed_by != ? OR claimed_until <= ?)", (holder, iso(now))).rowcount

    def hand_back(self, row_ids: list[int], holder: str) -> None:
        """Rows this holder tried but could not record go back to pending, in doubt (Slack may have acted on them)."""
        marks = ",".join("?" * len(row_ids))
        self.conn.execute(
            "UPDATE outbox SET status = 'pending', claimed_by = NULL, claimed_until = NULL, in_doubt = 1 "
            f"WHERE id IN ({marks}) AND status = 'sending' AND claimed_by = ?", (*row_ids, holder))

    def unclaim(self, row_id: int, holder: str) -> None:
        """A claimed row not attempted after all goes back to pending, unless another runner has taken it since."""
        self.conn.execute(
            "UPDATE outbox SET status = 'pending', claimed_by = NULL, claimed_until = NULL, attempts = attempts - 1 "
            "WHERE id = ? AND status = 'sending' AND claimed_by = ?", (row_id, holder))

    def retry_later(self, row_id: int, at: datetime, error: str, in_doubt: bool = False) -> None:
        """Back to pending until `at`; `in_doubt` once an attempt may have reached Slack, until one is known to have."""
        self.conn.execute(
            "UPDATE outbox SET status = 'pending', next_attempt_at = ?, claimed_by = NULL, claimed_until = NULL, "
            "last_error = ?, in_doubt = CASE WHEN ? = 1 THEN 1 ELSE in_doubt END WHERE id = ?", (iso(at), error, int(in_doubt), row_id))

    def update_payload(self, row_id: int, payload: dict[str, Any]) -> None:
        self.conn.execute("UPDATE outbox SET payload = ? WHERE id = ?", (json.dumps(payload), row_id))
