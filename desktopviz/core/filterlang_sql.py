"""Compile a filter syntax tree (:mod:`desktopviz.core.filterlang`) to parameterised SQL.

Column names and SQL expressions come only from :data:`FIELD_SPECS`; every value is a bound
parameter. Comparisons are compiled with their polarity: under ``not`` they are written so a
NULL field counts as "not equal" (SQL's three-valued logic would otherwise drop the row),
while the common positive form stays plain so SQLite can use the store's indexes.

The SQL reads only ``flow_rows`` columns and ``key_id`` (which the ``flow_logs`` view also
has), so it runs on either. A store keeps each distinct key (everything but the times and
counters), label set and policy trace once (docs/store.md), so tests are evaluated on those few
rows and the logs are kept by id:

* tests of key columns only, outside any ``not``: ``key_id IN (SELECT id FROM flow_keys WHERE
  …)`` (one subquery for all such tests of an ``and`` group), so the logs are found by key id,
  in the time index ``(start_time, id, key_id)`` or through ``(key_id, start_time)``; the
  subquery is exactly the test (every log has its key), and it is never NULL, which is why it
  is not used under ``not`` (a NULL test there would change the answer);

* policy tests: ``trace_id IN (SELECT trace_id FROM trace_hits WHERE …)``; the positive
  policy tests of one ``and`` group share one subquery, so they describe the same trace entry;
* label tests: ``dest_labels_id IN (SELECT id FROM label_sets WHERE …)``, the test on the
  label set's JSON (``instr`` as a cheap pre-filter, ``json_each`` for the exact answer);
* ``policies contains``/``exists``: ``trace_id IN (SELECT id FROM traces WHERE …)``.
"""

from __future__ import annotations

import json
from typing import Any

from desktopviz.core.filterlang_ast import (
    ENUMS,
    INT_MAX,
    INT_MIN,
    POLICY_ENUM_COLUMNS,
    POLICY_INT_COLUMNS,
    And,
    FieldSpec,
    FilterError,
    Node,
    Not,
    Or,
    Test,
    parse_time,
    resolve_field,
)
from desktopviz.core.queries_base import KEY_SET, key_test

_CMP = {"=": "=", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
_MEMBER_OPS = ("=", "!=", "in", "contains", "exists")
# "+": a key id test is checked while walking the time index (the first page of a common match
# comes at once) instead of listing every matching row and sorting them all; the browser drops
# it for a rare match (desktopviz.ui.flow_browser_data) and counts drop it.
ID_HINT = "+"


def _json_text(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def check_test(text: str, test: Test, spec: FieldSpec, key: str | None) -> None:
    """Reject an operator or value the field cannot take (called by the parser, so the error
    points at the right column)."""
    kind = spec.kind
    if kind == "either" and spec.sides:
        side = spec.sides[0] + (f".{key}" if key else "")
        check_test(text, test, *resolve_field(text, side, test.column))
        return
    bad_op = FilterError(text, test.column, "", test.end)
    if kind in ("labels", "list") and test.op not in _MEMBER_OPS:
        what = f"label {key}" if key else test.field
        raise FilterError(
            text,
            bad_op.column,
            f"{what} can be tested with =, !=, in, contains or exists, not {test.op}",
            test.end,
        )
    if kind == "json" and test.op not in ("contains", "exists"):
        raise FilterError(
            text, test.column, "policies can be tested with contains or exists; or use policy, tier, "
            "policy_action, rule", test.end,
        )  # fmt: skip
    if kind == "int" or (kind == "policy" and spec.sql in POLICY_INT_COLUMNS):
        if test.op == "contains":
            raise FilterError(
                text, test.column, f"{test.field} is a number: contains does not apply", test.end
            )
        for v, col in zip(test.values, test.value_columns, strict=True):
            if _int(v) is None:
                raise FilterError(
                    text, col, f"{test.field} needs a whole number (64-bit), got {v!r}", col + max(1, len(v))
                )
    if kind == "time":
        if test.op == "contains":
            raise FilterError(text, test.column, f"{test.field} is a time: contains does not apply", test.end)
        for v, col in zip(test.values, test.value_columns, strict=True):
            if parse_time(v, 0) is None:
                raise FilterError(
                    text, col, f"{test.field} needs a time (Unix seconds, ISO like 2026-01-01T09:30:00Z, "
                    f"or now-15m), got {v!r}", col + max(1, len(v)),
                )  # fmt: skip


def _key_spec(spec: FieldSpec) -> bool:
    """Whether a field is read from flow_keys: labels and traces by id, or a key column."""
    return spec.kind in ("labels", "json", "policy") or spec.sql in KEY_SET


def _int(v: str) -> int | None:
    """A whole number SQLite can hold (64-bit), or None."""
    try:
        n = int(v, 10)
    except ValueError:
        return None
    return n if INT_MIN <= n <= INT_MAX else None


class _Compiler:
    def __init__(self, text: str, now: int) -> None:
        self.text = text
        self.now = now
        self.params: list[Any] = []

    # -- nodes --------------------------------------------------------------------------
    def node(self, n: Node, positive: bool, top: bool = False) -> str:
        """``top``: no ``not`` above this node (a key test may become a key-id subquery)."""
        if top and self.is_key(n):
            return key_test(self.node(n, positive))
        if isinstance(n, Not):
            return f"NOT ({self.node(n.node, not positive)})"
        if isinstance(n, Or):
            return "(" + " OR ".join(self.node(c, positive, top) for c in n.nodes) + ")"
        if isinstance(n, And):
            return self.conj(n.nodes, positive, top)
        return self.test(n, positive)

    def is_key(self, n: Node) -> bool:
        """Whether a node reads key columns only (flow_keys has them all)."""
        if isinstance(n, Not):
            return self.is_key(n.node)
        if isinstance(n, And | Or):
            return all(self.is_key(c) for c in n.nodes)
        spec, _ = resolve_field(self.text, n.field, n.column)
        if spec.kind == "either" and spec.sides:
            return all(_key_spec(resolve_field(self.text, side, n.column)[0]) for side in spec.sides)
        return _key_spec(spec)

    def conj(self, nodes: tuple[Node, ...], positive: bool, top: bool = False) -> str:
        keys = [c for c in nodes if top and self.is_key(c)]
        if keys:  # some but not all (node() takes an all-key group whole): one key subquery
            inner = self.conj(tuple(keys), True) if len(keys) > 1 else self.node(keys[0], True)
            rest = [self.node(c, positive, top) for c in nodes if not self.is_key(c)]
            return "(" + " AND ".join([key_test(inner), *rest]) + ")"
        groups: list[str] = []
        hits: list[tuple[Test, FieldSpec]] = []
        for c in nodes:
            if isinstance(c, Test):
                spec, _ = resolve_field(self.text, c.field, c.column)
                if spec.kind == "policy" and c.op != "!=":
                    hits.append((c, spec))
                    continue
            groups.append(self.node(c, positive, top))
        if hits:
            groups.append(self.policy(hits, positive))  # last, as its parameters are bound last
        return "(" + " AND ".join(groups) + ")"

    def test(self, t: Test, positive: bool) -> str:
        spec, key = resolve_field(self.text, t.field, t.column)
        if spec.kind == "either" and spec.sides:
            parts = []
            for side in spec.sides:
                name = side + (f".{key}" if key else "")
                parts.append(
                    self.test(Test(name, t.op, t.values, t.column, t.end, t.value_columns), positive)
                )
            joined = " AND " if t.op == "!=" else " OR "
            return "(" + joined.join(parts) + ")"
        if spec.kind == "policy":
            if t.op == "!=":
                eq = Test(t.field, "=", t.values, t.column, t.end, t.value_columns)
                return f"NOT {self.policy([(eq, spec)], not positive)}"
            return self.policy([(t, spec)], positive)
        if spec.kind == "labels":
            return self.labels(spec.sql, t, key, positive)
        if spec.kind == "json":
            return self.trace_text(t, positive)
        if spec.kind == "list":
            return self.members(spec.sql, "$", t, None, positive)
        return self.scalar(spec, t, positive)

    # -- plain columns ------------------------------------------------------------------
    def value(self, spec: FieldSpec, v: str) -> Any:
        if spec.kind in ("int",) or (spec.kind == "policy" and spec.sql in POLICY_INT_COLUMNS):
            return int(v, 10)
        if spec.kind == "time":
            return parse_time(v, self.now)
        if (
            spec.kind == "enum"
            or spec.sql in ENUMS
            or (spec.kind == "policy" and spec.sql in POLICY_ENUM_COLUMNS)
        ):
            return v.lower()
        return v

    def bind(self, value: Any) -> str:
        self.params.append(value)
        return "?"

    def scalar(self, spec: FieldSpec, t: Test, positive: bool, col: str | None = None) -> str:
        c = col or spec.sql
        if t.op == "exists":
            if spec.kind in ("int", "time"):
                return f"({c} IS NOT NULL)"
            return f"({c} IS NOT NULL AND {c} NOT IN ('', '-'))"
        if t.op == "contains":
            return f"(coalesce(instr(lower({c}), lower({self.bind(t.values[0])})), 0) > 0)"
        if t.op == "in":
            marks = ", ".join(self.bind(self.value(spec, v)) for v in t.values)
            return f"({c} IN ({marks}))" if positive else f"({c} IS NOT NULL AND {c} IN ({marks}))"
        if t.op == "!=":
            return f"({c} IS NOT {self.bind(self.value(spec, t.values[0]))})"
        mark = self.bind(self.value(spec, t.values[0]))
        if t.op == "=" and not positive:
            return f"({c} IS {mark})"
        expr = f"{c} {_CMP[t.op]} {mark}"
        return f"({expr})" if positive else f"({c} IS NOT NULL AND {expr})"

    # -- JSON lists and labels ----------------------------------------------------------
    def members(self, col: str, path: str, t: Test, key: str | None, positive: bool) -> str:
        each = f"json_each({col}, '{path}')"
        if t.op == "exists":
            if key is None:
                return f"({col} IS NOT NULL AND coalesce(json_array_length({col}, '{path}'), 0) > 0)"
            prefix = f"{key}="
            pre = self.bind(_json_text(prefix)[:-1])
            return (
                f"(coalesce(instr({col}, {pre}), 0) > 0 AND EXISTS (SELECT 1 FROM {each} "
                f"WHERE substr(value, 1, {self.bind(len(prefix))}) = {self.bind(prefix)}))"
            )
        if t.op == "contains":
            needle = t.values[0]
            if key is None:
                return (
                    f"(coalesce(instr(lower({col}), lower({self.bind(needle)})), 0) > 0 AND EXISTS (SELECT 1 "
                    f"FROM {each} WHERE instr(lower(value), lower({self.bind(needle)})) > 0))"
                )
            prefix = f"{key}="
            pre = self.bind(_json_text(prefix)[:-1])
            n = self.bind(len(prefix))
            return (
                f"(coalesce(instr({col}, {pre}), 0) > 0 AND EXISTS (SELECT 1 FROM {each} WHERE "
                f"substr(value, 1, {n}) = {self.bind(prefix)} AND "
                f"instr(lower(substr(value, {self.bind(len(prefix) + 1)})), lower({self.bind(needle)})) > 0))"
            )
        if t.op == "!=":
            eq = Test(t.field, "=", t.values, t.column, t.end, t.value_columns)
            return f"NOT {self.members(col, path, eq, key, not positive)}"
        parts = []
        for v in t.values:
            element: Any = f"{key}={v}" if key is not None else v
            if path == "$" and _int(v) is not None and col == "nat_outgoing_ports":
                element = int(v)
            pre = self.bind(_json_text(element) if isinstance(element, str) else str(element))
            parts.append(
                f"(coalesce(instr({col}, {pre}), 0) > 0 AND EXISTS (SELECT 1 FROM {each} "
                f"WHERE value = {self.bind(element)}))"
            )
        return parts[0] if len(parts) == 1 else "(" + " OR ".join(parts) + ")"

    def labels(self, field: str, t: Test, key: str | None, positive: bool) -> str:
        """A label test on the label sets, the logs kept by label-set id."""
        if t.op == "!=":
            eq = Test(t.field, "=", t.values, t.column, t.end, t.value_columns)
            return f"NOT {self.labels(field, eq, key, not positive)}"
        inner = self.members("ls.labels", "$.labels", t, key, True)
        return self.by_id(f"{field}_id", f"SELECT ls.id FROM label_sets AS ls WHERE {inner}", positive)

    def trace_text(self, t: Test, positive: bool) -> str:
        """``policies contains x`` / ``policies exists`` on the distinct traces' JSON text."""
        if t.op == "exists":
            cond = "tr.policies NOT IN ('', '-')"
        else:
            cond = f"coalesce(instr(lower(tr.policies), lower({self.bind(t.values[0])})), 0) > 0"
        return self.by_id("trace_id", f"SELECT tr.id FROM traces AS tr WHERE {cond}", positive)

    @staticmethod
    def by_id(col: str, subquery: str, positive: bool) -> str:
        """``col IN (subquery)``, false (not NULL) for a NULL ``col`` under ``not``."""
        if positive:
            return f"({ID_HINT}{col} IN ({subquery}))"
        return f"({col} IS NOT NULL AND {col} IN ({subquery}))"

    # -- policy hits --------------------------------------------------------------------
    def policy(self, tests: list[tuple[Test, FieldSpec]], positive: bool = True) -> str:
        conds: list[str] = []
        traces: set[str] = set()
        for t, spec in tests:
            if spec.trace:
                traces.add(spec.trace)
            conds.append(self.scalar(spec, t, True, col=f"h.{spec.sql}"))
        for trace in sorted(traces):
            conds.append(f"h.kind = {self.bind(trace)}")
        return self.by_id(
            "trace_id", f"SELECT h.trace_id FROM trace_hits AS h WHERE {' AND '.join(conds)}", positive
        )


def compile_node(text: str, node: Node, now: int) -> tuple[str, list[Any]]:
    """(SQL condition over flow_logs, parameters) of a parsed filter."""
    c = _Compiler(text, now)
    sql = c.node(node, True, top=True)
    return sql, c.params
