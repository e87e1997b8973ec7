"""The building blocks of rule matching: protocols, nets, ports, domains, and the packet and
peer records the engine matches rules against.

A `Peer` is one end of a connection as Felix sees it: the label class of the endpoint (all
endpoints with the same Calico labels share one), the label classes of the network sets that
hold its address, its IP as an integer, its named ports and the Services it backs. Rule parts
are compiled to tuples and sets so that matching is a handful of comparisons and set look-ups.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

from desktopviz.core.model import ContainerPort, ExternalPeer, HostEndpoint, Pod

PROTOCOL_NUMBERS: dict[str, int] = {"ICMP": 1, "TCP": 6, "UDP": 17, "ICMPV6": 58, "SCTP": 132, "UDPLITE": 136}
PROTOCOL_NAMES: dict[int, str] = {1: "ICMP", 6: "TCP", 17: "UDP", 58: "ICMPv6", 132: "SCTP", 136: "UDPLite"}
PORT_PROTOCOLS = frozenset({6, 17, 132})

# A network as (ip version, network address as int, netmask as int).
Net = tuple[int, int, int]


class PacketError(ValueError):
    """A protocol, port or address the engine cannot evaluate."""


def protocol_number(value: str | int) -> int:
    """TCP/udp/ICMPv6/… (any case) or 1-255 (int or digits) as the protocol number."""
    if isinstance(value, bool):
        raise PacketError(f"unknown protocol {value!r}")
    if isinstance(value, int):
        num = value
    else:
        text = str(value).strip()
        if text.isdigit():
            num = int(text)
        elif text.upper() in PROTOCOL_NUMBERS:
            return PROTOCOL_NUMBERS[text.upper()]
        else:
            raise PacketError(
                f"unknown protocol {value!r} (expected TCP, UDP, ICMP, ICMPv6, SCTP, UDPLite or 1-255)"
            )
    if not 1 <= num <= 255:
        raise PacketError(f"protocol number {num} out of range 1-255")
    return num


def protocol_name(num: int) -> str:
    return PROTOCOL_NAMES.get(num, str(num))


def parse_net(text: str) -> Net:
    net = ipaddress.ip_network(str(text).strip(), strict=False)
    return (net.version, int(net.network_address), int(net.netmask))


def parse_ip(text: str | None) -> tuple[int, int] | None:
    """(version, address as int), or None when there is no usable address."""
    if not text:
        return None
    try:
        addr = ipaddress.ip_address(str(text).split("/")[0].strip())
    except ValueError:
        return None
    return (addr.version, int(addr))


def in_nets(ip: tuple[int, int] | None, nets: tuple[Net, ...]) -> bool:
    if ip is None:
        return False
    version, value = ip
    for v, network, mask in nets:
        if v == version and value & mask == network:
            return True
    return False


def net_prefix_len(net: Net) -> int:
    return bin(net[2]).count("1")


def parse_port_range(port: int | str) -> tuple[int, int] | None:
    """(lo, hi) for 80 / "80" / "6040:6050"; None for a named port."""
    if isinstance(port, int):
        return (port, port)
    text = str(port).strip()
    if text.isdigit():
        return (int(text), int(text))
    if ":" in text:
        lo, hi = text.split(":", 1)
        if lo.strip().isdigit() and hi.strip().isdigit():
            return (int(lo), int(hi))
    return None


@dataclass(frozen=True)
class PortMatch:
    """A rule's `ports` or `notPorts`: numeric ranges and named ports (ORed)."""

    ranges: tuple[tuple[int, int], ...]
    names: tuple[str, ...]

    @classmethod
    def of(cls, ports: list[int | str]) -> PortMatch | None:
        if not ports:
            return None
        ranges: list[tuple[int, int]] = []
        names: list[str] = []
        for p in ports:
            r = parse_port_range(p)
            if r is None:
                names.append(str(p))
            else:
                ranges.append(r)
        return cls(tuple(ranges), tuple(names))

    def matches(self, peer: Peer, port: int | None, proto: int) -> bool:
        if port is None:
            return False
        for lo, hi in self.ranges:
            if lo <= port <= hi:
                return True
        if self.names and peer.named:
            for name in self.names:
                if (proto, port) in peer.named.get(name, ()):
                    return True
        return False


def domain_pattern(pattern: str) -> re.Pattern[str] | str:
    """An exact domain (lower case) or, with `*`, a regex where `*` stands for one or more whole
    name components (§2.11; DOCS domain-based-policy: `*.google.com` matches `www.google.com`
    and `www.ipv6.google.com`, not `google.com`)."""
    text = pattern.strip().lower().rstrip(".")
    if "*" not in text:
        return text
    return re.compile("^" + re.escape(text).replace(r"\*", ".+") + "$")


def domain_matches(patterns: tuple[re.Pattern[str] | str, ...], domain: str | None) -> bool:
    if not domain:
        return False
    name = domain.strip().lower().rstrip(".")
    for p in patterns:
        if isinstance(p, str):
            if p == name:
                return True
        elif p.match(name):
            return True
    return False


def named_ports(ports: list[ContainerPort]) -> dict[str, frozenset[tuple[int, int]]]:
    """Named container ports as name → {(protocol number, port)}."""
    out: dict[str, set[tuple[int, int]]] = {}
    for cp in ports:
        if cp.name:
            out.setdefault(cp.name, set()).add((protocol_number(cp.protocol or "TCP"), cp.port))
    return {k: frozenset(v) for k, v in out.items()}


@dataclass(eq=False)
class Peer:
    """One end of a connection, prepared for rule matching.

    `cls` is the label class of a Calico endpoint (-1 otherwise); `sets` the label classes of
    the network sets whose nets (or, for an egress destination, domains) hold it."""

    key: str
    endpoint: Pod | HostEndpoint | ExternalPeer
    cls: int
    sets: frozenset[int]
    ip: tuple[int, int] | None
    domain: str | None = None
    namespace: str | None = None
    named: dict[str, frozenset[tuple[int, int]]] = field(default_factory=dict)
    services: dict[str, frozenset[tuple[int, int]]] = field(default_factory=dict)  # svc key → target ports

    @property
    def is_calico(self) -> bool:
        return self.cls >= 0


class Packet:
    """What the rules look at besides the two peers (a plain slotted class: built per evaluation)."""

    __slots__ = ("proto", "port", "src_port", "icmp_type", "icmp_code", "ip_version")

    def __init__(
        self,
        proto: int,
        port: int | None,
        src_port: int | None = None,
        icmp_type: int | None = None,
        icmp_code: int | None = None,
        ip_version: int = 4,
    ) -> None:
        self.proto = proto
        self.port = port
        self.src_port = src_port
        self.icmp_type = icmp_type
        self.icmp_code = icmp_code
        self.ip_version = ip_version


_PROTO_CACHE: dict[str, int] = {}


def make_packet(
    protocol: str | int,
    port: int | None,
    src: Peer,
    dst: Peer,
    src_port: int | None = None,
    icmp_type: int | None = None,
    icmp_code: int | None = None,
) -> Packet:
    """Validate and build a Packet. ICMP without a type is taken as an echo request (8, or 128
    for ICMPv6), code 0, the usual `ping`."""
    proto = _PROTO_CACHE.get(protocol) if isinstance(protocol, str) else None
    if proto is None:
        proto = protocol_number(protocol)
        if isinstance(protocol, str):
            _PROTO_CACHE[protocol] = proto
    for name, value in (("port", port), ("source port", src_port)):
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 65535
        ):
            raise PacketError(f"{name} {value!r} out of range 0-65535")
    if proto in (1, 58):
        port = None
        src_port = None
        if icmp_type is None:
            icmp_type, icmp_code = (8 if proto == 1 else 128), 0
    version = (dst.ip or src.ip or (4, 0))[0]
    return Packet(proto, port, src_port, icmp_type, icmp_code, version)
