"""execute_rows: many rows to an INSERT statement store what executemany of one row stores,
upserts included (rows that conflict with rows before them in the same statement)."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest

from desktopviz.core.sql_rows import ROWS_AT_ONCE, RowInsert, execute_rows

UPSERT = RowInsert(
    "INSERT INTO t (k, a, b)", 3, "ON CONFLICT DO UPDATE SET a = a + excluded.a, b = max(b, excluded.b)"
)


def table() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.execute("CREATE TABLE t (k PRIMARY KEY, a, b)")
    return conn


def content(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
    return conn.execute("SELECT k, a, typeof(a), b, typeof(b) FROM t ORDER BY rowid").fetchall()


def test_the_statements() -> None:
    assert UPSERT.sql() == "INSERT INTO t (k, a, b) VALUES (?, ?, ?) " + UPSERT.tail
    assert UPSERT.sql(2).startswith("INSERT INTO t (k, a, b) VALUES (?, ?, ?), (?, ?, ?) ON CONFLICT")
    assert RowInsert("INSERT INTO t", 2).sql(1) == "INSERT INTO t VALUES (?, ?)"


@pytest.mark.parametrize("n", [0, 1, ROWS_AT_ONCE - 1, ROWS_AT_ONCE, ROWS_AT_ONCE + 1, 3 * ROWS_AT_ONCE + 2])
@pytest.mark.parametrize("at_once", [2, 7, ROWS_AT_ONCE])
def test_upserts_add_up_as_one_row_at_a_time(n: int, at_once: int) -> None:
    odd: list[Any] = [1, 2.5, None, "x", True, 2**63 - 1, -(2**63)]
    rows = [(i % 5, odd[i % len(odd)] if i % 3 else i, odd[(i + 2) % len(odd)]) for i in range(n)]
    one, many = table(), table()
    one.executemany(UPSERT.sql(), rows)
    execute_rows(many, UPSERT, (r for r in rows), at_once=at_once)  # any iterable, read once
    assert content(many) == content(one)


@pytest.mark.parametrize(
    "bad",
    [
        [(1, 1, 1), (2, 2, 2), (3, 3), (4, 4, 4, 4)],  # (as many values in all as rows of three)
        [(i, 1, 1) for i in range(ROWS_AT_ONCE + 3)] + [(0, 1)],
    ],
)
def test_rows_of_another_width_fail_as_executemany_fails(bad: list[tuple[Any, ...]]) -> None:
    one, many = table(), table()
    with pytest.raises(sqlite3.ProgrammingError) as want:
        one.executemany(UPSERT.sql(), bad)
    with pytest.raises(sqlite3.ProgrammingError) as got:
        execute_rows(many, UPSERT, bad)
    assert str(got.value) == str(want.value) and "bindings" in str(got.value)
    assert content(many) == content(one)


@pytest.mark.parametrize("at", [0, 3, ROWS_AT_ONCE - 1, ROWS_AT_ONCE + 2, 2 * ROWS_AT_ONCE + 1])
@pytest.mark.parametrize("value", [2**64, [1], object(), "\ud800"])
def test_a_value_binding_refuses_fails_as_executemany_fails(at: int, value: Any) -> None:
    """The same error, naming the value's column as executemany of one row does, with the rows
    before it inserted (a statement of 50 rows is refused as a whole, then read one at a time)."""
    rows: list[tuple[Any, ...]] = [(i, 1, 1) for i in range(2 * ROWS_AT_ONCE + 7)]
    rows[at] = (at, value, 1)
    one, many = table(), table()
    with pytest.raises(Exception) as want:
        one.executemany(UPSERT.sql(), rows)
    with pytest.raises(Exception) as got:
        execute_rows(many, UPSERT, rows)
    assert type(got.value) is type(want.value) and str(got.value) == str(want.value)
    assert content(many) == content(one) and len(content(one)) == at
