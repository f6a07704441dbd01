"""Settings from the environment (and an optional `.env` file).

Every setting is documented in `.env.example`. A missing or malformed setting raises
`SettingsError` carrying one readable paragraph; the CLI prints it and exits 2. Secrets are
kept in `SecretStr`-like wrappers so that a stray `repr()` or log line never shows them.
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping
from urllib.parse import unquote_plus, urlparse

from dotenv import dotenv_values

DEFAULT_SLACK_API_URL = "https://slack.com/api/"
DEFAULT_DATABASE_PATH = "ladder.db"
DEFAULT_CATALOG_PATH = "manifests/catalog.yaml"
SECRET_NAMES = ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "DATABASE_URL")
_HOSTNAME_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


class SettingsError(Exception):
    """A setting is missing or malformed; the message is meant for a human, verbatim."""


class Secret:
    """A string that never shows itself in repr/str, so it cannot leak into a log line."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')" if self._value else "Secret('')"

    __str__ = __repr__

    def __bool__(self) -> bool:
        return bool(self._value)


@dataclass(frozen=True)
class Settings:
    bot_token: Secret
    signing_secret: Secret
    app_token: Secret
    slack_api_url: str = DEFAULT_SLACK_API_URL
    port: int = 3000
    host: str = "0.0.0.0"
    database_path: Path = Path(DEFAULT_DATABASE_PATH)
    database_url: Secret = Secret("")  # postgresql://…: several hosts share one PostgreSQL database instead of the file
    catalog_path: Path = Path(DEFAULT_CATALOG_PATH)
    catalog_path_set: bool = False  # False: the default, relative to the working directory (said so when it is missing)
    admin_channel: str = ""
    tick_seconds: float = 1.0
    page_alert_after: float = 120.0
    slack_timeout: float = 10.0
    http_threads: int = 16
    delivery_threads: int = 4
    log_level: str = "INFO"
    health_port: int = 0  # 0: none; else /healthz and /metrics are also served there (Socket Mode's only HTTP)
    host_name: str = ""  # this host in logs and metrics; '' until load_settings fills in hostname:pid

    @property
    def socket_mode(self) -> bool:
        """Socket Mode whenever an app-level token is configured (no public URL needed)."""
        return bool(self.app_token)


def _read_env(environ: Mapping[str, str], env_file: Path | None) -> dict[str, str]:
    """The process environment wins over `.env`, as with every twelve-factor tool."""
    values: dict[str, str] = {}
    if env_file is not None and env_file.is_file():
        try:
            values.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
        except (OSError, UnicodeDecodeError) as exc:
            reason = "it is not UTF-8 text" if isinstance(exc, UnicodeDecodeError) else (exc.strerror or str(exc))
            raise SettingsError(
                f"The settings file {env_file.absolute()} cannot be read: {reason}. Write it as KEY=value lines "
                "(see .env.example), or remove it and set the settings in the environment."
            ) from None
    values.update({k: v for k, v in environ.items()})
    return values


_TOKEN_TEXT = re.compile(r"[\x21-\x7e]*")  # printable ASCII without spaces: all a Slack token or secret ever holds


def _secret_text(values: dict[str, str], name: str) -> str:
    """The secret as set, trimmed; refused, without quoting it, if it holds what no token does.

    A line break inside a token would otherwise reach an HTTP header and fail there with a
    traceback that prints the token.
    """
    raw = values.get(name, "").strip()
    if not _TOKEN_TEXT.fullmatch(raw):
        raise SettingsError(
            f"{name} holds a space, a line break or a character no Slack token or secret has (was it pasted "
            "together with other text?). Copy it again from your Slack app's settings."
        )
    return raw


def _require(values: dict[str, str], name: str, prefix: str, how: str) -> Secret:
    raw = _secret_text(values, name)
    if not raw:
        raise SettingsError(
            f"{name} is not set. {how} Put it in the environment or in a .env file next to "
            f"where you run Ladder (see .env.example)."
        )
    if prefix and not raw.startswith(prefix):
        raise SettingsError(
            f"{name} does not look right: it should start with '{prefix}'. {how}"
        )
    return Secret(raw)


def _int(values: dict[str, str], name: str, default: int, lo: int, hi: int) -> int:
    raw = values.get(name, "").strip()
    if not raw:
        return default
    try:
        number = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number between {lo} and {hi}; got {_shown(raw)}.") from None
    if not lo <= number <= hi:
        raise SettingsError(f"{name} must be between {lo} and {hi}; got {number}.")
    return number


def _float(values: dict[str, str], name: str, default: float, lo: float, hi: float) -> float:
    raw = values.get(name, "").strip()
    if not raw:
        return default
    try:
        number = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number of seconds between {lo} and {hi}; got {_shown(raw)}.") from None
    if not lo <= number <= hi:
        raise SettingsError(f"{name} must be between {lo} and {hi} seconds; got {number}.")
    return number


def _channel(values: dict[str, str], name: str) -> str:
    raw = values.get(name, "").strip()
    if raw and not re.match(r"^(#[a-z0-9][a-z0-9_-]{0,79}|[CG][A-Z0-9]{2,})$", raw):
        raise SettingsError(f"{name} must be a channel name like #ladder-admin or a channel ID like C0123ABCD; got {_shown(raw)}.")
    return raw


def _host(values: dict[str, str], name: str) -> str:
    """An IP address or a host name, checked before binding so that a typo is named as HOST, not as a socket error."""
    raw = values.get(name, "").strip() or "0.0.0.0"
    try:
        ipaddress.ip_address(raw)
        return raw
    except ValueError:
        pass
    labels = raw.rstrip(".").split(".")
    if len(raw) <= 253 and all(_HOSTNAME_LABEL.match(label) for label in labels) and not labels[-1].isdigit():
        return raw
    raise SettingsError(
        f"{name} must be an address of this machine to listen on: 0.0.0.0 (every network interface), 127.0.0.1 "
        f"(this machine only), :: (IPv6) or a host name; got {_shown(raw)}. {name} is used in HTTP mode only."
    )


def default_host_name() -> str:
    """hostname:pid: tells apart two hosts, and two processes on one machine, in logs and metrics."""
    return f"{socket.gethostname()}:{os.getpid()}"


_HOST_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@/-]{0,99}")  # a label value and a log word: no spaces, no quotes


def _host_name(values: dict[str, str], name: str) -> str:
    raw = values.get(name, "").strip()
    if not raw:
        return default_host_name()
    if not _HOST_NAME.fullmatch(raw):
        raise SettingsError(f"{name} names this host in logs and metrics: up to 100 letters, digits and . _ : @ / -, "
                            f"starting with a letter or digit, such as ladder-1 or web-2.eu; got {_shown(raw)}.")
    return raw


def _health_port(values: dict[str, str], name: str, app_token: Secret, port: int) -> int:
    """The port of the small /healthz and /metrics server, or 0 for none; never the port Slack's requests use."""
    number = _int(values, name, 0, 1, 65535) if values.get(name, "").strip() else 0
    if number and not app_token and number == port:
        raise SettingsError(f"{name} is {number}, the PORT Ladder already serves Slack on (with /healthz and /metrics); "
                            f"leave {name} unset in HTTP mode, or pick another port.")
    return number


def _database_path(values: dict[str, str], name: str) -> Path:
    """A file on disk: ':memory:' would give each thread a database of its own and lose everything on restart."""
    raw = values.get(name, "").strip() or DEFAULT_DATABASE_PATH
    if raw == ":memory:":
        raise SettingsError(
            f"{name} must name a file, such as {DEFAULT_DATABASE_PATH}: Ladder keeps incidents and pending pages "
            "there across restarts, and ':memory:' would lose them."
        )
    return Path(raw)


def _database_url(values: dict[str, str], name: str = "DATABASE_URL") -> Secret:
    """A PostgreSQL URL, or '' for the SQLite file; quoted back (if ever) without its password."""
    raw = values.get(name, "").strip()
    if not raw:
        return Secret("")
    shown = _shown(redact_database_url(raw))
    try:
        parsed = urlparse(raw)
        parsed.port  # noqa: B018 - raises ValueError for a port that is not a number or out of range
    except ValueError:
        raise SettingsError(f"{name} is not a URL Ladder can read (check the port); got {shown}.") from None
    if parsed.scheme not in ("postgresql", "postgres"):
        raise SettingsError(
            f"{name} must be a PostgreSQL URL such as postgresql://ladder:secret@db.internal:5432/ladder; got {shown}. "
            "Leave it unset to keep everything in the SQLite file named by DATABASE_PATH.")
    if not _TOKEN_TEXT.fullmatch(raw):
        raise SettingsError(f"{name} holds a space, a line break or a character no URL has; got {shown}.")
    if not parsed.path.strip("/") and "dbname=" not in parsed.query:
        raise SettingsError(f"{name} must name the database after the host, as in postgresql://…@db.internal:5432/ladder; "
                            f"got {shown}.")
    if len(parsed.path.strip("/")) > 63:
        raise SettingsError(f"{name} names a database longer than PostgreSQL allows (63 characters); got {shown}.")
    if values.get("DATABASE_PATH", "").strip():
        raise SettingsError("DATABASE_URL and DATABASE_PATH are both set: Ladder keeps its data in one place. Unset "
                            "DATABASE_PATH to use PostgreSQL, or DATABASE_URL to keep the SQLite file.")
    return Secret(raw)


def _shown(raw: str, limit: int = 60) -> str:
    """A bad value as the message quotes it: escaped, and cut so a huge value cannot flood the terminal."""
    return repr(raw if len(raw) <= limit else raw[:limit] + "…")


def public_url(url: str) -> str:
    """`url` without a user name or password, so that a proxy's credentials never reach a message or log line."""
    parsed = urlparse(url)
    if parsed.username is None and parsed.password is None:
        return url
    return parsed._replace(netloc="***@" + parsed.netloc.rpartition("@")[2]).geturl()


def redact_database_url(url: str) -> str:
    """A database URL as a log line or message may show it: the user kept, every password (`user:password@`, or libpq's
    `?password=` parameter) replaced by ***."""
    try:
        parsed = urlparse(url)
        has_password = parsed.password is not None
    except ValueError:
        return "postgresql://…"  # unreadable: show nothing of it
    if has_password:
        user, _, host = parsed.netloc.rpartition("@")
        parsed = parsed._replace(netloc=f"{user.partition(':')[0]}:***@{host}")
    # libpq percent-decodes the keys too (`%70assword=`): judge each key as libpq reads it.
    fields = [field.partition("=") for field in parsed.query.split("&")] if parsed.query else []
    query = "&".join(f"{key}{eq}***" if unquote_plus(key).strip().lower() == "password" else f"{key}{eq}{value}"
                     for key, eq, value in fields)
    return parsed._replace(query=query).geturl()


def _tool_values(environ: Mapping[str, str] | None, env_file: Path | None) -> dict[str, str]:
    """The settings a tool reads one by one: the environment, then `.env`; an unreadable `.env` is skipped (a tool
    reading one setting is not where to report it; `run` does)."""
    try:
        return _read_env(os.environ if environ is None else environ, env_file)
    except SettingsError:
        return dict(os.environ if environ is None else environ)


def catalog_path_setting(environ: Mapping[str, str] | None = None, env_file: Path | None = Path(".env")) -> str:
    """CATALOG_PATH as set (the environment, then `.env`), or '' when unset.

    The catalog tools (`check`, `oncall`, `simulate`) need this one setting and none of the tokens,
    so they read it alone rather than through `load_settings`, which would refuse a missing token.
    """
    values = _tool_values(environ, env_file)
    return values.get("CATALOG_PATH", "").strip()


def database_path_setting(environ: Mapping[str, str] | None = None, env_file: Path | None = Path(".env")) -> str:
    """DATABASE_PATH as set (the environment, then `.env`), or the default: `review` reads the bot's database without its tokens."""
    values = _tool_values(environ, env_file)
    return values.get("DATABASE_PATH", "").strip() or DEFAULT_DATABASE_PATH


def database_url_setting(environ: Mapping[str, str] | None = None, env_file: Path | None = Path(".env")) -> str:
    """DATABASE_URL as set and valid, or '': the tools reach a PostgreSQL bot's database without its tokens."""
    values = _tool_values(environ, env_file)
    return _database_url(values).get()


def load_settings(environ: Mapping[str, str] | None = None, env_file: Path | None = Path(".env"), *,
                  serving: bool = True) -> Settings:
    """Read and validate every setting, or raise SettingsError naming the first bad one.

    `serving=False` is for a tool that only calls the Web API (`drill --preflight`): it receives no requests
    from Slack, so it needs no SLACK_SIGNING_SECRET.
    """
    values = _read_env(os.environ if environ is None else environ, env_file)
    bot_token = _require(
        values,
        "SLACK_BOT_TOKEN",
        "xoxb-",
        "It is the Bot User OAuth Token from your Slack app's 'OAuth & Permissions' page "
        "(create the app from manifests/slack-app.yaml, then 'Install to Workspace').",
    )
    app_token_raw = _secret_text(values, "SLACK_APP_TOKEN")
    if app_token_raw and not app_token_raw.startswith("xapp-"):
        raise SettingsError(
            "SLACK_APP_TOKEN does not look right: it should start with 'xapp-'. It is an app-level "
            "token with the connections:write scope, from your app's 'Basic Information' page. "
            "Leave it unset to serve Slack over HTTP instead of Socket Mode."
        )
    app_token = Secret(app_token_raw)
    signing_how = (
        "It is the Signing Secret on your Slack app's 'Basic Information' page; Ladder uses it "
        "to prove that requests really come from Slack."
    )
    if app_token or not serving:
        signing_secret = Secret(_secret_text(values, "SLACK_SIGNING_SECRET"))
    else:
        signing_secret = _require(values, "SLACK_SIGNING_SECRET", "", signing_how + " It is required in HTTP mode (SLACK_APP_TOKEN unset).")

    api_url = values.get("SLACK_API_URL", "").strip() or DEFAULT_SLACK_API_URL
    parsed = urlparse(api_url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise SettingsError(
            f"SLACK_API_URL must be an http(s) URL such as {DEFAULT_SLACK_API_URL} "
            f"(GovSlack: https://slack-gov.com/api/); got {_shown(public_url(api_url))}."
        )
    if not api_url.endswith("/"):
        api_url += "/"

    level = values.get("LOG_LEVEL", "INFO").strip().upper() or "INFO"
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise SettingsError(f"LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR; got {_shown(level)}.")

    return Settings(
        bot_token=bot_token,
        signing_secret=signing_secret,
        app_token=app_token,
        slack_api_url=api_url,
        port=_int(values, "PORT", 3000, 1, 65535),
        host=_host(values, "HOST"),
        database_path=_database_path(values, "DATABASE_PATH"),
        database_url=_database_url(values),
        catalog_path=Path(values.get("CATALOG_PATH", "").strip() or DEFAULT_CATALOG_PATH),
        catalog_path_set=bool(values.get("CATALOG_PATH", "").strip()),
        admin_channel=_channel(values, "ADMIN_CHANNEL"),
        tick_seconds=_float(values, "TICK_SECONDS", 1.0, 0.05, 60.0),
        page_alert_after=_float(values, "PAGE_ALERT_AFTER", 120.0, 10.0, 3600.0),
        slack_timeout=_float(values, "SLACK_TIMEOUT", 10.0, 0.5, 120.0),
        http_threads=_int(values, "HTTP_THREADS", 16, 1, 256),
        delivery_threads=_int(values, "DELIVERY_THREADS", 4, 2, 64),
        log_level=level,
        health_port=_health_port(values, "HEALTH_PORT", app_token, _int(values, "PORT", 3000, 1, 65535)),
        host_name=_host_name(values, "HOST_NAME"),
    )
