"""Serving Slack: HTTP through waitress (threaded, production-grade) or Socket Mode.

Bolt's own `app.start()` is a single-threaded development server with a listen backlog of 5;
waitress answers many requests at once, which matters during an alert storm.
"""

from __future__ import annotations

import errno
import logging
from typing import TYPE_CHECKING

from slack_bolt.adapter.socket_mode import SocketModeHandler
from waitress import wasyncore
from waitress.server import create_server

from app.slack.app import EVENTS_PATH, MAX_BODY_BYTES, LadderRequestHandler

if TYPE_CHECKING:
    from waitress.server import BaseWSGIServer

    from app.runtime import Runtime

log = logging.getLogger(__name__)


def http_server(runtime: "Runtime", host: str | None = None, port: int | None = None, **adjustments: object) -> "BaseWSGIServer":
    """`adjustments` are waitress settings (tests shorten `asyncore_loop_timeout` to stop fast)."""
    settings = runtime.settings
    return create_server(
        LadderRequestHandler(runtime.bolt, path=EVENTS_PATH, signing_secret=settings.signing_secret.get(), ops=runtime.ops),
        host=host or settings.host,
        port=settings.port if port is None else port,
        threads=settings.http_threads,
        backlog=1024,
        connection_limit=1000,
        channel_timeout=30,
        ident="Ladder",
        clear_untrusted_proxy_headers=True,
        # waitress buffers a body before the app sees it; a 400 MB one must not reach memory or disk first.
        max_request_body_size=MAX_BODY_BYTES,
        **adjustments,
    )


def run_http_server(server: "BaseWSGIServer") -> None:
    """`server.run()` until `stop_http_server`: a select() that finds its sockets closed under it once stopping
    (the fallback below) ends the loop quietly instead of as a traceback; any other OSError still raises."""
    try:
        server.run()
    except OSError as exc:
        if not getattr(server, "ladder_stopping", False) or exc.errno != errno.EBADF:
            raise


def stop_http_server(server: "BaseWSGIServer") -> None:
    """Stop `server.run()` from any thread: the sockets are closed by the loop's own thread.

    Closing them from elsewhere races the loop's select() (EBADF); waitress's trigger runs the
    close inside the loop, which then finds nothing left to serve and returns. The request threads
    stop first, so none is still writing to a channel while the loop closes it.
    """
    server.ladder_stopping = True  # type: ignore[attr-defined]
    server.task_dispatcher.shutdown()
    try:
        server.trigger.pull_trigger(lambda: wasyncore.close_all(server._map))
    except OSError as broken:  # the trigger's pipe is gone (seen once in ~100 test runs under load; cause unproven)
        log.warning("could not wake the HTTP loop to stop it (%s); closing its sockets from this thread", broken)
        wasyncore.close_all(server._map, ignore_all=True)


def socket_mode_handler(runtime: "Runtime") -> SocketModeHandler:
    return SocketModeHandler(runtime.bolt, app_token=runtime.settings.app_token.get(), trace_enabled=False)
