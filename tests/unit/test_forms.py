"""Forms built and checked once and filled per request are the forms slack_sdk's models build and check.

`blocks._declare_view` builds the whole declare form through slack_sdk (every Slack limit
checked), as every `/incident` used to; `blocks.declare_modal` fills a copy of the catalog's form
kept as JSON. The update, resolve, escalate and message modals work the same way, one checked
shape each. For any title, pre-selected service, incident and metadata the two must be the same
view, with the static menu (up to 100 services) and the type-ahead one (more), and a hot reload
must bring the new catalog's form.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import MarkdownTextObject, SectionBlock
from slack_sdk.models.views import View

from app.catalog import Catalog, load_catalog, parse_catalog
from app.slack import blocks

TEST_CATALOG = Path(__file__).resolve().parent.parent / "catalog.yaml"


def _many_services(count: int) -> Catalog:
    lines = ["severities:", '  - {id: sev1, label: "SEV1", description: "Everything is down", rank: 1}', '  - {id: sev2, label: "SEV2"}',
             "teams:", "  core: {name: Core, escalation_policy: core}", "services:"]
    lines += [f"  - {{id: svc-{n}, name: 'Service {n} {'x' * (n % 60)}', owner: core}}" for n in range(count)]
    lines += ["policies:", "  core:", "    levels:", "      - {targets: [{user: a@example.com}], escalate_after: 5m}"]
    return parse_catalog("\n".join(lines) + "\n", "many.yaml")


SMALL = load_catalog(TEST_CATALOG)
LARGE = _many_services(130)  # past the static menu's 100 options: the type-ahead menu


@settings(max_examples=60, deadline=None)
@given(large=st.booleans(), title=st.text(max_size=200), pick=st.integers(-1, 129),
       metadata=st.one_of(st.just(""), st.text(max_size=40).map(lambda t: json.dumps({"channel_id": t}))))
def test_the_filled_form_is_the_form_slack_sdk_builds(large: bool, title: str, pick: int, metadata: str) -> None:
    catalog = LARGE if large else SMALL
    services = list(catalog.services.values())
    service = services[pick % len(services)] if pick >= 0 else None
    filled = blocks.declare_modal(catalog, title=title, service=service, private_metadata=metadata)
    assert filled == blocks._declare_view(catalog, title=title, service=service, private_metadata=metadata)


def test_each_form_is_a_copy_of_its_own() -> None:
    first = blocks.declare_modal(SMALL, title="bank transfers failing", service=SMALL.services["ledger"])
    first["blocks"][0]["element"]["initial_value"] = "changed"
    first["blocks"][2]["element"]["options"].clear()
    assert blocks.declare_modal(SMALL) == blocks._declare_view(SMALL)


def test_metadata_past_slacks_limit_is_refused_as_slack_sdk_refuses_it() -> None:
    with pytest.raises(SlackObjectFormationError):
        blocks._declare_view(SMALL, private_metadata="x" * 3001)
    with pytest.raises(SlackObjectFormationError):
        blocks.declare_modal(SMALL, private_metadata="x" * 3001)


def test_a_new_catalog_brings_its_own_form() -> None:
    reloaded = load_catalog(TEST_CATALOG)  # what hot reload puts in force: a new Catalog, even for the same file
    text = TEST_CATALOG.read_text().replace("name: Ledger", "name: General ledger")
    edited = parse_catalog(text, str(TEST_CATALOG))
    names = lambda view: [o["text"]["text"] for o in view["blocks"][1]["element"]["options"]]  # noqa: E731
    assert "Ledger" in names(blocks.declare_modal(SMALL)) and "Ledger" in names(blocks.declare_modal(reloaded))
    assert "General ledger" in names(blocks.declare_modal(edited)) and "Ledger" not in names(blocks.declare_modal(edited))
    assert SMALL.derived(blocks.DeclareForm) is not edited.derived(blocks.DeclareForm)


@settings(max_examples=60, deadline=None)
@given(title=st.text(min_size=1, max_size=40), text=st.text(min_size=1, max_size=3100))
def test_a_message_modal_is_the_one_slack_sdk_builds(title: str, text: str) -> None:
    expected = View(type="modal", title=blocks.truncate(title, 24), close="Close",
                    blocks=[SectionBlock(text=MarkdownTextObject(text=blocks.truncate(text, 3000)))]).to_dict()
    assert blocks.message_modal(title, text) == expected


incidents = st.fixed_dictionaries({
    "number": st.integers(1, 10**7), "id": st.integers(1, 2**63 - 1), "version": st.integers(0, 10**6),
    "title": st.text(min_size=1, max_size=120),  # TITLE_MAX; & < > triple in length once escaped
})


@settings(max_examples=60, deadline=None)
@given(incident=incidents)
def test_the_update_and_resolve_forms_are_the_ones_slack_sdk_builds(incident: dict) -> None:
    assert blocks.update_modal(incident) == blocks._update_view(incident)
    assert blocks.resolve_modal(incident) == blocks._resolve_view(incident)


@settings(max_examples=80, deadline=None)
@given(incident=incidents, next_level=st.one_of(st.none(), st.just(""), st.text(max_size=120)),
       teams=st.lists(st.tuples(st.from_regex(r"[a-z0-9][a-z0-9_-]{0,62}", fullmatch=True), st.text(min_size=1, max_size=90)), max_size=105))
def test_the_escalate_form_is_the_one_slack_sdk_builds(incident: dict, next_level: str | None, teams: list) -> None:
    assert blocks.escalate_modal(incident, next_level, teams) == blocks._escalate_view(incident, next_level, teams)


def test_a_filled_form_is_a_copy_of_its_own() -> None:
    incident = {"number": 7, "id": 7, "version": 1, "title": "Ledger down"}
    first = blocks.escalate_modal(incident, "Level 2: dana", [("identity", "Identity"), ("platform", "Platform")])
    first["blocks"][1]["element"]["options"][0]["description"]["text"] = "changed"
    first["blocks"][2]["element"]["options"].clear()
    assert blocks.escalate_modal(incident, "Level 2: dana", [("identity", "Identity")]) == \
        blocks._escalate_view(incident, "Level 2: dana", [("identity", "Identity")])


def test_an_incident_too_long_for_a_section_is_refused_as_slack_sdk_refuses_it() -> None:
    incident = {"number": 7, "id": 7, "version": 1, "title": "<" * 1100}  # 4,400 characters once escaped
    for fast, reference in ((blocks.update_modal, blocks._update_view), (blocks.resolve_modal, blocks._resolve_view)):
        with pytest.raises(SlackObjectFormationError):
            reference(incident)
        with pytest.raises(SlackObjectFormationError):
            fast(incident)
