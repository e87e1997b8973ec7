"""The flow store's tables, views and indexes (schema version 2); see docs/store.md.

A flow log's labels and policy trace repeat across millions of logs but take few distinct
values (hundreds of label sets, hundreds to thousands of traces), so ``flow_rows`` keeps
only their ids and each distinct value is stored once:

* ``flow_rows``: ``id INTEGER PRIMARY KEY`` and every Calico field except ``source_labels``,
  ``dest_labels`` and ``policies``, which are ``source_labels_id`` / ``dest_labels_id``
  (→ ``label_sets.id``, NULL for a null field) and ``trace_id`` (→ ``traces.id``, NULL for
  null policies);
* ``label_sets(id, labels)``, ``traces(id, policies)``: the exact compact JSON text of each
  distinct value; ``trace_hits``: one row per entry of each distinct trace (what
  :func:`desktopviz.core.store_ingest.parse_hits` gives), so policy look-ups read a few
  thousand rows and find the traces, then the logs through ``ix_flow_rows_trace_id_start_time``;
* the views ``flow_logs`` (exactly the schema-1 columns, then the three ids) and
  ``policy_hits`` (the schema-1 columns: flow_rows joined with trace_hits), so every reader of
  the old tables keeps working. SQLite drops a view's LEFT JOINs on primary keys that the
  query does not read, so reading ``flow_logs`` without its JSON columns costs nothing extra.
"""

from __future__ import annotations

import sqlite3
from dataclasses import fields

from desktopviz.core.flowlog import FIELDS, FlowLog
from desktopviz.core.store_ingest import (
    COUNTERS,
    FLOW_KEY,
    HIT_COLUMNS,
    ID_COLUMN,
    ROW_COLUMNS,
    TRACE_HIT_COLUMNS,
)

SCHEMA_VERSION = 2
APPLICATION = "desktopviz-flowstore"

_types = {f.name: str(f.type) for f in fields(FlowLog)}
INT_FIELDS = frozenset(n for n in FIELDS if "int" in _types[n] and "list" not in _types[n])

ROW_FIELDS: tuple[str, ...] = ROW_COLUMNS[1:]
__all__ = [
    "APPLICATION",
    "BULK_TABLES",
    "ID_COLUMN",
    "INDEXES",
    "INT_FIELDS",
    "ROW_COLUMNS",
    "ROW_FIELDS",
    "SCHEMA_VERSION",
    "TRACE_HIT_COLUMNS",
    "create_row_tables",
    "create_schema",
    "create_views",
    "ensure_indexes",
]

# Tables whose secondary indexes a bulk load drops and rebuilds.
BULK_TABLES = ("flow_rows", "trace_hits")


def _ix(table: str, *cols: str, name: str = "") -> tuple[str, str, tuple[str, ...]]:
    return (name or f"ix_{table}_{'_'.join(cols)}", table, cols)


# (name, table, columns). Every flow_rows index costs 12-25 bytes per log and its share of the
# rebuild at the end of a bulk import; each serves the newest-first pages of a filter. The
# time index is in the browser's order (start_time, id) and carries the label-set and trace
# ids, so a label or policy filter walking it newest first tests each log in the index and
# reads only the matching rows from the table (SQLite defers the table seek); likewise the
# action index carries the reporter (``action = deny and reporter = dst``).
INDEXES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    _ix(
        "flow_rows",
        "start_time",
        "id",
        "trace_id",
        "source_labels_id",
        "dest_labels_id",
        name="ix_flow_rows_time_ids",
    ),
    _ix("flow_rows", "source_namespace", "start_time"),
    _ix("flow_rows", "dest_namespace", "start_time"),
    _ix("flow_rows", "source_name_aggr", "start_time"),
    _ix("flow_rows", "dest_name_aggr", "start_time"),
    _ix("flow_rows", "action", "start_time", "id", "reporter", name="ix_flow_rows_action_time_reporter"),
    _ix("flow_rows", "reporter", "start_time"),
    _ix("flow_rows", "trace_id", "start_time"),
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


def _flow_logs_view() -> str:
    cols = ["f.id AS id"]
    source = {"source_labels": "sl.labels", "dest_labels": "dl.labels", "policies": "t.policies"}
    cols += [f"{source.get(n, 'f.' + n)} AS {n}" for n in FIELDS]
    cols += [f"f.{c} AS {c}" for c in ID_COLUMN.values()]
    return (
        f"CREATE VIEW flow_logs AS SELECT {', '.join(cols)} FROM flow_rows AS f "
        "LEFT JOIN label_sets AS sl ON sl.id = f.source_labels_id "
        "LEFT JOIN label_sets AS dl ON dl.id = f.dest_labels_id "
        "LEFT JOIN traces AS t ON t.id = f.trace_id"
    )


def _policy_hits_view() -> str:
    src = {"flow_log_id": "f.id", "reporter": "f.reporter", "start_time": "f.start_time"}
    src.update({c: f"f.{c}" for c in COUNTERS})
    cols = ", ".join(f"{src.get(c, 'h.' + c)} AS {c}" for c in HIT_COLUMNS)
    return (
        f"CREATE VIEW policy_hits AS SELECT {cols} FROM flow_rows AS f "
        "JOIN trace_hits AS h ON h.trace_id = f.trace_id"
    )


def create_row_tables(c: sqlite3.Connection) -> None:
    """flow_rows, traces and trace_hits (no secondary indexes: see :func:`ensure_indexes`)."""
    defs = ["id INTEGER PRIMARY KEY"]
    for n, col in zip(FIELDS, ROW_FIELDS, strict=True):
        defs.append(f"{col} INTEGER" if col != n or n in INT_FIELDS else f"{col} TEXT")
    c.execute(f"CREATE TABLE flow_rows ({', '.join(defs)})")
    c.execute("CREATE TABLE IF NOT EXISTS traces (id INTEGER PRIMARY KEY, policies TEXT NOT NULL UNIQUE)")
    c.execute(
        "CREATE TABLE IF NOT EXISTS trace_hits (trace_id INTEGER NOT NULL, kind TEXT NOT NULL, "
        "idx INTEGER, tier TEXT, policy TEXT, namespace TEXT, action TEXT, rule_index INTEGER)"
    )


def create_views(c: sqlite3.Connection) -> None:
    c.execute(_flow_logs_view())
    c.execute(_policy_hits_view())


def create_schema(c: sqlite3.Connection) -> None:
    """Every table, view and index of an empty store (the caller holds the transaction)."""
    c.execute("CREATE TABLE label_sets (id INTEGER PRIMARY KEY, labels TEXT NOT NULL UNIQUE)")
    create_row_tables(c)
    create_views(c)
    ensure_indexes(c)
    key_cols = ", ".join(f"{k} TEXT NOT NULL" for k in FLOW_KEY)
    sums = ", ".join(f"{k} INTEGER NOT NULL" for k in ("logs", *COUNTERS, "min_start", "max_end"))
    c.execute(
        f"CREATE TABLE flow_rollup (level INTEGER NOT NULL, bucket INTEGER NOT NULL, {key_cols}, "
        f"source_labels_id INTEGER NOT NULL, dest_labels_id INTEGER NOT NULL, {sums}, "
        f"PRIMARY KEY (level, bucket, {', '.join(FLOW_KEY)}, source_labels_id, dest_labels_id)) "
        "WITHOUT ROWID"
    )
    hsums = ", ".join(f"{k} INTEGER NOT NULL" for k in ("hits", *COUNTERS))
    c.execute(
        "CREATE TABLE hit_rollup (level INTEGER NOT NULL, bucket INTEGER NOT NULL, kind TEXT NOT NULL, "
        "policy TEXT NOT NULL, tier TEXT NOT NULL, reporter TEXT NOT NULL, rule_index INTEGER NOT NULL, "
        f"action TEXT NOT NULL, namespace TEXT, {hsums}, "
        "PRIMARY KEY (level, bucket, kind, policy, tier, reporter, rule_index, action)) WITHOUT ROWID"
    )
    c.execute(
        "CREATE TABLE series_rollup (bucket INTEGER NOT NULL, action TEXT NOT NULL, reporter TEXT NOT NULL, "
        "logs INTEGER NOT NULL, num_flows INTEGER NOT NULL, bytes INTEGER NOT NULL, "
        "PRIMARY KEY (bucket, action, reporter)) WITHOUT ROWID"
    )
    c.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
