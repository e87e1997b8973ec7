"""Rule and selector semantics of the engine (calico.md §2.6-§2.11) and its helper queries."""

from __future__ import annotations

from desktopviz.core.model import (
    Cluster,
    ContainerPort,
    EntityRule,
    ExternalPeer,
    HostEndpoint,
    IcmpMatch,
    Namespace,
    NetworkSet,
    Pod,
    Policy,
    Rule,
    Service,
    ServiceAccount,
    ServiceMatch,
    ServicePort,
    Tier,
)
from desktopviz.core.policy import PolicyEngine


def cluster(*policies: Policy) -> Cluster:
    c = Cluster()
    c.namespaces["shop"] = Namespace("shop", {"team": "web"})
    c.namespaces["ops"] = Namespace("ops", {"team": "ops"})
    c.service_accounts["shop/api-sa"] = ServiceAccount("api-sa", "shop", {"role": "api"})
    for p in (
        Pod("web-1", "shop", {"app": "web"}, ip="10.244.1.1", ports=[ContainerPort(8080, name="http")]),
        Pod(
            "api-1",
            "shop",
            {"app": "api"},
            ip="10.244.1.2",
            service_account="api-sa",
            ports=[ContainerPort(9090, name="http")],
        ),
        Pod("tool-1", "ops", {"app": "tool"}, ip="10.244.2.1"),
    ):
        c.pods[p.key] = p
    c.services["shop/api"] = Service("api", "shop", {"app": "api"}, "10.96.0.10", [ServicePort(80, "http")])
    c.network_sets["partners"] = NetworkSet("partners", None, {"kind": "partner"}, ["100.64.0.0/16"])
    c.network_sets["shop/vendors"] = NetworkSet(
        "vendors", "shop", {"kind": "vendor"}, ["100.64.1.0/24"], ["*.vendor.example"]
    )
    c.host_endpoints["node-1-eth0"] = HostEndpoint(
        "node-1-eth0", "node-1", "eth0", ["192.168.1.10"], {"host": "yes"}, ["projectcalico-default-allow"]
    )
    c.tiers["default"] = Tier("default", 1_000_000)
    for p in policies:
        c.policies[p.key] = p
    return c


def egress_gnp(*rules: Rule, selector: str = "app == 'web'") -> Policy:
    return Policy(
        "GlobalNetworkPolicy", "default.out", None, selector=selector, types=["Egress"], egress=list(rules)
    )


def egress_np(*rules: Rule, selector: str = "app == 'web'") -> Policy:
    return Policy("NetworkPolicy", "out", "shop", selector=selector, types=["Egress"], egress=list(rules))


def act(c: Cluster, src, dst, proto: str = "TCP", port: int | None = 443) -> str:
    return PolicyEngine(c).evaluate(src, dst, proto, port).action


def test_network_set_members_match_by_set_labels() -> None:
    c = cluster(egress_gnp(Rule("Allow", destination=EntityRule(selector="kind == 'partner'"))))
    web = c.pods["shop/web-1"]
    assert act(c, web, ExternalPeer(ip="100.64.9.9")) == "allow"
    assert act(c, web, ExternalPeer(ip="100.65.0.1")) == "deny"


def test_namespaced_policy_sees_own_namespace_sets_but_global_sets_only_with_global() -> None:
    c = cluster(egress_np(Rule("Allow", destination=EntityRule(selector="has(kind)"))))
    web = c.pods["shop/web-1"]
    assert act(c, web, ExternalPeer(ip="100.64.1.5")) == "allow"  # shop/vendors
    assert act(c, web, ExternalPeer(ip="100.64.9.9")) == "deny"  # GlobalNetworkSet partners
    c2 = cluster(
        egress_np(Rule("Allow", destination=EntityRule(selector="has(kind)", namespace_selector="global()")))
    )
    assert act(c2, c2.pods["shop/web-1"], ExternalPeer(ip="100.64.9.9")) == "allow"
    assert act(c2, c2.pods["shop/web-1"], c2.pods["shop/api-1"], port=9090) == "deny"


def test_rule_domains_and_network_set_domains_on_egress() -> None:
    c = cluster(egress_gnp(Rule("Allow", destination=EntityRule(domains=["*.example.com"]))))
    web = c.pods["shop/web-1"]
    assert act(c, web, ExternalPeer(ip="93.184.216.34", domain="www.example.com")) == "allow"
    assert act(c, web, ExternalPeer(ip="93.184.216.34", domain="a.b.example.com")) == "allow"
    assert act(c, web, ExternalPeer(ip="93.184.216.34", domain="example.com")) == "deny"
    c2 = cluster(egress_np(Rule("Allow", destination=EntityRule(selector="kind == 'vendor'"))))
    assert act(c2, c2.pods["shop/web-1"], ExternalPeer(ip="8.8.8.8", domain="api.vendor.example")) == "allow"


def test_destination_service_matches_backing_pods_and_target_port() -> None:
    c = cluster(egress_np(Rule("Allow", destination=EntityRule(services=ServiceMatch("api")))))
    e = PolicyEngine(c)
    web, api, tool = c.pods["shop/web-1"], c.pods["shop/api-1"], c.pods["ops/tool-1"]
    assert e.evaluate(web, api, "TCP", 9090).action == "allow"
    assert e.evaluate(web, api, "TCP", 9091).action == "deny"
    assert e.evaluate(web, tool, "TCP", 9090).action == "deny"


def test_service_accounts_names_and_selector() -> None:
    rule = Rule("Allow", source=EntityRule(service_account_names=["api-sa"]))
    c = cluster(Policy("NetworkPolicy", "from-api", "shop", selector="app == 'web'", ingress=[rule]))
    e = PolicyEngine(c)
    web = c.pods["shop/web-1"]
    assert e.evaluate(c.pods["shop/api-1"], web, "TCP", 8080).ingress.action == "allow"
    assert e.evaluate(c.pods["ops/tool-1"], web, "TCP", 8080).ingress.action == "deny"
    rule2 = Rule("Allow", source=EntityRule(service_account_selector="role == 'api'"))
    c2 = cluster(Policy("NetworkPolicy", "from-api", "shop", selector="app == 'web'", ingress=[rule2]))
    assert (
        PolicyEngine(c2).evaluate(c2.pods["shop/api-1"], c2.pods["shop/web-1"], "TCP", 1).ingress.action
        == "allow"
    )


def test_gnp_namespace_selector_on_the_policy() -> None:
    gnp = Policy(
        "GlobalNetworkPolicy", "default.ops-only", None, namespace_selector="team == 'ops'", ingress=[]
    )
    c = cluster(gnp)
    e = PolicyEngine(c)
    assert [p.key for p in e.policies_selecting(c.pods["ops/tool-1"], "ingress")] == ["default.ops-only"]
    assert e.policies_selecting(c.pods["shop/web-1"], "ingress") == []
    assert [ep.key for ep in e.selected_endpoints("default.ops-only")] == ["ops/tool-1"]
    gnp_all = Policy("GlobalNetworkPolicy", "default.pods", None, namespace_selector="all()", ingress=[])
    e2 = PolicyEngine(cluster(gnp_all))
    assert len(e2.selected_endpoints("default.pods")) == 3  # not the host endpoint


def test_icmp_not_protocol_and_ip_version() -> None:
    c = cluster(
        egress_gnp(Rule("Deny", protocol="ICMP", icmp=IcmpMatch(type=8)), Rule("Allow", not_protocol="UDP"))
    )
    e = PolicyEngine(c)
    web = c.pods["shop/web-1"]
    out = ExternalPeer(ip="1.1.1.1")
    assert e.evaluate(web, out, "ICMP", None).egress.enforced_strings == ["0|default|default.out|deny|0"]
    assert e.evaluate(web, out, "ICMP", None, icmp_type=0).action == "allow"
    assert e.evaluate(web, out, "UDP", 53).action == "deny"
    c2 = cluster(egress_gnp(Rule("Allow", ip_version=6)))
    assert act(c2, c2.pods["shop/web-1"], ExternalPeer(ip="2001:db8::1")) == "allow"
    assert act(c2, c2.pods["shop/web-1"], ExternalPeer(ip="1.1.1.1")) == "deny"


def test_nets_match_calico_endpoints_too() -> None:
    c = cluster(egress_gnp(Rule("Allow", destination=EntityRule(nets=["10.244.1.0/24"]))))
    web = c.pods["shop/web-1"]
    assert act(c, web, c.pods["shop/api-1"], port=9090) == "allow"
    assert act(c, web, c.pods["ops/tool-1"], port=22) == "deny"


def test_endpoint_labels_include_inherited_and_calico_labels() -> None:
    c = cluster()
    labels = PolicyEngine(c).endpoint_labels(c.pods["shop/api-1"])
    assert labels["app"] == "api"
    assert labels["pcns.team"] == "web" and labels["pcns.projectcalico.org/name"] == "shop"
    assert labels["pcsa.role"] == "api" and labels["projectcalico.org/serviceaccount"] == "api-sa"
    assert (
        labels["projectcalico.org/orchestrator"] == "k8s" and labels["projectcalico.org/namespace"] == "shop"
    )


def test_classify_ip_precedence() -> None:
    c = cluster()
    e = PolicyEngine(c)
    assert e.classify_ip("10.244.1.2") is c.pods["shop/api-1"]
    assert e.classify_ip("192.168.1.10") is c.host_endpoints["node-1-eth0"]
    vendors, partners = c.network_sets["shop/vendors"], c.network_sets["partners"]
    assert e.classify_ip("100.64.1.7", namespace_hint="shop") is vendors
    assert e.classify_ip("100.64.1.7") is partners  # global sets before other namespaces' sets
    assert e.classify_ip("100.64.1.7", namespace_hint="ops") is partners
    assert e.classify_ip("8.8.8.8") is None
    assert e.classify_ip("8.8.8.8", domain="x.vendor.example") is vendors


def test_host_endpoint_selected_by_gnp_and_global_namespace_selector() -> None:
    rule = Rule("Allow", source=EntityRule(namespace_selector="global()"))
    c = cluster(
        Policy("GlobalNetworkPolicy", "default.hosts-in", None, selector="app == 'web'", ingress=[rule])
    )
    e = PolicyEngine(c)
    web = c.pods["shop/web-1"]
    assert e.evaluate(c.host_endpoints["node-1-eth0"], web, "TCP", 8080).action == "allow"
    assert e.evaluate(c.pods["shop/api-1"], web, "TCP", 8080).action == "deny"
