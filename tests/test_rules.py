"""Rules through Slack's protocol: each trigger and action, snooze and dismiss, cadence, re-checks, restarts.

Time is frozen with freezegun and moved by the test; each step is the worker's tick plus delivery.
"""

from __future__ import annotations

import json
from typing import Iterator

import pytest

from app import incidents
from tests.support import RULES_CATALOG, Clock, Engine, block_text, declare, start_engine, summary_of


@pytest.fixture
def rules(slack, tmp_path, clock: Clock) -> Iterator[Engine]:
    # The clock starts at START: a Monday 10:00, within Payments working hours.
    slack.add_channel("incident-leadership")
    slack.add_user("quinn", "quinn@example.com")
    ladder, close = start_engine(slack, tmp_path, clock, RULES_CATALOG)
    yield ladder
    close()


def messages(ladder: Engine) -> list[dict]:
    return ladder.slack.messages_in(ladder.slack.incident_channels()[0]["id"])


def posted(ladder: Engine, fragment: str) -> list[dict]:
    return [m for m in messages(ladder) if fragment in m["text"]]


def fired(ladder: Engine, incident_id: int, rule: str) -> int:
    return sum(1 for e in ladder.timeline(incident_id) if e["kind"] == "rule_fired" and json.loads(e["data"])["rule"] == rule)


def test_sev1_declared_tells_leadership_and_asks_for_a_lead(rules: Engine) -> None:
    incident, _, _ = declare(rules, severity="sev1")
    rules.deliver()
    leadership = rules.slack.channel_named("incident-leadership")["messages"]
    assert len(leadership) == 1 and "INC-1 is SEV1 · Critical: bank transfers failing" in leadership[0]["text"]
    nudge = posted(rules, "who is leading?")
    assert len(nudge) == 1
    for action in ("incident_take_lead", "nudge_escalate", "nudge_snooze_15", "nudge_snooze_60", "nudge_dismiss"):
        rules.driver.find_element(nudge[0], action)
    rules.driver.click(nudge[0], "incident_take_lead", rules.user("bob"))
    rules.slack.wait_for(lambda: rules.runtime.store.incident(incident["id"])["lead"] == rules.user("bob"))
    rules.deliver()
    assert f"*Lead*\\n<@{rules.user('bob')}>" in block_text(summary_of(rules))
    assert any("took the lead" in m["text"] for m in messages(rules))
    rules.at(minutes=30)
    # Later nudges speak to the lead.
    reminder = posted(rules, "no update for a while")
    assert reminder and reminder[0]["text"].startswith(f":memo: <@{rules.user('bob')}>")


def test_unacknowledged_at_sev1_escalates_by_itself(rules: Engine) -> None:
    incident, _, _ = declare(rules, severity="sev1")
    rules.deliver()
    rules.at(minutes=2, seconds=59)
    assert rules.dms("dana") == []
    rules.at(seconds=1)  # 3 minutes unacknowledged at SEV1: the rule pages level 2 before the policy's 5 minutes
    assert len(rules.dms("dana")) == 1
    assert any("rule `sev1-unacked` escalated to level 2" in e["text"] for e in rules.timeline(incident["id"]))
    rules.at(minutes=3)
    assert fired(rules, incident["id"], "sev1-unacked") == 1  # once per occurrence


def test_raising_to_sev1_applies_sev1_rules_from_that_moment(rules: Engine) -> None:
    incident, _, _ = declare(rules, severity="sev3")
    rules.deliver()
    rules.at(minutes=20)  # minor so far: nothing for SEV1 has fired, and nobody told leadership
    assert rules.slack.channel_named("incident-leadership")["messages"] == []
    rules.driver.click(summary_of(rules), "incident_severity", rules.user("bob"), option_value="sev1")
    rules.slack.wait_for(lambda: rules.runtime.store.incident(incident["id"])["severity"] == "sev1")
    rules.at(seconds=1)
    # The CTO must be told: the SEV1 rules apply from the raise.
    assert len(rules.slack.channel_named("incident-leadership")["messages"]) == 1
    assert rules.slack.dm_with(rules.user("quinn"))["messages"]  # raised-tell-stakeholders
    rules.at(minutes=2, seconds=58)
    assert fired(rules, incident["id"], "sev1-unacked") == 0  # "unacknowledged 3 min at SEV1" counts from the raise
    rules.at(seconds=2)
    assert fired(rules, incident["id"], "sev1-unacked") == 1


def test_status_update_reminders_follow_the_silence_and_the_cadence(rules: Engine) -> None:
    incident, _, _ = declare(rules, severity="sev2")
    rules.deliver()
    channel = rules.slack.incident_channels()[0]["id"]
    rules.at(minutes=20)
    rules.driver.message_event(channel, rules.user("alice"), "Looking at the payout logs")  # a human update
    rules.slack.wait_for(lambda: rules.runtime.store.incident(incident["id"])["last_update_at"])
    rules.driver.message_event(channel, "UBOT00001", "bot noise", bot_id="BBOT00001")  # bots do not count
    rules.at(minutes=29)
    assert not posted(rules, "no update for a while")  # 49 min since declaration, but only 29 since alice wrote
    rules.at(minutes=1)
    reminders = posted(rules, "no update for a while")
    assert len(reminders) == 1
    # The reminder's button opens the update modal; its text is posted and recorded, and silence starts again.
    opened = len(rules.slack.ok_calls_to("views.open"))
    rules.driver.click(reminders[0], "incident_post_update", rules.user("alice"))
    view = rules.driver.opened_view("status_update", after=opened)
    reply = rules.driver.submit(view, rules.user("alice"), {"update": "x"})
    assert reply.json()["response_action"] == "errors" and "update" in reply.json()["errors"]
    rules.driver.submit(view, rules.user("alice"), {"update": "Rolled back <!here> the batcher; watching"})
    rules.slack.wait_for(lambda: any(e["kind"] == "status_update" for e in rules.timeline(incident["id"])))
    rules.deliver()
    update = posted(rules, "*Status update*")
    assert len(update) == 1 and "Rolled back &lt;!here&gt; the batcher" in update[0]["text"]
    rules.at(minutes=29)
    assert len(posted(rules, "no update for a while")) == 1
    rules.at(minutes=1)
    assert len(posted(rules, "no update for a while")) == 2
    rules.at(minutes=30)  # `every: 30m` while the silence lasts
    assert len(posted(rules, "no update for a while")) == 3


def test_snooze_postpones_and_dismiss_stops_a_rule_for_that_incident(rules: Engine) -> None:
    incident, _, _ = declare(rules, severity="sev3")
    rules.deliver()
    rules.at(hours=2)
    nudges = posted(rules, "downgrade or resolve?")
    assert len(nudges) == 1 and "open for 2h" in nudges[0]["text"]
    rules.driver.click(nudges[0], "nudge_snooze_15", rules.user("bob"))
    answer = rules.slack.wait_for(lambda: [r for r in rules.slack.responses if "Snoozed" in r["body"].get("text", "")])
    assert answer[0]["body"]["response_type"] == "ephemeral"
    rules.at(minutes=14)
    assert len(posted(rules, "downgrade or resolve?")) == 1
    rules.at(minutes=1)
    again = posted(rules, "downgrade or resolve?")
    assert len(again) == 2
    rules.driver.click(again[1], "nudge_dismiss", rules.user("carol"))
    rules.slack.wait_for(lambda: any(e["kind"] == "rule_dismissed" for e in rules.timeline(incident["id"])))
    rules.at(hours=5)
    assert len(posted(rules, "downgrade or resolve?")) == 2
    kinds = {(e["kind"], e["actor"]) for e in rules.timeline(incident["id"])}
    assert ("rule_snoozed", rules.user("bob")) in kinds and ("rule_dismissed", rules.user("carol")) in kinds


def test_nudge_escalate_now_is_one_click(rules: Engine) -> None:
    declare(rules, severity="sev3")
    rules.deliver()
    rules.at(hours=2)
    nudge = posted(rules, "downgrade or resolve?")[0]
    rules.driver.click(nudge, "nudge_escalate", rules.user("bob"))
    rules.slack.wait_for(lambda: any(c["is_im"] and c["user"] == rules.user("dana") for c in rules.slack.channels.values()))
    rules.deliver()
    assert len(rules.dms("dana")) == 1


def test_escalate_now_naming_a_rule_that_never_nudged_on_the_incident_changes_nothing(rules: Engine) -> None:
    """A forged or misdirected button value pages nobody: the rule must have posted its nudge on this incident."""
    declare(rules, severity="sev2")
    rules.deliver()
    rules.driver.click(rules.dms("alice")[0], "incident_ack", rules.user("alice"))  # the ladder stops climbing by itself
    rules.slack.wait_for(lambda: rules.runtime.store.incident(1)["status"] == "acknowledged")
    rules.at(minutes=30)  # `no-lead` nudged; the `updates` reminder fired (it offers no Escalate now); `open-2h` has not yet
    reminder, nudge = posted(rules, "no update for a while")[0], posted(rules, "Still no lead.")[0]
    _, element = rules.driver.find_element(reminder, "nudge_snooze_15")
    element["action_id"] = "nudge_escalate"
    for rule in ("open-2h", "no-such-rule", "updates", "sev1-unacked", "x" * 5000):
        element["value"] = f"1:{rule}"
        assert rules.driver.click(reminder, "nudge_escalate", rules.user("bob")).status == 200
    answers = [r["body"]["text"] for r in rules.slack.wait_for(lambda: len(rules.slack.responses) >= 5 and rules.slack.responses)]
    assert answers[0] == ("No “open-2h” nudge was posted for INC-1, so there is nothing to escalate from: nothing changed. "
                          "To page more people, use Escalate on the incident's summary.")
    assert all("nothing changed" in a and len(a) < 300 for a in answers)
    rules.deliver()
    assert not [e for e in rules.timeline(1) if e["kind"] == "escalated"] and not rules.dms("dana")
    # The rule that did nudge on this incident escalates from its own button.
    rules.driver.click(nudge, "nudge_escalate", rules.user("bob"))
    rules.slack.wait_for(lambda: any(e["kind"] == "escalated" for e in rules.timeline(1)))


def test_acknowledged_but_unresolved_and_no_lead_nudges(rules: Engine) -> None:
    incident, _, _ = declare(rules, severity="sev2")
    rules.deliver()
    rules.at(minutes=15)
    assert len(posted(rules, "Still no lead.")) == 1
    rules.driver.click(rules.dms("alice")[0], "incident_ack", rules.user("alice"))
    rules.slack.wait_for(lambda: rules.runtime.store.incident(incident["id"])["status"] == "acknowledged")
    rules.at(minutes=59)
    assert not posted(rules, "Acknowledged an hour ago")
    rules.at(minutes=1)
    assert len(posted(rules, "Acknowledged an hour ago")) == 1


def test_conditions_are_rechecked_when_the_rule_fires(rules: Engine) -> None:
    incident, _, _ = declare(rules, severity="sev3")
    rules.deliver()
    rules.at(hours=1, minutes=59)
    rules.driver.click(summary_of(rules), "incident_resolve", rules.user("bob"))
    rules.driver.submit(rules.driver.opened_view("resolve_incident"), rules.user("bob"))
    rules.slack.wait_for(lambda: rules.runtime.store.incident(incident["id"])["status"] == "resolved")
    rules.at(hours=3)
    assert fired(rules, incident["id"], "open-2h") == 0
    assert not posted(rules, "downgrade or resolve?")


def test_scope_and_working_hours_conditions(slack, tmp_path, clock: Clock) -> None:
    slack.add_channel("incident-leadership")
    slack.add_user("quinn", "quinn@example.com")
    clock.move_to("2026-11-23 21:00:00")  # Monday evening in London: outside Payments working hours
    ladder, close = start_engine(slack, tmp_path, clock, RULES_CATALOG)
    try:
        payments, _, _ = declare(ladder, severity="sev3")
        office, _, _ = declare(ladder, "", title="Intranet down", service="intranet", severity="sev3")
        ladder.at(minutes=1)
        assert fired(ladder, payments["id"], "payments-nights") == 1  # Payments' own rule, out of hours
        assert fired(ladder, office["id"], "payments-nights") == 0  # not another team's incident
        ladder.at(hours=2)
        assert fired(ladder, office["id"], "open-2h") == 0  # tier 3, the rule wants tier 1
        assert fired(ladder, payments["id"], "open-2h") == 1
    finally:
        close()


def test_a_rule_never_posts_twice_across_a_restart(slack, tmp_path, clock: Clock) -> None:
    slack.add_channel("incident-leadership")
    slack.add_user("quinn", "quinn@example.com")
    ladder, close = start_engine(slack, tmp_path, clock, RULES_CATALOG)
    incident, _, _ = declare(ladder, severity="sev3")
    ladder.deliver()
    clock.advance(hours=2)
    ladder.runtime.worker.tick(ladder.clock())  # the rule fires and commits, but the process stops before delivery
    close()
    ladder, close = start_engine(slack, tmp_path, clock, RULES_CATALOG)
    try:
        ladder.deliver()
        ladder.deliver()
        ladder.at(minutes=1)
        assert len(posted(ladder, "downgrade or resolve?")) == 1
        assert fired(ladder, incident["id"], "open-2h") == 1
    finally:
        close()


def test_an_out_of_hours_rule_stays_quiet_in_working_hours(rules: Engine) -> None:
    incident, _, _ = declare(rules, severity="sev3")  # Monday 10:00 London: within Payments working hours
    rules.deliver()
    rules.at(minutes=5)
    assert fired(rules, incident["id"], "payments-nights") == 0
    assert not posted(rules, "Night-time payments incident")


def test_an_update_form_submitted_after_the_resolve_posts_nothing_and_rearms_no_reminder(rules: Engine) -> None:
    """The form opened while the incident was live; it is sent after someone resolved it (found by the probe)."""
    incident, _, _ = declare(rules, severity="sev2")
    rules.deliver()
    rules.at(minutes=30)
    reminders = posted(rules, "no update for a while")
    opened = len(rules.slack.ok_calls_to("views.open"))
    rules.driver.click(reminders[0], "incident_post_update", rules.user("alice"))
    view = rules.driver.opened_view("status_update", after=opened)
    incidents.resolve(rules.runtime.store, incident["id"], rules.user("bob"), "", rules.clock())
    reply = rules.driver.submit(view, rules.user("alice"), {"update": "Rolled back the batcher; watching"})
    assert reply.json()["response_action"] == "errors" and "is resolved" in reply.json()["errors"]["update"]
    rules.at(hours=2)
    assert not posted(rules, "*Status update*") and len(posted(rules, "no update for a while")) == 1
