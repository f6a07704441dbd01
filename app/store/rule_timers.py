"""Rule timers: one row per (incident, rule), due when the rule should next be looked at."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from app.store.times import iso
from app.store.sql import Connection, Dialect

Row = dict[str, Any]


class RuleTimerReads:
    conn: Connection
    dialect: Dialect

    def rule_timers(self, incident_id: int) -> list[Row]:
        return [dict(r) for r in self.conn.execute("SELECT * FROM rule_timers WHERE incident_id = ? ORDER BY id", (incident_id,))]

    def rule_timer(self, timer_id: int) -> Row | None:
        row = self.conn.execute("SELECT * FROM rule_timers WHERE id = ?", (timer_id,)).fetchone()
        return dict(row) if row else None

    def rule_timer_for(self, incident_id: int, rule_id: str) -> Row | None:
        row = self.conn.execute("SELECT * FROM rule_timers WHERE incident_id = ? AND rule_id = ?", (incident_id, rule_id)).fetchone()
        return dict(row) if row else None

    def due_rule_timer_ids(self, now: datetime, limit: int) -> list[int]:
        rows = self.conn.execute("SELECT id FROM rule_timers WHERE due_at IS NOT NULL AND due_at <= ? ORDER BY due_at LIMIT ?",
                                 (iso(now), limit)).fetchall()
        return [r["id"] for r in rows]


class RuleTimerWrites(RuleTimerReads):
    def ensure_rule_timer(self, incident_id: int, rule_id: str) -> Row:
        self.conn.execute("INSERT INTO rule_timers(incident_id, rule_id) VALUES (?, ?) ON CONFLICT DO NOTHING", (incident_id, rule_id))
        timer = self.rule_timer_for(incident_id, rule_id)
        assert timer is not None
        return timer

    def set_rule_due(self, timer: Row, due: datetime | None, *, compare: bool = True) -> bool:
        """When to look at the rule next; with `compare`, only if nobody moved the timer since it was read."""
        guard = " AND version = ?" if compare else ""
        args = (iso(due) if due else None, timer["id"], *((timer["version"],) if compare else ()))
        return self.conn.execute(f"UPDATE rule_timers SET due_at = ?, version = version + 1 WHERE id = ?{guard}", args).rowcount == 1

    def record_rule_fired(self, timer: Row, occurrence: str, now: datetime) -> Row | None:
        """Compare-and-swap: the timer fired for `occurrence` (None if another runner moved it first)."""
        cursor = self.conn.execute(
            "UPDATE rule_timers SET occurrence = ?, fired_at = ?, fire_count = fire_count + 1, snoozed_until = NULL, "
            "version = version + 1 WHERE id = ? AND version = ?", (occurrence, iso(now), timer["id"], timer["version"]))
        return self.rule_timer(timer["id"]) if cursor.rowcount == 1 else None

    def snooze_rule_timer(self, timer_id: int, until: datetime) -> None:
        self.conn.execute("UPDATE rule_timers SET snoozed_until = ?, occurrence = NULL, due_at = ?, version = version + 1 WHERE id = ?",
                          (iso(until), iso(until), timer_id))

    def dismiss_rule_timer(self, timer_id: int, user_id: str) -> None:
        self.conn.execute("UPDATE rule_timers SET dismissed_by = ?, due_at = NULL, version = version + 1 WHERE id = ?", (user_id, timer_id))

    def park_rule_timer(self, timer_id: int) -> None:
        """A rule whose step failed for this incident: off for it (a catalog or data problem, not a passing one)."""
        self.conn.execute("UPDATE rule_timers SET due_at = NULL, version = version + 1 WHERE id = ?", (timer_id,))

    def touch_rule_timers(self, incident_id: int, now: datetime) -> None:
        """The incident changed: let the next tick re-evaluate its rules (they may now fire, wait longer, or never)."""
        self.conn.execute("UPDATE rule_timers SET due_at = ?, version = version + 1 WHERE incident_id = ? AND dismissed_by IS NULL",
                          (iso(now), incident_id))

    def stop_rule_timers(self, incident_id: int) -> None:
        self.conn.execute("UPDATE rule_timers SET due_at = NULL, version = version + 1 WHERE incident_id = ?", (incident_id,))
