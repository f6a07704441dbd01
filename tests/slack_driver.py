"""Slack's side of the conversation: signed requests into the running Ladder app.

Builds slash-command, block_actions and view_submission payloads the way Slack does, signs
the exact bytes with `X-Slack-Signature`, and fills modals from the views the stand-in holds,
so a test clicks through what a user would see.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlparse

from slack_sdk.signature import SignatureVerifier

from tests.slack_standin import TEAM_ID, SlackStandIn

SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


@dataclass
class Reply:
    status: int
    body: str
    headers: dict[str, str]

    def json(self) -> dict[str, Any]:
        return json.loads(self.body) if self.body else {}


class SlackDriver:
    def __init__(self, app_url: str, standin: SlackStandIn, secret: str = SIGNING_SECRET) -> None:
        self.app_url = app_url
        self.standin = standin
        self.verifier = SignatureVerifier(secret)

    @staticmethod
    def now() -> int:
        """Slack's clock in epoch seconds, as stamped on requests: real time, even while the app's is frozen."""
        return int(time.time())

    # -- transport ----------------------------------------------------------------------------------
    def post(self, body: str | bytes, content_type: str, *, timestamp: int | None = None, signature: str | None = None,
             headers: dict[str, str] | None = None) -> Reply:
        """POST `body` signed the way Slack signs it (bytes are sent as they are: a body that is not UTF-8)."""
        ts = str(self.now() if timestamp is None else timestamp)
        raw = body.encode("utf-8") if isinstance(body, str) else body
        all_headers = {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": signature if signature is not None else self.sign(ts, raw),
        }
        all_headers.update(headers or {})
        all_headers = {k: v for k, v in all_headers.items() if v is not None}
        url = urlparse(self.app_url)
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
        try:
            conn.request("POST", url.path, body=raw, headers=all_headers)
            response = conn.getresponse()
            return Reply(response.status, response.read().decode("utf-8"), dict(response.getheaders()))
        finally:
            conn.close()

    def sign(self, timestamp: str, raw: bytes) -> str:
        """Slack's v0 signature over the exact bytes (SignatureVerifier wants text, and a hostile body may not be UTF-8)."""
        digest = hmac.new(self.verifier.signing_secret.encode(), b"v0:" + timestamp.encode() + b":" + raw, hashlib.sha256)
        return "v0=" + digest.hexdigest()

    def post_form(self, fields: dict[str, str], **kwargs: Any) -> Reply:
        return self.post(urlencode(fields), "application/x-www-form-urlencoded", **kwargs)

    def post_payload(self, payload: dict[str, Any], **kwargs: Any) -> Reply:
        return self.post_form({"payload": json.dumps(payload)}, **kwargs)

    # -- slash commands ---------------------------------------------------------------------------------
    def slash_fields(self, text: str, user_id: str, channel_id: str = "C0GENERAL1") -> dict[str, str]:
        return {
            "token": "deprecated-verification-token", "team_id": TEAM_ID, "team_domain": "ladder-test",
            "channel_id": channel_id, "channel_name": "general", "user_id": user_id, "user_name": "someone",
            "command": "/incident", "text": text, "api_app_id": "A0LADDER1", "is_enterprise_install": "false",
            "response_url": self.standin.response_url(), "trigger_id": self.standin.issue_trigger(),
        }

    def slash(self, text: str, user_id: str, channel_id: str = "C0GENERAL1", **kwargs: Any) -> Reply:
        return self.post_form(self.slash_fields(text, user_id, channel_id), **kwargs)

    # -- modals ---------------------------------------------------------------------------------------
    def opened_view(self, callback_id: str, after: int = 0) -> dict[str, Any]:
        """The most recent view with this callback id that the app opened (among views.open calls after the first `after`)."""
        def find() -> dict[str, Any] | None:
            for call in reversed(self.standin.ok_calls_to("views.open")[after:]):
                if call.response["view"].get("callback_id") == callback_id:
                    return self.standin.views[call.response["view"]["id"]]
            return None
        return self.standin.wait_for(find)

    @staticmethod
    def state_for(view: dict[str, Any], inputs: dict[str, Any]) -> dict[str, Any]:
        """view.state.values as Slack sends them: every input block, `None` where left untouched."""
        values: dict[str, Any] = {}
        for block in view.get("blocks", []):
            if block.get("type") != "input":
                continue
            element = block["element"]
            kind = element["type"]
            given = inputs.get(block["block_id"], "__untouched__")
            entry: dict[str, Any] = {"type": kind}
            if kind == "plain_text_input":
                entry["value"] = element.get("initial_value") if given == "__untouched__" else given
            elif kind in ("static_select", "external_select", "radio_buttons"):
                if given == "__untouched__":
                    entry["selected_option"] = element.get("initial_option")
                elif given is None:
                    entry["selected_option"] = None
                else:
                    options = element.get("options") or []
                    option = next((o for o in options if o["value"] == given), None)
                    entry["selected_option"] = option or {"text": {"type": "plain_text", "text": given}, "value": given}
            elif kind == "users_select":
                entry["selected_user"] = element.get("initial_user") if given == "__untouched__" else given
            elif kind == "datepicker":
                entry["selected_date"] = element.get("initial_date") if given == "__untouched__" else given
            elif kind == "checkboxes":
                chosen = [] if given in ("__untouched__", None) else given
                entry["selected_options"] = [o for o in element.get("options", []) if o["value"] in chosen]
            values[block["block_id"]] = {element["action_id"]: entry}
        return values

    def submit(self, view: dict[str, Any], user_id: str, inputs: dict[str, Any] | None = None, **kwargs: Any) -> Reply:
        return self.post_payload(self.submission(view, user_id, inputs), **kwargs)

    def submission(self, view: dict[str, Any], user_id: str, inputs: dict[str, Any] | None = None) -> dict[str, Any]:
        """The view_submission payload Slack sends when the user presses Submit."""
        submitted = {**view, "state": {"values": self.state_for(view, inputs or {})}}
        return {
            "type": "view_submission", "team": {"id": TEAM_ID, "domain": "ladder-test"},
            "user": {"id": user_id, "username": "someone", "name": "someone", "team_id": TEAM_ID},
            "api_app_id": "A0LADDER1", "token": "deprecated-verification-token",
            "trigger_id": self.standin.issue_trigger(), "view": submitted, "response_urls": [],
            "is_enterprise_install": False, "enterprise": None,
        }

    def suggest(self, view: dict[str, Any], block_id: str, action_id: str, typed: str, user_id: str) -> Reply:
        """What Slack sends while the user types into an external select (block_suggestion)."""
        payload = {
            "type": "block_suggestion", "user": {"id": user_id, "username": "someone", "team_id": TEAM_ID},
            "team": {"id": TEAM_ID, "domain": "ladder-test"}, "api_app_id": "A0LADDER1",
            "token": "deprecated-verification-token", "block_id": block_id, "action_id": action_id, "value": typed,
            "container": {"type": "view", "view_id": view["id"]}, "view": view,
        }
        return self.post_payload(payload)

    # -- events -------------------------------------------------------------------------------------
    def message_event(self, channel_id: str, user_id: str, text: str, **extra: Any) -> Reply:
        """A `message` event as the Events API delivers it (signed JSON)."""
        ts = f"{time.time():.6f}"
        event = {"type": "message", "channel": channel_id, "user": user_id, "text": text, "ts": ts, "event_ts": ts,
                 "channel_type": "channel", **extra}
        body = {"token": "deprecated-verification-token", "team_id": TEAM_ID, "api_app_id": "A0LADDER1", "event": event,
                "type": "event_callback", "event_id": f"Ev{int(time.time() * 1e6)}", "event_time": int(time.time()),
                "authorizations": [{"team_id": TEAM_ID, "user_id": "UBOT00001", "is_bot": True, "is_enterprise_install": False}]}
        return self.post(json.dumps(body), "application/json")

    def app_home_opened(self, user_id: str, tab: str = "home") -> Reply:
        """`app_home_opened` as the Events API delivers it: `view` only once a Home has been published for the user."""
        event: dict[str, Any] = {"type": "app_home_opened", "user": user_id, "channel": "D0LADDERDM", "tab": tab,
                                 "event_ts": f"{time.time():.6f}"}
        published = self.standin.home_of(user_id)
        if tab == "home" and published is not None:
            event["view"] = published
        body = {"token": "deprecated-verification-token", "team_id": TEAM_ID, "api_app_id": "A0LADDER1", "event": event,
                "type": "event_callback", "event_id": f"Ev{int(time.time() * 1e6)}", "event_time": int(time.time()),
                "authorizations": [{"team_id": TEAM_ID, "user_id": "UBOT00001", "is_bot": True, "is_enterprise_install": False}]}
        return self.post(json.dumps(body), "application/json")

    def click_home(self, user_id: str, action_id: str, value: str, **kwargs: Any) -> Reply:
        """A button on the user's Home tab: the container is the view, and there is no channel, message or response_url."""
        home = self.standin.home_of(user_id)
        assert home is not None, "no Home published for this user"
        block, element = next((b, e) for b in home["blocks"] if b.get("type") == "actions" for e in b.get("elements", [])
                              if e.get("action_id") == action_id and e.get("value") == value)
        payload = {
            "type": "block_actions", "team": {"id": TEAM_ID, "domain": "ladder-test"},
            "user": {"id": user_id, "username": "someone", "name": "someone", "team_id": TEAM_ID},
            "api_app_id": "A0LADDER1", "token": "deprecated-verification-token",
            "container": {"type": "view", "view_id": home["id"]}, "trigger_id": self.standin.issue_trigger(),
            "view": home, "actions": [{"action_id": action_id, "block_id": block.get("block_id", "b"), "type": "button",
                                       "text": element["text"], "value": value, "action_ts": f"{time.time():.6f}"}],
        }
        return self.post_payload(payload, **kwargs)

    # -- buttons --------------------------------------------------------------------------------------
    @staticmethod
    def find_element(message: dict[str, Any], action_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
        for block in message.get("blocks", []):
            for element in block.get("elements", []) if block.get("type") == "actions" else []:
                if element.get("action_id") == action_id:
                    return block, element
        raise AssertionError(f"no element {action_id!r} in the message; blocks: {json.dumps(message.get('blocks'))[:500]}")

    def click(self, message: dict[str, Any], action_id: str, user_id: str, *, option_value: str | None = None, **kwargs: Any) -> Reply:
        block, element = self.find_element(message, action_id)
        action: dict[str, Any] = {"action_id": action_id, "block_id": block.get("block_id", "b"), "type": element["type"],
                                  "action_ts": f"{time.time():.6f}"}
        if element["type"] == "button":
            action["text"] = element["text"]
            action["value"] = element.get("value")
        else:
            option = next(o for o in element["options"] if o["value"] == option_value or o["value"].endswith(f":{option_value}"))
            action["selected_option"] = option
        channel = message["channel"]
        payload = {
            "type": "block_actions", "team": {"id": TEAM_ID, "domain": "ladder-test"},
            "user": {"id": user_id, "username": "someone", "name": "someone", "team_id": TEAM_ID},
            "api_app_id": "A0LADDER1", "token": "deprecated-verification-token",
            "container": {"type": "message", "message_ts": message["ts"], "channel_id": channel, "is_ephemeral": False},
            "trigger_id": self.standin.issue_trigger(), "channel": {"id": channel, "name": "channel"},
            "message": {k: v for k, v in message.items() if k in ("type", "ts", "text", "blocks", "user", "bot_id")},
            "response_url": self.standin.response_url(), "actions": [action], "state": {"values": {}},
        }
        return self.post_payload(payload, **kwargs)
