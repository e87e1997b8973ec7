"""Which tiers and policies an endpoint's packet goes through, per direction: the plans the
tier walk of :mod:`desktopviz.core.policy_eval` follows (calico.md §2.5, §2.12).

Kept apart from the engine so the rules of who-is-evaluated-where sit in one place: policies
grouped by tier in evaluation order, the end-of-tier policy Felix names (enforced: the last
selecting policy; pending checker: the first), and host endpoints' untracked and preDNAT
walks in front of the normal one.
"""

from __future__ import annotations

from collections.abc import Callable

from desktopviz.core.model import Tier
from desktopviz.core.policy_compile import CompiledPolicy
from desktopviz.core.policy_eval import TierPlan, make_tier_plan


def tier_plans(
    pols: list[CompiledPolicy],
    direction: str,
    last: bool,
    tier_of: Callable[[str], Tier],
    force_pass: bool = False,
) -> tuple[TierPlan, ...]:
    """One TierPlan per tier, in the order the (already sorted) policies come in."""
    groups: dict[str, list[CompiledPolicy]] = {}
    for cp in pols:
        groups.setdefault(cp.policy.tier, []).append(cp)
    out = []
    for name, members in groups.items():
        eot = members[-1] if last else members[0]  # Felix enforced: last; checker (pending): first
        default_pass = force_pass or tier_of(name).default_action == "Pass"
        out.append(make_tier_plan(name, default_pass, members, direction, eot.key))
    return tuple(out)


def endpoint_plan(
    pols: list[CompiledPolicy],
    direction: str,
    last: bool,
    tier_of: Callable[[str], Tier],
    host: bool,
) -> tuple[TierPlan, ...]:
    """The tiers a packet goes through at one endpoint, in Felix's order.

    doNotTrack and preDNAT policies only apply to host endpoints, each kind in its own walk
    before the normal policies: untracked (both directions), then preDNAT (ingress only),
    their tiers' default action forced to Pass (calico.md §2.12; CAL event_sequencer.go). As
    the host endpoint docs say for traffic to the host itself, an explicit Allow there skips
    every later policy, which is what an Allow does in a tier walk. The normal walk leaves both
    kinds out (Felix's HostEndpoint `Tiers` vs `UntrackedTiers`/`PreDnatTiers`), and a
    workload endpoint never sees them."""
    normal = [cp for cp in pols if not (cp.policy.do_not_track or cp.policy.pre_dnat)]
    if not host or len(normal) == len(pols):
        return tier_plans(normal, direction, last, tier_of)
    untracked = [cp for cp in pols if cp.policy.do_not_track]
    stages = tier_plans(untracked, direction, last, tier_of, force_pass=True)
    if direction == "ingress":
        pre_dnat = [cp for cp in pols if cp.policy.pre_dnat and not cp.policy.do_not_track]
        stages += tier_plans(pre_dnat, direction, last, tier_of, force_pass=True)
    return stages + tier_plans(normal, direction, last, tier_of)
