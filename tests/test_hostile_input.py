"""Hostile and broken input: a clear answer or a 4xx, never a 500, never a crash, nothing pinged by accident."""

from __future__ import annotations

import pytest

from tests.support import Ladder, mrkdwn_strings


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
