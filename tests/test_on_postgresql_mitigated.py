"""tests/test_mitigated.py again, every Ladder on a real PostgreSQL server instead of a SQLite file (see `on_postgres`)."""

import pytest

from tests.test_mitigated import *  # noqa: F401,F403 - its tests and fixtures, collected again here


@pytest.fixture(autouse=True)
def _on_postgresql(on_postgres: str) -> str:
    return on_postgres
