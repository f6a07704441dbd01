"""Hostile and broken input: a clear answer or a 4xx, never a 500, never a crash, nothing pinged by accident."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

import pytest

from app.slack import blocks
from app.slack.listeners import UNKNOWN_INCIDENT
from tests.support import Ladder, declare, mrkdwn_strings


@pytest.mark.parametrize("headers, expected", [
    ({"X-Slack-Signature": None}, 401),
    ({"X-Slack-Signature": "v0=" + "a" * 64}, 401),
    ({"X-Slack-Request-Timestamp": "not-a-number"}, 401),
    ({"X-Slack-Request-Timestamp": None}, 401),
])
def test_bad_signature_headers_are_rejected_without_running_a_listener(ladder: Ladder, headers, expected) -> None:
    body = "command=/incident&text=bank+transfers&user_id=U1&trigger_id=1.2.3"
    reply = ladder.driver.post(body, "application/x-www-form-urlencoded", headers=headers)
    assert reply.status == expected
    assert not ladder.slack.calls_to("views.open")


@pytest.mark.parametrize("offset", [-301, 301])
def test_stale_and_future_timestamps_are_rejected(ladder: Ladder, offset: int) -> None:
    reply = ladder.driver.slash("bank transfers", ladder.user("sam"), timestamp=ladder.driver.now() + offset)
    assert reply.status == 401
    assert not ladder.slack.calls_to("views.open")


def test_malformed_payload_is_a_400_when_signed_and_a_401_when_not(ladder: Ladder) -> None:
    assert ladder.driver.post_form({"payload": "{not json"}).status == 400
    assert ladder.driver.post_form({"payload": "{not json"}, signature="v0=" + "0" * 64).status == 401
    assert ladder.driver.post("{also not json", "application/json").status == 400


def test_interactions_without_a_user_get_a_4xx(ladder: Ladder) -> None:
    submission = {"type": "view_submission", "view": {"id": "V1", "callback_id": "declare_incident", "state": {"values": {}},
                                                       "private_metadata": ""}}
    assert ladder.driver.post_payload(submission).status == 400
    click = {"type": "block_actions", "actions": [{"action_id": "incident_ack", "block_id": "b", "value": "1"}], "team": {"id": "T"}}
    assert ladder.driver.post_payload(click).status == 400
    assert ladder.runtime.store.incident_by_number(1) is None


def test_unknown_action_ids_are_a_4xx(ladder: Ladder) -> None:
    click = {"type": "block_actions", "user": {"id": ladder.user("sam")}, "team": {"id": "T"},
             "actions": [{"action_id": "definitely_not_ours", "block_id": "b", "value": "1"}]}
    assert ladder.driver.post_payload(click).status == 404


@pytest.mark.parametrize("text", [
    "",
    "x" * 4000,
    "🔥 تحويلات بنكية فاشلة 🔥",
    "<!channel> <!here> <@U0BOSS|boss> bank transfers",
    "payload payload=1 &payload",
    "'; DROP TABLE incidents; -- *bold* _it_ ~strike~ `code` > quote",
])
def test_any_slash_text_opens_a_form_and_pings_nobody(ladder: Ladder, text: str) -> None:
    reply = ladder.driver.slash(text, ladder.user("sam"))
    assert reply.status == 200
    view = ladder.driver.opened_view("declare_incident")
    title = next(b for b in view["blocks"] if b["block_id"] == "title")["element"].get("initial_value") or ""
    assert len(title) <= 120  # a 4,000-character text is cut to fit the field, not refused by Slack
    reply = ladder.driver.submit(view, ladder.user("sam"), {"service": "bank-transfers", "title": title or "untitled"})
    assert reply.status == 200
    ladder.slack.wait_for(lambda: ladder.runtime.store.incident_by_number(1))
    ladder.deliver()
    parsed = "\n".join(mrkdwn_strings(m) for c in ladder.slack.channels.values() for m in c["messages"])
    for raw in ("<!channel>", "<!here>", "<@U0BOSS"):
        assert raw not in parsed
    assert ladder.runtime.store.incident_by_number(1)["status"] == "triggered"  # and the table is still there


BAD_SIGNATURE = "v0=" + "0" * 64


def sent_to_slack(ladder: Ladder) -> list:
    """Every Web API call (but Bolt's start-up auth.test) and every response_url post the app made."""
    return [c for c in ladder.slack.calls if c.method != "auth.test"] + list(ladder.slack.responses)
NOT_OBJECTS = ["null", "[1,2]", '"hi"', "5", "{not json", "[" * 100_000]


@pytest.mark.parametrize("raw", NOT_OBJECTS)
@pytest.mark.parametrize("as_form", [True, False], ids=["payload=", "json"])
def test_an_unsigned_body_is_a_401_whatever_it_holds(ladder: Ladder, raw: str, as_form: bool) -> None:
    """The signature is checked before anything reads the body: no traceback, no listener, nothing sent to Slack."""
    send = (lambda **kw: ladder.driver.post_form({"payload": raw}, **kw)) if as_form else \
        (lambda **kw: ladder.driver.post(raw, "application/json", **kw))
    reply = send(signature=BAD_SIGNATURE)
    assert (reply.status, reply.json()) == (401, {"error": "invalid request"})
    assert send(timestamp=ladder.driver.now() - 3600).status == 401
    # Signed, it is Slack's but broken: a 400 that says so.
    signed = send()
    assert (signed.status, signed.json()) == (400, {"error": "the request body could not be parsed"})
    assert not sent_to_slack(ladder)


@pytest.mark.parametrize("body, headers", [
    (b"payload=%7B%22type%22%3A%22block_actions%22\xff\xfe", {}),              # not UTF-8
    (b"command=/incident&text=x", {"X-Slack-Signature": "v0=\u00e9" + "0" * 63}),  # a non-ASCII signature
    (b"command=/incident&text=x", {"X-Slack-Request-Timestamp": "\u00b2"}),      # a "digit" int() refuses
    (b"command=/incident&text=x", {"X-Slack-Request-Timestamp": "9" * 5000}),   # past int()'s digit limit
])
def test_unsigned_bytes_and_odd_headers_are_a_401(ladder: Ladder, body: bytes, headers: dict[str, str]) -> None:
    reply = ladder.driver.post(body, "application/x-www-form-urlencoded", signature=BAD_SIGNATURE, headers=headers)
    assert reply.status == 401
    assert not sent_to_slack(ladder)


def test_a_signed_body_that_is_not_utf8_is_a_400(ladder: Ladder) -> None:
    assert ladder.driver.post(b"payload=\xff\xfe", "application/x-www-form-urlencoded").status == 400


def _click(ladder: Ladder, **changes) -> dict:
    """An Acknowledge click on incident 1, shaped as Slack sends it, with `changes` applied at the top level."""
    return {"type": "block_actions", "user": {"id": ladder.user("sam")}, "team": {"id": "T"}, "trigger_id": ladder.slack.issue_trigger(),
            "response_url": ladder.slack.response_url(), "actions": [{"action_id": "incident_ack", "block_id": "b", "value": "1"}],
            **changes}


def _submission(ladder: Ladder, **view_changes) -> dict:
    view = {"id": "V1", "type": "modal", "callback_id": "resolve_incident", "private_metadata": '{"incident_id": 1}',
            "state": {"values": {}}, **view_changes}
    return {"type": "view_submission", "user": {"id": ladder.user("sam")}, "team": {"id": "T"}, "view": view}


@pytest.mark.parametrize("broken", [
    {"actions": [None]}, {"actions": []}, {"actions": "incident_ack"}, {"actions": [{"action_id": 5, "value": "1"}]},
    {"actions": [["incident_ack"]]}, {"team": [1, 2]}, {"team": 5}, {"channel": 5}, {"user": "U1"}, {"user": {"id": ["U1"]}},
    {"authorizations": [5]}, {"response_urls": 5}, {"response_url": {"url": "x"}}, {"message": "hi"}, {"container": [1]},
])
def test_a_signed_click_missing_what_slack_always_sends_is_a_400(ladder: Ladder, broken: dict) -> None:
    reply = ladder.driver.post_payload(_click(ladder, **broken))
    assert reply.status == 400, reply.body
    assert not sent_to_slack(ladder)


@pytest.mark.parametrize("view_changes", [
    {"state": None}, {"state": {}}, {"state": {"values": [1]}}, {"state": "values"}, {"callback_id": None}, {"id": 7},
])
def test_a_signed_form_without_its_state_or_ids_is_a_400(ladder: Ladder, view_changes: dict) -> None:
    submission = _submission(ladder, **view_changes)
    if view_changes.get("state") is None:
        del submission["view"]["state"]
    assert ladder.driver.post_payload(submission).status == 400


# -- values inside a well-shaped interaction are data: a specific answer, never a 500 ------------------------------

def _answers(ladder: Ladder, count: int = 1) -> list[str]:
    """The ephemeral answers the app posted to response URLs, once `count` have arrived."""
    return [r["body"]["text"] for r in ladder.slack.wait_for(lambda: len(ladder.slack.responses) >= count and ladder.slack.responses)]


def _action(action_id: str, value: str) -> dict:
    if action_id == "incident_severity":
        return {"action_id": action_id, "block_id": "b", "type": "static_select",
                "selected_option": {"text": {"type": "plain_text", "text": "x"}, "value": f"{value}:sev1"}}
    return {"action_id": action_id, "block_id": "b", "type": "button", "value": f"{value}:open-2h:15" if "nudge" in action_id else value}


BUTTONS = ["incident_ack", "incident_severity", "incident_still_on_it", "incident_take_lead", "nudge_snooze_15", "nudge_dismiss",
           "nudge_escalate", "incident_resolve", "incident_escalate", "incident_post_update"]


@pytest.mark.parametrize("value", ["9" * 400, "9223372036854775808", "\u0661", "\u00b2", "-1"])
def test_a_button_naming_an_incident_id_no_database_holds_says_the_incident_is_unknown(ladder: Ladder, value: str) -> None:
    declare(ladder)
    for count, action_id in enumerate(BUTTONS, start=1):
        reply = ladder.driver.post_payload(_click(ladder, actions=[_action(action_id, value)]))
        assert reply.status == 200, action_id
        assert _answers(ladder, count)[-1] == UNKNOWN_INCIDENT, action_id
    assert ladder.runtime.store.incident(1)["version"] == 1


def test_a_severity_the_catalog_does_not_have_is_named_as_the_unknown_part(ladder: Ladder) -> None:
    declare(ladder, severity="sev2")
    reply = ladder.driver.post_payload(_click(ladder, actions=[
        {"action_id": "incident_severity", "block_id": "b", "selected_option": {"value": "1:sev9"}}]))
    assert reply.status == 200
    assert _answers(ladder) == ["Ladder does not know the severity “sev9”: it is not in the catalog. INC-1 stays SEV2 · Major."]
    assert ladder.runtime.store.incident(1)["severity"] == "sev2"


def _form(ladder: Ladder, callback_id: str, inputs: dict, metadata: str) -> dict:
    """A submission of the form Ladder renders for incident 1, with its private_metadata replaced."""
    incident = ladder.runtime.store.incident(1)
    view = {"resolve_incident": blocks.resolve_modal, "status_update": blocks.update_modal,
            "escalate_incident": lambda i: blocks.escalate_modal(i, "Level 2 of payments: dana@example.com", [])}[callback_id](incident)
    submission = ladder.driver.submission({**view, "id": "VFORGED01", "private_metadata": metadata}, ladder.user("bob"), inputs)
    return submission


BROKEN_METADATA = ["{not json", "[1]", "null", '{"incident_id": "one"}', '{"incident_id": ' + "9" * 400 + "}", '{"incident_id": true}',
                   "[" * 100_000, ""]


@pytest.mark.parametrize("callback_id, inputs, answer", [
    ("resolve_incident", {"note": "rolled back"}, "update"),
    ("escalate_incident", {"reason": "need ledger access"}, "update"),
    ("status_update", {"update": "Payouts are flowing again."}, "errors"),
])
def test_a_form_whose_metadata_names_no_incident_says_so_and_changes_nothing(ladder: Ladder, callback_id: str, inputs: dict,
                                                                           answer: str) -> None:
    declare(ladder)
    for metadata in BROKEN_METADATA:
        reply = ladder.driver.post_payload(_form(ladder, callback_id, inputs, metadata))
        assert reply.status == 200, (metadata[:20], reply.body)
        assert reply.json()["response_action"] == answer
        assert "does not say which incident it is for" in reply.body and "Nothing changed" in reply.body
    incident = ladder.runtime.store.incident(1)
    assert (incident["status"], incident["version"]) == ("triggered", 1)


def test_a_declaration_whose_metadata_is_broken_is_still_declared(ladder: Ladder) -> None:
    for number, metadata in enumerate(BROKEN_METADATA, start=1):
        opened = len(ladder.slack.ok_calls_to("views.open"))
        ladder.driver.slash("bank transfers failing", ladder.user("sam"))
        view = ladder.driver.opened_view("declare_incident", after=opened)
        reply = ladder.driver.submit({**view, "private_metadata": metadata}, ladder.user("sam"), {"service": "bank-transfers"})
        assert reply.status == 200, metadata[:20]
        incident = ladder.runtime.store.incident_by_number(number)
        assert incident["title"] == "bank transfers failing" and incident["declared_in"] is None


# -- typed text that shows nothing, or that Slack cannot show, is refused on its field --------------------------------

INVISIBLE = ["\u202e\u200b", "\u200b\u200c\u200d\u2060\ufeff", "\u2066\u2069\u200e\u200f", "\u3164\u115f", "\u0301\u0301",
             "\U000e0041\U000e0042", " \u00ad ", "\ufe0f"]
UNSHOWABLE = ["bank\x00transfers", "\x00", "bank transfers\x07", "\x1b[31mred\x1b[0m"]


@pytest.mark.parametrize("title", INVISIBLE + UNSHOWABLE)
def test_a_title_that_shows_nothing_or_holds_control_characters_is_refused_on_its_field(ladder: Ladder, title: str) -> None:
    ladder.driver.slash("", ladder.user("sam"))
    view = ladder.driver.opened_view("declare_incident")
    reply = ladder.driver.submit(view, ladder.user("sam"), {"title": title, "service": "bank-transfers"})
    assert reply.status == 200
    answer = reply.json()
    assert answer["response_action"] == "errors" and list(answer["errors"]) == ["title"]
    assert ("invisible" if title in INVISIBLE else "control characters") in answer["errors"]["title"]
    assert ladder.runtime.store.incident_by_number(1) is None
    assert not [c for c in sent_to_slack(ladder) if c.method != "views.open"]


@pytest.mark.parametrize("title", ["👩\u200d💻 bank transfers", "تحويلات\u200f بنكية", "e\u0301chec des virements", "\u00a0bank\tfeed"])
def test_format_characters_inside_visible_text_are_kept(ladder: Ladder, title: str) -> None:
    incident, _, reply = declare(ladder, title=title, service="bank-transfers")
    assert reply.json()["response_action"] == "update"
    assert incident["title"] == title.strip()


@pytest.mark.parametrize("callback_id, block", [("resolve_incident", "note"), ("status_update", "update"), ("escalate_incident", "reason")])
@pytest.mark.parametrize("text", ["\u202e\u200b\u2060", "rolled\x00back"])
def test_other_typed_fields_refuse_the_same_text_on_their_field(ladder: Ladder, callback_id: str, block: str, text: str) -> None:
    declare(ladder)
    reply = ladder.driver.post_payload(_form(ladder, callback_id, {block: text}, '{"incident_id": 1, "version": 1}'))
    assert reply.status == 200
    answer = reply.json()
    assert answer["response_action"] == "errors" and list(answer["errors"]) == [block]
    incident = ladder.runtime.store.incident(1)
    assert (incident["status"], incident["version"]) == ("triggered", 1)


def test_slacks_ssl_check_is_answered_200_even_unsigned_and_runs_nothing(ladder: Ladder) -> None:
    """Slack may POST `ssl_check=1&token=…` unsigned when it checks the certificate, and wants a 200 (slack-platform.md)."""
    unsigned = {"X-Slack-Signature": None, "X-Slack-Request-Timestamp": None}
    reply = ladder.driver.post("ssl_check=1&token=x", "application/x-www-form-urlencoded", headers=unsigned)
    assert (reply.status, reply.body) == (200, "")
    # Only a bare check passes unsigned: anything that would run a listener still needs the signature.
    command = "ssl_check=1&command=/incident&text=bank+transfers&user_id=U1&trigger_id=1.2.3"
    assert ladder.driver.post(command, "application/x-www-form-urlencoded", headers=unsigned).status == 401
    assert ladder.slack.calls_to("views.open") == []


def test_a_body_larger_than_slack_ever_sends_is_refused_before_it_is_read(ladder: Ladder) -> None:
    """One unsigned 400 MB POST used to be read whole before the signature check: 14 s and 800 MB of memory."""
    address = urlsplit(ladder.url)
    with socket.create_connection((address.hostname, address.port), timeout=5) as conn:
        # Only the headers: the answer must come before a byte of the body is read (sending some would race the close).
        conn.sendall(f"POST {address.path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                     f"Content-Length: {400 * 1024 * 1024}\r\n\r\n".encode())
        answer = conn.recv(4096).decode("latin-1")
    assert answer.startswith("HTTP/1.1 413"), answer[:200]
    assert ladder.driver.post_form({"payload": "{}"}).status == 404, "the server still answers the next request"
