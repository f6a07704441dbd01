"""What stops the bot at start-up is said in one paragraph naming the setting, exit 2, never a traceback.

Each case runs the real `python -m app run` as a process, because what a person sees is the
process: its exit code and its stderr. The secrets given to it must appear in neither.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import pytest

from app.config import Secret, Settings

ROOT = Path(__file__).resolve().parent.parent
CATALOG = ROOT / "manifests" / "catalog.yaml"
BOT_TOKEN_GIVEN = "xoxb-123-456-abc"
SIGNING_SECRET_GIVEN = "s3cr3t-signing"
UNREACHABLE = "http://127.0.0.1:9/api/"  # nothing listens on port 9: a check that reaches Slack would fail here


def run_bot(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SLACK_") and "PROXY" not in k.upper()}
    base = {"SLACK_BOT_TOKEN": BOT_TOKEN_GIVEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET_GIVEN, "SLACK_API_URL": UNREACHABLE,
            "CATALOG_PATH": str(CATALOG), "DATABASE_PATH": str(cwd / "ladder.db"), "HOST": "127.0.0.1", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "app", "run", *args], env={**clean, **base, **env}, cwd=cwd,
                          capture_output=True, text=True, timeout=30)


def one_paragraph(result: subprocess.CompletedProcess, *says: str) -> str:
    """Exit 2, stderr one `ladder:` paragraph (no log line before it, no traceback) that says each of `says`."""
    assert result.returncode == 2, result.stderr
    text = result.stderr.strip()
    assert "Traceback" not in text
    assert text.startswith("ladder: ") and len(text.splitlines()) == 1, text
    for words in says:
        assert words in text, text
    for secret in (BOT_TOKEN_GIVEN, SIGNING_SECRET_GIVEN, "xapp-wrong-app-token", "standin"):
        assert secret not in result.stderr + result.stdout
    return text


@pytest.mark.parametrize("where, says", [
    ("missing-dir/ladder.db", "the directory {tmp}/missing-dir does not exist; create it first (mkdir -p {tmp}/missing-dir)"),
    (".", "{tmp} is a directory; name a file inside it instead, such as {tmp}/ladder.db"),
    ("/proc/ladder.db", "/proc/ladder.db is under /proc, a system file system that cannot hold a database"),
    ("/proc/version", "/proc/version is under /proc, a system file system that cannot hold a database"),
    ("notes.txt", "{tmp}/notes.txt exists but is not a SQLite database (perhaps another program's file); Ladder left it untouched"),
    (":memory:", "DATABASE_PATH must name a file, such as ladder.db"),
], ids=["missing-directory", "a-directory", "under-proc", "a-proc-file", "a-text-file", "memory"])
def test_a_database_path_that_cannot_hold_the_database_is_named(tmp_path: Path, where: str, says: str) -> None:
    if where.startswith("/proc") and not Path("/proc/version").exists():
        pytest.skip("no /proc on this system")
    notes = tmp_path / "notes.txt"
    notes.write_text("hello, I am somebody's notes\n")
    path = where if where.startswith("/") or where == ":memory:" else str(tmp_path / where)
    result = run_bot({"DATABASE_PATH": path}, tmp_path)
    one_paragraph(result, "DATABASE_PATH", says.format(tmp=tmp_path))
    assert notes.read_text() == "hello, I am somebody's notes\n"  # loses nothing
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]  # and leaves nothing behind (no -wal, -shm, ladder.db)


def test_a_port_in_use_is_named_and_the_bolt_warning_is_gone(slack, tmp_path: Path) -> None:
    """The likeliest first-run failure. SLACK_BOT_TOKEN is in the environment, where Bolt used to find it and warn."""
    from tests.slack_standin import BOT_TOKEN

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_bot({"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_API_URL": slack.api_url, "PORT": str(port)}, tmp_path)
    one_paragraph(result, f"PORT {port} is already in use on 127.0.0.1", "set PORT to a free port")
    assert "will be unused" not in result.stderr
    assert slack.calls_to("auth.test"), "the port is checked after the token, with everything else wired"


@pytest.mark.parametrize("host, says", [
    ("not an address", "HOST must be an address of this machine to listen on"),
    ("0.0.0.0:3000", "HOST must be an address of this machine to listen on"),
    ("http://localhost", "HOST must be an address of this machine to listen on"),
    ("192.0.2.1", "HOST=192.0.2.1 is not an address of this machine"),  # TEST-NET-1: valid, never this machine's
])
def test_a_host_that_is_not_an_address_here_is_named(slack, tmp_path: Path, host: str, says: str) -> None:
    from tests.slack_standin import BOT_TOKEN
    from tests.support import free_port

    result = run_bot({"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_API_URL": slack.api_url, "HOST": host, "PORT": str(free_port())}, tmp_path)
    one_paragraph(result, says)


def test_a_host_name_that_does_not_resolve_is_named() -> None:
    """waitress says only "Invalid host/port specified" (a ValueError) for a name it cannot resolve."""
    from app.startup import listen

    settings = Settings(bot_token=Secret("xoxb-1"), signing_secret=Secret("s"), app_token=Secret(""), host="nothing.invalid", port=3000)
    assert listen(settings, ValueError("Invalid host/port specified.")).startswith(
        "HOST=nothing.invalid does not resolve to an address of this machine.")


def test_a_socket_mode_token_slack_rejects_is_named(slack, tmp_path: Path) -> None:
    from tests.slack_standin import BOT_TOKEN

    result = run_bot({"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_API_URL": slack.api_url, "SLACK_APP_TOKEN": "xapp-wrong-app-token"}, tmp_path)
    one_paragraph(result, "Slack did not accept SLACK_APP_TOKEN", "(invalid_auth)", "connections:write")
    assert [c.status for c in slack.calls_to("apps.connections.open")] == [200]


def test_a_bot_token_slack_rejects_is_named(slack, tmp_path: Path) -> None:
    result = run_bot({"SLACK_API_URL": slack.api_url}, tmp_path)
    one_paragraph(result, "Slack did not accept SLACK_BOT_TOKEN", "(invalid_auth)", "OAuth & Permissions")


class _Unavailable(BaseHTTPRequestHandler):
    """Slack on a bad day, as a load balancer answers: an HTML page, not the Web API's JSON."""

    status = 503

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = b"<html><body>Service Unavailable</body></html>"
        self.send_response(self.status)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def html_500() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), type("Html500", (_Unavailable,), {"status": 500}))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/api/"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("status", [500, 503])
def test_slack_answering_5xx_to_auth_test_is_unavailable_not_a_refused_token(slack, tmp_path: Path, status: int) -> None:
    from tests.slack_standin import BOT_TOKEN

    slack.fail("auth.test", status=status)
    result = run_bot({"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_API_URL": slack.api_url}, tmp_path)
    text = one_paragraph(result, f"Slack is unavailable: auth.test at {slack.api_url} answered HTTP {status}",
                         "try again in a few minutes", "https://slack-status.com")
    assert "did not accept" not in text


def test_an_html_5xx_is_unavailable_too_and_the_sdk_log_line_is_not_printed(html_500: str, tmp_path: Path) -> None:
    result = run_bot({"SLACK_API_URL": html_500}, tmp_path)
    text = one_paragraph(result, "Slack is unavailable", "answered HTTP 500")
    assert "<html>" not in text and "did not accept" not in text


def test_a_bot_started_from_another_directory_says_where_it_looked_for_the_catalog(tmp_path: Path) -> None:
    result = run_bot({"CATALOG_PATH": ""}, tmp_path)
    text = one_paragraph(result, "CATALOG_PATH is not set", f"there is no file {tmp_path / 'manifests' / 'catalog.yaml'}",
                         f"in the working directory {tmp_path}")
    assert "invalid" not in text
    assert not (tmp_path / "ladder.db").exists()  # the catalog is looked for before a database file is made


def test_a_catalog_path_set_to_nothing_there_is_named(tmp_path: Path) -> None:
    result = run_bot({"CATALOG_PATH": "typo.yaml"}, tmp_path)
    one_paragraph(result, f"CATALOG_PATH=typo.yaml: there is no file {tmp_path / 'typo.yaml'}")


def test_an_env_file_that_is_not_there_or_not_text_is_named(tmp_path: Path) -> None:
    missing = run_bot({}, tmp_path, "--env-file", "typo.env")
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    assert f"argument --env-file: there is no file {tmp_path / 'typo.env'}" in missing.stderr
    (tmp_path / ".env").write_bytes(b"SLACK_BOT_TOKEN=xoxb-1\n\xff\xfe\n")
    one_paragraph(run_bot({}, tmp_path), f"The settings file {tmp_path / '.env'} cannot be read: it is not UTF-8 text")
