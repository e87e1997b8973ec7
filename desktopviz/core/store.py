"""The flow store: Calico flow logs in one SQLite file (WAL), indexed for the views.

Tables (schema version :data:`SCHEMA_VERSION`):

* ``flow_logs``: ``id INTEGER PRIMARY KEY`` plus one column per Calico field
  (:data:`desktopviz.core.flowlog.FIELDS`); labels, policies and arrays as compact JSON text.
* ``policy_hits``: one row per trace entry (enforced and pending) with the flow's reporter,
  start time and counters copied in, so per-rule metrics need no join and no string parsing.
* ``label_sets``: each distinct labels JSON once, so label selectors are evaluated in Python
  on a few hundred sets instead of on every row.
* ``flow_rollup`` / ``hit_rollup``: sums per hour and per day (by start time) of the flow
  keys the visualizer groups by and of the policy hits; kept up to date in the insert's
  transaction, so "all time" aggregates read thousands of rows, not millions
  (see :mod:`desktopviz.core.queries`).
* ``meta``: schema version and creation info (scenario, seed, created_at).

One FlowStore per thread: the simulator worker writes through its own, the GUI reads through
another. Connections run in autocommit mode, so a reader sees each committed insert.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import fields
from operator import attrgetter
from pathlib import Path
from typing import Any

import sqlite_utils

from desktopviz import __version__
from desktopviz.core.flowlog import FIELDS, JSON_FIELDS, FlowLog
from desktopviz.core.verdict import PolicyHit

SCHEMA_VERSION = 1
APPLICATION = "desktopviz-flowstore"
ROLLUP_LEVELS: tuple[int, ...] = (86400, 3600)  # coarsest first; buckets aligned to the epoch
BATCH = 5000  # rows per executemany

_types = {f.name: str(f.type) for f in fields(FlowLog)}
INT_FIELDS = frozenset(n for n in FIELDS if "int" in _types[n] and "list" not in _types[n])
COLUMNS: tuple[str, ...] = ("id", *FIELDS)
FLOW_KEY = (
    "source_namespace",
    "source_name_aggr",
    "source_type",
    "dest_namespace",
    "dest_name_aggr",
    "dest_type",
    "action",
    "reporter",
)
COUNTERS = ("num_flows", "packets_in", "packets_out", "bytes_in", "bytes_out")
HIT_COLUMNS = (
    "flow_log_id",
    "reporter",
    "kind",
    "idx",
    "tier",
    "policy",
    "namespace",
    "action",
    "rule_index",
    "start_time",
    *COUNTERS,
)

_INDEXES = {
    "flow_logs": [
        ("start_time",),
        ("source_namespace", "start_time"),
        ("dest_namespace", "start_time"),
        ("source_name_aggr", "start_time"),
        ("dest_name_aggr", "start_time"),
        ("action", "start_time"),
        ("reporter", "start_time"),
    ],
    "policy_hits": [("start_time",), ("policy", "rule_index", "start_time")],
}

_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
_loads = json.loads
_get_fields = attrgetter(*FIELDS)
_JSON_IDX = tuple(i for i, n in enumerate(FIELDS) if n in JSON_FIELDS)
_IDX = {n: i for i, n in enumerate(FIELDS)}


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
    with ``mode=ro``. Use one instance per thread; close it (or use ``with``)."""

    def __init__(self, path: str | Path, *, create: bool = True, readonly: bool = False) -> None:
        self.path = Path(path)
        self.readonly = readonly
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
        except StoreError:
            self.conn.close()
            raise
        self._label_ids: dict[str, int] = {}
        self._hit_cache: dict[str, PolicyHit] = {}
        self.skipped_traces = 0

    # -- opening -----------------------------------------------------------------------------
    def _open(self) -> None:
        c = self.conn
        tables = {r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if not tables:
            if self.readonly:
                raise StoreError(f"{self.path}: empty database, not a desktopviz flow store")
            self._create_schema()
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
        if version < SCHEMA_VERSION:
            raise StoreError(
                f"{self.path}: flow store schema {version} is older than {SCHEMA_VERSION} and cannot be "
                "upgraded; run the scenario again or re-import the flow logs"
            )
        if not self.readonly:
            c.execute("PRAGMA journal_mode=WAL")
            c.execute("PRAGMA synchronous=NORMAL")

    def _create_schema(self) -> None:
        c = self.conn
        c.execute("PRAGMA journal_mode=WAL")
        c.execute("PRAGMA synchronous=NORMAL")
        db = sqlite_utils.Database(c)
        c.execute("BEGIN")
        cols: dict[str, Any] = {"id": int}
        cols.update({n: (int if n in INT_FIELDS else str) for n in FIELDS})
        db.table("flow_logs").create(cols, pk="id")
        hit_cols: dict[str, Any] = {n: str for n in HIT_COLUMNS}
        hit_cols.update({n: int for n in ("flow_log_id", "idx", "rule_index", "start_time", *COUNTERS)})
        db.table("policy_hits").create(hit_cols)
        for table, indexes in _INDEXES.items():
            for cols_ in indexes:
                db.table(table).create_index(list(cols_), index_name=f"ix_{table}_{'_'.join(cols_)}")
        c.execute("CREATE TABLE label_sets (id INTEGER PRIMARY KEY, labels TEXT NOT NULL UNIQUE)")
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
        c.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
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

    # -- writing -----------------------------------------------------------------------------
    def insert(self, logs: Iterable[FlowLog], *, strict: bool = True) -> int:
        """Store flow logs in one transaction; returns how many were stored.

        A trace entry that is not a policy hit raises StoreError (nothing is stored) when
        ``strict``; otherwise it is left out of ``policy_hits`` and counted in
        ``skipped_traces`` (the flow log itself keeps the full text)."""
        if self.readonly:
            raise StoreError(f"{self.path}: opened read-only")
        c = self.conn
        c.execute("BEGIN IMMEDIATE")
        try:
            n = self._insert(logs, strict)
            c.execute("COMMIT")
        except BaseException:
            c.execute("ROLLBACK")
            raise
        return n

    def _insert(self, logs: Iterable[FlowLog], strict: bool) -> int:
        c = self.conn
        next_id = (c.execute("SELECT max(id) FROM flow_logs").fetchone()[0] or 0) + 1
        first = next_id
        placeholders = ", ".join("?" * len(COLUMNS))
        sql_flow = f"INSERT INTO flow_logs ({', '.join(COLUMNS)}) VALUES ({placeholders})"
        sql_hit = (
            f"INSERT INTO policy_hits ({', '.join(HIT_COLUMNS)}) VALUES ({', '.join('?' * len(HIT_COLUMNS))})"
        )
        frollup: dict[tuple[Any, ...], list[int]] = {}
        hrollup: dict[tuple[Any, ...], list[Any]] = {}
        flow_rows: list[list[Any]] = []
        hit_rows: list[tuple[Any, ...]] = []
        for log in logs:
            vals = row_values(log)
            vals.insert(0, next_id)
            flow_rows.append(vals)
            self._account(log, vals, next_id, frollup, hrollup, hit_rows, strict)
            next_id += 1
            if len(flow_rows) >= BATCH:
                c.executemany(sql_flow, flow_rows)
                c.executemany(sql_hit, hit_rows)
                flow_rows.clear()
                hit_rows.clear()
        if flow_rows:
            c.executemany(sql_flow, flow_rows)
        if hit_rows:
            c.executemany(sql_hit, hit_rows)
        self._write_rollups(frollup, hrollup)
        return next_id - first

    def _labels_id(self, text: str | None) -> int:
        if text is None:
            return 0
        i = self._label_ids.get(text)
        if i is None:
            c = self.conn
            c.execute("INSERT OR IGNORE INTO label_sets (labels) VALUES (?)", (text,))
            i = c.execute("SELECT id FROM label_sets WHERE labels = ?", (text,)).fetchone()[0]
            self._label_ids[text] = i
        return i

    def _hit(self, text: str, strict: bool, log: FlowLog) -> PolicyHit | None:
        hit = self._hit_cache.get(text)
        if hit is None:
            try:
                hit = PolicyHit.parse(text)
            except (ValueError, AttributeError) as exc:
                if strict:
                    raise StoreError(
                        f"{self.path}: flow log starting {log.start_time} ({log.reporter} "
                        f"{log.source_name_aggr} -> {log.dest_name_aggr}): policies: {exc}"
                    ) from None
                self.skipped_traces += 1
                return None
            if len(self._hit_cache) > 100_000:
                self._hit_cache.clear()
            self._hit_cache[text] = hit
        return hit

    def _account(
        self,
        log: FlowLog,
        vals: list[Any],
        fid: int,
        frollup: dict[tuple[Any, ...], list[int]],
        hrollup: dict[tuple[Any, ...], list[Any]],
        hit_rows: list[tuple[Any, ...]],
        strict: bool,
    ) -> None:
        """Add a log's policy-hit rows and its share of the rollups."""
        start = int(log.start_time)
        counters = (log.num_flows, log.packets_in, log.packets_out, log.bytes_in, log.bytes_out)
        key = tuple("-" if v is None else v for v in (vals[1 + _IDX[k]] for k in FLOW_KEY))
        lid = (
            self._labels_id(vals[1 + _IDX["source_labels"]]),
            self._labels_id(vals[1 + _IDX["dest_labels"]]),
        )
        end = int(log.end_time)
        for level in ROLLUP_LEVELS:
            k = (level, start // level * level, *key, *lid)
            acc = frollup.get(k)
            if acc is None:
                frollup[k] = [1, *counters, start, end]
            else:
                acc[0] += 1
                for j in range(5):
                    acc[1 + j] += counters[j]
                if start < acc[6]:
                    acc[6] = start
                if end > acc[7]:
                    acc[7] = end
        reporter = log.reporter
        for kind, texts in _traces(log.policies):
            for text in texts:
                hit = self._hit(text, strict, log)
                if hit is None:
                    continue
                ns = hit.namespace
                hit_rows.append(
                    (
                        fid,
                        reporter,
                        kind,
                        hit.index,
                        hit.tier,
                        hit.name,
                        ns,
                        hit.action,
                        hit.rule_index,
                        start,
                    )
                    + counters
                )
                for level in ROLLUP_LEVELS:
                    hk = (
                        level,
                        start // level * level,
                        kind,
                        hit.name,
                        hit.tier,
                        reporter,
                        hit.rule_index,
                        hit.action,
                    )
                    hacc = hrollup.get(hk)
                    if hacc is None:
                        hrollup[hk] = [ns, 1, *counters]
                    else:
                        hacc[1] += 1
                        for j in range(5):
                            hacc[2 + j] += counters[j]

    def _write_rollups(
        self, frollup: dict[tuple[Any, ...], list[int]], hrollup: dict[tuple[Any, ...], list[Any]]
    ) -> None:
        c = self.conn
        fcols = ("level", "bucket", *FLOW_KEY, "source_labels_id", "dest_labels_id")
        sums = ("logs", *COUNTERS)
        upd = ", ".join(f"{s} = {s} + excluded.{s}" for s in sums)
        c.executemany(
            f"INSERT INTO flow_rollup ({', '.join(fcols)}, {', '.join(sums)}, min_start, max_end) "
            f"VALUES ({', '.join('?' * (len(fcols) + len(sums) + 2))}) "
            f"ON CONFLICT DO UPDATE SET {upd}, min_start = min(min_start, excluded.min_start), "
            "max_end = max(max_end, excluded.max_end)",
            [(*k, *v) for k, v in frollup.items()],
        )
        hcols = ("level", "bucket", "kind", "policy", "tier", "reporter", "rule_index", "action")
        hsums = ("hits", *COUNTERS)
        hupd = ", ".join(f"{s} = {s} + excluded.{s}" for s in hsums)
        c.executemany(
            f"INSERT INTO hit_rollup ({', '.join(hcols)}, namespace, {', '.join(hsums)}) "
            f"VALUES ({', '.join('?' * (len(hcols) + len(hsums) + 1))}) ON CONFLICT DO UPDATE SET {hupd}",
            [(*k, *v) for k, v in hrollup.items()],
        )

    # -- reading -----------------------------------------------------------------------------
    def count(self) -> int:
        return int(self.conn.execute("SELECT count(*) FROM flow_logs").fetchone()[0])

    def time_range(self) -> tuple[int, int] | None:
        """(earliest start_time, latest end_time), or None for an empty store."""
        lo = self.conn.execute("SELECT min(start_time) FROM flow_logs").fetchone()[0]
        if lo is None:
            return None
        hi = self.conn.execute("SELECT max(end_time) FROM flow_logs").fetchone()[0]
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


def _traces(policies: Mapping[str, Any] | None) -> list[tuple[str, list[str]]]:
    """(kind, entries) pairs to index. Legacy logs with only ``all_policies`` (calico.md §1.3:
    enforced and staged mixed) count its non-staged entries as enforced and all as pending."""
    if not policies:
        return []
    enforced = policies.get("enforced_policies") or []
    pending = policies.get("pending_policies") or []
    if enforced or pending:
        return [("enforced", enforced), ("pending", pending)]
    legacy = policies.get("all_policies") or []
    return [("enforced", [t for t in legacy if "staged:" not in t]), ("pending", list(legacy))]


def connection_of(store_or_conn: FlowStore | sqlite3.Connection) -> sqlite3.Connection:
    """The sqlite3 connection behind a FlowStore (or the connection itself)."""
    return store_or_conn.conn if isinstance(store_or_conn, FlowStore) else store_or_conn
