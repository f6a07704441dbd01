"""Where the catalog file is, and why it cannot be read at all: said before parsing, so it is never "invalid".

The default CATALOG_PATH is relative to the working directory, so a bot or a tool started from
another directory finds nothing there; the answer names the absolute path it looked at and why
it looked there. Shared by the bot's start-up and the catalog tools (`check`, `oncall`,
`simulate`); it imports nothing heavy, so a tool answers at once.
"""

from __future__ import annotations

import os
from pathlib import Path

from app.config import DEFAULT_CATALOG_PATH


def problem(path: Path) -> str | None:
    """What keeps `path` from being read as a catalog file (None: it can be read; its content is another matter)."""
    where = path.absolute()
    if not where.exists():
        return f"there is no file {where}"
    if where.is_dir():
        return f"{where} is a directory, not a catalog file"
    if not where.is_file():  # a FIFO would block an open() until a writer came; a device never ends
        return f"{where} is not a regular file (a device or a pipe?), not a catalog file"
    if not os.access(where, os.R_OK):
        return f"{where} cannot be read (permission denied)"
    return None


def missing(path: Path, was_set: bool, why: str, other_way: str = "") -> str:
    """The paragraph for a catalog file that is not there: where Ladder looked, and why there.

    With CATALOG_PATH unset the path is relative to the working directory, which is the usual
    surprise (a bot started from another directory), so the directory is named too.
    """
    also = f", {other_way}" if other_way else ""
    if was_set:
        return f"CATALOG_PATH={path}: {why}. Set CATALOG_PATH to your catalog file (see .env.example){also}."
    return (f"CATALOG_PATH is not set, so Ladder looked for {DEFAULT_CATALOG_PATH} in the working directory "
            f"{Path.cwd()}: {why}. Set CATALOG_PATH to your catalog file (see .env.example){also}, or start "
            "Ladder from the directory that holds manifests/.")
