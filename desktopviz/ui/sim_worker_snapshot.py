"""What the simulation thread tells the GUI after a scenario event or a reset: a deep copy of
the simulation's cluster and which policies and tiers changed, so the GUI's own copy (the
board's endpoint counts, the visualizer's "policies applied") and the policy editor's set
follow the simulation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


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


__all__ = ["ClusterSnapshot", "changed"]
