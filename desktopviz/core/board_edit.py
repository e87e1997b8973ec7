"""Editing from the Policy Board, without Qt: where a dragged card lands, where "+ Add
policy" puts a new one, which cards may move (calico.md §4.2: drag to reorder policies,
`+ ADD POLICY` at the bottom of each tier; §2.2: Kubernetes NetworkPolicies are fixed at
order 1000 in tier `default`).

Positions are indexes into a tier column's cards as shown (the dragged card included); the
result is a (before, after) pair of policy keys for
:meth:`desktopviz.core.policy_edit.PolicySet.move` or ``add``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from desktopviz.core.board import BoardLayout, BoardPolicy


@dataclass(frozen=True)
class Placement:
    """Where a policy goes: next to `before` or `after` (keys) in `tier`; both None means
    the end of the (maybe empty) tier."""

    tier: str
    before: str | None = None
    after: str | None = None


def can_move(bp: BoardPolicy | None) -> str | None:
    """Why a card cannot be dragged (None: it can)."""
    if bp is None or bp.policy is None:
        return "only policies of the scenario can be moved (this one is known from flow logs only)"
    if bp.policy.is_kubernetes:
        return "a Kubernetes NetworkPolicy always has order 1000 in tier default"
    return None


def drop_index(card_bottoms: Sequence[float], y: float) -> int:
    """The insertion index for a drop at height `y` in a column whose cards span
    [previous bottom, bottom]: before the first card whose middle is below `y`."""
    top = 0.0
    for i, bottom in enumerate(card_bottoms):
        if y < (top + bottom) / 2:
            return i
        top = bottom
    return len(card_bottoms)


def drop_placement(layout: BoardLayout, key: str, tier: str, index: int) -> Placement | None:
    """Where a card dropped at `index` of `tier`'s column goes, or None when that is where it
    already is (nothing to do)."""
    bt = layout.tier(tier)
    keys = [p.key for p in bt.policies] if bt is not None else []
    index = max(0, min(index, len(keys)))
    if key in keys:
        pos = keys.index(key)
        if index in (pos, pos + 1):
            return None
        if index > pos:
            index -= 1
        keys.remove(key)
    if index < len(keys):
        return Placement(tier, before=keys[index])
    if keys:
        return Placement(tier, after=keys[-1])
    return Placement(tier)


def new_policy_placement(layout: BoardLayout, tier: str) -> Placement:
    """ "+ Add policy" at the bottom of a tier: after its last policy."""
    bt = layout.tier(tier)
    last = bt.policies[-1].key if bt is not None and bt.policies else None
    return Placement(tier, after=last)


__all__ = ["Placement", "can_move", "drop_index", "drop_placement", "new_policy_placement"]
