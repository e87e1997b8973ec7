"""Count-based connection maths (sim_volume) and the legacy all_policies merge."""

from __future__ import annotations

import numpy as np

from desktopviz.core.sim_cohort import legacy_all_policies
from desktopviz.core.sim_volume import (
    completion_probability_new,
    completion_probability_open,
    draw_bytes,
    ephemeral_ports,
)
from desktopviz.core.verdict import PolicyHit, SideResult


def test_completion_probability_matches_a_monte_carlo_of_single_connections():
    rng = np.random.default_rng(0)
    m, a0, a1, end = 20.0, 3.0, 9.0, 15.0
    arrivals = rng.uniform(a0, a1, 200_000)
    durations = rng.exponential(m, 200_000)
    expected = float(np.mean(arrivals + durations < end))
    got = completion_probability_new(np.array([m]), np.array([a0]), np.array([a1]), end)[0]
    assert abs(got - expected) < 0.005
    # open connections: memoryless
    assert abs(completion_probability_open(np.array([m]), 15.0)[0] - (1 - np.exp(-15 / m))) < 1e-12


def test_short_connections_almost_all_complete_in_their_interval():
    p = completion_probability_new(np.array([0.2]), np.array([0.0]), np.array([15.0]), 15.0)[0]
    assert 0.98 < p < 1.0


def test_byte_sums_have_the_mean_of_the_connections():
    rng = np.random.default_rng(1)
    share = np.full(20_000, 50.0)
    total = draw_bytes(rng, share, np.full(20_000, 400.0))
    assert abs(total.mean() / (50 * 400) - 1) < 0.01
    assert draw_bytes(rng, np.array([0.0]), np.array([400.0]))[0] == 0


def test_ephemeral_ports_are_in_the_linux_range():
    ports = ephemeral_ports(np.random.default_rng(2), 5000)
    assert min(ports) >= 32768 and max(ports) <= 60999


def _side(trace, pending):
    return SideResult("ingress", "allow", tuple(trace), "allow", tuple(pending))


def test_all_policies_is_the_enforced_trace_without_staged_policies():
    tr = [PolicyHit(0, "default", "ns/default.web", "allow", 0)]
    assert legacy_all_policies(_side(tr, tr)) == ("0|default|ns/default.web|allow|0",)


def test_all_policies_mixes_staged_hits_in_tier_order():
    enforced = [
        PolicyHit(0, "security", "security.base", "pass", 1),
        PolicyHit(1, "default", "ns/default.web", "allow", 0),
    ]
    pending = [
        PolicyHit(0, "security", "security.base", "pass", 1),
        PolicyHit(1, "default", "ns/default.staged:lockdown", "deny", -1),
    ]
    assert legacy_all_policies(_side(enforced, pending)) == (
        "0|security|security.base|pass|1",
        "1|default|ns/default.staged:lockdown|deny|-1",
        "2|default|ns/default.web|allow|0",
    )
