"""The flow and hit rollups keep days and hours only (schema 4): a schema-3 store, with
5-minute rows in ``flow_sums`` / ``hit_sums``, answers the same read-only (readers never read
that level) and loses those rows, and only those, when opened for writing (it becomes schema 4;
the upgrade itself: test_store_migrate_v3.py)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from test_store_rollup import oracle, stored, varied_logs

from desktopviz.core.queries import flow_aggregates, policy_metrics, time_series
from desktopviz.core.store import ROLLUP_LEVELS, FlowStore

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


def make_v3(path: Path) -> int:
    """Make the store at ``path`` a schema-3 file as schema 3 wrote it: the same tables, with
    5-minute rows in the sums, here copies of the hour rows at the hour's first 5 minutes (wrong
    values on purpose: a reader that read them would answer otherwise). Returns how many."""
    c = sqlite3.connect(path)
    try:
        n = 0
        for t in ("flow_sums", "hit_sums"):
            cols = ", ".join(r[1] for r in c.execute(f"PRAGMA table_info({t})").fetchall()[1:])
            n += c.execute(f"INSERT INTO {t} SELECT 300, {cols} FROM {t} WHERE level = 3600").rowcount
        c.execute("UPDATE meta SET value = '3' WHERE key = 'schema_version'")
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


def test_a_schema_3_store_answers_the_same_and_loses_its_5_minute_rows_on_a_writable_open(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.sqlite"
    with FlowStore(path) as store:
        store.insert(varied_logs(400, seed=3), strict=False)
        want = answers(store)
        rollups = stored(store.conn)
    assert make_v3(path) > 0
    assert levels(path) == {"flow_sums": {86400, 3600, 300}, "hit_sums": {86400, 3600, 300}}
    with FlowStore(path, readonly=True) as store:  # read-only: left as it is, read the same
        assert store.schema_version == 3
        assert answers(store) == want
    assert 300 in levels(path)["flow_sums"]
    with FlowStore(path) as store:  # writable: schema 4, the 5-minute rows go, nothing else
        assert store.schema_version == 4 and store.get_meta("schema_version") == "4"
        assert levels(path) == {"flow_sums": {86400, 3600}, "hit_sums": {86400, 3600}}
        assert stored(store.conn) == rollups == oracle(store.conn)
        assert answers(store) == want
        store.insert(varied_logs(50, seed=4), strict=False)  # and inserts go on as before
        assert stored(store.conn) == oracle(store.conn)
    with FlowStore(path, readonly=True) as store:
        assert levels(path)["flow_sums"] == {86400, 3600}
        assert stored(store.conn) == oracle(store.conn)
