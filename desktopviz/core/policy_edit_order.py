"""Where a policy goes inside its tier: the `spec.order` values that put it between two
neighbours (calico.md §2.2: lowest order first, no order = last, ties by name).

Inserting before or after a policy picks a round number strictly between the neighbours'
orders. When there is no room (equal orders, or neighbours without an order) the tier's
editable policies are renumbered 10, 20, 30 … around the fixed ones (Kubernetes
NetworkPolicies always have order 1000), keeping the evaluation sequence of every other
policy unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from desktopviz.core.model import Policy, policy_sort_key

STEP = 10.0
INF = math.inf


def _order(p: Policy) -> float:
    return INF if p.order is None else float(p.order)


def _between(lo: float, hi: float) -> float | None:
    """A round number strictly between lo and hi (either may be infinite), or None."""
    if lo >= hi:
        return None
    if lo == -INF and hi == INF:
        return 100.0
    if lo == -INF:
        if hi >= 2:
            return float(math.floor(hi / 2))
        return hi - STEP
    if hi == INF:
        return float(math.floor(lo / STEP) * STEP + STEP)
    mid = (lo + hi) / 2
    for grain in (100.0, 10.0, 1.0):
        cand = round(mid / grain) * grain
        if lo < cand < hi:
            return float(cand)
    return mid if lo < mid < hi else None


def sequence(policies: Sequence[Policy], tier: str) -> list[Policy]:
    """A tier's policies in evaluation order."""
    return sorted((p for p in policies if p.tier == tier), key=policy_sort_key)


def insertion_index(seq: Sequence[Policy], before: str | None, after: str | None) -> int:
    """The index in `seq` a policy goes to when placed before/after a key (end if neither)."""
    keys = [p.key for p in seq]
    if before is not None:
        if before not in keys:
            raise KeyError(before)
        return keys.index(before)
    if after is not None:
        if after not in keys:
            raise KeyError(after)
        return keys.index(after) + 1
    return len(seq)


def place(seq: Sequence[Policy], index: int) -> tuple[float, dict[str, float]]:
    """The order for a policy inserted at `index` of `seq` (the tier without it), and the new
    orders of other policies if the tier had to be renumbered ({} when not)."""
    lo = _order(seq[index - 1]) if index > 0 else -INF
    hi = _order(seq[index]) if index < len(seq) else INF
    found = _between(lo, hi)
    if found is not None:
        return found, {}
    return _renumber(seq, index)


def _renumber(seq: Sequence[Policy], index: int) -> tuple[float, dict[str, float]]:
    """Give every editable policy of the tier (and the newcomer at `index`) an increasing
    order; Kubernetes policies keep theirs and the others are spread around them."""
    slots: list[Policy | None] = [*seq[:index], None, *seq[index:]]
    fixed = [i for i, p in enumerate(slots) if p is not None and p.is_kubernetes]
    out: dict[str, float] = {}
    new_order = 0.0
    bounds = [-1, *fixed, len(slots)]
    for a, b in zip(bounds, bounds[1:], strict=False):
        run = slots[a + 1 : b]
        if not run:
            continue
        lo = _order(slots[a]) if a >= 0 else -INF  # type: ignore[arg-type]
        hi = _order(slots[b]) if b < len(slots) else INF  # type: ignore[arg-type]
        values = _spread(len(run), lo, hi)
        for p, v in zip(run, values, strict=True):
            if p is None:
                new_order = v
            elif p.order is None or float(p.order) != v:
                out[p.key] = v
    return new_order, out


def _spread(n: int, lo: float, hi: float) -> list[float]:
    if lo == -INF and hi == INF:
        return [STEP * (i + 1) for i in range(n)]
    if hi == INF:
        base = math.floor(lo / STEP) * STEP
        return [base + STEP * (i + 1) for i in range(n)]
    if lo == -INF:
        return [hi - STEP * (n - i) for i in range(n)]
    step = (hi - lo) / (n + 1)
    values = [lo + step * (i + 1) for i in range(n)]
    if step >= 1:
        values = [float(math.floor(v)) for v in values]
        if len(set(values)) < n or values[0] <= lo:
            values = [lo + step * (i + 1) for i in range(n)]
    return values


__all__ = ["insertion_index", "place", "sequence"]
