"""`python -m app [run|check|oncall|simulate]`: the bot and its tools.

Exit codes: 0 fine, 1 the catalog (or another input) is invalid, 2 a setting is missing or
wrong. Errors are one readable paragraph, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.error import URLError

from slack_sdk.errors import SlackApiError

from app import oncall_report, simulate
from app.catalog import Catalog, CatalogError, load_catalog, parse_duration
from app.catalog.lint import lint
from app.config import SettingsError, load_settings

log = logging.getLogger("app")


def _fail(message: str, code: int) -> int:
    print(f"ladder: {message}", file=sys.stderr)
    return code


def _catalog_path(args: argparse.Namespace) -> Path:
    if getattr(args, "path", None):
        return Path(args.path)
    if getattr(args, "catalog", None):
        return Path(args.catalog)
    try:
        return load_settings(env_file=Path(".env")).catalog_path
    except SettingsError:
        return Path(os.environ.get("CATALOG_PATH") or "manifests/catalog.yaml")


def _when(raw: str | None) -> datetime:
    """--at: ISO 8601; without an offset it is UTC. 'now' or nothing: now."""
    if raw is None or raw == "now":
        return datetime.now(timezone.utc)
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise SystemExit(f"ladder: --at {raw!r} is not a time; write it like 2026-11-28T03:00 (UTC) or 2026-11-28T03:00+01:00") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _load_or_report(path: Path, as_json: bool) -> Catalog | None:
    try:
        return load_catalog(path)
    except CatalogError as exc:
        if as_json:
            print(json.dumps({"ok": False, "file": str(path), "errors": [i.as_dict() for i in exc.issues], "warnings": []}, indent=2))
        else:
            print(f"{path}: {len(exc.issues)} problem(s):", file=sys.stderr)
            for issue in exc.issues:
                print(f"  {issue}", file=sys.stderr)
        return None


def cmd_check(args: argparse.Namespace) -> int:
    path = _catalog_path(args)
    catalog = _load_or_report(path, args.json)
    if catalog is None:
        return 1
    warnings = lint(catalog, _when(args.at))
    summary = {"services": len(catalog.services), "teams": len(catalog.teams), "schedules": len(catalog.schedules),
               "policies": len(catalog.policies), "severities": len(catalog.severities)}
    if args.json:
        print(json.dumps({"ok": True, "file": str(path), "summary": summary, "errors": [],
                          "warnings": [w.as_dict() for w in warnings]}, indent=2))
        return 0
    print(f"{path}: OK — {summary['services']} services, {summary['teams']} teams, {summary['schedules']} schedules, "
          f"{summary['policies']} policies, {summary['severities']} severities"
          + (f"; {len(warnings)} warning(s):" if warnings else "."))
    for warning in warnings:
        print(f"  {warning}")
    return 0


def cmd_oncall(args: argparse.Namespace) -> int:
    catalog = _load_or_report(_catalog_path(args), args.json)
    if catalog is None:
        return 1
    try:
        report = oncall_report.build(catalog, _when(args.at), team=args.team, schedule=args.schedule, week=args.week)
    except KeyError as exc:
        return _fail(str(exc.args[0]), 1)
    print(json.dumps(report, indent=2) if args.json else oncall_report.render_text(report, catalog))
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    catalog = _load_or_report(_catalog_path(args), args.json)
    if catalog is None:
        return 1
    try:
        result = simulate.simulate(catalog, args.service, args.severity, _when(args.at), args.no_ack,
                                   timedelta(seconds=parse_duration(args.for_)))
    except KeyError as exc:
        return _fail(str(exc.args[0]), 1)
    print(json.dumps(result.as_dict(), indent=2) if args.json else simulate.render(result, catalog))
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
    check = sub.add_parser("check", help="validate a catalog file (exit 1 with every error)")
    check.add_argument("path", nargs="?", help="catalog file (default: CATALOG_PATH or manifests/catalog.yaml)")
    check.add_argument("--at", help="the week the reachability warnings speak about starts after this time (default now)")
    check.add_argument("--json", action="store_true", help="machine-readable output")
    check.set_defaults(func=cmd_check)
    oncall = sub.add_parser("oncall", help="who is on call now or at a time, and the hand-offs of the coming week")
    scope = oncall.add_mutually_exclusive_group()
    scope.add_argument("--team", help="a team id: its policy's levels and its schedules")
    scope.add_argument("--schedule", help="one schedule id")
    oncall.add_argument("--at", help="ISO time, UTC unless it has an offset (default now)")
    oncall.add_argument("--week", action="store_true", help="also list the hand-offs of the 7 days from --at")
    oncall.add_argument("--catalog", help="catalog file (default: CATALOG_PATH or manifests/catalog.yaml)")
    oncall.add_argument("--json", action="store_true", help="machine-readable output")
    oncall.set_defaults(func=cmd_oncall)
    sim = sub.add_parser("simulate", help="the escalation path an incident declared at --at would follow")
    sim.add_argument("--service", required=True, help="a service id from the catalog")
    sim.add_argument("--severity", help="a severity id (default: the least severe)")
    sim.add_argument("--at", help="ISO time, UTC unless it has an offset (default now)")
    sim.add_argument("--no-ack", action="store_true", help="nobody acknowledges: follow the ladder to its end, and the rules")
    sim.add_argument("--for", dest="for_", default="4h", help="with --no-ack, how long to follow the rules (default 4h)")
    sim.add_argument("--catalog", help="catalog file (default: CATALOG_PATH or manifests/catalog.yaml)")
    sim.add_argument("--json", action="store_true", help="machine-readable output")
    sim.set_defaults(func=cmd_simulate)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        args = parser.parse_args(["run", *(argv or [])])
    return int(args.func(args))
