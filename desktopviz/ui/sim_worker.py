"""The simulation worker: runs the core Simulator in the simulation thread, paced on a wall
clock, and writes its flow logs through its own FlowStore. Driven by SimController
(desktopviz.ui.sim_controller), which owns the thread."""

from __future__ import annotations

import copy
import math
import pickle
import queue
import time
import traceback
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer, Slot

from desktopviz.core.flowlog import FlowLog
from desktopviz.core.model import Scenario
from desktopviz.ui.sim_worker_pacing import gui_is_busy
from desktopviz.ui.sim_worker_setup import (  # noqa: F401 - re-exported
    SimFactory,
    SimulatorLike,
    StoreFactory,
    StoreLike,
    _default_sim_factory,
    _default_store_factory,
    run_db_path,
    speed_label,
)
from desktopviz.ui.sim_worker_snapshot import (
    ClusterSnapshot,
    IntervalSummary,
    StopSummary,
    WorkerSignals,
    changed,
)

MAX_SPEED = math.inf  # "as fast as possible"
SPEEDS: tuple[float, ...] = (1.0, 10.0, 60.0, MAX_SPEED)
TICK_MS = 250  # wall-clock step at finite speeds
# At max speed the worker waits this long in its event loop between intervals: commands are
# seen at once, and the GUI thread gets the GIL without queueing behind a busy simulator.
MAX_SPEED_GAP_MS = 1
MAX_CATCH_UP_S = 1.0  # wall seconds a late tick may make up for (no huge jumps after a stall)
# The GUI hears of new intervals and of the clock at most this often (wall ms): at max speed
# intervals complete ~60 times a second, and every queued signal costs the GUI thread a slot
# call (and a wait for the GIL); the views re-read the store at 5 Hz anyway.
EMIT_MS = 200
START_WAIT_S = 1.0  # a max-speed run waits at most this long for a busy GUI before it starts


class SimWorker(WorkerSignals):
    """Runs the Simulator in the simulation thread and writes its flow logs to the store.

    Lives in the simulation thread; only :meth:`post` may be called from other threads.

    Signals:
        store_opened(str): the run's database exists and has its schema; views may open it.
        clock(float): the simulated time (Unix seconds) after a step (at max speed at most
            every EMIT_MS).
        interval(object): an IntervalSummary of the flush intervals completed since the last
            one (at max speed at most every EMIT_MS: the intervals completed meanwhile merged).
        state(bool, float): running (not paused), speed (math.inf = as fast as possible).
        event_fired(str): a scenario event was fired (its id).
        cluster_changed(object): a ClusterSnapshot after an event fired (by command or on its
            schedule) or a reset; simulators without a `cluster` send none.
        failed(str): an exception stopped the simulation (message with the exception).
        stopped(object): a StopSummary; the database is flushed and closed, the thread quits.
    """

    def __init__(
        self,
        scenario: Scenario | bytes,
        db_path: Path,
        *,
        seed: int | None = None,
        speed: float = 1.0,
        running: bool = True,
        sim_factory: SimFactory | None = None,
        store_factory: StoreFactory | None = None,
    ) -> None:
        super().__init__()
        # Never mutated: reset starts from a copy of it. A pickled scenario (SimController's
        # copy) is unpickled in start(), on the simulation thread, not on the GUI thread.
        self._pickled = scenario if isinstance(scenario, bytes) else None
        self._pristine: Scenario = scenario  # type: ignore[assignment] - bytes until start()
        self._db_path = Path(db_path)
        self._db_dir = self._db_path.parent  # where a reset's new runs go (the first run's folder)
        self._seed = seed
        self._speed = speed
        self._running = running
        self._sim_factory = sim_factory or _default_sim_factory
        self._store_factory = store_factory or _default_store_factory
        self.commands: queue.Queue[tuple[str, Any]] = queue.Queue()
        self._sim: SimulatorLike | None = None
        self._store: StoreLike | None = None
        self._timer: QTimer | None = None
        self._last_wall = 0.0
        self._total = 0
        self._failed = False
        self._done = False
        self.result: list[StopSummary] = []  # the StopSummary, appended before the thread quits
        self._policy_commands: list[tuple[str, Any]] = []  # replayed on a reset (edits stay)
        self._known: tuple[dict[str, Any], dict[str, Any]] = ({}, {})
        self._fired = 0
        self._pending: IntervalSummary | None = None  # not yet told to the GUI
        self._pending_clock: float | None = None
        self._deferred: list[FlowLog] | None = None  # a max-speed step's logs, written next tick
        self._emitted = 0.0  # monotonic time of the last interval/clock signal
        self._created = time.monotonic()

    # -- any thread --------------------------------------------------------------------
    def post(self, command: str, arg: Any = None) -> None:
        """Queue a command: pause, resume, speed, fire, apply_policy, remove_policy, set_tier,
        reset, stop. Thread-safe; the worker sees it before its next simulation step."""
        self.commands.put((command, arg))

    # -- simulation thread -------------------------------------------------------------
    @Slot()
    def start(self) -> None:
        """Create the simulator and the store, then start stepping (thread.started). While
        the GUI says it is busy (a window showing, a session's first pictures) the ~100 ms of
        building them waits, up to START_WAIT_S or a command (stop): it would hold the GIL through
        the GUI's work."""
        waited = time.monotonic() - self._created
        if math.isinf(self._speed) and gui_is_busy() and waited < START_WAIT_S and self.commands.empty():
            QTimer.singleShot(10, self.start)
            return
        self._timer = QTimer(self)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.timeout.connect(self._tick)
        try:
            if self._pickled is not None:
                self._pristine, self._pickled = pickle.loads(self._pickled), None
            self._open_run(self._db_path)
        except Exception as exc:  # noqa: BLE001 - any failure is shown to the user
            self._fail(exc)
        self._timer.start(TICK_MS)
        self._reschedule()
        self.state.emit(self._running and not self._failed, self._speed)

    def _open_run(self, db_path: Path) -> None:
        self._db_path = db_path
        self._total = 0
        self._sim = self._sim_factory(copy.deepcopy(self._pristine), self._seed)
        self._store = self._store_factory(db_path)
        set_meta = getattr(self._store, "set_meta", None)
        if set_meta is not None:  # a stored run names what produced it
            set_meta("scenario", self._pristine.name)
            set_meta("seed", getattr(self._sim, "seed", self._seed))
            if self._pristine.files:
                set_meta("scenario_files", ",".join(self._pristine.files))
        for command, arg in self._policy_commands:
            self._policy_command(command, arg, record=False)
        previous = self._known
        self._remember()
        self._fired = len(getattr(self._sim, "fired", ()))
        self._last_wall = time.monotonic()
        self._pending, self._pending_clock, self._deferred = None, None, None
        self.store_opened.emit(str(db_path))
        self.clock.emit(float(self._sim.now))
        self._emitted = time.monotonic()
        if previous != ({}, {}):
            self._known = previous
            self._snapshot("reset")

    @Slot()
    def _tick(self) -> None:
        if self._done:
            return
        self._drain()
        if self._done or not self._running or self._failed or self._sim is None:
            self._write_deferred()
            self._last_wall = time.monotonic()
            self._publish(force=True)
            return
        flat_out = math.isinf(self._speed)
        if flat_out and gui_is_busy():
            return  # the GUI is repainting: leave it the GIL (sim_worker_pacing)
        try:
            if self._deferred is not None:  # the step's logs whose writing waited
                logs, self._deferred = self._deferred, None
            elif flat_out:
                logs = self._sim.advance(self._to_next_boundary())
                if logs and gui_is_busy():  # the GUI began repainting meanwhile: the store
                    self._deferred = logs  # write (most of a step) waits for the next tick
                    return
            else:
                wall = time.monotonic()
                elapsed = min(wall - self._last_wall, MAX_CATCH_UP_S)
                self._last_wall = wall
                logs = self._sim.advance(elapsed * self._speed)
            self._write(logs)
            self._pending_clock = float(self._sim.now)
            fired = getattr(self._sim, "fired", ())
            if len(fired) != self._fired:  # a timed event fired during this step
                self._publish(force=True)
                self._snapshot(str(fired[-1][1]))
            else:  # finite speeds tick every TICK_MS: only max speed needs the limit
                self._publish(force=not flat_out)
        except Exception as exc:  # noqa: BLE001
            self._fail(exc)

    def _write_deferred(self) -> None:
        """Write a max-speed step's logs that waited for a busy GUI (before a command takes
        effect, a pause, a reset or the end of the run)."""
        if self._deferred is not None and not self._failed:
            logs, self._deferred = self._deferred, None
            try:
                self._write(logs)
                if self._sim is not None:
                    self._pending_clock = float(self._sim.now)
            except Exception as exc:  # noqa: BLE001
                self._fail(exc)

    def _publish(self, force: bool = False) -> None:
        """Tell the GUI the intervals written and the clock, at most every EMIT_MS (always
        when forced: pause, stop, events, failures)."""
        now = time.monotonic()
        if not force and now - self._emitted < EMIT_MS / 1000:
            return
        if self._pending is not None:
            summary, self._pending = self._pending, None
            self.interval.emit(summary)
        if self._pending_clock is not None:
            clock, self._pending_clock = self._pending_clock, None
            self.clock.emit(clock)
        self._emitted = now

    def _to_next_boundary(self) -> float:
        """Simulated seconds to the end of the current flush interval (one interval per step
        at max speed, so commands are seen between intervals)."""
        assert self._sim is not None
        flush = float(getattr(self._pristine.settings, "flush_interval", 15) or 15)
        origin = float(getattr(self._pristine.settings, "start_time", 0))
        into = (float(self._sim.now) - origin) % flush
        step = flush - into
        return step if step > 1e-9 else flush

    def _write(self, logs: list[FlowLog]) -> None:
        if not logs or self._store is None:
            return
        by_end: dict[int, list[FlowLog]] = {}
        for log in logs:
            by_end.setdefault(int(log.end_time), []).append(log)
        for end in sorted(by_end):
            group = by_end[end]
            self._store.insert(group)
            self._total += len(group)
            allowed = sum(1 for g in group if g.action == "allow")
            summary = IntervalSummary(end, len(group), allowed, len(group) - allowed, self._total)
            self._pending = summary if self._pending is None else self._pending.merged(summary)

    def _drain(self) -> None:
        while True:
            try:
                command, arg = self.commands.get_nowait()
            except queue.Empty:
                return
            try:
                self._execute(command, arg)
            except Exception as exc:  # noqa: BLE001
                self._fail(exc)
            if self._done:
                return
            self._reschedule()

    def _execute(self, command: str, arg: Any) -> None:
        self._write_deferred()
        self._publish(force=True)  # what happened before the command is told before its effect
        if command == "stop":
            self._stop()
        elif command == "pause":
            self._running = False
            self.state.emit(False, self._speed)
        elif command == "resume":
            self._running = not self._failed
            self._last_wall = time.monotonic()
            self.state.emit(self._running, self._speed)
        elif command == "speed":
            self._speed = float(arg)
            self._last_wall = time.monotonic()
            self.state.emit(self._running and not self._failed, self._speed)
        elif command == "fire":
            if self._sim is not None:
                self._sim.fire(str(arg))
                self.event_fired.emit(str(arg))
                self._snapshot(str(arg))
        elif command in ("apply_policy", "remove_policy", "set_tier"):
            self._policy_command(command, arg)
        elif command == "reset":
            self._close_run()
            self._failed = False
            self._open_run(Path(arg) if arg else run_db_path(self._pristine.name, self._db_dir))
            self.state.emit(self._running, self._speed)
        else:
            raise ValueError(f"unknown simulation command {command!r}")

    def _policy_command(self, command: str, arg: Any, record: bool = True) -> None:
        """Apply, remove a policy or set a tier (new connections only). A policy that is
        already gone (an event deleted it) is not an error; a simulator without tiers
        (`set_tier`) ignores tiers."""
        sim = self._sim
        if sim is None:
            return
        if record:
            self._policy_commands.append((command, arg))
        if command == "apply_policy":
            sim.apply_policy(arg)
        elif command == "remove_policy":
            cluster = getattr(sim, "cluster", None)
            if cluster is None or str(arg) in cluster.policies:
                sim.remove_policy(str(arg))
        else:
            setter = getattr(sim, "set_tier", None)
            if setter is not None:
                setter(arg)
        self._remember()

    def _remember(self) -> None:
        cluster = getattr(self._sim, "cluster", None)
        if cluster is not None:
            self._known = (dict(cluster.policies), dict(cluster.tiers))

    def _snapshot(self, reason: str) -> None:
        """Tell the GUI what the cluster is now and which policies and tiers changed."""
        sim = self._sim
        self._fired = len(getattr(sim, "fired", ()))
        cluster = getattr(sim, "cluster", None)
        if cluster is None:
            return
        old_p, old_t = self._known
        policies = changed(old_p, cluster.policies)
        tiers = changed(old_t, cluster.tiers)
        self._remember()
        copied = copy.deepcopy(cluster)
        policies = {k: (copied.policies[k] if v is not None else None) for k, v in policies.items()}
        tiers = {k: (copied.tiers[k] if v is not None else None) for k, v in tiers.items()}
        self.cluster_changed.emit(ClusterSnapshot(copied, policies, tiers, reason, float(sim.now)))

    def _reschedule(self) -> None:
        """Step as fast as possible only while running at max speed; otherwise tick at
        TICK_MS (a paused worker still drains its queue four times a second)."""
        if self._timer is not None:
            busy = self._running and not self._failed and math.isinf(self._speed)
            self._timer.setInterval(MAX_SPEED_GAP_MS if busy else TICK_MS)

    def _close_run(self) -> int:
        """Write the partial last interval and close the database; returns logs flushed."""
        flushed = 0
        try:
            self._write_deferred()
            if self._sim is not None and self._store is not None and not self._failed:
                logs = self._sim.flush()
                if logs:
                    self._write(logs)
                    flushed = len(logs)
            self._publish(force=True)
        finally:
            if self._store is not None:
                self._store.close()
            self._store = None
        return flushed

    def _stop(self) -> None:
        self._done = True
        if self._timer is not None:
            self._timer.stop()
        flushed = 0
        try:
            flushed = self._close_run()
        except Exception as exc:  # noqa: BLE001
            self.failed.emit(_describe(exc))
        sim_time = float(self._sim.now) if self._sim is not None else 0.0
        final = StopSummary(str(self._db_path), sim_time, self._total, flushed)
        self.result.append(final)
        self.stopped.emit(final)
        thread = self.thread()
        if thread is not None:
            thread.quit()

    def _fail(self, exc: BaseException) -> None:
        self._publish(force=True)  # what was written before the failure
        self._failed = True
        self._running = False
        self._reschedule()
        self.failed.emit(_describe(exc))
        self.state.emit(False, self._speed)


def _describe(exc: BaseException) -> str:
    text = str(exc) or exc.__class__.__name__
    tb = traceback.extract_tb(exc.__traceback__)
    where = f" (at {Path(tb[-1].filename).name}:{tb[-1].lineno})" if tb else ""
    return f"{exc.__class__.__name__}: {text}{where}"
