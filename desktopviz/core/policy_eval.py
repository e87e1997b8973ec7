"""The tier walk of calico.md §2.5 for one endpoint and one direction, and the step record the
`explain` command reads.

A plan is the endpoint's tiers in order, each with the policies that select the endpoint in
that direction (already filtered and sorted), so the walk only matches rules.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

from desktopviz.core.model import Policy, Rule
from desktopviz.core.policy_compile import CompiledPolicy, CompiledRule
from desktopviz.core.policy_match import Packet, Peer
from desktopviz.core.verdict import PolicyHit

PROFILE_TIER = "__PROFILE__"
# Felix's dataplane "no profile matched" drop (CAL felix/calc/policy_lookup_cache.go: a RuleID
# with no tier and no name, index 0): `__PROFILE__|__PROFILE__.__NO_MATCH__|deny|0`.
NO_MATCH_PROFILE = f"{PROFILE_TIER}.__NO_MATCH__"


@dataclass(frozen=True)
class TierPlan:
    """One tier as an endpoint sees it in one direction."""

    name: str
    default_pass: bool
    policies: tuple[tuple[CompiledPolicy, tuple[CompiledRule, ...]], ...]
    eot_key: str  # the policy named by the end-of-tier entry
    # The tier's rules in evaluation order across its policies, Log rules left out:
    # (matcher, lower-case action, policy key, rule index). The first match decides.
    flat: tuple[tuple[Callable[[Peer, Peer, Packet], object], str, str, int], ...] = ()


def make_tier_plan(
    name: str, default_pass: bool, members: list[CompiledPolicy], direction: str, eot_key: str
) -> TierPlan:
    entries = tuple((cp, cp.rules(direction)) for cp in members)
    flat = tuple(
        (cr.matches, cr.lower_action, cp.key, cr.index)
        for cp, rules in entries
        for cr in rules
        if cr.action != "Log"
    )
    return TierPlan(name, default_pass, entries, eot_key, flat)


class ProfileRef(NamedTuple):
    """A profile of the endpoint: `allow` when its rules allow everything (kns.*,
    projectcalico-default-allow), False when it has no rules (ksa.*, unknown profiles)."""

    name: str
    allow: bool
    trace_name: str


def profile_ref(name: str, allow: bool) -> ProfileRef:
    return ProfileRef(name, allow, f"{PROFILE_TIER}.{name}")


@dataclass
class Step:
    """One thing that happened during a walk, for people to read.

    kind: "tier" (entered), "policy-nomatch", "log" (Log rule matched, noted, skipped),
    "rule" (the rule that decided), "end-of-tier", "profile", "no-profile"."""

    kind: str
    tier: str = ""
    policy: Policy | None = None
    rule: Rule | None = None
    rule_index: int | None = None
    action: str | None = None
    profile: str | None = None


@dataclass
class WalkResult:
    action: str
    hits: tuple[PolicyHit, ...]
    steps: list[Step] = field(default_factory=list)


_TRACES: dict[tuple, tuple[PolicyHit, ...]] = {}


def _trace(raw: list[tuple[str, str, str, int]]) -> tuple[PolicyHit, ...]:
    """The trace as interned PolicyHits: walks that end the same way share one tuple."""
    key = tuple(raw)
    found = _TRACES.get(key)
    if found is None:
        found = tuple(PolicyHit(i, t, n, a, r) for i, (t, n, a, r) in enumerate(raw))  # type: ignore[arg-type]
        if len(_TRACES) > 100_000:
            _TRACES.clear()
        _TRACES[key] = found
    return found


def walk_fast(
    plan: tuple[TierPlan, ...],
    src: Peer,
    dst: Peer,
    pkt: Packet,
    profiles: tuple[ProfileRef, ...],
    dataplane: bool = False,
) -> tuple[str, tuple[PolicyHit, ...]]:
    """`walk` without the step record, over the flattened rules: the evaluation hot path."""
    raw: list[tuple[str, str, str, int]] = []
    for tier in plan:
        for match, action, key, index in tier.flat:
            if match(src, dst, pkt):
                raw.append((tier.name, key, action, index))
                break
        else:
            if tier.default_pass:
                raw.append((tier.name, tier.eot_key, "pass", -1))
                continue
            raw.append((tier.name, tier.eot_key, "deny", -1))
            return "deny", _trace(raw)
        if action != "pass":
            return action, _trace(raw)
    for prof in profiles:
        if prof.allow:
            raw.append((PROFILE_TIER, prof.trace_name, "allow", 0))
            return "allow", _trace(raw)
    _no_profile(raw, dataplane, bool(profiles))
    return "deny", _trace(raw)


def _no_profile(raw: list[tuple[str, str, str, int]], dataplane: bool, had_profiles: bool) -> None:
    """The entry for "no profile allowed it". The dataplane (enforced trace) hits its one
    "no profile matched" drop rule either way; the pending checker (CAL check.go) names the
    profile tier itself (`__PROFILE__.__PROFILE__`, -1) only when there are no profiles at all
    and adds nothing when profiles exist but none matched."""
    if dataplane:
        raw.append((PROFILE_TIER, NO_MATCH_PROFILE, "deny", 0))
    elif not had_profiles:
        raw.append((PROFILE_TIER, f"{PROFILE_TIER}.{PROFILE_TIER}", "deny", -1))


def walk(
    plan: tuple[TierPlan, ...],
    direction: str,
    src: Peer,
    dst: Peer,
    pkt: Packet,
    profiles: tuple[ProfileRef, ...],
    steps: list[Step] | None = None,
    dataplane: bool = False,
) -> tuple[str, tuple[PolicyHit, ...]]:
    """Evaluate the tiers then the profiles; returns (action, trace). `dataplane`: the enforced
    trace as Felix's dataplane reports it (differs only in the no-profile ending)."""
    raw: list[tuple[str, str, str, int]] = []
    for tier in plan:
        if steps is not None:
            steps.append(Step("tier", tier=tier.name))
        decided: tuple[CompiledPolicy, CompiledRule] | None = None
        for cp, rules in tier.policies:
            for cr in rules:
                if cr.matches(src, dst, pkt):
                    if cr.action == "Log":
                        if steps is not None:
                            steps.append(Step("log", tier.name, cp.policy, cr.rule, cr.index, "log"))
                        continue
                    decided = (cp, cr)
                    break
            if decided is not None:
                break
            if steps is not None:
                steps.append(Step("policy-nomatch", tier.name, cp.policy))
        if decided is not None:
            cp, cr = decided
            action = cr.lower_action
            raw.append((tier.name, cp.key, action, cr.index))
            if steps is not None:
                steps.append(Step("rule", tier.name, cp.policy, cr.rule, cr.index, action))
            if action == "pass":
                continue
            return action, _trace(raw)
        action = "pass" if tier.default_pass else "deny"
        raw.append((tier.name, tier.eot_key, action, -1))
        if steps is not None:
            steps.append(Step("end-of-tier", tier.name, action=action, profile=tier.eot_key))
        if action == "deny":
            return "deny", _trace(raw)
    for prof in profiles:
        if prof.allow:
            raw.append((PROFILE_TIER, prof.trace_name, "allow", 0))
            if steps is not None:
                steps.append(Step("profile", PROFILE_TIER, rule_index=0, action="allow", profile=prof.name))
            return "allow", _trace(raw)
        if steps is not None:
            steps.append(Step("profile", PROFILE_TIER, action=None, profile=prof.name))
    _no_profile(raw, dataplane, bool(profiles))
    if steps is not None:
        steps.append(Step("no-profile", PROFILE_TIER, action="deny"))
    return "deny", _trace(raw)
