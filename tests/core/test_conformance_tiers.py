"""Conformance: tiers, policy order, the tier walk, Pass, end-of-tier and profiles.

One small case per statement of calico.md §2.1 (tiers), §2.2 (order inside a tier), §2.3
(which side evaluates), §2.5 (the evaluation algorithm), §2.6 (profiles) and the trace entries
of §1.3(b) they produce. Each docstring names the section the expectation comes from. The base
cluster (ns1: client, server; ns2: other) is the one of test_calico_semantics.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_calico_semantics import (
    CLIENT,
    GOOGLE,
    PROFILE_NS1,
    PROFILE_NS2,
    SERVER,
    gnp,
    hep,
    knp,
    load,
    np_,
    tier,
)

PROFILE_1 = "1|__PROFILE__|__PROFILE__.kns.ns1|allow|0"


def rule_gnp(name: str, action: str, *, order: float | None = None, selector: str = SERVER) -> str:
    """A GNP in the tier its name starts with, one ingress rule with `action` for everything."""
    tier_name = name.split(".")[0] if "." in name else "default"
    order_line = f"order: {order}\n" if order is not None else ""
    return gnp(name, f"tier: {tier_name}\n{order_line}{selector}\ningress:\n- action: {action}")


def no_match_gnp(name: str, *, order: float | None = None, selector: str = SERVER) -> str:
    """A GNP selecting the endpoint whose only ingress rule never matches."""
    tier_name = name.split(".")[0] if "." in name else "default"
    order_line = f"order: {order}\n" if order is not None else ""
    return gnp(
        name,
        f"tier: {tier_name}\n{order_line}{selector}\n"
        "ingress:\n- {action: Allow, source: {selector: app == 'nobody'}}",
    )


# =============================================================================================
# §2.1 Tier order


def test_lower_tier_order_is_evaluated_first(tmp_path: Path) -> None:
    """§2.1: `Tier.spec.order` lower = evaluated first (the deny of order 10 beats the allow of 20)."""
    w = load(tmp_path, tier("b", 10), tier("a", 20), rule_gnp("b.deny", "Deny"), rule_gnp("a.allow", "Allow"))
    assert w.ingress("ns1/client", "ns1/server") == ["0|b|b.deny|deny|0"]


def test_fractional_tier_orders_compare_as_numbers(tmp_path: Path) -> None:
    """§2.1: order is a float; 9.5 comes before 10 (not a string comparison)."""
    w = load(
        tmp_path, tier("x", 10), tier("y", 9.5), rule_gnp("x.deny", "Deny"), rule_gnp("y.allow", "Allow")
    )
    assert w.ingress("ns1/client", "ns1/server") == ["0|y|y.allow|allow|0"]


def test_tier_without_order_comes_after_the_default_tier(tmp_path: Path) -> None:
    """§2.1: no order = evaluated last, after `default` (order 1,000,000)."""
    w = load(tmp_path, tier("aaa"), rule_gnp("aaa.deny", "Deny"), rule_gnp("allow", "Allow"))
    assert w.ingress("ns1/client", "ns1/server") == ["0|default|default.allow|allow|0"]


def test_order_less_tiers_run_in_name_order(tmp_path: Path) -> None:
    """§2.1: order-less tiers tie, and ties go by name (TierLess)."""
    w = load(
        tmp_path, tier("zeta"), tier("eta"), rule_gnp("zeta.allow", "Allow"), rule_gnp("eta.deny", "Deny")
    )
    assert w.ingress("ns1/client", "ns1/server") == ["0|eta|eta.deny|deny|0"]


def test_equal_tier_orders_run_in_name_order(tmp_path: Path) -> None:
    """§2.1: equal order → the name in alphabetical order."""
    w = load(tmp_path, tier("b", 5), tier("a", 5), rule_gnp("b.deny", "Deny"), rule_gnp("a.allow", "Allow"))
    assert w.ingress("ns1/client", "ns1/server") == ["0|a|a.allow|allow|0"]


@pytest.mark.parametrize(
    ("order", "first"),
    [(999_999, "0|t|t.allow|allow|0"), (1_000_001, "0|default|default.deny|deny|0")],
)
def test_default_tier_sits_at_order_one_million(tmp_path: Path, order: int, first: str) -> None:
    """§2.1 table: `default` has order 1,000,000."""
    w = load(tmp_path, tier("t", order), rule_gnp("t.allow", "Allow"), rule_gnp("deny", "Deny"))
    assert w.ingress("ns1/client", "ns1/server") == [first]


def test_kube_admin_runs_before_default_and_kube_baseline_after(tmp_path: Path) -> None:
    """§2.1 table: kube-admin 1,000 and kube-baseline 10,000,000 (both defaultAction Pass)."""
    w = load(
        tmp_path,
        tier("kube-baseline"),
        tier("kube-admin"),
        rule_gnp("kube-baseline.p", "Pass"),
        rule_gnp("kube-admin.p", "Pass"),
        rule_gnp("p", "Pass"),
    )
    assert w.ingress("ns1/client", "ns1/server") == [
        "0|kube-admin|kube-admin.p|pass|0",
        "1|default|default.p|pass|0",
        "2|kube-baseline|kube-baseline.p|pass|0",
        "3|__PROFILE__|__PROFILE__.kns.ns1|allow|0",
    ]


@pytest.mark.parametrize("name", ["kube-admin", "kube-baseline"])
def test_admin_and_baseline_tiers_pass_at_their_end(tmp_path: Path, name: str) -> None:
    """§2.1 table: kube-admin and kube-baseline have defaultAction Pass."""
    w = load(tmp_path, tier(name), no_match_gnp(f"{name}.p"))
    assert w.ingress("ns1/client", "ns1/server") == [f"0|{name}|{name}.p|pass|-1", PROFILE_1]


def test_tier_default_action_is_deny_when_not_set(tmp_path: Path) -> None:
    """§2.1: `defaultAction` Deny (default)."""
    w = load(tmp_path, tier("t", 10), no_match_gnp("t.p"))
    v = w.ev("ns1/client", "ns1/server")
    assert v.action == "deny"
    assert v.ingress is not None and v.ingress.enforced_strings == ["0|t|t.p|deny|-1"]


def test_default_tier_ends_in_deny(tmp_path: Path) -> None:
    """§2.1 table: the `default` tier's defaultAction is Deny."""
    w = load(tmp_path, no_match_gnp("p"))
    assert w.ingress("ns1/client", "ns1/server") == ["0|default|default.p|deny|-1"]


# =============================================================================================
# §2.2 Policy order inside a tier


def test_lower_policy_order_decides_first(tmp_path: Path) -> None:
    """§2.2: `spec.order` float, lowest first."""
    w = load(tmp_path, rule_gnp("b", "Allow", order=2), rule_gnp("a", "Deny", order=10))
    assert w.ingress("ns1/client", "ns1/server") == ["0|default|default.b|allow|0"]


def test_fractional_policy_orders_compare_as_numbers(tmp_path: Path) -> None:
    """§2.2: 1.5 comes before 10 (numbers, not text)."""
    w = load(tmp_path, rule_gnp("a", "Deny", order=10), rule_gnp("b", "Allow", order=1.5))
    assert w.ingress("ns1/client", "ns1/server") == ["0|default|default.b|allow|0"]


def test_policy_without_order_comes_after_any_order(tmp_path: Path) -> None:
    """§2.2: no order = +∞, i.e. last, even after a very large order."""
    w = load(tmp_path, rule_gnp("a", "Deny"), rule_gnp("b", "Allow", order=1e12))
    assert w.ingress("ns1/client", "ns1/server") == ["0|default|default.b|allow|0"]


def test_order_less_policies_run_alphabetically(tmp_path: Path) -> None:
    """§2.2: "policies without order … processed alphabetically"."""
    w = load(tmp_path, rule_gnp("b", "Deny"), rule_gnp("a", "Allow"))
    assert w.ingress("ns1/client", "ns1/server") == ["0|default|default.a|allow|0"]


def test_equal_order_ties_by_stored_key_global_before_namespaced(tmp_path: Path) -> None:
    """§2.2: v3.30 tie key is the backend key name: `default.zzz` (GNP) sorts before
    `ns1/default.aaa` (NP), since 'd' < 'n'."""
    w = load(
        tmp_path,
        np_("aaa", "ns1", f"order: 5\n{SERVER}\ningress:\n- action: Deny"),
        rule_gnp("zzz", "Allow", order=5),
    )
    assert w.ingress("ns1/client", "ns1/server") == ["0|default|default.zzz|allow|0"]


def test_equal_order_ties_by_namespace_first_for_namespaced_policies(tmp_path: Path) -> None:
    """§2.2: `<ns>/<tier>.<name>`: the namespace part decides before the name. Only ns1
    policies can select the ns1 server, so compare a Calico NP and a Kubernetes NP of ns1:
    `ns1/default.zz` < `ns1/knp.default.aa`."""
    w = load(
        tmp_path,
        knp("aa", "ns1", "podSelector: {matchLabels: {app: server}}\ningress:\n- {}"),
        np_("zz", "ns1", f"order: 1000\n{SERVER}\ningress:\n- action: Deny"),
    )
    assert w.ingress("ns1/client", "ns1/server") == ["0|default|ns1/default.zz|deny|0"]


@pytest.mark.parametrize(
    ("order", "decides"),
    [(999.5, "0|default|default.calico|deny|0"), (1000.5, "0|default|ns1/knp.default.k|allow|0")],
)
def test_kubernetes_policy_order_is_1000(tmp_path: Path, order: float, decides: str) -> None:
    """§2.2: Kubernetes NetworkPolicies get order 1000 in tier `default`."""
    w = load(
        tmp_path,
        knp("k", "ns1", "podSelector: {matchLabels: {app: server}}\ningress:\n- {}"),
        rule_gnp("calico", "Deny", order=order),
    )
    assert w.ingress("ns1/client", "ns1/server") == [decides]


def test_kubernetes_policy_runs_before_order_less_calico_policy(tmp_path: Path) -> None:
    """§2.2: order 1000 beats "no order" (+∞)."""
    w = load(
        tmp_path,
        knp("k", "ns1", "podSelector: {matchLabels: {app: server}}\ningress:\n- {}"),
        rule_gnp("aaa", "Deny"),
    )
    assert w.ingress("ns1/client", "ns1/server") == ["0|default|ns1/knp.default.k|allow|0"]


# =============================================================================================
# §2.3 Direction and which side evaluates


def test_both_sides_must_allow(tmp_path: Path) -> None:
    """§2.3: a pod-to-pod connection needs the client's egress and the server's ingress to be
    Allow, and gives one result per side."""
    w = load(tmp_path, gnp("in", f"{SERVER}\ningress:\n- action: Allow"))
    v = w.ev("ns1/client", "ns1/server")
    assert v.action == "allow"
    assert v.egress is not None and v.egress.direction == "egress"
    assert v.ingress is not None and v.ingress.direction == "ingress"


def test_egress_is_checked_at_the_source_and_ingress_at_the_destination(tmp_path: Path) -> None:
    """§2.3: egress rules at the source endpoint, ingress rules at the destination endpoint.
    The client's egress policy does not apply to the server's ingress and vice versa."""
    w = load(
        tmp_path,
        gnp("c-out", f"{CLIENT}\negress:\n- action: Allow"),
        gnp("s-in", f"{SERVER}\ningress:\n- action: Allow"),
    )
    v = w.ev("ns1/client", "ns1/server")
    assert v.egress is not None and v.egress.enforced_strings == ["0|default|default.c-out|allow|0"]
    assert v.ingress is not None and v.ingress.enforced_strings == ["0|default|default.s-in|allow|0"]
    back = w.ev("ns1/server", "ns1/client")  # the reverse connection meets neither policy
    assert back.egress is not None and back.egress.enforced_strings == [PROFILE_NS1]
    assert back.ingress is not None and back.ingress.enforced_strings == [PROFILE_NS1]


def test_source_deny_leaves_no_destination_result(tmp_path: Path) -> None:
    """§2.3: if the source denies, the packet never reaches the destination: no dst result."""
    w = load(tmp_path, gnp("c-out", f"{CLIENT}\negress:\n- action: Deny"))
    v = w.ev("ns1/client", "ns1/server")
    assert v.action == "deny" and v.denied_at == "src" and v.ingress is None


def test_destination_deny_after_source_allow(tmp_path: Path) -> None:
    """§2.3: the source allows (its log says allow), the destination denies."""
    w = load(tmp_path, gnp("s-in", f"{SERVER}\ningress:\n- action: Deny"))
    v = w.ev("ns1/client", "ns1/server")
    assert v.action == "deny" and v.denied_at == "dst"
    assert v.egress is not None and v.egress.action == "allow"


def test_traffic_to_a_non_calico_ip_has_only_the_egress_side(tmp_path: Path) -> None:
    """§2.3: traffic to a non-Calico IP gives one result only (the pod's egress)."""
    w = load(tmp_path)
    v = w.ev("ns1/client", GOOGLE, "TCP", 443)
    assert v.egress is not None and v.ingress is None and v.action == "allow"


def test_traffic_from_a_non_calico_ip_has_only_the_ingress_side(tmp_path: Path) -> None:
    """§2.3: traffic from a non-Calico IP: only the destination pod's ingress."""
    w = load(tmp_path, gnp("s-in", f"{SERVER}\ningress:\n- action: Deny"))
    v = w.ev(GOOGLE, "ns1/server")
    assert v.egress is None and v.ingress is not None and v.action == "deny" and v.denied_at == "dst"


def test_policy_counts_only_for_the_directions_of_its_types(tmp_path: Path) -> None:
    """§2.3: per direction, a policy counts only if its `types` include that direction: an
    Egress-only policy selecting the server does not create an ingress end-of-tier deny."""
    w = load(tmp_path, gnp("out", f"{SERVER}\ntypes: [Egress]\negress:\n- action: Deny"))
    assert w.ingress("ns1/client", "ns1/server") == [PROFILE_NS1]
    assert w.egress("ns1/server", "ns1/client") == ["0|default|default.out|deny|0"]


# =============================================================================================
# §2.5 The walk: Allow, Deny, Pass, no match, Log, end of tier


def test_allow_stops_everything_later_tiers_and_profiles_are_skipped(tmp_path: Path) -> None:
    """§2.5 step 2: Allow → verdict allow, stop everything (profiles are skipped)."""
    w = load(tmp_path, tier("t", 1), rule_gnp("t.allow", "Allow"), rule_gnp("deny", "Deny"))
    assert w.ingress("ns1/client", "ns1/server") == ["0|t|t.allow|allow|0"]


def test_deny_stops_everything(tmp_path: Path) -> None:
    """§2.5 step 2: Deny → verdict deny, stop (a later tier's Allow is not reached)."""
    w = load(tmp_path, tier("t", 1), rule_gnp("t.deny", "Deny"), rule_gnp("allow", "Allow"))
    v = w.ev("ns1/client", "ns1/server")
    assert v.action == "deny"
    assert v.ingress is not None and v.ingress.enforced_strings == ["0|t|t.deny|deny|0"]


def test_pass_goes_to_the_next_tier_and_indices_count_on(tmp_path: Path) -> None:
    """§2.5 step 2 and §1.3(b): Pass stops this tier and goes to the next tier that applies;
    the trace index counts the entries in the order they were hit."""
    w = load(tmp_path, tier("t1", 1), tier("t2", 2), rule_gnp("t1.p", "Pass"), rule_gnp("t2.d", "Deny"))
    assert w.ingress("ns1/client", "ns1/server") == ["0|t1|t1.p|pass|0", "1|t2|t2.d|deny|0"]


def test_pass_skips_later_policies_of_its_own_tier(tmp_path: Path) -> None:
    """§2.5 step 2: Pass stops *this tier*: a later Deny in the same tier is not reached."""
    w = load(tmp_path, rule_gnp("a", "Pass", order=1), rule_gnp("b", "Deny", order=2))
    v = w.ev("ns1/client", "ns1/server")
    assert v.action == "allow"
    assert v.ingress is not None and v.ingress.enforced_strings == ["0|default|default.a|pass|0", PROFILE_1]


def test_pass_skips_tiers_that_do_not_apply(tmp_path: Path) -> None:
    """§2.5 steps 1-2: after a Pass, the next tier *that applies*; a tier selecting other
    endpoints only is skipped without an end-of-tier deny."""
    w = load(
        tmp_path,
        tier("t1", 1),
        tier("t2", 2),
        tier("t3", 3),
        rule_gnp("t1.p", "Pass"),
        rule_gnp("t2.other", "Deny", selector="selector: app == 'other'"),
        rule_gnp("t3.allow", "Allow"),
    )
    assert w.ingress("ns1/client", "ns1/server") == ["0|t1|t1.p|pass|0", "1|t3|t3.allow|allow|0"]


def test_pass_with_no_later_tier_goes_to_the_profiles(tmp_path: Path) -> None:
    """§2.5: "After a Pass action, if no subsequent tier contains any policies that apply to the
    pod, the connection is allowed" (by the kns profile)."""
    w = load(tmp_path, tier("t1", 1), rule_gnp("t1.p", "Pass"))
    v = w.ev("ns1/client", "ns1/server")
    assert v.action == "allow"
    assert v.ingress is not None and v.ingress.enforced_strings == ["0|t1|t1.p|pass|0", PROFILE_1]


def test_no_rule_matching_tries_the_next_policy_and_is_not_traced(tmp_path: Path) -> None:
    """§2.5 step 2 and §1.3: no rule matches → next policy in the tier; policies that were
    evaluated but matched no rule do not appear in the trace."""
    w = load(tmp_path, no_match_gnp("a", order=1), rule_gnp("b", "Deny", order=2))
    assert w.ingress("ns1/client", "ns1/server") == ["0|default|default.b|deny|0"]


def test_first_matching_rule_of_a_policy_decides(tmp_path: Path) -> None:
    """§2.5 step 2: in each policy the rules are checked in order, the first match decides
    (rule index 1 here: rule 0 does not match)."""
    w = load(
        tmp_path,
        gnp(
            "p",
            f"{SERVER}\ningress:\n- {{action: Deny, protocol: UDP}}\n- {{action: Allow, protocol: TCP}}"
            "\n- action: Deny",
        ),
    )
    assert w.ingress("ns1/client", "ns1/server") == ["0|default|default.p|allow|1"]


def test_log_rule_is_noted_and_the_walk_goes_on(tmp_path: Path) -> None:
    """§2.5 step 2: `Log` = note it and go on to the next rule; the rule index of the deciding
    rule counts the Log rule (§1.3(b): index in that direction's rule list)."""
    w = load(tmp_path, gnp("p", f"{SERVER}\ningress:\n- action: Log\n- action: Log\n- action: Deny"))
    assert w.ingress("ns1/client", "ns1/server") == ["0|default|default.p|deny|2"]


def test_log_only_policy_ends_in_the_end_of_tier_action(tmp_path: Path) -> None:
    """§2.5 steps 2-3: a policy whose only matching rule is Log matches no deciding rule, so the
    tier's default action applies (rule index -1)."""
    w = load(tmp_path, gnp("p", f"{SERVER}\ningress:\n- action: Log"))
    assert w.ingress("ns1/client", "ns1/server") == ["0|default|default.p|deny|-1"]


def test_log_rule_then_next_policy(tmp_path: Path) -> None:
    """§2.5 step 2: after a Log-only policy the next policy of the tier is tried."""
    w = load(
        tmp_path,
        gnp("a", f"order: 1\n{SERVER}\ningress:\n- action: Log"),
        rule_gnp("b", "Allow", order=2),
    )
    assert w.ingress("ns1/client", "ns1/server") == ["0|default|default.b|allow|0"]


def test_end_of_tier_deny_when_the_tier_selects_the_endpoint(tmp_path: Path) -> None:
    """§2.5 step 3: no policy of the tier matched → the tier's defaultAction Deny, rule -1."""
    w = load(tmp_path, tier("t", 1), no_match_gnp("t.p"), rule_gnp("allow", "Allow"))
    v = w.ev("ns1/client", "ns1/server")
    assert v.action == "deny" and v.denied_at == "dst"
    assert v.ingress is not None and v.ingress.enforced_strings == ["0|t|t.p|deny|-1"]


def test_end_of_tier_pass_goes_on_to_the_next_tier(tmp_path: Path) -> None:
    """§2.5 step 3: defaultAction Pass → go on to the next tier (entry pass, rule -1)."""
    w = load(tmp_path, tier("t", 1, "Pass"), no_match_gnp("t.p"), rule_gnp("allow", "Allow"))
    assert w.ingress("ns1/client", "ns1/server") == ["0|t|t.p|pass|-1", "1|default|default.allow|allow|0"]


def test_policy_without_rules_of_a_listed_type_still_selects(tmp_path: Path) -> None:
    """§2.5 steps 1 and 3: a policy whose types list Egress but which has no egress rules
    selects the endpoint for egress: the tier applies and ends in its default Deny."""
    w = load(tmp_path, gnp("p", f"{CLIENT}\ntypes: [Ingress, Egress]\ningress:\n- action: Allow"))
    v = w.ev("ns1/client", "ns1/server")
    assert v.action == "deny" and v.denied_at == "src"
    assert v.egress is not None and v.egress.enforced_strings == ["0|default|default.p|deny|-1"]


def test_no_end_of_tier_action_in_a_tier_selecting_nothing_here(tmp_path: Path) -> None:
    """§2.5 step 1 / §6.3: skip a tier with no policy selecting this endpoint for this
    direction, so no end-of-tier action, even if the tier has deny-all policies for others."""
    w = load(tmp_path, tier("t", 1), no_match_gnp("t.p", selector="selector: app == 'other'"))
    v = w.ev("ns1/client", "ns1/server")
    assert v.action == "allow"
    assert v.ingress is not None and v.ingress.enforced_strings == [PROFILE_NS1]


def test_end_of_tier_entry_names_the_last_selecting_policy(tmp_path: Path) -> None:
    """§1.3(b): for -1 the enforced trace names the **last** enforced policy (in order) of
    that tier that selects the endpoint in that direction; the pending checker the first."""
    w = load(
        tmp_path,
        tier("t", 1),
        no_match_gnp("t.b", order=1),
        no_match_gnp("t.a", order=2),
        no_match_gnp("t.c", order=3, selector="selector: app == 'other'"),
    )
    v = w.ev("ns1/client", "ns1/server")
    assert v.ingress is not None
    assert v.ingress.enforced_strings == ["0|t|t.a|deny|-1"]
    assert v.ingress.pending_strings == ["0|t|t.b|deny|-1"]


def test_one_entry_per_tier_gone_through(tmp_path: Path) -> None:
    """§1.3 "How many entries": one per tier (Pass rule, end-of-tier Pass, final decision),
    then possibly one profile entry."""
    w = load(
        tmp_path,
        tier("t1", 1),
        tier("t2", 2, "Pass"),
        rule_gnp("t1.p", "Pass"),
        no_match_gnp("t2.x"),
        no_match_gnp("y", order=1),
        rule_gnp("z", "Pass", order=2),
    )
    assert w.ingress("ns1/client", "ns1/server") == [
        "0|t1|t1.p|pass|0",
        "1|t2|t2.x|pass|-1",
        "2|default|default.z|pass|0",
        "3|__PROFILE__|__PROFILE__.kns.ns1|allow|0",
    ]


def test_rule_matching_across_policies_follows_policy_order(tmp_path: Path) -> None:
    """§2.5 step 2: policies in order; the first policy with a matching rule decides even if
    a later policy has an earlier-indexed matching rule."""
    w = load(
        tmp_path,
        gnp("a", f"order: 1\n{SERVER}\ningress:\n- {{action: Deny, protocol: UDP}}\n- action: Deny"),
        gnp("b", f"order: 2\n{SERVER}\ningress:\n- action: Allow"),
    )
    assert w.ingress("ns1/client", "ns1/server") == ["0|default|default.a|deny|1"]


# =============================================================================================
# §2.5 step 4 and §2.6 Profiles


def test_no_policy_at_all_means_the_namespace_profile_allows(tmp_path: Path) -> None:
    """§2.5 step 4, §2.6: a pod with no policy is allowed by Profile kns.<ns> (allow-all);
    entry `0|__PROFILE__|__PROFILE__.kns.<ns>|allow|0`."""
    w = load(tmp_path)
    v = w.ev("ns2/other", "ns1/server")
    assert v.action == "allow"
    assert v.egress is not None and v.egress.enforced_strings == [PROFILE_NS2]
    assert v.ingress is not None and v.ingress.enforced_strings == [PROFILE_NS1]


def test_profile_is_the_evaluating_endpoints_namespace(tmp_path: Path) -> None:
    """§2.6: the profile entry is the one of the endpoint being evaluated (egress at the
    source in ns1, ingress at the destination in ns2)."""
    w = load(tmp_path)
    v = w.ev("ns1/client", "ns2/other", "TCP", 9090)
    assert v.egress is not None and v.egress.enforced_strings == [PROFILE_NS1]
    assert v.ingress is not None and v.ingress.enforced_strings == [PROFILE_NS2]


def test_profiles_are_reached_after_every_tier_passes(tmp_path: Path) -> None:
    """§2.5 step 4: after the last tier, the profiles; the profile entry gets the next index."""
    w = load(tmp_path, tier("t", 1, "Pass"), no_match_gnp("t.p"))
    assert w.ingress("ns1/client", "ns1/server") == ["0|t|t.p|pass|-1", PROFILE_1]


def test_host_endpoint_without_profiles_is_denied(tmp_path: Path) -> None:
    """§2.5 step 4: if the endpoint has no profiles → deny (ingress and egress)."""
    w = load(tmp_path, hep(None))
    assert w.ev("ns1/client", "node-1-eth0", "TCP", 22).action == "deny"
    assert w.ev("node-1-eth0", "ns1/server").action == "deny"


def test_host_endpoint_with_only_a_rule_less_profile_is_denied(tmp_path: Path) -> None:
    """§2.5 step 4: profiles checked in order, no matching rule → deny (a profile with no rules
    allows nothing; only projectcalico-default-allow and kns.* are allow-all, §2.6)."""
    w = load(tmp_path, hep(["ksa.ns1.default"]))
    assert w.ev("ns1/client", "node-1-eth0", "TCP", 22).action == "deny"


def test_host_endpoint_default_allow_profile(tmp_path: Path) -> None:
    """§2.6 / §2.12: `projectcalico-default-allow` is the built-in allow-all profile for HEPs."""
    w = load(tmp_path, hep(["projectcalico-default-allow"]))
    v = w.ev("ns1/client", "node-1-eth0", "TCP", 22)
    assert v.action == "allow"
    assert v.ingress is not None
    assert v.ingress.enforced_strings == ["0|__PROFILE__|__PROFILE__.projectcalico-default-allow|allow|0"]


def test_host_endpoint_with_a_namespace_profile_is_allowed(tmp_path: Path) -> None:
    """§2.6: a kns.<ns> profile has ingress [Allow] and egress [Allow]."""
    w = load(tmp_path, hep(["kns.ns2"]))
    v = w.ev("ns1/client", "node-1-eth0", "TCP", 22)
    assert v.action == "allow"
    assert v.ingress is not None and v.ingress.enforced_strings == [PROFILE_NS2]


def test_tier_deny_is_final_even_with_an_allowing_profile(tmp_path: Path) -> None:
    """§2.5 step 3: an end-of-tier Deny stops; the kns profile is not reached."""
    w = load(tmp_path, no_match_gnp("p"))
    v = w.ev("ns1/client", "ns1/server")
    assert v.action == "deny"
    assert v.ingress is not None and all("__PROFILE__" not in s for s in v.ingress.enforced_strings)


# =============================================================================================
# §2.2 Policy names and tiers


def test_policy_without_a_tier_is_in_the_default_tier(tmp_path: Path) -> None:
    """§2.1: each policy is in exactly one tier; default tier `default`."""
    w = load(tmp_path, gnp("p", f"{SERVER}\ningress:\n- action: Deny"))
    assert w.cluster.policies["default.p"].tier == "default"


@pytest.mark.parametrize("name", ["p", "default.p"])
def test_default_prefix_may_be_left_out(tmp_path: Path, name: str) -> None:
    """§2.2: in the `default` tier the `default.` prefix may be left out (stored as
    `default.<name>`)."""
    w = load(tmp_path, np_(name, "ns1", f"{SERVER}\ningress:\n- action: Deny"))
    assert w.ingress("ns1/client", "ns1/server") == ["0|default|ns1/default.p|deny|0"]


def test_policy_in_another_tier_must_carry_its_prefix(tmp_path: Path) -> None:
    """§2.2: a policy in tier `T` other than `default` must be named `T.<name>`."""
    from desktopviz.core.scenario_yaml import ScenarioError

    with pytest.raises(ScenarioError, match="must be named"):
        load(tmp_path, tier("sec", 10), gnp("p", f"tier: sec\n{SERVER}\ningress:\n- action: Deny"))


@pytest.mark.parametrize(
    "name", ["knp.default.x", "kanp.adminnetworkpolicy.x", "kbanp.baselineadminnetworkpolicy.x", "ossg.x"]
)
def test_reserved_name_prefixes_are_rejected(tmp_path: Path, name: str) -> None:
    """§2.2: names starting with `knp.default.`, `kanp.adminnetworkpolicy.`,
    `kbanp.baselineadminnetworkpolicy.` or `ossg.` are reserved for converted policies."""
    from desktopviz.core.scenario_yaml import ScenarioError

    with pytest.raises(ScenarioError):
        load(tmp_path, gnp(name, f"{SERVER}\ningress:\n- action: Deny"))
