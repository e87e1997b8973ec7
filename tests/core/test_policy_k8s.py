"""Kubernetes NetworkPolicy conversion as Calico's conversion.go does it (calico.md §2.9)."""

from __future__ import annotations

import pytest

from desktopviz.core.k8s_convert import ConversionError, convert_network_policy
from desktopviz.core.model import SourceLocation


def knp(spec: dict, name: str = "np", ns: str = "demo") -> dict:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": ns},
        "spec": spec,
    }


def test_basic_fields_and_trace_name() -> None:
    p = convert_network_policy(knp({"podSelector": {}}), SourceLocation("f.yaml", 3))
    assert (p.kind, p.tier, p.order, p.namespace) == ("KubernetesNetworkPolicy", "default", 1000.0, "demo")
    assert p.selector == "projectcalico.org/orchestrator == 'k8s'"
    assert p.types == ["Ingress"] and p.ingress == [] and p.egress == []
    assert p.trace_name == "demo/knp.default.np"
    assert p.location == SourceLocation("f.yaml", 3)


def test_pod_selector_match_labels_and_expressions() -> None:
    p = convert_network_policy(
        knp(
            {
                "podSelector": {
                    "matchLabels": {"b": "2", "a": "1"},
                    "matchExpressions": [
                        {"key": "x", "operator": "In", "values": ["p", "q"]},
                        {"key": "y", "operator": "NotIn", "values": ["r"]},
                        {"key": "z", "operator": "Exists"},
                        {"key": "w", "operator": "DoesNotExist"},
                    ],
                }
            }
        )
    )
    assert p.selector == (
        "projectcalico.org/orchestrator == 'k8s' && a == '1' && b == '2' && x in { 'p', 'q' } "
        "&& y not in { 'r' } && has(z) && ! has(w)"
    )


def test_policy_types_default_and_listed() -> None:
    assert convert_network_policy(knp({"podSelector": {}, "egress": [{}]})).types == ["Ingress", "Egress"]
    assert convert_network_policy(knp({"podSelector": {}, "policyTypes": ["Egress"]})).types == ["Egress"]


def test_one_rule_per_protocol_and_peer_in_order() -> None:
    p = convert_network_policy(
        knp(
            {
                "podSelector": {},
                "ingress": [
                    {
                        "from": [
                            {"podSelector": {"matchLabels": {"app": "a"}}},
                            {"namespaceSelector": {}},
                            {"ipBlock": {"cidr": "10.1.2.3/16", "except": ["10.1.5.0/24"]}},
                        ],
                        "ports": [
                            {"port": 81},
                            {"port": 80},
                            {"protocol": "UDP", "port": 53},
                            {"port": 1000, "endPort": 1010},
                        ],
                    }
                ],
            }
        )
    )
    assert [r.protocol for r in p.ingress] == ["TCP"] * 3 + ["UDP"] * 3
    assert p.ingress[0].destination.ports == ["80:81", "1000:1010"]
    assert p.ingress[3].destination.ports == [53]
    assert p.ingress[0].source.selector == "projectcalico.org/orchestrator == 'k8s' && app == 'a'"
    assert p.ingress[0].source.namespace_selector is None
    assert p.ingress[1].source.namespace_selector == "all()"
    assert p.ingress[2].source.nets == ["10.1.0.0/16"] and p.ingress[2].source.not_nets == ["10.1.5.0/24"]
    assert all(r.action == "Allow" for r in p.ingress)


def test_empty_rule_allows_everything_and_named_port() -> None:
    p = convert_network_policy(
        knp({"podSelector": {}, "ingress": [{}], "egress": [{"ports": [{"port": "http"}]}]})
    )
    r = p.ingress[0]
    assert r.protocol is None and r.source.selector is None and r.destination.ports == []
    assert p.egress[0].protocol == "TCP" and p.egress[0].destination.ports == ["http"]


def test_staged_form() -> None:
    doc = knp({"stagedAction": "Delete", "podSelector": {}})
    p = convert_network_policy(doc, staged=True)
    assert p.kind == "StagedKubernetesNetworkPolicy" and p.staged_action == "Delete"
    assert p.trace_name == "demo/staged:knp.default.np"


@pytest.mark.parametrize(
    ("spec", "path"),
    [
        (
            {"podSelector": {"matchExpressions": [{"key": "a", "operator": "Has"}]}},
            "spec.podSelector.matchExpressions[0].operator",
        ),
        (
            {"podSelector": {}, "ingress": [{"ports": [{"protocol": "ICMP"}]}]},
            "spec.ingress[0].ports[0].protocol",
        ),
        ({"podSelector": {}, "ingress": [{"ports": [{"port": 70000}]}]}, "spec.ingress[0].ports[0].port"),
        (
            {"podSelector": {}, "ingress": [{"ports": [{"port": 90, "endPort": 80}]}]},
            "spec.ingress[0].ports[0].endPort",
        ),
        (
            {"podSelector": {}, "egress": [{"to": [{"ipBlock": {"cidr": "nope"}}]}]},
            "spec.egress[0].to[0].ipBlock.cidr",
        ),
        ({"podSelector": {}, "policyTypes": ["Sideways"]}, "spec.policyTypes[0]"),
    ],
)
def test_bad_input_names_the_field(spec, path) -> None:
    with pytest.raises(ConversionError) as info:
        convert_network_policy(knp(spec))
    assert info.value.path == path and isinstance(info.value, ValueError)


def test_missing_name() -> None:
    with pytest.raises(ConversionError) as info:
        convert_network_policy({"metadata": {}, "spec": {}})
    assert info.value.path == "metadata.name"


def test_protocols_in_calico_sort_order_sctp_first() -> None:
    """conversion.go sorts the protocol strings (sort.Strings): SCTP, TCP, UDP."""
    p = convert_network_policy(
        knp(
            {
                "podSelector": {},
                "ingress": [
                    {
                        "ports": [
                            {"protocol": "UDP", "port": 53},
                            {"port": 80},
                            {"protocol": "SCTP", "port": 9},
                        ]
                    }
                ],
            }
        )
    )
    assert [(r.protocol, r.destination.ports) for r in p.ingress] == [
        ("SCTP", [9]),
        ("TCP", [80]),
        ("UDP", [53]),
    ]


@pytest.mark.parametrize(
    ("ports", "expected"),
    [
        # Numeric entries covering one port: Calico's SimplifyPorts returns the list as given.
        ([{"port": 80}, {"port": "foo"}], [80, "foo"]),
        ([{"port": "foo"}, {"port": 80}], ["foo", 80]),
        # More numeric ports: named ones first, then merged ranges.
        ([{"port": 81}, {"port": "foo"}, {"port": 80}], ["foo", "80:81"]),
        ([{"port": 1000, "endPort": 1010}, {"port": "foo"}], ["foo", "1000:1010"]),
        ([{"port": 80}, {"port": 80}, {"port": "foo"}], ["foo", 80]),
    ],
)
def test_named_and_numeric_ports_as_calico_orders_them(ports, expected) -> None:
    p = convert_network_policy(knp({"podSelector": {}, "ingress": [{"ports": ports}]}))
    assert p.ingress[0].destination.ports == expected


@pytest.mark.parametrize("name", ["-50:-1", "web--x", "a-very-long-port-name", "Http", "-web"])
def test_port_name_must_be_a_kubernetes_port_name(name) -> None:
    with pytest.raises(ConversionError) as info:
        convert_network_policy(knp({"podSelector": {}, "egress": [{"ports": [{"port": name}]}]}))
    assert info.value.path == "spec.egress[0].ports[0].port"


@pytest.mark.parametrize("cidr", ["10.0.0.1", "10.0.0.0/255.0.0.0", "10.0.0.0/33", 10, "10.0.0.0/ 8"])
def test_ipblock_cidr_must_be_address_slash_prefix(cidr) -> None:
    """Go's net.ParseCIDR (used by Calico's conversion and Kubernetes validation) needs
    address/prefix-length; Python's ip_network alone would take a bare address as /32."""
    with pytest.raises(ConversionError) as info:
        convert_network_policy(knp({"podSelector": {}, "ingress": [{"from": [{"ipBlock": {"cidr": cidr}}]}]}))
    assert info.value.path == "spec.ingress[0].from[0].ipBlock.cidr"


def test_ipblock_host_bits_masked_and_ipv6_as_go_prints_it() -> None:
    p = convert_network_policy(
        knp({"podSelector": {}, "egress": [{"to": [{"ipBlock": {"cidr": "2001:DB8:0:0::5/64"}}]}]})
    )
    assert p.egress[0].destination.nets == ["2001:db8::/64"]


@pytest.mark.parametrize(
    ("selector", "path"),
    [
        ({"matchLabels": {"enabled": True}}, "spec.podSelector.matchLabels.enabled"),
        ({"matchLabels": {"tier": 1}}, "spec.podSelector.matchLabels.tier"),
        (
            {"matchExpressions": [{"key": "v", "operator": "In", "values": ["a", 2]}]},
            "spec.podSelector.matchExpressions[0].values[1]",
        ),
    ],
)
def test_non_string_label_values_rejected(selector, path) -> None:
    """A YAML `true` would otherwise become 'True' and never match a pod labelled "true"."""
    with pytest.raises(ConversionError) as info:
        convert_network_policy(knp({"podSelector": selector}))
    assert info.value.path == path and "quote it" in info.value.message


def test_null_protocol_is_tcp() -> None:
    p = convert_network_policy(
        knp({"podSelector": {}, "ingress": [{"ports": [{"protocol": None, "port": 80}]}]})
    )
    assert (p.ingress[0].protocol, p.ingress[0].destination.ports) == ("TCP", [80])
