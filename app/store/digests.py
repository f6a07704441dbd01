"""Each team's weekly digest: when the next one is due, and the last period posted (once per period, across restarts).

One row per team that has (or had) a digest. `due_at` is the next fire time (UTC ISO; NULL when the team no longer
has a digest), indexed by `digests_due` so the tick finds due ones without a scan; `last_period` is the last period
queued, as an ISO interval `start/end` (its end is the fire time that queued it); `schedule` is what `due_at` was
planned from, "cron|zone" (NULL with no digest scheduled, or in a row from before schema 11). Every change is a compare-and-swap
on `version`: two runners cannot queue the same period or move the schedule under each other.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from app.store.times import iso
from app.store.sql import Connection, Dialect

Row = dict[str, Any]


class DigestReads:
    conn: Connection
    dialect: Dialect

    def digest_row(self, team_id: str) -> Row | None:
        row = self.conn.execute("SELECT * FROM digests WHERE team_id = ?", (team_id,)).fetchone()
        return dict(row) if row else None

    def digest_rows(self) -> list[Row]:
        """Every team's row: read when the catalog changes (or at start), never per tick; one row per team."""
        return [dict(r) for r in self.conn.execute("SELECT * FROM digests ORDER BY team_id")]

    def due_digest_teams(self, now: datetime, limit: int) -> list[str]:
        """Teams whose digest is due (the partial index `digests_due` holds only rows with a digest scheduled)."""
        rows = self.conn.execute("SELECT team_id FROM digests WHERE due_at IS NOT NULL AND due_at <= ? ORDER BY due_at LIMIT ?",
                                 (iso(now), limit)).fetchall()
        return [r["team_id"] for r in rows]


class DigestWrites(DigestReads):
    def insert_digest(self, team_id: str, due_at: datetime | None, schedule: str | None) -> bool:
        """A team's first digest row (False if another runner wrote it first)."""
        return self.conn.execute(
            "INSERT INTO digests(team_id, due_at, schedule) VALUES (?, ?, ?) ON CONFLICT(team_id) DO NOTHING",
            (team_id, iso(due_at) if due_at else None, schedule)).rowcount == 1

    def schedule_digest(self, row: Row, due_at: datetime | None, schedule: str | None) -> bool:
        """Compare-and-swap: the next digest is due at `due_at` (None: none is), planned from `schedule`, nothing posted."""
        return self.conn.execute(
            "UPDATE digests SET due_at = ?, schedule = ?, version = version + 1 WHERE team_id = ? AND version = ?",
            (iso(due_at) if due_at else None, schedule, row["team_id"], row["version"])).rowcount == 1

    def record_digest(self, row: Row, period: str, due_at: datetime | None, schedule: str | None) -> bool:
        """Compare-and-swap: the period `start/end` is queued, and the next digest is due at `due_at` (from `schedule`)."""
        return self.conn.execute(
            "UPDATE digests SET last_period = ?, due_at = ?, schedule = ?, version = version + 1 "
            "WHERE team_id = ? AND version = ?",
            (period, iso(due_at) if due_at else None, schedule, row["team_id"], row["version"])).rowcount == 1
