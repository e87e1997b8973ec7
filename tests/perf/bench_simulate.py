"""Simulator speed: simulated seconds per wall second, and how cost grows with the rate.

Prints one JSON line. Targets: storefront 24 h in under 10 s; the large scenario 1 h in under
30 s; ten times the connection rate costs less than 1.5 times the time (same run).
Run: .venv/bin/python tests/perf/bench_simulate.py [--quick]
"""

from __future__ import annotations

import copy
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from desktopviz.core.simulator import Simulator  # noqa: E402


def _scaled(scenario, factor: float):
    sc = copy.deepcopy(scenario)
    for t in sc.traffic:
        t.rate *= factor
    for ev in sc.events:
        for action in ev.actions:
            for t in action.traffic:
                t.rate *= factor
    return sc


def _run(scenario, seconds: float, seed: int = 1) -> dict[str, float]:
    t0 = time.perf_counter()
    sim = Simulator(scenario, seed=seed)
    t1 = time.perf_counter()
    c1 = time.process_time()
    logs = 0
    done = 0.0
    while done < seconds:
        step = min(sim.flush_interval, seconds - done)
        logs += len(sim.advance(step))
        done += step
    logs += len(sim.flush())
    t2 = time.perf_counter()
    cpu = time.process_time() - c1
    return {
        "setup_s": round(t1 - t0, 3),
        "run_s": round(t2 - t1, 3),
        "run_cpu_s": round(cpu, 3),  # CPU time: less disturbed by other load on shared cores
        "sim_s_per_wall_s": round(seconds / max(t2 - t1, 1e-9), 1),
        "sim_s_per_cpu_s": round(seconds / max(cpu, 1e-9), 1),
        "logs": logs,
        "logs_per_s": round(logs / max(t2 - t1, 1e-9)),
        "connections": sim.stats.connections,
    }


def main() -> None:
    quick = "--quick" in sys.argv
    out: dict[str, object] = {}
    storefront = REPO / "scenarios" / "storefront"
    if any(storefront.glob("*.yaml")):
        from desktopviz.core.scenario import load_scenario

        sf = load_scenario(storefront)
        secs = 3600.0 if quick else 86400.0
        base = _run(sf, secs)
        ten = _run(_scaled(sf, 10.0), secs)
        out["storefront"] = {
            "simulated_s": secs,
            "x1": base,
            "x10": ten,
            "rate_x10_time_ratio": round(ten["run_s"] / max(base["run_s"], 1e-9), 2),
            "rate_x10_cpu_ratio": round(ten["run_cpu_s"] / max(base["run_cpu_s"], 1e-9), 2),
            "target_24h_under_s": 10,
        }
    else:
        out["storefront"] = "missing: scenarios/storefront has no YAML yet"
    try:
        from desktopviz.scenarios.generate_large import generate_large_scenario
    except ImportError as exc:
        out["large"] = f"missing: {exc}"
    else:
        lg = generate_large_scenario()
        secs = 900.0 if quick else 3600.0
        base = _run(lg, secs)
        ten = _run(_scaled(lg, 10.0), secs)
        out["large"] = {
            "simulated_s": secs,
            "x1": base,
            "x10": ten,
            "rate_x10_time_ratio": round(ten["run_s"] / max(base["run_s"], 1e-9), 2),
            "rate_x10_cpu_ratio": round(ten["run_cpu_s"] / max(base["run_cpu_s"], 1e-9), 2),
            "target_1h_under_s": 30,
        }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
