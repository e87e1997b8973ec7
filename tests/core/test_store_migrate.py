"""A schema-1 flow store (tests/core/data/store_v1.sqlite, written by the schema-1 code) is
upgraded in place without losing or changing anything: every record, every trace entry, every
rollup (but the 5-minute level of flow and hit sums, no longer stored), and the answers of the
views' queries are the same before and after."""

from __future__ import annotations

import importlib.util
import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from desktopviz.core import store_migrate
from desktopviz.core.store import HIT_COLUMNS, ROLLUP_LEVELS, FlowStore, StoreError, record_from_row

DATA = Path(__file__).parent / "data"
V1 = DATA / "store_v1.sqlite"


def _maker() -> Any:
    spec = importlib.util.spec_from_file_location("make_store_v1", DATA / "make_store_v1.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def leave_indexes_dropped(c: sqlite3.Connection, dropped: list[tuple[str, str]]) -> None:
    """Record and drop these indexes as a bulk load killed mid-load leaves them (store_bulk's
    record table), then commit and close ``c``."""
    c.execute("CREATE TABLE bulk_dropped_indexes (name TEXT PRIMARY KEY, sql TEXT NOT NULL)")
    c.executemany("INSERT INTO bulk_dropped_indexes VALUES (?, ?)", dropped)
    for name, _ in dropped:
        c.execute(f"DROP INDEX {name}")
    c.commit()
    c.close()


@pytest.fixture
def v1(tmp_path: Path) -> Path:
    db = tmp_path / "old.sqlite"
    shutil.copy(V1, db)
    return db


def _v1_contents(db: Path) -> dict[str, Any]:
    c = sqlite3.connect(db)
    c.row_factory = sqlite3.Row
    try:
        assert c.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0] == "1"
        return {
            "records": [
                (r["id"], record_from_row(r)) for r in c.execute("SELECT * FROM flow_logs ORDER BY id")
            ],
            "json": [
                tuple(r)
                for r in c.execute(
                    "SELECT id, source_labels, dest_labels, policies FROM flow_logs ORDER BY id"
                )
            ],
            "hits": [
                tuple(r)
                for r in c.execute(
                    f"SELECT {', '.join(HIT_COLUMNS)} FROM policy_hits ORDER BY flow_log_id, kind, idx"
                )
            ],
            **{t: sorted(map(tuple, c.execute(f"SELECT * FROM {t}")), key=repr) for t in _KEPT},
            "meta": dict(c.execute("SELECT key, value FROM meta").fetchall()),
        }
    finally:
        c.close()


_KEPT = ("label_sets", "flow_rollup", "hit_rollup", "series_rollup")


def test_every_record_trace_entry_and_rollup_survives_the_upgrade(v1: Path) -> None:
    before = _v1_contents(v1)
    assert len(before["records"]) == 246 and before["hits"]
    with FlowStore(v1) as store:
        assert store.get_meta("schema_version") == "4"
        assert [(i, log) for i, log in store.rows(order_by="id")] == before["records"]
        c = store.conn
        assert [
            tuple(r)
            for r in c.execute("SELECT id, source_labels, dest_labels, policies FROM flow_logs ORDER BY id")
        ] == (before["json"])
        sql = f"SELECT {', '.join(HIT_COLUMNS)} FROM policy_hits ORDER BY flow_log_id, kind, idx"
        assert [tuple(r) for r in c.execute(sql)] == before["hits"]
        for t in _KEPT:  # all but the 5-minute level of the flow and hit rollups, no longer stored
            sums = t in ("flow_rollup", "hit_rollup")
            kept = [r for r in before[t] if not sums or r[0] in ROLLUP_LEVELS]
            assert not sums or 300 in {r[0] for r in before[t]} > {r[0] for r in kept}
            assert sorted(map(tuple, c.execute(f"SELECT * FROM {t}")), key=repr) == kept, t
        meta = store.meta()
        assert (
            meta["scenario"] == "synthetic v1 fixture" and meta["created_at"] == before["meta"]["created_at"]
        )
        tables = {r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert {"flow_keys", "flow_data", "traces", "trace_hits"} <= tables
        assert not {"flow_rows", "flow_logs", "policy_hits"} & tables
        assert meta["upgraded_from_schema"] == "1"
        # null and empty policies stay apart; legacy and transit forms keep their exact text
        nulls = c.execute("SELECT count(*) FROM flow_rows WHERE trace_id IS NULL").fetchone()[0]
        assert nulls == sum(1 for _, p in [(r[0], r[3]) for r in before["json"]] if p is None) == 1
        assert c.execute("SELECT count(*) FROM traces WHERE policies = '{}'").fetchone()[0] == 1
        # new logs go on after the old ones
        log = before["records"][0][1]
        store.insert([log])
        assert store.get(247) == log


def test_the_views_queries_answer_as_before(v1: Path) -> None:
    maker = _maker()
    expected = json.loads((DATA / "store_v1_expected.json").read_text())
    FlowStore(v1).close()
    got = json.loads(json.dumps(maker.plain(maker.answers(v1)), sort_keys=True, default=str))
    assert got.keys() == expected.keys()
    for key in expected:
        assert got[key] == expected[key], key


def test_a_read_only_open_upgrades_a_writable_file_first(v1: Path) -> None:
    with FlowStore(v1, readonly=True) as store:
        assert store.readonly and store.count() == 246
        assert store.get_meta("schema_version") == "4"
        assert store.get(121).policies == {}


def test_a_read_only_file_that_needs_the_upgrade_is_refused_with_what_to_do(
    v1: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("desktopviz.core.store.os.access", lambda *a, **k: False)
    with pytest.raises(StoreError, match=f"{v1}.*schema 1 must be upgraded.*read-only; copy it"):
        FlowStore(v1, readonly=True)
    assert _v1_contents(v1)["meta"]["schema_version"] == "1"


def test_an_upgrade_that_fails_leaves_the_schema_1_file_whole(
    v1: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = _v1_contents(v1)

    def boom(conn: sqlite3.Connection) -> list[str]:
        raise sqlite3.OperationalError("disk full")

    monkeypatch.setattr(store_migrate, "ensure_indexes", boom)
    with pytest.raises(
        StoreError, match=f"{v1}: cannot upgrade flow store schema 1 to 4 .disk full.; the file is"
    ):
        FlowStore(v1)
    assert _v1_contents(v1) == before
    monkeypatch.undo()
    with FlowStore(v1) as store:
        assert store.count() == 246


def test_indexes_left_dropped_by_a_killed_schema_1_bulk_load_go_with_their_tables(
    v1: Path, tmp_path: Path
) -> None:
    before = _v1_contents(v1)
    c = sqlite3.connect(v1)
    dropped = c.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND name LIKE 'ix_%' AND name != ?",
        ("ix_flow_logs_start_time",),
    ).fetchall()
    leave_indexes_dropped(c, dropped)
    with FlowStore(v1) as store:
        assert [(i, log) for i, log in store.rows(order_by="id")] == before["records"]
    FlowStore(tmp_path / "new.sqlite").close()
    master = "SELECT type, name, tbl_name FROM sqlite_master ORDER BY 1, 2"
    got, want = sqlite3.connect(v1), sqlite3.connect(tmp_path / "new.sqlite")
    assert got.execute(master).fetchall() == want.execute(master).fetchall()
    got.close()
    want.close()
