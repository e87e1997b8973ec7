"""Calico's label-selector language: parse, canonicalise and match (reference calico.md §3).

Follows libcalico-go's tokenizer/parser exactly (whole input tokenised first, so a tokenizer
error wins over an earlier grammar error, as in Calico), adding the 0-based column of every
error. Parsed selectors are compiled once into a Python lambda over the labels mapping and
cached by text, because the policy engine matches the same few selectors millions of times.
Tokens live in selector_tokenizer.py, the syntax tree and compilation in selector_ast.py.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

from desktopviz.core.selector_ast import (
    AllNode,
    And,
    GlobalNode,
    Has,
    LabelOp,
    Matcher,
    Node,
    Not,
    Or,
    SetOp,
    compile_matcher,
    prefixed,
    quote,
    required_values,
    walk,
)
from desktopviz.core.selector_tokenizer import (
    MAX_LABEL_LENGTH,
    T_ALL_FN,
    T_AND,
    T_COMMA,
    T_CONTAINS,
    T_ENDS,
    T_EOF,
    T_EQ,
    T_GLOBAL_FN,
    T_HAS_FN,
    T_IN,
    T_LABEL,
    T_LBRACE,
    T_LPAREN,
    T_NE,
    T_NOT,
    T_NOTIN,
    T_OR,
    T_RBRACE,
    T_RPAREN,
    T_STARTS,
    T_STRING,
    SelectorError,
    Token,
    tokenize,
)

# ---------------------------------------------------------------- parser (CAL parser.go)

# Calico has no nesting limit; ours keeps every recursive walk of the tree well inside Python's
# stack. Real selectors nest a few levels; 64 is far beyond any written by hand.
MAX_NESTING = 64


def _describe(tok: Token) -> str:
    if tok.kind == T_EOF:
        return "the end of the selector"
    if tok.kind == T_STRING:
        return f"the string {quote(tok.value)}"
    return f"'{tok.value}'"


_OP_NAMES = {
    T_EQ: "==",
    T_NE: "!=",
    T_CONTAINS: "contains",
    T_STARTS: "starts with",
    T_ENDS: "ends with",
}


class _Parser:
    def __init__(self, text: str, tokens: list[Token]) -> None:
        self.text = text
        self.toks = tokens
        self.pos = 0
        self.depth = 0

    def error(self, message: str, tok: Token) -> SelectorError:
        return SelectorError(message, tok.start, self.text)

    def next(self) -> Token:
        tok = self.toks[self.pos]
        if tok.kind != T_EOF:
            self.pos += 1
        return tok

    def peek(self) -> Token:
        return self.toks[self.pos]

    def parse_or(self) -> Node:
        nodes = [self.parse_and()]
        while self.peek().kind == T_OR:
            self.next()
            nodes.append(self.parse_and())
        return nodes[0] if len(nodes) == 1 else Or(tuple(nodes))

    def parse_and(self) -> Node:
        nodes = [self.parse_op()]
        while self.peek().kind == T_AND:
            self.next()
            nodes.append(self.parse_op())
        return nodes[0] if len(nodes) == 1 else And(tuple(nodes))

    def parse_op(self) -> Node:
        before = self.toks[self.pos - 1] if self.pos else None
        negated = False
        while self.peek().kind == T_NOT:
            before = self.next()
            negated = not negated
        tok = self.next()
        node: Node
        if tok.kind == T_HAS_FN:
            node = Has(tok.value)
        elif tok.kind == T_ALL_FN:
            node = AllNode()
        elif tok.kind == T_GLOBAL_FN:
            node = GlobalNode()
        elif tok.kind == T_LABEL:
            node = self.parse_comparison(tok)
        elif tok.kind == T_LPAREN:
            if self.depth >= MAX_NESTING:
                raise self.error(f"parentheses nested more than {MAX_NESTING} deep", tok)
            self.depth += 1
            node = self.parse_or()
            self.depth -= 1
            close = self.next()
            if close.kind != T_RPAREN:
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

    def parse_comparison(self, label: Token) -> Node:
        op = self.next()
        if op.kind in _OP_NAMES:
            value = self.next()
            if value.kind != T_STRING:
                raise self.error(
                    f"expected a quoted string after '{op.value}' but found {_describe(value)}", value
                )
            return LabelOp(_OP_NAMES[op.kind], label.value, value.value)
        if op.kind in (T_IN, T_NOTIN):
            brace = self.next()
            if brace.kind != T_LBRACE:
                raise self.error(
                    f"expected '{{' to start the set after '{op.value}' but found {_describe(brace)}", brace
                )
            values: set[str] = set()
            while self.peek().kind == T_STRING:
                values.add(self.next().value)
                if self.peek().kind != T_COMMA:
                    break
                self.next()
            after_value = self.toks[self.pos - 1].kind == T_STRING
            close = self.next()
            if close.kind != T_RBRACE:
                wanted = "',' or '}'" if after_value else "a quoted string or '}'"
                raise self.error(
                    f"expected {wanted} in the set opened at column {brace.start} "
                    f"but found {_describe(close)}",
                    close,
                )
            return SetOp(label.value, tuple(sorted(values)), negated=op.kind == T_NOTIN)
        raise self.error(
            f"expected an operator after label {label.value!r} "
            f"(==, !=, in, not in, contains, starts with, ends with) but found {_describe(op)}",
            op,
        )


def _parse_tree(text: str) -> Node:
    tokens = tokenize(text)
    if tokens[0].kind == T_EOF:
        return AllNode()
    parser = _Parser(text, tokens)
    root = parser.parse_or()
    rest = parser.peek()
    if rest.kind != T_EOF:
        raise SelectorError(f"unexpected content at end of selector: {_describe(rest)}", rest.start, text)
    return root


# ---------------------------------------------------------------- public API


class Selector:
    """A parsed, compiled selector. Immutable; equal (and hashed) by canonical form."""

    def __init__(self, root: Node) -> None:
        self.root = root
        self._canonical = str(root)
        self._keys = frozenset(n.key for n in walk(root) if isinstance(n, LabelOp | SetOp | Has))
        # Instance attribute shadows the method below: one call per match, no wrapper.
        self.matches: Matcher = compile_matcher(root)  # type: ignore[method-assign]

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
        return any(isinstance(n, GlobalNode) for n in walk(self.root))

    def label_keys(self) -> frozenset[str]:
        """The label keys this selector reads."""
        return self._keys

    def required_values(self) -> dict[str, frozenset[str]]:
        """For indexing: each key a match must carry, with the values it may take (see selector_ast)."""
        return required_values(self.root)

    def with_prefix(self, prefix: str) -> Selector:
        """The same selector over prefixed keys (Calico's ``pcns.`` / ``pcsa.`` rewriting, §2.8)."""
        return Selector(prefixed(self.root, prefix))

    def __str__(self) -> str:
        return self._canonical

    def __repr__(self) -> str:
        return f"Selector({self._canonical!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Selector) and other._canonical == self._canonical

    def __hash__(self) -> int:
        return hash(self._canonical)

    def __reduce__(self) -> tuple[object, tuple[str]]:
        # The compiled lambda does not pickle; the canonical text rebuilds the same selector.
        return (parse_selector, (self._canonical,))

    def __copy__(self) -> Selector:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> Selector:
        return self


@functools.lru_cache(maxsize=16384)
def parse_selector(text: str) -> Selector:
    """Parse a Calico selector (cached by text); raises SelectorError with the column."""
    if not isinstance(text, str):
        raise TypeError(f"selector must be a string, not {type(text).__name__}")
    return Selector(_parse_tree(text))


def all_of(*selectors: Selector) -> Selector:
    """The AND of selectors, as Calico builds ``(<selector>) && <namespace clause>`` (§2.8).

    ``all()`` operands are dropped (they change nothing); with none left the result is ``all()``.
    """
    operands: list[Node] = []
    for sel in selectors:
        root = sel.root
        if isinstance(root, And):
            operands.extend(root.operands)
        elif not isinstance(root, AllNode):
            operands.append(root)
    if not operands:
        return ALL
    return Selector(operands[0] if len(operands) == 1 else And(tuple(operands)))


ALL = parse_selector("all()")

__all__ = [
    "ALL",
    "AllNode",
    "And",
    "GlobalNode",
    "Has",
    "LabelOp",
    "Node",
    "Not",
    "Or",
    "SetOp",
    "MAX_LABEL_LENGTH",
    "MAX_NESTING",
    "Selector",
    "SelectorError",
    "all_of",
    "parse_selector",
]
