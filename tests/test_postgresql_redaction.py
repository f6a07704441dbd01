"""A DATABASE_URL's password never reaches a log line or an error message, however it is spelt (found in review).

libpq percent-decodes a URL's query keys as well as its values, so `?%70assword=s3cret` sets the password exactly as
`?password=s3cret` does (psycopg's own parser says so below). `redact_database_url` matches the literal word only.
"""

from __future__ import annotations

import pytest
from psycopg.conninfo import conninfo_to_dict

from app.config import SettingsError, load_settings, redact_database_url

SECRET = "s3cret-Pw"
SPELLINGS = [f"postgresql://db.internal/ladder?%70assword={SECRET}", f"postgresql://db.internal/ladder?pass%77ord={SECRET}"]


@pytest.mark.parametrize("url", SPELLINGS)
def test_a_percent_encoded_password_key_is_hidden_too(url: str) -> None:
    assert conninfo_to_dict(url)["password"] == SECRET  # PostgreSQL reads it as the password
    assert SECRET not in redact_database_url(url)


def test_a_refused_url_does_not_quote_its_password() -> None:
    url = f"postgresql://db.internal?%70assword={SECRET}"  # no database named: refused, and quoted back
    with pytest.raises(SettingsError) as refused:
        load_settings({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "x", "DATABASE_URL": url}, env_file=None)
    assert SECRET not in str(refused.value)
