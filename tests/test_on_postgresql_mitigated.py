"""tests/test_mitigated.py again, every Ladder on a real PostgreSQL server instead of a SQLite file (see `on_postgres`)."""

import pytest

from tests.support import rerun_here

rerun_here("tests.test_mitigated", globals(), except_for=None)


@pytest.fixture(autouse=True)
def _on_postgresql(on_postgres: str) -> str:
    return on_postgres
