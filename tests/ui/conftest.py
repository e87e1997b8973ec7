"""UI test helpers: a leaked-thread check, dialogs that never block, and a small fake
simulator/store for controller tests that must not depend on the real simulator's timing."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path

import pytest

from desktopviz.core.flowlog import FlowLog
from desktopviz.core.model import Cluster, ClusterSettings, Event, Scenario


@pytest.fixture(autouse=True)
def _no_leaked_simulation_threads():
    """Fail a test that leaves a simulation QThread (or the simulation process it relays)
    running (and stop the thread, so the next test starts clean)."""
    yield
    from desktopviz.ui.sim_controller import running_threads

    leaked = running_threads()
    for thread in leaked:
        thread.quit()
        thread.wait(5000)
    assert not leaked, f"test leaked {len(leaked)} running simulation thread(s)"
    from desktopviz.ui.sim_process import running_processes

    assert not running_processes(), "test left a simulation process running"


@pytest.fixture(autouse=True)
def _dialogs_never_block(monkeypatch):
    """Route every message box of the main window into a list instead of a modal dialog."""
    shown: list[tuple[str, str, str]] = []
    try:
        from desktopviz.ui import main_window
    except ImportError:  # the window module may not import in controller-only runs
        yield shown
        return
    monkeypatch.setattr(
        main_window.MainWindow,
        "show_message",
        lambda self, level, title, text: shown.append((level, title, text)),
    )
    yield shown


@pytest.fixture
def shown_messages(_dialogs_never_block):
    return _dialogs_never_block


def _log(t: int, action: str, src: str, dst: str) -> FlowLog:
    return FlowLog(
        start_time=t - 15,
        end_time=t,
        source_ip=None,
        source_name="-",
        source_name_aggr=f"{src}-*",
        source_namespace="storefront",
        source_type="wep",
        source_port=None,
        source_labels=None,
        dest_ip=None,
        dest_name="-",
        dest_name_aggr=f"{dst}-*",
        dest_namespace="storefront",
        dest_type="wep",
        dest_port=80,
        dest_labels=None,
        proto="tcp",
        action=action,
        reporter="src",
        num_flows=1,
    )


class FakeSimulator:
    """Two allowed logs per 15 s interval; after fire("rogue") one denied log more. Partial
    intervals are written by flush() with end_time = now. raise_at makes advance() fail."""

    def __init__(self, scenario: Scenario, seed: int | None = None, raise_at: float | None = None) -> None:
        self.flush_interval = scenario.settings.flush_interval
        self.start = scenario.settings.start_time
        self.now: float = float(self.start)
        self._boundary = self.start + self.flush_interval
        self.rogue = False
        self.raise_at = raise_at
        self.applied: list[object] = []

    def _interval(self, end: int) -> list[FlowLog]:
        logs = [_log(end, "allow", "frontend", "backend"), _log(end, "allow", "backend", "logging")]
        if self.rogue:
            logs.append(_log(end, "deny", "rogue", "backend"))
        return logs

    def advance(self, seconds: float) -> list[FlowLog]:
        target = self.now + seconds
        if self.raise_at is not None and target >= self.raise_at:
            raise RuntimeError("simulated failure")
        out: list[FlowLog] = []
        while self._boundary <= target + 1e-9:
            out.extend(self._interval(self._boundary))
            self._boundary += self.flush_interval
        self.now = target
        return out

    def fire(self, event_id: str) -> None:
        if event_id != "rogue":
            raise KeyError(event_id)
        self.rogue = True

    def apply_policy(self, policy: object) -> None:
        self.applied.append(policy)

    def remove_policy(self, key: str) -> None:
        self.applied.append(("remove", key))

    def flush(self) -> list[FlowLog]:
        if self.now > self._boundary - self.flush_interval:
            logs = self._interval(int(self.now))
            self._boundary = int(self.now) + self.flush_interval
            return logs
        return []


class FakeStore:
    """A minimal store: one SQLite table of (end_time, action) rows."""

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(str(path))
        self.db.execute("CREATE TABLE IF NOT EXISTS logs (end_time INTEGER, action TEXT)")
        self.db.commit()

    def insert(self, logs: Iterable[FlowLog]) -> int:
        rows = [(log.end_time, log.action) for log in logs]
        with self.db:
            self.db.executemany("INSERT INTO logs VALUES (?, ?)", rows)
        return len(rows)

    def close(self) -> None:
        self.db.close()


def fake_count(path: str | Path, action: str | None = None) -> int:
    db = sqlite3.connect(str(path))
    try:
        if action is None:
            return int(db.execute("SELECT count(*) FROM logs").fetchone()[0])
        return int(db.execute("SELECT count(*) FROM logs WHERE action = ?", (action,)).fetchone()[0])
    finally:
        db.close()


@pytest.fixture
def fake_scenario() -> Scenario:
    return Scenario(
        name="fake",
        cluster=Cluster(),
        settings=ClusterSettings(flush_interval=15),
        events=[Event(id="rogue", name="Deploy rogue pod")],
    )


@pytest.fixture
def fakes():
    """The fake simulator and store classes, and a row counter for the fake store."""
    import types

    return types.SimpleNamespace(Simulator=FakeSimulator, Store=FakeStore, count=fake_count)
