"""Escalation tracks (an incident's main ladder plus one per team or person escalated to), their pages,
and the e-mail -> Slack user cache the pages need."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from app.store.times import iso
from app.store.sql import Connection, Dialect

Row = dict[str, Any]

_TRACK_ORDER = "ORDER BY track != 'main', id"  # the main ladder first
_DUE_SQL: dict[int, str] = {}


class TrackReads:
    conn: Connection
    dialect: Dialect

    def tracks(self, incident_id: int) -> list[Row]:
        """The incident's escalation tracks, the main ladder first."""
        return [dict(r) for r in self.conn.execute(f"SELECT * FROM tracks WHERE incident_id = ? {_TRACK_ORDER}", (incident_id,))]

    def track(self, incident_id: int, track: str = "main") -> Row | None:
        row = self.conn.execute("SELECT * FROM tracks WHERE incident_id = ? AND track = ?", (incident_id, track)).fetchone()
        return dict(row) if row else None

    def track_by_id(self, track_id: int) -> Row | None:
        row = self.conn.execute("SELECT * FROM tracks WHERE id = ?", (track_id,)).fetchone()
        return dict(row) if row else None

    def due_track_ids(self, now: datetime, limit: int, states: tuple[str, ...]) -> list[int]:
        """Tracks in one of `states` whose timer is due (an index on due_at finds them; the states filter is cheap)."""
        sql = _DUE_SQL.get(len(states))
        if sql is None:  # the statement text once per shape: this runs every tick, usually to find nothing
            sql = _DUE_SQL[len(states)] = (f"SELECT id FROM tracks WHERE due_at IS NOT NULL AND due_at <= ? "
                                           f"AND state IN ({','.join('?' * len(states))}) ORDER BY due_at LIMIT ?")
        return [r[0] for r in self.conn.execute(sql, (iso(now), *states, limit)).fetchall()]

    def last_paged(self, track: Row) -> Row | None:
        """The (policy, loop, level) of the last rung of the track's current round that paged someone (not a notice).

        Rungs are ordered by their first page: a user group's members, paged when it is expanded, come later
        but belong to their group's rung.
        """
        row = self.conn.execute(
            "SELECT policy, loop, level FROM pages WHERE incident_id = ? AND track = ? AND round = ? AND notify_only = 0 "
            "GROUP BY policy, loop, level ORDER BY MIN(id) DESC LIMIT 1",
            (track["incident_id"], track["track"], track["round"])).fetchone()
        return dict(row) if row else None

    def pages(self, incident_id: int) -> list[Row]:
        return [dict(r) for r in self.conn.execute("SELECT * FROM pages WHERE incident_id = ? ORDER BY id", (incident_id,))]

    def page(self, page_id: int) -> Row | None:
        row = self.conn.execute("SELECT * FROM pages WHERE id = ?", (page_id,)).fetchone()
        return dict(row) if row else None

    def recent_page_to(self, incident_id: int, ref: str, since: datetime) -> Row | None:
        """A live page of this incident to the same person since `since`, whether named by e-mail or by Slack ID."""
        row = self.conn.execute(
            "SELECT track, user_id FROM pages WHERE incident_id = ? AND notify_only = 0 AND acknowledged_at IS NULL "
            "AND status IN ('pending', 'sending', 'sent') AND created_at >= ? "
            "AND (lower(target) = lower(?) OR user_id = ? OR user_id = (SELECT user_id FROM slack_users WHERE ref = lower(?)) "
            "     OR lower(target) IN (SELECT ref FROM slack_users WHERE user_id = ?))",
            (incident_id, iso(since), ref, ref, ref, ref),
        ).fetchone()
        return dict(row) if row else None

    def unacknowledged_page_tracks(self, incident_id: int, user_id: str) -> set[str]:
        """The tracks on which this person has a page they have not acknowledged yet."""
        rows = self.conn.execute(
            "SELECT DISTINCT track FROM pages WHERE incident_id = ? AND user_id = ? AND acknowledged_at IS NULL AND notify_only = 0",
            (incident_id, user_id)).fetchall()
        return {r["track"] for r in rows}

    def cached_user(self, ref: str) -> str | None:
        row = self.conn.execute("SELECT user_id FROM slack_users WHERE ref = ?", (ref.lower(),)).fetchone()
        return row["user_id"] if row else None


class TrackWrites(TrackReads):
    def insert_track(self, incident_id: int, key: str, label: str, snapshot_json: str, policy: str, now: datetime,
                     requested_by: str | None = None, reason: str = "") -> Row:
        self.conn.execute(
            "INSERT INTO tracks(incident_id, track, label, snapshot, policy, state, requested_by, reason, created_at) "
            "VALUES (?, ?, ?, ?, ?, 'active', ?, ?, ?)",
            (incident_id, key, label, snapshot_json, policy, requested_by, reason, iso(now)))
        track = self.track(incident_id, key)
        assert track is not None
        return track

    def save_track(self, track: Row, *, state: str, due_at: datetime | None = None, paged_at: datetime | None = None,
                   **changes: Any) -> bool:
        """Compare-and-swap on the track's version: False when someone moved it first (nothing written)."""
        columns = {"state": state, "due_at": iso(due_at) if due_at else None, **changes}
        if paged_at is not None:
            columns["paged_at"] = iso(paged_at)
        assignments = ", ".join(f"{c} = ?" for c in columns)
        cursor = self.conn.execute(f"UPDATE tracks SET {assignments}, version = version + 1 WHERE id = ? AND version = ?",
                                   (*columns.values(), track["id"], track["version"]))
        return cursor.rowcount == 1

    def restart_track(self, track_id: int, *, snapshot_json: str | None = None, policy: str | None = None) -> Row:
        """Back to level 1 in a new round: the ack timeout re-arms the ladder, or a stricter severity switches its policy.

        A new round, so that nothing paged before (under another policy, perhaps) counts as this ladder's position.
        """
        sets = ["level = 0", "loop = 0", "round = round + 1"]
        args: list[Any] = []
        if snapshot_json is not None:
            sets += ["snapshot = ?", "policy = ?"]
            args += [snapshot_json, policy]
        self.conn.execute(f"UPDATE tracks SET {', '.join(sets)} WHERE id = ?", (*args, track_id))
        track = self.track_by_id(track_id)
        assert track is not None
        return track

    def park_track(self, track_id: int, until: datetime) -> None:
        """A track whose step failed: look at it again at `until` (no compare-and-swap: nothing else moved it)."""
        self.conn.execute("UPDATE tracks SET due_at = ?, version = version + 1 WHERE id = ?", (iso(until), track_id))

    def insert_page(self, incident_id: int, now: datetime, *, track: str, round_: int, policy: str, level: int, loop: int,
                    target: str, via: str, notify_only: bool, requested_by: str | None, merged_user: str | None = None,
                    merged: bool = False) -> int | None:
        """A page row, once per (incident, track, round, policy, level, loop, target); None if it exists already.

        A `merged` page reached someone already paged for this incident: it belongs to this track (their
        acknowledgement stops it) but sends no second DM.
        """
        if merged:
            cursor = self.conn.execute(
                "INSERT INTO pages(incident_id, track, round, policy, level, loop, target, via, notify_only, requested_by, created_at, "
                "status, user_id, sent_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, 'merged', ?, ?) ON CONFLICT DO NOTHING RETURNING id",
                (incident_id, track, round_, policy, level, loop, target, via, requested_by, iso(now), merged_user, iso(now)))
        else:
            cursor = self.conn.execute(
                "INSERT INTO pages(incident_id, track, round, policy, level, loop, target, via, notify_only, requested_by, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING id",
                (incident_id, track, round_, policy, level, loop, target, via, int(notify_only), requested_by, iso(now)))
        row = cursor.fetchone()  # no row: the page already existed (ON CONFLICT DO NOTHING)
        return int(row[0]) if row else None

    def set_page(self, page_id: int, **changes: Any) -> None:
        assignments = ", ".join(f"{c} = ?" for c in changes)
        self.conn.execute(f"UPDATE pages SET {assignments} WHERE id = ?", (*changes.values(), page_id))

    def acknowledge_pages(self, incident_id: int, user_id: str, now: datetime) -> None:
        self.conn.execute("UPDATE pages SET acknowledged_at = ? WHERE incident_id = ? AND user_id = ? AND acknowledged_at IS NULL",
                          (iso(now), incident_id, user_id))

    def cancel_pending_pages(self, incident_id: int, reason: str, tracks: list[str] | None = None) -> None:
        """Pages not sent yet (and their outbox rows) are cancelled; notify-only notices still go."""
        in_tracks = "" if tracks is None else f" AND track IN ({','.join('?' * len(tracks))})"
        args = [] if tracks is None else list(tracks)
        self.conn.execute(
            "UPDATE outbox SET status = 'cancelled', last_error = ? WHERE incident_id = ? AND kind = 'page' AND status = 'pending' "
            f"AND {self.dialect.json_int('payload', 'page_id')} IN (SELECT id FROM pages WHERE incident_id = ? AND notify_only = 0{in_tracks})",
            (reason, incident_id, incident_id, *args))
        self.conn.execute(
            f"UPDATE pages SET status = 'cancelled' WHERE incident_id = ? AND status = 'pending' AND notify_only = 0{in_tracks} "
            f"AND id NOT IN (SELECT {self.dialect.json_int('payload', 'page_id')} FROM outbox WHERE incident_id = ? AND kind = 'page' "
            "AND status IN ('sending', 'sent'))",
            (incident_id, *args, incident_id))

    def cache_user(self, ref: str, user_id: str, now: datetime) -> None:
        self.conn.execute(
            "INSERT INTO slack_users(ref, user_id, fetched_at) VALUES (?, ?, ?) "
            "ON CONFLICT(ref) DO UPDATE SET user_id = excluded.user_id, fetched_at = excluded.fetched_at",
            (ref.lower(), user_id, iso(now)))
