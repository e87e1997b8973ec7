"""Conformance: staged policies, the enforced and pending traces, and policy names in traces.

calico.md §2.5 (staged policies in the enforced and the pending evaluation), §2.13 (kinds,
stagedAction) and §1.3 (enforced_policies vs pending_policies, the trace name of every policy
kind, index closing up). Each docstring names the section it checks.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_calico_semantics import CLIENT, PROFILE_NS1, SERVER, gnp, knp, load, np_, tier

SGNP = "StagedGlobalNetworkPolicy"
SNP = "StagedNetworkPolicy"
SKNP = "StagedKubernetesNetworkPolicy"
NOBODY = "{action: Allow, source: {selector: app == 'nobody'}}"


def pol(name: str, body: str, *, kind: str = "GlobalNetworkPolicy", tier_name: str | None = None) -> str:
    t = tier_name or (name.split(".")[0] if "." in name else "default")
    return gnp(name, f"tier: {t}\n{body}", kind=kind)


# =============================================================================================
# §2.5 Staged policies in the enforced evaluation


def test_staged_policy_never_changes_the_enforced_verdict(tmp_path: Path) -> None:
    """§2.13: staged policies never change traffic; §2.5: ignored in the enforced evaluation."""
    w = load(tmp_path, pol("p", f"{SERVER}\ningress:\n- action: Deny", kind=SGNP))
    v = w.ev("ns1/client", "ns1/server")
    assert v.action == "allow" and v.pending_action == "deny"
    assert v.ingress is not None
    assert v.ingress.enforced_strings == [PROFILE_NS1]
    assert v.ingress.pending_strings == ["0|default|default.staged:p|deny|0"]


def test_tier_with_only_staged_policies_is_skipped_when_enforced(tmp_path: Path) -> None:
    """§2.5: a tier whose selecting policies are all staged is skipped completely (no end-of-tier
    deny) in the enforced evaluation; in the pending one it applies and ends in its Deny."""
    w = load(tmp_path, tier("t", 1), pol("t.p", f"{SERVER}\ningress:\n- {NOBODY}", kind=SGNP))
    v = w.ev("ns1/client", "ns1/server")
    assert v.action == "allow" and v.pending_action == "deny"
    assert v.ingress is not None
    assert v.ingress.enforced_strings == [PROFILE_NS1]
    assert v.ingress.pending_strings == ["0|t|t.staged:p|deny|-1"]


def test_staged_allow_before_an_enforced_deny(tmp_path: Path) -> None:
    """§2.5: pending evaluation counts staged policies as if enforced (StagedAsEnforced), in
    their order among the enforced ones."""
    w = load(
        tmp_path,
        pol("a", f"order: 1\n{SERVER}\ningress:\n- action: Allow", kind=SGNP),
        pol("b", f"order: 2\n{SERVER}\ningress:\n- action: Deny"),
    )
    v = w.ev("ns1/client", "ns1/server")
    assert v.action == "deny" and v.pending_action == "allow"
    assert v.ingress is not None
    assert v.ingress.enforced_strings == ["0|default|default.b|deny|0"]
    assert v.ingress.pending_strings == ["0|default|default.staged:a|allow|0"]


def test_staged_policy_after_a_deciding_enforced_one_changes_nothing(tmp_path: Path) -> None:
    """§2.5: the pending walk stops at the first decision too; a later staged policy is not hit."""
    w = load(
        tmp_path,
        pol("a", f"order: 1\n{SERVER}\ningress:\n- action: Allow"),
        pol("b", f"order: 2\n{SERVER}\ningress:\n- action: Deny", kind=SGNP),
    )
    v = w.ev("ns1/client", "ns1/server")
    assert v.action == "allow" and v.pending_action == "allow"
    assert v.ingress is not None
    assert v.ingress.pending_strings == v.ingress.enforced_strings == ["0|default|default.a|allow|0"]


def test_enforced_indices_close_up_without_staged_entries(tmp_path: Path) -> None:
    """§1.3(b): in `enforced_policies` staged entries are skipped and the indices close up."""
    w = load(
        tmp_path,
        tier("t1", 1),
        tier("t2", 2),
        pol("t1.p", f"{SERVER}\ningress:\n- action: Pass", kind=SGNP),
        pol("t2.a", f"{SERVER}\ningress:\n- action: Allow"),
    )
    v = w.ev("ns1/client", "ns1/server")
    assert v.ingress is not None
    assert v.ingress.pending_strings == ["0|t1|t1.staged:p|pass|0", "1|t2|t2.a|allow|0"]
    assert v.ingress.enforced_strings == ["0|t2|t2.a|allow|0"]


def test_staged_pass_skips_the_rest_of_the_tier_in_the_pending_walk(tmp_path: Path) -> None:
    """§2.5: a staged Pass counts as enforced in the pending walk: the enforced Deny after it in
    the same tier is skipped, the next tier decides."""
    w = load(
        tmp_path,
        tier("t1", 1),
        tier("t2", 2),
        pol("t1.a", f"order: 1\n{SERVER}\ningress:\n- action: Pass", kind=SGNP),
        pol("t1.b", f"order: 2\n{SERVER}\ningress:\n- action: Deny"),
        pol("t2.c", f"{SERVER}\ningress:\n- action: Allow"),
    )
    v = w.ev("ns1/client", "ns1/server")
    assert v.action == "deny" and v.pending_action == "allow"
    assert v.ingress is not None
    assert v.ingress.enforced_strings == ["0|t1|t1.b|deny|0"]
    assert v.ingress.pending_strings == ["0|t1|t1.staged:a|pass|0", "1|t2|t2.c|allow|0"]


def test_end_of_tier_with_staged_and_enforced_policies(tmp_path: Path) -> None:
    """§1.3(b) -1 entries: enforced names the last *enforced* selecting policy; the pending
    checker names the first policy (staged ones count there)."""
    w = load(
        tmp_path,
        tier("t", 1),
        pol("t.a", f"order: 1\n{SERVER}\ningress:\n- {NOBODY}", kind=SGNP),
        pol("t.b", f"order: 2\n{SERVER}\ningress:\n- {NOBODY}"),
        pol("t.c", f"order: 3\n{SERVER}\ningress:\n- {NOBODY}", kind=SGNP),
    )
    v = w.ev("ns1/client", "ns1/server")
    assert v.ingress is not None
    assert v.ingress.enforced_strings == ["0|t|t.b|deny|-1"]
    assert v.ingress.pending_strings == ["0|t|t.staged:a|deny|-1"]


def test_staged_egress_deny_changes_only_the_pending_verdict_of_the_source(tmp_path: Path) -> None:
    """§2.5 / §2.3: staged egress policy at the source: enforced allow reaches the destination;
    the pending verdict is deny."""
    w = load(tmp_path, pol("out", f"{CLIENT}\negress:\n- action: Deny", kind=SGNP))
    v = w.ev("ns1/client", "ns1/server")
    assert v.action == "allow" and v.pending_action == "deny"
    assert v.egress is not None
    assert v.egress.enforced_strings == [PROFILE_NS1]
    assert v.egress.pending_strings == ["0|default|default.staged:out|deny|0"]
    assert v.ingress is not None  # the packet did get there (enforced)


def test_staged_policy_of_another_direction_is_not_counted(tmp_path: Path) -> None:
    """§2.3 / §2.5: a staged Egress-only policy selecting the server does not make its
    ingress pending walk end in a deny."""
    w = load(tmp_path, pol("out", f"{SERVER}\ntypes: [Egress]\negress:\n- action: Deny", kind=SGNP))
    v = w.ev("ns1/client", "ns1/server")
    assert v.ingress is not None and v.ingress.pending_strings == [PROFILE_NS1]


# =============================================================================================
# §2.13 stagedAction


def test_staged_action_set_is_the_default(tmp_path: Path) -> None:
    """§2.13: `stagedAction` Set (default) — an explicit Set behaves like an absent one."""
    w = load(tmp_path, pol("p", f"stagedAction: Set\n{SERVER}\ningress:\n- action: Deny", kind=SGNP))
    assert w.cluster.policies["default.staged:p"].staged_action == "Set"
    v = w.ev("ns1/client", "ns1/server")
    assert v.pending_action == "deny" and v.action == "allow"


def test_staged_delete_is_not_sent_to_felix(tmp_path: Path) -> None:
    """§2.13: Delete staged policies are not sent to Felix, so they change no pending trace:
    the enforced policy they name still decides in both walks."""
    w = load(
        tmp_path,
        pol("p", f"{SERVER}\ningress:\n- action: Deny"),
        pol("p", "stagedAction: Delete", kind=SGNP),
    )
    v = w.ev("ns1/client", "ns1/server")
    assert v.action == "deny" and v.pending_action == "deny"
    assert v.ingress is not None
    assert v.ingress.pending_strings == v.ingress.enforced_strings == ["0|default|default.p|deny|0"]


def test_staged_learn_counts_in_the_pending_walk(tmp_path: Path) -> None:
    """§2.13: only Delete is kept from Felix; a `Learn` staged policy is evaluated as staged."""
    w = load(tmp_path, pol("p", f"stagedAction: Learn\n{SERVER}\ningress:\n- action: Deny", kind=SGNP))
    v = w.ev("ns1/client", "ns1/server")
    assert v.action == "allow" and v.pending_action == "deny"


def test_unknown_staged_action_is_rejected(tmp_path: Path) -> None:
    """§2.13: stagedAction is one of Set, Delete, Learn, Ignore."""
    from desktopviz.core.scenario_yaml import ScenarioError

    with pytest.raises(ScenarioError, match="stagedAction"):
        load(tmp_path, pol("p", f"stagedAction: Apply\n{SERVER}\ningress:\n- action: Deny", kind=SGNP))


def test_staged_and_enforced_policy_of_the_same_name_both_count_when_pending(tmp_path: Path) -> None:
    """§2.5: in the pending evaluation staged policies count as if enforced, beside the enforced
    ones (a staged Set of an existing policy is a separate policy `tier.staged:name`)."""
    w = load(
        tmp_path,
        pol("p", f"order: 2\n{SERVER}\ningress:\n- {{action: Allow, protocol: UDP}}"),
        pol("p", f"order: 1\n{SERVER}\ningress:\n- {{action: Deny, protocol: TCP}}", kind=SGNP),
    )
    v = w.ev("ns1/client", "ns1/server")
    assert v.ingress is not None
    assert v.ingress.enforced_strings == ["0|default|default.p|deny|-1"]
    assert v.ingress.pending_strings == ["0|default|default.staged:p|deny|0"]


# =============================================================================================
# §1.3(b) Policy names in traces, per kind


@pytest.mark.parametrize(
    ("doc", "entry"),
    [
        (
            gnp("sec.pci-whitelist", f"tier: sec\n{SERVER}\ningress:\n- action: Deny"),
            "0|sec|sec.pci-whitelist|deny|0",
        ),
        (
            np_("trusted", "ns1", f"{SERVER}\ningress:\n- action: Deny"),
            "0|default|ns1/default.trusted|deny|0",
        ),
        (
            np_("default.trusted", "ns1", f"{SERVER}\ningress:\n- action: Deny"),
            "0|default|ns1/default.trusted|deny|0",
        ),
        (
            np_("sec.trusted", "ns1", f"tier: sec\n{SERVER}\ningress:\n- action: Deny"),
            "0|sec|ns1/sec.trusted|deny|0",
        ),
        (
            knp("allow-nginx", "ns1", "podSelector: {matchLabels: {app: server}}\ningress: []"),
            "0|default|ns1/knp.default.allow-nginx|deny|-1",
        ),
        (
            gnp("sec.policy1", f"tier: sec\n{SERVER}\ningress:\n- action: Deny", kind=SGNP),
            "0|sec|sec.staged:policy1|deny|0",
        ),
        (
            np_("sec.policy1", "ns1", f"tier: sec\n{SERVER}\ningress:\n- action: Deny", kind=SNP),
            "0|sec|ns1/sec.staged:policy1|deny|0",
        ),
        (
            knp("p", "ns1", "podSelector: {matchLabels: {app: server}}\ningress: []", kind=SKNP),
            "0|default|ns1/staged:knp.default.p|deny|-1",
        ),
    ],
    ids=["gnp", "np", "np-default-prefix", "np-tier", "knp", "sgnp", "snp", "sknp"],
)
def test_trace_name_per_kind(tmp_path: Path, doc: str, entry: str) -> None:
    """§1.3(b) table: GNP `<tier>.<name>`, NP `<ns>/<tier>.<name>`, KNP `<ns>/knp.default.<name>`,
    SGNP `<tier>.staged:<name>`, SNP `<ns>/<tier>.staged:<name>`, SKNP
    `<ns>/staged:knp.default.<name>` (staged: after the tier, as the code does). The entry is
    in the enforced trace for enforced kinds and in the pending trace for staged ones."""
    w = load(tmp_path, tier("sec", 10), doc)
    v = w.ev("ns1/client", "ns1/server")
    assert v.ingress is not None
    staged = "staged:" in entry
    got = v.ingress.pending_strings if staged else v.ingress.enforced_strings
    assert got == [entry]
    if staged:
        assert v.ingress.enforced_strings == [PROFILE_NS1]


def test_profile_trace_name(tmp_path: Path) -> None:
    """§1.3(b) table: Profile `__PROFILE__.<profile>` in tier `__PROFILE__`; §2.6 kns.<ns>."""
    w = load(tmp_path)
    assert w.ingress("ns1/client", "ns1/server") == ["0|__PROFILE__|__PROFILE__.kns.ns1|allow|0"]


def test_trace_actions_are_lower_case(tmp_path: Path) -> None:
    """§1.3(b): `<action>` is `allow`, `deny`, `pass` (lower case)."""
    w = load(
        tmp_path,
        tier("t", 1),
        pol("t.p", f"{SERVER}\ningress:\n- action: Pass"),
        pol("d", f"{SERVER}\ningress:\n- action: Allow"),
    )
    assert w.ingress("ns1/client", "ns1/server") == ["0|t|t.p|pass|0", "1|default|default.d|allow|0"]


# =============================================================================================
# §1.3 pending_policies: the whole connection as it would go with staged policies enforced


@pytest.mark.parametrize(("server_staged", "pending"), [(False, "allow"), (True, "deny")])
def test_pending_verdict_follows_the_packet_past_a_source_that_denies_now(
    tmp_path: Path, server_staged: bool, pending: str
) -> None:
    """§1.3: pending = what evaluation would give if the flow restarted with all staged policies
    treated as enforced. The client's enforced egress denies (the packet never reaches the
    server, §2.3), but a staged allow before it would let it through, so the pending verdict
    also depends on the server's pending ingress walk."""
    docs = [
        pol("a", f"order: 1\n{CLIENT}\negress:\n- action: Allow", kind=SGNP),
        pol("b", f"order: 2\n{CLIENT}\negress:\n- action: Deny"),
    ]
    if server_staged:
        docs.append(pol("c", f"{SERVER}\ningress:\n- action: Deny", kind=SGNP))
    w = load(tmp_path, *docs)
    v = w.ev("ns1/client", "ns1/server")
    assert v.action == "deny" and v.denied_at == "src" and v.ingress is None
    assert v.egress is not None and v.egress.pending_action == "allow"
    assert v.pending_action == pending


def test_pending_verdict_denied_by_the_destination_only(tmp_path: Path) -> None:
    """§1.3 / §2.3: both sides allow now; a staged ingress deny at the server makes the pending
    verdict deny while the source side's pending stays allow."""
    w = load(tmp_path, pol("c", f"{SERVER}\ningress:\n- action: Deny", kind=SGNP))
    v = w.ev("ns1/client", "ns1/server")
    assert v.action == "allow" and v.pending_action == "deny"
    assert v.egress is not None and v.egress.pending_action == "allow"
    assert v.ingress is not None and v.ingress.pending_action == "deny"
