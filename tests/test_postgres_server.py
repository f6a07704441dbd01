"""The tests' own PostgreSQL (tests/postgres.py): what the store's PostgreSQL tests and multi-host scenarios rely on.

Each check is what a client of a real database would notice: rows that come back, a database that is isolated, a
crash that keeps committed work, a restart on the same address, and no server left behind.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest

from tests.postgres import PostgresServer, _alive, children, start_server

REPO = Path(__file__).resolve().parent.parent


def _wait_until(condition: object, timeout_s: float = 10.0) -> bool:
    """Poll a condition about real processes (not the app's clock) for a bounded time."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


def test_a_fresh_database_takes_a_table_and_gives_its_rows_back(postgres_url: str) -> None:
    parts = urlsplit(postgres_url)
    assert parts.scheme == "postgresql" and parts.hostname == "127.0.0.1" and parts.password
    with psycopg.connect(postgres_url) as conn:
        conn.execute("CREATE TABLE incidents (id BIGSERIAL PRIMARY KEY, title TEXT NOT NULL)")
        conn.execute("INSERT INTO incidents (title) VALUES (%s), (%s)", ("Bank transfers down", "Login slow"))
        conn.commit()
        rows = conn.execute("SELECT id, title FROM incidents ORDER BY id").fetchall()
    assert rows == [(1, "Bank transfers down"), (2, "Login slow")]


def test_the_password_is_really_checked(postgres_url: str) -> None:
    parts = urlsplit(postgres_url)
    wrong = postgres_url.replace(f":{parts.password}@", ":not-the-password@")
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(wrong, connect_timeout=5).close()


def test_two_fresh_databases_do_not_see_each_other(postgres_server: PostgresServer) -> None:
    first, second = postgres_server.new_database(), postgres_server.new_database()
    assert first != second
    with psycopg.connect(first) as conn:
        conn.execute("CREATE TABLE outbox (id INT)")
        conn.execute("INSERT INTO outbox VALUES (1)")
    with psycopg.connect(second) as conn:
        assert conn.execute("SELECT to_regclass('outbox')").fetchone() == (None,)


def test_collation_is_c_and_encoding_utf8(postgres_url: str) -> None:
    # PostgreSQL 16 dropped the lc_collate setting (SHOW lc_collate); the database's own collation says the same.
    with psycopg.connect(postgres_url) as conn:
        collate, ctype = conn.execute(
            "SELECT datcollate, datctype FROM pg_database WHERE datname = current_database()"
        ).fetchone()  # type: ignore[misc]
        encoding = conn.execute("SHOW server_encoding").fetchone()
        ordered = [row[0] for row in conn.execute("SELECT x FROM (VALUES ('b'), ('B'), ('a'), ('é')) v(x) ORDER BY x")]
    assert (collate, ctype, encoding) == ("C", "C", ("UTF8",))
    assert ordered == ["B", "a", "b", "é"]  # byte order: what SQLite does, so both engines sort alike


def test_a_sigkilled_server_restarts_on_the_same_address_with_every_committed_row(
    postgres_server: PostgresServer, postgres_url: str
) -> None:
    with psycopg.connect(postgres_url) as conn:
        conn.execute("CREATE TABLE pages (id INT PRIMARY KEY)")
        conn.commit()
        for page in range(50):  # one commit each: every one of them was acknowledged to the client
            conn.execute("INSERT INTO pages VALUES (%s)", (page,))
            conn.commit()
        port = postgres_server.port
        processes = postgres_server.pids()

        postgres_server.kill()
        assert not any(_alive(pid) for pid in processes)  # the postmaster and every backend, as in a host crash
        with pytest.raises(psycopg.OperationalError):  # the open session died with the server
            conn.execute("SELECT 1")

    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(postgres_url, connect_timeout=5).close()
    postgres_server.start()

    assert postgres_server.port == port
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("SELECT count(*), min(id), max(id) FROM pages").fetchone() == (50, 0, 49)
    assert "database system was interrupted" in postgres_server.log_path.read_text()  # it did go through recovery


def test_a_stopped_server_refuses_connections_until_started_again(
    postgres_server: PostgresServer, postgres_url: str
) -> None:
    with psycopg.connect(postgres_url) as conn:
        conn.execute("CREATE TABLE lease (holder TEXT)")
        conn.execute("INSERT INTO lease VALUES ('host-a')")

    postgres_server.stop()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(postgres_url, connect_timeout=5).close()

    postgres_server.start()
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("SELECT holder FROM lease").fetchall() == [("host-a",)]


def test_close_stops_the_server_and_deletes_its_files() -> None:
    server = start_server()
    processes, url = server.pids(), server.url

    server.close()

    assert processes and not any(_alive(pid) for pid in processes)
    assert not server.root.exists()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, connect_timeout=5).close()
    server.close()  # the fixture's finalizer and atexit may both call it


def test_a_test_process_killed_outright_takes_its_server_with_it(tmp_path: Path) -> None:
    """A crashed xdist worker runs no finalizer and no atexit: the kernel must still end its PostgreSQL."""
    owner = subprocess.Popen(
        [
            sys.executable, "-c",
            "import sys, time\n"
            f"sys.path.insert(0, {str(REPO)!r})\n"
            "from tests.postgres import start_server\n"
            "server = start_server()\n"
            "print(server._process.pid, server.root, flush=True)\n"
            "time.sleep(60)\n",
        ],
        stdout=subprocess.PIPE, text=True,
    )
    root = ""
    try:
        assert owner.stdout is not None
        pid_text, root = owner.stdout.readline().split()
        postmaster = int(pid_text)
        backends = children(postmaster)
        assert _alive(postmaster) and backends  # checkpointer, WAL writer, ... at the least

        owner.send_signal(signal.SIGKILL)
        owner.wait()

        assert _wait_until(lambda: not _alive(postmaster)), "the postmaster outlived the process that started it"
        assert _wait_until(lambda: not any(_alive(pid) for pid in backends)), "its children outlived the postmaster"
    finally:
        owner.kill()
        owner.wait()
        if root:
            shutil.rmtree(root, ignore_errors=True)  # nobody ran close() in the killed process

