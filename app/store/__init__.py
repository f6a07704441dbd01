"""All of Ladder's SQL, grouped by concern: SQLite by default.

- `db`: the Store (connections, transactions, migrations) and `Tx`, one open write transaction
- `schema`: the tables, as numbered migrations
- `opening`: why a database file could not be opened (DatabaseUnusable), in words a person can act on
- `incidents`, `tracks`, `rule_timers`, `outbox`, `leases`, `roles`, `followups`, `reports`, `digests`,
  `app_home`: the statements of each concern
- `times`: the one text form of an instant
"""

from app.store.db import Store, Tx, database_busy, storage_problem
from app.store.opening import DatabaseUnusable
from app.store.outbox import OutboxRow
from app.store.times import iso, parse_iso

__all__ = ["DatabaseUnusable", "OutboxRow", "Store", "Tx", "database_busy", "iso", "parse_iso", "storage_problem"]
