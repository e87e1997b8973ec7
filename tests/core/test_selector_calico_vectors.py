"""Calico's own selector test vectors, run through our parser, matcher and canonical form.

The tables below are transcribed (data only) from projectcalico/calico, libcalico-go/lib/selector/:

* ``parser/parser_test.go`` @ 036c024ded8ce5abc339c8f456532678a5afe114 (selectorTests, badSelectors,
  canonicalisationTests with UIDs, Visitor table); the tables are identical at 1ba3b1444d5d.
* ``parser/label_restriction_test.go`` @ 036c024ded8c (selectors, and the value restrictions, checked
  against our ``required_values``).
* ``parser/stringset_test.go`` @ 1ee247493e23 (set membership and de-duplication, as ``in {…}``).
* ``selector_benchmarks_test.go`` @ 088f0fd0939929dd393d007e008052984f41c0d8 (the benchmark selector).

The tokenizer's vectors are in test_selector_calico_tokens.py; cases derived from Calico's code
rather than its tests in test_selector_calico_derived.py.
"""

from __future__ import annotations

import base64
import hashlib

import pytest

from desktopviz.core.selector import Selector, SelectorError, parse_selector

Labels = dict[str, str]

# ---------------------------------------------------------------- parser_test.go: selectorTests
# (selector, labels that must match, labels that must not match)

SELECTOR_TESTS: list[tuple[str, list[Labels], list[Labels]]] = [
    ('a == "b"', [{"a": "b"}, {"a": "b", "c": "d"}], [{}, {"a": "c"}, {"c": "d"}]),
    (
        'a == "b" && c == "d"',
        [{"a": "b", "c": "d"}],
        [{}, {"a": "b", "c": "e"}, {"a": "c", "c": "d"}, {"c": "d"}, {"a": "b"}],
    ),
    (
        'a == "b" || c == "d"',
        [{"a": "b", "c": "d"}, {"a": "b"}, {"c": "d"}],
        [{}, {"a": "e", "c": "e"}, {"c": "e"}, {"a": "e"}],
    ),
    ('a in {"\'", \'"\', "c"}', [{"a": "c"}, {"a": '"'}, {"a": "'"}], [{}, {"a": "e"}]),
    ('a not in {"\'", \'"\', "c"}', [{}, {"a": "e"}], [{"a": "c"}, {"a": '"'}, {"a": "'"}]),
    ("a == 'a'", [{"a": "a"}], []),
    ('a == "a"', [{"a": "a"}], []),
    ('a != "b"', [{"a": "a"}], []),
    ('a != "a"', [{}], []),
    (
        'a contains "a"',
        [{"a": "a"}, {"a": "bab"}, {"a": "aaa", "b": "c"}],
        [{}, {"a": "b"}, {"b": "aaa"}],
    ),
    (
        'a starts with "a"',
        [{"a": "a"}, {"a": "abb"}, {"a": "aaa", "b": "c"}],
        [{}, {"a": "b"}, {"a": "baa"}, {"b": "aaa"}],
    ),
    (
        'a ends with "a"',
        [{"a": "a"}, {"a": "bba"}, {"a": "aaa", "b": "c"}],
        [{}, {"a": "b"}, {"a": "aab"}, {"b": "aaa"}],
    ),
    ('a in {"a"}', [{"a": "a"}], []),
    ('!a in {"a"}', [{"a": "b"}], []),
    ('a in {"a", "b"}', [{"a": "a"}], []),
    ('a in {"a", "b"}', [{"a": "b"}], []),
    ('a not in {"d", "e"}', [{"a": "a"}], []),
    ("has(a)", [{"a": "b"}], []),
    ("!has(a)", [{"b": "b"}], []),
    ("", [{}], []),
    (" ", [{}], []),
    ("", [{"a": "b"}], []),
    ("all()", [{}], []),
    (" all()", [{}], []),
    (" all()", [{"a": "b"}], []),
    ("global()", [{}], []),
    (" global()", [{}], []),
    (" global()", [{"a": "b"}], []),
    ("a == 'a'", [], [{"a": "b"}]),
    ("a == 'a'", [], [{}]),
    ('a != "a"', [], [{"a": "a"}]),
    ("a != 'a'", [], [{"a": "a"}]),
    ('a in {"a"}', [], [{"a": "b"}]),
    ('a not in {"a"}', [], [{"a": "a"}]),
    ('a in {"a", "b"}', [], [{"a": "c"}]),
    ("has(b)", [], [{"a": "b"}]),
    ("!!has(b)", [], [{"a": "b"}]),
    ("! has(a)", [], [{"a": "b"}]),
    ("!has(a)", [], [{"a": "b"}]),
    ("!!! has(a)", [], [{"a": "b"}]),
    ("!!!has(a)", [], [{"a": "b"}]),
    ("!! ! has(a)", [], [{"a": "b"}]),
    ("! !!has(a)", [], [{"a": "b"}]),
    # Boolean expressions
    ("a == 'a1' && b == 'b1'", [{"a": "a1", "b": "b1"}], []),
    ("a == 'a1' && b != 'b1'", [], [{"a": "a1", "b": "b1"}]),
    ("a != 'a1' && b == 'b1'", [], [{"a": "a1", "b": "b1"}]),
    ("a != 'a1' && b != 'b1'", [], [{"a": "a1", "b": "b1"}]),
    ("a != 'a1' && !b == 'b1'", [], [{"a": "a1", "b": "b1"}]),
    ("!a == 'a1' && b == 'b1'", [], [{"a": "a1", "b": "b1"}]),
    ("has(a) && !has(b)", [{"a": "a"}], []),
    ("!has(b) && has(a)", [{"a": "a"}], []),
    ("!(!has(a) || has(b))", [{"a": "a"}], []),
    ("!(has(b) || !has(a))", [{"a": "a"}], []),
    ("a == 'a1' || b == 'b1'", [{"a": "a1", "b": "b1"}], []),
    ("a == 'a1' || b != 'b1'", [{"a": "a1", "b": "b1"}], []),
    ("a != 'a1' || b == 'b1'", [{"a": "a1", "b": "b1"}], []),
    ("a != 'a1' || b != 'b1'", [], [{"a": "a1", "b": "b1"}]),
    ("! a == 'a1' || ! b == 'b1'", [], [{"a": "a1", "b": "b1"}]),
]

MATCH_VECTORS: list[tuple[str, Labels, bool]] = [
    (sel, labels, expected)
    for sel, good, bad in SELECTOR_TESTS
    for labels, expected in [(g, True) for g in good] + [(b, False) for b in bad]
]


@pytest.mark.parametrize(("text", "labels", "expected"), MATCH_VECTORS)
def test_parser_match_vectors(text: str, labels: Labels, expected: bool) -> None:
    sel = parse_selector(text)
    assert sel.matches(labels) is expected
    # Calico also checks the same result after re-parsing the canonical String().
    assert parse_selector(str(sel)).matches(labels) is expected


# ---------------------------------------------------------------- parser_test.go: badSelectors

BAD_SELECTORS = [
    "b == b",  # label == label
    "b contains b",  # label contains label
    "b starts with b",
    "b ends with b",
    "'b1' == b",  # literal on lhs
    "b",  # bare label
    "a b",
    "!",
    'foo == "bar" &',
    'foo == "bar" |',
    "foo != ||",
    'foo in {"", ||',
    'foo in ""',  # expect set literal
    '"FOO',  # unterminated strings
    "\"FOO'",
    "'FOO",
    "(",  # unterminated parens
    '(a == "foo"',
    ")",
    "()",
    "%",  # unexpected char
    'a == "b" && %',
    'a == "b" || %',
    "a ",  # should be followed by operator
    "has(foo) &&",
]


@pytest.mark.parametrize("text", BAD_SELECTORS)
def test_parser_bad_selectors_raise_selector_error(text: str) -> None:
    with pytest.raises(SelectorError):
        parse_selector(text)


# ---------------------------------------------------------------- parser_test.go: canonicalisationTests
# (input, canonical String(), UniqueID or "" where Calico gives none)

CANONICALISATION_TESTS = [
    ("", "all()", "s:5y5I3VdRZfDU01O--xXAPx2yxCQQqMf0M6IWug"),
    (" all() ", "all()", "s:5y5I3VdRZfDU01O--xXAPx2yxCQQqMf0M6IWug"),
    (" (all() )", "all()", "s:5y5I3VdRZfDU01O--xXAPx2yxCQQqMf0M6IWug"),
    ("! (has( b)||! has(a ))", "!(has(b) || !has(a))", "s:Iss0uCleLYv1GSv_pNm7hAO58kE9jAx1NKyG3Q"),
    ('! (a == "b"&&! c != "d")', '!(a == "b" && !c != "d")', "s:lh3haoY1ikTRkd4UZu0nWSaIBknYLPJLX16d-w"),
    ('a == "\'"', 'a == "\'"', ""),
    ("a == '\"'", "a == '\"'", ""),
    ("a contains '\"'", "a contains '\"'", ""),
    ('a contains "\'"', 'a contains "\'"', ""),
    ("a startswith '\"'", "a starts with '\"'", ""),
    ('a endswith "\'"', 'a ends with "\'"', ""),
    ("a!='\"'", "a != '\"'", ""),
    # Set items get sorted / de-duplicated.
    ('a in {"d"}', 'a in {"d"}', ""),
    ('a in {"a", "b"}', 'a in {"a", "b"}', ""),
    ('a in {"d", "a", "b"}', 'a in {"a", "b", "d"}', ""),
    ('a in {"z", "x", "y", "a"}', 'a in {"a", "x", "y", "z"}', ""),
    ('a in {"z", "z", "x", "y", "x", "a"}', 'a in {"a", "x", "y", "z"}', ""),
]


def calico_unique_id(canonical: str) -> str:
    """Calico's Selector.UniqueID: hash.MakeUniqueID("s", String()) = "s:" + b64url(sha224("s:" + text))."""
    digest = hashlib.sha224(("s:" + canonical).encode()).digest()
    return "s:" + base64.urlsafe_b64encode(digest).decode().rstrip("=")


@pytest.mark.parametrize(("text", "canonical", "uid"), CANONICALISATION_TESTS)
def test_canonical_form_round_trip_and_uid(text: str, canonical: str, uid: str) -> None:
    sel = parse_selector(text)
    assert str(sel) == canonical
    again = parse_selector(canonical)
    assert str(again) == canonical
    assert again == sel
    if uid:
        # The UID is a hash of the canonical text, so this checks it byte for byte.
        assert calico_unique_id(str(sel)) == uid


# ---------------------------------------------------------------- parser_test.go: Visitor table
# PrefixVisitor{Prefix: "visited/"} then String(); ours is Selector.with_prefix.

VISITOR_TESTS = [
    ("k == 'v'", 'visited/k == "v"'),
    ("k != 'v'", 'visited/k != "v"'),
    ("k contains 'v'", 'visited/k contains "v"'),
    ("k starts with 'v'", 'visited/k starts with "v"'),
    ("k ends with 'v'", 'visited/k ends with "v"'),
    ("k == 'v' && x == 'y'", '(visited/k == "v" && visited/x == "y")'),
    ("k == 'v' || has(x)", '(visited/k == "v" || has(visited/x))'),
    ("!(k == 'v')", '!visited/k == "v"'),
    ("k in {'v'}", 'visited/k in {"v"}'),
    ("k not in {'v'}", 'visited/k not in {"v"}'),
    (
        "!(!(k == 'v' && has(t) || all()) && (a in {'b', 'c'}))",
        '!(!((visited/k == "v" && has(visited/t)) || all()) && visited/a in {"b", "c"})',
    ),
]


@pytest.mark.parametrize(("text", "expected"), VISITOR_TESTS)
def test_prefix_visitor_canonical_form(text: str, expected: str) -> None:
    assert str(parse_selector(text).with_prefix("visited/")) == expected


# ---------------------------------------------------------------- label_restriction_test.go
# Calico's MustHaveOneOfValues (None where Calico gives no value restriction) against our
# required_values (keys not listed are unrestricted). Presence-only restrictions have no
# counterpart here; every selector must parse, with and without an "all() && (...)" prefix.

LABEL_RESTRICTION_TESTS: list[tuple[str, dict[str, list[str]]]] = [
    ("", {}),
    ("all()", {}),
    ("global()", {}),
    ("a == 'value'", {"a": ["value"]}),
    ("has(a)", {}),
    ("a in {'v1','v2'}", {"a": ["v1", "v2"]}),
    ("a not in {'v1','v2'}", {}),
    ("a contains 'foo'", {}),
    ("a ends with 'foo'", {}),
    ("a starts with 'foo'", {}),
    ("a != 'value'", {}),
    # AND
    ("a == 'v1' && a == 'v1'", {"a": ["v1"]}),
    ("a == 'v1' && a == 'v2'", {"a": []}),
    ("a == 'v1' && has(a)", {"a": ["v1"]}),
    ("a in {'v1','v2'} && a in {'v2','v3'} ", {"a": ["v2"]}),
    ("a in {'v1','v2', 'v3'} && a in {'v2','v3'} ", {"a": ["v2", "v3"]}),
    ("has(a) && a == 'v1'", {"a": ["v1"]}),
    ("has(a) && !has(a)", {}),
    ("a == 'v1' && b == 'v2'", {"a": ["v1"], "b": ["v2"]}),
    ("a == 'v1' && all()", {"a": ["v1"]}),
    ("all() && a == 'v1'", {"a": ["v1"]}),
    # OR
    ("a == 'v1' || a == 'v2'", {"a": ["v1", "v2"]}),
    ("has(a) || a == 'v2'", {}),
    ("a=='v2' || has(a)", {}),
    ("a=='v2' || has(b)", {}),
    ("a=='v2' || (has(b) && has(a))", {}),
    ("a == 'v1' || b == 'v2'", {}),
    ("a == 'v1' || all()", {}),
    ("all() || b == 'v2'", {}),
    # NOT
    ("!(a == 'value')", {}),
    ("!has(a)", {}),
    ("!!has(a)", {}),
]


@pytest.mark.parametrize(("text", "values"), LABEL_RESTRICTION_TESTS)
def test_label_restriction_values(text: str, values: dict[str, list[str]]) -> None:
    expected = {k: frozenset(v) for k, v in values.items()}
    assert parse_selector(text).required_values() == expected
    if text:
        assert parse_selector(f"all() && ({text})").required_values() == expected


# ---------------------------------------------------------------- stringset_test.go, as `k in {…}`

STRING_SETS: list[list[str]] = [
    [],
    ["a"],
    ["a", "b"],
    ["a", "b", "c"],
    ["a", "b", "c", "d"],
    ["foo", "bar", "baz", "baz"],
    ["foo", "foo", "baz", "baz"],
]


def _set_selector(values: list[str], op: str = "in") -> Selector:
    return parse_selector(f"k {op} {{{', '.join(repr(v) for v in values)}}}")


@pytest.mark.parametrize("values", STRING_SETS)
def test_string_set_membership(values: list[str]) -> None:
    sel, neg = _set_selector(values), _set_selector(values, "not in")
    for v in values:
        assert sel.matches({"k": v}) and not neg.matches({"k": v})
        assert not sel.matches({"k": v + "bogus"}) and neg.matches({"k": v + "bogus"})
    assert not sel.matches({}) and neg.matches({})


@pytest.mark.parametrize(
    ("values", "expected"), [([], []), (["a", "b"], ["a", "b"]), (["b", "a", "b", "a"], ["a", "b"])]
)
def test_string_set_dedupe(values: list[str], expected: list[str]) -> None:
    assert str(_set_selector(values)) == "k in {" + ", ".join(f'"{v}"' for v in expected) + "}"


# ---------------------------------------------------------------- selector_benchmarks_test.go


def test_benchmark_selector() -> None:
    sel = parse_selector('! (a == "b"&&! c != "d") || !(a == "b" && !c != "d")')
    assert str(sel) == '(!(a == "b" && !c != "d") || !(a == "b" && !c != "d"))'
    assert sel.matches({}) and sel.matches({"a": "x"}) and sel.matches({"a": "b"})
    assert not sel.matches({"a": "b", "c": "d"})
