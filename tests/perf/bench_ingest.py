"""Ingest speed: FlowStore.insert against raw sqlite3 executemany of the same rows.

Both write the same synthetic flow logs (tests/perf/_synth.py) in batches of 2,000, one
transaction per batch, interleaved batch by batch, into the same schema (created by FlowStore) with the same pragmas.
The raw side gets its rows ready-made (flow_logs rows with JSON text, policy_hits rows), so
the ratio measures FlowStore's whole overhead: turning records into rows, parsing traces,
label sets and the hour/day rollups it maintains and the raw side does not.
Target: ratio >= 0.5. Prints one JSON line.

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

from desktopviz.core.store import COLUMNS, HIT_COLUMNS, FlowStore, row_values  # noqa: E402
from desktopviz.core.store_ingest import parse_hits  # noqa: E402


def raw_rows(logs: list, first_id: int) -> tuple[list[list], list[tuple]]:
    flows, hits = [], []
    for i, log in enumerate(logs):
        fid = first_id + i
        flows.append([fid, *row_values(log)])
        counters = (log.num_flows, log.packets_in, log.packets_out, log.bytes_in, log.bytes_out)
        for h in parse_hits(log.policies, strict=True)[0]:
            hits.append((fid, log.reporter, *h, log.start_time, *counters))
    return flows, hits


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--batch", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_ingest_") as tmp:
        store_path = Path(tmp) / "store.sqlite"
        raw_path = Path(tmp) / "raw.sqlite"

        store = FlowStore(store_path)
        FlowStore(raw_path).close()  # the same schema, indexes and pragmas
        conn = sqlite3.connect(raw_path, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        sql_flow = f"INSERT INTO flow_logs ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
        sql_hit = (
            f"INSERT INTO policy_hits ({', '.join(HIT_COLUMNS)}) VALUES ({', '.join('?' * len(HIT_COLUMNS))})"
        )
        t_store = t_raw = 0.0
        next_id = 1
        # Interleaved batch by batch, so both sides see the same machine load and disk state.
        for logs in iter_batches(args.rows, args.seed, args.batch):
            t = time.perf_counter()
            store.insert(logs)
            t_store += time.perf_counter() - t
            flows, hits = raw_rows(logs, next_id)
            next_id += len(logs)
            t = time.perf_counter()
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(sql_flow, flows)
            conn.executemany(sql_hit, hits)
            conn.execute("COMMIT")
            t_raw += time.perf_counter() - t
        n_store = store.count()
        n_hits = store.conn.execute("SELECT count(*) FROM policy_hits").fetchone()[0]
        store.close()
        conn.close()
        store_mb = os.path.getsize(store_path) / 1e6
        raw_mb = os.path.getsize(raw_path) / 1e6
    result = {
        "bench": "ingest",
        "rows": n_store,
        "policy_hits": n_hits,
        "batch": args.batch,
        "flowstore_rows_per_s": round(n_store / t_store),
        "raw_executemany_rows_per_s": round(args.rows / t_raw),
        "ratio": round(t_raw / t_store, 3),
        "target_ratio": 0.5,
        "flowstore_s": round(t_store, 1),
        "raw_s": round(t_raw, 1),
        "flowstore_db_mb": round(store_mb),
        "raw_db_mb": round(raw_mb),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
