"""Follow-ups: actions agreed after an incident, each with an owner, a due date and a daily reminder once overdue."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from app.store.times import iso
from app.store.sql import Connection, Dialect

Row = dict[str, Any]


class FollowupReads:
    conn: Connection
    dialect: Dialect

    def followups(self, incident_id: int) -> list[Row]:
        """This incident's follow-ups, done or not, in the order they were added."""
        return [dict(r) for r in self.conn.execute("SELECT * FROM followups WHERE incident_id = ? ORDER BY id", (incident_id,))]

    def followup(self, followup_id: int) -> Row | None:
        row = self.conn.execute("SELECT * FROM followups WHERE id = ?", (followup_id,)).fetchone()
        return dict(row) if row else None

    def due_followup_ids(self, now: datetime, limit: int) -> list[int]:
        """Follow-ups whose next reminder is due (the partial index holds only those with a reminder pending)."""
        rows = self.conn.execute("SELECT id FROM followups WHERE remind_at IS NOT NULL AND remind_at <= ? ORDER BY remind_at LIMIT ?",
                                 (iso(now), limit)).fetchall()
        return [r["id"] for r in rows]

    def followup_listing(self, team_id: str | None = None, open_only: bool = False) -> list[Row]:
        """Every follow-up with its incident's number, team and channel, by due date (the CLI's list, not a request's)."""
        where, args = [], []
        if team_id is not None:
            where.append("i.team_id = ?")
            args.append(team_id)
        if open_only:
            where.append("f.done_at IS NULL")
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        return [dict(r) for r in self.conn.execute(
            "SELECT f.*, i.number AS incident_number, i.team_id AS team_id, i.title AS incident_title "
            f"FROM followups f JOIN incidents i ON i.id = f.incident_id{clause} ORDER BY f.due_on, f.id", args)]


class FollowupWrites(FollowupReads):
    def insert_followup(self, incident_id: int, owner: str, due_on: str, text: str, created_by: str, now: datetime,
                        remind_at: datetime) -> Row:
        cursor = self.conn.execute(
            "INSERT INTO followups(incident_id, owner, due_on, text, created_by, created_at, remind_at) VALUES (?, ?, ?, ?, ?, ?, ?) "
            "RETURNING id",
            (incident_id, owner, due_on, text, created_by, iso(now), iso(remind_at)))
        row = self.followup(int(cursor.fetchone()[0]))
        assert row is not None
        return row

    def mark_followup_done(self, followup: Row, user_id: str, now: datetime) -> bool:
        """Compare-and-swap: done by `user_id` now, no reminder pending (False if someone marked it first)."""
        return self.conn.execute(
            "UPDATE followups SET done_at = ?, done_by = ?, remind_at = NULL, version = version + 1 "
            "WHERE id = ? AND version = ? AND done_at IS NULL", (iso(now), user_id, followup["id"], followup["version"])).rowcount == 1

    def record_reminder(self, followup: Row, next_at: datetime | None) -> bool:
        """Compare-and-swap: one more reminder sent, the next one due at `next_at` (False if the row moved meanwhile)."""
        return self.conn.execute(
            "UPDATE followups SET reminders = reminders + 1, remind_at = ?, version = version + 1 WHERE id = ? AND version = ?",
            (iso(next_at) if next_at else None, followup["id"], followup["version"])).rowcount == 1

    def set_followup_reminder(self, followup_id: int, at: datetime | None) -> None:
        """Move (or clear) a follow-up's next reminder without counting one: a step that failed tries again later."""
        self.conn.execute("UPDATE followups SET remind_at = ?, version = version + 1 WHERE id = ?",
                          (iso(at) if at else None, followup_id))
