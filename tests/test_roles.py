"""Roles and runbooks, through Slack's protocol: `/incident role`, the summary's role picker, the DM with a role's
instructions, the lead as one of the roles, a policy that makes the first acknowledger the lead, and runbook links on
the page DM and the summary."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterator

import pytest

from app.catalog import CatalogError, parse_catalog
from app.slack import blocks
from tests.support import TESTS, Clock, Engine, block_text, declare, mrkdwn_strings, start_engine, summary_of

ROLES_CATALOG = TESTS / "roles_catalog.yaml"


@pytest.fixture
def catalog_path(tmp_path: Path) -> Path:
    """A copy of tests/roles_catalog.yaml that a test may edit (the running bot reloads it)."""
    path = tmp_path / "catalog.yaml"
    path.write_text(ROLES_CATALOG.read_text())
    return path


@pytest.fixture
def engine(slack, tmp_path, clock: Clock, catalog_path: Path) -> Iterator[Engine]:
    ladder, close = start_engine(slack, tmp_path, clock, catalog_path)
    yield ladder
    close()


def channel(engine: Engine) -> str:
    return engine.slack.incident_channels()[0]["id"]


def command(engine: Engine, text: str, user: str, in_incident: bool = True) -> str:
    """`/incident <text>` typed by `user` (a name), in the incident's channel; the answer only they see."""
    reply = engine.driver.slash(text, engine.user(user), **({"channel_id": channel(engine)} if in_incident else {}))
    assert reply.status == 200, reply.body
    return reply.body  # Bolt answers an ack with text only as that text


def mention(engine: Engine, name: str) -> str:
    return f"<@{engine.user(name)}|{name}>"  # how Slack sends a mention in command text


def role_entries(engine: Engine, incident_id: int) -> list[dict]:
    return [json.loads(e["data"]) for e in engine.timeline(incident_id) if e["kind"] == "role_assigned"]


def started(engine: Engine, **inputs: str) -> dict:
    incident, _, _ = declare(engine, **inputs)
    engine.deliver()
    return incident


def test_a_role_given_by_command_dms_its_instructions_shows_on_the_summary_and_the_timeline(engine: Engine) -> None:
    incident = started(engine, severity="sev2")
    carol, bob = engine.user("carol"), engine.user("bob")
    answer = command(engine, f"role scribe {mention(engine, 'carol')}", "bob")
    assert answer == f"<@{carol}> is the Scribe of INC-1."
    engine.at(seconds=1)

    dm = engine.dms("carol")
    assert len(dm) == 1
    text = dm[0]["text"]
    assert f"<@{bob}> gave you the role *Scribe* in *INC-1 · bank transfers failing*" in text
    assert "*What the Scribe does:* Keep the timeline: write down decisions" in text
    assert f"Incident channel: <#{channel(engine)}>" in text
    assert f"*Scribe:* <@{carol}>" in block_text(summary_of(engine))
    assert "*Communications:* nobody yet" in block_text(summary_of(engine))
    assert any(f"<@{bob}> made <@{carol}> the *Scribe* of INC-1" in t for t in engine.channel_texts())
    assert role_entries(engine, incident["id"]) == [{"role": "scribe", "user": carol, "previous": None}]

    # Giving it to someone else replaces the holder: one row, the previous one named.
    assert "is the Scribe" in command(engine, f"role scribe <@{engine.user('dana')}>", "bob")  # a mention without a name
    engine.at(seconds=1)
    dana = engine.user("dana")
    held = engine.runtime.store.roles(incident["id"])
    assert [(r["role"], r["user_id"], r["assigned_by"]) for r in held] == [("scribe", dana, bob)]
    assert role_entries(engine, incident["id"])[-1] == {"role": "scribe", "user": dana, "previous": carol}
    summary = block_text(summary_of(engine))
    assert f"*Scribe:* <@{dana}>" in summary and f"<@{carol}>" not in summary
    assert any(f"(replacing <@{carol}>)" in t for t in engine.channel_texts())
    assert len(engine.dms("dana")) == 1

    # The same holder again changes nothing and says so; no second DM.
    assert command(engine, f"role scribe {mention(engine, 'dana')}", "carol") == f"<@{dana}> is already the Scribe of INC-1."
    engine.at(seconds=1)
    assert len(engine.dms("dana")) == 1 and len(role_entries(engine, incident["id"])) == 2


def test_the_role_picker_on_the_summary_opens_a_form_that_gives_the_role(engine: Engine) -> None:
    incident = started(engine, severity="sev2")
    bob, erin = engine.user("bob"), engine.user("erin")
    summary = summary_of(engine)
    _, picker = engine.driver.find_element(summary, blocks.ROLE_PICK)
    assert [o["value"] for o in picker["options"]] == [f"{incident['id']}:lead", f"{incident['id']}:scribe", f"{incident['id']}:comms"]
    assert [o["text"]["text"] for o in picker["options"]] == ["Incident lead", "Scribe", "Communications"]

    assert engine.driver.click(summary, blocks.ROLE_PICK, bob, option_value="comms").status == 200
    form = engine.driver.opened_view(blocks.ROLE_VIEW)
    assert form["blocks"][1]["element"]["initial_option"]["value"] == "comms"  # the role picked on the summary
    refused = engine.driver.submit(form, bob)  # nobody picked
    assert refused.json() == {"response_action": "errors", "errors": {"person": "Pick the person who takes the role."}}
    assert engine.driver.submit(form, bob, {"person": erin}).body == ""  # the form closes
    engine.at(seconds=1)

    assert f"*Communications:* <@{erin}>" in block_text(summary_of(engine))
    assert "*What the Communications does:* Tell customers and stakeholders" in engine.dms("erin")[0]["text"]
    assert role_entries(engine, incident["id"]) == [{"role": "comms", "user": erin, "previous": None}]


def test_commands_that_name_no_known_role_or_nobody_get_a_specific_answer(engine: Engine) -> None:
    incident = started(engine, severity="sev2")
    unknown = command(engine, f"role chef {mention(engine, 'carol')}", "bob")
    assert unknown.startswith("There is no role “chef” in the catalog.")
    assert "`lead` (Incident lead), `scribe` (Scribe), `comms` (Communications)" in unknown
    assert command(engine, "role <!channel> x", "bob").startswith("There is no role “@channel”")  # pings nobody
    assert command(engine, "role scribe", "bob") == "Name the person with an @-mention: `/incident role scribe @someone`."
    assert "“carol” is not a mention" in command(engine, "role scribe carol", "bob")
    assert "in an incident's channel" in command(engine, f"role scribe {mention(engine, 'carol')}", "bob", in_incident=False)
    assert engine.runtime.store.roles(incident["id"]) == []

    # `/incident role` alone: who holds what, to the asker only.
    command(engine, f"role comms {mention(engine, 'carol')}", "bob")
    listing = command(engine, "role", "sam")
    assert "*Roles in INC-1*" in listing
    assert "• *Incident lead* (`lead`): nobody yet" in listing and f"• *Communications* (`comms`): <@{engine.user('carol')}>" in listing
    assert "`/incident role scribe @someone`" in listing
    assert "/incident role" in blocks.HELP_TEXT


def test_incident_lead_is_the_lead_role_and_a_resolved_incident_keeps_its_roles(engine: Engine) -> None:
    incident = started(engine, severity="sev2")
    bob, carol = engine.user("bob"), engine.user("carol")
    assert command(engine, "lead", "bob") == f"<@{bob}> leads INC-1."
    engine.at(seconds=1)
    assert engine.runtime.store.incident(incident["id"])["lead"] == bob
    assert f"• *Incident lead* (`lead`): <@{bob}>" in command(engine, "role", "sam")
    assert f"*Lead*\\n<@{bob}>" in block_text(summary_of(engine))
    assert "*What the Incident lead does:* Coordinate the response" in engine.dms("bob")[0]["text"]  # the built-in lead
    assert any("took the lead of INC-1" in t for t in engine.channel_texts())

    # Handed on with /incident role lead: the incident's lead and the role stay one and the same.
    command(engine, f"role lead {mention(engine, 'carol')}", "bob")
    assert engine.runtime.store.incident(incident["id"])["lead"] == carol
    assert [(r["role"], r["user_id"]) for r in engine.runtime.store.roles(incident["id"])] == [("lead", carol)]
    assert role_entries(engine, incident["id"]) == [{"role": "lead", "user": bob, "previous": None},
                                                    {"role": "lead", "user": carol, "previous": bob}]

    engine.driver.click(summary_of(engine), "incident_resolve", bob)
    engine.driver.submit(engine.driver.opened_view("resolve_incident"), bob)
    engine.slack.wait_for(lambda: engine.runtime.store.incident(incident["id"])["status"] == "resolved")
    assert command(engine, f"role scribe {mention(engine, 'carol')}", "bob") == "INC-1 is resolved; its roles stay as they were."


def _ack_first_page(engine: Engine, who: str) -> None:
    engine.driver.click(engine.dms(who)[0], "incident_ack", engine.user(who))
    engine.slack.wait_for(lambda: engine.runtime.store.incident(1)["acknowledged_by"] == engine.user(who))
    engine.at(seconds=1)


def test_a_policy_with_lead_on_ack_makes_the_first_acknowledger_the_lead(engine: Engine) -> None:
    incident = started(engine, severity="sev2")  # Bank transfers at SEV2: the payments policy, lead_on_ack: true
    alice = engine.user("alice")
    _ack_first_page(engine, "alice")
    row = engine.runtime.store.incident(incident["id"])
    assert row["lead"] == alice
    assert [(r["role"], r["user_id"]) for r in engine.runtime.store.roles(incident["id"])] == [("lead", alice)]
    entry = next(e for e in engine.timeline(incident["id"]) if e["kind"] == "role_assigned")
    assert json.loads(entry["data"]) == {"role": "lead", "user": alice, "previous": None}
    assert "first acknowledger the lead" in entry["text"]
    assert f"*Lead*\\n<@{alice}>" in block_text(summary_of(engine))
    assert any(f"<@{alice}> leads it (this policy makes the first acknowledger the lead)" in t for t in engine.channel_texts())
    assert any("*Incident lead*" in m["text"] for m in engine.dms("alice")[1:])  # the role's DM, after the page


def test_mitigating_before_anyone_acknowledged_also_makes_the_mitigator_lead_under_lead_on_ack(engine: Engine) -> None:
    incident = started(engine, severity="sev2")  # the payments policy, lead_on_ack: true
    bob = engine.user("bob")
    engine.driver.click(summary_of(engine), "incident_mitigate", bob)
    engine.slack.wait_for(lambda: engine.runtime.store.incident(incident["id"])["status"] == "mitigated")
    engine.at(seconds=1)
    assert engine.runtime.store.incident(incident["id"])["lead"] == bob
    assert [(r["role"], r["user_id"]) for r in engine.runtime.store.roles(incident["id"])] == [("lead", bob)]
    assert any(f"<@{bob}> leads it" in t for t in engine.channel_texts())


def test_a_policy_without_lead_on_ack_leaves_the_lead_to_people(engine: Engine) -> None:
    incident = started(engine, text="login broken", severity="sev2")  # Login: the identity policy, no lead_on_ack
    _ack_first_page(engine, "frank")
    assert engine.runtime.store.incident(incident["id"])["lead"] is None
    assert engine.runtime.store.roles(incident["id"]) == [] and role_entries(engine, incident["id"]) == []


def test_lead_on_ack_follows_the_policy_as_declared_not_the_catalog_edited_since(engine: Engine, catalog_path: Path) -> None:
    incident = started(engine, severity="sev2")
    text = catalog_path.read_text()
    catalog_path.write_text(text.replace("    lead_on_ack: true\n", ""))
    stat = catalog_path.stat()
    os.utime(catalog_path, (stat.st_atime, stat.st_mtime + 1))
    assert engine.runtime.catalog_watcher.poll(engine.clock()) is True
    assert not engine.runtime.catalog.policies["payments"].lead_on_ack
    _ack_first_page(engine, "alice")
    assert engine.runtime.store.incident(incident["id"])["lead"] == engine.user("alice")


def test_a_lead_already_there_is_not_replaced_by_the_first_acknowledger(engine: Engine) -> None:
    incident = started(engine, severity="sev2")
    command(engine, "lead", "bob")
    _ack_first_page(engine, "alice")
    assert engine.runtime.store.incident(incident["id"])["lead"] == engine.user("bob")
    assert len(role_entries(engine, incident["id"])) == 1


def test_runbooks_are_on_the_first_screen_of_the_page_and_on_the_summary(engine: Engine) -> None:
    started(engine, severity="sev2")
    page = engine.dms("alice")[0]
    first = page["blocks"][0]["text"]["text"]
    links = ("<https://wiki.example.com/runbooks/payouts?team=payments&amp;step=1|Payouts stuck> · "
             "<https://wiki.example.com/runbooks/batcher|Roll back the batcher>")
    assert f":book: *Runbooks:* {links}" in first
    assert links in block_text(summary_of(engine))


def test_a_runbook_link_cannot_open_a_mention_or_close_the_link_early() -> None:
    made = blocks.link("https://x.example/a|<!channel>&b", "Fix <!here> | now & then")
    assert made == "<https://x.example/a%7C&lt;!channel&gt;&amp;b|Fix &lt;!here&gt; ¦ now &amp; then>"
    assert made.count("<") == 1 and made.count(">") == 1 and made.count("|") == 1


@pytest.mark.parametrize("url", ["javascript:alert(1)", "data:text/html,hi", "ftp://files.example.com/x", "https://", "wiki/runbook",
                                 "https://ok.example.com/<!channel>", "https://ok.example.com/a|b", "https://a b.example.com",
                                 "https://user:pw@evil.example.com/", "https://x.example/" + "p" * 500])
def test_a_runbook_url_that_is_no_web_link_is_refused_with_its_field(url: str) -> None:
    text = ROLES_CATALOG.read_text().replace("https://wiki.example.com/runbooks/batcher", url.replace('"', '\\"'))
    with pytest.raises(CatalogError) as refused:
        parse_catalog(text, "roles.yaml")
    issues = [str(i) for i in refused.value.issues]
    assert len(issues) == 1 and issues[0].startswith("roles.yaml:30: services[0].runbooks[1].url: "), issues


def test_hostile_role_names_and_runbook_titles_ping_nobody(engine: Engine, catalog_path: Path) -> None:
    text = catalog_path.read_text().replace("name: Scribe,", 'name: "<!channel> *Scribe* & co",')
    catalog_path.write_text(text.replace('title: "Payouts stuck"', 'title: "<!here> stuck | <@U0BOSS> > x"'))
    stat = catalog_path.stat()
    os.utime(catalog_path, (stat.st_atime, stat.st_mtime + 1))
    assert engine.runtime.catalog_watcher.poll(engine.clock()) is True
    started(engine, severity="sev2")
    command(engine, f"role scribe {mention(engine, 'carol')}", "bob")
    engine.at(seconds=1)
    said = [mrkdwn_strings(summary_of(engine)), mrkdwn_strings(engine.dms("alice")[0]), mrkdwn_strings(engine.dms("carol")[0]),
            *engine.channel_texts()]
    for text in said:
        assert "<!channel>" not in text and "<!here>" not in text and "<@U0BOSS>" not in text, text
    assert "&lt;!channel&gt; *Scribe* &amp; co" in said[0] and "&lt;!here&gt; stuck ¦ &lt;@U0BOSS&gt; &gt; x" in said[1]
