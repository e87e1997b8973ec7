"""Property test: a selector's canonical text means exactly what the original text means.

Random selector trees over a small label/value alphabet are rendered with random spacing, quote
kinds, joined/spaced spellings and redundant negations; both the parsed text and its str() must
agree with an evaluator written straight from calico.md §3.3.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from desktopviz.core.selector import SelectorError, parse_selector

KEYS = ["a", "b", "c/d"]
VALUES = ["", "x", "xy", "yx", "'", '"', "a b"]


def _quote(value: str, draw_double: bool) -> str:
    if '"' in value:
        return f"'{value}'"
    if "'" in value or draw_double:
        return f'"{value}"'
    return f"'{value}'"


def _reference(node: tuple, labels: dict[str, str]) -> bool:
    """§3.3 table, independent of the implementation."""
    kind = node[0]
    if kind in ("all", "global"):
        return True
    if kind == "has":
        return node[1] in labels
    if kind == "not":
        return not _reference(node[1], labels)
    if kind == "and":
        return all(_reference(n, labels) for n in node[1])
    if kind == "or":
        return any(_reference(n, labels) for n in node[1])
    key = node[1]
    present = key in labels
    value = labels.get(key, "")
    if kind == "in":
        return present and value in node[2]
    if kind == "notin":
        return not present or value not in node[2]
    target = node[2]
    return {
        "==": present and value == target,
        "!=": not present or value != target,
        "contains": present and target in value,
        "starts": present and value.startswith(target),
        "ends": present and value.endswith(target),
    }[kind]


_SPELLING = {
    "==": ["==", " == "],
    "!=": ["!=", " != "],
    "contains": [" contains "],
    "starts": [" starts with ", " startswith ", " starts\twith "],
    "ends": [" ends with ", " endswith "],
    "in": [" in ", " in"],
    "notin": [" not in ", " notin ", " not  in"],
}

_leaf = st.one_of(
    st.tuples(st.sampled_from(["all", "global"])),
    st.tuples(st.just("has"), st.sampled_from(KEYS)),
    st.tuples(
        st.sampled_from(["==", "!=", "contains", "starts", "ends"]),
        st.sampled_from(KEYS),
        st.sampled_from(VALUES),
    ),
    st.tuples(
        st.sampled_from(["in", "notin"]),
        st.sampled_from(KEYS),
        st.frozensets(st.sampled_from(VALUES), max_size=3),
    ),
)
_tree = st.recursive(
    _leaf,
    lambda kids: st.one_of(
        st.tuples(st.just("not"), kids),
        st.tuples(st.sampled_from(["and", "or"]), st.lists(kids, min_size=2, max_size=3).map(tuple)),
    ),
    max_leaves=8,
)


@st.composite
def _rendered(draw: st.DrawFn, node: tuple) -> str:
    """Selector text for a tree, with random spacing, quotes and spellings (parenthesised groups)."""
    kind = node[0]
    sp = draw(st.sampled_from(["", " ", "\t", "  "]))
    if kind in ("all", "global"):
        return f"{sp}{kind}({sp}){sp}"
    if kind == "has":
        return f"{sp}has({sp}{node[1]}{sp}){sp}"
    if kind == "not":
        bangs = draw(st.sampled_from(["!", "!!!", "! ! !"]))
        return f"{sp}{bangs}({draw(_rendered(node[1]))})"
    if kind in ("and", "or"):
        op = "&&" if kind == "and" else "||"
        return "(" + op.join([draw(_rendered(n)) for n in node[1]]) + ")"
    op = draw(st.sampled_from(_SPELLING[kind]))
    if kind in ("in", "notin"):
        items = ",".join(_quote(v, draw(st.booleans())) for v in sorted(node[2]))
        return f"{sp}{node[1]}{op}{{{items}}}{sp}"
    return f"{sp}{node[1]}{op}{_quote(node[2], draw(st.booleans()))}{sp}"


_label_sets = st.lists(
    st.dictionaries(st.sampled_from(KEYS), st.sampled_from(VALUES), max_size=3), min_size=8, max_size=8
)


@settings(max_examples=300, deadline=None)
@given(data=st.data(), tree=_tree, label_sets=_label_sets)
def test_round_trip_preserves_meaning(data: st.DataObject, tree: tuple, label_sets: list) -> None:
    text = data.draw(_rendered(tree))
    sel = parse_selector(text)
    again = parse_selector(str(sel))
    assert str(again) == str(sel)
    for labels in label_sets:
        expected = _reference(tree, labels)
        assert sel.matches(labels) is expected, (text, labels)
        assert again.matches(labels) is expected, (str(sel), labels)


_FUZZ_PIECES = [
    *"ab/-. \t\n'\"(){},=!&|%",
    "has(",
    "all()",
    "global()",
    " in ",
    " not in ",
    " == ",
    " contains ",
]


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(_FUZZ_PIECES), max_size=25))
def test_any_text_parses_or_raises_selector_error(pieces: list[str]) -> None:
    text = "".join(pieces)
    try:
        sel = parse_selector(text)
    except SelectorError as err:
        assert 0 <= err.column <= len(text)
        assert err.message
        return
    assert str(parse_selector(str(sel))) == str(sel)
