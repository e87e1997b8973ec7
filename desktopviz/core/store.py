"""The flow store: Calico flow logs in one SQLite file (WAL), indexed for the views.

Tables (schema version :data:`SCHEMA_VERSION`; layout and reasons in docs/store.md and
:mod:`desktopviz.core.store_schema`):

* ``flow_keys``: each distinct *key* of a flow log once (every Calico field but the nine
  varying integers: times and counters), arrays as compact JSON text, labels and policies as
  ``source_labels_id`` / ``dest_labels_id`` → ``label_sets`` and ``trace_id`` → ``traces``;
  ``flow_data``: one narrow row per log, ``(id, key_id, start_time, end_time, counters…)``.
  ``trace_hits``: the entries of each distinct trace, so per-rule metrics and policy filters
  need no string parsing.
* views ``flow_rows`` (schema 2's table: flow_data joined with its key), ``flow_logs`` (the
  schema-1 columns: id + FIELDS, JSON joined back in, then the three ids and the key id) and
  ``policy_hits`` (one row per trace entry of each log, with its reporter, start time and
  counters), for every reader that wants whole records or hits.
* ``flow_rollup`` / ``hit_rollup``: sums per day and hour (by start time) of the
  flow keys the visualizer groups by and of the policy hits (views over integer-keyed
  ``flow_groups`` / ``flow_sums`` and ``hit_groups`` / ``hit_sums``:
  :mod:`desktopviz.core.store_groups`); ``series_rollup``: logs,
  connections and bytes per 5 minutes, action and reporter. All kept up to date in the
  insert's transaction, so "all time" aggregates read thousands of narrow rows, not millions
  of flow logs (see :mod:`desktopviz.core.queries`).
* ``meta``: schema version and creation info (scenario, seed, created_at).

An older file is upgraded in place when opened (:mod:`desktopviz.core.store_migrate`); a
read-only open reads a schema-3 file as it is (:data:`READ_AS_IS_SCHEMA`).
One FlowStore per thread: the simulator worker writes through its own, the GUI reads through
another. Connections run in autocommit mode, so a reader sees each committed insert.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from operator import attrgetter
from pathlib import Path
from typing import Any

from desktopviz import __version__
from desktopviz.core.flowlog import FIELDS, JSON_FIELDS, FlowLog
from desktopviz.core.store_groups import RollupGroups
from desktopviz.core.store_ingest import (
    COLUMNS,
    COUNTERS,
    FINEST,
    FLOW_KEY,
    HIT_COLUMNS,
    ROLLUP_LEVELS,
    Ingest,
    TraceError,
)
from desktopviz.core.store_keys import KeyIndex, rollback
from desktopviz.core.store_schema import (
    APPLICATION,
    INDEXES,
    INT_FIELDS,
    READ_AS_IS_SCHEMA,
    ROW_COLUMNS,
    SCHEMA_VERSION,
    create_schema,
    ensure_indexes,
    upgrade_note,
    upgrades_on_open,
)

_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
_loads = json.loads
__all__ = [
    "COLUMNS",
    "INDEXES",
    "COUNTERS",
    "FINEST",
    "FLOW_KEY",
    "HIT_COLUMNS",
    "ROLLUP_LEVELS",
    "ROW_COLUMNS",
    "APPLICATION",
    "INT_FIELDS",
    "READ_AS_IS_SCHEMA",
    "SCHEMA_VERSION",
    "FlowStore",
    "StoreError",
    "ensure_indexes",
    "stored_schema",
    "upgrade_note",
    "upgrades_on_open",
]
_get_fields = attrgetter(*FIELDS)
_JSON_IDX = tuple(i for i, n in enumerate(FIELDS) if n in JSON_FIELDS)


class StoreError(Exception):
    """A flow store that cannot be used: missing, not SQLite, another schema, bad data."""


def record_from_row(row: Mapping[str, Any] | Sequence[Any]) -> FlowLog:
    """Rebuild the exact Calico record from a ``flow_logs`` row (JSON fields decoded).

    Accepts a mapping with column names (``sqlite3.Row``, dict) or a sequence of the values
    in :data:`FIELDS` order (without the id)."""
    if isinstance(row, sqlite3.Row):
        values = [row[n] for n in FIELDS]
    elif isinstance(row, Mapping):
        values = [row.get(n) for n in FIELDS]
    else:
        values = list(row)
    for i in _JSON_IDX:
        v = values[i]
        if v is not None:
            values[i] = _loads(v)
    d = dict(zip(FIELDS, values, strict=True))
    if d["policies"] is None:
        d["policies"] = {}
    return FlowLog(**d)


def row_values(log: FlowLog) -> list[Any]:
    """The ``flow_logs`` column values of a record in FIELDS order (JSON fields encoded)."""
    values = list(_get_fields(log))
    for i in _JSON_IDX:
        v = values[i]
        if v is not None:
            values[i] = _dumps(v)
    return values


def _connect(path: Path, readonly: bool) -> sqlite3.Connection:
    uri = f"{path.resolve().as_uri()}?mode={'ro' if readonly else 'rwc'}"
    conn = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=30.0)
    conn.row_factory = sqlite3.Row
    return conn


class FlowStore:
    """A flow-log database. ``create=False`` refuses a missing file; ``readonly`` opens it
    with ``mode=ro``. Use one instance per thread; close it (or use ``with``).
    ``schema_version``: the file's schema once open (:data:`SCHEMA_VERSION`, or 3 read-only)."""

    def __init__(self, path: str | Path, *, create: bool = True, readonly: bool = False) -> None:
        self.path = Path(path)
        self.readonly = readonly
        self.schema_version = SCHEMA_VERSION
        if not self.path.exists() and (readonly or not create):
            raise StoreError(f"{self.path}: no such flow store")
        if self.path.is_dir():
            raise StoreError(f"{self.path}: is a folder, not a flow store")
        try:
            self.conn = _connect(self.path, readonly)
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: cannot open: {exc}") from exc
        try:
            self._open()
        except sqlite3.DatabaseError as exc:
            self.conn.close()
            raise StoreError(f"{self.path}: not a SQLite database ({exc})") from exc
        except BaseException:  # StoreError, or an upgrade interrupted (rolled back)
            self.conn.close()
            raise
        self._ingest = Ingest(self.conn)

    # -- opening -----------------------------------------------------------------------------
    def _open(self) -> None:
        c = self.conn
        tables = {r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")}
        if not tables:
            if self.readonly:
                raise StoreError(f"{self.path}: empty database, not a desktopviz flow store")
            if not self._create_schema():  # another process created it meanwhile: open it
                self._open()
            return
        if "meta" not in tables or "flow_logs" not in tables:
            raise StoreError(f"{self.path}: not a desktopviz flow store (no meta/flow_logs tables)")
        meta = dict(c.execute("SELECT key, value FROM meta").fetchall())
        if meta.get("application") != APPLICATION:
            raise StoreError(
                f"{self.path}: not a desktopviz flow store (application={meta.get('application')!r})"
            )
        try:
            version = int(meta.get("schema_version", ""))
        except ValueError:
            raise StoreError(f"{self.path}: flow store without a valid schema version") from None
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path}: flow store schema {version} was written by a newer desktopviz; "
                f"this version reads schema {SCHEMA_VERSION}"
            )
        if version < 1:
            raise StoreError(
                f"{self.path}: flow store schema {version} is older than 1 and cannot be "
                "upgraded; run the scenario again or re-import the flow logs"
            )
        self.schema_version = version
        if upgrades_on_open(version, readonly=self.readonly):
            self._upgrade(version)
            return
        if not self.readonly:
            c.execute("PRAGMA journal_mode=WAL")
            c.execute("PRAGMA synchronous=NORMAL")
            ensure_indexes(c)
            if "bulk_dropped_indexes" in tables:
                # an import's bulk load was killed: put back every index it had dropped
                from desktopviz.core.store_bulk import restore_indexes  # store_bulk imports store

                restore_indexes(self)

    def _upgrade(self, version: int) -> None:
        """Bring an older file to the current schema in place (one transaction), then open it
        as usual. A read-only open upgrades it (schema 1 or 2) through a short writable
        connection when the file may be written."""
        from desktopviz.core.store_migrate import migrate

        if not self.readonly:
            self.conn.execute("PRAGMA journal_mode=WAL")
            try:
                migrate(self.conn)
            except sqlite3.Error as exc:
                raise StoreError(
                    f"{self.path}: cannot upgrade flow store schema {version} to {SCHEMA_VERSION} ({exc}); "
                    "the file is unchanged"
                ) from exc
            self._open()
            return
        folder = self.path.resolve().parent
        if not (os.access(self.path, os.W_OK) and os.access(folder, os.W_OK)):
            raise StoreError(
                f"{self.path}: flow store schema {version} must be upgraded to schema {SCHEMA_VERSION} "
                "before it can be read, and the file (or its folder) is read-only; copy it to a writable "
                "folder, or make it writable, and open it again"
            )
        self.conn.close()
        FlowStore(self.path, create=False).close()  # upgrades it
        self.conn = _connect(self.path, True)
        self._open()

    def _create_schema(self) -> bool:
        """Create an empty file's schema (True), unless another process did since ``_open``
        looked (False, nothing done: two imports into one new file at once both open it)."""
        c = self.conn
        c.execute("PRAGMA journal_mode=WAL")
        c.execute("PRAGMA synchronous=NORMAL")
        c.execute("BEGIN IMMEDIATE")
        if c.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchone() is not None:
            c.execute("ROLLBACK")
            return False
        create_schema(c)
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        c.executemany(
            "INSERT INTO meta VALUES (?, ?)",
            [
                ("application", APPLICATION),
                ("schema_version", str(SCHEMA_VERSION)),
                ("created_at", now),
                ("created_by", f"desktopviz {__version__}"),
            ],
        )
        c.execute("COMMIT")
        return True

    # -- writing -----------------------------------------------------------------------------
    def insert(self, logs: Iterable[FlowLog | tuple[Any, ...]], *, strict: bool = True) -> int:
        """Store flow logs in one transaction; returns how many were stored. A log is a
        FlowLog or a tuple of its values in FIELDS order (the importer's rows: cheaper).

        A trace entry that is not a policy hit raises StoreError (nothing is stored) when
        ``strict``; otherwise it is left out of ``policy_hits`` and counted in
        ``skipped_traces`` (the flow log itself keeps the full text)."""
        if self.readonly:
            raise StoreError(f"{self.path}: opened read-only")
        c = self.conn
        c.execute("BEGIN IMMEDIATE")
        try:
            n = self._ingest.insert(logs, _get_fields, strict)
            c.execute("COMMIT")
        except BaseException as exc:
            rollback(c, self._ingest.reset)
            if isinstance(exc, TraceError):
                raise StoreError(f"{self.path}: {exc}") from None
            raise
        return n

    @property
    def keys(self) -> KeyIndex:
        """The flow keys of this connection (shared with :meth:`insert`'s cache): a writer
        that inserts ``flow_data`` rows itself takes its key ids from here, in its own
        transaction, and calls ``keys.reset()`` after a ROLLBACK."""
        return self._ingest.keys

    @property
    def groups(self) -> RollupGroups:
        """The rollup group ids of this connection (shared with :meth:`insert`'s cache): a
        writer that upserts ``flow_sums`` / ``hit_sums`` rows itself takes its group ids from
        here, in its own transaction, and calls ``groups.reset()`` after a ROLLBACK."""
        return self._ingest.groups

    @property
    def skipped_traces(self) -> int:
        """Trace entries left out of policy_hits by lenient inserts (not policy hits)."""
        return self._ingest.skipped_traces

    # -- reading -----------------------------------------------------------------------------
    def count(self) -> int:
        return int(self.conn.execute("SELECT count(*) FROM flow_data").fetchone()[0])

    def time_range(self) -> tuple[int, int] | None:
        """(earliest start_time, latest end_time), or None for an empty store. Without a
        table scan: the start from the start_time index, the end from the day rollup (one
        row per day and flow key, kept in each insert's transaction)."""
        c = self.conn
        lo = c.execute("SELECT min(start_time) FROM flow_data").fetchone()[0]
        if lo is None:
            return None
        hi = c.execute(
            "SELECT max(max_end) FROM flow_rollup WHERE level = ?", (ROLLUP_LEVELS[0],)
        ).fetchone()[0]
        if hi is None:  # flow logs without rollups (not written by FlowStore.insert)
            hi = c.execute("SELECT max(end_time) FROM flow_data").fetchone()[0]
        return int(lo), int(hi)

    def get(self, flow_id: int) -> FlowLog:
        """The record with this id; KeyError if there is none."""
        row = self.conn.execute("SELECT * FROM flow_logs WHERE id = ?", (flow_id,)).fetchone()
        if row is None:
            raise KeyError(flow_id)
        return record_from_row(row)

    def rows(
        self,
        since: int | None = None,
        until: int | None = None,
        where_sql: str = "",
        params: Sequence[Any] = (),
        *,
        order_by: str = "start_time",
        descending: bool = False,
    ) -> Iterator[tuple[int, FlowLog]]:
        """Stream (id, record) pairs with since <= start_time < until, in constant memory."""
        from desktopviz.core.queries import build_where, order_clause

        where, args = build_where(since, until, where_sql, params)
        cur = self.conn.execute(
            f"SELECT {', '.join(COLUMNS)} FROM flow_logs {where} {order_clause(order_by, descending)}", args
        )
        while True:
            batch = cur.fetchmany(1000)
            if not batch:
                return
            for r in batch:
                yield r[0], record_from_row(tuple(r)[1:])

    def set_meta(self, key: str, value: Any) -> None:
        """Store a creation/run fact (scenario, seed...). Values are kept as text."""
        if self.readonly:
            raise StoreError(f"{self.path}: opened read-only")
        self.conn.execute(
            "INSERT INTO meta VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, None if value is None else str(value)),
        )

    def get_meta(self, key: str, default: str | None = None) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return default if row is None else row[0]

    def meta(self) -> dict[str, str]:
        return dict(self.conn.execute("SELECT key, value FROM meta").fetchall())

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> FlowStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def connection_of(store_or_conn: FlowStore | sqlite3.Connection) -> sqlite3.Connection:
    """The sqlite3 connection behind a FlowStore (or the connection itself)."""
    return store_or_conn.conn if isinstance(store_or_conn, FlowStore) else store_or_conn


def stored_schema(path: str | Path) -> int | None:
    """The schema version a desktopviz flow store file declares (None: not a readable flow
    store; opening it says why). Reads only ``meta``, so callers can tell beforehand whether
    opening the file will upgrade it in place (:func:`upgrades_on_open`: a writable open
    upgrades every schema older than :data:`SCHEMA_VERSION`, a read-only one schemas 1 and 2)."""
    p = Path(path)
    if not p.is_file():
        return None
    try:
        conn = _connect(p, True)
    except sqlite3.Error:
        return None
    try:
        meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        if meta.get("application") != APPLICATION:
            return None
        return int(meta.get("schema_version", ""))
    except (sqlite3.Error, ValueError):
        return None
    finally:
        conn.close()
