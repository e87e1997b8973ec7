"""Scenario events applied to a running simulation: deploy, delete, scale, apply, delete-policy.

Each action changes the cluster and tells the policy engine (`add_pod`, `remove_pod`,
`apply_policy`, `remove_policy`, `set_tier`); the simulator then re-resolves its traffic and
re-evaluates new connections. Connections already open keep their verdict (their cohort);
connections of a deleted pod end.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from desktopviz.core.model import (
    HostEndpoint,
    Namespace,
    NetworkSet,
    Pod,
    Policy,
    Service,
    ServiceAccount,
    Tier,
    Workload,
)

try:  # the scenario loader's pod naming and placement (its module moved once already)
    from desktopviz.core.scenario_pods import PodPlacer, workload_pod
except ImportError:  # pragma: no cover
    from desktopviz.core.scenario_k8s import PodPlacer, workload_pod  # type: ignore[no-redef]

if TYPE_CHECKING:
    from desktopviz.core.model import Event, EventAction
    from desktopviz.core.simulator import Simulator

_WORKLOAD_KINDS = {"deployment", "statefulset", "daemonset", "replicaset", "workload"}
_POLICY_KINDS = {
    "networkpolicy",
    "globalnetworkpolicy",
    "stagednetworkpolicy",
    "stagedglobalnetworkpolicy",
    "stagedkubernetesnetworkpolicy",
    "kubernetesnetworkpolicy",
    "policy",
}


class EventError(ValueError):
    """An event action that cannot be applied (unknown target...)."""


def split_target(target: str) -> tuple[str | None, str]:
    """ "Deployment storefront/rogue" -> ("deployment", "storefront/rogue"); a bare name has
    no kind."""
    kind, _, name = target.strip().partition(" ")
    if not name:
        return None, kind
    return kind.lower(), name.strip()


class EventApplier:
    """Applies scenario event actions to a simulator's cluster and engine."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim

    @property
    def cluster(self) -> Any:
        return self.sim.cluster

    @property
    def engine(self) -> Any:
        return self.sim.engine

    def apply(self, event: Event) -> None:
        for action in event.actions:
            handler = getattr(self, "_" + action.kind.replace("-", "_"), None)
            if handler is None:
                raise EventError(f"event {event.id}: unknown action {action.kind!r}")
            handler(action)
        self.sim.invalidate_endpoints()

    # -- endpoints -------------------------------------------------------------------------
    def _placer(self) -> PodPlacer:
        return PodPlacer.from_pods(self.sim.settings, list(self.cluster.pods.values()))

    def add_pod(self, pod: Pod, placer: PodPlacer | None = None) -> None:
        if pod.ip is None or pod.node is None:
            (placer or self._placer()).place(pod)
        self.engine.add_pod(pod)
        self.cluster.pods.setdefault(pod.key, pod)

    def remove_pod(self, key: str) -> None:
        if key in self.cluster.pods:
            self.engine.remove_pod(key)
            self.cluster.pods.pop(key, None)

    def _add_workload(self, w: Workload) -> None:
        self.cluster.workloads[w.key] = w
        placer = self._placer()
        if not w.pods:
            if w.kind == "DaemonSet":
                w.pods = [workload_pod(w, i, node) for i, node in enumerate(placer.nodes)]
            else:
                w.pods = [workload_pod(w, i) for i in range(w.replicas)]
        for pod in w.pods:
            self.add_pod(pod, placer)

    def _add_object(self, obj: Any) -> None:
        if isinstance(obj, Workload):
            self._add_workload(obj)
        elif isinstance(obj, Pod):
            self.add_pod(obj)
        elif isinstance(obj, Policy):
            self.engine.apply_policy(obj)
            self.cluster.policies[obj.key] = obj
        elif isinstance(obj, Tier):
            self.engine.set_tier(obj)
            self.cluster.tiers[obj.name] = obj
        elif isinstance(obj, Service):
            self.cluster.services[obj.key] = obj
            self._refresh()
        elif isinstance(obj, Namespace):
            self.cluster.namespaces[obj.name] = obj
            self._refresh()
        elif isinstance(obj, ServiceAccount):
            self.cluster.service_accounts[f"{obj.namespace}/{obj.name}"] = obj
            self._refresh()
        elif isinstance(obj, NetworkSet):
            self.cluster.network_sets[obj.key] = obj
            self._refresh()
        elif isinstance(obj, HostEndpoint):
            self.cluster.host_endpoints[obj.key] = obj
            self._refresh()
        else:
            raise EventError(f"cannot deploy a {type(obj).__name__}")

    def _refresh(self) -> None:
        """Objects the engine has no live method for: ask it to rebuild (engine.refresh)."""
        refresh = getattr(self.engine, "refresh", None)
        if callable(refresh):
            refresh()

    # -- actions ---------------------------------------------------------------------------
    def _deploy(self, action: EventAction) -> None:
        for obj in action.objects:
            self._add_object(obj)
        for traffic in action.traffic:
            self.sim.add_traffic(traffic)

    def _apply(self, action: EventAction) -> None:
        self._deploy(action)

    def _delete_policy(self, action: EventAction) -> None:
        key = self._policy_key(action.target or "")
        self.engine.remove_policy(key)
        self.cluster.policies.pop(key, None)

    def _policy_key(self, target: str) -> str:
        kind, name = split_target(target)
        if name in self.cluster.policies:
            return name
        for key, pol in self.cluster.policies.items():
            ns = f"{pol.namespace}/" if pol.namespace else ""
            if name in (f"{ns}{pol.name}", f"{ns}{pol.tiered_name}", pol.name):
                return key
        raise EventError(f"no policy {target!r}")

    def _delete(self, action: EventAction) -> None:
        target = action.target or ""
        kind, name = split_target(target)
        c = self.cluster
        if kind in _POLICY_KINDS:
            self._delete_policy(action)
        elif kind in _WORKLOAD_KINDS or (kind is None and name in c.workloads):
            w = c.workloads.pop(name, None)
            if w is None:
                raise EventError(f"no workload {name!r}")
            for pod in [p for p in c.pods.values() if p.workload == w.key]:
                self.remove_pod(pod.key)
        elif kind == "pod" or (kind is None and name in c.pods):
            if name not in c.pods:
                raise EventError(f"no pod {name!r}")
            self.remove_pod(name)
        elif kind == "service" or (kind is None and name in c.services):
            c.services.pop(name, None)
            self._refresh()
        elif kind is None and name in c.policies:
            self._delete_policy(action)
        else:
            raise EventError(f"cannot delete {target!r}")

    def _scale(self, action: EventAction) -> None:
        _, name = split_target(action.target or "")
        w = self.cluster.workloads.get(name)
        if w is None or action.replicas is None:
            raise EventError(f"cannot scale {action.target!r}")
        pods = sorted((p for p in self.cluster.pods.values() if p.workload == w.key), key=lambda p: p.name)
        want = max(0, int(action.replicas))
        w.replicas = want
        if want < len(pods):
            for pod in pods[want:]:
                self.remove_pod(pod.key)
            w.pods = pods[:want]
            return
        placer = self._placer()
        taken = {p.name for p in pods}
        index = 0
        new_pods = list(pods)
        while len(new_pods) < want:
            pod = workload_pod(w, index)
            index += 1
            if pod.name in taken or pod.key in self.cluster.pods:
                continue
            self.add_pod(pod, placer)
            new_pods.append(pod)
        w.pods = new_pods
