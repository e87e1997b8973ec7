"""From YAML documents to cluster objects: which kinds we read, which we skip, and the
cross-checks Kubernetes and Calico would make (duplicates, namespaces, tiers, service
accounts), then workload expansion and address assignment.

Used for the scenario's files and, with the same code and error reporting, for the
manifests an event deploys or applies.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any

from desktopviz.core.model import (
    Cluster,
    ClusterSettings,
    HostEndpoint,
    Namespace,
    NetworkSet,
    Pod,
    Policy,
    Service,
    ServiceAccount,
    SkippedDocument,
    Tier,
    Workload,
    builtin_tier,
)
from desktopviz.core.scenario_calico import (
    POLICY_KINDS,
    parse_host_endpoint,
    parse_network_set,
    parse_policy,
    parse_tier,
)
from desktopviz.core.scenario_k8s import (
    WORKLOAD_KINDS,
    parse_namespace,
    parse_pod,
    parse_service,
    parse_service_account,
    parse_workload,
)
from desktopviz.core.scenario_pods import PodPlacer, expand_workload, pod_suffix, service_ip
from desktopviz.core.scenario_rules import location
from desktopviz.core.scenario_yaml import Document, Issues, Node, describe

SCENARIO_API = "desktopviz/v1"
ALWAYS_NAMESPACES = ("default", "kube-system")
_K8S_APIS = {
    "v1": {"Namespace", "Pod", "Service", "ServiceAccount"},
    "apps/v1": set(WORKLOAD_KINDS),
    "networking.k8s.io/v1": {"NetworkPolicy"},
    "projectcalico.org/v3": {
        "Tier",
        *POLICY_KINDS,
        "StagedKubernetesNetworkPolicy",
        "NetworkSet",
        "GlobalNetworkSet",
        "HostEndpoint",
    },
}
_PATH_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def node_at(root: Node, path: str) -> Node:
    """The deepest node along a field path like `spec.ingress[0].from[1].ipBlock`."""
    node = root
    for m in _PATH_PART.finditer(path):
        key, index = m.group(1), m.group(2)
        nxt: Node | None = None
        if key is not None:
            nxt = node.get(key)
        elif isinstance(node.value, list):
            items = node.items()
            i = int(index)
            nxt = items[i] if i < len(items) else None
        if nxt is None:
            break
        node = nxt
    return node


@dataclass
class Parsed:
    """What a set of documents holds: model objects in document order (each with the root
    node it came from), skipped documents, and desktopviz Scenario documents."""

    objects: list[tuple[Any, Node]] = field(default_factory=list)
    skipped: list[SkippedDocument] = field(default_factory=list)
    scenario_docs: list[Node] = field(default_factory=list)
    headless: set[str] = field(default_factory=set)


def parse_documents(
    docs: list[Document] | list[Node], issues: Issues, parsed: Parsed | None = None
) -> Parsed:
    """Parse documents (or document nodes) into model objects; errors go to `issues`."""
    out = parsed or Parsed()
    for doc in docs:
        root = doc if isinstance(doc, Node) else Node.root(doc, issues)
        _parse_one(root, out)
    return out


def _parse_one(root: Node, out: Parsed) -> None:
    if not isinstance(root.value, dict):
        root.error(
            f"expected a Kubernetes object (a mapping with apiVersion and kind), got {describe(root.value)}"
        )
        return
    api_node, kind_node = root.get("apiVersion"), root.get("kind")
    if kind_node is None or api_node is None:
        root.missing("kind" if kind_node is None else "apiVersion")
        return
    api, kind = api_node.value, kind_node.value
    if not isinstance(kind, str) or not isinstance(api, str):
        (kind_node if not isinstance(kind, str) else api_node).error("expected a string")
        return
    if kind == "List" or (kind.endswith("List") and root.has("items")):
        items = root.get("items")
        for item in items.items() if items is not None else []:
            _parse_one(item, out)
        return
    if api == SCENARIO_API:
        if kind == "Scenario":
            out.scenario_docs.append(root)
        else:
            kind_node.error(f"unknown kind {kind!r} for apiVersion {SCENARIO_API} (expected Scenario)")
        return
    if kind not in _K8S_APIS.get(api, set()):
        md = root.value.get("metadata")
        name = md.get("name", "") if isinstance(md, dict) else ""
        out.skipped.append(SkippedDocument(f"{api}/{kind}", str(name), location(root)))
        return
    obj = _parse_kind(root, api, kind, out)
    if obj is not None:
        out.objects.append((obj, root))


def _parse_kind(root: Node, api: str, kind: str, out: Parsed) -> Any:
    if kind == "Namespace":
        return parse_namespace(root)
    if kind == "ServiceAccount":
        return parse_service_account(root)
    if kind == "Pod":
        return parse_pod(root)
    if kind == "Service":
        res = parse_service(root)
        if res is None:
            return None
        if res[1]:
            out.headless.add(res[0].key)
        return res[0]
    if kind in WORKLOAD_KINDS:
        return parse_workload(root, kind)
    if kind == "Tier":
        return parse_tier(root)
    if kind in POLICY_KINDS and api == "projectcalico.org/v3":
        return parse_policy(root, kind)
    if kind in ("NetworkPolicy", "StagedKubernetesNetworkPolicy"):
        return _convert_k8s(root, staged=kind.startswith("Staged"))
    if kind in ("NetworkSet", "GlobalNetworkSet"):
        return parse_network_set(root, kind)
    if kind == "HostEndpoint":
        return parse_host_endpoint(root)
    return None


def _convert_k8s(root: Node, *, staged: bool) -> Policy | None:
    from desktopviz.core.k8s_convert import convert_network_policy

    try:
        return convert_network_policy(root.value, location(root), staged=staged)
    except ValueError as exc:
        path = getattr(exc, "path", "") or ""
        message = getattr(exc, "message", None) or str(exc)
        node_at(root, path).error(message, path=path or None)
        return None


_CATEGORY = {
    Namespace: ("namespaces", "Namespace"),
    ServiceAccount: ("service_accounts", "ServiceAccount"),
    Workload: ("workloads", "workload"),
    Pod: ("pods", "Pod"),
    Service: ("services", "Service"),
    NetworkSet: ("network_sets", "network set"),
    HostEndpoint: ("host_endpoints", "HostEndpoint"),
    Tier: ("tiers", "Tier"),
    Policy: ("policies", "policy"),
}
_REPLACEABLE = (Tier, Policy, NetworkSet, HostEndpoint)


def object_key(obj: Any) -> str:
    if isinstance(obj, (Namespace, Tier)):
        return obj.name
    if isinstance(obj, ServiceAccount):
        return f"{obj.namespace}/{obj.name}"
    return str(obj.key)


def describe_object(obj: Any) -> str:
    kind = obj.kind if isinstance(obj, (Workload, Policy)) else type(obj).__name__
    return f"{kind} {object_key(obj)}"


class Registry:
    """Objects being added to a cluster, with Kubernetes' and Calico's cross-checks.

    With `base`, it is an event's overlay: names may refer to the base cluster, and Calico
    resources may replace base ones (as `kubectl apply` would)."""

    def __init__(self, issues: Issues, settings: ClusterSettings, base: Cluster | None = None) -> None:
        self.issues = issues
        self.settings = settings
        self.base = base
        self.cluster = Cluster()
        self.roots: dict[int, Node] = {}
        self.order: list[Any] = []
        if base is None:
            for ns in ALWAYS_NAMESPACES:
                self.cluster.namespaces[ns] = Namespace(ns, {"kubernetes.io/metadata.name": ns})
            self.cluster.tiers["default"] = builtin_tier("default")  # type: ignore[assignment]

    def _store(self, obj: Any) -> dict[str, Any]:
        return getattr(self.cluster, _CATEGORY[type(obj)][0])

    def _exists(self, attr: str, key: str) -> bool:
        if key in getattr(self.cluster, attr):
            return True
        return self.base is not None and key in getattr(self.base, attr)

    def add_all(self, parsed: Parsed) -> None:
        for obj, root in parsed.objects:
            self.add(obj, root)

    def add(self, obj: Any, root: Node) -> None:
        store = self._store(obj)
        key = object_key(obj)
        if isinstance(obj, Pod) and not obj.name:  # generateName only: named in _place
            store[f"{key}#{id(obj)}"] = obj
            self.roots[id(obj)] = root
            self.order.append(obj)
            return
        implicit = isinstance(obj, (Namespace, Tier)) and key in store and store[key].location is None
        if key in store and not implicit:
            first = store[key].location
            where = f" (first defined at {first.file}:{first.line})" if first else ""
            node_at(root, "metadata.name").error(f"duplicate {describe_object(obj)}{where}")
            return
        if self.base is not None and key in getattr(self.base, _CATEGORY[type(obj)][0]):
            if not isinstance(obj, _REPLACEABLE):
                node_at(root, "metadata.name").error(f"{describe_object(obj)} already exists in the scenario")
                return
        store[key] = obj
        self.roots[id(obj)] = root
        self.order.append(obj)

    # -- checks after all documents are in --------------------------------------------------
    def finish(self, placer: PodPlacer, service_ips: set[str], headless: set[str]) -> None:
        for ns in list(self.cluster.namespaces):  # Kubernetes creates `default` in each
            if not self._exists("service_accounts", f"{ns}/default"):
                self.cluster.service_accounts[f"{ns}/default"] = ServiceAccount("default", ns)
        for obj in self.order:
            root = self.roots[id(obj)]
            ns = getattr(obj, "namespace", None)
            if ns is not None and not isinstance(obj, Namespace) and not self._exists("namespaces", ns):
                node_at(root, "metadata.namespace").error(f"namespace {ns!r} does not exist")
            if isinstance(obj, Policy) and not self._exists("tiers", obj.tier):
                builtin = builtin_tier(obj.tier)
                if builtin is None:
                    node_at(root, "spec.tier").error(f"tier {obj.tier!r} does not exist")
                elif self.base is None:  # (an event's policy finds it in the engine, as built in)
                    self.cluster.tiers[obj.tier] = builtin  # as `default`: no document needed
            if isinstance(obj, (Workload, Pod)):
                self._check_service_account(obj, root)
            if isinstance(obj, HostEndpoint) and obj.node not in placer.nodes:
                node_at(root, "spec.node").error(
                    f"node {obj.node!r} is not one of the scenario's nodes ({', '.join(placer.nodes)})"
                )
            if isinstance(obj, Pod) and obj.node is not None and obj.node not in placer.nodes:
                node_at(root, "spec.nodeName").error(
                    f"node {obj.node!r} is not one of the scenario's nodes ({', '.join(placer.nodes)})"
                )
        self._place(placer)
        for svc in self.cluster.services.values():
            if svc.cluster_ip is None and svc.key not in headless:
                svc.cluster_ip = service_ip(self.settings, svc.key, service_ips)
            elif svc.cluster_ip is not None:
                if svc.cluster_ip in service_ips:
                    node_at(self.roots[id(svc)], "spec.clusterIP").error(
                        f"cluster IP {svc.cluster_ip} is already used by another Service"
                    )
                service_ips.add(svc.cluster_ip)

    def _check_service_account(self, obj: Workload | Pod, root: Node) -> None:
        sa = obj.service_account
        if sa == "default" or self._exists("service_accounts", f"{obj.namespace}/{sa}"):
            return
        path = (
            "spec.template.spec.serviceAccountName"
            if isinstance(obj, Workload)
            else "spec.serviceAccountName"
        )
        node_at(root, path).error(f"service account {sa!r} does not exist in namespace {obj.namespace!r}")

    def _place(self, placer: PodPlacer) -> None:
        # Pods with their own IP first, so generated addresses never collide with them.
        generated: dict[str, int] = {}
        for obj in self.order:
            if isinstance(obj, Pod) and obj.ip is not None:
                if obj.ip in placer.used:
                    node_at(self.roots[id(obj)], "status.podIP").error(
                        f"IP {obj.ip} is already used by another pod"
                    )
                placer.used.add(obj.ip)
        for obj in self.order:
            if isinstance(obj, Pod):
                if not obj.name and obj.generate_name:
                    k = generated.get(obj.generate_name, 0)
                    generated[obj.generate_name] = k + 1
                    obj.name = obj.generate_name + pod_suffix(obj.namespace, obj.generate_name, k)
                    self._rekey_pod(obj)
                self._guarded(obj, lambda o=obj: placer.place(o))
            elif isinstance(obj, Workload):
                pods = self._guarded(obj, lambda o=obj: expand_workload(o, placer)) or []
                for pod in pods:
                    if self._exists("pods", pod.key):
                        node_at(self.roots[id(obj)], "metadata.name").error(
                            f"pod name {pod.key} is already taken"
                        )
                        continue
                    self.cluster.pods[pod.key] = pod

    def _rekey_pod(self, pod: Pod) -> None:
        pods = self.cluster.pods
        for key, value in list(pods.items()):
            if value is pod:
                del pods[key]
        if self._exists("pods", pod.key):
            node_at(self.roots[id(pod)], "metadata.generateName").error(
                f"pod name {pod.key} is already taken"
            )
            return
        pods[pod.key] = pod

    def _guarded(self, obj: Any, action: Any) -> Any:
        try:
            return action()
        except ValueError as exc:
            self.roots[id(obj)].error(str(exc))
            return None


def valid_ip(text: Any) -> str | None:
    try:
        return str(ipaddress.ip_address(str(text).strip()))
    except ValueError:
        return None
