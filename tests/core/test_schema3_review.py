"""Review of the schema-3 branch: failing tests for defects found (each names the defect)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from test_store import flow

from desktopviz.core.flowlog import FIELDS
from desktopviz.core.store import FlowStore


def _namespaces(store: FlowStore) -> list[tuple[int, str]]:
    return [
        (r[0], r[1]) for r in store.conn.execute("SELECT id, source_namespace FROM flow_logs ORDER BY id")
    ]


@pytest.mark.xfail(
    strict=True, reason="defect: store.py FlowStore.insert skips _ingest.reset() when ROLLBACK raises"
)
def test_a_disk_full_insert_leaves_no_stale_key_ids(tmp_path: Path) -> None:
    """SQLite rolls the whole transaction back itself on SQLITE_FULL (and on an interrupt):
    FlowStore.insert's ``ROLLBACK`` then raises 'cannot rollback - no transaction is active',
    so ``_ingest.reset()`` is skipped and the user sees that error instead of 'disk full'.
    The key cache keeps the id of a key that was never committed; once room is made, the
    id goes to another key and later logs of the first key are stored as the other one."""
    with FlowStore(tmp_path / "s.db") as store:
        store.insert([flow()])
        pages = store.conn.execute("PRAGMA page_count").fetchone()[0]
        store.conn.execute(f"PRAGMA max_page_count={pages + 2}")
        many = [flow(start=1_700_000_000 + i, source_namespace="ns-a", bytes_in=i) for i in range(3000)]
        with pytest.raises(sqlite3.Error, match="full"):
            store.insert(many)
        store.conn.execute("PRAGMA max_page_count=1000000")
        store.insert([flow(source_namespace="ns-b")])
        store.insert([flow(source_namespace="ns-a")])
        assert _namespaces(store) == [(1, "storefront"), (2, "ns-b"), (3, "ns-a")]


@pytest.mark.xfail(
    strict=True, reason="defect: store.py FlowStore.insert's ROLLBACK error hides the disk-full error"
)
def test_a_disk_full_insert_raises_the_disk_full_error(tmp_path: Path) -> None:
    """The same failure seen by the user: the error must say the disk is full, not 'cannot
    rollback - no transaction is active' (FlowStore.insert's except clause)."""
    with FlowStore(tmp_path / "s.db") as store:
        store.insert([flow()])
        pages = store.conn.execute("PRAGMA page_count").fetchone()[0]
        store.conn.execute(f"PRAGMA max_page_count={pages + 2}")
        with pytest.raises(sqlite3.Error, match="full"):
            store.insert([flow(start=1_700_000_000 + i, bytes_in=i) for i in range(3000)])


def _dangling(store: FlowStore) -> int:
    """flow_data rows whose key is not in flow_keys (the flow_logs view shows them with NULL
    key fields; policy_hits and every key filter drop them)."""
    sql = "SELECT count(*) FROM flow_data WHERE key_id NOT IN (SELECT id FROM flow_keys)"
    return int(store.conn.execute(sql).fetchone()[0])


@pytest.mark.xfail(
    strict=True,
    reason="defect: import_apply.py KeyedWriter.write skips _forget()/keys.reset() when ROLLBACK raises",
)
def test_a_disk_full_keyed_batch_leaves_the_writer_no_stale_key_ids(tmp_path: Path) -> None:
    """KeyedWriter.write (import_apply.py) calls ``ROLLBACK`` before ``_forget()`` and
    ``store.keys.reset()``: when SQLite has rolled back already (disk full), the ROLLBACK
    raises, neither map is forgotten, and the next batches of the same keys (or the
    store's insert that the importer falls back to) write key ids that were never committed."""
    from test_import_handover import good
    from test_import_keyed import batch_of
    from test_store_rollup import values

    from desktopviz.core.import_apply import REJECTED, KeyedWriter
    from desktopviz.core.import_db import ImportWriter
    from desktopviz.core.import_keyed import KeyedPreparer

    rows = [values(x) for x in good(1200, seed=21)]
    prep = KeyedPreparer()
    first, second = batch_of(prep, rows[:600]), batch_of(prep, rows[600:])
    with FlowStore(tmp_path / "s.db") as store:
        store.insert([flow()])
        ap = KeyedWriter(ImportWriter(store, "x", "calico"))
        pages = store.conn.execute("PRAGMA page_count").fetchone()[0]
        store.conn.execute(f"PRAGMA max_page_count={pages + 3}")
        ap.accept(first)
        with pytest.raises(REJECTED):
            ap.write(first, {"imported": first.n})
        store.conn.execute("PRAGMA max_page_count=1000000")
        ap.accept(second)
        ap.write(second, {"imported": second.n})
        cols = ("start_time", "source_namespace", "dest_name_aggr", "action", "reporter", "source_labels")
        got = store.conn.execute(
            f"SELECT {', '.join(cols)} FROM flow_logs WHERE id > 1 ORDER BY id"
        ).fetchall()
        want = [tuple(r[FIELDS.index(n)] for n in cols[:-1]) for r in rows[600:]]
        assert _dangling(store) == 0
        assert [tuple(g)[:-1] for g in got] == want


@pytest.mark.xfail(
    strict=True, reason="defect: store_migrate._migrate's ROLLBACK error hides the disk-full error"
)
def test_an_upgrade_that_runs_out_of_room_says_so(tmp_path: Path) -> None:
    """store_migrate._migrate's ``except BaseException: c.execute("ROLLBACK")`` raises 'cannot
    rollback - no transaction is active' when SQLite rolled back itself (disk full), so the
    user reads 'cannot upgrade ... (cannot rollback - no transaction is active)' instead of
    being told the disk is full (the file itself stays whole)."""
    from test_store_migrate_v2 import contents, make_v2
    from test_store_rollup import values, varied_logs

    from desktopviz.core.store_migrate import migrate

    db = tmp_path / "v2.sqlite"
    make_v2(db, [values(x) for x in varied_logs(400, seed=11)], tmp_path)
    before = contents(db)
    c = sqlite3.connect(db, isolation_level=None)
    pages = c.execute("PRAGMA page_count").fetchone()[0]
    c.execute(f"PRAGMA max_page_count={pages + 5}")
    with pytest.raises(sqlite3.Error, match="full"):
        migrate(c)
    c.close()
    assert contents(db) == before


@pytest.mark.xfail(
    strict=True, reason="defect: flow_browser_data.count reads in two statements outside a read transaction"
)
def test_a_snapshot_count_is_not_changed_by_logs_stored_while_it_counts(tmp_path: Path) -> None:
    """flow_browser_data.count (schema 3) counts every match, then subtracts those past the
    snapshot (``id > max_id``) in a second statement, outside any read transaction: logs
    the simulator stores between the two statements are subtracted without having been
    counted, so the browser shows too few rows (schema 2 counted in one statement)."""
    from desktopviz.ui import flow_browser_data as fb

    db = tmp_path / "s.db"
    with FlowStore(db) as store, FlowStore(db) as writer:
        store.insert([flow(start=1_700_000_000 + i) for i in range(10)])
        q = fb.Query("", (), "start_time", True, max_id=10)
        assert fb.count(store.conn, q) == 10
        writer.insert([flow(start=1_700_000_100 + i) for i in range(5)])
        assert fb.count(store.conn, q) == 10

        def store_more(sql: str) -> None:  # the simulator's insert, between the two statements
            if "NOT INDEXED" in sql:
                store.conn.set_trace_callback(None)
                writer.insert([flow(start=1_700_000_200 + i) for i in range(5)])

        store.conn.set_trace_callback(store_more)
        assert fb.count(store.conn, q) == 10


@pytest.mark.xfail(strict=True, reason="defect: KeyedWriter checks all_new outside the write transaction")
def test_two_imports_of_one_file_at_once_store_each_record_once(tmp_path: Path) -> None:
    """KeyedWriter.take checks ``all_new`` (import_digests) before ``write`` opens its
    transaction, and record_digests uses INSERT OR IGNORE: two imports of the same file on
    two connections (two windows, or the CLI while the app imports) both find the batch new
    and both store it. The check belongs inside the write's BEGIN IMMEDIATE. (The store's
    insert path, ImportWriter.unseen then write, has the same gap, as in schema 2.)"""
    from test_import_handover import good
    from test_import_keyed import batch_of
    from test_store_rollup import values

    from desktopviz.core.import_apply import KeyedWriter
    from desktopviz.core.import_db import ImportWriter
    from desktopviz.core.import_keyed import KeyedPreparer

    rows = [values(x) for x in good(200, seed=23)]
    db = tmp_path / "s.db"
    with FlowStore(db) as one, FlowStore(db) as two:
        writers = [KeyedWriter(ImportWriter(s, "a.log", "calico")) for s in (one, two)]
        batches = [batch_of(KeyedPreparer(), rows) for _ in writers]
        for w, b in zip(writers, batches, strict=True):
            w.accept(b)
        checked = [w.all_new(b) for w, b in zip(writers, batches, strict=True)]
        for w, b, new in zip(writers, batches, checked, strict=True):
            if new:
                w.write(b, {"imported": b.n})
        assert one.count() == len(rows)
