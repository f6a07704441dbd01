"""The Slack app manifests are valid (public schema) and ask for exactly the scopes the code uses."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = json.loads((Path(__file__).parent / "schemas" / "slack-manifest.schema.1.0.0.json").read_text())
MANIFESTS = [ROOT / "manifests" / "slack-app.yaml", ROOT / "manifests" / "slack-app.http.yaml"]

# Which bot scopes each Web API method needs (docs.slack.dev method pages; see slack-platform.md §6.1).
SCOPES_FOR_METHOD = {
    "chat_postMessage": {"chat:write", "chat:write.public"},  # .public: announce in team channels without joining
    "chat_update": {"chat:write"},
    "chat_postEphemeral": {"chat:write"},
    "conversations_create": {"channels:manage", "groups:write"},  # public and private incidents
    "conversations_invite": {"channels:manage", "groups:write"},
    "conversations_setTopic": {"channels:manage", "groups:write"},
    "pins_add": {"pins:write"},
    "users_lookupByEmail": {"users:read.email", "users:read"},  # users:read.email requires users:read
    "usergroups_users_list": {"usergroups:read"},
    "conversations_open": {"im:write"},  # the DM of a page whose first attempt was cut short...
    "conversations_history": {"im:history", "channels:history", "groups:history"},  # ...is searched for it before posting again
    "conversations_list": {"channels:read", "groups:read"},  # a channel created by an attempt cut short is found by name
    "files_upload_v2": {"files:write"},  # the review draft: files.getUploadURLExternal, the upload, files.completeUploadExternal
    "auth_test": set(),
    "views_open": set(),
    "views_update": set(),
    "views_publish": set(),  # the App Home
    "users_info": {"users:read"},  # who opened the App Home, by e-mail (the catalog names people by e-mail)
    "users_list": {"users:read"},  # the drill preflight: a deactivated account, which users.lookupByEmail does not find
    "conversations_info": {"channels:read", "groups:read"},  # the drill preflight: a channel named by ID, archived or not
}


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_manifest_matches_slacks_schema(path: Path) -> None:
    jsonschema.Draft7Validator(SCHEMA).validate(load(path))


def test_a_typo_is_caught() -> None:
    manifest = load(MANIFESTS[0])
    manifest["settings"]["socket_mode_enable"] = manifest["settings"].pop("socket_mode_enabled")
    with pytest.raises(jsonschema.ValidationError, match="socket_mode_enable"):
        jsonschema.Draft7Validator(SCHEMA).validate(manifest)


def methods_called_by_the_app() -> set[str]:
    source = "\n".join(p.read_text() for p in (ROOT / "app").rglob("*.py"))
    return set(re.findall(r"client\.([a-z]+_[A-Za-z_0-9]+)\(", source))


SCOPES_FOR_EVENT = {"message.channels": {"channels:history"}, "message.groups": {"groups:history"}, "app_home_opened": set()}


def test_bot_scopes_are_exactly_what_the_code_calls_for() -> None:
    called = methods_called_by_the_app()
    unknown = called - SCOPES_FOR_METHOD.keys()
    assert not unknown, f"add the scopes for {unknown} to SCOPES_FOR_METHOD and the manifests"
    for path in MANIFESTS:
        events = load(path)["settings"].get("event_subscriptions", {}).get("bot_events", [])
        needed = {"commands"}.union(*(SCOPES_FOR_METHOD[m] for m in called), *(SCOPES_FOR_EVENT[e] for e in events))
        assert set(load(path)["oauth_config"]["scopes"]["bot"]) == needed, path.name


def test_the_events_subscribed_to_are_the_events_the_code_listens_to() -> None:
    source = "\n".join(p.read_text() for p in (ROOT / "app").rglob("*.py"))
    listened = set(re.findall(r'\bbolt\.event\("([a-z_.]+)"\)', source))  # @bolt.event(...) or bolt.event(...)(listener)
    for path in MANIFESTS:
        events = load(path)["settings"].get("event_subscriptions", {}).get("bot_events", [])
        assert {e.split(".")[0] for e in events} == listened, path.name


def test_socket_mode_manifest_and_http_variant() -> None:
    socket, http = (load(p) for p in MANIFESTS)
    assert socket["settings"]["socket_mode_enabled"] is True
    assert http["settings"]["socket_mode_enabled"] is False
    for manifest in (socket, http):
        command = manifest["features"]["slash_commands"][0]
        assert command["command"] == "/incident" and command["should_escape"] is True
        assert manifest["settings"]["interactivity"]["is_enabled"] is True
    assert http["features"]["slash_commands"][0]["url"].endswith("/slack/events")
    assert http["settings"]["interactivity"]["request_url"].endswith("/slack/events")
    assert http["settings"]["interactivity"]["message_menu_options_url"].endswith("/slack/events")
