"""Editing from the Policy Board (a mixin of PolicyBoard): pencils, `+ Add policy`, `Add
tier`, the card and tier menus, and dropping a dragged card (calico.md §4.2).

The board only asks: every action becomes one of PolicyBoard's request signals, and the main
window (which owns the policy set) does the change; the board shows it when it gets the
edited scenario back (``set_scenario``). Where a drop lands is computed in core
(:mod:`desktopviz.core.board_edit`).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QMenu

from desktopviz.core.board import BoardLayout
from desktopviz.core.board_detail import flows_filter
from desktopviz.core.board_edit import can_move, drop_placement, new_policy_placement
from desktopviz.ui.policy_board_card import PolicyCard
from desktopviz.ui.policy_board_column import TierColumn


class BoardEditing:
    """Edit requests of the Policy Board (see PolicyBoard's signals)."""

    layout_: BoardLayout
    editable: bool
    edit_reason: str
    columns: list[TierColumn]
    card_widgets: dict[str, PolicyCard]
    toolbar: Any
    view: Any
    editRequested: Any
    newPolicyRequested: Any
    deleteRequested: Any
    moveRequested: Any
    newTierRequested: Any
    editTierRequested: Any
    enforceRequested: Any
    stageRequested: Any
    showFlows: Any

    def set_editable(self, on: bool, reason: str = "") -> None:
        """Offer editing (pencils, `+ Add policy`, `Add tier`, drag, menu entries) or not;
        `reason` says why not (tooltips, disabled menu entries)."""
        self.editable, self.edit_reason = on, reason
        self.toolbar.add_tier_button.setVisible(on)
        self.view.set_editable(on, reason)
        self._apply_editable()

    def _apply_editable(self) -> None:
        on = self.editable and self.layout_.source == "scenario"
        for col in self.columns:
            col.set_editable(on)
        for card in self.card_widgets.values():
            card.set_editable(on, on and can_move(card.bp) is None)

    def _wire_column(self, col: TierColumn) -> None:
        col.dropped.connect(self.drop_policy)
        col.addRequested.connect(self.add_policy_at_end)
        col.tierMenuRequested.connect(self._tier_menu)

    def _wire_card(self, card: PolicyCard) -> None:
        card.editRequested.connect(self._edit_card)

    # -- requests ----------------------------------------------------------------------
    def _edit_card(self, key: str) -> None:
        if self.editable:
            self.editRequested.emit(key)

    def add_policy_at_end(self, tier: str) -> None:
        """`+ Add policy` of a tier: a new policy after its last one."""
        where = new_policy_placement(self.layout_, tier)
        self.newPolicyRequested.emit(where.tier, where.before, where.after)

    def drop_policy(self, key: str, tier: str, index: int) -> bool:
        """A card dropped at `index` of a tier's cards: ask to move it there. Returns False
        when nothing is to be done (same place, a card that cannot move)."""
        if not self.editable:
            return False
        reason = can_move(self.layout_.find(key))
        if reason:
            self.error.emit(f"Cannot move {key}: {reason}")  # type: ignore[attr-defined]
            return False
        where = drop_placement(self.layout_, key, tier, index)
        if where is None:
            return False
        self.moveRequested.emit(key, where.before, where.after, where.tier)
        return True

    # -- menus -------------------------------------------------------------------------
    def card_menu(self, card: PolicyCard) -> QMenu:
        """The card's context menu (also used by tests)."""
        bp = card.bp
        menu = QMenu(self)  # type: ignore[arg-type]
        menu.addAction("Open policy view").triggered.connect(lambda: self.open_policy(bp.key))  # type: ignore[attr-defined]
        menu.addAction("Show flows").triggered.connect(lambda: self.showFlows.emit(flows_filter(bp)))
        menu.addSeparator()
        scenario_policy = bp.policy is not None and self.layout_.source == "scenario"
        ok = self.editable and scenario_policy
        why = self.edit_reason if not self.editable else "known from flow logs only"
        entries = [
            ("Edit…", lambda: self.editRequested.emit(bp.key)),
            ("Insert policy before…", lambda: self.newPolicyRequested.emit(bp.tier, bp.key, None)),
            ("Insert policy after…", lambda: self.newPolicyRequested.emit(bp.tier, None, bp.key)),
        ]
        if bp.staged:  # enforcing a staged Delete deletes the enforced policy (calico.md §2.13)
            deletes = bp.policy is not None and bp.policy.staged_action == "Delete"
            entries.append(
                ("Enforce deletion" if deletes else "Enforce", lambda: self.enforceRequested.emit(bp.key))
            )
        else:
            entries.append(("Stage changes…", lambda: self.stageRequested.emit(bp.key)))
        entries.append(("Delete", lambda: self.deleteRequested.emit(bp.key)))
        for text, slot in entries:
            act = menu.addAction(text)
            act.setEnabled(ok)
            if not ok:
                act.setToolTip(why)
            act.triggered.connect(slot)
        menu.setToolTipsVisible(True)
        menu.addSeparator()
        menu.addAction(f"Export tier {bp.tier}…").triggered.connect(
            lambda: self._export_dialog(bp.tier)  # type: ignore[attr-defined]
        )
        return menu

    def _card_menu(self, card: PolicyCard, pos: QPoint) -> None:
        if card.pseudo:
            return
        menu = self.card_menu(card)
        menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        menu.popup(card.mapToGlobal(pos))

    def tier_menu(self, tier: str) -> QMenu:
        menu = QMenu(self)  # type: ignore[arg-type]
        menu.setObjectName(f"tierMenu:{tier}")
        for text, slot in (
            ("Add policy…", lambda: self.add_policy_at_end(tier)),
            ("Edit tier…", lambda: self.editTierRequested.emit(tier)),
            ("Add tier…", self.newTierRequested.emit),
        ):
            act = menu.addAction(text)
            act.setEnabled(self.editable and self.layout_.source == "scenario")
            act.triggered.connect(slot)
        menu.addAction(f"Export tier {tier}…").triggered.connect(
            lambda: self._export_dialog(tier)  # type: ignore[attr-defined]
        )
        return menu

    def _tier_menu(self, tier: str, pos: QPoint) -> None:
        menu = self.tier_menu(tier)
        menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        menu.popup(pos)
