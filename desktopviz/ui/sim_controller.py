"""The simulation thread: one worker QObject in one QThread runs the core Simulator.

With the real simulator and store (the app's case) that worker is a
:class:`~desktopviz.ui.sim_process.SimProcessWorker`: the simulator itself runs in a child
process, and the thread relays its signals, so the GUI process's GIL is the GUI's (see
``sim_process``). Injected simulators or stores (tests), or ``DESKTOPVIZ_SIM_PROCESS=0``, run
it in the thread itself (:class:`~desktopviz.ui.sim_worker.SimWorker`). Either way the GUI
sees the same signals and commands.

The GUI talks to a running simulation only through :class:`SimController`. Commands (pause,
resume, speed, fire an event, apply or remove a policy, reset, stop) go into a queue that the
worker drains between simulation steps; results come back as queued signals carrying small
summaries. Views never receive flow logs from here: they read the store the worker writes.
"""

from __future__ import annotations

import copy
import gc
import pickle
import weakref
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot

from desktopviz.core.model import Scenario
from desktopviz.ui.sim_process import SimProcessWorker, process_mode_available
from desktopviz.ui.sim_worker import (  # noqa: F401 - re-exported for the views and tests
    MAX_SPEED,
    SPEEDS,
    ClusterSnapshot,
    IntervalSummary,
    SimFactory,
    SimWorker,
    StopSummary,
    StoreFactory,
    run_db_path,
    speed_label,
)

# Live threads of every controller, so tests can fail on a leaked running QThread.
_LIVE_THREADS: weakref.WeakSet[QThread] = weakref.WeakSet()


def settle_heap() -> None:
    """Collect, then freeze what is alive (modules, widgets, the scenario) out of the cyclic
    collector's sight: a full collection then walks only what the run allocates since, instead
    of the whole heap for 60 ms with the GIL held, whichever thread triggers it (measured with
    tests/perf/bench_ui_latency.py). Called when a simulation starts."""
    gc.collect()
    gc.freeze()


def _snapshot(scenario: Scenario) -> Scenario | bytes:
    """The simulation's own copy of the scenario: pickled here (a few ms) and unpickled on the
    simulation thread, instead of a deepcopy on the GUI thread (~10 ms at session start);
    a deepcopy if something in it does not pickle."""
    try:
        return pickle.dumps(scenario, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:  # noqa: BLE001 - any pickling failure: the slower, general copy
        return copy.deepcopy(scenario)


def running_threads() -> list[QThread]:
    """Simulation threads still running (for leak checks)."""
    return [t for t in list(_LIVE_THREADS) if t.isRunning()]


class SimController(QObject):
    """The GUI thread's handle on one simulation run: owns the thread and its worker.

    Commands are non-blocking (queued to the worker); only :meth:`shutdown` waits, for the
    worker to flush the last interval and close the database.

    Signals:
        store_opened(str): the run's database is ready (on start and after reset).
        clock(float): simulated time (Unix seconds).
        interval(object): IntervalSummary of the flush intervals completed since the last
            one (each one at finite speeds; merged, at most every 200 ms, at max speed).
        state_changed(bool, float): running, speed.
        event_fired(str): a scenario event id that was fired.
        cluster_changed(object): a ClusterSnapshot after an event or a reset (what the
            simulation's cluster now is, and which policies and tiers changed).
        failed(str): the simulation stopped on an error (the app keeps running).
        stopped(object): StopSummary after shutdown.
    """

    store_opened = Signal(str)
    clock = Signal(float)
    interval = Signal(object)
    state_changed = Signal(bool, float)
    event_fired = Signal(str)
    cluster_changed = Signal(object)
    failed = Signal(str)
    stopped = Signal(object)

    def __init__(
        self,
        scenario: Scenario,
        db_path: str | Path | None = None,
        *,
        seed: int | None = None,
        speed: float = 1.0,
        running: bool = True,
        sim_factory: SimFactory | None = None,
        store_factory: StoreFactory | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.scenario = scenario
        path = Path(db_path) if db_path is not None else run_db_path(scenario.name)
        self.db_path = str(path)
        self.sim_time = float(scenario.settings.start_time)
        self.running = running
        self.speed = speed
        self.last: IntervalSummary | None = None
        self.error: str | None = None
        self._thread = QThread()
        self._thread.setObjectName(f"simulation:{scenario.name}")
        snapshot = _snapshot(scenario)
        self._worker: SimWorker | SimProcessWorker
        process = sim_factory is None and store_factory is None and process_mode_available()
        if process and isinstance(snapshot, bytes):  # the default: the GUI keeps its GIL
            self._worker = SimProcessWorker(snapshot, path, seed=seed, speed=speed, running=running)
        else:  # injected simulator or store (tests), or the environment says so
            self._worker = SimWorker(
                snapshot,
                path,
                seed=seed,
                speed=speed,
                running=running,
                sim_factory=sim_factory,
                store_factory=store_factory,
            )
        self._commands = self._worker.commands
        self._result = self._worker.result  # outlives the worker (deleted when the thread ends)
        self._worker.moveToThread(self._thread)
        self._thread.started.connect(self._worker.start)
        self._thread.finished.connect(self._worker.deleteLater)
        w = self._worker
        w.store_opened.connect(self._on_store_opened)
        w.clock.connect(self._on_clock)
        w.interval.connect(self._on_interval)
        w.state.connect(self._on_state)
        w.event_fired.connect(self.event_fired)
        w.cluster_changed.connect(self.cluster_changed)
        w.failed.connect(self._on_failed)
        w.stopped.connect(self.stopped)
        self._started = False
        self._stopping = False

    @property
    def in_process(self) -> bool:
        """The simulation runs in a child process (relayed by SimProcessWorker)."""
        return isinstance(self._worker, SimProcessWorker)

    # -- commands (GUI thread, never block) --------------------------------------------
    def start(self) -> None:
        if not self._started:
            self._started = True
            _LIVE_THREADS.add(self._thread)
            settle_heap()
            self._thread.start()

    def pause(self) -> None:
        self._post("pause")

    def resume(self) -> None:
        self._post("resume")

    def toggle(self) -> None:
        if self.running:
            self.pause()
        else:
            self.resume()

    def set_speed(self, speed: float) -> None:
        self._post("speed", float(speed))

    def fire(self, event_id: str) -> None:
        self._post("fire", event_id)

    def apply_policy(self, policy: Any) -> None:
        """Apply a changed policy (new connections only; copies it for the thread)."""
        self._post("apply_policy", copy.deepcopy(policy))

    def remove_policy(self, key: str) -> None:
        self._post("remove_policy", key)

    def set_tier(self, tier: Any) -> None:
        """Create or change a tier (order, default action): new connections only."""
        self._post("set_tier", copy.deepcopy(tier))

    def reset(self, db_path: str | Path | None = None) -> None:
        """Start the scenario again from its beginning into a new database (the old run's
        database is flushed, closed and kept)."""
        self._post("reset", str(db_path) if db_path else None)

    def _post(self, command: str, arg: Any = None) -> None:
        if not self._stopping:
            self._commands.put((command, arg))

    def is_alive(self) -> bool:
        return self._thread.isRunning()

    def shutdown(self, timeout_ms: int = 30_000) -> StopSummary | None:
        """Stop the worker, wait for it to write the last interval and close the database.
        Blocks (used when closing); returns what the run left behind."""
        if not self._started:
            return None
        if self._thread.isRunning():
            self._post("stop")
            self._stopping = True
            if not self._thread.wait(timeout_ms):
                worker = self._worker
                if not isinstance(worker, SimProcessWorker):  # (in_process, typed)
                    raise RuntimeError("the simulation thread did not stop in time")
                # A simulation process that does not answer is ended; what it committed stays.
                worker.kill()
                if not self._thread.wait(10_000):
                    raise RuntimeError("the simulation process did not stop in time")
        _LIVE_THREADS.discard(self._thread)
        final = self._result[0] if self._result else None
        if final is not None:
            self.sim_time = final.sim_time
        return final

    # -- mirrors, updated from the worker's queued signals -----------------------------
    @Slot(str)
    def _on_store_opened(self, path: str) -> None:
        self.db_path = path
        self.last = None
        self.store_opened.emit(path)

    @Slot(float)
    def _on_clock(self, now: float) -> None:
        self.sim_time = now
        self.clock.emit(now)

    @Slot(object)
    def _on_interval(self, summary: IntervalSummary) -> None:
        self.last = summary
        self.interval.emit(summary)

    @Slot(bool, float)
    def _on_state(self, running: bool, speed: float) -> None:
        self.running = running
        self.speed = speed
        self.state_changed.emit(running, speed)

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        self.error = message
        self.failed.emit(message)
