"""Conformance: Calico's selector language, one case per statement of calico.md §3.

§3.1 tokens, §3.2 grammar and precedence, §3.3 meaning of every expression, §3.4 invalid
selectors, §3.5 label keys and values (resource labels are checked with the Kubernetes rules,
selectors accept more). Calico's own test vectors are in test_selector_calico_*.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from desktopviz.core.selector import SelectorError, parse_selector

Labels = dict[str, str]


def matches(text: str, labels: Labels) -> bool:
    return parse_selector(text).matches(labels)


# =============================================================================================
# §3.1 Tokens


@pytest.mark.parametrize("text", ["a == 'x'\t&&\tb == 'y'", "\ta=='x'&&b=='y'  ", "  a   ==   'x' &&b=='y'"])
def test_space_and_tab_are_whitespace(text: str) -> None:
    """§3.1: only space and tab are skipped."""
    assert matches(text, {"a": "x", "b": "y"})
    assert not matches(text, {"a": "x"})


@pytest.mark.parametrize("text", ["a == 'x'\n", "a == 'x' &&\nb == 'y'", "\nall()", "a == 'x'\r\n"])
def test_newline_is_not_whitespace(text: str) -> None:
    """§3.1: newline is not whitespace and gives an error."""
    with pytest.raises(SelectorError):
        parse_selector(text)


@pytest.mark.parametrize("key", ["a", "A_b", "a.b", "example.com/key", "k-1", "-x", "_", "9", "a/b/c"])
def test_label_identifier_characters(key: str) -> None:
    """§3.1: label characters `a-z A-Z 0-9 _ . / -`."""
    assert matches(f"{key} == 'v'", {key: "v"})
    assert matches(f"has({key})", {key: ""})


@pytest.mark.parametrize("text", ["a:b == 'v'", "a@b == 'v'", "a+b == 'v'", "has(a:b)", "ä == 'v'"])
def test_other_characters_are_not_label_characters(text: str) -> None:
    """§3.1: anything outside `a-z A-Z 0-9 _ . / -` is not part of a label."""
    with pytest.raises(SelectorError):
        parse_selector(text)


def test_labels_are_at_most_512_characters() -> None:
    """§3.1 / §3.4: at most 512 characters; longer labels are invalid."""
    ok = "k" * 512
    assert matches(f"{ok} == 'v'", {ok: "v"})
    assert matches(f"has({ok})", {ok: "v"})
    for text in (f"{ok}x == 'v'", f"has({ok}x)"):
        with pytest.raises(SelectorError):
            parse_selector(text)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("a == 'x'", "x"),
        ('a == "x"', "x"),
        ('a == "it\'s"', "it's"),  # the other quote is an ordinary character
        ("a == 'say \"hi\"'", 'say "hi"'),
        ("a == 'back\\'", "back\\"),  # no escapes: the backslash is literal and ends nothing
        ("a == ''", ""),  # value may be empty
        ('a == ""', ""),
        ("a == 'x && y'", "x && y"),  # operators inside strings are text
    ],
)
def test_string_literals(text: str, value: str) -> None:
    """§3.1: `'…'` or `"…"`; ends at the next matching quote; no escapes; may be empty."""
    assert matches(text, {"a": value})
    assert not matches(text, {"a": value + "z"})


def test_empty_value_needs_the_label_present() -> None:
    """§3.1 / §3.3: `k == ''` is "present and equal to the empty string"."""
    assert not matches("a == ''", {})


@pytest.mark.parametrize(
    ("spelling", "canonical"),
    [
        ("a not in {'x'}", "a not in {'x'}"),
        ("a notin {'x'}", "a not in {'x'}"),
        ("a not   in {'x'}", "a not in {'x'}"),
        ("a starts with 'x'", "a starts with 'x'"),
        ("a startswith 'x'", "a starts with 'x'"),
        ("a ends with 'x'", "a ends with 'x'"),
        ("a endswith 'x'", "a ends with 'x'"),
        ("a contains 'x'", "a contains 'x'"),
        ("a in {'x'}", "a in {'x'}"),
    ],
)
def test_word_operator_spellings(spelling: str, canonical: str) -> None:
    """§3.1: `not in` (also `notin`), `starts with` (also `startswith`), `ends with` (also
    `endswith`), `contains`, `in`."""
    assert parse_selector(spelling) == parse_selector(canonical)


@pytest.mark.parametrize("word", ["in", "contains", "starts", "ends", "not", "notin", "has", "all", "global"])
def test_operator_words_are_labels_where_a_label_is_expected(word: str) -> None:
    """§3.1: word operators only count straight after a label; elsewhere they are labels."""
    assert matches(f"{word} == 'v'", {word: "v"})


@pytest.mark.parametrize("text", ["a inx {'b'}", "a containsx 'b'", "a startswithx 'b'", "a notinx {'b'}"])
def test_word_operators_need_a_word_boundary(text: str) -> None:
    """§3.1: word operators only at a word boundary (`inx` is no operator)."""
    with pytest.raises(SelectorError):
        parse_selector(text)


@pytest.mark.parametrize("text", ["has(a)", "has( a )", "has(\ta\t)", "has(  a)"])
def test_has_allows_spaces_inside(text: str) -> None:
    """§3.1: `has(<label>)` (spaces allowed inside)."""
    assert matches(text, {"a": "1"}) and not matches(text, {"b": "1"})


@pytest.mark.parametrize("text", ["all()", "all( )", "global()", "global( )"])
def test_all_and_global_functions(text: str) -> None:
    """§3.1 / §3.3: `all()`, `global()`: always true in plain evaluation."""
    assert matches(text, {}) and matches(text, {"a": "b"})


# =============================================================================================
# §3.2 Grammar and precedence


@pytest.mark.parametrize("text", ["", " ", "\t", "  \t "])
def test_empty_selector_means_all(text: str) -> None:
    """§3.2: an empty selector means `all()`."""
    sel = parse_selector(text)
    assert sel.is_all and sel.matches({}) and sel.matches({"x": "y"})


@pytest.mark.parametrize(("count", "negated"), [(1, True), (2, False), (3, True), (4, False), (7, True)])
def test_leading_nots_collapse(count: int, negated: bool) -> None:
    """§3.2: any number of leading `!` collapse; an even number cancels out."""
    text = "!" * count + "has(a)"
    assert matches(text, {"a": "1"}) is not negated
    assert matches(text, {}) is negated


@pytest.mark.parametrize("text", ["! ! has(a)", "!  !has(a)"])
def test_nots_separated_by_spaces(text: str) -> None:
    """§3.2: `"!"*` then the operand; whitespace between tokens is skipped."""
    assert matches(text, {"a": "1"}) and not matches(text, {})


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ({}, True),  # !has(my-label)
        ({"my-label": "dev"}, False),
        ({"my-label": "prod-1", "role": "frontend"}, True),
        ({"my-label": "prod-1", "role": "business"}, True),
        ({"my-label": "prod-1", "role": "db"}, False),
        ({"my-label": "dev", "role": "frontend"}, False),
        ({"role": "db"}, True),
    ],
)
def test_docs_precedence_example(labels: Labels, expected: bool) -> None:
    """§3.2 DOCS example: `! has(my-label) || my-label starts with 'prod' && role in
    {'frontend','business'}` = `(!has(my-label)) || ((my-label starts with 'prod') && (role in
    {...}))`."""
    text = "! has(my-label) || my-label starts with 'prod' && role in {'frontend','business'}"
    assert matches(text, labels) is expected


@pytest.mark.parametrize(
    ("text", "labels", "expected"),
    [
        ("a == '1' || b == '1' && c == '1'", {"a": "1"}, True),  # && binds tighter than ||
        ("a == '1' || b == '1' && c == '1'", {"b": "1"}, False),
        ("(a == '1' || b == '1') && c == '1'", {"a": "1"}, False),  # parentheses regroup
        ("(a == '1' || b == '1') && c == '1'", {"b": "1", "c": "1"}, True),
        ("!has(a) && has(b)", {"b": "1"}, True),  # ! binds tighter than &&
        ("!has(a) && has(b)", {"a": "1", "b": "1"}, False),
        ("!(has(a) && has(b))", {"a": "1"}, True),
        ("!(has(a) && has(b))", {"a": "1", "b": "1"}, False),
        ("!has(a) || has(b)", {"a": "1"}, False),
        ("((((has(a)))))", {"a": "1"}, True),
        ("has(a) && has(b) && has(c)", {"a": "1", "b": "1"}, False),
        ("has(a) || has(b) || has(c)", {"c": "1"}, True),
    ],
)
def test_precedence_and_parentheses(text: str, labels: Labels, expected: bool) -> None:
    """§3.2: `!` binds tighter than `&&`, which binds tighter than `||`; parentheses group."""
    assert matches(text, labels) is expected


# =============================================================================================
# §3.3 Meaning


@pytest.mark.parametrize(
    ("text", "labels", "expected"),
    [
        ("k == 'v'", {"k": "v"}, True),
        ("k == 'v'", {"k": "w"}, False),
        ("k == 'v'", {}, False),
        ("k != 'v'", {}, True),  # absent
        ("k != 'v'", {"k": "w"}, True),
        ("k != 'v'", {"k": "v"}, False),
        ("k in {'a', 'b'}", {"k": "b"}, True),
        ("k in {'a', 'b'}", {"k": "c"}, False),
        ("k in {'a', 'b'}", {}, False),
        ("k in {}", {"k": "a"}, False),  # empty set: nothing is in it
        ("k not in {'a', 'b'}", {}, True),  # absent
        ("k not in {'a', 'b'}", {"k": "c"}, True),
        ("k not in {'a', 'b'}", {"k": "a"}, False),
        ("k not in {}", {"k": "a"}, True),
        ("has(k)", {"k": ""}, True),  # any value, even empty
        ("has(k)", {"kk": "v"}, False),
        ("!has(k)", {}, True),
        ("k contains 'ell'", {"k": "hello"}, True),
        ("k contains 'ell'", {"k": "help"}, False),
        ("k contains 'ell'", {}, False),
        ("k contains ''", {"k": "x"}, True),
        ("k starts with 'he'", {"k": "hello"}, True),
        ("k starts with 'he'", {"k": "the"}, False),
        ("k starts with 'he'", {}, False),
        ("k ends with 'lo'", {"k": "hello"}, True),
        ("k ends with 'lo'", {"k": "lost"}, False),
        ("k ends with 'lo'", {}, False),
        ("k == 'V'", {"k": "v"}, False),  # values are case-sensitive
        ("K == 'v'", {"k": "v"}, False),  # and keys
    ],
)
def test_meaning_table(text: str, labels: Labels, expected: bool) -> None:
    """§3.3 (CAL ast.go): `==` present and equal; `!=` absent or other value; `in` present and
    in the set; `not in` absent or not in the set; `has` present; contains / starts with /
    ends with need the label present."""
    assert matches(text, labels) is expected


# =============================================================================================
# §3.4 Invalid selectors


@pytest.mark.parametrize(
    "text",
    [
        "a == 'x",  # unterminated string
        'a == "x',
        "a = 'x'",  # single =
        "has(a) & has(b)",  # single &
        "has(a) | has(b)",  # single |
        "a",  # label not followed by an operator
        "a has(b)",
        "a == x",  # unquoted value
        "a in 'x'",  # in without {…}
        "a not in 'x'",
        "a in {'x'",  # missing }
        "(has(a)",  # missing )
        "has()",  # has() with an empty name
        "has( )",
        "has(a b)",  # invalid name
        "has(a",
        "all(",  # all( without )
        "global(",
        "all() has(a)",  # anything left after a full expression
        "has(a))",
        "a == 'x' b == 'y'",
        "&& has(a)",
        "has(a) &&",
        "!",
        "()",
        "a in {x}",  # unquoted set member
        "a == 'x' ||",
    ],
)
def test_invalid_selectors(text: str) -> None:
    """§3.4: the parser/tokenizer errors listed in the reference."""
    with pytest.raises(SelectorError):
        parse_selector(text)


def test_error_mentions_end_of_selector_content() -> None:
    """§3.4: "unexpected content at end of selector"."""
    with pytest.raises(SelectorError, match="unexpected content at end of selector"):
        parse_selector("has(a) has(b)")


# =============================================================================================
# §3.5 Label keys and values on resources (Kubernetes rules) vs selectors


def _pod(labels: str) -> str:
    return (
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: ns1, labels: "
        + labels
        + "}\nspec:\n  containers:\n  - {name: c, image: nginx}\n"
    )


@pytest.mark.parametrize(
    "labels",
    [
        "{app: web}",
        "{example.com/app: web}",
        "{a.b-c_d: x}",
        "{app: ''}",  # empty value
        "{'k': " + "v" * 63 + "}",  # value of 63
        "{'" + "k" * 63 + "': v}",  # name of 63
        "{'" + "a" * 253 + "/k': v}",  # prefix of 253
    ],
)
def test_valid_resource_labels(tmp_path: Path, labels: str) -> None:
    """§3.5: key = optional DNS-subdomain prefix (≤253) + `/` + name (≤63,
    `[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?`); value ≤63 characters, same pattern or empty."""
    from test_calico_semantics import load

    load(tmp_path, _pod(labels), base=True)


@pytest.mark.parametrize(
    "labels",
    [
        "{-app: web}",  # name must start with a letter or digit
        "{app-: web}",  # and end with one
        "{'" + "k" * 64 + "': v}",  # name over 63
        "{'Example.com/app': v}",  # prefix is a lower-case DNS subdomain
        "{'a/b/c': v}",
        "{'/app': v}",
        "{app: " + "v" * 64 + "}",  # value over 63
        "{app: -web}",  # value must start with a letter or digit
        "{app: 'a b'}",
    ],
)
def test_invalid_resource_labels_are_rejected(tmp_path: Path, labels: str) -> None:
    """§3.5: Calico checks resource labels with IsQualifiedName (key) and IsValidLabelValue."""
    from test_calico_semantics import load

    from desktopviz.core.scenario_yaml import ScenarioError

    with pytest.raises(ScenarioError):
        load(tmp_path, _pod(labels), base=True)


@pytest.mark.parametrize("text", ["-app == 'x'", "a/b/c == 'x'", "has(_)", "app == '" + "v" * 200 + "'"])
def test_selectors_accept_keys_and_values_no_resource_can_carry(text: str) -> None:
    """§3.5: selectors accept more (any identifier characters, values of any length)."""
    parse_selector(text)
