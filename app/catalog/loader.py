"""Reading the catalog file: YAML with line numbers, validation, every problem at once.

Every problem is reported with the file, the line and the dotted path of the field, because a
catalog mistake is otherwise found at 2 a.m. The loader collects *all* problems rather than
stopping at the first, so one `check` run shows them all.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from app.catalog.checks import _cross_references, _entry_by_entry, _Sections
from app.catalog.fields import _plain
from app.catalog.lookups import Catalog, CatalogError, CatalogIssue, _dotted, _line_for
from app.catalog.schema import CatalogModel

MAX_BYTES = 8 * 1024 * 1024  # a catalog of 2,000 services is about 0.5 MB
MAX_DEPTH = 32  # the deepest real catalog nests about 8 levels
MAX_NODES = 500_000  # entries once aliases are expanded: a few "billion laughs" aliases would otherwise eat the host


class _Refused(Exception):
    """The file is refused before validation (too large, too deep, a tag or value YAML would choke on), at a line."""

    def __init__(self, line: int | None, message: str, path: tuple[Any, ...] = ()) -> None:
        self.line = line
        self.path = path
        super().__init__(message)


_BRACKETS = re.compile(r"[\[\]{}]")


def _depth_bound(text: str) -> int:
    """An upper bound on nesting: a block level indents at least one more space, a flow level opens a bracket."""
    indent = max((len(line) - len(line.lstrip(" ")) for line in text.splitlines()), default=0)
    flow = deepest = 0
    for match in _BRACKETS.finditer(text):
        flow += 1 if match.group() in "[{" else -1
        deepest = max(deepest, flow)
    return indent + deepest + 1


def _check_shape(text: str) -> None:
    """Refuse, before anything recursive or expanding runs, a catalog too large, too deep or too aliased."""
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_BYTES:
        raise _Refused(None, f"the file is {size / 1024 / 1024:.1f} MB; a catalog may be at most {MAX_BYTES // 1024 // 1024} MB")
    if _depth_bound(text) <= MAX_DEPTH:
        return  # every real catalog: the exact (token by token) count below is for the ones that might be deep
    depth = 0
    for token in yaml.scan(text, Loader=_SafeLoader):  # the scanner is iterative: no recursion, whatever the nesting
        if isinstance(token, (yaml.BlockMappingStartToken, yaml.BlockSequenceStartToken, yaml.FlowMappingStartToken,
                              yaml.FlowSequenceStartToken)):
            depth += 1
            if depth > MAX_DEPTH:
                raise _Refused(token.start_mark.line + 1, f"nested more than {MAX_DEPTH} levels deep; a catalog never needs that")
        elif isinstance(token, (yaml.BlockEndToken, yaml.FlowMappingEndToken, yaml.FlowSequenceEndToken)):
            depth -= 1


# libyaml's parser when PyYAML has it (about 7x faster on a large catalog); the pure one otherwise.
_SafeLoader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader) if yaml.__with_libyaml__ else yaml.SafeLoader


class _UniqueKeyLoader(_SafeLoader):  # type: ignore[misc, valid-type]
    """A safe loader with YAML 1.2's plain scalars and no silent duplicate keys.

    YAML 1.1 reads `on:` as the boolean true and `09:00` as the number 540, and keeps the last
    of two equal keys; in a catalog each of those is a mistake waiting for 2 a.m.
    """


# Timestamps stay text: the schema reads them, so `2026-02-30T09:00` or a `+99:00` offset is a field error with its
# line, not a traceback from YAML's own datetime constructor.
_UniqueKeyLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers
            if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float", "tag:yaml.org,2002:timestamp")]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_UniqueKeyLoader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
_UniqueKeyLoader.add_implicit_resolver("tag:yaml.org,2002:int", re.compile(r"^[-+]?[0-9]+$"), list("-+0123456789"))
_UniqueKeyLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?$"), list("-+0123456789."))


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (first on line {seen[key]})", key_node.start_mark)
        seen[key] = key_node.start_mark.line + 1
    return loader.construct_mapping(node, deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


_PLAIN_TAGS = {f"tag:yaml.org,2002:{name}" for name in ("str", "int", "float", "bool", "null", "seq", "map")}
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
MAX_NUMBER_DIGITS = 30


def _plain_node(node: yaml.Node, path: tuple[Any, ...]) -> None:
    """Refuse what a catalog never needs and YAML's constructors would choke on: tags, huge numbers, control characters."""
    line = node.start_mark.line + 1
    if node.tag not in _PLAIN_TAGS:
        name = "a merge key (<<)" if node.tag.endswith(":merge") else f"the YAML tag {node.tag.replace('tag:yaml.org,2002:', '!!')[:40]}"
        raise _Refused(line, f"{name} is not used in a catalog; write the value plainly", path)
    if not isinstance(node, yaml.ScalarNode):
        return
    if node.tag.endswith((":int", ":float")) and len(node.value) > MAX_NUMBER_DIGITS:
        raise _Refused(line, f"a number of {len(node.value):,} characters; no setting in a catalog needs more than {MAX_NUMBER_DIGITS}", path)
    if _CONTROL.search(node.value):
        raise _Refused(line, "text with a control character (such as NUL); Slack cannot show it, so remove it", path)


def _read_yaml(text: str) -> tuple[Any, dict[tuple[Any, ...], int]]:
    """Parse once: the data, and each YAML path (keys and list indexes) mapped to its 1-based line."""
    loader = _UniqueKeyLoader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return None, {}
        lines: dict[tuple[Any, ...], int] = {}
        visited = 0

        def walk(node: yaml.Node, path: tuple[Any, ...]) -> None:
            # Recursion is bounded here, not only by _check_shape: aliases can nest deeper than the text does.
            # Aliases share nodes, so the budget counts the expanded size, before pydantic would walk it.
            nonlocal visited
            visited += 1
            if visited > MAX_NODES:
                raise _Refused(node.start_mark.line + 1, f"expands to more than {MAX_NODES:,} entries (through YAML aliases?)", path)
            if len(path) > MAX_DEPTH:
                raise _Refused(node.start_mark.line + 1, f"nested more than {MAX_DEPTH} levels deep (through YAML aliases?); "
                                                        "a catalog never needs that", path)
            _plain_node(node, path)
            lines[path] = node.start_mark.line + 1
            if isinstance(node, yaml.MappingNode):
                for key, value in node.value:
                    if not isinstance(key, yaml.ScalarNode):
                        raise _Refused(key.start_mark.line + 1, "a key must be plain text, not a list or a mapping", path)
                    _plain_node(key, path)
                    child = path + (key.value,)
                    walk(value, child)
                    lines[child] = key.start_mark.line + 1
            elif isinstance(node, yaml.SequenceNode):
                for index, item in enumerate(node.value):
                    walk(item, path + (index,))

        walk(root, ())
        return loader.construct_document(root), lines
    finally:
        loader.dispose()


def parse_catalog(text: str, source: str = "<catalog>") -> Catalog:
    """Validate catalog text; raise CatalogError listing every problem with file:line and path."""
    try:
        _check_shape(text)
        data, lines = _read_yaml(text)
    except _Refused as refused:
        raise CatalogError([CatalogIssue(source, refused.line, _dotted(refused.path), str(refused))]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise CatalogError([CatalogIssue(source, line, "", f"not valid YAML: {problem}")]) from None
    if not isinstance(data, dict):
        raise CatalogError([CatalogIssue(source, 1, "", "the catalog must be a mapping with severities, teams, services, schedules and policies")])
    issues: list[CatalogIssue] = []
    try:
        model: CatalogModel | None = CatalogModel.model_validate(data)
    except ValidationError as exc:
        model = None
        for error in exc.errors():
            path = tuple(p for p in error["loc"] if not (isinstance(p, str) and p.startswith("function-")))
            message = _plain(error)
            if error["type"] == "missing":
                message = f"{path[-1]} is required here" if path else message
            path = _as_written(path, lines)
            issues.append(CatalogIssue(source, _line_for(lines, path), _dotted(path), message))
    sections = _Sections.of(model) if model is not None else _entry_by_entry(data)
    issues += [CatalogIssue(source, _line_for(lines, p), _dotted(p), m) for p, m in _cross_references(sections)]
    if issues or model is None:
        raise CatalogError(sorted(_dedupe(issues), key=lambda i: (i.line or 0, i.path)))
    return Catalog(model, source, hashlib.sha256(text.encode()).hexdigest()[:12], lines)


def _as_written(path: tuple[Any, ...], lines: dict[tuple[Any, ...], int]) -> tuple[Any, ...]:
    """Name a field the way the file does: `rotation:` is stored as `layers[0]` once parsed."""
    if len(path) >= 4 and path[0] == "schedules" and path[2:4] == ("layers", 0) and ("schedules", path[1], "rotation") in lines:
        return ("schedules", path[1], "rotation", *path[4:])
    return path


def _dedupe(issues: list[CatalogIssue]) -> list[CatalogIssue]:
    """A union type (str | mapping) fails once per alternative; keep the most specific message."""
    seen: dict[tuple[str, str], CatalogIssue] = {}
    for issue in issues:
        seen.setdefault((issue.path, issue.message), issue)
    return list(seen.values())


def _read_bounded(path: Path) -> bytes:
    """At most MAX_BYTES + 1 bytes of a regular file: /dev/zero, a FIFO or /proc/self/mem must not hang or fill memory."""
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # opening a FIFO without O_NONBLOCK waits for a writer
    with os.fdopen(descriptor, "rb") as file:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            raise _Refused(None, "not a regular file (a device, a pipe or a directory?); name the catalog's YAML file")
        raw = file.read(MAX_BYTES + 1)
    if len(raw) > MAX_BYTES:
        raise _Refused(None, f"the file is larger than {MAX_BYTES // 1024 // 1024} MB, the most a catalog may be")
    return raw


def load_catalog(path: Path) -> Catalog:
    try:
        raw = _read_bounded(path)
    except _Refused as refused:
        raise CatalogError([CatalogIssue(str(path), None, "", str(refused))]) from None
    except OSError as exc:
        raise CatalogError([CatalogIssue(str(path), None, "", f"cannot read the catalog: {exc.strerror or exc}")]) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise CatalogError([CatalogIssue(str(path), line, "", f"not UTF-8 text: byte 0x{raw[exc.start]:02x} at offset {exc.start}")]) from None
    return parse_catalog(text, str(path))
