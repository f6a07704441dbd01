"""Follow-ups: actions agreed after an incident, each with an owner, a due date and a daily reminder once overdue."""

from __future__ import annotations

import sqlite3
from typing import Any

Row = dict[str, Any]


class FollowupReads:
    conn: sqlite3.Connection


class FollowupWrites(FollowupReads):
    pass
