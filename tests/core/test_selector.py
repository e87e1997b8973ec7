"""Calico selector language, written from calico.md §3 (tokens, grammar, meaning, invalid forms)."""

from __future__ import annotations

import pytest

from desktopviz.core.selector import (
    ALL,
    MAX_NESTING,
    And,
    Has,
    LabelOp,
    Node,
    Or,
    Selector,
    SelectorError,
    all_of,
    parse_selector,
)


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


@pytest.mark.parametrize(
    ("text", "labels"),
    [
        ('contains contains "contains"', {"contains": "xcontainsy"}),
        ('startswith starts with "v"', {"startswith": "vx"}),
        ('endswith ends with "v"', {"endswith": "xv"}),
        ('notin notin {"a"}', {"notin": "b"}),
        ("in in {'in'}", {"in": "in"}),
        ("a  not  in  {'x'}  &&  ! has( foo )  ||  b  in  {'c'} ", {"b": "c"}),
        ('a notin{"bar"}&&!has(foo)||b in{"c"}', {"a": "z"}),
        ("has(calico/k8s_NS-.1/role)", {"calico/k8s_NS-.1/role": ""}),
    ],
)
def test_calico_tokenizer_cases(text: str, labels: dict[str, str]) -> None:
    assert matches(text, labels)


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


def test_deep_and_wide_selectors_match() -> None:
    text = "(" * MAX_NESTING + "a == 'x'" + ")" * MAX_NESTING
    assert matches(text, {"a": "x"})
    alternating = "has(a)"
    for i in range(MAX_NESTING // 2):  # two parentheses per step
        alternating = f"(!({alternating} && !has(b{i})) || has(c{i}))"
    for labels in ({}, {"a": ""}, {"a": "", "b0": ""}, {"c3": ""}, {"b5": "", "c2": ""}):
        expected = "a" in labels
        for i in range(MAX_NESTING // 2):
            expected = not (expected and f"b{i}" not in labels) or f"c{i}" in labels
        assert matches(alternating, labels) is expected, labels
    wide = " && ".join(f"!(k{i} == 'v' || has(j{i}))" for i in range(300))
    assert matches(wide, {"other": "x"})
    assert not matches(wide, {"j7": ""})


def test_nesting_beyond_the_limit_is_a_selector_error() -> None:
    with pytest.raises(SelectorError) as err:
        parse_selector("(" * (MAX_NESTING + 1) + "has(a)" + ")" * (MAX_NESTING + 1))
    assert err.value.column == MAX_NESTING
    assert "nested" in err.value.message


def test_trees_too_deep_for_python_compile_still_match() -> None:
    # Built directly (the parser stops at MAX_NESTING): exercises the closure fallback.
    root: Node = Has("a")
    for i in range(120):
        root = Or((And((root, Has(f"b{i}"))), LabelOp("==", "z", str(i))))
    sel = Selector(root)
    assert sel.matches({"z": "119"})
    assert not sel.matches({"z": "7"})
    assert sel.matches({"z": "7", **{f"b{i}": "" for i in range(8, 120)}})
    assert sel.matches({"a": "", **{f"b{i}": "" for i in range(120)}})
    assert not sel.matches({"a": "", "b0": ""})


def test_required_values_for_indexing() -> None:
    sel = parse_selector("app == 'web' && tier in {'a', 'b'} && tier != 'a' && !has(q) && zone not in {'x'}")
    assert sel.required_values() == {"app": {"web"}, "tier": {"a", "b"}}
    assert parse_selector("app == 'a' && app in {'b'}").required_values() == {"app": frozenset()}
    either = parse_selector("(app == 'a' && x == '1') || app in {'b', 'c'}")
    assert either.required_values() == {"app": {"a", "b", "c"}}
    assert parse_selector("app == 'a' || has(b)").required_values() == {}
    assert parse_selector("!app == 'a'").required_values() == {}
    assert parse_selector("").required_values() == {}


def test_all_of_ands_selectors_like_calico_namespace_scoping() -> None:
    ns = parse_selector("projectcalico.org/namespace == 'shop'")
    sel = all_of(parse_selector("app == 'web' || app == 'api'"), ns)
    assert str(sel) == '((app == "web" || app == "api") && projectcalico.org/namespace == "shop")'
    assert sel.matches({"app": "api", "projectcalico.org/namespace": "shop"})
    assert not sel.matches({"app": "api", "projectcalico.org/namespace": "dev"})
    assert all_of(ALL, ns) == ns
    assert all_of(ALL, parse_selector("")).is_all
    assert all_of().is_all


def test_selectors_survive_copy_and_pickle() -> None:
    import copy
    import pickle

    sel = parse_selector("app in {'a', 'b'} && !has(q)")
    assert copy.deepcopy(sel) is sel
    again = pickle.loads(pickle.dumps(sel))
    assert again == sel
    assert again.matches({"app": "a"})
