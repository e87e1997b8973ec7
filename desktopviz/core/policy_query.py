"""Questions asked of the engine by the `reach` and `explain` commands (and the views):
resolving what a user typed to an endpoint, the who-can-reach-whom matrix, and lateral
movement from a compromised pod (a networkx graph of allowed connections).
"""

from __future__ import annotations

import ipaddress
from collections import deque
from dataclasses import dataclass, field

import networkx as nx

from desktopviz.core.model import ContainerPort, ExternalPeer, HostEndpoint, Pod, Scenario, Service
from desktopviz.core.policy import PolicyEngine
from desktopviz.core.policy_match import PacketError, protocol_name, protocol_number


class QueryError(ValueError):
    """Something the user typed that names no endpoint, port or protocol."""


@dataclass
class Resolved:
    """What a user's endpoint text stands for: the endpoint the engine evaluates, a display
    label, and for a Service the port it translates (service port → target port)."""

    endpoint: Pod | HostEndpoint | ExternalPeer
    label: str
    kind: str  # workload, pod, service, hostendpoint, ip, domain
    service: Service | None = None
    note: str = ""


def check_protocol(protocol: str) -> str:
    try:
        return protocol_name(protocol_number(protocol))
    except PacketError as exc:
        raise QueryError(str(exc)) from None


def check_port(port: int | None) -> int | None:
    if port is not None and not 1 <= port <= 65535:
        raise QueryError(f"port {port} out of range 1-65535")
    return port


def first_pod(scenario: Scenario, workload_key: str) -> Pod | None:
    wl = scenario.cluster.workloads.get(workload_key)
    if wl is None:
        return None
    pods = wl.pods or [p for p in scenario.cluster.pods.values() if p.workload == workload_key]
    return sorted(pods, key=lambda p: p.name)[0] if pods else None


def _service_backend(scenario: Scenario, svc: Service) -> Pod | None:
    if svc.selector is None:
        return None
    pods = [
        p
        for p in scenario.cluster.pods.values()
        if p.namespace == svc.namespace and all(p.labels.get(k) == v for k, v in svc.selector.items())
    ]
    return sorted(pods, key=lambda p: p.key)[0] if pods else None


def service_target(svc: Service, pod: Pod, port: int | None, protocol: str) -> tuple[int, str] | None:
    """The (target port, description) a Service port sends to on this pod, or None."""
    for sp in svc.ports:
        if port is not None and sp.port != port:
            continue
        if sp.protocol.upper() != protocol.upper():
            continue
        if isinstance(sp.target_port, int) or str(sp.target_port).isdigit():
            return int(sp.target_port), f"service port {sp.port} → targetPort {sp.target_port}"
        for cp in pod.ports:
            if cp.name == sp.target_port and cp.protocol.upper() == protocol.upper():
                return cp.port, f"service port {sp.port} → targetPort {sp.target_port} = {cp.port}"
    return None


def _domain_ip(scenario: Scenario, domain: str) -> str | None:
    for ext in scenario.externals.values():
        if domain.lower() in (d.lower() for d in ext.domains) and ext.ips:
            first = ext.ips[0]
            net = ipaddress.ip_network(first, strict=False)
            return str(net.network_address if net.num_addresses == 1 else next(iter(net.hosts()), net[0]))
    return None


def resolve(
    scenario: Scenario, engine: PolicyEngine, text: str, port: int | None = None, protocol: str = "TCP"
) -> Resolved:
    """`ns/name` (workload, pod or Service; `svc:ns/name` forces a Service), a host endpoint
    name, an IP address, or a domain name."""
    c = scenario.cluster
    text = text.strip()
    forced_service = text.startswith(("svc:", "service:"))
    if forced_service:
        text = text.split(":", 1)[1]
    if "/" in text and not forced_service:
        pod = first_pod(scenario, text)
        kind = "workload"
        if pod is None and text in c.pods:
            pod, kind = c.pods[text], "pod"
        svc = c.services.get(text)
        served = pod is not None and any(cp.port == port for cp in pod.ports)
        if pod is not None and not (
            svc is not None and port is not None and not served and _has_port(svc, port)
        ):
            return Resolved(pod, text, kind)
    if "/" in text and text in c.services:
        svc = c.services[text]
        backend = _service_backend(scenario, svc)
        if backend is None:
            raise QueryError(f"service {text} has no backing pod")
        return Resolved(backend, text, "service", svc, f"service {text} → pod {backend.key}")
    if "/" in text:
        raise QueryError(f"unknown endpoint {text!r}: no workload, pod or service of that name")
    if text in c.host_endpoints:
        return Resolved(c.host_endpoints[text], text, "hostendpoint")
    try:
        ipaddress.ip_address(text)
    except ValueError:
        pass
    else:
        owner = engine.classify_ip(text)
        if isinstance(owner, Pod | HostEndpoint):
            return Resolved(owner, owner.key, "pod" if isinstance(owner, Pod) else "hostendpoint")
        return Resolved(ExternalPeer(ip=text), text, "ip")
    if "." in text and all(part and part.replace("-", "").isalnum() for part in text.split(".")):
        ip = _domain_ip(scenario, text)
        note = f"{text} resolves to {ip}" if ip else f"{text} has no known address"
        return Resolved(ExternalPeer(ip=ip, domain=text), text, "domain", note=note)
    raise QueryError(
        f"unknown endpoint {text!r} (expected namespace/name, a host endpoint, an IP or a domain)"
    )


def _has_port(svc: Service, port: int) -> bool:
    return any(sp.port == port for sp in svc.ports)


def endpoint_list(scenario: Scenario, pods: bool, namespaces: list[str] | None) -> list[tuple[str, Pod]]:
    """(label, representative pod) per workload (its first pod) or per pod, sorted."""
    c = scenario.cluster
    wanted = set(namespaces) if namespaces else None
    for ns in wanted or ():
        if ns not in c.namespaces and not any(p.namespace == ns for p in c.pods.values()):
            raise QueryError(f"unknown namespace {ns!r}")
    out: list[tuple[str, Pod]] = []
    if pods:
        out = [(p.key, p) for p in c.pods.values()]
    else:
        seen: set[str] = set()
        for p in sorted(c.pods.values(), key=lambda p: p.key):
            group = p.workload if p.workload else p.key
            if group not in seen:
                seen.add(group)
                rep = first_pod(scenario, group) if p.workload else p
                out.append((group, rep or p))
    return sorted((e for e in out if wanted is None or e[1].namespace in wanted), key=lambda e: e[0])


def reach_matrix(
    engine: PolicyEngine, endpoints: list[tuple[str, Pod]], protocol: str, port: int | None
) -> dict[str, dict[str, bool]]:
    return {
        a: {b: engine.evaluate(pa, pb, protocol, port).action == "allow" for b, pb in endpoints}
        for a, pa in endpoints
    }


@dataclass
class Hop:
    source: str
    target: str
    protocol: str
    port: int
    rule: str  # the trace entries that allowed it


@dataclass
class Lateral:
    start: str
    graph: nx.DiGraph
    paths: dict[str, list[Hop]] = field(default_factory=dict)  # target → shortest chain


def _served(pod: Pod) -> list[ContainerPort]:
    return sorted(pod.ports, key=lambda cp: (cp.port, cp.protocol)) or []


def lateral_movement(
    scenario: Scenario, engine: PolicyEngine, start: tuple[str, Pod], hops: int = 3
) -> Lateral:
    """Breadth-first over allowed connections from `start`: each reached workload (or bare
    pod) is assumed compromised in turn; a connection counts if any port the target serves
    (its container ports) is allowed. Returns the graph of allowed edges explored and the
    shortest chain to every target reached within `hops` connections."""
    nodes = endpoint_list(scenario, pods=False, namespaces=None)
    by_label = dict(nodes)
    label0, pod0 = start
    by_label.setdefault(label0, pod0)
    graph = nx.DiGraph()
    graph.add_node(label0)
    paths: dict[str, list[Hop]] = {label0: []}
    queue = deque([label0])
    while queue:
        cur = queue.popleft()
        if len(paths[cur]) >= hops:
            continue
        src = by_label[cur]
        for label, dst in nodes:
            if label == cur:
                continue
            for cp in _served(dst):
                v = engine.evaluate(src, dst, cp.protocol, cp.port)
                if v.action != "allow":
                    continue
                hits = []
                if v.egress is not None:
                    hits.append(f"egress {v.egress.trace[-1]}")
                if v.ingress is not None:
                    hits.append(f"ingress {v.ingress.trace[-1]}")
                hop = Hop(cur, label, cp.protocol, cp.port, "; ".join(hits))
                if not graph.has_edge(cur, label):
                    graph.add_edge(cur, label, protocol=cp.protocol, port=cp.port, rule=hop.rule, ports=[])
                graph.edges[cur, label]["ports"].append(f"{cp.protocol}/{cp.port}")
                if label not in paths:
                    paths[label] = [*paths[cur], hop]
                    queue.append(label)
    del paths[label0]
    return Lateral(label0, graph, paths)
