"""Invalid selectors (calico.md §3.4 and §3.1): each raises SelectorError with the right column."""

from __future__ import annotations

import pytest

from desktopviz.core.selector import SelectorError, parse_selector


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


def test_error_pointer_and_pickle() -> None:
    import pickle

    with pytest.raises(SelectorError) as err:
        parse_selector("app ==\tfrontend")
    assert err.value.pointer() == "app ==\tfrontend\n      \t^"
    again = pickle.loads(pickle.dumps(err.value))
    assert (again.message, again.column, again.selector, str(again)) == (
        err.value.message,
        err.value.column,
        err.value.selector,
        str(err.value),
    )
