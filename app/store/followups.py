"""Follow-ups: actions agreed after an incident, each with an owner, a due date and a daily reminder once overdue."""

from __future__ import annotations

import sqlite3
from typing import Any

Row = dict[str, Any]


class FollowupReads:
    conn: sqlite3.Connection

    def followups(self, incident_id: int) -> list[Row]:
        """This incident's follow-ups, done or not, in the order they were added."""
        return [dict(r) for r in self.conn.execute("SELECT * FROM followups WHERE incident_id = ? ORDER BY id", (incident_id,))]


class FollowupWrites(FollowupReads):
    pass
