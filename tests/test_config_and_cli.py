"""Settings come from the environment / .env; a missing one is one clear paragraph and exit 2."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.config import SettingsError, load_settings
from app.logs import RedactSecrets

ROOT = Path(__file__).resolve().parent.parent
GOOD = {"SLACK_BOT_TOKEN": "xoxb-123-456-abc", "SLACK_SIGNING_SECRET": "s3cr3t"}


def run_cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SLACK_")}
    return subprocess.run([sys.executable, "-m", "app", *args], env={**clean, "PYTHONPATH": str(ROOT), **env},
                          cwd=cwd, capture_output=True, text=True, timeout=60)


def test_defaults() -> None:
    settings = load_settings(GOOD, env_file=None)
    assert not settings.socket_mode
    assert settings.port == 3000
    assert settings.slack_api_url == "https://slack.com/api/"
    assert settings.database_path == Path("ladder.db")
    assert settings.catalog_path == Path("manifests/catalog.yaml")


def test_a_postgresql_url_is_kept_as_a_secret() -> None:
    settings = load_settings({**GOOD, "DATABASE_URL": "postgresql://ladder:s3cr3t@db.internal:5432/ladder"}, env_file=None)
    assert settings.database_url.get().endswith("@db.internal:5432/ladder")
    assert "s3cr3t" not in repr(settings) and "s3cr3t" not in str(settings)


def test_app_token_switches_to_socket_mode_and_signing_secret_becomes_optional() -> None:
    settings = load_settings({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1-2"}, env_file=None)
    assert settings.socket_mode


@pytest.mark.parametrize(
    "env, names",
    [
        ({}, "SLACK_BOT_TOKEN"),
        ({"SLACK_BOT_TOKEN": "xoxp-user-token"}, "SLACK_BOT_TOKEN"),
        ({"SLACK_BOT_TOKEN": "xoxb-1"}, "SLACK_SIGNING_SECRET"),
        ({**GOOD, "SLACK_APP_TOKEN": "xoxb-wrong"}, "SLACK_APP_TOKEN"),
        ({**GOOD, "PORT": "eighty"}, "PORT"),
        ({**GOOD, "PORT": "70000"}, "PORT"),
        ({**GOOD, "SLACK_API_URL": "slack.com/api"}, "SLACK_API_URL"),
        ({**GOOD, "TICK_SECONDS": "0"}, "TICK_SECONDS"),
        ({**GOOD, "TICK_SECONDS": "nan"}, "TICK_SECONDS"),
        ({**GOOD, "PORT": "9" * 5000}, "PORT"),
        ({**GOOD, "HOST": "not an address"}, "HOST"),
        ({**GOOD, "HOST": "0.0.0.0:3000"}, "HOST"),
        ({**GOOD, "HOST": "999.1.1.1"}, "HOST"),
        ({**GOOD, "DATABASE_PATH": ":memory:"}, "DATABASE_PATH"),
        ({**GOOD, "LOG_LEVEL": "x" * 5000}, "LOG_LEVEL"),
        # A line break inside a token reached an HTTP header: a traceback that printed the token.
        ({**GOOD, "SLACK_BOT_TOKEN": "xoxb-s3cr3t\nX-Evil: 1"}, "SLACK_BOT_TOKEN"),
        ({**GOOD, "SLACK_SIGNING_SECRET": "s3cr3t s3cr3t"}, "SLACK_SIGNING_SECRET"),
        ({**GOOD, "SLACK_APP_TOKEN": "xapp-s3cr3t\u00e9"}, "SLACK_APP_TOKEN"),
        # PostgreSQL: the URL's password is a secret like a token, never quoted back.
        ({**GOOD, "DATABASE_URL": "mysql://ladder:s3cr3t@db/ladder"}, "DATABASE_URL"),
        ({**GOOD, "DATABASE_URL": "postgresql://ladder:s3cr3t@db:port/ladder"}, "DATABASE_URL"),
        ({**GOOD, "DATABASE_URL": "postgresql://ladder:s3cr3t@db:5432"}, "DATABASE_URL"),
        ({**GOOD, "DATABASE_URL": "postgresql://ladder:s3cr3t@db/ladder\nX: 1"}, "DATABASE_URL"),
        ({**GOOD, "DATABASE_URL": "postgresql://ladder:s3cr3t@db/" + "x" * 5000}, "DATABASE_URL"),
        ({**GOOD, "DATABASE_URL": "postgresql://ladder:s3cr3t@db/ladder", "DATABASE_PATH": "ladder.db"}, "DATABASE_PATH"),
    ],
)
def test_bad_settings_name_the_setting(env: dict[str, str], names: str) -> None:
    with pytest.raises(SettingsError, match=names) as error:
        load_settings(env, env_file=None)
    assert len(str(error.value)) < 500  # a huge value is quoted cut
    assert "s3cr3t" not in str(error.value)


@pytest.mark.parametrize("host", ["0.0.0.0", "127.0.0.1", "::", "::1", "localhost", "ladder.internal.example.com"])
def test_hosts_that_are_addresses_are_kept(host: str) -> None:
    assert load_settings({**GOOD, "HOST": host}, env_file=None).host == host


def test_a_proxy_password_in_slack_api_url_never_reaches_the_message() -> None:
    with pytest.raises(SettingsError) as error:
        load_settings({**GOOD, "SLACK_API_URL": "ftp://user:hunter2@proxy.example.com/api/"}, env_file=None)
    assert "hunter2" not in str(error.value) and "proxy.example.com" in str(error.value)


def test_env_file_is_read_and_environment_wins(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("SLACK_BOT_TOKEN=xoxb-from-file\nSLACK_SIGNING_SECRET=file\nPORT=4000\n")
    settings = load_settings({"PORT": "5000"}, env_file=env_file)
    assert settings.bot_token.get() == "xoxb-from-file" and settings.port == 5000


def test_secrets_never_show_in_repr() -> None:
    settings = load_settings(GOOD, env_file=None)
    assert "xoxb-123" not in repr(settings) and "s3cr3t" not in repr(settings)


def test_log_records_mask_tokens() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "token was %s", ("xoxb-123-456-abc",), None)
    RedactSecrets().filter(record)
    assert record.getMessage() == "token was xoxb-***"


def test_cli_run_without_settings_exits_2_with_one_paragraph(tmp_path: Path) -> None:
    result = run_cli([], {}, tmp_path)
    assert result.returncode == 2
    assert "SLACK_BOT_TOKEN is not set" in result.stderr and ".env.example" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_run_with_unreachable_slack_exits_2_without_leaking_the_token(tmp_path: Path) -> None:
    env = {**GOOD, "SLACK_API_URL": "http://127.0.0.1:9/api/", "CATALOG_PATH": str(ROOT / "manifests" / "catalog.yaml"),
           "DATABASE_PATH": str(tmp_path / "x.db")}
    result = run_cli(["run"], env, tmp_path)
    assert result.returncode == 2, result.stderr
    assert "SLACK_BOT_TOKEN" in result.stderr and "Traceback" not in result.stderr
    assert "xoxb-123-456-abc" not in result.stderr + result.stdout


def test_cli_run_with_broken_catalog_exits_1_naming_the_line(tmp_path: Path) -> None:
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text((ROOT / "manifests" / "catalog.yaml").read_text().replace("owner: identity", "owner: identiy", 1))
    result = run_cli(["run"], {**GOOD, "CATALOG_PATH": str(catalog), "DATABASE_PATH": str(tmp_path / "x.db")}, tmp_path)
    assert result.returncode == 1
    assert f"{catalog}:" in result.stderr and "services[3].owner" in result.stderr and "identiy" in result.stderr


def test_cli_check_example_catalog() -> None:
    result = run_cli(["check", str(ROOT / "manifests" / "catalog.yaml")], {}, ROOT)
    assert result.returncode == 0, result.stderr
    assert "OK — 12 services, 5 teams" in result.stdout


def test_cli_run_serves_slack_over_http_and_stops_on_sigterm(slack, tmp_path: Path) -> None:
    """The real entry point: `python -m app run` in HTTP mode, declaring through it, then SIGTERM."""
    # Real time, on purpose (no `clock` fixture): the bot is a child process, which cannot share a frozen clock.
    import signal

    from tests.slack_driver import SIGNING_SECRET, SlackDriver
    from tests.slack_standin import BOT_TOKEN
    from tests.support import free_port, listening

    port = free_port()
    env = {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_API_URL": slack.api_url,
           "PORT": str(port), "HOST": "127.0.0.1", "DATABASE_PATH": str(tmp_path / "ladder.db"),
           "CATALOG_PATH": str(ROOT / "manifests" / "catalog.yaml")}
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SLACK_")}
    process = subprocess.Popen([sys.executable, "-m", "app", "run"], env={**clean, "PYTHONPATH": str(ROOT), **env},
                               cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        driver = SlackDriver(f"http://127.0.0.1:{port}/slack/events", slack)
        sam = slack.user_by_email("sam@example.com")
        slack.wait_for(lambda: listening(port), timeout=15)
        assert driver.slash("login broken", sam).status == 200
        view = driver.opened_view("declare_incident")
        assert driver.submit(view, sam, {}).status == 200
        # The process's own worker loop delivers: a page DM and the incident channel appear.
        slack.wait_for(lambda: slack.incident_channels() and any(c["is_im"] and c["messages"] for c in slack.channels.values()), timeout=10)
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=15)
    assert process.returncode == 0, err
    assert "Ladder is listening on" in err
    assert BOT_TOKEN not in out + err

