"""What the simulation worker (desktopviz.ui.sim_worker) runs and writes to: the simulator
and store interfaces, their default factories, and the run database's name."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from desktopviz.core import paths
from desktopviz.core.flowlog import FlowLog
from desktopviz.core.model import Scenario


class SimulatorLike(Protocol):
    """What the worker needs from desktopviz.core.simulator.Simulator."""

    now: float

    def advance(self, seconds: float) -> list[FlowLog]: ...
    def fire(self, event_id: str) -> Any: ...
    def flush(self) -> list[FlowLog]: ...
    def apply_policy(self, policy: Any) -> Any: ...
    def remove_policy(self, key: str) -> Any: ...


class StoreLike(Protocol):
    def insert(self, logs: Iterable[FlowLog]) -> int: ...
    def close(self) -> None: ...


SimFactory = Callable[[Scenario, "int | None"], SimulatorLike]
StoreFactory = Callable[[Path], StoreLike]


def _default_sim_factory(scenario: Scenario, seed: int | None) -> SimulatorLike:
    from desktopviz.core.simulator import Simulator

    return Simulator(scenario, seed=seed)  # type: ignore[return-value]


def _default_store_factory(path: Path) -> StoreLike:
    from desktopviz.core.store import FlowStore

    return FlowStore(path, create=True)


def speed_label(speed: float) -> str:
    return "max" if math.isinf(speed) else f"{speed:g}×"


def run_db_path(scenario_name: str, directory: Path | None = None) -> Path:
    """A new database file for a run: `<data dir>/<scenario>-<YYYYmmdd-HHMMSS>.db`, with a
    numeric suffix if that name is taken."""
    folder = Path(directory) if directory is not None else paths.data_dir()
    folder.mkdir(parents=True, exist_ok=True)
    safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in scenario_name) or "run"
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    candidate = folder / f"{safe}-{stamp}.db"
    n = 2
    while candidate.exists():
        candidate = folder / f"{safe}-{stamp}-{n}.db"
        n += 1
    return candidate
