"""Fixtures: the Slack stand-in, the app's frozen clock, and Ladder itself served over real HTTP against it.

Only fixtures live here; the helpers they use (and tests import) are in `tests/support.py`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where a fixture runs: the pure unit tests in tests/unit must not pay for the stand-ins
    from tests.slack_standin import SlackStandIn
    from tests.postgres import PostgresServer
    from tests.support import Clock, Ladder


@pytest.fixture(autouse=True)
def _no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    # slack_sdk honours HTTP(S)_PROXY and ignores NO_PROXY; the stand-in is on loopback.
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    from tests.slack_standin import SlackStandIn
    from tests.support import PEOPLE

    standin = SlackStandIn().start()
    for name in PEOPLE:
        standin.add_user(name, f"{name}@example.com")
    standin.add_channel("general")
    standin.add_channel("team-payments")
    standin.add_channel("team-identity")
    standin.add_channel("team-platform")
    yield standin
    standin.stop()


@pytest.fixture
def clock() -> Iterator[Clock]:
    """The app's time, frozen at START for the whole test (freezegun; the Slack side keeps real time).

    `clock()` is now, `clock.advance(minutes=5)` moves it. Runtime needs no `clock=`: its default
    (`app.worker.utcnow`) reads the frozen time.
    """
    from tests.support import frozen_clock

    with frozen_clock() as frozen:
        yield frozen


@pytest.fixture
def ladder_env() -> dict[str, str]:
    """Extra settings for the `ladder` fixture; a test module overrides this fixture to change them."""
    return {}


@pytest.fixture
def ladder(slack: SlackStandIn, tmp_path: Path, clock: Clock, ladder_env: dict[str, str]) -> Iterator[Ladder]:
    from tests.support import start_ladder

    ladder, close = start_ladder(slack, tmp_path, clock, **ladder_env)
    yield ladder
    close()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A real PostgreSQL server (tests/postgres.py), started on first use; each xdist worker has its own.

    It fails, never skips, when no server can be had: CI must not go green without running the PostgreSQL tests.
    """
    from tests.postgres import PostgresUnavailable, start_server

    try:
        server, reason = start_server(), ""
    except PostgresUnavailable as error:
        server, reason = None, str(error)
    if server is None:  # outside the except block, so the report shows the reason alone
        pytest.fail(f"no PostgreSQL server for the tests: {reason}", pytrace=False)
    yield server
    server.close()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A fresh, empty database of its own for each test, as a `postgresql://user:password@127.0.0.1:port/db` URL."""
    import psycopg

    postgres_server.start()  # an earlier test may have stopped or killed the shared server and failed before restarting
    url = postgres_server.new_database()
    yield url
    try:
        postgres_server.drop_database(url)
    except psycopg.OperationalError:
        pass  # the test left the server down; the next test restarts it, and close() deletes everything


@pytest.fixture
def on_postgres(postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Every Ladder this test starts (tests/support.py `ladder_settings`) uses a fresh PostgreSQL database instead of a
    SQLite file: the tests/test_on_postgresql_*.py modules re-run scenario modules this way, autouse."""
    from tests import support

    monkeypatch.setattr(support, "DATABASE_URL", postgres_url)
    yield postgres_url
