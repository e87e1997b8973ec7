"""GUI first: the GUI thread says when it is about to be busy (views re-reading the store
and repainting), and the simulation thread, at max speed, waits for it instead of competing
for the GIL.

Why: every call from Qt into Python (a table cell, a card's paint event) makes the GUI thread
take the GIL again; while the simulator runs Python flat out each of those waits for it, and
a repaint costs several times its idle time (measured: tests/perf/bench_ui_latency.py). The
simulator loses only the ~tens of milliseconds per view refresh that it yields.

This matters where the simulation runs in a thread of the GUI process (injected simulators,
``DESKTOPVIZ_SIM_PROCESS=0``). The app's default runs it in a child process
(desktopviz.ui.sim_process), which has a GIL of its own and does not read these hints.
"""

from __future__ import annotations

import time

_busy_until = 0.0  # monotonic seconds; a float swap is atomic under the GIL
REFRESH_BUSY_S = 0.04  # one view's refresh with its repaints (the window refreshes one view per
# 33 ms tick; measured: longer hints cost the simulator speed at max for little latency gained)
MAX_BUSY_S = 0.15  # a hint never holds the simulation back longer than this


def gui_busy(seconds: float = MAX_BUSY_S) -> None:
    """The GUI thread is about to be busy for up to `seconds` (capped at MAX_BUSY_S)."""
    global _busy_until
    _busy_until = max(_busy_until, time.monotonic() + min(seconds, MAX_BUSY_S))


def gui_is_busy() -> bool:
    return time.monotonic() < _busy_until
