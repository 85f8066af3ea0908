"""YAML documents that remember where each value came from.

Config and rule files are written by people; every problem we report names the file, line
and column of the value at fault. `load_yaml` keeps PyYAML's node tree beside the plain data
so a pydantic error location (`("rules", 2, "severity")`) maps back to a position.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from watcher.errors import Problem

MAX_YAML_BYTES = 2_000_000


@dataclass(frozen=True)
class YamlDoc:
    """Plain data of one YAML file and its node tree, for positions."""

    path: str
    data: Any
    root: yaml.Node | None

    def position(self, loc: Sequence[int | str]) -> tuple[int, int]:
        """1-based (line, col) of the value at `loc`, or of its nearest existing parent."""
        node = self.root
        best = node
        for part in loc:
            child = _child(node, part)
            if child is None:
                break
            node = best = child
        if best is None:
            return 1, 1
        return best.start_mark.line + 1, best.start_mark.column + 1

    def problem(self, loc: Sequence[int | str], message: str, severity: str = "error") -> Problem:
        line, col = self.position(loc)
        return Problem(self.path, line, col, message, severity)


def _child(node: yaml.Node | None, part: int | str) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == str(part):
                return value  # type: ignore[no-any-return]
        return None
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and (
            0 <= part < len(node.value)):
        return node.value[part]  # type: ignore[no-any-return]
    return None


# What YAML may not hold (YAML 1.1, 5.1; PyYAML's Reader.NON_PRINTABLE): control characters
# but tab and line breaks, and lone surrogates.
_NOT_PRINTABLE = re.compile("[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd"
                            "\U00010000-\U0010ffff]")


def line_col(text: str, index: int) -> tuple[int, int]:
    """1-based line and column of the character at `index` of `text`."""
    line_start = text.rfind("\n", 0, index) + 1
    return text.count("\n", 0, index) + 1, index - line_start + 1


def _unreadable(text: str, path: str) -> YamlProblem | None:
    """The first character YAML may not hold, placed at its line and column."""
    bad = _NOT_PRINTABLE.search(text)
    if bad is None:
        return None
    line, col = line_col(text, bad.start())
    code = ord(bad.group())
    kind = "lone surrogate" if 0xD800 <= code <= 0xDFFF else "control character"
    return YamlProblem(Problem(path, line, col, f"{kind} U+{code:04X} is not allowed"))


def _first_duplicate_key(root: yaml.Node, path: str) -> YamlProblem | None:
    """A key written twice in one mapping: YAML would keep the last value silently."""
    stack = [root]
    while stack:
        node = stack.pop()
        if isinstance(node, yaml.MappingNode):
            seen: dict[tuple[str, str], yaml.Node] = {}
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode):
                    first = seen.setdefault((key.tag, key.value), key)
                    if first is not key:
                        return _duplicate(key, first, path)
                stack += (key, value)
        elif isinstance(node, yaml.SequenceNode):
            stack += node.value
    return None


def _duplicate(key: yaml.Node, first: yaml.Node, path: str) -> YamlProblem:
    mark, earlier = key.start_mark, first.start_mark
    return YamlProblem(Problem(
        path, mark.line + 1, mark.column + 1,
        f"duplicate key {key.value!r} (first at line {earlier.line + 1}, "
        f"column {earlier.column + 1}); each key may appear once"))


_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_STR, _SEQ, _MAP = (f"tag:yaml.org,2002:{kind}" for kind in ("str", "seq", "map"))
_SCALARS = {f"tag:yaml.org,2002:{kind}" for kind in ("null", "bool", "int", "float")}
# First characters of the plain scalars that may be something other than a string (true,
# null, 12, .5, ~, <<...): only these go through PyYAML's regular expressions.
_MAYBE_NOT_STR = frozenset(_SafeLoader.yaml_implicit_resolvers)


class _Loader(_SafeLoader):  # type: ignore[misc,valid-type]
    """The safe loader, C parser when available, telling tags as PyYAML does but with
    a shortcut: libyaml asks for the tag of every node, and most of them are plain words
    ("low", "convoy", an id) or quoted strings, strings whatever their content."""

    def resolve(self, kind: type[yaml.Node], value: Any, implicit: tuple[bool, bool]) -> Any:
        if not self.yaml_path_resolvers:
            if kind is yaml.ScalarNode:
                if not implicit[0] or value[:1] not in _MAYBE_NOT_STR:
                    return _STR
            elif kind is yaml.MappingNode:
                return _MAP
            elif kind is yaml.SequenceNode:
                return _SEQ
        return super().resolve(kind, value, implicit)


class _Alias(Exception):
    """A node reached twice: an alias (*name)."""

    def __init__(self, node: yaml.Node) -> None:
        super().__init__("alias")
        self.node = node


class _Duplicate(Exception):
    """A key written twice in one mapping."""

    def __init__(self, key: yaml.Node, first: yaml.Node) -> None:
        super().__init__("duplicate key")
        self.key, self.first = key, first


class _Unusual(Exception):
    """A node the plain walk leaves to PyYAML's constructor (a merge key, a timestamp...)."""


def _plain_data(loader: Any, root: yaml.Node) -> Any:
    """The data of a node tree made only of strings, numbers, booleans, nulls, lists and
    mappings (what rule and config files hold), as PyYAML's safe constructor makes it but
    several times faster: node by node, no generators. Raises `_Alias` for a node reached
    twice (refusing aliases keeps a billion-laughs file as small in memory as on disk),
    `_Duplicate` for a key written twice in one mapping, and `_Unusual` for anything else,
    which PyYAML's constructor then builds."""
    seen: set[int] = set()

    def build(node: yaml.Node) -> Any:
        if id(node) in seen:
            raise _Alias(node)
        seen.add(id(node))
        tag = node.tag
        if tag == _STR:
            return node.value
        if tag == _MAP:
            mapping = {}
            key_nodes: dict[tuple[type, Any], yaml.Node] = {}
            for key, value in node.value:
                if key.tag == "tag:yaml.org,2002:merge":
                    raise _Unusual(key.tag)
                made = build(key)
                if isinstance(made, list | dict):
                    raise _Unusual("a key that is a list or mapping")
                identity = (type(made), made)  # 1 and true are equal in Python, not in YAML
                if identity in key_nodes:
                    raise _Duplicate(key, key_nodes[identity])
                key_nodes[identity] = key
                mapping[made] = build(value)
            return mapping
        if tag == _SEQ:
            return [build(item) for item in node.value]
        if tag in _SCALARS:
            return loader.yaml_constructors[tag](loader, node)
        raise _Unusual(tag)

    return build(root)


def _first_alias(root: yaml.Node) -> yaml.Node | None:
    """A node reached twice is an alias (*name)."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            return node
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                stack += (key, value)
        elif isinstance(node, yaml.SequenceNode):
            stack += node.value
    return None


def _data(loader: Any, root: yaml.Node, path: str) -> Any:
    """`root`'s data, refusing aliases and keys written twice (see `_plain_data`)."""
    try:
        return _plain_data(loader, root)
    except _Alias as alias:
        found = alias.node
    except _Duplicate as twice:
        raise _duplicate(twice.key, twice.first, path) from None
    except RecursionError:
        raise YamlProblem(Problem(path, 1, 1, "invalid YAML: nested too deeply")) from None
    except _Unusual:
        first = _first_alias(root)
        if first is None:
            if (duplicate := _first_duplicate_key(root, path)) is not None:
                raise duplicate from None
            return loader.construct_document(root)
        found = first
    mark = found.start_mark
    raise YamlProblem(Problem(path, mark.line + 1, mark.column + 1,
                              "aliases (*name) are not allowed in watcher files"))


def parse_yaml(text: str, path: str) -> YamlDoc:
    """Parse YAML text once (C loader when available) into data plus its node tree; raise
    `YamlProblem` with the position of a syntax error, a duplicate key or a character YAML
    may not hold."""
    if (problem := _unreadable(text, path)) is not None:
        raise problem
    try:
        loader = _Loader(text)
        try:
            root = loader.get_single_node()
            data = _data(loader, root, path) if root is not None else None
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        message = exc.problem or str(exc)
        if exc.context:
            message = f"{exc.context}: {message}" if exc.problem else exc.context
        start = exc.context_mark
        if start is not None and mark is not None and mark.index >= len(text.rstrip()):
            # The parser ran off the end of the file (an unclosed bracket or quote): the
            # useful place is where the unclosed thing began.
            mark = start
        elif start is not None and mark is not None and start.line != mark.line:
            message += f" (started at line {start.line + 1}, column {start.column + 1})"
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise YamlProblem(Problem(path, line, col, f"invalid YAML: {message}")) from exc
    except yaml.YAMLError as exc:
        raise YamlProblem(Problem(path, 1, 1, f"invalid YAML: {exc}")) from exc
    return YamlDoc(path=path, data=data, root=root)


def read_yaml(path: Path) -> YamlDoc:
    """Read and parse one YAML file, refusing files too large or not UTF-8."""
    name = str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise YamlProblem(Problem(name, 1, 1, f"cannot read: {exc.strerror or exc}")) from exc
    if len(raw) > MAX_YAML_BYTES:
        raise YamlProblem(Problem(name, 1, 1, f"file is larger than {MAX_YAML_BYTES} bytes"))
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        readable = raw[:exc.start].decode("utf-8-sig")  # valid: the error is past it
        line, col = line_col(readable, len(readable))
        byte = raw[exc.start]
        problem = Problem(name, line, col, f"not UTF-8: {exc.reason} (byte 0x{byte:02x})")
        raise YamlProblem(problem) from None
    return parse_yaml(text, name)


class YamlProblem(Exception):
    """A YAML file could not be read or parsed at all."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem


def validation_problems(doc: YamlDoc, exc: ValidationError,
                        prefix: Iterable[int | str] = ()) -> list[Problem]:
    """Turn a pydantic error into one positioned problem per error."""
    problems = []
    base = list(prefix)
    for err in exc.errors(include_url=False):
        loc = base + [p for p in err["loc"] if not _is_union_tag(p)]
        where = ".".join(str(p) for p in loc) or "document"
        message = err["msg"].removeprefix("Value error, ")
        problems.append(doc.problem(loc, f"{where}: {message}"))
    return problems


def _is_union_tag(part: int | str) -> bool:
    # pydantic puts the union member's name in the location (e.g. "webhook", "function-after");
    # those are not keys in the document.
    return isinstance(part, str) and (part.startswith("function-") or part in _UNION_TAGS)


_UNION_TAGS: set[str] = set()


def register_union_tags(*tags: str) -> None:
    """Names pydantic inserts into error locations for tagged unions (sink types, leaves)."""
    _UNION_TAGS.update(tags)
