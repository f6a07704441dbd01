"""No click pays for a checkpoint: the bot's commits never copy the write-ahead log; its periodic thread does.

SQLite's default copies the log into the database file in whichever commit takes it past 1,000
pages, with the process's write lock held: about one click in fifty paid several milliseconds for
it (0.75 ms a commit on average in the Acknowledge path, 0.27 ms without). The bot's connections
turn that off and the worker's periodic thread checkpoints about once a second, so the log stops
growing while the bot runs; tools that open the store without a periodic thread keep SQLite's
default.
"""

from __future__ import annotations

import time
from pathlib import Path

from app.runtime import Runtime
from app.store import Store
from tests.slack_standin import SlackStandIn
from tests.support import ladder_settings

PAGE = 4096


def _write_pages(store: Store, pages: int) -> None:
    """About `pages` pages of new rows, committed in small transactions as clicks would be."""
    conn = store.conn
    conn.execute("CREATE TABLE IF NOT EXISTS ballast (blob BLOB)")
    for _ in range(pages // 10):
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany("INSERT INTO ballast VALUES (?)", [(b"x" * (PAGE - 200),)] * 10)
        conn.execute("COMMIT")


def _wal_bytes(db: Path) -> int:
    wal = Path(f"{db}-wal")
    return wal.stat().st_size if wal.exists() else 0


def test_a_commit_on_the_bots_connections_never_checkpoints(tmp_path: Path) -> None:
    db = tmp_path / "ladder.db"
    store = Store(db, background_checkpoints=True)
    try:
        assert store.conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
        _write_pages(store, 1500)
        assert _wal_bytes(db) > 1400 * PAGE  # past the 1,000 pages at which a commit would have checkpointed
        busy, logged, copied = store.conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        assert (busy, copied) == (0, logged) and logged > 1400  # everything was still there for checkpoint() to copy
    finally:
        store.close()


def test_tools_keep_sqlites_own_checkpoints(tmp_path: Path) -> None:
    db = tmp_path / "ladder.db"
    store = Store(db)
    try:
        _write_pages(store, 1500)
        assert _wal_bytes(db) < 1200 * PAGE  # the log was copied and restarted at 1,000 pages
    finally:
        store.close()


def test_the_running_bot_keeps_the_log_from_growing(slack: SlackStandIn, tmp_path: Path) -> None:
    """Write 1,500 pages, then 1,500 more at a pace the bot meets (a burst every 0.1 s): the log is reused, not doubled.

    The periodic thread is a real thread on real time (a tick of 0.1 s here); the test waits for it, briefly.
    """
    db = tmp_path / "ladder.db"
    runtime = Runtime(ladder_settings(slack, db, TICK_SECONDS="0.1"))
    runtime.worker.start()
    try:
        _write_pages(runtime.store, 1500)
        first = _wal_bytes(db)
        assert first > 1400 * PAGE
        deadline = time.monotonic() + 10
        while db.stat().st_size < 1500 * PAGE and time.monotonic() < deadline:  # the periodic checkpoint copies them into the file
            time.sleep(0.05)
        assert db.stat().st_size >= 1500 * PAGE, "the periodic thread never checkpointed"
        for _ in range(15):
            time.sleep(0.1)
            _write_pages(runtime.store, 100)
        # Reused: never checkpointed, the log would have grown by all 1,500 pages. A checkpoint that falls behind a
        # burst on a loaded host lets it grow by a few hundred (seen: 257) before the log starts over.
        assert _wal_bytes(db) < first + 750 * PAGE
    finally:
        runtime.close()
