"""Conformance: the trace entries of the `policies` field (calico.md §1.3) as desktopviz
writes and reads them (`PolicyHit`), and what a Verdict says about where traffic was denied
(§2.3). Examples are the reference's own.
"""

from __future__ import annotations

import pytest

from desktopviz.core.verdict import PolicyHit, SideResult, Verdict


@pytest.mark.parametrize(
    "text",
    [
        "0|tier1|ns1/tier1.policy1|pass|3",
        "1|default|policy-demo/default.access-nginx|allow|2",
        "0|default|policy-demo/default.deny-access-nginx|deny|-1",
        "0|__PROFILE__|__PROFILE__.kns.policy-demo|allow|0",
        "0|security|security.pci-whitelist|deny|0",
        "0|default|policy-demo/knp.default.allow-nginx|allow|0",
        "0|tier1|tier1.staged:policy1|deny|1",
        "0|tier1|namespace1/tier1.staged:policy1|allow|0",
        "2|default|ns/staged:knp.default.p|deny|-1",
    ],
)
def test_format_b_round_trips(text: str) -> None:
    """§1.3(b): `<idx>|<tier>|<policy name>|<action>|<rule index>`."""
    assert str(PolicyHit.parse(text)) == text


@pytest.mark.parametrize(
    ("text", "fields"),
    [
        (
            "0|default|policy-demo/default.access-nginx|allow",
            (0, "default", "policy-demo/default.access-nginx", "allow", -2),
        ),
        (
            "0|__PROFILE__|__PROFILE__.kns.policy-demo|allow",
            (0, "__PROFILE__", "__PROFILE__.kns.policy-demo", "allow", -2),
        ),
        (
            "0|allow-tigera|kube-system/allow-tigera.kube-dns|pass",
            (0, "allow-tigera", "kube-system/allow-tigera.kube-dns", "pass", -2),
        ),
    ],
)
def test_format_a_has_an_unknown_rule_index(text: str, fields: tuple) -> None:
    """§1.3(a): the oldest 4-field form; its rule index is unknown (-2 = unknown, §1.3(b))."""
    h = PolicyHit.parse(text)
    assert (h.index, h.tier, h.name, h.action, h.rule_index) == fields


@pytest.mark.parametrize("rule", ["-", ""])
def test_dash_rule_index_is_unknown(rule: str) -> None:
    """§1.3(c): the Enterprise parser writes `-` as the rule index when it is unknown (-2)."""
    assert PolicyHit.parse(f"4|tierName|tierName.policyName|allow|{rule}").rule_index == -2


@pytest.mark.parametrize("action", ["ALLOW", "Deny", "pass"])
def test_actions_are_read_in_any_case_and_written_lower_case(action: str) -> None:
    """§1.3(b): `<action>`: `allow`, `deny`, `pass` (lower case)."""
    h = PolicyHit.parse(f"0|t|t.p|{action}|0")
    assert h.action == action.lower() and str(h) == f"0|t|t.p|{action.lower()}|0"


@pytest.mark.parametrize("text", ["0|t|t.p", "0|t|t.p|allow|0|x", "0|t|t.p|drop|0", "x|t|t.p|allow|0"])
def test_malformed_entries_are_rejected(text: str) -> None:
    """§1.3: 4 or 5 fields, a number index and an action of allow/deny/pass."""
    with pytest.raises(ValueError):
        PolicyHit.parse(text)


@pytest.mark.parametrize(
    ("name", "namespace"),
    [
        ("storefront/default.trusted", "storefront"),  # NetworkPolicy
        ("policy-demo/knp.default.allow-nginx", "policy-demo"),  # Kubernetes NetworkPolicy
        ("namespace1/tier1.staged:policy1", "namespace1"),  # StagedNetworkPolicy
        ("ns/staged:knp.default.p", "ns"),  # StagedKubernetesNetworkPolicy
        ("security.pci-whitelist", None),  # GlobalNetworkPolicy
        ("tier1.staged:policy1", None),  # StagedGlobalNetworkPolicy
    ],
)
def test_namespace_from_the_trace_name(name: str, namespace: str | None) -> None:
    """§1.3(b) name table: namespaced kinds are `<ns>/…`, global kinds have no namespace."""
    assert PolicyHit.parse(f"0|t|{name}|allow|0").namespace == namespace


def test_profile_entries() -> None:
    """§1.3(b): tier `__PROFILE__` for profile rules; a profile has no namespace."""
    h = PolicyHit.parse("1|__PROFILE__|__PROFILE__.kns.default|allow|0")
    assert h.is_profile and h.namespace is None and not h.is_end_of_tier


def test_end_of_tier_is_rule_minus_one() -> None:
    """§1.3(b): `-1` = selected by a policy of the tier but no rule matched (end of tier)."""
    assert PolicyHit.parse("0|default|ns/default.p|deny|-1").is_end_of_tier
    assert not PolicyHit.parse("0|default|ns/default.p|deny|0").is_end_of_tier


def _side(direction: str, action: str) -> SideResult:
    return SideResult(direction, action, (), action, ())  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("egress", "ingress", "denied_at"),
    [
        (_side("egress", "deny"), None, "src"),
        (_side("egress", "allow"), _side("ingress", "deny"), "dst"),
        (None, _side("ingress", "deny"), "dst"),
        (_side("egress", "allow"), _side("ingress", "allow"), None),
        (_side("egress", "allow"), None, None),
    ],
)
def test_where_a_connection_was_denied(
    egress: SideResult | None, ingress: SideResult | None, denied_at: str | None
) -> None:
    """§2.3: a source deny means no destination evaluation; otherwise the destination's ingress
    decides; reporter `src` = egress side, `dst` = ingress side."""
    action = "deny" if denied_at else "allow"
    assert Verdict(egress, ingress, action, action).denied_at == denied_at  # type: ignore[arg-type]
