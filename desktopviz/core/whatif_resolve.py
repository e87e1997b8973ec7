"""From a flow-log record back to the endpoints the engine can evaluate (for the what-if).

A record names its ends as Calico wrote them (calico.md §1.1, §1.2, §1.4): a pod by name, or
by aggregated name (`generateName*`) when aggregated; a host endpoint; a network set; or a
plain `pub`/`pvt` network, with the IP nulled at aggregation level ≥ 2. :class:`Resolver`
turns each end into candidate endpoints and says what the record does *not* tell:

* pods by name from the scenario's cluster; a pod the cluster does not have (deployed by an
  event, since deleted) is rebuilt from the record's labels (complete for a named pod);
* an aggregated name → every pod of that prefix in the cluster, else every named pod of that
  prefix seen anywhere in the store, else one pod rebuilt from the aggregated labels (the
  labels common to all members: `partial_labels`);
* network sets by name/namespace, nets by IP; with the IP aggregated away, representative
  addresses of the set or of the public/private range, and the `region` they stand for.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from desktopviz.core.flowlog import parse_labels_field
from desktopviz.core.model import Cluster, ExternalPeer, HostEndpoint, NetworkSet, Pod

Net = ipaddress.IPv4Network | ipaddress.IPv6Network
PRIVATE = tuple(ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))
_PUB_PROBES = ("1.1.1.1", "9.9.9.9", "44.1.2.3", "100.1.2.3", "150.1.2.3", "200.1.2.3", "2001:db8::1")
_PVT_PROBES = ("10.255.254.253", "172.31.254.253", "192.168.254.253", "10.1.254.253")
CALICO_PREFIX = "projectcalico.org/"
MAX_CANDIDATES = 6


@dataclass
class Side:
    """One end of a record as written (the `source_*` or `dest_*` columns)."""

    type: str
    namespace: str
    name: str
    name_aggr: str
    ip: str | None
    labels: dict[str, str] | None
    domains: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        ns = self.namespace if self.namespace not in ("", "-") else "-"
        return f"{ns}/{self.name_aggr}"


@dataclass
class Resolved:
    """Candidate endpoints for one end, and what the record leaves open."""

    endpoints: list[Pod | HostEndpoint | ExternalPeer] = field(default_factory=list)
    synthetic: list[Pod] = field(default_factory=list)  # rebuilt pods the engines must learn
    partial_labels: frozenset[str] | None = None  # label keys known when members' labels are unknown
    region: tuple[Net, ...] = ()  # addresses the (aggregated-away) IP stands for
    unknown: str | None = None  # why the end cannot be evaluated at all


def side_of(row: dict[str, Any], prefix: str) -> Side:
    labels = row[f"{prefix}_labels"]
    if isinstance(labels, str):
        labels = json.loads(labels)
    domains: tuple[str, ...] = ()
    if prefix == "dest":
        d = row.get("dest_domains")
        if isinstance(d, str):
            d = json.loads(d)
        domains = tuple(d or ())
    return Side(
        type=row[f"{prefix}_type"],
        namespace=row[f"{prefix}_namespace"] or "-",
        name=row[f"{prefix}_name"] or "-",
        name_aggr=row[f"{prefix}_name_aggr"] or "-",
        ip=row[f"{prefix}_ip"],
        labels=None if labels is None else parse_labels_field(labels),
        domains=domains,
    )


def _own_labels(labels: dict[str, str] | None) -> dict[str, str]:
    return {k: v for k, v in (labels or {}).items() if not k.startswith(CALICO_PREFIX)}


class Resolver:
    """Resolves record ends against a cluster; `seen` holds the named pods of the store
    (namespace, name, name_aggr, labels, ip) for prefixes the cluster does not know."""

    def __init__(
        self,
        cluster: Cluster,
        classify: Any,
        seen: Iterable[tuple[str, str, str, Any, Any]] = (),
        policy_nets: Iterable[Net] = (),
    ) -> None:
        self.cluster = cluster
        self.policy_nets = sorted(set(policy_nets), key=lambda n: (n.version, n.prefixlen, str(n)))
        self.classify = classify  # engine.classify_ip
        self._synthetic: dict[str, Pod] = {}
        # rebuilt pods whose service account the record did not tell (Felix leaves
        # projectcalico.org/serviceaccount out of flow-log labels): "default" is a guess
        self.sa_unknown: set[str] = set()
        self._by_prefix: dict[tuple[str, str], list[Pod]] = {}
        for pod in cluster.pods.values():
            self._by_prefix.setdefault((pod.namespace, pod.name_aggr), []).append(pod)
        self._seen: dict[tuple[str, str], dict[str, tuple[Any, Any]]] = {}
        for ns, name, aggr, labels, ip in seen:
            self._seen.setdefault((ns, aggr), {}).setdefault(name, (labels, ip))
        self._probes: dict[str, list[str]] = {}

    # -- pods ---------------------------------------------------------------------------------
    def _rebuilt(self, ns: str, name: str, aggr: str, labels: dict[str, str] | None, ip: str | None) -> Pod:
        key = f"{ns}/{name}"
        pod = self._synthetic.get(key)
        if pod is None:
            sa = (labels or {}).get(CALICO_PREFIX + "serviceaccount")
            if sa is None:
                sa = "default"
                self.sa_unknown.add(key)
            gen = aggr[:-1] if aggr.endswith("*") else None
            pod = Pod(name, ns, _own_labels(labels), ip=ip, service_account=sa, generate_name=gen)
            self._synthetic[key] = pod
        return pod

    def _wep(self, s: Side) -> Resolved:
        if s.namespace not in self.cluster.namespaces:
            return Resolved(unknown=f"namespace {s.namespace!r} is not in the scenario")
        if s.name != "-":
            pod = self.cluster.pods.get(f"{s.namespace}/{s.name}")
            if pod is not None:
                return Resolved([pod])
            if s.labels is None:
                return Resolved(
                    unknown=f"pod {s.namespace}/{s.name} is not in the scenario and has no labels"
                )
            rebuilt = self._rebuilt(s.namespace, s.name, s.name_aggr, s.labels, s.ip)
            return Resolved([rebuilt], [rebuilt])
        pods = self._by_prefix.get((s.namespace, s.name_aggr))
        if pods:
            return Resolved(list(pods[:MAX_CANDIDATES]))
        seen = self._seen.get((s.namespace, s.name_aggr))
        if seen:
            rebuilt = [
                self._rebuilt(s.namespace, n, s.name_aggr, parse_labels_field(_json(lab)), ip)
                for n, (lab, ip) in sorted(seen.items())[:MAX_CANDIDATES]
            ]
            return Resolved(list(rebuilt), rebuilt)
        if s.labels is None:
            return Resolved(unknown=f"no pod of {s.label} is known and the record has no labels")
        name = (s.name_aggr[:-1] if s.name_aggr.endswith("*") else s.name_aggr) + "whatif"
        pod = self._rebuilt(s.namespace, name, s.name_aggr, s.labels, None)
        return Resolved([pod], [pod], partial_labels=frozenset(s.labels))

    # -- host endpoints ------------------------------------------------------------------------
    def _hep(self, s: Side) -> Resolved:
        heps = self.cluster.host_endpoints
        if s.name != "-":
            hep = heps.get(s.name)
            return (
                Resolved([hep])
                if hep
                else Resolved(unknown=f"host endpoint {s.name!r} is not in the scenario")
            )
        found = [h for h in heps.values() if h.node == s.name_aggr]
        if not found:
            return Resolved(unknown=f"no host endpoint on {s.name_aggr!r} in the scenario")
        return Resolved(list(found[:MAX_CANDIDATES]))

    # -- networks ------------------------------------------------------------------------------
    def _peers(self, ips: list[str], domains: tuple[str, ...]) -> list[ExternalPeer]:
        doms: tuple[str | None, ...] = domains[:3] or (None,)
        return [ExternalPeer(ip, d) for ip in ips for d in doms]

    def _netset(self, s: Side) -> Resolved:
        key = s.name_aggr if s.namespace in ("-", "") else f"{s.namespace}/{s.name_aggr}"
        netset = self.cluster.network_sets.get(key)
        if s.ip:
            return Resolved(list(self._peers([s.ip], s.domains)))
        if netset is None:
            return Resolved(unknown=f"network set {key!r} is not in the scenario")
        nets = tuple(ipaddress.ip_network(n, strict=False) for n in netset.nets)
        probes = [ip for ip in self._region_probes(nets) if self._owner_is(ip, netset)]
        if not probes:
            return Resolved(unknown=f"no address of network set {key!r} is named by it")
        return Resolved(list(self._peers(probes[:MAX_CANDIDATES], s.domains)), region=nets)

    def _owner_is(self, ip: str, netset: NetworkSet) -> bool:
        owner = self.classify(ip, netset.namespace, None)  # a namespaced set wins in its namespace
        return isinstance(owner, NetworkSet) and owner.key == netset.key

    def _net(self, s: Side) -> Resolved:
        if s.ip:
            return Resolved(list(self._peers([s.ip], s.domains)))
        kind = "pvt" if s.name_aggr == "pvt" else "pub"
        probes = self._probes.get(kind)
        if probes is None:
            cands = _PVT_PROBES if kind == "pvt" else _PUB_PROBES
            region = PRIVATE if kind == "pvt" else (ipaddress.ip_network("0.0.0.0/0"),)
            extra = [ip for ip in self._region_probes(region) if _is_pvt(ip) == (kind == "pvt")]
            probes = [ip for ip in (*cands, *extra) if self.classify(ip, None, None) is None]
            probes = probes[:1] + [p for p in probes[1:] if p in extra][: MAX_CANDIDATES - 1]
            self._probes[kind] = probes
        if not probes:
            return Resolved(unknown=f"every {kind} address probed belongs to an endpoint or set")
        region = PRIVATE if kind == "pvt" else (ipaddress.ip_network("0.0.0.0/0"),)
        return Resolved(list(self._peers(probes, s.domains)), region=region)

    def _region_probes(self, region: tuple[Net, ...]) -> list[str]:
        """Addresses that stand for a range: its first hosts, and the first host of every
        policy net inside it (so a rule on part of the range is tried on both sides)."""
        out: list[str] = []
        for n in self.policy_nets:
            for r in region:
                if n.version == r.version and n.subnet_of(r) and n != r:  # type: ignore[arg-type]
                    out.append(_first_host(n))
                    break
        out += [_first_host(n) for n in region[:2]]
        seen: set[str] = set()
        return [ip for ip in out if not (ip in seen or seen.add(ip))]

    def resolve(self, s: Side) -> Resolved:
        if s.type == "wep":
            return self._wep(s)
        if s.type == "hep":
            return self._hep(s)
        if s.type == "ns":
            return self._netset(s)
        if s.type == "net":
            return self._net(s)
        return Resolved(unknown=f"unknown endpoint type {s.type!r}")


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _is_pvt(ip: str) -> bool:
    addr = ipaddress.ip_address(ip)
    return any(addr.version == p.version and addr in p for p in PRIVATE)


def _first_host(net: Net) -> str:
    if net.num_addresses > 2:
        return str(net.network_address + 1)
    return str(net.network_address)


def splits(region: Iterable[Net], nets: Iterable[Net]) -> bool:
    """True when some rule net matches part of the region but not all of it (so an address
    aggregated away could fall on either side). For `pub` the region is all of IPv4 less the
    private ranges."""
    region = list(region)
    pub = len(region) == 1 and region[0].prefixlen == 0
    for n in nets:
        if pub:
            if n.prefixlen == 0:
                continue
            if not any(n.version == p.version and n.subnet_of(p) for p in PRIVATE):  # type: ignore[arg-type]
                return True
            continue
        overlapping = [r for r in region if r.version == n.version and r.overlaps(n)]  # type: ignore[arg-type]
        if overlapping and not all(r.version == n.version and r.subnet_of(n) for r in region):  # type: ignore[arg-type]
            return True
    return False


__all__ = ["Resolved", "Resolver", "Side", "side_of", "splits"]
