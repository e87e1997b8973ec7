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


def test_rows_of_another_width_are_refused_before_anything_is_inserted() -> None:
    conn = table()
    with pytest.raises(sqlite3.ProgrammingError, match="row 2 holds 2 values, the statement takes 3"):
        execute_rows(conn, UPSERT, [(1, 1, 1), (2, 2, 2), (3, 3), (4, 4, 4, 4)])
    assert content(conn) == []


def test_a_value_binding_refuses_raises_as_executemany_does() -> None:
    rows = [(i, 1, 1) for i in range(ROWS_AT_ONCE + 5)]
    rows[ROWS_AT_ONCE + 2] = (0, 2**64, 1)
    with pytest.raises(OverflowError):
        table().executemany(UPSERT.sql(), rows)
    with pytest.raises(OverflowError):
        execute_rows(table(), UPSERT, rows)
