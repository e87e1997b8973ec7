"""Ingest speed of the flow store: FlowStore.insert per log, plain and in bulk-load mode.

Writes the same synthetic flow logs (tests/perf/_synth.py) in batches of 5,000 (the
importer's batch), one transaction each, into a new store: once with the indexes kept up to
date row by row (the simulator's way), once inside ``store_bulk.bulk_load`` (the importer's
way for large inputs: indexes dropped, rebuilt at the end, ``reindex`` included in the
total). The logs are made before the clock starts, so the figures are the store's alone.
Reports logs/s, CPU µs per log (process time), the index rebuild, and the file's bytes per
log. ``bulk_rows`` is the importer's case: the logs as value tuples in FIELDS order (what
the import hands over), the cyclic garbage collector paused (as the import does), and the CPU
time split by stage: each SQL statement's ``executemany`` (rows, rollups), the rest of the
insert (``python``: the loop, the caches, the rollup sums) and the index rebuild. Uses the
public API (and the insert's connection, to time the statements), so it also runs against
an older version of the store (``PYTHONPATH=/path/to/old/sources``) for before/after
figures. Prints one JSON line.

    PYTHONPATH=. .venv/bin/python tests/perf/bench_ingest.py [--rows N]

(``PYTHONPATH=.``: run as a script, the module's folder comes first on the path, and the
venv's editable install may point at another checkout.)

``--upgrade FILE`` instead times the in-place upgrade of an older store (a copy of FILE, made
in the temporary folder first): the open that upgrades it, wall and CPU time, and the bytes
per log before and after (the file checkpointed and vacuumed into a copy, so the free pages of
the dropped tables do not count).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _synth import iter_batches  # noqa: E402

from desktopviz.core.flowlog import FIELDS  # noqa: E402
from desktopviz.core.import_fast import as_row  # noqa: E402  (the importer's value tuples)
from desktopviz.core.store import SCHEMA_VERSION, FlowStore  # noqa: E402
from desktopviz.core.store_bulk import bulk_load  # noqa: E402


class _Timed:
    """The insert's connection, timing each executemany by the table it writes."""

    def __init__(self, conn: sqlite3.Connection, acc: dict[str, float]) -> None:
        self.conn, self.acc = conn, acc

    def __getattr__(self, name: str) -> object:
        return getattr(self.conn, name)

    def executemany(self, sql: str, rows: object) -> sqlite3.Cursor:
        t = time.process_time()
        cur = self.conn.executemany(sql, rows)
        table = sql.split()[2] if sql.startswith("INSERT INTO") else "other_sql"
        self.acc[table] = self.acc.get(table, 0.0) + time.process_time() - t
        return cur


def load(path: Path, batches: list, bulk: bool, stages: bool = False) -> dict[str, float]:
    store = FlowStore(path)
    acc: dict[str, float] = {}
    ingest = getattr(store, "_ingest", None)
    if stages and ingest is not None:
        ingest.conn = _Timed(ingest.conn, acc)
    t, c = time.perf_counter(), time.process_time()
    reindex = 0.0
    if bulk:
        with bulk_load(store) as report:
            for logs in batches:
                store.insert(logs)
            c_end = time.process_time()
        reindex = report.reindex_seconds
        reindex_cpu = time.process_time() - c_end
    else:
        for logs in batches:
            store.insert(logs)
    wall, cpu = time.perf_counter() - t, time.process_time() - c
    n = store.count()
    has_keys = store.conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'flow_keys'").fetchone()
    keys = store.conn.execute("SELECT count(*) FROM flow_keys").fetchone()[0] if has_keys else None
    store.close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return {
        "rows": n,
        "keys": keys,
        "logs_per_s": round(n / wall),
        "cpu_us_per_log": round(cpu / n * 1e6, 1),
        "wall_s": round(wall, 2),
        "reindex_s": round(reindex, 2),
        "reindex_us_per_log": round(reindex / n * 1e6, 1),
        "bytes_per_log": round(os.path.getsize(path) / n),
        **(
            {
                "stage_cpu_us_per_log": {
                    **{k: round(v / n * 1e6, 1) for k, v in sorted(acc.items())},
                    "python": round((cpu - reindex_cpu - sum(acc.values())) / n * 1e6, 1),
                    "reindex": round(reindex_cpu / n * 1e6, 1),
                }
            }
            if acc
            else {}
        ),
    }


def _bytes_per_log(path: Path, n: int) -> int:
    """The size of a vacuumed copy of the store, per log."""
    out = path.with_name(path.name + ".vacuumed")
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.execute("VACUUM INTO ?", (str(out),))
    conn.close()
    size = os.path.getsize(out)
    out.unlink()
    return round(size / n)


def upgrade(source: Path) -> dict[str, object]:
    """Time the upgrade of a copy of an older store."""
    with tempfile.TemporaryDirectory(prefix="bench_upgrade_", dir=source.parent) as tmp:
        path = Path(tmp) / "old.sqlite"
        conn = sqlite3.connect(source)
        conn.execute("VACUUM INTO ?", (str(path),))  # a consistent copy, whatever its WAL holds
        old = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0]
        conn.close()
        n_old = sqlite3.connect(path).execute("SELECT count(*) FROM flow_logs").fetchone()[0]
        before = _bytes_per_log(path, n_old)
        t, c = time.perf_counter(), time.process_time()
        store = FlowStore(path)
        wall, cpu = time.perf_counter() - t, time.process_time() - c
        n = store.count()
        keys = store.conn.execute("SELECT count(*) FROM flow_keys").fetchone()[0]
        store.close()
        assert n == n_old
        return {
            "bench": "upgrade",
            "from_schema": int(old),
            "to_schema": SCHEMA_VERSION,
            "logs": n,
            "keys": keys,
            "wall_s": round(wall, 2),
            "cpu_s": round(cpu, 2),
            "bytes_per_log_before": before,
            "bytes_per_log_after": _bytes_per_log(path, n),
            "load_average": [round(x, 2) for x in os.getloadavg()],
        }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=300_000)
    ap.add_argument("--batch", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--upgrade", type=Path, help="time the upgrade of (a copy of) this older store")
    args = ap.parse_args()
    if args.upgrade:
        print(json.dumps(upgrade(args.upgrade)))
        return
    batches = list(iter_batches(args.rows, args.seed, args.batch))
    with tempfile.TemporaryDirectory(prefix="bench_ingest_") as tmp:
        plain = load(Path(tmp) / "plain.sqlite", batches, bulk=False)
        bulk = load(Path(tmp) / "bulk.sqlite", batches, bulk=True)
        rows = [[as_row(tuple(getattr(log, f) for f in FIELDS)) for log in logs] for logs in batches]
        gc.disable()
        bulk_rows = load(Path(tmp) / "bulk_rows.sqlite", rows, bulk=True, stages=True)
        gc.enable()
    result = {
        "bench": "ingest",
        "schema_version": SCHEMA_VERSION,
        "batch": args.batch,
        "plain": plain,
        "bulk": bulk,
        "bulk_rows": bulk_rows,
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
