"""GUI-thread stalls while the simulation runs as fast as possible.

A 5 ms QTimer in the GUI thread records the gap between its ticks while the storefront
simulation runs at max speed for N seconds, twice: the controller alone (the thread and
its signals) and the whole main window (views refreshing at ~30 Hz from the store). A
stall is the gap beyond the 5 ms period. A third run keeps the visualizer's picture static
(its refresh() not called) to show which part of the window's stalls is the visualizer's.
Each run starts its session inside the measurement, so ``max_stall_ms`` includes opening the
run (the store, the board's layout, the first pictures); ``steady_max_stall_ms`` leaves out
the first second. The machine is shared and noisy: ``RUNS`` > 1 repeats everything and gives
each figure as [min, median, max] over the runs. Prints one JSON line; the target is a max
stall under 50 ms.

    QT_QPA_PLATFORM=offscreen .venv/bin/python tests/perf/bench_ui_latency.py [SECONDS [RUNS]]
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def _measure(app, seconds: float, start, stop) -> dict[str, float]:  # noqa: ANN001
    from PySide6.QtCore import QTimer

    gaps: list[tuple[float, float]] = []  # (seconds since the start, gap ms)
    last = [time.perf_counter()]

    def tick() -> None:
        now = time.perf_counter()
        gaps.append((now - t0, (now - last[0]) * 1000.0))
        last[0] = now

    timer = QTimer()
    timer.setInterval(5)
    timer.timeout.connect(tick)
    info = start()
    t0 = time.perf_counter()
    last[0] = t0
    timer.start()
    while time.perf_counter() - t0 < seconds:
        app.processEvents()
        time.sleep(0.0005)
    timer.stop()
    result = stop(info)
    stalls = sorted(max(0.0, g - 5.0) for _, g in gaps)
    steady = [max(0.0, g - 5.0) for at, g in gaps if at - g / 1000 >= 1.0]
    p99 = stalls[int(0.99 * (len(stalls) - 1))] if stalls else 0.0
    return {
        "ticks": len(gaps),
        "max_stall_ms": round(stalls[-1] if stalls else 0.0, 2),
        "p99_stall_ms": round(p99, 2),
        "steady_max_stall_ms": round(max(steady, default=0.0), 2),
        **result,
    }


def _spread(runs: list[dict[str, float]]) -> dict[str, object]:
    """[min, median, max] of each figure over the runs, and the runs themselves."""
    out: dict[str, object] = {}
    for key in runs[0]:
        values = [r[key] for r in runs]
        out[key] = [min(values), round(statistics.median(values), 2), max(values)]
    out["runs"] = runs
    return out


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 10.0
    repeat = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    tmp = tempfile.mkdtemp(prefix="bench-ui-")
    os.environ["DESKTOPVIZ_DATA_DIR"] = tmp
    os.environ["XDG_CONFIG_HOME"] = tmp
    from desktopviz.core import paths
    from desktopviz.core.scenario import load_scenario
    from desktopviz.ui.app import create_app, quiet_offscreen_warnings
    from desktopviz.ui.main_window import MainWindow
    from desktopviz.ui.sim_controller import MAX_SPEED, SimController

    app = create_app()
    quiet_offscreen_warnings()
    scenario = load_scenario(paths.default_scenario())

    def start_controller():  # noqa: ANN202
        ctl = SimController(scenario, os.path.join(tmp, "controller.db"), speed=MAX_SPEED)
        ctl.start()
        return ctl

    def stop_controller(ctl) -> dict[str, float]:  # noqa: ANN001
        t = time.perf_counter()
        final = ctl.shutdown()
        return {
            "simulated_s": round(final.sim_time - scenario.settings.start_time, 1),
            "logs": final.total,
            "shutdown_ms": round((time.perf_counter() - t) * 1000, 1),
        }

    def start_window(live_visualizer: bool = True):  # noqa: ANN202
        w = MainWindow(persist=False)
        w.resize(1600, 1000)
        w.show()
        if not live_visualizer:  # the breakdown: everything but the visualizer's re-renders
            w.visualizer.refresh = lambda: None
        w.start_simulation(scenario, paths.default_scenario(), speed=MAX_SPEED)
        return w

    def stop_window(w) -> dict[str, float]:  # noqa: ANN001
        ctl = w.controller
        t = time.perf_counter()
        w.close()
        final = ctl.shutdown() if ctl is not None else None
        return {
            "simulated_s": round((final.sim_time if final else 0) - scenario.settings.start_time, 1),
            "logs": final.total if final else 0,
            "close_ms": round((time.perf_counter() - t) * 1000, 1),
        }

    cases = {
        "controller": (start_controller, stop_controller),
        "window": (start_window, stop_window),
        "window_without_visualizer_rerenders": (lambda: start_window(False), stop_window),
    }
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in cases}
    for _ in range(repeat):
        for name, (start, stop) in cases.items():
            runs[name].append(_measure(app, seconds, start, stop))
    figures = {name: (r[0] if repeat == 1 else _spread(r)) for name, r in runs.items()}
    print(
        json.dumps(
            {"bench": "ui_latency", "seconds": seconds, "runs": repeat, "timer_ms": 5, **figures}
            | {"target_max_stall_ms": 50}
        )
    )


if __name__ == "__main__":
    main()
