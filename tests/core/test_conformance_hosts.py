"""Conformance: network sets, host endpoints and the labels Calico gives endpoints.

calico.md §2.11 (NetworkSet / GlobalNetworkSet reach, domains), §2.12 (HostEndpoint default
deny, preDNAT / doNotTrack / applyOnForward), §1.2 (which network set names an address),
§2.6-§2.7 (labels Calico adds and inherits). Docstrings name the section of each case.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_calico_semantics import CLIENT, SERVER, World, gnp, hep, load, np_, tier

from desktopviz.core.model import ExternalPeer, NetworkSet
from desktopviz.core.scenario_yaml import ScenarioError


def netset(
    name: str, ns: str | None, nets: list[str], domains: list[str] | None = None, *, labels: str = ""
) -> str:
    """A NetworkSet in `ns` (a GlobalNetworkSet for None); `labels` as YAML flow, e.g. `{role: x}`."""
    kind = "GlobalNetworkSet" if ns is None else "NetworkSet"
    where = "" if ns is None else f", namespace: {ns}"
    if labels:
        where += f", labels: {labels}"
    spec = f"  nets: [{', '.join(nets)}]\n" if nets else ""
    if domains:
        spec += f"  allowedEgressDomains: [{', '.join(domains)}]\n"
    return f"apiVersion: projectcalico.org/v3\nkind: {kind}\nmetadata: {{name: {name}{where}}}\nspec:\n{spec}"


NS1_SET = netset("partners", "ns1", ["100.64.1.0/24"], labels="{role: partners}")
NS2_SET = netset("batch-peers", "ns2", ["100.64.2.0/24"], labels="{role: partners}")
GLOBAL_SET = netset("cloud", None, ["100.64.3.0/24"], labels="{role: partners}")
DOMAIN_SET = netset("saas", None, [], ["'*.saas.example'", "api.example.com"], labels="{role: saas}")
IN_NS1 = ExternalPeer(ip="100.64.1.7")
IN_NS2 = ExternalPeer(ip="100.64.2.7")
IN_GLOBAL = ExternalPeer(ip="100.64.3.7")
ELSEWHERE = ExternalPeer(ip="100.64.9.7")
SETS = (NS1_SET, NS2_SET, GLOBAL_SET)


def trace_in(w: World, src: object, dst: str = "ns1/server", port: int = 8080) -> list[str]:
    """The enforced ingress trace of a TCP connection to `dst` (World.ingress)."""
    return w.ingress(src, dst, "TCP", port)  # type: ignore[arg-type]


def action_of(trace: list[str]) -> str:
    return trace[0].split("|")[3]


# =============================================================================================
# §2.11 Network sets


@pytest.mark.parametrize(
    ("source", "src", "allowed"),
    [
        ("{selector: role == 'partners'}", IN_NS1, True),  # own namespace's set
        ("{selector: role == 'partners'}", IN_NS2, False),  # another namespace's set
        ("{selector: role == 'partners'}", IN_GLOBAL, False),  # a GlobalNetworkSet
        ("{selector: role == 'partners'}", ELSEWHERE, False),
        ("{selector: role == 'partners', namespaceSelector: env == 'dev'}", IN_NS2, True),
        ("{selector: role == 'partners', namespaceSelector: all()}", IN_NS2, True),
        ("{selector: role == 'partners', namespaceSelector: all()}", IN_GLOBAL, False),
        ("{selector: role == 'partners', namespaceSelector: global()}", IN_GLOBAL, True),
        ("{selector: role == 'partners', namespaceSelector: global()}", IN_NS1, False),
    ],
)
def test_network_sets_seen_from_a_network_policy(
    tmp_path: Path, source: str, src: object, allowed: bool
) -> None:
    """§2.11: the set's CIDRs count as members of a selector matching its labels; NetworkPolicies
    see NetworkSets of their own namespace by default, others through namespaceSelector, and
    GlobalNetworkSets only with `namespaceSelector: global()`."""
    w = load(tmp_path, *SETS, np_("p", "ns1", f"{SERVER}\ningress:\n- {{action: Allow, source: {source}}}"))
    assert action_of(trace_in(w, src)) == ("allow" if allowed else "deny")


@pytest.mark.parametrize(
    ("src", "allowed"), [(IN_NS1, True), (IN_NS2, True), (IN_GLOBAL, True), (ELSEWHERE, False)]
)
def test_global_policy_sees_every_network_set(tmp_path: Path, src: object, allowed: bool) -> None:
    """§2.11 / §2.8: a GNP rule selector covers endpoints and network sets in every namespace,
    and GlobalNetworkSets."""
    w = load(
        tmp_path,
        *SETS,
        gnp("p", f"{SERVER}\ningress:\n- {{action: Allow, source: {{selector: role == 'partners'}}}}"),
    )
    assert action_of(trace_in(w, src)) == ("allow" if allowed else "deny")


@pytest.mark.parametrize(
    ("selector", "src", "allowed"),
    [
        ("projectcalico.org/namespace == 'ns2'", IN_NS2, True),  # Calico's namespace label
        ("projectcalico.org/namespace == 'ns2'", IN_GLOBAL, False),
        ("pcns.env == 'dev'", IN_NS2, True),  # namespace labels inherited (kns profile)
        ("pcns.env == 'dev'", IN_NS1, False),
        ("has(projectcalico.org/namespace)", IN_GLOBAL, False),  # a global set has none
    ],
)
def test_network_set_labels(tmp_path: Path, selector: str, src: object, allowed: bool) -> None:
    """§2.7: a NetworkSet has its labels + `projectcalico.org/namespace` and inherits the
    namespace labels through the kns profile; a GlobalNetworkSet is not namespaced."""
    w = load(
        tmp_path,
        *SETS,
        gnp("p", f'{SERVER}\ningress:\n- {{action: Allow, source: {{selector: "{selector}"}}}}'),
    )
    assert action_of(trace_in(w, src)) == ("allow" if allowed else "deny")


def test_network_set_cannot_carry_the_namespace_label(tmp_path: Path) -> None:
    """§2.7: Calico sets `projectcalico.org/namespace` on a NetworkSet itself."""
    bad = NS1_SET.replace("{role: partners}", "{role: partners, projectcalico.org/namespace: ns2}")
    with pytest.raises(ScenarioError, match="projectcalico.org/namespace"):
        load(tmp_path, bad)


@pytest.mark.parametrize(
    ("domain", "allowed"),
    [
        ("www.saas.example", True),
        ("a.b.saas.example", True),
        ("saas.example", False),
        ("api.example.com", True),
        ("x.example.com", False),
    ],
)
def test_network_set_domains_in_egress_allow_rules(tmp_path: Path, domain: str, allowed: bool) -> None:
    """§2.11: `allowedEgressDomains` work in egress Allow rules; `*.saas.example` matches
    `www.saas.example` but not `saas.example`."""
    w = load(
        tmp_path,
        DOMAIN_SET,
        gnp("p", f"{CLIENT}\negress:\n- {{action: Allow, destination: {{selector: role == 'saas'}}}}"),
    )
    v = w.engine.evaluate(w.ep("ns1/client"), ExternalPeer(ip="203.0.113.9", domain=domain), "TCP", 443)
    assert v.egress is not None and action_of(v.egress.enforced_strings) == ("allow" if allowed else "deny")


def test_network_set_domains_do_not_match_ingress_sources(tmp_path: Path) -> None:
    """§2.11: domains only work in egress Allow rules: a source with a domain is not a member."""
    w = load(
        tmp_path,
        DOMAIN_SET,
        gnp("p", f"{SERVER}\ningress:\n- {{action: Allow, source: {{selector: role == 'saas'}}}}"),
    )
    assert action_of(trace_in(w, ExternalPeer(ip="203.0.113.9", domain="www.saas.example"))) == "deny"


@pytest.mark.parametrize(
    "pattern",
    ["google.*", "*.*.google.com", "www*.google.com", "*"],
)
def test_domain_wildcard_rules(tmp_path: Path, pattern: str) -> None:
    """§2.11: one `*` per name, only as a whole component, not last."""
    bad = DOMAIN_SET.replace("['*.saas.example', api.example.com]", f"['{pattern}']")
    with pytest.raises(ScenarioError, match="domain"):
        load(tmp_path, bad)


# =============================================================================================
# §1.2 Which network set names an address


def owner(w: World, ip: str, hint: str | None = "ns1", domain: str | None = None) -> str | None:
    found = w.engine.classify_ip(ip, hint, domain)
    assert found is None or isinstance(found, NetworkSet)
    return None if found is None else f"{found.namespace or '-'}/{found.name}"


def test_own_namespace_set_comes_first(tmp_path: Path) -> None:
    """§1.2: NetworkSets in the workload's own namespace first, then GlobalNetworkSets, then
    NetworkSets in other namespaces (even with a shorter prefix)."""
    w = load(
        tmp_path,
        netset("mine", "ns1", ["100.64.0.0/16"]),
        netset("glob", None, ["100.64.1.0/24"]),
        netset("theirs", "ns2", ["100.64.1.0/28"]),
    )
    assert owner(w, "100.64.1.1", "ns1") == "ns1/mine"
    assert owner(w, "100.64.1.1", "ns2") == "ns2/theirs"
    assert owner(w, "100.64.1.1", "kube-system") == "-/glob"


def test_longest_prefix_wins_within_a_group(tmp_path: Path) -> None:
    """§1.2: within a group, the longest prefix wins."""
    w = load(tmp_path, netset("wide", None, ["100.64.0.0/10"]), netset("narrow", None, ["100.64.1.0/24"]))
    assert owner(w, "100.64.1.1") == "-/narrow"
    assert owner(w, "100.65.1.1") == "-/wide"


def test_cidr_beats_domain_within_a_group(tmp_path: Path) -> None:
    """§1.2: within a group, CIDR beats domain."""
    w = load(
        tmp_path,
        netset("by-domain", None, [], ["api.example.com"]),
        netset("by-cidr", None, ["203.0.113.0/24"]),
    )
    assert owner(w, "203.0.113.9", domain="api.example.com") == "-/by-cidr"
    assert owner(w, "198.51.100.9", domain="api.example.com") == "-/by-domain"


def test_remaining_ties_are_alphabetical(tmp_path: Path) -> None:
    """§1.2: remaining ties are broken alphabetically by `namespace/name`."""
    w = load(tmp_path, netset("zeta", "ns2", ["100.64.1.0/24"]), netset("alpha", "ns2", ["100.64.1.0/24"]))
    assert owner(w, "100.64.1.1", "ns1") == "ns2/alpha"


def test_address_in_no_set_is_a_plain_network(tmp_path: Path) -> None:
    """§1.2: an IP that matches no workload, host endpoint or network set is `net`."""
    w = load(tmp_path, netset("glob", None, ["100.64.1.0/24"]))
    assert owner(w, "8.8.8.8") is None


# =============================================================================================
# §2.12 Host endpoints


def test_host_endpoint_traffic_is_denied_unless_policy_allows(tmp_path: Path) -> None:
    """§2.12: once a HEP exists, its traffic is denied unless policy allows it."""
    w = load(tmp_path, hep(None))
    assert w.ev("ns1/client", "node-1-eth0", "TCP", 22).action == "deny"
    w = load(
        tmp_path,
        hep(None),
        gnp(
            "ssh",
            "selector: role == 'node'\ningress:\n- {action: Allow, protocol: TCP, destination: {ports: [22]}}",
        ),
    )
    assert w.ev("ns1/client", "node-1-eth0", "TCP", 22).action == "allow"
    assert w.ev("ns1/client", "node-1-eth0", "TCP", 23).action == "deny"


def test_network_policy_never_selects_a_host_endpoint(tmp_path: Path) -> None:
    """§2.8: a NetworkPolicy selector is ANDed with its namespace; HEPs have none."""
    w = load(
        tmp_path,
        hep(["projectcalico-default-allow"]),
        np_("p", "ns1", "selector: all()\ningress:\n- action: Deny"),
    )
    assert w.ev("ns1/client", "node-1-eth0", "TCP", 22).action == "allow"


def test_host_endpoint_egress_is_its_own_side(tmp_path: Path) -> None:
    """§2.3 / §2.12: traffic from a HEP is checked against the HEP's egress policy."""
    w = load(
        tmp_path,
        hep(["projectcalico-default-allow"]),
        gnp("out", "selector: role == 'node'\negress:\n- action: Deny"),
    )
    v = w.ev("node-1-eth0", "ns1/server")
    assert v.action == "deny" and v.denied_at == "src"
    assert v.egress is not None and v.egress.enforced_strings == ["0|default|default.out|deny|0"]


PRE_DNAT = "selector: role == 'node'\npreDNAT: true\napplyOnForward: true\ningress:\n- {action: Deny, source: {nets: [8.8.8.0/24]}}"


def test_pre_dnat_tier_default_is_pass(tmp_path: Path) -> None:
    """§2.12: for preDNAT tiers the default action is forced to Pass (so the normal policy
    still decides for traffic the preDNAT policy does not deny)."""
    w = load(
        tmp_path,
        hep(["projectcalico-default-allow"]),
        tier("edge", 10),
        gnp("edge.pre", f"tier: edge\n{PRE_DNAT}"),
    )
    assert w.engine.evaluate(ExternalPeer(ip="8.8.8.8"), w.ep("node-1-eth0"), "TCP", 22).action == "deny"
    v = w.engine.evaluate(ExternalPeer(ip="1.1.1.1"), w.ep("node-1-eth0"), "TCP", 22)
    assert v.action == "allow"
    assert v.ingress is not None and v.ingress.enforced_strings[0] == "0|edge|edge.pre|pass|-1"


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ("preDNAT: true", "applyOnForward must be true"),
        ("doNotTrack: true", "applyOnForward must be true"),
        ("preDNAT: true\napplyOnForward: true\ntypes: [Egress]\negress:\n- action: Allow", "preDNAT"),
    ],
)
def test_host_only_flags_validation(tmp_path: Path, flags: str, message: str) -> None:
    """§2.12: applyOnForward must be true if doNotTrack or preDNAT is; preDNAT is ingress only."""
    with pytest.raises(ScenarioError, match=message):
        load(tmp_path, gnp("p", f"selector: role == 'node'\n{flags}"))


def test_pre_dnat_and_untracked_policies_never_apply_to_pods(tmp_path: Path) -> None:
    """§2.12: doNotTrack / preDNAT are for HEPs only."""
    w = load(
        tmp_path, gnp("p", "selector: all()\npreDNAT: true\napplyOnForward: true\ningress:\n- action: Deny")
    )
    assert w.ev("ns1/client", "ns1/server").action == "allow"


# =============================================================================================
# §2.6 / §2.7 Labels Calico adds to pods


@pytest.mark.parametrize(
    ("selector", "selected"),
    [
        ("projectcalico.org/namespace == 'ns1'", {"ns1/client", "ns1/server"}),
        ("projectcalico.org/orchestrator == 'k8s'", {"ns1/client", "ns1/server", "ns2/other"}),
        ("projectcalico.org/serviceaccount == 'client-sa'", {"ns1/client"}),
        ("pcns.env == 'dev'", {"ns2/other"}),  # namespace labels as pcns.<key>
        ("pcns.projectcalico.org/name == 'ns1'", {"ns1/client", "ns1/server"}),
        ("pcsa.role == 'frontend'", {"ns1/client"}),  # service account labels as pcsa.<key>
        ("pcsa.projectcalico.org/name == 'other-sa'", {"ns2/other"}),
    ],
)
def test_labels_calico_adds_to_pods(tmp_path: Path, selector: str, selected: set[str]) -> None:
    """§2.6: kns profile labels `pcns.<key>` + `pcns.projectcalico.org/name`; ksa profile labels
    `pcsa.<key>` + `pcsa.projectcalico.org/name`; §2.7: `projectcalico.org/namespace`,
    `projectcalico.org/orchestrator=k8s`, `projectcalico.org/serviceaccount`."""
    w = load(tmp_path, gnp("p", f'selector: "{selector}"\ningress:\n- action: Deny'))
    got = {e.key for e in w.engine.selected_endpoints("default.p")}  # type: ignore[union-attr]
    assert got == selected


def test_pod_own_label_wins_over_an_inherited_one(tmp_path: Path) -> None:
    """§2.6: an endpoint's own labels win over inherited ones."""
    pod = (
        "apiVersion: v1\nkind: Pod\nmetadata: {name: odd, namespace: ns1, labels: {pcns.env: mine}}\n"
        "spec:\n  containers:\n  - {name: c, image: nginx}\n"
    )
    w = load(tmp_path, pod)
    labels = w.engine.endpoint_labels(w.cluster.pods["ns1/odd"])
    assert labels["pcns.env"] == "mine"
    assert w.engine.endpoint_labels(w.cluster.pods["ns1/client"])["pcns.env"] == "prod"


@pytest.mark.parametrize(("length", "labelled"), [(62, True), (63, False)])
def test_service_account_label_only_under_63_characters(tmp_path: Path, length: int, labelled: bool) -> None:
    """§2.7: `projectcalico.org/serviceaccount=<sa>` only if the name is under 63 characters."""
    sa = "s" * length
    docs = (
        f"apiVersion: v1\nkind: ServiceAccount\nmetadata: {{name: {sa}, namespace: ns1}}\n",
        f"apiVersion: v1\nkind: Pod\nmetadata: {{name: long-sa, namespace: ns1}}\n"
        f"spec:\n  serviceAccountName: {sa}\n  containers:\n  - {{name: c, image: nginx}}\n",
    )
    w = load(tmp_path, *docs)
    labels = w.engine.endpoint_labels(w.cluster.pods["ns1/long-sa"])
    assert ("projectcalico.org/serviceaccount" in labels) is labelled
