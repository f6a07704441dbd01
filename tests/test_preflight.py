"""The drill preflight: every rung checked against the workspace (the Slack stand-in), and nobody disturbed.

tests/preflight_catalog.yaml plants one of each fault the issue names (a deactivated user, an unknown
e-mail, an empty user group, an archived channel, a private team channel without the bot, a Saturday
gap in a schedule, a `then:` chain to an empty policy), the stand-in holds the workspace's side of
them, and each must be found exactly once, at its place; tests/preflight_clean_catalog.yaml must pass.
Through `python -m app drill --preflight` (in-process, on the frozen clock) and `/incident drill check`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from slack_sdk import WebClient

from app import preflight
from app.catalog import load_catalog
from app.cli import main
from tests.slack_standin import BOT_TOKEN, SlackStandIn
from tests.support import START, TESTS, frozen_clock, start_ladder

PLANTED = TESTS / "preflight_catalog.yaml"
CLEAN = TESTS / "preflight_clean_catalog.yaml"
READ_ONLY = {"auth.test", "users.lookupByEmail", "users.info", "users.list", "conversations.open", "usergroups.users.list",
             "conversations.info", "conversations.list"}
EXPECTED = [  # (severity, team, policy, level, target): one finding per planted fault
    ("warning", "payments", "payments", 1, "schedule payments-weekdays"),
    ("blocks_page", "payments", "payments", 2, "dana@example.com"),
    ("warning", "payments", None, None, "#payments-stakeholders (stakeholder of Bank transfers)"),
    ("blocks_page", "identity", "identity", 2, "ghost@example.com"),
    ("warning", "identity", None, None, "#team-identity-private (team channel)"),
    ("warning", "platform", "platform", None, "then: platform-backstop"),
    ("blocks_page", "platform", "platform", 2, "user group S0EMPTY"),
]


def plant(slack: SlackStandIn) -> None:
    """The workspace's side of the planted faults (ghost@example.com, the Saturday gap and the backstop are the catalog's)."""
    slack.deactivate(slack.user_by_email("dana@example.com"))
    slack.add_usergroup([], group_id="S0EMPTY")
    slack.archive(slack.add_channel("payments-stakeholders"))
    slack.add_channel("team-identity-private", private=True, bot_member=False)


def clean_workspace(slack: SlackStandIn) -> None:
    slack.add_usergroup([slack.user_by_email("ivan@example.com")], group_id="S0PLATFORM")


def assert_nobody_disturbed(slack: SlackStandIn) -> None:
    """Only questions were asked: no post, update, upload, channel change or modal; no message anywhere."""
    methods = {call.method for call in slack.calls}
    assert methods <= READ_ONLY, methods - READ_ONLY
    assert not [c for c in slack.channels.values() if c["messages"]]


@pytest.fixture
def cli_env(slack: SlackStandIn, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The CLI against the stand-in: only the Web API settings (no signing secret: the preflight receives nothing)."""
    monkeypatch.chdir(tmp_path)  # no .env
    for name in ("SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "CATALOG_PATH", "ADMIN_CHANNEL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)
    monkeypatch.setenv("SLACK_API_URL", slack.api_url)
    monkeypatch.setenv("ADMIN_CHANNEL", "#general")
    return tmp_path


def run_cli(args: list[str]) -> int:
    with frozen_clock(START):
        try:
            return main(args)
        except SystemExit as exc:  # argparse's refusals
            return int(exc.code or 0)


def found(findings: list[dict]) -> list[tuple]:
    return [(f["severity"], f["team"], f["policy"], f["level"], f["target"]) for f in findings]


def test_every_planted_fault_is_found_once_at_its_place(slack, cli_env, capsys):
    plant(slack)
    code = run_cli(["drill", "--preflight", "--catalog", str(PLANTED), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 1
    assert found(report["findings"]) == EXPECTED
    assert set(report["findings"][0]) == {"severity", "team", "policy", "level", "target", "problem", "fix"}
    assert report["checked"] == {"people": 12, "groups": 1, "channels": 5, "policies": 6}
    problems = {f["target"]: f["problem"] for f in report["findings"]}
    saturday = problems["schedule payments-weekdays"]
    assert "Sat 2026-11-28 00:00–24:00 Europe/London" in saturday and "skip to level 2 (dana@example.com)" in saturday
    assert "deactivated" in problems["dana@example.com"]
    assert "users_not_found" in problems["ghost@example.com"]
    assert "archived" in problems["#payments-stakeholders (stakeholder of Bank transfers)"]
    assert "private" in problems["#team-identity-private (team channel)"]
    assert "reaches nobody" in problems["then: platform-backstop"] and "2027-01-04" in problems["then: platform-backstop"]
    assert "no members" in problems["user group S0EMPTY"]
    assert all(f["fix"] for f in report["findings"])
    assert report["summary"] == "3 problem(s) would stop a page; 4 warning(s)"
    assert_nobody_disturbed(slack)
    # Each person, group and channel is asked about once, however many places name it (frank is on two policies).
    lookups = [c.args["email"] for c in slack.calls_to("users.lookupByEmail")]
    assert len(lookups) == len(set(lookups)) == 12
    assert len(slack.calls_to("conversations.list")) == 1


def test_text_output_is_grouped_and_ends_with_the_verdict(slack, cli_env, capsys):
    plant(slack)
    assert run_cli(["drill", "--preflight", "--catalog", str(PLANTED)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == "3 problem(s) would stop a page; 4 warning(s)."
    assert "Nobody was sent a message." in out[0]
    order = [line.strip() for line in out if line and not line.startswith("    ")]
    assert order[1:4] == ["payments (Payments)", "policy payments, level 1", "policy payments, level 2"]
    assert "identity (Identity)" in order and order.index("identity (Identity)") < order.index("platform (Platform)")
    assert sum("[BLOCKS A PAGE]" in line for line in out) == 3


def test_a_clean_catalog_passes(slack, cli_env, capsys):
    clean_workspace(slack)
    assert run_cli(["drill", "--preflight", "--catalog", str(CLEAN)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "All rungs reach someone."
    assert run_cli(["drill", "--preflight", "--catalog", str(CLEAN), "--json", "--days", "31"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["findings"] == [] and report["ok"] is True and report["days"] == 31
    assert_nobody_disturbed(slack)


def test_one_team_and_the_hours_it_is_chosen(slack, cli_env, capsys):
    """--team: that team's ladders only. Identity's office schedule is empty at night, when identity-night is chosen: no gap."""
    plant(slack)
    assert run_cli(["drill", "--preflight", "--catalog", str(PLANTED), "--team", "identity", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert found(report["findings"]) == [f for f in EXPECTED if f[1] == "identity"]
    assert report["teams"] == ["identity"] and report["checked"]["policies"] == 2


def test_people_and_channels_named_by_id_and_bots(slack, tmp_path):
    """users.info for an ID (deleted: true), a bot named by e-mail, conversations.info for channel IDs."""
    gone = slack.add_user("zed", "zed@example.com")
    slack.deactivate(gone)
    slack.add_user("deploybot", "deploybot@example.com", is_bot=True)
    archived = slack.add_channel("old-alerts")
    slack.archive(archived)
    hidden = slack.add_channel("secret-ops", private=True, bot_member=False)
    inside = slack.add_channel("ops-private", private=True)
    outside = slack.add_channel("public-not-joined", bot_member=False)
    catalog_file = tmp_path / "ids.yaml"
    catalog_file.write_text(f"""
severities: [{{id: sev1, label: SEV1}}]
teams:
  ops: {{name: Ops, slack_channel: "{hidden}", escalation_policy: ops}}
services:
  - {{id: api, name: API, owner: ops, stakeholders: [{{channel: "{archived}"}}, {{channel: "{inside}"}}, {{channel: "{outside}"}}]}}
policies:
  ops:
    levels:
      - {{targets: [{{user: {gone}}}], escalate_after: 5m}}
      - {{targets: [{{user: deploybot@example.com}}], escalate_after: 5m}}
      - {{targets: [{{user: {slack.user_by_email('alice@example.com')}}}], escalate_after: 5m}}
""")
    catalog = load_catalog(catalog_file)
    result = preflight.run(catalog, preflight.Workspace(WebClient(token=BOT_TOKEN, base_url=slack.api_url)), START,
                           admin_channel="#no-such-channel")
    assert [(f.severity, f.policy, f.level, f.target) for f in result.findings] == [
        ("blocks_page", "ops", 1, gone),
        ("blocks_page", "ops", 2, "deploybot@example.com"),
        ("warning", None, None, f"{hidden} (team channel)"),
        ("warning", None, None, f"{archived} (stakeholder of API)"),
        ("warning", None, None, "#no-such-channel (ADMIN_CHANNEL)"),
    ]
    assert result.findings[-1].team is None and "\nSettings\n" in preflight.render_text(result, catalog)
    assert "deactivated" in result.findings[0].problem and "bot" in result.findings[1].problem
    assert "channel_not_found" in result.findings[2].problem and "archived" in result.findings[3].problem
    assert_nobody_disturbed(slack)


WHOLE_LADDER = """
severities: [{id: sev1, label: SEV1}, {id: sev2, label: SEV2}]
teams:
  ops: {name: Ops, timezone: Europe/London, escalation_policy: {default: ops, by_severity: {sev1: ops-critical}}}
services: [{id: api, name: API, owner: ops}]
schedules:
  weekdays:
    timezone: Europe/London
    rotation: {members: [alice@example.com], restrictions: [{days: [mon, tue, wed, thu, fri], start: "08:00", end: "20:00"}]}
policies:
  ops:
    then: ops-backup
    levels: [{targets: [{schedule: weekdays}], escalate_after: 5m}]
  ops-backup:
    levels: [{targets: [{schedule: weekdays}], escalate_after: 5m}]
  ops-critical:
    levels:
      - {targets: [{schedule: weekdays}], escalate_after: 5m, when_empty: wait}
      - {targets: [{user: bob@example.com}], escalate_after: 5m}
"""


def test_a_ladder_that_reaches_nobody_at_all_is_one_page_stopper(tmp_path):
    """Pure (no Slack): every level of ops and of ops-backup, which it hands off to, is empty at nights and weekends: one
    blocks_page finding for the whole ladder, not one per level or policy; ops-critical's empty level 1 is a warning."""
    path = tmp_path / "whole.yaml"
    path.write_text(WHOLE_LADDER)
    walked = preflight.walk(load_catalog(path), START, days=2)
    assert [(f.severity, f.policy, f.level, f.target) for f in walked.findings] == [
        ("blocks_page", "ops", None, "the whole ladder"),
        ("warning", "ops-critical", 1, "schedule weekdays"),
    ]
    whole, critical = walked.findings
    assert "Mon 2026-11-23 20:00–Tue 2026-11-24 08:00, Tue 2026-11-24 20:00–Wed 2026-11-25 08:00 Europe/London" in whole.problem
    assert "and of ops-backup (handed off to)" in whole.problem
    assert "wait there for 5m (when_empty: wait), then go on to level 2 (bob@example.com)" in critical.problem
    assert list(walked.policies) == ["ops", "ops-backup", "ops-critical"]
    assert list(walked.people) == ["alice@example.com", "bob@example.com"]


def test_rate_limits_are_waited_out_within_the_budget(slack):
    catalog = load_catalog(CLEAN)
    clean_workspace(slack)
    client = WebClient(token=BOT_TOKEN, base_url=slack.api_url)
    waits: list[float] = []
    slack.fail("users.lookupByEmail", status=429, retry_after=3, times=2)
    result = preflight.run(catalog, preflight.Workspace(client, sleep=waits.append), START)
    assert waits == [3.0, 3.0] and result.findings == []
    # A Retry-After beyond what is left of the budget: not waited; what could not be asked is said, never a page-stopper.
    slack.fail("usergroups.users.list", status=429, retry_after=600)
    waits.clear()
    result = preflight.run(catalog, preflight.Workspace(client, sleep=waits.append, budget=60), START)
    assert waits == []
    assert [(f.severity, f.target) for f in result.findings] == [("warning", "user group S0PLATFORM")]
    assert result.findings[0].problem.startswith("not checked") and result.blocking == 0


def test_incident_drill_check_answers_only_the_asker(slack, tmp_path):
    plant(slack)
    with frozen_clock(START) as clock:
        ladder, close = start_ladder(slack, tmp_path, clock, PLANTED, ADMIN_CHANNEL="#general")
        try:
            before = {call.method for call in slack.calls}
            reply = ladder.driver.slash("drill check", ladder.user("sam"))
            assert reply.status == 200 and "nobody is sent a message" in reply.body
            answer = slack.wait_for(lambda: [r for r in slack.responses if "Drill preflight" in json.dumps(r["body"])], timeout=20)
            body = answer[0]["body"]
            assert body["response_type"] == "ephemeral"
            text = json.dumps(body["blocks"], ensure_ascii=False)
            for _, _, _, _, target in EXPECTED:
                assert text.count(f"*{target}*") == 1, target  # each finding once, its target in bold
            assert "3 problem(s) would stop a page; 4 warning(s)" in body["text"]
            assert len(body["blocks"]) <= 50 and all(len(b["text"]["text"]) <= 3000 for b in body["blocks"])
            asked = {call.method for call in slack.calls} - before
            assert asked <= READ_ONLY, asked - READ_ONLY
            assert not [c for c in slack.channels.values() if c["messages"]]

            reply = ladder.driver.slash("drill check nope", ladder.user("sam"))
            answered = json.loads(reply.body)
            assert "No team called “nope”" in answered["text"] and "`platform`" in answered["text"]
            assert answered["response_type"] == "ephemeral"
            count = len(slack.responses)
            ladder.driver.slash("drill check Platform", ladder.user("sam"))
            later = slack.wait_for(lambda: slack.responses[count:], timeout=20)
            text = json.dumps(later[0]["body"]["blocks"], ensure_ascii=False)
            assert "S0EMPTY" in text and "ghost@example.com" not in text
        finally:
            close()


CATALOG_ARGS = ["--catalog", str(PLANTED)]
BAD_FLAGS = [
    (["drill"], "say what to do: --preflight"),
    (["drill", "--preflight", "--days", "0", *CATALOG_ARGS], "argument --days: '0' is out of range"),
    (["drill", "--preflight", "--days", "32", *CATALOG_ARGS], "argument --days: '32' is out of range"),
    (["drill", "--preflight", "--days", "-1", *CATALOG_ARGS], "argument --days: '-1' is not a whole number"),
    (["drill", "--preflight", "--days", "abc", *CATALOG_ARGS], "argument --days: 'abc' is not a whole number"),
    (["drill", "--preflight", "--days", "", *CATALOG_ARGS], "argument --days: '' is not a whole number"),
    (["drill", "--days", "3", *CATALOG_ARGS], "argument --days: goes with --preflight"),
    (["drill", "--preflight", "--team", "nope", *CATALOG_ARGS], "argument --team: unknown team 'nope'"),
    (["drill", "--preflight", "--team", "", *CATALOG_ARGS], "argument --team: unknown team ''"),
    (["drill", "--preflight", "--catalog", "/nonexistent/catalog.yaml"], "argument --catalog"),
    (["drill", "--preflight", "--env-file", "/nonexistent/.env", *CATALOG_ARGS], "argument --env-file"),
]


@pytest.mark.parametrize(("args", "expected"), BAD_FLAGS, ids=[" ".join(a[1:4]) or "no mode" for a, _ in BAD_FLAGS])
def test_bad_flags_are_refused_in_one_line(args, expected, slack, cli_env, capsys):
    assert run_cli(args) == 2
    err = capsys.readouterr().err.strip()
    assert expected in err and len(err.splitlines()) == 1, err
    assert not slack.calls


@pytest.mark.parametrize(("token", "expected"), [
    (None, "SLACK_BOT_TOKEN is not set"),
    ("xoxb-not-the-one", "Slack did not accept SLACK_BOT_TOKEN"),
    ("oops", "SLACK_BOT_TOKEN does not look right"),
])
def test_the_token_is_named_when_it_is_missing_or_refused(token, expected, slack, cli_env, capsys, monkeypatch):
    if token is None:
        monkeypatch.delenv("SLACK_BOT_TOKEN")
    else:
        monkeypatch.setenv("SLACK_BOT_TOKEN", token)
    assert run_cli(["drill", "--preflight", *CATALOG_ARGS]) == 2
    err = capsys.readouterr().err.strip()
    assert expected in err and len(err.splitlines()) == 1, err
    assert token not in err if token else True
