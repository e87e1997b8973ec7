"""Policy Board refresh speed: all metrics of a 300-policy board (generate_large) over a
1,000,000-row store. Target: a refresh (metrics query + join onto the cards + filters, and
applying them to the widget's 300 cards and list) under 200 ms.

The store is the synthetic one of ``_synth.make_store`` with its trace entries renamed onto
the large cluster's policies (same tier, stable hash), so every card has traffic. Figures
are medians of 5 warm runs (plus the first, cold run). Prints one JSON line.

    .venv/bin/python tests/perf/bench_board.py [--rows N] [--db CACHED.sqlite]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from _synth import iter_batches  # noqa: E402
from desktopviz.scenarios.generate_large import generate_large_cluster  # noqa: E402

from desktopviz.core.board import card_metrics, layout_from_cluster, visible_keys  # noqa: E402
from desktopviz.core.board_detail import span_seconds  # noqa: E402
from desktopviz.core.queries import policy_metrics  # noqa: E402
from desktopviz.core.store import FlowStore  # noqa: E402


def timed(fn: Callable[[], Any], runs: int = 5) -> tuple[float, float, Any]:
    t = time.perf_counter()
    out = fn()
    cold = (time.perf_counter() - t) * 1000
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        out = fn()
        times.append((time.perf_counter() - t) * 1000)
    return cold, statistics.median(times), out


def make_board_store(path: Path, rows: int, keys_by_tier: dict[str, list[str]]) -> None:
    """Synthetic logs whose policies are the large cluster's (tiers: security, platform, app+default)."""
    cache: dict[str, str] = {}
    targets = {
        "security": keys_by_tier["security"],
        "platform": keys_by_tier["platform"],
        "default": keys_by_tier["app"] + keys_by_tier["default"],
    }

    def rename(entry: str) -> str:
        out = cache.get(entry)
        if out is None:
            idx, tier, name, action, rule = entry.split("|")
            pool = targets.get(tier)
            if pool:
                key = pool[zlib.crc32(name.encode()) % len(pool)]
                tier = "app" if key in keys_by_tier["app"] else tier
                name = key
            out = cache[entry] = f"{idx}|{tier}|{name}|{action}|{rule}"
        return out

    with FlowStore(path) as store:
        store.set_meta("scenario", "large-synthetic")
        for batch in iter_batches(rows, seed=1, batch=5000):
            for log in batch:
                pol = log.policies or {}
                for k in ("enforced_policies", "pending_policies", "all_policies"):
                    if pol.get(k):
                        pol[k] = [rename(e) for e in pol[k]]
            store.insert(batch)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--db", help="reuse (or create) this store")
    args = ap.parse_args()
    cluster = generate_large_cluster(policies=300)
    t = time.perf_counter()
    layout = layout_from_cluster(cluster)
    layout_ms = (time.perf_counter() - t) * 1000
    keys_by_tier = {tier.name: [p.key for p in tier.policies] for tier in layout.tiers}
    db = Path(args.db) if args.db else Path(tempfile.mkdtemp()) / "board.db"
    build_s = 0.0
    if not db.exists():
        t = time.perf_counter()
        make_board_store(db, args.rows, keys_by_tier)
        build_s = time.perf_counter() - t
    store = FlowStore(db, create=False, readonly=True)
    rows = store.count()
    last = store.conn.execute("SELECT max(start_time) FROM flow_logs").fetchone()[0]

    def refresh(since: int | None) -> tuple[Any, float, dict[str, Any], set[str]]:
        metrics = policy_metrics(store, since, None)
        span = span_seconds(store, since, None)
        cards = card_metrics(layout, metrics)
        return metrics, span, cards, visible_keys(layout, cards, "denying")

    cold_all, all_ms, (metrics, span, cards, _) = timed(lambda: refresh(None))
    cold_15, m15_ms, (metrics15, span15, _, _) = timed(lambda: refresh(last - 900))
    with_traffic = sum(1 for k in layout.keys() if cards[k].total.logs)

    from PySide6.QtWidgets import QApplication

    from desktopviz.ui.policy_board import PolicyBoard

    app = QApplication.instance() or QApplication([])
    board = PolicyBoard()
    board.resize(1400, 900)
    board.layout_, board._layout_ready = layout, True
    board._rebuild()
    board.show_all_metrics()
    board.show()
    app.processEvents()
    # Every run applies numbers that differ from the ones shown (all time, then last 15 min...),
    # so every card with traffic repaints.
    results = [(metrics, span), (metrics15, span15)]
    turn = [0]

    def apply() -> None:
        turn[0] += 1
        board._on_done("metrics", results[turn[0] % 2])
        app.processEvents()

    _, apply_ms, _ = timed(apply)
    board.set_view_mode("list")
    _, apply_list_ms, _ = timed(apply)
    board.shutdown()
    store.close()
    total = all_ms + max(apply_ms, apply_list_ms)
    print(
        json.dumps(
            {
                "bench": "board",
                "rows": rows,
                "policies": len(layout.keys()),
                "policies_with_traffic": with_traffic,
                "store_build_s": round(build_s, 1),
                "layout_ms": round(layout_ms, 1),
                "refresh_query_all_time_ms": round(all_ms, 1),
                "refresh_query_all_time_cold_ms": round(cold_all, 1),
                "refresh_query_last_15m_ms": round(m15_ms, 1),
                "refresh_query_last_15m_cold_ms": round(cold_15, 1),
                "apply_to_300_cards_ms": round(apply_ms, 1),
                "apply_list_view_ms": round(apply_list_ms, 1),
                "refresh_total_ms": round(total, 1),
                "target_ms": 200,
                "ok": total < 200 and m15_ms + max(apply_ms, apply_list_ms) < 200,
            }
        )
    )


if __name__ == "__main__":
    main()
