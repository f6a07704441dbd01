"""Hostile interactions, generated: signed ones never get a 5xx; unsigned ones get 401 and reach nobody.

Each example starts from a real request Ladder handles (a click on each button it registers, a
submission of each of its forms, `/incident` with each verb, a service search) and swaps a few of
its values, anywhere in the payload, for a hostile one: null, a list, a number, a nested object, a
huge or invisible string, a lone surrogate, or nothing at all. The test knows nothing of which
fields matter, so it reaches the ones a hand-written table would miss.

One app per test (the examples share it and its incident 1); a few seconds each.
"""

from __future__ import annotations

import copy
import json
import re
import time
from typing import Any
from urllib.parse import urlencode

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.nudges import SNOOZE_CHOICES
from app.slack import blocks
from app.slack.listeners import BUTTONS, FORMS
from tests.slack_driver import SlackDriver
from tests.slack_standin import TEAM_ID
from tests.support import Ladder, declare

FUZZ = settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                                     HealthCheck.too_slow])

HOSTILE_STRINGS = ["", " ", "null", "1", "0", "-1", "9" * 400, "\u0661", "\u00b2", "1:sev9", "1:sev1", "1:no-such-rule:15", "1::",
                   ":", "\u202e\u200b", "\x00", "a\x00b", "\ud800", "<!channel>", "{not json", "[" * 5000, "x" * 20_000,
                   '{"incident_id": 1}', '{"incident_id": 99999999999999999999}', "U0NOBODY", "incident_ack", "next", "team", "person"]
HOSTILE: st.SearchStrategy[Any] = st.one_of(
    st.sampled_from([None, True, 0, -1, 2**64, 1.5, [], [None], [1, "x"], {}, {"id": None}, {"value": {"value": [None]}},
                     {"a": {"b": {"c": [None, {}]}}}]),
    st.sampled_from(HOSTILE_STRINGS),
    st.text(max_size=12),
)
DELETE = object()


def _action_ids() -> list[str]:
    """Every action_id Ladder registers a listener for, from its BUTTONS and FORMS tables (a pattern: each snooze it offers)."""
    snoozes = [f"{blocks.NUDGE_SNOOZE}_{minutes}" for minutes in SNOOZE_CHOICES]
    patterns = [m for m in BUTTONS if isinstance(m, re.Pattern)]
    assert all(any(p.match(s) for s in snoozes) for p in patterns), "a new action pattern: give the fuzz test an action_id for it"
    return [m for m in [*BUTTONS, *FORMS] if isinstance(m, str)] + [s for s in snoozes if any(p.match(s) for p in patterns)]


def _click(ladder: Ladder, action_id: str) -> dict[str, Any]:
    """A click on incident 1's button (or menu) with this action_id, shaped as Slack sends it."""
    value = "1:open-2h:15" if action_id.startswith("nudge_") else "1"
    action: dict[str, Any] = {"action_id": action_id, "block_id": "incident:1", "type": "button", "value": value,
                              "text": {"type": "plain_text", "text": "Go"}, "action_ts": "1.2"}
    if action_id == blocks.SEVERITY:
        action = {"action_id": action_id, "block_id": "incident:1", "type": "static_select", "action_ts": "1.2",
                  "selected_option": {"text": {"type": "plain_text", "text": "SEV1"}, "value": "1:sev1"}}
    return {"type": "block_actions", "team": {"id": TEAM_ID, "domain": "ladder-test"},
            "user": {"id": ladder.user("bob"), "username": "bob", "team_id": TEAM_ID}, "api_app_id": "A0LADDER1", "token": "t",
            "container": {"type": "message", "message_ts": "1.2", "channel_id": "C1", "is_ephemeral": False},
            "trigger_id": ladder.slack.issue_trigger(), "channel": {"id": "C1", "name": "inc-1"},
            "message": {"type": "message", "ts": "1.2", "text": "x", "blocks": []}, "response_url": ladder.slack.response_url(),
            "actions": [action], "state": {"values": {}}}


def _submissions(ladder: Ladder) -> list[dict[str, Any]]:
    """A submission of each form Ladder opens, filled in as a user would."""
    incident = ladder.runtime.store.incident(1)
    forms = [
        (blocks.declare_modal(ladder.runtime.catalog, private_metadata=json.dumps({"channel_id": "C1"})),
         {"title": "ledger down", "service": "bank-transfers", "severity": "sev2", "description": "d", "private": ["private"]}),
        (blocks.resolve_modal(incident), {"note": "rolled back"}),
        (blocks.update_modal(incident), {"update": "payouts flowing again"}),
        (blocks.escalate_modal(incident, "Level 2 of payments: dana@example.com", [("identity", "Identity")]),
         {"to": "team", "team": "identity", "reason": "need ledger access"}),
    ]
    return [ladder.driver.submission({**view, "id": f"VFUZZ{n}"}, ladder.user("bob"), inputs) for n, (view, inputs) in enumerate(forms)]


def _bases(ladder: Ladder) -> list[tuple[str, dict[str, Any]]]:
    """(how it is sent, the body) for every kind of request Ladder answers: "payload", "form" (a slash command) or "json"."""
    bases: list[tuple[str, dict[str, Any]]] = [("payload", _click(ladder, a)) for a in _action_ids()]
    bases += [("payload", s) for s in _submissions(ladder)]
    for text in ("bank transfers failing", "help", "oncall payments", "lead", "update", "escalate"):
        command = ladder.driver.slash_fields(text, ladder.user("bob"))
        bases += [("form", command), ("json", dict(command))]
    bases.append(("payload", {"type": "block_suggestion", "user": {"id": ladder.user("bob")}, "team": {"id": TEAM_ID},
                              "action_id": blocks.SERVICE_ACTION, "block_id": "service", "value": "bank",
                              "container": {"type": "view", "view_id": "V1"}, "view": {"id": "V1", "type": "modal"}}))
    return bases


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    """Every place in the payload a value can be swapped: each key of each object, each item of each list."""
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, (*prefix, index))
    return found


def _mutated(base: dict[str, Any], changes: list[tuple[tuple, Any]]) -> dict[str, Any]:
    body = copy.deepcopy(base)
    for path, value in changes:
        parent = body
        try:
            for step in path[:-1]:
                parent = parent[step]
            if value is DELETE:
                del parent[path[-1]]
            else:
                parent[path[-1]] = copy.deepcopy(value)  # the hostile values are shared between examples
        except (KeyError, IndexError, TypeError):  # an earlier change replaced what this path went through
            continue
    return body


@st.composite
def requests(draw: st.DrawFn, bases: list[tuple[str, dict[str, Any]]]) -> tuple[str, str]:
    """(content type, raw body): a real request with one to three of its values swapped for hostile ones."""
    how, base = draw(st.sampled_from(bases))
    paths = _paths(base)
    values = st.one_of(st.sampled_from(HOSTILE_STRINGS), st.just(DELETE)) if how == "form" else st.one_of(HOSTILE, st.just(DELETE))
    changes = draw(st.lists(st.tuples(st.sampled_from(paths), values), min_size=1, max_size=3))
    body = _mutated(base, changes)
    if how == "form":
        return "application/x-www-form-urlencoded", urlencode({k: v.replace("\ud800", "?") for k, v in body.items()})
    if how == "json":
        return "application/json", json.dumps(body)
    return "application/x-www-form-urlencoded", urlencode({"payload": json.dumps(body)})


def sent_to_slack(ladder: Ladder) -> int:
    """How many Web API calls (but Bolt's start-up auth.test) and response_url posts the app has made."""
    return len([c for c in ladder.slack.calls if c.method != "auth.test"]) + len(ladder.slack.responses)


def test_fuzzed_signed_interactions_never_get_a_5xx(ladder: Ladder) -> None:
    declare(ladder)
    bases = _bases(ladder)

    @FUZZ
    @given(request=requests(bases))
    def signed(request: tuple[str, str]) -> None:
        content_type, body = request
        reply = ladder.driver.post(body, content_type)
        assert reply.status < 500, (reply.status, body[:300])

    signed()


def test_fuzzed_unsigned_requests_get_401_and_reach_nobody(ladder: Ladder) -> None:
    declare(ladder)
    ladder.deliver()
    bases = _bases(ladder)
    before = sent_to_slack(ladder)
    other_secret = SlackDriver(ladder.url, ladder.slack, secret="not-the-signing-secret")

    @FUZZ
    @given(request=requests(bases), forgery=st.sampled_from(["zeros", "none", "stale", "other secret", "other body", "garbage"]))
    def unsigned(request: tuple[str, str], forgery: str) -> None:
        content_type, body = request
        post = ladder.driver.post
        if forgery == "zeros":
            reply = post(body, content_type, signature="v0=" + "0" * 64)
        elif forgery == "none":
            reply = post(body, content_type, headers={"X-Slack-Signature": None})
        elif forgery == "stale":
            reply = post(body, content_type, timestamp=ladder.driver.now() - 301)
        elif forgery == "other secret":
            reply = other_secret.post(body, content_type)
        elif forgery == "other body":
            ts = str(ladder.driver.now())
            reply = post(body, content_type, signature=ladder.driver.sign(ts, b"command=/incident"), headers={"X-Slack-Request-Timestamp": ts})
        else:
            reply = post(body, content_type, signature="v0=\u00e9\u00e9", headers={"X-Slack-Request-Timestamp": "\u00b2"})
        assert reply.status == 401, (forgery, reply.status, body[:300])
        assert sent_to_slack(ladder) == before

    unsigned()
    time.sleep(0.2)  # anything a listener would have sent after its answer
    assert sent_to_slack(ladder) == before
    assert ladder.runtime.store.incident_by_number(2) is None
