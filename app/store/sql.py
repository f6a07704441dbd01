"""What the store's statements need to know about the engine they run on, and nothing more.

The statements are written once, in the SQL both engines speak (`?` placeholders, `ON CONFLICT`, `RETURNING`,
`COALESCE`, `CASE`), so a use case never knows which engine it talks to. The few things that differ (reading a
number out of a JSON column, a list of ids passed as one JSON parameter) are fragments named here, one per
engine. The PostgreSQL connection turns `?` into psycopg's `%s` on the way (app/store/postgres.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator, Protocol, Sequence


class Cursor(Protocol):
    """The part of a DB-API cursor the store uses: rows by name or position, and how many rows a write touched."""

    rowcount: int

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Connection(Protocol):
    def execute(self, sql: str, parameters: Sequence[Any] = ...) -> Cursor: ...


@dataclass(frozen=True)
class Dialect:
    name: str  # "sqlite" or "postgresql"
    json_number: str  # format with (column, key): the JSON number at `key` of a text column holding an object
    id_list: str  # a subquery yielding the integers of one parameter holding a JSON array
    skip_locked: str  # appended to the outbox claim's SELECT: rows another transaction is claiming are passed over
    notify_work: str  # sent before a commit that queued Slack work: wakes the host that sends the outbox, wherever it is

    not_through_index: str = "{column}"  # a column the planner must not look up by its own index (see app_home.py)

    def json_int(self, column: str, key: str) -> str:
        return self.json_number.format(column=column, key=key)

    def unindexed(self, column: str) -> str:
        return self.not_through_index.format(column=column)


SQLITE = Dialect(
    name="sqlite",
    json_number="json_extract({column}, '$.{key}')",
    id_list="SELECT value FROM json_each(?)",
    skip_locked="",  # one writer at a time: nobody else can be claiming
    notify_work="",  # one machine: the worker polls the file once a tick, or is woken in-process
    not_through_index="+{column}",  # SQLite's idiom; its planner has no statistics to tell which index is narrower
)

POSTGRESQL = Dialect(
    name="postgresql",
    json_number="CAST(CAST({column} AS jsonb) ->> '{key}' AS BIGINT)",
    id_list="SELECT CAST(value AS BIGINT) FROM json_array_elements_text(CAST(? AS json))",
    skip_locked=" FOR UPDATE OF o SKIP LOCKED",
    notify_work="NOTIFY ladder_outbox",  # app/store/postgres.py WORK_CHANNEL
)
