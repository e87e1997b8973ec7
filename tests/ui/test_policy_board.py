"""The Policy Board widget on a real simulated storefront store (pytest-qt): tiers and cards
in evaluation order, the eye menu, live metrics after the rogue pod, filters, highlights,
the list view and the policy view's per-rule denies."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QEnterEvent
from PySide6.QtWidgets import QApplication

from desktopviz.core.policy import PolicyEngine
from desktopviz.core.scenario import load_scenario
from desktopviz.core.simulator import Simulator
from desktopviz.core.store import FlowStore
from desktopviz.ui.policy_board import PolicyBoard
from desktopviz.ui.policy_board_model import METRIC_COLUMNS

STOREFRONT = Path(__file__).resolve().parents[2] / "scenarios" / "storefront"
TRUSTED = "storefront/default.trusted"
pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints")  # the offscreen platform


@pytest.fixture(scope="module")
def scenario():
    return load_scenario(STOREFRONT)


@pytest.fixture(scope="module")
def run_db(tmp_path_factory) -> Path:
    """Five minutes of storefront, then "Deploy rogue pod", then five more."""
    path = tmp_path_factory.mktemp("board_ui") / "run.db"
    sim = Simulator(load_scenario(STOREFRONT))
    with FlowStore(path) as store:
        store.insert(sim.advance(300))
        sim.fire("deploy-rogue")
        store.insert(sim.advance(300))
    return path


@pytest.fixture
def board(qtbot):
    b = PolicyBoard()
    qtbot.addWidget(b)
    b.resize(1300, 900)
    b.show()
    yield b
    b.shutdown()


def settle(qtbot, b: PolicyBoard) -> None:
    qtbot.waitUntil(lambda: b.is_idle() and b._layout_ready and bool(b.metrics), timeout=15000)


def open_run(qtbot, b: PolicyBoard, scenario, path) -> None:
    b.set_scenario(scenario)
    b.set_store(path)
    settle(qtbot, b)


def test_tiers_left_to_right_and_cards_in_engine_order(qtbot, board, scenario, run_db):
    open_run(qtbot, board, scenario, run_db)
    assert [c.tier.name for c in board.columns] == ["security", "platform", "default"]
    xs = [c.geometry().x() for c in board.columns]
    assert xs == sorted(xs)
    engine_order = [p.key for p in PolicyEngine(scenario.cluster).policies_in_order()]
    shown = [card.bp.key for col in board.columns for card in col.cards if not card.pseudo]
    assert shown == engine_order
    default = board.columns[2]
    ys = [card.geometry().y() for card in default.cards]
    assert ys == sorted(ys)
    assert default.cards[-1].pseudo and default.cards[-1].bp.name == "No Policy Traffic"
    staged = board.card_widgets["storefront/default.staged:restricted"]
    assert staged.bp.staged and board.card_widgets["acme/knp.default.payments-db"].bp.kind == "Kubernetes"


def test_show_all_reveals_the_four_metric_columns(qtbot, board, scenario, run_db):
    open_run(qtbot, board, scenario, run_db)
    board.set_view_mode("list")
    assert all(board.table.isColumnHidden(c) for c in METRIC_COLUMNS.values())
    card = board.card_widgets[TRUSTED]
    small = card.height()
    board.toolbar.show_all_action.trigger()
    assert not any(board.table.isColumnHidden(c) for c in METRIC_COLUMNS.values())
    assert [board.model.headerData(c, Qt.Orientation.Horizontal) for c in METRIC_COLUMNS.values()] == [
        "Connections",
        "Allowed",
        "Denied",
        "Passed",
    ]
    assert set(card.lines()) >= {"connections", "allowed", "denied", "passed"}
    assert card.height() > small
    assert all(a.isChecked() for a in board.toolbar.line_actions.values())


def test_rogue_traffic_shows_as_denied_on_trusted_and_on_its_ingress_deny_rule(
    qtbot, board, scenario, run_db
):
    open_run(qtbot, board, scenario, run_db)
    board.show_all_metrics()
    card = board.card_widgets[TRUSTED]
    assert card.value("denied") > 0
    row = board.model.row_of(TRUSTED)
    assert board.model.index(row, METRIC_COLUMNS["denied"]).data() not in ("–", "0")
    # Before the rogue pod (first five minutes) nothing was denied.
    start = scenario.settings.start_time
    with qtbot.waitSignal(board.updated, timeout=10000):
        board.set_time_range(start, start + 300)
    assert card.value("denied") == 0
    with qtbot.waitSignal(board.updated, timeout=10000):
        board.set_time_range(None, None)
    # Double-click opens the policy view; the denies are on ingress rule 2, from the rogue pod.
    qtbot.mouseDClick(card, Qt.MouseButton.LeftButton, pos=card.rect().center())
    assert board.pages.currentIndex() == 1
    view = board.view
    qtbot.waitUntil(lambda: view.detail is not None, timeout=10000)
    deny = view.detail.ingress[2]
    assert deny.action == "Deny" and deny.metrics.denied.connections > 0
    widget = view.rule_widgets[("ingress", 2)]
    assert "rogue-" in widget.peers.text() and "denied" in widget.peers.text()
    denied_row = widget.metrics.text().split(">Denied</td>")[1].split("</tr>")[0]
    assert "pkts/s" in denied_row and "n/a" not in denied_row  # packets/s in and out, total
    assert "n/a" in view.rule_widgets[("egress", 2)].metrics.text()  # no data on the egress Deny
    with qtbot.waitSignal(board.showFlows) as sig:
        widget.flows_button.click()
    assert sig.args == [
        '(policy = "storefront/default.trusted" and trace = enforced and rule = 2 and policy_action = deny)'
        " and reporter = dst"
    ]
    view.back_button.click()
    assert board.pages.currentIndex() == 0


def test_metrics_update_live_as_flow_logs_arrive(qtbot, board, scenario, tmp_path):
    path = tmp_path / "live.db"
    sim = Simulator(load_scenario(STOREFRONT))
    writer = FlowStore(path)
    writer.insert(sim.advance(120))
    open_run(qtbot, board, scenario, path)
    card = board.card_widgets[TRUSTED]
    assert card.value("denied") == 0
    sim.fire("deploy-rogue")
    writer.insert(sim.advance(120))
    with qtbot.waitSignal(board.updated, timeout=10000):
        board.refresh()
    assert card.value("denied") > 0
    writer.close()


def test_a_cards_tooltip_gives_its_current_figures_when_the_mouse_is_over_it(
    qtbot, board, scenario, tmp_path
):
    path = tmp_path / "tips.db"
    sim = Simulator(load_scenario(STOREFRONT))
    writer = FlowStore(path)
    writer.insert(sim.advance(120))
    open_run(qtbot, board, scenario, path)
    card = board.card_widgets[TRUSTED]
    QApplication.sendEvent(card, QEnterEvent(QPointF(5, 5), QPointF(5, 5), QPointF(5, 5)))
    tip = card.toolTip()
    assert TRUSTED in tip and "Allowed:" in tip and "Denied:" not in tip
    sim.fire("deploy-rogue")
    writer.insert(sim.advance(120))
    with qtbot.waitSignal(board.updated, timeout=10000):
        board.refresh()
    assert "Denied:" in card.toolTip()  # refreshed while the mouse is over it
    writer.close()


def test_clicks_emit_policy_activated_and_the_eye_opens_the_view(qtbot, board, scenario, run_db):
    open_run(qtbot, board, scenario, run_db)
    card = board.card_widgets["platform.logging"]
    with qtbot.waitSignal(board.policyActivated) as sig:
        qtbot.mouseClick(card, Qt.MouseButton.LeftButton, pos=card.rect().center())
    assert sig.args == ["platform.logging"] and card.selected
    eye = card.eye_rect().center().toPoint()
    qtbot.mouseClick(card, Qt.MouseButton.LeftButton, pos=eye)
    assert board.pages.currentIndex() == 1 and board.view.current_key == "platform.logging"


def test_filters_and_label_selector(qtbot, board, scenario, run_db):
    open_run(qtbot, board, scenario, run_db)
    board.set_filter("denying")
    assert board.card_widgets[TRUSTED].isVisible()
    assert not board.card_widgets["platform.logging"].isVisible()
    board.set_filter("staged")
    assert board.visible == {"storefront/default.staged:restricted"}
    assert board.model.rowCount() == 1
    board.set_filter("unused")
    assert board.visible == {"security.quarantine"}
    board.set_filter("all", labels="fw-zone == 'dmz'")
    assert "storefront/default.dmz" in board.visible and TRUSTED not in board.visible
    board.set_filter("all", labels="fw-zone = 'dmz'")  # not a selector: shown, and all cards stay
    assert "column" in board.toolbar.labels.toolTip()
    assert len(board.visible) == 11
    board.set_filter("all", search="pci")
    assert board.visible == {"security.pci-whitelist"}
    assert "1 of 11" in board.toolbar.status.text()


def test_highlight_policies_of_a_flow_trace(qtbot, board, scenario, run_db):
    open_run(qtbot, board, scenario, run_db)
    board.highlight_policies(
        ["0|security|security.pci-whitelist|pass|1", "1|platform|platform.allow-kube-dns|pass|2", TRUSTED]
    )
    assert board.card_widgets["security.pci-whitelist"].highlight == 0
    assert board.card_widgets[TRUSTED].highlight == 2
    assert board.card_widgets["platform.logging"].highlight is None
    board.highlight_policies([])
    assert board.card_widgets[TRUSTED].highlight is None


def test_list_model_passes_the_model_tester(qtbot, qtmodeltester, board, scenario, run_db):
    open_run(qtbot, board, scenario, run_db)
    board.show_all_metrics()
    qtmodeltester.check(board.model)
    assert board.model.rowCount() == 11
    assert board.model.index(0, 2).data() == "quarantine"


def test_board_of_a_stored_run_without_scenario(qtbot, board, run_db):
    board.set_store(run_db)
    settle(qtbot, board)
    assert [c.tier.name for c in board.columns] == ["security", "platform", "default"]
    assert TRUSTED in board.card_widgets and "security.quarantine" not in board.card_widgets
    assert "traces" in board.toolbar.status.text()
    board.open_policy(TRUSTED)
    qtbot.waitUntil(lambda: board.view.detail is not None, timeout=10000)
    assert any(r.index == 2 and r.metrics.denied.connections for r in board.view.detail.ingress)


def test_export_yaml(qtbot, board, scenario, run_db, tmp_path):
    open_run(qtbot, board, scenario, run_db)
    text = board.export_text()
    assert "apiVersion: projectcalico.org/v3" in text and "apiVersion: networking.k8s.io/v1" in text
    board.export_to(tmp_path / "security.yaml", "security")
    exported = (tmp_path / "security.yaml").read_text()
    assert "security.pci-whitelist" in exported and "default.trusted" not in exported
    assert [a.text() for a in board.toolbar.export_menu.actions() if a.text()] == [
        "All policies…",
        "Tier security…",
        "Tier platform…",
        "Tier default…",
    ]


def test_the_toolbar_fits_a_narrow_dock_with_nothing_cut_off(qtbot, board, scenario, run_db):
    """At 1280×800 the board's dock is ~520 px wide: every button shows whole, the policy count
    gives way (elided, its full text as tooltip)."""
    board.set_editable(True)
    open_run(qtbot, board, scenario, run_db)
    tb = board.toolbar
    assert tb.minimumSizeHint().width() <= 420
    board.resize(440, 700)
    qtbot.waitUntil(lambda: tb.width() <= 440)
    for b in (tb.add_tier_button, tb.columns_button, tb.list_button, tb.export_button, tb.eye_button):
        geo = b.geometry()
        assert b.isVisible() and geo.left() >= 0 and geo.right() <= tb.width(), b.toolTip()
        assert b.toolTip()  # icon buttons say what they do
    assert "policies" in tb.status.text()
    if tb.status.width() < tb.status.fontMetrics().horizontalAdvance(tb.status.text()):
        assert tb.status.toolTip() == tb.status.text()


def test_the_selected_card_is_scrolled_to_with_its_whole_column(qtbot, board, scenario, run_db):
    open_run(qtbot, board, scenario, run_db)
    board.resize(520, 700)
    qtbot.waitUntil(lambda: board.scroll.viewport().width() < 520)
    board.select_policy(TRUSTED)
    column = next(c for c in board.columns if c.isAncestorOf(board.card_widgets[TRUSTED]))
    left = column.mapTo(board.scroll.viewport(), column.rect().topLeft()).x()
    assert 0 <= left and left + column.width() <= board.scroll.viewport().width()


def test_an_empty_board_says_what_fills_it(qtbot, board):
    from PySide6.QtWidgets import QLabel

    qtbot.waitUntil(lambda: not board.is_building())
    empty = board.scroll.widget().findChild(QLabel, "emptyBoard")
    assert empty is not None and "Open a scenario" in empty.text()


def test_a_card_under_the_mouse_is_outlined(qtbot, board, scenario, run_db):
    from PySide6.QtCore import QEvent, QPointF
    from PySide6.QtGui import QEnterEvent
    from PySide6.QtWidgets import QApplication

    open_run(qtbot, board, scenario, run_db)
    card = board.card_widgets["security.block-feodo"]
    top = (card.width() // 2, 1)
    before = card.grab().toImage().pixelColor(*top)
    QApplication.sendEvent(card, QEnterEvent(QPointF(5, 5), QPointF(5, 5), QPointF(5, 5)))
    assert card.hovered
    assert card.grab().toImage().pixelColor(*top) != before
    QApplication.sendEvent(card, QEvent(QEvent.Type.Leave))
    assert not card.hovered and card.grab().toImage().pixelColor(*top) == before


def test_the_list_view_gives_names_one_line_and_the_room_left(qtbot, board, scenario, run_db):
    from desktopviz.ui.policy_board import NAME_COLUMN

    open_run(qtbot, board, scenario, run_db)  # rows arrive while the columns view is shown
    board.set_view_mode("list")
    table, header = board.table, board.table.horizontalHeader()
    fm = table.fontMetrics()
    widest = max(fm.horizontalAdvance(bp.name) for bp in board.layout_.policies())
    assert header.sectionSize(NAME_COLUMN) >= widest
    assert table.rowHeight(0) < 2 * fm.height()  # one line a row
    used = sum(header.sectionSize(c) for c in range(header.count()) if not header.isSectionHidden(c))
    assert used >= table.viewport().width() - 2  # the columns fill the table
