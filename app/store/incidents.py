"""Incident rows and their timelines."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Callable, ContextManager

from app.store.times import iso
from app.store.sql import Connection, Dialect

Row = dict[str, Any]


def _one(conn: Connection, sql: str, args: tuple[Any, ...]) -> Row | None:
    row = conn.execute(sql, args).fetchone()
    return dict(row) if row else None


class IncidentReads:
    conn: Connection
    dialect: Dialect
    snapshot: Callable[[], ContextManager[Any]]  # the Store's or the Tx's (app/store/db.py)

    def incident(self, incident_id: int) -> Row | None:
        return _one(self.conn, "SELECT * FROM incidents WHERE id = ?", (incident_id,))

    def incident_by_number(self, number: int) -> Row | None:
        return _one(self.conn, "SELECT * FROM incidents WHERE number = ?", (number,))

    def incident_by_view(self, view_id: str) -> Row | None:
        return _one(self.conn, "SELECT * FROM incidents WHERE declare_view_id = ?", (view_id,))

    def incident_by_channel(self, channel_id: str) -> Row | None:
        return _one(self.conn, "SELECT * FROM incidents WHERE channel_id = ?", (channel_id,))

    def drills(self, limit: int) -> list[Row]:
        """The latest drills, newest first (through the partial index `incidents_drills`, which holds only drills)."""
        return [dict(r) for r in self.conn.execute(
            "SELECT * FROM incidents WHERE drill = 1 ORDER BY declared_at DESC LIMIT ?", (limit,))]

    def timeline(self, incident_id: int) -> list[Row]:
        return [dict(r) for r in self.conn.execute("SELECT * FROM timeline WHERE incident_id = ? ORDER BY id", (incident_id,))]

    def incident_record(self, number: int) -> dict[str, Any] | None:
        """INC-`number` and all that was recorded about it (tracks, pages, timeline, roles, follow-ups), for its review.

        Read in one snapshot (`snapshot()`: a read transaction, or the write transaction it is called in), so a page
        sent or a follow-up added meanwhile is in every part or in none.
        """
        with self.snapshot() as store:  # the other reads are mixed into the same Store / Tx
            incident = store.incident_by_number(number)
            if incident is None:
                return None
            incident_id = incident["id"]
            return {"incident": incident, "tracks": store.tracks(incident_id), "pages": store.pages(incident_id),
                    "timeline": store.timeline(incident_id), "roles": store.roles(incident_id), "followups": store.followups(incident_id)}


class IncidentWrites(IncidentReads):
    def insert_incident(self, now: datetime, **columns: Any) -> Row:
        """A new incident, numbered one past the highest so far (the caller holds the write lock)."""
        number = self.conn.execute("SELECT COALESCE(MAX(number), 0) + 1 AS n FROM incidents").fetchone()["n"]
        stamp = iso(now)
        values = {**columns, "number": number, "declared_at": stamp, "severity_since": stamp, "triggered_since": stamp,
                  "updated_at": stamp}
        cursor = self.conn.execute(
            f"INSERT INTO incidents({', '.join(values)}) VALUES ({', '.join('?' * len(values))}) RETURNING id", tuple(values.values()))
        incident = self.incident(int(cursor.fetchone()[0]))
        assert incident is not None
        return incident

    def bump_incident(self, incident_id: int, now: datetime, **changes: Any) -> Row:
        """Apply `changes` and bump the version (every change to an incident re-renders its summary)."""
        assignments = "".join(f"{column} = ?, " for column in changes)
        self.conn.execute(f"UPDATE incidents SET {assignments}version = version + 1, updated_at = ? WHERE id = ?",
                          (*changes.values(), iso(now), incident_id))
        incident = self.incident(incident_id)
        assert incident is not None
        return incident

    def set_incident_fields(self, incident_id: int, **changes: Any) -> None:
        """Facts that change no state a human acts on (the channel's ID, the summary's ts, the last update): no new version."""
        assignments = ", ".join(f"{column} = ?" for column in changes)
        self.conn.execute(f"UPDATE incidents SET {assignments} WHERE id = ?", (*changes.values(), incident_id))

    def acknowledge_incident(self, incident_id: int, user_id: str, now: datetime) -> bool:
        """Compare-and-swap from triggered: False if someone else acknowledged (or resolved) it first."""
        return self.conn.execute(
            "UPDATE incidents SET status = 'acknowledged', acknowledged_by = ?, acknowledged_at = ? WHERE id = ? AND status = 'triggered'",
            (user_id, iso(now), incident_id)).rowcount == 1

    def add_timeline(self, incident_id: int, now: datetime, kind: str, text: str, actor: str | None = None,
                     data: dict[str, Any] | None = None) -> None:
        """A timeline entry: `kind` and `data` are the structure; `text` says it in plain words, with no Slack markup."""
        self.conn.execute("INSERT INTO timeline(incident_id, at, kind, actor, text, data) VALUES (?, ?, ?, ?, ?, ?)",
                          (incident_id, iso(now), kind, actor, text, json.dumps(data or {})))
