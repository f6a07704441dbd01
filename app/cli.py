"""`python -m app [run|check]`: the bot and its tools.

Exit codes: 0 fine, 1 the catalog (or another input) is invalid, 2 a setting is missing or
wrong. Errors are one readable paragraph, never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path
from urllib.error import URLError

from slack_sdk.errors import SlackApiError

from app.catalog import CatalogError, load_catalog
from app.config import SettingsError, load_settings

log = logging.getLogger("app")


def _fail(message: str, code: int) -> int:
    print(f"ladder: {message}", file=sys.stderr)
    return code


def cmd_check(args: argparse.Namespace) -> int:
    path = Path(args.path) if args.path else None
    if path is None:
        try:
            path = load_settings(env_file=Path(".env")).catalog_path
        except SettingsError:
            path = Path("manifests/catalog.yaml")
    try:
        catalog = load_catalog(path)
    except CatalogError as exc:
        print(f"{path}: {len(exc.issues)} problem(s):", file=sys.stderr)
        for issue in exc.issues:
            print(f"  {issue}", file=sys.stderr)
        return 1
    print(f"{path}: OK — {len(catalog.services)} services, {len(catalog.teams)} teams, "
          f"{len(catalog.schedules)} schedules, {len(catalog.policies)} policies, {len(catalog.severities)} severities.")
    return 0


def _reason(exc: BaseException) -> str:
    if isinstance(exc, SlackApiError):
        return str(exc.response.get("error") or exc.response.status_code)
    if isinstance(exc, URLError):
        return str(exc.reason)
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def cmd_run(args: argparse.Namespace) -> int:
    from slack_bolt.error import BoltError

    from app import logs
    from app.runtime import Runtime
    from app.slack.server import http_server, socket_mode_handler, stop_http_server

    try:
        settings = load_settings(env_file=Path(args.env_file))
    except SettingsError as exc:
        return _fail(str(exc), 2)
    logs.configure(settings.log_level)
    try:
        runtime = Runtime(settings)
    except CatalogError as exc:
        return _fail(f"the catalog {settings.catalog_path} is invalid, so Ladder cannot route incidents:\n  "
                     + "\n  ".join(str(i) for i in exc.issues), 1)
    except (BoltError, SlackApiError) as exc:
        return _fail(
            f"Slack did not accept SLACK_BOT_TOKEN at {settings.slack_api_url} ({_reason(exc)}). Check the token on "
            "your app's 'OAuth & Permissions' page and that the app is installed to your workspace.", 2)
    except (URLError, OSError) as exc:
        return _fail(
            f"Ladder could not reach Slack at SLACK_API_URL={settings.slack_api_url} to check SLACK_BOT_TOKEN "
            f"({_reason(exc)}). Check this machine's network and proxy settings, or SLACK_API_URL if you changed it.", 2)
    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        log.info("signal %s: shutting down", signum)
        stop.set()

    runtime.worker.start()
    try:
        if settings.socket_mode:
            handler = socket_mode_handler(runtime)
            signal.signal(signal.SIGTERM, on_signal)
            signal.signal(signal.SIGINT, on_signal)
            handler.connect()
            log.info("Ladder is running in Socket Mode (database %s)", settings.database_path)
            stop.wait()
            handler.close()
        else:
            server = http_server(runtime)
            signal.signal(signal.SIGTERM, lambda *_: stop_http_server(server))
            log.info("Ladder is listening on http://%s:%s/slack/events (database %s)",
                     settings.host, server.effective_port, settings.database_path)
            try:
                server.run()
            except KeyboardInterrupt:
                pass
    finally:
        runtime.close()
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m app", description="Ladder: Slack-first incident declaration and escalation.")
    sub = parser.add_subparsers(dest="command")
    run = sub.add_parser("run", help="run the bot (the default)")
    run.add_argument("--env-file", default=".env", help="settings file read before the environment (default .env)")
    run.set_defaults(func=cmd_run)
    check = sub.add_parser("check", help="validate a catalog file")
    check.add_argument("path", nargs="?", help="catalog file (default: CATALOG_PATH or manifests/catalog.yaml)")
    check.set_defaults(func=cmd_check)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        args = parser.parse_args(["run", *(argv or [])])
    return int(args.func(args))
