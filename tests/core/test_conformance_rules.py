"""Conformance: Calico rule fields and entity rules.

calico.md §2.10 (actions, protocols by name and number, ports, ranges, named ports, notPorts,
ICMP type/code and notICMP, ipVersion, nets/notNets, AND/OR of a rule's parts, the API
server's checks) and §2.8 (how rule selectors, namespaceSelector, notSelector and
serviceAccounts are scoped). Each docstring names the section the expectation comes from.

Base cluster (test_calico_semantics): ns1 (env=prod): client (app=client, SA client-sa
{role=frontend}), server (app=server, named ports http=8080/TCP, dns=53/UDP); ns2 (env=dev):
other (app=other, SA other-sa {role=batch}, http=9090/TCP).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_calico_semantics import CLIENT, GOOGLE, SERVER, World, gnp, hep, load, np_

from desktopviz.core.model import ExternalPeer, HostEndpoint
from desktopviz.core.scenario_yaml import ScenarioError

ALLOWED = ["0|default|default.p|allow|0"]
DENIED = ["0|default|default.p|deny|-1"]


def server_rule(tmp_path: Path, rule: str) -> World:
    """A GNP selecting the server with one ingress rule."""
    return load(tmp_path, gnp("p", f"{SERVER}\ningress:\n- {rule}"))


def ingress_trace(
    w: World, src: object, protocol: str | int = "TCP", port: int | None = 8080, **kw
) -> list[str]:
    v = w.engine.evaluate(w.ep(src), w.ep("ns1/server"), protocol, port, **kw)  # type: ignore[arg-type]
    assert v.ingress is not None
    return v.ingress.enforced_strings


# =============================================================================================
# §2.10 Protocols: names (any case) and numbers


@pytest.mark.parametrize(
    ("rule_protocol", "packet"),
    [
        ("ICMP", 1),
        ("TCP", 6),
        ("UDP", 17),
        ("ICMPv6", 58),
        ("SCTP", 132),
        ("UDPLite", 136),
        (1, "ICMP"),
        (6, "TCP"),
        (17, "UDP"),
        (58, "ICMPv6"),
        (132, "SCTP"),
        (136, "UDPLite"),
    ],
)
def test_protocol_names_and_numbers_are_the_same_protocol(
    tmp_path: Path, rule_protocol: str | int, packet: str | int
) -> None:
    """§2.10: numbers ICMP 1, TCP 6, UDP 17, ICMPv6 58, SCTP 132, UDPLite 136."""
    w = server_rule(tmp_path, f"{{action: Allow, protocol: {rule_protocol}}}")
    port = None if packet in (1, 58, "ICMP", "ICMPv6") else 8080
    assert ingress_trace(w, "ns1/client", packet, port) == ALLOWED


@pytest.mark.parametrize("spelling", ["tcp", "Tcp", "TCP", "sctp", "udplite", "icmpv6", "IcMp"])
def test_protocol_names_are_case_insensitive(tmp_path: Path, spelling: str) -> None:
    """§2.10: protocol names are case-insensitive."""
    w = server_rule(tmp_path, f"{{action: Allow, protocol: {spelling}}}")
    packet = {"tcp": "TCP", "sctp": "SCTP", "udplite": "UDPLite", "icmpv6": "ICMPv6", "icmp": "ICMP"}
    proto = packet[spelling.lower()]
    port = None if proto.startswith("ICMP") else 8080
    assert ingress_trace(w, "ns1/client", proto, port) == ALLOWED


@pytest.mark.parametrize(("packet", "expected"), [(47, ALLOWED), (50, DENIED), ("TCP", DENIED)])
def test_any_protocol_number_matches_itself_only(
    tmp_path: Path, packet: str | int, expected: list[str]
) -> None:
    """§2.10: protocol 1-255; protocol 47 (GRE) matches GRE packets only."""
    w = server_rule(tmp_path, "{action: Allow, protocol: 47}")
    port = 8080 if packet == "TCP" else None
    assert ingress_trace(w, "ns1/client", packet, port) == expected


@pytest.mark.parametrize(("packet", "expected"), [("UDP", ALLOWED), ("SCTP", ALLOWED), ("TCP", DENIED)])
def test_not_protocol_matches_every_other_protocol(tmp_path: Path, packet: str, expected: list[str]) -> None:
    """§2.10: `notProtocol`: the not* fields must fail to match."""
    w = server_rule(tmp_path, "{action: Allow, notProtocol: TCP}")
    assert ingress_trace(w, "ns1/client", packet, 8080) == expected


@pytest.mark.parametrize("packet", ["TCP", "UDP", "SCTP", "ICMP", 47])
def test_rule_without_protocol_matches_every_protocol(tmp_path: Path, packet: str | int) -> None:
    """§2.10: everything in a rule is ANDed; a field left out constrains nothing."""
    w = server_rule(tmp_path, "{action: Allow}")
    port = 8080 if packet in ("TCP", "UDP", "SCTP") else None
    assert ingress_trace(w, "ns1/client", packet, port) == ALLOWED


@pytest.mark.parametrize(
    ("value", "message"),
    [(0, "1-255"), (256, "1-255"), ("GRE", "unknown protocol"), ("tcp6", "unknown protocol")],
)
def test_invalid_protocols_are_rejected(tmp_path: Path, value: object, message: str) -> None:
    """§2.10: `TCP`, `UDP`, `ICMP`, `ICMPv6`, `SCTP`, `UDPLite` or 1-255."""
    with pytest.raises(ScenarioError, match=message):
        server_rule(tmp_path, f"{{action: Allow, protocol: {value}}}")


@pytest.mark.parametrize("action", ["Allow", "Deny", "Pass", "Log"])
def test_the_four_actions_are_accepted(tmp_path: Path, action: str) -> None:
    """§2.10: `action`: Allow, Deny, Log, Pass."""
    w = server_rule(tmp_path, f"{{action: {action}}}")
    assert w.cluster.policies["default.p"].ingress[0].action == action


def test_unknown_action_is_rejected(tmp_path: Path) -> None:
    """§2.10: only Allow, Deny, Log, Pass."""
    with pytest.raises(ScenarioError, match="unknown action"):
        server_rule(tmp_path, "{action: Drop}")


# =============================================================================================
# §2.10 Ports


@pytest.mark.parametrize(
    ("ports", "port", "expected"),
    [
        ("[8080]", 8080, ALLOWED),
        ("[8080]", 8081, DENIED),
        ("['8000:8080']", 8000, ALLOWED),  # a range includes both ends
        ("['8000:8080']", 8080, ALLOWED),
        ("['8000:8080']", 7999, DENIED),
        ("['8000:8080']", 8081, DENIED),
        ("[80, 443, '8080:8090']", 443, ALLOWED),  # entries are ORed
        ("[80, 443, '8080:8090']", 8085, ALLOWED),
        ("[80, 443, '8080:8090']", 8079, DENIED),
        ("['8080']", 8080, ALLOWED),  # a port number written as a string
        ("['8080:8080']", 8080, ALLOWED),
    ],
)
def test_destination_ports(tmp_path: Path, ports: str, port: int, expected: list[str]) -> None:
    """§2.10: ports: int `80`; range string `"6040:6050"` (inclusive); entries ORed."""
    w = server_rule(tmp_path, f"{{action: Allow, protocol: TCP, destination: {{ports: {ports}}}}}")
    assert ingress_trace(w, "ns1/client", "TCP", port) == expected


@pytest.mark.parametrize(("port", "expected"), [(80, DENIED), (443, DENIED), (8080, ALLOWED), (9000, DENIED)])
def test_not_ports_must_all_fail(tmp_path: Path, port: int, expected: list[str]) -> None:
    """§2.10: `notPorts`: the not* fields must all fail to match (ANDed with ports)."""
    w = server_rule(
        tmp_path,
        "{action: Allow, protocol: TCP, destination: {ports: ['1:8999'], notPorts: [80, 443, '8000:8079']}}",
    )
    assert ingress_trace(w, "ns1/client", "TCP", port) == expected


@pytest.mark.parametrize(("src_port", "expected"), [(40000, ALLOWED), (39999, DENIED), (50001, DENIED)])
def test_source_ports_match_the_source_port(tmp_path: Path, src_port: int, expected: list[str]) -> None:
    """§2.10: ports in `source` match the packet's source port."""
    w = server_rule(tmp_path, "{action: Allow, protocol: TCP, source: {ports: ['40000:50000']}}")
    assert ingress_trace(w, "ns1/client", "TCP", 8080, src_port=src_port) == expected


@pytest.mark.parametrize(
    ("dst", "port", "allowed"),
    [
        ("ns1/server", 8080, True),
        ("ns1/server", 9090, False),
        ("ns2/other", 9090, True),
        ("ns2/other", 8080, False),
    ],
)
def test_named_port_resolves_per_destination_endpoint(
    tmp_path: Path, dst: str, port: int, allowed: bool
) -> None:
    """§2.10: a named port is resolved per endpoint from the pod's container ports (server
    http=8080, other http=9090)."""
    w = load(
        tmp_path,
        gnp(
            "p",
            "selector: app in {'server', 'other'}\ningress:\n- {action: Allow, protocol: TCP, destination: {ports: [http]}}",
        ),
    )
    v = w.ev("ns1/client", dst, "TCP", port)
    assert v.ingress is not None
    assert v.ingress.enforced_strings == (ALLOWED if allowed else DENIED)


@pytest.mark.parametrize(
    ("rule", "protocol", "expected"),
    [
        ("{action: Allow, destination: {ports: [dns]}}", "UDP", ALLOWED),  # no protocol: allowed
        ("{action: Allow, destination: {ports: [dns]}}", "TCP", DENIED),  # dns is 53/UDP
        ("{action: Allow, protocol: UDP, destination: {ports: [dns]}}", "UDP", ALLOWED),
        ("{action: Allow, protocol: TCP, destination: {ports: [dns]}}", "TCP", DENIED),
    ],
)
def test_named_port_carries_its_container_protocol(
    tmp_path: Path, rule: str, protocol: str, expected: list[str]
) -> None:
    """§2.10: named ports are allowed with no protocol; the name resolves to the container's
    (protocol, port), so `dns` (53/UDP) never matches TCP 53."""
    w = server_rule(tmp_path, rule)
    assert ingress_trace(w, "ns1/client", protocol, 53) == expected


def test_unknown_port_name_matches_nothing(tmp_path: Path) -> None:
    """§2.10: a port name the destination pod does not define matches no port."""
    w = server_rule(tmp_path, "{action: Allow, protocol: TCP, destination: {ports: [metrics]}}")
    assert ingress_trace(w, "ns1/client", "TCP", 8080) == DENIED


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("{action: Allow, destination: {ports: [80]}}", "need protocol"),
        ("{action: Allow, destination: {ports: ['80:90']}}", "need protocol"),
        ("{action: Allow, protocol: ICMP, destination: {ports: [80]}}", "ports need TCP, UDP or SCTP"),
        ("{action: Allow, protocol: TCP, destination: {ports: ['90:80']}}", "invalid port range"),
        ("{action: Allow, protocol: TCP, destination: {ports: [0]}}", "1-65535"),
        ("{action: Allow, protocol: TCP, destination: {ports: [65536]}}", "1-65535"),
    ],
)
def test_port_validation(tmp_path: Path, rule: str, message: str) -> None:
    """§2.10: numeric ports or ranges require protocol TCP, UDP or SCTP."""
    with pytest.raises(ScenarioError, match=message):
        server_rule(tmp_path, rule)


@pytest.mark.parametrize("protocol", ["TCP", "UDP", "SCTP"])
def test_numeric_ports_with_a_port_protocol_are_accepted(tmp_path: Path, protocol: str) -> None:
    """§2.10: numeric ports are fine with TCP, UDP or SCTP."""
    w = server_rule(tmp_path, f"{{action: Allow, protocol: {protocol}, destination: {{ports: [8080]}}}}")
    assert ingress_trace(w, "ns1/client", protocol, 8080) == ALLOWED


def test_at_most_50_ports(tmp_path: Path) -> None:
    """§2.10: `ports`/`notPorts` at most 50 entries."""
    ok = ", ".join(str(1000 + i) for i in range(50))
    server_rule(tmp_path, f"{{action: Allow, protocol: TCP, destination: {{ports: [{ok}]}}}}")
    too_many = ", ".join(str(1000 + i) for i in range(51))
    with pytest.raises(ScenarioError, match="at most 50"):
        server_rule(tmp_path, f"{{action: Allow, protocol: TCP, destination: {{notPorts: [{too_many}]}}}}")


# =============================================================================================
# §2.10 ICMP


@pytest.mark.parametrize(
    ("match", "icmp_type", "icmp_code", "matches"),
    [
        ("icmp: {type: 8}", 8, 0, True),
        ("icmp: {type: 8}", 8, 5, True),  # type only: any code
        ("icmp: {type: 8}", 0, 0, False),
        ("icmp: {type: 3, code: 4}", 3, 4, True),
        ("icmp: {type: 3, code: 4}", 3, 1, False),
        ("icmp: {type: 3, code: 4}", 4, 4, False),
        ("icmp: {type: 0}", 0, 0, True),  # type 0 (echo reply) is a real type
        ("notICMP: {type: 8}", 8, 0, False),
        ("notICMP: {type: 8}", 0, 0, True),
        ("notICMP: {type: 3, code: 4}", 3, 4, False),
        ("notICMP: {type: 3, code: 4}", 3, 1, True),  # only the exact (type, code) is excluded
        ("notICMP: {type: 3, code: 4}", 11, 0, True),
    ],
)
def test_icmp_type_and_code(
    tmp_path: Path, match: str, icmp_type: int, icmp_code: int, matches: bool
) -> None:
    """§2.10: `icmp`/`notICMP` with type and optional code."""
    w = server_rule(tmp_path, f"{{action: Allow, protocol: ICMP, {match}}}")
    got = ingress_trace(w, "ns1/client", "ICMP", None, icmp_type=icmp_type, icmp_code=icmp_code)
    assert got == (ALLOWED if matches else DENIED)


def test_icmp_match_does_not_match_other_protocols(tmp_path: Path) -> None:
    """§2.10: everything in a rule is ANDed; an ICMP type match needs an ICMP packet."""
    w = load(
        tmp_path, gnp("p", f"{SERVER}\ningress:\n- {{action: Allow, protocol: ICMP, icmp: {{type: 8}}}}")
    )
    assert ingress_trace(w, "ns1/client", "TCP", 8080) == DENIED


def test_icmpv6_rule_with_type(tmp_path: Path) -> None:
    """§2.10: `icmp` with protocol ICMPv6 (echo request 128)."""
    w = server_rule(tmp_path, "{action: Allow, protocol: ICMPv6, icmp: {type: 128}}")
    assert ingress_trace(w, "ns1/client", "ICMPv6", None, icmp_type=128, icmp_code=0) == ALLOWED
    assert ingress_trace(w, "ns1/client", "ICMPv6", None, icmp_type=129, icmp_code=0) == DENIED


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("{action: Allow, icmp: {type: 8}}", "need protocol ICMP or ICMPv6"),
        ("{action: Allow, protocol: TCP, icmp: {type: 8}}", "need protocol ICMP or ICMPv6"),
        ("{action: Allow, protocol: ICMP, icmp: {code: 0}}", "code needs a type"),
        ("{action: Allow, protocol: ICMP, icmp: {type: 255}}", "254"),
        ("{action: Allow, protocol: ICMP, icmp: {type: 3, code: 256}}", "255"),
        ("{action: Allow, protocol: ICMP, ipVersion: 6}", "needs ipVersion 4"),
        ("{action: Allow, protocol: ICMPv6, ipVersion: 4}", "needs ipVersion 6"),
    ],
)
def test_icmp_validation(tmp_path: Path, rule: str, message: str) -> None:
    """§2.10: type 0-254, code 0-255; code needs type; needs protocol ICMP/ICMPv6; ICMP needs
    ipVersion 4, ICMPv6 needs 6."""
    with pytest.raises(ScenarioError, match=message):
        server_rule(tmp_path, rule)


# =============================================================================================
# §2.10 ipVersion, nets and notNets


@pytest.mark.parametrize(("version", "expected"), [(4, ALLOWED), (6, DENIED)])
def test_ip_version(tmp_path: Path, version: int, expected: list[str]) -> None:
    """§2.10: `ipVersion` 4 or 6; the pods here are IPv4."""
    w = server_rule(tmp_path, f"{{action: Allow, ipVersion: {version}}}")
    assert ingress_trace(w, "ns1/client") == expected


def test_ip_version_5_is_rejected(tmp_path: Path) -> None:
    """§2.10: `ipVersion` 4 or 6."""
    with pytest.raises(ScenarioError, match="ipVersion"):
        server_rule(tmp_path, "{action: Allow, ipVersion: 5}")


@pytest.mark.parametrize(
    ("source", "ip", "expected"),
    [
        ("nets: [1.2.3.0/24, 5.6.0.0/16]", "1.2.3.4", ALLOWED),  # entries ORed
        ("nets: [1.2.3.0/24, 5.6.0.0/16]", "5.6.7.8", ALLOWED),
        ("nets: [1.2.3.0/24, 5.6.0.0/16]", "1.2.4.1", DENIED),
        ("nets: [1.2.3.4]", "1.2.3.4", ALLOWED),  # a single address is a /32
        ("nets: [1.2.3.4]", "1.2.3.5", DENIED),
        ("notNets: [1.2.3.0/24, 5.6.0.0/16]", "5.6.7.8", DENIED),  # all must fail
        ("notNets: [1.2.3.0/24, 5.6.0.0/16]", "9.9.9.9", ALLOWED),
        ("{nets: [1.2.0.0/16], notNets: [1.2.3.0/24]}", "1.2.9.9", ALLOWED),  # ANDed
        ("{nets: [1.2.0.0/16], notNets: [1.2.3.0/24]}", "1.2.3.9", DENIED),
        ("nets: ['2001:db8::/32']", "1.2.3.4", DENIED),  # other IP version
    ],
)
def test_source_nets(tmp_path: Path, source: str, ip: str, expected: list[str]) -> None:
    """§2.10: `nets`/`notNets` CIDR lists; inside a list entries are ORed, not* must all fail."""
    src = source if source.startswith("{") else "{" + source + "}"
    w = server_rule(tmp_path, f"{{action: Allow, source: {src}}}")
    assert ingress_trace(w, ExternalPeer(ip=ip)) == expected


def test_nets_match_calico_endpoints_too(tmp_path: Path) -> None:
    """§2.10 / §2.11: nets match by address, so a pod whose IP is inside matches."""
    w = load(tmp_path)
    ip = w.cluster.pods["ns1/client"].ip
    w = server_rule(tmp_path, f"{{action: Allow, source: {{nets: ['{ip}/32']}}}}")
    assert ingress_trace(w, "ns1/client") == ALLOWED
    assert ingress_trace(w, "ns2/other") == DENIED


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{nets: [10.0.0.0/8, 'fd00::/8']}", "cannot be mixed"),
        ("{notNets: [0.0.0.0/0]}", "not allowed in notNets"),
        ("{nets: [10.0.0.0/33]}", "invalid CIDR"),
        ("{nets: [not-a-net]}", "invalid CIDR"),
    ],
)
def test_nets_validation(tmp_path: Path, source: str, message: str) -> None:
    """§2.10: IPv4 and IPv6 must not be mixed in one rule; `0.0.0.0/0` in notNets is rejected."""
    with pytest.raises(ScenarioError, match=message):
        server_rule(tmp_path, f"{{action: Allow, source: {source}}}")


def test_at_most_256_nets(tmp_path: Path) -> None:
    """§2.10: `nets`/`notNets` at most 256."""
    nets = ", ".join(f"10.{i // 256}.{i % 256}.0/24" for i in range(257))
    with pytest.raises(ScenarioError, match="at most 256"):
        server_rule(tmp_path, f"{{action: Allow, source: {{nets: [{nets}]}}}}")


def test_every_part_of_a_rule_is_anded(tmp_path: Path) -> None:
    """§2.10: everything in a rule is ANDed: protocol, source selector and destination port."""
    w = server_rule(
        tmp_path,
        "{action: Allow, protocol: TCP, source: {selector: app == 'client'}, destination: {ports: [8080]}}",
    )
    assert ingress_trace(w, "ns1/client", "TCP", 8080) == ALLOWED
    assert ingress_trace(w, "ns1/client", "TCP", 8081) == DENIED
    assert ingress_trace(w, "ns1/client", "UDP", 8080) == DENIED
    assert ingress_trace(w, "ns2/other", "TCP", 8080) == DENIED


# =============================================================================================
# §2.8 Entity rule selectors


def np_server_rule(tmp_path: Path, rule: str, *extra: str) -> World:
    """A ns1 NetworkPolicy selecting the server with one ingress rule."""
    return load(tmp_path, *extra, np_("p", "ns1", f"{SERVER}\ningress:\n- {rule}"))


NP_ALLOWED = ["0|default|ns1/default.p|allow|0"]
NP_DENIED = ["0|default|ns1/default.p|deny|-1"]


@pytest.mark.parametrize(
    ("source", "src", "expected"),
    [
        # no selector fields: any source, external included
        ("{}", "ns2/other", NP_ALLOWED),
        ("{}", GOOGLE, NP_ALLOWED),
        ("{nets: [8.8.8.0/24]}", GOOGLE, NP_ALLOWED),
        # a selector is scoped to the policy's namespace
        ("{selector: all()}", "ns1/client", NP_ALLOWED),
        ("{selector: all()}", "ns2/other", NP_DENIED),
        ("{selector: all()}", GOOGLE, NP_DENIED),
        ("{selector: app == 'other'}", "ns2/other", NP_DENIED),
        # notSelector also adds the namespace clause (its positive part)
        ("{notSelector: app == 'nobody'}", "ns1/client", NP_ALLOWED),
        ("{notSelector: app == 'nobody'}", "ns2/other", NP_DENIED),
        ("{notSelector: app == 'nobody'}", GOOGLE, NP_DENIED),
        # namespaceSelector replaces the namespace clause
        ("{namespaceSelector: env == 'dev'}", "ns2/other", NP_ALLOWED),
        ("{namespaceSelector: env == 'dev'}", "ns1/client", NP_DENIED),
        ("{namespaceSelector: env == 'dev', selector: app == 'other'}", "ns2/other", NP_ALLOWED),
        ("{namespaceSelector: env == 'dev', selector: app == 'client'}", "ns2/other", NP_DENIED),
        ("{namespaceSelector: all()}", "ns2/other", NP_ALLOWED),
        ("{namespaceSelector: all()}", GOOGLE, NP_DENIED),
        ("{namespaceSelector: global()}", "ns1/client", NP_DENIED),
        ("{namespaceSelector: global()}", GOOGLE, NP_DENIED),
        # namespaceSelector labels are the namespace's labels (pcns. prefix), incl. the name label
        ("{namespaceSelector: projectcalico.org/name == 'ns2'}", "ns2/other", NP_ALLOWED),
        ("{namespaceSelector: kubernetes.io/metadata.name == 'ns2'}", "ns2/other", NP_ALLOWED),
        # serviceAccounts: names and selector, scoped to the policy namespace
        ("{serviceAccounts: {names: [client-sa]}}", "ns1/client", NP_ALLOWED),
        ("{serviceAccounts: {names: [other-sa]}}", "ns2/other", NP_DENIED),
        ("{serviceAccounts: {names: [other-sa]}, namespaceSelector: all()}", "ns2/other", NP_ALLOWED),
        ("{serviceAccounts: {selector: role == 'frontend'}}", "ns1/client", NP_ALLOWED),
        ("{serviceAccounts: {selector: role == 'batch'}, namespaceSelector: all()}", "ns2/other", NP_ALLOWED),
        ("{serviceAccounts: {names: [client-sa], selector: role == 'batch'}}", "ns1/client", NP_DENIED),
        ("{serviceAccounts: {names: [client-sa]}, selector: app == 'client'}", "ns1/client", NP_ALLOWED),
        ("{serviceAccounts: {names: [client-sa]}, selector: app == 'server'}", "ns1/client", NP_DENIED),
    ],
)
def test_network_policy_rule_source_scoping(
    tmp_path: Path, source: str, src: object, expected: list[str]
) -> None:
    """§2.8 EntityRule: namespaceSelector → `pcns.` prefix, all() → every namespaced endpoint,
    global() → only non-namespaced; no namespaceSelector in a NetworkPolicy → the policy's
    namespace, added only if the rule has a selector, notSelector or namespaceSelector (or
    serviceAccounts, ANDed with the selector); serviceAccounts.names → `projectcalico.org/
    serviceaccount in {…}`, .selector → `pcsa.` prefix."""
    w = np_server_rule(tmp_path, f"{{action: Allow, source: {source}}}")
    port = 8080
    assert ingress_trace(w, src, "TCP", port) == expected


@pytest.mark.parametrize(
    ("source", "src", "expected"),
    [
        ("{selector: app == 'other'}", "ns2/other", ALLOWED),  # no namespace clause in a GNP
        ("{selector: all()}", "node-1-eth0", ALLOWED),  # every WEP and HEP
        ("{selector: all()}", GOOGLE, DENIED),
        ("{selector: '!has(app)'}", GOOGLE, DENIED),  # a selector only matches Calico endpoints
        ("{notSelector: has(app)}", GOOGLE, ALLOWED),  # notSelector also matches plain IPs
        ("{notSelector: has(app)}", "ns2/other", DENIED),
        ("{namespaceSelector: all()}", "node-1-eth0", DENIED),  # only namespaced endpoints
        ("{namespaceSelector: global()}", "node-1-eth0", ALLOWED),
        ("{namespaceSelector: global()}", "ns2/other", DENIED),
        ("{namespaceSelector: env == 'prod'}", "ns1/client", ALLOWED),
        ("{namespaceSelector: env == 'prod'}", "ns2/other", DENIED),
        ("{serviceAccounts: {names: [other-sa]}}", "ns2/other", ALLOWED),
    ],
)
def test_global_policy_rule_source_scoping(
    tmp_path: Path, source: str, src: object, expected: list[str]
) -> None:
    """§2.8: a GNP rule selector covers all endpoints (WEPs, HEPs, network sets) in every
    namespace; `!` inside a selector only matches Calico endpoints, notSelector also plain IPs;
    namespaceSelector all()/global() split namespaced from non-namespaced endpoints."""
    w = load(
        tmp_path,
        hep(["projectcalico-default-allow"]),
        gnp("p", f"{SERVER}\ningress:\n- {{action: Allow, source: {source}}}"),
    )
    assert ingress_trace(w, src) == expected


@pytest.mark.parametrize(
    ("policy", "selected"),
    [
        ("namespaceSelector: env == 'dev'", {"ns2/other"}),
        ("namespaceSelector: all()", {"ns1/client", "ns1/server", "ns2/other"}),
        ("selector: app == 'client'\nnamespaceSelector: env == 'prod'", {"ns1/client"}),
        ("serviceAccountSelector: role == 'batch'", {"ns2/other"}),
        ("serviceAccountSelector: all()", {"ns1/client", "ns1/server", "ns2/other"}),
        ("selector: all()", {"ns1/client", "ns1/server", "ns2/other", "node-1-eth0"}),
        ("selector: ''", {"ns1/client", "ns1/server", "ns2/other", "node-1-eth0"}),
    ],
)
def test_global_policy_selection(tmp_path: Path, policy: str, selected: set[str]) -> None:
    """§2.8 GlobalNetworkPolicy: namespaceSelector → `pcns.` ANDed, all() becomes
    has(projectcalico.org/namespace); serviceAccountSelector → `pcsa.`, all() becomes
    has(projectcalico.org/serviceaccount); empty selector = all() = every WEP and HEP."""
    w = load(tmp_path, hep(None), gnp("p", f"{policy}\ningress:\n- action: Deny"))
    got = {e.name if isinstance(e, HostEndpoint) else e.key for e in w.engine.selected_endpoints("default.p")}
    assert got == selected


@pytest.mark.parametrize(
    ("policy", "selected"),
    [
        ("selector: all()", {"ns1/client", "ns1/server"}),
        ("selector: ''", {"ns1/client", "ns1/server"}),
        ("selector: app == 'other'", set()),
        ("serviceAccountSelector: role == 'frontend'", {"ns1/client"}),
    ],
)
def test_network_policy_selection_is_its_namespace(tmp_path: Path, policy: str, selected: set[str]) -> None:
    """§2.8 NetworkPolicy: `(<selector>) && projectcalico.org/namespace == '<ns>'` (just the
    namespace clause if empty); serviceAccountSelector → `pcsa.` prefix, ANDed."""
    w = load(tmp_path, hep(None), np_("p", "ns1", f"{policy}\ningress:\n- action: Deny"))
    got = {e.key for e in w.engine.selected_endpoints("ns1/default.p")}  # type: ignore[union-attr]
    assert got == selected


@pytest.mark.parametrize(
    "doc",
    [
        gnp("p", "selector: global()\ningress:\n- action: Deny"),
        gnp("p", "namespaceSelector: global()\ningress:\n- action: Deny"),
        gnp("p", f"{SERVER}\ningress:\n- {{action: Allow, source: {{selector: global()}}}}"),
        gnp(
            "p", f"{SERVER}\ningress:\n- {{action: Allow, source: {{namespaceSelector: global() || all()}}}}"
        ),
        gnp("p", f"{SERVER}\ningress:\n- {{action: Allow, source: {{notSelector: global()}}}}"),
    ],
    ids=["policy-selector", "policy-ns-selector", "rule-selector", "rule-ns-selector-part", "not-selector"],
)
def test_global_function_only_as_a_whole_rule_namespace_selector(tmp_path: Path, doc: str) -> None:
    """§2.8 / §3.4: `global()` is allowed only in an EntityRule namespaceSelector, and there it
    must be the whole selector."""
    with pytest.raises(ScenarioError, match="global"):
        load(tmp_path, doc)


@pytest.mark.parametrize(
    ("entity", "message"),
    [
        ("{services: {name: web, namespace: ns1}, selector: app == 'server'}", "cannot be combined"),
        ("{services: {name: web, namespace: ns1}, nets: [10.0.0.0/8]}", "cannot be combined"),
        ("{domains: [example.com], nets: [10.0.0.0/8]}", "cannot be combined"),
    ],
)
def test_services_and_domains_exclusions(tmp_path: Path, entity: str, message: str) -> None:
    """§2.10: `services` cannot be combined with selector, notSelector, namespaceSelector, nets,
    serviceAccounts; `domains`: nets and selector must be empty."""
    with pytest.raises(ScenarioError, match=message):
        load(tmp_path, gnp("p", f"{CLIENT}\negress:\n- {{action: Allow, destination: {entity}}}"))


@pytest.mark.parametrize(
    "rule",
    [
        "{action: Deny, destination: {domains: [example.com]}}",
        "{action: Pass, destination: {domains: [example.com]}}",
    ],
)
def test_domains_only_in_egress_allow_rules(tmp_path: Path, rule: str) -> None:
    """§2.10: `domains` (Enterprise): egress Allow rules only."""
    with pytest.raises(ScenarioError, match="domains"):
        load(tmp_path, gnp("p", f"{CLIENT}\negress:\n- {rule}"))
    with pytest.raises(ScenarioError, match="domains"):
        load(
            tmp_path, gnp("q", f"{SERVER}\ningress:\n- {{action: Allow, source: {{domains: [example.com]}}}}")
        )


@pytest.mark.parametrize(
    "rule",
    [
        "{action: Deny, http: {methods: [GET]}}",
        "{action: Allow, protocol: UDP, http: {methods: [GET]}}",
    ],
)
def test_http_match_only_in_allow_tcp_rules(tmp_path: Path, rule: str) -> None:
    """§2.10: HTTP match: Allow rules only, TCP only."""
    with pytest.raises(ScenarioError, match="HTTP"):
        server_rule(tmp_path, rule)
