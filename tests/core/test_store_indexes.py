"""The store's indexes and its time range: what the views' filters rely on, in every file."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from test_store import flow

from desktopviz.core.store import INDEXES, FlowStore

POLICY_FLOW = "ix_trace_hits_policy_trace_id"
TIER_FLOW = "ix_trace_hits_tier_trace_id"


def index_names(path: Path) -> set[str]:
    c = sqlite3.connect(path)
    try:
        return {r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    finally:
        c.close()


def test_a_new_store_has_the_policy_and_tier_lookups_of_the_browser(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    FlowStore(db).close()
    names = index_names(db)
    assert {POLICY_FLOW, TIER_FLOW} <= names
    assert {name for name, _, _ in INDEXES} <= names
    c = sqlite3.connect(db)
    plan = " ".join(
        r[3]
        for r in c.execute(
            "EXPLAIN QUERY PLAN SELECT trace_id FROM trace_hits WHERE policy = 'x' AND trace_id > 3"
        )
    )
    c.close()
    assert f"COVERING INDEX {POLICY_FLOW}" in plan


def test_opening_a_file_without_an_index_adds_it_when_writable(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    with FlowStore(db) as store:
        store.insert([flow(start=1000)])
    c = sqlite3.connect(db)
    c.execute(f"DROP INDEX {POLICY_FLOW}")
    c.execute(f"DROP INDEX {TIER_FLOW}")
    c.commit()
    c.close()
    with FlowStore(db, readonly=True) as store:  # readable as it is, nothing written
        assert store.count() == 1
    assert POLICY_FLOW not in index_names(db)
    with FlowStore(db) as store:
        assert store.count() == 1
    assert {POLICY_FLOW, TIER_FLOW} <= index_names(db)


def test_the_browser_helper_delegates_to_the_store(tmp_path: Path) -> None:
    from desktopviz.ui.flow_browser_data import ensure_browser_indexes, missing_browser_indexes

    db = tmp_path / "s.db"
    FlowStore(db).close()
    c = sqlite3.connect(db)
    assert ensure_browser_indexes(c) == []  # the store made them already
    assert missing_browser_indexes(c) == ["sqlite_stat1"]
    c.close()


def test_time_range_is_exact_and_reads_no_flow_log_table_scan(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    with FlowStore(db) as store:
        # a long flow starting early ends after every later one
        store.insert([flow(start=1000, end_time=9000), flow(start=1300), flow(start=1600)])
        store.insert([flow(start=100_000)])
        statements: list[str] = []
        store.conn.set_trace_callback(statements.append)
        assert store.time_range() == (1000, 100_300)
        store.conn.set_trace_callback(None)
        plans = []
        for sql in statements:
            if sql.lstrip().upper().startswith("SELECT"):
                bound = sql.replace("?", "86400")
                plans += [r[3] for r in store.conn.execute(f"EXPLAIN QUERY PLAN {bound}")]
        assert plans and not any(p.startswith("SCAN flow_logs") and "INDEX" not in p for p in plans), plans
    with FlowStore(tmp_path / "e.db") as empty:
        assert empty.time_range() is None
