"""Leases: which process runs the timers and the outbox for this database (one at a time)."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta
from typing import Callable

from app.store.times import iso


class LeaseWrites:
    conn: sqlite3.Connection

    def take_lease(self, name: str, holder: str, now: datetime, seconds: float, holder_is_gone: Callable[[str], bool]) -> bool:
        """Take or renew the named lease; True while `holder` owns it (an expired one, or a gone holder's, is free)."""
        expires = iso(now + timedelta(seconds=seconds))
        row = self.conn.execute("SELECT holder, expires_at FROM leases WHERE name = ?", (name,)).fetchone()
        if row is None:
            self.conn.execute("INSERT INTO leases(name, holder, expires_at) VALUES (?, ?, ?)", (name, holder, expires))
            return True
        if row["holder"] == holder or row["expires_at"] <= iso(now) or holder_is_gone(row["holder"]):
            self.conn.execute("UPDATE leases SET holder = ?, expires_at = ? WHERE name = ?", (holder, expires, name))
            return True
        return False

    def release_lease(self, name: str, holder: str) -> None:
        self.conn.execute("DELETE FROM leases WHERE name = ? AND holder = ?", (name, holder))
