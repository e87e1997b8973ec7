"""Import digests: what the reader's hot path (``Extractor.split_key``) and the other paths
cost in digest versions 1, 2 and 3 (desktopviz.core.import_digest); for version 3 also the
keyed writer's digests of a whole batch (``DigesterV3.batch``, ``batch_v3_us``: the version-3
``split_key`` computes none).

Reads the first ``--lines`` lines of the import bench's data (tests/perf/bench_import.py
writes /tmp/desktopviz_bench_import_<rows>.jsonl; made here if missing), then for each
version times ``split_key`` (after one warm-up pass, so the caches hold the file's texts and
keys as they do after the first lines of a big file), ``extract`` and the row digest of the
fast path. Prints one JSON line (CPU µs per line, process time, best of ``--repeat``).

    .venv/bin/python tests/perf/bench_digest.py [--lines 100000] [--repeat 5]
    .venv/bin/python tests/perf/bench_digest.py --only 2 --lines 20000   # under cachegrind

``--only V`` runs ``split_key`` (or ``--what extract|row_hash``) of version V once over the lines and nothing else, for
instruction counts: ``valgrind --tool=cachegrind --cache-sim=no
--cachegrind-out-file=/dev/null`` of ``--only V --lines N`` minus that of ``--only V --lines
0`` (the set-up), divided by N. ``--only 1`` also runs against a tree without version 2
(``Extractor.build`` without its version argument).
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
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _synth import iter_logs  # noqa: E402

from desktopviz.core import import_fast  # noqa: E402
from desktopviz.core.import_extract import Extractor  # noqa: E402

WARM = 20_000  # lines run through an extractor before counting


def lines_of(n: int) -> list[bytes]:
    path = Path(tempfile.gettempdir()) / "desktopviz_bench_import_200000.jsonl"
    if not path.exists():
        path = Path(tempfile.gettempdir()) / f"desktopviz_bench_digest_{n}.jsonl"
        if not path.exists():
            path.write_text("".join(log.to_json() + "\n" for log in iter_logs(max(n, 1), seed=3)))
    with path.open("rb") as fp:
        return [line for _, line in zip(range(n), fp, strict=False)]


def extractor(first: bytes, version: int, digester: Any = None) -> Any:
    doc = import_fast.loads(first)
    row = import_fast.row_from_calico(doc)
    if digester is not None:
        return Extractor.build(doc, row, version, digester)  # type: ignore[arg-type]
    if version == 1:
        try:
            return Extractor.build(doc, row, 1)  # type: ignore[arg-type]
        except TypeError:  # a tree before digest version 2
            return Extractor.build(doc, row)  # type: ignore[arg-type]
    return Extractor.build(doc, row, version)  # type: ignore[arg-type]


def best(fn: Any, repeat: int) -> float:
    out = []
    for _ in range(repeat):
        t = time.process_time()
        fn()
        out.append(time.process_time() - t)
    return min(out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--only", type=int, choices=(1, 2))
    ap.add_argument("--what", choices=("split_key", "extract", "row_hash"), default="split_key")
    args = ap.parse_args()
    gc.disable()
    lines = lines_of(max(args.lines, WARM))
    if args.only:
        ext = extractor(lines[0], args.only)
        fn = ext.split_key if args.what == "split_key" else ext.extract
        todo = lines[: args.lines] if args.lines else []
        if args.what == "row_hash":
            from desktopviz.core.import_fast import row_hash as fn

            if args.only == 2:
                from desktopviz.core.import_digest import row_hash_v2 as fn
            rows = [import_fast.row_from_calico(import_fast.loads(x)) for x in lines[:WARM]]  # (set-up)
            todo = rows[: args.lines]
        else:
            for raw in lines[:WARM]:  # warm-up (the same with --lines 0), as in the timed runs
                fn(raw)
        for x in todo:
            fn(x)
        return
    lines = lines[: args.lines]
    n = len(lines)
    out: dict[str, Any] = {"lines": n, "repeat": args.repeat, "load": [round(x, 2) for x in os.getloadavg()]}
    rows = [import_fast.row_from_calico(import_fast.loads(x)) for x in lines]
    from desktopviz.core.import_digest import (
        DigesterV3,
        key_digest,
        key_of,
        new_secret,
        row_hasher,
        varying_of,
    )

    secret = new_secret()
    for version in (1, 2, 3):
        digester = DigesterV3(secret) if version == 3 else None
        ext = extractor(lines[0], version, digester)
        keyed = extractor(lines[0], version)  # a keyed reader's: version 3 without the secret
        split_key, extract = keyed.split_key, ext.extract
        assert all(split_key(x) is not None for x in lines)  # warm-up: every key known
        assert extract(lines[-1]) == (rows[-1], row_hasher(version, secret)(rows[-1]))  # type: ignore[arg-type]
        out[f"split_key_v{version}_us"] = round(
            best(lambda f=split_key: [f(x) for x in lines], args.repeat) / n * 1e6, 2
        )
        out[f"extract_v{version}_us"] = round(
            best(lambda f=extract: [f(x) for x in lines], args.repeat) / n * 1e6, 2
        )
        h = row_hasher(version, secret)
        out[f"row_hash_v{version}_us"] = round(best(lambda: [h(r) for r in rows], args.repeat) / n * 1e6, 2)  # type: ignore[arg-type]  # noqa: B023
    import numpy as np

    d = DigesterV3(secret)
    bases = np.array([d.key_base(key_digest(key_of(r))) for r in rows])  # (per key, in the writer)
    ints = np.array([varying_of(r) for r in rows], dtype=np.int64)
    out["batch_v3_us"] = round(best(lambda: d.batch(bases, ints), args.repeat) / n * 1e6, 3)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
