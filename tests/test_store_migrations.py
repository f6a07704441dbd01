"""A database written by the previous schema opens, upgraded in place, with nothing lost."""

from __future__ import annotations

import sqlite3

from app.store import Store
from app.store.schema import MIGRATIONS


def test_a_version_4_database_upgrades_to_plain_track_labels_without_the_unread_incident_columns(tmp_path) -> None:
    path = tmp_path / "v4.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
    for version in range(1, 5):
        for statement in MIGRATIONS[version]:
            conn.execute(statement)
    conn.execute("INSERT INTO meta VALUES ('schema_version', '4')")
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
