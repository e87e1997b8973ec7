"""Background queries for the Policy Board and the policy view.

One single-thread pool per widget; each job opens its own read-only FlowStore (kept open per
thread and path), so the GUI thread never waits on SQLite. A job of a kind that is asked for
while one of that kind runs is merged: the newest request runs when the current one ends.
Results carry a token; results of requests made before the last `reset()` are dropped.
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

_local = threading.local()
_generation = 0


def new_generation() -> None:
    """Stores opened so far are stale (a view switched stores, a file may have been replaced
    at the same path): each thread closes its cached ones at its next job."""
    global _generation
    _generation += 1


def open_store(path: str) -> Any:
    """This thread's read-only store on `path` (opened once per thread, path and generation)."""
    from desktopviz.core.store import FlowStore

    cached = getattr(_local, "stores", None)
    if cached is None or getattr(_local, "generation", None) != _generation:
        for old in (cached or {}).values():
            old.close()
        cached = _local.stores = {}
        _local.generation = _generation
    store = cached.get(path)
    if store is None:
        store = cached[path] = FlowStore(path, create=False, readonly=True)
    return store


def build_layout(scenario: Any, engine: Any, path: str | None) -> Any:
    """The board's tiers and policies (any thread): the scenario's in engine order plus
    policies found only in the traces, or, without a scenario, the traces'."""
    from desktopviz.core.board import BoardLayout, layout_from_cluster
    from desktopviz.core.board_traces import layout_from_store, tier_rank, trace_policies

    if scenario is None:
        return BoardLayout(source="store") if path is None else layout_from_store(open_store(path))
    layout = layout_from_cluster(scenario, engine)
    if path is not None:
        store = open_store(path)
        layout.add_traces(trace_policies(store), tier_rank(store))
    return layout


def query_metrics(path: str, since: int | None, until: int | None) -> tuple[dict[str, Any], float]:
    """Every policy's metrics over a range and the seconds of data it covers (any thread)."""
    from desktopviz.core.board_detail import span_seconds
    from desktopviz.core.queries import policy_metrics

    store = open_store(path)
    return policy_metrics(store, since, until), span_seconds(store, since, until)


class _Relay(QObject):
    done = Signal(str, int, object)
    failed = Signal(str, int, str)


class _Job(QRunnable):
    def __init__(self, kind: str, token: int, fn: Callable[[], Any], relay: _Relay) -> None:
        super().__init__()
        self.kind, self.token, self.fn, self.relay = kind, token, fn, relay

    def run(self) -> None:
        try:
            result = self.fn()
        except Exception as exc:  # noqa: BLE001 - reported in the GUI thread
            detail = traceback.format_exc(limit=2).strip().splitlines()[-1]
            self.relay.failed.emit(
                self.kind, self.token, f"{type(exc).__name__}: {exc}" if str(exc) else detail
            )
            return
        self.relay.done.emit(self.kind, self.token, result)


class BoardWorker(QObject):
    """Runs named jobs off the GUI thread, merging repeated requests per kind.

    Signals:
        done(str kind, object result): a job finished (GUI thread).
        failed(str kind, str message): a job raised.
    """

    done = Signal(str, object)
    failed = Signal(str, str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)
        self._relay = _Relay(self)
        self._relay.done.connect(self._on_done)
        self._relay.failed.connect(self._on_failed)
        self._token = 0
        self._busy: set[str] = set()
        self._queued: dict[str, Callable[[], Any]] = {}

    def submit(self, kind: str, fn: Callable[[], Any]) -> None:
        """Run `fn` in the pool; if a `kind` job runs, run the newest `fn` after it."""
        if kind in self._busy:
            self._queued[kind] = fn
            return
        self._busy.add(kind)
        self._pool.start(_Job(kind, self._token, fn, self._relay))

    def reset(self) -> None:
        """Drop the results of every job asked for so far (the store or scenario changed)."""
        self._token += 1
        self._queued.clear()

    def is_idle(self) -> bool:
        return not self._busy and not self._queued

    def shutdown(self) -> None:
        self.reset()
        self._pool.waitForDone()

    def _next(self, kind: str) -> None:
        self._busy.discard(kind)
        fn = self._queued.pop(kind, None)
        if fn is not None:
            self.submit(kind, fn)

    def _on_done(self, kind: str, token: int, result: object) -> None:
        if token == self._token:
            self.done.emit(kind, result)
        self._next(kind)

    def _on_failed(self, kind: str, token: int, message: str) -> None:
        if token == self._token:
            self.failed.emit(kind, message)
        self._next(kind)
