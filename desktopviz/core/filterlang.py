"""The flow-log filter language: a small, Kibana/Wireshark-like query typed in the browser's
query bar and on the command line (``desktopviz query DB 'FILTER'``), compiled to a
parameterised SQL condition over the store's ``flow_logs`` table.

Grammar (keywords are case-insensitive; ``and`` binds tighter than ``or``)::

    filter  := or
    or      := and ("or" and)*
    and     := unary ("and" unary)*
    unary   := "not" unary | "(" or ")" | test
    test    := FIELD OP VALUE               OP: =  ==  !=  <  <=  >  >=  contains
             | FIELD ["not"] "in" "(" VALUE ("," VALUE)* ")"
             | FIELD ["not"] "exists"
             | FIELD ["not"] "contains" VALUE
             | LABELS "has" KEY             same as LABELS.KEY exists
    VALUE   := "double quoted" | 'single quoted' (backslash escapes) | bare-word

A bare word is any run of characters other than blanks, parentheses, quotes, commas and
``= ! < >``: ``storefront``, ``storefront/default.trusted``, ``rogue-75d986bcfb-*``, ``-1``,
``10.0.0.0``, ``now-15m``. Quote anything else.

Fields are the Calico flow-log field names (``source_namespace``, ``dest_port``, ``action``,
``reporter``, ``proto`` …; see :func:`field_names`) plus:

* ``bytes``/``packets`` (in + out), ``port`` (dest_port), ``protocol`` (proto), ``id``;
* ``namespace``, ``name`` (aggregated name), ``labels``, ``ip``: either end matches;
* labels: ``dest_labels.app = frontend``, ``source_labels has fw-zone``,
  ``dest_labels.app in (frontend, backend)``, ``source_labels = "app=rogue"``,
  ``dest_labels contains zone``;
* the policy trace (enforced or pending entries): ``policy = "storefront/default.trusted"``,
  ``tier = security``, ``policy_action = pass``, ``rule = 2``, ``policy_index = 0``,
  ``policy_namespace = storefront``, ``trace = pending``; ``enforced_policy`` and
  ``pending_policy`` name one trace. Policy tests joined by ``and`` in the same group
  describe **one** trace entry: ``policy = "storefront/default.trusted" and policy_action =
  deny`` is the flows that policy denied.

Values: numbers for numeric fields; ``start_time``/``end_time`` also take ISO times
(``2026-01-01T09:30:00Z``, naive = UTC) and relative ones (``now``, ``now-15m``, ``-1h30m``;
"now" is the newest data in the store, the simulation's clock). ``action``, ``reporter``,
``proto`` and the endpoint types compare case-insensitively. ``contains`` is a substring test
(case-insensitive). ``exists`` means present: not null, not empty and not Calico's ``-``.
``!=`` and ``not`` include rows where the field is missing: ``not source_port = 80`` keeps
rows without a source port.

Safety: field names are looked up in a fixed catalogue and every value is bound as an SQL
parameter, so no filter can read or change anything but the flow tables. Limits: 10,000
characters, 256 tests, 32 nested groups. Errors raise :class:`FilterError` with the column.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from desktopviz.core.filterlang_ast import (
    FIELD_SPECS,
    MAX_DEPTH,
    MAX_LENGTH,
    MAX_TESTS,
    And,
    FilterError,
    Node,
    Not,
    Or,
    Test,
    field_names,
    quote,
    resolve_field,
)

__all__ = [
    "FIELD_SPECS",
    "FilterError",
    "SqlFilter",
    "canonical",
    "combine",
    "compile_filter",
    "field_names",
    "parse_filter",
    "quote",
    "term",
    "validate",
]

_TOKEN = re.compile(
    r"\s*(?:(?P<op>==|!=|<=|>=|=|<|>)|(?P<punct>[(),])|(?P<quote>[\"'])|(?P<word>[^\s()\"',=!<>]+))"
)
_OPS = {"contains", "in", "exists", "has"}


@dataclass(frozen=True)
class Token:
    kind: str  # op, punct, string, word, end
    text: str  # the value (unescaped for strings)
    column: int
    end: int

    def is_word(self, *words: str) -> bool:
        return self.kind == "word" and self.text.lower() in words


def tokenize(text: str) -> list[Token]:
    out: list[Token] = []
    pos, n = 0, len(text)
    while True:
        while pos < n and text[pos].isspace():
            pos += 1
        if pos >= n:
            out.append(Token("end", "", n, n))
            return out
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            hint = ": use != or not" if text[pos] == "!" else ""
            raise FilterError(text, pos, f"unexpected character {text[pos]!r}{hint}")
        start = m.start(m.lastgroup or 0)
        if m.group("quote"):
            q = m.group("quote")
            i, buf = start + 1, []
            while i < n and text[i] != q:
                if text[i] == "\\" and i + 1 < n:
                    i += 1
                buf.append(text[i])
                i += 1
            if i >= n:
                raise FilterError(text, start, f"unterminated string: add the closing {q}", n)
            out.append(Token("string", "".join(buf), start, i + 1))
            pos = i + 1
            continue
        kind = "op" if m.group("op") else "punct" if m.group("punct") else "word"
        word = m.group(kind)
        out.append(Token(kind, "=" if word == "==" else word, start, m.end()))
        pos = m.end()


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0
        self.tests = 0
        self.depth = 0

    def peek(self) -> Token:
        return self.tokens[self.i]

    def next(self) -> Token:
        tok = self.tokens[self.i]
        if tok.kind != "end":
            self.i += 1
        return tok

    def error(self, tok: Token, message: str) -> FilterError:
        return FilterError(self.text, tok.column, message, tok.end)

    def parse(self) -> Node:
        node = self.parse_or()
        tok = self.peek()
        if tok.kind != "end":
            hint = "; join tests with and/or" if tok.kind in ("word", "string") else ""
            raise self.error(tok, f"unexpected {tok.text!r}{hint}")
        return node

    def parse_or(self) -> Node:
        nodes = [self.parse_and()]
        while self.peek().is_word("or"):
            self.next()
            nodes.append(self.parse_and())
        return nodes[0] if len(nodes) == 1 else Or(tuple(nodes))

    def parse_and(self) -> Node:
        nodes = [self.parse_unary()]
        while self.peek().is_word("and"):
            self.next()
            nodes.append(self.parse_unary())
        return nodes[0] if len(nodes) == 1 else And(tuple(nodes))

    def parse_unary(self) -> Node:
        tok = self.peek()
        if tok.is_word("not"):
            self.next()
            return Not(self.parse_unary())
        if tok.kind == "punct" and tok.text == "(":
            self.next()
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise self.error(tok, f"too many nested parentheses (at most {MAX_DEPTH})")
            node = self.parse_or()
            close = self.next()
            if close.kind != "punct" or close.text != ")":
                raise FilterError(self.text, tok.column, "unbalanced '(': add a ')'", tok.end)
            self.depth -= 1
            return node
        return self.parse_test()

    def parse_test(self) -> Node:
        tok = self.next()
        if tok.kind == "end":
            raise self.error(tok, "expected a test such as source_namespace = storefront")
        if tok.kind != "word" or tok.text.lower() in ("and", "or"):
            raise self.error(tok, f"expected a field name, got {tok.text!r}")
        self.tests += 1
        if self.tests > MAX_TESTS:
            raise self.error(tok, f"too many tests (at most {MAX_TESTS})")
        field = tok.text
        spec, key = resolve_field(self.text, field, tok.column)
        negate = False
        op_tok = self.next()
        if op_tok.is_word("not"):
            negate = True
            op_tok = self.next()
            if not op_tok.is_word("in", "exists", "contains"):
                raise self.error(op_tok, "expected in, exists or contains after 'not'")
        if op_tok.kind == "op":
            op = op_tok.text
        elif op_tok.is_word(*_OPS):
            op = op_tok.text.lower()
        else:
            got = "the end" if op_tok.kind == "end" else repr(op_tok.text)
            raise self.error(
                op_tok,
                f"expected an operator after {field} (=, !=, <, <=, >, >=, contains, in, exists), got {got}",
            )
        values: list[str] = []
        cols: list[int] = []
        if op == "has":
            if spec.kind not in ("labels", "either", "list") or key is not None:
                raise self.error(op_tok, "'has' tests a labels field: source_labels has fw-zone")
            v = self.value()
            if spec.kind == "list":
                op, values, cols = "=", [v.text], [v.column]
            else:
                field, op = f"{field}.{v.text}", "exists"
                spec, key = resolve_field(self.text, field, tok.column)
        elif op == "in":
            open_ = self.next()
            if open_.kind != "punct" or open_.text != "(":
                raise self.error(open_, "expected '(' after in: dest_port in (80, 443)")
            while True:
                v = self.value()
                values.append(v.text)
                cols.append(v.column)
                sep = self.next()
                if sep.kind == "punct" and sep.text == ")":
                    break
                if sep.kind != "punct" or sep.text != ",":
                    raise self.error(sep, "expected ',' or ')' in the value list")
        elif op != "exists":
            v = self.value()
            values, cols = [v.text], [v.column]
        end = self.tokens[self.i - 1].end
        test = Test(field, op, tuple(values), tok.column, end, tuple(cols))
        from desktopviz.core.filterlang_sql import check_test

        check_test(self.text, test, spec, key)
        return Not(test) if negate else test

    def value(self) -> Token:
        tok = self.next()
        if tok.kind in ("string", "word"):
            return tok
        got = "the end" if tok.kind == "end" else repr(tok.text)
        raise self.error(tok, f"expected a value, got {got}")


@lru_cache(maxsize=256)
def parse_filter(text: str) -> Node | None:
    """The syntax tree of a filter (None for an empty one); FilterError if it is not valid."""
    if len(text) > MAX_LENGTH:
        raise FilterError(text, MAX_LENGTH, f"filter too long ({len(text)} characters; at most {MAX_LENGTH})")
    if not text.strip():
        return None
    return _Parser(text).parse()


def validate(text: str) -> FilterError | None:
    """The error of a filter as typed, or None when it is valid (for the query bar)."""
    try:
        parse_filter(text)
    except FilterError as exc:
        return exc
    return None


@dataclass(frozen=True)
class SqlFilter:
    """A parameterised SQL condition over flow_logs ("" = every row)."""

    sql: str
    params: tuple[Any, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.sql)


def compile_filter(text: str, *, now: int | None = None) -> SqlFilter:
    """Compile filter text to SQL. ``now`` anchors relative times (default: wall clock; the
    views pass the newest end_time in the store)."""
    import time

    from desktopviz.core.filterlang_sql import compile_node

    node = parse_filter(text)
    if node is None:
        return SqlFilter("")
    sql, params = compile_node(text, node, int(time.time()) if now is None else int(now))
    return SqlFilter(sql, tuple(params))


def term(field: str, value: Any, *, negate: bool = False) -> str:
    """Filter text testing one field's value (as "Filter for value" builds it). None means the
    field is missing: ``not field exists``."""
    if value is None:
        return f"{'' if negate else 'not '}{field} exists"
    text = f"{field} = {quote(str(value))}"
    return f"not {text}" if negate else text


def combine(parts: Iterable[str], op: str = "and") -> str:
    """Join filters with and/or, each in parentheses when it has more than one test."""
    items = [p.strip() for p in parts if p and p.strip()]
    if len(items) <= 1:
        return items[0] if items else ""
    out = []
    for p in items:
        node = parse_filter(p)
        out.append(p if isinstance(node, Test | Not) else f"({p})")
    return f" {op} ".join(out)


def canonical(text: str) -> str:
    """The filter in canonical form (normalised spacing, quoting and keyword case)."""
    node = parse_filter(text)
    return "" if node is None else str(node)
