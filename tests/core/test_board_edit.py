"""Editing from the board, without Qt: where a dragged card lands (calico.md §4.2 drag to
reorder; §2.2 order inside a tier), "+ Add policy" at the bottom of a tier, moves across
tiers and into an empty tier, and which cards cannot move."""

from __future__ import annotations

import pytest

from desktopviz.core.board import layout_from_cluster
from desktopviz.core.board_edit import (
    Placement,
    can_move,
    drop_index,
    drop_placement,
    new_policy_placement,
)
from desktopviz.core.paths import default_scenario
from desktopviz.core.policy_edit import PolicySet
from desktopviz.core.scenario import load_scenario


@pytest.fixture(scope="module")
def scenario():
    return load_scenario(default_scenario())


@pytest.fixture(scope="module")
def layout(scenario):
    return layout_from_cluster(scenario)


def test_drop_index_is_before_the_first_card_whose_middle_is_below():
    bottoms = [40.0, 80.0, 120.0]
    assert [drop_index(bottoms, y) for y in (0, 19, 21, 59, 61, 101, 500)] == [0, 0, 1, 1, 2, 3, 3]
    assert drop_index([], 10) == 0


def test_drop_placement_between_cards_of_the_same_tier(layout):
    # security: quarantine, block-feodo, pci-whitelist
    assert drop_placement(layout, "security.pci-whitelist", "security", 0) == Placement(
        "security", before="security.quarantine"
    )
    assert drop_placement(layout, "security.quarantine", "security", 3) == Placement(
        "security", after="security.pci-whitelist"
    )
    assert drop_placement(layout, "security.quarantine", "security", 2) == Placement(
        "security", before="security.pci-whitelist"
    )
    # dropped where it already is: nothing to do
    assert drop_placement(layout, "security.block-feodo", "security", 1) is None
    assert drop_placement(layout, "security.block-feodo", "security", 2) is None


def test_drop_placement_into_another_tier(layout):
    assert drop_placement(layout, "platform.logging", "security", 1) == Placement(
        "security", before="security.block-feodo"
    )
    assert drop_placement(layout, "platform.logging", "security", 99) == Placement(
        "security", after="security.pci-whitelist"
    )


def test_add_policy_goes_after_the_last_card_of_its_tier(layout):
    assert new_policy_placement(layout, "platform") == Placement("platform", after="platform.allow-kube-dns")
    assert new_policy_placement(layout, "nowhere") == Placement("nowhere")


def test_kubernetes_policies_and_trace_only_cards_cannot_move(layout):
    assert "order 1000" in (can_move(layout.find("acme/knp.default.payments-db")) or "")
    assert can_move(layout.find("security.quarantine")) is None
    assert can_move(None)


def test_a_drag_applied_to_the_policy_set_changes_the_evaluation_order(scenario, layout):
    ps = PolicySet.from_cluster(scenario.cluster)
    where = drop_placement(layout, "security.pci-whitelist", "security", 0)
    assert where is not None
    ps.move("security.pci-whitelist", before=where.before, after=where.after, tier=where.tier)
    assert [p.key for p in ps.in_tier("security")] == [
        "security.pci-whitelist",
        "security.quarantine",
        "security.block-feodo",
    ]
    assert ps.policy("security.pci-whitelist").order < ps.policy("security.quarantine").order


def test_a_move_into_an_empty_tier_renames_the_policy(scenario):
    ps = PolicySet.from_cluster(scenario.cluster)
    ps.add_tier("team", 150)
    moved = ps.move("platform.logging", tier="team")
    assert moved.key == "team.logging" and moved.tier == "team"
    assert "platform.logging" not in ps.policies
    assert [p.key for p in ps.in_tier("team")] == ["team.logging"]
    ps.undo()
    assert "platform.logging" in ps.policies and "team.logging" not in ps.policies


def test_add_at_the_end_of_a_tier_gets_an_order_after_the_last(scenario):
    ps = PolicySet.from_cluster(scenario.cluster)
    doc = ps.new_document("security", None)
    doc["spec"]["order"] = 1
    added = ps.add(doc, at_end=True)
    assert [p.key for p in ps.in_tier("security")][-1] == added.key
    assert added.order > ps.policy("security.pci-whitelist").order
