"""The reads behind `/healthz` and `/metrics`: cheap enough to run on every probe and every scrape."""

from __future__ import annotations

from app.store.sql import Connection


class HealthReads:
    conn: Connection

    def ping(self) -> None:
        """One round trip to the database, and nothing more: raises when this host cannot reach it."""
        self.conn.execute("SELECT 1").fetchone()

    def outbox_depth_by_kind(self) -> dict[str, int]:
        """Rows waiting to be sent or being sent, by kind: a queue that grows means Slack or the sender is behind."""
        rows = self.conn.execute(
            "SELECT kind, COUNT(*) AS n FROM outbox WHERE status IN ('pending', 'sending') GROUP BY kind").fetchall()
        return {str(row["kind"]): int(row["n"]) for row in rows}
