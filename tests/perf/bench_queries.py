"""Query speed on a 1,000,000-row store, read through a read-only FlowStore as the GUI does.

Targets: visualizer aggregate 200 ms (last 15 min and all time), first page of a filtered
flow-log query 50 ms, per-rule policy metrics 200 ms. Figures are the median of 5 warm runs
(plus the first, cold run), wall and CPU time of this process. Prints one JSON line.

    .venv/bin/python tests/perf/bench_queries.py [--rows N] [--db EXISTING.sqlite] [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # this tree's desktopviz

from _synth import make_store  # noqa: E402

from desktopviz.core.board_detail import rule_peers  # noqa: E402
from desktopviz.core.board_traces import layout_from_store  # noqa: E402
from desktopviz.core.filterlang import compile_filter  # noqa: E402
from desktopviz.core.queries import (  # noqa: E402
    count_rows,
    distinct_values,
    flow_aggregates,
    flow_rows,
    policy_metrics,
    time_series,
)
from desktopviz.core.store import FlowStore  # noqa: E402
from desktopviz.ui.flow_browser_data import load_chart_data  # noqa: E402

PAGE_WHERE = "action = ? AND source_namespace = ?"
PAGE_PARAMS = ["deny", "storefront"]
CHART_FILTER = "dest_namespace = storefront"
POLICY = "identity/default.sessions"


def timed(fn: Callable[[], Any], runs: int = 5) -> tuple[float, float, float, Any]:
    """(cold ms, median warm ms, median warm CPU ms of this process, result)."""
    t = time.perf_counter()
    result = fn()
    cold = time.perf_counter() - t
    times, cpu = [], []
    for _ in range(runs):
        c = time.process_time()
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return cold * 1000, statistics.median(times) * 1000, statistics.median(cpu) * 1000, result


def run(db: Path, runs: int = 5) -> dict[str, Any]:
    with FlowStore(db, readonly=True) as store:
        rows = store.count()
        rng = store.time_range()
        assert rng is not None
        last = rng[1]
        since15 = last - 900
        chart = compile_filter(CHART_FILTER, now=last)
        cases: dict[str, tuple[Callable[[], Any], float | None]] = {
            "aggregate_15m": (lambda: flow_aggregates(store, since15), 200),
            "aggregate_all": (lambda: flow_aggregates(store), 200),
            "aggregate_all_label_selector": (
                lambda: flow_aggregates(store, dest_labels="fw-zone == 'restricted'"),
                200,
            ),
            "aggregate_24h_namespace": (
                lambda: flow_aggregates(store, last - 86400, namespaces=["storefront"]),
                200,
            ),
            "first_page_filtered": (lambda: flow_rows(store, PAGE_WHERE, PAGE_PARAMS, limit=100), 50),
            "count_filtered": (lambda: count_rows(store, PAGE_WHERE, PAGE_PARAMS), None),
            "rule_metrics_15m": (lambda: policy_metrics(store, since15), 200),
            "rule_metrics_all": (lambda: policy_metrics(store), 200),
            "time_series_24h_5m": (lambda: time_series(store, last - 86400, last, 300), None),
            "distinct_namespaces": (lambda: distinct_values(store, "source_namespace"), None),
            "distinct_proto": (lambda: distinct_values(store, "proto"), None),
            "count_all": (lambda: count_rows(store), None),
            "time_series_24h_filtered": (
                lambda: time_series(store, last - 86400, last, 300, chart.sql, chart.params),
                None,
            ),
            "chart_24h_filtered": (
                lambda: load_chart_data(store.conn, chart.sql, chart.params, last - 86400, None),
                None,
            ),
            "rule_peers_all": (lambda: rule_peers(store, POLICY, "enforced", None, None), None),
            "rule_peers_15m": (lambda: rule_peers(store, POLICY, "enforced", since15, None), None),
            "board_layout_from_store": (lambda: layout_from_store(store, since15, None).keys(), None),
        }
        out: dict[str, Any] = {"bench": "queries", "rows": rows}
        for name, (fn, target) in cases.items():
            cold, warm, cpu, result = timed(fn, runs)
            out[name] = {
                "ms": round(warm, 1),
                "cpu_ms": round(cpu, 1),
                "cold_ms": round(cold, 1),
                "items": len(result)
                if hasattr(result, "__len__")
                else result
                if isinstance(result, int)
                else None,
            }
            if target is not None:
                out[name]["target_ms"] = target
                out[name]["ok"] = warm <= target
        ran: list[str] = []  # the statements flow_rows runs
        store.conn.set_trace_callback(ran.append)
        flow_rows(store, PAGE_WHERE, PAGE_PARAMS, limit=100)
        store.conn.set_trace_callback(None)
        page = next((s for s in ran if s.startswith("SELECT id FROM")), ran[-1])  # schema 3: ids first
        plan = store.conn.execute(f"EXPLAIN QUERY PLAN {page}").fetchall()
        out["first_page_plan"] = [r[3] for r in plan]
        out["load_average"] = [round(x, 2) for x in os.getloadavg()]
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--db", type=Path, help="use this existing store instead of building one")
    ap.add_argument("--runs", type=int, default=5, help="warm runs per case (the median is reported)")
    args = ap.parse_args()
    if args.db:
        print(json.dumps(run(args.db, args.runs)))
        return
    with tempfile.TemporaryDirectory(prefix="bench_queries_") as tmp:
        db = Path(tmp) / "store.sqlite"
        t = time.perf_counter()
        make_store(db, args.rows, args.seed)
        build_s = time.perf_counter() - t
        result = run(db, args.runs)
        result["build_s"] = round(build_s, 1)
        print(json.dumps(result))


if __name__ == "__main__":
    main()
