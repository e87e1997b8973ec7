"""Import speed: records per second importing Calico JSON lines, and where the time goes.

Generates N realistic Calico flow logs once (tests/perf/_synth.py: tiered traces, labels,
services, staged pending traces) as JSON lines into /tmp (kept between runs), imports them
into a new store, and times, on the same records, the parts alone: reading + ``json.loads``,
normalising to FlowLog (:func:`flowlog_from_calico`), content digests, and the store's own
``FlowStore.insert``. Target: >= 100,000 records/s end to end. Prints one JSON line.

    .venv/bin/python tests/perf/bench_import.py [--rows 1000000] [--sample 200000]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _synth import iter_logs  # noqa: E402

from desktopviz.core.import_calico import flowlog_from_calico  # noqa: E402
from desktopviz.core.import_db import record_hash  # noqa: E402
from desktopviz.core.importers import import_files  # noqa: E402
from desktopviz.core.store import FlowStore  # noqa: E402


def ensure_input(rows: int) -> Path:
    path = Path(tempfile.gettempdir()) / f"desktopviz_bench_import_{rows}.jsonl"
    if not path.exists() or path.stat().st_size == 0:
        tmp = path.with_suffix(".part")
        with tmp.open("w") as fp:
            for log in iter_logs(rows, seed=3):
                fp.write(log.to_json() + "\n")
        tmp.replace(path)
    return path


def cpu() -> float:
    t = os.times()
    return t.user + t.system


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--sample", type=int, default=200_000, help="records timed for the per-part breakdown")
    args = ap.parse_args()
    t = time.perf_counter()
    src = ensure_input(args.rows)
    gen_s = time.perf_counter() - t
    with tempfile.TemporaryDirectory(prefix="bench_import_") as tmp:
        db = Path(tmp) / "import.sqlite"
        t, c = time.perf_counter(), cpu()
        summary = import_files([src], db)
        wall, cpu_s = time.perf_counter() - t, cpu() - c
        assert summary.total("imported") == args.rows, summary.text()

        # Breakdown on a sample of the same file (collector paused, as import_files does).
        gc.disable()
        n = min(args.sample, args.rows)
        with src.open("rb") as fp:
            lines = [next(fp) for _ in range(n)]
        t = time.perf_counter()
        docs = [json.loads(x) for x in lines]
        parse = time.perf_counter() - t
        t = time.perf_counter()
        logs = [flowlog_from_calico(d) for d in docs]
        normalise = time.perf_counter() - t
        t = time.perf_counter()
        for log in logs:
            record_hash(log)
        digest = time.perf_counter() - t
        with FlowStore(Path(tmp) / "insert.sqlite") as store:
            t = time.perf_counter()
            for i in range(0, n, 5000):
                store.insert(logs[i : i + 5000])
            insert = time.perf_counter() - t
    per = {
        k: round(n / v)
        for k, v in (
            ("json_loads", parse),
            ("normalise", normalise),
            ("digest", digest),
            ("store_insert", insert),
        )
    }
    us = {
        k: round(v / n * 1e6, 2)
        for k, v in (
            ("json_loads", parse),
            ("normalise", normalise),
            ("digest", digest),
            ("store_insert", insert),
        )
    }
    print(
        json.dumps(
            {
                "bench": "import",
                "rows": args.rows,
                "input_mb": round(src.stat().st_size / 1e6, 1),
                "generate_s": round(gen_s, 1),
                "import_s": round(wall, 2),
                "import_cpu_s": round(cpu_s, 2),
                "records_per_s": round(args.rows / wall),
                "target_records_per_s": 100_000,
                "sample": n,
                "part_records_per_s": per,
                "part_us_per_record": us,
                "load_avg": round(os.getloadavg()[0], 2),
            }
        )
    )


if __name__ == "__main__":
    main()
