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
