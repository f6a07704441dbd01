"""What the tests share: paths, people, the app's clock, Ladder served over HTTP, and the declare helpers.

Test modules import helpers from here, never from each other or from `conftest.py` (which holds
only fixtures). The Slack side lives in its own modules: `slack_standin.py` (the Web API),
`slack_driver.py` (signed requests the way Slack sends them), `socket_mode_standin.py` and
`tcp_switch.py`.

One clock. Wherever a test moves the app's time, freezegun freezes it (`frozen_clock()`, used by the
`clock` fixture) and the test moves it with `clock.advance(...)`; Runtime keeps its default clock,
`app.worker.utcnow`. Everything on the Slack side and the HTTP plumbing under it (`REAL_TIME`) keeps
real time: request signatures, trigger expiry, timeouts and rate windows are measured on the wall.
Tests that run the bot as a child process cannot share a frozen clock and stay on real time.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable, Iterator, TypeVar

from freezegun import freeze_time

from app.config import load_settings
from app.runtime import Runtime
from app.slack.server import http_server, run_http_server, stop_http_server
from app.worker import utcnow
from tests.slack_driver import SIGNING_SECRET, SlackDriver
from tests.slack_standin import BOT_TOKEN, SlackStandIn

T = TypeVar("T")

# -- paths -------------------------------------------------------------------------------------------
ROOT = Path(__file__).resolve().parent.parent
TESTS = Path(__file__).resolve().parent
EXAMPLE_CATALOG = ROOT / "manifests" / "catalog.yaml"
TEST_CATALOG = TESTS / "catalog.yaml"
ENGINE_CATALOG = TESTS / "engine_catalog.yaml"
RULES_CATALOG = TESTS / "rules_catalog.yaml"

# -- people and time ----------------------------------------------------------------------------------
# A Monday in tests/catalog.yaml: alice is on call for payments-primary.
START = datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)

PEOPLE = ["alice", "bob", "carol", "dana", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory", "oscar", "sam"]

# Infrastructure keeps real time (timeouts, signatures, trigger expiry); only the app's clock is frozen.
REAL_TIME = ["tests.slack_standin", "tests.slack_driver", "tests.socket_mode_standin", "slack_sdk", "slack_bolt", "waitress",
             "psycopg", "psycopg_pool"]


class Clock:
    """The app's clock in scenario tests: freezegun's frozen time, moved by the test, never by the wall.

    `clock()` is what the app reads now (`app.worker.utcnow` under the freeze); `clock.advance(minutes=5)`
    moves it forward; `clock.move_to("2026-11-28 03:00:00")` jumps to a given UTC time.
    """

    def __init__(self, frozen) -> None:
        self.frozen = frozen  # freezegun's FrozenDateTimeFactory

    def __call__(self) -> datetime:
        return utcnow()

    def advance(self, **delta: float) -> datetime:
        self.frozen.tick(timedelta(**delta))
        return utcnow()

    def move_to(self, when: datetime | str) -> datetime:
        self.frozen.move_to(when)
        return utcnow()


@contextmanager
def frozen_clock(start: datetime = START) -> Iterator[Clock]:
    """Freeze the app's time at `start` (infrastructure in REAL_TIME keeps real time) for as long as this lasts."""
    with freeze_time(start, ignore=REAL_TIME) as frozen:
        yield Clock(frozen)


# -- real time ---------------------------------------------------------------------------------------------
def until(predicate: Callable[[], T], timeout: float, what: str, details: Callable[[], str] = lambda: "") -> T:
    """Poll what a real process or server does (no frozen clock moves a child process or a database server) until
    `predicate` returns something true, and return it; on timeout, fail naming `what`, with `details()` (a log, say)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}\n{details()}".rstrip())


# -- sockets --------------------------------------------------------------------------------------------
def free_port() -> int:
    """A TCP port nothing listens on right now, for a server the test starts itself."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


# -- Ladder against the stand-in ------------------------------------------------------------------------
# A fresh PostgreSQL database's URL while a test runs on PostgreSQL (the `on_postgres` fixture sets it): every
# Ladder the test starts uses it instead of its SQLite file.
DATABASE_URL: str | None = None


def ladder_settings(standin: SlackStandIn, db: Path, catalog: Path = TEST_CATALOG, **extra: str):
    database = {"DATABASE_URL": DATABASE_URL} if DATABASE_URL else {"DATABASE_PATH": str(db)}
    env = {
        "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_API_URL": standin.api_url,
        **database, "CATALOG_PATH": str(catalog), **extra,
    }
    return load_settings(env, env_file=None)


def serve(runtime: Runtime) -> tuple[str, Callable[[], None]]:
    server = http_server(runtime, host="127.0.0.1", port=0, asyncore_loop_timeout=0.05)
    thread = threading.Thread(target=run_http_server, args=(server,), daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.effective_port}/slack/events"

    def stop() -> None:
        stop_http_server(server)
        thread.join(5)
        assert not thread.is_alive(), "the HTTP server did not stop"

    return url, stop


@dataclass
class Ladder:
    runtime: Runtime
    driver: SlackDriver
    slack: SlackStandIn
    clock: Clock
    url: str

    def deliver(self):
        """Send everything due now: what the worker loop does once a second."""
        return self.runtime.worker.drain(self.clock())

    def user(self, name: str) -> str:
        return self.slack.user_by_email(f"{name}@example.com")


class Engine(Ladder):
    """A Ladder whose test steps the worker itself: move the frozen clock, then tick + deliver."""

    def at(self, **delta: float) -> None:
        """Move the app's clock forward and run one worker step: tick + deliver."""
        self.clock.advance(**delta)
        self.deliver()

    def dms(self, name: str) -> list[dict]:
        dm = self.slack.dm_with(self.user(name))
        return dm["messages"] if dm else []

    def timeline(self, incident_id: int) -> list[dict]:
        return self.runtime.store.timeline(incident_id)

    def channel_texts(self) -> list[str]:
        return [m["text"] for m in self.slack.messages_in(self.slack.incident_channels()[0]["id"])]


def start_ladder(slack: SlackStandIn, tmp_path: Path, clock: Clock, catalog: Path = TEST_CATALOG, *,
                 kind: type[Ladder] = Ladder, **settings: str) -> tuple[Ladder, Callable[[], None]]:
    """Ladder on the frozen clock (Runtime's default clock), served over HTTP; returns it and its `close`."""
    slack.wall = lambda: clock().timestamp()  # Slack's epoch seconds (channel `created`) follow the app's clock
    runtime = Runtime(ladder_settings(slack, tmp_path / "ladder.db", catalog, **settings))
    url, stop = serve(runtime)
    ladder = kind(runtime, SlackDriver(url, slack), slack, clock, url)

    def close() -> None:
        stop()
        runtime.close()

    return ladder, close


def start_engine(slack: SlackStandIn, tmp_path: Path, clock: Clock, catalog: Path = ENGINE_CATALOG,
                 **settings: str) -> tuple[Engine, Callable[[], None]]:
    return start_ladder(slack, tmp_path, clock, catalog, kind=Engine, **settings)  # type: ignore[return-value]


# -- declaring and reading what Slack got ------------------------------------------------------------------
def declare(ladder: Ladder, text: str = "bank transfers failing", user: str = "sam", **inputs):
    opened = len(ladder.slack.ok_calls_to("views.open"))
    reply = ladder.driver.slash(text, ladder.user(user))
    assert reply.status == 200, reply.body
    view = ladder.driver.opened_view("declare_incident", after=opened)  # this declaration's modal, not an earlier one
    reply = ladder.driver.submit(view, ladder.user(user), inputs)
    assert reply.status == 200, reply.body
    incident = ladder.slack.wait_for(lambda: ladder.runtime.store.incident_by_view(view["id"]))
    return incident, view, reply


def summary_of(ladder: Ladder, incident_number: int = 1) -> dict:
    """The pinned summary in the n-th incident channel Slack got: the message with a header, not the first one (under
    load a rule's nudge or a failure notice can be posted before the summary)."""
    channel = ladder.slack.incident_channels()[incident_number - 1]
    return next(m for m in ladder.slack.messages_in(channel["id"])
                if any(b.get("type") == "header" for b in m.get("blocks") or []))


def block_text(message: dict) -> str:
    return json.dumps(message["blocks"], ensure_ascii=False)


def mrkdwn_strings(message: dict) -> str:
    """Everything in a message that Slack parses for mentions and links: `text` and mrkdwn objects."""
    found = [message.get("text", "")]

    def walk(node) -> None:
        if isinstance(node, dict):
            if node.get("type") == "mrkdwn":
                found.append(node.get("text", ""))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(message.get("blocks"))
    return "\n".join(found)


# -- the same scenarios on PostgreSQL ------------------------------------------------------------------------
def rerun_here(module: str, namespace: dict, except_for: dict[str, str] | None = None) -> None:
    """Collect the tests and fixtures of `module` again in the calling module (tests/test_on_postgresql_*.py), which
    runs them on PostgreSQL; `except_for` maps a test left out to why (it measures something only SQLite has)."""
    import importlib

    source = importlib.import_module(module)
    namespace.update({name: value for name, value in vars(source).items()
                      if not name.startswith("__") and name not in (except_for or {})})
