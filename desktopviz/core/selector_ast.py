"""Selector syntax tree, Calico's canonical text form, and compilation to a fast matcher.

The node classes mirror libcalico-go ``parser/ast.go`` (and print the same canonical text);
``compile_matcher`` turns a tree into one Python lambda over the labels mapping, built only
from fixed templates and ``repr()`` of str constants, so label text cannot inject code.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

Matcher = Callable[[Mapping[str, str]], bool]


def quote(value: str) -> str:
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
        return f"{self.key} {self.op} {quote(self.value)}"


@dataclass(frozen=True, slots=True)
class SetOp:
    """``key in {…}`` / ``key not in {…}``; values sorted and de-duplicated like Calico."""

    key: str
    values: tuple[str, ...]
    negated: bool = False

    def __str__(self) -> str:
        op = "not in" if self.negated else "in"
        return f"{self.key} {op} {{{', '.join(quote(v) for v in self.values)}}}"


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
        return canonical(self)


@dataclass(frozen=True, slots=True)
class And:
    operands: tuple[Node, ...]

    def __str__(self) -> str:
        return canonical(self)


@dataclass(frozen=True, slots=True)
class Or:
    operands: tuple[Node, ...]

    def __str__(self) -> str:
        return canonical(self)


Node = LabelOp | SetOp | Has | AllNode | GlobalNode | Not | And | Or


def _render(node: Node, leaf: Callable[[Node], str], negate: tuple[str, str], seps: tuple[str, str]) -> str:
    """Text of a tree, iteratively (no recursion limit): And/Or in parentheses joined by seps."""
    out: list[str] = []
    stack: list[Node | str] = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            out.append(item)
        elif isinstance(item, Not):
            stack.extend((negate[1], item.operand, negate[0]))
        elif isinstance(item, And | Or):
            sep = seps[0] if isinstance(item, And) else seps[1]
            stack.append(")")
            for n, operand in enumerate(reversed(item.operands)):
                stack.append(operand)
                if n < len(item.operands) - 1:
                    stack.append(sep)
            stack.append("(")
        else:
            out.append(leaf(item))
    return "".join(out)


def canonical(node: Node) -> str:
    """Calico's canonical text (ast.go String): `!` glued on, every && / || group parenthesised."""
    return _render(node, str, ("!", ""), (" && ", " || "))


# ---------------------------------------------------------------- compilation


def _leaf_expr(node: Node) -> str:
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
    return "True"  # all(), global()


def python_expr(node: Node) -> str:
    """A Python expression over the labels mapping ``L`` (constants only via repr of str).

    Leaves are comparisons, which bind tighter than ``not`` / ``and`` / ``or``."""
    return _render(node, _leaf_expr, ("(not ", ")"), (" and ", " or "))


def _interpret(node: Node) -> Matcher:
    """Closure-tree matcher (one frame per level): the fallback when Python cannot compile the
    expression (its parser allows only 200 nested parentheses)."""
    if isinstance(node, Not):
        inner = _interpret(node.operand)
        return lambda L: not inner(L)
    if isinstance(node, And | Or):
        parts = tuple(_interpret(o) for o in node.operands)
        want = isinstance(node, Or)  # the operand result that decides the whole node

        def combined(L: Mapping[str, str]) -> bool:
            for part in parts:
                if part(L) is want:
                    return want
            return not want

        return combined
    return eval("lambda L: " + _leaf_expr(node), {"__builtins__": {}})  # a leaf: shallow


def compile_matcher(node: Node) -> Matcher:
    """One lambda over the labels; a closure tree if Python cannot compile something that deep."""
    try:
        return eval("lambda L: " + python_expr(node), {"__builtins__": {}})
    except (SyntaxError, RecursionError, MemoryError):
        return _interpret(node)


def walk(node: Node) -> Iterator[Node]:
    """Every node of the tree (iterative: deep trees are fine)."""
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        if isinstance(n, Not):
            stack.append(n.operand)
        elif isinstance(n, And | Or):
            stack.extend(n.operands)


def prefixed(node: Node, prefix: str) -> Node:
    """The same tree with every label key prefixed (Calico PrefixVisitor)."""
    if isinstance(node, LabelOp):
        return LabelOp(node.op, prefix + node.key, node.value)
    if isinstance(node, SetOp):
        return SetOp(prefix + node.key, node.values, node.negated)
    if isinstance(node, Has):
        return Has(prefix + node.key)
    if isinstance(node, Not):
        return Not(prefixed(node.operand, prefix))
    if isinstance(node, And):
        return And(tuple(prefixed(o, prefix) for o in node.operands))
    if isinstance(node, Or):
        return Or(tuple(prefixed(o, prefix) for o in node.operands))
    return node


def required_values(node: Node) -> dict[str, frozenset[str]]:
    """Necessary conditions: for each key, the only values it may take in a match.

    From ``==`` and ``in`` terms, intersected through ``&&`` and united through ``||`` (a key
    must be constrained in every branch). An empty set means the selector can never match.
    Keys not listed are unconstrained; the policy engine uses this to index selectors.
    """
    if isinstance(node, LabelOp):
        return {node.key: frozenset((node.value,))} if node.op == "==" else {}
    if isinstance(node, SetOp):
        return {} if node.negated else {node.key: frozenset(node.values)}
    if isinstance(node, And):
        out: dict[str, frozenset[str]] = {}
        for operand in node.operands:
            for key, values in required_values(operand).items():
                out[key] = out[key] & values if key in out else values
        return out
    if isinstance(node, Or):
        branches = [required_values(o) for o in node.operands]
        keys = set(branches[0]).intersection(*branches[1:])
        return {k: frozenset().union(*(b[k] for b in branches)) for k in keys}
    return {}
