"""The policy view's data (rules as sentences with per-rule metrics and peers) and the YAML
export of the board (documents Calico accepts, read back by our scenario loader)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from desktopviz.core.board import layout_from_cluster
from desktopviz.core.board_detail import policy_detail
from desktopviz.core.board_traces import layout_from_store
from desktopviz.core.board_yaml import export_documents, export_yaml, policy_document
from desktopviz.core.model import EntityRule, Policy, Rule
from desktopviz.core.scenario import load_scenario
from desktopviz.core.simulator import Simulator
from desktopviz.core.store import FlowStore

STOREFRONT = Path(__file__).resolve().parents[2] / "scenarios" / "storefront"
TRUSTED = "storefront/default.trusted"


@pytest.fixture(scope="module")
def storefront():
    return load_scenario(STOREFRONT)


@pytest.fixture(scope="module")
def sim_store(tmp_path_factory):
    path = tmp_path_factory.mktemp("detail") / "run.db"
    sim = Simulator(load_scenario(STOREFRONT))
    with FlowStore(path) as store:
        store.insert(sim.advance(300))
        sim.fire("deploy-rogue")
        store.insert(sim.advance(300))
    store = FlowStore(path, create=False, readonly=True)
    yield store
    store.close()


def _rule_denies(store: FlowStore, key: str, reporter: str, index: int) -> tuple[int, set[str]]:
    """Independent count: denied connections of a rule and the sources, from the flow logs."""
    n, sources = 0, set()
    for _, log in store.rows():
        if log.reporter != reporter:
            continue
        for entry in (log.policies or {}).get("enforced_policies") or []:
            _, _, name, action, rule = entry.split("|")
            if name == key and action == "deny" and int(rule) == index:
                n += log.num_flows
                sources.add(f"{log.source_namespace}/{log.source_name_aggr}")
    return n, sources


def test_rogue_denies_show_on_the_ingress_deny_rule_of_trusted(sim_store, storefront):
    layout = layout_from_cluster(storefront)
    detail = policy_detail(sim_store, layout.find(TRUSTED), tier_default="Deny")
    assert [r.action for r in detail.ingress] == ["Allow", "Allow", "Deny"]
    assert [r.action for r in detail.egress] == ["Allow", "Allow", "Deny"]
    assert "fw-zone == 'dmz'" in detail.ingress[0].text and detail.ingress[0].text.startswith("Allow")
    deny = detail.ingress[2]
    expected, sources = _rule_denies(sim_store, TRUSTED, "dst", 2)
    assert deny.metrics.denied.connections == expected > 0
    assert {p.label for p in deny.peers} == sources
    assert all(p.label.startswith("storefront/rogue-") for p in deny.peers)
    # The allow rules never deny, and frontend (dmz) is what the first rule allows.
    assert detail.ingress[0].metrics.denied.connections == 0
    assert detail.ingress[0].metrics.allowed.connections > 0
    assert any(p.label.startswith("storefront/frontend-") for p in detail.ingress[0].peers)
    # No traffic reached the egress Deny: no data (the view shows n/a).
    assert not detail.egress[2].has_data
    assert detail.span_seconds == 600
    assert set(detail.end_of_tier) == {"ingress", "egress"}
    assert detail.end_of_tier["ingress"].action == "Deny" and not detail.end_of_tier["ingress"].has_data


def test_rates_over_the_range(sim_store, storefront):
    layout = layout_from_cluster(storefront)
    start = storefront.settings.start_time
    detail = policy_detail(sim_store, layout.find(TRUSTED), start + 300, start + 600)
    assert detail.span_seconds == 300
    deny = detail.ingress[2]
    assert detail.rate(deny.metrics.denied.connections) == pytest.approx(
        deny.metrics.denied.connections / 300
    )


def test_detail_without_scenario_lists_rules_seen(sim_store):
    layout = layout_from_store(sim_store)
    detail = policy_detail(sim_store, layout.find(TRUSTED))
    idx = [r.index for r in detail.ingress]
    assert 2 in idx and 0 in idx
    assert all("unknown" in r.text.lower() for r in detail.ingress)


def test_staged_policy_view_uses_pending_hits(sim_store, storefront):
    layout = layout_from_cluster(storefront)
    detail = policy_detail(
        sim_store, layout.find("storefront/default.staged:restricted"), tier_default="Deny"
    )
    # Would deny microservice2 -> backend on its last rule.
    assert detail.ingress[2].metrics.denied.connections > 0
    assert any("microservice2" in p.label for p in detail.ingress[2].peers)


def test_export_all_policies_loads_back_as_the_same_policies(tmp_path, storefront):
    layout = layout_from_cluster(storefront)
    text = export_yaml(layout)
    docs = list(yaml.safe_load_all(text))
    kinds = {(d["apiVersion"], d["kind"]) for d in docs}
    assert ("networking.k8s.io/v1", "NetworkPolicy") in kinds
    assert ("projectcalico.org/v3", "GlobalNetworkPolicy") in kinds
    assert ("projectcalico.org/v3", "Tier") in kinds
    # A scenario made of the storefront's other files plus the export loads the same policies.
    for f in STOREFRONT.glob("*.yaml"):
        if not f.name.startswith(("4", "5")):
            shutil.copy(f, tmp_path / f.name)
    (tmp_path / "90-export.yaml").write_text(text)
    again = load_scenario(tmp_path)
    assert set(again.cluster.policies) == set(storefront.cluster.policies)
    assert {t.name: t.order for t in again.cluster.tiers.values()} == {
        t.name: t.order for t in storefront.cluster.tiers.values()
    }
    for key, pol in storefront.cluster.policies.items():
        other = again.cluster.policies[key]
        assert (other.order, other.selector, other.types) == (pol.order, pol.selector, pol.types)
        assert [r.action for r in other.ingress] == [r.action for r in pol.ingress]


def test_export_one_tier(storefront):
    docs, skipped = export_documents(layout_from_cluster(storefront), ["security"])
    assert skipped == []
    assert [d["kind"] for d in docs] == ["Tier", *["GlobalNetworkPolicy"] * 3]
    assert [d["metadata"]["name"] for d in docs[1:]] == [
        "security.quarantine",
        "security.block-feodo",
        "security.pci-whitelist",
    ]


def test_regenerated_document_for_a_policy_built_in_code(tmp_path):
    pol = Policy(
        "NetworkPolicy",
        "api",
        namespace="shop",
        tier="app",
        order=20,
        selector="app == 'api'",
        types=["Ingress"],
        ingress=[
            Rule(
                "Allow",
                protocol="TCP",
                source=EntityRule(selector="app == 'web'"),
                destination=EntityRule(ports=[8080]),
            )
        ],
    )
    doc = policy_document(pol)
    assert doc["apiVersion"] == "projectcalico.org/v3" and doc["metadata"] == {
        "name": "app.api",
        "namespace": "shop",
    }
    assert doc["spec"]["ingress"] == [
        {
            "action": "Allow",
            "protocol": "TCP",
            "source": {"selector": "app == 'web'"},
            "destination": {"ports": [8080]},
        }
    ]
    (tmp_path / "p.yaml").write_text(
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n---\n"
        "apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: {name: app}\nspec: {order: 10}\n---\n"
        + yaml.safe_dump(doc)
    )
    loaded = load_scenario(tmp_path).cluster.policies["shop/app.api"]
    assert loaded.ingress[0].destination.ports == [8080] and loaded.order == 20


def test_store_only_policies_are_not_exported(sim_store):
    text = export_yaml(layout_from_store(sim_store, endpoints=False))
    assert text.startswith("# Not exported")
    assert TRUSTED in text.splitlines()[0]


def test_show_flows_filter_selects_the_flows_of_the_rule(sim_store, storefront):
    from desktopviz.core.board_detail import flows_filter

    filterlang = pytest.importorskip("desktopviz.core.filterlang")
    layout = layout_from_cluster(storefront)
    bp = layout.find(TRUSTED)
    text = flows_filter(bp, "ingress", 2, "Deny")
    assert text == (
        '(policy = "storefront/default.trusted" and trace = enforced and rule = 2 and policy_action = deny)'
        " and reporter = dst"
    )
    f = filterlang.compile_filter(text)
    n = sim_store.conn.execute(f"SELECT sum(num_flows) FROM flow_logs WHERE {f.sql}", f.params).fetchone()[0]
    assert n == _rule_denies(sim_store, TRUSTED, "dst", 2)[0]
    staged = layout.find("storefront/default.staged:restricted")
    assert flows_filter(staged) == 'policy = "storefront/default.staged:restricted" and trace = pending'
