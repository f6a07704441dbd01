"""Who has opened Ladder's App Home, so that a change to an incident they care about refreshes it."""

from __future__ import annotations

import sqlite3
from typing import Any

Row = dict[str, Any]


class HomeReads:
    conn: sqlite3.Connection


class HomeWrites(HomeReads):
    pass
