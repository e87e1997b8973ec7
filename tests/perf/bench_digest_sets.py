"""Import digests in the store: a version-2 store's rows against a version-3 store's sets.

Records 1,000,000 random digests in batches of 20,000 (a file read in time order: by default
2,000 records per start time, each batch 11 start times, its first and last shared with its
neighbours; ``--per-start 100000`` for a large cluster's flush intervals) through :meth:`ImportWriter.record_groups` in a version-2 store (one
``import_digests`` row per digest) and a version-3 store (one ``import_digest_sets`` row per
start time and batch), each batch in its own transaction with the bulk load's settings
(``store_bulk.BULK_PRAGMAS``), after the write's re-check (:meth:`ImportWriter.stored` on the
batch, as ``_rows`` does: only the shared start time has digests). Then looks the same
1,000,000 up again batch by batch with ``stored`` (a re-import: every digest found).

Prints one JSON line: CPU µs per digest (process time) and wall µs per digest of each step
and version, the file sizes, and the load average.

    .venv/bin/python tests/perf/bench_digest_sets.py [--digests 1000000] [--batch 20000] [--per-start 2000]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from desktopviz.core import import_db  # noqa: E402
from desktopviz.core.import_db import ImportWriter, stored_digests  # noqa: E402
from desktopviz.core.import_digest import DIGEST_SIZE, pack_digests  # noqa: E402
from desktopviz.core.store import FlowStore  # noqa: E402
from desktopviz.core.store_bulk import BULK_PRAGMAS  # noqa: E402

BASE = 1_700_000_000


def batches(n: int, size: int, per_start: int, seed: int = 7) -> list[list[tuple[int, list[bytes]]]]:
    """Batches of (start time, sorted digests) groups, start times in file order."""
    rnd = random.Random(seed)
    out = []
    for lo in range(0, n, size):
        by_start: dict[int, list[bytes]] = {}
        for j in range(lo, min(n, lo + size)):
            by_start.setdefault(BASE + ((j + per_start // 2) // per_start) * 300, []).append(
                rnd.randbytes(DIGEST_SIZE)
            )
        out.append([(s, sorted(hs)) for s, hs in sorted(by_start.items())])
    return out


def timed(step: Callable[[], Any]) -> tuple[float, float]:
    """(CPU seconds of this process, wall seconds) of ``step``."""
    t0, w0 = time.process_time(), time.perf_counter()
    step()
    return time.process_time() - t0, time.perf_counter() - w0


def run(version: int, db: Path, work: list[list[tuple[int, list[bytes]]]], n: int) -> dict[str, float]:
    import_db.DIGEST_VERSION = version  # what a new store gets (the store records it)
    with FlowStore(db) as store:
        for name, value in BULK_PRAGMAS:
            store.conn.execute(f"PRAGMA {name}={value}")
        w = ImportWriter(store, "bench.log", "calico")
        assert w.digest_version == version
        c = store.conn
        packed = [[(s, pack_digests(hs)) for s, hs in b] for b in work]

        def write() -> None:
            for groups, blobs in zip(work, packed, strict=True):
                c.execute("BEGIN IMMEDIATE")
                assert not w.stored(groups)  # the write's re-check
                w.record_groups(blobs)
                c.execute("COMMIT")

        def again() -> None:
            found = 0
            for groups in work:
                found += len(w.stored(groups))
            assert found == n

        write_cpu, write_wall = timed(write)
        again_cpu, again_wall = timed(again)
        assert len(stored_digests(store)) == n
        sets = c.execute("SELECT count(*) FROM import_digest_sets").fetchone()[0]
        rows = c.execute("SELECT count(*) FROM import_digests").fetchone()[0]
    us = 1e6 / n
    return {
        "write_cpu_us": round(write_cpu * us, 3),
        "write_wall_us": round(write_wall * us, 3),
        "reimport_stored_cpu_us": round(again_cpu * us, 3),
        "reimport_stored_wall_us": round(again_wall * us, 3),
        "set_rows": sets,
        "digest_rows": rows,
        "file_mb": round(sum(p.stat().st_size for p in db.parent.glob(db.name + "*")) / 1e6, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--digests", type=int, default=1_000_000)
    ap.add_argument("--batch", type=int, default=20_000)
    ap.add_argument("--per-start", type=int, default=2_000, help="records per start time (5 minutes)")
    args = ap.parse_args()
    work = batches(args.digests, args.batch, args.per_start)
    out: dict[str, Any] = {
        "digests": args.digests,
        "batch": args.batch,
        "per_start": args.per_start,
        "load_before": os.getloadavg(),
    }
    with tempfile.TemporaryDirectory() as tmp:
        for version in (2, 3):
            out[f"v{version}"] = run(version, Path(tmp) / f"v{version}.sqlite", work, args.digests)
    out["load_after"] = os.getloadavg()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
