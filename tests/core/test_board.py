"""Policy Board model: cards in Calico's evaluation order (calico.md §2.1, §2.2), metrics that
match the flow logs, filters, and the layout of a run without its scenario."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from desktopviz.core.board import (
    BoardLayout,
    card_metrics,
    layout_from_cluster,
    metric_value,
    no_policy_traffic,
    policy_from_trace,
    visible_keys,
)
from desktopviz.core.board_traces import layout_from_store, tier_rank, trace_policies
from desktopviz.core.model import Cluster, Namespace, Pod, Policy, Rule, Tier
from desktopviz.core.policy import PolicyEngine
from desktopviz.core.queries import policy_metrics
from desktopviz.core.scenario import load_scenario
from desktopviz.core.selector import SelectorError
from desktopviz.core.simulator import Simulator
from desktopviz.core.store import FlowStore

STOREFRONT = Path(__file__).resolve().parents[2] / "scenarios" / "storefront"


@pytest.fixture(scope="module")
def storefront():
    return load_scenario(STOREFRONT)


@pytest.fixture(scope="module")
def sim_store(tmp_path_factory, storefront):
    """Ten simulated minutes of storefront, the rogue pod deployed after five."""
    path = tmp_path_factory.mktemp("board") / "run.db"
    sim = Simulator(load_scenario(STOREFRONT))
    with FlowStore(path) as store:
        store.insert(sim.advance(300))
        sim.fire("deploy-rogue")
        store.insert(sim.advance(300))
        store.insert(sim.flush())
    store = FlowStore(path, create=False, readonly=True)
    yield store
    store.close()


def _gnp(name: str, tier: str, order: float | None) -> Policy:
    return Policy("GlobalNetworkPolicy", f"{tier}.{name}", tier=tier, order=order, ingress=[Rule("Allow")])


def _np(name: str, ns: str, order: float | None, tier: str = "default") -> Policy:
    return Policy("NetworkPolicy", name, namespace=ns, tier=tier, order=order, ingress=[Rule("Allow")])


def _cluster() -> Cluster:
    c = Cluster()
    c.namespaces = {n: Namespace(n) for n in ("ns1", "ns2")}
    c.pods["ns1/a"] = Pod("a", "ns1", {"app": "a"})
    c.pods["ns2/b"] = Pod("b", "ns2", {"app": "b"})
    c.tiers = {
        "default": Tier("default", 1_000_000),
        "zeta": Tier("zeta", 50),
        "alpha": Tier("alpha", 50),  # equal order: alphabetical, alpha before zeta
        "noorder": Tier("noorder", None),  # no order: after every ordered tier, even default
        "early": Tier("early", 10),
    }
    pols = [
        _gnp("p-late", "alpha", None),  # no order: last in its tier
        _gnp("p-b", "alpha", 5),
        _gnp("p-a", "alpha", 5),  # equal order: by key, alpha.p-a before alpha.p-b
        _gnp("x", "zeta", 1),
        _gnp("y", "early", 3),
        _gnp("z", "noorder", 1),
        _np("default.web", "ns1", 999),
        _np("default.after", "ns1", 1001),
        _np("default.none", "ns2", None),
        Policy("KubernetesNetworkPolicy", "knp-one", namespace="ns2", order=1000, ingress=[Rule("Allow")]),
        Policy("StagedNetworkPolicy", "default.web", namespace="ns1", order=998, ingress=[Rule("Deny")]),
    ]
    for p in pols:
        c.policies[p.key] = p
    return c


def test_tiers_and_cards_in_engine_order():
    cluster = _cluster()
    layout = layout_from_cluster(cluster)
    assert [t.name for t in layout.tiers] == ["early", "alpha", "zeta", "default", "noorder"]
    assert [p.key for p in layout.tier("alpha").policies] == ["alpha.p-a", "alpha.p-b", "alpha.p-late"]
    # Kubernetes policies sit at order 1000 between Calico policies of order 999 and 1001.
    assert [p.key for p in layout.tier("default").policies] == [
        "ns1/default.staged:web",
        "ns1/default.web",
        "ns2/knp.default.knp-one",
        "ns1/default.after",
        "ns2/default.none",
    ]
    engine_order = [p.key for p in PolicyEngine(cluster).policies_in_order()]
    assert layout.keys() == engine_order
    assert [p.position for p in layout.tier("default").policies] == [0, 1, 2, 3, 4]


def test_card_fields_kind_scope_staged_and_endpoints():
    layout = layout_from_cluster(_cluster())
    knp = layout.find("ns2/knp.default.knp-one")
    assert (knp.kind, knp.scope, knp.name, knp.staged, knp.order) == (
        "Kubernetes",
        "ns2",
        "knp-one",
        False,
        1000,
    )
    staged = layout.find("ns1/default.staged:web")
    assert staged.staged and staged.kind == "Calico" and staged.name == "web"
    glob = layout.find("alpha.p-a")
    assert (glob.kind, glob.scope, glob.name) == ("Global", "global", "p-a")
    # all() in a GNP selects both pods; a namespaced policy only its namespace's.
    assert glob.endpoints == 2
    assert layout.find("ns1/default.web").endpoints == 1


def test_storefront_board_has_tiers_left_to_right_and_no_profiles(storefront):
    layout = layout_from_cluster(storefront)
    assert [t.name for t in layout.tiers] == ["security", "platform", "default"]
    assert all(not p.key.startswith("__PROFILE__") for p in layout.policies())
    assert [p.name for p in layout.tier("default").policies][:2] == ["dmz", "trusted"]
    assert layout.find("storefront/default.trusted").endpoints == 2  # microservice1 and 2


def _trace_entries(log, kind: str) -> list[list[str]]:
    pol = log.policies or {}
    return [e.split("|") for e in pol.get(kind) or []]


def _independent(store: FlowStore, key: str, staged: bool) -> dict[str, int]:
    """Sum num_flows and packets over the flow logs whose trace holds an entry for `key`."""
    trace = "pending_policies" if staged else "enforced_policies"
    out = {"connections": 0, "allowed": 0, "denied": 0, "passed": 0}
    for _, log in store.rows():
        for parts in _trace_entries(log, trace):
            if parts[2] == key:
                out["connections"] += log.num_flows
                name = {"allow": "allowed", "deny": "denied", "pass": "passed"}[parts[3]]
                out[name] += log.packets_in + log.packets_out
    return out


def test_card_metrics_match_the_flow_logs(sim_store, storefront):
    layout = layout_from_cluster(storefront)
    cards = card_metrics(layout, policy_metrics(sim_store))
    for bp in layout.policies():
        expected = _independent(sim_store, bp.key, bp.staged)
        got = {m: metric_value(cards[bp.key], m) for m in expected}
        assert got == expected, bp.key
    trusted = cards["storefront/default.trusted"]
    assert metric_value(trusted, "denied") > 0  # the rogue pod's probes of the microservices
    assert metric_value(cards["security.pci-whitelist"], "passed") > 0  # passes to platform


def test_time_range_limits_the_metrics(sim_store, storefront):
    layout = layout_from_cluster(storefront)
    start = storefront.settings.start_time
    before = card_metrics(layout, policy_metrics(sim_store, start, start + 300))
    assert metric_value(before["storefront/default.trusted"], "denied") == 0  # no rogue pod yet
    after = card_metrics(layout, policy_metrics(sim_store, start + 300, None))
    assert metric_value(after["storefront/default.trusted"], "denied") > 0


def test_staged_policy_shows_pending_metrics(sim_store, storefront):
    layout = layout_from_cluster(storefront)
    cards = card_metrics(layout, policy_metrics(sim_store))
    staged = cards["storefront/default.staged:restricted"]
    # It never changes traffic, but would deny microservice2 -> backend if enforced.
    assert metric_value(staged, "denied") > 0
    assert (
        staged.total.connections
        == _independent(sim_store, "storefront/default.staged:restricted", True)["connections"]
    )


def test_no_policy_traffic_is_the_profiles(sim_store):
    npt = no_policy_traffic(policy_metrics(sim_store))
    assert npt.total.connections > 0 and npt.denied.connections == 0


def test_filters(sim_store, storefront):
    layout = layout_from_cluster(storefront)
    cards = card_metrics(layout, policy_metrics(sim_store))
    denying = visible_keys(layout, cards, "denying")
    assert "storefront/default.trusted" in denying and "platform.logging" not in denying
    assert visible_keys(layout, cards, "unused") == {"security.quarantine"}
    assert visible_keys(layout, cards, "staged") == {"storefront/default.staged:restricted"}
    assert "storefront/default.staged:restricted" not in visible_keys(layout, cards, "enforced")
    # Label filter: policies that select at least one endpoint matching the selector.
    trusted = visible_keys(layout, cards, "all", "fw-zone == 'trusted'")
    assert "storefront/default.trusted" in trusted and "security.quarantine" in trusted
    assert "storefront/default.dmz" not in trusted and "acme/knp.default.payments-db" not in trusted
    assert visible_keys(layout, cards, "all", search="TRUST") == {"storefront/default.trusted"}
    with pytest.raises(SelectorError):
        visible_keys(layout, cards, "all", "fw-zone = 'x'")


def test_layout_from_traces_of_a_stored_run(sim_store):
    layout = layout_from_store(sim_store)
    assert layout.source == "store"
    assert [t.name for t in layout.tiers] == ["security", "platform", "default"]
    keys = layout.keys()
    assert "storefront/default.trusted" in keys and "acme/knp.default.payments-db" in keys
    assert not any(k.startswith("__PROFILE__") for k in keys)
    assert "security.quarantine" not in keys  # never hit: not in the traces
    trusted = layout.find("storefront/default.trusted")
    assert trusted.policy is None and trusted.kind == "Calico" and trusted.name == "trusted"
    assert trusted.endpoints and trusted.endpoints >= 2  # the microservices (+ what they reach)
    assert layout.find("acme/knp.default.payments-db").kind == "Kubernetes"
    assert set(visible_keys(layout, card_metrics(layout, policy_metrics(sim_store)), "staged")) == {
        "storefront/default.staged:restricted"
    }


def test_tier_rank_follows_the_traces(sim_store):
    rank = tier_rank(sim_store)
    assert rank["security"] < rank["platform"] < rank["default"] < rank["__PROFILE__"]
    assert ("default", "storefront/default.trusted") in trace_policies(sim_store)


def test_policies_added_by_events_are_appended_from_the_traces(storefront):
    layout = layout_from_cluster(storefront)
    added = layout.add_traces(
        [
            ("default", "storefront/default.quarantine-rogue"),
            ("newtier", "newtier.x"),
            ("default", "storefront/default.dmz"),
        ],
        {"security": 0, "newtier": 1, "default": 2},
    )
    assert added == 2
    assert layout.tier("default").policies[-1].key == "storefront/default.quarantine-rogue"
    assert [t.name for t in layout.tiers][-2:] == ["newtier", "default"]


@pytest.mark.parametrize(
    ("tier", "key", "kind", "ns", "name", "staged"),
    [
        ("security", "security.pci-whitelist", "Global", None, "pci-whitelist", False),
        ("default", "storefront/default.trusted", "Calico", "storefront", "trusted", False),
        ("default", "policy-demo/knp.default.allow-nginx", "Kubernetes", "policy-demo", "allow-nginx", False),
        ("tier1", "tier1.staged:policy1", "Global", None, "policy1", True),
        ("tier1", "ns1/tier1.staged:policy1", "Calico", "ns1", "policy1", True),
        ("default", "ns/staged:knp.default.x", "Kubernetes", "ns", "x", True),
    ],
)
def test_cards_from_trace_names(tier, key, kind, ns, name, staged):
    """Trace-name formats of calico.md §1.3 (b)."""
    bp = policy_from_trace(tier, key)
    assert (bp.kind, bp.namespace, bp.name, bp.staged) == (kind, ns, name, staged)


def test_empty_layout_and_store(tmp_path):
    with FlowStore(tmp_path / "e.db") as store:
        layout = layout_from_store(store)
        assert layout.tiers == [] and isinstance(layout, BoardLayout)
        assert card_metrics(layout, policy_metrics(store)) == {}
        assert json.dumps(layout.keys()) == "[]"
