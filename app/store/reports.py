"""What a report over a period reads: the incidents declared in it, their pages, tracks and timeline, in bulk."""

from __future__ import annotations

import sqlite3
from typing import Any

Row = dict[str, Any]


class ReportReads:
    conn: sqlite3.Connection


class ReportWrites(ReportReads):
    pass
