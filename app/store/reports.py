"""What a report over a period reads: the incidents declared in it, their pages, tracks and timeline, in bulk.

A report over years of history must not cost a query per incident, nor hold every row at once:
`report_material` walks the period's incidents by declaration time (index `incidents_declared`) in
chunks of `chunk` incidents, and for each chunk reads the pages, tracks and the timeline entries a
report uses in one statement each (by `pages_incident`, `tracks`' UNIQUE(incident_id, track) and
`timeline_incident`). Four statements per chunk; only one chunk's rows are in memory at a time.
These statements run on demand (`python -m app report`), never per request or per tick.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterator

from app.store.times import iso
from app.store.sql import Connection, Dialect

Row = dict[str, Any]

# The timeline entries a report reads (the rest, messages and updates, are most of the timeline and say nothing here).
REPORT_TIMELINE_KINDS = ("level_paged", "level_skipped", "level_waiting", "repeat", "handoff", "exhausted",
                         "policy_switched", "rearmed", "acknowledged", "mitigated")
_INCIDENT_COLUMNS = ("id, number, team_id, service_id, severity, status, declared_at, acknowledged_by, acknowledged_at, "
                     "mitigated_at, resolved_at, drill")  # drill: `figures.counts` leaves drills out
# `email`: the e-mail Ladder knows for a page addressed to a Slack ID (a user group's member), so that the report keys that
# person as the catalog's schedules name them (index slack_users_user).
_PAGE_COLUMNS = ("incident_id, track, round, policy, level, loop, target, via, notify_only, user_id, status, created_at, sent_at, "
                 "acknowledged_at, (SELECT MIN(s.ref) FROM slack_users s WHERE s.user_id = pages.target AND s.ref LIKE '%@%') AS email")


@dataclass(frozen=True)
class IncidentRows:
    """One incident as a report reads it: its row, its pages and tracks, and its timeline entries of REPORT_TIMELINE_KINDS
    (each with `data` parsed), all in id order."""

    incident: Row
    pages: list[Row]
    tracks: list[Row]
    timeline: list[Row]


class ReportReads:
    conn: Connection
    dialect: Dialect

    def report_material(self, since: datetime, until: datetime, team: str | None = None, service: str | None = None,
                        chunk: int = 2000) -> Iterator[IncidentRows]:
        """The incidents declared in [since, until) (of one team or service, if given), in declaration order, with their rows."""
        where = ["declared_at >= ?", "declared_at < ?"]
        args: list[Any] = [iso(since), iso(until)]
        if team is not None:
            where.append("team_id = ?")
            args.append(team)
        if service is not None:
            where.append("service_id = ?")
            args.append(service)
        after: tuple[str, int] = ("", 0)  # keyset: (declared_at, id) of the last incident read
        while True:
            incidents = [dict(r) for r in self.conn.execute(
                f"SELECT {_INCIDENT_COLUMNS} FROM incidents WHERE {' AND '.join(where)} AND (declared_at, id) > (?, ?) "
                "ORDER BY declared_at, id LIMIT ?", (*args, *after, chunk))]
            if not incidents:
                return
            after = (incidents[-1]["declared_at"], incidents[-1]["id"])
            ids = json.dumps([i["id"] for i in incidents])
            pages = self._by_incident(f"SELECT {_PAGE_COLUMNS} FROM pages WHERE incident_id IN ({self.dialect.id_list}) "
                                      "ORDER BY incident_id, id", ids)
            tracks = self._by_incident("SELECT incident_id, track, label, policy, state, round, requested_by, created_at FROM tracks "
                                       f"WHERE incident_id IN ({self.dialect.id_list}) ORDER BY incident_id, id", ids)
            kinds = ",".join("?" * len(REPORT_TIMELINE_KINDS))
            timeline = self._by_incident(
                f"SELECT incident_id, id, at, kind, actor, data FROM timeline WHERE incident_id IN ({self.dialect.id_list}) "
                f"AND kind IN ({kinds}) ORDER BY incident_id, id", ids, *REPORT_TIMELINE_KINDS)
            for entries in timeline.values():
                for entry in entries:
                    entry["data"] = json.loads(entry["data"] or "{}")
            for incident in incidents:
                key = incident["id"]
                yield IncidentRows(incident, pages.get(key, []), tracks.get(key, []), timeline.get(key, []))
            if len(incidents) < chunk:
                return

    def _by_incident(self, sql: str, *args: Any) -> dict[int, list[Row]]:
        grouped: dict[int, list[Row]] = {}
        for row in self.conn.execute(sql, args):
            grouped.setdefault(row["incident_id"], []).append(dict(row))
        return grouped


class ReportWrites(ReportReads):
    pass
