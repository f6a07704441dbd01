"""The messages Ladder renders as plain dicts are the messages slack_sdk's models build, limits included.

`app/slack/blocks.py` builds the pinned summary, the page DMs and the channel posts with
`app/slack/kit.py` (plain dicts, each limit checked as it is built); `tests/reference_blocks.py`
builds them through slack_sdk's model objects, as Ladder did before. For any incident, tracks,
pages and catalog severities (text of any length and alphabet, ids up to past Slack's limits) both
must give the same blocks, or both refuse.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from slack_sdk.errors import SlackObjectFormationError

from app.catalog import parse_catalog
from app.escalation import NextStep
from app.slack import blocks, kit
from app.tracks import TrackView
from tests import reference_blocks as reference

START = datetime(2026, 3, 29, 0, 30, tzinfo=timezone.utc)
STATUSES = ("triggered", "acknowledged", "mitigated", "resolved")
INCIDENT = {"id": 1, "number": 1, "title": "t", "status": "triggered", "severity": "sev1", "service_name": "API", "team_name": "Core",
            "declared_by": "U0ALICE01", "declared_at": START.isoformat(), "acknowledged_by": None, "acknowledged_at": None,
            "lead": None, "description": "", "resolution_note": "", "resolved_by": None, "resolved_at": None, "channel_id": None}

texts = st.text(max_size=40) | st.text(min_size=2990, max_size=3100, alphabet="ab*_<>&\n")
# Lengths drawn explicitly, around Slack's limits: left to st.text, long strings almost never come.
around_limits = st.sampled_from([0, 1, 40, 74, 75, 76, 140, 149, 150, 151, 1998, 2000, 2001, 2100])
users = st.sampled_from(["U0ALICE01", "U0BOB0001", "W0ENTERPRISE"])
moments = st.none() | st.integers(0, 10**7).map(lambda s: (START + timedelta(seconds=s)).isoformat())


def _catalog(severities: list[tuple[str, str]], roles: list[tuple[str, str]] = [],  # noqa: B006 - never mutated
             runbooks: list[tuple[str, str]] = []) -> Any:  # noqa: B006
    lines = ["severities:"] + [f"  - {{id: {sid}, label: {label!r}}}" for sid, label in severities]
    links = ", ".join(f"{{title: {json.dumps(title)}, url: {json.dumps(url)}}}" for title, url in runbooks)
    lines += ["teams:", "  core: {name: Core, escalation_policy: core}", "services:",
              f"  - {{id: api, name: API, owner: core, runbooks: [{links}]}}",
              "policies:", "  core:", "    levels:", "      - {targets: [{user: a@example.com}], escalate_after: 5m}"]
    lines += ["roles:"] + [f"  - {{id: {rid}, name: {json.dumps(name)}, description: {json.dumps(name)}}}" for rid, name in roles] if roles else []
    return parse_catalog("\n".join(lines) + "\n", "severities.yaml")


# Severity ids around the 150 characters Slack allows an option's value (the incident id and a colon come before them);
# labels up to the catalog's own limit of 75.
severity_ids = st.integers(0, 160).map(lambda n: "sev" + "x" * n)
# Roles (the lead overridden or not) and runbooks whose names, titles and URLs carry what mrkdwn must not read as markup.
hostile = st.text(alphabet="ab *_|<>&!@", min_size=1, max_size=75).filter(str.strip)
roles = st.lists(st.tuples(st.sampled_from(["lead", "scribe", "comms", "r" * 63]), hostile), max_size=4, unique_by=lambda r: r[0])
runbooks = st.lists(st.tuples(hostile, st.sampled_from(["https://wiki.example.com/run?a=1&b=2", "http://x.example/" + "p" * 480,
                                                         "https://w.example/%7C%3C!channel%3E"])), max_size=10)
catalogs = st.builds(_catalog, st.lists(st.tuples(severity_ids, st.integers(1, 75).map(lambda n: "SEV " + "1" * (n - 4) if n > 4 else "SEV1")),
                                        min_size=1, max_size=4, unique_by=lambda s: s[0]), roles, runbooks)
role_rows = st.lists(st.fixed_dictionaries({"role": st.sampled_from(["lead", "scribe", "comms", "gone"]), "user_id": users}),
                     max_size=4, unique_by=lambda r: r["role"])


@st.composite
def incidents(draw: Callable[..., Any]) -> dict[str, Any]:
    status = draw(st.sampled_from(STATUSES))
    acknowledged = status != "triggered" or draw(st.booleans())
    return {
        "id": draw(st.integers(1, 10**12)), "number": draw(st.integers(1, 10**6)), "title": draw(texts), "status": status,
        "severity": draw(st.sampled_from(["sev1", "sev2", "gone"])), "service_name": draw(st.text(max_size=100)),
        "team_name": draw(st.text(max_size=100)), "declared_by": draw(users), "declared_at": START.isoformat(),
        "acknowledged_by": draw(users) if acknowledged else None, "acknowledged_at": draw(moments) if acknowledged else None,
        "lead": draw(st.none() | users), "description": draw(st.just("") | texts), "resolution_note": draw(st.just("") | texts),
        "resolved_by": draw(users) if status == "resolved" else None, "resolved_at": draw(moments) if status == "resolved" else None,
        "channel_id": draw(st.none() | st.just("C0INCIDENT")), "service_id": draw(st.sampled_from(["api", "gone"])),
        "mitigated_by": draw(users) if status == "mitigated" or (status == "resolved" and draw(st.booleans())) else None,
        "drill": draw(st.sampled_from([0, 1])),
        "mitigated_at": draw(moments),
    }


@st.composite
def track_views(draw: Callable[..., Any]) -> TrackView:
    track = draw(st.sampled_from(["main", "team:platform", "person:U0BOB0001"]))
    row = {"track": track, "label": draw(st.text(max_size=30)) if track != "person:U0BOB0001" else "U0BOB0001",
           "requested_by": draw(st.none() | users), "reason": draw(st.text(max_size=60)),
           "paged_at": draw(moments), "state": draw(st.sampled_from(["active", "waiting", "acked", "rearming", "exhausted"])),
           "level": draw(st.integers(0, 4)), "round": 0, "policy": "core", "loop": 0, "due_at": draw(moments)}
    step = draw(st.none() | st.builds(NextStep, kind=st.sampled_from(["level", "repeat", "handoff", "exhausted"]),
                                      at=st.just(START + timedelta(minutes=5)), policy=st.just("core"), level=st.integers(0, 4)))
    return TrackView(row, draw(st.integers(1, 5)), "core", draw(st.booleans()), step, False)


@st.composite
def pages(draw: Callable[..., Any]) -> dict[str, Any]:
    return {"track": draw(st.sampled_from(["main", "team:platform"])), "round": 0, "policy": "core", "level": draw(st.integers(-1, 4)),
            "loop": 0, "status": draw(st.sampled_from(["sent", "failed", "pending", "cancelled", "merged"])),
            "user_id": draw(st.none() | users), "target": draw(st.text(max_size=30)), "acknowledged_at": draw(moments),
            "via": draw(st.text(max_size=80)), "notify_only": draw(st.booleans())}


@st.composite
def followup_rows(draw: Callable[..., Any]) -> dict[str, Any]:
    done = draw(st.booleans())
    return {"owner": draw(users), "due_on": draw(st.sampled_from(["2026-03-28", "2026-03-29", "2026-03-30"])),
            "text": draw(st.text(max_size=300) | st.text(min_size=250, max_size=300, alphabet="ab&<>")),
            "done_at": draw(moments.filter(bool)) if done else None, "done_by": draw(users) if done else None}


REFUSED: dict[str, int] = {}  # per builder, how many examples both refused: a limit path the tests did reach


def _same(build: Callable[[Any], Any], *args: Any) -> None:
    """The plain builder and the slack_sdk reference give the same blocks, or both refuse with slack_sdk's error."""
    try:
        expected = getattr(reference, build.__name__)(*args)
    except SlackObjectFormationError:
        with pytest.raises(SlackObjectFormationError):
            build(*args)
        REFUSED[build.__name__] = REFUSED.get(build.__name__, 0) + 1
        return
    assert build(*args) == expected


@settings(max_examples=80, deadline=None)
@given(incident=incidents(), catalog=catalogs, views=st.lists(track_views(), max_size=3), page_rows=st.lists(pages(), max_size=4),
       followups=st.lists(followup_rows(), max_size=40), today=st.sampled_from(["", "2026-03-29"]), held=role_rows)
def test_the_summary_is_the_one_slack_sdk_builds(incident: dict[str, Any], catalog: Any, views: list[TrackView],
                                                 page_rows: list[dict[str, Any]], followups: list[dict[str, Any]], today: str,
                                                 held: list[dict[str, Any]]) -> None:
    _same(blocks.summary_blocks, incident, catalog, views, page_rows, followups, today, held)


@pytest.mark.parametrize("incident_id", [1, 10**12])
@pytest.mark.parametrize("length", [60, 130, 140, 146, 147, 148, 160])
def test_both_refuse_exactly_past_the_option_value_limit(incident_id: int, length: int) -> None:
    """Around the limit the strategies above draw from: the summary is refused exactly when "<id>:<severity>" passes 150."""
    catalog = _catalog([("s" * length, "SEV1")])
    incident = {**INCIDENT, "id": incident_id}
    REFUSED.pop("summary_blocks", None)
    _same(blocks.summary_blocks, incident, catalog, [], [])
    too_long = len(f"{incident_id}:") + length > kit.OPTION_VALUE_MAX
    assert REFUSED.pop("summary_blocks", 0) == int(too_long)


@settings(max_examples=80, deadline=None)
@given(incident=incidents(), catalog=catalogs, page=pages(), own=st.booleans())
def test_a_page_is_the_one_slack_sdk_builds(incident: dict[str, Any], catalog: Any, page: dict[str, Any], own: bool) -> None:
    _same(blocks.page_blocks, incident, catalog, page, own)


@settings(max_examples=80, deadline=None)
@given(incident=incidents(), text=texts, actions=st.lists(st.sampled_from([*blocks.CHANNEL_BUTTONS, "unknown"]), max_size=9),
       rule=st.none() | around_limits.map(lambda n: "r" * max(1, n)))
def test_a_channel_message_is_the_one_slack_sdk_builds(incident: dict[str, Any], text: str, actions: list[str], rule: str | None) -> None:
    _same(blocks.channel_message_blocks, incident, text, actions, rule)


@settings(max_examples=60, deadline=None)
@given(incident=incidents())
def test_a_resolution_post_is_the_one_slack_sdk_builds(incident: dict[str, Any]) -> None:
    _same(blocks.resolution_blocks, incident)




@pytest.mark.parametrize("length", [73, 147, 148])
def test_a_long_severity_id_within_slacks_limit_still_gets_its_summary(length: int) -> None:
    """An option's value may hold 150 characters ("1:" and the id): the summary, with its buttons, is built as slack_sdk builds it."""
    catalog = _catalog([("s" * length, "SEV1")])
    _same(blocks.summary_blocks, INCIDENT, catalog, [], [])
    assert blocks.summary_blocks(INCIDENT, catalog, [], [])[-1]["elements"][2]["options"][0]["value"] == "1:" + "s" * length


def test_a_severity_id_too_long_for_slack_is_refused_when_the_summary_is_built() -> None:
    """Past 150 characters Slack refuses the message: refused here, with slack_sdk's error and the limit named."""
    catalog = _catalog([("s" * 149, "SEV1")])
    with pytest.raises(SlackObjectFormationError, match="option value cannot exceed 150"):
        blocks.summary_blocks({**INCIDENT, "id": 10}, catalog, [], [])
    _same(blocks.summary_blocks, {**INCIDENT, "id": 10}, catalog, [], [])


@pytest.mark.parametrize(("build", "args", "message"), [
    (kit.section, ("x" * 3001,), "text cannot exceed 3000"),
    (kit.header, ("x" * 151,), "header text cannot exceed 150"),
    (kit.button, ("a", "x" * 76, "v"), "button text cannot exceed 75"),
    (kit.button, ("a", "Go", "v" * 2001), "button value cannot exceed 2000"),
    (kit.button, ("a", "Go", "v", "green"), "style must be one of"),
    (kit.fields_section, (["f"] * 11,), "fields cannot hold more than 10"),
    (kit.context, tuple("x" * 11), "context elements cannot hold more than 10"),
    (kit.actions, ("b", [kit.button("a", "Go", "v")] * 26), "actions elements cannot hold more than 25"),
    (kit.static_select, ("s", "Pick", [kit.option("v", "t")] * 101), "options cannot hold more than 100"),
])
def test_each_limit_is_refused_by_name(build: Callable[..., Any], args: tuple[Any, ...], message: str) -> None:
    with pytest.raises(SlackObjectFormationError, match=message):
        build(*args)


def test_a_message_of_more_than_50_blocks_is_refused() -> None:
    with pytest.raises(ValueError, match="at most 50 blocks"):
        kit.message([kit.section("x")] * 51)
