"""Who has opened Ladder's App Home, so that a change to an incident they care about refreshes it; and what a Home shows.

Every statement here runs per `app_home_opened` event or per delivered incident refresh, so each finds its rows
through an index and costs what the person's own share of the data costs, not the workspace's history
(tests/test_query_plans.py checks the plans).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Iterable

from app.outbox import Kind
from app.store.times import iso
from app.store.sql import Connection, Dialect

Row = dict[str, Any]
CHUNK = 500  # values bound per IN list: far below SQLite's limit, and a plan that stays the same


def _chunks(values: Iterable[str]) -> Iterable[list[str]]:
    values = sorted(set(values))
    for start in range(0, len(values), CHUNK):
        yield values[start:start + CHUNK]


class HomeReads:
    conn: Connection
    dialect: Dialect

    def home_opened_at(self, user_id: str) -> str | None:
        row = self.conn.execute("SELECT opened_at FROM app_home WHERE user_id = ?", (user_id,)).fetchone()
        return row["opened_at"] if row else None

    def recent_home_users(self, user_ids: Iterable[str], since: datetime) -> set[str]:
        """Those of `user_ids` who opened the Home since `since` (primary-key lookups: one per person named)."""
        found: set[str] = set()
        for chunk in _chunks(user_ids):
            found.update(r["user_id"] for r in self.conn.execute(
                f"SELECT user_id FROM app_home WHERE user_id IN ({', '.join('?' * len(chunk))}) AND opened_at >= ?",
                (*chunk, iso(since))))
        return found

    def refs_of_user(self, user_id: str) -> list[str]:
        """The catalog references (e-mails, lower case) known to belong to this Slack user: the cache read backwards."""
        return [r["ref"] for r in self.conn.execute("SELECT ref FROM slack_users WHERE user_id = ? ORDER BY ref", (user_id,))]

    def user_ids_of_refs(self, refs: Iterable[str]) -> dict[str, str]:
        """Catalog reference (lower case) -> Slack user ID, for those the cache knows."""
        found: dict[str, str] = {}
        for chunk in _chunks(ref.lower() for ref in refs):
            found.update((r["ref"], r["user_id"]) for r in self.conn.execute(
                f"SELECT ref, user_id FROM slack_users WHERE ref IN ({', '.join('?' * len(chunk))})", chunk))
        return found

    def open_incidents(self) -> list[Row]:
        """Every incident not resolved (the partial index holds only those: bounded by what is open now)."""
        return [dict(r) for r in self.conn.execute("SELECT * FROM incidents WHERE status != 'resolved'")]

    def open_incidents_paging(self, user_id: str) -> set[int]:
        """The open incidents that paged this person: through the open incidents (bounded by what is open now), not
        through the person's pages (which grow with every incident they were ever paged for)."""
        return {r["incident_id"] for r in self.conn.execute(
            "SELECT DISTINCT incident_id FROM pages WHERE incident_id IN (SELECT id FROM incidents WHERE status != 'resolved') "
            f"AND {self.dialect.unindexed('user_id')} = ?", (user_id,))}  # not through pages_user: every page they ever had

    def pages_to_user(self, user_id: str, since: datetime, limit: int) -> tuple[list[Row], int]:
        """This person's pages created since `since` (newest first, at most `limit`), and how many there are."""
        where = "FROM pages p JOIN incidents i ON i.id = p.incident_id WHERE p.user_id = ? AND p.created_at >= ?"
        args = (user_id, iso(since))
        rows = [dict(r) for r in self.conn.execute(
            "SELECT p.id, p.incident_id, p.created_at, p.status, p.level, p.via, p.notify_only, p.acknowledged_at, "
            "i.number, i.title, i.status AS incident_status, i.channel_id, i.severity "
            f"{where} ORDER BY p.created_at DESC, p.id DESC LIMIT ?", (*args, limit))]
        if len(rows) < limit:
            return rows, len(rows)
        return rows, int(self.conn.execute(f"SELECT COUNT(*) AS n {where}", args).fetchone()["n"])

    def open_followups_of(self, owner: str, limit: int) -> tuple[list[Row], int]:
        """This person's follow-ups not done yet, soonest due first (at most `limit`), and how many there are."""
        rows = [dict(r) for r in self.conn.execute(
            "SELECT f.id, f.incident_id, f.due_on, f.text, i.number, i.title, i.channel_id "
            "FROM followups f JOIN incidents i ON i.id = f.incident_id WHERE f.owner = ? AND f.done_at IS NULL "
            "ORDER BY f.due_on, f.id LIMIT ?", (owner, limit))]
        if len(rows) < limit:
            return rows, len(rows)
        return rows, int(self.conn.execute(
            "SELECT COUNT(*) AS n FROM followups WHERE owner = ? AND done_at IS NULL", (owner,)).fetchone()["n"])

    def latest_home_publish(self, user_id: str) -> Row | None:
        """The newest Home publication queued for this person (keys sort by their zero-padded number; the key's index)."""
        prefix = f"{Kind.PUBLISH_HOME.value}:{user_id}:"
        row = self.conn.execute(
            "SELECT dedupe_key, status FROM outbox WHERE dedupe_key >= ? AND dedupe_key < ? ORDER BY dedupe_key DESC LIMIT 1",
            (prefix, prefix[:-1] + ";")).fetchone()  # ';' sorts right after ':'
        return dict(row) if row else None


class HomeWrites(HomeReads):
    def record_home_open(self, user_id: str, now: datetime) -> None:
        self.conn.execute("INSERT INTO app_home(user_id, opened_at) VALUES (?, ?) "
                          "ON CONFLICT(user_id) DO UPDATE SET opened_at = excluded.opened_at", (user_id, iso(now)))
