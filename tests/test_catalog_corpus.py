"""A corpus of broken catalogs (tests/broken_catalogs/): each is the test catalog with one mistake.

Every file is rejected with one message naming the file, the line and the field, in words a person
editing YAML can act on; and a running bot whose catalog is edited into any of them keeps the last
good catalog.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from app.catalog import CatalogError, load_catalog
from app.catalog.watch import CatalogWatcher
from app.store import Store
from tests.support import START, TEST_CATALOG

CORPUS = Path(__file__).parent / "broken_catalogs"

# file -> (line, field, what the message says)
EXPECTED = {
    "bad_yaml_unclosed_list.yaml": (32, "", "not valid YAML: did not find expected ',' or ']'"),
    "bad_yaml_tab_indent.yaml": (29, "", "not valid YAML: found a tab character"),
    "duplicate_key.yaml": (13, "", "duplicate key 'name' (first on line 12)"),
    "unknown_team.yaml": (47, "services[3].owner", "unknown team 'identiy'; known teams: growth, identity, payments, platform"),
    "unknown_schedule.yaml": (120, "policies.identity.levels[0].targets[0].schedule", "unknown schedule 'identity-primery'"),
    "unknown_policy.yaml": (18, "teams.identity.escalation_policy", "unknown policy 'identty'"),
    "too_many_targets.yaml": (128, "policies.growth.levels[0].targets", "at most 10 items; got 11"),
    "escalate_too_fast.yaml": (116, "policies.payments.levels[1]", "escalate_after must be at least 1m for a level with 1 target(s); got 20s"),
    "repeat_too_many.yaml": (113, "policies.payments.repeat", "at most 9; got 10"),
    "bad_cron.yaml": (102, "schedules.identity-primary.rotation.handoff", "'0 25 * * *' is not a valid cron expression"),
    "bad_zone.yaml": (99, "schedules.identity-primary.timezone", "'America/New_Yrok' is not a known IANA time zone"),
    "bad_email.yaml": (121, "policies.identity.levels[1].targets[0]", "'judy-at-example.com' is neither an e-mail address nor a Slack user ID"),
    # Catalogs that crashed, hung or ate the host: refused in bounded time and memory.
    "nesting_50000_deep.yaml": (129, "", "nested more than 32 levels deep"),
    "alias_bomb.yaml": (129, "", "expands to more than 500,000 entries (through YAML aliases?)"),
    "invalid_utf8.yaml": (12, "", "not UTF-8 text: byte 0xff"),
    "start_year_9999.yaml": (95, "schedules.payments-primary.rotation.start", "9999-12-31T23:59 is out of range; give a date between 1970 and 2200"),
    "escalate_after_huge.yaml": (116, "policies.payments.levels[1].escalate_after", "'99999999999h' is out of range; a duration is from 0s to 720h"),
    # Two services people would call by the same name: routing could pre-select neither.
    "service_name_twice.yaml": (64, "services[7].name", "name 'Mobile app' already names service 'mobile-app' (its id, services[6].id)"),
    "alias_names_another_service.yaml": (66, "services[7].aliases[2]", "alias 'Log-in' already names service 'login' (its alias, services[3].aliases[0])"),
    "rule_message_stray_brace.yaml": (130, "rules[0].say", "the message has a lone '{' or '}'; write '{{' or '}}' for a literal brace"),
}


def test_the_corpus_and_the_expectations_match() -> None:
    assert sorted(p.name for p in CORPUS.glob("*.yaml")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_broken_catalog_is_rejected_naming_file_line_and_field(name: str) -> None:
    line, field, says = EXPECTED[name]
    with pytest.raises(CatalogError) as info:
        load_catalog(CORPUS / name)
    issues = info.value.issues
    assert len(issues) == 1, [str(i) for i in issues]
    message = str(issues[0])
    assert message.startswith(f"{CORPUS / name}:{line}: {field}" if field else f"{CORPUS / name}:{line}:"), message
    assert says in message, message


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_a_running_bot_edited_into_a_broken_catalog_keeps_the_last_good_one(name: str, tmp_path: Path) -> None:
    path = tmp_path / "catalog.yaml"
    shutil.copy(TEST_CATALOG, path)
    good = load_catalog(path)
    store = Store(tmp_path / "ladder.db")
    try:
        watcher = CatalogWatcher(path, good, store)
        shutil.copy(CORPUS / name, path)
        stat = path.stat()
        os.utime(path, (stat.st_atime, stat.st_mtime + 1))
        assert watcher.poll(START) is False
        assert watcher.current is good
        assert sorted(watcher.current.services) == sorted(good.services)
    finally:
        store.close()
