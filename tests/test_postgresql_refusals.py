"""A DATABASE_URL PostgreSQL refuses is refused at once with PostgreSQL's own reason (a regression test).

Found in review of 6fee9bd: a DATABASE_URL naming a database that does not exist, or the wrong password, is refused after
6 s with "pool initialization incomplete after 6 sec. Check DATABASE_URL and that the server is running": the reason
PostgreSQL gave at once (no such database, password authentication failed) never reaches the one line
`python -m app run` prints, and the server *is* running.

`PostgresStore.__init__` opens the pool with `wait=True`; psycopg_pool retries a refused connection with back-off and
only reports its own timeout. Connecting once first (or reading the pool's last error) would keep the reason.
"""

from __future__ import annotations

import time
from urllib.parse import urlsplit, urlunsplit

import pytest

from app.store import DatabaseUnusable
from app.store.engines import open_store


def _elsewhere(url: str, *, path: str | None = None, password: str | None = None) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc
    if password is not None:
        netloc = f"{parts.username}:{password}@{parts.hostname}:{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc, path=path if path is not None else parts.path))


@pytest.mark.parametrize("change, said", [
    ({"path": "/no_such_database"}, "does not exist"),
    ({"password": "not-the-password"}, "password"),
])
def test_a_database_url_postgresql_refuses_is_refused_at_once_with_postgresqls_reason(postgres_url: str, change: dict,
                                                                                      said: str) -> None:
    started = time.monotonic()
    with pytest.raises(DatabaseUnusable) as refused:
        open_store("", _elsewhere(postgres_url, **change))
    assert said in str(refused.value), str(refused.value)
    assert time.monotonic() - started < 3, "a refusal the server gave at once took the pool's whole start-up timeout"
