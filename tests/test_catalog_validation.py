"""Every catalog limit on both sides, and the messages a user sees: file, line, field, what is allowed."""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

import pytest
import yaml

from app.catalog import CatalogError, load_catalog, parse_catalog
from app.catalog.lint import lint


def catalog_text(policies: str = "", teams: str = "", services: str = "", schedules: str = "", severities: str = "") -> str:
    return f"""\
severities:
  - {{id: sev1, label: "SEV1", rank: 1}}
  - {{id: sev2, label: "SEV2", rank: 2}}
{severities}
teams:
  core:
    name: Core
    escalation_policy: core
{teams}
services:
  - {{id: api, name: API, owner: core}}
{services}
schedules:
  primary:
    timezone: Europe/London
    rotation: {{members: [a@example.com, b@example.com], handoff: "0 9 * * MON", start: "2026-01-05T09:00"}}
{schedules}
policies:
  core:
    levels:
      - {{targets: [{{schedule: primary}}], escalate_after: 5m}}
{policies}
"""


def problems(text: str) -> list[str]:
    with pytest.raises(CatalogError) as info:
        parse_catalog(text, "org.yaml")
    return [str(i) for i in info.value.issues]


def users(n: int) -> str:
    return "[" + ", ".join(f"{{user: u{i}@example.com}}" for i in range(n)) + "]"


def policy_with(levels: int = 1, targets: int = 1, repeat: int = 0) -> str:
    level = f"      - {{targets: {users(targets)}, escalate_after: 5m}}\n"
    return f"  big:\n    repeat: {repeat}\n    levels:\n" + (level * levels if levels else "      []\n").replace("levels:\n      []", "levels: []")


@pytest.mark.parametrize("targets, ok", [(1, True), (10, True), (11, False)])
def test_targets_per_level(targets: int, ok: bool) -> None:
    text = catalog_text(policies=policy_with(targets=targets))
    if ok:
        parse_catalog(text)
    else:
        assert any("policies.big.levels[0].targets" in p and "at most 10" in p for p in problems(text))


def test_a_level_needs_a_target() -> None:
    text = catalog_text(policies="  big:\n    levels:\n      - {targets: [], escalate_after: 5m}\n")
    assert any("policies.big.levels[0].targets" in p and "at least 1" in p for p in problems(text))


@pytest.mark.parametrize("levels, ok", [(0, False), (1, True), (20, True), (21, False)])
def test_levels_per_policy(levels: int, ok: bool) -> None:
    if levels == 0:
        text = catalog_text(policies="  big:\n    levels: []\n")
    else:
        text = catalog_text(policies=policy_with(levels=levels))
    if ok:
        parse_catalog(text)
    else:
        found = problems(text)
        assert any(p.startswith("org.yaml:") and "policies.big.levels" in p for p in found), found


@pytest.mark.parametrize("repeat, ok", [(-1, False), (0, True), (9, True), (10, False)])
def test_repeat_bounds(repeat: int, ok: bool) -> None:
    text = catalog_text(policies=policy_with(repeat=repeat))
    if ok:
        parse_catalog(text)
    else:
        assert any("policies.big.repeat" in p for p in problems(text))


def test_duplicate_yaml_keys_are_errors_not_silently_merged() -> None:
    text = catalog_text(teams="  core:\n    name: Core again\n    escalation_policy: core\n")
    found = problems(text)
    assert len(found) == 1 and "duplicate key 'core' (first on line 6)" in found[0] and found[0].startswith("org.yaml:9")


@pytest.mark.parametrize("kind, extra, expected", [
    ("services", "  - {id: api, name: API again, owner: core}\n", "services[1].id: duplicate service id 'api'"),
    ("severities", "  - {id: sev1, label: Again}\n", "severities[2].id: duplicate severity id 'sev1'"),
])
def test_duplicate_ids(kind: str, extra: str, expected: str) -> None:
    assert any(expected in p for p in problems(catalog_text(**{kind: extra})))


def test_service_without_owner() -> None:
    found = problems(catalog_text(services="  - {id: web, name: Web}\n"))
    assert any("services[1]" in p and "has no owner" in p and "core" in p for p in found)


@pytest.mark.parametrize("teams, expected", [
    ("  pay:\n    name: Pay\n    escalation_policy: nope\n", "teams.pay.escalation_policy: unknown policy 'nope'"),
    ("  pay:\n    name: Pay\n    escalation_policy: {default: core, by_severity: {sev9: core}}\n", "teams.pay.escalation_policy.by_severity.sev9: unknown severity 'sev9'"),
    ("  pay:\n    name: Pay\n    escalation_policy: {default: core, by_severity: {sev1: ghost}}\n", "by_severity.sev1: unknown policy 'ghost'"),
    ("  pay:\n    name: Pay\n    escalation_policy: {default: core, outside_working_hours: core}\n", "needs the team's working_hours"),
    ("  pay:\n    name: Pay\n    timezone: Mars/Olympus\n    escalation_policy: core\n", "teams.pay.timezone: 'Mars/Olympus' is not a known IANA time zone"),
    ("  pay:\n    name: Pay\n    working_hours: {days: [mon, funday], start: '09:00', end: '17:00'}\n    escalation_policy: core\n", "teams.pay.working_hours.days[1]"),
    ("  pay:\n    name: Pay\n    working_hours: {start: '9am', end: '17:00'}\n    escalation_policy: core\n", "'9am' is not a time of day"),
    ("  pay:\n    name: Pay\n    escalation_policy: {defualt: core}\n", "unknown field (allowed: default, by_severity, outside_working_hours)"),
    ("  pay:\n    name: Pay\n    escalation_policy: core\n    drills: {pace: 30s}\n",
     "org.yaml:12: teams.pay.drills.pace: '30s' is under a minute; a drill's pace is at least 1m"),
    ("  pay:\n    name: Pay\n    escalation_policy: core\n    drills: {pace: soon}\n", "teams.pay.drills.pace: 'soon' is not a duration"),
    ("  pay:\n    name: Pay\n    escalation_policy: core\n    drills: {never: [bob]}\n",
     "org.yaml:12: teams.pay.drills.never: 'bob' is neither an e-mail address nor a Slack user ID"),
    ("  pay:\n    name: Pay\n    escalation_policy: core\n    drills: {allowed: [a@example.com, '#ops']}\n",
     "teams.pay.drills.allowed: '#ops' is neither an e-mail address nor a Slack user ID"),
    ("  pay:\n    name: Pay\n    escalation_policy: core\n    drills:\n      hours: {days: [mon], start: '10:00', end: '10:00'}\n",
     "org.yaml:13: teams.pay.drills.hours: start and end are the same time"),
    ("  pay:\n    name: Pay\n    escalation_policy: core\n    drills: {alowed: []}\n", "teams.pay.drills.alowed"),
])
def test_team_references_and_fields(teams: str, expected: str) -> None:
    assert any(expected in p for p in problems(catalog_text(teams=teams)))


def test_unknown_references_from_policies() -> None:
    found = problems(catalog_text(policies="  x:\n    levels:\n      - {targets: [{schedule: nope}], escalate_after: 5m}\n    then: ghost\n"))
    assert any("policies.x.levels[0].targets[0].schedule: unknown schedule 'nope'; known schedules: primary" in p for p in found)
    assert any("policies.x.then: unknown policy 'ghost'" in p for p in found)


def test_hand_off_cycle_is_named() -> None:
    text = catalog_text(policies=(
        "  a:\n    levels:\n      - {targets: [{user: x@example.com}], escalate_after: 5m}\n    then: b\n"
        "  b:\n    levels:\n      - {targets: [{user: y@example.com}], escalate_after: 5m}\n    then: a\n"))
    found = problems(text)
    assert any("policies.a.then: hand-offs form a cycle: a -> b -> a" in p for p in found)


def test_bad_cron_names_the_simple_form_too() -> None:
    text = catalog_text(schedules="  other:\n    rotation: {members: [a@example.com], handoff: 'every monday'}\n")
    found = problems(text)
    assert any("schedules.other.rotation.handoff" in p and "every: week" in p for p in found)


def test_bad_person_reference() -> None:
    found = problems(catalog_text(policies="  x:\n    levels:\n      - {targets: [{user: bob}], escalate_after: 5m}\n"))
    assert any("policies.x.levels[0].targets[0]" in p and "'bob' is neither an e-mail address nor a Slack user ID" in p for p in found)


def test_yaml_12_scalars_on_and_unquoted_clock_times() -> None:
    text = catalog_text(schedules="  other:\n    rotation: {members: [a@example.com], handoff: {every: week, on: fri, at: 17:30}}\n")
    catalog = parse_catalog(text)
    assert catalog.schedules["other"].layers[0].cron == "30 17 * * FRI"


def test_policy_that_reaches_nobody_some_hours_is_a_warning_with_the_hours() -> None:
    text = catalog_text(schedules=(
        "  office:\n    timezone: UTC\n    rotation: {members: [o@example.com], restrictions: [{days: [mon, tue, wed, thu, fri], start: '09:00', end: '17:00'}]}\n"),
        policies="  office-only:\n    levels:\n      - {targets: [{schedule: office}], escalate_after: 5m}\n")
    catalog = parse_catalog(text, "org.yaml")
    warnings = [str(w) for w in lint(catalog, datetime(2026, 11, 22, tzinfo=timezone.utc))]
    assert len(warnings) == 1
    warning = warnings[0]
    assert warning.startswith("org.yaml:") and "warning: policies.office-only: reaches nobody for 128 hour(s)" in warning
    assert "Mon 00:00–Mon 09:00" in warning and "Fri 17:00–Mon 00:00" in warning
    assert yaml.safe_load(text)  # and the file itself is still valid, just risky


def test_the_documented_example_is_valid() -> None:
    import re
    from pathlib import Path

    doc = (Path(__file__).resolve().parent.parent / "docs" / "catalog.md").read_text()
    example = re.findall(r"```yaml\n(.*?)```", doc, flags=re.S)[0]
    catalog = parse_catalog(example, "docs/catalog.md")
    assert catalog.choose_policy("payments", "sev1", datetime(2026, 11, 28, 3, tzinfo=timezone.utc))[0] == "payments-critical"


@pytest.mark.parametrize("timeout, ok", [("9m", False), ("10m", True), ("2h", True)])
def test_ack_timeout_minimum(timeout: str, ok: bool) -> None:
    text = catalog_text(policies=f"  big:\n    ack_timeout: {timeout}\n    levels:\n      - {{targets: [{{user: a@example.com}}], escalate_after: 5m}}\n")
    if ok:
        parse_catalog(text)
    else:
        assert any("policies.big.ack_timeout: ack_timeout must be at least 10m" in p for p in problems(text))


@pytest.mark.parametrize("rule, expected", [
    ("{id: r, when: {open_for: 1h, declared: true}, do: nudge}", "`when` names exactly one of"),
    ("{id: r, when: {open_for: 1h}, do: notify}", "a notify rule needs channel"),
    ("{id: r, when: {open_for: 1h}, do: nudge, every: 30s}", "every must be at least 1m"),
    ("{id: r, when: {open_for: 1h}, if: {severity_at_least: sev9}, do: nudge}", "rule 'r': unknown severity 'sev9'"),
    ("{id: r, when: {severity_changed: {to: sev7}}, do: nudge}", "rule 'r': unknown severity 'sev7'"),
    ("{id: r, when: {open_for: 1h}, if: {team: [ghosts]}, do: nudge}", "rules[0].if.team: unknown team 'ghosts'"),
    ("{id: r, when: {open_for: 1h}, do: escalate, escalate_to: {team: ghosts}}", "rules[0].escalate_to.team: unknown team 'ghosts'"),
    ("{id: r, when: {open_for: 1h}, do: shout}", "rules[0].do"),
])
def test_rule_mistakes_are_named(rule: str, expected: str) -> None:
    found = problems(catalog_text() + f"rules:\n  - {rule}\n")
    assert any(expected in p for p in found), found


def test_rule_ids_are_unique_across_scopes() -> None:
    text = catalog_text(teams="  pay:\n    name: Pay\n    escalation_policy: core\n    rules: [{id: r, when: {open_for: 1h}, do: nudge}]\n")
    found = problems(text + "rules:\n  - {id: r, when: {declared: true}, do: nudge}\n")
    assert any("teams.pay.rules[0].id: duplicate rule id 'r' (also at rules[0])" in p for p in found), found


@pytest.mark.parametrize("handoff, words", [
    ("0 9 * * MON 0", "has 6 fields; a hand-off is five"),
    ("@reboot", "is not a valid cron expression"),
    ("61 9 * * MON", "is not a valid cron expression"),
])
def test_a_handoff_ladder_cannot_answer_is_refused_with_its_place(handoff: str, words: str) -> None:
    schedule = f'  extra:\n    timezone: UTC\n    rotation: {{members: [a@example.com], handoff: "{handoff}"}}\n'
    text = catalog_text(schedules=schedule)
    line = text.splitlines().index(schedule.splitlines()[2]) + 1  # the rotation's own line
    found = problems(text)
    assert len(found) == 1 and found[0].startswith(f"org.yaml:{line}: schedules.extra.rotation.handoff: ") and words in found[0], found


@pytest.mark.parametrize("digest, words", [
    ('{cron: "0 9 * * MON", channel: "#pay"}', None),
    ('{cron: "every monday", channel: "#pay"}', "digest.cron: 'every monday' is not a valid cron expression"),
    ('{cron: "0 9 * * MON 0", channel: "#pay"}', "digest.cron: '0 9 * * MON 0' has 6 fields"),
    ('{cron: "*/5 9 * * MON", channel: "#pay"}', "digest.cron: '*/5 9 * * MON' fires more than once an hour"),
    ('{cron: "0 9 30 2 *", channel: "#pay"}', "digest.cron: '0 9 30 2 *' never fires"),
    ('{channel: "#pay"}', "digest.cron: "),
    ('{cron: "0 9 * * MON", channel: "Team Pay"}', "digest.channel: a channel name like #team-payments"),
    ('{cron: "0 9 * * MON"}', "digest.channel: the digest has nowhere to go; give digest.channel"),
    ('{cron: "0 9 * * MON", channel: "#pay", when: weekly}', "digest.when"),
])
def test_a_digest_that_could_not_post_is_refused_with_its_place(digest: str, words: str | None) -> None:
    team = f"  pay:\n    name: Pay\n    escalation_policy: core\n    digest: {digest}\n"
    text = catalog_text(teams=team)
    if words is None:
        assert parse_catalog(text, "org.yaml").teams["pay"].digest_channel == "#pay"
        return
    line = text.splitlines().index(team.splitlines()[3]) + 1
    found = problems(text)
    assert len(found) == 1 and found[0].startswith(f"org.yaml:{line}: teams.pay.") and words in found[0], found


@pytest.mark.parametrize("say, words", [
    ("smile :-} {ref}", "has a lone '{' or '}'"),
    ("{0}", "{0} is not a placeholder"),
    ("{ref", "has a lone '{' or '}'"),
    ('{{"ok": false}}', None),  # doubled braces are literal: accepted
    ("{ref:>99999999999}", "takes no format or conversion"),
])
def test_a_rule_message_that_could_not_be_filled_is_refused_with_its_place(say: str, words: str | None) -> None:
    rule = f"rules:\n  - {{id: r1, when: {{declared: true}}, do: nudge, say: '{say}'}}\n"
    text = catalog_text() + rule
    if words is None:
        parse_catalog(text, "org.yaml")
        return
    line = text.splitlines().index(rule.splitlines()[1]) + 1
    found = problems(text)
    assert len(found) == 1 and found[0].startswith(f"org.yaml:{line}: rules[0].say: ") and words in found[0], found


SCHEDULE_START = 'rotation: {members: [a@example.com, b@example.com], handoff: "0 9 * * MON", start: "2026-01-05T09:00"}'


@pytest.mark.parametrize("name, edit, line, where, says", [
    # YAML's own constructors raised (a traceback from check, from start-up, and a silent failed reload).
    ("impossible date, unquoted", lambda t: t.replace(SCHEDULE_START, SCHEDULE_START.replace('"2026-01-05T09:00"', "2026-02-30T09:00:00")),
     16, "schedules.primary.rotation.start", "day value is outside expected range"),
    ("year 0", lambda t: t.replace(SCHEDULE_START, SCHEDULE_START.replace('"2026-01-05T09:00"', "0000-01-01")),
     16, "schedules.primary.rotation.start", "year 0 is out of range"),
    ("offset of 99 hours", lambda t: t.replace(SCHEDULE_START, SCHEDULE_START.replace('"2026-01-05T09:00"', "2026-01-05T09:00:00+99:00")),
     16, "schedules.primary.rotation.start", "valid datetime"),
    ("a timestamp tag", lambda t: t.replace('"2026-01-05T09:00"', "!!timestamp hello"),
     16, "schedules.primary.rotation.start", "the YAML tag !!timestamp is not used in a catalog"),
    ("5,000 digits", lambda t: t.replace("rank: 1}", "rank: " + "1" * 5000 + "}"),
     2, "severities[0].rank", "a number of 5,000 characters"),
    ("a huge hex number", lambda t: t.replace("rank: 1}", "rank: !!int 0x" + "f" * 5000 + "}"),
     2, "severities[0].rank", "a number of 5,002 characters"),
    ("a list as a key", lambda t: t + "? [a, b]\n: 1\n", 23, "(top level)", "a key must be plain text"),
    ("a merge key", lambda t: t + "x: &a {b: 1}\ny:\n  <<: *a\n", 25, "y", "a merge key (<<) is not used in a catalog"),
    ("aliases nesting 1,000 deep in 25 kB", lambda t: t + "chain: [&a0 [x], " + ", ".join(f"&a{i} [*a{i - 1}]" for i in range(1, 1000)) + "]\n",
     23, "chain[30]", "nested more than 32 levels deep (through YAML aliases?)"),
    ("NUL in a name", lambda t: t.replace("name: API", 'name: "A\\0PI"'), 11, "services[0].name", "a control character (such as NUL)"),
])
def test_yaml_that_choked_the_loader_is_refused_at_its_line(name: str, edit, line: int, where: str, says: str) -> None:
    found = problems(edit(catalog_text()))
    assert len(found) == 1 and found[0].startswith(f"org.yaml:{line}: {where}"), found
    assert says in found[0], found


def test_a_timestamp_written_without_quotes_still_works() -> None:
    text = catalog_text().replace(SCHEDULE_START, SCHEDULE_START.replace('"2026-01-05T09:00"', "2026-01-05T09:00:00"))
    assert parse_catalog(text).schedules["primary"].layers[0].start == datetime(2026, 1, 5, 9, 0)


@pytest.mark.parametrize("make", [
    lambda tmp: Path("/dev/zero"),
    lambda tmp: (os.mkfifo(tmp / "fifo"), tmp / "fifo")[1],
    lambda tmp: tmp,
])
def test_a_catalog_path_that_is_no_regular_file_is_refused_at_once(make, tmp_path) -> None:
    """/dev/zero never ends and a FIFO blocks an open() until a writer comes: both used to hang or fill memory."""
    with pytest.raises(CatalogError) as info:
        load_catalog(make(tmp_path))
    assert "regular file" in str(info.value.issues[0]) or "directory" in str(info.value.issues[0])


def test_a_long_hand_off_chain_is_checked_in_linear_time() -> None:
    """A `then:` chain was checked in cubic time (each chain followed from each policy, with a list): 1,000 took 3 s, 3,000 hung."""
    chained = "".join(f"  q{i}:\n    levels: [{{targets: [{{user: a@example.com}}], escalate_after: 5m}}]\n    then: q{i + 1}\n"
                      for i in range(1500))
    text = catalog_text(policies=chained + "  q1500:\n    levels: [{targets: [{user: a@example.com}], escalate_after: 5m}]\n")
    assert parse_catalog(text).policies["q0"].then == "q1"
    looped = chained.replace("then: q1500", "then: q0")
    found = problems(catalog_text(policies=looped))
    assert len(found) == 1500 and "hand-offs form a cycle: q0 -> q1 -> q2" in found[0] and "(1500 policies)" in found[0], found[0]


@pytest.mark.parametrize("service, says", [
    ("{id: web, name: Web, owner: core, aliases: [" + "x" * 101 + "]}", "services[1].aliases[0]: String should have at most 100 characters"),
    ("{id: web, name: Web, owner: core, keywords: [\"\"]}", "services[1].keywords[0]: String should have at least 1 character"),
    ("{id: web, name: Web, owner: core, aliases: [" + ", ".join(f"a{i}" for i in range(51)) + "]}", "services[1].aliases: "),
])
def test_aliases_and_keywords_are_a_few_words(service: str, says: str) -> None:
    """Routing compares each one on every keystroke: a 1 MB alias shared by 3,000 services stalled `check`."""
    found = problems(catalog_text(services=f"  - {service}"))
    assert len(found) == 1 and says in found[0], found


def _runbooks(n: int, url: str = "https://wiki.example.com/r", title: str = "Runbook") -> str:
    return "{id: web, name: Web, owner: core, runbooks: [" + ", ".join([f"{{title: {title!r}, url: {url!r}}}"] * n) + "]}"


@pytest.mark.parametrize("service, says", [
    (_runbooks(1, "javascript:alert(1)"), "services[1].runbooks[0].url: 'javascript:alert(1)' is not a web link"),
    (_runbooks(1, "https://x.example/<!channel>"), "services[1].runbooks[0].url: 'https://x.example/<!channel>' contains"),
    (_runbooks(1, "https://x.example/a|b"), "percent-encode them (| is %7C)"),
    (_runbooks(1, "https:///no-host"), "services[1].runbooks[0].url: 'https:///no-host' names no host"),
    (_runbooks(1, "https://x.example/" + "p" * 490), "services[1].runbooks[0].url: String should have at most 500 characters"),
    (_runbooks(1, title=""), "services[1].runbooks[0].title: String should have at least 1 character"),
    (_runbooks(1, title="t" * 76), "services[1].runbooks[0].title: String should have at most 75 characters"),
    (_runbooks(11), "services[1].runbooks: at most 10 items; got 11"),
    ("{id: web, name: Web, owner: core, runbooks: [{url: 'https://x.example'}]}", "services[1].runbooks[0].title: title is required here"),
])
def test_runbook_links_are_web_links_a_few_per_service(service: str, says: str) -> None:
    """A runbook is rendered as a link on the page DM: only http(s), nothing that could close the link or ping a channel."""
    found = problems(catalog_text(services=f"  - {service}\n"))
    assert len(found) == 1 and says in found[0] and found[0].startswith("org.yaml:"), found


@pytest.mark.parametrize("roles, says", [
    ("  - {id: scribe, name: Scribe, description: Notes}\n  - {id: scribe, name: Again, description: More}\n",
     "org.yaml:3: roles[1].id: duplicate role id 'scribe'"),
    ("  - {id: Scribe!, name: Scribe, description: Notes}\n", "roles[0].id: lowercase letters, digits"),
    ("  - {id: scribe, name: Scribe}\n", "roles[0].description: description is required here"),
    ("  - {id: scribe, name: '" + "n" * 76 + "', description: Notes}\n", "roles[0].name: String should have at most 75 characters"),
    ("  - {id: scribe, name: Scribe, description: '" + "d" * 1001 + "'}\n", "roles[0].description: String should have at most 1000"),
    ("".join(f"  - {{id: r{i}, name: R, description: D}}\n" for i in range(21)), "org.yaml:1: roles: at most 20 items; got 21"),
])
def test_roles_are_named_and_say_what_to_do(roles: str, says: str) -> None:
    found = problems("roles:\n" + roles + catalog_text())
    assert len(found) == 1 and says in found[0], found


def test_the_lead_is_built_in_and_may_be_renamed() -> None:
    assert list(parse_catalog(catalog_text()).roles) == ["lead"]
    renamed = parse_catalog("roles:\n  - {id: comms, name: Comms, description: Talk}\n  - {id: lead, name: Commander, description: Lead}\n"
                            + catalog_text())
    assert [(rid, role.name) for rid, role in renamed.roles.items()] == [("lead", "Commander"), ("comms", "Comms")]


@pytest.mark.parametrize("value, ok", [("true", True), ("false", True), ("maybe", False)])
def test_lead_on_ack_is_true_or_false(value: str, ok: bool) -> None:
    text = catalog_text(policies=f"  big:\n    lead_on_ack: {value}\n    levels:\n      - {{targets: [{{user: a@example.com}}], escalate_after: 5m}}\n")
    if ok:
        assert parse_catalog(text).policies["big"].lead_on_ack is (value == "true")
    else:
        assert any("policies.big.lead_on_ack: must be true or false" in p for p in problems(text))
