"""Why a database file could not be opened, in words a person can act on.

SQLite says "unable to open database file" for a missing directory, a directory, a file system
that cannot hold a database and a permission problem alike; the person starting Ladder needs to
know which one, and what to do. The diagnosis looks at the file system, never writes to it: a
file that is not Ladder's database is left exactly as it was.
"""

from __future__ import annotations

import errno
import os
import sqlite3
from pathlib import Path

# Linux pseudo file systems: SQLite may open a file there, but can neither lock nor grow it.
_SYSTEM_FILE_SYSTEMS = (Path("/proc"), Path("/sys"), Path("/dev"))


class DatabaseUnusable(Exception):
    """The database file cannot be used; the message says why and what to do, and names no setting.

    The caller knows which setting named the path (DATABASE_PATH) and says so around this message.
    """


def _under(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def describe(path: Path, error: BaseException) -> str:
    """One or two sentences: what is wrong with `path` for a database, judged from the file system and `error`."""
    where = path.absolute()
    parent = where.parent
    text = str(error).lower()
    if where.is_dir():
        return f"{where} is a directory; name a file inside it instead, such as {where / 'ladder.db'}."
    system = next((root for root in _SYSTEM_FILE_SYSTEMS if _under(where, root)), None)
    if system is not None:
        return (f"{where} is under {system}, a system file system that cannot hold a database; "
                "name a file on a real disk, such as ./ladder.db.")
    if not parent.exists():
        return f"the directory {parent} does not exist; create it first (mkdir -p {parent}) or name a file in a directory that does."
    if not parent.is_dir():
        return f"{parent} is not a directory, so it cannot hold the database file; name a file in a directory."
    if isinstance(error, sqlite3.DatabaseError) and not isinstance(error, sqlite3.OperationalError):
        return (f"{where} exists but is not a SQLite database (perhaps another program's file); Ladder left it untouched. "
                "Name a new file, or the database Ladder wrote before.")
    if "locked" in text or "busy" in text:
        return f"another process holds {where} locked; stop it, or give this Ladder a database of its own."
    if "full" in text or getattr(error, "errno", None) == errno.ENOSPC:
        return f"the disk that holds {where} is full; free some space or name a file on another disk."
    if not os.access(parent, os.W_OK) or (where.exists() and not os.access(where, os.R_OK | os.W_OK)) or "readonly" in text:
        return (f"Ladder may not read and write {where} (it also needs to create files beside it, in {parent}); "
                "change the permissions, or name a file in a directory Ladder may write.")
    return f"SQLite could not open {where} ({error}); name another file, or check the disk."
