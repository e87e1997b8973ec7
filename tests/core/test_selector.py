"""Calico selector language, written from calico.md §3 (tokens, grammar, meaning, invalid forms)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from desktopviz.core.selector import Selector, SelectorError, parse_selector


def matches(text: str, labels: dict[str, str]) -> bool:
    return parse_selector(text).matches(labels)


# ---------------------------------------------------------------- §3.3 meaning of each operator


@pytest.mark.parametrize(
    ("text", "labels", "expected"),
    [
        ("k == 'v'", {"k": "v"}, True),
        ("k == 'v'", {"k": "w"}, False),
        ("k == 'v'", {}, False),
        ("k == 'v'", {"other": "v"}, False),
        ("k != 'v'", {"k": "v"}, False),
        ("k != 'v'", {"k": "w"}, True),
        ("k != 'v'", {}, True),  # absent label: != is true
        ("k in {'a', 'b'}", {"k": "a"}, True),
        ("k in {'a', 'b'}", {"k": "b"}, True),
        ("k in {'a', 'b'}", {"k": "c"}, False),
        ("k in {'a', 'b'}", {}, False),
        ("k in {}", {"k": ""}, False),
        ("k not in {'a', 'b'}", {"k": "a"}, False),
        ("k not in {'a', 'b'}", {"k": "c"}, True),
        ("k not in {'a', 'b'}", {}, True),  # absent label: not in is true
        ("k not in {}", {}, True),
        ("k not in {}", {"k": "a"}, True),
        ("has(k)", {"k": ""}, True),
        ("has(k)", {"k": "x"}, True),
        ("has(k)", {"j": "x"}, False),
        ("k contains 'ell'", {"k": "hello"}, True),
        ("k contains 'ell'", {"k": "help"}, False),
        ("k contains 'ell'", {}, False),
        ("k contains ''", {"k": ""}, True),
        ("k contains ''", {}, False),
        ("k starts with 'pro'", {"k": "prod"}, True),
        ("k starts with 'pro'", {"k": "reprod"}, False),
        ("k starts with 'pro'", {}, False),
        ("k starts with ''", {}, False),
        ("k starts with ''", {"k": "x"}, True),
        ("k ends with 'od'", {"k": "prod"}, True),
        ("k ends with 'od'", {"k": "odd"}, False),
        ("k ends with 'od'", {}, False),
        ("k ends with ''", {}, False),
        ("k == ''", {"k": ""}, True),
        ("k == ''", {}, False),
        ("k != ''", {}, True),
        ("k != ''", {"k": ""}, False),
        ("all()", {}, True),
        ("all()", {"a": "b"}, True),
        ("global()", {}, True),
        ("global()", {"a": "b"}, True),
        ("", {}, True),
        ("", {"a": "b"}, True),
        (" \t ", {"a": "b"}, True),
        ("k == 'a' && j == 'b'", {"k": "a", "j": "b"}, True),
        ("k == 'a' && j == 'b'", {"k": "a"}, False),
        ("k == 'a' || j == 'b'", {"j": "b"}, True),
        ("k == 'a' || j == 'b'", {"j": "c"}, False),
        ("!has(k)", {}, True),
        ("!has(k)", {"k": "x"}, False),
        ("!(k == 'a' || j == 'b')", {"j": "b"}, False),
        ("!(k == 'a' || j == 'b')", {"x": "b"}, True),
    ],
)
def test_operator_meaning(text: str, labels: dict[str, str], expected: bool) -> None:
    assert matches(text, labels) is expected


def test_labels_may_be_any_mapping() -> None:
    from types import MappingProxyType

    assert parse_selector("a == 'b' && has(c)").matches(MappingProxyType({"a": "b", "c": ""}))


# ---------------------------------------------------------------- §3.2 precedence and negation

DOCS_EXAMPLE = "! has(my-label) || my-label starts with 'prod' && role in {'frontend','business'}"
DOCS_EXPLICIT = "(!has(my-label)) || ((my-label starts with 'prod') && (role in {'frontend','business'}))"
DOCS_WRONG = "(!has(my-label) || my-label starts with 'prod') && role in {'frontend','business'}"


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ({}, True),  # no my-label: the left of || holds
        ({"role": "db"}, True),
        ({"my-label": "prod-eu", "role": "frontend"}, True),
        ({"my-label": "prod-eu", "role": "business"}, True),
        ({"my-label": "prod-eu", "role": "db"}, False),
        ({"my-label": "prod-eu"}, False),
        ({"my-label": "dev", "role": "frontend"}, False),
    ],
)
def test_docs_precedence_example(labels: dict[str, str], expected: bool) -> None:
    assert matches(DOCS_EXAMPLE, labels) is expected
    assert matches(DOCS_EXPLICIT, labels) is expected


def test_docs_example_is_not_left_to_right() -> None:
    # The two groupings differ on an endpoint without my-label and with another role.
    assert matches(DOCS_EXAMPLE, {"role": "db"}) is True
    assert matches(DOCS_WRONG, {"role": "db"}) is False
    assert str(parse_selector(DOCS_EXAMPLE)) == str(parse_selector(DOCS_EXPLICIT))


def test_and_binds_tighter_than_or() -> None:
    # a || b && c  ==  a || (b && c)
    assert matches("a == '1' || b == '1' && c == '1'", {"a": "1"}) is True
    assert matches("(a == '1' || b == '1') && c == '1'", {"a": "1"}) is False


def test_not_binds_tighter_than_and() -> None:
    # !a == '1' && b == '1'  ==  (!(a == '1')) && b == '1'
    assert matches("!a == '1' && b == '1'", {"b": "1"}) is True
    assert matches("!a == '1' && b == '1'", {"a": "1", "b": "1"}) is False
    assert matches("!(a == '1' && b == '1')", {"a": "2"}) is True


@pytest.mark.parametrize("count", range(6))
@pytest.mark.parametrize("sep", ["", " ", "\t"])
def test_any_number_of_leading_nots(count: int, sep: str) -> None:
    text = sep.join(["!"] * count) + sep + "has(a)"
    odd = count % 2 == 1
    assert matches(text, {"a": "x"}) is not odd
    assert matches(text, {}) is odd


def test_parentheses_nest() -> None:
    assert matches("((((a == 'x'))))", {"a": "x"})
    assert matches("!(!(a == 'x') || !(b == 'y'))", {"a": "x", "b": "y"})
    assert not matches("!(!(a == 'x') || !(b == 'y'))", {"a": "x"})


# ---------------------------------------------------------------- §3.1 tokens: quotes, words, spaces


@pytest.mark.parametrize(
    ("text", "labels"),
    [
        ('k == "v"', {"k": "v"}),
        ("k == 'v'", {"k": "v"}),
        ('k == "it\'s"', {"k": "it's"}),
        ("k == 'say \"hi\"'", {"k": 'say "hi"'}),
        ("k == ''", {"k": ""}),
        ('k == ""', {"k": ""}),
        ("k in {\"'\", '\"', 'c'}", {"k": "'"}),
        ("k in {\"'\", '\"', 'c'}", {"k": '"'}),
        ("k == 'a b && c'", {"k": "a b && c"}),
        ("k == '(x)'", {"k": "(x)"}),
    ],
)
def test_quoting(text: str, labels: dict[str, str]) -> None:
    sel = parse_selector(text)
    assert sel.matches(labels)
    assert parse_selector(str(sel)).matches(labels)


@pytest.mark.parametrize(
    ("joined", "spaced"),
    [
        ("k startswith 'p'", "k starts with 'p'"),
        ("k endswith 'p'", "k ends with 'p'"),
        ("k notin {'p'}", "k not in {'p'}"),
        ("k starts   with 'p'", "k starts with 'p'"),
        ("k not\tin {'p'}", "k not in {'p'}"),
        ("k ends\t with 'p'", "k ends with 'p'"),
    ],
)
def test_joined_and_spaced_spellings_mean_the_same(joined: str, spaced: str) -> None:
    assert str(parse_selector(joined)) == str(parse_selector(spaced))
    for value in ("p", "px", "xp", "x"):
        assert matches(joined, {"k": value}) == matches(spaced, {"k": value})
    assert matches(joined, {}) == matches(spaced, {})


@pytest.mark.parametrize(
    "text",
    [
        "k in{'a'}",
        "k notin{'b'}",
        "k contains'a'",
        'k startswith"a"',
        'k=="a"',
        "k!='b'",
        "has(k)&&k=='a'",
        "(k=='a')||has(z)",
        "\tk == 'a'\t",
        "has( k )",
        "has(\tk\t)",
        "all( )",
        "global(\t)",
    ],
)
def test_compact_and_tab_spacing_is_accepted(text: str) -> None:
    assert matches(text, {"k": "a"})


@pytest.mark.parametrize("name", ["in", "not", "contains", "starts", "has", "all", "global", "index"])
def test_word_operators_are_labels_where_a_label_is_expected(name: str) -> None:
    assert matches(f"{name} == 'x'", {name: "x"})
    assert matches(f"has({name})", {name: ""})
    assert matches(f"a == 'y' && {name} in {{'x'}}", {"a": "y", name: "x"})


def test_label_characters() -> None:
    key = "example.com/Tier_2-a.b"
    assert matches(f"{key} == 'x'", {key: "x"})
    assert matches("9lives == 'x'", {"9lives": "x"})
    assert matches("-.x/_ == 'x'", {"-.x/_": "x"})


def test_label_limit_is_512_characters() -> None:
    key = "k" * 512
    assert matches(f"{key} == 'v'", {key: "v"})
    assert matches(f"has({key})", {key: "v"})
    with pytest.raises(SelectorError) as err:
        parse_selector("k" * 513 + " == 'v'")
    assert err.value.column == 0
    assert "512" in err.value.message
    with pytest.raises(SelectorError) as err:
        parse_selector("a == 'b' && has(" + "k" * 513 + ")")
    assert err.value.column == 16


def test_values_are_not_length_limited() -> None:
    value = "v" * 2000
    assert matches(f"k == '{value}'", {"k": value})


# ---------------------------------------------------------------- §3.4 invalid selectors, with columns


@pytest.mark.parametrize(
    ("text", "column", "words"),
    [
        # unterminated string: points at the opening quote
        ("k == 'abc", 5, "unterminated"),
        ('k == "abc', 5, "unterminated"),
        ("k == \"abc'", 5, "unterminated"),
        ("k in {'a', 'b}", 11, "unterminated"),
        # single =, & or |
        ("k = 'v'", 2, "=="),
        ("has(a) & has(b)", 7, "&&"),
        ("has(a) | has(b)", 7, "||"),
        ("has(a) &", 7, "&&"),
        # a label not followed by an operator
        ("k", 1, "operator"),
        ("k ", 2, "operator"),
        ("a b", 2, "operator"),
        ("k && has(a)", 2, "operator"),
        ("k 'v'", 2, "operator"),
        ("k inx {'a'}", 2, "operator"),
        ("k containsx 'a'", 2, "operator"),
        ("k startswithx 'a'", 2, "operator"),
        ("k starts 'a'", 2, "operator"),
        ("k not {'a'}", 2, "operator"),
        ("k !has(a)", 2, "operator"),
        ("(k)", 2, "operator"),
        # unquoted value
        ("k == v", 5, "string"),
        ("app == frontend", 7, "string"),
        ("k != v", 5, "string"),
        ("k contains v", 11, "string"),
        ("k starts with v", 14, "string"),
        ("k ends with v", 12, "string"),
        ("k ==", 4, "string"),
        ("k == {'v'}", 5, "string"),
        # in / not in without {…}
        ("k in 'a'", 5, "{"),
        ("k not in ('a')", 9, "{"),
        ("k in", 4, "{"),
        # missing } or )
        ("k in {'a'", 9, "}"),
        ("k in {'a' 'b'}", 10, "}"),
        ("k in {'a', ", 11, "}"),
        ("k in {", 6, "}"),
        ("k in {,}", 6, "}"),
        ("(has(a)", 7, ")"),
        ("(has(a) && (has(b))", 19, ")"),
        ("(has(a) has(b))", 8, ")"),
        # has() with an empty or invalid name
        ("has()", 4, "has("),
        ("has( )", 5, "has("),
        ("has(%)", 4, "has("),
        ("has(a b)", 6, ")"),
        ("has(a", 5, ")"),
        # all( / global( without )
        ("all(", 4, "all("),
        ("all(x)", 4, "all("),
        ("global(", 7, "global("),
        ("global(a)", 7, "global("),
        # content after a full expression
        ("has(a) has(b)", 7, "unexpected content at end of selector"),
        ("has(a))", 6, "unexpected content at end of selector"),
        ("all() 'x'", 6, "unexpected content at end of selector"),
        ("k == 'a' k == 'b'", 9, "unexpected content at end of selector"),
        # nothing where a term is expected
        ("!", 1, "end of the selector"),
        ("has(a) &&", 9, "end of the selector"),
        ("has(a) ||", 9, "end of the selector"),
        ("()", 1, "')'"),
        (")", 0, "')'"),
        ("(", 1, "end of the selector"),
        ("'v' == k", 0, "string"),
        ("&& has(a)", 0, "'&&'"),
        ("has(a) && || has(b)", 10, "'||'"),
        # characters outside the language
        ("%", 0, "%"),
        ("k == 'v' && %", 12, "%"),
        ("ké == 'v'", 1, "operator"),
        ("é == 'v'", 0, "é"),
    ],
)
def test_invalid_selectors_raise_with_column(text: str, column: int, words: str) -> None:
    with pytest.raises(SelectorError) as err:
        parse_selector(text)
    assert err.value.column == column, err.value.message
    assert words in err.value.message
    assert f"column {column}" in str(err.value)


@pytest.mark.parametrize(
    ("text", "column"),
    [
        ("k == 'v'\n", 8),
        ("k == 'v' &&\nhas(a)", 11),
        ("k\n== 'v'", 1),
        ("k ==\n'v'", 4),
        ("\nk == 'v'", 0),
        ("has(\na)", 4),
        ("k == 'v'\r\n", 8),
    ],
)
def test_newline_is_not_whitespace(text: str, column: int) -> None:
    with pytest.raises(SelectorError) as err:
        parse_selector(text)
    assert err.value.column == column
    assert "line break" in err.value.message


def test_selector_error_is_a_value_error_with_readable_text() -> None:
    with pytest.raises(ValueError) as err:
        parse_selector("app == frontend")
    assert isinstance(err.value, SelectorError)
    assert str(err.value) == "expected a quoted string after '==' but found 'frontend' at column 7"
    assert err.value.message == "expected a quoted string after '==' but found 'frontend'"
    assert err.value.selector == "app == frontend"


def test_tokenizer_errors_win_over_earlier_grammar_errors() -> None:
    # Calico tokenises the whole text before parsing: the unterminated string is reported.
    with pytest.raises(SelectorError) as err:
        parse_selector("k == v && j == 'x")
    assert err.value.column == 15
    assert "unterminated" in err.value.message


def test_trailing_comma_in_set_is_accepted_as_calico_does() -> None:
    # CAL parser.go: after a ',' the value loop stops at '}', so {'a',} is a valid set.
    assert matches("k in {'a',}", {"k": "a"})
    assert str(parse_selector("k in {'a',}")) == 'k in {"a"}'


# ---------------------------------------------------------------- canonical form, API extras


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("", "all()"),
        (" all() ", "all()"),
        (" (all() )", "all()"),
        ("! (has( b)||! has(a ))", "!(has(b) || !has(a))"),
        ('! (a == "b"&&! c != "d")', '!(a == "b" && !c != "d")'),
        ('a == "\'"', 'a == "\'"'),
        ("a == '\"'", "a == '\"'"),
        ("a startswith '\"'", "a starts with '\"'"),
        ('a endswith "\'"', 'a ends with "\'"'),
        ("a!='\"'", "a != '\"'"),
        ('a in {"z", "z", "x", "y", "x", "a"}', 'a in {"a", "x", "y", "z"}'),
        ("a notin {}", "a not in {}"),
        ("!!has(a)", "has(a)"),
        ("!!!has(a)", "!has(a)"),
        ("!(k == 'v')", '!k == "v"'),
        ("!(!(has(a)))", "has(a)"),
        ("!(!has(a) && has(b))", "!(!has(a) && has(b))"),
        ("has(a) && has(b) || has(c)", "((has(a) && has(b)) || has(c))"),
        ("global()", "global()"),
    ],
)
def test_canonical_form(text: str, canonical: str) -> None:
    sel = parse_selector(text)
    assert str(sel) == canonical
    assert str(parse_selector(canonical)) == canonical


def test_is_all_and_is_global() -> None:
    for text in ("", "  ", "all()", "(all())", "!!all()"):
        assert parse_selector(text).is_all, text
        assert not parse_selector(text).is_global
    assert parse_selector("global()").is_global
    assert parse_selector("( global() )").is_global
    for text in ("all() && has(a)", "!all()", "has(a)", "global() || has(a)"):
        assert not parse_selector(text).is_all, text
        assert not parse_selector(text).is_global, text
    assert parse_selector("global() || has(a)").uses_global
    assert not parse_selector("all()").uses_global


def test_label_keys() -> None:
    sel = parse_selector(
        "app == 'x' && (tier != 'a' || zone in {'z'}) && !has(q) && n not in {} && d contains 'x'"
        " && s starts with 'a' || e ends with 'b' || all() || global()"
    )
    assert sel.label_keys() == {"app", "tier", "zone", "q", "n", "d", "s", "e"}
    assert parse_selector("").label_keys() == frozenset()


def test_parse_is_cached_and_selectors_compare_by_meaning_text() -> None:
    text = "app == 'frontend' && !has(quarantine)"
    assert parse_selector(text) is parse_selector(text)
    assert parse_selector(text) == parse_selector('(app=="frontend")&&!has( quarantine )')
    assert len({parse_selector(text), parse_selector('app == "frontend" && !has(quarantine)')}) == 1
    assert isinstance(parse_selector(text), Selector)


def test_with_prefix_rewrites_every_label() -> None:
    sel = parse_selector("name == 'prod' && !has(x) || t in {'a'}").with_prefix("pcns.")
    assert str(sel) == '((pcns.name == "prod" && !has(pcns.x)) || pcns.t in {"a"})'
    assert sel.matches({"pcns.name": "prod"})
    assert not sel.matches({"name": "prod"})


def test_label_and_value_text_cannot_inject_code() -> None:
    nasty = "__import__('os').system('false')"
    backslash = "\\"
    text = f'k == "{nasty}" || k in {{"{nasty}"}} || k contains "{backslash}" || k == "{backslash}n"'
    sel = parse_selector(text)
    assert sel.matches({"k": nasty})
    assert sel.matches({"k": "a" + backslash + "b"})
    assert sel.matches({"k": backslash + "n"})
    assert not sel.matches({"k": "\n"})
    assert not sel.matches({"k": "n"})


def test_very_deep_nesting_still_matches() -> None:
    depth = 150
    text = "(" * depth + "a == 'x'" + ")" * depth
    assert matches(text, {"a": "x"})
    wide = " && ".join(f"!(k{i} == 'v' || has(j{i}))" for i in range(300))
    assert matches(wide, {"other": "x"})
    assert not matches(wide, {"j7": ""})


# ---------------------------------------------------------------- property: text round trip

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
    if kind == "all":
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
    st.tuples(st.just("all")),
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
    if kind == "all":
        return sp + "all()" + sp
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
