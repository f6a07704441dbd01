"""Years of incidents, built through Ladder's own use cases: the database a team has after using it.

`build(n)` plays N incidents over the year before END, or over as many years as it takes to keep
to 10,000 a year (100k: the ten years before END; at 100k a year the incidents open at once, not
the history's size, set the build's cost: 4x as long per incident), in time order and
overlapping as they would:
each is declared (`incidents.declare`), its outbox delivered by the real worker (`Worker.drain`:
tick + `SlackDelivery`), acknowledged by whoever was paged (some only after the ladder escalated),
given a lead, messages, status updates, severity changes, additive escalations with their own
acknowledgements, Still on it, nudges fired by the rules and snoozed or dismissed, and resolved
after 20 minutes to 4 hours. The last `open_count` incidents (declared in the final 8 hours) stay
open in whatever state they reached. Every timestamp is an explicit `now` (no frozen clock); a
tick runs whenever a ladder or rule timer falls due (within a minute), so they fire on time.

Delivery goes to `InProcessSlack`, a WebClient whose transport answers in-process like Slack
would (channel IDs, message timestamps, user IDs from e-mails) without keeping what was posted:
the whole of Ladder's delivery path runs (rendering, `delivered.*` recording sent rows, DM
timestamps, the summary's ts, channel IDs), only the HTTP hop is skipped.

Built databases are cached under bench/.cache/ (git-ignored), keyed by size, open count, the
catalog's digest and HISTORY_VERSION; `cached(n)` builds on first use. The schema version it was
built at is recorded beside it: a newer Ladder opening a copy migrates it in place, as it would a
team's real database (an index added by a migration is built then, on the copy).

    .venv/bin/python -m bench.history 1000 10000 [100000] [--open 30] [--rebuild]
"""

from __future__ import annotations

import argparse
import hashlib
import heapq
import itertools
import json
import logging
import math
import random
import shutil
import sys
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable
from urllib.parse import parse_qsl

from slack_sdk import WebClient
from slack_sdk.web.file_upload_v2_result import FileUploadV2Result

from app import additive, incidents, nudges, roles
from app.catalog import Catalog, load_catalog
from app.slack.delivery import SlackDelivery
from app.delivered import fail_orphans
from app.store import Store, parse_iso
from app.store.schema import SCHEMA_VERSION
from app.worker import Worker, tick
from bench.catalogs import BASE, digest

CACHE = Path(__file__).resolve().parent / ".cache"
END = datetime(2026, 11, 23, 0, 0, tzinfo=timezone.utc)  # the history ends at this instant
YEAR = timedelta(days=365)
PER_YEAR_MAX = 10_000  # a larger history spans more years, at this rate (see the docstring)
OPEN_WINDOW = timedelta(hours=8)  # the incidents left open were declared in these last hours
TICK = timedelta(seconds=30)
HISTORY_VERSION = 2  # raise when what `build` plays changes: cached histories built by an older one are not reused
PEOPLE = ["alice", "bob", "carol", "dana", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory", "oscar", "sam", "quinn"]
DECLARERS = ["U0SAM0001", "U0OSCAR01", "U0ERIN001", "U0IVAN001"]

log = logging.getLogger(__name__)


def user_id_for(email: str) -> str:
    """The Slack user ID InProcessSlack gives an e-mail (stable: the same person is the same user in every build)."""
    name = email.split("@")[0].upper()
    return ("U" + name + "0" * 9)[:9] if len(name) < 8 else "U" + hashlib.sha1(email.encode()).hexdigest()[:8].upper()


class InProcessSlack(WebClient):
    """Slack's Web API answered in-process: every call Ladder's delivery makes succeeds, as Slack would answer it."""

    def __init__(self) -> None:
        super().__init__(token="xoxb-history", base_url="http://in-process.invalid/api/")
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.calls: dict[str, int] = {}

    def _perform_urllib_http_request(self, *, url: str, args: dict[str, Any]) -> dict[str, Any]:
        method = url.rsplit("/", 1)[-1]
        params: dict[str, Any] = {}
        if args.get("json"):
            params.update(args["json"])
        data = args.get("data")
        if isinstance(data, (bytes, str)):
            params.update(parse_qsl(data.decode() if isinstance(data, bytes) else data))
        elif isinstance(data, dict):
            params.update(data)
        params.update(args.get("params") or {})
        with self._lock:
            self.calls[method] = self.calls.get(method, 0) + 1
            serial = next(self._ids)
        body = {"ok": True, **self._answer(method, params, serial)}
        return {"status": 200, "headers": {"content-type": "application/json"}, "body": json.dumps(body)}

    def _upload_file(self, *, url: str, data: bytes, **_: Any) -> FileUploadV2Result:
        """Step two of a file upload (the bytes, to the URL step one gave): accepted, as Slack's file server would."""
        with self._lock:
            self.calls["upload"] = self.calls.get("upload", 0) + 1
        return FileUploadV2Result(status=200, body="OK")

    @staticmethod
    def _answer(method: str, params: dict[str, Any], serial: int, base: str = "http://in-process.invalid") -> dict[str, Any]:
        """Slack's answer to `method`; `base` is where step two of a file upload is sent (the answering server)."""
        ts = f"{1_700_000_000 + serial}.{serial % 1_000_000:06d}"
        if method == "files.getUploadURLExternal":
            return {"upload_url": f"{base}/upload/F{serial:09d}", "file_id": f"F{serial:09d}"}
        if method == "files.completeUploadExternal":
            return {"files": [{"id": f["id"], "title": f.get("title", "")} for f in json.loads(params.get("files") or "[]")]
                    if isinstance(params.get("files"), str) else params.get("files") or []}
        if method == "views.publish":
            return {"view": {"id": f"V{serial:09d}", "hash": f"1.{serial}", "type": "home"}}
        if method == "users.lookupByEmail":
            return {"user": {"id": user_id_for(str(params.get("email", ""))), "profile": {"email": params.get("email")}}}
        if method == "conversations.create":
            return {"channel": {"id": f"C{serial:09d}", "name": params.get("name"), "created": 0}}
        if method == "chat.postMessage":
            channel = str(params.get("channel", ""))
            if channel.startswith(("U", "W")):
                channel = "D" + channel[1:]
            elif channel.startswith("#"):
                channel = "C" + hashlib.sha1(channel.encode()).hexdigest()[:9].upper()
            return {"channel": channel, "ts": ts, "message": {"ts": ts}}
        if method == "chat.update":
            return {"channel": params.get("channel"), "ts": params.get("ts")}
        if method == "usergroups.users.list":
            return {"users": []}
        if method == "auth.test":
            return {"user_id": "UBOT00001", "team_id": "T0LADDER1", "bot_id": "BBOT00001"}
        if method == "conversations.open":
            return {"channel": {"id": "D" + str(params.get("users", ""))[1:]}}
        if method == "conversations.history":
            return {"messages": [], "has_more": False}
        if method == "conversations.list":
            return {"channels": [], "response_metadata": {"next_cursor": ""}}
        return {}


class Ladder:
    """Ladder's store, catalog, real delivery and worker, on a clock the caller moves (no HTTP, no Bolt)."""

    def __init__(self, db: Path, catalog: Catalog, threads: int = 4, client: WebClient | None = None) -> None:
        self.store = Store(db)
        self.catalog = catalog
        self.slack = client or InProcessSlack()  # a benchmark may deliver to its Slack stand-in instead
        self.delivery = SlackDelivery(self.store, self.slack, lambda: self.catalog, 120, clock=None)
        self.worker = Worker(self.store, self.delivery, threads=threads, holder="history-builder",
                             due_work=lambda now: tick(self.store, self.catalog, now))

    def drain(self, now: datetime) -> int:
        """What `Worker.drain` does (the worker loop's step: hold the lease, tick, claim and deliver every due row, rounds
        until none is left), with the rows delivered in this thread: the same calls, without a thread pool's hand-offs."""
        if not self.worker.hold_lease(now):
            raise RuntimeError("the history builder lost the worker lease")
        self.worker.tick(now)
        sent = 0
        for _ in range(100):
            fail_orphans(self.store, now)
            rows = self.store.claim_due(now, self.worker.holder, 100)
            if not rows:
                break
            for row in rows:
                self.delivery.deliver(row, now)
            sent += len(rows)
        return sent

    def next_due(self) -> datetime | None:
        """The earliest ladder or rule timer (what the worker's next useful tick is)."""
        row = self.store.conn.execute(
            "SELECT MIN(due) FROM (SELECT MIN(due_at) AS due FROM tracks WHERE due_at IS NOT NULL "
            "UNION ALL SELECT MIN(due_at) FROM rule_timers WHERE due_at IS NOT NULL)").fetchone()
        return parse_iso(row[0]) if row and row[0] else None

    def close(self) -> None:
        self.worker.stop()
        self.store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self.store.close()

    # -- reads the simulated people make (what they see in Slack) ---------------------------------------
    def paged_user(self, incident_id: int, track: str = "main") -> str | None:
        """Who was paged last on this track (the person who would click Acknowledge in their DM)."""
        row = self.store.conn.execute(
            "SELECT user_id FROM pages WHERE incident_id = ? AND track = ? AND user_id IS NOT NULL AND level >= 0 "
            "ORDER BY id DESC LIMIT 1", (incident_id, track)).fetchone()
        return row["user_id"] if row else None


def declare(ladder: Ladder, now: datetime, rng: random.Random, number: int, *, services: list[str] | None = None,
            severity: str | None = None) -> dict[str, Any]:
    """One declaration through the use case, as the form would send it; returns the incident."""
    catalog = ladder.catalog
    service_id = rng.choice(services or list(catalog.services)[:12])
    service = catalog.services[service_id]
    severity = severity or rng.choices(["sev1", "sev2", "sev3"], weights=[1, 4, 5])[0]
    request = incidents.DeclareRequest(
        title=f"{service.name}: {rng.choice(['errors', 'timeouts', 'slow', 'down', 'failing for some customers'])} #{number}",
        service_id=service_id, severity_id=severity, declared_by=rng.choice(DECLARERS),
        description=rng.choice(["", "Alerts firing since a few minutes ago.", "Customers report failures in support."]),
        private=rng.random() < 0.05, declared_in="C0GENERAL1", view_id=f"Vhist{number:09d}")
    outcome = incidents.declare(ladder.store, catalog, request, now)
    assert outcome.incident is not None
    return outcome.incident


def declare_open(ladder: Ladder, count: int, now: datetime, seed: int = 7, first_number: int = 10_000_000,
                 severity: str = "sev3", services: list[str] | None = None) -> list[int]:
    """`count` fresh triggered incidents declared at `now`, their outbox delivered: for benchmarks to click on."""
    rng = random.Random(seed)
    ids = []
    for n in range(count):
        ids.append(declare(ladder, now, rng, first_number + n, severity=severity, services=services)["id"])
        if n % 50 == 49:
            ladder.drain(now)
    ladder.drain(now)
    return ids


# -- one incident's life -----------------------------------------------------------------------------------------

@dataclass
class Life:
    """An incident's plan, decided at declaration; its steps run when their time comes."""

    number: int
    incident_id: int
    rng: random.Random
    stays_open: bool


def plan(life: Life, t0: datetime) -> list[tuple[datetime, str]]:
    rng = life.rng
    ack = t0 + timedelta(seconds=rng.uniform(60, 240) if rng.random() < 0.7 else rng.uniform(330, 600))
    steps = [(ack, "acknowledge")]
    if rng.random() < 0.4:
        steps.append((ack + timedelta(seconds=rng.uniform(30, 300)), "lead"))
    for _ in range(rng.choice([0, 0, 1, 2, 3])):
        steps.append((t0 + timedelta(seconds=rng.uniform(120, 3600)), "message"))
    if rng.random() < 0.4:
        steps.append((t0 + timedelta(minutes=rng.uniform(15, 45)), "update"))
    if rng.random() < 0.2:
        steps.append((t0 + timedelta(minutes=rng.uniform(8, 20)), "severity"))
    if rng.random() < 0.15:
        at = t0 + timedelta(minutes=rng.uniform(10, 25))
        steps += [(at, "escalate"), (at + timedelta(minutes=rng.uniform(1, 6)), "acknowledge_escalation")]
    steps.append((ack + timedelta(minutes=25), "still_on_it"))
    steps.append((t0 + timedelta(minutes=50), "nudges"))
    if not life.stays_open:
        steps.append((t0 + timedelta(minutes=math.exp(rng.uniform(math.log(20), math.log(240)))), "resolve"))
    return steps


def run_step(ladder: Ladder, life: Life, step: str, now: datetime) -> None:
    store, catalog, rng, incident_id = ladder.store, ladder.catalog, life.rng, life.incident_id
    incident = store.incident(incident_id)
    if incident is None or incident["status"] == "resolved":
        return
    if step == "acknowledge":
        user = ladder.paged_user(incident_id) or "U0ALICE01"
        incidents.acknowledge(store, incident_id, user, now)
    elif step == "lead":
        user = incident["acknowledged_by"] or "U0ALICE01"
        roles.assign_role(store, ladder.catalog, incident_id, roles.LEAD, user, user, now)
    elif step == "message":
        if incident["channel_id"]:
            nudges.record_human_message(store, incident["channel_id"], rng.choice(["U0ALICE01", "U0BOB0001", "U0DANA001"]), now)
    elif step == "update":
        nudges.post_update(store, incident_id, incident["lead"] or incident["acknowledged_by"] or "U0SAM0001",
                           "Mitigation in progress; error rates are coming down.", now)
    elif step == "severity":
        choice = rng.choice([s for s in ("sev1", "sev2", "sev3") if s != incident["severity"]])
        incidents.change_severity(store, catalog, incident_id, choice, incident["acknowledged_by"] or "U0SAM0001", now)
    elif step == "escalate":
        others = [t for t in catalog.teams if t != incident["team_id"]]
        to = "next" if rng.random() < 0.3 else f"team:{rng.choice(others)}"
        additive.escalate(store, catalog, incident_id,
                          additive.EscalateRequest(to, incident["acknowledged_by"] or "U0SAM0001", "need more hands"), now)
    elif step == "acknowledge_escalation":
        row = store.conn.execute("SELECT track FROM tracks WHERE incident_id = ? AND track != 'main' ORDER BY id DESC LIMIT 1",
                                 (incident_id,)).fetchone()
        user = ladder.paged_user(incident_id, row["track"]) if row else None
        if user:
            incidents.acknowledge(store, incident_id, user, now)
    elif step == "still_on_it":
        track = store.track(incident_id)
        if track is not None and track["state"] in ("acked", "rearming"):
            incidents.still_on_it(store, incident_id, incident["acknowledged_by"] or "U0ALICE01", now)
    elif step == "nudges":
        for timer in store.rule_timers(incident_id):
            if timer["fire_count"] and not timer["dismissed_by"]:
                roll = rng.random()
                if roll < 0.3:
                    nudges.dismiss(store, incident_id, timer["rule_id"], "U0ALICE01", now)
                elif roll < 0.5:
                    nudges.snooze(store, incident_id, timer["rule_id"], 15, "U0ALICE01", now)
    elif step == "resolve":
        incidents.resolve(store, incident_id, incident["acknowledged_by"] or "U0SAM0001",
                          rng.choice(["", "Rolled back the deploy.", "Upstream provider recovered."]), now)


def build(count: int, db: Path, open_count: int = 30, seed: int = 13, progress: Callable[[str], None] = print) -> dict[str, Any]:
    """Play `count` incidents over the year(s) before END into `db` (which must not exist); returns what was built."""
    started = time.monotonic()
    catalog = load_catalog(BASE)
    ladder = Ladder(db, catalog)
    master = random.Random(seed)
    closed = count - open_count
    span = YEAR * max(1, math.ceil(count / PER_YEAR_MAX))
    starts = sorted(END - span + (span - OPEN_WINDOW) * master.random() for _ in range(closed))
    starts += sorted(END - OPEN_WINDOW + (OPEN_WINDOW - timedelta(minutes=10)) * master.random() for _ in range(open_count))
    queue: list[tuple[datetime, int, int, str]] = []  # (when, order, incident number, step)
    order = itertools.count()
    lives: dict[int, Life] = {}
    next_declare = 0
    open_now: set[int] = set()
    try:
        while next_declare < count or queue:
            declare_at = starts[next_declare] if next_declare < count else None
            step_at = queue[0][0] if queue else None
            at = min(t for t in (declare_at, step_at) if t is not None)
            if at > END:
                break
            due = ladder.next_due() if open_now else None
            if due is not None and due + TICK < at:
                # The worker loop ticks every second; between two steps it only matters when a timer is due (within TICK).
                ladder.drain(due + TICK)
                continue
            if declare_at is not None and declare_at == at:
                number = next_declare + 1
                rng = random.Random(seed * 1_000_003 + number)
                incident = declare(ladder, at, rng, number)
                life = Life(number, incident["id"], rng, stays_open=next_declare >= closed)
                lives[number] = life
                open_now.add(number)
                for when, step in plan(life, at):
                    heapq.heappush(queue, (when, next(order), number, step))
                next_declare += 1
            else:
                _, _, number, step = heapq.heappop(queue)
                run_step(ladder, lives[number], step, at)
                if step == "resolve":
                    open_now.discard(number)
            ladder.drain(at)
            if next_declare % max(1, count // 20) == 0 and declare_at == at:
                progress(f"  {next_declare:,}/{count:,} incidents, {time.monotonic() - started:.0f} s")
        ladder.drain(END)
        figures = describe(ladder.store)
    finally:
        ladder.close()
    figures.update(incidents_requested=count, open_requested=open_count, built_with_schema=SCHEMA_VERSION, build_seconds=round(time.monotonic() - started, 1),
                   slack_calls=sum(ladder.slack.calls.values()))  # type: ignore[attr-defined]
    return figures


def describe(store: Store) -> dict[str, Any]:
    """Row counts by table and status: what the years of use left in the database."""
    conn = store.conn
    one = lambda sql: conn.execute(sql).fetchone()[0]  # noqa: E731
    return {
        "incidents": one("SELECT COUNT(*) FROM incidents"),
        "incidents_by_status": {r[0]: r[1] for r in conn.execute("SELECT status, COUNT(*) FROM incidents GROUP BY status")},
        "pages": one("SELECT COUNT(*) FROM pages"), "tracks": one("SELECT COUNT(*) FROM tracks"),
        "timeline": one("SELECT COUNT(*) FROM timeline"), "rule_timers": one("SELECT COUNT(*) FROM rule_timers"),
        "outbox_by_status": {r[0]: r[1] for r in conn.execute("SELECT status, COUNT(*) FROM outbox GROUP BY status")},
        "escalated_incidents": one("SELECT COUNT(DISTINCT incident_id) FROM tracks WHERE track != 'main' OR level > 0"),
    }


# -- the cache ---------------------------------------------------------------------------------------------------

def cache_key(count: int, open_count: int) -> str:
    return f"history-v{HISTORY_VERSION}-{count}-open{open_count}-catalog{digest()}"


def cached(count: int, open_count: int = 30, rebuild: bool = False, progress: Callable[[str], None] = print) -> Path:
    """The cached history database of `count` incidents, built first if missing (treat it as read-only: copy it)."""
    key = cache_key(count, open_count)
    path = CACHE / f"{key}.db"
    info = CACHE / f"{key}.json"
    if path.exists() and info.exists() and not rebuild:
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    building = CACHE / f"{key}.building.db"
    for stale in CACHE.glob(f"{key}.building.db*"):
        stale.unlink()
    progress(f"building a history of {count:,} incidents ({open_count} left open) into {path.name} ...")
    figures = build(count, building, open_count, progress=progress)
    building.rename(path)
    info.write_text(json.dumps(figures, indent=2))
    progress(f"built in {figures['build_seconds']} s: {json.dumps(figures)}")
    return path


def built_figures(count: int, open_count: int = 30) -> dict[str, Any]:
    info = CACHE / f"{cache_key(count, open_count)}.json"
    return json.loads(info.read_text()) if info.exists() else {}


def copy_of(count: int, destination: Path, open_count: int = 30) -> Path:
    """A private copy of the cached history (benchmarks write to it); builds the history first if needed."""
    source = cached(count, open_count)
    destination.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("-wal", "-shm"):
        Path(str(destination) + suffix).unlink(missing_ok=True)
    shutil.copyfile(source, destination)
    return destination


def add_people(standin: Any) -> None:
    """The bench catalog's people in a SlackStandIn, with the user IDs the cached histories know them by."""
    for name in PEOPLE:
        email = f"{name}@example.com"
        standin.add_user(name, email, user_id=user_id_for(email))
    for user_id in DECLARERS + ["U0ALICE01", "U0BOB0001", "U0DANA001"]:  # who declares and clicks in the histories
        standin.add_user(user_id.lower(), f"{user_id.lower()}@bench.invalid", user_id=user_id)
    for channel in ("team-payments", "team-identity", "team-platform", "incident-leadership"):
        standin.add_channel(channel)


def size(path: Path) -> float:
    """MiB on disk."""
    return path.stat().st_size / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sizes", type=int, nargs="*", default=[1000, 10_000])
    parser.add_argument("--open", type=int, default=30)
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args()
    logging.getLogger("app").setLevel(logging.ERROR)
    for count in args.sizes:
        path = cached(count, args.open, rebuild=args.rebuild)
        print(f"{count:,} incidents: {path} ({size(path):.1f} MiB)")
        print("  " + json.dumps(built_figures(count, args.open)))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
