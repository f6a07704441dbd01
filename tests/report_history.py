"""Six weeks of incidents played through Ladder's real use cases, and what the script knows about each of them.

`build(db)` declares 60 incidents on tests/report_catalog.yaml between Monday 5 October and Monday
16 November 2026 (both DST changes: Europe on 25 October, the US on 1 November), at every hour of
the day, and plays each one's scenario with the real use cases (`incidents.declare`, `acknowledge`,
`mitigate`, `resolve`, `additive.escalate`) on explicit instants; the ladders climb by the real
worker tick (`bench.history.Ladder.drain`, which also delivers the outbox through the real
`SlackDelivery` to an in-process Slack), run exactly when each timer falls due.

The script also writes down, from its own simple model of the three schedules (`on_call`), what each
incident should have done: who was paged when and for which team, each level's arrival and what
became of it, and the times to acknowledge, mitigate, resolve and first escalate. The report's tests
compute their expected figures from these `Scripted` records, never from the report's code.
"""

from __future__ import annotations

import heapq
import itertools
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable
from zoneinfo import ZoneInfo

from app import additive, incidents
from app.catalog import load_catalog
from bench.history import Ladder, user_id_for

CATALOG = Path(__file__).resolve().parent / "report_catalog.yaml"
SINCE = datetime(2026, 10, 5, tzinfo=timezone.utc)  # a Monday
UNTIL = SINCE + timedelta(weeks=6)
LONDON, NEW_YORK = ZoneInfo("Europe/London"), ZoneInfo("America/New_York")
TEAM_OF = {"transfers": "payments", "cards": "payments", "login": "identity"}
ZONE_OF = {"payments": LONDON, "identity": NEW_YORK}
POLICY_OF = {"payments": "payments", "identity": "identity"}
OTHER = {"payments": "identity", "identity": "payments"}
DECLARER = "U0DECLARE"
COUNT = 60
OPEN = {58, 59}  # never resolved
SCENARIOS = ["quick", "quick", "timeout", "other_team", "quick", "exhaust", "manual_next", "timeout"]


# -- the script's own model of who is on call (wall-clock arithmetic, independent of app.oncall) ------------------

def on_call(schedule: str, at: datetime) -> str | None:
    if schedule == "payments-primary":  # alice, bob; weekly, Mondays 09:00 London, from Monday 2026-01-05 09:00
        local = at.astimezone(LONDON).replace(tzinfo=None)
        return ["alice@example.com", "bob@example.com"][(local - datetime(2026, 1, 5, 9)).days // 7 % 2]
    if schedule == "payments-daytime":  # carol, weekdays 09:00-17:00 London
        local = at.astimezone(LONDON)
        return "carol@example.com" if local.weekday() < 5 and 9 <= local.hour < 17 else None
    if schedule == "identity-primary":  # erin, frank, grace; daily at 10:00 New York, from 2026-01-01 10:00
        local = at.astimezone(NEW_YORK).replace(tzinfo=None)
        return ["erin@example.com", "frank@example.com", "grace@example.com"][(local - datetime(2026, 1, 1, 10)).days % 3]
    raise KeyError(schedule)


def level_target(policy: str, level: int, at: datetime) -> str | None:
    """Who level `level` (0-based) of a policy reaches at `at` (None: nobody, the level is skipped)."""
    if policy == "payments":
        return [lambda: on_call("payments-primary", at), lambda: on_call("payments-daytime", at), lambda: "dana@example.com"][level]()
    return [lambda: on_call("identity-primary", at), lambda: "judy@example.com", lambda: "vera@example.com"][level]()


TIMEOUTS = {"payments": [300, 300, 600], "identity": [300, 600, 300]}
NOTIFY_ONLY = {("identity", 2)}


# -- what the script knows ------------------------------------------------------------------------------------

@dataclass
class Arrival:
    policy: str
    level: int  # 0-based
    paged: bool  # False: skipped
    acknowledged: bool = False
    timed_out: bool = False


@dataclass
class Scripted:
    number: int
    service: str
    team: str
    severity: str
    scenario: str
    declared: datetime
    ack_s: int | None = None
    mitigate_s: int | None = None
    resolve_s: int | None = None
    escalate_s: int | None = None
    pages: list[tuple[str, str, datetime]] = field(default_factory=list)  # (person, team, when): pages that count
    arrivals: list[Arrival] = field(default_factory=list)
    other_team_rung: tuple[str, int] | None = None  # acknowledged only by another team, at this (policy, level)


def _climb(s: Scripted, policy: str, team: str, start_level: int, at: datetime, *, until_ack: datetime | None,
           acks_at_level: int | None = None) -> tuple[datetime, str | None]:
    """The main ladder climbing by its timers from `start_level` at `at`; returns (when it stopped, who it reached last)."""
    level, now, last = start_level, at, None
    while level < 3:
        person = level_target(policy, level, now)
        if person is None:
            s.arrivals.append(Arrival(policy, level, paged=False))
            level += 1
            continue
        arrival = Arrival(policy, level, paged=True)
        s.arrivals.append(arrival)
        if (policy, level) not in NOTIFY_ONLY:
            s.pages.append((person, team, now))
            last = person
        if acks_at_level == level:
            arrival.acknowledged = True
            return now, person
        due = now + timedelta(seconds=TIMEOUTS[policy][level])
        if until_ack is not None and until_ack < due:
            return now, person
        arrival.timed_out = True
        now, level = due, level + 1
    return now, last


def plan(number: int) -> tuple[Scripted, list[tuple[datetime, str, dict]]]:
    """Incident `number`'s scenario: what the script expects, and the actions to play (when, what, arguments)."""
    rng = random.Random(number)
    service = ["transfers", "login", "cards"][number % 3]
    team = TEAM_OF[service]
    policy = POLICY_OF[team]
    declared = SINCE + timedelta(minutes=number * 1008 + rng.randint(0, 600), seconds=rng.randint(0, 59))
    scenario = SCENARIOS[number % len(SCENARIOS)]
    s = Scripted(number, service, team, rng.choice(["sev1", "sev2", "sev2", "sev3"]), scenario, declared)
    actions: list[tuple[datetime, str, dict]] = [(declared, "declare", {})]
    ack = lambda at, person: actions.append((at, "ack", {"user": user_id_for(person)}))  # noqa: E731
    if scenario == "quick":
        a = rng.randint(30, 280)
        _, person = _climb(s, policy, team, 0, declared, until_ack=declared + timedelta(seconds=a), acks_at_level=0)
        ack(declared + timedelta(seconds=a), person)
        s.ack_s = a
        if number % 4 == 0:
            s.mitigate_s = a + 600
            actions.append((declared + timedelta(seconds=s.mitigate_s), "mitigate", {"user": user_id_for(person)}))
    elif scenario == "timeout":
        level1 = level_target(policy, 0, declared)
        s.arrivals.append(Arrival(policy, 0, paged=True, timed_out=True))
        s.pages.append((level1, team, declared))
        at = declared + timedelta(seconds=300)
        s.escalate_s = 300
        level = 1
        while level_target(policy, level, at) is None:
            s.arrivals.append(Arrival(policy, level, paged=False))
            level += 1
        person = level_target(policy, level, at)
        b = rng.randint(20, TIMEOUTS[policy][level] - 20)
        s.arrivals.append(Arrival(policy, level, paged=True, acknowledged=True))
        s.pages.append((person, team, at))
        ack(at + timedelta(seconds=b), person)
        s.ack_s = 300 + b
    elif scenario == "other_team":
        e, c = rng.randint(60, 150), rng.randint(30, 120)
        level1 = level_target(policy, 0, declared)
        s.arrivals.append(Arrival(policy, 0, paged=True))
        s.pages.append((level1, team, declared))
        other = OTHER[team]
        at = declared + timedelta(seconds=e)
        helper = level_target(POLICY_OF[other], 0, at)
        s.arrivals.append(Arrival(POLICY_OF[other], 0, paged=True, acknowledged=True))
        s.pages.append((helper, other, at))
        s.escalate_s = e
        s.other_team_rung = (POLICY_OF[other], 0)
        actions.append((at, "escalate", {"to": f"team:{other}"}))
        ack(at + timedelta(seconds=c), helper)
        s.ack_s = e + c
    elif scenario == "exhaust":
        _climb(s, policy, team, 0, declared, until_ack=None)
        s.escalate_s = 300
        s.ack_s = s.mitigate_s = 1500
        last = "dana@example.com" if team == "payments" else "judy@example.com"
        actions.append((declared + timedelta(seconds=1500), "mitigate", {"user": user_id_for(last)}))
    elif scenario == "manual_next":
        a = rng.randint(30, 200)
        _, person = _climb(s, policy, team, 0, declared, until_ack=declared + timedelta(seconds=a), acks_at_level=0)
        ack(declared + timedelta(seconds=a), person)
        s.ack_s = a
        at = declared + timedelta(seconds=a + 60)
        s.escalate_s = a + 60
        actions.append((at, "escalate", {"to": "next", "by": user_id_for(person)}))
        level = 1
        while level_target(policy, level, at) is None:
            s.arrivals.append(Arrival(policy, level, paged=False))
            level += 1
        s.arrivals.append(Arrival(policy, level, paged=True))
        s.pages.append((level_target(policy, level, at), team, at))
    if number not in OPEN:
        s.resolve_s = rng.randint(40 * 60, 4 * 3600)
        actions.append((declared + timedelta(seconds=s.resolve_s), "resolve", {}))
    return s, actions


def build(db: Path) -> list[Scripted]:
    """Play the 60 incidents into `db` (which must not exist) and return what the script expects of each."""
    catalog = load_catalog(CATALOG)
    ladder = Ladder(db, catalog, threads=1)
    scripted: list[Scripted] = []
    queue: list[tuple[datetime, int, int, str, dict]] = []
    order = itertools.count()
    for number in range(COUNT):
        s, actions = plan(number)
        scripted.append(s)
        for at, what, args in actions:
            heapq.heappush(queue, (at, next(order), number, what, args))
    ids: dict[int, int] = {}
    store = ladder.store
    run: dict[str, Callable[[int, datetime, dict], object]] = {
        "ack": lambda n, at, a: incidents.acknowledge(store, ids[n], a["user"], at, catalog),
        "mitigate": lambda n, at, a: incidents.mitigate(store, ids[n], a["user"], at, catalog),
        "resolve": lambda n, at, a: incidents.resolve(store, ids[n], "U0RESOLVE", "", at),
        "escalate": lambda n, at, a: additive.escalate(store, catalog, ids[n],
                                                       additive.EscalateRequest(a["to"], a.get("by", DECLARER), "more hands"), at),
    }
    try:
        while queue:
            at, _, number, what, args = heapq.heappop(queue)
            while (due := ladder.next_due()) is not None and due <= at:
                ladder.drain(due)  # every ladder timer fires exactly when due, as the worker's tick would
            if what == "declare":
                s = scripted[number]
                request = incidents.DeclareRequest(title=f"{s.service} trouble #{number}", service_id=s.service, severity_id=s.severity,
                                                   declared_by=DECLARER, description="", private=False, declared_in="C0GENERAL1",
                                                   view_id=f"Vreport{number:04d}")
                outcome = incidents.declare(store, catalog, request, at)
                assert outcome.incident is not None
                ids[number] = outcome.incident["id"]
            else:
                outcome = run[what](number, at, args)
                assert getattr(outcome, "changed", True), (number, what, getattr(outcome, "message", ""))
            ladder.drain(at)
        while (due := ladder.next_due()) is not None:
            ladder.drain(due)
    finally:
        ladder.close()
    return scripted
