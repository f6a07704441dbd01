"""tests/test_engine.py again, every Ladder on a real PostgreSQL server instead of a SQLite file (see `on_postgres`)."""

import pytest

from tests.test_engine import *  # noqa: F401,F403 - its tests and fixtures, collected again here


@pytest.fixture(autouse=True)
def _on_postgresql(on_postgres: str) -> str:
    return on_postgres


# SQLite's own counter of rows written (`total_changes`) has no PostgreSQL twin; the quiet tick's single read is the same
# statement on both engines (app/store/db.py `anything_due`).
del test_a_tick_with_nothing_due_writes_nothing  # noqa: F821
