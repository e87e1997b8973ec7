"""Ingest speed of the flow store: FlowStore.insert per log, plain and in bulk-load mode.

Writes the same synthetic flow logs (tests/perf/_synth.py) in batches of 5,000 (the
importer's batch), one transaction each, into a new store: once with the indexes kept up to
date row by row (the simulator's way), once inside ``store_bulk.bulk_load`` (the importer's
way for large inputs: indexes dropped, rebuilt at the end, ``reindex`` included in the
total). The logs are made before the clock starts, so the figures are the store's alone.
Reports logs/s, CPU µs per log (process time), the index rebuild, and the file's bytes per
log. Uses only the public API, so it also runs against an older version of the store
(``PYTHONPATH=/path/to/old/sources``) for before/after figures. Prints one JSON line.

    .venv/bin/python tests/perf/bench_ingest.py [--rows N]
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _synth import iter_batches  # noqa: E402

from desktopviz.core.store import SCHEMA_VERSION, FlowStore  # noqa: E402
from desktopviz.core.store_bulk import bulk_load  # noqa: E402


def load(path: Path, batches: list, bulk: bool) -> dict[str, float]:
    store = FlowStore(path)
    t, c = time.perf_counter(), time.process_time()
    reindex = 0.0
    if bulk:
        with bulk_load(store) as report:
            for logs in batches:
                store.insert(logs)
        reindex = report.reindex_seconds
    else:
        for logs in batches:
            store.insert(logs)
    wall, cpu = time.perf_counter() - t, time.process_time() - c
    n = store.count()
    store.close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return {
        "rows": n,
        "logs_per_s": round(n / wall),
        "cpu_us_per_log": round(cpu / n * 1e6, 1),
        "wall_s": round(wall, 2),
        "reindex_s": round(reindex, 2),
        "reindex_us_per_log": round(reindex / n * 1e6, 1),
        "bytes_per_log": round(os.path.getsize(path) / n),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=300_000)
    ap.add_argument("--batch", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    batches = list(iter_batches(args.rows, args.seed, args.batch))
    with tempfile.TemporaryDirectory(prefix="bench_ingest_") as tmp:
        plain = load(Path(tmp) / "plain.sqlite", batches, bulk=False)
        bulk = load(Path(tmp) / "bulk.sqlite", batches, bulk=True)
    result = {
        "bench": "ingest",
        "schema_version": SCHEMA_VERSION,
        "batch": args.batch,
        "plain": plain,
        "bulk": bulk,
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
