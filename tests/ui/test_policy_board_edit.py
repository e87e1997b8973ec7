"""The Policy Board's editing controls (calico.md §4.2: pencil on each card, `+ ADD POLICY`
at the bottom of each tier, `ADD TIER`, drag to reorder): what a user clicks or drops and
the request the board sends; nothing is offered while editing is off."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QApplication

from desktopviz.core.scenario import load_scenario
from desktopviz.ui.policy_board import PolicyBoard

STOREFRONT = Path(__file__).resolve().parents[2] / "scenarios" / "storefront"
TRUSTED = "storefront/default.trusted"
# the offscreen platform; a popped-up menu grabs the keyboard
pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints", "grabbing the keyboard", r"raise\(\)")


@pytest.fixture(scope="module")
def scenario():
    return load_scenario(STOREFRONT)


def open_board(qtbot, scenario) -> PolicyBoard:
    """A shown board on `scenario`, laid out and idle."""
    b = PolicyBoard()
    qtbot.addWidget(b)
    b.resize(1300, 900)
    b.show()
    b.set_scenario(scenario)
    qtbot.waitUntil(lambda: b._layout_ready and b.is_idle(), timeout=15000)
    return b


@pytest.fixture
def board(qtbot, scenario):
    b = open_board(qtbot, scenario)
    yield b
    b.shutdown()


def column(b: PolicyBoard, tier: str):
    return next(c for c in b.columns if c.tier.name == tier)


_KEEP: list = []  # the drop event's mime data must outlive the event


def drop(b: PolicyBoard, col, key: str, y: float) -> bool:
    """Drop a dragged card (the mime data its drag carries) on a column at height y: the
    column's drop handler gets the QDropEvent a real drag delivers (offscreen Qt cannot run
    a drag loop, and refuses drop events sent without one)."""
    mime = b.card_widgets[key].drag_mime()
    _KEEP.append(mime)
    event = QDropEvent(
        QPointF(40, y),
        Qt.DropAction.MoveAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    col.dropEvent(event)
    return event.isAccepted()


def test_nothing_to_edit_until_editing_is_on(qtbot, board):
    assert not board.toolbar.add_tier_button.isVisible()
    assert not any(c.add_button.isVisible() for c in board.columns)
    assert not board.card_widgets[TRUSTED].editable
    menu = board.card_menu(board.card_widgets[TRUSTED])
    edit = next(a for a in menu.actions() if a.text() == "Edit…")
    assert not edit.isEnabled()
    assert board.drop_policy("security.quarantine", "security", 3) is False


def test_pencil_add_policy_and_add_tier_send_requests(qtbot, board):
    board.set_editable(True)
    assert board.toolbar.add_tier_button.isVisible()
    card = board.card_widgets[TRUSTED]
    with qtbot.waitSignal(board.editRequested) as sig:
        qtbot.mouseClick(card, Qt.MouseButton.LeftButton, pos=card.pencil_rect().center().toPoint())
    assert sig.args == [TRUSTED]
    col = column(board, "platform")
    assert col.add_button.isVisible() and col.add_button.text() == "+ Add policy"
    with qtbot.waitSignal(board.newPolicyRequested) as sig:
        qtbot.mouseClick(col.add_button, Qt.MouseButton.LeftButton)
    assert sig.args == ["platform", None, "platform.allow-kube-dns"]
    with qtbot.waitSignal(board.newTierRequested):
        qtbot.mouseClick(board.toolbar.add_tier_button, Qt.MouseButton.LeftButton)


def test_card_menu_offers_edit_insert_delete_and_enforce_for_staged(qtbot, board):
    board.set_editable(True)
    menu = board.card_menu(board.card_widgets[TRUSTED])
    texts = [a.text() for a in menu.actions() if a.text()]
    assert texts[:2] == ["Open policy view", "Show flows"]
    for wanted in ("Edit…", "Insert policy before…", "Insert policy after…", "Delete", "Stage changes…"):
        assert wanted in texts
    acts = {a.text(): a for a in menu.actions()}
    with qtbot.waitSignal(board.newPolicyRequested) as sig:
        acts["Insert policy before…"].trigger()
    assert sig.args == ["default", TRUSTED, None]
    with qtbot.waitSignal(board.deleteRequested) as sig:
        acts["Delete"].trigger()
    assert sig.args == [TRUSTED]
    staged = board.card_menu(board.card_widgets["storefront/default.staged:restricted"])
    acts = {a.text(): a for a in staged.actions()}
    with qtbot.waitSignal(board.enforceRequested) as sig:
        acts["Enforce"].trigger()
    assert sig.args == ["storefront/default.staged:restricted"]


def test_a_staged_delete_card_offers_enforce_deletion(qtbot, scenario):
    """Enforcing a staged policy whose stagedAction is Delete deletes the enforced policy
    (calico.md §2.13): the card's menu says so."""
    import copy

    sc = copy.deepcopy(scenario)
    key = "storefront/default.staged:restricted"
    sc.cluster.policies[key].staged_action = "Delete"
    b = open_board(qtbot, sc)
    b.set_editable(True)
    acts = {a.text(): a for a in b.card_menu(b.card_widgets[key]).actions()}
    assert "Enforce" not in acts
    with qtbot.waitSignal(b.enforceRequested) as sig:
        acts["Enforce deletion"].trigger()
    assert sig.args == [key]
    b.shutdown()


def test_dropping_a_card_asks_to_move_it_between_the_cards_under_the_pointer(qtbot, board):
    board.set_editable(True)
    col = column(board, "security")
    first = col.cards[0]  # quarantine
    y_top = first.geometry().top() + 2
    with qtbot.waitSignal(board.moveRequested) as sig:
        assert drop(board, col, "security.pci-whitelist", y_top)
    assert sig.args == ["security.pci-whitelist", "security.quarantine", None, "security"]
    # across tiers: a platform card dropped below the last security card
    with qtbot.waitSignal(board.moveRequested) as sig:
        drop(board, col, "platform.logging", col.cards[-1].geometry().bottom() + 5)
    assert sig.args == ["platform.logging", None, "security.pci-whitelist", "security"]


def test_kubernetes_policies_do_not_move(qtbot, board):
    board.set_editable(True)
    knp = board.card_widgets["acme/knp.default.payments-db"]
    assert knp.editable and not knp.draggable
    errors = []
    board.error.connect(errors.append)
    assert board.drop_policy("acme/knp.default.payments-db", "default", 0) is False
    assert errors and "order 1000" in errors[0]


def test_policy_view_has_a_pencil(qtbot, board):
    board.set_editable(True)
    board.open_policy(TRUSTED)
    assert board.view.edit_button.isVisible() and board.view.edit_button.isEnabled()
    with qtbot.waitSignal(board.editRequested) as sig:
        qtbot.mouseClick(board.view.edit_button, Qt.MouseButton.LeftButton)
    assert sig.args == [TRUSTED]
    board.set_editable(False, "no scenario")
    assert not board.view.edit_button.isEnabled() and board.view.edit_button.toolTip() == "no scenario"


def test_tier_header_menu(qtbot, board):
    board.set_editable(True)
    menu = board.tier_menu("platform")
    acts = {a.text(): a for a in menu.actions()}
    with qtbot.waitSignal(board.editTierRequested) as sig:
        acts["Edit tier…"].trigger()
    assert sig.args == ["platform"]
    col = column(board, "platform")
    got = []
    col.tierMenuRequested.connect(lambda t, p: got.append(t))
    col.header.customContextMenuRequested.emit(QPoint(5, 5))
    assert got == ["platform"]
    popup = QApplication.activePopupWidget()
    assert popup is not None and popup.objectName() == "tierMenu:platform"
    popup.close()
