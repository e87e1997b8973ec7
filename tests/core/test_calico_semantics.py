"""Calico tiered-policy semantics, one test per observable point of calico.md §2 (2.1-2.13),
with the exact flow-log trace strings of calico.md §1.3(b).

Every cluster is written as the YAML manifests a user would apply (Kubernetes objects plus
projectcalico.org/v3 resources), loaded with `load_scenario`, and evaluated with
`PolicyEngine(cluster).evaluate(src, dst, protocol, port)`.

The base cluster:
  ns1 (env=prod): client (app=client, SA client-sa{role=frontend}),
                  server (app=server, ports http=8080/TCP, dns=53/UDP), Service web -> server
  ns2 (env=dev):  other (app=other, SA other-sa{role=batch}, port http=9090/TCP)
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from desktopviz.core import model
from desktopviz.core.model import ExternalPeer

BASE = """
apiVersion: v1
kind: Namespace
metadata: {name: ns1, labels: {env: prod}}
---
apiVersion: v1
kind: Namespace
metadata: {name: ns2, labels: {env: dev}}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: client-sa, namespace: ns1, labels: {role: frontend}}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: other-sa, namespace: ns2, labels: {role: batch}}
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: ns1, labels: {app: client}}
spec:
  serviceAccountName: client-sa
  containers:
  - name: main
    image: curlimages/curl
---
apiVersion: v1
kind: Pod
metadata: {name: server, namespace: ns1, labels: {app: server}}
spec:
  containers:
  - name: main
    image: nginx
    ports:
    - {name: http, containerPort: 8080, protocol: TCP}
    - {name: dns, containerPort: 53, protocol: UDP}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: ns1}
spec:
  selector: {app: server}
  ports:
  - {name: http, port: 80, targetPort: http, protocol: TCP}
---
apiVersion: v1
kind: Pod
metadata: {name: other, namespace: ns2, labels: {app: other}}
spec:
  serviceAccountName: other-sa
  containers:
  - name: main
    image: nginx
    ports:
    - {name: http, containerPort: 9090, protocol: TCP}
"""

HEP = """
apiVersion: projectcalico.org/v3
kind: HostEndpoint
metadata: {name: node-1-eth0, labels: {role: node}}
spec:
  node: node-1
  interfaceName: eth0
  expectedIPs: [192.168.10.1]
  {profiles}
"""

PROFILE_NS1 = "0|__PROFILE__|__PROFILE__.kns.ns1|allow|0"
PROFILE_NS2 = "0|__PROFILE__|__PROFILE__.kns.ns2|allow|0"
GOOGLE = ExternalPeer(ip="8.8.8.8")


class World:
    """A loaded scenario and its engine, with short names for the endpoints."""

    def __init__(self, cluster: model.Cluster) -> None:
        from desktopviz.core.policy import PolicyEngine

        self.cluster = cluster
        self.engine = PolicyEngine(cluster)

    def ep(self, ref: str | model.Endpoint) -> model.Endpoint:
        if not isinstance(ref, str):
            return ref
        if ref in self.cluster.pods:
            return self.cluster.pods[ref]
        return self.cluster.host_endpoints[ref]

    def ev(
        self,
        src: str | model.Endpoint,
        dst: str | model.Endpoint,
        protocol: str = "TCP",
        port: int | None = 8080,
    ):
        return self.engine.evaluate(self.ep(src), self.ep(dst), protocol, port)

    def ingress(self, src: str | model.Endpoint, dst: str | model.Endpoint, protocol: str = "TCP", port=8080):
        v = self.ev(src, dst, protocol, port)
        assert v.ingress is not None, f"no ingress result: {v}"
        return v.ingress.enforced_strings

    def egress(self, src: str | model.Endpoint, dst: str | model.Endpoint, protocol: str = "TCP", port=8080):
        v = self.ev(src, dst, protocol, port)
        assert v.egress is not None, f"no egress result: {v}"
        return v.egress.enforced_strings


def load(tmp_path: Path, *docs: str, base: bool = True) -> World:
    from desktopviz.core.scenario import load_scenario

    folder = tmp_path / "scenario"
    folder.mkdir(exist_ok=True)
    if base:
        (folder / "base.yaml").write_text(BASE, encoding="utf-8")
    extra = "\n---\n".join(textwrap.dedent(d).strip("\n") for d in docs)
    if extra:
        (folder / "policies.yaml").write_text(extra + "\n", encoding="utf-8")
    return World(load_scenario(folder).cluster)


def tier(name: str, order: float | None = None, default_action: str | None = None) -> str:
    spec = []
    if order is not None:
        spec.append(f"order: {order}")
    if default_action is not None:
        spec.append(f"defaultAction: {default_action}")
    return f"""
apiVersion: projectcalico.org/v3
kind: Tier
metadata: {{name: {name}}}
spec: {{{", ".join(spec)}}}
"""


def gnp(name: str, body: str, *, kind: str = "GlobalNetworkPolicy") -> str:
    return (
        f"apiVersion: projectcalico.org/v3\nkind: {kind}\nmetadata: {{name: {name}}}\nspec:\n"
        + textwrap.indent(textwrap.dedent(body).strip("\n"), "  ")
    )


def np_(name: str, ns: str, body: str, *, kind: str = "NetworkPolicy") -> str:
    return (
        f"apiVersion: projectcalico.org/v3\nkind: {kind}\nmetadata: {{name: {name}, namespace: {ns}}}\nspec:\n"
        + textwrap.indent(textwrap.dedent(body).strip("\n"), "  ")
    )


def knp(name: str, ns: str, body: str, *, kind: str = "NetworkPolicy") -> str:
    api = "networking.k8s.io/v1" if kind == "NetworkPolicy" else "projectcalico.org/v3"
    return (
        f"apiVersion: {api}\nkind: {kind}\nmetadata: {{name: {name}, namespace: {ns}}}\nspec:\n"
        + textwrap.indent(textwrap.dedent(body).strip("\n"), "  ")
    )


def hep(profiles: list[str] | None) -> str:
    line = f"profiles: [{', '.join(profiles)}]" if profiles else ""
    return HEP.replace("{profiles}", line)


SERVER = "selector: app == 'server'"
CLIENT = "selector: app == 'client'"


def passing(name: str, order: int = 1, selector: str = SERVER) -> str:
    """A GNP that passes all ingress of the server (tier from its name)."""
    tier_name = name.split(".")[0] if "." in name else "default"
    return gnp(name, f"tier: {tier_name}\norder: {order}\n{selector}\ningress:\n- action: Pass")


# =============================================================================================
# §2.6 Profiles, §1.3(b) profile entries


def test_pod_without_policy_is_allowed_by_its_namespace_profile(tmp_path: Path) -> None:
    w = load(tmp_path)
    v = w.ev("ns1/client", "ns1/server")
    assert v.action == "allow" and v.pending_action == "allow"
    assert v.egress is not None and v.egress.enforced_strings == [PROFILE_NS1]
    assert v.ingress is not None and v.ingress.enforced_strings == [PROFILE_NS1]
    v2 = w.ev("ns2/other", "ns1/server")
    assert v2.egress is not None and v2.egress.enforced_strings == [PROFILE_NS2]
    assert v2.ingress is not None and v2.ingress.enforced_strings == [PROFILE_NS1]
    assert v2.ingress.pending_strings == [PROFILE_NS1]


def test_host_endpoint_without_profile_is_denied(tmp_path: Path) -> None:
    """§2.5 step 4 / §2.12: no policy and no profile -> deny, both directions."""
    w = load(tmp_path, hep(None))
    assert w.ev("ns1/client", "node-1-eth0", "TCP", 22).action == "deny"
    out = w.ev("node-1-eth0", "ns1/server")
    assert out.action == "deny" and out.denied_at == "src" and out.ingress is None


def test_host_endpoint_with_default_allow_profile_is_allowed(tmp_path: Path) -> None:
    w = load(tmp_path, hep(["projectcalico-default-allow"]))
    v = w.ev("ns1/client", "node-1-eth0", "TCP", 22)
    assert v.action == "allow"
    assert v.ingress is not None
    assert v.ingress.enforced_strings == ["0|__PROFILE__|__PROFILE__.projectcalico-default-allow|allow|0"]
    out = w.ev("node-1-eth0", "ns1/server")
    assert out.egress is not None
    assert out.egress.enforced_strings == ["0|__PROFILE__|__PROFILE__.projectcalico-default-allow|allow|0"]
    assert out.action == "allow"


def test_policy_can_allow_a_host_endpoint_without_profile(tmp_path: Path) -> None:
    w = load(tmp_path, hep(None), gnp("allow-ssh", "selector: role == 'node'\ningress:\n- action: Allow"))
    v = w.ev("ns1/client", "node-1-eth0", "TCP", 22)
    assert v.action == "allow"
    assert v.ingress is not None and v.ingress.enforced_strings == ["0|default|default.allow-ssh|allow|0"]


# =============================================================================================
# §2.1 Tiers


def test_tiers_run_in_order_and_pass_goes_to_the_next_tier(tmp_path: Path) -> None:
    w = load(
        tmp_path,
        tier("late", 200),
        tier("early", 100),
        gnp("late.allow", f"tier: late\n{SERVER}\ningress:\n- action: Allow"),
        passing("early.pass"),
    )
    assert w.ingress("ns1/client", "ns1/server") == ["0|early|early.pass|pass|0", "1|late|late.allow|allow|0"]


def test_earlier_tier_deny_wins_over_later_allow(tmp_path: Path) -> None:
    w = load(
        tmp_path,
        tier("late", 200),
        tier("early", 100),
        gnp("late.allow", f"tier: late\n{SERVER}\ningress:\n- action: Allow"),
        gnp("early.deny", f"tier: early\n{SERVER}\ningress:\n- action: Deny"),
    )
    v = w.ev("ns1/client", "ns1/server")
    assert v.action == "deny" and v.denied_at == "dst"
    assert v.ingress is not None and v.ingress.enforced_strings == ["0|early|early.deny|deny|0"]


def test_tier_without_order_is_evaluated_last(tmp_path: Path) -> None:
    """No order = after every ordered tier, including `default` (order 1,000,000, §2.1 table)."""
    w = load(
        tmp_path,
        tier("aaa"),
        tier("zzz", 500),
        passing("aaa.pass"),
        passing("zzz.pass"),
        passing("default.pass"),
    )
    assert w.ingress("ns1/client", "ns1/server") == [
        "0|zzz|zzz.pass|pass|0",
        "1|default|default.pass|pass|0",
        "2|aaa|aaa.pass|pass|0",
        "3|__PROFILE__|__PROFILE__.kns.ns1|allow|0",
    ]


def test_tiers_with_equal_order_run_in_name_order(tmp_path: Path) -> None:
    w = load(tmp_path, tier("beta", 100), tier("alpha", 100), passing("beta.pass"), passing("alpha.pass"))
    assert w.ingress("ns1/client", "ns1/server") == [
        "0|alpha|alpha.pass|pass|0",
        "1|beta|beta.pass|pass|0",
        "2|__PROFILE__|__PROFILE__.kns.ns1|allow|0",
    ]


NO_MATCH_POLICIES = [
    gnp(
        "sec.p1",
        "tier: sec\norder: 1\nselector: app == 'server'\ningress:\n- {action: Allow, source: {selector: app == 'nobody'}}",
    ),
    gnp(
        "sec.p2",
        "tier: sec\norder: 2\nselector: app == 'server'\ningress:\n- {action: Allow, source: {selector: app == 'nobody'}}",
    ),
    # selects another endpoint: must not be named for the server
    gnp(
        "sec.p3",
        "tier: sec\norder: 3\nselector: app == 'other'\ningress:\n- {action: Allow, source: {selector: app == 'nobody'}}",
    ),
    # selects the server for egress only: must not be named for ingress
    gnp(
        "sec.p4",
        "tier: sec\norder: 4\nselector: app == 'server'\ntypes: [Egress]\negress:\n- {action: Allow, destination: {selector: app == 'nobody'}}",
    ),
]


@pytest.mark.parametrize("default_action", [None, "Deny"])
def test_tier_default_deny_names_the_last_selecting_policy(
    tmp_path: Path, default_action: str | None
) -> None:
    """§2.5 step 3 and §1.3(b): end-of-tier entry, rule index -1, the **last** policy of the
    tier (in order) that selects the endpoint in that direction. defaultAction defaults to Deny."""
    w = load(tmp_path, tier("sec", 100, default_action), *NO_MATCH_POLICIES)
    v = w.ev("ns1/client", "ns1/server")
    assert v.action == "deny" and v.denied_at == "dst"
    assert v.ingress is not None and v.ingress.enforced_strings == ["0|sec|sec.p2|deny|-1"]
    # the pending-trace checker names the first policy that did not match (§1.3(b), check.go)
    assert v.ingress.pending_strings == ["0|sec|sec.p1|deny|-1"]
    assert w.egress("ns1/server", "ns1/client") == ["0|sec|sec.p4|deny|-1"]


def test_tier_default_pass_goes_on_to_the_profile(tmp_path: Path) -> None:
    w = load(tmp_path, tier("sec", 100, "Pass"), *NO_MATCH_POLICIES)
    v = w.ev("ns1/client", "ns1/server")
    assert v.action == "allow"
    assert v.ingress is not None and v.ingress.enforced_strings == [
        "0|sec|sec.p2|pass|-1",
        "1|" + PROFILE_NS1[2:],
    ]


def test_tier_that_selects_nothing_for_the_endpoint_is_skipped(tmp_path: Path) -> None:
    """§2.5 step 1: no policy of tier `other` selects the server, so no end-of-tier deny."""
    w = load(
        tmp_path,
        tier("other", 10),
        gnp("other.deny", "tier: other\nselector: app == 'other'\ningress:\n- action: Deny"),
        gnp(
            "other.egress", "tier: other\nselector: app == 'server'\ntypes: [Egress]\negress:\n- action: Deny"
        ),
    )
    v = w.ev("ns1/client", "ns1/server")
    assert v.action == "allow"
    assert v.ingress is not None and v.ingress.enforced_strings == [PROFILE_NS1]


# =============================================================================================
# §2.2 Policy order inside a tier


def test_lower_policy_order_first(tmp_path: Path) -> None:
    w = load(
        tmp_path,
        gnp("allow-later", f"order: 20\n{SERVER}\ningress:\n- action: Allow"),
        gnp("deny-first", f"order: 10\n{SERVER}\ningress:\n- action: Deny"),
    )
    assert w.ingress("ns1/client", "ns1/server") == ["0|default|default.deny-first|deny|0"]


def test_policy_without_order_is_last(tmp_path: Path) -> None:
    w = load(
        tmp_path,
        gnp("no-order", f"{SERVER}\ningress:\n- action: Deny"),
        gnp("ordered", f"order: 5000\n{SERVER}\ningress:\n- action: Allow"),
    )
    assert w.ingress("ns1/client", "ns1/server") == ["0|default|default.ordered|allow|0"]


def test_policies_with_equal_order_run_alphabetically(tmp_path: Path) -> None:
    w = load(
        tmp_path,
        gnp("bbb", f"order: 10\n{SERVER}\ningress:\n- action: Deny"),
        gnp("aaa", f"order: 10\n{SERVER}\ningress:\n- action: Allow"),
    )
    assert w.ingress("ns1/client", "ns1/server") == ["0|default|default.aaa|allow|0"]


@pytest.mark.parametrize(
    ("order", "expected"),
    [(999, "0|default|ns1/default.before|deny|0"), (1001, "0|default|ns1/knp.default.allow-all|allow|0")],
)
def test_kubernetes_policy_has_order_1000(tmp_path: Path, order: int, expected: str) -> None:
    w = load(
        tmp_path,
        np_("before", "ns1", f"order: {order}\n{SERVER}\ningress:\n- action: Deny"),
        knp("allow-all", "ns1", "podSelector: {matchLabels: {app: server}}\ningress:\n- {}"),
    )
    assert w.ingress("ns1/client", "ns1/server") == [expected]


def test_no_rule_matches_then_next_policy_in_the_tier(tmp_path: Path) -> None:
    w = load(
        tmp_path,
        gnp(
            "p1", f"order: 1\n{SERVER}\ningress:\n- {{action: Allow, source: {{selector: app == 'nobody'}}}}"
        ),
        gnp("p2", f"order: 2\n{SERVER}\ningress:\n- action: Deny"),
    )
    assert w.ingress("ns1/client", "ns1/server") == ["0|default|default.p2|deny|0"]


# =============================================================================================
# §2.4 types defaulting


@pytest.mark.parametrize(
    ("rules", "types", "ingress_trace", "egress_trace"),
    [
        ("", ["Ingress"], ["0|default|default.p|deny|-1"], [PROFILE_NS1]),
        ("ingress:\n- action: Deny", ["Ingress"], ["0|default|default.p|deny|0"], [PROFILE_NS1]),
        ("egress:\n- action: Deny", ["Egress"], [PROFILE_NS1], ["0|default|default.p|deny|0"]),
        (
            "ingress:\n- action: Deny\negress:\n- action: Deny",
            ["Ingress", "Egress"],
            ["0|default|default.p|deny|0"],
            ["0|default|default.p|deny|0"],
        ),
    ],
    ids=["no-rules", "ingress-only", "egress-only", "both"],
)
def test_types_default_from_the_rules_present(
    tmp_path: Path, rules: str, types: list[str], ingress_trace: list[str], egress_trace: list[str]
) -> None:
    w = load(tmp_path, gnp("p", f"{SERVER}\n{rules}"))
    assert sorted(w.cluster.policies["default.p"].types) == sorted(types)
    assert w.ingress("ns1/client", "ns1/server") == ingress_trace
    assert w.egress("ns1/server", "ns1/client") == egress_trace


def test_explicit_types_ignore_rules_of_the_other_direction(tmp_path: Path) -> None:
    w = load(
        tmp_path, gnp("p", f"{SERVER}\ntypes: [Egress]\ningress:\n- action: Deny\negress:\n- action: Allow")
    )
    assert w.ingress("ns1/client", "ns1/server") == [PROFILE_NS1]
    assert w.egress("ns1/server", "ns1/client") == ["0|default|default.p|allow|0"]


# =============================================================================================
# §2.3 Both sides


def test_egress_deny_at_source_means_no_ingress_result(tmp_path: Path) -> None:
    w = load(tmp_path, gnp("client-out", f"{CLIENT}\negress:\n- action: Deny"))
    v = w.ev("ns1/client", "ns1/server")
    assert v.action == "deny" and v.denied_at == "src"
    assert v.egress is not None and v.egress.action == "deny"
    assert v.egress.enforced_strings == ["0|default|default.client-out|deny|0"]
    assert v.ingress is None


def test_ingress_deny_at_destination_after_egress_allow(tmp_path: Path) -> None:
    w = load(tmp_path, gnp("server-in", f"{SERVER}\ningress:\n- action: Deny"))
    v = w.ev("ns1/client", "ns1/server")
    assert v.action == "deny" and v.denied_at == "dst"
    assert v.egress is not None and v.egress.action == "allow" and v.egress.enforced_strings == [PROFILE_NS1]
    assert v.ingress is not None and v.ingress.enforced_strings == ["0|default|default.server-in|deny|0"]


def test_external_peers_have_only_one_side(tmp_path: Path) -> None:
    w = load(tmp_path)
    out = w.ev("ns1/client", GOOGLE, "TCP", 443)
    assert out.ingress is None and out.egress is not None and out.egress.enforced_strings == [PROFILE_NS1]
    inbound = w.ev(GOOGLE, "ns1/server")
    assert inbound.egress is None and inbound.ingress is not None and inbound.action == "allow"


# =============================================================================================
# §2.5 Actions


def test_allow_stops_evaluation_and_skips_profiles(tmp_path: Path) -> None:
    w = load(
        tmp_path,
        tier("t1", 100),
        gnp("t1.allow", f"tier: t1\n{SERVER}\ningress:\n- action: Allow"),
        passing("default.p"),
    )
    assert w.ingress("ns1/client", "ns1/server") == ["0|t1|t1.allow|allow|0"]


def test_log_rule_does_not_decide(tmp_path: Path) -> None:
    w = load(tmp_path, gnp("p", f"{SERVER}\ningress:\n- action: Log\n- action: Allow"))
    v = w.ev("ns1/client", "ns1/server")
    assert v.action == "allow"
    assert v.ingress is not None and v.ingress.enforced_strings == ["0|default|default.p|allow|1"]


def test_pass_from_the_last_tier_goes_to_the_profile(tmp_path: Path) -> None:
    w = load(tmp_path, passing("default.p"))
    assert w.ingress("ns1/client", "ns1/server") == ["0|default|default.p|pass|0", "1|" + PROFILE_NS1[2:]]


def test_pass_skips_the_rest_of_its_tier(tmp_path: Path) -> None:
    w = load(
        tmp_path, passing("default.first", 1), gnp("second", f"order: 2\n{SERVER}\ningress:\n- action: Deny")
    )
    v = w.ev("ns1/client", "ns1/server")
    assert v.action == "allow"
    assert v.ingress is not None
    assert v.ingress.enforced_strings == ["0|default|default.first|pass|0", "1|" + PROFILE_NS1[2:]]


# =============================================================================================
# §1.3(b) trace names by kind, §2.13 staged policies

KIND_CASES = [
    # (documents, expected ingress entry, staged?)
    (gnp("p", f"{SERVER}\ningress:\n- action: Deny"), "0|default|default.p|deny|0", False),
    (gnp("default.p", f"{SERVER}\ningress:\n- action: Deny"), "0|default|default.p|deny|0", False),
    (gnp("sec.p", f"tier: sec\n{SERVER}\ningress:\n- action: Deny"), "0|sec|sec.p|deny|0", False),
    (np_("p", "ns1", f"{SERVER}\ningress:\n- action: Deny"), "0|default|ns1/default.p|deny|0", False),
    (np_("default.p", "ns1", f"{SERVER}\ningress:\n- action: Deny"), "0|default|ns1/default.p|deny|0", False),
    (np_("sec.p", "ns1", f"tier: sec\n{SERVER}\ningress:\n- action: Deny"), "0|sec|ns1/sec.p|deny|0", False),
    (
        knp("p", "ns1", "podSelector: {matchLabels: {app: server}}\npolicyTypes: [Ingress]"),
        "0|default|ns1/knp.default.p|deny|-1",
        False,
    ),
    (
        gnp("sec.p", f"tier: sec\n{SERVER}\ningress:\n- action: Deny", kind="StagedGlobalNetworkPolicy"),
        "0|sec|sec.staged:p|deny|0",
        True,
    ),
    (
        gnp("p", f"{SERVER}\ningress:\n- action: Deny", kind="StagedGlobalNetworkPolicy"),
        "0|default|default.staged:p|deny|0",
        True,
    ),
    (
        np_("sec.p", "ns1", f"tier: sec\n{SERVER}\ningress:\n- action: Deny", kind="StagedNetworkPolicy"),
        "0|sec|ns1/sec.staged:p|deny|0",
        True,
    ),
    (
        knp(
            "p",
            "ns1",
            "podSelector: {matchLabels: {app: server}}\npolicyTypes: [Ingress]",
            kind="StagedKubernetesNetworkPolicy",
        ),
        "0|default|ns1/staged:knp.default.p|deny|-1",
        True,
    ),
]


@pytest.mark.parametrize(
    ("doc", "entry", "staged"),
    KIND_CASES,
    ids=[
        "gnp",
        "gnp-default-prefix",
        "gnp-tier",
        "np",
        "np-default-prefix",
        "np-tier",
        "knp",
        "sgnp-tier",
        "sgnp",
        "snp-tier",
        "sknp",
    ],
)
def test_trace_name_format_per_kind(tmp_path: Path, doc: str, entry: str, staged: bool) -> None:
    w = load(tmp_path, tier("sec", 100), doc)
    v = w.ev("ns1/client", "ns1/server")
    assert v.ingress is not None
    if staged:
        # Staged policies never change traffic; they only appear in the pending trace (§2.13).
        assert v.action == "allow" and v.ingress.enforced_strings == [PROFILE_NS1]
        assert v.pending_action == "deny" and v.ingress.pending_action == "deny"
        assert v.ingress.pending_strings == [entry]
    else:
        assert v.action == "deny" and v.ingress.enforced_strings == [entry]
        assert v.ingress.pending_strings == [entry]


def test_tier_with_only_staged_policies_is_skipped_when_enforced(tmp_path: Path) -> None:
    """§2.5: a tier whose selecting policies are all staged is skipped in the enforced trace;
    enforced indices close up (§1.3(b), `pIdx = idx - nsp`)."""
    w = load(
        tmp_path,
        tier("stg", 50),
        gnp("stg.pass", f"tier: stg\n{SERVER}\ningress:\n- action: Pass", kind="StagedGlobalNetworkPolicy"),
        gnp("allow", f"{SERVER}\ningress:\n- action: Allow"),
    )
    v = w.ev("ns1/client", "ns1/server")
    assert v.ingress is not None
    assert v.ingress.enforced_strings == ["0|default|default.allow|allow|0"]
    assert v.ingress.pending_strings == ["0|stg|stg.staged:pass|pass|0", "1|default|default.allow|allow|0"]
    assert v.action == "allow" and v.pending_action == "allow"


def test_staged_deny_in_its_own_tier_only_changes_the_pending_verdict(tmp_path: Path) -> None:
    w = load(
        tmp_path,
        tier("stg", 50),
        gnp("stg.deny", f"tier: stg\n{SERVER}\ningress:\n- action: Deny", kind="StagedGlobalNetworkPolicy"),
        gnp("allow", f"{SERVER}\ningress:\n- action: Allow"),
    )
    v = w.ev("ns1/client", "ns1/server")
    assert v.ingress is not None
    assert v.action == "allow" and v.ingress.enforced_strings == ["0|default|default.allow|allow|0"]
    assert v.pending_action == "deny" and v.ingress.pending_strings == ["0|stg|stg.staged:deny|deny|0"]


def test_staged_policy_beside_enforced_ones_in_a_tier(tmp_path: Path) -> None:
    """The enforced trace ignores a staged policy that would have matched first."""
    w = load(
        tmp_path,
        gnp("s", f"order: 1\n{SERVER}\ningress:\n- action: Deny", kind="StagedGlobalNetworkPolicy"),
        gnp("e", f"order: 2\n{SERVER}\ningress:\n- action: Allow"),
    )
    v = w.ev("ns1/client", "ns1/server")
    assert v.ingress is not None
    assert v.ingress.enforced_strings == ["0|default|default.e|allow|0"]
    assert v.ingress.pending_strings == ["0|default|default.staged:s|deny|0"]


# =============================================================================================
# §2.10 Rule fields


def _ingress_rule(w_tmp: Path, rule: str) -> World:
    return load(w_tmp, gnp("p", f"{SERVER}\ningress:\n- {rule}"))


@pytest.mark.parametrize(
    ("rule", "protocol", "port", "allowed"),
    [
        ("{action: Allow, protocol: UDP}", "UDP", 53, True),
        ("{action: Allow, protocol: UDP}", "TCP", 8080, False),
        ("{action: Allow, protocol: udp}", "UDP", 53, True),  # case-insensitive
        ("{action: Allow, protocol: 17}", "UDP", 53, True),  # numbers: UDP 17
        ("{action: Allow, protocol: 6}", "TCP", 8080, True),
        ("{action: Allow, notProtocol: TCP}", "UDP", 53, True),
        ("{action: Allow, notProtocol: TCP}", "TCP", 8080, False),
        ("{action: Allow, protocol: TCP, destination: {ports: [8080]}}", "TCP", 8080, True),
        ("{action: Allow, protocol: TCP, destination: {ports: [8080]}}", "TCP", 8081, False),
        ("{action: Allow, protocol: TCP, destination: {ports: ['8000:8080']}}", "TCP", 8080, True),
        ("{action: Allow, protocol: TCP, destination: {ports: ['8000:8080']}}", "TCP", 8000, True),
        ("{action: Allow, protocol: TCP, destination: {ports: ['8000:8080']}}", "TCP", 8081, False),
        ("{action: Allow, protocol: TCP, destination: {ports: [http]}}", "TCP", 8080, True),
        ("{action: Allow, protocol: TCP, destination: {ports: [http]}}", "TCP", 9090, False),
        ("{action: Allow, destination: {ports: [dns]}}", "UDP", 53, True),  # named port, no protocol
        ("{action: Allow, destination: {ports: [dns]}}", "TCP", 53, False),  # dns is a UDP port
        ("{action: Allow, protocol: TCP, destination: {notPorts: [8080]}}", "TCP", 8080, False),
        ("{action: Allow, protocol: TCP, destination: {notPorts: [8080]}}", "TCP", 8081, True),
        ("{action: Allow, protocol: TCP, destination: {notPorts: [http]}}", "TCP", 8080, False),
        ("{action: Allow, source: {selector: app == 'client'}}", "TCP", 8080, True),
        ("{action: Allow, source: {notSelector: app == 'client'}}", "TCP", 8080, False),
        ("{action: Allow, source: {serviceAccounts: {names: [client-sa]}}}", "TCP", 8080, True),
        ("{action: Allow, source: {serviceAccounts: {names: [other-sa]}}}", "TCP", 8080, False),
        ("{action: Allow, source: {serviceAccounts: {selector: role == 'frontend'}}}", "TCP", 8080, True),
        ("{action: Allow, source: {serviceAccounts: {selector: role == 'batch'}}}", "TCP", 8080, False),
        ("{action: Allow, source: {nets: [10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16]}}", "TCP", 8080, True),
        (
            "{action: Allow, source: {notNets: [10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16]}}",
            "TCP",
            8080,
            False,
        ),
    ],
)
def test_ingress_rule_field_matching(
    tmp_path: Path, rule: str, protocol: str, port: int, allowed: bool
) -> None:
    """Client (ns1, SA client-sa) -> server. Allowed: rule 0 matched; else end-of-tier deny."""
    w = _ingress_rule(tmp_path, rule)
    v = w.ev("ns1/client", "ns1/server", protocol, port)
    assert v.ingress is not None
    expected = "0|default|default.p|allow|0" if allowed else "0|default|default.p|deny|-1"
    assert v.ingress.enforced_strings == [expected]
    assert v.action == ("allow" if allowed else "deny")


def test_pod_ip_is_in_the_pod_cidr_for_the_nets_cases(tmp_path: Path) -> None:
    import ipaddress

    w = load(tmp_path)
    ip = w.cluster.pods["ns1/client"].ip
    assert ip is not None
    assert any(
        ipaddress.ip_address(ip) in ipaddress.ip_network(n)
        for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")
    )


@pytest.mark.parametrize(
    ("rule", "dst", "allowed"),
    [
        ("{action: Allow, destination: {nets: [8.8.8.0/24]}}", GOOGLE, True),
        ("{action: Allow, destination: {nets: [8.8.8.0/24]}}", ExternalPeer(ip="1.1.1.1"), False),
        ("{action: Allow, destination: {notNets: [8.8.8.0/24]}}", GOOGLE, False),
        ("{action: Allow, destination: {notNets: [8.8.8.0/24]}}", ExternalPeer(ip="1.1.1.1"), True),
        # `!has()` inside a selector only matches Calico endpoints; notSelector also matches plain IPs (§2.8)
        ("{action: Allow, destination: {selector: '!has(app)'}}", GOOGLE, False),
        ("{action: Allow, destination: {notSelector: has(app)}}", GOOGLE, True),
        ("{action: Allow, destination: {notSelector: has(app)}}", "ns1/server", False),
        # namespaceSelector all(): every namespaced endpoint, no plain IP
        ("{action: Allow, destination: {namespaceSelector: all()}}", "ns2/other", True),
        ("{action: Allow, destination: {namespaceSelector: all()}}", GOOGLE, False),
        ("{action: Allow, destination: {namespaceSelector: env == 'dev'}}", "ns2/other", True),
        ("{action: Allow, destination: {namespaceSelector: env == 'dev'}}", "ns1/server", False),
        (
            "{action: Allow, destination: {domains: ['*.google.com']}}",
            ExternalPeer(ip="142.250.1.1", domain="www.google.com"),
            True,
        ),
        (
            "{action: Allow, destination: {domains: ['*.google.com']}}",
            ExternalPeer(ip="142.250.1.1", domain="google.com"),
            False,
        ),
        (
            "{action: Allow, destination: {domains: [api.example.com]}}",
            ExternalPeer(ip="93.184.216.34", domain="api.example.com"),
            True,
        ),
        (
            "{action: Allow, destination: {domains: [api.example.com]}}",
            ExternalPeer(ip="93.184.216.34", domain="www.example.com"),
            False,
        ),
        ("{action: Allow, destination: {services: {name: web, namespace: ns1}}}", "ns1/server", True),
        ("{action: Allow, destination: {services: {name: web, namespace: ns1}}}", "ns2/other", False),
    ],
)
def test_egress_rule_destination_matching(
    tmp_path: Path, rule: str, dst: str | ExternalPeer, allowed: bool
) -> None:
    w = load(tmp_path, gnp("p", f"{CLIENT}\negress:\n- {rule}"))
    port = 9090 if dst == "ns2/other" else 8080
    v = w.ev("ns1/client", dst, "TCP", port)
    assert v.egress is not None
    expected = "0|default|default.p|allow|0" if allowed else "0|default|default.p|deny|-1"
    assert v.egress.enforced_strings == [expected]


def test_networkpolicy_rule_without_selectors_matches_external_ips(tmp_path: Path) -> None:
    """§2.8: the namespace clause is only added when the rule has a selector field."""
    w = load(
        tmp_path,
        np_("open", "ns1", f"order: 1\n{CLIENT}\negress:\n- {{action: Allow, protocol: TCP}}"),
    )
    assert w.egress("ns1/client", GOOGLE, "TCP", 443) == ["0|default|ns1/default.open|allow|0"]


def test_networkpolicy_rule_selector_is_scoped_to_its_namespace(tmp_path: Path) -> None:
    w = load(
        tmp_path, np_("p", "ns1", f"{CLIENT}\negress:\n- {{action: Allow, destination: {{selector: all()}}}}")
    )
    assert w.egress("ns1/client", "ns1/server") == ["0|default|ns1/default.p|allow|0"]
    assert w.egress("ns1/client", "ns2/other", "TCP", 9090) == ["0|default|ns1/default.p|deny|-1"]
    assert w.egress("ns1/client", GOOGLE, "TCP", 443) == ["0|default|ns1/default.p|deny|-1"]


def test_networkpolicy_selector_only_selects_its_own_namespace(tmp_path: Path) -> None:
    """§2.8: NetworkPolicy spec.selector is ANDed with its namespace."""
    w = load(tmp_path, np_("p", "ns1", "selector: all()\ningress:\n- action: Deny"))
    assert w.ingress("ns1/client", "ns2/other", "TCP", 9090) == [PROFILE_NS2]
    assert w.ingress("ns2/other", "ns1/server") == ["0|default|ns1/default.p|deny|0"]


def test_namespace_selector_global_matches_only_non_namespaced(tmp_path: Path) -> None:
    w = load(
        tmp_path,
        hep(["projectcalico-default-allow"]),
        np_("p", "ns1", f"{SERVER}\ningress:\n- {{action: Allow, source: {{namespaceSelector: global()}}}}"),
    )
    assert w.ingress("node-1-eth0", "ns1/server") == ["0|default|ns1/default.p|allow|0"]
    assert w.ingress("ns1/client", "ns1/server") == ["0|default|ns1/default.p|deny|-1"]
    assert w.ingress("ns2/other", "ns1/server") == ["0|default|ns1/default.p|deny|-1"]


def test_namespace_selector_all_does_not_match_host_endpoints(tmp_path: Path) -> None:
    w = load(
        tmp_path,
        hep(["projectcalico-default-allow"]),
        gnp("p", f"{SERVER}\ningress:\n- {{action: Allow, source: {{namespaceSelector: all()}}}}"),
    )
    assert w.ingress("ns2/other", "ns1/server") == ["0|default|default.p|allow|0"]
    assert w.ingress("node-1-eth0", "ns1/server") == ["0|default|default.p|deny|-1"]


def test_icmp_protocol_rule(tmp_path: Path) -> None:
    w = _ingress_rule(tmp_path, "{action: Allow, protocol: ICMP}")
    assert w.ingress("ns1/client", "ns1/server", "ICMP", None) == ["0|default|default.p|allow|0"]
    assert w.ingress("ns1/client", "ns1/server", "TCP", 8080) == ["0|default|default.p|deny|-1"]


# =============================================================================================
# §2.11 NetworkSets

NETSETS = [
    """
    apiVersion: projectcalico.org/v3
    kind: NetworkSet
    metadata: {name: blocklist, namespace: ns1, labels: {list: bad}}
    spec:
      nets: [203.0.113.0/24]
    """,
    """
    apiVersion: projectcalico.org/v3
    kind: GlobalNetworkSet
    metadata: {name: gbad, labels: {list: gbad}}
    spec:
      nets: [198.51.100.0/24]
    """,
]
BAD_IP = ExternalPeer(ip="203.0.113.5")
GBAD_IP = ExternalPeer(ip="198.51.100.7")


def _deny_then_allow(dest: str) -> str:
    return f"egress:\n- {{action: Deny, destination: {dest}}}\n- action: Allow"


@pytest.mark.parametrize(
    ("policy", "src", "dst", "entry"),
    [
        # namespaced set: visible to NetworkPolicies of its namespace
        (
            np_("p", "ns1", f"{CLIENT}\n" + _deny_then_allow("{selector: list == 'bad'}")),
            "ns1/client",
            BAD_IP,
            "0|default|ns1/default.p|deny|0",
        ),
        (
            np_("p", "ns1", f"{CLIENT}\n" + _deny_then_allow("{selector: list == 'bad'}")),
            "ns1/client",
            GOOGLE,
            "0|default|ns1/default.p|allow|1",
        ),
        # ...not to those of another namespace
        (
            np_("p", "ns2", "selector: app == 'other'\n" + _deny_then_allow("{selector: list == 'bad'}")),
            "ns2/other",
            BAD_IP,
            "0|default|ns2/default.p|allow|1",
        ),
        # ...unless the rule's namespaceSelector names it; the set inherits its namespace's labels
        (
            np_(
                "p",
                "ns2",
                "selector: app == 'other'\n"
                + _deny_then_allow("{selector: list == 'bad', namespaceSelector: env == 'prod'}"),
            ),
            "ns2/other",
            BAD_IP,
            "0|default|ns2/default.p|deny|0",
        ),
        # GlobalNetworkSet: not visible from a NetworkPolicy without namespaceSelector global()
        (
            np_("p", "ns1", f"{CLIENT}\n" + _deny_then_allow("{selector: list == 'gbad'}")),
            "ns1/client",
            GBAD_IP,
            "0|default|ns1/default.p|allow|1",
        ),
        (
            np_(
                "p",
                "ns1",
                f"{CLIENT}\n" + _deny_then_allow("{selector: list == 'gbad', namespaceSelector: global()}"),
            ),
            "ns1/client",
            GBAD_IP,
            "0|default|ns1/default.p|deny|0",
        ),
        # a GlobalNetworkPolicy sees both
        (
            gnp("p", f"{CLIENT}\n" + _deny_then_allow("{selector: list == 'gbad'}")),
            "ns1/client",
            GBAD_IP,
            "0|default|default.p|deny|0",
        ),
        (
            gnp("p", f"{CLIENT}\n" + _deny_then_allow("{selector: list == 'bad'}")),
            "ns1/client",
            BAD_IP,
            "0|default|default.p|deny|0",
        ),
    ],
    ids=[
        "np-same-ns",
        "np-same-ns-other-ip",
        "np-other-ns",
        "np-other-ns-nsselector",
        "np-gns-hidden",
        "np-gns-global",
        "gnp-gns",
        "gnp-ns-set",
    ],
)
def test_network_set_labels_are_matched_by_selectors(
    tmp_path: Path, policy: str, src: str, dst: ExternalPeer, entry: str
) -> None:
    w = load(tmp_path, *NETSETS, policy)
    assert w.egress(src, dst, "TCP", 443) == [entry]


def test_domains_of_a_network_set(tmp_path: Path) -> None:
    w = load(
        tmp_path,
        """
        apiVersion: projectcalico.org/v3
        kind: GlobalNetworkSet
        metadata: {name: google, labels: {dest: google}}
        spec:
          allowedEgressDomains: ['*.google.com']
        """,
        gnp("p", f"{CLIENT}\negress:\n- {{action: Allow, destination: {{selector: dest == 'google'}}}}"),
    )
    ok = ExternalPeer(ip="142.250.1.1", domain="mail.google.com")
    bad = ExternalPeer(ip="142.250.1.1", domain="google.com")
    assert w.egress("ns1/client", ok, "TCP", 443) == ["0|default|default.p|allow|0"]
    assert w.egress("ns1/client", bad, "TCP", 443) == ["0|default|default.p|deny|-1"]


# =============================================================================================
# §2.6-2.8 Labels


@pytest.mark.parametrize(
    ("selector", "selected"),
    [
        ("projectcalico.org/namespace == 'ns1'", {"ns1/client", "ns1/server"}),
        ("projectcalico.org/orchestrator == 'k8s'", {"ns1/client", "ns1/server", "ns2/other"}),
        ("projectcalico.org/serviceaccount == 'client-sa'", {"ns1/client"}),
        ("pcns.env == 'dev'", {"ns2/other"}),
        ("pcns.projectcalico.org/name == 'ns1'", {"ns1/client", "ns1/server"}),
        ("pcns.kubernetes.io/metadata.name == 'ns2'", {"ns2/other"}),
        ("pcsa.role == 'frontend'", {"ns1/client"}),
        ("pcsa.projectcalico.org/name == 'other-sa'", {"ns2/other"}),
        ("pcsa.projectcalico.org/name == 'default'", {"ns1/server"}),
    ],
)
def test_labels_calico_adds_and_inherits(tmp_path: Path, selector: str, selected: set[str]) -> None:
    w = load(tmp_path, gnp("p", f'selector: "{selector}"\ningress:\n- action: Deny'))
    pods = ["ns1/client", "ns1/server", "ns2/other"]
    for dst in pods:
        src = "ns1/client" if dst != "ns1/client" else "ns1/server"
        got = w.ingress(src, dst, "TCP", 8080)
        want = (
            ["0|default|default.p|deny|0"]
            if dst in selected
            else [PROFILE_NS1 if dst.startswith("ns1") else PROFILE_NS2]
        )
        assert got == want, f"{selector} on {dst}"


def test_pod_own_label_wins_over_inherited_one(tmp_path: Path) -> None:
    w = load(
        tmp_path,
        """
        apiVersion: v1
        kind: Pod
        metadata: {name: special, namespace: ns1, labels: {app: special, pcns.env: mine}}
        spec:
          containers: [{name: main, image: nginx}]
        """,
        gnp("p", "selector: pcns.env == 'mine'\ningress:\n- action: Deny"),
        gnp("q", "order: 1\nselector: pcns.env == 'prod' && app == 'special'\ningress:\n- action: Deny"),
    )
    assert w.ingress("ns1/client", "ns1/special") == ["0|default|default.p|deny|0"]


@pytest.mark.parametrize(
    ("ns_selector", "selected"),
    [("env == 'dev'", {"ns2/other"}), ("all()", {"ns1/client", "ns1/server", "ns2/other"})],
)
def test_global_policy_namespace_selector(tmp_path: Path, ns_selector: str, selected: set[str]) -> None:
    w = load(
        tmp_path,
        hep(["projectcalico-default-allow"]),
        gnp("p", f'namespaceSelector: "{ns_selector}"\ningress:\n- action: Deny'),
    )
    for dst in ("ns1/client", "ns1/server", "ns2/other"):
        src = "ns1/client" if dst != "ns1/client" else "ns1/server"
        denied = w.ev(src, dst, "TCP", 8080).action == "deny"
        assert denied == (dst in selected), dst
    # a namespaceSelector never selects a host endpoint
    assert w.ev("ns1/client", "node-1-eth0", "TCP", 22).action == "allow"


def test_global_policy_with_empty_selector_selects_host_endpoints(tmp_path: Path) -> None:
    w = load(tmp_path, hep(["projectcalico-default-allow"]), gnp("p", "ingress:\n- action: Deny"))
    assert w.ingress("ns1/client", "node-1-eth0", "TCP", 22) == ["0|default|default.p|deny|0"]
    assert w.ingress("ns2/other", "ns1/server") == ["0|default|default.p|deny|0"]


@pytest.mark.parametrize(
    ("rule", "icmp_type", "icmp_code", "allowed"),
    [
        ("{action: Allow, protocol: ICMP, icmp: {type: 8}}", 8, 0, True),
        ("{action: Allow, protocol: ICMP, icmp: {type: 8}}", 0, 0, False),
        ("{action: Allow, protocol: ICMP, icmp: {type: 3, code: 4}}", 3, 4, True),
        ("{action: Allow, protocol: ICMP, icmp: {type: 3, code: 4}}", 3, 1, False),
        ("{action: Allow, protocol: ICMP, notICMP: {type: 8}}", 8, 0, False),
        ("{action: Allow, protocol: ICMP, notICMP: {type: 8}}", 0, 0, True),
    ],
)
def test_icmp_type_and_code(tmp_path: Path, rule: str, icmp_type: int, icmp_code: int, allowed: bool) -> None:
    w = _ingress_rule(tmp_path, rule)
    v = w.engine.evaluate(
        w.ep("ns1/client"), w.ep("ns1/server"), "ICMP", None, icmp_type=icmp_type, icmp_code=icmp_code
    )
    assert v.ingress is not None
    expected = "0|default|default.p|allow|0" if allowed else "0|default|default.p|deny|-1"
    assert v.ingress.enforced_strings == [expected]


@pytest.mark.parametrize(
    ("policy", "selected"),
    [
        (gnp("p", "serviceAccountSelector: role == 'frontend'\ningress:\n- action: Deny"), {"ns1/client"}),
        (
            gnp("p", "serviceAccountSelector: all()\ningress:\n- action: Deny"),
            {"ns1/client", "ns1/server", "ns2/other"},
        ),
        (
            np_("p", "ns1", "serviceAccountSelector: role == 'frontend'\ningress:\n- action: Deny"),
            {"ns1/client"},
        ),
        (np_("p", "ns2", "serviceAccountSelector: role == 'frontend'\ningress:\n- action: Deny"), set()),
    ],
    ids=["gnp", "gnp-all", "np", "np-other-ns"],
)
def test_policy_service_account_selector(tmp_path: Path, policy: str, selected: set[str]) -> None:
    """§2.8: serviceAccountSelector is matched against the SA's labels (`pcsa.` prefix), ANDed."""
    w = load(tmp_path, policy)
    for dst in ("ns1/client", "ns1/server", "ns2/other"):
        src = "ns1/client" if dst != "ns1/client" else "ns1/server"
        assert (w.ev(src, dst).action == "deny") == (dst in selected), dst


def test_deployment_pods_are_selected_by_template_labels(tmp_path: Path) -> None:
    w = load(
        tmp_path,
        """
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: api, namespace: ns1}
        spec:
          replicas: 2
          selector: {matchLabels: {app: api}}
          template:
            metadata: {labels: {app: api}}
            spec:
              containers:
              - name: main
                image: nginx
                ports: [{name: http, containerPort: 8080}]
        """,
        np_(
            "api-in",
            "ns1",
            "selector: app == 'api'\ningress:\n- {action: Allow, protocol: TCP, destination: {ports: [http]}}",
        ),
    )
    api_pods = [p for p in w.cluster.pods.values() if p.labels.get("app") == "api"]
    assert len(api_pods) == 2
    for pod in api_pods:
        assert w.ingress("ns1/client", pod) == ["0|default|ns1/default.api-in|allow|0"]
        assert w.ingress("ns1/client", pod, "TCP", 9000) == ["0|default|ns1/default.api-in|deny|-1"]


@pytest.mark.parametrize(
    ("policy", "dst", "port", "entry"),
    [
        # A namespaced policy's rule is limited to its namespace as soon as any selector field is
        # used, notSelector and serviceAccounts included (§2.8; CAL rules.go getEndpointSelector).
        (
            np_(
                "p",
                "ns1",
                f"{CLIENT}\negress:\n- {{action: Allow, destination: {{notSelector: app == 'nothing'}}}}",
            ),
            "ns1/server",
            8080,
            "0|default|ns1/default.p|allow|0",
        ),
        (
            np_(
                "p",
                "ns1",
                f"{CLIENT}\negress:\n- {{action: Allow, destination: {{notSelector: app == 'nothing'}}}}",
            ),
            "ns2/other",
            9090,
            "0|default|ns1/default.p|deny|-1",
        ),
        (
            np_(
                "p",
                "ns1",
                f"{CLIENT}\negress:\n- {{action: Allow, destination: {{notSelector: app == 'nothing'}}}}",
            ),
            GOOGLE,
            443,
            "0|default|ns1/default.p|deny|-1",
        ),
        (
            gnp(
                "p", f"{CLIENT}\negress:\n- {{action: Allow, destination: {{notSelector: app == 'nothing'}}}}"
            ),
            "ns2/other",
            9090,
            "0|default|default.p|allow|0",
        ),
        (
            np_(
                "p",
                "ns1",
                f"{CLIENT}\negress:\n- {{action: Allow, destination: {{serviceAccounts: {{names: [other-sa]}}}}}}",
            ),
            "ns2/other",
            9090,
            "0|default|ns1/default.p|deny|-1",
        ),
        (
            np_(
                "p",
                "ns1",
                f"{CLIENT}\negress:\n- {{action: Allow, destination: {{namespaceSelector: all(), serviceAccounts: {{names: [other-sa]}}}}}}",
            ),
            "ns2/other",
            9090,
            "0|default|ns1/default.p|allow|0",
        ),
        (
            gnp(
                "p",
                f"{CLIENT}\negress:\n- {{action: Allow, destination: {{serviceAccounts: {{names: [other-sa]}}}}}}",
            ),
            "ns2/other",
            9090,
            "0|default|default.p|allow|0",
        ),
    ],
    ids=[
        "np-notsel-same-ns",
        "np-notsel-other-ns",
        "np-notsel-external",
        "gnp-notsel-other-ns",
        "np-sa-other-ns",
        "np-sa-all-ns",
        "gnp-sa",
    ],
)
def test_namespaced_rule_scoping(
    tmp_path: Path, policy: str, dst: str | ExternalPeer, port: int, entry: str
) -> None:
    w = load(tmp_path, policy)
    assert w.egress("ns1/client", dst, "TCP", port) == [entry]


@pytest.mark.parametrize(
    ("docs", "entry"),
    [
        # v3.30 tie key is the stored name: `default.zz` < `ns1/default.aa` (§2.2)
        (
            [
                gnp("zz", f"order: 10\n{SERVER}\ningress:\n- action: Deny"),
                np_("aa", "ns1", f"order: 10\n{SERVER}\ningress:\n- action: Allow"),
            ],
            "0|default|default.zz|deny|0",
        ),
        # `ns1/default.zzz` < `ns1/knp.default.aaa` at the Kubernetes order 1000
        (
            [
                np_("zzz", "ns1", f"order: 1000\n{SERVER}\ningress:\n- action: Deny"),
                knp("aaa", "ns1", "podSelector: {}\ningress:\n- {}"),
            ],
            "0|default|ns1/default.zzz|deny|0",
        ),
    ],
    ids=["gnp-vs-np", "np-vs-knp"],
)
def test_equal_order_tie_key_is_the_stored_name(tmp_path: Path, docs: list[str], entry: str) -> None:
    w = load(tmp_path, *docs)
    assert w.ingress("ns1/client", "ns1/server") == [entry]


def test_network_set_as_ingress_source(tmp_path: Path) -> None:
    w = load(
        tmp_path,
        *NETSETS,
        gnp(
            "p",
            f"{SERVER}\ningress:\n- {{action: Deny, source: {{selector: list == 'bad'}}}}\n- action: Allow",
        ),
    )
    assert w.ingress(BAD_IP, "ns1/server") == ["0|default|default.p|deny|0"]
    assert w.ingress(GBAD_IP, "ns1/server") == ["0|default|default.p|allow|1"]


@pytest.mark.parametrize(
    ("rule", "allowed"),
    [("{action: Allow, ipVersion: 4}", True), ("{action: Allow, ipVersion: 6}", False)],
)
def test_ip_version(tmp_path: Path, rule: str, allowed: bool) -> None:
    w = _ingress_rule(tmp_path, rule)
    expected = "0|default|default.p|allow|0" if allowed else "0|default|default.p|deny|-1"
    assert w.ingress("ns1/client", "ns1/server") == [expected]


@pytest.mark.parametrize(("src_port", "allowed"), [(40000, True), (40001, False)])
def test_source_ports(tmp_path: Path, src_port: int, allowed: bool) -> None:
    w = _ingress_rule(tmp_path, "{action: Allow, protocol: TCP, source: {ports: ['30000:40000']}}")
    v = w.engine.evaluate(w.ep("ns1/client"), w.ep("ns1/server"), "TCP", 8080, src_port=src_port)
    assert v.ingress is not None
    expected = "0|default|default.p|allow|0" if allowed else "0|default|default.p|deny|-1"
    assert v.ingress.enforced_strings == [expected]


def test_log_only_policy_falls_to_end_of_tier(tmp_path: Path) -> None:
    w = _ingress_rule(tmp_path, "{action: Log}")
    assert w.ingress("ns1/client", "ns1/server") == ["0|default|default.p|deny|-1"]


def test_staged_delete_is_not_sent_to_felix(tmp_path: Path) -> None:
    """§2.13: a staged policy with `stagedAction: Delete` is not sent to Felix (CAL
    stagednetworkpolicyprocessor.go returns nil), so Felix's pending trace is unaffected by it."""
    w = load(
        tmp_path,
        gnp("p", f"{SERVER}\ningress:\n- action: Deny"),
        gnp("p", "stagedAction: Delete", kind="StagedGlobalNetworkPolicy"),
    )
    v = w.ev("ns1/client", "ns1/server")
    assert v.ingress is not None
    assert v.ingress.enforced_strings == ["0|default|default.p|deny|0"]
    assert v.ingress.pending_strings == ["0|default|default.p|deny|0"]
    assert v.pending_action == "deny"


# =============================================================================================
# Random tiered policies against a reference walk written from calico.md §2.5 and §1.3(b)
# (only a small selector vocabulary, evaluated here with Python predicates).

import os  # noqa: E402

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

SELECTORS: dict[str, object] = {
    "all()": lambda lb: True,
    "app == 'client'": lambda lb: lb.get("app") == "client",
    "app == 'server'": lambda lb: lb.get("app") == "server",
    "app != 'other'": lambda lb: lb.get("app") != "other",
    "has(app)": lambda lb: "app" in lb,
    "app in {'server', 'other'}": lambda lb: lb.get("app") in ("server", "other"),
}
POD_KEYS = ("ns1/client", "ns1/server", "ns2/other")
TIERS = (("t1", 100), ("t2", 200), ("default", 1_000_000))


@st.composite
def _rand_rule(draw: st.DrawFn) -> dict[str, object]:
    return {
        "action": draw(st.sampled_from(["Allow", "Deny", "Pass", "Log"])),
        "protocol": draw(st.sampled_from([None, "TCP", "UDP"])),
        "peer": draw(st.sampled_from([None, *SELECTORS])),
    }


@st.composite
def _rand_policy(draw: st.DrawFn, i: int) -> dict[str, object]:
    staged = draw(st.booleans())
    return {
        "name": f"p{i}",
        "global": draw(st.booleans()),
        "ns": draw(st.sampled_from(["ns1", "ns2"])),
        "staged": staged,
        "tier": draw(st.sampled_from([t for t, _ in TIERS])),
        # staged policies get their own order: their tie key against enforced ones is not pinned down
        "order": 50 + i if staged else draw(st.sampled_from([None, 1, 2])),
        "selector": draw(st.sampled_from(list(SELECTORS))),
        "types": draw(st.sampled_from([None, ["Ingress"], ["Egress"], ["Ingress", "Egress"]])),
        "ingress": draw(st.lists(_rand_rule(), max_size=2)),
        "egress": draw(st.lists(_rand_rule(), max_size=2)),
    }


def _rand_yaml(p: dict[str, object]) -> str:
    name = p["name"] if p["tier"] == "default" else f"{p['tier']}.{p['name']}"
    lines = [f"tier: {p['tier']}", f'selector: "{p["selector"]}"']
    if p["order"] is not None:
        lines.append(f"order: {p['order']}")
    if p["types"] is not None:
        lines.append(f"types: [{', '.join(p['types'])}]")  # type: ignore[arg-type]
    for direction, peer_key in (("ingress", "source"), ("egress", "destination")):
        rules = p[direction]
        if not rules:
            continue
        lines.append(f"{direction}:")
        for r in rules:  # type: ignore[attr-defined]
            parts = [f"action: {r['action']}"]
            if r["protocol"]:
                parts.append(f"protocol: {r['protocol']}")
            if r["peer"]:
                parts.append(f'{peer_key}: {{selector: "{r["peer"]}"}}')
            lines.append(f"- {{{', '.join(parts)}}}")
    body = "\n".join(lines)
    kind = ("Staged" if p["staged"] else "") + ("GlobalNetworkPolicy" if p["global"] else "NetworkPolicy")
    return gnp(name, body, kind=kind) if p["global"] else np_(name, str(p["ns"]), body, kind=kind)


def _ref_types(p: dict[str, object]) -> list[str]:
    if p["types"] is not None:
        return p["types"]  # type: ignore[return-value]
    if p["egress"]:
        return ["Ingress", "Egress"] if p["ingress"] else ["Egress"]
    return ["Ingress"]


def _ref_trace_name(p: dict[str, object]) -> str:
    ns = "" if p["global"] else f"{p['ns']}/"
    return f"{ns}{p['tier']}.{'staged:' if p['staged'] else ''}{p['name']}"


def _ref_sort_key(p: dict[str, object]) -> tuple[bool, float, str]:
    ns = "" if p["global"] else f"{p['ns']}/"
    order = p["order"]
    return (order is None, float(order) if order is not None else 0.0, f"{ns}{p['tier']}.{p['name']}")  # type: ignore[arg-type]


def _ref_side(
    pols: list[dict[str, object]],
    defaults: dict[str, str],
    me: model.Pod,
    me_labels: dict[str, str],
    peer: model.Pod,
    peer_labels: dict[str, str],
    direction: str,
    proto: str,
    pending: bool,
) -> tuple[str, list[str]]:
    trace: list[tuple[str, str, str, int]] = []
    for tier_name, _ in TIERS:
        selecting = sorted(
            (
                p
                for p in pols
                if p["tier"] == tier_name
                and (pending or not p["staged"])
                and direction.capitalize() in _ref_types(p)
                and (p["global"] or p["ns"] == me.namespace)
                and SELECTORS[p["selector"]](me_labels)  # type: ignore[index,operator]
            ),
            key=_ref_sort_key,
        )
        if not selecting:
            continue
        decided = None
        for p in selecting:
            for idx, r in enumerate(p[direction]):  # type: ignore[arg-type]
                if r["protocol"] and r["protocol"] != proto:
                    continue
                if r["peer"] and not (
                    SELECTORS[r["peer"]](peer_labels) and (p["global"] or peer.namespace == p["ns"])
                ):
                    continue
                if r["action"] == "Log":
                    continue
                decided = (tier_name, _ref_trace_name(p), r["action"].lower(), idx)
                break
            if decided:
                break
        if decided:
            trace.append(decided)
            if decided[2] != "pass":
                return decided[2], [f"{i}|{t}|{n}|{a}|{x}" for i, (t, n, a, x) in enumerate(trace)]
            continue
        eot_policy = selecting[0] if pending else selecting[-1]
        action = "pass" if defaults[tier_name] == "Pass" else "deny"
        trace.append((tier_name, _ref_trace_name(eot_policy), action, -1))
        if action == "deny":
            return "deny", [f"{i}|{t}|{n}|{a}|{x}" for i, (t, n, a, x) in enumerate(trace)]
    trace.append(("__PROFILE__", f"__PROFILE__.kns.{me.namespace}", "allow", 0))
    return "allow", [f"{i}|{t}|{n}|{a}|{x}" for i, (t, n, a, x) in enumerate(trace)]


@settings(
    max_examples=int(os.environ.get("DESKTOPVIZ_CONFORMANCE_EXAMPLES", "40")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    pols=st.integers(1, 5).flatmap(lambda n: st.tuples(*[_rand_policy(i) for i in range(n)])),
    defaults=st.fixed_dictionaries(
        {"t1": st.sampled_from(["Deny", "Pass"]), "t2": st.sampled_from(["Deny", "Pass"])}
    ),
)
def test_random_tiered_policies_match_the_reference_walk(
    pols: tuple[dict[str, object], ...], defaults: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> None:
    docs = [tier("t1", 100, defaults["t1"]), tier("t2", 200, defaults["t2"])] + [_rand_yaml(p) for p in pols]
    w = load(tmp_path_factory.mktemp("walk"), *docs)
    all_defaults = {**defaults, "default": "Deny"}
    labels = {k: w.engine.endpoint_labels(w.cluster.pods[k]) for k in POD_KEYS}
    for s in POD_KEYS:
        for d in POD_KEYS:
            if s == d:
                continue
            for proto, port in (("TCP", 8080), ("UDP", 53)):
                v = w.ev(s, d, proto, port)
                src, dst = w.cluster.pods[s], w.cluster.pods[d]
                for pending in (False, True):
                    e_act, e_trace = _ref_side(
                        list(pols), all_defaults, src, labels[s], dst, labels[d], "egress", proto, pending
                    )
                    assert v.egress is not None
                    got_e = v.egress.pending_strings if pending else v.egress.enforced_strings
                    where = f"{s}->{d} {proto} {'pending' if pending else 'enforced'}\n" + "\n---\n".join(
                        docs
                    )
                    assert got_e == e_trace, f"egress {where}"
                    got_i = v.ingress
                    side_action = v.pending_action if pending else v.action
                    if e_act == "deny":
                        assert side_action == "deny", where
                        continue
                    i_act, i_trace = _ref_side(
                        list(pols), all_defaults, dst, labels[d], src, labels[s], "ingress", proto, pending
                    )
                    if pending and got_i is None:
                        # the enforced egress denied, so the packet never got there
                        assert v.egress.action == "deny", where
                        continue
                    assert got_i is not None, where
                    assert (got_i.pending_strings if pending else got_i.enforced_strings) == i_trace, (
                        f"ingress {where}"
                    )
                    assert side_action == i_act, where
