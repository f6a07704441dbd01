"""Requests as Slack sends them, for every listener Ladder has: bodies, content types and v0 signatures.

Used in-process (bench.slope calls the WSGI app) and over HTTP (bench.listener_latency). Shapes
follow tests/slack_driver.py; triggers and response URLs are the caller's (a stand-in's).
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
from typing import Any
from urllib.parse import urlencode

from tests.slack_driver import SIGNING_SECRET
from tests.slack_standin import TEAM_ID

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
_serial = itertools.count(1)

Request = tuple[bytes, str]  # (body, content type)


def signed_headers(body: bytes, content_type: str, secret: str = SIGNING_SECRET) -> dict[str, str]:
    stamp = str(int(time.time()))
    digest = hmac.new(secret.encode(), b"v0:" + stamp.encode() + b":" + body, hashlib.sha256).hexdigest()
    return {"Content-Type": content_type, "X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": "v0=" + digest}


def command(text: str, user: str, trigger: str, response_url: str, channel: str = "C0GENERAL1") -> Request:
    fields = {"token": "x", "team_id": TEAM_ID, "team_domain": "ladder-bench", "channel_id": channel, "channel_name": "general",
              "user_id": user, "user_name": "someone", "command": "/incident", "text": text, "api_app_id": "A0LADDER1",
              "is_enterprise_install": "false", "response_url": response_url, "trigger_id": trigger}
    return urlencode(fields).encode(), FORM


def _interaction(payload: dict[str, Any]) -> Request:
    return urlencode({"payload": json.dumps(payload)}).encode(), FORM


def button(action_id: str, value: str, user: str, trigger: str, response_url: str, channel: str = "C0INCIDENT") -> Request:
    """A summary button (Acknowledge, Still on it, Resolve, Escalate, Post an update...) whose value names the incident."""
    action = {"action_id": action_id, "block_id": f"incident:{value.split(':')[0]}", "type": "button", "value": value,
              "text": {"type": "plain_text", "text": action_id}, "action_ts": f"{time.time():.6f}"}
    return _interaction(_block_actions(action, user, trigger, response_url, channel))


def menu(action_id: str, value: str, user: str, trigger: str, response_url: str, channel: str = "C0INCIDENT") -> Request:
    """A static select (the severity menu): the chosen option's value names the incident and the choice."""
    action = {"action_id": action_id, "block_id": f"incident:{value.split(':')[0]}", "type": "static_select",
              "selected_option": {"text": {"type": "plain_text", "text": value}, "value": value}, "action_ts": f"{time.time():.6f}"}
    return _interaction(_block_actions(action, user, trigger, response_url, channel))


def _block_actions(action: dict[str, Any], user: str, trigger: str, response_url: str, channel: str) -> dict[str, Any]:
    ts = f"{1_700_000_000 + next(_serial)}.000100"
    return {"type": "block_actions", "team": {"id": TEAM_ID, "domain": "ladder-bench"},
            "user": {"id": user, "username": "someone", "name": "someone", "team_id": TEAM_ID}, "api_app_id": "A0LADDER1",
            "token": "x", "container": {"type": "message", "message_ts": ts, "channel_id": channel, "is_ephemeral": False},
            "trigger_id": trigger, "channel": {"id": channel, "name": "inc"},
            "message": {"type": "message", "ts": ts, "text": "summary", "user": "UBOT00001", "bot_id": "BBOT00001"},
            "response_url": response_url, "actions": [action], "state": {"values": {}}}


def submission(callback_id: str, values: dict[str, Any], metadata: dict[str, Any] | None, user: str, trigger: str,
               view_id: str | None = None) -> Request:
    view = {"id": view_id or f"VBENCH{next(_serial):08d}", "type": "modal", "callback_id": callback_id, "team_id": TEAM_ID,
            "private_metadata": json.dumps(metadata) if metadata is not None else "", "hash": "1.abc", "app_id": "A0LADDER1",
            "bot_id": "BBOT00001", "root_view_id": None, "blocks": [], "state": {"values": values}}
    view["root_view_id"] = view["id"]
    payload = {"type": "view_submission", "team": {"id": TEAM_ID, "domain": "ladder-bench"},
               "user": {"id": user, "username": "someone", "name": "someone", "team_id": TEAM_ID}, "api_app_id": "A0LADDER1",
               "token": "x", "trigger_id": trigger, "view": view, "response_urls": [], "is_enterprise_install": False, "enterprise": None}
    return _interaction(payload)


def declare_submission(title: str, service: str, severity: str, user: str, trigger: str) -> Request:
    values = {"title": {"value": {"type": "plain_text_input", "value": title}},
              "service": {"service": {"type": "static_select", "selected_option": {"text": {"type": "plain_text", "text": service},
                                                                                    "value": service}}},
              "severity": {"value": {"type": "radio_buttons", "selected_option": {"text": {"type": "plain_text", "text": severity},
                                                                                 "value": severity}}},
              "description": {"value": {"type": "plain_text_input", "value": "Benchmark declaration."}},
              "private": {"value": {"type": "checkboxes", "selected_options": []}}}
    return submission("declare_incident", values, {"channel_id": "C0GENERAL1"}, user, trigger)


def resolve_submission(incident_id: int, user: str, trigger: str) -> Request:
    return submission("resolve_incident", {"note": {"value": {"type": "plain_text_input", "value": "Rolled back."}}},
                      {"incident_id": incident_id}, user, trigger)


def escalate_submission(incident_id: int, team: str, user: str, trigger: str) -> Request:
    values = {"to": {"value": {"type": "radio_buttons", "selected_option": {"text": {"type": "plain_text", "text": "team"}, "value": "team"}}},
              "team": {"value": {"type": "static_select", "selected_option": {"text": {"type": "plain_text", "text": team}, "value": team}}},
              "person": {"value": {"type": "users_select", "selected_user": None}},
              "reason": {"value": {"type": "plain_text_input", "value": "Need more hands."}}}
    return submission("escalate_incident", values, {"incident_id": incident_id}, user, trigger)


def update_submission(incident_id: int, user: str, trigger: str) -> Request:
    return submission("status_update", {"update": {"value": {"type": "plain_text_input", "value": "Mitigating; errors are falling."}}},
                      {"incident_id": incident_id}, user, trigger)


def suggestion(typed: str, user: str) -> Request:
    """What Slack sends per keystroke in the service type-ahead (block_suggestion)."""
    view = {"id": f"VBENCH{next(_serial):08d}", "type": "modal", "callback_id": "declare_incident", "private_metadata": "",
            "blocks": [], "state": {"values": {}}, "hash": "1.abc"}
    payload = {"type": "block_suggestion", "user": {"id": user, "username": "someone", "team_id": TEAM_ID},
               "team": {"id": TEAM_ID, "domain": "ladder-bench"}, "api_app_id": "A0LADDER1", "token": "x", "block_id": "service",
               "action_id": "service", "value": typed, "container": {"type": "view", "view_id": view["id"]}, "view": view}
    return _interaction(payload)


def message_event(channel: str, user: str, text: str) -> Request:
    ts = f"{time.time():.6f}"
    event = {"type": "message", "channel": channel, "user": user, "text": text, "ts": ts, "event_ts": ts, "channel_type": "channel"}
    body = {"token": "x", "team_id": TEAM_ID, "api_app_id": "A0LADDER1", "event": event, "type": "event_callback",
            "event_id": f"Ev{next(_serial):012d}", "event_time": int(time.time()),
            "authorizations": [{"team_id": TEAM_ID, "user_id": "UBOT00001", "is_bot": True, "is_enterprise_install": False}]}
    return json.dumps(body).encode(), JSON


def app_home_opened(user: str) -> Request:
    """Someone opens Ladder's Home tab (an Events API event, like a message)."""
    event = {"type": "app_home_opened", "user": user, "channel": "D0HOME0001", "tab": "home", "event_ts": f"{time.time():.6f}"}
    body = {"token": "x", "team_id": TEAM_ID, "api_app_id": "A0LADDER1", "event": event, "type": "event_callback",
            "event_id": f"Ev{next(_serial):012d}", "event_time": int(time.time()),
            "authorizations": [{"team_id": TEAM_ID, "user_id": "UBOT00001", "is_bot": True, "is_enterprise_install": False}]}
    return json.dumps(body).encode(), JSON
