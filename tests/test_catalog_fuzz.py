"""Hostile catalogs, generated: `check` accepts or refuses with file:line, in bounded time and memory,
and whatever it accepts can declare, tick, page and render without raising.

Each example starts from a real catalog (the shipped example, or the rules catalog) and applies a
few mutations anywhere in the document: a value swapped for a hostile one (wrong type, huge, empty,
control characters, braces, far dates, odd durations and cron strings), a key renamed, removed or
added. The test knows nothing of the schema, so it reaches fields a hand-written table would miss.
"""

from __future__ import annotations

import copy
import math
import os
import tempfile
import time
import tracemalloc
from datetime import timedelta
from pathlib import Path
from typing import Any, Iterator

import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from app.catalog import Catalog, CatalogError, load_catalog
from app.catalog.loader import _read_yaml
from app.incidents import DeclareRequest, declare
from app.runtime import Runtime
from app.simulate import render, simulate
from app.slack import blocks
from tests.support import START, ladder_settings

ROOT = Path(__file__).parent.parent
# Read as Ladder reads YAML (`on:` stays a key, not True), then written back with yaml.safe_dump, which quotes it.
BASES = {name: _read_yaml(path.read_text())[0] for name, path in {
    "example": ROOT / "manifests" / "catalog.yaml",
    "rules": Path(__file__).parent / "rules_catalog.yaml",
}.items()}

SECONDS_TO_CHECK = 2.0
BYTES_TO_CHECK = 200 * 1024 * 1024

HOSTILE_STRINGS = [
    "", " ", "\t", "\x00", "a\x00b", "\u202e\u200b", "\ufeff", "🔥" * 50,
    "{", "}", "{ref", "{0}", "{ref:>99999999}", "{__class__}", "{ref.__class__}", "%s%s%n", "<!channel>", "<@U123|boss>",
    "9999-12-31T23:59", "0001-01-01T00:00", "1969-12-31T23:59", "2026-02-30T10:00", "2026-03-29T01:30", "24:00", "25:61", "-1:00",
    "99999999999h", "-5m", "0s", "0", "1e308s", "nanm", "5 m", "1h30", "P1D",
    "* * * * *", "0 25 * * *", "@reboot", "0 0 31 2 *", "0 0 30 2 *", "*/0 * * * *", "0 0 * * 8", "0 0 0 0 0 0 0",
    "Etc/GMT+14", "Etc/GMT-14", "Mars/Olympus", "../../etc/passwd", "UTC", "localtime",
    "sev1", "sev9", "payments", "identity", "next", "team", "nobody", "alice@example.com", "U0123ABCD", "#general", "#", "C123",
    "mon", "funday", "outside", "inside", "true", "null", "~", "yes", "no",
]


HOSTILE_TEXT = st.one_of(st.sampled_from(HOSTILE_STRINGS), st.text(max_size=40), st.builds(lambda: "x" * 100_000))
HOSTILE_NUMBER = st.one_of(st.integers(min_value=-(2**70), max_value=2**70), st.floats(allow_nan=True, allow_infinity=True),
                           st.sampled_from([0, -1, 1, 10, 11, 2**31, 2**63]))


def _small() -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), st.booleans(), HOSTILE_NUMBER, HOSTILE_TEXT)


def _same_kind(value: Any) -> st.SearchStrategy[Any]:
    """A hostile value of the type already there: what gets past the schema and reaches the running bot."""
    if isinstance(value, bool):
        return st.booleans()
    if isinstance(value, (int, float)):
        return HOSTILE_NUMBER
    if isinstance(value, str):
        return HOSTILE_TEXT
    if isinstance(value, list):
        return st.lists(HOSTILE_TEXT, max_size=4)
    return HOSTILE


HOSTILE: st.SearchStrategy[Any] = st.one_of(
    _small(),
    st.lists(_small(), max_size=4),
    st.dictionaries(st.one_of(st.sampled_from(HOSTILE_STRINGS[:40]), st.text(max_size=8)), _small(), max_size=3),
)


def _paths(node: Any, here: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every place in the document, containers and leaves alike."""
    if here:
        yield here
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, here + (key,))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, here + (index,))


def _parent(document: Any, path: tuple[Any, ...]) -> Any:
    for step in path[:-1]:
        document = document[step]
    return document


FREE_TEXT = {"name", "description", "label", "say", "aliases", "keywords"}


def _free_text(path: tuple[Any, ...]) -> bool:
    """Fields whose words are the user's own: names, labels, messages, aliases."""
    return any(isinstance(step, str) and step in FREE_TEXT for step in path[-2:]) and not path[-1] == "id"


@st.composite
def hostile_catalogs(draw: st.DrawFn, free_text_only: bool = False) -> str:
    """A real catalog with one to three hostile edits; with `free_text_only`, hostile words where words go."""
    base = draw(st.sampled_from(sorted(BASES)))
    document = copy.deepcopy(BASES[base])
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        paths = [p for p in _paths(document) if not free_text_only or _free_text(p)]
        path = paths[draw(st.integers(min_value=0, max_value=len(paths) - 1))]
        parent, key = _parent(document, path), path[-1]
        actions = ["same kind"] if free_text_only else ["same kind", "same kind", "replace", "remove", "rename", "add"]
        action = draw(st.sampled_from(actions))
        if action == "same kind":
            parent[key] = draw(_same_kind(parent[key]))
        elif action == "replace":
            parent[key] = draw(HOSTILE)
        elif action == "remove":
            del parent[key]
        elif action == "rename" and isinstance(parent, dict):
            parent[draw(st.one_of(st.sampled_from(HOSTILE_STRINGS), st.text(max_size=8)))] = parent.pop(key)
        elif action == "add" and isinstance(parent, dict):
            parent[draw(st.one_of(st.sampled_from(HOSTILE_STRINGS), st.text(max_size=8)))] = draw(HOSTILE)
    return yaml.safe_dump(document, allow_unicode=True, sort_keys=False, width=math.inf)


def _check_in_bounds(path: Path) -> tuple[Catalog | None, list[str]]:
    """load_catalog, with its time and peak memory measured: (catalog, []) or (None, the problems)."""
    tracemalloc.start()
    started = time.perf_counter()
    try:
        catalog, problems = load_catalog(path), []
    except CatalogError as error:
        catalog, problems = None, [str(issue) for issue in error.issues]
    finally:
        elapsed = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert elapsed < SECONDS_TO_CHECK, f"check took {elapsed:.1f} s"
    assert peak < BYTES_TO_CHECK, f"check used {peak / 2**20:.0f} MB"
    return catalog, problems


def _declare_tick_render(catalog: Catalog, catalog_path: Path, standin: Any) -> None:
    """What the running bot does with a catalog it accepted: incidents declared, ticked for a day, sent and rendered."""
    with tempfile.TemporaryDirectory() as tmp:
        runtime = Runtime(ladder_settings(standin, Path(tmp) / "ladder.db", catalog_path), catalog=catalog)
        try:
            blocks.declare_modal(catalog)
            for service_id, severity in zip(list(catalog.services)[:3], catalog.severities * 3):
                render(simulate(catalog, service_id, severity.id, START, no_ack=True), catalog)
                declare(runtime.store, catalog, DeclareRequest(f"fuzz {service_id}", service_id, severity.id, "U0FUZZ"), START)
            for minutes in (0, 1, 6, 16, 31, 61, 180, 24 * 60):
                runtime.worker.drain(START + timedelta(minutes=minutes))
        finally:
            runtime.close()


EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", 50))  # FUZZ_EXAMPLES=2000 for a longer hunt
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@FUZZ
@given(text=hostile_catalogs())
def test_a_hostile_catalog_is_refused_with_file_and_line_or_works(text: str, slack) -> None:
    _refused_with_line_or_works(text, slack)


@settings(FUZZ, max_examples=max(1, EXAMPLES // 2))
@given(text=hostile_catalogs(free_text_only=True))
def test_hostile_words_the_catalog_accepts_are_declared_ticked_and_rendered(text: str, slack) -> None:
    _refused_with_line_or_works(text, slack)


def _refused_with_line_or_works(text: str, slack: Any) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "catalog.yaml"
        path.write_text(text, encoding="utf-8")
        catalog, problems = _check_in_bounds(path)
        event("refused" if catalog is None else "accepted")
        if catalog is None:
            assert problems
            for problem in problems:
                assert problem.startswith(f"{path}:"), problem
                line = problem[len(f"{path}:"):].split(":", 1)[0]
                assert line.isdigit() and int(line) >= 1, f"no line number: {problem}"
            return
        _declare_tick_render(catalog, path, slack)
