"""The flow-log filter language's error type, syntax tree, field catalogue and value parsing.

Split from :mod:`desktopviz.core.filterlang` (the parser and the language's documentation) and
:mod:`desktopviz.core.filterlang_sql` (the SQL compiler) to keep modules small. Everything a
user can name is listed in :data:`FIELD_SPECS`; nothing else ever reaches SQL.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from desktopviz.core.flowlog import FIELDS, JSON_FIELDS

Kind = Literal["int", "time", "text", "enum", "labels", "list", "json", "policy", "either"]
OPS = ("=", "!=", "<", "<=", ">", ">=", "contains", "in", "exists")
BARE = re.compile(r"[^\s()\"',=!<>]+")
MAX_LENGTH = 10_000
MAX_TESTS = 256
MAX_DEPTH = 32


class FilterError(ValueError):
    """A filter the language cannot accept. ``column`` is 0-based, ``end`` is where the bad
    part stops (for an underline); str() is ``column N: message`` (1-based)."""

    def __init__(self, text: str, column: int, message: str, end: int | None = None) -> None:
        self.text = text
        self.column = max(0, min(column, len(text)))
        self.end = max(self.column + 1, end if end is not None else self.column + 1)
        self.message = message
        super().__init__(f"column {self.column + 1}: {message}")

    def pointer(self) -> str:
        """The filter text with a caret line under the bad part, as the CLI prints it."""
        width = max(1, min(self.end, len(self.text) + 1) - self.column)
        return f"{self.text}\n{' ' * self.column}{'^' * width}"

    def __reduce__(self) -> tuple[type, tuple[str, int, str, int]]:
        return (type(self), (self.text, self.column, self.message, self.end))


@dataclass(frozen=True)
class FieldSpec:
    """What a field name means: its kind and the column(s) or expression it reads."""

    kind: Kind
    sql: str  # column, SQL expression over flow_logs, policy_hits column, or "" (either)
    help: str = ""
    sides: tuple[str, str] | None = None  # for "either": the two field names
    trace: str | None = None  # policy fields bound to one trace kind ("enforced"/"pending")


ENUMS = frozenset({"action", "reporter", "proto", "source_type", "dest_type"})
TIME_FIELDS = frozenset({"start_time", "end_time"})
LABEL_FIELDS = frozenset({"source_labels", "dest_labels"})


def _catalogue() -> dict[str, FieldSpec]:
    from desktopviz.core.store import INT_FIELDS

    specs: dict[str, FieldSpec] = {}
    for name in FIELDS:
        if name in TIME_FIELDS:
            specs[name] = FieldSpec("time", name, "Unix seconds; accepts ISO times and now-15m")
        elif name in LABEL_FIELDS:
            specs[name] = FieldSpec("labels", name, "labels as k=v; name.key tests one label")
        elif name == "policies":
            specs[name] = FieldSpec("json", name, "the raw trace text (contains, exists)")
        elif name in JSON_FIELDS:
            specs[name] = FieldSpec("list", name, "a list; = tests membership")
        elif name in INT_FIELDS:
            specs[name] = FieldSpec("int", name)
        elif name in ENUMS:
            specs[name] = FieldSpec("enum", name, "case-insensitive")
        else:
            specs[name] = FieldSpec("text", name)
    specs["id"] = FieldSpec("int", "id", "the row id in the store")
    specs["bytes"] = FieldSpec("int", "(bytes_in + bytes_out)", "bytes_in + bytes_out")
    specs["packets"] = FieldSpec("int", "(packets_in + packets_out)", "packets_in + packets_out")
    specs["port"] = FieldSpec("int", "dest_port", "alias of dest_port")
    specs["protocol"] = FieldSpec("enum", "proto", "alias of proto")
    either = {
        "namespace": ("source_namespace", "dest_namespace"),
        "name": ("source_name_aggr", "dest_name_aggr"),
        "labels": ("source_labels", "dest_labels"),
        "ip": ("source_ip", "dest_ip"),
    }
    for name, sides in either.items():
        specs[name] = FieldSpec("either", "", f"either end: {sides[0]} or {sides[1]}", sides=sides)
    policy = {
        "policy": ("policy", None, "a policy's trace name, e.g. storefront/default.trusted"),
        "tier": ("tier", None, "the tier of a trace entry"),
        "policy_action": ("action", None, "allow, deny or pass of a trace entry"),
        "rule": ("rule_index", None, "the rule index of a trace entry (-1 = end of tier)"),
        "policy_index": ("idx", None, "the position of a trace entry"),
        "policy_namespace": ("namespace", None, "the namespace of a trace entry's policy"),
        "trace": ("kind", None, "enforced or pending"),
        "enforced_policy": ("policy", "enforced", "a policy in the enforced trace"),
        "pending_policy": ("policy", "pending", "a policy in the pending (staged) trace"),
    }
    for name, (col, trace, text) in policy.items():
        specs[name] = FieldSpec("policy", col, text, trace=trace)
    return specs


FIELD_SPECS: dict[str, FieldSpec] = _catalogue()
POLICY_INT_COLUMNS = frozenset({"rule_index", "idx"})
POLICY_ENUM_COLUMNS = frozenset({"action", "kind"})


def field_names() -> list[str]:
    """Every name a filter may test (fields, aliases, policy tests), sorted."""
    return sorted(FIELD_SPECS)


def resolve_field(text: str, name: str, column: int) -> tuple[FieldSpec, str | None]:
    """The spec of a field name and its label key (``dest_labels.app`` → key ``app``)."""
    spec = FIELD_SPECS.get(name)
    if spec is not None:
        return spec, None
    base, dot, key = name.partition(".")
    if dot and key:
        spec = FIELD_SPECS.get(base)
        if spec is not None and (spec.kind == "labels" or (spec.kind == "either" and base == "labels")):
            return spec, key
        if spec is not None:
            raise FilterError(text, column, f"{base} has no sub-fields", column + len(name))
    close = difflib.get_close_matches(name.lower(), FIELD_SPECS, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]}?" if close else ""
    raise FilterError(text, column, f"unknown field {name!r}{hint}", column + len(name))


def quote(value: str) -> str:
    """A value as filter text: bare when it is one plain word, else double-quoted."""
    if value and BARE.fullmatch(value) and value.lower() not in ("and", "or", "not"):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


# -- values ------------------------------------------------------------------------------------
_DURATION = re.compile(r"(\d+)([smhdw])")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_RELATIVE = re.compile(r"(now)?([+-])((?:\d+[smhdw])+)|now", re.IGNORECASE)


def parse_duration(text: str) -> int | None:
    """Seconds of ``15m``, ``1h30m``, ``2d``; None when it is not a duration."""
    pos, total = 0, 0
    for m in _DURATION.finditer(text.lower()):
        if m.start() != pos:
            return None
        total += int(m.group(1)) * _UNIT[m.group(2)]
        pos = m.end()
    return total if pos == len(text) and pos > 0 else None


INT_MIN, INT_MAX = -(2**63), 2**63 - 1


def parse_time(value: str, now: int) -> int | None:
    """Unix seconds of a time value: an integer, ``now``, ``now-15m``/``-15m``/``now+1h``, or
    an ISO time (``2026-01-01``, ``2026-01-01T09:30:00Z``, naive = UTC). None if not a time."""
    t = _parse_time(value.strip(), now)
    return t if t is None or INT_MIN <= t <= INT_MAX else None


def _parse_time(v: str, now: int) -> int | None:
    if re.fullmatch(r"\d{1,12}", v):
        return int(v)
    m = _RELATIVE.fullmatch(v)
    if m:
        if v.lower() == "now":
            return now
        secs = parse_duration(m.group(3)) or 0
        return now - secs if m.group(2) == "-" else now + secs
    try:
        dt = datetime.fromisoformat(v[:-1] + "+00:00" if v[-1:] in ("Z", "z") else v)
    except (ValueError, OverflowError):
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp())


# -- syntax tree -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Test:
    """``field op values``; ``column``/``end`` locate it, ``value_columns`` each value."""

    field: str
    op: str
    values: tuple[str, ...]
    column: int
    end: int
    value_columns: tuple[int, ...] = ()

    def __str__(self) -> str:
        if self.op == "exists":
            return f"{self.field} exists"
        if self.op == "in":
            return f"{self.field} in ({', '.join(quote(v) for v in self.values)})"
        return f"{self.field} {self.op} {quote(self.values[0])}"


@dataclass(frozen=True)
class Not:
    node: Node

    def __str__(self) -> str:
        inner = str(self.node)
        return f"not {inner}" if isinstance(self.node, Test | Not) else f"not ({inner})"


@dataclass(frozen=True)
class And:
    nodes: tuple[Node, ...]

    def __str__(self) -> str:
        return " and ".join(f"({n})" if isinstance(n, Or) else str(n) for n in self.nodes)


@dataclass(frozen=True)
class Or:
    nodes: tuple[Node, ...]

    def __str__(self) -> str:
        return " or ".join(str(n) for n in self.nodes)


Node = Test | Not | And | Or
