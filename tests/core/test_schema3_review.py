"""Review of the schema-3 branch: failing tests for defects found (each names the defect)."""

from __future__ import annotations

import random
import sqlite3
import subprocess
import types
from pathlib import Path
from typing import Any

import pytest
from test_store import flow

from desktopviz.core.flowlog import FIELDS
from desktopviz.core.store import FlowStore


def _namespaces(store: FlowStore) -> list[tuple[int, str]]:
    return [
        (r[0], r[1]) for r in store.conn.execute("SELECT id, source_namespace FROM flow_logs ORDER BY id")
    ]


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


# -- randomized comparisons (pass on this branch: kept as regression checks) --------------------

_VALUES = {
    "source_namespace": ["storefront", "-", "catalog"],
    "dest_name_aggr": ["backend-*", "pub"],
    "action": ["allow", "deny"],
    "reporter": ["src", "dst"],
    "dest_port": ["80", "443"],
    "source_port": ["443", "1"],
    "source_ip": ["10.0.0.1"],
    "host": ["h1"],
    "num_flows": ["3", "25"],
    "bytes_in": ["1000", "500000"],
    "start_time": ["1700000300", "1700003000"],
    "namespace": ["storefront", "catalog"],
    "policy": ["storefront/default.web", "t.staged:y"],
    "tier": ["default", "security"],
    "policy_action": ["allow", "deny", "pass"],
    "rule": ["0", "-1"],
    "trace": ["enforced", "pending"],
    "pending_policy": ["storefront/default.staged:x"],
    "dest_labels.app": ["backend", "frontend"],
    "labels": ["app=backend"],
    "dest_domains": ["example.com"],
}


def _random_filter(r: random.Random, depth: int) -> str:
    if depth == 0 or r.random() < 0.3:
        f = r.choice(list(_VALUES))
        v = r.choice(_VALUES[f])
        op = r.choice(["=", "=", "!=", "<", ">=", "in", "exists"])
        if op == "exists":
            return f"{f} exists"
        if op == "in":
            return f"{f} in ({v}, {r.choice(_VALUES[f])})"
        return f'{f} {op} "{v}"'
    k = r.random()
    if k < 0.25:
        return f"not ({_random_filter(r, depth - 1)})"
    op = " and " if k < 0.65 else " or "
    return "(" + op.join(_random_filter(r, depth - 1) for _ in range(r.randint(2, 3))) + ")"


def _varied_store(path: Path, n: int) -> tuple[FlowStore, list[Any]]:
    from test_store_rollup import varied_logs

    logs: list[Any] = varied_logs(n, seed=5)
    r = random.Random(2)
    for i in range(0, n, 7):  # nulls in key columns, ties on start_time
        logs[i] = flow(
            start=1_700_000_000,
            dest_port=r.choice([None, 443, 80]),
            source_port=r.choice([None, 443]),
            source_ip=r.choice([None, "10.0.0.1"]),
            host=r.choice([None, "h1"]),
        )
    store = FlowStore(path)
    return store, logs


def test_filters_select_what_the_schema_2_compiler_selected(tmp_path: Path) -> None:
    """Random filters (not, or, NULL fields, labels, policy tests, key and data fields mixed):
    the schema-3 SQL (key tests as key-id subqueries) selects the same logs as main's schema-2
    compiler (454b344) run on the flow_logs view, also through queries.count_rows/flow_rows."""
    from desktopviz.core import filterlang_sql, queries
    from desktopviz.core.filterlang import FilterError, parse_filter

    try:
        src = subprocess.run(
            ["git", "show", "454b344:desktopviz/core/filterlang_sql.py"],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).parent,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("main's schema-2 compiler (git 454b344) is not available")
    old = types.ModuleType("schema2_filterlang_sql")
    exec(compile(src, "schema2_filterlang_sql.py", "exec"), old.__dict__)
    store, logs = _varied_store(tmp_path / "s.db", 400)
    with store:
        store.insert(logs, strict=False)
        c = store.conn
        ran = 0
        for i in range(400):
            text = _random_filter(random.Random(i), 3)
            try:
                node = parse_filter(text)
                new_sql, new_args = filterlang_sql.compile_node(text, node, 1_700_100_000)
                old_sql, old_args = old.compile_node(text, node, 1_700_100_000)
            except FilterError:
                continue
            ran += 1
            want = [
                r[0] for r in c.execute(f"SELECT id FROM flow_logs WHERE {old_sql} ORDER BY id", old_args)
            ]
            got = [r[0] for r in c.execute(f"SELECT id FROM flow_logs WHERE {new_sql} ORDER BY id", new_args)]
            assert got == want, text
            assert queries.count_rows(c, new_sql, new_args) == len(want), text
            page = queries.flow_rows(c, new_sql, new_args, order_by="dest_port", descending=False, limit=50)
            sql = f"SELECT id FROM flow_logs WHERE {old_sql} ORDER BY dest_port, id LIMIT 50"
            assert [x.id for x in page] == [r[0] for r in c.execute(sql, old_args)], text
        assert ran > 250


@pytest.mark.parametrize("sort", ["start_time", "source_namespace", "dest_port", "host", "bytes_in"])
def test_every_browser_page_is_the_slice_of_the_whole_listing(tmp_path: Path, sort: str) -> None:
    """Pages read in random order (with the anchors the model keeps, total known or not) equal
    the slice of the whole ordered snapshot, with logs stored between page reads; counts too."""
    from desktopviz.core.filterlang import compile_filter
    from desktopviz.core.store import COLUMNS
    from desktopviz.ui import flow_browser_data as fb

    store, logs = _varied_store(tmp_path / "s.db", 500)
    with store:
        store.insert(logs[:400], strict=False)
        c = store.conn
        more = iter(range(400, 500, 10))
        filters = ["", "action = deny", "not (reporter = src)", "dest_port = 80 or bytes_in > 500000"]
        for k, (text, desc, length) in enumerate(
            (f, d, n) for f in filters for d in (True, False) for n in (7, 50)
        ):
            sf = compile_filter(text, now=1_700_100_000) if text else None
            where, params = (sf.sql, tuple(sf.params)) if sf else ("", ())
            q = fb.Query(where, params, sort, desc, c.execute("SELECT max(id) FROM flow_data").fetchone()[0])
            sql = f"SELECT {', '.join(COLUMNS)} FROM flow_logs {q.where_clause()} {q.order()}"
            full = [tuple(r) for r in c.execute(sql, q.args())]
            assert fb.count(c, q) == len(full), text
            anchors = fb.Anchors()
            r = random.Random(k)
            starts = list(range(0, len(full), length))
            r.shuffle(starts)
            for j, start in enumerate(starts):
                if j == 2:
                    lo = next(more, 400)
                    store.insert(logs[lo : lo + 10], strict=False)
                n = min(length, len(full) - start)
                page = fb.fetch_page(c, q, start, n, len(full) if r.random() < 0.5 else None, anchors)
                assert page == full[start : start + n], (text, desc, length, start)
                if page:
                    anchors.add(start, fb.row_key(q, page[0]))
                    anchors.add(start + len(page) - 1, fb.row_key(q, page[-1]))
            assert fb.count(c, q) == len(full), text
