"""`python -m app [run|check|oncall|simulate|review|followups|report|drill]`: the bot and its tools.

Exit codes: 0 fine; 1 the catalog is invalid (or, for `drill --preflight`, a page would be stopped); 2 a setting or a command-line value is wrong, or
what a setting names cannot be used (the port is taken, the database file is not one, Slack
refused a token or is unavailable). Each is one readable paragraph, a bad flag one line naming
it, never a traceback. The engine is imported only by the command that needs it, so that a bad
flag is answered at once.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable

from app.cli_args import Parser, attach_dash_values, days, duration, incident_number, instant, refuse, report_day, shown
from app.config import DEFAULT_CATALOG_PATH, SECRET_NAMES, SettingsError, catalog_path_setting, load_settings

if TYPE_CHECKING:
    from app import logs
    from app.catalog import Catalog
    from app.config import Settings
    from app.runtime import Runtime
    from app.store import Store

log = logging.getLogger("app")


def _fail(message: str, code: int) -> int:
    print(f"ladder: {message}", file=sys.stderr)
    return code


def _must_know(args: argparse.Namespace, flag: str, value: str | None, kind: str, names: Iterable[str]) -> None:
    """Refuse `flag` (exit 2) when it names a team, service or schedule the catalog does not have, saying which it has."""
    if value is not None and value not in names:
        refuse(args, flag, f"unknown {kind[:-1]} {shown(value)}; {_known(kind, names)}")


def _known(kind: str, names: Iterable[str], limit: int = 10) -> str:
    """The names a flag could have taken: a few, so that one line stays one line with 2,000 services."""
    ordered = sorted(names)
    more = f" and {len(ordered) - limit} more" if len(ordered) > limit else ""
    return f"known {kind}: {', '.join(ordered[:limit]) or 'none'}{more}"


def _catalog(args: argparse.Namespace) -> "Catalog | None":
    """The catalog the command names (PATH, --catalog, CATALOG_PATH, the default); None if invalid, reported.

    A file that is not there is not an invalid catalog: it is refused (exit 2) naming the flag or
    setting that pointed at it, and the absolute path looked at.
    """
    from app import catalog_file
    from app.catalog import CatalogError, load_catalog

    explicit = [(flag, getattr(args, dest, None)) for flag, dest in (("PATH", "path"), ("--catalog", "catalog"))]
    flag, given = next(((f, v) for f, v in explicit if v is not None), (None, None))
    if flag is not None:
        path = Path(given)
        problem = catalog_file.problem(path)
        if problem:
            refuse(args, flag, problem)
    else:
        setting = catalog_path_setting()
        path = Path(setting or DEFAULT_CATALOG_PATH)
        problem = catalog_file.problem(path)
        if problem:
            other = "or name the file with check PATH" if args.command == "check" else "or name the file with --catalog"
            raise SystemExit(_fail(catalog_file.missing(path, bool(setting), problem, other), 2))
    try:
        return load_catalog(path)
    except CatalogError as exc:
        if args.json:
            print(json.dumps({"ok": False, "file": str(path), "errors": [i.as_dict() for i in exc.issues], "warnings": []}, indent=2))
        else:
            print(f"{path}: {len(exc.issues)} problem(s):", file=sys.stderr)
            for issue in exc.issues:
                print(f"  {issue}", file=sys.stderr)
        return None


def cmd_check(args: argparse.Namespace) -> int:
    from app.catalog.lint import lint

    catalog = _catalog(args)
    if catalog is None:
        return 1
    path = catalog.source
    warnings = lint(catalog, args.at)
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
    from app import oncall_report

    catalog = _catalog(args)
    if catalog is None:
        return 1
    _must_know(args, "--team", args.team, "teams", catalog.teams)
    _must_know(args, "--schedule", args.schedule, "schedules", catalog.schedules)
    report = oncall_report.build(catalog, args.at, team=args.team, schedule=args.schedule, week=args.week)
    print(json.dumps(report, indent=2) if args.json else oncall_report.render_text(report, catalog))
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    from app import simulate

    catalog = _catalog(args)
    if catalog is None:
        return 1
    _must_know(args, "--service", args.service, "services", catalog.services)
    if args.severity is not None and catalog.severity(args.severity) is None:
        refuse(args, "--severity", f"unknown severity {shown(args.severity)}; {_known('severities', (s.id for s in catalog.severities))}")
    result = simulate.simulate(catalog, args.service, args.severity, args.at, args.no_ack, args.for_)
    print(json.dumps(result.as_dict(), indent=2) if args.json else simulate.render(result, catalog))
    return 0


def _bot_database(args: argparse.Namespace) -> "Store | None":
    """The bot's database the tools read (`--db`, else DATABASE_URL, else DATABASE_PATH), open; None when there is none
    or it is unusable, reported in one line naming where it was looked for."""
    from app.config import SettingsError, database_path_setting, database_url_setting
    from app.store import DatabaseUnusable, Store
    from app.store.engines import open_store

    if args.db is None:
        try:
            url = database_url_setting()
        except SettingsError as exc:
            _fail(str(exc), 2)
            return None
        if url:
            try:
                return open_store("", url)
            except DatabaseUnusable as exc:
                _fail(str(exc), 2)
                return None
    path = Path(args.db if args.db is not None else database_path_setting())
    if not path.is_file():
        where = "--db" if args.db is not None else "DATABASE_PATH"
        _fail(f"there is no database at {path.absolute()} ({where}); name the bot's database with --db", 2)
        return None
    try:
        return Store(path)
    except DatabaseUnusable as exc:
        _fail(str(exc), 2)
        return None


def cmd_review(args: argparse.Namespace) -> int:
    """The review draft of a resolved incident, as uploaded to its channel: exit 1 if there is no such incident or it is open."""
    from app import review

    store = _bot_database(args)
    if store is None:
        return 2
    catalog = _catalog(args)  # for the team's time zone and update cadence; without one the review is in UTC
    try:
        material = review.load(store, catalog, args.incident)
    except review.NotReviewable as exc:
        return _fail(str(exc), 1)
    finally:
        store.close()
    print(review.render(review.build(material), args.format), end="")
    return 0


def drill_live(args: argparse.Namespace) -> int:
    """`drill --service S` (start a live drill; the running bot's worker sends its pages) and `drill --list`."""
    import json
    from datetime import datetime, timezone

    from app import drills
    from app.catalog import format_duration
    from app.catalog.schema import MIN_DRILL_PACE

    for flag, value in (("--severity", args.severity), ("--pace", args.pace), ("--as", args.as_user), ("--team", args.team)):
        if value is not None and (args.service is None or flag == "--team"):
            refuse(args, flag, "goes with --service (a live drill)" if flag != "--team" else "goes with --preflight")
    catalog = _catalog(args) if args.service is not None else None
    if args.service is not None and catalog is None:
        return 1
    if catalog is not None:  # a wrong value is refused like argparse refuses one (exit 2, naming the flag), not as a refused drill
        service, hint = drills.find_service(catalog, args.service, plain=True)
        if service is None:
            refuse(args, "--service", f"unknown service {shown(args.service)}; {_known('services', catalog.services)}" + (f".{hint}" if hint else ""))
        if args.severity is not None and catalog.severity(args.severity) is None:
            refuse(args, "--severity", f"unknown severity {shown(args.severity)}; {_known('severities', (s.id for s in catalog.severities))}")
        if args.pace is not None and args.pace.total_seconds() < MIN_DRILL_PACE:
            refuse(args, "--pace", f"{format_duration(int(args.pace.total_seconds()))} is too fast: a drill's pace is at least "
                                   f"{format_duration(MIN_DRILL_PACE)} (each level waits that long)")
    store = _bot_database(args)
    if store is None:
        return 2
    try:
        if args.list:
            rows = drills.recent(store)
            print(json.dumps(drills.listing(rows), indent=2) if args.json else drills.listing_text(rows))
            return 0
        assert catalog is not None
        pace = int(args.pace.total_seconds()) if args.pace is not None else None
        request = drills.DrillRequest(args.service, args.severity, args.as_user or drills.CLI_USER, pace=pace, operator=True, plain=True)
        outcome = drills.start(store, catalog, request, datetime.now(timezone.utc))
    finally:
        store.close()
    if not outcome.changed:
        return _fail(outcome.message, 1)
    print(outcome.message)
    return 0


def cmd_followups(args: argparse.Namespace) -> int:
    """Every follow-up (of one team's incidents, or only the overdue ones), by due date: one line each, or JSON."""
    from datetime import datetime, timezone

    from app import followups

    catalog = _catalog(args)
    if catalog is None:
        return 1
    _must_know(args, "--team", args.team, "teams", catalog.teams)
    store = _bot_database(args)
    if store is None:
        return 2
    try:
        lines = followups.listing(store, catalog, args.team, args.overdue, now=datetime.now(timezone.utc))
    finally:
        store.close()
    print(json.dumps(lines, indent=2) if args.json else followups.render_text(lines))
    return 0


def _writable_out(args: argparse.Namespace) -> Path | None:
    """--out: a file that can be written (refused at once, before the report's work, if it cannot)."""
    if args.out is None:
        return None
    out = Path(args.out)
    if out.is_dir():
        refuse(args, "--out", f"{out.absolute()} is a directory; name a file to write")
    parent = out.absolute().parent
    if not parent.is_dir():
        refuse(args, "--out", f"there is no directory {parent}")
    if not os.access(parent, os.W_OK) or (out.exists() and not os.access(out, os.W_OK)):
        refuse(args, "--out", f"{out.absolute()} cannot be written")
    return out


def cmd_report(args: argparse.Namespace) -> int:
    """MTTA/MTTR, the ladder's levels, on-call load and weekly trends over a period: text, JSON or an HTML file."""
    from datetime import datetime, timezone

    from app.report import figures

    now = datetime.now(timezone.utc)
    if args.until is None and args.since >= now:  # the period would end now: --until was never given, so blame --since
        refuse(args, "--since", f"{args.since:%Y-%m-%d %H:%M} UTC is in the future")
    until = args.until if args.until is not None else now
    if until <= args.since:
        refuse(args, "--until", f"{until:%Y-%m-%d %H:%M} UTC is not after --since {args.since:%Y-%m-%d %H:%M} UTC")
    out = _writable_out(args)
    catalog = _catalog(args)
    if catalog is None:
        return 1
    _must_know(args, "--team", args.team, "teams", catalog.teams)
    _must_know(args, "--service", args.service, "services", catalog.services)
    store = _bot_database(args)
    if store is None:
        return 2
    try:
        report = figures.compute(store.report_material(args.since, until, args.team, args.service), catalog, args.since, until,
                                 args.team, args.service)
    finally:
        store.close()
    empty = f"no incidents between {args.since:%Y-%m-%d %H:%M} and {until:%Y-%m-%d %H:%M} UTC" + "".join(
        f" for {flag} {value}" for flag, value in (("team", args.team), ("service", args.service)) if value)
    if report.incidents == 0 and args.format == "text":
        print(empty)
        return 0
    if report.incidents == 0:
        print(empty, file=sys.stderr)  # the JSON or HTML still says so, as a report of nothing, for tools that expect one
    if args.format == "json":
        from app.report import as_json
        rendered = as_json.render(report)
    elif args.format == "html":
        try:
            from app.report import html
        except ImportError as exc:
            return _fail(f"the HTML report is not available in this Ladder ({exc}); use --format text or json", 1)
        rendered = html.render(report, catalog)
    else:
        from app.report import text
        rendered = text.render(report)
    if out is None:
        print(rendered, end="")
        return 0
    try:
        out.write_text(rendered, encoding="utf-8")
    except OSError as exc:
        return _fail(f"argument --out: could not write {out.absolute()}: {exc.strerror or exc}", 2)
    print(f"wrote {out} ({report.incidents} incidents)", file=sys.stderr)
    return 0


def cmd_drill(args: argparse.Namespace) -> int:
    """`drill` does one thing a run, named by its mode flag; with none it says which there are (exit 2)."""
    if args.days is not None and not args.preflight:
        refuse(args, "--days", "goes with --preflight (the days of schedules it checks)")
    if args.preflight:
        return cmd_preflight(args)
    if args.service is not None or args.list:
        return drill_live(args)
    args.parser.error("say what to do: --preflight (check every rung against Slack, paging nobody), --service S (a live drill) "
                      "or --list (the latest drills)")


def cmd_preflight(args: argparse.Namespace) -> int:
    """Every rung of every ladder (or one team's) checked against the live workspace; exit 1 if a page would be stopped."""
    from datetime import datetime, timezone

    from slack_sdk import WebClient
    from slack_sdk.errors import SlackApiError

    from app import preflight, startup

    catalog = _catalog(args)
    if catalog is None:
        return 1
    _must_know(args, "--team", args.team, "teams", catalog.teams)
    try:
        settings = _settings(args, serving=False)
    except SettingsError as exc:
        return _fail(str(exc), 2)
    client = WebClient(token=settings.bot_token.get(), base_url=settings.slack_api_url, timeout=settings.slack_timeout)
    try:
        client.auth_test()
        result = preflight.run(catalog, preflight.Workspace(client), datetime.now(timezone.utc), days=args.days or preflight.DEFAULT_DAYS,
                               team=args.team, admin_channel=settings.admin_channel)
    except (SlackApiError, OSError, preflight.Unreachable) as exc:  # auth.test refused, or Slack unreachable
        return _fail(startup.slack(settings, "SLACK_BOT_TOKEN", "auth.test", exc), 2)
    print(json.dumps(result.as_dict(), indent=2) if args.json else preflight.render_text(result, catalog))
    return 1 if result.blocking else 0


def _keep_secrets_out_of_the_environment() -> None:
    """From here on the secrets live in `Settings` alone.

    Bolt's App reads SLACK_BOT_TOKEN from the environment by itself and, handed our WebClient as
    well, warned on every start that the token would be unused (it has no argument to stop it
    looking); and a secret left in the environment is inherited by any process this one starts.
    """
    for name in SECRET_NAMES:
        os.environ.pop(name, None)


def _settings(args: argparse.Namespace, *, serving: bool = True) -> "Settings":
    """Settings from --env-file (or an optional .env) and the environment; a file named on purpose must exist.

    `serving=False`: for a command that only calls the Web API (no signing secret needed)."""
    if args.env_file is not None:
        env_file = Path(args.env_file)
        if not env_file.is_file():
            what = f"{env_file.absolute()} is a directory" if env_file.is_dir() else f"there is no file {env_file.absolute()}"
            refuse(args, "--env-file", f"{what}; name a settings file written like .env.example")
    else:
        env_file = Path(".env")
    return load_settings(env_file=env_file, serving=serving)


def _held_back(settings: "Settings") -> "logs.HeldBack":
    """The Slack SDK's log lines, held while a token is checked (all of them pass at once with LOG_LEVEL=DEBUG)."""
    from app import logs

    return logs.HeldBack() if settings.log_level == "DEBUG" else logs.HeldBack("slack_sdk", "slack_bolt")


def cmd_run(args: argparse.Namespace) -> int:
    """Start the bot, checking on the way everything a setting names: each failure is one paragraph, exit 2."""
    from slack_bolt.error import BoltError
    from slack_sdk.errors import SlackApiError

    from app import catalog_file, logs, startup
    from app.catalog import CatalogError
    from app.runtime import Runtime
    from app.store import DatabaseUnusable

    try:
        settings = _settings(args)
    except SettingsError as exc:
        return _fail(str(exc), 2)
    _keep_secrets_out_of_the_environment()
    logs.configure(settings.log_level, settings.host_name)
    problem = catalog_file.problem(settings.catalog_path)
    if problem:
        return _fail(catalog_file.missing(settings.catalog_path, settings.catalog_path_set, problem), 2)
    held = _held_back(settings)
    try:
        runtime = Runtime(settings)
    except CatalogError as exc:
        held.release()
        return _fail(f"the catalog {settings.catalog_path} is invalid, so Ladder cannot route incidents:\n  "
                     + "\n  ".join(str(i) for i in exc.issues), 1)
    except DatabaseUnusable as exc:
        held.release()
        return _fail(startup.database(settings, exc), 2)
    except (BoltError, SlackApiError, OSError) as exc:  # auth.test: refused, unavailable or unreachable (URLError is an OSError)
        held.drop()
        return _fail(startup.slack(settings, "SLACK_BOT_TOKEN", "auth.test", exc), 2)
    held.release()
    try:
        return _serve_socket_mode(runtime) if settings.socket_mode else _serve_http(runtime)
    finally:
        runtime.close()


def _serve_socket_mode(runtime: "Runtime") -> int:
    """Connect to Slack first, then start the worker: a refused SLACK_APP_TOKEN stops Ladder before any work begins."""
    from slack_bolt.error import BoltError
    from slack_sdk.errors import SlackApiError

    from app import startup
    from app.slack.server import socket_mode_handler

    settings = runtime.settings
    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        log.info("signal %s: shutting down", signum)
        stop.set()

    handler = socket_mode_handler(runtime)
    held = _held_back(settings)
    try:
        handler.connect()
    except (BoltError, SlackApiError, OSError) as exc:
        held.drop()
        handler.close()
        return _fail(startup.slack(settings, "SLACK_APP_TOKEN", "apps.connections.open", exc), 2)
    held.release()
    try:
        health = _health_server(runtime)
    except (OSError, ValueError) as exc:
        handler.close()
        return _fail(startup.listen(settings, exc, "HEALTH_PORT"), 2)
    runtime.worker.start()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    log.info("Ladder is running in Socket Mode (%s database %s)", runtime.store.engine, runtime.store.describe())
    try:
        stop.wait()
    finally:
        handler.close()
        if health is not None:
            health()
    return 0


def _health_server(runtime: "Runtime") -> Callable[[], None] | None:
    """With HEALTH_PORT set: /healthz and /metrics served there on a thread of their own; returns what stops it."""
    from app.health import ops_server
    from app.slack.server import run_http_server, stop_http_server

    if not runtime.settings.health_port:
        return None
    server = ops_server(runtime)
    thread = threading.Thread(target=run_http_server, args=(server,), name="ladder-health", daemon=True)
    thread.start()
    log.info("health and metrics on http://%s:%s/healthz and /metrics", runtime.settings.host, server.effective_port)

    def stop() -> None:
        stop_http_server(server)
        thread.join(5)

    return stop


def _serve_http(runtime: "Runtime") -> int:
    """Bind the port first, then start the worker: a port in use or a bad HOST stops Ladder before any work begins."""
    from app import startup
    from app.slack.server import http_server, run_http_server, stop_http_server

    settings = runtime.settings
    try:
        server = http_server(runtime)
    except (OSError, ValueError) as exc:  # waitress: OSError from bind(), ValueError for a host it cannot resolve
        return _fail(startup.listen(settings, exc), 2)
    try:
        health = _health_server(runtime)
    except (OSError, ValueError) as exc:
        stop_http_server(server)
        return _fail(startup.listen(settings, exc, "HEALTH_PORT"), 2)
    runtime.worker.start()
    signal.signal(signal.SIGTERM, lambda *_: stop_http_server(server))
    log.info("Ladder is listening on http://%s:%s/slack/events (%s database %s)",
             settings.host, server.effective_port, runtime.store.engine, runtime.store.describe())
    try:
        run_http_server(server)
    except KeyboardInterrupt:
        pass
    finally:
        if health is not None:
            health()
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="python -m app", description="Ladder: Slack-first incident declaration and escalation.")
    sub = parser.add_subparsers(dest="command")
    run = sub.add_parser("run", help="run the bot (the default)")
    run.add_argument("--env-file", help="settings file read before the environment (default .env, if there is one)")
    run.set_defaults(func=cmd_run, parser=run)
    check = sub.add_parser("check", help="validate a catalog file (exit 1 with every error)")
    check.add_argument("path", nargs="?", metavar="PATH", help="catalog file (default: CATALOG_PATH or manifests/catalog.yaml)")
    check.add_argument("--at", type=instant, default="now",
                       help="the week the reachability warnings speak about starts after this time (default now)")
    check.add_argument("--json", action="store_true", help="machine-readable output")
    check.set_defaults(func=cmd_check, parser=check)
    oncall = sub.add_parser("oncall", help="who is on call now or at a time, and the hand-offs of the coming week")
    scope = oncall.add_mutually_exclusive_group()
    scope.add_argument("--team", help="a team id: its policy's levels and its schedules")
    scope.add_argument("--schedule", help="one schedule id")
    oncall.add_argument("--at", type=instant, default="now", help="ISO time, UTC unless it has an offset (default now)")
    oncall.add_argument("--week", action="store_true", help="also list the hand-offs of the 7 days from --at")
    oncall.add_argument("--catalog", help="catalog file (default: CATALOG_PATH or manifests/catalog.yaml)")
    oncall.add_argument("--json", action="store_true", help="machine-readable output")
    oncall.set_defaults(func=cmd_oncall, parser=oncall)
    sim = sub.add_parser("simulate", help="the escalation path an incident declared at --at would follow")
    sim.add_argument("--service", required=True, help="a service id from the catalog")
    sim.add_argument("--severity", help="a severity id (default: the least severe)")
    sim.add_argument("--at", type=instant, default="now", help="ISO time, UTC unless it has an offset (default now)")
    sim.add_argument("--no-ack", action="store_true", help="nobody acknowledges: follow the ladder to its end, and the rules")
    sim.add_argument("--for", dest="for_", type=duration, default="4h",
                     help="with --no-ack, how long to follow the rules, such as 30m, 4h or 2d (default 4h; at most 720h, 30 days)")
    sim.add_argument("--catalog", help="catalog file (default: CATALOG_PATH or manifests/catalog.yaml)")
    sim.add_argument("--json", action="store_true", help="machine-readable output")
    sim.set_defaults(func=cmd_simulate, parser=sim)
    rev = sub.add_parser("review", help="the review draft of a resolved incident (the file posted in its channel)")
    rev.add_argument("incident", type=incident_number, metavar="INCIDENT", help="INC-12 or 12")
    rev.add_argument("--format", choices=("md", "json"), default="md", help="Markdown (default) or JSON with stable keys")
    rev.add_argument("--db", help="the bot's database file (default: DATABASE_URL's PostgreSQL, else DATABASE_PATH or ladder.db)")
    rev.add_argument("--catalog", help="catalog file, for the team's time zone (default: CATALOG_PATH or manifests/catalog.yaml)")
    rev.set_defaults(func=cmd_review, parser=rev, json=False)
    fol = sub.add_parser("followups", help="the follow-ups of past incidents: owner, due date, overdue or done")
    fol.add_argument("--team", help="a team id: only its incidents' follow-ups")
    fol.add_argument("--overdue", action="store_true", help="only the follow-ups past their due date and not done")
    fol.add_argument("--json", action="store_true", help="machine-readable output (stable keys)")
    fol.add_argument("--db", help="the bot's database file (default: DATABASE_URL's PostgreSQL, else DATABASE_PATH or ladder.db)")
    fol.add_argument("--catalog", help="catalog file, for the teams and their time zones (default: CATALOG_PATH or manifests/catalog.yaml)")
    fol.set_defaults(func=cmd_followups, parser=fol)
    rep = sub.add_parser("report", help="MTTA/MTTR, the ladder's levels, on-call load and weekly trends over a period")
    rep.add_argument("--since", type=report_day, required=True, help="start of the period: a date (midnight UTC) or an ISO time")
    rep.add_argument("--until", type=report_day, help="end of the period, excluded (default now)")
    rep.add_argument("--team", help="a team id: only the incidents of its services")
    rep.add_argument("--service", help="a service id: only its incidents")
    rep.add_argument("--format", choices=("text", "json", "html"), default="text",
                     help="text for a terminal (default), JSON with stable keys, or one self-contained HTML file with charts")
    rep.add_argument("--out", help="write the report to this file instead of the standard output")
    rep.add_argument("--db", help="the bot's database file (default: DATABASE_URL's PostgreSQL, else DATABASE_PATH or ladder.db)")
    rep.add_argument("--catalog", help="catalog file, for the teams' zones, working hours and schedules (default: CATALOG_PATH or manifests/catalog.yaml)")
    rep.set_defaults(func=cmd_report, parser=rep, json=False)
    drill = sub.add_parser("drill", help="test the escalation ladders: --preflight checks every rung against Slack, paging nobody")
    modes = drill.add_mutually_exclusive_group()  # one mode per run; each mode's own flags are refused with another
    modes.add_argument("--preflight", action="store_true",
                       help="check every rung of every ladder against the live workspace (people, DMs, user groups, channels, "
                            "schedule gaps over --days) without sending anyone a message; exit 1 if anything would stop a page")
    modes.add_argument("--service", help="start a live drill of this service (id or name): its real ladder, every message marked "
                                         "DRILL; from the CLI, an operator's tool, the team's drills.allowed does not apply "
                                         "(its drills.hours, drills.never and an open SEV1 still do)")
    modes.add_argument("--list", action="store_true", help="the latest drills, newest first (never among the real incidents' figures)")
    drill.add_argument("--severity", help="with --service, a severity id (default: the least severe)")
    drill.add_argument("--pace", type=duration, help="with --service, every level's timeout, at least 1m, such as 2m "
                                                     "(default: the team's drills.pace, else each level's own)")
    drill.add_argument("--as", dest="as_user", help="with --service, the Slack user ID the drill is declared by (default USLACKBOT)")
    drill.add_argument("--db", help="with --service or --list, the bot's database file (default: DATABASE_URL's PostgreSQL, else DATABASE_PATH or ladder.db)")
    drill.add_argument("--team", help="a team id: only its ladders (and the teams its rules escalate to)")
    drill.add_argument("--days", type=days, help="with --preflight, how many days of schedules to check, 1 to 31 (default 7)")
    drill.add_argument("--catalog", help="catalog file (default: CATALOG_PATH or manifests/catalog.yaml)")
    drill.add_argument("--env-file", help="settings file read before the environment (default .env, if there is one)")
    drill.add_argument("--json", action="store_true", help="machine-readable output (stable keys)")
    drill.set_defaults(func=cmd_drill, parser=drill)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = attach_dash_values(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    if args.command is None:
        args = parser.parse_args(["run", *argv])
    try:
        return int(args.func(args))
    except BrokenPipeError:
        # `simulate … | head` closed the pipe: the reader has what it wanted; no traceback about it (Python's recipe).
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
