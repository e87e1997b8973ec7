"""Upgrade a schema-1, -2 or -3 flow store in place to schema 4, in one transaction.

Schema 1 kept every log's labels and policies JSON text in the table ``flow_logs`` and copied
each trace entry, with the log's counters, into the table ``policy_hits``. Schema 2 kept them
once in ``label_sets`` / ``traces`` / ``trace_hits`` and the rest of each log in the table
``flow_rows``. Schema 3 (:mod:`desktopviz.core.store_schema`) keeps each distinct rest but
the nine varying integers once in ``flow_keys`` and one narrow ``flow_data`` row per log.
Schema 4 has schema 3's tables without the 5-minute level of ``flow_sums`` / ``hit_sums``.

From schema 3 the upgrade deletes those rows (:func:`~store_groups.delete_unstored_levels`);
nothing else changes. From schemas 1 and 2 it copies every log (the same ids, the exact same
values and JSON texts: schema 1's label and trace texts are looked up in the same join),
builds the indexes, then drops the old tables and views and creates the views in their place.
Rollups, label sets, traces and their entries stay as they are (a schema-1 file gains traces
and entries as schema 2 did); the rollup tables ``flow_rollup`` and ``hit_rollup`` become
integer-keyed (each key copied once into ``flow_groups`` / ``hit_groups``, the day and hour
sums into ``flow_sums`` / ``hit_sums``; the 5-minute level is left behind) and views of the
same names take their place. Either runs in one ``BEGIN IMMEDIATE`` transaction: interrupted,
the file stays as it was and complete. Records of indexes that a killed bulk load left dropped
on the old tables go with those tables (the new indexes are created here); those of
``trace_hits`` stay, for :func:`desktopviz.core.store_bulk.restore_indexes`.
"""

from __future__ import annotations

import json
import re
import sqlite3
from typing import Any

from desktopviz.core.flowlog import FIELDS, VARYING_FIELDS
from desktopviz.core.store_bulk import RECORD_TABLE, recorded_indexes
from desktopviz.core.store_groups import (
    FLOW_GROUP,
    FLOW_SUMS,
    HIT_GROUP,
    HIT_SUMS,
    create_rollup_tables,
    create_rollup_views,
    delete_unstored_levels,
    stored_levels_sql,
)
from desktopviz.core.store_ingest import parse_hits
from desktopviz.core.store_keys import CACHE_LIMIT, KEY_COLUMNS, KEY_FIELDS, KeyIndex, insert_data, rollback
from desktopviz.core.store_schema import (
    SCHEMA_VERSION,
    TRACE_HIT_COLUMNS,
    create_key_tables,
    create_trace_tables,
    create_views,
    ensure_indexes,
)

OLD_TABLES = {1: ("flow_logs", "policy_hits"), 2: ("flow_rows",)}
OLD_VIEWS = {1: (), 2: ("flow_logs", "policy_hits")}
BATCH = 20_000
_ON_TABLE = re.compile(r"\bON\s+[\"`\[]?(\w+)", re.IGNORECASE)


def _version(c: sqlite3.Connection) -> int:
    row = c.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    return int(row[0])


def migrate(c: sqlite3.Connection) -> bool:
    """Upgrade a schema-1, -2 or -3 store (autocommit connection, writable); False when
    another connection had done it already. The old tables and rows are dropped with
    ``secure_delete=FAST``: their content lives on in the new ones, and a SQLite built with
    SECURE_DELETE (Debian's) would otherwise write every freed page again, zeroed (on a
    1,000,000-log schema-2 store: 380 MB more write-ahead log and 2 s)."""
    saved = c.execute("PRAGMA secure_delete").fetchone()[0]
    c.execute("PRAGMA secure_delete=FAST")
    try:
        return _migrate(c)
    finally:
        c.execute(f"PRAGMA secure_delete={int(saved)}")


def _migrate(c: sqlite3.Connection) -> bool:
    c.execute("BEGIN IMMEDIATE")
    try:
        version = _version(c)
        if version >= SCHEMA_VERSION:
            c.execute("ROLLBACK")
            return False
        if version == 3:
            delete_unstored_levels(c)
        else:
            _from_rows(c, version)
        c.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION),))
        c.execute("INSERT OR REPLACE INTO meta VALUES ('upgraded_from_schema', ?)", (str(version),))
        c.execute("COMMIT")
    except BaseException:
        rollback(c)  # SQLite may have rolled back itself (disk full): its error is the one to show
        raise
    return True


def _from_rows(c: sqlite3.Connection, version: int) -> None:
    """Schema 1 or 2 to the current tables: every log copied as its key and a flow_data row."""
    if version == 1:
        _traces_of_v1(c)
        source = _V1_SELECT
    else:
        source = _V2_SELECT
    for view in OLD_VIEWS[version]:
        c.execute(f"DROP VIEW {view}")
    create_key_tables(c)
    copy_logs(c, source)
    _forget_dropped_indexes(c, OLD_TABLES[version])
    for table in OLD_TABLES[version]:
        c.execute(f"DROP TABLE {table}")
    convert_rollups(c)
    create_views(c)
    ensure_indexes(c)


# (id, *KEY_COLUMNS, *VARYING_FIELDS) of every log, in id order
_V2_SELECT = f"SELECT id, {', '.join(KEY_COLUMNS)}, {', '.join(VARYING_FIELDS)} FROM flow_rows ORDER BY id"
_JOINED = {"source_labels": "sl.id", "dest_labels": "dl.id", "policies": "t.id"}
_V1_SELECT = (
    f"SELECT f.id, {', '.join(_JOINED.get(n, f'f.{n}') for n in KEY_FIELDS)}, "
    f"{', '.join(f'f.{n}' for n in VARYING_FIELDS)} FROM flow_logs AS f "
    "LEFT JOIN label_sets AS sl ON sl.labels = f.source_labels "
    "LEFT JOIN label_sets AS dl ON dl.labels = f.dest_labels "
    "LEFT JOIN traces AS t ON t.policies = f.policies ORDER BY f.id"
)
assert set(_JOINED) <= set(FIELDS)


def _traces_of_v1(c: sqlite3.Connection) -> None:
    """Schema 2's label sets, traces and trace entries of a schema-1 file."""
    # every label text gets its label set (schema-1 inserts made them all; a file copied with
    # SQL may not have)
    c.execute(
        "INSERT OR IGNORE INTO label_sets (labels) SELECT source_labels FROM flow_logs "
        "WHERE source_labels IS NOT NULL UNION SELECT dest_labels FROM flow_logs WHERE dest_labels IS NOT NULL"
    )
    create_trace_tables(c)
    c.execute(
        "INSERT OR IGNORE INTO traces (policies) SELECT DISTINCT policies FROM flow_logs "
        "WHERE policies IS NOT NULL"
    )
    hits = []
    for tid, text in c.execute("SELECT id, policies FROM traces").fetchall():
        try:
            value = json.loads(text)
        except ValueError:
            continue  # not JSON: schema 1 indexed no hits for it either
        hits.extend((tid, *h) for h in parse_hits(value, strict=False)[0])
    marks = ", ".join("?" * len(TRACE_HIT_COLUMNS))
    c.executemany(f"INSERT INTO trace_hits ({', '.join(TRACE_HIT_COLUMNS)}) VALUES ({marks})", hits)


def copy_logs(c: sqlite3.Connection, select: str) -> int:
    """Write the logs ``select`` reads ((id, *KEY_COLUMNS, *VARYING_FIELDS) rows) as keys and
    flow_data rows; returns how many. The values are SQLite's own (each column's storage
    class as stored), so two rows with equal Python values store the same."""
    keys = KeyIndex(c)
    nk = len(KEY_COLUMNS)
    cur = c.cursor()
    cur.row_factory = None
    cur.execute(select)
    memo: dict[tuple[Any, ...], int] = {}
    done = 0
    while True:
        batch = cur.fetchmany(BATCH)
        if not batch:
            return done
        out = []
        append = out.append
        get = memo.get
        for row in batch:
            key = row[1 : 1 + nk]
            kid = get(key)
            if kid is None:
                kid = memo[key] = keys.key_id(key)
            append((row[0], kid, *row[1 + nk :]))
        insert_data(c, out)
        done += len(out)
        if len(memo) > CACHE_LIMIT:
            memo.clear()


def convert_rollups(c: sqlite3.Connection) -> None:
    """Copy the old ``flow_rollup`` / ``hit_rollup`` tables into the integer-keyed tables
    (each distinct key once, then every sums row of a level still stored with its key's id;
    ``namespace`` with the hit sums) and put the views in their place. The old 5-minute
    level is left behind (every key has its hour and day rows too)."""
    create_rollup_tables(c)
    old = {r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    for name, group, sums in (
        ("flow", FLOW_GROUP, FLOW_SUMS),
        ("hit", HIT_GROUP, ("namespace", *HIT_SUMS)),
    ):
        table = f"{name}_rollup"
        if table not in old:
            continue
        keys = ", ".join(group)
        c.execute(f"INSERT INTO {name}_groups ({keys}) SELECT DISTINCT {keys} FROM {table}")
        on = " AND ".join(f"g.{k} = r.{k}" for k in group)
        c.execute(
            f"INSERT INTO {name}_sums (level, bucket, group_id, {', '.join(sums)}) "
            f"SELECT r.level, r.bucket, g.id, {', '.join(f'r.{k}' for k in sums)} "
            f"FROM {table} AS r JOIN {name}_groups AS g ON {on} WHERE {stored_levels_sql('r.level')}"
        )
        c.execute(f"DROP TABLE {table}")
    create_rollup_views(c)


def _forget_dropped_indexes(c: sqlite3.Connection, tables: tuple[str, ...]) -> None:
    """Drop the records of indexes a killed bulk load left dropped on tables that go."""
    for name, sql in recorded_indexes(c):
        m = _ON_TABLE.search(sql)
        if m is None or m.group(1).lower() in tables:
            c.execute(f"DELETE FROM {RECORD_TABLE} WHERE name = ?", (name,))
