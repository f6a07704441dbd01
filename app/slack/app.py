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
from slack_sdk.signature import SignatureVerifier

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
        # Ack functions answer Slack from the request's own thread; follow-ups run after (see listeners).
        process_before_response=True,
        # Listeners ack first, then wait on Slack (views.open, respond): I/O-bound threads, so plenty of them,
        # or the acks of new requests queue behind the post-ack calls of earlier ones.
        listener_executor=ThreadPoolExecutor(max_workers=max(64, settings.http_threads * 4), thread_name_prefix="ladder-listener"),
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


INVALID = {"error": "invalid request"}


class LadderRequestHandler(SlackRequestHandler):
    """Bolt's WSGI adapter plus a health check, the 'payload' fix above, and clean 4xx for hostile bodies.

    Bolt answers 500 to a non-numeric timestamp header and to a body it cannot parse; a request
    that is not Slack's, or is Slack's but broken, deserves a 4xx and no listener.
    """

    def __init__(self, app: App, path: str = EVENTS_PATH, signing_secret: str = "") -> None:
        super().__init__(app, path)
        self.verifier = SignatureVerifier(signing_secret) if signing_secret else None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        """`GET /healthz` answers `200 ok` for load balancers; everything else is Slack's."""
        if environ.get("REQUEST_METHOD") == "GET" and environ.get("PATH_INFO") == "/healthz":
            start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8")])
            return [b"ok\n"]
        return super().__call__(environ, start_response)

    def _signed(self, raw: str, headers: dict[str, Any]) -> bool:
        if self.verifier is None:
            return True
        return self.verifier.is_valid(raw, _header(headers, "x-slack-request-timestamp"), _header(headers, "x-slack-signature"))

    def dispatch(self, request: WsgiHttpRequest) -> BoltResponse:
        headers = request.get_headers()
        raw = request.get_body()
        if self.verifier is not None:
            if not _header(headers, "x-slack-request-timestamp").isdigit():
                return BoltResponse(status=401, body=INVALID)
        try:
            bolt = bolt_request(raw, request.query_string, headers)
        except ValueError:  # json.JSONDecodeError: a body that claims to be JSON and is not
            if not self._signed(raw, headers):
                return BoltResponse(status=401, body=INVALID)
            return BoltResponse(status=400, body={"error": "the request body could not be parsed"})
        problem = malformed_interaction(bolt.body)
        if problem is not None:
            if not self._signed(raw, headers):
                return BoltResponse(status=401, body=INVALID)
            return BoltResponse(status=400, body={"error": problem})
        return self.app.dispatch(bolt)


def _header(headers: dict[str, Any], name: str) -> str:
    value = headers.get(name) or ""
    return str(value[0] if isinstance(value, (list, tuple)) and value else value)


def malformed_interaction(body: dict[str, Any]) -> str | None:
    """What Slack always sends with an interaction and Bolt assumes (it crashes with a 500 without it)."""
    kind = body.get("type")
    if kind not in ("block_actions", "view_submission", "view_closed", "block_suggestion", "shortcut", "message_action"):
        return None
    if not isinstance(body.get("user"), dict) or not body["user"].get("id"):
        return "an interaction without a user"
    if kind in ("view_submission", "view_closed"):
        view = body.get("view")
        if not isinstance(view, dict) or not view.get("type") or not view.get("id"):
            return "a view interaction without its view"
    if kind == "block_actions" and not isinstance(body.get("actions"), list):
        return "a block action without actions"
    return None
