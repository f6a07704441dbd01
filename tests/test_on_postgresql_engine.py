"""tests/test_engine.py again, every Ladder on a real PostgreSQL server instead of a SQLite file (see `on_postgres`)."""

import pytest

from tests.support import rerun_here

rerun_here("tests.test_engine", globals(), except_for={
    "test_a_tick_with_nothing_due_writes_nothing": "SQLite's count of rows written (total_changes) has no PostgreSQL "
                                                   "twin; the quiet tick's one read is the same statement on both",
})


@pytest.fixture(autouse=True)
def _on_postgresql(on_postgres: str) -> str:
    return on_postgres
