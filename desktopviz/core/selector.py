"""Calico's label-selector language: parse, canonicalise and match (reference calico.md §3).

Follows libcalico-go's tokenizer/parser exactly (whole input tokenised first, so a tokenizer
error wins over an earlier grammar error, as in Calico), adding the 0-based column of every
error. Parsed selectors are compiled once into a Python lambda over the labels mapping and
cached by text, because the policy engine matches the same few selectors millions of times.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass

MAX_LABEL_LENGTH = 512
_IDENT_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./-")
_WHITESPACE = " \t"

# Token kinds.
LABEL, STRING, LBRACE, RBRACE, COMMA, EQ, NE, IN, NOTIN = "label string { } , == != in notin".split()
CONTAINS, STARTS, ENDS, NOT, AND, OR, LPAREN, RPAREN = "contains startswith endswith ! && || ( )".split()
HAS_FN, ALL_FN, GLOBAL_FN, EOF = "has all global eof".split()


class SelectorError(ValueError):
    """An invalid selector: ``.message`` says what is wrong, ``.column`` (0-based) where."""

    def __init__(self, message: str, column: int, selector: str = "") -> None:
        super().__init__(f"{message} at column {column}")
        self.message = message
        self.column = column
        self.selector = selector


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str
    value: str
    start: int
    end: int


# ---------------------------------------------------------------- tokenizer (CAL tokenizer.go)


def _skip_ws(text: str, i: int) -> int:
    while i < len(text) and text[i] in _WHITESPACE:
        i += 1
    return i


def _ident_end(text: str, i: int) -> int:
    while i < len(text) and text[i] in _IDENT_CHARS:
        i += 1
    return i


def _bad_char(text: str, i: int) -> SelectorError:
    ch = text[i]
    if ch in "\r\n":
        return SelectorError(
            "a line break is not allowed in a selector (only spaces and tabs separate tokens)", i, text
        )
    return SelectorError(f"unexpected character {ch!r}", i, text)


def _cut_ident(text: str, i: int, what: str) -> int:
    """End of the identifier at i; errors for an empty or over-long one."""
    end = _ident_end(text, i)
    if end == i:
        if i >= len(text):
            raise SelectorError(f"expected {what} but found the end of the selector", i, text)
        if text[i] in "\r\n":
            raise _bad_char(text, i)
        raise SelectorError(f"expected {what} but found {text[i]!r}", i, text)
    if end - i > MAX_LABEL_LENGTH:
        raise SelectorError(
            f"label {text[i : i + 20]!r}... is {end - i} characters long; the limit is {MAX_LABEL_LENGTH}",
            i,
            text,
        )
    return end


def _word_op(text: str, i: int, words: tuple[str, ...]) -> int:
    """End of a (multi-)word operator at i, or -1; spaces between words optional, boundary after."""
    j = i
    for n, word in enumerate(words):
        if not text.startswith(word, j):
            return -1
        j += len(word)
        if n < len(words) - 1:
            j = _skip_ws(text, j)
    if j < len(text) and text[j] in _IDENT_CHARS:
        return -1
    return j


_WORD_OPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (CONTAINS, ("contains",)),
    (STARTS, ("starts", "with")),
    (ENDS, ("ends", "with")),
    (NOTIN, ("not", "in")),
    (IN, ("in",)),
)
_SIMPLE = {"(": LPAREN, ")": RPAREN, "{": LBRACE, "}": RBRACE, ",": COMMA}
_DOUBLED = {"=": EQ, "&": AND, "|": OR}
_FUNCS = (("all(", ALL_FN), ("global(", GLOBAL_FN))


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i = 0
    n = len(text)
    while True:
        i = _skip_ws(text, i)
        if i >= n:
            tokens.append(_Token(EOF, "", n, n))
            return tokens
        ch = text[i]
        last = tokens[-1].kind if tokens else None
        if ch in _SIMPLE:
            tokens.append(_Token(_SIMPLE[ch], ch, i, i + 1))
            i += 1
        elif ch in "'\"":
            close = text.find(ch, i + 1)
            if close < 0:
                raise SelectorError(f"unterminated string: no closing {ch} for the quote", i, text)
            tokens.append(_Token(STRING, text[i + 1 : close], i, close + 1))
            i = close + 1
        elif ch in _DOUBLED:
            if not text.startswith(ch * 2, i):
                raise SelectorError(f"expected '{ch * 2}' (a single '{ch}' is not an operator)", i, text)
            tokens.append(_Token(_DOUBLED[ch], ch * 2, i, i + 2))
            i += 2
        elif ch == "!":
            if text.startswith("!=", i):
                tokens.append(_Token(NE, "!=", i, i + 2))
                i += 2
            else:
                tokens.append(_Token(NOT, "!", i, i + 1))
                i += 1
        elif last == LABEL:
            for kind, words in _WORD_OPS:
                end = _word_op(text, i, words)
                if end >= 0:
                    tokens.append(_Token(kind, text[i:end], i, end))
                    i = end
                    break
            else:
                if ch in "\r\n":
                    raise _bad_char(text, i)
                found = text[i : max(_ident_end(text, i), i + 1)]
                raise SelectorError(
                    f"expected an operator after label {tokens[-1].value!r} "
                    f"(==, !=, in, not in, contains, starts with, ends with) but found {found!r}",
                    i,
                    text,
                )
        elif text.startswith("has(", i):
            j = _skip_ws(text, i + 4)
            end = _cut_ident(text, j, "a label name inside has(")
            k = _skip_ws(text, end)
            if not text.startswith(")", k):
                raise SelectorError(f"expected ')' to close has({text[j:end]}", k, text)
            tokens.append(_Token(HAS_FN, text[j:end], i, k + 1))
            i = k + 1
        else:
            for prefix, kind in _FUNCS:
                if text.startswith(prefix, i):
                    k = _skip_ws(text, i + len(prefix))
                    if not text.startswith(")", k):
                        raise SelectorError(f"expected ')' after '{prefix}'", k, text)
                    tokens.append(_Token(kind, prefix + ")", i, k + 1))
                    i = k + 1
                    break
            else:
                if ch not in _IDENT_CHARS:
                    raise _bad_char(text, i)
                end = _cut_ident(text, i, "a label")
                tokens.append(_Token(LABEL, text[i:end], i, end))
                i = end


# ---------------------------------------------------------------- AST (CAL ast.go)


def _quote(value: str) -> str:
    if '"' not in value:
        return f'"{value}"'
    if "'" not in value:
        return f"'{value}'"
    raise ValueError(f"a selector string cannot contain both quote kinds: {value!r}")


@dataclass(frozen=True, slots=True)
class LabelOp:
    """``key <op> "value"`` with op one of ==, !=, contains, starts with, ends with."""

    op: str
    key: str
    value: str

    def __str__(self) -> str:
        return f"{self.key} {self.op} {_quote(self.value)}"


@dataclass(frozen=True, slots=True)
class SetOp:
    """``key in {…}`` / ``key not in {…}``; values sorted and de-duplicated like Calico."""

    key: str
    values: tuple[str, ...]
    negated: bool = False

    def __str__(self) -> str:
        op = "not in" if self.negated else "in"
        return f"{self.key} {op} {{{', '.join(_quote(v) for v in self.values)}}}"


@dataclass(frozen=True, slots=True)
class Has:
    key: str

    def __str__(self) -> str:
        return f"has({self.key})"


@dataclass(frozen=True, slots=True)
class AllNode:
    def __str__(self) -> str:
        return "all()"


@dataclass(frozen=True, slots=True)
class GlobalNode:
    def __str__(self) -> str:
        return "global()"


@dataclass(frozen=True, slots=True)
class Not:
    operand: Node

    def __str__(self) -> str:
        return f"!{self.operand}"


@dataclass(frozen=True, slots=True)
class And:
    operands: tuple[Node, ...]

    def __str__(self) -> str:
        return "(" + " && ".join(str(o) for o in self.operands) + ")"


@dataclass(frozen=True, slots=True)
class Or:
    operands: tuple[Node, ...]

    def __str__(self) -> str:
        return "(" + " || ".join(str(o) for o in self.operands) + ")"


Node = LabelOp | SetOp | Has | AllNode | GlobalNode | Not | And | Or

_OP_NAMES = {EQ: "==", NE: "!=", CONTAINS: "contains", STARTS: "starts with", ENDS: "ends with"}


# ---------------------------------------------------------------- parser (CAL parser.go)


def _describe(tok: _Token) -> str:
    if tok.kind == EOF:
        return "the end of the selector"
    if tok.kind == STRING:
        return f"the string {_quote(tok.value)}"
    return f"'{tok.value}'"


class _Parser:
    def __init__(self, text: str, tokens: list[_Token]) -> None:
        self.text = text
        self.toks = tokens
        self.pos = 0

    def error(self, message: str, tok: _Token) -> SelectorError:
        return SelectorError(message, tok.start, self.text)

    def next(self) -> _Token:
        tok = self.toks[self.pos]
        if tok.kind != EOF:
            self.pos += 1
        return tok

    def peek(self) -> _Token:
        return self.toks[self.pos]

    def parse_or(self) -> Node:
        nodes = [self.parse_and()]
        while self.peek().kind == OR:
            self.next()
            nodes.append(self.parse_and())
        return nodes[0] if len(nodes) == 1 else Or(tuple(nodes))

    def parse_and(self) -> Node:
        nodes = [self.parse_op()]
        while self.peek().kind == AND:
            self.next()
            nodes.append(self.parse_op())
        return nodes[0] if len(nodes) == 1 else And(tuple(nodes))

    def parse_op(self) -> Node:
        before = self.toks[self.pos - 1] if self.pos else None
        negated = False
        while self.peek().kind == NOT:
            before = self.next()
            negated = not negated
        tok = self.next()
        node: Node
        if tok.kind == HAS_FN:
            node = Has(tok.value)
        elif tok.kind == ALL_FN:
            node = AllNode()
        elif tok.kind == GLOBAL_FN:
            node = GlobalNode()
        elif tok.kind == LABEL:
            node = self.parse_comparison(tok)
        elif tok.kind == LPAREN:
            node = self.parse_or()
            close = self.next()
            if close.kind != RPAREN:
                raise self.error(
                    f"expected ')' to close the '(' at column {tok.start} but found {_describe(close)}", close
                )
        else:
            after = f" after '{before.value}'" if before is not None else ""
            raise self.error(
                "expected a label comparison, has(), all(), global(), '!' or '('"
                f"{after} but found {_describe(tok)}",
                tok,
            )
        if not negated:
            return node
        # !(!x) is x: collapsing here keeps str() idempotent (Calico would print "!!x").
        return node.operand if isinstance(node, Not) else Not(node)

    def parse_comparison(self, label: _Token) -> Node:
        op = self.next()
        if op.kind in _OP_NAMES:
            value = self.next()
            if value.kind != STRING:
                raise self.error(
                    f"expected a quoted string after '{op.value}' but found {_describe(value)}", value
                )
            return LabelOp(_OP_NAMES[op.kind], label.value, value.value)
        if op.kind in (IN, NOTIN):
            brace = self.next()
            if brace.kind != LBRACE:
                raise self.error(
                    f"expected '{{' to start the set after '{op.value}' but found {_describe(brace)}", brace
                )
            values: set[str] = set()
            while self.peek().kind == STRING:
                values.add(self.next().value)
                if self.peek().kind != COMMA:
                    break
                self.next()
            after_value = self.toks[self.pos - 1].kind == STRING
            close = self.next()
            if close.kind != RBRACE:
                wanted = "',' or '}'" if after_value else "a quoted string or '}'"
                raise self.error(
                    f"expected {wanted} in the set opened at column {brace.start} "
                    f"but found {_describe(close)}",
                    close,
                )
            return SetOp(label.value, tuple(sorted(values)), negated=op.kind == NOTIN)
        raise self.error(
            f"expected an operator after label {label.value!r} "
            f"(==, !=, in, not in, contains, starts with, ends with) but found {_describe(op)}",
            op,
        )


def _parse_tree(text: str) -> Node:
    tokens = _tokenize(text)
    if tokens[0].kind == EOF:
        return AllNode()
    parser = _Parser(text, tokens)
    try:
        root = parser.parse_or()
    except RecursionError:
        raise SelectorError("selector is nested too deeply", 0, text) from None
    rest = parser.peek()
    if rest.kind != EOF:
        raise SelectorError(f"unexpected content at end of selector: {_describe(rest)}", rest.start, text)
    return root


# ---------------------------------------------------------------- compilation


def _expr(node: Node) -> str:
    """A Python expression over the labels mapping ``L`` (constants only via repr of str)."""
    if isinstance(node, LabelOp):
        k, v = repr(node.key), repr(node.value)
        if node.op == "==":
            return f"L.get({k}) == {v}"
        if node.op == "!=":
            return f"L.get({k}) != {v}"
        if not node.value:  # every present value contains / starts / ends with ""
            return f"{k} in L"
        if node.op == "contains":  # a missing label reads as "", which holds no non-empty string
            return f"{v} in L.get({k}, '')"
        method = "startswith" if node.op == "starts with" else "endswith"
        return f"L.get({k}, '').{method}({v})"
    if isinstance(node, SetOp):
        k = repr(node.key)
        if not node.values:
            return "True" if node.negated else "False"
        # CPython folds a set display of constants after `in` into a frozenset constant.
        values = "{" + ", ".join(repr(v) for v in node.values) + "}"
        return f"L.get({k}) {'not in' if node.negated else 'in'} {values}"
    if isinstance(node, Has):
        return f"{node.key!r} in L"
    if isinstance(node, AllNode | GlobalNode):
        return "True"
    if isinstance(node, Not):
        return f"not ({_expr(node.operand)})"
    if isinstance(node, And):
        return "(" + " and ".join(_expr(o) for o in node.operands) + ")"
    return "(" + " or ".join(_expr(o) for o in node.operands) + ")"


def _interpret(node: Node) -> Callable[[Mapping[str, str]], bool]:
    """Closure-tree matcher: the fallback when the expression is too deep for Python's compiler."""
    if isinstance(node, Not):
        inner = _interpret(node.operand)
        return lambda L: not inner(L)
    if isinstance(node, And | Or):
        parts = [_interpret(o) for o in node.operands]
        combine = all if isinstance(node, And) else any
        return lambda L: combine(p(L) for p in parts)
    return eval("lambda L: " + _expr(node), {"__builtins__": {}})  # leaf: shallow and safe


def _compile(node: Node) -> Callable[[Mapping[str, str]], bool]:
    try:
        return eval("lambda L: " + _expr(node), {"__builtins__": {}})
    except (SyntaxError, RecursionError, MemoryError):
        return _interpret(node)


def _walk(node: Node):
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        if isinstance(n, Not):
            stack.append(n.operand)
        elif isinstance(n, And | Or):
            stack.extend(n.operands)


def _prefix(node: Node, prefix: str) -> Node:
    if isinstance(node, LabelOp):
        return LabelOp(node.op, prefix + node.key, node.value)
    if isinstance(node, SetOp):
        return SetOp(prefix + node.key, node.values, node.negated)
    if isinstance(node, Has):
        return Has(prefix + node.key)
    if isinstance(node, Not):
        return Not(_prefix(node.operand, prefix))
    if isinstance(node, And):
        return And(tuple(_prefix(o, prefix) for o in node.operands))
    if isinstance(node, Or):
        return Or(tuple(_prefix(o, prefix) for o in node.operands))
    return node


# ---------------------------------------------------------------- public API


class Selector:
    """A parsed, compiled selector. Immutable; equal (and hashed) by canonical form."""

    def __init__(self, root: Node) -> None:
        self.root = root
        self._canonical = str(root)
        # Instance attribute shadows the method below: one call per match, no wrapper.
        self.matches = _compile(root)  # type: ignore[method-assign]

    def matches(self, labels: Mapping[str, str]) -> bool:
        """True when the labels satisfy the selector (``global()`` is true here, §3.3)."""
        return self.matches(labels)

    @property
    def is_all(self) -> bool:
        """The whole selector is ``all()`` (or empty), with no other term."""
        return isinstance(self.root, AllNode)

    @property
    def is_global(self) -> bool:
        """The whole selector is exactly ``global()`` (special in namespaceSelector, §2.8)."""
        return isinstance(self.root, GlobalNode)

    @property
    def uses_global(self) -> bool:
        """``global()`` appears anywhere (Calico rejects that outside a rule namespaceSelector)."""
        return any(isinstance(n, GlobalNode) for n in _walk(self.root))

    def label_keys(self) -> frozenset[str]:
        """The label keys this selector reads."""
        return frozenset(n.key for n in _walk(self.root) if isinstance(n, LabelOp | SetOp | Has))

    def with_prefix(self, prefix: str) -> Selector:
        """The same selector over prefixed keys (Calico's ``pcns.`` / ``pcsa.`` rewriting, §2.8)."""
        return Selector(_prefix(self.root, prefix))

    def __str__(self) -> str:
        return self._canonical

    def __repr__(self) -> str:
        return f"Selector({self._canonical!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Selector) and other._canonical == self._canonical

    def __hash__(self) -> int:
        return hash(self._canonical)


@functools.lru_cache(maxsize=16384)
def parse_selector(text: str) -> Selector:
    """Parse a Calico selector (cached by text); raises SelectorError with the column."""
    if not isinstance(text, str):
        raise TypeError(f"selector must be a string, not {type(text).__name__}")
    return Selector(_parse_tree(text))


ALL = parse_selector("all()")

__all__ = [
    "ALL",
    "MAX_LABEL_LENGTH",
    "Selector",
    "SelectorError",
    "parse_selector",
]
