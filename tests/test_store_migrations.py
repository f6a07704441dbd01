"""A database written by the previous schema opens, upgraded in place, with nothing lost."""

from __future__ import annotations

import sqlite3

from app.store import Store
from app.store.schema import MIGRATIONS, SCHEMA_VERSION


def database_at(path, schema_version: int) -> sqlite3.Connection:
    """An empty database as a Ladder of that schema version left it."""
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
    for version in range(1, schema_version + 1):
        for statement in MIGRATIONS[version]:
            conn.execute(statement)
    conn.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(schema_version),))
    return conn


def test_a_version_4_database_upgrades_to_plain_track_labels_without_the_unread_incident_columns(tmp_path) -> None:
    path = tmp_path / "v4.db"
    conn = database_at(path, 4)
    conn.execute(
        "INSERT INTO incidents(id, number, title, service_id, service_name, team_id, team_name, severity, status, declared_by, "
        "declared_at, policy_id, policy_snapshot, catalog_digest, updated_at) VALUES (1, 1, 'Payouts late', 'payouts', 'Payouts', "
        "'payments', 'Pay & Co', 'sev2', 'triggered', 'U0SAM', '2026-11-23T10:00:00.000000Z', 'payments', '{}', 'abc', "
        "'2026-11-23T10:00:00.000000Z')")
    # Version 4 stored labels as mrkdwn: an escaped team name, a mention, an escaped e-mail.
    for key, label in [("main", "Pay &amp; Co"), ("team:ops#1", "Ops &lt;night&gt;"), ("person:U0DANA#1", "<@U0DANA>"),
                       ("person:erin@example.com#1", "erin@example.com")]:
        conn.execute("INSERT INTO tracks(incident_id, track, label, snapshot, policy, state, created_at) "
                     "VALUES (1, ?, ?, '{}', 'payments', 'active', '2026-11-23T10:00:00.000000Z')", (key, label))
    conn.commit()
    conn.close()

    store = Store(path)
    try:
        assert [(t["track"], t["label"]) for t in store.tracks(1)] == [
            ("main", "Pay & Co"), ("team:ops#1", "Ops <night>"), ("person:U0DANA#1", "U0DANA"),
            ("person:erin@example.com#1", "erin@example.com")]
        incident = store.incident(1)
        assert incident is not None and incident["title"] == "Payouts late" and incident["team_name"] == "Pay & Co"
        assert not {"policy_id", "policy_snapshot", "catalog_digest"} & incident.keys()
    finally:
        store.close()


def version_5_database(path) -> sqlite3.Connection:
    conn = database_at(path, 5)
    conn.execute(
        "INSERT INTO incidents(id, number, title, service_id, service_name, team_id, team_name, severity, status, declared_by, "
        "declared_at, channel_id, updated_at) VALUES (1, 1, 'Payouts late', 'payouts', 'Payouts', 'payments', 'Payments', 'sev2', "
        "'acknowledged', 'U0SAM', '2026-11-23T10:00:00.000000Z', 'C0INC1', '2026-11-23T10:00:00.000000Z')")
    conn.execute("INSERT INTO pages(id, incident_id, policy, level, target, status, user_id, created_at) "
                 "VALUES (7, 1, 'payments', 0, 'alice@example.com', 'pending', 'U0ALICE', '2026-11-23T10:00:00.000000Z')")
    conn.execute("INSERT INTO outbox(incident_id, kind, dedupe_key, payload, next_attempt_at, created_at) VALUES "
                 "(1, 'page', 'page:1:main:0:payments:0:0:alice@example.com', '{\"page_id\": 7}', '2026-11-23T10:00:00.000000Z', "
                 "'2026-11-23T10:00:00.000000Z')")
    conn.execute("INSERT INTO slack_users VALUES ('alice@example.com', 'U0ALICE', '2026-11-23T10:00:00.000000Z')")
    return conn


def indexes(store: Store) -> set[str]:
    return {r["name"] for r in store.conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}


def test_a_version_5_database_gains_the_indexes_that_keep_lookups_flat_with_history(tmp_path) -> None:
    path = tmp_path / "v5.db"
    conn = version_5_database(path)
    conn.commit()
    conn.close()

    store = Store(path)
    try:
        assert store.conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0] == str(SCHEMA_VERSION)
        assert {"incidents_channel", "outbox_incident", "slack_users_user"} <= indexes(store)
        assert store.incident_by_channel("C0INC1")["title"] == "Payouts late"
        plan = " ".join(r[3] for r in store.conn.execute("EXPLAIN QUERY PLAN SELECT * FROM incidents WHERE channel_id = 'C0INC1'"))
        assert "incidents_channel" in plan
        with store.transaction() as tx:  # the outbox rows of one incident, found through its index
            tx.cancel_pending_pages(1, "acknowledged by U0ALICE")
        assert store.page(7)["status"] == "cancelled" and store.outbox_rows(1)[0]["status"] == "cancelled"
    finally:
        store.close()


def test_migration_6_is_idempotent_where_an_index_was_already_added_by_hand(tmp_path) -> None:
    path = tmp_path / "v5.db"
    conn = version_5_database(path)
    conn.execute("CREATE INDEX incidents_channel ON incidents(channel_id)")  # an operator got there first
    conn.commit()
    conn.close()

    Store(path).close()
    store = Store(path)  # and opening it again changes nothing
    try:
        assert {"incidents_channel", "outbox_incident", "slack_users_user"} <= indexes(store)
        assert store.incident_by_channel("C0INC1") is not None
    finally:
        store.close()
