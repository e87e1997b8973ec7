"""The policy engine: Calico's tiered policy evaluation (calico.md §2) for a whole cluster.

`PolicyEngine(cluster)` compiles once, Felix style: every endpoint and network set gets a
label class, every selector the set of classes it matches, every (class, direction) a plan of
the tiers and policies that select it. `evaluate(src, dst, protocol, port)` then only walks
that plan, matching rules by set look-ups, and caches the Verdict. Live changes invalidate the
plans and cached verdicts of the endpoints they touch, nothing else.
"""

from __future__ import annotations

from collections.abc import Iterable

from desktopviz.core.model import (
    FIXED_TIERS,
    Cluster,
    ExternalPeer,
    HostEndpoint,
    NetworkSet,
    Pod,
    Policy,
    Tier,
    policy_sort_key,
)
from desktopviz.core.policy_compile import CompiledPolicy, PolicyCompileError, SelectorSets, compile_policy
from desktopviz.core.policy_eval import NO_MATCH_PROFILE, Step, TierPlan, walk, walk_fast
from desktopviz.core.policy_index import EndpointIndex, EngineError
from desktopviz.core.policy_match import Packet, PacketError, Peer, make_packet
from desktopviz.core.policy_plan import endpoint_plan
from desktopviz.core.verdict import SideResult, Verdict

__all__ = ["EngineError", "PacketError", "PolicyCompileError", "PolicyEngine", "SideTrace"]

DIRECTIONS = ("ingress", "egress")
BUILTIN_TIER_ORDERS = {name: order for name, (order, _) in FIXED_TIERS.items()}
CACHE_LIMIT = 500_000  # verdicts kept before the cache starts over (memory bound)
FAST_LIMIT = 262_144  # identity memo entries

Plan = tuple[tuple[TierPlan, ...], tuple[TierPlan, ...], bool]


def _shape(plan: tuple[TierPlan, ...]) -> tuple:
    return tuple((t.name, t.default_pass, tuple(cp.key for cp, _ in t.policies), t.eot_key) for t in plan)


class SideTrace:
    """What explain shows for one side: the enforced and pending walks, step by step."""

    def __init__(self, direction: str, endpoint: Pod | HostEndpoint, result: SideResult) -> None:
        self.direction = direction
        self.endpoint = endpoint
        self.result = result
        self.steps: list[Step] = []
        self.pending_steps: list[Step] = []


class PolicyEngine:
    """Evaluates connections between Pods, HostEndpoints and ExternalPeers (see module doc)."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self._build()

    def refresh(self) -> None:
        """Rebuild everything from the cluster as it is now: for changes with no live method
        (network sets, host endpoints, namespaces, services, service accounts)."""
        self._build()

    def _build(self) -> None:
        cluster = self.cluster
        self._sets = SelectorSets()
        self._index = EndpointIndex(cluster, self._sets)
        self._ids = self._index.ids  # id(model object) → endpoint key, for the cached path
        self._policies: dict[str, CompiledPolicy] = {}
        for policy in cluster.policies.values():
            self._policies[policy.key] = compile_policy(self._sets, policy)
        self._ordered: list[CompiledPolicy] = []
        self._pending_keys: set[str] = set()
        self._plans: dict[tuple[int, str], Plan] = {}
        self._cache: dict[tuple, Verdict] = {}
        self._cache_by_ep: dict[object, set[tuple]] = {}
        self._side_results: dict[tuple, SideResult] = {}
        self._verdicts: dict[tuple, Verdict] = {}
        self._fast: dict[tuple, tuple[object, object, Verdict]] = {}  # identity memo in front of _cache
        self._reorder()
        for cid in self._index.endpoint_classes():
            for direction in DIRECTIONS:
                self._plan(cid, direction)

    # ------------------------------------------------------------------ ordering and plans

    def tier(self, name: str) -> Tier:
        """The tier by name; a tier no document defines is order-less with defaultAction Deny,
        except Calico's fixed tiers (`default` 1,000,000 Deny, `kube-admin`, `kube-baseline`)."""
        found = self.cluster.tiers.get(name)
        if found is not None:
            return found
        fixed = FIXED_TIERS.get(name)
        return Tier(name, fixed[0], fixed[1]) if fixed else Tier(name)  # type: ignore[arg-type]

    def _tier_key(self, name: str) -> tuple[bool, float, str]:
        t = self.tier(name)
        return (t.order is None, t.order if t.order is not None else 0.0, name)

    def _reorder(self) -> None:
        """Sort policies into evaluation order and work out the pending (staged-as-enforced) set."""
        self._ordered = sorted(
            self._policies.values(),
            key=lambda cp: (self._tier_key(cp.policy.tier), policy_sort_key(cp.policy)),
        )
        # Felix's pending view (StagedAsEnforced) evaluates staged policies side by side with the
        # enforced ones; a staged policy with stagedAction Delete is never sent to Felix
        # (calico.md §2.13), and neither is one marked Ignore.
        pending = {
            cp.key
            for cp in self._ordered
            if not cp.policy.staged or (cp.policy.staged_action or "Set") not in ("Delete", "Ignore")
        }
        self._pending_keys = pending

    def _plan(self, cid: int, direction: str) -> Plan:
        """(enforced tiers, pending tiers, both walks are the same) for a class and direction."""
        found = self._plans.get((cid, direction))
        if found is not None:
            return found
        selecting = [cp for cp in self._ordered if cp.governs(direction) and cid in cp.selection.classes]
        host = cid in self._index.host_classes
        enforced = endpoint_plan(
            [cp for cp in selecting if not cp.policy.staged], direction, True, self.tier, host
        )
        pending = endpoint_plan(
            [cp for cp in selecting if cp.key in self._pending_keys], direction, False, self.tier, host
        )
        same = _shape(enforced) == _shape(pending)
        found = (enforced, pending, same)
        self._plans[(cid, direction)] = found
        return found

    # ------------------------------------------------------------------ evaluation

    def _ident(self, ep: object) -> object:
        key = self._index.ident(ep)
        if key is None:
            if isinstance(ep, ExternalPeer):
                return ep
            raise EngineError(f"unknown endpoint {ep!r}")
        return key

    def evaluate(
        self,
        src: Pod | HostEndpoint | ExternalPeer,
        dst: Pod | HostEndpoint | ExternalPeer,
        protocol: str | int,
        port: int | None,
        *,
        src_port: int | None = None,
        icmp_type: int | None = None,
        icmp_code: int | None = None,
    ) -> Verdict:
        """The verdict for a new connection from src to dst (egress at src, then ingress at dst)."""
        if src_port is icmp_type is icmp_code is None:
            fast = self._fast.get((id(src), id(dst), protocol, port))
            if fast is not None and fast[0] is src and fast[1] is dst:
                return fast[2]
        ids = self._ids
        k1 = ids.get(id(src))
        k2 = ids.get(id(dst))
        if k1 is None:
            k1 = self._ident(src)
        if k2 is None:
            k2 = self._ident(dst)
        key = (k1, k2, protocol, port, src_port, icmp_type, icmp_code)
        verdict = self._cache.get(key)
        if verdict is None:
            verdict = self._evaluate(src, dst, protocol, port, src_port, icmp_type, icmp_code, None)
            if len(self._cache) >= CACHE_LIMIT:
                self.clear_cache()
            self._cache[key] = verdict
            by_ep = self._cache_by_ep
            for k in (k1, k2):
                entry = by_ep.get(k)
                if entry is None:
                    by_ep[k] = entry = set()
                entry.add(key)
        if src_port is None and icmp_type is None and icmp_code is None:
            if len(self._fast) >= FAST_LIMIT:
                self._fast.clear()
            # Keyed by object identity; the entry holds both objects so their ids stay theirs.
            self._fast[(id(src), id(dst), protocol, port)] = (src, dst, verdict)
        return verdict

    def explain(
        self,
        src: Pod | HostEndpoint | ExternalPeer,
        dst: Pod | HostEndpoint | ExternalPeer,
        protocol: str | int,
        port: int | None,
        *,
        src_port: int | None = None,
        icmp_type: int | None = None,
        icmp_code: int | None = None,
    ) -> tuple[Verdict, list[SideTrace]]:
        """Evaluate without the cache, recording every step of every walk."""
        sides: list[SideTrace] = []
        verdict = self._evaluate(src, dst, protocol, port, src_port, icmp_type, icmp_code, sides)
        return verdict, sides

    def _evaluate(
        self,
        src: object,
        dst: object,
        protocol: str | int,
        port: int | None,
        src_port: int | None,
        icmp_type: int | None,
        icmp_code: int | None,
        record: list[SideTrace] | None,
    ) -> Verdict:
        sp = self._index.peer(src, role="src")  # type: ignore[arg-type]
        dp = self._index.peer(dst, role="dst")  # type: ignore[arg-type]
        pkt = make_packet(protocol, port, sp, dp, src_port, icmp_type, icmp_code)
        notes: list[str] = []
        egress = self._side(sp, "egress", sp, dp, pkt, record) if sp.is_calico else None
        if egress is None:
            notes.append("source is not a Calico endpoint: no egress policy")
        ingress = None
        pending_ingress_action = "allow"
        if dp.is_calico:
            if egress is None or egress.action == "allow":
                ingress = self._side(dp, "ingress", sp, dp, pkt, record)
                pending_ingress_action = ingress.pending_action
            else:
                notes.append("denied at the source: the destination never sees the packet")
                if egress.pending_action == "allow":
                    _, pend, _ = self._plan(dp.cls, "ingress")
                    pending_ingress_action, _ = walk_fast(pend, sp, dp, pkt, self._index.profiles(dp))
        else:
            notes.append("destination is not a Calico endpoint: no ingress policy")
        action = "allow"
        if (egress is not None and egress.action == "deny") or (
            ingress is not None and ingress.action == "deny"
        ):
            action = "deny"
        pending = "allow"
        if (egress is not None and egress.pending_action == "deny") or (
            dp.is_calico and pending_ingress_action == "deny"
        ):
            pending = "deny"
        vkey = (id(egress), id(ingress), action, pending, *notes)  # side results are interned
        verdict = self._verdicts.get(vkey)
        if verdict is None:
            verdict = Verdict(egress, ingress, action, pending, tuple(notes))  # type: ignore[arg-type]
            self._verdicts[vkey] = verdict
        return verdict

    def _side(
        self, local: Peer, direction: str, sp: Peer, dp: Peer, pkt: Packet, record: list[SideTrace] | None
    ) -> SideResult:
        enforced, pending, same = self._plan(local.cls, direction)
        profiles = self._index.profiles(local)
        steps: list[Step] | None = None
        psteps: list[Step] | None = None
        if record is None:
            action, trace = walk_fast(enforced, sp, dp, pkt, profiles, dataplane=True)
            same = same and not (trace and trace[-1].name == NO_MATCH_PROFILE)
            p_action, p_trace = (action, trace) if same else walk_fast(pending, sp, dp, pkt, profiles)
        else:
            steps, psteps = [], []
            action, trace = walk(enforced, direction, sp, dp, pkt, profiles, steps, dataplane=True)
            same = same and not (trace and trace[-1].name == NO_MATCH_PROFILE)
            p_action, p_trace = (
                (action, trace) if same else walk(pending, direction, sp, dp, pkt, profiles, psteps)
            )
        skey = (direction, action, id(trace), p_action, id(p_trace))
        result = self._side_results.get(skey)  # traces are interned, so ids identify them
        if result is None:
            result = SideResult(direction, action, trace, p_action, p_trace)  # type: ignore[arg-type]
            self._side_results[skey] = result
        if record is not None:
            side = SideTrace(direction, local.endpoint, result)  # type: ignore[arg-type]
            side.steps = steps or []
            side.pending_steps = list(side.steps) if same else (psteps or [])
            record.append(side)
        return result

    # ------------------------------------------------------------------ helpers for other layers

    def classify_ip(
        self, ip: str, namespace_hint: str | None = None, domain: str | None = None
    ) -> Pod | HostEndpoint | NetworkSet | None:
        """Who owns an address: a pod, a host endpoint, else the network set that wins by the
        precedence of calico.md §1.2, else None (a plain network)."""
        return self._index.classify_ip(ip, namespace_hint, domain)

    def policies_selecting(self, endpoint: Pod | HostEndpoint, direction: str) -> list[Policy]:
        """Policies (staged included) that select the endpoint in a direction, in evaluation order."""
        cid = self._index.peer(endpoint, role="dst").cls
        if cid < 0:
            return []
        direction = direction.lower()
        return [cp.policy for cp in self._ordered if cp.governs(direction) and cid in cp.selection.classes]

    def selected_endpoints(self, policy_key: str) -> list[Pod | HostEndpoint]:
        """The pods and host endpoints a policy's selector picks (whatever its types)."""
        cp = self._policies.get(policy_key)
        if cp is None:
            raise EngineError(f"unknown policy {policy_key!r}")
        return self._index.endpoints_in(cp.selection.classes)

    def endpoint_labels(self, ep: Pod | HostEndpoint | NetworkSet | ExternalPeer) -> dict[str, str]:
        """The labels Calico matches selectors against (pcns./pcsa. inherited, Calico's own)."""
        if isinstance(ep, NetworkSet):
            return self.cluster.network_set_calico_labels(ep)
        if isinstance(ep, ExternalPeer):
            return {}
        return dict(self._sets.labels_of(self._index.peer(ep, role="dst").cls))

    def policy(self, key: str) -> Policy | None:
        cp = self._policies.get(key)
        return cp.policy if cp else None

    def policies_in_order(self) -> list[Policy]:
        """Every policy (staged included) in evaluation order: tier order, then policy order."""
        return [cp.policy for cp in self._ordered]

    def tiers_in_order(self) -> list[Tier]:
        names = {cp.policy.tier for cp in self._ordered} | set(self.cluster.tiers)
        return [self.tier(n) for n in sorted(names, key=self._tier_key)]

    # ------------------------------------------------------------------ live changes

    def _invalidate_classes(self, classes: Iterable[int]) -> None:
        classes = set(classes)
        for cid in classes:
            for direction in DIRECTIONS:
                self._plans.pop((cid, direction), None)
        for key in self._index.endpoint_keys_in(classes):
            self._drop_cached(key)

    def _drop_cached(self, ident: object) -> None:
        """Drop the verdicts involving one endpoint; the identity memo in front is only a
        shortcut to the surviving verdicts, so it is simply emptied."""
        self._fast.clear()
        for k in self._cache_by_ep.pop(ident, ()):
            self._cache.pop(k, None)

    def _affected_by(self, cp: CompiledPolicy | None) -> set[int]:
        if cp is None:
            return set()
        out = set(cp.selection.classes)
        counterpart = self._policies.get(cp.key.replace("staged:", "", 1)) if cp.policy.staged else None
        if counterpart is not None:  # a staged Set/Delete changes the pending view of the enforced one
            out |= counterpart.selection.classes
        return out

    def apply_policy(self, policy: Policy) -> None:
        """Create or replace a policy (by key); only endpoints it selects (before or after) change."""
        compiled = compile_policy(self._sets, policy)
        old = self._policies.get(policy.key)
        affected = self._affected_by(old)
        self._policies[policy.key] = compiled
        self.cluster.policies[policy.key] = policy
        self._reorder()
        self._invalidate_classes(affected | self._affected_by(compiled))

    def remove_policy(self, key: str) -> None:
        old = self._policies.get(key)
        if old is None:
            raise EngineError(f"unknown policy {key!r}")
        affected = self._affected_by(old)
        del self._policies[key]
        self.cluster.policies.pop(key, None)
        self._reorder()
        self._invalidate_classes(affected)

    def set_tier(self, tier: Tier) -> None:
        """Create or change a tier (order, default action): endpoints its policies select change."""
        self.cluster.tiers[tier.name] = tier
        affected: set[int] = set()
        for cp in self._policies.values():
            if cp.policy.tier == tier.name:
                affected |= cp.selection.classes
        self._reorder()
        self._invalidate_classes(affected)

    def add_pod(self, pod: Pod) -> None:
        """Add (or replace) a pod; only verdicts involving it are dropped."""
        if self._index.has(pod.key):
            self.remove_pod(pod.key)
        self.cluster.pods[pod.key] = pod
        self._index.add_pod(pod)

    def remove_pod(self, key: str) -> None:
        if not self._index.has(key):
            raise EngineError(f"unknown pod {key!r}")
        self._drop_cached(key)
        self._index.remove_pod(key)
        self.cluster.pods.pop(key, None)

    def cache_size(self) -> int:
        return len(self._cache)

    def clear_cache(self) -> None:
        self._fast.clear()
        self._cache.clear()
        self._cache_by_ep.clear()
