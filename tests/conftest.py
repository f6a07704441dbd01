"""Fixtures: the Slack stand-in, and Ladder itself served over real HTTP against it."""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator

import pytest

from app.config import load_settings
from app.runtime import Runtime
from app.slack.server import http_server, stop_http_server
from tests.slack_driver import SIGNING_SECRET, SlackDriver
from tests.slack_standin import BOT_TOKEN, SlackStandIn

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_CATALOG = ROOT / "manifests" / "catalog.yaml"
TEST_CATALOG = Path(__file__).resolve().parent / "catalog.yaml"
# A Monday in tests/catalog.yaml: alice is on call for payments-primary.
START = datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)

PEOPLE = ["alice", "bob", "carol", "dana", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory", "oscar", "sam"]


@pytest.fixture(autouse=True)
def _no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    # slack_sdk honours HTTP(S)_PROXY and ignores NO_PROXY; the stand-in is on loopback.
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.delenv(name, raising=False)


def free_port() -> int:
    """A TCP port nothing listens on right now, for a server the test starts itself."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


class Clock:
    """The app's clock in scenario tests: moved by the test, never by the wall."""

    def __init__(self, start: datetime = START) -> None:
        self.now = start
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self.now

    def advance(self, **delta: float) -> datetime:
        with self._lock:
            self.now = self.now + timedelta(**delta)
            return self.now


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    standin = SlackStandIn().start()
    for name in PEOPLE:
        standin.add_user(name, f"{name}@example.com")
    standin.add_channel("general")
    standin.add_channel("team-payments")
    standin.add_channel("team-identity")
    standin.add_channel("team-platform")
    yield standin
    standin.stop()


def ladder_settings(standin: SlackStandIn, db: Path, catalog: Path = TEST_CATALOG, **extra: str):
    env = {
        "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_API_URL": standin.api_url,
        "DATABASE_PATH": str(db), "CATALOG_PATH": str(catalog), **extra,
    }
    return load_settings(env, env_file=None)


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


def serve(runtime: Runtime) -> tuple[str, callable]:
    server = http_server(runtime, host="127.0.0.1", port=0, asyncore_loop_timeout=0.05)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.effective_port}/slack/events"

    def stop() -> None:
        stop_http_server(server)
        thread.join(5)
        assert not thread.is_alive(), "the HTTP server did not stop"

    return url, stop


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def ladder_env() -> dict[str, str]:
    """Extra settings for the `ladder` fixture; a test module overrides this fixture to change them."""
    return {}


@pytest.fixture
def ladder(slack: SlackStandIn, tmp_path: Path, clock: Clock, ladder_env: dict[str, str]) -> Iterator[Ladder]:
    slack.wall = lambda: clock().timestamp()
    runtime = Runtime(ladder_settings(slack, tmp_path / "ladder.db", **ladder_env), clock=clock)
    url, stop = serve(runtime)
    yield Ladder(runtime, SlackDriver(url, slack), slack, clock, url)
    stop()
    runtime.close()
