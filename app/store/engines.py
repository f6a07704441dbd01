"""Which engine a Ladder database lives on: a SQLite file (the default) or a PostgreSQL server (`DATABASE_URL`)."""

from __future__ import annotations

from pathlib import Path

from app.store.db import Store


def open_store(path: Path | str, url: str | None = None, busy_timeout: float = 30.0, *,
               background_checkpoints: bool = False) -> Store:
    """A PostgreSQL store when `url` is given, else the SQLite file at `path` (created if missing)."""
    if url:
        from app.store.postgres import PostgresStore  # psycopg's pool starts no thread until a PostgresStore opens

        return PostgresStore(url, busy_timeout)
    return Store(path, busy_timeout, background_checkpoints=background_checkpoints)
