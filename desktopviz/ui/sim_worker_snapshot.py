"""What the simulation thread tells the GUI: summaries of the intervals written and of a
stopped run, and after a scenario event or a reset a deep copy of the simulation's cluster
and which policies and tiers changed, so the GUI's own copy (the board's endpoint counts,
the visualizer's "policies applied") and the policy editor's set follow the simulation;
and the signals that carry them (:class:`WorkerSignals`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, Signal


@dataclass(frozen=True)
class IntervalSummary:
    """One completed flush interval, as written to the store."""

    end_time: int  # simulated Unix seconds (of the newest interval)
    logs: int  # flow logs written for this interval (for all of them when merged)
    allowed: int
    denied: int
    total: int  # flow logs stored in this run so far
    intervals: int = 1  # flush intervals this summary stands for (merged when they came fast)

    def merged(self, newer: IntervalSummary) -> IntervalSummary:
        """This summary followed by a newer one, as one."""
        return IntervalSummary(
            newer.end_time,
            self.logs + newer.logs,
            self.allowed + newer.allowed,
            self.denied + newer.denied,
            newer.total,
            self.intervals + newer.intervals,
        )


@dataclass(frozen=True)
class StopSummary:
    """What a stopped run left behind: the database is complete and closed."""

    db_path: str
    sim_time: float
    total: int
    flushed: int  # logs of the partial last interval written on stop


@dataclass(frozen=True)
class ClusterSnapshot:
    """The simulation's cluster after an event fired (or a reset), deep-copied in the
    simulation thread, and what that changed in its policies and tiers (None = removed)."""

    cluster: Any
    policies: dict[str, Any]
    tiers: dict[str, Any]
    reason: str  # the event id, or "reset"
    sim_time: float


def _same(a: Any, b: Any) -> bool:
    if a is b:
        return True
    if a is None or b is None:
        return False
    if hasattr(a, "raw") and hasattr(b, "raw"):  # policies: the same document
        return bool(a.kind == b.kind and a.key == b.key and a.raw == b.raw)
    if hasattr(a, "default_action"):  # tiers
        return bool((a.name, a.order, a.default_action) == (b.name, b.order, b.default_action))
    return bool(a == b)


def changed(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """Entries added or changed in `new` (their new value) or gone from it (None)."""
    out: dict[str, Any] = {k: v for k, v in new.items() if not _same(old.get(k), v)}
    out.update({k: None for k in old if k not in new})
    return out


__all__ = ["SIGNALS", "ClusterSnapshot", "IntervalSummary", "StopSummary", "WorkerSignals", "changed"]


class WorkerSignals(QObject):
    """The signals of a simulation worker, whether it runs the simulator itself (SimWorker)
    or relays a child process's (desktopviz.ui.sim_process.SimProcessWorker); see SimWorker."""

    store_opened = Signal(str)
    clock = Signal(float)
    interval = Signal(object)
    state = Signal(bool, float)
    event_fired = Signal(str)
    cluster_changed = Signal(object)
    failed = Signal(str)
    stopped = Signal(object)


# their names, in declaration order (what the simulation process relays)
SIGNALS: tuple[str, ...] = tuple(k for k, v in vars(WorkerSignals).items() if isinstance(v, Signal))
