"""Random Calico rules against a matcher written from calico.md §2.10: everything in a rule is
ANDed, entries inside a list are ORed, every `not*` field must fail to match; numeric ports and
ranges, named ports resolved on the destination pod (http=8080/TCP, dns=53/UDP), ICMP type and
code, nets/notNets on the source address; the first matching rule that is not `Log` decides.

The cluster is test_calico_semantics' base one; each example is one GlobalNetworkPolicy on the
server with up to three ingress rules, probed with several packets from the client pod and from
two outside addresses. The expected entry is `0|default|default.p|<action>|<index>` or the
end-of-tier deny.
"""

from __future__ import annotations

import ipaddress
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_calico_semantics import SERVER, gnp, load

from desktopviz.core.model import ExternalPeer

PROTO = {"TCP": 6, "UDP": 17, "ICMP": 1, "SCTP": 132}
NAMED = {"http": {(6, 8080)}, "dns": {(17, 53)}}  # the server's container ports
NETS = ["10.0.0.0/8", "8.8.8.0/24", "8.8.8.8/32", "203.0.113.0/24", "0.0.0.0/0"]
PORTS: list[int | str] = [53, 8080, 9090, "8000:8090", "50:60", "http", "dns"]
# (protocol, port, icmp type, icmp code)
PACKETS = [
    ("TCP", 8080, None, None),
    ("TCP", 9090, None, None),
    ("UDP", 53, None, None),
    ("UDP", 8080, None, None),
    ("SCTP", 8085, None, None),
    ("ICMP", None, 8, 0),
    ("ICMP", None, 3, 4),
]
SOURCES = ["ns1/client", "8.8.8.8", "203.0.113.9"]


@st.composite
def _rule(draw: st.DrawFn) -> dict[str, object]:
    proto = draw(st.sampled_from([None, "TCP", "UDP", "ICMP", "SCTP", 6, 17]))
    rule: dict[str, object] = {"action": draw(st.sampled_from(["Allow", "Deny", "Log", "Pass"]))}
    if proto is not None:
        rule["protocol"] = proto
    if draw(st.booleans()):
        rule["notProtocol"] = draw(st.sampled_from(["TCP", "UDP", "ICMP"]))
    numeric_ok = proto in ("TCP", "UDP", "SCTP", 6, 17)
    # Calico: numeric ports need TCP/UDP/SCTP, named ports also go without a protocol, and a
    # protocol without ports (ICMP) takes no ports at all (validator.go validateRule)
    choices = PORTS if numeric_ok else ["http", "dns"]
    dst: dict[str, object] = {}
    for key in ("ports", "notPorts"):
        if proto != "ICMP" and draw(st.booleans()):
            dst[key] = draw(st.lists(st.sampled_from(choices), min_size=1, max_size=3, unique=True))
    src: dict[str, object] = {}
    for key in ("nets", "notNets"):
        pool = NETS if key == "nets" else NETS[:-1]  # 0.0.0.0/0 is not allowed in notNets
        if draw(st.booleans()):
            src[key] = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=2, unique=True))
    if proto == "ICMP":
        for key in ("icmp", "notICMP"):
            if draw(st.booleans()):
                match: dict[str, int] = {"type": draw(st.sampled_from([3, 8]))}
                if draw(st.booleans()):
                    match["code"] = draw(st.sampled_from([0, 4]))
                rule[key] = match
    if dst:
        rule["destination"] = dst
    if src:
        rule["source"] = src
    return rule


def _flow(value: object) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    if isinstance(value, str) and ":" in value:
        return f"'{value}'"
    return str(value)


def _num(proto: object) -> int:
    return proto if isinstance(proto, int) else PROTO[str(proto)]


def _port_match(entries: list, proto: int, port: int | None) -> bool:
    if port is None:
        return False
    for e in entries:
        if isinstance(e, int):
            if e == port:
                return True
        elif ":" in e:
            lo, hi = (int(x) for x in e.split(":"))
            if lo <= port <= hi:
                return True
        elif (proto, port) in NAMED[e]:
            return True
    return False


def _in(ip: str, nets: list) -> bool:
    return any(ipaddress.ip_address(ip) in ipaddress.ip_network(n) for n in nets)


def _ref_match(rule: dict, src_ip: str, pkt: tuple) -> bool:
    proto_name, port, itype, icode = pkt
    proto = PROTO[proto_name]
    if "protocol" in rule and _num(rule["protocol"]) != proto:
        return False
    if "notProtocol" in rule and _num(rule["notProtocol"]) == proto:
        return False
    for key, negate in (("icmp", False), ("notICMP", True)):
        m = rule.get(key)
        if m is None:
            continue
        hit = itype == m["type"] and ("code" not in m or icode == m["code"])
        if hit == negate:
            return False
    dst = rule.get("destination", {})
    if "ports" in dst and not _port_match(dst["ports"], proto, port):
        return False
    if "notPorts" in dst and _port_match(dst["notPorts"], proto, port):
        return False
    src = rule.get("source", {})
    if "nets" in src and not _in(src_ip, src["nets"]):
        return False
    if "notNets" in src and _in(src_ip, src["notNets"]):
        return False
    return True


def _expected(rules: list[dict], src_ip: str, pkt: tuple) -> str:
    for i, rule in enumerate(rules):
        if rule["action"] != "Log" and _ref_match(rule, src_ip, pkt):
            action = str(rule["action"]).lower()
            return f"0|default|default.p|{action}|{i}"
    return "0|default|default.p|deny|-1"


@settings(
    max_examples=int(os.environ.get("DESKTOPVIZ_CONFORMANCE_EXAMPLES", "40")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(rules=st.lists(_rule(), min_size=1, max_size=3))
def test_random_rules_match_the_reference(
    rules: list[dict[str, object]], tmp_path_factory: pytest.TempPathFactory
) -> None:
    body = f"{SERVER}\ningress:\n" + "\n".join(f"- {_flow(r)}" for r in rules)
    w = load(tmp_path_factory.mktemp("rules"), gnp("p", body))
    server = w.cluster.pods["ns1/server"]
    for src in SOURCES:
        peer = w.cluster.pods[src] if "/" in src else ExternalPeer(ip=src)
        src_ip = peer.ip
        assert src_ip is not None
        for pkt in PACKETS:
            proto, port, itype, icode = pkt
            v = w.engine.evaluate(peer, server, proto, port, icmp_type=itype, icmp_code=icode)
            assert v.ingress is not None
            want = _expected(rules, src_ip, pkt)
            if want.split("|")[3] == "pass":  # Pass from the last tier goes on to the profile
                want_trace = [want, "1|__PROFILE__|__PROFILE__.kns.ns1|allow|0"]
            else:
                want_trace = [want]
            assert v.ingress.enforced_strings == want_trace, f"{src} {pkt}\n{body}"
