"""The simulation in a second process: the GUI process keeps its GIL to itself.

Why: every call from Qt into Python on the GUI thread (a paint event, a layout's size hint, a
slot) takes the GIL, and while another thread of the process runs Python each of those waits
up to the switch interval for it. A window's first show makes a few hundred such calls:
measured with one busy Python thread beside it, the first show took 73–89 ms instead of
13–16 and the next paint 230 ms instead of 25 (``tests/perf/bench_ui_latency.py``; the time
grows with ``sys.setswitchinterval``, which is how a GIL convoy shows). The simulator, at max
speed, is such a thread.

So :class:`SimProcessWorker` stands in for :class:`~desktopviz.ui.sim_worker.SimWorker` in
the controller's QThread: it starts ``python -m desktopviz.ui.sim_process``, which runs the
very same SimWorker (its pacing, commands, store writes and signals) under a
QCoreApplication, and relays that worker's signals, emitted there, as its own signals here.
Commands go to the child through a pipe; the child's signals come back through another, as
length-prefixed pickles. The relay thread spends its time blocked in ``read`` (no GIL).

If the child dies, the relay reports it as a failure and a stop summary with what the run
had reported, so the app goes on as when the worker thread fails; everything the child had
committed stays in the run's database. If this process dies, the child reads the end of its
command pipe as "stop": it writes the last interval and closes the database.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pickle
import struct
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, Any

from PySide6.QtCore import Slot

import desktopviz
from desktopviz.ui.sim_worker_snapshot import SIGNALS, StopSummary, WorkerSignals

_HEADER = struct.Struct(">I")
_PACKAGE_ROOT = str(Path(desktopviz.__file__).resolve().parent.parent)
CHILD_NICE = 5  # the simulation's scheduling priority below the GUI's (CFS: about a third of its weight)
ENV_SWITCH = "DESKTOPVIZ_SIM_PROCESS"  # "0": run the simulation in a thread of the GUI process


_LIVE: set[subprocess.Popen[bytes]] = set()  # children not yet waited for (leak checks)


def running_processes() -> list[int]:
    """Process ids of simulation children still running (for leak checks)."""
    return [p.pid for p in list(_LIVE) if p.poll() is None]


def process_mode_available() -> bool:
    """The simulation may run in a child process: not switched off by the environment, a
    POSIX system (the pipes are handed over with ``pass_fds``), and a Python interpreter to
    start (a frozen application's executable would start the app)."""
    if os.environ.get(ENV_SWITCH, "1").strip().lower() in ("0", "no", "false", "off"):
        return False
    return os.name == "posix" and not getattr(sys, "frozen", False) and bool(sys.executable)


def write_message(stream: IO[bytes], message: Any) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(data)) + data)
    stream.flush()


def read_message(stream: IO[bytes]) -> Any | None:
    """The next message, or None at the end of the stream (the other side closed or died)."""
    head = _read_exactly(stream, _HEADER.size)
    if head is None:
        return None
    data = _read_exactly(stream, _HEADER.unpack(head)[0])
    return None if data is None else pickle.loads(data)


def _read_exactly(stream: IO[bytes], n: int) -> bytes | None:
    parts: list[bytes] = []
    while n > 0:
        chunk = stream.read(n)
        if not chunk:
            return None
        parts.append(chunk)
        n -= len(chunk)
    return b"".join(parts)


class _CommandPipe:
    """What SimController puts commands into (``put((command, arg))``), as for the worker's
    queue: written to the child's command pipe. A child that is gone ignores them."""

    def __init__(self) -> None:
        self._stream: IO[bytes] | None = None
        self._early: list[tuple[str, Any]] = []  # commands posted before the child started
        self._lock = threading.Lock()

    def attach(self, stream: IO[bytes]) -> None:
        with self._lock:
            self._stream = stream
            early, self._early = self._early, []
            for command in early:
                self._send(command)

    def put(self, command: tuple[str, Any]) -> None:
        with self._lock:
            if self._stream is None:
                self._early.append(command)
            else:
                self._send(command)

    def close(self) -> None:
        with self._lock:
            if self._stream is not None:
                try:
                    self._stream.close()
                except OSError:
                    pass
            self._stream = None

    def _send(self, command: tuple[str, Any]) -> None:
        assert self._stream is not None
        try:
            write_message(self._stream, command)
        except (ValueError, OSError):  # the child is gone (BrokenPipeError), or the pipe closed
            pass


class SimProcessWorker(WorkerSignals):
    """SimWorker's signals, ``commands`` and ``result``, for a simulation run by a child
    process. Lives in the controller's QThread; its :meth:`start` relays until the child
    has stopped, then quits the thread."""

    def __init__(
        self,
        scenario: bytes,
        db_path: Path,
        *,
        seed: int | None = None,
        speed: float = 1.0,
        running: bool = True,
    ) -> None:
        super().__init__()
        self._init = {
            "scenario": scenario,
            "db_path": str(db_path),
            "seed": seed,
            "speed": speed,
            "running": running,
        }
        self._db_path = str(db_path)
        self.commands = _CommandPipe()
        self.result: list[StopSummary] = []
        self._clock = 0.0
        self._total = 0
        self._speed = float(speed)  # the child's, as its last "state" said
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        """The child's process id, once started."""
        return self._proc.pid if self._proc is not None else None

    def kill(self) -> None:
        """End a child that does not answer (any thread): the relay then reports it as a
        failure and a stop, as for a child that died."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.kill()

    @Slot()
    def start(self) -> None:
        """Start the child and relay its signals until it stops (runs on the QThread)."""
        try:
            proc, events = self._spawn()
        except Exception as exc:  # noqa: BLE001 - shown as the run's failure
            self._finish(None, f"Cannot start the simulation process: {exc}")
            return
        try:
            while True:
                message = read_message(events)
                if message is None:
                    break
                name, args = message
                if name == "stopped":
                    self.result.append(args[0])
                elif name == "clock":
                    self._clock = float(args[0])
                elif name == "state":
                    self._speed = float(args[1])
                elif name == "interval":
                    self._total = int(args[0].total)
                elif name == "store_opened":
                    self._db_path, self._total = str(args[0]), 0
                getattr(self, name).emit(*args)
        except Exception as exc:  # noqa: BLE001 - a garbled message: the child is not trusted further
            proc.kill()
            self._finish(proc, f"The simulation process sent something unreadable: {exc}")
            return
        finally:
            self.commands.close()
            events.close()
        self._finish(proc, None)

    def _spawn(self) -> tuple[subprocess.Popen[bytes], IO[bytes]]:
        proc, commands, events = _take_child()
        try:
            write_message(commands, self._init)
        except OSError:  # a spare that died meanwhile: a new child
            _close_child((proc, commands, events))
            proc, commands, events = _launch()
            write_message(commands, self._init)
        self._proc = proc
        _LIVE.add(proc)
        self.commands.attach(commands)
        return proc, events

    def _finish(self, proc: subprocess.Popen[bytes] | None, error: str | None) -> None:
        """The child has ended (or never started): a failure if it did not report its stop."""
        if proc is not None:
            code = proc.wait()
            _LIVE.discard(proc)
            if error is None and not self.result:
                error = f"The simulation process ended unexpectedly (exit code {code})"
        if error is not None:
            self.failed.emit(error)
            self.state.emit(False, self._speed)
        if not self.result:
            final = StopSummary(self._db_path, self._clock, self._total, 0)
            self.result.append(final)
            self.stopped.emit(final)
        thread = self.thread()
        if thread is not None:
            thread.quit()


Child = tuple[subprocess.Popen[bytes], IO[bytes], IO[bytes]]  # the process, its commands, its events
_spare: Child | None = None  # a child started ahead (prestart), waiting for its run
_spare_lock = threading.Lock()


def _launch() -> Child:
    """Start a child; it loads its modules, then waits for its run on the command pipe."""
    cmd_read, cmd_write = os.pipe()
    evt_read, evt_write = os.pipe()
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (_PACKAGE_ROOT, env.get("PYTHONPATH", "")) if p)
    try:
        proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "desktopviz.ui.sim_process", str(cmd_read), str(evt_write)],
            pass_fds=(cmd_read, evt_write),
            stdin=subprocess.DEVNULL,
            env=env,
            close_fds=True,
        )
    except BaseException:
        os.close(cmd_write)
        os.close(evt_read)
        raise
    finally:
        os.close(cmd_read)
        os.close(evt_write)
    return proc, os.fdopen(cmd_write, "wb"), os.fdopen(evt_read, "rb")


def prestart() -> None:
    """Start the next simulation's child now (the window calls this as it is made): its
    interpreter and imports (~0.5 s) then overlap the window's start instead of delaying the
    first traffic. At most one waits; one that is never used exits with the app."""
    global _spare
    if not process_mode_available():
        return
    with _spare_lock:
        if _spare is not None and _spare[0].poll() is None:
            return
        try:
            _spare = _launch()
        except OSError:  # the simulation will start its own child (and report what fails)
            _spare = None


def _take_child() -> Child:
    global _spare
    with _spare_lock:
        child, _spare = _spare, None
    if child is not None:
        if child[0].poll() is None:
            return child
        _close_child(child)
    return _launch()


def _close_child(child: Child) -> None:
    for stream in child[1:]:
        with contextlib.suppress(OSError):
            stream.close()  # type: ignore[union-attr]


@atexit.register
def _end_spare() -> None:
    """A child that was never used reads the end of its command pipe and exits."""
    global _spare
    with _spare_lock:
        child, _spare = _spare, None
    if child is not None:
        _close_child(child)
        with contextlib.suppress(subprocess.TimeoutExpired):
            child[0].wait(2)


def child_main(cmd_fd: int, evt_fd: int) -> int:
    """The child: one SimWorker under a QCoreApplication, its signals sent up the event pipe,
    commands read from the command pipe by a thread (the worker's queue is thread-safe)."""
    from PySide6.QtCore import QCoreApplication, QTimer

    import desktopviz.core.simulator  # noqa: F401 - loaded while waiting for the run (prestart)
    import desktopviz.core.store  # noqa: F401
    from desktopviz.ui.sim_worker import SimWorker

    with contextlib.suppress(OSError):  # the GUI first when they compete for a core
        os.nice(CHILD_NICE)
    commands = os.fdopen(cmd_fd, "rb")
    events = os.fdopen(evt_fd, "wb")
    init = read_message(commands)
    if init is None:
        return 0
    app = QCoreApplication([sys.argv[0]])
    worker = SimWorker(
        init["scenario"],
        Path(init["db_path"]),
        seed=init["seed"],
        speed=init["speed"],
        running=init["running"],
    )

    def send(name: str, *args: Any) -> None:
        """Runs where the worker emits: this process's main thread, so never two at once."""
        try:
            write_message(events, (name, args))
        except OSError:  # the GUI is gone (BrokenPipeError): the run still ends cleanly
            pass

    for name in SIGNALS:
        getattr(worker, name).connect(lambda *args, _n=name: send(_n, *args))
    worker.stopped.connect(lambda *_: app.quit())

    def read_commands() -> None:
        while True:
            try:
                message = read_message(commands)
            except Exception:  # noqa: BLE001 - a broken pipe or message: stop cleanly
                message = None
            if message is None:  # the GUI process closed the pipe or died
                worker.post("stop")
                return
            worker.post(*message)
            if message[0] == "stop":
                return

    threading.Thread(target=read_commands, name="sim-commands", daemon=True).start()
    QTimer.singleShot(0, worker.start)
    app.exec()
    with contextlib.suppress(OSError):  # the GUI is gone: nobody to tell
        events.close()
    return 0


if __name__ == "__main__":
    sys.exit(child_main(int(sys.argv[1]), int(sys.argv[2])))
