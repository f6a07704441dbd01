"""A year of incidents costs a request or a tick no more than a week of them.

A realistic scenario runs through the real app (signed HTTP requests against the Slack stand-in, the
worker's ticks and delivery, rule nudges, two Slack faults) while every statement every Store
connection runs is recorded: the Store's `_connect` is wrapped here, so that each connection it opens
gets a trace callback (the SQL with its values, as SQLite ran it) and a progress handler (SQLite's
virtual-machine steps, which grow with the rows a statement visits). The scenario runs three times:

- on an empty database: what it leaves behind (every row the use cases and delivery wrote, every
  incident resolved at the end) is the *template* of history;
- on SMALL (1k) and on LARGE (10k) incidents of history: the template's rows copied with fresh IDs,
  keys, channels and earlier times (bulk SQL, for speed; every other column as the app wrote it).

Then two checks, neither of which knows which statements the app runs:

- plans: `EXPLAIN QUERY PLAN` for each distinct statement (values normalised away), on the LARGE
  database: no `SCAN` of a table that grows with history. A scan of a partial index that holds only
  live rows is bounded and allowed by name; `meta` and `leases` hold one row per setting or lease.
- slope: no statement's most expensive run takes more VM steps (rows visited) at LARGE than at
  SMALL. Counted, not timed: no wall clock anywhere.

LARGE is 10k, not 20k, to keep this module near 10 s: copying 20k busy incidents (1.5M rows) takes
longer than everything else here together, and a tenfold history shows a scan just as plainly.
"""

from __future__ import annotations

import math
import re
import sqlite3
import threading
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import pytest

from app.store import Store
from tests.slack_standin import SlackStandIn
from tests.support import PEOPLE, RULES_CATALOG, Engine, declare, frozen_clock, start_engine, summary_of

# Tables whose rows do not grow with history: one row per setting (meta), per lease name (leases), per team (digests).
SMALL_TABLES = {"meta", "leases", "digests"}
# Partial indexes whose rows are live work only (a resolved incident's timers are cleared): scanning one is bounded.
BOUNDED_INDEXES = {
    "tracks_due": "tracks with a timer (WHERE due_at IS NOT NULL)",
    "rule_timers_due": "rule timers with a timer (WHERE due_at IS NOT NULL)",
    "incidents_open": "incidents not resolved",
    # Not live work, but only drills, and read newest first under a LIMIT (`drills`): the slope check below holds it to that.
    "incidents_drills": "drills only (WHERE drill = 1), read in declared_at order with a LIMIT",
}
SMALL, LARGE = 1_000, 10_000  # incidents of history
# At LARGE a statement may take at most SLOPE_ALLOWANCE x its VM steps at SMALL, + SLOPE_STEPS (one that visits
# history takes LARGE / SMALL = 10 x as many).
SLOPE_ALLOWANCE, SLOPE_STEPS = 1.5, 50


# -- recording what the Store runs ----------------------------------------------------------------------------

@dataclass
class Run:
    sql: str  # as SQLite ran it, values expanded
    steps: int  # VM steps (progress-handler calls with N=1): grows with the rows visited


@dataclass
class Recorder:
    runs: list[Run] = field(default_factory=list)
    _open: list[dict] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def attach(self, conn: sqlite3.Connection) -> None:
        state: dict = {"sql": None, "steps": 0}
        with self._lock:
            self._open.append(state)

        def trace(sql: str) -> None:  # a statement starts on this connection: the previous one is done
            self._finish(state)
            state["sql"], state["steps"] = sql, 0

        def progress() -> int:
            state["steps"] += 1
            return 0

        conn.set_trace_callback(trace)
        conn.set_progress_handler(progress, 1)

    def _finish(self, state: dict) -> None:
        if state["sql"] is not None:
            self.runs.append(Run(state["sql"], state["steps"]))
            state["sql"] = None

    def reset(self) -> None:
        with self._lock:
            for state in self._open:
                state["sql"] = None
        self.runs = []

    def done(self) -> list[Run]:
        with self._lock:
            for state in self._open:
                self._finish(state)
        return self.runs


@contextmanager
def recording() -> Iterator[Recorder]:
    """Every connection the Store opens meanwhile reports to the Recorder (the Store itself is not changed)."""
    recorder = Recorder()
    original = Store._connect

    def connect(self: Store) -> sqlite3.Connection:
        conn = original(self)
        recorder.attach(conn)
        return conn

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Store, "_connect", connect)
        yield recorder


NOT_QUERIES = re.compile(r"^\s*(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE|PRAGMA|--)", re.I)
_STRING = re.compile(r"'(?:[^']|'')*'")
_NUMBER = re.compile(r"(?<![\w.$])-?\d+(?:\.\d+)?(?![\w])")
_NULL = re.compile(r"(?<!IS )(?<!NOT )\bNULL\b")
_LIST = re.compile(r"\((?:\s*\?\s*,)+\s*\?\s*\)")


def shape(sql: str) -> str:
    """The statement with its values replaced by `?` (and IN lists collapsed), so that runs with other values match."""
    text = _STRING.sub("?", sql)
    text = _NUMBER.sub("?", text)
    text = _NULL.sub("?", text)
    text = _LIST.sub("(?, ...)", text)
    return " ".join(text.split())


def by_shape(runs: list[Run]) -> dict[str, list[Run]]:
    shapes: dict[str, list[Run]] = defaultdict(list)
    for run in runs:
        if not NOT_QUERIES.match(run.sql):
            shapes[shape(run.sql)].append(run)
    return shapes


# -- the scenario ---------------------------------------------------------------------------------------------

def catalog_file(directory: Path) -> Path:
    """The rules catalog, with Payments switching to a stricter policy at SEV1 (so a raise restarts a ladder)."""
    text = RULES_CATALOG.read_text().replace(
        "escalation_policy: payments\n", "escalation_policy: {default: payments, by_severity: {sev1: payments-critical}}\n", 1)
    path = directory / "catalog.yaml"
    path.write_text(text)
    return path


def new_standin() -> SlackStandIn:
    standin = SlackStandIn().start()
    for name in [*PEOPLE, "quinn"]:
        standin.add_user(name, f"{name}@example.com")
    for channel in ("general", "team-payments", "team-identity", "team-platform", "incident-leadership"):
        standin.add_channel(channel)
    return standin


def channel_of(ladder: Engine, n: int) -> str:
    return ladder.slack.incident_channels()[n - 1]["id"]


def posted(ladder: Engine, n: int, fragment: str) -> list[dict]:
    return [m for m in ladder.slack.messages_in(channel_of(ladder, n)) if fragment in m["text"]]


def replied(ladder: Engine, fragment: str) -> None:
    ladder.slack.wait_for(lambda: [r for r in ladder.slack.responses if fragment in r["body"].get("text", "")])


def scenario(ladder: Engine) -> None:
    """Three incidents through every kind of request and tick Ladder answers, ending with all resolved."""
    slack, driver, user = ladder.slack, ladder.driver, ladder.user
    opened = lambda: len(slack.ok_calls_to("views.open"))  # noqa: E731

    assert "On call now" in driver.slash("oncall", user("sam")).body
    assert "Latest drills" in driver.slash("drill", user("sam")).body  # the drills, through their partial index
    # A: SEV2 on Bank transfers (alice, then dana; 30 min ack timeout), typing ahead in the form first.
    before = opened()
    driver.slash("bank transfers failing", user("sam"))
    form = driver.opened_view("declare_incident", after=before)
    assert driver.suggest(form, "service", "service", "trans", user("sam")).status == 200
    driver.submit(form, user("sam"), {"severity": "sev2"})
    ladder.deliver()
    a = 1
    # The App Home: alice (Payments, paged for A) and quinn (in no team: looked up with users.info) open theirs; from
    # here on every refresh of an incident asks who of those it concerns has a Home to refresh.
    for who in ("alice", "quinn"):
        assert driver.app_home_opened(user(who)).status == 200
    ladder.deliver()
    # B: SEV1 (mallory; leadership told, a lead asked for, the stakeholder told); C: SEV3 on the office's intranet.
    # Slack refuses one topic for a while (retried later) and one pin for good (failed, and said so).
    slack.fail("conversations.setTopic", status=503)
    slack.fail("pins.add", error="not_pinnable")
    declare(ladder, "card payments failing", user="carol", service="bank-transfers", severity="sev1")
    ladder.deliver()
    declare(ladder, "", user="sam", title="Intranet down", service="intranet", severity="sev3")
    ladder.deliver()
    b, c = 2, 3
    assert len(slack.incident_channels()) == 3

    # Messages and commands in the incident channels (and one outside any).
    driver.message_event(channel_of(ladder, a), user("alice"), "Looking at the payout logs")
    driver.message_event("C0GENERAL1", user("alice"), "lunch?")
    assert "leads" in driver.slash("lead", user("bob"), channel_id=channel_of(ladder, a)).body
    assert "incident's channel" in driver.slash("lead", user("bob")).body
    assert "leads INC-1" in driver.slash(f"role lead <@{user('carol')}|carol>", user("bob"), channel_id=channel_of(ladder, a)).body
    assert "Roles in INC-1" in driver.slash("role", user("bob"), channel_id=channel_of(ladder, a)).body
    assert " timeline: " in driver.slash("timeline", user("bob"), channel_id=channel_of(ladder, a)).body
    before = opened()
    driver.slash("update", user("bob"), channel_id=channel_of(ladder, a))
    driver.submit(driver.opened_view("status_update", after=before), user("bob"), {"update": "Rolled back the batcher; watching"})
    before = opened()
    driver.slash("escalate", user("carol"), channel_id=channel_of(ladder, b))
    reply = driver.submit(driver.opened_view("escalate_incident", after=before), user("carol"),
                          {"to": "team", "team": "identity", "reason": "login tokens look broken"})
    assert reply.status == 200 and reply.body == "", reply.body
    ladder.deliver()
    driver.click(posted(ladder, b, "who is leading?")[0], "nudge_snooze_15", user("carol"))
    replied(ladder, "Snoozed")

    ladder.at(minutes=3)  # B unacknowledged for 3 minutes at SEV1: the rule pages level 2 (dana, judy)
    driver.click(ladder.dms("alice")[0], "incident_ack", user("alice"))  # A acknowledged: the clock stops
    driver.click(summary_of(ladder, c), "incident_severity", user("heidi"), option_value="sev2")
    driver.click(summary_of(ladder, a), "incident_severity", user("bob"), option_value="sev1")  # stricter policy, re-arm later
    ladder.deliver()
    ladder.at(minutes=2)  # identity's level 1 (frank) was paged for B; B's own ladder climbs on
    driver.click(ladder.dms("dana")[-1], "incident_ack", user("dana"))  # dana owns B
    ladder.deliver()
    driver.click(ladder.dms("frank")[-1], "incident_ack", user("frank"))  # frank acknowledges his own page: stops identity's track
    replied(ladder, "owns the incident")
    ladder.at(minutes=15)  # C has had no lead for 15 minutes at SEV2: nudged
    driver.click(posted(ladder, c, "Still no lead.")[0], "incident_take_lead", user("heidi"))
    ladder.at(minutes=14)  # A's ack timeout: announced, with Still on it
    driver.click(posted(ladder, a, ":hourglass:")[0], "incident_still_on_it", user("alice"))
    replied(ladder, "stays quiet")
    ladder.at(minutes=30)
    ladder.at(minutes=30)  # no update for a while; acknowledged an hour ago
    ladder.at(minutes=31)  # open for 2h: A and B are asked to downgrade or resolve
    driver.click(posted(ladder, a, "downgrade or resolve?")[0], "nudge_escalate", user("bob"))
    driver.click(posted(ladder, b, "downgrade or resolve?")[0], "nudge_dismiss", user("dana"))
    ladder.deliver()
    ladder.at(minutes=5)

    for n, who in ((a, "alice"), (b, "dana"), (c, "heidi")):
        before = opened()
        driver.click(summary_of(ladder, n), "incident_resolve", user(who))
        reply = driver.submit(driver.opened_view("resolve_incident", after=before), user(who), {"note": "fixed"})
        assert reply.status == 200 and reply.body == "", reply.body
    ladder.deliver()
    ladder.at(minutes=1)
    ladder.deliver()

    # Follow-ups: typed in full in A's channel (recorded at once); on resolved C, from its summary's button through the form.
    ivan, oscar = user("ivan"), user("oscar")
    assert "Follow-up added" in driver.slash(f"followup <@{ivan}|ivan> 2026-11-23 Alert on payout queue depth", user("bob"),
                                             channel_id=channel_of(ladder, a)).body
    before = opened()
    driver.click(summary_of(ladder, c), "incident_add_followup", user("heidi"))
    reply = driver.submit(driver.opened_view("add_followup", after=before), user("heidi"),
                          {"owner": oscar, "due": "2026-11-24", "text": "Replace the intranet's disk"})
    assert reply.status == 200 and reply.body == "", reply.body
    ladder.deliver()
    ladder.at(hours=24)  # the next morning: A's follow-up, due yesterday, reminds its owner; both are done by the end
    driver.click([m for m in ladder.dms("ivan") if m["text"].startswith(":alarm_clock:")][-1], "followup_done", ivan)
    driver.click([m for m in ladder.dms("oscar") if "follow-up" in m["text"]][-1], "followup_done", oscar)
    ladder.slack.wait_for(lambda: len([r for r in ladder.slack.responses if "Marked done" in r["body"].get("text", "")]) == 2)
    ladder.deliver()
    for who in ("alice", "ivan"):  # Homes with this week's pages and follow-ups in them
        assert driver.app_home_opened(user(who)).status == 200
    ladder.deliver()
    assert len(slack.ok_calls_to("views.publish")) >= 4


def run_scenario(directory: Path, catalog: Path) -> list[Run]:
    """The scenario against a fresh Slack stand-in and the database `directory/ladder.db` (history or none)."""
    slack = new_standin()
    try:
        with recording() as recorder, frozen_clock() as clock:
            ladder, close = start_engine(slack, directory, clock, catalog)
            try:
                recorder.reset()  # start-up (migrations) is not a request
                scenario(ladder)
            finally:
                close()
            return recorder.done()
    finally:
        slack.stop()


# -- history: the template's rows, copied --------------------------------------------------------------------

TIMES = {"declared_at", "acknowledged_at", "resolved_at", "updated_at", "last_update_at", "severity_since", "triggered_since",
         "at", "created_at", "sent_at", "next_attempt_at", "claimed_until", "paged_at", "due_at", "fired_at", "snoozed_until",
         "done_at", "remind_at", "assigned_at"}
HISTORY_TABLES = ("incidents", "tracks", "pages", "timeline", "rule_timers", "outbox", "followups",
                  "incident_roles")  # slack_users: one row per person, not per incident
MINUTES_APART = 240  # between one copy of the template's incidents and the next: the copies go back in time from the template's


def _key_parts(column: str) -> str:
    """An outbox key that names its incident (`kind:<incident>:...`), cut around the incident's ID (NULLs for any other key)."""
    start = f"instr({column}, ':') + 1"
    own = (f"incident_id IS NOT NULL AND (substr({column}, {start}) = CAST(incident_id AS TEXT) "
           f"OR substr({column}, {start}, length(incident_id) + 1) = incident_id || ':')")
    return (f"CASE WHEN {own} THEN substr({column}, 1, {start} - 1) END AS {column}_head, "
            f"CASE WHEN {own} THEN substr({column}, {start} + length(incident_id)) END AS {column}_tail")


def _expression(table: str, column: str) -> str | None:
    """How copy `k` writes `column` (None: SQLite numbers the row)."""
    special = {
        ("incidents", "id"): "id + k * :incidents",
        ("incidents", "number"): "number + k * :incidents",
        ("incidents", "declare_view_id"): "declare_view_id || '-' || k",
        ("incidents", "channel_id"): "channel_id || 'H' || k",
        ("pages", "id"): "id + k * :pages",
        ("outbox", "payload"): "CASE WHEN kind = 'page' THEN json_set(payload, '$.page_id', json_extract(payload, '$.page_id') + k * :pages) "
                               "ELSE payload END",
    }
    if (table, column) in special:
        return special[(table, column)]
    if (table, column) in (("outbox", "dedupe_key"), ("outbox", "depends_on")):  # the copy's incident, or a suffix of its own
        return (f"CASE WHEN {column}_head IS NOT NULL THEN {column}_head || (incident_id + k * :incidents) || {column}_tail "
                f"ELSE {column} || '#' || k END")
    if column in TIMES:
        return (f"CASE WHEN {column} IS NULL THEN NULL ELSE strftime('%Y-%m-%dT%H:%M:%f', {column}, "
                f"'-' || ((:copies - k) * :minutes) || ' minutes') || '000Z' END")
    if column == "id":
        return None
    if column == "incident_id":
        return "incident_id + k * :incidents"
    return column


def build_history(template: Path, target: Path, incidents: int) -> int:
    """`target`: the current schema holding copies of the template's incidents (at least `incidents`); returns how many.

    Each copy has its own IDs, number, view, channel and outbox keys, and lies MINUTES_APART before the next;
    every other column is as the app wrote it. Bulk SQL: 10k incidents take seconds, not an hour of HTTP.
    """
    Store(target).close()  # every migration, as the app runs them
    conn = sqlite3.connect(target, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=OFF")  # test data: written once, nothing to roll back
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("PRAGMA cache_size=-200000")
        conn.execute("ATTACH DATABASE ? AS template", (str(template),))
        per_copy = conn.execute("SELECT MAX(id) FROM template.incidents").fetchone()[0]
        copies = math.ceil(incidents / per_copy)
        args = {"copies": copies, "incidents": per_copy, "minutes": MINUTES_APART,
                "pages": conn.execute("SELECT COALESCE(MAX(id), 0) FROM template.pages").fetchone()[0]}
        conn.execute(f"CREATE TEMP TABLE outbox_template AS SELECT *, {_key_parts('dedupe_key')}, {_key_parts('depends_on')} "
                     "FROM template.outbox")
        conn.execute("BEGIN")
        for table in HISTORY_TABLES:
            columns = [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]
            written = [(c, e) for c in columns if (e := _expression(table, c)) is not None]
            source = "temp.outbox_template" if table == "outbox" else f"template.{table}"
            conn.execute(
                f"WITH RECURSIVE copy(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM copy WHERE k + 1 < :copies) "
                f"INSERT INTO {table}({', '.join(c for c, _ in written)}) "
                f"SELECT {', '.join(e for _, e in written)} FROM copy, {source}", args)
        conn.execute("COMMIT")
        conn.execute("PRAGMA journal_mode=WAL")
        return copies * per_copy
    finally:
        conn.close()


# -- the runs, once for the module ----------------------------------------------------------------------------

@dataclass
class Runs:
    small: dict[str, list[Run]]
    large: dict[str, list[Run]]
    large_db: Path


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runs]:
    root = tmp_path_factory.mktemp("plans")
    catalog = catalog_file(root)
    directories = {name: root / name for name in ("template", "small", "large")}
    for directory in directories.values():
        directory.mkdir()
    with pytest.MonkeyPatch.context() as patch:
        for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):  # the stand-in is on loopback
            patch.delenv(name, raising=False)
        run_scenario(directories["template"], catalog)
        template = directories["template"] / "ladder.db"
        with sqlite3.connect(template) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # everything in the file, for ATTACH
        # The large history is written on the other core while the small one's scenario runs (sqlite3 lets go of the GIL).
        with ThreadPoolExecutor(1) as pool:
            large = pool.submit(build_history, template, directories["large"] / "ladder.db", LARGE)
            assert build_history(template, directories["small"] / "ladder.db", SMALL) >= SMALL
            small = by_shape(run_scenario(directories["small"], catalog))
            assert large.result() >= LARGE
        yield Runs(small, by_shape(run_scenario(directories["large"], catalog)), directories["large"] / "ladder.db")


def plan(conn: sqlite3.Connection, sql: str) -> list[str]:
    return [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql)]


def aliases(sql: str) -> dict[str, str]:
    """Each name a table goes by in the statement (`outbox o` -> o: outbox)."""
    found = {}
    for table, alias in re.findall(r"\b(?:FROM|JOIN|UPDATE|INTO)\s+(\w+)(?:\s+(?:AS\s+)?(\w+))?", sql, re.I):
        found[table] = table
        if alias and alias.upper() not in {"WHERE", "SET", "JOIN", "ON", "ORDER", "GROUP", "LIMIT", "VALUES", "USING", "LEFT", "INNER"}:
            found[alias] = table
    return found


def unbounded_scans(sql: str, steps: list[str]) -> list[str]:
    names = aliases(sql)
    bad = []
    for step in steps:
        scan = re.match(r"SCAN (\w+)(?: USING (?:COVERING )?INDEX (\w+))?", step)
        if scan is None or scan.group(1) == "CONSTANT":
            continue
        table, index = names.get(scan.group(1), scan.group(1)), scan.group(2)
        if table in SMALL_TABLES or index in BOUNDED_INDEXES:
            continue
        bad.append(step)
    return bad


# -- the checks -------------------------------------------------------------------------------------------------

def test_the_scenario_reads_and_writes_every_table_that_grows_with_history(runs: Runs) -> None:
    verbs = {shape.split()[0].upper() for shape in runs.large}
    assert {"SELECT", "INSERT", "UPDATE"} <= verbs
    touched = " ".join(runs.large)
    for table in ("incidents", "timeline", "pages", "outbox", "tracks", "rule_timers", "slack_users", "leases", "followups",
                  "incident_roles"):
        assert re.search(rf"\b{table}\b", touched), f"the scenario ran nothing on {table}"


def test_no_statement_a_request_or_a_tick_runs_scans_a_table_that_grows_with_history(runs: Runs) -> None:
    conn = sqlite3.connect(f"file:{runs.large_db}?mode=ro", uri=True)
    try:
        problems = []
        for statement in sorted(set(runs.small) | set(runs.large)):
            sql = (runs.large.get(statement) or runs.small[statement])[0].sql
            steps = plan(conn, sql)
            if bad := unbounded_scans(sql, steps):
                problems.append(f"{statement}\n  scans: {bad}\n  plan:\n    " + "\n    ".join(steps))
    finally:
        conn.close()
    assert not problems, f"{len(problems)} statements scan history:\n\n" + "\n\n".join(problems)


def test_no_statement_visits_more_rows_with_ten_times_the_history(runs: Runs) -> None:
    conn = sqlite3.connect(f"file:{runs.large_db}?mode=ro", uri=True)
    try:
        problems = []
        for statement in sorted(set(runs.small) & set(runs.large)):
            small = max(r.steps for r in runs.small[statement])
            worst = max(runs.large[statement], key=lambda r: r.steps)
            if worst.steps > SLOPE_ALLOWANCE * small + SLOPE_STEPS:
                problems.append(f"{statement}\n  VM steps: {small} at {SMALL} incidents, {worst.steps} at {LARGE}\n  plan:\n    "
                                + "\n    ".join(plan(conn, worst.sql)))
    finally:
        conn.close()
    missing = set(runs.small) ^ set(runs.large)
    assert not problems, f"{len(problems)} statements cost more with more history:\n\n" + "\n\n".join(problems)
    assert len(missing) <= len(runs.large) // 10, f"the two runs diverged: {sorted(missing)}"


def test_a_tick_finds_due_digests_by_their_index(tmp_path: Path) -> None:
    """The digest's statements of a tick (the catalog's plan read once; then the due ones, queued) search, never scan."""
    from datetime import datetime, timedelta, timezone

    from app.catalog import load_catalog
    from app.worker import tick
    from tests.support import TESTS

    catalog = load_catalog(TESTS / "digest_catalog.yaml")
    now = datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)
    with recording() as recorder:
        store = Store(tmp_path / "ladder.db")
        try:
            tick(store, catalog, now)  # plans the digest
            recorder.reset()
            for moment in (now + timedelta(minutes=1), now + timedelta(weeks=1)):  # a quiet tick; the digest due
                tick(store, catalog, moment)
            runs = recorder.done()
            assert store.conn.execute("SELECT count(*) FROM outbox WHERE kind = 'digest'").fetchone()[0] == 1
            statements = {shape(r.sql): r.sql for r in runs if not NOT_QUERIES.match(r.sql) and "digests" in r.sql}
            assert any("due_at <= ?" in s and "LIMIT" in s for s in statements), statements
            for sql in statements.values():
                steps = plan(store.conn, sql)
                assert not [step for step in steps if step.startswith("SCAN") and step != "SCAN CONSTANT ROW"], (sql, steps)
        finally:
            store.close()
