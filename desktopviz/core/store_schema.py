"""The flow store's tables, views and indexes (schema version 4); see docs/store.md.

A flow log's labels and policy trace repeat across millions of logs but take few distinct
values, and so does everything but its times and counters. Each distinct value is stored once:

* ``flow_keys``: ``id``, ``digest`` (UNIQUE, :func:`desktopviz.core.store_keys.key_digest`)
  and :data:`KEY_COLUMNS`: every Calico field except the nine varying integers, with
  ``source_labels_id`` / ``dest_labels_id`` (→ ``label_sets.id``) and ``trace_id``
  (→ ``traces.id``) in place of labels and policies, lists as JSON text (schema 2's
  ``flow_rows`` columns);
* ``flow_data``: one narrow row per log, ``id INTEGER PRIMARY KEY, key_id`` and the varying
  integers (:data:`DATA_COLUMNS`);
* ``label_sets(id, labels)``, ``traces(id, policies)``: the exact compact JSON text of each
  distinct value; ``trace_hits``: one row per entry of each distinct trace (what
  :func:`desktopviz.core.store_ingest.parse_hits` gives);
* the views ``flow_rows`` (schema 2's table: id, its columns, then ``key_id``), ``flow_logs``
  (the schema-1 columns, then the three ids and ``key_id``) and ``policy_hits`` (the schema-1
  columns), so every reader of the old tables keeps working. SQLite drops a view's LEFT JOINs
  on primary keys that the query does not read: counting or paging ``flow_rows`` by time reads
  ``flow_data`` alone;
* the rollups: ``flow_rollup`` / ``hit_rollup`` are views over integer-keyed tables (groups
  stored once, sums per level, bucket and group id: :mod:`desktopviz.core.store_groups`);
  ``series_rollup`` is a table.

Schema 4 is schema 3 without the 5-minute level (300) of ``flow_sums`` / ``hit_sums``: the
tables are the same, but a desktopviz that knows schema 3 only reads that level where whole
5-minute buckets fit, so it must refuse a file that no longer has it (it refuses newer schemas).
"""

from __future__ import annotations

import sqlite3

from desktopviz.core.flowlog import FIELDS, VARYING_FIELDS
from desktopviz.core.store_groups import create_rollup_tables, create_rollup_views
from desktopviz.core.store_ingest import (
    COUNTERS,
    HIT_COLUMNS,
    ID_COLUMN,
    ROW_COLUMNS,
    TRACE_HIT_COLUMNS,
)
from desktopviz.core.store_keys import DATA_COLUMNS, INT_FIELDS, KEY_COLUMNS, KEY_FIELDS

SCHEMA_VERSION = 4
# The oldest schema a read-only open reads as it is (no upgrade): schema 3 differs from 4 only
# by its 5-minute rollup rows, which no reader reads. Older files must be upgraded first.
READ_AS_IS_SCHEMA = 3
APPLICATION = "desktopviz-flowstore"

__all__ = [
    "APPLICATION",
    "BULK_TABLES",
    "DATA_COLUMNS",
    "ID_COLUMN",
    "INDEXES",
    "INT_FIELDS",
    "JSON_SOURCE",
    "KEY_COLUMNS",
    "KEY_TEXT_JOINS",
    "ROW_COLUMNS",
    "READ_AS_IS_SCHEMA",
    "SCHEMA_VERSION",
    "TRACE_HIT_COLUMNS",
    "create_key_tables",
    "create_trace_tables",
    "create_schema",
    "create_views",
    "ensure_indexes",
    "upgrade_note",
    "upgrades_on_open",
]

# Tables whose secondary indexes a bulk load drops and rebuilds (but those led by start_time).
BULK_TABLES = ("flow_data", "trace_hits")


def _ix(table: str, *cols: str, name: str = "") -> tuple[str, str, tuple[str, ...]]:
    return (name or f"ix_{table}_{'_'.join(cols)}", table, cols)


# (name, table, columns). The time index is in the browser's order (start_time, id) and
# carries the key id, so a filter on key columns (a set of key ids) walking it newest first
# tests each log in the index and reads only the matching rows. The key index serves the
# logs of a few keys in a time range. flow_keys has its UNIQUE digest and nothing else: a
# few thousand rows, read whole.
INDEXES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    _ix("flow_data", "start_time", "id", "key_id", name="ix_flow_data_time"),
    _ix("flow_data", "key_id", "start_time", name="ix_flow_data_key"),
    _ix("trace_hits", "trace_id"),
    _ix("trace_hits", "policy", "trace_id"),
    _ix("trace_hits", "tier", "trace_id"),
)


def ensure_indexes(conn: sqlite3.Connection) -> list[str]:
    """Create the store's indexes that a file lacks (written before an index was added);
    returns the names created. Needs a writable connection."""
    have = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    done = []
    for name, table, cols in INDEXES:
        if name not in have:
            conn.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {table} ({', '.join(cols)})")
            done.append(name)
    return done


_VARYING = frozenset(VARYING_FIELDS)
# a key's labels and policies texts (``flow_keys AS k`` joined with these), as flow_logs reads them
JSON_SOURCE = {"source_labels": "sl.labels", "dest_labels": "dl.labels", "policies": "t.policies"}
KEY_TEXT_JOINS = (
    "LEFT JOIN label_sets AS sl ON sl.id = k.source_labels_id "
    "LEFT JOIN label_sets AS dl ON dl.id = k.dest_labels_id "
    "LEFT JOIN traces AS t ON t.id = k.trace_id"
)
_JOINS = f"FROM flow_data AS d LEFT JOIN flow_keys AS k ON k.id = d.key_id {KEY_TEXT_JOINS}"


def _src(col: str) -> str:
    """Where a flow_rows column comes from: flow_data or flow_keys."""
    return f"d.{col}" if col in _VARYING or col == "id" else f"k.{col}"


def _flow_rows_view() -> str:
    cols = [f"{_src(c)} AS {c}" for c in ROW_COLUMNS] + ["d.key_id AS key_id"]
    return (
        f"CREATE VIEW flow_rows AS SELECT {', '.join(cols)} "
        "FROM flow_data AS d LEFT JOIN flow_keys AS k ON k.id = d.key_id"
    )


def _flow_logs_view() -> str:
    cols = ["d.id AS id"]
    cols += [f"{JSON_SOURCE.get(n) or _src(n)} AS {n}" for n in FIELDS]
    cols += [f"k.{c} AS {c}" for c in ID_COLUMN.values()]
    cols.append("d.key_id AS key_id")
    return f"CREATE VIEW flow_logs AS SELECT {', '.join(cols)} {_JOINS}"


def _policy_hits_view() -> str:
    src = {"flow_log_id": "d.id", "reporter": "k.reporter", "start_time": "d.start_time"}
    src.update({c: f"d.{c}" for c in COUNTERS})
    cols = ", ".join(f"{src.get(c, 'h.' + c)} AS {c}" for c in HIT_COLUMNS)
    return (
        f"CREATE VIEW policy_hits AS SELECT {cols} FROM flow_data AS d "
        "JOIN flow_keys AS k ON k.id = d.key_id JOIN trace_hits AS h ON h.trace_id = k.trace_id"
    )


def _column_type(field: str, col: str) -> str:
    return "INTEGER" if col != field or field in INT_FIELDS else "TEXT"


def create_key_tables(c: sqlite3.Connection) -> None:
    """flow_keys, flow_data, traces and trace_hits (no secondary indexes: see
    :func:`ensure_indexes`; flow_keys' digest is UNIQUE)."""
    keys = [f"{col} {_column_type(n, col)}" for n, col in zip(KEY_FIELDS, KEY_COLUMNS, strict=True)]
    c.execute(
        f"CREATE TABLE flow_keys (id INTEGER PRIMARY KEY, digest BLOB NOT NULL UNIQUE, {', '.join(keys)})"
    )
    data = ", ".join(f"{col} INTEGER" for col in DATA_COLUMNS[2:])
    c.execute(f"CREATE TABLE flow_data (id INTEGER PRIMARY KEY, key_id INTEGER NOT NULL, {data})")
    create_trace_tables(c)


def create_trace_tables(c: sqlite3.Connection) -> None:
    """traces and trace_hits, unless the file has them (schema 2 did; the upgrade of a
    schema-1 file makes them before its flow_keys)."""
    c.execute("CREATE TABLE IF NOT EXISTS traces (id INTEGER PRIMARY KEY, policies TEXT NOT NULL UNIQUE)")
    c.execute(
        "CREATE TABLE IF NOT EXISTS trace_hits (trace_id INTEGER NOT NULL, kind TEXT NOT NULL, "
        "idx INTEGER, tier TEXT, policy TEXT, namespace TEXT, action TEXT, rule_index INTEGER)"
    )


def create_views(c: sqlite3.Connection) -> None:
    c.execute(_flow_rows_view())
    c.execute(_flow_logs_view())
    c.execute(_policy_hits_view())


def create_schema(c: sqlite3.Connection) -> None:
    """Every table, view and index of an empty store (the caller holds the transaction)."""
    c.execute("CREATE TABLE label_sets (id INTEGER PRIMARY KEY, labels TEXT NOT NULL UNIQUE)")
    create_key_tables(c)
    create_views(c)
    ensure_indexes(c)
    create_rollup_tables(c)
    create_rollup_views(c)
    c.execute(
        "CREATE TABLE series_rollup (bucket INTEGER NOT NULL, action TEXT NOT NULL, reporter TEXT NOT NULL, "
        "logs INTEGER NOT NULL, num_flows INTEGER NOT NULL, bytes INTEGER NOT NULL, "
        "PRIMARY KEY (bucket, action, reporter)) WITHOUT ROWID"
    )
    c.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")


def upgrades_on_open(version: int, *, readonly: bool) -> bool:
    """Whether opening a file of schema ``version`` upgrades it in place: a writable open
    upgrades every older schema, a read-only one those older than :data:`READ_AS_IS_SCHEMA`
    (through a short writable connection). Newer schemas are refused, not upgraded."""
    if readonly:
        return 1 <= version < READ_AS_IS_SCHEMA
    return 1 <= version < SCHEMA_VERSION


def upgrade_note(version: int) -> str:
    """How long the upgrade from ``version`` takes, for the user waiting for it: 1 and 2
    rewrite every log (25 s for 1,000,000 logs), 3 only deletes the 5-minute rollup rows
    (0.7–0.8 s for 1,000,000 logs; docs/store.md)."""
    if version >= READ_AS_IS_SCHEMA:
        return "about a second per million logs"
    return "about half a minute per million logs"
