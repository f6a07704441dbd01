"""All of Ladder's SQL, grouped by concern: SQLite by default, PostgreSQL when DATABASE_URL names one.

- `db`: the Store (connections, transactions, migrations) and `Tx`, one open write transaction
- `postgres`: the same Store on PostgreSQL (a connection pool, the writers' advisory lock, the schema's DDL carried
  over); `engines.open_store` picks one; `sql`: the few fragments that differ between the two
- `schema`: the tables, as numbered migrations
- `opening`: why a database file could not be opened (DatabaseUnusable), in words a person can act on
- `incidents`, `tracks`, `rule_timers`, `outbox`, `leases`, `roles`, `followups`, `reports`, `digests`,
  `app_home`: the statements of each concern
- `times`: the one text form of an instant
"""

from app.store.db import STORAGE_ERRORS, Store, Tx, database_busy, database_unreachable, storage_problem
from app.store.opening import DatabaseUnusable
from app.store.outbox import OutboxRow
from app.store.times import iso, parse_iso

__all__ = ["STORAGE_ERRORS", "database_unreachable", "DatabaseUnusable", "OutboxRow", "Store", "Tx", "database_busy", "iso", "parse_iso", "storage_problem"]
