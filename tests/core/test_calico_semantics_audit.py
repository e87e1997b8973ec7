"""Conformance audit of the policy engine against calico.md: the points an earlier pass got
wrong or left unpinned, each written from the reference (section named in the test), with the
exact trace strings Felix writes (format (b) of calico.md §1.3).

Uses the base cluster and helpers of test_calico_semantics (ns1: client, server; ns2: other;
host endpoint node-1-eth0 on demand).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_calico_semantics import CLIENT, PROFILE_NS1, SERVER, gnp, hep, knp, load, np_, passing, tier

from desktopviz.core.model import ExternalPeer
from desktopviz.core.scenario import ScenarioError

HEP_NAME = "node-1-eth0"
NODE = "selector: role == 'node'"
DEFAULT_ALLOW = "0|__PROFILE__|__PROFILE__.projectcalico-default-allow|allow|0"


# =============================================================================================
# §2.1 Built-in tiers have fixed orders and default actions


def test_default_tier_document_without_order_keeps_its_fixed_order(tmp_path: Path) -> None:
    """A `Tier default` document cannot move the default tier: order 1,000,000, so an ordered
    tier above it runs later and an order-less tier runs last."""
    w = load(
        tmp_path,
        tier("default"),
        tier("after", 2_000_000),
        tier("zzz"),
        passing("after.p"),
        passing("zzz.p"),
        passing("default.p"),
    )
    assert w.cluster.tiers["default"].order == 1_000_000
    assert w.ingress("ns1/client", "ns1/server") == [
        "0|default|default.p|pass|0",
        "1|after|after.p|pass|0",
        "2|zzz|zzz.p|pass|0",
        "3" + PROFILE_NS1[1:],
    ]


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (tier("default", 5), "the order of tier 'default' is fixed at 1000000"),
        (tier("default", None, "Pass"), "the defaultAction of tier 'default' must be Deny"),
        (tier("kube-admin", None, "Deny"), "the defaultAction of tier 'kube-admin' must be Pass"),
    ],
)
def test_fixed_tiers_reject_other_values(tmp_path: Path, doc: str, message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        load(tmp_path, doc)


def test_kube_admin_tier_gets_order_1000_and_default_pass(tmp_path: Path) -> None:
    """§2.1 table: kube-admin 1,000 Pass; a selecting policy with no matching rule passes on."""
    w = load(
        tmp_path,
        tier("kube-admin"),
        tier("mid", 5000),
        gnp(
            "kube-admin.p",
            f"tier: kube-admin\n{SERVER}\ningress:\n- {{action: Deny, source: {{selector: app == 'nobody'}}}}",
        ),
        passing("mid.p"),
    )
    assert w.ingress("ns1/client", "ns1/server") == [
        "0|kube-admin|kube-admin.p|pass|-1",
        "1|mid|mid.p|pass|0",
        "2" + PROFILE_NS1[1:],
    ]


# =============================================================================================
# §2.4 types: an empty list is defaulted like an absent one (Calico's client: len(types) == 0)


@pytest.mark.parametrize(
    ("rules", "types"),
    [
        ("ingress:\n- action: Deny", ["Ingress"]),
        ("egress:\n- action: Deny", ["Egress"]),
        ("ingress:\n- action: Deny\negress:\n- action: Deny", ["Ingress", "Egress"]),
        ("", ["Ingress"]),
    ],
)
def test_empty_types_list_is_defaulted_from_the_rules(tmp_path: Path, rules: str, types: list[str]) -> None:
    w = load(tmp_path, gnp("p", f"{SERVER}\ntypes: []\n{rules}"))
    assert w.cluster.policies["default.p"].types == types
    egress = w.egress("ns1/server", "ns1/client")
    assert egress == (["0|default|default.p|deny|0"] if "Egress" in types else [PROFILE_NS1])


# =============================================================================================
# §2.2 equal-order tie key = the backend key name; staged kinds carry `staged:` before the name


@pytest.mark.parametrize(
    ("docs", "pending"),
    [
        (
            [
                gnp("a", f"order: 1\n{SERVER}\ningress:\n- action: Deny", kind="StagedGlobalNetworkPolicy"),
                gnp("b", f"order: 1\n{SERVER}\ningress:\n- action: Allow"),
            ],
            ["0|default|default.b|allow|0"],  # `default.b` < `staged:default.a`
        ),
        (
            [
                np_("a", "ns1", f"order: 1\n{SERVER}\ningress:\n- action: Deny", kind="StagedNetworkPolicy"),
                np_("b", "ns1", f"order: 1\n{SERVER}\ningress:\n- action: Allow"),
            ],
            ["0|default|ns1/default.b|allow|0"],  # `ns1/default.b` < `ns1/staged:default.a`
        ),
        (
            [
                np_("a", "ns1", f"order: 1000\n{SERVER}\ningress:\n- action: Allow"),
                knp(
                    "a",
                    "ns1",
                    "podSelector: {}\npolicyTypes: [Ingress]",
                    kind="StagedKubernetesNetworkPolicy",
                ),
            ],
            ["0|default|ns1/default.a|allow|0"],  # `ns1/default.a` < `ns1/staged:knp.default.a`
        ),
    ],
    ids=["sgnp", "snp", "sknp"],
)
def test_staged_policy_ties_by_its_staged_key(tmp_path: Path, docs: list[str], pending: list[str]) -> None:
    w = load(tmp_path, *docs)
    v = w.ev("ns1/client", "ns1/server")
    assert v.ingress is not None and v.ingress.pending_strings == pending


# =============================================================================================
# §2.12 Host endpoints: untracked and preDNAT policies, and the no-profile drop


def test_prednat_and_untracked_policies_never_apply_to_pods(tmp_path: Path) -> None:
    w = load(
        tmp_path,
        gnp("pd", "preDNAT: true\napplyOnForward: true\ningress:\n- action: Deny"),
        gnp("u", "doNotTrack: true\napplyOnForward: true\ningress:\n- action: Deny\negress:\n- action: Deny"),
    )
    v = w.ev("ns1/client", "ns1/server")
    assert v.action == "allow"
    assert v.egress is not None and v.egress.enforced_strings == [PROFILE_NS1]
    assert v.ingress is not None and v.ingress.enforced_strings == [PROFILE_NS1]


def test_prednat_tier_defaults_to_pass_then_normal_policy_applies(tmp_path: Path) -> None:
    """A preDNAT policy selecting the host endpoint with no matching rule: end of its tier is
    forced to Pass, so the normal policies (and profiles) still decide."""
    w = load(
        tmp_path,
        hep(["projectcalico-default-allow"]),
        gnp(
            "pd",
            f"{NODE}\npreDNAT: true\napplyOnForward: true\ningress:\n"
            "- {action: Deny, source: {nets: [1.2.3.0/24]}}",
        ),
    )
    assert w.ingress("ns1/client", HEP_NAME, "TCP", 22) == [
        "0|default|default.pd|pass|-1",
        "1" + DEFAULT_ALLOW[1:],
    ]
    v = w.ev(ExternalPeer(ip="1.2.3.4"), w.ep(HEP_NAME), "TCP", 22)
    assert v.action == "deny" and v.ingress is not None
    assert v.ingress.enforced_strings == ["0|default|default.pd|deny|0"]


def test_prednat_allow_skips_normal_policy(tmp_path: Path) -> None:
    """calico.md §2.12 / host endpoint docs: a packet explicitly allowed by preDNAT policy skips
    normal policy, whatever the orders; normal policy still governs the host's egress."""
    w = load(
        tmp_path,
        hep(None),
        gnp(
            "n",
            f"order: 1\n{NODE}\ntypes: [Ingress, Egress]\ningress:\n- action: Deny\negress:\n- action: Deny",
        ),
        gnp("pd", f"order: 2\n{NODE}\npreDNAT: true\napplyOnForward: true\ningress:\n- action: Allow"),
    )
    v = w.ev("ns1/client", HEP_NAME, "TCP", 22)
    assert v.action == "allow" and v.ingress is not None
    assert v.ingress.enforced_strings == ["0|default|default.pd|allow|0"]
    out = w.ev(HEP_NAME, "ns1/server")
    assert out.action == "deny" and out.egress is not None
    assert out.egress.enforced_strings == ["0|default|default.n|deny|0"]


def test_untracked_then_prednat_then_normal_whatever_the_tier_order(tmp_path: Path) -> None:
    w = load(
        tmp_path,
        hep(None),
        tier("early", 10),
        tier("late", 500),
        gnp("early.n", f"tier: early\n{NODE}\ningress:\n- action: Allow"),
        gnp(
            "late.u", f"tier: late\n{NODE}\ndoNotTrack: true\napplyOnForward: true\ningress:\n- action: Pass"
        ),
        gnp("pd", f"{NODE}\npreDNAT: true\napplyOnForward: true\ningress:\n- action: Pass"),
    )
    assert w.ingress("ns1/client", HEP_NAME, "TCP", 22) == [
        "0|late|late.u|pass|0",
        "1|default|default.pd|pass|0",
        "2|early|early.n|allow|0",
    ]


def test_untracked_allow_skips_normal_egress_policy(tmp_path: Path) -> None:
    w = load(
        tmp_path,
        hep(["projectcalico-default-allow"]),
        gnp("n", f"{NODE}\ntypes: [Egress]\negress:\n- action: Deny"),
        gnp(
            "u",
            f"{NODE}\ndoNotTrack: true\napplyOnForward: true\ntypes: [Egress]\negress:\n"
            "- {action: Allow, protocol: UDP}",
        ),
    )
    assert w.egress(HEP_NAME, "ns1/server", "UDP", 53) == ["0|default|default.u|allow|0"]
    assert w.egress(HEP_NAME, "ns1/server", "TCP", 8080) == [
        "0|default|default.u|pass|-1",
        "1|default|default.n|deny|0",
    ]


def test_prednat_policy_cannot_carry_egress_rules(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="preDNAT policies can only have ingress rules"):
        load(
            tmp_path,
            gnp(
                "pd",
                f"{NODE}\npreDNAT: true\napplyOnForward: true\ntypes: [Ingress]\negress:\n- action: Deny",
            ),
        )


@pytest.mark.parametrize(
    ("profiles", "pending"),
    [(None, ["0|__PROFILE__|__PROFILE__.__PROFILE__|deny|-1"]), (["unknown-profile"], [])],
    ids=["no-profiles", "no-allowing-profile"],
)
def test_no_profile_matched_drop(tmp_path: Path, profiles: list[str] | None, pending: list[str]) -> None:
    """Felix's dataplane "no profile matched" drop maps to a RuleID with no tier, no name and
    index 0: `__PROFILE__|__PROFILE__.__NO_MATCH__|deny|0` (CAL policy_lookup_cache.go). The
    pending checker (check.go) names `__PROFILE__.__PROFILE__` (-1) only when the endpoint has no
    profile at all."""
    w = load(tmp_path, hep(profiles))
    v = w.ev("ns1/client", HEP_NAME, "TCP", 22)
    assert v.action == "deny" and v.ingress is not None
    assert v.ingress.enforced_strings == ["0|__PROFILE__|__PROFILE__.__NO_MATCH__|deny|0"]
    assert v.ingress.pending_strings == pending


def test_no_profile_drop_after_a_pass(tmp_path: Path) -> None:
    w = load(tmp_path, hep(None), passing("default.p", selector=NODE))
    v = w.ev("ns1/client", HEP_NAME, "TCP", 22)
    assert v.ingress is not None
    assert v.ingress.enforced_strings == [
        "0|default|default.p|pass|0",
        "1|__PROFILE__|__PROFILE__.__NO_MATCH__|deny|0",
    ]
    assert v.ingress.pending_strings == [
        "0|default|default.p|pass|0",
        "1|__PROFILE__|__PROFILE__.__PROFILE__|deny|-1",
    ]


# =============================================================================================
# §3.5 Label keys (Kubernetes IsQualifiedName): a prefix, when a '/' is there, must be non-empty


@pytest.mark.parametrize("key", ["/app", "a/b/c", "-app", "app-", "x" * 64])
def test_invalid_label_keys_are_rejected(tmp_path: Path, key: str) -> None:
    doc = f"""
    apiVersion: v1
    kind: Namespace
    metadata: {{name: ns3, labels: {{"{key}": v}}}}
    """
    with pytest.raises(ScenarioError, match="invalid label key"):
        load(tmp_path, doc)


# =============================================================================================
# §2.9 Kubernetes conversion, pinned through rule indexes in the traces


def test_knp_rules_are_one_per_protocol_then_peer(tmp_path: Path) -> None:
    """Peers x ports become rules ordered by protocol (sorted), then peer: TCP-ipBlock,
    TCP-pods, UDP-ipBlock, UDP-pods. The UDP named port resolves on the server (dns=53/UDP)."""
    w = load(
        tmp_path,
        knp(
            "p",
            "ns1",
            "podSelector: {matchLabels: {app: server}}\ningress:\n- from:\n"
            "  - ipBlock: {cidr: 8.8.8.0/24, except: [8.8.8.8/32]}\n"
            "  - namespaceSelector: {}\n    podSelector: {matchLabels: {app: client}}\n"
            "  ports:\n  - {protocol: UDP, port: dns}\n  - port: 8080\n",
        ),
    )
    assert w.ingress("ns1/client", "ns1/server", "TCP", 8080) == ["0|default|ns1/knp.default.p|allow|1"]
    assert w.ingress("ns1/client", "ns1/server", "UDP", 53) == ["0|default|ns1/knp.default.p|allow|3"]
    assert w.ingress(ExternalPeer(ip="8.8.8.9"), "ns1/server", "UDP", 53) == [
        "0|default|ns1/knp.default.p|allow|2"
    ]
    assert w.ingress(ExternalPeer(ip="8.8.8.8"), "ns1/server", "UDP", 53) == [
        "0|default|ns1/knp.default.p|deny|-1"
    ]
    assert w.ingress("ns2/other", "ns1/server", "TCP", 8080) == ["0|default|ns1/knp.default.p|deny|-1"]


@pytest.mark.parametrize(
    ("ports", "tcp", "udp"),
    [
        ("[{}]", True, False),
        ("[{protocol: UDP}]", False, True),
        ("[{protocol: UDP}, {port: 1}]", False, True),
    ],
)
def test_knp_port_without_number_is_every_port_of_its_protocol(
    tmp_path: Path, ports: str, tcp: bool, udp: bool
) -> None:
    """A port with no protocol is TCP (the API server's default); with no number, every port."""
    w = load(tmp_path, knp("p", "ns1", f"podSelector: {{}}\ningress:\n- ports: {ports}"))
    assert (w.ev("ns2/other", "ns1/server", "TCP", 4242).action == "allow") == tcp
    assert (w.ev("ns2/other", "ns1/server", "UDP", 53).action == "allow") == udp


def test_knp_egress_only_policy_leaves_ingress_alone(tmp_path: Path) -> None:
    w = load(tmp_path, knp("p", "ns1", "podSelector: {}\npolicyTypes: [Egress]"))
    v = w.ev("ns1/client", "ns1/server")
    assert v.action == "deny" and v.egress is not None
    assert v.egress.enforced_strings == ["0|default|ns1/knp.default.p|deny|-1"]
    assert w.ingress("ns2/other", "ns1/server") == [PROFILE_NS1]


def test_knp_namespace_selector_only_peer_is_every_pod_of_those_namespaces(tmp_path: Path) -> None:
    w = load(
        tmp_path,
        knp(
            "p", "ns1", "podSelector: {}\ningress:\n- from:\n  - namespaceSelector: {matchLabels: {env: dev}}"
        ),
    )
    assert w.ingress("ns2/other", "ns1/server") == ["0|default|ns1/knp.default.p|allow|0"]
    assert w.ingress("ns1/client", "ns1/server") == ["0|default|ns1/knp.default.p|deny|-1"]
    assert w.ingress(ExternalPeer(ip="8.8.8.8"), "ns1/server") == ["0|default|ns1/knp.default.p|deny|-1"]


# =============================================================================================
# §2.8 / §2.10 rule sides with only some fields


@pytest.mark.parametrize(
    ("dest", "dst", "port", "allowed"),
    [
        # only a namespaceSelector: every endpoint in those namespaces, nothing else
        ("{namespaceSelector: env == 'dev'}", "ns2/other", 9090, True),
        ("{namespaceSelector: env == 'dev'}", "ns1/server", 8080, False),
        # selector and nets are ANDed
        ("{selector: all(), nets: [10.0.0.0/8]}", "ns1/server", 8080, True),
        ("{selector: all(), nets: [192.0.2.0/24]}", "ns1/server", 8080, False),
        # notNets alone is not namespace-scoped: outside addresses match
        ("{notNets: [10.0.0.0/8]}", GOOGLE_IP := ExternalPeer(ip="8.8.8.8"), 443, True),
        ("{notNets: [10.0.0.0/8]}", "ns1/server", 8080, False),
        # notPorts alone
        ("{notPorts: [http]}", "ns1/server", 8080, False),
        ("{notPorts: [http]}", GOOGLE_IP, 443, True),
    ],
)
def test_networkpolicy_rule_sides_with_some_fields(
    tmp_path: Path, dest: str, dst: str | ExternalPeer, port: int, allowed: bool
) -> None:
    w = load(tmp_path, np_("p", "ns1", f"{CLIENT}\negress:\n- {{action: Allow, destination: {dest}}}"))
    expected = "0|default|ns1/default.p|allow|0" if allowed else "0|default|ns1/default.p|deny|-1"
    assert w.egress("ns1/client", dst, "TCP", port) == [expected]
