"""A local stand-in for Slack's Web API: a real HTTP server the app reaches through SLACK_API_URL.

Stateful (users, channels, members, messages, pins, views, DMs), it records every call and
enforces the rules of Slack's that matter to Ladder (see ../shared/slack-platform.md):
channel naming and `name_taken`, 50 blocks a message and 100 a modal, 24-character modal
titles, single-use trigger_ids that expire after 3 s, `not_in_channel`, 250-character topics.
Faults are injected per method: 429 with Retry-After, 5xx, Slack error codes, slow answers.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qsl

BOT_TOKEN = "xoxb-1111-2222-standin"
APP_TOKEN = "xapp-1-A111-standin"
BOT_USER_ID = "UBOT00001"
BOT_ID = "BBOT00001"
TEAM_ID = "T0LADDER1"
HUMAN_CREATOR = "U0ADMIN01"  # who made the channels a test sets up (not the bot)
TRIGGER_TTL_SECONDS = 3.0

_CHANNEL_NAME = re.compile(r"^[a-z0-9_-]+$")


@dataclass
class Call:
    method: str
    args: dict[str, Any]
    at: float  # the stand-in's clock (time.monotonic() unless set) when the request arrived
    done_at: float = 0.0  # when the answer left
    status: int = 200
    response: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)  # of the answer (Retry-After)


@dataclass
class Fault:
    status: int = 200
    error: str | None = None
    retry_after: int | None = None
    delay: float = 0.0
    times: int = 1
    hold: float = 0.0  # the call takes effect, then its answer is held back this long (a timeout or a crash lands in between)
    match: Callable[[dict[str, Any]], bool] | None = None  # only calls whose arguments match


class SlackStandIn:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.calls: list[Call] = []
        self.users: dict[str, dict[str, Any]] = {}
        self.channels: dict[str, dict[str, Any]] = {}
        self.usergroups: dict[str, list[str]] = {}
        self.files: dict[str, dict[str, Any]] = {}  # external uploads: declared length, the bytes received, completed or not
        self.views: dict[str, dict[str, Any]] = {}
        self.homes: dict[str, dict[str, Any]] = {}  # user ID -> the Home tab published for them (views.publish)
        self.triggers: dict[str, dict[str, Any]] = {}
        self.responses: list[dict[str, Any]] = []
        self.faults: dict[str, list[Fault]] = {}
        self.delays: dict[str, float] = {}
        self.socket_url: str | None = None
        self.limits: dict[str, tuple[float, float]] = {}  # method -> (per minute, burst): Slack's rate tiers
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)
        self._offset = 0.0  # the stand-in's own clock can be moved, so rate windows pass without sleeping
        # Calls are stamped and rate windows measured on this clock; the alert-storm benchmark runs it fast, in step with the app's.
        self.clock: Callable[[], float] = time.monotonic
        self.wall: Callable[[], float] = time.time  # Slack's epoch seconds (channel `created`); scenario tests set the app's clock
        self._ids = itertools.count(1000)
        self._ts = itertools.count(1)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="slack-standin", daemon=True)
        self.add_user("ladder-bot", "bot@ladder.invalid", user_id=BOT_USER_ID, is_bot=True)

    # -- lifecycle --------------------------------------------------------------------------------
    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    def start(self) -> "SlackStandIn":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- state set-up -------------------------------------------------------------------------------
    def _new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):08d}"

    def add_user(self, name: str, email: str, *, user_id: str | None = None, is_bot: bool = False) -> str:
        user_id = user_id or self._new_id("U")
        with self.lock:
            self.users[user_id] = {"id": user_id, "team_id": TEAM_ID, "name": name, "real_name": name.title(),
                                   "is_bot": is_bot, "deleted": False, "tz": "Europe/London",
                                   "profile": {"email": email, "display_name": name, "real_name": name.title()}}
        return user_id

    def deactivate(self, user_id: str) -> None:
        """An admin deactivated the account: `deleted: true`; users.lookupByEmail no longer finds it (users_not_found),
        users.info and users.list still show it, and conversations.open answers user_disabled."""
        with self.lock:
            self.users[user_id]["deleted"] = True

    def archive(self, channel_id: str) -> None:
        with self.lock:
            self.channels[channel_id]["archived"] = True

    def add_usergroup(self, members: list[str], *, group_id: str | None = None) -> str:
        """A Slack user group (`S…`) with these member IDs (possibly none)."""
        group_id = group_id or self._new_id("S")
        with self.lock:
            self.usergroups[group_id] = list(members)
        return group_id

    def user_by_email(self, email: str) -> str:
        return next(u["id"] for u in self.users.values() if u["profile"]["email"].lower() == email.lower())

    def add_channel(self, name: str, *, private: bool = False, members: list[str] | None = None, bot_member: bool = True) -> str:
        channel_id = self._new_id("G" if private else "C")
        with self.lock:
            self.channels[channel_id] = self._channel(channel_id, name, private, set(members or []) | ({BOT_USER_ID} if bot_member else set()))
        return channel_id

    def _channel(self, channel_id: str, name: str, private: bool, members: set[str], is_im: bool = False, user: str | None = None,
                 creator: str = HUMAN_CREATOR) -> dict[str, Any]:
        return {"id": channel_id, "name": name, "is_private": private, "is_im": is_im, "user": user, "members": members,
                "topic": "", "archived": False, "messages": [], "pins": set(), "created": int(self.wall()), "creator": creator}

    def issue_trigger(self) -> str:
        trigger = f"{next(self._ids)}.{next(self._ids)}.{next(self._ids):x}"
        with self.lock:
            self.triggers[trigger] = {"at": time.monotonic(), "used": False}
        return trigger

    def response_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/response/{next(self._ids)}"

    # -- faults -----------------------------------------------------------------------------------
    def fail(self, method: str, *, status: int = 200, error: str | None = None, retry_after: int | None = None,
             times: int = 1, delay: float = 0.0, match: Callable[[dict[str, Any]], bool] | None = None, hold: float = 0.0) -> None:
        """The next `times` calls of `method` (whose arguments `match`) fail this way (429 + Retry-After, 5xx, an error code,
        an answer slower than the client waits, or one held back after the call took effect)."""
        with self.lock:
            self.faults.setdefault(method, []).append(Fault(status, error, retry_after, delay, times, hold=hold, match=match))

    def heal(self, method: str | None = None) -> None:
        """Slack is back: drop pending faults (of one method, or all)."""
        with self.lock:
            if method is None:
                self.faults.clear()
            else:
                self.faults.pop(method, None)

    def rate_limit(self, method: str, per_minute: float, burst: float = 1) -> None:
        """Enforce a rate tier: a token bucket per method (per channel for chat.postMessage), 429 + Retry-After beyond it."""
        with self.lock:
            self.limits[method] = (per_minute, burst)

    def advance(self, seconds: float) -> None:
        """Let `seconds` pass for the rate limits."""
        with self.lock:
            self._offset += seconds

    def _take_token(self, method: str, args: dict[str, Any]) -> int | None:
        """None if the call may go ahead; otherwise the whole seconds until it may (Retry-After)."""
        if method not in self.limits:
            return None
        per_minute, burst = self.limits[method]
        key = f"{method}:{args.get('channel', '')}" if method == "chat.postMessage" else method
        now = self.clock() + self._offset
        tokens, at = self._buckets.get(key, (burst, now))
        tokens = min(burst, tokens + (now - at) * per_minute / 60)
        if tokens >= 1:
            self._buckets[key] = (tokens - 1, now)
            return None
        self._buckets[key] = (tokens, now)
        return max(1, int(((1 - tokens) * 60 / per_minute) + 0.999))

    def slow(self, method: str, seconds: float) -> None:
        """Every call of `method` (or of every method, with '*') takes this long to answer."""
        with self.lock:
            self.delays[method] = seconds

    # -- queries for tests ----------------------------------------------------------------------------
    def calls_to(self, method: str) -> list[Call]:
        with self.lock:
            return [c for c in self.calls if c.method == method]

    def ok_calls_to(self, method: str) -> list[Call]:
        return [c for c in self.calls_to(method) if c.status == 200 and c.response.get("ok")]

    def channel_named(self, name: str) -> dict[str, Any] | None:
        with self.lock:
            return next((c for c in self.channels.values() if c["name"] == name), None)

    def dm_with(self, user_id: str) -> dict[str, Any] | None:
        with self.lock:
            return next((c for c in self.channels.values() if c["is_im"] and c["user"] == user_id), None)

    def messages_in(self, channel_id: str) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.channels[channel_id]["messages"]) if channel_id in self.channels else []

    def incident_channels(self) -> list[dict[str, Any]]:
        with self.lock:
            return [c for c in self.channels.values() if c["name"].startswith("inc-")]

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 5.0) -> Any:
        """Wait for work the app does after its HTTP answer (Bolt runs listeners after ack)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                result = predicate()
            if result:
                return result
            time.sleep(0.01)
        raise AssertionError("the Slack stand-in did not see the expected call in time")

    # -- HTTP ---------------------------------------------------------------------------------------
    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def do_GET(self) -> None:
                self._send(405, {"ok": False, "error": "invalid_post_type"})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if self.path.startswith("/upload/"):  # the upload_url of files.getUploadURLExternal: raw bytes, no token
                    status, text = standin._receive_upload(self.path[len("/upload/"):], self.rfile.read(length) if length else b"")
                    self._send_text(status, text)
                    return
                raw = self.rfile.read(length).decode("utf-8") if length else ""
                if self.path.startswith("/response/"):
                    with standin.lock:
                        standin.responses.append({"url": self.path, "body": json.loads(raw or "{}"), "at": time.monotonic()})
                    self._send_text(200, "ok")
                    return
                if not self.path.startswith("/api/"):
                    self._send(404, {"ok": False, "error": "unknown_method"})
                    return
                method = self.path[len("/api/"):].split("?")[0]
                args = standin._parse_args(raw, self.headers.get("Content-Type", ""))
                call = Call(method, args, standin.clock())
                with standin.lock:
                    standin.calls.append(call)
                status, body, headers = standin._answer(method, args, self.headers.get("Authorization", ""))
                call.status, call.response, call.headers, call.done_at = status, body, headers, standin.clock()
                self._send(status, body, headers)

            def _send(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def _send_text(self, status: int, text: str) -> None:
                data = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler

    @staticmethod
    def _parse_args(raw: str, content_type: str) -> dict[str, Any]:
        if "json" in content_type:
            args = json.loads(raw or "{}")
        else:
            args = dict(parse_qsl(raw, keep_blank_values=True))
        for key in ("blocks", "view", "attachments"):
            if isinstance(args.get(key), str) and args[key]:
                try:
                    args[key] = json.loads(args[key])
                except json.JSONDecodeError:
                    pass
        return args

    def _answer(self, method: str, args: dict[str, Any], authorization: str) -> tuple[int, dict[str, Any], dict[str, str]]:
        delay = self.delays.get(method, self.delays.get("*", 0.0))
        fault = None
        with self.lock:
            queue = self.faults.get(method) or []
            fault = next((f for f in queue if f.match is None or f.match(args)), None)
            if fault is not None:
                fault.times -= 1
                if fault.times <= 0:
                    queue.remove(fault)
        if fault is not None:
            delay = max(delay, fault.delay)
        if delay:
            time.sleep(delay)
        if fault is not None and (fault.status != 200 or fault.error):
            headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
            error = fault.error or ("ratelimited" if fault.status == 429 else "internal_error")
            return fault.status, {"ok": False, "error": error}, headers
        with self.lock:
            wait = self._take_token(method, args)
        if wait is not None:
            return 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(wait)}
        token = authorization.removeprefix("Bearer ").strip()
        expected = APP_TOKEN if method == "apps.connections.open" else BOT_TOKEN
        if token != expected:
            return 200, {"ok": False, "error": "invalid_auth" if token else "not_authed"}, {}
        handler = getattr(self, "_m_" + method.replace(".", "_"), None)
        if handler is None:
            return 200, {"ok": False, "error": "unknown_method"}, {}
        with self.lock:
            try:
                answer = 200, {"ok": True, **handler(args)}, {}
            except SlackError as exc:
                answer = 200, {"ok": False, "error": exc.code, **exc.extra}, {}
        if fault is not None and fault.hold:
            time.sleep(fault.hold)
        return answer

    # -- methods --------------------------------------------------------------------------------------
    def _channel_or_fail(self, channel: str | None) -> dict[str, Any]:
        if not channel:
            raise SlackError("channel_not_found")
        if channel.startswith("#"):
            found = self.channel_named(channel[1:])
            if found is None:
                raise SlackError("channel_not_found")
            return found
        if channel in self.channels:
            return self.channels[channel]
        raise SlackError("channel_not_found")

    def _m_auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"url": "https://ladder-test.slack.com/", "team": "Ladder Test", "user": "ladder-bot",
                "team_id": TEAM_ID, "user_id": BOT_USER_ID, "bot_id": BOT_ID, "is_enterprise_install": False}

    def _m_apps_connections_open(self, args: dict[str, Any]) -> dict[str, Any]:
        if not self.socket_url:
            raise SlackError("forbidden_team")
        return {"url": self.socket_url}

    def _m_conversations_create(self, args: dict[str, Any]) -> dict[str, Any]:
        name = args.get("name") or ""
        if not name:
            raise SlackError("invalid_name_required")
        if len(name) > 80:
            raise SlackError("invalid_name_maxlength")
        if not _CHANNEL_NAME.match(name):
            raise SlackError("invalid_name_specials")
        if not re.search(r"[a-z0-9]", name):
            raise SlackError("invalid_name_punctuation")
        if self.channel_named(name) is not None:
            raise SlackError("name_taken")
        private = str(args.get("is_private", "")).lower() in ("1", "true")
        channel_id = self.add_channel(name, private=private)
        self.channels[channel_id]["creator"] = BOT_USER_ID
        return {"channel": self._channel_json(self.channels[channel_id])}

    def _m_conversations_list(self, args: dict[str, Any]) -> dict[str, Any]:
        types = set(str(args.get("types") or "public_channel").split(","))
        exclude_archived = str(args.get("exclude_archived", "")).lower() in ("1", "true")
        listed = [c for c in self.channels.values() if not c["is_im"]
                  and ("private_channel" if c["is_private"] else "public_channel") in types
                  and not (exclude_archived and c["archived"])
                  and (not c["is_private"] or BOT_USER_ID in c["members"])]  # private ones only where the bot is
        start = int(args.get("cursor") or 0)
        limit = min(int(args.get("limit") or 100), 1000)
        page = listed[start:start + limit]
        cursor = str(start + limit) if start + limit < len(listed) else ""
        return {"channels": [self._channel_json(c) for c in page], "response_metadata": {"next_cursor": cursor}}

    def _channel_json(self, channel: dict[str, Any]) -> dict[str, Any]:
        return {"id": channel["id"], "name": channel["name"], "is_channel": not channel["is_private"],
                "is_private": channel["is_private"], "is_member": BOT_USER_ID in channel["members"],
                "is_archived": channel["archived"], "created": channel["created"], "creator": channel["creator"],
                "topic": {"value": channel["topic"], "creator": BOT_USER_ID, "last_set": 0}}

    def _m_conversations_invite(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel_or_fail(args.get("channel"))
        if channel["archived"]:
            raise SlackError("is_archived")
        if BOT_USER_ID not in channel["members"]:
            raise SlackError("not_in_channel")
        users = [u for u in str(args.get("users", "")).split(",") if u]
        if not users:
            raise SlackError("no_user")
        for user in users:
            if user == BOT_USER_ID:
                raise SlackError("cant_invite_self")
            if user not in self.users:
                raise SlackError("user_not_found")
        if len(users) == 1 and users[0] in channel["members"]:
            raise SlackError("already_in_channel")
        channel["members"].update(users)
        return {"channel": self._channel_json(channel)}

    def _m_conversations_setTopic(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel_or_fail(args.get("channel"))
        topic = args.get("topic", "")
        if len(topic) > 250:
            raise SlackError("too_long")
        if BOT_USER_ID not in channel["members"]:
            raise SlackError("not_in_channel")
        channel["topic"] = topic
        return {"channel": self._channel_json(channel)}

    def _m_conversations_join(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel_or_fail(args.get("channel"))
        if channel["is_private"]:
            raise SlackError("method_not_supported_for_channel_type")
        channel["members"].add(BOT_USER_ID)
        return {"channel": self._channel_json(channel)}

    def _target_channel(self, channel: str | None) -> dict[str, Any]:
        """chat.postMessage to a user ID opens (or reuses) the bot's DM with that user."""
        if channel and channel[0] in "UW":
            if channel not in self.users:
                raise SlackError("channel_not_found")
            dm = self.dm_with(channel)
            if dm is None:
                dm_id = self._new_id("D")
                dm = self._channel(dm_id, f"dm-{channel}", True, {BOT_USER_ID, channel}, is_im=True, user=channel)
                self.channels[dm_id] = dm
            return dm
        return self._channel_or_fail(channel)

    @staticmethod
    def _check_message(args: dict[str, Any]) -> None:
        blocks = args.get("blocks")
        if not args.get("text") and not blocks and not args.get("attachments"):
            raise SlackError("no_text")
        if blocks is not None:
            if not isinstance(blocks, list):
                raise SlackError("invalid_blocks")
            if len(blocks) > 50:
                raise SlackError("invalid_blocks", response_metadata={"messages": ["[ERROR] no more than 50 items allowed [json-pointer:/blocks]"]})
            for index, block in enumerate(blocks):
                if block.get("type") == "section" and len((block.get("text") or {}).get("text", "")) > 3000:
                    raise SlackError("invalid_blocks", response_metadata={"messages": [f"[ERROR] must be less than 3001 characters [json-pointer:/blocks/{index}/text]"]})

    def _m_chat_postMessage(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._target_channel(args.get("channel"))
        if channel["archived"]:
            raise SlackError("is_archived")
        if channel["is_private"] and BOT_USER_ID not in channel["members"]:
            raise SlackError("not_in_channel")
        self._check_message(args)
        ts = f"{1_700_000_000 + next(self._ts)}.{next(self._ts):06d}"
        message = {"type": "message", "ts": ts, "user": BOT_USER_ID, "bot_id": BOT_ID, "text": args.get("text", ""),
                   "blocks": args.get("blocks") or [], "channel": channel["id"], "edits": 0}
        if args.get("metadata"):
            metadata = args["metadata"]
            metadata = json.loads(metadata) if isinstance(metadata, str) else metadata
            if not isinstance(metadata, dict) or not metadata.get("event_type") or not isinstance(metadata.get("event_payload"), dict):
                raise SlackError("invalid_metadata_format")
            message["metadata"] = metadata
        channel["messages"].append(message)
        return {"channel": channel["id"], "ts": ts, "message": message}

    def _m_conversations_open(self, args: dict[str, Any]) -> dict[str, Any]:
        users = str(args.get("users") or "")
        if not users or "," in users:
            raise SlackError("users_list_not_supplied" if not users else "not_implemented")  # Ladder opens one-to-one DMs only
        if users not in self.users:
            raise SlackError("user_not_found")
        if self.users[users]["deleted"]:
            raise SlackError("user_disabled")
        if self.users[users]["is_bot"]:
            raise SlackError("cannot_dm_bot")
        return {"channel": {"id": self._target_channel(users)["id"]}}

    def _m_conversations_info(self, args: dict[str, Any]) -> dict[str, Any]:
        """By ID only. A private channel the bot is not in is invisible to it: channel_not_found, as for one that never was."""
        channel = self.channels.get(args.get("channel") or "")
        if channel is None or channel["is_im"] or (channel["is_private"] and BOT_USER_ID not in channel["members"]):
            raise SlackError("channel_not_found")
        return {"channel": self._channel_json(channel)}

    def _m_conversations_history(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel_or_fail(args.get("channel"))
        if BOT_USER_ID not in channel["members"]:
            raise SlackError("not_in_channel")
        oldest = float(args.get("oldest") or 0)
        limit = int(args.get("limit") or 100)
        with_metadata = str(args.get("include_all_metadata", "")).lower() in ("1", "true")
        newest_first = [m for m in reversed(channel["messages"]) if float(m["ts"]) > oldest][:limit]
        return {"messages": [m if with_metadata else {k: v for k, v in m.items() if k != "metadata"} for m in newest_first],
                "has_more": False}

    def _find_message(self, channel_id: str | None, ts: str | None) -> tuple[dict[str, Any], dict[str, Any]]:
        channel = self._channel_or_fail(channel_id)
        message = next((m for m in channel["messages"] if m["ts"] == ts), None)
        if message is None:
            raise SlackError("message_not_found")
        return channel, message

    def _m_chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        channel, message = self._find_message(args.get("channel"), args.get("ts"))
        if message["user"] != BOT_USER_ID:
            raise SlackError("cant_update_message")
        self._check_message(args)
        if len(args.get("text") or "") > 4000:
            raise SlackError("msg_too_long")
        message.update(text=args.get("text", message["text"]), blocks=args.get("blocks") or message["blocks"])
        message["edits"] += 1
        return {"channel": channel["id"], "ts": message["ts"], "text": message["text"], "message": message}

    def _m_chat_postEphemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel_or_fail(args.get("channel"))
        if args.get("user") not in channel["members"]:
            raise SlackError("user_not_in_channel")
        self._check_message(args)
        return {"message_ts": f"{1_700_000_000 + next(self._ts)}.000000"}

    def _m_pins_add(self, args: dict[str, Any]) -> dict[str, Any]:
        channel, message = self._find_message(args.get("channel"), args.get("timestamp"))
        if message["ts"] in channel["pins"]:
            raise SlackError("already_pinned")
        channel["pins"].add(message["ts"])
        return {}

    def _check_view(self, view: Any) -> dict[str, Any]:
        if not isinstance(view, dict):
            raise SlackError("invalid_arguments")
        messages = []
        title = (view.get("title") or {}).get("text", "")
        if len(title) > 24:
            messages.append("[ERROR] must be less than 25 characters [json-pointer:/view/title/text]")
        if len(view.get("blocks") or []) > 100:
            messages.append("[ERROR] no more than 100 items allowed [json-pointer:/view/blocks]")
        if len(view.get("private_metadata") or "") > 3000:
            messages.append("[ERROR] must be less than 3001 characters [json-pointer:/view/private_metadata]")
        if any(b.get("type") == "input" for b in view.get("blocks") or []) and not view.get("submit"):
            messages.append("[ERROR] submit is required when the view has input blocks [json-pointer:/view/submit]")
        if messages:
            raise SlackError("invalid_arguments", response_metadata={"messages": messages})
        return view

    def _store_view(self, view_id: str, view: dict[str, Any], root: str | None = None) -> dict[str, Any]:
        stored = {**view, "id": view_id, "hash": f"{int(time.time())}.{next(self._ids):x}", "state": {"values": {}},
                  "root_view_id": root or view_id, "app_id": "A0LADDER1", "bot_id": BOT_ID, "team_id": TEAM_ID}
        self.views[view_id] = stored
        return stored

    def _use_trigger(self, trigger_id: str | None) -> None:
        trigger = self.triggers.get(trigger_id or "")
        if trigger is None:
            raise SlackError("invalid_trigger_id")
        if trigger["used"]:
            raise SlackError("exchanged_trigger_id")
        if time.monotonic() - trigger["at"] > TRIGGER_TTL_SECONDS:
            raise SlackError("expired_trigger_id")
        trigger["used"] = True

    def _m_views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        view = self._check_view(args.get("view"))
        self._use_trigger(args.get("trigger_id"))
        return {"view": self._store_view(self._new_id("V"), view)}

    def _m_views_push(self, args: dict[str, Any]) -> dict[str, Any]:
        view = self._check_view(args.get("view"))
        self._use_trigger(args.get("trigger_id"))
        return {"view": self._store_view(self._new_id("V"), view)}

    def _m_views_update(self, args: dict[str, Any]) -> dict[str, Any]:
        view = self._check_view(args.get("view"))
        view_id = args.get("view_id")
        if view_id not in self.views:
            raise SlackError("not_found")
        return {"view": self._store_view(view_id, view, self.views[view_id]["root_view_id"])}

    def _m_views_publish(self, args: dict[str, Any]) -> dict[str, Any]:
        """A user's Home tab: `user_id` required, a view of type home (100 blocks at most), and a `hash`, when given,
        must be the one of the view it replaces (`hash_conflict` otherwise: someone published meanwhile)."""
        user_id = args.get("user_id")
        if not user_id:
            raise SlackError("invalid_arguments", response_metadata={"messages": ["[ERROR] missing required field: user_id"]})
        if user_id not in self.users:
            raise SlackError("user_not_found")
        view = self._check_view(args.get("view"))
        if view.get("type") != "home":
            raise SlackError("invalid_arguments", response_metadata={
                "messages": ["[ERROR] must be 'home' [json-pointer:/view/type]"]})
        current = self.homes.get(user_id)
        if args.get("hash") and (current is None or current["hash"] != args["hash"]):
            raise SlackError("hash_conflict")
        problems = [f"[ERROR] {what} [json-pointer:/view/blocks/{i}]" for i, block in enumerate(view.get("blocks") or [])
                    for what in _block_problems(block)]
        if problems:
            raise SlackError("invalid_arguments", response_metadata={"messages": problems})
        view_id = current["id"] if current else self._new_id("V")
        self.homes[user_id] = self._store_view(view_id, view)
        return {"view": self.homes[user_id]}

    def home_of(self, user_id: str) -> dict[str, Any] | None:
        """The Home tab last published for this user (None: never)."""
        with self.lock:
            return self.homes.get(user_id)

    def _m_users_lookupByEmail(self, args: dict[str, Any]) -> dict[str, Any]:
        email = (args.get("email") or "").lower()
        user = next((u for u in self.users.values() if u["profile"]["email"].lower() == email and not u["deleted"]), None)
        if user is None:  # Slack's docs: "If the user has been deactivated, users_not_found will be returned"
            raise SlackError("users_not_found")
        return {"user": user}

    def _m_users_list(self, args: dict[str, Any]) -> dict[str, Any]:
        """Every user, deactivated ones too (`deleted: true`), a page at a time (`cursor`, `limit` up to 1000)."""
        everyone = list(self.users.values())
        start = int(args.get("cursor") or 0)
        limit = min(int(args.get("limit") or 100), 1000)
        cursor = str(start + limit) if start + limit < len(everyone) else ""
        return {"members": everyone[start:start + limit], "response_metadata": {"next_cursor": cursor}}

    def _m_users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user = self.users.get(args.get("user") or "")
        if user is None:
            raise SlackError("user_not_found")
        return {"user": user}

    # -- files: Slack's external upload (getUploadURLExternal, a raw POST to upload_url, completeUploadExternal) ----------
    def _m_files_getUploadURLExternal(self, args: dict[str, Any]) -> dict[str, Any]:
        filename = str(args.get("filename") or "")
        try:
            length = int(args.get("length") or 0)
        except (TypeError, ValueError):
            raise SlackError("invalid_arguments") from None
        if not filename or length <= 0:
            raise SlackError("missing_argument")  # "typically only occurs when the length provided is 0"
        file_id = self._new_id("F")
        self.files[file_id] = {"id": file_id, "name": filename, "length": length, "data": None, "completed": False,
                               "user": BOT_USER_ID}
        return {"upload_url": f"http://127.0.0.1:{self.port}/upload/{file_id}", "file_id": file_id}

    def _receive_upload(self, file_id: str, data: bytes) -> tuple[int, str]:
        """The upload step, recorded as a call named "upload" (so tests see the three steps in order)."""
        call = Call("upload", {"file_id": file_id, "length": len(data)}, self.clock())
        with self.lock:
            self.calls.append(call)
            file = self.files.get(file_id)
            if file is None or file["completed"]:
                status, text = 404, "unknown upload"
            elif len(data) != file["length"]:  # UNCONFIRMED how Slack answers a length mismatch; refusing it keeps Ladder honest
                status, text = 400, f"expected {file['length']} bytes, got {len(data)}"
            else:
                file["data"] = data
                status, text = 200, f"OK - {len(data)}"
        call.status, call.response, call.done_at = status, {"ok": status == 200, "text": text}, self.clock()
        return status, text

    def _m_files_completeUploadExternal(self, args: dict[str, Any]) -> dict[str, Any]:
        raw = args.get("files")
        try:
            files = json.loads(raw) if isinstance(raw, str) else raw
        except json.JSONDecodeError:
            raise SlackError("invalid_arguments") from None
        if not isinstance(files, list) or not files or not all(isinstance(f, dict) and f.get("id") for f in files):
            raise SlackError("invalid_arguments")
        known = [self.files.get(f["id"]) for f in files]
        if any(f is None or f["data"] is None or f["completed"] for f in known):
            raise SlackError("file_not_found")
        shared = []
        if args.get("channel_id"):
            channel = self._channel_or_fail(args["channel_id"])
            if BOT_USER_ID not in channel["members"]:
                raise SlackError("not_in_channel")
            shared.append(channel)
        for file, asked in zip(known, files):
            assert file is not None
            file.update(completed=True, title=asked.get("title") or file["name"])
        listed = [{"id": f["id"], "name": f["name"], "title": f["title"], "size": f["length"], "user": f["user"]}
                  for f in known if f is not None]
        for channel in shared:  # shared with an initial comment: a message carrying the files, like Slack's
            ts = f"{1_700_000_000 + next(self._ts)}.{next(self._ts):06d}"
            channel["messages"].append({"type": "message", "ts": ts, "user": BOT_USER_ID, "bot_id": BOT_ID,
                                        "text": args.get("initial_comment") or "", "blocks": [], "files": listed,
                                        "channel": channel["id"], "edits": 0})
        return {"files": listed}

    def file_content(self, file_id: str) -> bytes | None:
        with self.lock:
            file = self.files.get(file_id)
            return file["data"] if file else None

    def _m_usergroups_users_list(self, args: dict[str, Any]) -> dict[str, Any]:
        group = self.usergroups.get(args.get("usergroup") or "")
        if group is None:
            raise SlackError("no_such_subteam")
        return {"users": list(group)}


class SlackError(Exception):
    def __init__(self, code: str, **extra: Any) -> None:
        self.code = code
        self.extra = extra
        super().__init__(code)


def _block_problems(block: dict[str, Any]) -> list[str]:
    """What Slack refuses in one block of a Home tab: text past its limit, too many fields or buttons."""
    problems = []
    text = (block.get("text") or {}).get("text", "") if isinstance(block.get("text"), dict) else ""
    limit = {"section": 3000, "header": 150}.get(block.get("type", ""))
    if limit is not None and len(text) > limit:
        problems.append(f"must be less than {limit + 1} characters")
    if len(block.get("fields") or []) > 10:
        problems.append("no more than 10 items allowed")
    if len(block.get("elements") or []) > (25 if block.get("type") == "actions" else 10):
        problems.append("too many elements")
    return problems
