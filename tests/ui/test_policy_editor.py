"""The policy editor dialog: form ↔ YAML sync, validation as the user types, enforce/stage
signals, undo/redo with the change log, new policies placed between neighbours, Preview."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from desktopviz.core.paths import default_scenario
from desktopviz.core.policy_edit import PolicySet
from desktopviz.core.scenario import load_scenario
from desktopviz.core.simulator import Simulator
from desktopviz.core.store import FlowStore
from desktopviz.ui.policy_editor import PolicyEditorDialog

TRUSTED = "storefront/default.trusted"
pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints")  # the offscreen platform


@pytest.fixture
def scenario():
    return load_scenario(default_scenario())


@pytest.fixture
def ps(scenario):
    return PolicySet.from_cluster(scenario.cluster)


@pytest.fixture
def editor(qtbot, ps, scenario):
    dlg = PolicyEditorDialog(ps, TRUSTED, cluster=scenario.cluster)
    qtbot.addWidget(dlg)
    dlg.show()
    return dlg


def test_form_edits_show_in_the_yaml_tab(qtbot, editor):
    editor.form.selector.clear()
    qtbot.keyClicks(editor.form.selector, "fw-zone in {'trusted', 'dmz'}")
    assert "selector: fw-zone in {'trusted', 'dmz'}" in editor.yaml_text()
    editor.form.ingress.list.setCurrentRow(0)
    src = editor.form.rule.source.edits["selector"]
    src.clear()
    qtbot.keyClicks(src, "app == 'rogue'")
    assert "selector: app == 'rogue'" in editor.yaml_text()
    assert not editor.issues and editor.enforce_button.isEnabled()


def test_yaml_edits_show_in_the_form(qtbot, editor):
    text = editor.yaml_text().replace("order: 10", "order: 12").replace("fw-zone == 'dmz'", "app == 'rogue'")
    editor.yaml.setPlainText(text)
    qtbot.waitUntil(lambda: editor.form.order.text() == "12", timeout=3000)
    editor.form.ingress.list.setCurrentRow(0)
    assert editor.form.rule.source.edits["selector"].text() == "app == 'rogue'"
    assert editor.form.ingress.list.item(0).text().endswith("[selector app == 'rogue']")


def test_a_bad_selector_is_shown_at_its_column_and_cannot_be_applied(qtbot, editor, ps):
    applied = []
    editor.applyRequested.connect(lambda p, m: applied.append(p))
    editor.form.selector.clear()
    qtbot.keyClicks(editor.form.selector, "fw-zone == 'trusted' &&& x")
    assert not editor.enforce_button.isEnabled() and not editor.stage_button.isEnabled()
    [issue] = editor.issues
    assert issue.path == "spec.selector" and issue.column == 36
    assert editor.problems.item(0).text().startswith("line 9, column 36: spec.selector:")
    assert "border" in editor.form.selector.styleSheet()
    assert "column 36" in editor.form.selector.toolTip()
    assert editor.enforce() is False
    assert applied == [] and ps.history == []


def test_a_port_without_protocol_marks_the_rule(qtbot, editor):
    editor.form.ingress.list.setCurrentRow(1)
    qtbot.keyClicks(editor.form.rule.destination.edits["ports"], "8080")
    assert [i.path for i in editor.issues] == ["spec.ingress[1].destination.ports[0]"]
    assert "protocol" in editor.issues[0].message
    assert editor.form.ingress.list.item(1).text().startswith("⚠")
    editor.form.rule.protocol.setCurrentText("TCP")
    assert editor.issues == [] and editor.enforce_button.isEnabled()


def test_a_duplicate_name_is_refused(qtbot, ps):
    dlg = PolicyEditorDialog(ps, tier="default", insert_after=TRUSTED)
    qtbot.addWidget(dlg)
    dlg.form.name.clear()
    qtbot.keyClicks(dlg.form.name, "dmz")
    assert any(i.path == "metadata.name" and "already exists" in i.message for i in dlg.issues)
    assert not dlg.enforce_button.isEnabled()


def test_enforce_emits_the_policy_and_undo_redo_follow_with_the_diff(qtbot, editor, ps):
    applied: list[tuple[str, str]] = []
    editor.applyRequested.connect(lambda p, m: applied.append((p.key, m, p.ingress[0].source.selector)))
    editor.form.ingress.list.setCurrentRow(0)
    src = editor.form.rule.source.edits["selector"]
    src.clear()
    qtbot.keyClicks(src, "app == 'rogue'")
    with qtbot.waitSignal(editor.applyRequested):
        assert editor.enforce()
    assert applied == [(TRUSTED, "enforce", "app == 'rogue'")]
    assert ps.policy(TRUSTED).ingress[0].source.selector == "app == 'rogue'"
    assert editor.changelog.versions.count() == 2
    assert "+        selector: app == 'rogue'" in editor.changelog.current_diff()
    assert "-        selector: fw-zone == 'dmz'" in editor.changelog.current_diff()
    editor.undo()
    assert applied[-1] == (TRUSTED, "enforce", "fw-zone == 'dmz'")
    assert "fw-zone == 'dmz'" in editor.yaml_text() and editor.redo_button.isEnabled()
    editor.redo()
    assert applied[-1] == (TRUSTED, "enforce", "app == 'rogue'")


def test_stage_adds_a_staged_policy_and_leaves_the_live_one(qtbot, editor, ps):
    modes = []
    editor.applyRequested.connect(lambda p, m: modes.append((p.key, p.kind, m)))
    editor.form.selector.clear()
    qtbot.keyClicks(editor.form.selector, "fw-zone in {'trusted'}")
    assert editor.stage()
    assert ps.policy(TRUSTED).selector == "fw-zone == 'trusted'"  # the live policy is unchanged
    assert modes == [("storefront/default.staged:trusted", "StagedNetworkPolicy", "stage")]
    assert editor.policy_key == "storefront/default.staged:trusted"
    assert "stagedAction: Set" in editor.yaml_text()
    removed = []
    editor.removeRequested.connect(removed.append)
    assert editor.enforce()  # enforcing the staged policy deletes it and updates the live one
    assert removed == ["storefront/default.staged:trusted"]
    assert modes[-1] == (TRUSTED, "NetworkPolicy", "enforce")
    assert ps.policy(TRUSTED).selector == "fw-zone in {'trusted'}"


def test_a_new_policy_goes_after_the_chosen_one(qtbot, ps):
    dlg = PolicyEditorDialog(ps, insert_after="security.quarantine")
    qtbot.addWidget(dlg)
    assert dlg.form.tier.currentText() == "security" and dlg.form.scope.currentText() == "Global"
    dlg.form.name.clear()
    qtbot.keyClicks(dlg.form.name, "block-ssh")
    qtbot.mouseClick(dlg.form.ingress.add, Qt.MouseButton.LeftButton)
    dlg.form.rule.action.setCurrentText("Deny")
    dlg.form.rule.action.activated.emit(1)
    dlg.form.rule.protocol.setCurrentText("TCP")
    qtbot.keyClicks(dlg.form.rule.destination.edits["ports"], "22")
    assert dlg.issues == []
    assert dlg.enforce()
    seq = [p.key for p in ps.in_tier("security")]
    assert seq.index("security.block-ssh") == seq.index("security.quarantine") + 1
    rule = ps.policy("security.block-ssh").ingress[0]
    assert (rule.action, rule.protocol, rule.destination.ports) == ("Deny", "TCP", [22])


def test_preview_lists_the_flows_that_would_change(qtbot, ps, scenario, tmp_path):
    sim = Simulator(load_scenario(default_scenario()))
    with FlowStore(tmp_path / "run.db") as store:
        store.insert(sim.advance(30))
        sim.fire("deploy-rogue")
        store.insert(sim.advance(60))
    dlg = PolicyEditorDialog(ps, TRUSTED, cluster=scenario.cluster, store_path=tmp_path / "run.db")
    qtbot.addWidget(dlg)
    requests = []
    dlg.previewRequested.connect(requests.append)
    dlg.yaml.setPlainText(dlg.yaml_text().replace("fw-zone == 'dmz'", "app == 'rogue'", 1))
    dlg.flush()
    with qtbot.waitSignal(dlg.previewReady, timeout=20000) as blocker:
        assert dlg.request_preview()
    result = blocker.args[0]
    assert len(requests) == 1 and ps.history == []  # a preview changes nothing
    # rule 0 now admits the rogue pod instead of the DMZ (the frontend)
    short = {
        (c.source.split("/")[1].split("-")[0], c.dest.split("/")[1].split("-")[0], c.direction)
        for c in result.changes
    }
    assert short == {
        ("rogue", "microservice1", "deny → allow"),
        ("rogue", "microservice2", "deny → allow"),
        ("frontend", "microservice1", "allow → deny"),
        ("frontend", "microservice2", "allow → deny"),
    }
    assert dlg.preview.table.rowCount() == 4
    assert {dlg.preview.table.item(i, 4).text() for i in range(4)} == {"deny → allow", "allow → deny"}


def test_a_connected_simulation_follows_enforce_and_undo(qtbot, ps, scenario):
    from desktopviz.ui.policy_editor import connect_controller, send_delta

    sim = Simulator(scenario)
    dlg = PolicyEditorDialog(ps, TRUSTED)
    qtbot.addWidget(dlg)
    connect_controller(dlg, sim)
    dlg.yaml.setPlainText(dlg.yaml_text().replace("fw-zone == 'dmz'", "app == 'rogue'", 1))
    dlg.flush()
    assert dlg.enforce()
    assert sim.engine.policy(TRUSTED).ingress[0].source.selector == "app == 'rogue'"
    dlg.undo()
    assert sim.engine.policy(TRUSTED).ingress[0].source.selector == "fw-zone == 'dmz'"
    before = ps.state
    ps.move("security.pci-whitelist", before="security.quarantine")  # a drag on the board
    assert send_delta(sim, ps.delta(before)) == []
    order = [p.key for p in sim.engine.policies_in_order() if p.tier == "security"]
    assert order[0] == "security.pci-whitelist"


def test_no_rule_selected_shows_a_hint_not_an_empty_form(qtbot, editor):
    rule = editor.form.rule
    assert not rule.isEnabled()
    assert rule.hint.isVisible() and not rule.source.isVisible() and not rule.action.isVisible()
    assert rule.title.text() == "No rule selected"
    editor.form.egress.list.setCurrentRow(1)
    assert rule.isEnabled() and not rule.hint.isVisible()
    assert rule.source.isVisible() and rule.destination.isVisible()
    assert rule.title.text() == "Egress rule 1"


STAGED_DELETE = {  # calico.md §2.13: stages the deletion of the enforced policy of this name
    "apiVersion": "projectcalico.org/v3",
    "kind": "StagedNetworkPolicy",
    "metadata": {"name": "trusted", "namespace": "storefront"},
    "spec": {"stagedAction": "Delete"},
}


def test_enforcing_a_staged_delete_deletes_both_and_goes_on_with_a_new_policy(qtbot, ps, scenario):
    """§2.13: Enforce of a `stagedAction: Delete` policy deletes the enforced policy of its name
    and the staged one; the dialog says so and holds a new policy (nothing is left to edit)."""
    staged = ps.add(STAGED_DELETE)
    dlg = PolicyEditorDialog(ps, staged.key, cluster=scenario.cluster)
    qtbot.addWidget(dlg)
    dlg.show()
    removed, applied = [], []
    dlg.removeRequested.connect(removed.append)
    dlg.applyRequested.connect(lambda p, _m: applied.append(p.key))
    assert dlg.enforce_button.isEnabled() and dlg.enforce()
    assert sorted(removed) == [staged.key, TRUSTED] and applied == []
    assert TRUSTED not in ps.policies and staged.key not in ps.policies
    assert dlg.status.text() == (
        "Enforce deletion of storefront/default.trusted: done; the editor now holds a new policy"
    )
    assert dlg.policy_key is None and not dlg.delete_button.isEnabled()
    doc = dlg.document()
    assert doc["kind"] == "NetworkPolicy" and doc["metadata"]["namespace"] == "storefront"
    assert dlg.title.text().startswith("Create NetworkPolicy storefront/")
    assert dlg.issues == [] and dlg.enforce_button.isEnabled()
    assert ps.history[-1].label == "Enforce deletion of storefront/default.trusted"
    dlg.undo()  # one change: both come back, and the simulation is told
    assert TRUSTED in ps.policies and staged.key in ps.policies
    assert sorted(applied) == [staged.key, TRUSTED]


def test_preview_of_a_staged_delete_shows_the_policy_deleted(qtbot, ps, scenario):
    """§2.13 / §4.3: Preview of a staged deletion compares with the policy gone."""
    staged = ps.add(STAGED_DELETE)
    dlg = PolicyEditorDialog(ps, staged.key, cluster=scenario.cluster)
    qtbot.addWidget(dlg)
    request = dlg.preview_request()
    assert request is not None
    assert TRUSTED in request.before.policies
    assert TRUSTED not in request.after.policies and staged.key not in request.after.policies
    assert TRUSTED in ps.policies  # nothing changed yet
