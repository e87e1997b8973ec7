"""The engine on the storefront lab scenario: the rogue pod of the visibility lab."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from desktopviz.core.model import ExternalPeer, Pod
from desktopviz.core.policy import PolicyEngine
from desktopviz.core.scenario import load_scenario

STOREFRONT = Path(__file__).resolve().parents[2] / "scenarios" / "storefront"


@pytest.fixture(scope="module")
def lab():
    scenario = load_scenario(STOREFRONT)
    engine = PolicyEngine(scenario.cluster)
    rogue_wl = scenario.event("deploy-rogue").actions[0].objects[0]
    rogue: Pod = rogue_wl.pods[0]
    engine.add_pod(rogue)
    return scenario, engine, rogue


def _first_pod(scenario, workload: str) -> Pod:
    return sorted(scenario.cluster.workloads[workload].pods, key=lambda p: p.name)[0]


@pytest.mark.parametrize("target", ["storefront/microservice1", "storefront/microservice2"])
def test_rogue_denied_at_trusted_ingress_by_rule_2(lab, target) -> None:
    scenario, engine, rogue = lab
    dst = _first_pod(scenario, target)
    v = engine.evaluate(rogue, dst, "TCP", 8080)
    assert v.action == "deny" and v.denied_at == "dst"
    last = v.ingress.enforced_strings[-1]
    assert re.fullmatch(r"\d+\|default\|storefront/default\.trusted\|deny\|2", last)
    assert v.egress.action == "allow"


def test_rogue_to_the_threat_feed_is_denied_at_the_source(lab) -> None:
    _, engine, rogue = lab
    v = engine.evaluate(rogue, ExternalPeer(ip="203.0.113.66"), "TCP", 443)
    assert v.action == "deny" and v.denied_at == "src" and v.ingress is None
    assert v.egress.enforced_strings[-1].startswith("0|security|security.block-feodo|deny|")


def test_staged_restricted_shows_only_in_pending(lab) -> None:
    scenario, engine, _ = lab
    v = engine.evaluate(
        _first_pod(scenario, "storefront/microservice2"),
        _first_pod(scenario, "storefront/backend"),
        "TCP",
        8080,
    )
    assert v.action == "allow"
    assert v.ingress.enforced_strings[-1].endswith("|default|storefront/default.restricted|allow|0")
    assert v.ingress.pending_strings[-1].endswith("|default|storefront/default.staged:restricted|deny|2")
    assert v.pending_action == "deny"
