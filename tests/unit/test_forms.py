"""The declare form built once per catalog and filled per request is the form slack_sdk's models build and check.

`blocks._declare_view` builds the whole form through slack_sdk (every Slack limit checked), as
every `/incident` used to; `blocks.declare_modal` fills a copy of the catalog's form kept as JSON.
For any title, pre-selected service and metadata the two must be the same view, with the static
menu (up to 100 services) and the type-ahead one (more), and a hot reload must bring the new
catalog's form.
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
