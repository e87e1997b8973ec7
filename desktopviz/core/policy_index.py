"""Endpoints as the engine sees them: label classes, peers, network-set membership, profiles.

Every pod, host endpoint and network set is put in a *label class* (same Calico labels, same
class), which is what selectors are evaluated against. A `Peer` per endpoint is built once
(its class, the network sets holding its IP, named ports, Services it backs); external
addresses get their Peer built on first use and cached.
"""

from __future__ import annotations

import ipaddress

from desktopviz.core.model import Cluster, ExternalPeer, HostEndpoint, NetworkSet, Pod, Service
from desktopviz.core.policy_compile import SelectorSets
from desktopviz.core.policy_eval import ProfileRef, profile_ref
from desktopviz.core.policy_match import (
    Net,
    Peer,
    domain_matches,
    domain_pattern,
    in_nets,
    named_ports,
    net_prefix_len,
    parse_ip,
    parse_net,
    protocol_number,
)

DEFAULT_ALLOW_PROFILES = frozenset({"projectcalico-default-allow"})


class EngineError(ValueError):
    """An endpoint or policy the engine does not know."""


def _norm_ip(text: str | None) -> str | None:
    if not text:
        return None
    try:
        return str(ipaddress.ip_address(str(text).split("/")[0].strip()))
    except ValueError:
        return None


def service_targets(svc: Service, pod: Pod) -> frozenset[tuple[int, int]] | None:
    """(protocol, port) pairs a Service sends to this pod, or None when the pod does not back
    it (same namespace, selector labels present). Named targetPorts resolve per pod."""
    if svc.selector is None or svc.namespace != pod.namespace:
        return None
    if any(pod.labels.get(k) != v for k, v in svc.selector.items()):
        return None
    out: set[tuple[int, int]] = set()
    for sp in svc.ports:
        proto = protocol_number(sp.protocol or "TCP")
        if isinstance(sp.target_port, int):
            out.add((proto, sp.target_port))
        elif str(sp.target_port).isdigit():
            out.add((proto, int(sp.target_port)))
        else:
            for cp in pod.ports:
                if cp.name == sp.target_port and protocol_number(cp.protocol or "TCP") == proto:
                    out.add((proto, cp.port))
    return frozenset(out)


class EndpointIndex:
    """Label classes and peers for the cluster's endpoints (see module doc)."""

    def __init__(self, cluster: Cluster, sets: SelectorSets) -> None:
        self.cluster = cluster
        self._sets = sets
        self._classes: dict[frozenset[tuple[str, str]], int] = {}
        self._members: dict[int, set[str]] = {}  # endpoint keys per class
        self.host_classes: set[int] = set()  # classes holding a host endpoint
        self._peers: dict[str, Peer] = {}
        self.ids: dict[int, str] = {}  # id(model object) → endpoint key
        self._by_ip: dict[str, str] = {}  # address → endpoint key
        self._external: dict[tuple[str | None, str | None, str], Peer] = {}
        self._profiles: dict[str, tuple[Peer, tuple[ProfileRef, ...]]] = {}
        self._netsets: list[tuple[NetworkSet, int, tuple[Net, ...], tuple]] = []
        for ns in cluster.network_sets.values():
            cid = self._class_for(cluster.network_set_calico_labels(ns))
            nets = tuple(parse_net(n) for n in ns.nets)
            self._netsets.append((ns, cid, nets, tuple(domain_pattern(d) for d in ns.domains)))
        for pod in cluster.pods.values():
            self.add_pod(pod)
        for hep in cluster.host_endpoints.values():
            self._add(
                f"hep:{hep.name}",
                hep,
                hep.labels,
                hep.expected_ips[0] if hep.expected_ips else None,
                hep.ports,
            )

    # ---------------------------------------------------------------- classes

    def _class_for(self, labels: dict[str, str]) -> int:
        key = frozenset(labels.items())
        cid = self._classes.get(key)
        if cid is None:
            cid = self._sets.add_class(dict(labels))
            self._classes[key] = cid
        return cid

    def endpoint_classes(self) -> list[int]:
        return [cid for cid, members in self._members.items() if members]

    def endpoint_keys_in(self, classes: set[int]) -> list[str]:
        return [k for cid in classes for k in self._members.get(cid, ())]

    def endpoints_in(self, classes: set[int]) -> list[Pod | HostEndpoint]:
        out = [self._peers[k].endpoint for k in self.endpoint_keys_in(classes)]
        return sorted(out, key=lambda e: (isinstance(e, HostEndpoint), e.key))  # type: ignore[union-attr,return-value]

    # ---------------------------------------------------------------- endpoints

    def _sets_holding(self, ip: tuple[int, int] | None) -> frozenset[int]:
        if ip is None:
            return frozenset()
        return frozenset(cid for _, cid, nets, _ in self._netsets if nets and in_nets(ip, (*nets,)))

    def _add(self, key: str, ep: Pod | HostEndpoint, labels: dict[str, str], ip: str | None, ports) -> None:
        cid = self._class_for(labels)
        if isinstance(ep, HostEndpoint):
            self.host_classes.add(cid)
        parsed = parse_ip(ip)
        services: dict[str, frozenset[tuple[int, int]]] = {}
        if isinstance(ep, Pod):
            for svc in self.cluster.services.values():
                targets = service_targets(svc, ep)
                if targets is not None:
                    services[svc.key] = targets
        namespace = ep.namespace if isinstance(ep, Pod) else None
        peer = Peer(
            key, ep, cid, self._sets_holding(parsed), parsed, None, namespace, named_ports(ports), services
        )
        self._peers[key] = peer
        self.ids[id(ep)] = key
        self._members.setdefault(cid, set()).add(key)
        norm = _norm_ip(ip)
        if norm:
            self._by_ip[norm] = key
            self._drop_external(norm)

    def _drop_external(self, ip: str) -> None:
        for k in [k for k in self._external if k[0] == ip]:
            del self._external[k]

    def add_pod(self, pod: Pod) -> None:
        self._add(pod.key, pod, self.cluster.pod_calico_labels(pod), pod.ip, pod.ports)

    def remove_pod(self, key: str) -> None:
        peer = self._peers.pop(key)
        self.ids.pop(id(peer.endpoint), None)
        self._members.get(peer.cls, set()).discard(key)
        norm = _norm_ip(getattr(peer.endpoint, "ip", None))
        if norm and self._by_ip.get(norm) == key:
            del self._by_ip[norm]

    def has(self, key: str) -> bool:
        return key in self._peers

    def ident(self, ep: object) -> str | None:
        """The endpoint key of a registered Pod/HostEndpoint (by identity, else by key)."""
        key = self.ids.get(id(ep))
        if key is not None:
            return key
        if isinstance(ep, Pod) and ep.key in self._peers:
            return ep.key
        if isinstance(ep, HostEndpoint) and f"hep:{ep.name}" in self._peers:
            return f"hep:{ep.name}"
        return None

    def peer(self, ep: Pod | HostEndpoint | ExternalPeer, role: str) -> Peer:
        """The Peer for an endpoint; `role` "dst" lets a domain count for network-set
        membership (domains only work for egress destinations, §2.11)."""
        key = self.ident(ep)
        if key is not None:
            return self._peers[key]
        if isinstance(ep, ExternalPeer):
            return self._external_peer(ep, role)
        what = getattr(ep, "key", repr(ep))
        raise EngineError(f"unknown endpoint {what} (not in the cluster the engine was built from)")

    def _external_peer(self, ep: ExternalPeer, role: str) -> Peer:
        norm = _norm_ip(ep.ip)
        ck = (norm, ep.domain, role)
        found = self._external.get(ck)
        if found is not None:
            return found
        parsed = parse_ip(norm)
        sets = set(self._sets_holding(parsed))
        if role == "dst" and ep.domain:
            sets.update(cid for _, cid, _, doms in self._netsets if doms and domain_matches(doms, ep.domain))
        key = f"ext:{norm or ''}/{ep.domain or ''}"
        peer = Peer(key, ep, -1, frozenset(sets), parsed, ep.domain)
        self._external[ck] = peer
        return peer

    def profiles(self, peer: Peer) -> tuple[ProfileRef, ...]:
        """A pod's [kns.<ns> (allow all), ksa.<ns>.<sa> (no rules)]; a host endpoint's own list."""
        found = self._profiles.get(peer.key)
        if found is None or found[0] is not peer:
            found = (peer, self._profiles_of(peer))
            self._profiles[peer.key] = found
        return found[1]

    def _profiles_of(self, peer: Peer) -> tuple[ProfileRef, ...]:
        ep = peer.endpoint
        if isinstance(ep, Pod):
            return (
                profile_ref(f"kns.{ep.namespace}", True),
                profile_ref(f"ksa.{ep.namespace}.{ep.service_account}", False),
            )
        if isinstance(ep, HostEndpoint):
            return tuple(
                profile_ref(p, p in DEFAULT_ALLOW_PROFILES or p.startswith("kns.")) for p in ep.profiles
            )
        return ()

    # ---------------------------------------------------------------- classification

    def classify_ip(
        self, ip: str, namespace_hint: str | None = None, domain: str | None = None
    ) -> Pod | HostEndpoint | NetworkSet | None:
        norm = _norm_ip(ip)
        if norm and norm in self._by_ip:
            return self._peers[self._by_ip[norm]].endpoint
        parsed = parse_ip(norm)
        best: tuple | None = None
        best_set: NetworkSet | None = None
        for ns, _, nets, doms in self._netsets:
            prefix = max((net_prefix_len(n) for n in nets if in_nets(parsed, (n,))), default=-1)
            by_domain = bool(domain and doms and domain_matches(doms, domain))
            if prefix < 0 and not by_domain:
                continue
            if ns.namespace is not None and ns.namespace == namespace_hint:
                group = 0
            elif ns.namespace is None:
                group = 1
            else:
                group = 2
            rank = (group, 0 if prefix >= 0 else 1, -prefix, f"{ns.namespace or ''}/{ns.name}")
            if best is None or rank < best:
                best, best_set = rank, ns
        return best_set
