"""A DATABASE_URL's password, wherever the URL holds it, never reaches a log line or a message (a regression test).

Found in review of 6fee9bd: a DATABASE_URL whose password is in the query (`?password=…`, which libpq accepts) is quoted whole.

`redact` (app/store/postgres.py, now `redact_database_url` in app/config.py) and `public_url` (app/config.py) hide only the password of the `user:password@`
part. libpq also takes the password as a URL parameter, and some managed databases hand out URLs that way. Then the
password reaches: the start-up log line (`Ladder is listening … (PostgreSQL database <describe()>)`), every "could not
be used" message (DatabaseUnusable, printed by `python -m app run` and the tools), and SettingsError messages.
The house rule: a DATABASE_URL's password never reaches a log line or an error message.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from app.config import SettingsError, load_settings
from app.store import DatabaseUnusable
from app.store.engines import open_store
from tests.support import free_port

PASSWORD = "Zq7-not-for-logs"


def _password_in_query(url: str) -> tuple[str, str]:
    """The same database, its password moved from `user:password@` into `?password=`; and that password."""
    parts = urlsplit(url)
    return f"postgresql://{parts.username}@{parts.hostname}:{parts.port}{parts.path}?password={parts.password}", str(parts.password)


def test_a_store_opened_with_the_password_in_the_query_describes_itself_without_it(postgres_url: str) -> None:
    url, password = _password_in_query(postgres_url)
    store = open_store("", url)  # libpq reads the password there: the store opens
    try:
        assert password not in store.describe(), store.describe()  # what `python -m app run` logs at start-up
    finally:
        store.close()


def test_a_database_that_cannot_be_reached_is_reported_without_the_password_in_the_query() -> None:
    url = f"postgresql://ladder@127.0.0.1:{free_port()}/ladder?password={PASSWORD}&connect_timeout=2"  # nothing listens
    with pytest.raises(DatabaseUnusable) as refused:
        open_store("", url)
    assert PASSWORD not in str(refused.value), str(refused.value)


def test_a_bad_database_url_is_refused_without_the_password_in_the_query() -> None:
    env = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s" * 32,
           "DATABASE_URL": f"postgresql://db.internal:5432/?password={PASSWORD}"}  # no database named
    with pytest.raises(SettingsError) as refused:
        load_settings(env, env_file=None)
    assert "DATABASE_URL" in str(refused.value) and PASSWORD not in str(refused.value), str(refused.value)
