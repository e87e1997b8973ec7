"""A policy-editing session next to a running simulation: changes made by scenario events
are taken into every version (undo never reverts them), saving twice into a scenario
folder is safe, "save as" into an empty folder copies the scenario, and a new or re-ordered
tier reaches the simulator (calico.md §2.1: tiers by order, lowest first)."""

from __future__ import annotations

import shutil

import pytest

from desktopviz.core.model import Tier
from desktopviz.core.paths import default_scenario
from desktopviz.core.policy_edit import PolicySet
from desktopviz.core.policy_edit_save import EDITED_FILE, save_scenario_as, save_to_scenario
from desktopviz.core.policy_edit_yaml import policy_from_document
from desktopviz.core.scenario import load_scenario
from desktopviz.core.simulator import Simulator

TRUSTED = "storefront/default.trusted"


@pytest.fixture
def scenario():
    return load_scenario(default_scenario())


def allow_rogue(doc: dict) -> dict:
    doc["spec"]["ingress"].insert(0, {"action": "Allow", "source": {"selector": "app == 'rogue'"}})
    return doc


def test_rebase_keeps_an_event_policy_through_undo_and_redo(scenario):
    ps = PolicySet.from_cluster(scenario.cluster)
    ps.replace(TRUSTED, allow_rogue(ps.document(TRUSTED)))
    doc = ps.new_document("security", None)
    doc["metadata"]["name"] = "security.from-event"
    event_policy = policy_from_document(doc)
    heard = []
    ps.subscribe(lambda: heard.append(1))
    ps.rebase({event_policy.key: event_policy, "security.block-feodo": None}, {"team": Tier("team", 5.0)})
    assert heard == [1]
    assert event_policy.key in ps.policies and "security.block-feodo" not in ps.policies
    ps.undo()
    assert ps.policy(TRUSTED).ingress[0].source.selector != "app == 'rogue'"
    assert event_policy.key in ps.policies and "team" in ps.tiers
    assert "security.block-feodo" not in ps.policies
    ps.redo()
    assert ps.policy(TRUSTED).ingress[0].source.selector == "app == 'rogue'"
    assert event_policy.key in ps.policies
    assert [p.key for p in ps.delta().applied] == [TRUSTED]  # the event's changes are not edits


def test_saving_twice_replaces_the_first_save(tmp_path):
    folder = tmp_path / "sf"
    shutil.copytree(default_scenario(), folder)
    ps = PolicySet.from_cluster(load_scenario(folder).cluster)
    ps.replace(TRUSTED, allow_rogue(ps.document(TRUSTED)))
    save_to_scenario(ps, folder)
    ps.move("security.pci-whitelist", before="security.quarantine")
    written = save_to_scenario(ps, folder)
    assert folder / EDITED_FILE in written and (folder / f"{EDITED_FILE}.bak").exists()
    again = load_scenario(folder)  # no duplicate definitions
    assert set(again.cluster.policies) == set(ps.policies)
    assert again.cluster.policies[TRUSTED].ingress[0].source.selector == "app == 'rogue'"
    order = [p.key for p in again.cluster.policies_in_order("security")]
    assert order[0] == "security.pci-whitelist"
    assert (folder / EDITED_FILE).read_text().count("name: default.trusted") == 1


def test_save_as_into_an_empty_folder_copies_the_scenario_and_leaves_the_original(tmp_path):
    src = tmp_path / "orig"
    shutil.copytree(default_scenario(), src)
    before = {p.name: p.read_bytes() for p in src.glob("*.yaml")}
    ps = PolicySet.from_cluster(load_scenario(src).cluster)
    ps.delete("security.block-feodo")
    out = tmp_path / "edited"
    save_scenario_as(ps, src, out)
    assert {p.name: p.read_bytes() for p in src.glob("*.yaml")} == before
    assert not list(src.glob("*.bak"))
    again = load_scenario(out)
    assert "security.block-feodo" not in again.cluster.policies
    assert set(again.cluster.policies) == set(ps.policies)
    assert len(again.cluster.pods) == len(load_scenario(src).cluster.pods)


def test_save_as_into_the_scenario_folder_saves_in_place(tmp_path):
    src = tmp_path / "orig"
    shutil.copytree(default_scenario(), src)
    ps = PolicySet.from_cluster(load_scenario(src).cluster)
    ps.delete("security.block-feodo")
    save_scenario_as(ps, src, src)
    assert (src / "41-security-policies.yaml.bak").exists()
    assert "security.block-feodo" not in load_scenario(src).cluster.policies


def test_simulator_set_tier_reorders_evaluation_for_new_connections(scenario):
    sim = Simulator(scenario)
    sim.set_tier(Tier("platform", 50.0, "Deny"))
    assert [t.name for t in sim.engine.tiers_in_order()][:2] == ["platform", "security"]
    assert sim.cluster.tiers["platform"].order == 50.0
    sim.set_tier(Tier("team", 150.0, "Pass"))
    assert "team" in [t.name for t in sim.engine.tiers_in_order()]
