"""Roles people hold in an incident (lead, scribe, comms...): one holder per role, and who gave it to them."""

from __future__ import annotations

import sqlite3
from typing import Any

Row = dict[str, Any]


class RoleReads:
    conn: sqlite3.Connection


class RoleWrites(RoleReads):
    pass
