"""The Bolt app factory and the HTTP request adapter.

`LadderRequestHandler` builds Bolt requests itself to work around a Bolt quirk: any form body
containing the substring "payload" is parsed as an interactivity payload, so
`/incident declare payload service down` would reach no listener (see slack-platform.md §2).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Iterable
from urllib.parse import parse_qsl

from slack_bolt import App, BoltContext, BoltRequest
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_bolt.adapter.wsgi.http_request import WsgiHttpRequest
from slack_bolt.request.internals import build_context
from slack_bolt.response import BoltResponse

from app.slack.listeners import register

if TYPE_CHECKING:
    from app.runtime import Runtime

EVENTS_PATH = "/slack/events"


def build_bolt_app(runtime: "Runtime") -> App:
    settings = runtime.settings
    bolt = App(
        client=runtime.client,
        signing_secret=settings.signing_secret.get() or None,
        request_verification_enabled=not settings.socket_mode,
        process_before_response=False,
        listener_executor=ThreadPoolExecutor(max_workers=settings.http_threads, thread_name_prefix="ladder-listener"),
    )
    register(bolt, runtime)
    return bolt


def bolt_request(raw_body: str, query: Any, headers: dict[str, Any]) -> BoltRequest:
    """A BoltRequest whose body is right even when a slash command's text says 'payload'."""
    request = BoltRequest(body=raw_body, query=query, headers=headers)
    if not request.body and raw_body and not raw_body.lstrip().startswith("{"):
        form = dict(parse_qsl(raw_body, keep_blank_values=True))
        if "payload" not in form and "command" in form:
            request.body = form
            request.context = build_context(BoltContext({}), form)
    return request


class LadderRequestHandler(SlackRequestHandler):
    """Bolt's WSGI adapter plus a health check and the 'payload' fix above."""

    def dispatch(self, request: WsgiHttpRequest) -> BoltResponse:
        return self.app.dispatch(bolt_request(request.get_body(), request.query_string, request.get_headers()))

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") == "GET" and environ.get("PATH_INFO") == "/healthz":
            start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8")])
            return [b"ok\n"]
        return super().__call__(environ, start_response)
