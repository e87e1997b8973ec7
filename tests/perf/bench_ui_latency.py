"""GUI-thread stalls while the simulation runs as fast as possible.

A 5 ms QTimer in the GUI thread records the gap between its ticks while the storefront
simulation runs at max speed for N seconds, twice: the controller alone (the thread and
its signals) and the whole main window (views refreshing at ~30 Hz from the store). A
stall is the gap beyond the 5 ms period. A third run keeps the visualizer's picture static
(its refresh() not called) to show which part of the window's stalls is the visualizer's.
The simulation runs where the app runs it: in a child process (desktopviz.ui.sim_process),
or with ``DESKTOPVIZ_SIM_PROCESS=0`` in the controller's thread, for comparison (the JSON
says which: ``simulation``). Each run starts its session inside the measurement, so ``max_stall_ms`` includes opening the
run (the store, the board's layout, the first pictures); ``steady_max_stall_ms`` leaves out
the first second; ``first_frame_ms`` is the first gap (the window's first show and paint) and
``max_after_first_frame_ms`` the longest stall after it; ``max_stall_gui_cpu_ms`` is the GUI
thread's own CPU time during the longest stall (far below the stall: the thread was waiting for
the GIL or for a core), ``max_stall_runqueue_ms`` the part of it the thread spent waiting for
a core (Linux schedstat: other processes' load), and ``max_stall_less_runqueue_ms`` the longest
stall without the time waiting for a core, the app's own figure on a shared machine;
``max_stall_at_s`` is when the longest stall ended. The window is made before the measurement; its first show and the session
start (from the event loop, as ``desktopviz`` does) are measured. The machine is shared and noisy: ``RUNS`` > 1 repeats everything and gives
each figure as [min, median, max] over the runs. Prints one JSON line; the target is a max
stall under 50 ms.

    QT_QPA_PLATFORM=offscreen .venv/bin/python tests/perf/bench_ui_latency.py [SECONDS [RUNS]]
        [--case controller|window|window_without_visualizer_rerenders] [--explain MS [--events]]
        [--switch-interval SECONDS]

``--explain MS`` prints (stderr) each stall over MS and the Python calls Qt made meanwhile
(slots, event handlers, paints; ``--events`` adds every event delivered): slower, to find
which code makes a stall, not to measure. ``--switch-interval`` runs with that
``sys.setswitchinterval`` instead of the app's (desktopviz.ui.app) (how long a thread waiting for the GIL lets the holder run before it
asks for it): its effect on the stalls and on the simulation's speed (``simulated_s``).
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import statistics
import sys
import tempfile
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


class _Entries:
    """Opt-in (--explain MS): the Python calls Qt made on the GUI thread (slots, event
    handlers, paints) and the calls they made, with their start and duration, to tell which
    ones make each stall longer than MS. A profile hook on every call makes everything
    slower, so its figures are for attribution only."""

    DEPTH = 3  # the entry from Qt and two levels of what it called

    def __init__(self) -> None:
        self.calls: list[tuple[float, float, int, str]] = []  # (start, seconds, depth, name)
        self._stack: list[tuple[float, str] | None] = []
        self.events: list[tuple[float, int, str]] = []

    def hook(self, frame, event: str, _arg) -> None:  # noqa: ANN001
        if event == "call":
            if len(self._stack) < self.DEPTH:
                code = frame.f_code
                name = f"{os.path.basename(code.co_filename)}:{code.co_qualname}"
                self._stack.append((time.perf_counter(), name))
            else:
                self._stack.append(None)
        elif event == "return" and self._stack:
            top = self._stack.pop()
            if top is not None:
                took = time.perf_counter() - top[0]
                if took >= 0.002:
                    self.calls.append((top[0], took, len(self._stack), top[1]))

    def filter_events(self, app) -> object:  # noqa: ANN001
        """An application event filter that notes when each event is delivered (to which
        class): the time to the next event is roughly what handling it cost, C++ included."""
        from PySide6.QtCore import QObject

        events = self.events = []

        class Filter(QObject):
            def eventFilter(self, obj, ev) -> bool:  # noqa: ANN001, N802
                events.append((time.perf_counter(), int(ev.type()), type(obj).__name__))
                return False

        f = Filter()
        app.installEventFilter(f)
        return f

    def explain(self, t0: float, gaps: list[tuple[float, float]], threshold_ms: float, case: str) -> None:
        """Print (stderr) every stall over the threshold and the calls that ran in it."""
        for at, gap in gaps:
            stall = gap - 5.0
            if stall < threshold_ms:
                continue
            end = t0 + at
            begin = end - gap / 1000
            inside = [c for c in self.calls if c[0] < end and c[0] + c[1] > begin]
            top = sum(c[1] for c in inside if c[2] == 0) * 1000
            print(
                f"[{case}] stall {stall:.1f} ms at {at - gap / 1000:.2f} s (python at top level {top:.1f} ms)",
                file=sys.stderr,
            )
            rows = [
                (start, f"{'  ' * depth}+{took * 1000:6.1f} {name}") for start, took, depth, name in inside
            ]
            evs = self.events
            for i, (when, kind, cls) in enumerate(evs[:-1]):
                took = evs[i + 1][0] - when
                if begin <= when < end and took >= 0.003:
                    rows.append((when, f"event {kind} -> {cls} (next event after {took * 1000:.1f} ms)"))
            for start, text in sorted(rows):
                print(f"    {(start - t0) * 1000:8.1f} ms {text}", file=sys.stderr)


_EXPLAIN_MS: float | None = None
_EVENTS = False  # --events: with --explain, note every event delivered (slower still)


def _measure(app, seconds: float, start, stop, case: str = "") -> dict[str, float]:  # noqa: ANN001
    from PySide6.QtCore import QEventLoop, QTimer

    gaps: list[tuple[float, float]] = []  # (seconds since the start, gap ms)
    cpu_ms: list[float] = []  # the GUI thread's CPU time in each gap
    queued_ms: list[float] = []  # its time runnable but waiting for a core (Linux schedstat)
    last = [time.perf_counter(), time.thread_time(), _runqueue_s()]

    def tick() -> None:
        now, cpu_now, queue_now = time.perf_counter(), time.thread_time(), _runqueue_s()
        gaps.append((now - t0, (now - last[0]) * 1000.0))
        cpu_ms.append((cpu_now - last[1]) * 1000.0)
        queued_ms.append((queue_now - last[2]) * 1000.0)
        last[0], last[1], last[2] = now, cpu_now, queue_now

    timer = QTimer()
    timer.setInterval(5)
    timer.timeout.connect(tick)
    info, begin = start()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    t0 = time.perf_counter()
    last[0], last[1], last[2] = t0, time.thread_time(), _runqueue_s()
    timer.start()
    begin()  # inside the measurement: the window's first show and the session start
    entries = _Entries() if _EXPLAIN_MS is not None else None
    if entries is not None:
        event_filter = entries.filter_events(app) if _EVENTS else None
        sys.setprofile(entries.hook)
    # the application's own event loop, as desktopviz runs it, for the whole run
    loop = QEventLoop()
    QTimer.singleShot(max(0, int((seconds - (time.perf_counter() - t0)) * 1000)), loop.quit)
    loop.exec()
    if entries is not None:
        sys.setprofile(None)
        if event_filter is not None:
            app.removeEventFilter(event_filter)
    timer.stop()
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    if entries is not None and _EXPLAIN_MS is not None:
        entries.explain(t0, gaps, _EXPLAIN_MS, case)
    result = stop(info)
    stalls = sorted(max(0.0, g - 5.0) for _, g in gaps)
    steady = [max(0.0, g - 5.0) for at, g in gaps if at - g / 1000 >= 1.0]
    p99 = stalls[int(0.99 * (len(stalls) - 1))] if stalls else 0.0
    # The first gap holds the window's first show and paint (nothing is on screen before it
    # ends: start-up time rather than a frozen window); the stalls after it are what a user
    # of the shown window can feel. Both are reported; max_stall_ms keeps them together.
    later = [max(0.0, g - 5.0) for _, g in gaps[1:]]
    # The GUI thread's own CPU time in the longest gap: much less than the gap means it was
    # waiting (for the GIL, or for a core), not working.
    worst = max(range(len(gaps)), key=lambda i: gaps[i][1]) if gaps else None
    return {
        "ticks": len(gaps),
        "max_stall_ms": round(stalls[-1] if stalls else 0.0, 2),
        "first_frame_ms": round(gaps[0][1] if gaps else 0.0, 2),
        "max_after_first_frame_ms": round(max(later, default=0.0), 2),
        "max_stall_gui_cpu_ms": round(cpu_ms[worst], 2) if worst is not None else 0.0,
        "max_stall_runqueue_ms": round(queued_ms[worst], 2) if worst is not None else 0.0,
        # the longest stall less the time the GUI thread waited for a core: what the app
        # itself makes (its work, and waits for the GIL), without the machine's other load
        "max_stall_less_runqueue_ms": round(
            max((max(0.0, g - 5.0 - q) for (_, g), q in zip(gaps, queued_ms, strict=True)), default=0.0), 2
        ),
        "max_stall_at_s": round(gaps[worst][0], 3) if worst is not None else 0.0,
        "p99_stall_ms": round(p99, 2),
        "steady_max_stall_ms": round(max(steady, default=0.0), 2),
        "cpu_s": round(cpu, 2),  # the whole process (every thread) over the run
        "wall_s": round(wall, 2),
        **result,
    }


def _runqueue_s() -> float:
    """Seconds this thread has spent runnable but waiting for a core (Linux schedstat; 0
    elsewhere): a shared machine's load, as opposed to the app's own work or GIL waits."""
    try:
        with open("/proc/thread-self/schedstat", "rb") as fh:
            return int(fh.read().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


def _spread(runs: list[dict[str, float]]) -> dict[str, object]:
    """[min, median, max] of each figure over the runs, and the runs themselves."""
    out: dict[str, object] = {}
    for key in runs[0]:
        values = [r[key] for r in runs]
        if all(isinstance(v, (int, float)) for v in values):
            out[key] = [min(values), round(statistics.median(values), 2), max(values)]
        else:  # a label (which simulation): the same in every run
            out[key] = values[0]
    out["runs"] = runs
    return out


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def main() -> None:
    global _EXPLAIN_MS, _EVENTS
    args = sys.argv[1:]
    if "--events" in args:
        _EVENTS = True
        args.remove("--events")
    if "--explain" in args:
        i = args.index("--explain")
        _EXPLAIN_MS = float(args[i + 1])
        del args[i : i + 2]
    switch = None
    if "--switch-interval" in args:
        i = args.index("--switch-interval")
        switch = float(args[i + 1])
        del args[i : i + 2]
    only = None
    if "--case" in args:
        i = args.index("--case")
        only = args[i + 1]
        del args[i : i + 2]
    seconds = float(args[0]) if args else 10.0
    repeat = int(args[1]) if len(args) > 1 else 1
    load_before = _load()
    tmp = tempfile.mkdtemp(prefix="bench-ui-")
    atexit.register(shutil.rmtree, tmp, ignore_errors=True)  # its run databases: 100-600 MB each
    os.environ["DESKTOPVIZ_DATA_DIR"] = tmp
    os.environ["XDG_CONFIG_HOME"] = tmp
    from PySide6.QtCore import QTimer

    from desktopviz.core import paths
    from desktopviz.core.scenario import load_scenario
    from desktopviz.ui.app import create_app, quiet_offscreen_warnings
    from desktopviz.ui.main_window import MainWindow
    from desktopviz.ui.sim_controller import MAX_SPEED, SimController
    from desktopviz.ui.sim_process import prestart

    app = create_app()  # sets the app's own switch interval
    if switch is not None:
        sys.setswitchinterval(switch)
    quiet_offscreen_warnings()
    scenario = load_scenario(paths.default_scenario())

    def start_controller():  # noqa: ANN202
        ctl = SimController(scenario, os.path.join(tmp, "controller.db"), speed=MAX_SPEED)
        return ctl, ctl.start

    def stop_controller(ctl) -> dict[str, float]:  # noqa: ANN001
        t = time.perf_counter()
        final = ctl.shutdown()
        return {
            "simulation": "process" if ctl.in_process else "thread",
            "simulated_s": round(final.sim_time - scenario.settings.start_time, 1),
            "logs": final.total,
            "shutdown_ms": round((time.perf_counter() - t) * 1000, 1),
        }

    def start_window(live_visualizer: bool = True):  # noqa: ANN202
        """The window is made before the measurement; showing it and starting the session
        (from the event loop, as `desktopviz` does) are measured."""
        prestart()  # as desktopviz does before it makes the window of a scenario
        w = MainWindow(persist=False)
        w.resize(1600, 1000)
        if not live_visualizer:  # the breakdown: everything but the visualizer's re-renders
            w.visualizer.refresh = lambda: None

        def begin() -> None:
            w.show()
            QTimer.singleShot(
                0, lambda: w.start_simulation(scenario, paths.default_scenario(), speed=MAX_SPEED)
            )

        return w, begin

    def stop_window(w) -> dict[str, float]:  # noqa: ANN001
        ctl = w.controller
        t = time.perf_counter()
        w.close()
        final = ctl.shutdown() if ctl is not None else None
        return {
            "simulated_s": round((final.sim_time if final else 0) - scenario.settings.start_time, 1),
            "logs": final.total if final else 0,
            "close_ms": round((time.perf_counter() - t) * 1000, 1),
            "simulation": "process" if ctl is not None and ctl.in_process else "thread",
        }

    cases = {
        "controller": (start_controller, stop_controller),
        "window": (start_window, stop_window),
        "window_without_visualizer_rerenders": (lambda: start_window(False), stop_window),
    }
    if only is not None:
        cases = {only: cases[only]}
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in cases}
    for _ in range(repeat):
        for name, (start, stop) in cases.items():
            runs[name].append(_measure(app, seconds, start, stop, name))
    figures = {name: (r[0] if repeat == 1 else _spread(r)) for name, r in runs.items()}
    print(
        json.dumps(
            {"bench": "ui_latency", "seconds": seconds, "runs": repeat, "timer_ms": 5}
            | {"switch_interval_ms": round(sys.getswitchinterval() * 1000, 3), **figures}
            | {"target_max_stall_ms": 50, "loadavg_before": load_before, "loadavg_after": _load()}
        )
    )


if __name__ == "__main__":
    main()
