"""Conformance: Kubernetes NetworkPolicy conversion and its verdicts (calico.md §2.9, §2.2, §2.4).

Each case writes the NetworkPolicy a user would apply, loads it with the base cluster of
test_calico_semantics (ns1: client app=client, server app=server with http=8080/TCP and
dns=53/UDP; ns2 env=dev: other app=other) and checks either the Calico form of the converted
policy or the engine's verdict and trace. Docstrings name the section each expectation is from.
The 9x9 x/y/z truth tables are in test_conformance_k8s.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_calico_semantics import GOOGLE, PROFILE_NS1, World, gnp, knp, load, np_, tier

from desktopviz.core.model import ExternalPeer
from desktopviz.core.scenario_yaml import ScenarioError

SERVER_POD = "podSelector: {matchLabels: {app: server}}"
K_ALLOW = ["0|default|ns1/knp.default.k|allow|0"]
K_DENY = ["0|default|ns1/knp.default.k|deny|-1"]


def k(tmp_path: Path, body: str, *extra: str) -> World:
    return load(tmp_path, *extra, knp("k", "ns1", body))


def trace_in(
    w: World, src: object, dst: str = "ns1/server", protocol: str = "TCP", port: int | None = 8080
) -> list[str]:
    """The enforced ingress trace at `dst` (World.ingress)."""
    return w.ingress(src, dst, protocol, port)  # type: ignore[arg-type]


def trace_out(
    w: World, dst: object, src: str = "ns1/client", protocol: str = "TCP", port: int | None = 8080
) -> list[str]:
    """The enforced egress trace at `src` (World.egress)."""
    return w.egress(src, dst, protocol, port)  # type: ignore[arg-type]


# =============================================================================================
# §2.9 / §2.2 The converted policy


def test_converted_policy_is_in_tier_default_at_order_1000(tmp_path: Path) -> None:
    """§2.9: a Calico NetworkPolicy in tier `default`, order 1000, named `knp.default.<name>`."""
    w = k(tmp_path, f"{SERVER_POD}\ningress: [{{}}]")
    p = w.cluster.policies["ns1/knp.default.k"]
    assert (p.tier, p.order, p.namespace, p.kind) == ("default", 1000.0, "ns1", "KubernetesNetworkPolicy")


@pytest.mark.parametrize(
    ("selector", "text"),
    [
        ("{}", "projectcalico.org/orchestrator == 'k8s'"),
        ("{matchLabels: {app: server}}", "projectcalico.org/orchestrator == 'k8s' && app == 'server'"),
        (
            "{matchExpressions: [{key: app, operator: In, values: [a, b]}]}",
            "projectcalico.org/orchestrator == 'k8s' && app in { 'a', 'b' }",
        ),
        (
            "{matchExpressions: [{key: app, operator: NotIn, values: [a]}]}",
            "projectcalico.org/orchestrator == 'k8s' && app not in { 'a' }",
        ),
        (
            "{matchExpressions: [{key: app, operator: Exists}]}",
            "projectcalico.org/orchestrator == 'k8s' && has(app)",
        ),
        (
            "{matchExpressions: [{key: app, operator: DoesNotExist}]}",
            "projectcalico.org/orchestrator == 'k8s' && ! has(app)",
        ),
    ],
)
def test_pod_selector_conversion(tmp_path: Path, selector: str, text: str) -> None:
    """§2.9: podSelector → `projectcalico.org/orchestrator == 'k8s' && k == 'v' …`; In → `in`,
    NotIn → `not in`, Exists → `has(k)`, DoesNotExist → `! has(k)`."""
    w = k(tmp_path, f"podSelector: {selector}\ningress: [{{}}]")
    assert w.cluster.policies["ns1/knp.default.k"].selector == text


@pytest.mark.parametrize(
    ("selector", "selected"),
    [
        ("{}", {"ns1/client", "ns1/server"}),
        ("{matchLabels: {app: server}}", {"ns1/server"}),
        (
            "{matchExpressions: [{key: app, operator: In, values: [client, server]}]}",
            {"ns1/client", "ns1/server"},
        ),
        ("{matchExpressions: [{key: app, operator: NotIn, values: [client]}]}", {"ns1/server"}),
        ("{matchExpressions: [{key: app, operator: Exists}]}", {"ns1/client", "ns1/server"}),
        ("{matchExpressions: [{key: app, operator: DoesNotExist}]}", set()),
        ("{matchLabels: {app: other}}", set()),  # only pods of the policy's namespace
    ],
)
def test_pod_selector_selects_pods_of_the_policy_namespace(
    tmp_path: Path, selector: str, selected: set[str]
) -> None:
    """§2.9 / §2.8: the podSelector picks pods (orchestrator k8s) of the policy's namespace
    only; an empty podSelector selects every pod of the namespace."""
    from test_calico_semantics import hep

    w = load(tmp_path, hep(None), knp("k", "ns1", f"podSelector: {selector}\ningress: [{{}}]"))
    got = {e.key for e in w.engine.selected_endpoints("ns1/knp.default.k")}  # type: ignore[union-attr]
    assert got == selected


# =============================================================================================
# §2.4 / §2.9 policyTypes


@pytest.mark.parametrize(
    ("body", "types"),
    [
        ("ingress: [{}]", ["Ingress"]),
        ("policyTypes: [Ingress]", ["Ingress"]),
        ("policyTypes: [Egress]", ["Egress"]),
        ("policyTypes: [Egress, Ingress]", ["Ingress", "Egress"]),
        ("", ["Ingress"]),  # nothing listed, no rules: Ingress only
    ],
)
def test_policy_types(tmp_path: Path, body: str, types: list[str]) -> None:
    """§2.4: k8s NP: the listed `policyTypes`; none listed → Ingress only."""
    w = k(tmp_path, f"{SERVER_POD}\n{body}")
    assert w.cluster.policies["ns1/knp.default.k"].types == types


def test_egress_rules_without_policy_types_govern_egress(tmp_path: Path) -> None:
    """§2.4 with the Kubernetes API server's defaulting: a NetworkPolicy stored with egress rules
    and no policyTypes gets [Ingress, Egress] before Calico converts it (conversion.go then
    sees them listed), so its egress rules are enforced."""
    w = k(
        tmp_path,
        "podSelector: {matchLabels: {app: client}}\negress:\n- to: [{podSelector: {matchLabels: {app: server}}}]",
    )
    assert w.cluster.policies["ns1/knp.default.k"].types == ["Ingress", "Egress"]
    assert trace_out(w, GOOGLE, port=443) == K_DENY
    assert trace_out(w, "ns1/server") == K_ALLOW


def test_ingress_only_policy_leaves_egress_to_the_profile(tmp_path: Path) -> None:
    """§2.3 / §2.4: an Ingress-only policy selecting the client does not touch its egress."""
    w = k(tmp_path, "podSelector: {matchLabels: {app: client}}\npolicyTypes: [Ingress]")
    assert trace_out(w, GOOGLE, port=443) == [PROFILE_NS1]


# =============================================================================================
# §2.9 Default deny and allow-all


def test_listed_direction_without_rules_is_default_deny(tmp_path: Path) -> None:
    """§2.9: no rules for a listed direction → the policy selects but allows nothing, so the
    end-of-tier deny applies (k8s "default deny"); the entry names the policy, rule -1."""
    w = k(tmp_path, "podSelector: {}\npolicyTypes: [Ingress]")
    v = w.ev("ns1/client", "ns1/server")
    assert v.action == "deny" and v.denied_at == "dst"
    assert trace_in(w, "ns1/client") == K_DENY
    assert trace_in(w, GOOGLE) == K_DENY


def test_default_deny_egress(tmp_path: Path) -> None:
    """§2.9: `policyTypes: [Egress]` and no egress rules denies all egress of selected pods,
    to pods and to outside addresses alike."""
    w = k(tmp_path, "podSelector: {}\npolicyTypes: [Egress]")
    assert trace_out(w, "ns1/server") == K_DENY
    assert trace_out(w, GOOGLE, port=443) == K_DENY
    assert trace_out(w, "ns2/other", port=9090) == K_DENY


@pytest.mark.parametrize(
    ("src", "protocol", "port"), [("ns2/other", "UDP", 53), (GOOGLE, "SCTP", 9), ("ns1/client", "TCP", 1)]
)
def test_empty_ingress_rule_allows_everything(tmp_path: Path, src: object, protocol: str, port: int) -> None:
    """§2.9: empty `ingress: [{}]` → Allow everything (any source, protocol and port)."""
    w = k(tmp_path, f"{SERVER_POD}\ningress: [{{}}]")
    assert trace_in(w, src, protocol=protocol, port=port) == K_ALLOW


def test_empty_from_list_means_every_source(tmp_path: Path) -> None:
    """§2.9: a rule with ports and `from: []` allows those ports from everywhere."""
    w = k(tmp_path, f"{SERVER_POD}\ningress:\n- from: []\n  ports: [{{port: 8080}}]")
    assert trace_in(w, GOOGLE) == K_ALLOW
    assert trace_in(w, "ns2/other") == K_ALLOW
    assert trace_in(w, "ns2/other", port=8081) == K_DENY


def test_policies_are_additive(tmp_path: Path) -> None:
    """§2.5 with §2.9: all NPs are in one tier; a policy whose rules do not match hands on to
    the next (both at order 1000, by name), so allows add up."""
    w = load(
        tmp_path,
        knp(
            "a", "ns1", f"{SERVER_POD}\ningress:\n- from: [{{podSelector: {{matchLabels: {{app: client}}}}}}]"
        ),
        knp(
            "b",
            "ns1",
            f"{SERVER_POD}\ningress:\n- from: [{{namespaceSelector: {{matchLabels: {{env: dev}}}}}}]",
        ),
    )
    assert trace_in(w, "ns1/client") == ["0|default|ns1/knp.default.a|allow|0"]
    assert trace_in(w, "ns2/other") == ["0|default|ns1/knp.default.b|allow|0"]
    assert trace_in(w, GOOGLE) == ["0|default|ns1/knp.default.b|deny|-1"]  # last selecting policy


def test_earlier_tier_deny_overrides_a_kubernetes_allow(tmp_path: Path) -> None:
    """§2.1 / §2.9: k8s policies are in `default`; an earlier tier's Deny decides first."""
    w = load(
        tmp_path,
        tier("sec", 10),
        gnp(
            "sec.block",
            "tier: sec\nselector: app == 'server'\ningress:\n- {action: Deny, source: {selector: app == 'client'}}\n- action: Pass",
        ),
        knp("k", "ns1", f"{SERVER_POD}\ningress: [{{}}]"),
    )
    assert trace_in(w, "ns1/client") == ["0|sec|sec.block|deny|0"]
    assert trace_in(w, "ns2/other") == ["0|sec|sec.block|pass|1", "1|default|ns1/knp.default.k|allow|0"]


# =============================================================================================
# §2.9 Peers


FROM_BOTH_IN_ONE = (
    "- from:\n  - namespaceSelector: {matchLabels: {env: dev}}\n    podSelector: {matchLabels: {app: other}}"
)
FROM_TWO_PEERS = (
    "- from:\n  - namespaceSelector: {matchLabels: {env: dev}}\n  - podSelector: {matchLabels: {app: client}}"
)


@pytest.mark.parametrize(
    ("rules", "src", "allowed"),
    [
        # namespaceSelector + podSelector in one peer: both must match (AND)
        (FROM_BOTH_IN_ONE, "ns2/other", True),
        (FROM_BOTH_IN_ONE, "ns1/client", False),
        # two peers: either (OR); a podSelector-only peer is the policy's namespace
        (FROM_TWO_PEERS, "ns2/other", True),
        (FROM_TWO_PEERS, "ns1/client", True),
        (FROM_TWO_PEERS, GOOGLE, False),
        # podSelector only: pods of the policy's namespace
        ("- from: [{podSelector: {matchLabels: {app: other}}}]", "ns2/other", False),
        ("- from: [{podSelector: {}}]", "ns1/client", True),
        ("- from: [{podSelector: {}}]", "ns2/other", False),
        # namespaceSelector {} = all namespaces (all())
        ("- from: [{namespaceSelector: {}}]", "ns2/other", True),
        ("- from: [{namespaceSelector: {}}]", GOOGLE, False),
        ("- from: [{namespaceSelector: {}, podSelector: {matchLabels: {app: other}}}]", "ns2/other", True),
        ("- from: [{namespaceSelector: {}, podSelector: {matchLabels: {app: other}}}]", "ns1/client", False),
        # namespaceSelector by the automatic name label
        (
            "- from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: ns2}}}]",
            "ns2/other",
            True,
        ),
    ],
)
def test_peers(tmp_path: Path, rules: str, src: object, allowed: bool) -> None:
    """§2.9: peers → selector/namespaceSelector of the rule; `namespaceSelector: {}` → all();
    one peer with both selectors ANDs them, two peers are two rules (OR)."""
    w = k(tmp_path, f"{SERVER_POD}\ningress:\n{rules}")
    assert trace_in(w, src)[0].split("|")[3] == ("allow" if allowed else "deny")


@pytest.mark.parametrize(
    ("ip", "allowed"),
    [("8.8.8.8", True), ("8.9.9.9", True), ("8.8.4.4", False), ("8.8.8.1", False), ("9.0.0.1", False)],
)
def test_ip_block_with_except(tmp_path: Path, ip: str, allowed: bool) -> None:
    """§2.9: `ipBlock` → `nets`, `except` → `notNets`."""
    w = k(
        tmp_path,
        f"{SERVER_POD}\ningress:\n- from: [{{ipBlock: {{cidr: 8.0.0.0/8, except: [8.8.4.0/24, 8.8.8.0/31]}}}}]",
    )
    assert trace_in(w, ExternalPeer(ip=ip)) == (K_ALLOW if allowed else K_DENY)
    rule = w.cluster.policies["ns1/knp.default.k"].ingress[0]
    assert rule.source.nets == ["8.0.0.0/8"] and rule.source.not_nets == ["8.8.4.0/24", "8.8.8.0/31"]


def test_ip_block_egress(tmp_path: Path) -> None:
    """§2.9: ipBlock in an egress `to` peer → destination nets."""
    w = k(
        tmp_path,
        "podSelector: {matchLabels: {app: client}}\npolicyTypes: [Egress]\negress:\n- to: [{ipBlock: {cidr: 8.8.8.0/24}}]",
    )
    assert trace_out(w, GOOGLE, port=53) == K_ALLOW
    assert trace_out(w, ExternalPeer(ip="1.1.1.1"), port=53) == K_DENY


def test_ip_block_also_matches_pod_addresses(tmp_path: Path) -> None:
    """§2.9 / §2.10: ipBlock becomes `nets`, which match by address: a pod inside the block
    matches too."""
    w = load(tmp_path)
    ip = w.cluster.pods["ns2/other"].ip
    w = k(tmp_path, f"{SERVER_POD}\ningress:\n- from: [{{ipBlock: {{cidr: {ip}/32}}}}]")
    assert trace_in(w, "ns2/other") == K_ALLOW
    assert trace_in(w, "ns1/client") == K_DENY


def test_ip_block_cannot_be_combined_with_selectors(tmp_path: Path) -> None:
    """§2.9: a peer is either an ipBlock or selectors."""
    with pytest.raises(ScenarioError, match="ipBlock"):
        k(tmp_path, f"{SERVER_POD}\ningress:\n- from: [{{ipBlock: {{cidr: 8.0.0.0/8}}, podSelector: {{}}}}]")


# =============================================================================================
# §2.9 Ports and protocols


@pytest.mark.parametrize(
    ("ports", "protocol", "port", "allowed"),
    [
        ("[{port: 8080}]", "TCP", 8080, True),  # no protocol → TCP
        ("[{port: 8080}]", "UDP", 8080, False),
        ("[{port: 8080}]", "SCTP", 8080, False),
        ("[{protocol: UDP, port: 53}]", "UDP", 53, True),
        ("[{protocol: UDP, port: 53}]", "TCP", 53, False),
        ("[{protocol: SCTP, port: 9}]", "SCTP", 9, True),
        ("[{protocol: SCTP, port: 9}]", "TCP", 9, False),
        ("[{protocol: SCTP}]", "SCTP", 4000, True),  # no port: every port of the protocol
        ("[{protocol: SCTP}]", "UDP", 4000, False),
        ("[{port: 8000, endPort: 8080}]", "TCP", 8000, True),  # endPort: inclusive range
        ("[{port: 8000, endPort: 8080}]", "TCP", 8080, True),
        ("[{port: 8000, endPort: 8080}]", "TCP", 8081, False),
        ("[{port: 8000, endPort: 8080}]", "TCP", 7999, False),
        ("[{port: http}]", "TCP", 8080, True),  # named port of the destination pod
        ("[{port: http}]", "TCP", 80, False),
        ("[{protocol: UDP, port: dns}]", "UDP", 53, True),
        ("[{port: dns}]", "TCP", 53, False),  # dns is a UDP container port
        ("[{port: 80}, {protocol: UDP, port: 53}]", "UDP", 53, True),  # entries ORed
        ("[{port: 80}, {protocol: UDP, port: 53}]", "TCP", 53, False),
    ],
)
def test_ports(tmp_path: Path, ports: str, protocol: str, port: int, allowed: bool) -> None:
    """§2.9: a port with no protocol → TCP; `endPort` → range `port:endPort`; protocols
    TCP/UDP/SCTP; named ports resolve on the destination pod (§2.10)."""
    w = k(tmp_path, f"{SERVER_POD}\ningress:\n- ports: {ports}")
    assert trace_in(w, "ns1/client", protocol=protocol, port=port)[0].split("|")[3] == (
        "allow" if allowed else "deny"
    )


def test_end_port_becomes_a_calico_range(tmp_path: Path) -> None:
    """§2.9: `endPort` → range `port:endPort`."""
    w = k(tmp_path, f"{SERVER_POD}\ningress:\n- ports: [{{port: 8000, endPort: 8080}}]")
    rule = w.cluster.policies["ns1/knp.default.k"].ingress[0]
    assert (rule.protocol, rule.destination.ports) == ("TCP", ["8000:8080"])


def test_ports_are_merged_into_ranges(tmp_path: Path) -> None:
    """§2.9: ports merged into ranges (adjacent numbers join)."""
    w = k(
        tmp_path, f"{SERVER_POD}\ningress:\n- ports: [{{port: 81}}, {{port: 80}}, {{port: 82}}, {{port: 90}}]"
    )
    rule = w.cluster.policies["ns1/knp.default.k"].ingress[0]
    assert rule.destination.ports == ["80:82", 90]


def test_one_allow_rule_per_protocol_and_peer(tmp_path: Path) -> None:
    """§2.9: one Allow rule per (protocol, peer)."""
    w = k(
        tmp_path,
        f"{SERVER_POD}\ningress:\n- from: [{{podSelector: {{matchLabels: {{app: client}}}}}}, "
        "{namespaceSelector: {matchLabels: {env: dev}}}]\n  ports: [{port: 8080}, {protocol: UDP, port: 53}]",
    )
    rules = w.cluster.policies["ns1/knp.default.k"].ingress
    assert len(rules) == 4
    assert all(r.action == "Allow" for r in rules)
    assert sorted(
        (r.protocol, r.source.selector is not None and "app == 'client'" in r.source.selector) for r in rules
    ) == [
        ("TCP", False),
        ("TCP", True),
        ("UDP", False),
        ("UDP", True),
    ]
    assert trace_in(w, "ns2/other", protocol="UDP", port=53)[0].split("|")[3] == "allow"
    assert trace_in(w, "ns2/other", protocol="TCP", port=53)[0].split("|")[3] == "deny"


@pytest.mark.parametrize(
    ("ports", "message"),
    [
        ("[{protocol: ICMP, port: 1}]", "protocol"),
        ("[{port: 8080, endPort: 8000}]", "endPort"),
        ("[{port: http, endPort: 9000}]", "endPort"),
        ("[{port: 0}]", "1-65535"),
    ],
)
def test_invalid_ports_are_rejected(tmp_path: Path, ports: str, message: str) -> None:
    """§2.9: protocols TCP, UDP, SCTP; endPort needs a numeric port no greater than it."""
    with pytest.raises(ScenarioError, match=message):
        k(tmp_path, f"{SERVER_POD}\ningress:\n- ports: {ports}")


def test_kubernetes_and_calico_policies_share_the_default_tier(tmp_path: Path) -> None:
    """§2.2 / §2.9: a Calico NP at order 500 runs before the k8s NP (1000) in `default`."""
    w = load(
        tmp_path,
        knp("k", "ns1", f"{SERVER_POD}\ningress: [{{}}]"),
        np_("c", "ns1", "order: 500\nselector: app == 'server'\ningress:\n- {action: Deny, protocol: UDP}"),
    )
    assert trace_in(w, "ns1/client", protocol="UDP", port=53) == ["0|default|ns1/default.c|deny|0"]
    assert trace_in(w, "ns1/client") == K_ALLOW
