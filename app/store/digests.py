"""Each team's weekly digest: when the next one is due, and the last period posted (once per period, across restarts)."""

from __future__ import annotations

import sqlite3
from typing import Any

Row = dict[str, Any]


class DigestReads:
    conn: sqlite3.Connection


class DigestWrites(DigestReads):
    pass
