"""The policy editor's link to what runs the policies: a running simulation (``send_delta``,
``connect_controller``: new connections only, as in Calico) and the GUI's own PolicyEngine
(``apply_delta_to_engine``; ``EngineJob`` builds one off the GUI thread)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QRunnable, Signal

if TYPE_CHECKING:
    from desktopviz.core.policy_edit import Delta
    from desktopviz.ui.policy_editor import PolicyEditorDialog

__all__ = ["EngineJob", "apply_delta_to_engine", "connect_controller", "send_delta"]


class EngineJob(QRunnable):
    """Builds a PolicyEngine over a cluster in the thread pool."""

    class Relay(QObject):
        done = Signal(int, object, object)

    def __init__(self, token: int, cluster: Any, relay: EngineJob.Relay) -> None:
        super().__init__()
        self.token, self.cluster, self.relay = token, cluster, relay

    def run(self) -> None:
        from desktopviz.core.policy import PolicyEngine

        try:
            engine: Any = PolicyEngine(self.cluster)
        except Exception as exc:  # noqa: BLE001 - reported in the GUI thread
            engine = exc
        self.relay.done.emit(self.token, self.cluster, engine)


def apply_delta_to_engine(engine: Any, cluster: Any, d: Any) -> None:
    """Bring a PolicyEngine (and the cluster it reads) to a policy-set change."""
    for tier in d.tiers:
        engine.set_tier(tier)
    for name in d.removed_tiers:
        cluster.tiers.pop(name, None)
    for key in d.removed:
        if engine.policy(key) is not None:
            engine.remove_policy(key)
    for policy in d.applied:
        engine.apply_policy(policy)


def send_delta(controller: Any, d: Delta) -> list[str]:
    """Tell a running simulation (SimController or Simulator: `apply_policy`, `remove_policy`)
    about a policy-set change, e.g. after `policy_set.move(...)` from a board drag. Tier
    changes need a `set_tier` command the controller may not have: they are returned
    (names) when it is missing, so the caller can warn."""
    skipped: list[str] = []
    for tier in d.tiers:
        setter = getattr(controller, "set_tier", None)
        if setter is None:
            skipped.append(tier.name)
        else:
            setter(tier)
    for key in d.removed:
        controller.remove_policy(key)
    for policy in d.applied:
        controller.apply_policy(policy)
    return skipped


def connect_controller(dialog: PolicyEditorDialog, controller: Any) -> None:
    """Wire an editor to a SimController: enforce/stage/delete/undo reach the simulation
    (new connections only, as in Calico)."""
    dialog.applyRequested.connect(lambda policy, _mode: controller.apply_policy(policy))
    dialog.removeRequested.connect(controller.remove_policy)
    if hasattr(controller, "set_tier"):
        dialog.tierRequested.connect(controller.set_tier)
