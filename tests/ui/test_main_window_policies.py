"""Editing policies in the main window while storefront is simulated (calico.md §4.2 board
and editor, §4.3 Preview/Stage/Enforce, §2.5: a policy change applies to connections that
start afterwards): what a user does from the Policy Board and what the simulation, the flow
logs, the board and the visualizer then show."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from desktopviz.core.policy_edit_save import EDITED_FILE
from desktopviz.core.scenario import load_scenario
from desktopviz.core.simulator import Simulator
from desktopviz.ui.main_policies import NO_SCENARIO
from desktopviz.ui.main_window import MainWindow

TRUSTED = "storefront/default.trusted"
pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints", "grabbing the keyboard", r"raise\(\)")
ROGUE_TO_MS = (
    "SELECT count(*) FROM flow_logs WHERE source_name_aggr LIKE 'rogue-%' "
    "AND dest_name_aggr LIKE 'microservice%' AND reporter = 'dst' AND action = ? AND {}"
)


def count(db: str, sql: str, *args) -> int:
    con = sqlite3.connect(db)
    try:
        return int(con.execute(sql, args).fetchone()[0] or 0)
    finally:
        con.close()


@pytest.fixture
def sims() -> list[Simulator]:
    """The simulators the window's worker created (the last is the running one)."""
    return []


@pytest.fixture
def window(qtbot, sims):
    def factory(scenario, seed):
        sim = Simulator(scenario, seed=seed)
        sims.append(sim)
        return sim

    w = MainWindow(sim_factory=factory, persist=False)
    qtbot.addWidget(w)
    w.resize(1600, 1000)
    w.show()
    yield w
    w.close()


def start(qtbot, w: MainWindow, path: Path, speed: float = 60.0) -> None:
    with qtbot.waitSignal(w.store_changed, check_params_cb=bool, timeout=20_000):
        assert w.open_scenario(path, speed=speed)
    qtbot.waitUntil(lambda: w.controller.last is not None, timeout=20_000)
    settle_board(qtbot, w)


def settle_board(qtbot, w: MainWindow) -> None:
    qtbot.waitUntil(lambda: w.board._layout_ready and w.board.is_idle(), timeout=15_000)


def tier_keys(w: MainWindow, tier: str) -> list[str]:
    t = w.board.layout_.tier(tier)
    return [p.key for p in t.policies] if t else []


def sim_order(sims, tier: str) -> list[str]:
    return [p.key for p in sims[-1].engine.policies_in_order() if p.tier == tier]


def fire_rogue(qtbot, w: MainWindow) -> None:
    with qtbot.waitSignal(w.controller.cluster_changed, timeout=10_000):
        w.fire_event("deploy-rogue")


def test_edit_trusted_from_the_board_preview_then_enforce(qtbot, window, storefront_path):
    w = window
    start(qtbot, w, storefront_path)
    fire_rogue(qtbot, w)
    db = w.controller.db_path
    qtbot.waitUntil(lambda: count(db, ROGUE_TO_MS.format("1"), "deny") > 0, timeout=20_000)

    def shown():  # what the Flow Visualizer shows: (result, changes applied, only changed flows)
        pv = w.visualizer.preview()
        return None if pv is None else (pv.result, pv.applied, pv.only_changed)

    card = w.board.card_widgets[TRUSTED]
    qtbot.mouseClick(card, Qt.MouseButton.LeftButton, pos=card.pencil_rect().center().toPoint())
    [dlg] = w.policy_editors
    assert dlg.isVisible() and not dlg.isModal() and dlg.policy_key == TRUSTED
    text = dlg.yaml_text().replace(
        "  ingress:\n",
        "  ingress:\n    - action: Allow\n      source:\n        selector: app == 'rogue'\n",
        1,
    )
    dlg.yaml.setPlainText(text)
    dlg.flush()
    assert dlg.issues == []
    with qtbot.waitSignal(dlg.previewReady, timeout=30_000) as blocker:
        assert dlg.request_preview()
    result = blocker.args[0]
    changes = {
        (c.source.split("/")[1].split("-")[0], c.dest.split("/")[1].split("-")[0], c.direction)
        for c in result.changes
    }
    assert changes == {("rogue", "microservice1", "deny → allow"), ("rogue", "microservice2", "deny → allow")}
    assert shown() == (result, True, False) and w.preview_result is result
    assert "default.trusted" in w.visualizer.preview().title
    dlg.preview.only_changed.setChecked(True)
    assert shown() == (result, True, True)
    dlg.preview.applied.setChecked(False)
    assert shown() == (result, False, True)
    w.visualizer.banner.togglesChanged.emit(True, True)  # the visualizer's own toggles
    assert dlg.preview.options() == (True, True) and shown() == (result, True, True)
    assert w.policy_set.history == []  # a preview changes nothing
    t0 = w.controller.sim_time
    assert dlg.enforce()
    ingress = lambda: sims_rule(w)  # noqa: E731
    assert ingress() == "app == 'rogue'"  # the GUI's engine (board, visualizer)
    qtbot.waitUntil(lambda: count(db, ROGUE_TO_MS.format("start_time >= ?"), "allow", t0) > 0, timeout=20_000)
    assert count(db, ROGUE_TO_MS.format("end_time <= ?"), "allow", t0) == 0  # older logs stay denied
    assert count(db, ROGUE_TO_MS.format("end_time <= ?"), "deny", t0) > 0
    dlg.close()
    assert shown() is None  # closing the editor ends the preview


def sims_rule(w: MainWindow) -> str:
    return w.gui_engine.policy(TRUSTED).ingress[0].source.selector


def test_a_policy_inserted_before_a_card_lands_between_its_neighbours(qtbot, window, storefront_path, sims):
    w = window
    start(qtbot, w, storefront_path)
    acts = {a.text(): a for a in w.board.card_menu(w.board.card_widgets[TRUSTED]).actions()}
    acts["Insert policy before…"].trigger()
    dlg = w.policy_editors[-1]
    assert dlg.insert_before == TRUSTED and dlg.form.tier.currentText() == "default"
    dlg.form.name.clear()
    qtbot.keyClicks(dlg.form.name, "block-rogue")
    assert dlg.issues == []
    assert dlg.enforce()
    key = "storefront/default.block-rogue"
    order = w.policy_set.policy(key).order
    assert w.policy_set.policy("storefront/default.dmz").order < order < w.policy_set.policy(TRUSTED).order
    qtbot.waitUntil(lambda: key in tier_keys(w, "default"), timeout=10_000)
    keys = tier_keys(w, "default")
    assert keys.index(key) == keys.index(TRUSTED) - 1
    qtbot.waitUntil(lambda: not w.board.is_building(), timeout=10_000)  # cards come a few at a time
    column = next(c for c in w.board.columns if c.tier.name == "default")
    shown = [c.bp.key for c in column.cards]
    assert shown.index(key) == shown.index(TRUSTED) - 1
    qtbot.waitUntil(lambda: key in sim_order(sims, "default"), timeout=10_000)
    assert sim_order(sims, "default").index(key) == sim_order(sims, "default").index(TRUSTED) - 1


def test_drag_reorder_changes_the_simulation_order_and_undo_restores(qtbot, window, storefront_path, sims):
    w = window
    start(qtbot, w, storefront_path)
    column = next(c for c in w.board.columns if c.tier.name == "security")
    assert w.board.drop_policy(
        "security.pci-whitelist", "security", column.index_at(column.cards[0].geometry().top() + 1)
    )
    expected = ["security.pci-whitelist", "security.quarantine", "security.block-feodo"]
    assert [p.key for p in w.policy_set.in_tier("security")] == expected
    qtbot.waitUntil(lambda: sim_order(sims, "security") == expected, timeout=10_000)
    qtbot.waitUntil(lambda: tier_keys(w, "security") == expected, timeout=10_000)
    assert [p.key for p in w.gui_engine.policies_in_order() if p.tier == "security"] == expected
    assert w.menus.undo_policy_action.isEnabled() and "Move" in w.menus.undo_policy_action.text()
    w.menus.undo_policy_action.trigger()
    original = ["security.quarantine", "security.block-feodo", "security.pci-whitelist"]
    qtbot.waitUntil(lambda: sim_order(sims, "security") == original, timeout=10_000)
    qtbot.waitUntil(lambda: tier_keys(w, "security") == original, timeout=10_000)


def test_delete_then_undo_restores_the_policy_everywhere(qtbot, window, storefront_path, sims):
    w = window
    start(qtbot, w, storefront_path)
    acts = {a.text(): a for a in w.board.card_menu(w.board.card_widgets["security.block-feodo"]).actions()}
    acts["Delete"].trigger()
    assert "security.block-feodo" not in w.policy_set.policies
    qtbot.waitUntil(lambda: "security.block-feodo" not in sim_order(sims, "security"), timeout=10_000)
    qtbot.waitUntil(lambda: "security.block-feodo" not in tier_keys(w, "security"), timeout=10_000)
    assert w.gui_engine.policy("security.block-feodo") is None
    w.menus.undo_policy_action.trigger()
    qtbot.waitUntil(lambda: "security.block-feodo" in sim_order(sims, "security"), timeout=10_000)
    qtbot.waitUntil(lambda: tier_keys(w, "security")[1:2] == ["security.block-feodo"], timeout=10_000)
    assert w.menus.redo_policy_action.isEnabled()
    w.menus.redo_policy_action.trigger()
    assert "security.block-feodo" not in w.policy_set.policies


def test_a_new_tier_appears_as_a_column_in_order_and_reaches_the_simulation(
    qtbot, window, storefront_path, sims
):
    w = window
    start(qtbot, w, storefront_path)
    qtbot.mouseClick(w.board.toolbar.add_tier_button, Qt.MouseButton.LeftButton)
    dlg = w.tier_dialog
    assert dlg is not None and dlg.isVisible() and not dlg.isModal()
    qtbot.keyClicks(dlg.name, "team")
    qtbot.keyClicks(dlg.order, "abc")
    assert dlg.save() is None and "not a number" in dlg.problem.text()
    dlg.order.setText("150")
    dlg.action.setCurrentText("Pass")
    assert dlg.save() is not None
    qtbot.waitUntil(
        lambda: [c.tier.name for c in w.board.columns][:4] == ["security", "team", "platform", "default"],
        timeout=10_000,
    )
    qtbot.waitUntil(lambda: sims[-1].engine.tier("team").order == 150.0, timeout=10_000)
    assert [t.name for t in sims[-1].engine.tiers_in_order()][:3] == ["security", "team", "platform"]
    # "+ Add policy" in the empty tier opens the editor for a policy in it
    column = next(c for c in w.board.columns if c.tier.name == "team")
    qtbot.mouseClick(column.add_button, Qt.MouseButton.LeftButton)
    assert w.policy_editors[-1].form.tier.currentText() == "team"


def test_stage_shows_a_staged_card_with_pending_metrics_and_enforce_makes_it_live(
    qtbot, window, storefront_path, sims
):
    w = window
    start(qtbot, w, storefront_path)
    acts = {a.text(): a for a in w.board.card_menu(w.board.card_widgets[TRUSTED]).actions()}
    acts["Stage changes…"].trigger()
    dlg = w.policy_editors[-1]
    dlg.form.order.selectAll()
    qtbot.keyClicks(dlg.form.order, "9")  # evaluated before the enforced one, in the pending view
    assert dlg.issues == [] and dlg.stage()
    staged = "storefront/default.staged:trusted"
    assert w.policy_set.policy(TRUSTED).order == 10  # the enforced policy is unchanged
    qtbot.waitUntil(lambda: staged in w.board.card_widgets, timeout=10_000)
    assert w.board.card_widgets[staged].bp.staged
    qtbot.waitUntil(
        lambda: (
            (w.refresh_now() or True)
            and w.board.cards.get(staged) is not None
            and w.board.cards[staged].total.connections > 0
        ),
        timeout=30_000,
    )  # what it would do: its pending traces
    menu = {a.text(): a for a in w.board.card_menu(w.board.card_widgets[staged]).actions()}
    menu["Enforce"].trigger()  # deletes the staged one, the enforced one takes its content
    assert staged not in w.policy_set.policies and w.policy_set.policy(TRUSTED).order == 9
    # (the simulation gets two commands, remove then apply: wait for both)
    qtbot.waitUntil(
        lambda: staged not in sim_order(sims, "default") and sims[-1].engine.policy(TRUSTED).order == 9,
        timeout=10_000,
    )
    assert sims[-1].engine.policy(TRUSTED).order == 9


def test_enforce_of_a_staged_delete_on_the_board_deletes_the_policy_everywhere(
    qtbot, window, storefront_path, sims
):
    """calico.md §2.13: a staged policy with `stagedAction: Delete` stages the deletion of the
    enforced policy of its name; the board's Enforce deletes both (the simulation too) and the
    status bar says what was deleted; Undo brings both back."""
    w = window
    start(qtbot, w, storefront_path)
    staged = w.policy_set.add(
        {
            "apiVersion": "projectcalico.org/v3",
            "kind": "StagedNetworkPolicy",
            "metadata": {"name": "trusted", "namespace": "storefront"},
            "spec": {"stagedAction": "Delete"},
        }
    ).key
    qtbot.waitUntil(lambda: staged in w.board.card_widgets, timeout=10_000)
    menu = {a.text(): a for a in w.board.card_menu(w.board.card_widgets[staged]).actions()}
    menu["Enforce deletion"].trigger()  # the card says what Enforce does here
    assert TRUSTED not in w.policy_set.policies and staged not in w.policy_set.policies
    assert w.statusBar().currentMessage() == (
        "Enforce deletion of storefront/default.trusted: done (Ctrl+Z to undo)"
    )
    qtbot.waitUntil(lambda: sims[-1].engine.policy(TRUSTED) is None, timeout=10_000)
    assert TRUSTED not in sim_order(sims, "default") and staged not in sim_order(sims, "default")

    def gone() -> bool:  # (its flow-log traces may keep a card with no policy behind it)
        bp = w.board.layout_.find(TRUSTED)
        return bp is None or bp.policy is None

    qtbot.waitUntil(gone, timeout=10_000)
    assert staged not in tier_keys(w, "default") and w.gui_engine.policy(TRUSTED) is None
    w.menus.undo_policy_action.trigger()
    assert TRUSTED in w.policy_set.policies and staged in w.policy_set.policies
    qtbot.waitUntil(lambda: sims[-1].engine.policy(TRUSTED) is not None, timeout=10_000)


def test_a_bad_edit_cannot_be_applied_and_says_why(qtbot, window, storefront_path, sims):
    w = window
    start(qtbot, w, storefront_path)
    dlg = w.open_policy_editor(TRUSTED)
    dlg.form.selector.clear()
    qtbot.keyClicks(dlg.form.selector, "fw-zone == 'trusted' &&& x")
    assert not dlg.enforce_button.isEnabled() and not dlg.stage_button.isEnabled()
    assert dlg.enforce() is False
    assert "Cannot enforce" in dlg.status.text() and "spec.selector" in dlg.status.text()
    assert dlg.problems.isVisible() and "column 36" in dlg.problems.item(0).text()
    assert w.policy_set.history == [] and not w.menus.undo_policy_action.isEnabled()
    assert sims[-1].engine.policy(TRUSTED).selector == "fw-zone == 'trusted'"


def test_deploy_rogue_pod_reaches_the_visualizer_engine_and_board_counts(qtbot, window, storefront_path):
    w = window
    start(qtbot, w, storefront_path)
    before = {p.key: p.endpoints for p in w.board.layout_.policies()}
    engine = w.gui_engine
    fire_rogue(qtbot, w)
    qtbot.waitUntil(lambda: w.gui_engine is not engine, timeout=15_000)
    assert w.visualizer._engine is w.gui_engine  # noqa: SLF001 - the engine the visualizer asks
    rogue = next(p for p in w.scenario.cluster.pods.values() if p.name.startswith("rogue-"))
    applied = [p.key for p in w.gui_engine.policies_selecting(rogue, "ingress")]
    assert applied[0] == "security.quarantine" and "storefront/default.trusted" not in applied
    qtbot.waitUntil(
        lambda: (
            (w.board.layout_.find("security.quarantine").endpoints or 0) == before["security.quarantine"] + 1
        ),
        timeout=15_000,
    )
    after = {p.key: p.endpoints for p in w.board.layout_.policies()}
    assert after[TRUSTED] == before[TRUSTED]
    assert after["platform.logging"] == before["platform.logging"] + 1
    # the board's label filter knows the rogue pod now
    w.board.set_filter(labels="app == 'rogue'")
    assert "security.quarantine" in w.board.visible and TRUSTED not in w.board.visible


def test_save_into_the_scenario_and_export(qtbot, window, storefront_path, tmp_path):
    folder = tmp_path / "sf"
    shutil.copytree(storefront_path, folder)
    w = window
    start(qtbot, w, folder)
    w.delete_policy("security.block-feodo")
    written = w.save_policies_to(folder)
    assert written and (folder / "41-security-policies.yaml.bak").exists()
    assert "security.block-feodo" not in load_scenario(folder).cluster.policies
    copy_dir = tmp_path / "copy"
    w.save_policies_to(copy_dir)  # an empty folder gets the scenario with the edits
    assert set(load_scenario(copy_dir).cluster.policies) == set(w.policy_set.policies)
    out = tmp_path / "policies.yaml"
    assert w.export_policies_to(out)
    assert "kind: GlobalNetworkPolicy" in out.read_text() and "block-feodo" not in out.read_text()
    assert not (folder / EDITED_FILE).exists()  # only deletions: nothing new to write
    # the change log dock lists the version with its YAML diff
    assert w.menus.view_menu.actions()[2].text() == "Policy Change Log"
    assert w.changelog.versions.count() == 2
    assert "-  name: security.block-feodo" in w.changelog.current_diff()


def test_a_stored_run_without_scenario_cannot_be_edited(
    qtbot, window, storefront_path, shown_messages, tmp_path
):
    w = window
    start(qtbot, w, storefront_path)
    db = w.controller.db_path
    w._end_session()  # noqa: SLF001 - stop the simulation; keep its database
    assert w.open_database(db)
    settle_board(qtbot, w)
    assert w.policy_set is None and not w.board.editable
    assert not w.board.toolbar.add_tier_button.isVisible()
    assert w.open_policy_editor(TRUSTED) is None
    assert shown_messages[-1][2] == NO_SCENARIO
    assert not w.menus.save_policies_action.isEnabled()
