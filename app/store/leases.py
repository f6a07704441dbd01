"""Leases: which process runs the timers and the outbox for this database (one at a time)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Callable

from app.store.times import iso
from app.store.sql import Connection, Dialect


# Now (plus an interval) by the PostgreSQL server's clock, in the one text form of an instant (app/store/times.py).
_SERVER_UTC = """to_char((clock_timestamp() {plus}) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"""


class LeaseWrites:
    conn: Connection
    dialect: Dialect

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

    def take_lease_by_server_clock(self, name: str, holder: str, seconds: float) -> bool:
        """The same, with the instants read off the database server's clock (PostgreSQL): hosts' clocks may disagree.

        One statement: the row is created, renewed by its holder, or taken once expired, atomically.
        """
        row = self.conn.execute(
            f"INSERT INTO leases(name, holder, expires_at) VALUES (?, ?, {_SERVER_UTC.format(plus='+ make_interval(secs => ?)')}) "
            "ON CONFLICT(name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at "
            f"WHERE leases.holder = excluded.holder OR leases.expires_at <= {_SERVER_UTC.format(plus='')} RETURNING holder",
            (name, holder, float(seconds))).fetchone()
        return row is not None

    def release_lease(self, name: str, holder: str) -> None:
        self.conn.execute("DELETE FROM leases WHERE name = ? AND holder = ?", (name, holder))
