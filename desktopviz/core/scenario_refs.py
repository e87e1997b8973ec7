"""Checks that need the whole scenario: traffic ends exist (objects an event deploys are
visible only to that event's traffic), ports resolve, and event targets name real objects.
"""

from __future__ import annotations

from typing import Any

from desktopviz.core.model import Cluster, ExternalEndpoint, Traffic
from desktopviz.core.scenario_traffic import TrafficDraft
from desktopviz.core.scenario_yaml import Node

SOURCE_KINDS = ("workload", "pod", "external", "ip", "hostendpoint")
_PORTED = ("TCP", "UDP", "SCTP")
DELETABLE = {
    "Namespace": "namespaces",
    "ServiceAccount": "service_accounts",
    "Deployment": "workloads",
    "StatefulSet": "workloads",
    "DaemonSet": "workloads",
    "ReplicaSet": "workloads",
    "Pod": "pods",
    "Service": "services",
    "NetworkSet": "network_sets",
    "GlobalNetworkSet": "network_sets",
    "HostEndpoint": "host_endpoints",
    "Tier": "tiers",
}
_CLUSTER_SCOPED = ("Namespace", "GlobalNetworkSet", "HostEndpoint", "Tier")


class View:
    """Lookups over several clusters (base first, then overlays)."""

    def __init__(self, clusters: list[Cluster], externals: dict[str, ExternalEndpoint]) -> None:
        self.clusters = clusters
        self.externals = externals

    def get(self, attr: str, key: str) -> Any:
        for c in reversed(self.clusters):
            obj = getattr(c, attr).get(key)
            if obj is not None:
                return obj
        return None

    def domain_known(self, domain: str) -> bool:
        return any(domain in e.domains for e in self.externals.values())


def _ref_error(node: Node, side: str, message: str) -> None:
    child = node.get(side) or node
    child.error(message)


def check_traffic(draft: TrafficDraft, view: View) -> Traffic | None:
    """Validate one traffic entry against what exists; resolve its port. None if invalid."""
    t, node = draft.traffic, draft.node
    ok = True
    if t.source.kind not in SOURCE_KINDS:
        _ref_error(node, "from", f"traffic cannot start at a {t.source.kind} (use {', '.join(SOURCE_KINDS)})")
        ok = False
    for side, ref in (("from", t.source), ("to", t.destination)):
        problem = _missing(ref.kind, ref.value, view)
        if problem:
            _ref_error(node, side, problem)
            ok = False
    if not ok:
        return None
    if t.dns and t.destination.kind not in ("domain", "external"):
        node.get("dns").error("dns lookups need a domain or external destination")  # type: ignore[union-attr]
        return None
    if t.dns and t.destination.kind == "external" and not view.externals[t.destination.value].domains:
        node.get("dns").error(f"external endpoint {t.destination.value!r} has no domains to look up")  # type: ignore[union-attr]
        return None
    return t if _resolve_port(draft, view) else None


def _missing(kind: str, value: str, view: View) -> str | None:
    if kind in ("workload", "pod", "service"):
        attr = {"workload": "workloads", "pod": "pods", "service": "services"}[kind]
        if view.get(attr, value) is None:
            return f"unknown {kind} {value!r}"
    elif kind == "external" and value not in view.externals:
        return f"unknown external endpoint {value!r}"
    elif kind == "hostendpoint" and view.get("host_endpoints", value) is None:
        return f"unknown host endpoint {value!r}"
    elif kind == "domain" and not view.domain_known(value):
        return f"domain {value!r} is not listed in any external endpoint's domains"
    return None


def _resolve_port(draft: TrafficDraft, view: View) -> bool:
    t, node, port = draft.traffic, draft.node, draft.port
    pnode = node.get("port") or node
    dest = t.destination
    if dest.kind == "service":
        svc = view.get("services", dest.value)
        match = [
            p for p in svc.ports if port is None or p.port == port or (p.name is not None and p.name == port)
        ]
        if port is None and len(svc.ports) != 1:
            pnode.error(f"service {dest.value} has {len(svc.ports)} ports: give port")
            return False
        if not match:
            known = ", ".join(f"{p.port}" + (f" ({p.name})" if p.name else "") for p in svc.ports)
            pnode.error(f"service {dest.value} has no port {port!r} (ports: {known or 'none'})")
            return False
        if draft.protocol_given and match[0].protocol != t.protocol:
            node.get("protocol").error(  # type: ignore[union-attr]
                f"service port {match[0].port} is {match[0].protocol}, not {t.protocol}"
            )
            return False
        t.port, t.protocol = match[0].port, match[0].protocol
        return True
    if t.protocol not in _PORTED:
        if port is not None:
            pnode.error(f"{t.protocol} traffic has no port")
            return False
        t.port = None
        return True
    if isinstance(port, str):
        ports = _named_ports(dest.kind, dest.value, view)
        found = [p for p in ports if p.name == port]
        if not found:
            pnode.error(f"{dest.kind} {dest.value} has no port named {port!r}")
            return False
        t.port = found[0].port
        if not draft.protocol_given:
            t.protocol = found[0].protocol
        return True
    if port is None:
        pnode.error(f"{t.protocol} traffic needs a port", path=f"{node.path}.port")
        return False
    t.port = port
    return True


def _named_ports(kind: str, value: str, view: View) -> list[Any]:
    if kind == "workload":
        return list(view.get("workloads", value).ports)
    if kind == "pod":
        return list(view.get("pods", value).ports)
    if kind == "hostendpoint":
        return list(view.get("host_endpoints", value).ports)
    return []


def check_target(node: Node, target: str | None, view: View, *, scale: bool) -> str | None:
    """`Kind ns/name` (or `Kind name` when cluster-scoped; scale also takes `ns/name`),
    canonical, if it names something the scenario or one of its events defines."""
    if target is None:
        return None
    text = target.strip()
    kind, _, name = text.partition(" ")
    name = name.strip()
    if scale and not name and text.count("/") == 1:
        w = view.get("workloads", text)
        if w is None:
            node.error(f"unknown workload {text!r}")
            return None
        kind, name = w.kind, text
    kinds = ("Deployment", "StatefulSet", "ReplicaSet") if scale else tuple(DELETABLE)
    if kind not in kinds or not name:
        node.error(f"expected 'Kind namespace/name' with Kind one of {', '.join(kinds)}, got {target!r}")
        return None
    if kind not in _CLUSTER_SCOPED and name.count("/") != 1:
        node.error(f"expected namespace/name after {kind}, got {name!r}")
        return None
    attr = DELETABLE[kind]
    obj = view.get(attr, name)
    if obj is None or (attr == "workloads" and obj.kind != kind):
        node.error(f"unknown {kind} {name!r}")
        return None
    if (kind == "NetworkSet" and obj.namespace is None) or (kind == "GlobalNetworkSet" and obj.namespace):
        node.error(f"{name!r} is not a {kind}")
        return None
    return f"{kind} {name}"


def check_policy_key(node: Node, key: str | None, view: View) -> str | None:
    if key is None:
        return None
    if view.get("policies", key) is None:
        node.error(f"unknown policy {key!r} (use the policy key, e.g. 'storefront/default.trusted')")
        return None
    return key
