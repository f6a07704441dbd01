"""The Bolt app factory and the HTTP request adapter.

`LadderRequestHandler` builds Bolt requests itself to work around a Bolt quirk: any form body
containing the substring "payload" is parsed as an interactivity payload, so
`/incident declare payload service down` would reach no listener (see slack-platform.md §2).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Iterable
from urllib.parse import parse_qsl

from slack_bolt import App, BoltContext, BoltRequest
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_bolt.adapter.wsgi.http_request import WsgiHttpRequest
from slack_bolt.request.internals import build_context, build_normalized_headers, extract_content_type, parse_body
from slack_bolt.response import BoltResponse
from slack_sdk.signature import SignatureVerifier

from app.slack.listeners import register
from app.threads import name_native_thread

if TYPE_CHECKING:
    from app.health import OpsEndpoints
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
        listener_executor=ThreadPoolExecutor(max_workers=max(64, settings.http_threads * 4), thread_name_prefix="ladder-listener",
                                             initializer=name_native_thread, initargs=("ladder-listener",)),
    )
    register(bolt, runtime)
    return bolt


def parsed_body(raw_body: str, headers: dict[str, Any]) -> dict[str, Any]:
    """The body as Ladder reads it (Bolt's parsing, with the 'payload' fix), or ValueError when it is not one object.

    Bolt parses it again in `BoltRequest`; reading it here first keeps what Bolt would choke on
    (`payload=null`, `[1,2]`, "[[[[…" nested past the parser's depth) from reaching it: a 500 there.
    """
    try:
        body = parse_body(raw_body, extract_content_type(build_normalized_headers(headers)))
    except RecursionError as deep:
        raise ValueError("nested too deeply") from deep
    if not isinstance(body, dict):
        raise ValueError("not a JSON object")
    if not body and raw_body and not raw_body.lstrip().startswith("{"):
        form = dict(parse_qsl(raw_body, keep_blank_values=True))
        if "payload" not in form and "command" in form:
            return form
    return body


def bolt_request(raw_body: str, query: Any, headers: dict[str, Any], body: dict[str, Any]) -> BoltRequest:
    """A BoltRequest carrying `body` (from `parsed_body`), right even when a slash command's text says 'payload'.

    The body is parsed once, by `parsed_body`: handed the raw text, BoltRequest would parse it again
    (URL-decoding a click's payload is about a tenth of the CPU a click costs before its answer).
    Bolt still gets the raw text, which its own signature check reads.
    """
    request = BoltRequest(body="", query=query, headers=headers)
    request.raw_body = raw_body
    request.body = body
    request.context = build_context(BoltContext({}), body)
    return request


INVALID = {"error": "invalid request"}
# The largest form Slack can submit (100 blocks of 3,000 characters, URL-encoded JSON) is under 1 MB; a body
# beyond this is refused before it is read, signed or not, so one request cannot take the host's memory.
MAX_BODY_BYTES = 2 * 1024 * 1024
SIGNATURE_MAX_AGE = 60 * 5  # Slack's replay window, as slack_sdk's SignatureVerifier applies it
_TIMESTAMP = re.compile(r"[0-9]{1,12}")  # epoch seconds; anything else is no timestamp Slack sent


class LadderRequestHandler(SlackRequestHandler):
    """Bolt's WSGI adapter plus a health check, the 'payload' fix above, and clean 4xx for hostile bodies.

    The signature is checked first, on the exact bytes received, before anything reads the body:
    whatever an unsigned body holds (`payload=null`, bytes that are not UTF-8, a signature header
    with non-ASCII characters), it gets 401 and nothing else looks at it. Bolt answers 500 to a
    body it cannot parse; a signed request that is Slack's but broken deserves a 400 and no listener.
    """

    def __init__(self, app: App, path: str = EVENTS_PATH, signing_secret: str = "", ops: "OpsEndpoints | None" = None) -> None:
        super().__init__(app, path)
        self.verifier = SignatureVerifier(signing_secret) if signing_secret else None
        self.ops = ops  # GET /healthz and GET /metrics (app/health.py)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        """`GET /healthz` and `GET /metrics` are the operators' (without `ops`, `/healthz` answers `200 ok`); the rest Slack's."""
        if self.ops is not None and self.ops.handles(environ):
            return self.ops(environ, start_response)
        if environ.get("REQUEST_METHOD") == "GET" and environ.get("PATH_INFO") == "/healthz":
            start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8")])
            return [b"ok\n"]
        return super().__call__(environ, start_response)

    def signed(self, raw: bytes, headers: dict[str, Any]) -> bool:
        """Slack's v0 signature over these exact bytes, stamped within the replay window (True without a secret).

        Computed here rather than by `SignatureVerifier.is_valid`, which needs the body as text and
        raises (a 500) on a timestamp that is not a number or a signature with non-ASCII characters.
        """
        if self.verifier is None:
            return True
        timestamp = _header(headers, "x-slack-request-timestamp")
        if not _TIMESTAMP.fullmatch(timestamp) or abs(self.verifier.clock.now() - int(timestamp)) > SIGNATURE_MAX_AGE:
            return False
        digest = hmac.new(self.verifier.signing_secret.encode(), b"v0:" + timestamp.encode() + b":" + raw, hashlib.sha256)
        expected = b"v0=" + digest.hexdigest().encode()
        return hmac.compare_digest(expected, _header(headers, "x-slack-signature").encode("utf-8", "replace"))

    def dispatch(self, request: WsgiHttpRequest) -> BoltResponse:
        headers = request.get_headers()
        if _declared_length(request.environ) > MAX_BODY_BYTES:
            return BoltResponse(status=413, body={"error": "the request body is larger than Slack ever sends"})
        raw = _raw_body(request.environ)
        if not self.signed(raw, headers):
            if _ssl_check(raw):  # Slack's certificate check may come unsigned and wants a 200 (slack-platform.md)
                return BoltResponse(status=200, body="")
            return BoltResponse(status=401, body=INVALID)
        try:
            text = raw.decode("utf-8")
            body = parsed_body(text, headers)
        except ValueError:  # not UTF-8, not JSON, or JSON that is not an object: nothing Slack sends
            return BoltResponse(status=400, body={"error": "the request body could not be parsed"})
        problem = malformed(body)
        if problem is not None:
            return BoltResponse(status=400, body={"error": problem})
        return self.app.dispatch(bolt_request(text, request.query_string, headers, body))


def _ssl_check(raw: bytes) -> bool:
    """`ssl_check=1&token=…`: answered 200 with nothing run, as Bolt's own SslCheck middleware does."""
    try:
        form = dict(parse_qsl(raw.decode("ascii"), keep_blank_values=True))
    except (UnicodeDecodeError, ValueError):
        return False
    return form.get("ssl_check") == "1" and "payload" not in form and "command" not in form


def _declared_length(environ: dict[str, Any]) -> int:
    try:
        return max(0, int(environ.get("CONTENT_LENGTH") or 0))
    except ValueError:
        return 0


def _raw_body(environ: dict[str, Any]) -> bytes:
    """The request body as received: the signature covers these bytes, before any decoding."""
    stream = environ.get("wsgi.input")
    length = min(_declared_length(environ), MAX_BODY_BYTES)
    return stream.read(length) if stream is not None and length > 0 else b""


def _header(headers: dict[str, Any], name: str) -> str:
    value = headers.get(name) or ""
    return str(value[0] if isinstance(value, (list, tuple)) and value else value)


INTERACTIONS = ("block_actions", "view_submission", "view_closed", "block_suggestion", "shortcut", "message_action")
_ID_HOLDERS = ("team", "user", "channel", "enterprise")  # Bolt reads `<name>.id` (or the name itself) for its context
_OBJECTS = ("event", "view", "message", "container", "state", "previous_message", "item", "assistant_thread", "function_data")


def malformed(body: dict[str, Any]) -> str | None:
    """What is wrong with a signed body's shape, or None: the parts Slack always sends and Bolt or a listener rely on.

    Bolt reads IDs out of any body it gets (and a list where Slack sends an object crashes it, a 500);
    listeners rely on an interaction's user, its actions and the view's state being there. Values inside
    those (a button's value, a form's metadata, what was typed) are the listeners' to judge, as data.
    """
    problem = _envelope_problem(body)
    if problem is None and isinstance(body.get("authorizations"), list) and body["authorizations"]:
        problem = _envelope_problem(body["authorizations"][0])  # Bolt takes the team and user from here for events
    if problem is None and isinstance(body.get("event"), dict):
        problem = _envelope_problem(body["event"])
    if problem is not None:
        return problem
    if not _valid_unicode(body):
        return "text that is not valid Unicode (a lone surrogate)"
    if "command" in body:  # a slash command: Slack form-encodes it, so every field is text
        if not all(isinstance(v, str) for v in body.values()):
            return "a slash command whose fields are not all text"
        if not body.get("user_id"):
            return "a slash command without a user"
        return None
    if body.get("type") == "event_callback" and not isinstance(_get(body, "event", "type"), str):
        return "an event without its type"
    return _interaction_problem(body)


def _get(node: Any, *path: str) -> Any:
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    return node


def _envelope_problem(node: Any) -> str | None:
    if not isinstance(node, dict):
        return "an object where Slack sends one is something else"
    for name in _ID_HOLDERS:
        value = node.get(name)
        if not (value is None or isinstance(value, str) or isinstance(value, dict) and isinstance(value.get("id"), (str, type(None)))):
            return f"`{name}` is neither an ID nor an object with one"
    for name in _OBJECTS:
        if node.get(name) is not None and not isinstance(node[name], dict):
            return f"`{name}` is not an object"
    for name in ("authorizations", "response_urls"):
        value = node.get(name)
        if value is not None and not (isinstance(value, list) and all(isinstance(v, dict) for v in value)):
            return f"`{name}` that are not a list of objects"
    if node.get("response_url") is not None and not isinstance(node["response_url"], str):
        return "a `response_url` that is not text"
    return None


def _valid_unicode(body: dict[str, Any]) -> bool:
    """False when a string holds a lone surrogate (JSON's "\\ud800"): no database or Slack call could store or send it."""
    try:
        json.dumps(body, ensure_ascii=False).encode("utf-8")
    except (UnicodeEncodeError, RecursionError):
        return False
    return True


def _interaction_problem(body: dict[str, Any]) -> str | None:
    """What Slack always sends with an interaction and Bolt or the listeners assume (a 500 without it)."""
    kind = body.get("type")
    if kind not in INTERACTIONS:
        return None
    if not isinstance(_get(body, "user", "id"), str) or not body["user"]["id"]:
        return "an interaction without a user"
    if kind in ("view_submission", "view_closed"):
        view = body.get("view")
        if not isinstance(view, dict) or not all(isinstance(view.get(k), str) and view[k] for k in ("type", "id", "callback_id")):
            return "a view interaction without its view"
        if kind == "view_submission" and not isinstance(_get(view, "state", "values"), dict):
            return "a view submission without the form's state"
    if kind == "block_actions":
        actions = body.get("actions")
        if not isinstance(actions, list) or not actions or not all(isinstance(a, dict) and isinstance(a.get("action_id"), str)
                                                                   for a in actions):
            return "a block action without actions"
    if kind == "block_suggestion" and not isinstance(body.get("action_id"), str):
        return "an options request without its action"
    if kind in ("shortcut", "message_action") and not isinstance(body.get("callback_id"), str):
        return "a shortcut without its callback"
    return None
