"""Roles people hold in an incident (lead, scribe, comms...): one holder per role, and who gave it to them."""

from __future__ import annotations

import sqlite3
from typing import Any

Row = dict[str, Any]


class RoleReads:
    conn: sqlite3.Connection

    def roles(self, incident_id: int) -> list[Row]:
        """Who holds which role in this incident (one row per role), in the order they were given."""
        return [dict(r) for r in self.conn.execute(
            "SELECT * FROM incident_roles WHERE incident_id = ? ORDER BY assigned_at, id", (incident_id,))]


class RoleWrites(RoleReads):
    pass
