"""Tokenizer of Calico's selector language, as libcalico-go ``selector/tokenizer/tokenizer.go``.

Only space and tab are whitespace; word operators are recognised only straight after a label
and at a word boundary; labels are at most 512 identifier characters. Errors carry the column.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_LABEL_LENGTH = 512
_IDENT_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./-")
_WHITESPACE = " \t"

# Token kinds.
T_LABEL, T_STRING, T_LBRACE, T_RBRACE, T_COMMA, T_EQ, T_NE, T_IN, T_NOTIN = (
    "label string { } , == != in notin".split()
)
T_CONTAINS, T_STARTS, T_ENDS, T_NOT, T_AND, T_OR, T_LPAREN, T_RPAREN = (
    "contains startswith endswith ! && || ( )".split()
)
T_HAS_FN, T_ALL_FN, T_GLOBAL_FN, T_EOF = "has all global eof".split()


class SelectorError(ValueError):
    """An invalid selector: ``.message`` says what is wrong, ``.column`` (0-based) where."""

    def __init__(self, message: str, column: int, selector: str = "") -> None:
        super().__init__(f"{message} at column {column}")
        self.message = message
        self.column = column
        self.selector = selector

    def __reduce__(self) -> tuple[type[SelectorError], tuple[str, int, str]]:
        return (SelectorError, (self.message, self.column, self.selector))

    def pointer(self) -> str:
        """The selector on one line and a caret under the column, for terminal messages."""
        line = self.selector.replace("\r", " ").replace("\n", " ")
        pad = "".join("\t" if c == "\t" else " " for c in line[: self.column])
        return f"{line}\n{pad}^"


@dataclass(frozen=True, slots=True)
class Token:
    """One token; start/end are 0-based columns in the selector text."""

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


def _check_after_multi_word(text: str, i: int, end: int, kind: str) -> None:
    """Calico checks the word boundary of starts with / ends with / not in only after skipping the
    spaces that follow (tokenizer.go cutMultiWordPrefixCheckBreak), so ``k not in x`` is already a
    tokenizer error there; raise it here too, naming what was due instead."""
    k = _skip_ws(text, end)
    if k > end and k < len(text) and text[k] in _IDENT_CHARS:
        wanted = "'{' to start the set" if kind == T_NOTIN else "a quoted string"
        found = text[k : _ident_end(text, k)]
        raise SelectorError(f"expected {wanted} after '{text[i:end]}' but found {found!r}", k, text)


_WORD_OPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (T_CONTAINS, ("contains",)),
    (T_STARTS, ("starts", "with")),
    (T_ENDS, ("ends", "with")),
    (T_NOTIN, ("not", "in")),
    (T_IN, ("in",)),
)
_SIMPLE = {"(": T_LPAREN, ")": T_RPAREN, "{": T_LBRACE, "}": T_RBRACE, ",": T_COMMA}
_DOUBLED = {"=": T_EQ, "&": T_AND, "|": T_OR}
_FUNCS = (("all(", T_ALL_FN), ("global(", T_GLOBAL_FN))


def tokenize(text: str) -> list[Token]:
    """All tokens of the text, ending with T_EOF (Calico tokenises fully before parsing)."""
    tokens: list[Token] = []
    i = 0
    n = len(text)
    while True:
        i = _skip_ws(text, i)
        if i >= n:
            tokens.append(Token(T_EOF, "", n, n))
            return tokens
        ch = text[i]
        last = tokens[-1].kind if tokens else None
        if ch in _SIMPLE:
            tokens.append(Token(_SIMPLE[ch], ch, i, i + 1))
            i += 1
        elif ch in "'\"":
            close = text.find(ch, i + 1)
            if close < 0:
                raise SelectorError(f"unterminated string: no closing {ch} for the quote", i, text)
            tokens.append(Token(T_STRING, text[i + 1 : close], i, close + 1))
            i = close + 1
        elif ch in _DOUBLED:
            if not text.startswith(ch * 2, i):
                raise SelectorError(f"expected '{ch * 2}' (a single '{ch}' is not an operator)", i, text)
            tokens.append(Token(_DOUBLED[ch], ch * 2, i, i + 2))
            i += 2
        elif ch == "!":
            if text.startswith("!=", i):
                tokens.append(Token(T_NE, "!=", i, i + 2))
                i += 2
            else:
                tokens.append(Token(T_NOT, "!", i, i + 1))
                i += 1
        elif last == T_LABEL:
            for kind, words in _WORD_OPS:
                end = _word_op(text, i, words)
                if end >= 0:
                    if len(words) > 1:
                        _check_after_multi_word(text, i, end, kind)
                    tokens.append(Token(kind, text[i:end], i, end))
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
            tokens.append(Token(T_HAS_FN, text[j:end], i, k + 1))
            i = k + 1
        else:
            for prefix, kind in _FUNCS:
                if text.startswith(prefix, i):
                    k = _skip_ws(text, i + len(prefix))
                    if not text.startswith(")", k):
                        raise SelectorError(f"expected ')' after '{prefix}'", k, text)
                    tokens.append(Token(kind, prefix + ")", i, k + 1))
                    i = k + 1
                    break
            else:
                if ch not in _IDENT_CHARS:
                    raise _bad_char(text, i)
                end = _cut_ident(text, i, "a label")
                tokens.append(Token(T_LABEL, text[i:end], i, end))
                i = end
