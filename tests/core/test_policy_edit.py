"""The editable policy set: validated changes, order between neighbours, undo/redo, YAML diff,
stage/enforce (calico.md §2.2, §2.13, §4.2), export and save into a scenario folder."""

from __future__ import annotations

import shutil

import pytest
import yaml

from desktopviz.core.paths import default_scenario
from desktopviz.core.policy_edit import PolicySet
from desktopviz.core.policy_edit_save import EDITED_FILE, save_to_scenario
from desktopviz.core.policy_edit_yaml import PolicyEditError, to_yaml, validate_text
from desktopviz.core.scenario import load_scenario

TRUSTED = "storefront/default.trusted"


@pytest.fixture(scope="module")
def scenario():
    return load_scenario(default_scenario())


@pytest.fixture
def ps(scenario) -> PolicySet:
    return PolicySet.from_cluster(scenario.cluster)


def allow_rogue(doc: dict) -> dict:
    doc["spec"]["ingress"].insert(0, {"action": "Allow", "source": {"selector": "app == 'rogue'"}})
    return doc


def test_edit_is_recorded_with_a_yaml_diff_and_undone_and_redone(ps):
    before = ps.document(TRUSTED)
    ps.replace(TRUSTED, allow_rogue(ps.document(TRUSTED)))
    assert ps.policy(TRUSTED).ingress[0].source.selector == "app == 'rogue'"
    [change] = ps.history
    assert change.keys == [TRUSTED]
    diff = change.diff()
    assert diff.startswith(f"--- a/{TRUSTED}\n+++ b/{TRUSTED}\n")
    assert "+        selector: app == 'rogue'" in diff
    assert ps.undo() is change
    assert ps.document(TRUSTED) == before and not ps.can_undo and ps.can_redo
    ps.redo()
    assert ps.policy(TRUSTED).ingress[0].source.selector == "app == 'rogue'"
    assert ps.diff() == diff


def test_listeners_hear_every_change_undo_and_redo(ps):
    heard: list[int] = []
    ps.subscribe(lambda: heard.append(len(ps.history)))
    ps.delete("security.block-feodo")
    ps.undo()
    ps.redo()
    assert heard == [1, 0, 1]


@pytest.mark.parametrize(
    ("edit", "path", "message", "column"),
    [
        (
            lambda s: s.replace("fw-zone == 'trusted'\n", "fw-zone == 'trusted' &&& x\n", 1),
            "spec.selector",
            "&&",
            36,
        ),
        (
            lambda s: s.replace(
                "    - action: Deny\n  egress",
                "    - action: Deny\n      destination: {ports: [80]}\n  egress",
            ),
            "spec.ingress[2].destination.ports[0]",
            "protocol",
            None,
        ),
        (
            lambda s: s.replace("name: default.trusted", "name: default.dmz"),
            "metadata.name",
            "already exists",
            3,
        ),
        (lambda s: s.replace("  name: default.trusted\n", ""), "metadata.name", "required", None),
        (lambda s: s.replace("tier: default", "tier: nowhere"), "spec.tier", "does not exist", None),
    ],
)
def test_invalid_edits_cannot_be_applied_and_say_why(ps, edit, path, message, column):
    text = edit(to_yaml(ps.document(TRUSTED)))
    policy, issues = ps.validate(text, TRUSTED)
    assert policy is None
    assert any(i.path == path and message in i.message for i in issues), issues
    if column is not None:
        assert any(i.column == column for i in issues if i.path == path)
    with pytest.raises(PolicyEditError) as err:
        ps.replace(TRUSTED, text)
    assert path in str(err.value)
    assert ps.history == [] and ps.state is ps.base


def test_selector_error_points_at_the_bad_character():
    text = "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata:\n  name: x\nspec:\n  selector: \"a == 'b' && c ==\"\n"
    _, _, issues = validate_text(text, tiers=["default"])
    [issue] = issues
    assert issue.line == 6
    assert issue.column == len('  selector: "') + len("a == 'b' && c ==") + 1


def test_new_policy_goes_between_its_neighbours(ps):
    p = ps.add(ps.new_document("default", "storefront"), before=TRUSTED)
    assert 0 < p.order < 10  # between default.dmz (0) and default.trusted (10)
    q = ps.add(ps.new_document("security", None), after="security.quarantine")
    assert 100 < q.order < 200
    order = [x.key for x in ps.in_tier("security")]
    assert order.index("security.quarantine") + 1 == order.index(q.key)


def test_move_recomputes_orders_and_renumbers_when_there_is_no_room(ps):
    ps.move("security.pci-whitelist", before="security.quarantine")
    assert [x.key for x in ps.in_tier("security")][0] == "security.pci-whitelist"
    ps.undo()
    # Two policies with the same order have no room between them: the tier is renumbered
    # keeping every other policy's place.
    doc = ps.document("security.block-feodo")
    doc["spec"]["order"] = 100
    ps.replace("security.block-feodo", doc)
    seq = [x.key for x in ps.in_tier("security")]
    ps.move("security.pci-whitelist", after=seq[0])
    new = [x.key for x in ps.in_tier("security")]
    assert new == [seq[0], "security.pci-whitelist", seq[1]]
    orders = [x.order for x in ps.in_tier("security")]
    assert orders == sorted(orders) and len(set(orders)) == 3


def test_move_into_another_tier_renames_the_policy(ps):
    moved = ps.move("platform.logging", after="security.quarantine")
    assert moved.key == "security.logging" and moved.tier == "security"
    assert "platform.logging" not in ps.policies


def test_kubernetes_policies_keep_order_1000(ps):
    with pytest.raises(PolicyEditError, match="1000"):
        ps.move("acme/knp.default.payments-db", before=TRUSTED)


def test_new_tier_and_a_policy_in_it(ps):
    ps.add_tier("team", 150)
    assert [t.name for t in ps.tiers_in_order()][:3] == ["security", "team", "platform"]
    doc = ps.new_document("team", "acme")
    assert doc["metadata"]["name"].startswith("team.")
    p = ps.add(doc)
    assert p.key == "acme/team.new-policy"
    bad = ps.new_document("team", "acme")
    bad["metadata"]["name"] = "other-name"
    with pytest.raises(PolicyEditError, match="team.<name>"):
        ps.add(bad)


def test_stage_then_enforce_replaces_the_enforced_policy(ps):
    edited = allow_rogue(ps.document(TRUSTED))
    staged = ps.stage(edited)
    assert staged.kind == "StagedNetworkPolicy" and staged.staged_action == "Set"
    assert staged.key == "storefront/default.staged:trusted"
    assert ps.policy(TRUSTED).ingress[0].source.selector == "fw-zone == 'dmz'"  # live one unchanged
    enforced = ps.enforce(ps.document(staged.key))
    assert enforced.key == TRUSTED and enforced.kind == "NetworkPolicy"
    assert staged.key not in ps.policies
    assert ps.policy(TRUSTED).ingress[0].source.selector == "app == 'rogue'"
    d = ps.delta()
    assert [p.key for p in d.applied] == [TRUSTED] and d.removed == []


def test_export_is_yaml_calico_and_kubernetes_accept(ps, tmp_path):
    text = ps.export_yaml()
    docs = list(yaml.safe_load_all(text))
    kinds = {(d["apiVersion"], d["kind"]) for d in docs}
    assert ("networking.k8s.io/v1", "NetworkPolicy") in kinds
    assert ("projectcalico.org/v3", "Tier") in kinds
    assert ("projectcalico.org/v3", "StagedNetworkPolicy") in kinds
    assert docs[0]["kind"] == "Tier"  # tiers before the policies that use them
    # The export loads back (with the scenario's namespaces) into the same policies.
    base = default_scenario()
    folder = tmp_path / "sf"
    shutil.copytree(base, folder, ignore=shutil.ignore_patterns("4*-*.yaml", "50-*.yaml"))
    (folder / "export.yaml").write_text(text)
    again = load_scenario(folder)
    assert set(again.cluster.policies) == set(ps.policies)


def test_save_into_the_scenario_keeps_every_other_document(ps, tmp_path):
    folder = tmp_path / "sf"
    shutil.copytree(default_scenario(), folder)
    ps2 = PolicySet.from_cluster(load_scenario(folder).cluster)
    ps2.replace(TRUSTED, allow_rogue(ps2.document(TRUSTED)))
    ps2.delete("security.block-feodo")
    ps2.add_tier("team", 150)
    ps2.add(ps2.new_document("team", "acme"))
    untouched = {
        p.name: p.read_bytes() for p in folder.glob("*.yaml") if p.name[:2] in ("00", "10", "20", "30")
    }
    written = save_to_scenario(ps2, folder)
    assert folder / EDITED_FILE in written
    assert (folder / "50-zone-policies.yaml.bak").exists()
    for name, data in untouched.items():
        assert (folder / name).read_bytes() == data
    again = load_scenario(folder)
    assert set(again.cluster.policies) == set(ps2.policies)
    assert again.cluster.policies[TRUSTED].ingress[0].source.selector == "app == 'rogue'"
    assert "team" in again.cluster.tiers and len(again.cluster.pods) == len(ps2_pods(folder))
    assert "# Security tier" in (folder / "41-security-policies.yaml").read_text()  # comments kept


def ps2_pods(folder):
    return load_scenario(folder).cluster.pods
