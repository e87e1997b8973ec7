"""How the simulator sees one end of a connection: the identity Calico writes into a flow log.

`EndpointInfo` carries what a flow log needs about a source or destination (calico.md §1.1,
§1.2): type `wep`/`hep`/`ns`/`net`, name, aggregated name, namespace, labels, IP, and the node
that reports for it (Calico endpoints only). Built once per endpoint and shared by every
stream that uses it, so per-interval work never recomputes names or labels.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass

from desktopviz.core.model import (
    Cluster,
    ExternalPeer,
    HostEndpoint,
    NetworkSet,
    Pod,
)
from desktopviz.core.policy_match import domain_matches as _engine_domain_matches
from desktopviz.core.policy_match import domain_pattern

NOT_INCLUDED = "-"
_PRIVATE_NETS = tuple(ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))

Classifier = Callable[[str, str | None], "Pod | HostEndpoint | NetworkSet | None"]


@dataclass(frozen=True)
class EndpointInfo:
    """One end of a flow as Calico reports it. `labels` are "k=v" strings (None: no labels
    object); `node` is set only for Calico endpoints (pods, host endpoints), which report."""

    type: str  # wep, hep, ns, net
    ip: str | None
    name: str
    name_aggr: str
    namespace: str
    labels: frozenset[str] | None
    node: str | None
    endpoint: Pod | HostEndpoint | ExternalPeer
    domain: str | None = None

    @property
    def is_calico(self) -> bool:
        return self.type in ("wep", "hep")

    @property
    def ident(self) -> str:
        return f"{self.type}:{self.namespace}/{self.name}/{self.ip}"


def subnet_type(ip: str) -> str:
    """`pvt` for the RFC 1918 ranges, `pub` for everything else, IPv6 included (§1.2)."""
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return "pub"
    if addr.version != 4:
        return "pub"
    return "pvt" if any(addr in net for net in _PRIVATE_NETS) else "pub"


_INTERNED: dict[frozenset[str], frozenset[str]] = {}


def _label_set(labels: dict[str, str]) -> frozenset[str]:
    """Labels as interned "k=v" sets: equal label sets are the same object, so merging the
    members of an aggregated flow is an identity check, not a set intersection."""
    s = frozenset(f"{k}={v}" for k, v in labels.items())
    if len(_INTERNED) > 200_000:
        _INTERNED.clear()
    return _INTERNED.setdefault(s, s)


CALICO_LABEL_PREFIX = "projectcalico.org/"


def flow_labels(labels: dict[str, str]) -> dict[str, str]:
    """The labels Felix writes for an endpoint: its own labels without the `projectcalico.org/*`
    ones Calico adds (§2.7). Felix merges an aggregated flow's labels with `IntersectLabels`,
    which skips `projectcalico.org/` keys (ENT `felix/collector/utils/utils.go`; OSS
    `IntersectAndFilterLabels`), and every flow is merged from several metric updates (a
    connection is reported, then expires), so they never reach a flow log; the Enterprise lab's
    flow-log entry shows `app=backend, fw-zone=restricted, pod-template-hash=...` only."""
    return {k: v for k, v in labels.items() if not k.startswith(CALICO_LABEL_PREFIX)}


def pod_flow_labels(pod: Pod) -> dict[str, str]:
    """A pod's flow-log labels: the pod's own labels (profile-inherited `pcns.`/`pcsa.` labels
    are not endpoint labels, and the `projectcalico.org/*` ones are filtered, see flow_labels)."""
    return flow_labels(pod.labels)


def pod_info(pod: Pod) -> EndpointInfo:
    return EndpointInfo(
        type="wep",
        ip=pod.ip,
        name=pod.name,
        name_aggr=pod.name_aggr,
        namespace=pod.namespace,
        labels=_label_set(pod_flow_labels(pod)),
        node=pod.node,
        endpoint=pod,
    )


def hep_info(hep: HostEndpoint) -> EndpointInfo:
    """A host endpoint: name = HEP name, aggregated name = its host, namespace `-` (§1.2)."""
    return EndpointInfo(
        type="hep",
        ip=hep.expected_ips[0] if hep.expected_ips else None,
        name=hep.name,
        name_aggr=hep.node,
        namespace=NOT_INCLUDED,
        labels=_label_set(flow_labels(hep.labels)),
        node=hep.node,
        endpoint=hep,
    )


def netset_flow_labels(netset: NetworkSet) -> dict[str, str]:
    """A network set's own labels (its `projectcalico.org/namespace` is filtered as for pods)."""
    return flow_labels(netset.labels)


def external_info(
    ip: str,
    domain: str | None,
    classified: Pod | HostEndpoint | NetworkSet | None,
) -> EndpointInfo:
    """An address outside Calico's endpoints: a network set member (`ns`, the set's name and
    namespace or `-`), or a plain network (`net`, name `-`, aggregated `pub`/`pvt`)."""
    if isinstance(classified, Pod):
        return pod_info(classified)
    if isinstance(classified, HostEndpoint):
        return hep_info(classified)
    peer = ExternalPeer(ip=ip, domain=domain)
    if isinstance(classified, NetworkSet):
        return EndpointInfo(
            type="ns",
            ip=ip,
            name=classified.name,
            name_aggr=classified.name,
            namespace=classified.namespace or NOT_INCLUDED,
            labels=_label_set(netset_flow_labels(classified)),
            node=None,
            endpoint=peer,
            domain=domain,
        )
    return EndpointInfo(
        type="net",
        ip=ip,
        name=NOT_INCLUDED,
        name_aggr=subnet_type(ip),
        namespace=NOT_INCLUDED,
        labels=frozenset(),
        node=None,
        endpoint=peer,
        domain=domain,
    )


def domain_matches(pattern: str, domain: str) -> bool:
    """Calico domain match, the engine's own rule (one source of truth): exact
    (case-insensitive), or `*` standing for one or more whole labels (§2.11)."""
    return _engine_domain_matches((domain_pattern(pattern),), domain)


def netset_for_domain(cluster: Cluster, domain: str, namespace_hint: str | None) -> NetworkSet | None:
    """The network set whose allowed domains hold `domain`, with §1.2 precedence: sets in the
    workload's namespace, then global sets, then other namespaces; ties by `namespace/name`."""

    def rank(ns: NetworkSet) -> tuple[int, str]:
        if ns.namespace is not None and ns.namespace == namespace_hint:
            group = 0
        elif ns.namespace is None:
            group = 1
        else:
            group = 2
        return (group, ns.key)

    hits = [s for s in cluster.network_sets.values() if any(domain_matches(p, domain) for p in s.domains)]
    return min(hits, key=rank) if hits else None


def synthetic_ip(text: str) -> str:
    """A stable public address for a domain nobody gave an address to (34.64.0.0/10)."""
    h = int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big")
    base = int(ipaddress.IPv4Address("34.64.0.0"))
    return str(ipaddress.IPv4Address(base + (h % (1 << 22)) + 1))


def hosts_of(entry: str, limit: int = 4) -> list[str]:
    """Addresses to use for an IP or CIDR entry: the address itself, or up to `limit` stable
    host addresses inside the CIDR."""
    try:
        net = ipaddress.ip_network(entry, strict=False)
    except ValueError:
        return []
    if net.num_addresses == 1:
        return [str(net.network_address)]
    usable = max(1, net.num_addresses - 2)
    h = int.from_bytes(hashlib.sha256(entry.encode()).digest()[:8], "big")
    count = min(limit, usable)
    out: list[str] = []
    for i in range(count):
        offset = 1 + (h + i * 7919) % usable
        addr = str(net.network_address + offset)
        if addr not in out:
            out.append(addr)
    return out
