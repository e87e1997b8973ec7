"""A schema-3 flow store (5-minute rows in the flow and hit sums) becomes schema 4 when opened
for writing: those rows go, nothing else changes, in one transaction that leaves the file
exactly as it was when interrupted. Read-only, it is read as it is. A newer schema is refused
(test_store.py), which is why dropping the 5-minute level is a schema version: a desktopviz
that knows schema 3 only would read the missing level and silently leave logs out."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from test_store_levels import answers, levels, make_v3
from test_store_rollup import varied_logs

from desktopviz.core import store_migrate
from desktopviz.core.store import (
    READ_AS_IS_SCHEMA,
    SCHEMA_VERSION,
    FlowStore,
    StoreError,
    stored_schema,
    upgrade_note,
    upgrades_on_open,
)

BOTH_LEVELS = {"flow_sums": {86400, 3600}, "hit_sums": {86400, 3600}}


def dump(path: Path) -> list[str]:
    """Every table, index, view and row of the file, as SQL text."""
    c = sqlite3.connect(path)
    try:
        return list(c.iterdump())
    finally:
        c.close()


def tables(path: Path) -> dict[str, Any]:
    """Each table's rows in a stable order (every column, mixed types ordered by SQLite), the
    level-300 sums apart, and sqlite_master."""
    c = sqlite3.connect(path)
    try:
        names = [r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        out: dict[str, Any] = {"sqlite_master": sorted(c.execute("SELECT * FROM sqlite_master").fetchall())}
        for t in names:
            width = len(c.execute(f"PRAGMA table_info({t})").fetchall())
            order = ", ".join(str(i + 1) for i in range(width))
            if t in ("flow_sums", "hit_sums"):
                for lv in ("level = 300", "level <> 300"):
                    out[f"{t} {lv}"] = c.execute(f"SELECT * FROM {t} WHERE {lv} ORDER BY {order}").fetchall()
            else:
                out[t] = c.execute(f"SELECT * FROM {t} ORDER BY {order}").fetchall()
        return out
    finally:
        c.close()


@pytest.fixture
def v3(tmp_path: Path) -> Path:
    path = tmp_path / "v3.sqlite"
    with FlowStore(path) as store:
        store.insert(varied_logs(400, seed=8), strict=False)
        store.set_meta("scenario", "storefront")
    assert make_v3(path) > 0
    return path


def test_the_schema_versions() -> None:
    assert (SCHEMA_VERSION, READ_AS_IS_SCHEMA) == (4, 3)
    assert [upgrades_on_open(v, readonly=False) for v in (1, 2, 3, 4)] == [True, True, True, False]
    assert [upgrades_on_open(v, readonly=True) for v in (1, 2, 3, 4)] == [True, True, False, False]
    assert upgrade_note(2) == "about half a minute per million logs"
    assert upgrade_note(3) == "about a second per million logs"


def test_a_new_store_is_schema_4(tmp_path: Path) -> None:
    with FlowStore(tmp_path / "new.sqlite") as store:
        assert store.schema_version == 4 and store.get_meta("schema_version") == "4"
        assert store.get_meta("upgraded_from_schema") is None
    assert stored_schema(tmp_path / "new.sqlite") == 4


def test_a_writable_open_makes_schema_4_without_the_5_minute_rows_and_nothing_else_changes(v3: Path) -> None:
    before = tables(v3)
    assert before["flow_sums level = 300"] and before["hit_sums level = 300"]
    assert stored_schema(v3) == 3
    with FlowStore(v3) as store:
        assert store.schema_version == 4
    assert stored_schema(v3) == 4 and levels(v3) == BOTH_LEVELS
    after = tables(v3)
    meta_before, meta_after = dict(before.pop("meta")), dict(after.pop("meta"))
    assert meta_after == {**meta_before, "schema_version": "4", "upgraded_from_schema": "3"}
    assert after.pop("flow_sums level = 300") == [] and after.pop("hit_sums level = 300") == []
    del before["flow_sums level = 300"], before["hit_sums level = 300"]
    assert after == before  # every other row of every table, every index, view and table definition
    with FlowStore(v3) as store:  # the next writable open has nothing to do
        assert store.schema_version == 4
    assert tables(v3)["meta"] == sorted(meta_after.items())


def test_the_upgrade_is_one_transaction(v3: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    statements: list[str] = []
    real = store_migrate._migrate

    def traced(c: sqlite3.Connection) -> bool:
        c.set_trace_callback(statements.append)
        try:
            return real(c)
        finally:
            c.set_trace_callback(None)

    monkeypatch.setattr(store_migrate, "_migrate", traced)
    with FlowStore(v3) as store:
        assert not store.conn.in_transaction
    assert [s for s in statements if s.startswith(("BEGIN", "COMMIT", "ROLLBACK"))] == [
        "BEGIN IMMEDIATE",
        "COMMIT",
    ]
    assert levels(v3) == BOTH_LEVELS


def test_read_only_a_schema_3_file_is_read_as_it_is_and_answers_as_after_the_upgrade(
    v3: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = dump(v3)
    with monkeypatch.context() as m:
        m.setattr("desktopviz.core.store.os.access", lambda *a, **k: False)  # even a read-only file
        with FlowStore(v3, readonly=True) as store:
            assert store.schema_version == 3 and store.get_meta("schema_version") == "3"
            assert store.count() == 400
            got = answers(store)
    assert dump(v3) == before and stored_schema(v3) == 3  # not upgraded, not touched
    reader = FlowStore(v3, readonly=True)
    try:
        with FlowStore(v3) as writer:  # another process upgrades it while the reader is open
            assert writer.schema_version == 4 and answers(writer) == got
        assert answers(reader) == got and reader.get_meta("schema_version") == "4"
    finally:
        reader.close()
    with FlowStore(v3, readonly=True) as store:
        assert store.schema_version == 4 and answers(store) == got


@pytest.mark.parametrize(
    "error", [RuntimeError("boom"), KeyboardInterrupt(), sqlite3.OperationalError("disk full")]
)
def test_an_upgrade_interrupted_mid_transaction_leaves_the_file_at_3_exactly(
    v3: Path, monkeypatch: pytest.MonkeyPatch, error: BaseException
) -> None:
    before = dump(v3)
    real = store_migrate.delete_unstored_levels

    def interrupted(c: sqlite3.Connection) -> int:
        assert real(c) > 0 and c.in_transaction  # the rows are deleted, not committed
        raise error

    monkeypatch.setattr(store_migrate, "delete_unstored_levels", interrupted)
    if isinstance(error, sqlite3.Error):
        with pytest.raises(
            StoreError, match=f"{v3}: cannot upgrade flow store schema 3 to 4 .disk full.; the file"
        ):
            FlowStore(v3)
    else:
        with pytest.raises(type(error)):
            FlowStore(v3)
    assert dump(v3) == before and stored_schema(v3) == 3
    monkeypatch.undo()
    with FlowStore(v3) as store:  # the next open upgrades it
        assert store.schema_version == 4
    assert levels(v3) == BOTH_LEVELS


def test_a_process_killed_mid_upgrade_leaves_the_file_at_3_exactly(v3: Path) -> None:
    before = dump(v3)
    code = (
        "import os, sys\n"
        "from desktopviz.core import store_migrate\n"
        "from desktopviz.core.store import FlowStore\n"
        "real = store_migrate.delete_unstored_levels\n"
        "def killed(c):\n"
        "    real(c)\n"
        "    os._exit(9)  # killed with the rows deleted, before the commit\n"
        "store_migrate.delete_unstored_levels = killed\n"
        "FlowStore(sys.argv[1])\n"
    )
    root = str(Path(__file__).parents[2])
    run = subprocess.run([sys.executable, "-c", code, str(v3)], check=False, cwd=root)
    assert run.returncode == 9
    assert dump(v3) == before and stored_schema(v3) == 3
    with FlowStore(v3) as store:
        assert store.schema_version == 4 and store.count() == 400
