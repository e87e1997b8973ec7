"""The insert hot path of the flow store: flow rows and rollups for a batch of logs.

Flow logs repeat themselves: the same label sets and the same policy traces come back in
every flush interval. A log's labels and policies are stored as ids (``label_sets``,
``traces``; a new trace also gets its ``trace_hits`` rows); the id and the parsed trace
entries are cached by content (tuples of the strings, not object identity: the simulator
builds new lists for every log), and the rollups are summed in Python per batch and written
with one upsert per key. See :mod:`desktopviz.core.store_schema` for the tables.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from typing import Any

from desktopviz.core.flowlog import FIELDS, JSON_FIELDS, FlowLog
from desktopviz.core.verdict import PolicyHit

COLUMNS: tuple[str, ...] = ("id", *FIELDS)  # of the flow_logs view
# flow_rows: the three de-duplicated fields as ids, in place (see store_schema)
ID_COLUMN = {"source_labels": "source_labels_id", "dest_labels": "dest_labels_id", "policies": "trace_id"}
ROW_COLUMNS: tuple[str, ...] = ("id", *(ID_COLUMN.get(n, n) for n in FIELDS))
TRACE_HIT_COLUMNS = ("trace_id", "kind", "idx", "tier", "policy", "namespace", "action", "rule_index")
_HIT_MARKS = ", ".join("?" * len(TRACE_HIT_COLUMNS))
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
ROLLUP_LEVELS: tuple[int, ...] = (86400, 3600, 300)  # coarsest first; buckets aligned to the epoch
FINEST = ROLLUP_LEVELS[-1]  # also the bucket of series_rollup
BATCH = 5000
CACHE_LIMIT = 50_000

_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
_I = {n: i for i, n in enumerate(FIELDS)}
_SL, _DL, _POL = _I["source_labels"], _I["dest_labels"], _I["policies"]
_OTHER_JSON = tuple(
    _I[n] for n in FIELDS if n in JSON_FIELDS and n not in ("source_labels", "dest_labels", "policies")
)
_KEY_IDX = tuple(_I[k] for k in FLOW_KEY)
_START, _END, _REP = _I["start_time"], _I["end_time"], _I["reporter"]
_CNT = tuple(_I[k] for k in COUNTERS)
_STD_POLICY_KEYS = ["enforced_policies", "pending_policies", "all_policies"]

Hit = tuple[str, int, str, str, str | None, str, int]  # kind, idx, tier, policy, namespace, action, rule


class TraceError(ValueError):
    """A policies entry that is not a policy hit."""


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


class Ingest:
    """Caches and the insert loop of one FlowStore connection."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self._labels: dict[Any, int] = {}
        self._policies: dict[Any, tuple[int, int]] = {}  # key -> (trace id, bad entries)
        self._trace_hits: dict[int, tuple[Hit, ...]] = {}  # trace id -> its entries
        self.skipped_traces = 0

    def reset(self) -> None:
        """Forget the caches (after a rollback, label-set ids may no longer exist)."""
        self._labels.clear()
        self._policies.clear()
        self._trace_hits.clear()

    def _label(self, value: Any) -> int:
        if type(value) is dict and len(value) == 1 and type(value.get("labels")) is list:
            key: Any = tuple(value["labels"])
        else:
            key = _dumps(value)
        hit = self._labels.get(key)
        if hit is None:
            text = _dumps(value)
            c = self.conn
            c.execute("INSERT OR IGNORE INTO label_sets (labels) VALUES (?)", (text,))
            lid = c.execute("SELECT id FROM label_sets WHERE labels = ?", (text,)).fetchone()[0]
            if len(self._labels) > CACHE_LIMIT:
                self._labels.clear()
            hit = self._labels[key] = lid
        return hit

    def _policy(self, value: Any, strict: bool) -> tuple[int, int]:
        if type(value) is dict and list(value) == _STD_POLICY_KEYS:
            key: Any = (
                tuple(value["enforced_policies"] or ()),
                tuple(value["pending_policies"] or ()),
                tuple(value["all_policies"] or ()),
            )
        else:
            key = _dumps(value)
        hit = self._policies.get(key)
        if hit is None:
            hits, bad = parse_hits(value, strict)
            text = _dumps(value)
            c = self.conn
            cur = c.execute("INSERT OR IGNORE INTO traces (policies) VALUES (?)", (text,))
            if cur.rowcount == 1:
                tid = int(cur.lastrowid or 0)
                c.executemany(
                    f"INSERT INTO trace_hits ({', '.join(TRACE_HIT_COLUMNS)}) VALUES ({_HIT_MARKS})",
                    [(tid, *h) for h in hits],
                )
            else:
                tid = c.execute("SELECT id FROM traces WHERE policies = ?", (text,)).fetchone()[0]
            self._trace_hits[tid] = hits
            hit = self._policies[key] = (tid, bad)
        elif strict and hit[1]:
            parse_hits(value, strict)  # raises TraceError: the trace was stored by a lenient insert
        return hit

    def insert(self, logs: Iterable[FlowLog], getter: Any, strict: bool) -> int:
        """Insert the logs (the caller holds the transaction); returns how many."""
        c = self.conn
        if len(self._policies) > CACHE_LIMIT:  # only between calls: groups below hold trace ids
            self.reset()
        next_id = (c.execute("SELECT max(id) FROM flow_rows").fetchone()[0] or 0) + 1
        first = next_id
        sql_flow = (
            f"INSERT INTO flow_rows ({', '.join(ROW_COLUMNS)}) VALUES ({', '.join('?' * len(ROW_COLUMNS))})"
        )
        flows: dict[tuple[Any, ...], list[int]] = {}
        groups: dict[tuple[int, str, int], list[int]] = {}
        flow_rows: list[list[Any]] = []
        trace_hits = self._trace_hits
        for log in logs:
            v = list(getter(log))
            sl, dl, pol = v[_SL], v[_DL], v[_POL]
            sl_id = dl_id = 0
            if sl is not None:
                v[_SL] = sl_id = self._label(sl)
            if dl is not None:
                v[_DL] = dl_id = self._label(dl)
            tid = -1
            if pol is not None:
                try:
                    tid, bad = self._policy(pol, strict)
                except TraceError as exc:
                    raise TraceError(
                        f"flow log starting {log.start_time} ({log.reporter} {log.source_name_aggr} -> "
                        f"{log.dest_name_aggr}): policies: {exc}"
                    ) from None
                self.skipped_traces += bad
                v[_POL] = tid
            for i in _OTHER_JSON:
                if v[i] is not None:
                    v[i] = _dumps(v[i])
            start, end, rep = int(v[_START]), int(v[_END]), v[_REP]
            nf, pin, pout, bin_, bout = cnt = [v[i] or 0 for i in _CNT]
            v.insert(0, next_id)
            flow_rows.append(v)
            fine = start // FINEST * FINEST
            key = (fine, *["-" if v[1 + i] is None else v[1 + i] for i in _KEY_IDX], sl_id, dl_id)
            acc = flows.get(key)
            if acc is None:
                flows[key] = [1, nf, pin, pout, bin_, bout, start, end]
            else:
                acc[0] += 1
                acc[1] += nf
                acc[2] += pin
                acc[3] += pout
                acc[4] += bin_
                acc[5] += bout
                if start < acc[6]:
                    acc[6] = start
                if end > acc[7]:
                    acc[7] = end
            if tid >= 0 and trace_hits[tid]:
                gk = (fine, rep, tid)
                g = groups.get(gk)
                if g is None:
                    groups[gk] = [1, *cnt]
                else:
                    g[0] += 1
                    for j in range(5):
                        g[1 + j] += cnt[j]
            next_id += 1
            if len(flow_rows) >= BATCH:
                c.executemany(sql_flow, flow_rows)
                flow_rows.clear()
        if flow_rows:
            c.executemany(sql_flow, flow_rows)
        self._write_rollups(flows, groups)
        return next_id - first

    def _write_rollups(
        self, flows: dict[tuple[Any, ...], list[int]], groups: dict[tuple[int, str, int], list[int]]
    ) -> None:
        # (the inner sums are written out: a Python loop over six counters costs more than
        # the rest of the row's work)
        frows: dict[tuple[Any, ...], list[int]] = {}
        series: dict[tuple[int, str, str], list[int]] = {}
        for (fine, *rest), acc in flows.items():
            sk = (fine, rest[6], rest[7])  # bucket, action, reporter
            sv = series.get(sk)
            if sv is None:
                series[sk] = [acc[0], acc[1], acc[4] + acc[5]]
            else:
                sv[0] += acc[0]
                sv[1] += acc[1]
                sv[2] += acc[4] + acc[5]
            for level in ROLLUP_LEVELS:
                k = (level, fine // level * level, *rest)
                t = frows.get(k)
                if t is None:
                    frows[k] = acc[:]
                else:
                    t[0] += acc[0]
                    t[1] += acc[1]
                    t[2] += acc[2]
                    t[3] += acc[3]
                    t[4] += acc[4]
                    t[5] += acc[5]
                    if acc[6] < t[6]:
                        t[6] = acc[6]
                    if acc[7] > t[7]:
                        t[7] = acc[7]
        # The (bucket, reporter, trace) sums at each level first (a trace comes back in every
        # interval), then spread over each trace's entries.
        level_groups: dict[tuple[int, int, str, int], list[int]] = {}
        for (fine, rep, tid), g in groups.items():
            for level in ROLLUP_LEVELS:
                k = (level, fine // level * level, rep, tid)
                t = level_groups.get(k)
                if t is None:
                    level_groups[k] = g[:]
                else:
                    t[0] += g[0]
                    t[1] += g[1]
                    t[2] += g[2]
                    t[3] += g[3]
                    t[4] += g[4]
                    t[5] += g[5]
        hrows: dict[tuple[Any, ...], list[Any]] = {}
        trace_hits = self._trace_hits
        for (level, bucket, rep, tid), g in level_groups.items():
            for kind, _idx, tier, policy, ns, action, rule in trace_hits[tid]:
                k = (level, bucket, kind, policy, tier, rep, rule, action)
                t = hrows.get(k)
                if t is None:
                    hrows[k] = [ns, *g]
                else:
                    t[1] += g[0]
                    t[2] += g[1]
                    t[3] += g[2]
                    t[4] += g[3]
                    t[5] += g[4]
                    t[6] += g[5]
        c = self.conn
        fcols = ("level", "bucket", *FLOW_KEY, "source_labels_id", "dest_labels_id")
        sums = ("logs", *COUNTERS)
        upd = ", ".join(f"{s} = {s} + excluded.{s}" for s in sums)
        c.executemany(
            f"INSERT INTO flow_rollup ({', '.join(fcols)}, {', '.join(sums)}, min_start, max_end) "
            f"VALUES ({', '.join('?' * (len(fcols) + len(sums) + 2))}) "
            f"ON CONFLICT DO UPDATE SET {upd}, min_start = min(min_start, excluded.min_start), "
            "max_end = max(max_end, excluded.max_end)",
            [(*k, *v) for k, v in frows.items()],
        )
        hcols = ("level", "bucket", "kind", "policy", "tier", "reporter", "rule_index", "action")
        hsums = ("hits", *COUNTERS)
        hupd = ", ".join(f"{s} = {s} + excluded.{s}" for s in hsums)
        c.executemany(
            f"INSERT INTO hit_rollup ({', '.join(hcols)}, namespace, {', '.join(hsums)}) "
            f"VALUES ({', '.join('?' * (len(hcols) + len(hsums) + 1))}) ON CONFLICT DO UPDATE SET {hupd}",
            [(*k, *v) for k, v in hrows.items()],
        )
        c.executemany(
            "INSERT INTO series_rollup VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET "
            "logs = logs + excluded.logs, num_flows = num_flows + excluded.num_flows, bytes = bytes + excluded.bytes",
            [(*k, *v) for k, v in series.items()],
        )
