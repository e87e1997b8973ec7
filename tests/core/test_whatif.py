"""What-if on recorded flows (calico.md §4.3) and stage/enforce in a running simulation
(§2.5 existing connections keep their verdict, §2.13 staged policies change no traffic)."""

from __future__ import annotations

from dataclasses import asdict, fields

import pytest

from desktopviz.core.paths import default_scenario
from desktopviz.core.policy_edit import PolicySet
from desktopviz.core.queries import FlowAggregate, flow_aggregates
from desktopviz.core.scenario import load_scenario
from desktopviz.core.simulator import Simulator
from desktopviz.core.store import FlowStore
from desktopviz.core.whatif import evaluate_whatif
from desktopviz.core.whatif_aggregate import whatif_aggregates

TRUSTED = "storefront/default.trusted"


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """A storefront run: 1 minute, then the rogue pod, then 5 minutes more."""
    path = tmp_path_factory.mktemp("whatif") / "run.db"
    sim = Simulator(load_scenario(default_scenario()))
    store = FlowStore(path)
    store.insert(sim.advance(60))
    sim.fire("deploy-rogue")
    store.insert(sim.advance(300))
    yield store
    store.close()


@pytest.fixture
def scenario():
    return load_scenario(default_scenario())


def allow_rogue(ps: PolicySet) -> None:
    doc = ps.document(TRUSTED)
    doc["spec"]["ingress"].insert(0, {"action": "Allow", "source": {"selector": "app == 'rogue'"}})
    ps.replace(TRUSTED, doc)


def test_allowing_the_rogue_pod_changes_exactly_its_flows_to_the_trusted_zone(recorded, scenario):
    ps = PolicySet.from_cluster(scenario.cluster)
    allow_rogue(ps)
    result = evaluate_whatif(recorded, scenario.cluster, ps.base, ps.state)
    changed = {
        (c.source.split("/")[1].split("-")[0], c.dest.split("/")[1].split("-")[0], c.reporter)
        for c in result.changes
    }
    assert changed == {("rogue", "microservice1", "dst"), ("rogue", "microservice2", "dst")}
    assert all(c.before == "deny" and c.after == "allow" for c in result.changes)
    assert result.deny_to_allow == 2 and result.allow_to_deny == 0 and not result.uncertain
    for c in result.changes:
        assert c.rule == "2|default|storefront/default.trusted|allow|0"
        assert "app == 'rogue'" in c.rule_text
        assert c.num_flows > 0 and c.final_before == "deny" and c.final_after == "allow"
    assert set(result.groups()) == {(c.source, c.dest) for c in result.changes}
    assert result.changed_keys == [TRUSTED]


def test_without_an_edit_nothing_changes_and_the_record_is_reproduced(recorded, scenario):
    ps = PolicySet.from_cluster(scenario.cluster)
    result = evaluate_whatif(recorded, scenario.cluster, ps.base, ps.state)
    assert result.changes == [] and result.uncertain == []
    assert all(r.before == r.recorded for r in result.rows)


def test_removing_an_allow_rule_turns_allowed_flows_into_denies(recorded, scenario):
    ps = PolicySet.from_cluster(scenario.cluster)
    doc = ps.document(TRUSTED)
    del doc["spec"]["ingress"][0]  # Allow from fw-zone == 'dmz'
    ps.replace(TRUSTED, doc)
    result = evaluate_whatif(recorded, scenario.cluster, ps.base, ps.state)
    pairs = {
        (c.source.split("/")[1].split("-")[0], c.dest.split("/")[1].split("-")[0]) for c in result.changes
    }
    assert pairs == {("frontend", "microservice1"), ("frontend", "microservice2")}
    assert result.allow_to_deny == 2
    assert all(c.rule.endswith("storefront/default.trusted|deny|1") for c in result.changes)


def test_time_range_limits_the_flows(recorded, scenario):
    ps = PolicySet.from_cluster(scenario.cluster)
    allow_rogue(ps)
    first, _ = recorded.time_range()
    early = evaluate_whatif(recorded, scenario.cluster, ps.base, ps.state, since=first, until=first + 60)
    assert early.changes == []  # no rogue pod yet


def test_a_denied_source_now_allowed_is_evaluated_fully_and_marked(recorded, scenario):
    ps = PolicySet.from_cluster(scenario.cluster)
    doc = ps.document("platform.twilio-integration")
    del doc["spec"]["egress"][2]  # Deny to type == 'public'
    ps.replace("platform.twilio-integration", doc)
    result = evaluate_whatif(recorded, scenario.cluster, ps.base, ps.state)
    rogue_out = [c for c in result.changes if c.source.startswith("storefront/rogue") and c.reporter == "src"]
    assert rogue_out and all(c.before == "deny" and c.after == "allow" for c in rogue_out)
    assert all(c.derived and "computed" in c.reason for c in rogue_out)


def test_aggregated_addresses_split_by_new_nets_are_uncertain_not_guessed(recorded, scenario):
    ps = PolicySet.from_cluster(scenario.cluster)
    doc = ps.document("storefront/default.dmz")
    doc["spec"]["ingress"][0]["source"]["nets"] = ["18.0.0.0/24"]  # part of the customers' range
    ps.replace("storefront/default.dmz", doc)
    result = evaluate_whatif(recorded, scenario.cluster, ps.base, ps.state)
    customers = [r for r in result.rows if r.source == "-/public-ip-range" and "frontend" in r.dest]
    assert customers and all(r.uncertain and "nets" in r.reason for r in customers)
    assert not [c for c in result.changes if "frontend" in c.dest and c.source == "-/public-ip-range"]


def test_visualizer_aggregates_as_recorded_and_as_they_would_be(recorded, scenario):
    ps = PolicySet.from_cluster(scenario.cluster)
    allow_rogue(ps)
    result = evaluate_whatif(recorded, scenario.cluster, ps.base, ps.state)
    names = [f.name for f in fields(FlowAggregate)]
    as_recorded = [{k: getattr(a, k) for k in names} for a in whatif_aggregates(result, applied=False)]
    assert as_recorded == [asdict(a) for a in flow_aggregates(recorded)]
    only = whatif_aggregates(result, only_changed=True)
    assert {a.dest_name_aggr.split("-")[0] for a in only} == {"microservice1", "microservice2"}
    assert all(a.action == "allow" and a.changed and a.before_action == "deny" for a in only)
    applied = whatif_aggregates(result)
    rogue_ms = [
        a for a in applied if a.source_name_aggr.startswith("rogue") and "microservice" in a.dest_name_aggr
    ]
    assert {a.action for a in rogue_ms} == {"allow"}


def test_enforcing_the_edit_changes_new_connections_only(scenario):
    sim = Simulator(scenario)
    sim.advance(30)
    sim.fire("deploy-rogue")
    before = sim.advance(60)
    ps = PolicySet.from_cluster(scenario.cluster)
    allow_rogue(ps)
    sim.apply_policy(ps.policy(TRUSTED))
    sim.advance(30)  # connections opened before the change drain out
    after = sim.advance(60)

    def rogue_to_ms(logs):
        return {
            log.action
            for log in logs
            if log.reporter == "dst"
            and log.source_name_aggr.startswith("rogue")
            and log.dest_name_aggr.startswith("microservice")
        }

    assert rogue_to_ms(before) == {"deny"}
    assert rogue_to_ms(after) == {"allow"}


def test_a_staged_deny_all_changes_no_traffic_but_shows_pending_denies(scenario):
    ps = PolicySet.from_cluster(scenario.cluster)
    doc = ps.new_document("default", "storefront")
    doc["metadata"]["name"] = "default.deny-all"
    doc["spec"].update(
        order=-1, types=["Ingress", "Egress"], ingress=[{"action": "Deny"}], egress=[{"action": "Deny"}]
    )
    staged = ps.stage(doc)
    assert staged.key == "storefront/default.staged:deny-all"
    live = Simulator(load_scenario(default_scenario()))
    with_staged = Simulator(scenario)
    with_staged.apply_policy(staged)
    a, b = live.advance(60), with_staged.advance(60)
    assert sorted((x.reporter, x.action, x.dest_name_aggr) for x in a) == sorted(
        (x.reporter, x.action, x.dest_name_aggr) for x in b
    )
    # Flows the security and platform tiers decide never reach the default tier; the others
    # would now be denied by the staged policy.
    storefront = [
        x
        for x in b
        if x.source_namespace == "storefront"
        and x.reporter == "src"
        and any("|default|storefront/" in p for p in x.policies["enforced_policies"])
    ]
    assert storefront and all(
        any("storefront/default.staged:deny-all|deny" in p for p in x.policies["pending_policies"])
        for x in storefront
    )
    assert all(not any("staged:" in p for p in x.policies["enforced_policies"]) for x in b)


def test_a_rebuilt_pods_service_account_is_unknown_so_service_account_rules_make_it_uncertain(
    recorded, scenario
):
    # The rogue pod was deployed by an event: the what-if rebuilds it from its flow logs, whose
    # labels carry no projectcalico.org/serviceaccount (Felix leaves projectcalico.org/* out).
    assert not [p for p in scenario.cluster.pods.values() if p.labels.get("app") == "rogue"]
    ps = PolicySet.from_cluster(scenario.cluster)
    doc = ps.document(TRUSTED)
    doc["spec"]["ingress"].insert(0, {"action": "Allow", "source": {"serviceAccounts": {"names": ["rogue"]}}})
    ps.replace(TRUSTED, doc)
    result = evaluate_whatif(recorded, scenario.cluster, ps.base, ps.state)
    rogue_in = [
        r for r in result.rows if r.source.startswith("storefront/rogue") and "microservice" in r.dest
    ]
    assert rogue_in and all(r.uncertain and "service account" in r.reason for r in rogue_in)
    assert not [c for c in result.changes if c.source.startswith("storefront/rogue")]
