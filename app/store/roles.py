"""Roles people hold in an incident (lead, scribe, comms...): one holder per role, and who gave it to them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from app.store.times import iso
from app.store.sql import Connection, Dialect

Row = dict[str, Any]


class RoleReads:
    conn: Connection
    dialect: Dialect

    def roles(self, incident_id: int) -> list[Row]:
        """Who holds which role in this incident (one row per role), in the order they were given."""
        return [dict(r) for r in self.conn.execute(
            "SELECT * FROM incident_roles WHERE incident_id = ? ORDER BY assigned_at, id", (incident_id,))]

    def role_holder(self, incident_id: int, role: str) -> Row | None:
        """The row of whoever holds `role` in this incident, or None (the UNIQUE (incident_id, role) index finds it)."""
        row = self.conn.execute("SELECT * FROM incident_roles WHERE incident_id = ? AND role = ?", (incident_id, role)).fetchone()
        return dict(row) if row else None


class RoleWrites(RoleReads):
    def set_role(self, incident_id: int, role: str, user_id: str, assigned_by: str, now: datetime) -> None:
        """Give `role` to `user_id`, replacing whoever held it: a role has one holder at a time."""
        self.conn.execute(
            "INSERT INTO incident_roles(incident_id, role, user_id, assigned_by, assigned_at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT(incident_id, role) DO UPDATE SET user_id = excluded.user_id, assigned_by = excluded.assigned_by, "
            "assigned_at = excluded.assigned_at",
            (incident_id, role, user_id, assigned_by, iso(now)))
