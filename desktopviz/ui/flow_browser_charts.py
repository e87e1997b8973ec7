"""Qt-free data of the flow-log browser's chart strip and top panel: time bounds, allowed and
denied logs per bucket, the most denied names."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from desktopviz.core.queries_base import build_where, data_edges, table_for
from desktopviz.core.queries_series import ACTION_KEYS, time_series

_NICE = (15, 30, 60, 120, 300, 600, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 7 * 86400)


def bucket_seconds(span: int, target: int = 90) -> int:
    """A round bucket width giving about ``target`` buckets over ``span`` seconds."""
    want = max(1, span // max(1, target))
    return next((b for b in _NICE if b >= want), _NICE[-1])


@dataclass
class ChartData:
    """What the chart strip and the top panel show for one filter and time range."""

    buckets: list[Any]
    width: int
    since: int | None
    until: int | None
    top_sources: list[tuple[str, str, int, int]]
    top_dests: list[tuple[str, str, int, int]]


def time_bounds(conn: sqlite3.Connection) -> tuple[int, int] | None:
    """(first start_time, newest end_time) of the store, None when empty. Reads the
    start_time index only (``max(end_time)`` over the table would scan gigabytes): the newest
    end time is that of the logs with the newest start time (:func:`queries_base.data_edges`)."""
    edges = data_edges(conn)
    if edges is None:
        return None
    lo, hi, end = edges
    return int(lo), int(max(hi, end or hi))


def load_chart_data(
    conn: sqlite3.Connection,
    where: str,
    params: Sequence[Any],
    since: int | None,
    until: int | None,
    top: int = 6,
) -> ChartData:
    """Allowed/denied per time bucket and the most denied names for a filter (no time terms
    in ``where``: the range is ``since``/``until``)."""
    bounds = time_bounds(conn)
    if bounds is None:
        return ChartData([], 60, since, until, [], [])
    lo = bounds[0] if since is None else max(since, bounds[0])
    hi = bounds[1] if until is None else min(until, bounds[1])
    if hi <= lo:
        return ChartData([], 60, since, until, [], [])
    width = bucket_seconds(hi - lo)
    buckets = time_series(conn, lo, hi, width, where or None, params)
    w, args = build_where(since, until, where, params)
    # the denied logs summed per key first (key ids through the key index), then per name
    deny = f"{'AND' if w else 'WHERE'} {ACTION_KEYS.format('deny')}"
    sql = (
        "SELECT k.source_namespace, k.source_name_aggr, k.dest_namespace, k.dest_name_aggr, g.f, g.n "
        f"FROM (SELECT key_id, sum(num_flows) AS f, count(*) AS n FROM {table_for(where)} {w} {deny} "
        "GROUP BY key_id) AS g JOIN flow_keys AS k ON k.id = g.key_id"
    )
    sums: tuple[dict[tuple[str, str], list[int]], dict[tuple[str, str], list[int]]] = ({}, {})
    for sns, sname, dns, dname, f, n in conn.execute(sql, args):
        for side, name in ((0, (str(sns), str(sname))), (1, (str(dns), str(dname)))):
            acc = sums[side].setdefault(name, [0, 0])
            acc[0] += int(f or 0)
            acc[1] += int(n)
    tops = [
        [(a, b, c, d) for (a, b), (c, d) in sorted(side.items(), key=lambda x: (-x[1][0], -x[1][1]))[:top]]
        for side in sums
    ]
    return ChartData(buckets, width, since, until, tops[0], tops[1])
