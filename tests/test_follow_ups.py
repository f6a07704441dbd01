"""What runs after Slack has its answer: only for requests with something to do, and never silently lost.

Listeners hand work that calls Slack (views.open, an ephemeral reply) to `later`, which runs it on
Bolt's listener threads. A click that just changes something has nothing to follow up and takes
no thread; a follow-up that fails is logged with what it was doing.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from tests.support import Ladder, declare, summary_of


@pytest.fixture
def submitted(ladder: Ladder) -> list[Any]:
    """The follow-ups submitted to Bolt's listener threads from now on."""
    executor = ladder.runtime.bolt.listener_runner.listener_executor
    original = executor.submit
    seen: list[Any] = []

    def counting(fn: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(args)
        return original(fn, *args, **kwargs)

    executor.submit = counting  # type: ignore[method-assign]
    yield seen
    executor.submit = original  # type: ignore[method-assign]


def test_a_click_that_changes_something_takes_no_thread_and_a_command_takes_one(ladder: Ladder, submitted: list[Any]) -> None:
    declare(ladder)
    assert [args[1]["kind"] for args in submitted] == ["declare_form"]  # the form's views.open; the submission answered inline
    ladder.deliver()
    submitted.clear()
    reply = ladder.driver.click(summary_of(ladder), "incident_ack", ladder.user("alice"))
    assert reply.status == 200 and ladder.runtime.store.incident(1)["status"] == "acknowledged"
    assert submitted == []
    ladder.driver.click(summary_of(ladder), "incident_resolve", ladder.user("alice"))
    assert [args[1]["kind"] for args in submitted] == ["open"]
    assert ladder.driver.opened_view("resolve_incident")


def test_a_follow_up_that_fails_is_logged_and_slack_still_had_its_answer(ladder: Ladder, caplog: pytest.LogCaptureFixture) -> None:
    fields = ladder.driver.slash_fields("bank transfers failing", ladder.user("sam"), channel_id="C" + "0" * 3100)
    with caplog.at_level(logging.ERROR, logger="app.slack.listeners"):
        reply = ladder.driver.post_form(fields)  # the form's metadata would pass Slack's 3,000 characters
        assert reply.status == 200
        ladder.slack.wait_for(lambda: "follow-up declare_form failed" in caplog.text)
    assert "private_metadata cannot exceed 3000 characters" in caplog.text
    assert not ladder.slack.calls_to("views.open")
