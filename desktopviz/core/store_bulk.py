"""Bulk loading into a flow store: indexes built once at the end instead of on every insert.

    with bulk_load(store):
        store.insert(batch)  # as often as needed, one transaction each

Inside the block the secondary indexes of ``flow_data`` and ``trace_hits`` are dropped (their
definitions are read from ``sqlite_master``, so whatever indexes the store's schema has, or a
file gained later, come back exactly), except those led by ``start_time``, which the load
keeps up to date for less than rebuilding them costs (:func:`kept_during_load`), and the connection runs with ``synchronous=OFF``, a
256 MB page cache and in-memory temporary storage. On leaving the block, however it is left
(an exception, Ctrl-C, a cancelled import), the indexes are created again in one transaction
(with a small page cache, temporary files and a second sorting thread: :data:`REINDEX_PRAGMAS`)
and the settings restored. Sorting a whole table once per index costs about a fifth of
keeping ten B-trees up to date row by row, so this pays off when the load adds at least about
as many rows as the store already holds.

What is dropped is first recorded in the table ``bulk_dropped_indexes`` (in the transaction that
drops it), and dropped in the transaction that recreates them, so a process killed mid-load
leaves the recipe behind: :func:`restore_indexes` (called by the next :func:`bulk_load`, and by
every import) creates them again. The store itself also recreates its standard indexes when
it opens a file for writing.

``synchronous=OFF`` means a power cut or an operating-system crash during the load can lose
or damage what was being written; a crash of desktopviz itself cannot (SQLite's WAL still
protects each committed batch).
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from desktopviz.core.store import FlowStore, StoreError
from desktopviz.core.store_keys import rollback
from desktopviz.core.store_schema import BULK_TABLES

__all__ = [
    "BULK_TABLES",
    "RECORD_TABLE",
    "BulkLoad",
    "bulk_load",
    "kept_during_load",
    "recorded_indexes",
    "restore_indexes",
    "secondary_indexes",
]

RECORD_TABLE = "bulk_dropped_indexes"
_INDEX_COLUMNS = re.compile(r"\(\s*([^,)]+)")  # the first column of CREATE INDEX ... ON t (a, b)
# Settings for the duration of a bulk load (restored afterwards).
BULK_PRAGMAS = (("synchronous", "OFF"), ("cache_size", "-262144"), ("temp_store", "MEMORY"))
# Settings while the indexes are built again at the end: SQLite's sorter then cuts each index's
# keys into runs of the page cache's size, sorts and merges them on a second thread, in
# temporary files. With a 2 MB cache and temporary files each schema-2 flow_rows index of
# 1,000,000 rows built in 0.9 s of wall time instead of 1.7 (one 256 MB sort in memory, which
# never uses the second thread). If temporary files cannot be written, the rebuild runs again with the load's
# settings.
REINDEX_PRAGMAS = (("threads", "2"), ("cache_size", "-2000"), ("temp_store", "FILE"))


@dataclass
class BulkLoad:
    """What a bulk load did: the indexes it dropped (and recreated), and how long that took."""

    dropped: list[str] = field(default_factory=list)
    reindex_seconds: float = 0.0


def secondary_indexes(
    conn: sqlite3.Connection, tables: tuple[str, ...] = BULK_TABLES
) -> list[tuple[str, str]]:
    """(name, CREATE statement) of the tables' indexes that can be rebuilt from the rows: those
    created with CREATE INDEX (not primary keys or UNIQUE constraints, which enforce rules)."""
    marks = ", ".join("?" * len(tables))
    rows = conn.execute(
        f"SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL AND tbl_name IN ({marks}) "
        "ORDER BY name",
        tables,
    ).fetchall()
    return [
        (str(n), str(sql)) for n, sql in rows if not str(sql).lstrip().upper().startswith("CREATE UNIQUE")
    ]


def kept_during_load(sql: str) -> bool:
    """Whether an index is kept up to date during a bulk load instead of being rebuilt: one
    whose first column is ``start_time``. Flow logs arrive in about time order, so such an
    index grows at its end, which costs the load about nothing, while rebuilding it costs
    1-2 µs per row (``ix_flow_data_time``; docs/store.md, Insert speed). An index led
    by another column takes inserts all over its B-tree: rebuilt once, it costs less."""
    m = _INDEX_COLUMNS.search(sql)
    return m is not None and m.group(1).strip().strip('"').lower() == "start_time"


def _has_record_table(conn: sqlite3.Connection) -> bool:
    row = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (RECORD_TABLE,))
    return row.fetchone() is not None


def recorded_indexes(conn: sqlite3.Connection) -> list[tuple[str, str]]:
    """(name, CREATE INDEX statement) of each index a bulk load recorded as dropped (none
    without the record table), by name."""
    if not _has_record_table(conn):
        return []
    return [(str(n), str(s)) for n, s in conn.execute(f"SELECT name, sql FROM {RECORD_TABLE} ORDER BY name")]


def _existing(conn: sqlite3.Connection) -> set[str]:
    return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}


def restore_indexes(store: FlowStore) -> list[str]:
    """Create the indexes an interrupted bulk load left dropped, in one transaction; returns
    their names (empty when there is nothing to do). Needs a writable store."""
    c = store.conn
    if not _has_record_table(c):
        return []
    if store.readonly:
        if not recorded_indexes(c):
            return []
        raise StoreError(f"{store.path}: indexes to rebuild, but the store is open read-only")
    c.execute("BEGIN IMMEDIATE")
    try:
        pending = recorded_indexes(c)  # read in the transaction: another import may have restored them
        have = _existing(c)
        made = []
        for name, sql in pending:
            if name not in have:
                c.execute(sql)
                made.append(name)
        c.execute(f"DROP TABLE {RECORD_TABLE}")
        c.execute("COMMIT")
    except BaseException:
        rollback(c)
        raise
    return made


def _drop(c: sqlite3.Connection) -> list[tuple[str, str]]:
    """Record and drop the secondary indexes (one transaction); returns every recorded index,
    including any an interrupted earlier load left dropped."""
    c.execute("BEGIN IMMEDIATE")
    try:
        c.execute(f"CREATE TABLE IF NOT EXISTS {RECORD_TABLE} (name TEXT PRIMARY KEY, sql TEXT NOT NULL)")
        current = [(n, sql) for n, sql in secondary_indexes(c) if not kept_during_load(sql)]
        c.executemany(f"INSERT OR REPLACE INTO {RECORD_TABLE} (name, sql) VALUES (?, ?)", current)
        for name, _ in current:
            c.execute(f'DROP INDEX "{name}"')
        recorded = recorded_indexes(c)
        c.execute("COMMIT")
    except BaseException:
        rollback(c)
        raise
    return recorded


def _pragmas(c: sqlite3.Connection) -> list[tuple[str, str]]:
    names = dict.fromkeys(name for name, _ in (*BULK_PRAGMAS, *REINDEX_PRAGMAS))
    return [(name, str(c.execute(f"PRAGMA {name}").fetchone()[0])) for name in names]


def _rebuild(store: FlowStore) -> None:
    """Restore the dropped indexes with the rebuild's settings (the load's if those fail)."""
    c = store.conn
    load = [(name, str(c.execute(f"PRAGMA {name}").fetchone()[0])) for name, _ in REINDEX_PRAGMAS]
    for name, value in REINDEX_PRAGMAS:
        c.execute(f"PRAGMA {name}={value}")
    try:
        restore_indexes(store)
    except sqlite3.OperationalError:  # e.g. no room for the sorter's temporary files
        for name, value in load:
            c.execute(f"PRAGMA {name}={value}")
        restore_indexes(store)


@contextmanager
def bulk_load(store: FlowStore, *, drop_indexes: bool = True) -> Iterator[BulkLoad]:
    """Run a large load with the indexes dropped and fast settings (see the module doc).

    ``drop_indexes=False`` keeps the indexes and only changes the settings."""
    if store.readonly:
        raise StoreError(f"{store.path}: opened read-only")
    c = store.conn
    report = BulkLoad()
    saved = _pragmas(c)
    for name, value in BULK_PRAGMAS:
        c.execute(f"PRAGMA {name}={value}")
    try:
        if drop_indexes:
            report.dropped = [n for n, _ in _drop(c)]
        else:
            restore_indexes(store)
        yield report
    finally:
        try:
            # an insert interrupted between BEGIN and COMMIT: undone, with the ids it cached
            rollback(c, store._ingest.reset)  # noqa: SLF001 - the store's own insert caches
            t = time.perf_counter()
            _rebuild(store)
            report.reindex_seconds = time.perf_counter() - t
        finally:
            for name, value in saved:
                c.execute(f"PRAGMA {name}={value}")
