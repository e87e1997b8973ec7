"""The cohorts' counters as numpy columns, so each interval is a handful of array operations.

Row `i` belongs to `cohorts[i]` (a Cohort's `idx`). Dynamic columns: open connections
(`carry`), connections started and completed so far in the interval, their byte share, and
whether the cohort is being torn down (`term`: its endpoint went away). Static columns come
from the cohort's stream (duration, bytes and packets per connection, TCP or not) and its
verdict (`denied`, and `syn`: the mean SYN retries of a denied TCP connection).
"""

from __future__ import annotations

import numpy as np

from desktopviz.core.sim_cohort import Cohort
from desktopviz.core.sim_volume import syn_retries

_INT = ("carry", "started", "comp_new")
_FLOAT = ("share_new", "dur", "b_out", "b_in", "p_out", "p_in", "syn")
_BOOL = ("term", "denied", "tcp")


class CohortTable:
    """Columns of per-cohort numbers; grows by doubling, compacts drained cohorts."""

    def __init__(self, capacity: int = 64) -> None:
        self.cohorts: list[Cohort] = []
        self.n = 0
        self._cap = capacity
        self.cols: dict[str, np.ndarray] = {}
        for name in _INT:
            self.cols[name] = np.zeros(capacity, dtype=np.int64)
        for name in _FLOAT:
            self.cols[name] = np.zeros(capacity, dtype=np.float64)
        for name in _BOOL:
            self.cols[name] = np.zeros(capacity, dtype=bool)

    def __len__(self) -> int:
        return self.n

    def col(self, name: str) -> np.ndarray:
        """The live part of a column (a view: writes go to the table)."""
        return self.cols[name][: self.n]

    def add(self, c: Cohort) -> int:
        if self.n == self._cap:
            self._cap *= 2
            for name, arr in self.cols.items():
                grown = np.zeros(self._cap, dtype=arr.dtype)
                grown[: self.n] = arr[: self.n]
                self.cols[name] = grown
        i = self.n
        spec = c.stream.spec
        cols = self.cols
        for name in (*_INT, "share_new", "term"):
            cols[name][i] = 0
        cols["dur"][i] = spec.duration
        cols["b_out"][i] = spec.bytes_out
        cols["b_in"][i] = spec.bytes_in
        cols["p_out"][i] = spec.packets_out
        cols["p_in"][i] = spec.packets_in
        cols["tcp"][i] = spec.protocol == "TCP"
        cols["denied"][i] = denied = c.verdict.action == "deny"
        cols["syn"][i] = syn_retries(spec.duration) if denied and spec.protocol == "TCP" else 0.0
        c.idx = i
        self.cohorts.append(c)
        self.n += 1
        return i

    def compact(self) -> None:
        """Drop cohorts with no open connection that no stream will add to any more."""
        keep = [i for i, c in enumerate(self.cohorts) if self.cols["carry"][i] > 0 or c.stream.cohort is c]
        if len(keep) == self.n:
            return
        idx = np.array(keep, dtype=np.int64)
        for arr in self.cols.values():
            arr[: len(keep)] = arr[idx]
        kept = set(keep)
        for i, c in enumerate(self.cohorts):
            if i not in kept:
                c.idx = -1
                c.stream.cohorts.remove(c)
        self.cohorts = [self.cohorts[i] for i in keep]
        for i, c in enumerate(self.cohorts):
            c.idx = i
        self.n = len(keep)

    def dead(self) -> int:
        """Cohorts that will never count again (candidates for compaction)."""
        carry = self.col("carry")
        return sum(1 for i, c in enumerate(self.cohorts) if carry[i] == 0 and c.stream.cohort is not c)
