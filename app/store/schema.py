"""The schema: every table Ladder keeps, as numbered migrations applied in order at start-up.

A database written by an older Ladder is brought up to date in place, one transaction per
migration; one written by a newer Ladder is refused rather than misread.
"""

from __future__ import annotations

SCHEMA_VERSION = 11

MIGRATIONS: dict[int, list[str]] = {
    1: [
        """CREATE TABLE incidents (
            id INTEGER PRIMARY KEY,
            number INTEGER NOT NULL UNIQUE,
            title TEXT NOT NULL,
            description TEXT NOT NULL DEFAULT '',
            service_id TEXT NOT NULL,
            service_name TEXT NOT NULL,
            team_id TEXT NOT NULL,
            team_name TEXT NOT NULL,
            severity TEXT NOT NULL,
            private INTEGER NOT NULL DEFAULT 0,
            status TEXT NOT NULL,
            declared_by TEXT NOT NULL,
            declared_at TEXT NOT NULL,
            declared_in TEXT,
            declare_view_id TEXT UNIQUE,
            acknowledged_by TEXT,
            acknowledged_at TEXT,
            resolved_by TEXT,
            resolved_at TEXT,
            resolution_note TEXT,
            channel_id TEXT,
            channel_name TEXT,
            summary_ts TEXT,
            policy_id TEXT NOT NULL,
            policy_snapshot TEXT NOT NULL,
            catalog_digest TEXT NOT NULL,
            version INTEGER NOT NULL DEFAULT 1,
            updated_at TEXT NOT NULL
        )""",
        "CREATE INDEX incidents_open ON incidents(status) WHERE status != 'resolved'",
        """CREATE TABLE escalations (
            incident_id INTEGER PRIMARY KEY REFERENCES incidents(id),
            level INTEGER NOT NULL,
            loop INTEGER NOT NULL DEFAULT 0,
            state TEXT NOT NULL,
            paged_at TEXT,
            due_at TEXT,
            version INTEGER NOT NULL DEFAULT 1
        )""",
        "CREATE INDEX escalations_due ON escalations(due_at) WHERE state = 'active'",
        """CREATE TABLE timeline (
            id INTEGER PRIMARY KEY,
            incident_id INTEGER NOT NULL REFERENCES incidents(id),
            at TEXT NOT NULL,
            kind TEXT NOT NULL,
            actor TEXT,
            text TEXT NOT NULL,
            data TEXT NOT NULL DEFAULT '{}'
        )""",
        "CREATE INDEX timeline_incident ON timeline(incident_id, id)",
        """CREATE TABLE pages (
            id INTEGER PRIMARY KEY,
            incident_id INTEGER NOT NULL REFERENCES incidents(id),
            level INTEGER NOT NULL,
            loop INTEGER NOT NULL DEFAULT 0,
            target TEXT NOT NULL,
            via TEXT NOT NULL DEFAULT '',
            notify_only INTEGER NOT NULL DEFAULT 0,
            requested_by TEXT,
            user_id TEXT,
            dm_channel TEXT,
            dm_ts TEXT,
            status TEXT NOT NULL DEFAULT 'pending',
            created_at TEXT NOT NULL,
            sent_at TEXT,
            acknowledged_at TEXT,
            error TEXT,
            UNIQUE (incident_id, level, loop, target)
        )""",
        """CREATE TABLE outbox (
            id INTEGER PRIMARY KEY,
            incident_id INTEGER REFERENCES incidents(id),
            kind TEXT NOT NULL,
            dedupe_key TEXT NOT NULL UNIQUE,
            payload TEXT NOT NULL DEFAULT '{}',
            priority INTEGER NOT NULL DEFAULT 5,
            depends_on TEXT,
            status TEXT NOT NULL DEFAULT 'pending',
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at TEXT NOT NULL,
            claimed_by TEXT,
            claimed_until TEXT,
            last_error TEXT,
            created_at TEXT NOT NULL,
            sent_at TEXT
        )""",
        "CREATE INDEX outbox_due ON outbox(status, next_attempt_at, priority)",
        """CREATE TABLE slack_users (
            ref TEXT PRIMARY KEY,
            user_id TEXT NOT NULL,
            fetched_at TEXT NOT NULL
        )""",
        """CREATE TABLE leases (
            name TEXT PRIMARY KEY,
            holder TEXT NOT NULL,
            expires_at TEXT NOT NULL
        )""",
    ],
    # 2: escalation tracks. An incident has a main ladder plus one track per team or person it was
    # additively escalated to; each track has its own policy snapshot, state, timer and version.
    2: [
        """CREATE TABLE tracks (
            id INTEGER PRIMARY KEY,
            incident_id INTEGER NOT NULL REFERENCES incidents(id),
            track TEXT NOT NULL,
            label TEXT NOT NULL,
            snapshot TEXT NOT NULL,
            policy TEXT NOT NULL,
            level INTEGER NOT NULL DEFAULT 0,
            loop INTEGER NOT NULL DEFAULT 0,
            state TEXT NOT NULL,
            paged_at TEXT,
            due_at TEXT,
            requested_by TEXT,
            reason TEXT NOT NULL DEFAULT '',
            round INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL,
            version INTEGER NOT NULL DEFAULT 1,
            UNIQUE (incident_id, track)
        )""",
        """INSERT INTO tracks(incident_id, track, label, snapshot, policy, level, loop, state, paged_at, due_at, created_at, version)
           SELECT e.incident_id, 'main', i.team_name, i.policy_snapshot, i.policy_id, e.level, e.loop, e.state, e.paged_at,
                  e.due_at, i.declared_at, e.version
           FROM escalations e JOIN incidents i ON i.id = e.incident_id""",
        "DROP TABLE escalations",
        "CREATE INDEX tracks_due ON tracks(due_at) WHERE due_at IS NOT NULL",
        """CREATE TABLE pages_v2 (
            id INTEGER PRIMARY KEY,
            incident_id INTEGER NOT NULL REFERENCES incidents(id),
            track TEXT NOT NULL DEFAULT 'main',
            round INTEGER NOT NULL DEFAULT 0,
            policy TEXT NOT NULL,
            level INTEGER NOT NULL,
            loop INTEGER NOT NULL DEFAULT 0,
            target TEXT NOT NULL,
            via TEXT NOT NULL DEFAULT '',
            notify_only INTEGER NOT NULL DEFAULT 0,
            requested_by TEXT,
            user_id TEXT,
            dm_channel TEXT,
            dm_ts TEXT,
            status TEXT NOT NULL DEFAULT 'pending',
            created_at TEXT NOT NULL,
            sent_at TEXT,
            acknowledged_at TEXT,
            error TEXT,
            UNIQUE (incident_id, track, round, policy, level, loop, target)
        )""",
        """INSERT INTO pages_v2(id, incident_id, policy, level, loop, target, via, notify_only, requested_by, user_id,
                 dm_channel, dm_ts, status, created_at, sent_at, acknowledged_at, error)
           SELECT p.id, p.incident_id, i.policy_id, p.level, p.loop, p.target, p.via, p.notify_only, p.requested_by,
                  p.user_id, p.dm_channel, p.dm_ts, p.status, p.created_at, p.sent_at, p.acknowledged_at, p.error
           FROM pages p JOIN incidents i ON i.id = p.incident_id""",
        "DROP TABLE pages",
        "ALTER TABLE pages_v2 RENAME TO pages",
        "CREATE INDEX pages_incident ON pages(incident_id)",
    ],
    # 3: rules. What they need to know about an incident, and one timer row per (incident, rule).
    3: [
        "ALTER TABLE incidents ADD COLUMN lead TEXT",
        "ALTER TABLE incidents ADD COLUMN last_update_at TEXT",
        "ALTER TABLE incidents ADD COLUMN severity_since TEXT",
        "ALTER TABLE incidents ADD COLUMN triggered_since TEXT",
        "UPDATE incidents SET severity_since = declared_at, triggered_since = declared_at",
        """CREATE TABLE rule_timers (
            id INTEGER PRIMARY KEY,
            incident_id INTEGER NOT NULL REFERENCES incidents(id),
            rule_id TEXT NOT NULL,
            due_at TEXT,
            occurrence TEXT,
            fired_at TEXT,
            fire_count INTEGER NOT NULL DEFAULT 0,
            snoozed_until TEXT,
            dismissed_by TEXT,
            version INTEGER NOT NULL DEFAULT 1,
            UNIQUE (incident_id, rule_id)
        )""",
        "CREATE INDEX rule_timers_due ON rule_timers(due_at) WHERE due_at IS NOT NULL",
    ],
    4: [
        # 1 when the last attempt's outcome is unknown (the process died mid-call, or Slack's answer timed
        # out): Slack may have done it, so the next attempt looks before it repeats a page.
        "ALTER TABLE outbox ADD COLUMN in_doubt INTEGER NOT NULL DEFAULT 0",
    ],
    # 5: plain track labels; and the incident's policy and its snapshot live on its main track (migration 2); the copies on the
    # incident row were written at every declaration and never read.
    5: [
        "ALTER TABLE incidents DROP COLUMN policy_snapshot",
        "ALTER TABLE incidents DROP COLUMN policy_id",
        "ALTER TABLE incidents DROP COLUMN catalog_digest",
        # Track labels are plain words (a team's name, a person's reference); Slack markup is added when shown.
        "UPDATE tracks SET label = substr(track, 8, instr(track, '#') - 8) WHERE track LIKE 'person:%#%'",
        "UPDATE tracks SET label = replace(replace(replace(label, '&lt;', '<'), '&gt;', '>'), '&amp;', '&') "
        "WHERE track NOT LIKE 'person:%'",
    ],
    # 6: every lookup a request or a tick makes finds its rows through an index, so it costs the same after a
    # year of incidents as on the first day (tests/test_query_plans.py checks each statement's plan).
    6: [
        # A message or `/incident lead|update|escalate` in a channel: which incident is this channel's?
        "CREATE INDEX IF NOT EXISTS incidents_channel ON incidents(channel_id)",
        # An incident's own outbox rows (cancelling its unsent pages on acknowledge or resolve), not every row ever sent.
        "CREATE INDEX IF NOT EXISTS outbox_incident ON outbox(incident_id, kind, status)",
        # Whether a person was already paged under another name: the references cached for their Slack ID.
        "CREATE INDEX IF NOT EXISTS slack_users_user ON slack_users(user_id)",
    ],
    # 7: what comes after the page: the containment step (mitigated), roles people hold in an incident, and follow-ups
    # with an owner and a due date (reminded once a day when overdue).
    7: [
        "ALTER TABLE incidents ADD COLUMN mitigated_by TEXT",
        "ALTER TABLE incidents ADD COLUMN mitigated_at TEXT",
        # The lead is a role too; its holder is also kept in incidents.lead, which the rules read.
        """CREATE TABLE incident_roles (
            id INTEGER PRIMARY KEY,
            incident_id INTEGER NOT NULL REFERENCES incidents(id),
            role TEXT NOT NULL,
            user_id TEXT NOT NULL,
            assigned_by TEXT NOT NULL,
            assigned_at TEXT NOT NULL,
            UNIQUE (incident_id, role)
        )""",
        """CREATE TABLE followups (
            id INTEGER PRIMARY KEY,
            incident_id INTEGER NOT NULL REFERENCES incidents(id),
            owner TEXT NOT NULL,
            due_on TEXT NOT NULL,
            text TEXT NOT NULL,
            created_by TEXT NOT NULL,
            created_at TEXT NOT NULL,
            done_at TEXT,
            done_by TEXT,
            remind_at TEXT,
            reminders INTEGER NOT NULL DEFAULT 0,
            version INTEGER NOT NULL DEFAULT 1
        )""",
        "CREATE INDEX followups_incident ON followups(incident_id)",
        "CREATE INDEX followups_remind ON followups(remind_at) WHERE remind_at IS NOT NULL",
        "CREATE INDEX followups_owner ON followups(owner, done_at)",
    ],
    # 8: looking back: incidents by when they were declared (reports over a period), each team's weekly digest (when
    # the next is due, and the last period posted), and who has opened Ladder's App Home (to refresh it for them).
    8: [
        "CREATE INDEX IF NOT EXISTS incidents_declared ON incidents(declared_at)",
        """CREATE TABLE digests (
            team_id TEXT PRIMARY KEY,
            due_at TEXT,
            last_period TEXT,
            version INTEGER NOT NULL DEFAULT 1
        )""",
        "CREATE INDEX digests_due ON digests(due_at) WHERE due_at IS NOT NULL",
        """CREATE TABLE app_home (
            user_id TEXT PRIMARY KEY,
            opened_at TEXT NOT NULL
        )""",
    ],
    # 9: a person's own pages, newest first (the App Home's "my pages of the last 7 days"), without going through incidents.
    9: [
        "CREATE INDEX IF NOT EXISTS pages_user ON pages(user_id, created_at)",
    ],
    # 10: drills. A drill is an incident that runs the real ladder, marked as one everywhere; it never counts in reports
    # of real incidents. `drill_pace`: every level's timeout replaced by this many seconds (NULL: the policy's own).
    10: [
        "ALTER TABLE incidents ADD COLUMN drill INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE incidents ADD COLUMN drill_pace INTEGER",
        "CREATE INDEX IF NOT EXISTS incidents_drills ON incidents(declared_at) WHERE drill = 1",
    ],
    # 11: what a digest row was scheduled from ("cron|zone", NULL when no digest is scheduled or before 11), so a start
    # or a catalog reload tells an unchanged schedule (keep an overdue due_at) from an edited one (re-plan).
    11: [
        "ALTER TABLE digests ADD COLUMN schedule TEXT",
    ],
}
