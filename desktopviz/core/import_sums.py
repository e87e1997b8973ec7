"""A keyed batch's rollup sums, added up with numpy instead of a Python loop per record.

The reader process (:mod:`import_keyed`) sums each batch per (5 minutes, flow id) and per
(5 minutes, group id), exactly as :func:`store_rollup.sum_logs` does: logs, the five
counters, the earliest start and latest end of each flow; logs and the counters of each
group (a record whose key has no group is in none). In Python that cost about 2.5 µs a
record, more than reading the record's line; here the records are sorted by (bucket, id)
and each run added with ``reduceat``.

The result is the same dicts, in the same order (each sum where its first record is), with
Python ints. numpy adds 64-bit integers, so a batch whose values could overflow them, or
that holds a value that is not an int (a general-path record), is summed by
:func:`sum_logs` instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from desktopviz.core.flowlog import VARYING_FIELDS
from desktopviz.core.store_rollup import FINEST, ROLLUP_LEVELS, _zeroed, sum_logs

__all__ = ["batch_sums", "info_table", "keyed_sums", "python_sums"]

_LIMIT = 2**62  # a column's values are summed in int64 when n * max(|value|) stays below this
_LOWEST_START = -(2**63) + ROLLUP_LEVELS[0]  # the floor of an earlier start to any bucket may not fit int64


def batch_sums(
    fids: Sequence[int],
    gids: Sequence[int | None],
    sids: Sequence[int],
    starts: Sequence[Any],
    ends: Sequence[Any],
    cnt: Sequence[Sequence[Any]],
    out: tuple[dict[Any, list[int]], dict[Any, list[int]], dict[Any, list[int]]],
    step: int = FINEST,
    columns: Any = None,
) -> None:
    """Add the records (each one's flow id, group id or None, series id, start, end, and the
    COUNTERS columns ``cnt``) to ``out``: flows per (bucket of ``step`` seconds, flow id) and
    groups per (bucket, group id), as :func:`sum_logs` does, and series per (5-minute
    bucket, series id): logs, num_flows and bytes in + out, as ``store_rollup.rollup_rows``
    adds them to series_rollup. The three dicts start empty. ``columns``: start, end and
    ``cnt`` already as one int64 array (then the ids may be int64 arrays, -1 for no group)."""
    a = _int64(starts, ends, cnt) if columns is None else _summable(columns)
    if a is None:
        if isinstance(gids, np.ndarray):
            gids = [None if g < 0 else g for g in gids.tolist()]
        python_sums(list(fids), gids, list(sids), starts, ends, cnt, out, step)
        return
    flows, groups, series = out
    n = len(fids)
    s, e, c = a[0], a[1], a[2:]
    pos = np.arange(n)
    bucket = s - s % step
    _runs(bucket, np.array(fids, dtype=np.int64), pos, s, e, c, flows, True)
    if isinstance(gids, np.ndarray):
        has = gids >= 0
    else:
        has = np.array([g is not None for g in gids], dtype=bool)
    if has.any():
        idx = np.flatnonzero(has)
        if isinstance(gids, np.ndarray):
            gid = gids[idx]
        else:
            gid = np.array([gids[i] for i in idx.tolist()], dtype=np.int64)
        _runs(bucket[idx], gid, idx, s[idx], e[idx], c[:, idx], groups, False)
    three = np.stack([c[0], c[3] + c[4]])  # each below 2**62 / n: their sums fit
    _runs(s - s % FINEST, np.array(sids, dtype=np.int64), pos, s, s, three, series, False)


def _int64(starts: Sequence[Any], ends: Sequence[Any], cnt: Sequence[Sequence[Any]]) -> Any:
    """The columns as one int64 array, or None when numpy cannot sum them exactly: a value
    that is not an int (numpy makes the array of floats, objects or texts), beyond 64 bits
    (objects), a start time whose bucket would fall below 64 bits (numpy would wrap it; the
    store refuses it), or counters whose sums might not fit."""
    if not len(starts):
        return None
    a = np.array([starts, ends, *cnt])
    if a.dtype != np.int64:
        return None
    return _summable(a)


def _summable(a: Any) -> Any:
    """An int64 array of start, end and counters if numpy sums it exactly, else None."""
    if int(a[0].min()) < _LOWEST_START:
        return None
    c = a[2:]
    if max(-int(c.min()), int(c.max())) * a.shape[1] >= _LIMIT:  # the sums might not fit
        return None
    return a


def _runs(
    bucket: Any, ids: Any, pos: Any, s: Any, e: Any, c: Any, out: dict[Any, list[int]], with_times: bool
) -> None:
    """Sum the records per (bucket, id) into ``out``, in the order of each run's first record
    (``pos``: the records' places in the batch)."""
    order = np.lexsort((pos, ids, bucket))  # by bucket, id, then place: a run's first is its first record
    b, i = bucket[order], ids[order]
    edge = np.empty(len(order), dtype=bool)
    edge[0] = True
    edge[1:] = (b[1:] != b[:-1]) | (i[1:] != i[:-1])
    starts_at = np.flatnonzero(edge)
    logs = np.diff(np.append(starts_at, len(order)))
    sums = np.add.reduceat(c[:, order], starts_at, axis=1)
    parts = [logs[None, :], sums]
    if with_times:
        parts.append(np.minimum.reduceat(s[order], starts_at)[None, :])
        parts.append(np.maximum.reduceat(e[order], starts_at)[None, :])
    table = np.concatenate(parts, axis=0)
    first = pos[order][starts_at]
    by_first = np.argsort(first, kind="stable")
    keys = zip(b[starts_at][by_first].tolist(), i[starts_at][by_first].tolist(), strict=True)
    out.update(zip(keys, table[:, by_first].T.tolist(), strict=True))


def python_sums(
    fids: Sequence[int],
    gids: Sequence[int | None],
    sids: Sequence[int],
    starts: Sequence[Any],
    ends: Sequence[Any],
    cnt: Sequence[Sequence[Any]],
    out: tuple[dict[Any, list[int]], dict[Any, list[int]], dict[Any, list[int]]],
    step: int = FINEST,
) -> None:
    """What :func:`batch_sums` does, in Python with :func:`sum_logs` (any ints, or other numbers)."""
    flows, groups, series = out
    buckets = [s - s % step for s in starts]
    fkeys = list(zip(buckets, fids, strict=True))
    gkeys = [None if g is None else (b, g) for b, g in zip(buckets, gids, strict=True)]
    sum_logs(fkeys, gkeys, cnt, starts, ends, flows, groups)
    for sid, start, nf, bi, bo in zip(sids, starts, cnt[0], cnt[3], cnt[4], strict=True):
        k = (start - start % FINEST, sid)
        v = series.get(k)
        if v is None:
            series[k] = [1, nf, bi + bo]
        else:
            v[0] += 1
            v[1] += nf
            v[2] += bi + bo


# -- a keyed batch's sums (the keyed writer's side: import_apply) ------------------------------

_V = {n: i for i, n in enumerate(VARYING_FIELDS)}
_START, _END = _V["start_time"], _V["end_time"]
_VCOUNTERS = tuple(_V[n] for n in ("num_flows", "packets_in", "packets_out", "bytes_in", "bytes_out"))
HOUR = ROLLUP_LEVELS[-1]  # the finest stored rollup level: a batch is summed per hour


def keyed_sums(
    kids: Sequence[int],
    ints: Sequence[Sequence[Any]],
    info: dict[int, tuple[int, int | None, int]],
    names: dict[int, tuple[Any, Any]],
    columns: Any = None,
    table: Any = None,
) -> tuple[dict[Any, list[int]], dict[Any, list[int]], dict[Any, list[int]]]:
    """A batch's rollup sums (the writer's side: :mod:`import_apply`), from each record's
    local key id and varying values, each key's (flow, group, series) ids (``info``) and each
    series id's (action, reporter): per (hour, flow id) and (hour, group id), what
    ``store_rollup.add_sums`` sums per (5 minutes, flow key, label sets) and per
    (5 minutes, reporter, trace) summed per hour as ``rollup_rows`` does for the first level
    it stores; and per (5 minutes, action, reporter) for series_rollup. With ``columns``
    (:attr:`KeyedBatch.columns`) and ``table`` (``info`` as an int64 array by key id, -1 for
    no group: :func:`info_table`), in numpy without a Python step per record."""
    flows: dict[Any, list[int]] = {}
    groups: dict[Any, list[int]] = {}
    series: dict[Any, list[int]] = {}
    if not kids:
        return flows, groups, series
    starts, ends = ints[_START], ints[_END]
    sums = None
    if columns is not None and table is not None:  # plain ints: the ids from the table
        fids, gids, sids = table[np.asarray(kids, dtype=np.intp)].T
        cnt = [ints[i] for i in _VCOUNTERS]
        sums = columns[[_START, _END, *_VCOUNTERS]]
    else:
        if not _INT.issuperset(map(type, starts)):
            starts = list(map(int, starts))
        if not _INT.issuperset(map(type, ends)):
            ends = list(map(int, ends))
        cnt = [_zeroed(ints[i]) for i in _VCOUNTERS]
        fids, gids, sids = (list(col) for col in zip(*map(info.__getitem__, kids), strict=True))
    per_sid: dict[tuple[int, int], list[int]] = {}
    batch_sums(fids, gids, sids, starts, ends, cnt, (flows, groups, per_sid), HOUR, sums)
    series.update(((b, *names[sid]), v) for (b, sid), v in per_sid.items())
    return flows, groups, series


_INT = frozenset({int})


def info_table(info: dict[int, tuple[int, int | None, int]]) -> Any:
    """Each local key id's (flow id, group id or -1, series id), as an int64 array by key id."""
    table = np.full((max(info, default=-1) + 1, 3), -1, dtype=np.int64)
    for kid, (f, g, s) in info.items():
        table[kid] = (f, -1 if g is None else g, s)
    return table
