"""The rollups of an insert: sums per day and hour (and per 5 minutes for the time series),
written with one upsert per key.

``flow_rollup``, ``hit_rollup`` and ``series_rollup`` (see :mod:`desktopviz.core.store_schema`)
are kept up to date in each insert's transaction, so a reader always sees rollups that match
the stored rows. The insert loop (:mod:`desktopviz.core.store_ingest`) sums its logs per
(5 minutes, flow key, label sets) and per (5 minutes, reporter, trace); this module derives
the stored levels (hours, then days) from those sums, spreads the trace sums over each
trace's entries, and upserts the rows. The 5-minute sums themselves are stored only per
action and reporter (``series_rollup``): in flow-log data a 5-minute level of ``flow_sums`` /
``hit_sums`` had about one row per log (Felix flushes every 5 minutes), cost ~40 % of an
import's writer and read hardly faster than the logs it duplicated, so readers take the raw
logs for the less-than-an-hour pieces at the ends of a range instead. The rollups are
integer-keyed (:mod:`desktopviz.core.store_groups`): each flow key is first given its
``flow_groups`` id, so the levels are summed per (bucket, group id) and each row written is
(level, bucket, group id, sums).

A trace's entries are kept as small integer *hit keys* (:class:`HitKeys`): summing per
(level, bucket, reporter, hit key) hashes four small values instead of eight texts.
Summing in SQLite instead (``INSERT … SELECT … GROUP BY`` over the inserted id range) was
measured at the same cost or more (with the 5-minute level still stored).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from desktopviz.core.flowlog import FIELDS
from desktopviz.core.sql_rows import RowInsert, execute_rows

__all__ = [
    "COUNTERS",
    "FINEST",
    "FLOW_KEY",
    "HitKeys",
    "HitMemo",
    "IntFlows",
    "ROLLUP_LEVELS",
    "RollupRows",
    "SERIES_BUCKET",
    "add_sums",
    "execute_rollups",
    "flow_group_sums",
    "level_rows",
    "merge_flow",
    "rollup_rows",
    "series_rows",
    "sum_logs",
    "write_rollups",
]

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
# the levels stored in flow_sums / hit_sums, coarsest first; buckets aligned to the epoch
ROLLUP_LEVELS: tuple[int, ...] = (86400, 3600)
# the insert's finest sums (per 5 minutes) and series_rollup's bucket: not a stored level of
# flow_sums / hit_sums (in flow-log data it has about one row per log, as many as the logs)
SERIES_BUCKET = 300
FINEST = SERIES_BUCKET  # the name the importer and queries_series use

UPWARDS = tuple(reversed(ROLLUP_LEVELS))  # the stored levels, finest first: each summed from the one below
assert all(a % b == 0 for a, b in zip(ROLLUP_LEVELS, (*ROLLUP_LEVELS[1:], FINEST), strict=True))  # nested
_SUMS = ("logs", *COUNTERS)
# the rollup upserts (sql_rows: 50 rows to a statement)
_FLOW_SQL = RowInsert(
    f"INSERT INTO flow_sums (level, bucket, group_id, {', '.join(_SUMS)}, min_start, max_end)",
    len(_SUMS) + 5,
    f"ON CONFLICT DO UPDATE SET {', '.join(f'{s} = {s} + excluded.{s}' for s in _SUMS)}, "
    "min_start = min(min_start, excluded.min_start), max_end = max(max_end, excluded.max_end)",
)
_HSUMS = ("hits", *COUNTERS)
_HIT_SQL = RowInsert(  # namespace is not part of the key: a row keeps its first one
    f"INSERT INTO hit_sums (level, bucket, group_id, namespace, {', '.join(_HSUMS)})",
    len(_HSUMS) + 4,
    f"ON CONFLICT DO UPDATE SET {', '.join(f'{s} = {s} + excluded.{s}' for s in _HSUMS)}",
)
_SERIES_SQL = RowInsert(
    "INSERT INTO series_rollup",
    6,
    "ON CONFLICT DO UPDATE SET logs = logs + excluded.logs, num_flows = num_flows + excluded.num_flows, "
    "bytes = bytes + excluded.bytes",
)

_I = {n: i for i, n in enumerate(FIELDS)}
_KEY_IDX = tuple(_I[k] for k in FLOW_KEY)
_START, _END = _I["start_time"], _I["end_time"]
_CNT = tuple(_I[k] for k in COUNTERS)
_INT = frozenset({int})

Hit = tuple[str, int, str, str, str | None, str, int]  # kind, idx, tier, policy, namespace, action, rule
Flows = dict[tuple[Any, ...], list[int]]  # (5 min, *FLOW_KEY, labels ids) -> logs, counters, min, max
Groups = dict[tuple[int, str, int], list[int]]  # (5 min, reporter, trace id) -> logs, counters
RollupRows = tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]]]  # flow, hit, series
IntFlows = dict[tuple[int, int], list[int]]  # (5 min, flow group id) -> logs, counters, min, max
HitMemo = dict[Any, dict[int, int]]  # reporter -> hit key -> hit group id (one HitKeys numbering)


class HitKeys:
    """Small integer ids for the distinct (kind, policy, tier, rule, action, namespace) of
    trace entries (process-local: never stored)."""

    def __init__(self) -> None:
        self.ids: dict[tuple[Any, ...], int] = {}
        self.keys: list[tuple[Any, ...]] = []

    def of(self, hits: tuple[Hit, ...]) -> tuple[int, ...]:
        """The hit keys of a trace's entries, one per entry (an entry twice counts twice)."""
        out = []
        for kind, _idx, tier, policy, ns, action, rule in hits:
            k = (kind, policy, tier, rule, action, ns)
            hid = self.ids.get(k)
            if hid is None:
                hid = self.ids[k] = len(self.keys)
                self.keys.append(k)
            out.append(hid)
        return tuple(out)


def _dashed(col: Sequence[Any]) -> Sequence[Any]:
    """A flow-key column with null as "-" (the rollups' key columns are NOT NULL)."""
    return ["-" if x is None else x for x in col] if None in col else col


def _zeroed(col: Sequence[Any]) -> Sequence[Any]:
    """A counter column with null as 0."""
    return [x or 0 for x in col] if None in col else col


def add_sums(
    cols: Sequence[Sequence[Any]],
    sl: Sequence[Any],
    dl: Sequence[Any],
    tids: Sequence[Any],
    trace_hids: dict[Any, tuple[int, ...]],
    flows: Flows,
    groups: Groups,
) -> None:
    """Add a chunk of logs to the sums per (5 minutes, flow key, label sets) and per
    (5 minutes, reporter, trace). ``cols`` are the chunk's columns in FIELDS order; ``sl``,
    ``dl`` and ``tids`` its label-set and trace ids (None for none), whatever numbering the
    caller uses (the store's ids, or an import reader's own: :mod:`import_prepare`)."""
    starts = cols[_START]
    if not _INT.issuperset(map(type, starts)):
        starts = list(map(int, starts))
    ends = cols[_END]
    if not _INT.issuperset(map(type, ends)):
        ends = list(map(int, ends))
    fine = [s - s % FINEST for s in starts]
    keycols = [_dashed(cols[i]) for i in _KEY_IDX]
    cnt = [_zeroed(cols[i]) for i in _CNT]
    sl0 = [0 if x is None else x for x in sl] if None in sl else sl
    dl0 = [0 if x is None else x for x in dl] if None in dl else dl
    has_hits = trace_hids  # trace id -> its entries (empty: no hits)
    fkeys = list(zip(fine, *keycols, sl0, dl0, strict=True))
    gkeys = [  # bucket, reporter, trace
        None if tid is None or not has_hits[tid] else (k[0], k[8], tid)
        for k, tid in zip(fkeys, tids, strict=True)
    ]
    sum_logs(fkeys, gkeys, cnt, starts, ends, flows, groups)


def sum_logs(
    fkeys: Sequence[Any],
    gkeys: Sequence[Any],
    cnt: Sequence[Sequence[int]],
    starts: Sequence[int],
    ends: Sequence[int],
    flows: dict[Any, list[int]],
    groups: dict[Any, list[int]],
) -> None:
    """Add logs to ``flows`` (logs, the five counters, min start, max end, per flow key:
    ``fkeys``, one per log) and to ``groups`` (logs and the counters per group: ``gkeys``,
    one per log, None for a log in no group). ``cnt``: the columns of COUNTERS."""
    for key, gk, nf, pin, pout, bin_, bout, start, end in zip(fkeys, gkeys, *cnt, starts, ends, strict=True):
        acc = flows.get(key)
        if acc is None:
            flows[key] = [1, nf, pin, pout, bin_, bout, start, end]
        else:  # (written out: a loop over the sums costs more than the rest)
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
        if gk is not None:
            g = groups.get(gk)
            if g is None:
                groups[gk] = [1, nf, pin, pout, bin_, bout]
            else:
                g[0] += 1
                g[1] += nf
                g[2] += pin
                g[3] += pout
                g[4] += bin_
                g[5] += bout


def _spread(
    out: dict[tuple[int, int, str], dict[int, list[int]]],
    level: int,
    groups: dict[tuple[int, str, int], list[int]],
    trace_hids: dict[Any, tuple[int, ...]],
) -> None:
    """Add each (bucket, reporter, trace) sum to every entry of the trace: ``out`` holds the
    sums per (level, bucket, reporter), then per hit key (an int is hashed faster than the
    four-tuple)."""
    oget = out.get
    for (bucket, rep, tid), g in groups.items():
        bk = (level, bucket, rep)
        d = oget(bk)
        if d is None:
            d = out[bk] = {}
        get = d.get
        for hid in trace_hids[tid]:
            t = get(hid)
            if t is None:
                d[hid] = g[:]
            else:  # (written out: a loop over six counters costs more than the rest)
                t[0] += g[0]
                t[1] += g[1]
                t[2] += g[2]
                t[3] += g[3]
                t[4] += g[4]
                t[5] += g[5]


def write_rollups(
    c: sqlite3.Connection,
    flows: Flows,
    groups: Groups,
    trace_hids: dict[int, tuple[int, ...]],
    hit_keys: HitKeys,
    ids: Any,
    hit_memo: HitMemo,
) -> None:
    """Upsert the rollups of an insert's sums (the caller holds the transaction). ``ids``:
    the connection's :class:`~desktopviz.core.store_groups.RollupGroups`; ``hit_memo``: hit
    group ids by reporter and hit key, kept as long as ``hit_keys`` and the ids are."""
    series_of: dict[int, tuple[Any, Any]] = {}
    fsums = flow_group_sums(flows, ids.flows, series_of)
    execute_rollups(c, *rollup_rows(fsums, series_of, groups, trace_hids, hit_keys, ids.hits, hit_memo))


def execute_rollups(c: sqlite3.Connection, frows: Any, hrows: Any, srows: Any) -> None:
    """Upsert rollup rows (iterables of value tuples) as :func:`rollup_rows` makes them."""
    execute_rows(c, _FLOW_SQL, frows)
    execute_rows(c, _HIT_SQL, hrows)
    execute_rows(c, _SERIES_SQL, srows)


def merge_flow(t: list[int], acc: list[int]) -> None:
    """Add flow sums ``acc`` (logs, counters, min start, max end) to ``t``."""
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


def flow_group_sums(flows: Flows, index: Any, series_of: dict[int, tuple[Any, Any]]) -> IntFlows:
    """The sums per (5 minutes, flow key, label sets) as sums per (5 minutes, flow group id)
    (``index``: the connection's flow-group :class:`~desktopviz.core.store_keys.IdIndex`);
    ``series_of`` gets each group's (action, reporter)."""
    out: IntFlows = {}
    id_of = index.id_of
    for key, acc in flows.items():
        k = key[1:]
        gid = id_of(k)
        if gid not in series_of:
            series_of[gid] = (k[6], k[7])
        bk = (key[0], gid)
        t = out.get(bk)
        if t is None:
            out[bk] = acc
        else:  # two keys Python tells apart that are stored alike
            merge_flow(t, acc)
    return out


def _hit_rows(
    hsums: dict[tuple[int, int, Any], dict[int, list[int]]],
    hit_keys: HitKeys,
    hit_ids: Any,
    memo: HitMemo,
) -> list[tuple[Any, ...]]:
    """hit_sums rows (level, bucket, hit group id, namespace, sums), in the order of the
    sums; the group ids of (reporter, hit key) remembered in ``memo``."""
    keys = hit_keys.keys
    id_of = hit_ids.id_of
    hrows = []
    append = hrows.append
    for (level, bucket, rep), sums in hsums.items():
        # a text reporter's ids are remembered (others are stored by their type: 5 and 5.0 differ)
        if type(rep) is not str:
            m: dict[int, int] = {}
        elif (m := memo.get(rep)) is None:  # type: ignore[assignment]
            m = memo[rep] = {}
        for hid, v in sums.items():
            gid = m.get(hid)
            if gid is None:
                kind, policy, tier, rule, action, _ns = keys[hid]
                gid = m[hid] = id_of((kind, policy, tier, rep, rule, action))
            append((level, bucket, gid, keys[hid][5], *v))
    return hrows


def rollup_rows(
    flows: IntFlows,
    series_of: dict[int, tuple[Any, Any]],
    groups: Groups,
    trace_hids: dict[Any, tuple[int, ...]],
    hit_keys: HitKeys,
    hit_ids: Any,
    hit_memo: HitMemo,
) -> RollupRows:
    """The rows to upsert into flow_sums and hit_sums (each level of ROLLUP_LEVELS) and
    series_rollup (per 5 minutes) for these sums: ``flows`` per (5 minutes, flow group id)
    (``series_of``: each group's action and reporter), ``groups`` per (5 minutes, reporter,
    trace); hit group ids from ``hit_ids`` (the connection's hit-group index) through
    ``hit_memo``."""
    frows, hrows = level_rows(flows, groups, trace_hids, hit_keys, hit_ids, hit_memo)
    return frows, hrows, series_rows(flows, series_of)


def series_rows(flows: IntFlows, series_of: dict[int, tuple[Any, Any]]) -> list[tuple[Any, ...]]:
    """series_rollup rows (bucket, action, reporter, logs, num_flows, bytes) of flow sums per
    (5 minutes, flow group id); ``series_of``: each group's action and reporter."""
    series: dict[tuple[Any, ...], list[int]] = {}
    for key, acc in flows.items():
        sk = (key[0], *series_of[key[1]])  # bucket, action, reporter
        sv = series.get(sk)
        if sv is None:
            series[sk] = [acc[0], acc[1], acc[4] + acc[5]]
        else:
            sv[0] += acc[0]
            sv[1] += acc[1]
            sv[2] += acc[4] + acc[5]
    return [(*k, *v) for k, v in series.items()]


def level_rows(
    flows: IntFlows,
    groups: Groups,
    trace_hids: dict[Any, tuple[int, ...]],
    hit_keys: HitKeys,
    hit_ids: Any,
    hit_memo: HitMemo,
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The flow_sums and hit_sums rows of every stored level for sums per (bucket, flow group
    id) and per (bucket, reporter, trace) of a finer bucket, or of the finest stored level
    itself (summing a level into itself changes nothing)."""
    frows: list[tuple[Any, ...]] = []
    # each stored level summed from the level below it (hours from the 5-minute sums, days
    # from hours: a level's buckets are whole buckets of the one below)
    prev: IntFlows = flows
    for level in UPWARDS:
        cur: IntFlows = {}
        get = cur.get
        for (bucket, gid), acc in prev.items():
            k = (bucket // level * level, gid)
            t = get(k)
            if t is None:
                cur[k] = acc[:]
            else:
                merge_flow(t, acc)
        frows.extend((level, *k, *v) for k, v in cur.items())
        prev = cur
    hsums: dict[tuple[int, int, Any], dict[int, list[int]]] = {}
    gprev: dict[tuple[int, str, int], list[int]] = groups
    for level in UPWARDS:  # the (bucket, reporter, trace) sums at this level first
        lg: dict[tuple[int, str, int], list[int]] = {}
        for (bucket, rep, tid), g in gprev.items():
            k2 = (bucket // level * level, rep, tid)
            t = lg.get(k2)
            if t is None:
                lg[k2] = g[:]
            else:
                t[0] += g[0]
                t[1] += g[1]
                t[2] += g[2]
                t[3] += g[3]
                t[4] += g[4]
                t[5] += g[5]
        _spread(hsums, level, lg, trace_hids)
        gprev = lg
    return frows, _hit_rows(hsums, hit_keys, hit_ids, hit_memo)
