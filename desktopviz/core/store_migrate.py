"""Upgrade a schema-1 flow store in place to schema 2, in one transaction.

Schema 1 kept every log's labels and policies JSON text in ``flow_logs`` and copied each
trace entry, with the log's counters, into ``policy_hits``. Schema 2 (:mod:`desktopviz.core.
store_schema`) keeps them once in ``label_sets`` / ``traces`` / ``trace_hits``. The upgrade
copies every row (the same ids, the exact same JSON texts), rebuilds the indexes, then drops
the old tables and puts the views ``flow_logs`` and ``policy_hits`` in their place. It runs
in one ``BEGIN IMMEDIATE`` transaction: interrupted, the file stays schema 1 and complete.
"""

from __future__ import annotations

import json
import sqlite3

from desktopviz.core.flowlog import FIELDS
from desktopviz.core.store_ingest import parse_hits
from desktopviz.core.store_schema import (
    ID_COLUMN,
    ROW_COLUMNS,
    SCHEMA_VERSION,
    TRACE_HIT_COLUMNS,
    create_row_tables,
    create_views,
    ensure_indexes,
)

RECORD_TABLE = "bulk_dropped_indexes"  # store_bulk's record of dropped indexes
V1_TABLES = ("flow_logs", "policy_hits")


def _version(c: sqlite3.Connection) -> int:
    row = c.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    return int(row[0])


def migrate_v1(c: sqlite3.Connection) -> bool:
    """Upgrade a schema-1 store (autocommit connection, writable); False when another
    connection had done it already."""
    c.execute("BEGIN IMMEDIATE")
    try:
        if _version(c) != 1:
            c.execute("ROLLBACK")
            return False
        _copy(c)
        c.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION),))
        c.execute("INSERT OR REPLACE INTO meta VALUES ('upgraded_from_schema', '1')")
        c.execute("COMMIT")
    except BaseException:
        c.execute("ROLLBACK")
        raise
    return True


def _copy(c: sqlite3.Connection) -> None:
    # every label text gets its label set (schema-1 inserts made them all; a file copied with
    # SQL may not have)
    c.execute(
        "INSERT OR IGNORE INTO label_sets (labels) SELECT source_labels FROM flow_logs "
        "WHERE source_labels IS NOT NULL UNION SELECT dest_labels FROM flow_logs WHERE dest_labels IS NOT NULL"
    )
    create_row_tables(c)
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
    joined = {"source_labels": "sl.id", "dest_labels": "dl.id", "policies": "t.id"}
    select = ["f.id", *(joined.get(n, f"f.{n}") for n in FIELDS)]
    assert len(select) == len(ROW_COLUMNS) and set(joined) == set(ID_COLUMN)
    c.execute(
        f"INSERT INTO flow_rows ({', '.join(ROW_COLUMNS)}) SELECT {', '.join(select)} FROM flow_logs AS f "
        "LEFT JOIN label_sets AS sl ON sl.labels = f.source_labels "
        "LEFT JOIN label_sets AS dl ON dl.labels = f.dest_labels "
        "LEFT JOIN traces AS t ON t.policies = f.policies ORDER BY f.id"
    )
    has_record = c.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (RECORD_TABLE,)
    ).fetchone()
    if has_record:  # indexes of the old tables left dropped by a killed bulk load go with them
        c.execute(
            f"DELETE FROM {RECORD_TABLE} WHERE sql LIKE '%flow\\_logs%' ESCAPE '\\' "
            f"OR sql LIKE '%policy\\_hits%' ESCAPE '\\'"
        )
    for table in V1_TABLES:
        c.execute(f"DROP TABLE {table}")
    create_views(c)
    ensure_indexes(c)
