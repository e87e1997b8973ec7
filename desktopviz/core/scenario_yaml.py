"""Safe YAML loading that remembers where every value was written, and the error collector.

Scenario errors must name file, line, column and field path. PyYAML's constructed objects
forget their marks, so documents are composed (`yaml.compose_all`, safe loader: no object
construction from tags) and turned into :class:`YDict`/:class:`YList` that keep the 1-based
line and column of every value. :class:`Node` walks them with a field path and reports typed
errors into an :class:`Issues` collector, so one pass reports every independent error.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml


class _ComposeLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """libyaml's parser when PyYAML was built with it (the same nodes and marks, ~10x faster),
    resolving plain exponent numbers without a dot or exponent sign (`1e3`, `1.5e3`) as floats,
    as Kubernetes' and Calico's YAML readers do; PyYAML's YAML 1.1 rules read them as strings."""


_ComposeLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)
_COMPOSE_LOADER = _ComposeLoader
_STD_TAGS = {"tag:yaml.org,2002:map", "tag:yaml.org,2002:seq", "tag:yaml.org,2002:omap"}


@dataclass(frozen=True)
class ScenarioIssue:
    """One error: where (file, 1-based line and column, field path) and what."""

    file: str
    line: int
    column: int
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}"
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class ScenarioError(ValueError):
    """A scenario that cannot be loaded; `errors` lists every problem found, in file order."""

    def __init__(self, errors: list[ScenarioIssue]) -> None:
        self.errors = list(errors)
        super().__init__("\n".join(str(e) for e in self.errors))


@dataclass
class Issues:
    """Collects errors while parsing continues past them."""

    items: list[ScenarioIssue] = field(default_factory=list)

    def add(self, file: str, line: int, column: int, path: str, message: str) -> None:
        issue = ScenarioIssue(file, line, column, path, message)
        if issue not in self.items:
            self.items.append(issue)

    def __len__(self) -> int:
        return len(self.items)

    def raise_if_any(self) -> None:
        if self.items:
            raise ScenarioError(sorted(self.items, key=lambda i: (i.file, i.line, i.column)))


class YDict(dict):  # type: ignore[type-arg]
    """A mapping that keeps the position of each value (`marks[key]`) and of itself."""

    line: int = 1
    col: int = 1
    marks: dict[Any, tuple[int, int]]


class YList(list):  # type: ignore[type-arg]
    """A sequence that keeps the position of each item (`marks[i]`) and of itself."""

    line: int = 1
    col: int = 1
    marks: list[tuple[int, int]]


def plain(value: Any) -> Any:
    """A deep copy as plain dicts and lists (for Policy.raw and Rule.raw)."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


class _Converter:
    def __init__(self, file: str, issues: Issues) -> None:
        self.file = file
        self.issues = issues
        self.loader = yaml.SafeLoader("")
        self.active: set[int] = set()

    def error(self, node: yaml.Node, message: str) -> None:
        m = node.start_mark
        self.issues.add(self.file, m.line + 1, m.column + 1, "", message)

    def convert(self, node: yaml.Node) -> Any:
        if isinstance(node, yaml.ScalarNode):
            try:
                return self.loader.construct_object(node, deep=True)
            except yaml.YAMLError as exc:
                self.error(node, f"invalid YAML: {getattr(exc, 'problem', None) or exc}")
                return None
        if id(node) in self.active:
            self.error(node, "invalid YAML: recursive alias")
            return None
        if node.tag not in _STD_TAGS:
            self.error(node, f"invalid YAML: unsupported tag {node.tag!r}")
            return None
        self.active.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                return self._sequence(node)
            assert isinstance(node, yaml.MappingNode)
            return self._mapping(node)
        finally:
            self.active.discard(id(node))

    def _sequence(self, node: yaml.SequenceNode) -> YList:
        out = YList()
        out.line, out.col = node.start_mark.line + 1, node.start_mark.column + 1
        out.marks = []
        for item in node.value:
            out.append(self.convert(item))
            out.marks.append((item.start_mark.line + 1, item.start_mark.column + 1))
        return out

    def _mapping(self, node: yaml.MappingNode) -> YDict:
        try:
            self.loader.flatten_mapping(node)
        except yaml.YAMLError as exc:
            self.error(node, f"invalid YAML: {getattr(exc, 'problem', None) or exc}")
        out = YDict()
        out.line, out.col = node.start_mark.line + 1, node.start_mark.column + 1
        out.marks = {}
        for key_node, value_node in node.value:
            key = self.convert(key_node)
            if isinstance(key, (dict, list)) or key is None:
                self.error(key_node, "invalid YAML: a mapping key must be a plain value")
                continue
            if not isinstance(key, str):
                key = str(key).lower() if isinstance(key, bool) else str(key)
            if key in out:
                self.error(key_node, f"duplicate key {key!r}")
                continue
            out[key] = self.convert(value_node)
            out.marks[key] = (value_node.start_mark.line + 1, value_node.start_mark.column + 1)
        return out


@dataclass
class Document:
    """One YAML document of a file, with its position."""

    value: Any
    file: str
    line: int
    col: int


def load_documents(text: str, file: str, issues: Issues) -> list[Document]:
    """Every non-empty document of `text`; YAML errors are reported and end the file."""
    docs: list[Document] = []
    conv = _Converter(file, issues)
    try:
        for node in yaml.compose_all(text, Loader=_COMPOSE_LOADER):
            if node is None:
                continue
            value = conv.convert(node)
            if value is None:
                continue
            docs.append(Document(value, file, node.start_mark.line + 1, node.start_mark.column + 1))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = exc.problem or exc.context or "syntax error"
        issues.add(file, line, col, "", f"invalid YAML: {problem}")
    except yaml.YAMLError as exc:
        issues.add(file, 1, 1, "", f"invalid YAML: {exc}")
    return docs


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "mapping"
    if isinstance(value, list):
        return "list"
    return type(value).__name__


def describe(value: Any) -> str:
    """`string 'three'`, `integer 3`, `mapping`: for 'expected X, got Y' messages."""
    name = _type_name(value)
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return f"{name} {value!r}"
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    return name


@dataclass(frozen=True)
class Node:
    """A value in a document with its position and field path; reports errors into issues."""

    value: Any
    file: str
    line: int
    col: int
    path: str
    issues: Issues

    @classmethod
    def root(cls, doc: Document, issues: Issues) -> Node:
        return cls(doc.value, doc.file, doc.line, doc.col, "", issues)

    # -- navigation --------------------------------------------------------------------
    def _child_path(self, key: str | int) -> str:
        if isinstance(key, int):
            return f"{self.path}[{key}]"
        return f"{self.path}.{key}" if self.path else key

    def has(self, key: str) -> bool:
        return isinstance(self.value, dict) and key in self.value

    def get(self, key: str) -> Node | None:
        """The child `key` of a mapping (None if absent or explicitly null)."""
        if not isinstance(self.value, dict) or key not in self.value:
            return None
        val = self.value[key]
        if val is None:
            return None
        line, col = getattr(self.value, "marks", {}).get(key, (self.line, self.col))
        return Node(val, self.file, line, col, self._child_path(key), self.issues)

    def missing(self, key: str) -> None:
        self.issues.add(self.file, self.line, self.col, self._child_path(key), "required field is missing")

    def items(self) -> list[Node]:
        """The items of a list (reports an error and returns [] for anything else)."""
        if not isinstance(self.value, list):
            self.error(f"expected a list, got {describe(self.value)}")
            return []
        marks = getattr(self.value, "marks", [])
        return [
            Node(
                v,
                self.file,
                *(marks[i] if i < len(marks) else (self.line, self.col)),
                self._child_path(i),
                self.issues,
            )
            for i, v in enumerate(self.value)
        ]

    def entries(self) -> Iterator[tuple[str, Node]]:
        if not isinstance(self.value, dict):
            self.error(f"expected a mapping, got {describe(self.value)}")
            return
        marks = getattr(self.value, "marks", {})
        for key, val in self.value.items():
            line, col = marks.get(key, (self.line, self.col))
            yield key, Node(val, self.file, line, col, self._child_path(key), self.issues)

    # -- errors ------------------------------------------------------------------------
    def error(self, message: str, path: str | None = None) -> None:
        self.issues.add(self.file, self.line, self.col, self.path if path is None else path, message)

    def check_keys(self, allowed: set[str] | frozenset[str], what: str = "") -> None:
        """Report keys that are not in `allowed` (for formats we own or validate strictly)."""
        if not isinstance(self.value, dict) or all(k in allowed for k in self.value):
            return
        for key, child in self.entries():
            if key not in allowed:
                known = ", ".join(sorted(allowed))
                child.error(f"unknown field{(' in ' + what) if what else ''} (known: {known})")

    # -- typed access (None after reporting an error) ------------------------------------
    def is_map(self) -> bool:
        if isinstance(self.value, dict):
            return True
        self.error(f"expected a mapping, got {describe(self.value)}")
        return False

    def as_str(self) -> str | None:
        if isinstance(self.value, str):
            return self.value
        self.error(f"expected a string, got {describe(self.value)}")
        return None

    def as_int(self, lo: int | None = None, hi: int | None = None) -> int | None:
        v = self.value
        if isinstance(v, bool) or not isinstance(v, int):
            self.error(f"expected an integer, got {describe(v)}")
            return None
        return self._range(v, lo, hi)

    def as_number(self, lo: float | None = None, hi: float | None = None) -> float | None:
        v = self.value
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            self.error(f"expected a number, got {describe(v)}")
            return None
        return self._range(float(v), lo, hi)

    def _range(self, v: Any, lo: Any, hi: Any) -> Any:
        if lo is not None and v < lo:
            self.error(f"must be at least {lo}, got {v}")
            return None
        if hi is not None and v > hi:
            self.error(f"must be at most {hi}, got {v}")
            return None
        return v

    def as_bool(self) -> bool | None:
        if isinstance(self.value, bool):
            return self.value
        self.error(f"expected true or false, got {describe(self.value)}")
        return None

    def as_str_list(self) -> list[str]:
        out: list[str] = []
        for item in self.items():
            s = item.as_str()
            if s is not None:
                out.append(s)
        return out

    def as_timestamp(self) -> int | None:
        """Unix seconds, or an ISO 8601 date-time (YAML timestamp or string)."""
        v = self.value
        if isinstance(v, bool):
            self.error(f"expected Unix seconds or an ISO date-time, got {describe(v)}")
            return None
        if isinstance(v, (int, float)):
            return int(v)
        if isinstance(v, str):
            try:
                v = _dt.datetime.fromisoformat(v.replace("Z", "+00:00"))
            except ValueError:
                self.error(f"expected Unix seconds or an ISO date-time, got {describe(v)}")
                return None
        if isinstance(v, _dt.datetime):
            if v.tzinfo is None:
                v = v.replace(tzinfo=_dt.UTC)
            return int(v.timestamp())
        if isinstance(v, _dt.date):
            return int(_dt.datetime(v.year, v.month, v.day, tzinfo=_dt.UTC).timestamp())
        self.error(f"expected Unix seconds or an ISO date-time, got {describe(v)}")
        return None
