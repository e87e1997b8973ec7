"""Traffic entries of a Scenario document: endpoint references, rates, sizes and times.

Parsed here as written; :mod:`desktopviz.core.scenario_refs` later checks that the ends
exist and resolves port names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from desktopviz.core.model import EndpointRef, Traffic
from desktopviz.core.scenario_docs import valid_ip
from desktopviz.core.scenario_rule_fields import check_domain
from desktopviz.core.scenario_rules import location
from desktopviz.core.scenario_yaml import Node, describe

REF_KINDS = ("workload", "pod", "service", "external", "ip", "domain", "hostendpoint")
_REF_ALIASES = {"hostEndpoint": "hostendpoint"}
TRAFFIC_FIELDS = frozenset(
    {
        "from",
        "to",
        "port",
        "protocol",
        "rate",
        "duration",
        "bytes",
        "bytesOut",
        "bytesIn",
        "replyRatio",
        "packets",
        "packetsOut",
        "packetsIn",
        "dns",
        "start",
        "stop",
        "process",
        "description",
    }
)
TRAFFIC_PROTOCOLS = {"tcp": "TCP", "udp": "UDP", "sctp": "SCTP", "icmp": "ICMP", "icmpv6": "ICMPv6"}
_DURATION = re.compile(
    r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m(?!s))?(?:(\d+(?:\.\d+)?)s)?(?:(\d+(?:\.\d+)?)ms)?$"
)


def parse_duration(node: Node, *, positive: bool = False) -> float | None:
    """Seconds from a number or a duration like `90s`, `10m`, `1h30m`, `500ms`."""
    v = node.value
    seconds: float | None = None
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        seconds = float(v)
    elif isinstance(v, str):
        m = _DURATION.match(v.strip())
        if m and any(m.groups()):
            h, mi, s, ms = (float(g) if g else 0.0 for g in m.groups())
            seconds = h * 3600 + mi * 60 + s + ms / 1000
    if seconds is None:
        node.error(f"expected seconds or a duration like '90s', '10m', '1h30m', got {describe(v)}")
        return None
    if seconds < 0 or (positive and seconds == 0):
        node.error(f"must be {'greater than 0' if positive else 'at least 0'}, got {v}")
        return None
    return seconds


@dataclass
class TrafficDraft:
    """A traffic entry before its ends are checked: the port may still be a name."""

    traffic: Traffic
    node: Node
    port: int | str | None
    protocol_given: bool


def parse_ref(node: Node) -> EndpointRef | None:
    """`{workload: ns/name}` (one key) or the string form `workload:ns/name`."""
    kind: str | None = None
    value: object = None
    target = node
    if isinstance(node.value, str) and ":" in node.value:
        kind, _, value = node.value.partition(":")
        kind = _REF_ALIASES.get(kind.strip(), kind.strip())
        value = str(value).strip()
    elif isinstance(node.value, dict) and len(node.value) == 1:
        (key, target), *_ = node.entries()
        kind = _REF_ALIASES.get(key, key)
        value = target.value
    else:
        node.error(
            f"expected one of {', '.join(REF_KINDS)} (e.g. 'workload: ns/name'), got {describe(node.value)}"
        )
        return None
    if kind not in REF_KINDS:
        target.error(f"unknown endpoint kind {kind!r} (expected one of {', '.join(REF_KINDS)})")
        return None
    if not isinstance(value, str) or not value:
        target.error(f"expected a string, got {describe(value)}")
        return None
    if kind in ("workload", "pod", "service") and value.count("/") != 1:
        target.error(f"expected namespace/name, got {value!r}")
        return None
    if kind == "ip":
        ip = valid_ip(value)
        if ip is None:
            target.error(f"invalid IP address {value!r}")
            return None
        value = ip
    if kind == "domain":
        dom = check_domain(Node(value, target.file, target.line, target.col, target.path, target.issues))
        if dom is None:
            return None
        value = dom
    return EndpointRef(kind, value)  # type: ignore[arg-type]


def _num(node: Node, key: str, *, integer: bool = False, positive: bool = False) -> float | int | None:
    child = node.get(key)
    if child is None:
        return None
    if integer:
        return child.as_int(0)
    value = child.as_number(0)
    if value is not None and positive and value == 0:
        child.error("must be greater than 0")
        return None
    return value


def parse_traffic(node: Node) -> TrafficDraft | None:
    if not node.is_map():
        return None
    node.check_keys(TRAFFIC_FIELDS, "a traffic entry")
    refs = []
    for key in ("from", "to"):
        child = node.get(key)
        if child is None:
            node.missing(key)
            refs.append(None)
        else:
            refs.append(parse_ref(child))
    port: int | str | None = None
    pnode = node.get("port")
    if pnode is not None:
        if isinstance(pnode.value, str) and not pnode.value.isdigit():
            port = pnode.value
        else:
            port = pnode.as_int(1, 65535) if not isinstance(pnode.value, str) else int(pnode.value)
    protocol = "TCP"
    proto = node.get("protocol")
    if proto is not None:
        if isinstance(proto.value, str) and proto.value.lower() in TRAFFIC_PROTOCOLS:
            protocol = TRAFFIC_PROTOCOLS[proto.value.lower()]
        else:
            proto.error(f"unknown protocol {proto.value!r} (expected TCP, UDP, SCTP, ICMP or ICMPv6)")
    t = Traffic(
        source=EndpointRef("ip", "0.0.0.0"), destination=EndpointRef("ip", "0.0.0.0"), protocol=protocol
    )
    for key, attr, kw in (
        ("rate", "rate", {"positive": True}),
        ("replyRatio", "reply_ratio", {}),
    ):
        value = _num(node, key, **kw)  # type: ignore[arg-type]
        if value is not None:
            setattr(t, attr, float(value))
    for keys, attr in ((("bytes", "bytesOut"), "bytes_out"), (("packets", "packetsOut"), "packets_out")):
        for key in keys:
            value = _num(node, key, integer=True)
            if value is not None:
                setattr(t, attr, int(value))
    for key, attr in (("bytesIn", "bytes_in"), ("packetsIn", "packets_in")):
        value = _num(node, key, integer=True)
        if value is not None:
            setattr(t, attr, int(value))
    for key, attr in (("duration", "duration"), ("start", "start"), ("stop", "stop")):
        child = node.get(key)
        if child is not None:
            secs = parse_duration(child)
            if secs is not None:
                setattr(t, attr, secs)
    if t.stop is not None and t.stop <= t.start:
        node.get("stop").error("stop must be after start")  # type: ignore[union-attr]
    dns = node.get("dns")
    t.dns = bool(dns.as_bool()) if dns is not None else False
    proc = node.get("process")
    t.process_name = proc.as_str() if proc is not None else None
    t.location = location(node)
    if refs[0] is None or refs[1] is None:
        return None
    t.source, t.destination = refs[0], refs[1]
    return TrafficDraft(t, node, port, proto is not None)
