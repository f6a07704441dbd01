"""Why the bot could not start, as one paragraph that names the setting and says what to do.

A first run fails on a setting far more often than on a bug: the port is taken, the database's
directory does not exist, the token was pasted from the wrong page, Slack is having a bad hour.
Each of those deserves a sentence the person at the terminal can act on (the CLI prints it and
exits 2), not a traceback. Nothing here may quote a secret: tokens and the signing secret never
appear, and a URL is shown without any user name or password it carries.
"""

from __future__ import annotations

import errno
import socket
from urllib.error import URLError

from slack_sdk.errors import SlackApiError

from app.config import DEFAULT_SLACK_API_URL, Settings, public_url
from app.store import DatabaseUnusable

SLACK_STATUS = "https://slack-status.com"
# What to do about a token Slack refused (answered with ok: false), per setting.
_TOKEN_REFUSED_HOW = {
    "SLACK_BOT_TOKEN": "Check the Bot User OAuth Token on your app's 'OAuth & Permissions' page, and that the app is "
                       "installed to your workspace.",
    "SLACK_APP_TOKEN": "Check the app-level token on your app's 'Basic Information' page (App-Level Tokens): it needs "
                       "the connections:write scope, and Socket Mode must be on under 'Socket Mode'. Or leave "
                       "SLACK_APP_TOKEN unset to serve Slack over HTTP instead.",
}


def database(settings: Settings, exc: DatabaseUnusable) -> str:
    if settings.database_url:
        return f"Ladder cannot use DATABASE_URL: {exc}"  # the message names the server without its password
    return f"Ladder cannot use DATABASE_PATH={settings.database_path}: {exc}"


def listen(settings: Settings, exc: OSError | ValueError, name: str = "PORT") -> str:
    """Binding a port failed (PORT, or HEALTH_PORT's): name that setting or HOST, whichever the error is about."""
    port = settings.health_port if name == "HEALTH_PORT" else settings.port
    where = f"{settings.host}:{port}"
    code = exc.errno if isinstance(exc, OSError) else None
    if code == errno.EADDRINUSE:
        aside = ("" if name != "PORT" else " (With SLACK_APP_TOKEN set, Ladder uses Socket Mode and listens on no port at "
                 "all.)")
        return (f"{name} {port} is already in use on {settings.host}: another program (perhaps another Ladder) "
                f"is listening there. Stop it, or set {name} to a free port.{aside}")
    if code == errno.EACCES:
        return (f"Ladder is not allowed to listen on {where}: ports below 1024 need privileges. Set {name} to 1024 or "
                "above, such as 3000, and let a reverse proxy or load balancer forward to it.")
    if code == errno.EADDRNOTAVAIL:
        return (f"HOST={settings.host} is not an address of this machine, so Ladder cannot listen on it. Set HOST to "
                "0.0.0.0 (every network interface), 127.0.0.1 (this machine only) or one of this machine's addresses.")
    if isinstance(exc, (ValueError, socket.gaierror)):
        return (f"HOST={settings.host} does not resolve to an address of this machine. Set HOST to 0.0.0.0 (every "
                "network interface), 127.0.0.1 (this machine only) or one of this machine's addresses.")
    return f"Ladder could not listen on HOST={settings.host}, {name}={port} ({exc.strerror or exc}). Check both settings."


def _slack_api_error(exc: BaseException) -> SlackApiError | None:
    """The Web API answer behind `exc`: Bolt re-raises auth.test's SlackApiError as a BoltError, chained."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, SlackApiError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def slack(settings: Settings, setting: str, method: str, exc: BaseException) -> str:
    """Slack did not let Ladder in with `setting` (the token `method` checks): refused, unavailable or unreachable."""
    url = public_url(settings.slack_api_url)
    answer = _slack_api_error(exc)
    if answer is not None:
        status = answer.response.status_code
        if status >= 500:
            return (f"Slack is unavailable: {method} at {url} answered HTTP {status}, so Ladder could not check "
                    f"{setting}. This is on Slack's side, not your settings: try again in a few minutes, and see "
                    f"{SLACK_STATUS} for incidents.")
        if status == 429:
            return (f"Slack is rate-limiting {method} at {url} (HTTP 429), so Ladder could not check {setting}. "
                    "Wait a minute and start Ladder again.")
        if status != 200:  # Slack answers a refused token with 200 and ok: false; anything else is not Slack's Web API
            return (f"The server at SLACK_API_URL={url} answered HTTP {status} to {method}, which Slack's Web API does not, "
                    f"so Ladder could not check {setting}. Check SLACK_API_URL (default {DEFAULT_SLACK_API_URL}).")
        code = str(answer.response.get("error") or "no reason given")[:80]
        return f"Slack did not accept {setting} at {url} ({code}). {_TOKEN_REFUSED_HOW[setting]}"
    if isinstance(exc, URLError):
        reason = str(exc.reason)
    elif isinstance(exc, OSError):
        reason = exc.strerror or type(exc).__name__
    else:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return (f"Ladder could not reach Slack at SLACK_API_URL={url} to check {setting} ({reason}). Check this machine's "
            "network and proxy settings, or SLACK_API_URL if you changed it.")
