"""The insert hot path of the flow store: flow rows and rollup sums for a batch of logs.

Flow logs repeat themselves: the same label sets and the same policy traces come back in
every flush interval. A log's labels and policies are stored as ids (``label_sets``,
``traces``; a new trace also gets its ``trace_hits`` rows); the ids and the parsed trace
entries are cached by content (tuples of the strings, not object identity: the simulator
builds new lists for every log).

A batch is processed column by column (the rows transposed with ``zip``), because per-row
Python work is what an insert costs: within a chunk each distinct labels/policies/list
object is looked up once (an importer passes the same objects for repeated values); each
row's *key* (everything but the nine varying integers, in store form) gets its
``flow_keys`` id from the connection's :class:`~desktopviz.core.store_keys.KeyIndex` (only
the key columns that vary within the chunk are zipped and hashed, each distinct key looked
up once), and one ``executemany`` writes the narrow ``flow_data`` rows. The rollups are
summed per (5 minutes, flow key) and per (5 minutes, reporter, trace), then written by
:mod:`desktopviz.core.store_rollup`. See :mod:`desktopviz.core.store_schema` for the tables.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from itertools import islice
from typing import Any

from desktopviz.core.flowlog import FIELDS, JSON_FIELDS, VARYING_FIELDS
from desktopviz.core.store_groups import RollupGroups
from desktopviz.core.store_keys import (  # noqa: F401 - ID_COLUMN and ROW_COLUMNS re-exported
    CACHE_LIMIT,
    ID_COLUMN,
    KEY_FIELDS,
    ROW_COLUMNS,
    KeyIndex,
    insert_data,
)
from desktopviz.core.store_rollup import (  # noqa: F401 - ROLLUP_LEVELS re-exported
    COUNTERS,
    FINEST,
    FLOW_KEY,
    ROLLUP_LEVELS,
    Hit,
    HitKeys,
    add_sums,
    write_rollups,
)
from desktopviz.core.verdict import PolicyHit

COLUMNS: tuple[str, ...] = ("id", *FIELDS)  # of the flow_logs view
TRACE_HIT_COLUMNS = ("trace_id", "kind", "idx", "tier", "policy", "namespace", "action", "rule_index")
_HIT_MARKS = ", ".join("?" * len(TRACE_HIT_COLUMNS))
HIT_COLUMNS = (  # of the policy_hits view
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
BATCH = 5000

_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
_I = {n: i for i, n in enumerate(FIELDS)}
_SL, _DL, _POL = _I["source_labels"], _I["dest_labels"], _I["policies"]
_OTHER_JSON = tuple(
    _I[n] for n in FIELDS if n in JSON_FIELDS and n not in ("source_labels", "dest_labels", "policies")
)
_START, _REP = _I["start_time"], _I["reporter"]
_STD_POLICY_KEYS = ["enforced_policies", "pending_policies", "all_policies"]
_STR = frozenset({str})
_KEY_IDX = tuple(_I[n] for n in KEY_FIELDS)
_VAR_IDX = tuple(_I[n] for n in VARYING_FIELDS)


class TraceError(ValueError):
    """A policies entry that is not a policy hit."""


def _log_name(v: Any) -> str:
    """How an error names a flow log (values in FIELDS order)."""
    return (
        f"flow log starting {v[_START]} ({v[_REP]} {v[_I['source_name_aggr']]} -> {v[_I['dest_name_aggr']]})"
    )


def _describe(v: list[Any], exc: Exception) -> str:
    return f"{_log_name(v)}: policies: {exc}"


def traces_to_index(policies: Any) -> list[tuple[str, list[str]]]:
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


def parse_hits(policies: Any, strict: bool) -> tuple[tuple[Hit, ...], int]:
    """The policy-hit rows of a policies object, and how many entries were not hits."""
    out: list[Hit] = []
    bad = 0
    for kind, texts in traces_to_index(policies):
        for text in texts:
            try:
                h = PolicyHit.parse(text)
            except (ValueError, AttributeError) as exc:
                if strict:
                    raise TraceError(str(exc)) from None
                bad += 1
                continue
            out.append((kind, h.index, h.tier, h.name, h.namespace, h.action, h.rule_index))
    return tuple(out), bad


def label_key(value: Any) -> Any:
    """A labels value's cache key, one per stored text: the label texts of Calico's form
    (``{"labels": [str, ...]}``), else the JSON text itself."""
    if type(value) is dict and len(value) == 1 and type(ls := value.get("labels")) is list:
        return tuple(ls) if _STR.issuperset(map(type, ls)) else _dumps(value)
    return _dumps(value)


def trace_key(value: Any) -> Any:
    """A policies value's cache key, one per stored text: its lists of entry texts in
    Calico's usual form (each list null or strings), else the JSON text itself."""
    if type(value) is dict and list(value) == _STD_POLICY_KEYS:
        key = []
        for x in value.values():
            if x is None:
                key.append(None)
            elif type(x) is list and _STR.issuperset(map(type, x)):
                key.append(tuple(x))
            else:
                return _dumps(value)
        return tuple(key)
    return _dumps(value)


def label_set_id(c: sqlite3.Connection, text: str) -> int:
    """The id of a labels JSON text in ``label_sets``, stored if new."""
    c.execute("INSERT OR IGNORE INTO label_sets (labels) VALUES (?)", (text,))
    return int(c.execute("SELECT id FROM label_sets WHERE labels = ?", (text,)).fetchone()[0])


_TRACE_HITS_SQL = f"INSERT INTO trace_hits ({', '.join(TRACE_HIT_COLUMNS)}) VALUES ({_HIT_MARKS})"


def trace_id(c: sqlite3.Connection, text: str, hits: Iterable[Hit]) -> int:
    """The id of a policies JSON text in ``traces``; a new one is stored with its
    ``trace_hits`` rows (``hits``: its parsed entries)."""
    cur = c.execute("INSERT OR IGNORE INTO traces (policies) VALUES (?)", (text,))
    if cur.rowcount == 1:
        tid = int(cur.lastrowid or 0)
        c.executemany(_TRACE_HITS_SQL, [(tid, *h) for h in hits])
        return tid
    return int(c.execute("SELECT id FROM traces WHERE policies = ?", (text,)).fetchone()[0])


def _unsupported(vals: list[Any], kcols: list[Any]) -> Exception:
    """The error for a key value SQLite cannot store (a dict or list outside the JSON fields)."""
    for j, col in enumerate(kcols):
        for r, v in enumerate(col):
            try:
                hash(v)
            except TypeError:
                return sqlite3.ProgrammingError(
                    f"{_log_name(vals[r])}: {KEY_FIELDS[j]}: type {type(v).__name__!r} is not supported"
                )
    return TypeError("unhashable flow key value")  # pragma: no cover - found above


class Ingest:
    """Caches and the insert loop of one FlowStore connection."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self._labels: dict[Any, int] = {}
        self._policies: dict[Any, tuple[int, int]] = {}  # key -> (trace id, bad entries)
        self._trace_hids: dict[int, tuple[int, ...]] = {}  # trace id -> its entries' hit keys
        self._hit_keys = HitKeys()
        self.keys = KeyIndex(conn)
        self.groups = RollupGroups(conn)
        self._hit_memo: dict[Any, dict[int, int]] = {}  # reporter -> hit key -> hit group id
        self.skipped_traces = 0

    def reset(self) -> None:
        """Forget the caches (after a rollback, label-set ids may no longer exist)."""
        self._labels.clear()
        self._policies.clear()
        self._trace_hids.clear()
        self.keys.reset()
        self.groups.reset()
        self._hit_memo.clear()

    def _label(self, value: Any) -> int:
        key = label_key(value)
        hit = self._labels.get(key)
        if hit is None:
            lid = label_set_id(self.conn, _dumps(value))
            if len(self._labels) > CACHE_LIMIT:
                self._labels.clear()
            hit = self._labels[key] = lid
        return hit

    def _policy(self, value: Any, strict: bool) -> tuple[int, int]:
        key = trace_key(value)
        hit = self._policies.get(key)
        if hit is None:
            hits, bad = parse_hits(value, strict)
            tid = trace_id(self.conn, _dumps(value), hits)
            self._trace_hids[tid] = self._hit_keys.of(hits)
            hit = self._policies[key] = (tid, bad)
        elif strict and hit[1]:
            parse_hits(value, strict)  # raises TraceError: the trace was stored by a lenient insert
        return hit

    def _ids(self, col: tuple[Any, ...], fn: Any) -> tuple[list[Any], dict[int, Any]]:
        """``fn`` of each value of a column (None stays None), computed once per distinct
        object: the rows hold every value while the chunk is processed, so ``id()`` cannot be
        reused meanwhile (an importer hands over the same objects for repeated texts)."""
        memo: dict[int, Any] = {}
        get = memo.get
        out = []
        append = out.append
        for x in col:
            if x is None:
                append(None)
                continue
            r = get(id(x))
            if r is None:
                r = memo[id(x)] = fn(x)
            append(r)
        return out, memo

    def _label_ids(self, src: tuple[Any, ...], dst: tuple[Any, ...]) -> tuple[list[Any], list[Any]]:
        """The label-set ids of both label columns, new sets numbered in row order (source
        then destination), each distinct object looked up once (see :meth:`_ids`)."""
        memo: dict[int, int] = {}
        get = memo.get
        label = self._label
        out_s: list[Any] = []
        out_d: list[Any] = []
        for x, y in zip(src, dst, strict=True):
            if x is None:
                out_s.append(None)
            else:
                r = get(id(x))
                if r is None:
                    r = memo[id(x)] = label(x)
                out_s.append(r)
            if y is None:
                out_d.append(None)
            else:
                r = get(id(y))
                if r is None:
                    r = memo[id(y)] = label(y)
                out_d.append(r)
        return out_s, out_d

    def _chunk(
        self,
        vals: list[Any],
        first: int,
        strict: bool,
        flows: dict[tuple[Any, ...], list[int]],
        groups: dict[tuple[int, str, int], list[int]],
    ) -> None:
        """Insert one chunk of value tuples (FIELDS order) as ids first.. and add it to the
        rollup sums. Works column by column: per-row Python work is what costs here."""
        n = len(vals)
        cols: list[Any] = list(zip(*vals, strict=True))
        cols[_SL], cols[_DL] = sl, dl = self._label_ids(cols[_SL], cols[_DL])
        pol = cols[_POL]
        try:
            pairs, memo = self._ids(pol, lambda x: self._policy(x, strict))
        except TraceError as exc:
            raise TraceError(self._where(vals, pol, strict, exc)) from None
        if any(b for _, b in memo.values()):
            self.skipped_traces += sum(p[1] for p in pairs if p is not None)
        cols[_POL] = tids = [None if p is None else p[0] for p in pairs]
        for i in _OTHER_JSON:
            col = cols[i]
            if col[0] is not None or col.count(None) != n:
                cols[i] = self._ids(col, _dumps)[0]
        kcols = [cols[i] for i in _KEY_IDX]
        try:
            kids = self.keys.column_ids(kcols, n)
        except TypeError:  # an unhashable value: what binding it would have raised
            raise _unsupported(vals, kcols) from None
        insert_data(self.conn, zip(range(first, first + n), kids, *(cols[i] for i in _VAR_IDX), strict=True))
        # rollup sums
        add_sums(cols, sl, dl, tids, self._trace_hids, flows, groups)

    def _where(self, vals: list[Any], pol: tuple[Any, ...], strict: bool, exc: TraceError) -> str:
        """The error message naming the first log whose policies are refused."""
        for v, p in zip(vals, pol, strict=True):
            if p is not None:
                try:
                    parse_hits(p, strict)
                except TraceError:
                    return _describe(list(v), exc)
        return str(exc)  # pragma: no cover - the failing value is in the chunk

    def insert(self, logs: Iterable[Any], getter: Any, strict: bool) -> int:
        """Insert the logs (the caller holds the transaction); returns how many. Value tuples
        in FIELDS order are read as they are, other records through ``getter``."""
        c = self.conn
        if len(self._policies) > CACHE_LIMIT:  # only between calls: groups below hold trace ids
            self.reset()
        if len(self._hit_keys.keys) > CACHE_LIMIT:
            self._hit_keys = HitKeys()
            self._hit_memo.clear()
            self._trace_hids.clear()
            self._policies.clear()
        first = next_id = (c.execute("SELECT max(id) FROM flow_data").fetchone()[0] or 0) + 1
        flows: dict[tuple[Any, ...], list[int]] = {}
        groups: dict[tuple[int, str, int], list[int]] = {}
        it = iter(logs)
        while True:
            vals = [x if isinstance(x, tuple) else getter(x) for x in islice(it, BATCH)]
            if not vals:
                break
            self._chunk(vals, next_id, strict, flows, groups)
            next_id += len(vals)
        write_rollups(c, flows, groups, self._trace_hids, self._hit_keys, self.groups, self._hit_memo)
        return next_id - first
