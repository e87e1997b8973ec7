"""Allowed and denied flow logs per time bucket (the browser's chart strip, the CLI): from the
5-minute rollup where whole buckets allow, else from the logs, the action of each log told by
its key id (the ids of the allow keys and of the deny keys, a few thousand), so no log is
joined with its key.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from desktopviz.core.queries_base import (
    KEY_SUBQUERY,
    Conn,
    QueryError,
    build_where,
    keyed,
    segments,
    table_for,
)
from desktopviz.core.queries_pages import KEY_INDEX, narrowed
from desktopviz.core.store import connection_of
from desktopviz.core.store_rollup import SERIES_BUCKET

ACTION_KEYS = f"{KEY_SUBQUERY}action = '{{}}')"  # the logs of one action, told by their key ids


@dataclass
class TimeBucket:
    start: int
    allowed_logs: int = 0
    denied_logs: int = 0
    allowed_flows: int = 0
    denied_flows: int = 0
    allowed_bytes: int = 0
    denied_bytes: int = 0


def time_series(
    conn: Conn,
    since: int,
    until: int,
    bucket_seconds: int,
    filter_sql: str | None = None,
    params: Sequence[Any] = (),
) -> list[TimeBucket]:
    """Allowed/denied flow-log counts, num_flows and bytes per bucket (buckets aligned to the
    epoch, every bucket in [since, until) present). Both reporters' logs count."""
    c = connection_of(conn)
    bs = int(bucket_seconds)
    if bs <= 0:
        raise QueryError("bucket_seconds must be positive")
    buckets = {b: TimeBucket(b) for b in range(int(since) // bs * bs, int(until), bs)}
    levels = () if filter_sql or bs % SERIES_BUCKET else (SERIES_BUCKET,)
    for level, lo, hi in segments(int(since), int(until), levels):
        if level is None:  # the action from the key id (two sets of keys), no join per log
            cond = keyed(filter_sql or "")
            where, args = build_where(lo, hi, cond, params)
            relation = table_for(cond)
            by_key = narrowed(c, where, args) if relation == "flow_data" else None
            if by_key is not None:
                relation, where = f"flow_data INDEXED BY {KEY_INDEX}", by_key
            sql = (
                f"SELECT start_time / {bs} * {bs} AS b, CASE WHEN {ACTION_KEYS.format('allow')} THEN 'allow' "
                f"WHEN {ACTION_KEYS.format('deny')} THEN 'deny' END AS a, count(*), sum(num_flows), "
                f"sum(bytes_in + bytes_out) FROM {relation} {where} GROUP BY b, a"
            )
        else:
            sql = (
                f"SELECT bucket / {bs} * {bs} AS b, action, sum(logs), sum(num_flows), sum(bytes) "
                "FROM series_rollup WHERE bucket >= ? AND bucket < ? GROUP BY b, action"
            )
            args = [lo, hi]
        for b, act, n, nf, nb in c.execute(sql, args):
            tb = buckets.setdefault(b, TimeBucket(b))
            if act == "allow":
                tb.allowed_logs += n
                tb.allowed_flows += nf or 0
                tb.allowed_bytes += nb or 0
            elif act == "deny":
                tb.denied_logs += n
                tb.denied_flows += nf or 0
                tb.denied_bytes += nb or 0
    return [buckets[b] for b in sorted(buckets)]
