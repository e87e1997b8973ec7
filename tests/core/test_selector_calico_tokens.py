"""Calico's selector tokenizer test vectors, run through our tokenizer (and parser).

Transcribed (data only) from projectcalico/calico ``libcalico-go/lib/selector/tokenizer/tokenizer_test.go``,
newest stored version (9,366 characters, with the 512/513-character label cases; it goes with
``tokenizer.go`` @ d4bced9ad8c266121dc6675980c7cfe8cf08355d, whose word-boundary and label-length rules
it tests); the older cf06c43e1b71 version is a subset of it. The last test holds cases derived from
that tokenizer.go rather than its tests.
"""

from __future__ import annotations

import pytest

from desktopviz.core.selector import SelectorError, parse_selector
from desktopviz.core.selector_tokenizer import (
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
    tokenize,
)

# ---------------------------------------------------------------- tokenizer_test.go
# Calico token kinds -> ours. Calico sets a value only on Label, StringLiteral and Has tokens.

KINDS = {
    "Label": T_LABEL,
    "Str": T_STRING,
    "LBrace": T_LBRACE,
    "RBrace": T_RBRACE,
    "Comma": T_COMMA,
    "Eq": T_EQ,
    "Ne": T_NE,
    "In": T_IN,
    "Not": T_NOT,
    "NotIn": T_NOTIN,
    "Contains": T_CONTAINS,
    "StartsWith": T_STARTS,
    "EndsWith": T_ENDS,
    "All": T_ALL_FN,
    "Has": T_HAS_FN,
    "LParen": T_LPAREN,
    "RParen": T_RPAREN,
    "And": T_AND,
    "Or": T_OR,
    "Global": T_GLOBAL_FN,
    "EOF": T_EOF,
}
_VALUED = {T_LABEL, T_STRING, T_HAS_FN}

Tok = tuple[str, ...]
_EQ_VALUE: list[Tok] = [("Eq",), ("Str", "value"), ("EOF",)]
_MIXED: list[Tok] = [
    ("Label", "a"),
    ("NotIn",),
    ("Str", "bar"),
    ("And",),
    ("Not",),
    ("Has", "foo"),
    ("Or",),
    ("Label", "b"),
    ("In",),
]

TOKEN_TESTS: list[tuple[str, list[Tok] | None]] = [
    ('a=="b"', [("Label", "a"), ("Eq",), ("Str", "b"), ("EOF",)]),
    ('a!="b"', [("Label", "a"), ("Ne",), ("Str", "b"), ("EOF",)]),
    ('a != "b"', [("Label", "a"), ("Ne",), ("Str", "b"), ("EOF",)]),
    ('(a=="b")', [("LParen",), ("Label", "a"), ("Eq",), ("Str", "b"), ("RParen",), ("EOF",)]),
    ('label == "value"', [("Label", "label"), *_EQ_VALUE]),
    ('label contains "value"', [("Label", "label"), ("Contains",), ("Str", "value"), ("EOF",)]),
    ('contains contains "contains"', [("Label", "contains"), ("Contains",), ("Str", "contains"), ("EOF",)]),
    ("contains contains 'contains'", [("Label", "contains"), ("Contains",), ("Str", "contains"), ("EOF",)]),
    ('label contains"value"', [("Label", "label"), ("Contains",), ("Str", "value"), ("EOF",)]),
    ('label startswith "value"', [("Label", "label"), ("StartsWith",), ("Str", "value"), ("EOF",)]),
    ('label endswith "value"', [("Label", "label"), ("EndsWith",), ("Str", "value"), ("EOF",)]),
    ('label starts with "value"', [("Label", "label"), ("StartsWith",), ("Str", "value"), ("EOF",)]),
    (
        'startswith starts with "value"',
        [("Label", "startswith"), ("StartsWith",), ("Str", "value"), ("EOF",)],
    ),
    ('label ends with "value"', [("Label", "label"), ("EndsWith",), ("Str", "value"), ("EOF",)]),
    ('endswith ends with "value"', [("Label", "endswith"), ("EndsWith",), ("Str", "value"), ("EOF",)]),
    ('label starts  with "value"', [("Label", "label"), ("StartsWith",), ("Str", "value"), ("EOF",)]),
    ('label ends  with "value"', [("Label", "label"), ("EndsWith",), ("Str", "value"), ("EOF",)]),
    ("a" * 512 + ' == "value"', [("Label", "a" * 512), *_EQ_VALUE]),
    ("a" * 513 + ' == "value"', None),
    ('label == "value', None),
    ("label == 'value", None),
    ('label = "value"', None),
    ("all(", None),
    ("global(", None),
    ("has()", None),
    ("has(foo", None),
    ("has( foo ", None),
    ('a == "b" & has(foo)', None),
    ('a == "b" | has(foo)', None),
    ('label starts foo "value"', None),
    ('label inf "value"', None),
    ('label ends foo "value"', None),
    ('label ends withs "value"', None),
    ('label squiggles "value"', None),
    ('a not in "bar" && !has(foo) || b in c', [*_MIXED, ("Label", "c"), ("EOF",)]),
    ("has(calico/k8s_ns)", [("Has", "calico/k8s_ns"), ("EOF",)]),
    ("has(calico/k8s_ns/role)", [("Has", "calico/k8s_ns/role"), ("EOF",)]),
    ("has(calico/k8s_NS-.1/role)", [("Has", "calico/k8s_NS-.1/role"), ("EOF",)]),
    (
        'calico/k8s_ns == "kube-system" && k8s-app == "kube-dns"',
        [
            ("Label", "calico/k8s_ns"),
            ("Eq",),
            ("Str", "kube-system"),
            ("And",),
            ("Label", "k8s-app"),
            ("Eq",),
            ("Str", "kube-dns"),
            ("EOF",),
        ],
    ),
    ('a  not  in  "bar"  &&  ! has( foo )  ||  b  in  c ', [*_MIXED, ("Label", "c"), ("EOF",)]),
    ('a notin"bar"&&!has(foo)||b in"c"', [*_MIXED, ("Str", "c"), ("EOF",)]),
    ("a not in {}", [("Label", "a"), ("NotIn",), ("LBrace",), ("RBrace",), ("EOF",)]),
    ('a not in {"a"}', [("Label", "a"), ("NotIn",), ("LBrace",), ("Str", "a"), ("RBrace",), ("EOF",)]),
    (
        'a not in {"a","B"}',
        [
            ("Label", "a"),
            ("NotIn",),
            ("LBrace",),
            ("Str", "a"),
            ("Comma",),
            ("Str", "B"),
            ("RBrace",),
            ("EOF",),
        ],
    ),
    ("global()", [("Global",), ("EOF",)]),
    ("global( )", [("Global",), ("EOF",)]),
    ("all()", [("All",), ("EOF",)]),
    ("all( )", [("All",), ("EOF",)]),
]


def _ours(text: str) -> list[Tok]:
    out: list[Tok] = []
    names = {v: k for k, v in KINDS.items()}
    for tok in tokenize(text):
        out.append((names[tok.kind], tok.value) if tok.kind in _VALUED else (names[tok.kind],))
    return out


@pytest.mark.parametrize(
    ("text", "expected"), TOKEN_TESTS, ids=[t[:40] + ("..." if len(t) > 40 else "") for t, _ in TOKEN_TESTS]
)
def test_tokenizer_vectors(text: str, expected: list[Tok] | None) -> None:
    if expected is None:
        with pytest.raises(SelectorError):
            tokenize(text)
        # A tokenizer error is always a parse error too.
        with pytest.raises(SelectorError):
            parse_selector(text)
    else:
        assert _ours(text) == expected


# tokenizer.go @ d4bced9: a multi-word operator's word boundary is checked after the spaces that
# follow it, a single-word one's straight after the word; so these differ at the tokenizer level.
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("k not in x", None),
        ("k notin  x", None),
        ("k starts with v", None),
        ("k startswith v", None),
        ("k ends  with v", None),
        ("k in x", [("Label", "k"), ("In",), ("Label", "x"), ("EOF",)]),
        ("k contains v", [("Label", "k"), ("Contains",), ("Label", "v"), ("EOF",)]),
        ("k ends with  'v'", [("Label", "k"), ("EndsWith",), ("Str", "v"), ("EOF",)]),
        ("k not in  {}", [("Label", "k"), ("NotIn",), ("LBrace",), ("RBrace",), ("EOF",)]),
    ],
)
def test_derived_word_boundary_after_operators(text: str, expected: list[Tok] | None) -> None:
    test_tokenizer_vectors(text, expected)
