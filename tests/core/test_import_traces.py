"""Policy trace strings of the three Calico generations (calico.md §1.3) come out as format (b)."""

from __future__ import annotations

import pytest

from desktopviz.core.board import policy_from_trace
from desktopviz.core.import_traces import TraceFormatError, normalise_entry
from desktopviz.core.verdict import PolicyHit


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # (a) 4 fields, Enterprise <= 3.16: rule index unknown
        (
            "0|default|policy-demo/default.access-nginx|allow",
            "0|default|policy-demo/default.access-nginx|allow|-2",
        ),
        (
            "0|__PROFILE__|__PROFILE__.kns.policy-demo|allow",
            "0|__PROFILE__|__PROFILE__.kns.policy-demo|allow|-2",
        ),
        (
            "0|allow-tigera|kube-system/allow-tigera.kube-dns|pass",
            "0|allow-tigera|kube-system/allow-tigera.kube-dns|pass|-2",
        ),
        # (b) 5 fields: unchanged; '-' as rule index is unknown
        ("0|tier1|ns1/tier1.policy1|pass|3", "0|tier1|ns1/tier1.policy1|pass|3"),
        (
            "1|default|policy-demo/default.access-nginx|allow|2",
            "1|default|policy-demo/default.access-nginx|allow|2",
        ),
        ("2|default|storefront/default.dmz|deny|-1", "2|default|storefront/default.dmz|deny|-1"),
        ("0|tier1|namespace1/tier1.staged:policy1|deny|0", "0|tier1|namespace1/tier1.staged:policy1|deny|0"),
        ("0|default|dev/knp.default.allow-nginx|allow|-", "0|default|dev/knp.default.allow-nginx|allow|-2"),
        ("0|security|security.quarantine|DENY|1", "0|security|security.quarantine|deny|1"),
        # (c) kind-prefixed names (ENT lma tests, OSS 3.32)
        (
            "4|tierName|np:namespaceName/policyName|allow|1",
            "4|tierName|namespaceName/tierName.policyName|allow|1",
        ),
        (
            "4|tierName|np:namespaceName/tierName.policyName|allow|-",
            "4|tierName|namespaceName/tierName.policyName|allow|-2",
        ),
        ("4|tierName|gnp:policyName|allow|0", "4|tierName|tierName.policyName|allow|0"),
        (
            "4|default|knp:namespaceName/policyName|allow|2",
            "4|default|namespaceName/knp.default.policyName|allow|2",
        ),
        (
            "4|default|sknp:namespaceName/policyName|deny|-1",
            "4|default|namespaceName/staged:knp.default.policyName|deny|-1",
        ),
        (
            "4|__PROFILE__|pro:kns.namespaceName|allow|0",
            "4|__PROFILE__|__PROFILE__.kns.namespaceName|allow|0",
        ),
        ("1|tier1|snp:ns2/policy1|deny|0", "1|tier1|ns2/tier1.staged:policy1|deny|0"),
        ("1|security|sgnp:quarantine|deny|2", "1|security|security.staged:quarantine|deny|2"),
        ("0|kube-baseline|kcnp:baseline|allow|0", "0|kube-baseline|kube-baseline.baseline|allow|0"),
        ("3|tier1|eot:__NO_MATCH__|deny", "3|tier1|tier1.__NO_MATCH__|deny|-1"),
        ("3|tier1|eot:__NO_MATCH__|deny|-1", "3|tier1|tier1.__NO_MATCH__|deny|-1"),
    ],
)
def test_every_generation_becomes_format_b(text: str, expected: str) -> None:
    out = normalise_entry(text)
    assert out == expected
    assert str(PolicyHit.parse(out)) == out


@pytest.mark.parametrize(
    ("text", "tier", "name", "namespace", "kind", "staged"),
    [
        ("0|tier1|np:storefront/trusted|allow|1", "tier1", "trusted", "storefront", "Calico", False),
        ("0|security|gnp:pci-whitelist|pass|0", "security", "pci-whitelist", None, "Global", False),
        ("0|default|knp:dev/allow-nginx|allow|0", "default", "allow-nginx", "dev", "Kubernetes", False),
        ("0|tier1|snp:storefront/lockdown|deny|0", "tier1", "lockdown", "storefront", "Calico", True),
        ("0|security|sgnp:quarantine|deny|0", "security", "quarantine", None, "Global", True),
        ("0|default|sknp:dev/deny-all|deny|0", "default", "deny-all", "dev", "Kubernetes", True),
    ],
)
def test_kind_prefixed_names_read_as_board_cards(
    text: str, tier: str, name: str, namespace: str | None, kind: str, staged: bool
) -> None:
    hit = PolicyHit.parse(normalise_entry(text))
    card = policy_from_trace(hit.tier, hit.name)
    assert (card.tier, card.name, card.namespace, card.kind, card.staged) == (
        tier,
        name,
        namespace,
        kind,
        staged,
    )


@pytest.mark.parametrize(
    "text",
    [
        "not a trace",
        "0|default|x|allow|1|extra",
        "zero|default|default.x|allow|1",
        "0|default|default.x|permit|1",
        "0|default|default.x|allow|first",
        "0||default.x|allow|1",
        "0|default||allow|1",
        "0|tier1|np:no-namespace|allow|1",
        "0|tier1|xyz:ns/name|allow|1",
    ],
)
def test_entries_no_calico_writes_are_errors(text: str) -> None:
    with pytest.raises(TraceFormatError):
        normalise_entry(text)
