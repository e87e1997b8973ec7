"""Flow-log browser speed on a 5,000,000-row store: first page, count, end and middle pages.

The store is made once under /tmp and reused: 500,000 synthetic logs (tests/perf/_synth.py)
copied with SQL, shifted by whole days, until it holds ``--rows`` logs (policy hits and
rollups copied alongside), so it builds in minutes instead of an hour. For five typical
filters it times, through the same functions the table model calls
(:mod:`desktopviz.ui.flow_browser_data`):

* ``first_page_ms``: the first 256 rows, newest first, nothing known yet;
* ``count_ms``: the row count (the model runs it in a worker when it exceeds a frame);
* ``last_page_ms``: scrolling to the end (the last page, read from below once counted);
* ``middle_page_ms``: jumping to the middle with no page seen near it (scrollbar drag);
* ``step_ms``: the median next page while scrolling (from the last page's anchor);
* ``sorted_warm``: pages sorted by a key column (first, next, middle, last), warm.

Each filter runs once on a cold cache (``filters_cold``: the store's pages evicted from the
OS page cache first, a new connection) and then warm (``filters``, after a pass over all of
them). ``*_cpu_ms`` is the process CPU time of the same call.

Targets: first page < 50 ms, scroll to end < 100 ms. Prints one JSON line.

    .venv/bin/python tests/perf/bench_browser.py [--rows N] [--store PATH] [--indexes]
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from desktopviz.core.filterlang import compile_filter  # noqa: E402
from desktopviz.core.store_schema import SCHEMA_VERSION  # noqa: E402
from desktopviz.ui.flow_browser_data import (  # noqa: E402
    PAGE,
    Anchors,
    Query,
    count,
    ensure_browser_indexes,
    fetch_page,
    row_key,
)

STORE = Path(f"/tmp/desktopviz-bench/browser-5m-v{SCHEMA_VERSION}.db")
BASE_ROWS = 500_000
FILTERS = (
    "",
    "source_namespace = storefront",
    "action = deny and reporter = dst",
    "dest_labels.app = frontend",
    'policy = "identity/default.sessions"',
)


def _replicate(path: Path, rows: int) -> None:
    """Grow a store to ``rows`` logs by copying its first logs shifted by whole days (the
    copies share the label sets, traces, flow keys and rollup groups; the rollup sums are
    copied shifted too). Only whole copies get rollups: with ``rows`` not a multiple of the
    first logs' count, the last copy's logs are missing from the rollups (warned on stderr)."""
    c = sqlite3.connect(path, isolation_level=None)
    c.execute("PRAGMA synchronous=OFF")
    tables = {r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    data = "flow_data" if "flow_data" in tables else "flow_rows"  # schema 3, schema 2
    # schema 3: sums keyed by group id (groups shared, like the keys); schema 2: the rollup tables
    sums = ("flow_sums", "hit_sums") if "flow_sums" in tables else ("flow_rollup", "hit_rollup")
    sums += ("series_rollup",)
    base = c.execute(f"SELECT max(id) FROM {data}").fetchone()[0]
    lo, hi = c.execute(f"SELECT min(start_time), max(end_time) FROM {data}").fetchone()
    span = -(-(hi - lo) // 86400) * 86400
    cols = [r[1] for r in c.execute(f"PRAGMA table_info({data})") if r[1] != "id"]
    indexes = c.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL",
        (data,),
    ).fetchall()
    for name, _ in indexes:  # rebuilt once at the end: much faster than row by row
        c.execute(f'DROP INDEX "{name}"')
    k = 1
    while (have := c.execute(f"SELECT max(id) FROM {data}").fetchone()[0]) < rows:
        take, off = min(base, rows - have), k * span
        sel = ", ".join(f"{x} + {off}" if x in ("start_time", "end_time") else x for x in cols)
        c.execute("BEGIN")
        c.execute(
            f"INSERT INTO {data} (id, {', '.join(cols)}) SELECT id + {have}, {sel} FROM {data} WHERE id <= {take}"
        )
        for tab in sums:  # the rollups' sums (flow_rollup, hit_rollup are views over them)
            tc = [r[1] for r in c.execute(f"PRAGMA table_info({tab})")]
            tsel = ", ".join(f"{x} + {off}" if x in ("bucket", "min_start", "max_end") else x for x in tc)
            if take == base:
                c.execute(
                    f"INSERT OR IGNORE INTO {tab} ({', '.join(tc)}) SELECT {tsel} FROM {tab} WHERE bucket < {lo + span}"
                )
        c.execute("COMMIT")
        k += 1
    if rows % base:
        print(
            f"warning: rollups leave out the last {rows % base} of {rows} logs (a partial copy)",
            file=sys.stderr,
        )
    for _, sql in indexes:
        c.execute(sql)
    c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    c.close()


def ensure_store(path: Path, rows: int) -> Path:
    if path.exists():
        return path
    from _synth import make_store

    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_suffix(".part")
    for p in (part, Path(f"{part}-wal"), Path(f"{part}-shm")):
        p.unlink(missing_ok=True)
    make_store(part, min(rows, BASE_ROWS), seed=1, batch=5000)
    if rows > BASE_ROWS:
        _replicate(part, rows)
    part.rename(path)
    return path


_CPU: list[float] = []


def _ms(fn, *args):  # type: ignore[no-untyped-def]
    c = time.process_time()
    t = time.perf_counter()
    out = fn(*args)
    _CPU.append((time.process_time() - c) * 1000)
    return (time.perf_counter() - t) * 1000, out


def evict(path: Path) -> None:
    """Drop this store's pages from the OS page cache (only this file: POSIX_FADV_DONTNEED),
    so the next query reads from disk as after a reboot."""
    for p in (path, Path(f"{path}-wal")):
        if p.exists():
            fd = os.open(p, os.O_RDONLY)
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


def bench_filter(conn: sqlite3.Connection, text: str, max_id: int) -> dict[str, object]:
    f = compile_filter(text)
    q = Query(f.sql, f.params, max_id=max_id)
    first_ms, rows = _ms(fetch_page, conn, q, 0, PAGE, None, Anchors())
    first_cpu = _CPU[-1]
    count_ms, total = _ms(count, conn, q)
    anchors = Anchors()
    if rows:
        anchors.add(0, row_key(q, rows[0]))
    start = max(0, total - PAGE)
    last_ms, last = _ms(fetch_page, conn, q, start, total - start, total, anchors)
    last_cpu = _CPU[-1]
    mid = (total // 2) // PAGE * PAGE
    middle_ms, mid_rows = _ms(fetch_page, conn, q, mid, min(PAGE, total - mid), total, anchors)
    if mid_rows:
        anchors.add(mid, row_key(q, mid_rows[0]))
    steps = []
    if mid_rows:
        anchors.add(mid + len(mid_rows) - 1, row_key(q, mid_rows[-1]))
    for i in range(1, 11):  # scrolling on from the middle, page after page (as the model does)
        s = mid + i * PAGE
        if s >= total:
            break
        ms, page = _ms(fetch_page, conn, q, s, min(PAGE, total - s), total, anchors)
        if page:
            anchors.add(s, row_key(q, page[0]))
            anchors.add(s + len(page) - 1, row_key(q, page[-1]))
        steps.append(ms)
    return {
        "rows": total,
        "first_page_ms": round(first_ms, 2),
        "first_page_cpu_ms": round(first_cpu, 2),
        "count_ms": round(count_ms, 1),
        "last_page_ms": round(last_ms, 2),
        "last_page_cpu_ms": round(last_cpu, 2),
        "middle_page_ms": round(middle_ms, 1),
        "step_ms": round(statistics.median(steps), 2) if steps else None,
        "last_page_rows": len(last),
    }


SORTED = (  # (sort column, descending, filter): pages sorted by a key column
    ("source_namespace", True, ""),
    ("dest_name_aggr", False, "source_namespace = storefront"),
)


def bench_sorted(
    conn: sqlite3.Connection, column: str, descending: bool, text: str, max_id: int
) -> dict[str, object]:
    """First page, the next one (from its anchor), a middle page (no anchor) and the last page
    of a sort by a key column, with their CPU time."""
    f = compile_filter(text)
    q = Query(f.sql, f.params, sort=column, descending=descending, max_id=max_id)
    anchors = Anchors()
    first_ms, rows = _ms(fetch_page, conn, q, 0, PAGE, None, anchors)
    first_cpu = _CPU[-1]
    anchors.add(PAGE - 1, row_key(q, rows[-1]))
    next_ms, _ = _ms(fetch_page, conn, q, PAGE, PAGE, None, anchors)
    total = count(conn, q)
    mid = (total // 2) // PAGE * PAGE
    middle_ms, _ = _ms(fetch_page, conn, q, mid, PAGE, total, Anchors())
    middle_cpu = _CPU[-1]
    last_ms, _ = _ms(fetch_page, conn, q, total - PAGE, PAGE, total, Anchors())
    return {
        "rows": total,
        "first_page_ms": round(first_ms, 2),
        "first_page_cpu_ms": round(first_cpu, 2),
        "next_page_ms": round(next_ms, 2),
        "middle_page_ms": round(middle_ms, 1),
        "middle_page_cpu_ms": round(middle_cpu, 1),
        "last_page_ms": round(last_ms, 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=5_000_000)
    ap.add_argument("--store", type=Path, default=STORE)
    ap.add_argument("--indexes", action="store_true", help="add the browser's extra indexes first")
    ap.add_argument(
        "--analyze", action="store_true", help="give the planner statistics first (sampled ANALYZE)"
    )
    args = ap.parse_args()
    t = time.perf_counter()
    path = ensure_store(args.store, args.rows)
    build_s = time.perf_counter() - t
    prepared: list[str] = []
    if args.indexes or args.analyze:
        w = sqlite3.connect(path, isolation_level=None)
        t = time.perf_counter()
        prepared = ensure_browser_indexes(w, indexes=args.indexes, analyze=args.analyze)
        prepare_s = time.perf_counter() - t
        w.close()
        prepared.append(f"{prepare_s:.1f}s")
    cold: dict[str, object] = {}
    for text in FILTERS:  # each filter on a cold cache: a new connection, the file evicted
        evict(path)
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        max_id = conn.execute("SELECT max(id) FROM flow_rows").fetchone()[0]
        cold[text or "(no filter)"] = bench_filter(conn, text, max_id)
        conn.close()
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    for text in FILTERS:  # warm the page cache with every filter's pages
        bench_filter(conn, text, max_id)
    results = {text or "(no filter)": bench_filter(conn, text, max_id) for text in FILTERS}
    by_column = {
        f"{col} {'desc' if desc else 'asc'} [{text}]": bench_sorted(conn, col, desc, text, max_id)
        for col, desc, text in SORTED
    }
    firsts = [r["first_page_ms"] for r in results.values()]
    lasts = [r["last_page_ms"] for r in results.values()]
    cold_firsts = [r["first_page_ms"] for r in cold.values()]  # type: ignore[index]
    cold_lasts = [r["last_page_ms"] for r in cold.values()]  # type: ignore[index]
    print(
        json.dumps(
            {
                "bench": "browser",
                "store_rows": max_id,
                "store_build_s": round(build_s, 1),
                "prepared": prepared,
                "store_bytes_per_log": round(path.stat().st_size / max_id),
                "filters": results,
                "filters_cold": cold,
                "sorted_warm": by_column,
                "first_page_ms_max": max(firsts),
                "last_page_ms_max": max(lasts),
                "cold_first_page_ms_max": max(cold_firsts),
                "cold_last_page_ms_max": max(cold_lasts),
                "load_average": [round(x, 2) for x in os.getloadavg()],
                "targets": {"first_page_ms": 50, "last_page_ms": 100},
                "meets_targets": max(firsts) < 50 and max(lasts) < 100,
                "meets_targets_cold": max(cold_firsts) < 50 and max(cold_lasts) < 100,
            }
        )
    )


if __name__ == "__main__":
    main()
