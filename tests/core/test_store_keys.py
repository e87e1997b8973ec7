"""Schema 3: each distinct flow key is stored once, each log as a narrow row pointing at it;
the store's key index is what an importer's writer shares, and readers see schema 2's tables
through the views."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from test_store import flow

from desktopviz.core.flowlog import FIELDS, VARYING_FIELDS
from desktopviz.core.import_extract_keyed import VARYING
from desktopviz.core.import_extract_keyed import VARYING_FIELDS as EXTRACT_VARYING
from desktopviz.core.sql_rows import ROWS_AT_ONCE
from desktopviz.core.store import FlowStore
from desktopviz.core.store_ingest import ROW_COLUMNS
from desktopviz.core.store_keys import (
    DATA_COLUMNS,
    DATA_INSERT,
    KEY_COLUMNS,
    KeyIndex,
    insert_data,
    key_digest,
)


def key_of(conn: sqlite3.Connection, log_id: int) -> tuple[Any, ...]:
    row = conn.execute(
        f"SELECT {', '.join(KEY_COLUMNS)} FROM flow_keys WHERE id = (SELECT key_id FROM flow_data WHERE id = ?)",
        (log_id,),
    ).fetchone()
    return tuple(row)


def test_the_varying_fields_are_the_importers(tmp_path: Path) -> None:
    assert VARYING_FIELDS is EXTRACT_VARYING and frozenset(VARYING_FIELDS) == VARYING
    assert list(VARYING_FIELDS) == [n for n in FIELDS if n in VARYING]
    assert DATA_COLUMNS == ("id", "key_id", *VARYING_FIELDS)
    assert KEY_COLUMNS == tuple(c for c in ROW_COLUMNS[1:] if c not in VARYING)


def test_repeated_logs_share_one_key_and_read_back_whole(tmp_path: Path) -> None:
    logs = [flow(start=1_700_000_000 + 300 * k, bytes_in=k) for k in range(40)]
    logs += [flow(start=1_700_000_000 + 300 * k, reporter="dst") for k in range(40)]
    with FlowStore(tmp_path / "s.db") as store:
        store.insert(logs[:50])
        store.insert(logs[50:])
        c = store.conn
        assert c.execute("SELECT count(*) FROM flow_keys").fetchone()[0] == 2
        assert [r[1] for r in c.execute("PRAGMA table_info(flow_data)")] == list(DATA_COLUMNS)
        assert [store.get(i + 1) for i in range(80)] == logs
        assert [r[1] for r in c.execute("PRAGMA table_info(flow_rows)")] == [*ROW_COLUMNS, "key_id"]
    with FlowStore(tmp_path / "s.db") as store:  # a new connection finds the keys by digest
        store.insert(logs[:3])
        assert store.conn.execute("SELECT count(*) FROM flow_keys").fetchone()[0] == 2
        assert store.count() == 83


def test_the_writer_takes_key_ids_from_the_stores_index(tmp_path: Path) -> None:
    with FlowStore(tmp_path / "s.db") as store:
        store.insert([flow()])
        c = store.conn
        existing = key_of(c, 1)
        assert isinstance(store.keys, KeyIndex) and store.keys is store.keys
        c.execute("BEGIN IMMEDIATE")
        assert store.keys.key_id(existing) == 1
        other = tuple(
            "elsewhere" if col == "host" else v for col, v in zip(KEY_COLUMNS, existing, strict=True)
        )
        kid = store.keys.key_id(other)
        assert kid == 2 and store.keys.key_id(other) == 2
        c.execute("INSERT INTO flow_data (id, key_id, start_time, end_time) VALUES (2, ?, 5, 6)", (kid,))
        c.execute("COMMIT")
        assert store.get(2).host == "elsewhere" and store.get(2).start_time == 5
        digest = c.execute("SELECT digest FROM flow_keys WHERE id = 2").fetchone()[0]
        assert digest == key_digest(other) and len(digest) == 16
        # after a rollback the cache forgets the ids it gave out
        third = (*other[:-1], "rolled-back")
        c.execute("BEGIN IMMEDIATE")
        assert store.keys.key_id(third) == 3
        c.execute("ROLLBACK")
        store.keys.reset()
        store.insert([flow(host="later")])
        assert key_of(c, 3)[-1] == "later" and store.get(3).host == "later"


def test_equal_keys_from_different_objects_get_one_digest() -> None:
    x = "".join(["frontend", "-*"])
    y = "".join(["frontend-", "*"])
    assert x == y and x is not y
    assert key_digest((x, x, 1, None)) == key_digest((x, y, 1, None)) == key_digest((y, x, 1, None))
    assert key_digest((x, x, 1, None)) != key_digest((x, x, 2, None))


@pytest.mark.parametrize(("first", "second"), [(5, 5.0), ("5", 5)])
def test_values_python_calls_equal_keep_their_text_in_the_key_index(
    tmp_path: Path, first: Any, second: Any
) -> None:
    """5 and 5.0 are one dict key but '5' and '5.0' in a TEXT column: the index keeps them apart."""
    with FlowStore(tmp_path / "s.db") as store:
        store.insert([flow(dest_service_port=first)])
        c = store.conn
        key = key_of(c, 1)
        i = KEY_COLUMNS.index("dest_service_port")
        c.execute("BEGIN IMMEDIATE")
        kid = store.keys.key_id((*key[:i], second, *key[i + 1 :]))
        c.execute("COMMIT")
        text = c.execute("SELECT dest_service_port FROM flow_keys WHERE id = ?", (kid,)).fetchone()[0]
        assert text == str(second)


@pytest.mark.parametrize("at", [0, 99, 100, 199])
@pytest.mark.parametrize(
    ("field", "value", "odd"), [("dest_service_port", "5", 5.0), ("host", "n", 7), ("dest_port", 5, True)]
)
def test_a_batch_keeps_each_rows_value_wherever_the_odd_one_is(
    tmp_path: Path, at: int, field: str, value: Any, odd: Any
) -> None:
    """Wherever in a batch the one different value is (first, middle, last), each row reads
    back with the value, and storage class, that one-row inserts give it."""
    from test_store_rollup import typed_rows, values

    i = FIELDS.index(field)
    rows = [values(flow(start=1_700_000_000 + k)) for k in range(200)]
    rows = [r[:i] + (value,) + r[i + 1 :] for r in rows]
    rows[at] = rows[at][:i] + (odd,) + rows[at][i + 1 :]
    with FlowStore(tmp_path / "b.db") as batch, FlowStore(tmp_path / "s.db") as single:
        batch.insert(rows)
        for r in rows:
            single.insert([r])
        assert typed_rows(batch.conn) == typed_rows(single.conn)


def test_a_value_sqlite_cannot_store_is_refused_naming_its_log_and_field(tmp_path: Path) -> None:
    with FlowStore(tmp_path / "s.db") as store:
        logs = [flow(start=1_700_000_000 + k) for k in range(5)]
        logs[3] = flow(start=1_700_000_777, host={"name": "n1"}, reporter="dst")  # type: ignore[arg-type]
        with pytest.raises(
            sqlite3.ProgrammingError, match=r"flow log starting 1700000777 \(dst .*host: type 'dict'"
        ):
            store.insert(logs)
        assert store.count() == 0
        assert store.insert(logs[:3]) == 3


def test_a_full_cache_is_forgotten_and_keys_are_found_again_by_digest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from desktopviz.core import store_keys

    monkeypatch.setattr(store_keys, "CACHE_LIMIT", 3)
    logs = [flow(start=1_700_000_000 + k, host=f"node-{k % 7}") for k in range(70)]
    with FlowStore(tmp_path / "s.db") as store:
        store.insert(logs[:35])
        store.insert(logs[35:])
        c = store.conn
        assert c.execute("SELECT count(*) FROM flow_keys").fetchone()[0] == 7
        assert len(store.keys._ids) <= 3
        assert [store.get(i + 1) for i in range(70)] == logs


def _data_table() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.execute(f"CREATE TABLE flow_data ({', '.join(DATA_COLUMNS)})")  # no types: what was bound stays
    return conn


def _typed(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
    cols = ", ".join(f"{c}, typeof({c})" for c in DATA_COLUMNS)
    return conn.execute(f"SELECT {cols} FROM flow_data ORDER BY rowid").fetchall()


@pytest.mark.parametrize("n", [0, 1, ROWS_AT_ONCE - 1, ROWS_AT_ONCE, ROWS_AT_ONCE + 1, 3 * ROWS_AT_ONCE + 7])
def test_insert_data_stores_what_one_row_at_a_time_stores(n: int) -> None:
    odd = [None, 1.5, True, "7", 2**63 - 1, -(2**63), 0]
    rows = [
        (i + 1, 10 + i % 3, *(odd[(i + j) % len(odd)] for j in range(len(DATA_COLUMNS) - 2)))
        for i in range(n)
    ]
    one, many = _data_table(), _data_table()
    one.executemany(DATA_INSERT, rows)
    insert_data(many, iter(rows))  # any iterable of rows, read once
    assert _typed(many) == _typed(one)
    assert len(_typed(many)) == n


def test_insert_data_raises_what_binding_raises() -> None:
    rows = [(i + 1, 1, *([0] * (len(DATA_COLUMNS) - 2))) for i in range(2 * ROWS_AT_ONCE)]
    rows[ROWS_AT_ONCE + 3] = (0, 1, 2**64, *([0] * (len(DATA_COLUMNS) - 3)))
    with pytest.raises(OverflowError):
        _data_table().executemany(DATA_INSERT, rows)
    with pytest.raises(OverflowError):
        insert_data(_data_table(), rows)
