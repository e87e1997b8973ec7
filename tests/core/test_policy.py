"""Policy engine behaviour (calico.md §1.3 traces, §2.5 evaluation), on clusters built in code."""

from __future__ import annotations

import pytest

from desktopviz.core.model import (
    Cluster,
    ContainerPort,
    EntityRule,
    ExternalPeer,
    HostEndpoint,
    Namespace,
    Pod,
    Policy,
    Rule,
    Tier,
)
from desktopviz.core.policy import EngineError, PacketError, PolicyEngine


def make_cluster(*policies: Policy, tiers: tuple[Tier, ...] = ()) -> Cluster:
    c = Cluster()
    c.namespaces["shop"] = Namespace("shop", {"team": "web"})
    c.namespaces["ops"] = Namespace("ops", {"team": "ops"})
    pods = [
        Pod(
            "frontend-1",
            "shop",
            {"app": "frontend"},
            ip="10.244.1.1",
            ports=[ContainerPort(8080, name="http")],
        ),
        Pod(
            "backend-1", "shop", {"app": "backend"}, ip="10.244.1.2", ports=[ContainerPort(9090, name="http")]
        ),
        Pod("tool-1", "ops", {"app": "tool"}, ip="10.244.2.1"),
    ]
    for p in pods:
        c.pods[p.key] = p
    c.tiers["security"] = Tier("security", 100)
    c.tiers["platform"] = Tier("platform", 200)
    c.tiers["default"] = Tier("default", 1_000_000)
    for t in tiers:
        c.tiers[t.name] = t
    for p in policies:
        c.policies[p.key] = p
    return c


def pod(c: Cluster, key: str) -> Pod:
    return c.pods[key]


def np(name: str, ns: str = "shop", tier: str = "default", **kw) -> Policy:
    full = name if tier == "default" and not name.startswith("default.") else name
    return Policy("NetworkPolicy", full, ns, tier=tier, **kw)


def gnp(name: str, tier: str, **kw) -> Policy:
    return Policy("GlobalNetworkPolicy", name, None, tier=tier, **kw)


ALLOW_ALL_IN = [Rule("Allow")]


def test_no_policy_at_all_is_allowed_by_the_namespace_profile() -> None:
    c = make_cluster()
    v = PolicyEngine(c).evaluate(pod(c, "shop/frontend-1"), pod(c, "shop/backend-1"), "TCP", 9090)
    assert v.action == "allow"
    assert v.egress.enforced_strings == ["0|__PROFILE__|__PROFILE__.kns.shop|allow|0"]
    assert v.ingress.enforced_strings == ["0|__PROFILE__|__PROFILE__.kns.shop|allow|0"]


def test_pass_goes_on_to_a_later_tier() -> None:
    c = make_cluster(
        gnp("security.pass-web", "security", order=1, selector="app == 'backend'", ingress=[Rule("Pass")]),
        np(
            "allow-frontend",
            selector="app == 'backend'",
            ingress=[Rule("Allow", protocol="TCP", source=EntityRule(selector="app == 'frontend'"))],
        ),
    )
    v = PolicyEngine(c).evaluate(pod(c, "shop/frontend-1"), pod(c, "shop/backend-1"), "TCP", 9090)
    assert v.ingress.enforced_strings == [
        "0|security|security.pass-web|pass|0",
        "1|default|shop/default.allow-frontend|allow|0",
    ]
    assert v.action == "allow"


def test_tier_with_pass_default_action_continues_to_profiles() -> None:
    c = make_cluster(
        gnp(
            "platform.only-tools",
            "platform",
            selector="all()",
            ingress=[Rule("Allow", source=EntityRule(selector="app == 'tool'"))],
        ),
        tiers=(Tier("platform", 200, "Pass"),),
    )
    e = PolicyEngine(c)
    v = e.evaluate(pod(c, "shop/frontend-1"), pod(c, "shop/backend-1"), "TCP", 9090)
    assert v.ingress.enforced_strings == [
        "0|platform|platform.only-tools|pass|-1",
        "1|__PROFILE__|__PROFILE__.kns.shop|allow|0",
    ]
    assert v.action == "allow"


def test_tier_with_deny_default_action_denies_at_end_of_tier() -> None:
    c = make_cluster(
        gnp(
            "platform.only-tools",
            "platform",
            selector="all()",
            ingress=[Rule("Allow", source=EntityRule(selector="app == 'tool'"))],
        ),
    )
    v = PolicyEngine(c).evaluate(pod(c, "shop/frontend-1"), pod(c, "shop/backend-1"), "TCP", 9090)
    assert v.ingress.enforced_strings == ["0|platform|platform.only-tools|deny|-1"]
    assert v.action == "deny" and v.denied_at == "dst"


def test_tiers_that_select_nothing_for_the_endpoint_are_skipped() -> None:
    c = make_cluster(
        gnp("security.tools-only", "security", selector="app == 'tool'", ingress=[Rule("Deny")]),
    )
    v = PolicyEngine(c).evaluate(pod(c, "shop/frontend-1"), pod(c, "shop/backend-1"), "TCP", 9090)
    assert v.ingress.enforced_strings == ["0|__PROFILE__|__PROFILE__.kns.shop|allow|0"]


def test_end_of_tier_names_last_enforced_policy_and_pending_names_first() -> None:
    c = make_cluster(
        np(
            "a-first",
            order=10,
            selector="app == 'backend'",
            ingress=[Rule("Allow", source=EntityRule(selector="app == 'nobody'"))],
        ),
        np(
            "b-second",
            order=20,
            selector="app == 'backend'",
            ingress=[Rule("Allow", source=EntityRule(selector="app == 'nobody'"))],
        ),
        np("c-egress-only", order=30, selector="app == 'backend'", types=["Egress"], egress=[Rule("Allow")]),
    )
    v = PolicyEngine(c).evaluate(pod(c, "shop/frontend-1"), pod(c, "shop/backend-1"), "TCP", 9090)
    assert v.ingress.enforced_strings == ["0|default|shop/default.b-second|deny|-1"]
    assert v.ingress.pending_strings == ["0|default|shop/default.a-first|deny|-1"]


def test_staged_policies_only_change_the_pending_trace() -> None:
    staged = Policy(
        "StagedNetworkPolicy",
        "deny-frontend",
        "shop",
        order=1,
        selector="app == 'backend'",
        ingress=[Rule("Deny", source=EntityRule(selector="app == 'frontend'"))],
    )
    c = make_cluster(staged)
    v = PolicyEngine(c).evaluate(pod(c, "shop/frontend-1"), pod(c, "shop/backend-1"), "TCP", 9090)
    assert v.action == "allow"
    assert v.ingress.enforced_strings == ["0|__PROFILE__|__PROFILE__.kns.shop|allow|0"]
    assert v.ingress.pending_strings == ["0|default|shop/default.staged:deny-frontend|deny|0"]
    assert v.pending_action == "deny"


def test_staged_delete_is_not_evaluated_at_all() -> None:
    """calico.md §2.13: staged policies with stagedAction Delete are not sent to Felix, so the
    pending trace (computed by Felix) is the enforced one."""
    enforced = np(
        "deny-frontend",
        order=1,
        selector="app == 'backend'",
        ingress=[Rule("Deny", source=EntityRule(selector="app == 'frontend'"))],
    )
    delete = Policy(
        "StagedNetworkPolicy", "deny-frontend", "shop", selector="app == 'backend'", staged_action="Delete"
    )
    c = make_cluster(enforced, delete)
    v = PolicyEngine(c).evaluate(pod(c, "shop/frontend-1"), pod(c, "shop/backend-1"), "TCP", 9090)
    assert v.ingress.enforced_strings == ["0|default|shop/default.deny-frontend|deny|0"]
    assert v.ingress.pending_strings == ["0|default|shop/default.deny-frontend|deny|0"]
    assert (v.action, v.pending_action) == ("deny", "deny")


def test_named_port_resolves_per_destination_pod() -> None:
    c = make_cluster(
        gnp(
            "default.http-only",
            "default",
            selector="has(app)",
            ingress=[Rule("Allow", protocol="TCP", destination=EntityRule(ports=["http"]))],
        ),
    )
    e = PolicyEngine(c)
    fe, be = pod(c, "shop/frontend-1"), pod(c, "shop/backend-1")
    assert e.evaluate(be, fe, "TCP", 8080).action == "allow"
    assert e.evaluate(be, fe, "TCP", 9090).action == "deny"
    assert e.evaluate(fe, be, "TCP", 9090).action == "allow"
    assert e.evaluate(fe, be, "TCP", 8080).action == "deny"
    assert e.evaluate(fe, be, "UDP", 9090).action == "deny"


def test_not_selector_matches_non_calico_addresses() -> None:
    c = make_cluster(
        gnp(
            "security.no-tools",
            "security",
            selector="app == 'frontend'",
            types=["Egress"],
            egress=[Rule("Allow", destination=EntityRule(not_selector="app == 'tool'"))],
        ),
    )
    e = PolicyEngine(c)
    fe = pod(c, "shop/frontend-1")
    out = e.evaluate(fe, ExternalPeer(ip="203.0.113.9"), "TCP", 443)
    assert out.egress.enforced_strings == ["0|security|security.no-tools|allow|0"]
    assert e.evaluate(fe, pod(c, "ops/tool-1"), "TCP", 22).egress.enforced_strings == [
        "0|security|security.no-tools|deny|-1"
    ]


def test_selector_with_negation_does_not_match_non_calico_addresses() -> None:
    c = make_cluster(
        gnp(
            "security.no-tools",
            "security",
            selector="app == 'frontend'",
            types=["Egress"],
            egress=[Rule("Allow", destination=EntityRule(selector="!has(tool)"))],
        ),
    )
    v = PolicyEngine(c).evaluate(pod(c, "shop/frontend-1"), ExternalPeer(ip="203.0.113.9"), "TCP", 443)
    assert v.egress.action == "deny"


def test_log_rules_are_noted_and_skipped() -> None:
    c = make_cluster(
        np("log-then-allow", selector="app == 'backend'", ingress=[Rule("Log"), Rule("Allow")]),
    )
    e = PolicyEngine(c)
    src, dst = pod(c, "shop/frontend-1"), pod(c, "shop/backend-1")
    v = e.evaluate(src, dst, "TCP", 9090)
    assert v.ingress.enforced_strings == ["0|default|shop/default.log-then-allow|allow|1"]
    _, sides = e.explain(src, dst, "TCP", 9090)
    assert [s.kind for s in sides[-1].steps if s.kind == "log"] == ["log"]


def test_source_deny_means_no_ingress_evaluation() -> None:
    c = make_cluster(
        np("no-egress", selector="app == 'frontend'", types=["Egress"], egress=[Rule("Deny")]),
    )
    v = PolicyEngine(c).evaluate(pod(c, "shop/frontend-1"), pod(c, "shop/backend-1"), "TCP", 9090)
    assert v.egress.enforced_strings == ["0|default|shop/default.no-egress|deny|0"]
    assert v.ingress is None and v.denied_at == "src"


def test_namespaced_rule_selector_is_scoped_to_the_policy_namespace() -> None:
    c = make_cluster(
        np(
            "from-tools",
            selector="app == 'backend'",
            ingress=[Rule("Allow", source=EntityRule(selector="has(app)"))],
        ),
    )
    e = PolicyEngine(c)
    be = pod(c, "shop/backend-1")
    assert e.evaluate(pod(c, "shop/frontend-1"), be, "TCP", 1).ingress.action == "allow"
    assert e.evaluate(pod(c, "ops/tool-1"), be, "TCP", 1).ingress.action == "deny"


def test_namespace_selector_all_and_label() -> None:
    c = make_cluster(
        np(
            "from-ops",
            selector="app == 'backend'",
            ingress=[Rule("Allow", source=EntityRule(namespace_selector="team == 'ops'"))],
        ),
    )
    e = PolicyEngine(c)
    be = pod(c, "shop/backend-1")
    assert e.evaluate(pod(c, "ops/tool-1"), be, "TCP", 1).ingress.action == "allow"
    assert e.evaluate(pod(c, "shop/frontend-1"), be, "TCP", 1).ingress.action == "deny"
    assert e.evaluate(ExternalPeer(ip="10.0.0.9"), be, "TCP", 1).ingress.action == "deny"


def test_host_endpoint_without_profile_is_denied_and_default_allow_profile_allows() -> None:
    c = make_cluster()
    c.host_endpoints["n1"] = HostEndpoint("n1", "node-1", expected_ips=["192.168.0.10"])
    c.host_endpoints["n2"] = HostEndpoint(
        "n2", "node-2", expected_ips=["192.168.0.11"], profiles=["projectcalico-default-allow"]
    )
    e = PolicyEngine(c)
    fe = pod(c, "shop/frontend-1")
    v1 = e.evaluate(fe, c.host_endpoints["n1"], "TCP", 22)
    # Felix's dataplane "no profile matched" drop (policy_lookup_cache.go); the pending checker
    # (check.go) names the profile tier itself with rule index -1.
    assert v1.action == "deny" and v1.ingress.enforced_strings == [
        "0|__PROFILE__|__PROFILE__.__NO_MATCH__|deny|0"
    ]
    assert v1.ingress.pending_strings == ["0|__PROFILE__|__PROFILE__.__PROFILE__|deny|-1"]
    v2 = e.evaluate(fe, c.host_endpoints["n2"], "TCP", 22)
    assert v2.ingress.enforced_strings == ["0|__PROFILE__|__PROFILE__.projectcalico-default-allow|allow|0"]


def test_cache_is_invalidated_by_apply_and_remove_policy() -> None:
    c = make_cluster()
    e = PolicyEngine(c)
    fe, be, tool = pod(c, "shop/frontend-1"), pod(c, "shop/backend-1"), pod(c, "ops/tool-1")
    assert e.evaluate(fe, be, "TCP", 9090).action == "allow"
    assert e.evaluate(fe, tool, "TCP", 22).action == "allow"
    deny = np("deny-all", selector="app == 'backend'", ingress=[Rule("Deny")])
    e.apply_policy(deny)
    assert e.evaluate(fe, be, "TCP", 9090).action == "deny"
    assert e.evaluate(fe, tool, "TCP", 22).action == "allow"
    e.remove_policy(deny.key)
    assert e.evaluate(fe, be, "TCP", 9090).action == "allow"


def test_set_tier_and_add_remove_pod() -> None:
    c = make_cluster(gnp("platform.nothing", "platform", selector="app == 'backend'", ingress=[]))
    e = PolicyEngine(c)
    fe, be = pod(c, "shop/frontend-1"), pod(c, "shop/backend-1")
    assert e.evaluate(fe, be, "TCP", 9090).action == "deny"
    e.set_tier(Tier("platform", 200, "Pass"))
    assert e.evaluate(fe, be, "TCP", 9090).action == "allow"
    new = Pod("backend-2", "shop", {"app": "backend"}, ip="10.244.1.3")
    e.add_pod(new)
    assert e.evaluate(fe, new, "TCP", 1).ingress.enforced_strings[0] == "0|platform|platform.nothing|pass|-1"
    e.remove_pod(new.key)
    with pytest.raises(EngineError):
        e.evaluate(fe, new, "TCP", 1)


def test_bad_protocol_and_port_are_rejected() -> None:
    c = make_cluster()
    e = PolicyEngine(c)
    fe, be = pod(c, "shop/frontend-1"), pod(c, "shop/backend-1")
    with pytest.raises(PacketError):
        e.evaluate(fe, be, "HTTP", 80)
    with pytest.raises(PacketError):
        e.evaluate(fe, be, "TCP", 70000)


def test_policy_change_keeps_unrelated_cached_verdicts() -> None:
    c = make_cluster()
    e = PolicyEngine(c)
    fe, be, tool = pod(c, "shop/frontend-1"), pod(c, "shop/backend-1"), pod(c, "ops/tool-1")
    e.evaluate(fe, be, "TCP", 9090)
    e.evaluate(tool, fe, "TCP", 8080)
    assert e.cache_size() == 2
    e.apply_policy(np("deny-backend", selector="app == 'backend'", ingress=[Rule("Deny")]))
    assert e.cache_size() == 1  # only the verdict involving the backend pod was dropped


def test_generated_rule_matchers_agree_with_the_reference_matcher() -> None:
    import random

    from desktopviz.scenarios.generate_large import generate_large_cluster

    c = generate_large_cluster(pods=200, namespaces=10, policies=80, seed=3)
    e = PolicyEngine(c)
    rules = [cr for cp in e._policies.values() for cr in (*cp.ingress, *cp.egress)]  # noqa: SLF001
    rng = random.Random(5)
    pods = list(c.pods.values())
    pairs = [
        (rng.choice(pods), rng.choice(pods), rng.choice((8080, 9090, 5432, 6379, 7070))) for _ in range(300)
    ]
    fast = [e.evaluate(a, b, "TCP", p) for a, b, p in pairs]  # generated matchers, flattened walk
    for cr in rules:
        cr.matches = cr.match_generic
    slow = [e.explain(a, b, "TCP", p)[0] for a, b, p in pairs]  # reference matcher, recorded walk
    assert fast == slow
    assert any(v.action == "allow" for v in fast) and any(v.action == "deny" for v in fast)


def test_refresh_picks_up_new_network_sets() -> None:
    from desktopviz.core.model import NetworkSet

    c = make_cluster(
        gnp(
            "security.partners",
            "security",
            selector="app == 'frontend'",
            types=["Egress"],
            egress=[Rule("Allow", destination=EntityRule(selector="kind == 'partner'"))],
        ),
    )
    e = PolicyEngine(c)
    fe, out = pod(c, "shop/frontend-1"), ExternalPeer(ip="100.64.0.9")
    assert e.evaluate(fe, out, "TCP", 443).action == "deny"
    c.network_sets["partners"] = NetworkSet("partners", None, {"kind": "partner"}, ["100.64.0.0/16"])
    e.refresh()
    assert e.evaluate(fe, out, "TCP", 443).action == "allow"
