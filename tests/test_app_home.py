"""The App Home through Slack's protocol: `app_home_opened` -> the view published with views.publish, within Slack's
limits, clicked, and published again when an incident it shows changes."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta, timezone
from typing import Iterator

import pytest

from app import followups, home
from app.slack.home_view import NOT_IN_CATALOG, VIEW_BLOCKS_MAX, home_view, listing
from app.store import iso
from tests.support import Clock, Engine, declare, frozen_clock, start_engine, summary_of

# Sunday 2026-11-15 10:00 UTC: alice holds payments-primary until Monday's 09:00 hand-off (then bob, then alice again
# from Monday 2026-11-23 09:00 London, which is 09:00 UTC in November).
SUNDAY = datetime(2026, 11, 15, 10, 0, tzinfo=timezone.utc)


@pytest.fixture
def clock() -> Iterator[Clock]:
    with frozen_clock(SUNDAY) as frozen:
        yield frozen


@pytest.fixture
def engine(slack, tmp_path, clock: Clock) -> Iterator[Engine]:
    ladder, close = start_engine(slack, tmp_path, clock)
    yield ladder
    close()


def open_home(engine: Engine, name: str) -> dict:
    """`name` opens Ladder's Home tab; the worker publishes it; the Home as Slack now shows it."""
    user = engine.user(name)
    before = len(engine.slack.ok_calls_to("views.publish"))
    assert engine.driver.app_home_opened(user).status == 200
    engine.deliver()
    assert len(engine.slack.ok_calls_to("views.publish")) == before + 1
    return engine.slack.home_of(user)


def text_of(view: dict) -> str:
    return json.dumps(view["blocks"], ensure_ascii=False)


def buttons(view: dict) -> list[tuple[str, str]]:
    return [(e["action_id"], e.get("value", "")) for b in view["blocks"] if b["type"] == "actions" for e in b["elements"]]


def date_token(moment: datetime) -> str:
    return f"<!date^{int(moment.timestamp())}^"


def resolve(engine: Engine, number: int, who: str) -> None:
    before = len(engine.slack.ok_calls_to("views.open"))
    engine.driver.click(summary_of(engine, number), "incident_resolve", engine.user(who))
    engine.driver.submit(engine.driver.opened_view("resolve_incident", after=before), engine.user(who), {"note": "fixed"})
    engine.deliver()


def test_the_home_shows_on_call_my_incidents_my_last_weeks_pages_and_my_open_follow_ups(engine: Engine, clock: Clock) -> None:
    alice, bob = engine.user("alice"), engine.user("bob")
    old, _, _ = declare(engine, "bank transfers failing", severity="sev2")  # pages alice on Sunday
    engine.deliver()
    engine.driver.click(engine.dms("alice")[0], "incident_ack", alice)
    resolve(engine, 1, "alice")
    store, catalog = engine.runtime.store, engine.runtime.catalog
    for text in ("Alert on payout queue depth", "Write the <!channel> runbook"):
        followups.add(store, catalog, followups.FollowupRequest(old["id"], alice, "2026-11-20", text, bob), clock())
    done = followups.add(store, catalog, followups.FollowupRequest(old["id"], alice, "2026-11-21", "Already done", bob), clock())
    followups.done(store, done.data.get("followup_id") or store.followups(old["id"])[-1]["id"], alice, clock())
    engine.deliver()

    clock.move_to("2026-11-23 10:00:00")  # eight days later: alice is on call again, and paged for a new incident
    new, _, _ = declare(engine, "", title="card payments <!here> failing", service="bank-transfers", severity="sev2")
    engine.deliver()

    view = open_home(engine, "alice")
    assert view["type"] == "home" and len(view["blocks"]) <= VIEW_BLOCKS_MAX
    text = text_of(view)
    assert "On call now in your teams" in text and "*Payments*" in text
    assert f"`payments-primary`: *you* until {date_token(datetime(2026, 11, 30, 9, tzinfo=timezone.utc))}" in text
    # The open incident, escaped, with the summary's own buttons; the resolved one is not listed.
    assert "INC-2 · card payments &lt;!here&gt; failing" in text and "<!here>" not in text
    assert (("incident_ack", str(new["id"])) in buttons(view) and ("incident_escalate", str(new["id"])) in buttons(view)
            and ("incident_resolve", str(new["id"])) in buttons(view))
    assert all(value != str(old["id"]) for _, value in buttons(view))
    assert "Open incidents (1)" in text
    # Pages: this week's (INC-2), not the one eight days ago (INC-1).
    pages = next(b for i, b in enumerate(view["blocks"]) if view["blocks"][i - 1].get("text", {}).get("text") == "Your pages, last 7 days")
    assert "INC-2" in pages["text"]["text"] and "INC-1" not in pages["text"]["text"]
    # Follow-ups: the two open ones (overdue by now), not the done one; typed text escaped.
    assert "Alert on payout queue depth" in text and "Write the &lt;!channel&gt; runbook" in text and "Already done" not in text
    assert text.count(":warning: *overdue*") == 2

    # bob (never paged, so Ladder does not know his Slack ID yet: users.info) sees alice on call and his next shift.
    bob_view = open_home(engine, "bob")
    assert [c.args["user"] for c in engine.slack.ok_calls_to("users.info")] == [bob]
    bob_text = text_of(bob_view)
    assert f"`payments-primary`: <@{alice}> until" in bob_text
    assert f"your next shift: {date_token(datetime(2026, 11, 30, 9, tzinfo=timezone.utc))}" in bob_text
    assert "_Nobody paged you in the last 7 days._" in bob_text and "_No follow-ups waiting on you._" in bob_text
    open_home(engine, "bob")  # now cached: no second users.info
    assert len(engine.slack.ok_calls_to("users.info")) == 1


def test_acknowledge_on_the_home_acknowledges_and_the_home_follows_the_incident(engine: Engine) -> None:
    alice = engine.user("alice")
    incident, _, _ = declare(engine, severity="sev2")
    engine.deliver()
    first = open_home(engine, "alice")
    assert engine.driver.click_home(alice, "incident_ack", str(incident["id"])).status == 200
    engine.slack.wait_for(lambda: engine.runtime.store.incident(incident["id"])["status"] == "acknowledged")
    engine.deliver()  # the summary is refreshed, and so is the Home of everyone it concerns who has opened theirs

    after = engine.slack.home_of(alice)
    assert after["hash"] != first["hash"] and after["id"] == first["id"]
    assert ":large_orange_circle: Acknowledged" in text_of(after) and f"acknowledged by <@{alice}>" in text_of(after)
    assert ("incident_ack", str(incident["id"])) not in buttons(after)

    # Resolve on the Home opens the resolve form, as on the summary (the click's trigger_id is all it needs).
    opened = len(engine.slack.ok_calls_to("views.open"))
    engine.driver.click_home(alice, "incident_resolve", str(incident["id"]))
    assert engine.driver.opened_view("resolve_incident", after=opened)["private_metadata"]

    # A click that changes nothing (the Home was stale) is answered by DM: a Home has no response_url.
    engine.slack.homes[alice] = first
    engine.driver.click_home(alice, "incident_ack", str(incident["id"]))
    engine.slack.wait_for(lambda: any("already" in m["text"].lower() for m in engine.dms("alice")))


def test_changes_refresh_the_homes_of_those_involved_once_per_burst(engine: Engine) -> None:
    alice, frank = engine.user("alice"), engine.user("frank")
    open_home(engine, "alice")
    open_home(engine, "frank")  # Identity: not concerned by a Payments incident
    publishes = lambda user: [c for c in engine.slack.ok_calls_to("views.publish") if c.args["user_id"] == user]  # noqa: E731
    incident, _, _ = declare(engine, severity="sev3")
    engine.deliver()
    assert len(publishes(alice)) == 2 and "INC-1" in text_of(engine.slack.home_of(alice))
    assert len(publishes(frank)) == 1

    # A burst of changes before the worker runs: one refresh each, and one Home publication for alice.
    summary = summary_of(engine)
    for severity in ("sev2", "sev1"):
        engine.driver.click(summary, "incident_severity", engine.user("bob"), option_value=severity)
    engine.driver.click(summary, "incident_ack", engine.user("bob"))
    engine.slack.wait_for(lambda: engine.runtime.store.incident(incident["id"])["status"] == "acknowledged")
    engine.deliver()
    assert len(publishes(alice)) == 3 and len(publishes(frank)) == 1
    assert ":large_orange_circle: Acknowledged" in text_of(engine.slack.home_of(alice))


def test_a_private_incident_shows_only_to_those_it_paged_or_who_acted_not_to_its_team(engine: Engine) -> None:
    alice, bob, sam = engine.user("alice"), engine.user("bob"), engine.user("sam")
    open_home(engine, "bob")  # bob: in Payments, not on call, not paged
    bob_publishes = len([c for c in engine.slack.ok_calls_to("views.publish") if c.args["user_id"] == bob])
    secret, _, _ = declare(engine, "", title="payroll data leaked", service="bank-transfers", severity="sev2", private=["private"])
    engine.deliver()
    assert engine.runtime.store.incident(secret["id"])["private"]
    assert "payroll data leaked" in text_of(open_home(engine, "alice"))  # paged
    assert "payroll data leaked" in text_of(open_home(engine, "sam"))  # declared
    assert len([c for c in engine.slack.ok_calls_to("views.publish") if c.args["user_id"] == bob]) == bob_publishes
    assert "payroll data leaked" not in text_of(open_home(engine, "bob"))
    with engine.runtime.store.transaction() as tx:
        people = home.involved(tx, engine.runtime.catalog, tx.incident(secret["id"]))
    assert bob not in people and {alice, sam} <= people


def test_a_home_stays_within_slacks_limits_with_300_open_incidents_and_500_pages(engine: Engine, clock: Clock) -> None:
    alice = engine.user("alice")
    engine.runtime.store.cache_user("alice@example.com", alice, clock())
    conn = sqlite3.connect(engine.runtime.settings.database_path)
    with conn:
        for n in range(1, 301):
            at = iso(clock() - timedelta(minutes=n))
            conn.execute(
                "INSERT INTO incidents(id, number, title, service_id, service_name, team_id, team_name, severity, status, "
                "declared_by, declared_at, updated_at) VALUES (?, ?, ?, 'bank-transfers', 'Bank transfers', 'payments', "
                "'Payments', ?, 'triggered', ?, ?, ?)", (n, n, ("<!channel> " + "x" * 200)[:120], f"sev{1 + n % 3}", alice, at, at))
        for n in range(500):
            conn.execute("INSERT INTO pages(incident_id, policy, level, loop, target, via, created_at, user_id, status) "
                         "VALUES (?, 'payments', 0, ?, 'alice@example.com', 'payments-primary', ?, ?, 'sent')",
                         (1 + n % 300, n, iso(clock() - timedelta(minutes=n)), alice))
    conn.close()

    view = open_home(engine, "alice")  # the stand-in refuses a Home past 100 blocks or a section past 3,000 characters
    text = text_of(view)
    assert len(view["blocks"]) <= VIEW_BLOCKS_MAX
    assert "Open incidents (300)" in text and "…and 290 more open incidents" in text
    pages = next(b["text"]["text"] for i, b in enumerate(view["blocks"]) if view["blocks"][i - 1].get("text", {}).get("text") == "Your pages, last 7 days")
    listed = pages.count("\n• ") + pages.startswith("• ")
    assert 10 <= listed <= 15 and pages.endswith(f"…and {500 - listed} more") and len(pages) <= 3000  # cut to fit one section
    assert "<!channel>" not in text
    shown = [int(v) for a, v in buttons(view) if a == "incident_escalate"]
    assert len(shown) == 10 and all(n % 3 == 0 for n in shown)  # the most severe (sev1: n % 3 == 0) first, newest first
    assert shown == sorted(shown)


def test_someone_the_catalog_does_not_name_gets_a_home_that_says_so(engine: Engine) -> None:
    zed = engine.slack.add_user("zed", "zed@example.com")
    assert engine.driver.app_home_opened(zed).status == 200
    engine.deliver()
    view = engine.slack.home_of(zed)
    assert view is not None and "does not name you" in text_of(view) and "On call now" not in text_of(view)
    assert engine.runtime.store.refs_of_user(zed) == ["zed@example.com"]  # cached: the next open asks Slack nothing


def test_the_messages_tab_and_a_user_less_event_publish_nothing(engine: Engine) -> None:
    alice = engine.user("alice")
    assert engine.driver.app_home_opened(alice, tab="messages").status == 200
    engine.deliver()
    assert engine.slack.calls_to("views.publish") == [] and engine.runtime.store.home_opened_at(alice) is None


def test_views_publish_in_the_stand_in_checks_what_slack_checks(slack) -> None:
    from slack_sdk import WebClient
    from slack_sdk.errors import SlackApiError

    from tests.slack_standin import BOT_TOKEN

    client = WebClient(token=BOT_TOKEN, base_url=slack.api_url)
    alice = slack.user_by_email("alice@example.com")
    view = {"type": "home", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "hi"}}]}
    published = client.views_publish(user_id=alice, view=view)["view"]
    cases = [({"user_id": "", "view": view}, "invalid_arguments"), ({"user_id": alice, "view": {**view, "type": "modal"}}, "invalid_arguments"),
             ({"user_id": alice, "view": {"type": "home", "blocks": [view["blocks"][0]] * 101}}, "invalid_arguments"),
             ({"user_id": alice, "view": view, "hash": "stale"}, "hash_conflict"), ({"user_id": "U0NOBODY", "view": view}, "user_not_found")]
    for args, error in cases:
        with pytest.raises(SlackApiError) as raised:
            client.views_publish(**args)
        assert raised.value.response["error"] == error, args
    assert client.views_publish(user_id=alice, view=view, hash=published["hash"])["ok"]


# -- the view alone (pure) ---------------------------------------------------------------------------------------

def test_listing_cuts_to_one_section_and_counts_the_rest() -> None:
    lines = [f"• line {n} " + "y" * 100 for n in range(200)]
    text = listing("*Title*", lines, 500, "nothing")
    assert len(text) <= 3000 and text.endswith(f"…and {500 - text.count('• line')} more")
    assert listing("*T*", [], 0, "_none_") == "*T*\n_none_"
    assert listing("*T*", ["a", "b"], 5, "_none_") == "*T*\na\nb\n…and 3 more"


def test_an_unknown_persons_home_is_a_valid_view() -> None:
    view = home_view(home.HomeData("U0ZED", SUNDAY, known=False))
    assert view["type"] == "home" and NOT_IN_CATALOG in text_of(view).replace("\\n", "\n")
