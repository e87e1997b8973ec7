"""Bulk imports: the store's indexes are dropped for the load and always come back, exactly as
they were, whether the import finishes, is cancelled, fails or the process dies."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from desktopviz.core import importers, store_bulk
from desktopviz.core.importers import ImportProgress, import_files
from desktopviz.core.store import FlowStore
from desktopviz.core.store_bulk import RECORD_TABLE, bulk_load, restore_indexes

DATA = Path(__file__).parent / "data" / "import"
SOURCES = [DATA / "calico_v5.jsonl", DATA / "calico_v4.jsonl", DATA / "calico_kinds.jsonl"]


def schema(db: Path) -> list[tuple]:
    """Every table and index: name, table, and an index's columns, uniqueness and condition."""
    with sqlite3.connect(db) as conn:
        out = []
        for kind, name, table, sql in conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master"):
            if kind == "index":
                cols = [r[2] for r in conn.execute(f'PRAGMA index_info("{name}")')]
                unique = [r[2] for r in conn.execute(f'PRAGMA index_list("{table}")') if r[1] == name]
                where = (sql or "").partition(" WHERE ")[2]
                out.append((kind, name, table, tuple(cols), unique, where))
            else:
                out.append((kind, name, table))
        return sorted(out)


def settings(store: FlowStore) -> list[int]:
    return [
        store.conn.execute(f"PRAGMA {p}").fetchone()[0]
        for p in ("synchronous", "cache_size", "temp_store", "threads")
    ]


@pytest.fixture
def store_db(tmp_path: Path) -> Path:
    """A store with one import in it and an index of its own (as a later version might add)."""
    db = tmp_path / "s.sqlite"
    import_files(SOURCES[:1], db, bulk=False)
    with FlowStore(db) as store:
        store.conn.execute("CREATE INDEX ix_extra_bytes ON flow_data (bytes_in) WHERE bytes_in > 0")
        store.conn.execute("CREATE UNIQUE INDEX ux_extra ON trace_hits (trace_id, kind, idx)")
    return db


def test_bulk_import_stores_the_same_and_keeps_every_index(store_db: Path, tmp_path: Path) -> None:
    before = schema(store_db)
    plain = tmp_path / "plain.sqlite"
    import_files(SOURCES[:1], plain, bulk=False)
    summary = import_files(SOURCES, store_db, bulk=True)
    import_files(SOURCES[1:], plain, bulk=False)
    assert summary.bulk and summary.total("imported") > 0
    after = schema(store_db)
    assert after == before  # indexes back with their own definitions; no bookkeeping left
    with FlowStore(store_db, readonly=True) as a, FlowStore(plain, readonly=True) as b:
        assert [log for _, log in a.rows(order_by="id")] == [log for _, log in b.rows(order_by="id")]
        sql = "SELECT * FROM policy_hits ORDER BY flow_log_id, kind, idx"
        assert a.conn.execute(sql).fetchall() == b.conn.execute(sql).fetchall()


def test_the_settings_are_restored(store_db: Path) -> None:
    with FlowStore(store_db) as store:
        usual = settings(store)
        with bulk_load(store) as load:
            assert settings(store)[:3] == [0, -262144, 2]
            assert "ix_extra_bytes" in load.dropped and "ux_extra" not in load.dropped
        assert settings(store) == usual


def test_the_rebuild_sorts_on_a_second_thread_and_falls_back_to_the_load_settings(
    store_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The indexes are built with a small cache, temporary files and a sorting thread; if that
    fails (no room for temporary files), they are built with the load's settings."""
    before = schema(store_db)
    seen: list[list[int]] = []
    real = store_bulk.restore_indexes

    def failing_once(store: FlowStore) -> list[str]:
        seen.append(settings(store))
        if len(seen) == 1:
            raise sqlite3.OperationalError("database or disk is full")
        return real(store)

    monkeypatch.setattr(store_bulk, "restore_indexes", failing_once)
    with FlowStore(store_db) as store:
        usual = settings(store)
        with bulk_load(store):
            pass
        assert settings(store) == usual
    assert seen == [[0, -2000, 1, 2], [0, -262144, 2, usual[3]]]
    assert schema(store_db) == before


def test_an_index_led_by_the_start_time_is_kept_up_to_date_during_the_load(store_db: Path) -> None:
    """Logs arrive in time order: such an index grows at its end, cheaper than a rebuild."""
    with FlowStore(store_db) as store:
        store.conn.execute("CREATE INDEX ix_extra_time ON flow_data (start_time, bytes_in)")
        with bulk_load(store) as load:
            present = {
                r[0] for r in store.conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")
            }
            store.insert([store.get(1)])
            assert store.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert {"ix_flow_data_time", "ix_extra_time"} <= present
        assert not {"ix_flow_data_time", "ix_extra_time"} & set(load.dropped)
        assert "ix_flow_data_key" in load.dropped
        assert store.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_a_cancelled_bulk_import_keeps_its_batches_and_the_indexes(store_db: Path, tmp_path: Path) -> None:
    before = schema(store_db)
    src = tmp_path / "many.jsonl"
    lines = [line for p in SOURCES[1:] for line in p.read_text().splitlines() if line.strip()]
    src.write_text("\n".join(lines) + "\n")
    summary = import_files([src], store_db, bulk=True, batch=2, cancel=lambda: True)
    assert summary.cancelled and summary.total("imported") == 2
    assert schema(store_db) == before


def test_an_error_inside_the_load_still_rebuilds_the_indexes(store_db: Path) -> None:
    before = schema(store_db)
    with FlowStore(store_db) as store, pytest.raises(RuntimeError), bulk_load(store):
        store.conn.execute("BEGIN")  # a transaction left open by the failure
        raise RuntimeError("disk on fire")
    assert schema(store_db) == before


def test_a_killed_load_is_repaired_by_the_next_import(store_db: Path) -> None:
    before = schema(store_db)
    code = (
        "import os, sys\n"
        f"sys.path.insert(0, {str(Path(__file__).parents[2])!r})\n"
        "from desktopviz.core.store import FlowStore\n"
        "from desktopviz.core.store_bulk import bulk_load\n"
        "with bulk_load(FlowStore(sys.argv[1])):\n"
        "    os._exit(9)  # killed in the middle of the load\n"
    )
    assert subprocess.run([sys.executable, "-c", code, str(store_db)], check=False).returncode == 9
    names = {r[1] for r in schema(store_db)}
    assert "ix_extra_bytes" not in names and RECORD_TABLE in names
    with FlowStore(store_db, readonly=True) as reader:  # readers still work, without the indexes
        assert reader.count() > 0
        with pytest.raises(Exception, match="read-only"):
            restore_indexes(reader)
    import_files([], store_db)
    assert schema(store_db) == before


def test_small_imports_keep_the_indexes(store_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert not import_files(SOURCES, store_db).bulk  # a few KB
    monkeypatch.setattr(importers, "BULK_MIN_BYTES", 0)
    assert not import_files(SOURCES, store_db).bulk  # smaller than what the store holds
    monkeypatch.setattr(importers, "BULK_BYTES_PER_ROW", 1)
    assert import_files(SOURCES, store_db).bulk


def test_the_index_rebuild_is_reported_as_the_last_step(store_db: Path, tmp_path: Path) -> None:
    """A bulk load tells its progress listener when the files are read and the indexes are
    being built again (the step a user otherwise waits through at 100 %); a plain import does not."""
    seen: list[ImportProgress] = []
    import_files(SOURCES, store_db, bulk=True, progress=seen.append)
    phases = [p.phase for p in seen]
    assert phases[-1] == "indexing" and phases.count("indexing") == 1 and set(phases[:-1]) == {"reading"}
    assert seen[-1].records == seen[-2].records and seen[-1].file_index == len(SOURCES) - 1
    seen.clear()
    import_files(SOURCES[:1], tmp_path / "plain.sqlite", bulk=False, progress=seen.append)
    assert seen and {p.phase for p in seen} == {"reading"}
