"""Conformance of live changes: after any sequence of policy, tier and pod changes made through
the engine's live methods, every verdict (enforced and pending, both sides, trace strings) is
the one a freshly built engine gives for the same cluster.

The simulator applies Enforce/Stage/Delete and pod churn live; calico.md §2.5 and §1.3 must
hold after each change exactly as for a cluster loaded from scratch. The policy pool mixes
tiers with Deny and Pass defaults, Pass/Deny/Allow rules, a staged policy beside the enforced
one of the same name (§2.5 StagedAsEnforced), a Calico NP and a Kubernetes NP.
"""

from __future__ import annotations

import copy
import random
from pathlib import Path

import pytest
from test_calico_semantics import GOOGLE, gnp, knp, load, np_, tier

from desktopviz.core.model import ExternalPeer, Tier
from desktopviz.core.policy import PolicyEngine

SGNP = "StagedGlobalNetworkPolicy"
POOL = [
    tier("t1", 10),
    tier("t2", 20, "Pass"),
    gnp(
        "t1.a",
        "tier: t1\norder: 1\nselector: app == 'server'\n"
        "ingress:\n- {action: Pass, protocol: TCP}\n- {action: Deny, protocol: UDP}",
    ),
    gnp(
        "t1.b",
        "tier: t1\norder: 2\nselector: has(app)\n"
        "egress:\n- {action: Deny, destination: {nets: [8.8.8.0/24]}}\n- action: Pass",
    ),
    gnp(
        "t2.c",
        "tier: t2\nselector: app == 'client'\ningress:\n- {action: Deny, source: {selector: app == 'other'}}",
    ),
    gnp(
        "t2.s",
        "tier: t2\nselector: app in {'server', 'other'}\ningress:\n- {action: Allow, source: {selector: app == 'client'}}",
        kind=SGNP,
    ),
    gnp(
        "t1.a",
        "tier: t1\norder: 3\nselector: app == 'server'\ningress:\n- {action: Deny, protocol: TCP}",
        kind=SGNP,
    ),
    np_(
        "d",
        "ns1",
        "selector: all()\ningress:\n- {action: Allow, protocol: TCP, destination: {ports: [http]}}",
    ),
    knp("k", "ns2", "podSelector: {}\ningress:\n- from: [{namespaceSelector: {matchLabels: {env: prod}}}]"),
]
PROBES = [("TCP", 8080), ("UDP", 53), ("TCP", 9090), ("ICMP", None)]


def _key(v) -> tuple:  # type: ignore[no-untyped-def]
    def side(s):  # type: ignore[no-untyped-def]
        return None if s is None else (s.action, s.enforced_strings, s.pending_action, s.pending_strings)

    return (v.action, v.pending_action, side(v.egress), side(v.ingress))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_live_changes_match_a_fresh_engine(tmp_path: Path, seed: int) -> None:
    """§2.5 / §1.3 after live apply_policy, remove_policy, set_tier and add_pod (relabel)."""
    rng = random.Random(seed)
    (tmp_path / "pool").mkdir()
    (tmp_path / "base").mkdir()
    pool_world = load(tmp_path / "pool", *POOL)
    pool = list(pool_world.cluster.policies.values())
    cluster = load(tmp_path / "base").cluster
    engine = PolicyEngine(cluster)
    for t in pool_world.cluster.tiers.values():
        engine.set_tier(t)
    externals: list[ExternalPeer] = [GOOGLE, ExternalPeer(ip="1.1.1.1")]
    for step in range(25):
        op = rng.choice(["apply", "apply", "remove", "tier", "pod"])
        if op == "apply":
            engine.apply_policy(rng.choice(pool))
        elif op == "remove" and cluster.policies:
            engine.remove_policy(rng.choice(sorted(cluster.policies)))
        elif op == "tier":
            engine.set_tier(
                Tier(rng.choice(["t1", "t2"]), rng.choice([5, 15, 25, None]), rng.choice(["Deny", "Pass"]))
            )
        elif op == "pod":
            pod = copy.copy(rng.choice(sorted(cluster.pods.values(), key=lambda p: p.key)))
            pod.labels = {**pod.labels, "app": rng.choice(["client", "server", "other", "x"])}
            engine.add_pod(pod)
        peers: list[object] = [*sorted(cluster.pods.values(), key=lambda p: p.key), *externals]
        for s in peers[:3]:  # warm the caches the next change must invalidate
            for d in peers[:3]:
                engine.evaluate(s, d, "TCP", 8080)  # type: ignore[arg-type]
        fresh = PolicyEngine(cluster)
        for s in peers:
            for d in peers:
                if isinstance(s, ExternalPeer) and isinstance(d, ExternalPeer):
                    continue
                for proto, port in PROBES:
                    live = _key(engine.evaluate(s, d, proto, port))  # type: ignore[arg-type]
                    want = _key(fresh.evaluate(s, d, proto, port))  # type: ignore[arg-type]
                    assert live == want, f"step {step} ({op}): {s} -> {d} {proto} {port}"
