"""Turn the scenario's traffic entries into streams: one per (traffic, source, destination).

A stream is the unit the simulator draws connections for. A traffic entry's rate is spread
evenly over every (source replica, destination backend) pair; a Service destination resolves
to its backing pods through the Service selector and `targetPort` (a number or a container
port name), and the flow log keeps the Service the client addressed (§1.1
`dest_service_*`). A `dns: true` entry adds UDP 53 streams to kube-dns.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from desktopviz.core.model import (
    Cluster,
    ExternalEndpoint,
    HostEndpoint,
    NetworkSet,
    Pod,
    Service,
    Traffic,
)
from desktopviz.core.sim_endpoints import (
    EndpointInfo,
    external_info,
    hep_info,
    hosts_of,
    netset_for_domain,
    pod_info,
    synthetic_ip,
)

Classify = Callable[[str, str | None, str | None], Pod | HostEndpoint | NetworkSet | None]

_PROTO_CANON = {
    "TCP": "TCP",
    "UDP": "UDP",
    "ICMP": "ICMP",
    "ICMPV6": "ICMPv6",
    "SCTP": "SCTP",
    "UDPLITE": "UDPLite",
}
PORT_PROTOCOLS = frozenset({"TCP", "UDP", "SCTP", "UDPLite"})
DNS_DURATION = 0.02  # seconds a DNS exchange lasts
DNS_BYTES_OUT = 74  # one query packet (IP + UDP + DNS question)
DNS_BYTES_IN = 130  # one answer packet


class TrafficError(ValueError):
    """A traffic entry that cannot be resolved (unknown workload, Service port...)."""


@dataclass(frozen=True)
class ServiceTarget:
    """The Service a client addressed: namespace, name, port name (`-` if unnamed), number."""

    namespace: str
    name: str
    port_name: str
    port_num: int


@dataclass
class StreamSpec:
    """Connections of one traffic entry between one source and one destination endpoint."""

    key: tuple[object, ...]
    src: EndpointInfo
    dst: EndpointInfo
    protocol: str  # canonical name (TCP, UDP, ICMP, ...) or a number as text
    port: int | None  # the destination port on the wire (a Service's target port)
    service: ServiceTarget | None
    rate: float  # new connections per second
    duration: float  # mean seconds a connection stays open
    bytes_out: float  # client -> server bytes per connection
    bytes_in: float  # server -> client bytes per connection
    packets_out: float
    packets_in: float
    start: float  # absolute simulated time the stream starts
    stop: float | None
    process_name: str | None
    domains: tuple[str, ...] = ()
    is_dns: bool = False
    dns: bool = False  # look the destination up first
    extra: dict[str, object] = field(default_factory=dict)


def canonical_protocol(protocol: str | int) -> str:
    if isinstance(protocol, int):
        return str(protocol)
    return _PROTO_CANON.get(protocol.upper(), protocol)


def default_packets(protocol: str, nbytes: float) -> float:
    """Packets for `nbytes` in one direction: TCP adds handshake/teardown packets (the docs'
    example has 6 packets for 388 bytes); datagrams are one packet per 1,400 bytes."""
    data = math.ceil(max(nbytes, 1.0) / 1400.0)
    return data + 4.0 if protocol == "TCP" else float(data)


@dataclass
class Resolver:
    """Resolves EndpointRefs against the current cluster."""

    cluster: Cluster
    externals: dict[str, ExternalEndpoint]
    classify: Classify

    def reset(self) -> None:
        """Forget the per-rebuild indexes (pods by workload, by namespace)."""
        self._by_workload: dict[str | None, list[Pod]] | None = None
        self._by_namespace: dict[str, list[Pod]] | None = None

    def _index(self) -> None:
        by_wl: dict[str | None, list[Pod]] = {}
        by_ns: dict[str, list[Pod]] = {}
        for p in self.cluster.pods.values():
            by_wl.setdefault(p.workload, []).append(p)
            by_ns.setdefault(p.namespace, []).append(p)
        self._by_workload, self._by_namespace = by_wl, by_ns

    def pods_of(self, kind: str, value: str) -> list[Pod]:
        if getattr(self, "_by_workload", None) is None:
            self._index()
        if kind == "workload":
            pods = list((self._by_workload or {}).get(value, []))
            if not pods and value in self.cluster.workloads:
                pods = list(self.cluster.workloads[value].pods)
            return sorted(pods, key=lambda p: p.key)
        if kind == "pod":
            pod = self.cluster.pods.get(value)
            return [pod] if pod else []
        if kind == "service":
            return self.service_backends(self.service(value))
        return []

    def service(self, key: str) -> Service:
        svc = self.cluster.services.get(key)
        if svc is None:
            raise TrafficError(f"unknown service {key!r}")
        return svc

    def service_backends(self, svc: Service) -> list[Pod]:
        if not svc.selector:
            return []
        if getattr(self, "_by_namespace", None) is None:
            self._index()
        sel = svc.selector.items()
        pods = [
            p
            for p in (self._by_namespace or {}).get(svc.namespace, [])
            if all(p.labels.get(k) == v for k, v in sel)
        ]
        return sorted(pods, key=lambda p: p.key)

    def calico_ends(self, kind: str, value: str) -> list[EndpointInfo]:
        if kind == "hostendpoint":
            hep = self.cluster.host_endpoints.get(value)
            return [hep_info(hep)] if hep else []
        return [pod_info(p) for p in self.pods_of(kind, value)]

    def external_addresses(self, kind: str, value: str) -> list[tuple[str, str | None]]:
        """(ip, domain) pairs for an `external`, `ip` or `domain` reference."""
        if kind == "ip":
            return [(value, None)]
        if kind == "domain":
            for ext in self.externals.values():
                if value in ext.domains and ext.ips:
                    return [(ip, value) for entry in ext.ips for ip in hosts_of(entry)]
            return [(synthetic_ip(value), value)]
        ext = self.externals.get(value)
        if ext is None:
            raise TrafficError(f"unknown external endpoint {value!r}")
        domain = ext.domains[0] if ext.domains else None
        ips = [ip for entry in ext.ips for ip in hosts_of(entry)]
        if not ips:
            ips = [synthetic_ip(domain or ext.name)]
        return [(ip, domain) for ip in ips]

    def external_end(self, ip: str, domain: str | None, hint: str | None) -> EndpointInfo:
        found = self.classify(ip, hint, domain)
        if found is None and domain:
            found = netset_for_domain(self.cluster, domain, hint)
        return external_info(ip, domain, found)


def _service_port(svc: Service, port: int | None, protocol: str) -> tuple[int | str, ServiceTarget]:
    candidates = [sp for sp in svc.ports if canonical_protocol(sp.protocol) == protocol] or list(svc.ports)
    chosen = None
    if port is None and len(candidates) == 1:
        chosen = candidates[0]
    for sp in candidates:
        if sp.port == port:
            chosen = sp
            break
    if chosen is None:
        raise TrafficError(f"service {svc.key} has no {protocol} port {port}")
    target = ServiceTarget(svc.namespace, svc.name, chosen.name or "-", chosen.port)
    return chosen.target_port, target


def _pod_port(pod: Pod, target: int | str, protocol: str) -> int | None:
    if isinstance(target, int):
        return target
    for cp in pod.ports:
        if cp.name == target and canonical_protocol(cp.protocol) == protocol:
            return cp.port
    return None


def resolve(traffic: Traffic, uid: object, base_time: float, res: Resolver) -> list[StreamSpec]:
    """The streams of one traffic entry in the cluster as it is now (empty if an end has no
    endpoints, e.g. a workload scaled to zero)."""
    proto = canonical_protocol(traffic.protocol)
    src_kind, src_val = traffic.source.kind, traffic.source.value
    dst_kind, dst_val = traffic.destination.kind, traffic.destination.value
    external_kinds = ("external", "ip", "domain")

    # Destinations: (endpoint info, wire port, service) triples, or external addresses.
    dests: list[tuple[EndpointInfo | tuple[str, str | None], int | None, ServiceTarget | None]] = []
    if dst_kind == "service":
        svc = res.service(dst_val)
        target, st = _service_port(svc, traffic.port, proto)
        for pod in res.service_backends(svc):
            wire = _pod_port(pod, target, proto)
            if wire is not None:
                dests.append((pod_info(pod), wire, st))
    elif dst_kind in external_kinds:
        for addr in res.external_addresses(dst_kind, dst_val):
            dests.append((addr, traffic.port, None))
    else:
        for info in res.calico_ends(dst_kind, dst_val):
            dests.append((info, traffic.port, None))

    if src_kind in external_kinds:
        sources: list[EndpointInfo | tuple[str, str | None]] = list(res.external_addresses(src_kind, src_val))
    else:
        sources = list(res.calico_ends(src_kind, src_val))
    if not sources or not dests:
        return []

    bytes_in = (
        float(traffic.bytes_in) if traffic.bytes_in is not None else traffic.bytes_out * traffic.reply_ratio
    )
    bytes_out = float(traffic.bytes_out)
    pk_out = (
        float(traffic.packets_out) if traffic.packets_out is not None else default_packets(proto, bytes_out)
    )
    pk_in = float(traffic.packets_in) if traffic.packets_in is not None else default_packets(proto, bytes_in)
    rate = traffic.rate / (len(sources) * len(dests))
    start = base_time + traffic.start
    stop = base_time + traffic.stop if traffic.stop is not None else None
    specs: list[StreamSpec] = []
    for s in sources:
        for d, wire_port, st in dests:
            src_hint = d.namespace if isinstance(d, EndpointInfo) else None
            src = s if isinstance(s, EndpointInfo) else res.external_end(s[0], s[1], src_hint)
            dst = d if isinstance(d, EndpointInfo) else res.external_end(d[0], d[1], src.namespace)
            if not (src.is_calico or dst.is_calico):
                continue  # nobody would report it
            if src.ip is not None and src.ip == dst.ip:
                continue
            port = wire_port if proto in PORT_PROTOCOLS else None
            domains = (dst.domain,) if dst.domain else ()
            specs.append(
                StreamSpec(
                    key=(uid, src.ident, dst.ident, port, proto),
                    src=src,
                    dst=dst,
                    protocol=proto,
                    port=port,
                    service=st,
                    rate=rate,
                    duration=max(float(traffic.duration), 1e-3),
                    bytes_out=bytes_out,
                    bytes_in=bytes_in,
                    packets_out=pk_out,
                    packets_in=pk_in,
                    start=start,
                    stop=stop,
                    process_name=traffic.process_name,
                    domains=domains,
                    dns=traffic.dns,
                )
            )
    return specs


def find_kube_dns(cluster: Cluster) -> Service | None:
    """The cluster DNS Service: kube-system/kube-dns, else any Service named kube-dns."""
    svc = cluster.services.get("kube-system/kube-dns")
    if svc is None:
        svc = next((s for s in cluster.services.values() if s.name == "kube-dns"), None)
    return svc


def dns_streams(specs: list[StreamSpec], res: Resolver) -> list[StreamSpec]:
    """UDP 53 lookups to kube-dns: one per connection of every `dns: true` stream whose
    client is a pod, merged per (client pod, DNS pod)."""
    wanted = [s for s in specs if s.dns and s.src.is_calico]
    if not wanted:
        return []
    svc = find_kube_dns(res.cluster)
    if svc is None:
        return []
    try:
        target, st = _service_port(svc, 53, "UDP")
    except TrafficError:
        return []
    backends = [(p, _pod_port(p, target, "UDP")) for p in res.service_backends(svc)]
    backends = [(p, port) for p, port in backends if port is not None]
    if not backends:
        return []
    merged: dict[tuple[object, ...], StreamSpec] = {}
    for s in wanted:
        share = s.rate / len(backends)
        for pod, port in backends:
            dst = pod_info(pod)
            key = ("dns", s.src.ident, dst.ident, port, s.start, s.stop, s.process_name)
            if key in merged:
                merged[key].rate += share
                continue
            merged[key] = StreamSpec(
                key=key,
                src=s.src,
                dst=dst,
                protocol="UDP",
                port=port,
                service=st,
                rate=share,
                duration=DNS_DURATION,
                bytes_out=DNS_BYTES_OUT,
                bytes_in=DNS_BYTES_IN,
                packets_out=1.0,
                packets_in=1.0,
                start=s.start,
                stop=s.stop,
                process_name=s.process_name,
                is_dns=True,
            )
    return list(merged.values())
