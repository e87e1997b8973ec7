"""Import speed: records per second importing Calico JSON lines, and where the time goes.

Generates N realistic Calico flow logs once (tests/perf/_synth.py: tiered traces, labels,
services, staged pending traces) as JSON lines into /tmp (kept between runs), imports them
into a new store with :func:`import_files` (as the CLI and the dialog do: for an input this
large a bulk load, with a second process reading the lines), and times, on a sample of the same lines, each stage alone, the general
path next to the fast path the import takes:

* ``read``: the lines from the file; ``json_loads`` (standard library) / ``orjson_loads``;
* ``normalise``: :func:`flowlog_from_calico` (general) / :func:`row_from_calico` (fast);
* ``digest``: ``record_hash`` of a FlowLog / the row digest of a row (the same digests), of the
  digest version a new store's import uses (``import_digest.DIGEST_VERSION``, ``digest_version``);
* ``extract``: what the import does instead of parse + normalise + digest for Felix's lines
  (:class:`~desktopviz.core.import_extract.Extractor`: the same rows and digests);
* ``insert``: ``FlowStore.insert`` with the indexes kept up to date (``synchronous=NORMAL``) /
  inside :func:`bulk_load` (indexes dropped), and ``reindex``: rebuilding them at the end;
* a parallel import's two sides, with keyed batches
  (:mod:`~desktopviz.core.import_keyed`): ``split_key`` (what the reader's loop calls on each
  line, ``Extractor.split_hot``: the varying integers, key and digest, or for version 3 the
  counters' text, :mod:`~desktopviz.core.import_counters`), ``prepare_keyed`` (numbering keys, flows and groups, summing the
  rollups per hour, with numpy) and ``pickle_keyed`` in the reader process (``prepare_keyed``: the
  reader's loop over the sample less ``read`` and ``split_key``); ``unpickle_keyed`` and
  ``write_keyed`` (:mod:`~desktopviz.core.import_apply`: keys, ``flow_data`` rows, rollup rows
  of every level, digests and counts) in the importing process; summed as
  ``parallel_reader_cpu_us`` and ``parallel_writer_cpu_us`` (with ``read`` and ``reindex``).

Target: >= 100,000 records/s end to end. Prints one JSON line (CPU seconds per stage are
process times, so a busy machine inflates wall time more than these).

    .venv/bin/python tests/perf/bench_import.py [--rows 1000000] [--sample 100000] [--serial|--parallel] [--no-bulk]

``import_cpu_s`` is the CPU time of the importing process and of its reader process
(``reader_cpu_s``), ``import_s`` the wall time.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import pickle
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _synth import iter_logs  # noqa: E402

from desktopviz.core import import_fast  # noqa: E402
from desktopviz.core.import_apply import KeyedWriter  # noqa: E402
from desktopviz.core.import_calico import flowlog_from_calico  # noqa: E402
from desktopviz.core.import_db import DIGEST_VERSION_META, ImportWriter, record_hash  # noqa: E402
from desktopviz.core.import_digest import DIGEST_VERSION, KEYED_VERSIONS, DigesterV3, new_secret, row_hasher  # noqa: E402
from desktopviz.core.import_extract import Extractor  # noqa: E402
from desktopviz.core.import_lines import LineItems  # noqa: E402
from desktopviz.core.import_read import READ_BUFFER, Source  # noqa: E402
from desktopviz.core.import_worker import _handovers  # noqa: E402
from desktopviz.core.importers import PARALLEL_BATCH, import_files  # noqa: E402
from desktopviz.core.store import FlowStore  # noqa: E402
from desktopviz.core.store_bulk import bulk_load  # noqa: E402


def ensure_input(rows: int) -> Path:
    path = Path(tempfile.gettempdir()) / f"desktopviz_bench_import_{rows}.jsonl"
    if not path.exists() or path.stat().st_size == 0:
        tmp = path.with_suffix(".part")
        with tmp.open("w") as fp:
            for log in iter_logs(rows, seed=3):
                fp.write(log.to_json() + "\n")
        tmp.replace(path)
    return path


def cpu() -> tuple[float, float]:
    """CPU seconds of this process and of its (finished) children, the reader process."""
    t = os.times()
    return t.user + t.system, t.children_user + t.children_system


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    t = time.process_time()
    out = fn()
    return out, time.process_time() - t


def insert_all(store: FlowStore, items: list[Any]) -> None:
    for i in range(0, len(items), 5000):
        store.insert(items[i : i + 5000])


def breakdown(src: Path, n: int, tmp: Path) -> dict[str, float]:
    """CPU seconds of each stage on the first n lines (collector paused, as the import does),
    digests of the version a new store's import writes (:data:`DIGEST_VERSION`)."""
    gc.disable()
    s: dict[str, float] = {}

    def read() -> list[bytes]:
        with src.open("rb", buffering=READ_BUFFER) as fp:
            return [line for _, line in zip(range(n), fp, strict=False)]

    lines, s["read"] = timed(read)
    docs, s["json_loads"] = timed(lambda: [json.loads(x) for x in lines])
    if import_fast.HAVE_ORJSON:
        _, s["orjson_loads"] = timed(lambda: [import_fast.loads(x) for x in lines])
    logs, s["normalise_general"] = timed(lambda: [flowlog_from_calico(d) for d in docs])
    rows, s["normalise_fast"] = timed(lambda: [import_fast.row_from_calico(d) for d in docs])
    assert all(r is not None for r in rows)
    keyed_digests = DIGEST_VERSION in KEYED_VERSIONS  # the writer completes them (import_complete)
    secret = new_secret() if keyed_digests else None
    row_hash = row_hasher(DIGEST_VERSION, secret)
    general, s["digest_general"] = timed(lambda: [record_hash(log, DIGEST_VERSION, secret) for log in logs])
    fast, s["digest_fast"] = timed(lambda: [row_hash(r) for r in rows])
    assert general == fast
    ext = Extractor.build(docs[0], rows[0], DIGEST_VERSION, DigesterV3(secret) if secret else None)
    assert ext is not None and ext.digest_version == DIGEST_VERSION
    got, s["extract"] = timed(lambda: [ext.extract(x) for x in lines])
    assert all(g is not None for g in got) and got == list(zip(rows, fast, strict=True))
    general.clear()
    # the two sides of a parallel import: keyed batches (import_keyed) made, pickled, written
    sample = tmp / "sample.jsonl"
    sample.write_bytes(b"".join(lines))

    def keyed() -> list[Any]:  # the reader process's loop: read, split, batch, sum
        reader = LineItems(Source(sample), keyed=True, digest_version=DIGEST_VERSION)
        return [h.batch for h, _ in _handovers(reader, PARALLEL_BATCH)]

    split, s["split_key"] = timed(lambda: [ext.split_hot(x) for x in lines])  # what the reader's loop runs
    assert all(x is not None for x in split)
    assert [x[2] for x in split] == ([None] * len(split) if keyed_digests else fast)  # type: ignore[index]
    split.clear()
    fast.clear()
    kbatches, s["prepare_keyed"] = timed(keyed)
    s["prepare_keyed"] -= s["split_key"] + s["read"]
    kdata, s["pickle_keyed"] = timed(
        lambda: [pickle.dumps(b, protocol=pickle.HIGHEST_PROTOCOL) for b in kbatches]
    )
    kbatches, s["unpickle_keyed"] = timed(lambda: [pickle.loads(d) for d in kdata])
    got.clear()
    docs.clear()  # free the memory before the store part
    lines.clear()
    with FlowStore(tmp / "insert.sqlite") as store:
        _, s["insert_indexed"] = timed(lambda: insert_all(store, logs))
    records = [import_fast.as_row(r) for r in rows]
    with FlowStore(tmp / "bulk.sqlite") as store:
        t = time.process_time()
        with bulk_load(store):
            insert_all(store, records)
            s["insert_bulk"] = time.process_time() - t
            t = time.process_time()
        s["reindex"] = time.process_time() - t
    with FlowStore(tmp / "keyed.sqlite") as store:
        with bulk_load(store):
            iw = ImportWriter(store, "bench", "calico")
            assert iw.digest_version == DIGEST_VERSION  # a new store: the split digests' version
            kw = KeyedWriter(iw)
            t = time.process_time()
            for b in kbatches:
                b = kw.complete(b)  # version 3: the digests, computed here
                kw.accept(b)
                assert kw.all_new(b)
                kw.write(b, {"imported": b.n, "records_read": b.n})
            s["write_keyed"] = time.process_time() - t
    gc.enable()
    return s


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--sample", type=int, default=100_000, help="records timed for the per-stage breakdown")
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--serial", action="store_true", help="no reader process")
    mode.add_argument("--parallel", action="store_true", help="a reader process whatever the load")
    ap.add_argument("--no-bulk", action="store_true", help="keep the indexes during the load")
    args = ap.parse_args()
    t = time.perf_counter()
    src = ensure_input(args.rows)
    gen_s = time.perf_counter() - t
    with tempfile.TemporaryDirectory(prefix="bench_import_") as tmp:
        db = Path(tmp) / "import.sqlite"
        load = os.getloadavg()[0]
        parallel = False if args.serial else True if args.parallel else None
        t, c = time.perf_counter(), cpu()
        summary = import_files([src], db, bulk=False if args.no_bulk else None, parallel=parallel)
        wall, c2 = time.perf_counter() - t, cpu()
        cpu_s, reader_s = c2[0] - c[0], c2[1] - c[1]
        assert summary.total("imported") == args.rows, summary.text()
        with FlowStore(db) as store:  # the version the import wrote (a new store: DIGEST_VERSION)
            stored_version = store.get_meta(DIGEST_VERSION_META)
        n = min(args.sample, args.rows)
        s = breakdown(src, n, Path(tmp))
    us = {k: round(v / n * 1e6, 1) for k, v in s.items()}
    parse = "orjson_loads" if import_fast.HAVE_ORJSON else "json_loads"
    general = ("read", "json_loads", "normalise_general", "digest_general", "insert_indexed")
    fast = ("read", parse, "normalise_fast", "digest_fast", "insert_bulk", "reindex")
    extracted = ("read", "extract", "insert_bulk", "reindex")
    reader = ("read", "split_key", "prepare_keyed", "pickle_keyed")  # the reader process of a parallel import
    writer = ("unpickle_keyed", "write_keyed", "reindex")  # and the importing process
    print(
        json.dumps(
            {
                "bench": "import",
                "rows": args.rows,
                "input_mb": round(src.stat().st_size / 1e6, 1),
                "generate_s": round(gen_s, 1),
                "orjson": import_fast.HAVE_ORJSON,
                "bulk": summary.bulk,
                "parallel": summary.parallel,
                "import_s": round(wall, 2),
                "import_cpu_s": round(cpu_s, 2),
                "reader_cpu_s": round(reader_s, 2),
                "import_cpu_us_per_record": round((cpu_s + reader_s) / args.rows * 1e6, 1),
                "reindex_s": round(summary.reindex_seconds, 2),
                "records_per_s": round(args.rows / wall),
                # with the reader on an idle core, the importing process's CPU time bounds the rate
                "records_per_importer_cpu_s": round(args.rows / cpu_s),
                "target_records_per_s": 100_000,
                "digest_version": DIGEST_VERSION,  # of the stages' digests
                "import_digest_version": int(stored_version) if stored_version else None,
                "sample": n,
                "stage_cpu_us_per_record": us,
                "general_path_cpu_us": round(sum(us[k] for k in general), 1),
                "fast_path_cpu_us": round(sum(us[k] for k in fast), 1),
                "extractor_path_cpu_us": round(sum(us[k] for k in extracted), 1),
                "parallel_reader_cpu_us": round(sum(us[k] for k in reader), 1),
                "parallel_writer_cpu_us": round(sum(us[k] for k in writer), 1),
                "load_avg_before": round(load, 2),
                "load_avg": round(os.getloadavg()[0], 2),
            }
        )
    )


if __name__ == "__main__":
    main()
