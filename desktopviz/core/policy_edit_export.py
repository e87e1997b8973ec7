"""A policy set as the documents kubectl or calicoctl accept: tiers first (those in use),
then policies in evaluation order (calico.md §2.1, §2.2)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from desktopviz.core.model import BUILTIN_TIERS, Tier, builtin_tier, policy_sort_key, tier_sort_key
from desktopviz.core.policy_edit_order import sequence
from desktopviz.core.policy_edit_state import PolicySetState
from desktopviz.core.policy_edit_yaml import document_of, tier_document


def tiers_in_order(state: PolicySetState) -> list[Tier]:
    """The set's tiers and the built-in ones its policies use (calico.md §2.1), in order."""
    used = {p.tier for p in state.policies.values()}
    builtin = {name: builtin_tier(name) for name in BUILTIN_TIERS if name in used}
    return sorted({**builtin, **state.tiers}.values(), key=tier_sort_key)  # type: ignore[arg-type]


def export_documents(state: PolicySetState, keys: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """Tiers (other than the built-in ones, which need no document) then policies in
    evaluation order; `keys` limits the policies (and the tiers to theirs)."""
    wanted = None if keys is None else set(keys)
    docs: list[dict[str, Any]] = []
    tiers_used = {p.tier for k, p in state.policies.items() if wanted is None or k in wanted}
    ordered = tiers_in_order(state)
    placed = {t.name for t in ordered}
    for tier in ordered:
        if tier.name not in BUILTIN_TIERS and (wanted is None or tier.name in tiers_used):
            docs.append(tier_document(tier))
    policies = list(state.policies.values())
    for tier in ordered:
        for p in sequence(policies, tier.name):
            if wanted is None or p.key in wanted:
                docs.append(document_of(p))
    for p in sorted(policies, key=policy_sort_key):  # tiers neither defined nor built in
        if p.tier not in placed and (wanted is None or p.key in wanted):
            docs.append(document_of(p))
    return docs


__all__ = ["export_documents", "tiers_in_order"]
