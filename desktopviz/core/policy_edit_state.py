"""Versions of an edited policy set: immutable states, the changes between them (for undo,
redo and the change log's YAML diffs) and the :class:`Delta` a live engine must apply."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from desktopviz.core.model import Policy, Tier, policy_sort_key
from desktopviz.core.policy_edit_yaml import document_of, tier_document, unified_diff

__all__ = ["Change", "Delta", "PolicySetState", "delta", "rebased", "rebased_change", "state_diff"]


@dataclass(frozen=True)
class PolicySetState:
    """One version of the policy set. Never mutated: every change makes a new one."""

    tiers: Mapping[str, Tier]
    policies: Mapping[str, Policy]  # key → Policy; Policy.raw is its document

    def document(self, key: str) -> dict[str, Any]:
        return document_of(self.policies[key])


@dataclass(frozen=True)
class Change:
    """One step of the history: what was done, when, and the states before and after."""

    label: str
    before: PolicySetState
    after: PolicySetState
    time: float = field(default_factory=time.time)

    @property
    def keys(self) -> list[str]:
        """Policies this change created, modified or deleted."""
        d = delta(self.before, self.after)
        return sorted({*(p.key for p in d.applied), *d.removed})

    def diff(self) -> str:
        """The unified YAML diff of every document this change touched."""
        return state_diff(self.before, self.after)


@dataclass
class Delta:
    """What changed between two states, in the order a live engine should apply it: tiers
    first, then removals, then creations and updates."""

    tiers: list[Tier] = field(default_factory=list)
    removed_tiers: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    applied: list[Policy] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.tiers or self.removed_tiers or self.removed or self.applied)


def _same_tier(a: Tier, b: Tier) -> bool:
    return (a.order, a.default_action) == (b.order, b.default_action)


def delta(before: PolicySetState, after: PolicySetState) -> Delta:
    out = Delta()
    for name, tier in after.tiers.items():
        old = before.tiers.get(name)
        if old is None or not _same_tier(old, tier):
            out.tiers.append(tier)
    out.removed_tiers = [n for n in before.tiers if n not in after.tiers]
    out.removed = [k for k in before.policies if k not in after.policies]
    for key, pol in after.policies.items():
        old = before.policies.get(key)
        if old is None or old is not pol and old.raw != pol.raw:
            out.applied.append(pol)
    out.applied.sort(key=policy_sort_key)
    return out


def rebased(
    state: PolicySetState, policies: Mapping[str, Policy | None], tiers: Mapping[str, Tier | None]
) -> PolicySetState:
    """A state with some policies and tiers set (or removed, for None)."""
    pols, trs = dict(state.policies), dict(state.tiers)
    for target, changes in ((pols, policies), (trs, tiers)):
        for k, v in changes.items():
            if v is None:
                target.pop(k, None)
            else:
                target[k] = v  # type: ignore[assignment]
    return PolicySetState(trs, pols)


def rebased_change(
    change: Change, policies: Mapping[str, Policy | None], tiers: Mapping[str, Tier | None]
) -> Change:
    return Change(
        change.label,
        rebased(change.before, policies, tiers),
        rebased(change.after, policies, tiers),
        change.time,
    )


def state_diff(before: PolicySetState, after: PolicySetState) -> str:
    parts: list[str] = []
    for name in sorted(set(before.tiers) | set(after.tiers)):
        a, b = before.tiers.get(name), after.tiers.get(name)
        if a is None or b is None or not _same_tier(a, b):
            parts.append(
                unified_diff(tier_document(a) if a else None, tier_document(b) if b else None, f"tier/{name}")
            )
    for key in sorted(set(before.policies) | set(after.policies)):
        a, b = before.policies.get(key), after.policies.get(key)
        if a is b or (a is not None and b is not None and a.raw == b.raw):
            continue
        parts.append(unified_diff(document_of(a) if a else None, document_of(b) if b else None, key))
    return "".join(parts)
