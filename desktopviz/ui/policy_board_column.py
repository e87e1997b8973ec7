"""A tier column of the Policy Board's columns view: a header (name, order, default action)
on a coloured stripe, the tier's cards top to bottom, and, when the board is editable,
`+ Add policy` at the bottom and a drop target for dragged cards (calico.md §4.2). Where a
drop lands is worked out by :mod:`desktopviz.core.board_edit`."""

from __future__ import annotations

from PySide6.QtCore import QPoint, Qt, Signal
from PySide6.QtGui import QColor, QDragEnterEvent, QDragLeaveEvent, QDragMoveEvent, QDropEvent
from PySide6.QtWidgets import QFrame, QLabel, QPushButton, QVBoxLayout, QWidget

from desktopviz.core.board import BoardTier
from desktopviz.core.board_edit import drop_index
from desktopviz.ui.policy_board_card import CARD_WIDTH, POLICY_MIME, PolicyCard
from desktopviz.ui.policy_board_style import tier_stripe


class TierColumn(QFrame):
    """A tier: header, cards, `+ Add policy`.

    Signals:
        dropped(str key, str tier, int index): a card was dropped at `index` of the cards.
        addRequested(str tier): `+ Add policy` was clicked.
        tierMenuRequested(str tier, QPoint global_pos): the header was right-clicked.
    """

    dropped = Signal(str, str, int)
    addRequested = Signal(str)
    tierMenuRequested = Signal(str, QPoint)

    def __init__(self, tier: BoardTier, index: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.tier = tier
        self.editable = False
        self.setFixedWidth(CARD_WIDTH + 20)
        stripe = tier_stripe(tier.name, index).name()
        self.setStyleSheet(
            f"QFrame#{self._css_name()} {{ border-left: 4px solid {stripe}; border-radius: 3px; "
            "background: palette(window); }"
        )
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 4, 6, 8)
        layout.setSpacing(6)
        bits = []
        if tier.order is not None:
            bits.append(
                f"order {tier.order:,.0f}" if float(tier.order).is_integer() else f"order {tier.order:g}"
            )
        if tier.default_action:
            bits.append(f"default {tier.default_action}")
        self.header = QLabel(
            f"<span style='font-size:12pt; font-weight:600'>{tier.name}</span>"
            + (f"<br><span style='color:gray'>{' · '.join(bits)}</span>" if bits else "")
        )
        self.header.setTextFormat(Qt.TextFormat.RichText)
        c = QColor(stripe)
        self.header.setStyleSheet(
            f"background: rgba({c.red()}, {c.green()}, {c.blue()}, 60); padding: 4px; border: none;"
        )
        self.header.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.header.customContextMenuRequested.connect(
            lambda pos: self.tierMenuRequested.emit(self.tier.name, self.header.mapToGlobal(pos))
        )
        layout.addWidget(self.header)
        self.cards: list[PolicyCard] = []
        self._layout = layout
        self.add_button = QPushButton("+ Add policy")
        self.add_button.setObjectName(f"addPolicy:{tier.name}")
        self.add_button.setFlat(True)
        self.add_button.setStyleSheet("QPushButton { color: palette(link); text-align: left; padding: 3px; }")
        self.add_button.setToolTip(f"Create a policy at the end of tier {tier.name}")
        self.add_button.clicked.connect(lambda: self.addRequested.emit(self.tier.name))
        self.add_button.setVisible(False)
        self.marker = QFrame(self)  # where a dragged card would land
        self.marker.setFrameShape(QFrame.Shape.HLine)
        self.marker.setStyleSheet("background: palette(highlight); border: none;")
        self.marker.setFixedHeight(3)
        self.marker.hide()

    def _css_name(self) -> str:
        name = "tiercol_" + "".join(ch if ch.isalnum() else "_" for ch in self.tier.name)
        self.setObjectName(name)
        return name

    def add_card(self, card: PolicyCard) -> None:
        card.setFixedHeight(card.sizeHint().height())
        self.cards.append(card)
        self._layout.addWidget(card)

    def finish(self) -> None:
        self._layout.addWidget(self.add_button)
        self._layout.addStretch(1)

    def set_editable(self, on: bool) -> None:
        self.editable = on
        self.add_button.setVisible(on)
        self.setAcceptDrops(on)

    # -- drops -------------------------------------------------------------------------
    def policy_cards(self) -> list[PolicyCard]:
        """The cards a drop is placed among (not the "No Policy Traffic" pseudo-card)."""
        return [c for c in self.cards if not c.pseudo and c.isVisible()]

    def index_at(self, y: float) -> int:
        """The insertion index (among every policy card of the tier, hidden ones included)
        for a drop at height `y` of the column."""
        shown = self.policy_cards()
        i = drop_index([float(c.geometry().bottom()) for c in shown], y)
        keys = [p.key for p in self.tier.policies]
        if i < len(shown) and shown[i].bp.key in keys:
            return keys.index(shown[i].bp.key)
        return len(keys)

    def _accepts(self, event: QDragEnterEvent | QDragMoveEvent | QDropEvent) -> bool:
        return self.editable and event.mimeData().hasFormat(POLICY_MIME)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt override
        if self._accepts(event):
            event.acceptProposedAction()
            self._show_marker(event.position().y())
        else:
            event.ignore()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:  # noqa: N802 - Qt override
        if self._accepts(event):
            event.acceptProposedAction()
            self._show_marker(event.position().y())
        else:
            event.ignore()

    def dragLeaveEvent(self, event: QDragLeaveEvent) -> None:  # noqa: N802 - Qt override
        self.marker.hide()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt override
        self.marker.hide()
        if not self._accepts(event):
            event.ignore()
            return
        key = bytes(event.mimeData().data(POLICY_MIME).data()).decode("utf-8")
        event.acceptProposedAction()
        self.dropped.emit(key, self.tier.name, self.index_at(event.position().y()))

    def _show_marker(self, y: float) -> None:
        shown = self.policy_cards()
        i = drop_index([float(c.geometry().bottom()) for c in shown], y)
        if i < len(shown):
            at = shown[i].geometry().top() - 4
        elif shown:
            at = shown[-1].geometry().bottom() + 2
        else:
            at = self.header.geometry().bottom() + 2
        self.marker.setGeometry(8, at, self.width() - 14, 3)
        self.marker.show()
        self.marker.raise_()
