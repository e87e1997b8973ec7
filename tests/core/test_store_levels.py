"""The flow and hit rollups keep days and hours only: a store written by an older version,
with 5-minute rows in ``flow_sums`` / ``hit_sums``, answers the same read-only (readers never
read that level) and loses those rows, and only those, the first time it is opened for writing."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from test_store_rollup import oracle, stored, varied_logs

from desktopviz.core.queries import flow_aggregates, policy_metrics, time_series
from desktopviz.core.store import ROLLUP_LEVELS, FlowStore
from desktopviz.core.store_groups import drop_unstored_levels

T = 1_700_000_000
RANGES = [
    (None, None),
    (T - 100, T + 90_000 + 900),
    (T + 300, T + 3600 + 600),  # whole 5-minute buckets, not whole hours
    (T + 310, T + 890),
]


def answers(store: FlowStore) -> list[Any]:
    out: list[Any] = [store.time_range()]
    for a, b in RANGES:
        out += [flow_aggregates(store, a, b), policy_metrics(store, a, b)]
        if a is not None and b is not None:
            out.append(time_series(store, a, b, 300))
    return out


def levels(path: Path) -> dict[str, set[int]]:
    c = sqlite3.connect(path)
    try:
        return {
            t: {r[0] for r in c.execute(f"SELECT DISTINCT level FROM {t}")} for t in ("flow_sums", "hit_sums")
        }
    finally:
        c.close()


def add_old_level(path: Path) -> int:
    """5-minute rows as an older version wrote them, here copies of the hour rows at the hour's
    first 5 minutes (wrong values on purpose: a reader that read them would answer otherwise)."""
    c = sqlite3.connect(path)
    try:
        n = 0
        for t in ("flow_sums", "hit_sums"):
            cols = ", ".join(r[1] for r in c.execute(f"PRAGMA table_info({t})").fetchall()[1:])
            n += c.execute(f"INSERT INTO {t} SELECT 300, {cols} FROM {t} WHERE level = 3600").rowcount
        c.commit()
        return n
    finally:
        c.close()


def test_inserts_store_days_and_hours_only(tmp_path: Path) -> None:
    with FlowStore(tmp_path / "s.sqlite") as store:
        store.insert(varied_logs(300), strict=False)
        assert ROLLUP_LEVELS == (86400, 3600)
        assert levels(store.path) == {"flow_sums": {86400, 3600}, "hit_sums": {86400, 3600}}
        assert stored(store.conn) == oracle(store.conn)
        # the time series keeps its 5-minute buckets
        buckets = {r[0] % 300 for r in store.conn.execute("SELECT bucket FROM series_rollup")}
        assert buckets == {0} and store.conn.execute("SELECT count(*) FROM series_rollup").fetchone()[0] > 10


def test_an_older_store_answers_the_same_and_loses_its_5_minute_rows_on_a_writable_open(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.sqlite"
    with FlowStore(path) as store:
        store.insert(varied_logs(400, seed=3), strict=False)
        want = answers(store)
        rollups = stored(store.conn)
    assert add_old_level(path) > 0
    assert levels(path) == {"flow_sums": {86400, 3600, 300}, "hit_sums": {86400, 3600, 300}}
    with FlowStore(path, readonly=True) as store:  # read-only: left as it is, read the same
        assert answers(store) == want
    assert 300 in levels(path)["flow_sums"]
    with FlowStore(path) as store:  # writable: the 5-minute rows go, nothing else
        assert levels(path) == {"flow_sums": {86400, 3600}, "hit_sums": {86400, 3600}}
        assert stored(store.conn) == rollups == oracle(store.conn)
        assert answers(store) == want
        store.insert(varied_logs(50, seed=4), strict=False)  # and inserts go on as before
        assert stored(store.conn) == oracle(store.conn)
    with FlowStore(path, readonly=True) as store:
        assert levels(path)["flow_sums"] == {86400, 3600}
        assert stored(store.conn) == oracle(store.conn)


def test_the_cleanup_is_one_transaction_and_nothing_without_old_rows(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    with FlowStore(path) as store:
        store.insert(varied_logs(100), strict=False)
        c = store.conn
        assert drop_unstored_levels(c) == 0
        n = add_old_level(path)
        statements: list[str] = []
        c.set_trace_callback(statements.append)
        assert drop_unstored_levels(c) == n
        c.set_trace_callback(None)
        begins = [s for s in statements if s.startswith("BEGIN")]
        assert len(begins) == 1 and statements.count("COMMIT") == 1
        assert not c.in_transaction
        assert drop_unstored_levels(c) == 0
        usual = sqlite3.connect(":memory:").execute("PRAGMA secure_delete").fetchone()[0]
        assert c.execute("PRAGMA secure_delete").fetchone()[0] == usual  # restored
