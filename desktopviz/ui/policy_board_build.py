"""Building the Policy Board's columns of cards (a mixin of PolicyBoard) a few cards per
event-loop turn instead of all at once: a board's ~12-300 cards took the GUI thread 15-40 ms
in one go at every session start (tests/perf/bench_ui_latency.py).

An empty board (a session's first) fills in place, a whole tier column at a time, within a
fraction of a second. A board already showing cards keeps them until the new ones are all
built, then swaps (no half-built board, no flicker, after an edit or an event).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QHBoxLayout, QLabel, QWidget

from desktopviz.core.board import BoardPolicy, BoardTier
from desktopviz.ui.policy_board_card import NO_POLICY_KEY, PolicyCard
from desktopviz.ui.policy_board_column import TierColumn
from desktopviz.ui.sim_worker_pacing import REFRESH_BUSY_S, gui_busy

EMPTY = (
    "No policies to show yet. Open a scenario to see its tiers and policies; a stored run "
    "without its scenario shows the policies its flow logs name."
)

SLICE_S = 0.005  # GUI time a building step may take before it yields to the event loop
ALIGN_TOP = Qt.AlignmentFlag.AlignTop


@dataclass
class _Build:
    gen: int
    holder: QWidget
    row: QHBoxLayout
    tiers: list[BoardTier]
    lines: tuple[str, ...]
    in_place: bool  # the holder is on screen already (the board was empty)
    tier: int = 0  # the tier being built
    card: int = 0  # its next policy
    column: TierColumn | None = None
    cards: dict[str, PolicyCard] = field(default_factory=dict)  # the board's own when in place
    columns: list[TierColumn] = field(default_factory=list)


class BoardBuilding:
    """Expects from PolicyBoard: ``layout_``, ``scroll``, ``toolbar``, ``card_widgets``,
    ``columns``, ``_shown``, ``highlighted``, ``selected_policy`` and the card/column wiring
    and refresh methods it calls."""

    layout_: Any
    scroll: Any
    toolbar: Any
    card_widgets: dict[str, PolicyCard]
    columns: list[TierColumn]
    _shown: Any
    highlighted: dict[str, int]
    selected_policy: str | None

    def _init_building(self) -> None:
        self._build: _Build | None = None
        self._build_gen = 0

    def is_building(self) -> bool:
        """Cards of the current layout are still being made."""
        return self._build is not None

    def _rebuild(self) -> None:
        """Make the cards of ``layout_``, a step per event-loop turn from the next one."""
        self._build_gen += 1
        in_place = (
            not self.card_widgets
            and self._build is None
            or (self._build is not None and self._build.in_place)
        )
        holder = QWidget()
        row = QHBoxLayout(holder)
        row.setContentsMargins(8, 8, 8, 8)
        row.setSpacing(10)
        row.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        row.addStretch(1)
        tiers = list(self.layout_.tiers)
        if not tiers:  # an empty board says why, and what fills it
            empty = QLabel(EMPTY, holder)
            empty.setObjectName("emptyBoard")
            empty.setWordWrap(True)
            empty.setStyleSheet("color: palette(placeholder-text); padding: 24px 12px;")
            row.insertWidget(0, empty, 1)
        self._build = b = _Build(self._build_gen, holder, row, tiers, self.toolbar.lines(), in_place)
        if in_place:  # the cards and columns join the board's as they are made
            self.card_widgets.clear()
            self.columns = b.columns
            b.cards, self._shown = self.card_widgets, None
            self._swap_in(holder)
        self.toolbar.set_tiers([t.name for t in tiers])
        gen = self._build_gen
        QTimer.singleShot(
            0, self, lambda: self._build_step(gen)
        )  # not in the layout's frame; dropped if the board is gone

    def _swap_in(self, holder: QWidget) -> None:
        old = self.scroll.takeWidget()
        if old is not None:
            old.deleteLater()
        self.scroll.setWidget(holder)

    def _build_step(self, gen: int) -> None:
        b = self._build
        if b is None or b.gen != gen:
            return  # a newer layout replaced this one
        gui_busy(REFRESH_BUSY_S)  # widgets to make, lay out and paint: a max-speed simulation steps aside
        start = time.perf_counter()
        added = False
        while b.tier < len(b.tiers):
            tier = b.tiers[b.tier]
            if b.column is None:  # a column (its header and style sheets) in a turn of its own
                b.column = TierColumn(tier, b.tier)
                self._wire_column(b.column)  # type: ignore[attr-defined]
                b.card = 0
                break
            if b.card < len(tier.policies):
                b.column.add_card(self._make_card(tier.policies[b.card], b.lines, b.cards))
                b.card += 1
            else:
                if self._has_no_policy_card(b.tiers, b.tier):
                    pseudo = BoardPolicy(NO_POLICY_KEY, "No Policy Traffic", tier.name)
                    b.column.add_card(self._make_card(pseudo, b.lines, b.cards, pseudo=True))
                b.column.finish()
                b.row.insertWidget(b.row.count() - 1, b.column, 0, ALIGN_TOP)
                b.column.show()  # now, not from a queued call after this step
                b.columns.append(b.column)
                b.column, b.tier, added = None, b.tier + 1, True
                break  # its layout and state: the rest of this turn
            if time.perf_counter() - start > SLICE_S:
                break
        if b.tier >= len(b.tiers):
            self._build = None
            if not b.in_place:  # the old cards made way for the new ones all at once
                self.card_widgets.clear()
                self.card_widgets.update(b.cards)
                self.columns, self._shown = b.columns, None
                self._swap_in(b.holder)
            self._apply_editable()  # type: ignore[attr-defined]
            self._apply_metrics()  # type: ignore[attr-defined]
            selected = self.card_widgets.get(self.selected_policy or "")
            if selected is not None:  # the selected card stays in view (once laid out)
                QTimer.singleShot(0, self, lambda: self._reveal(selected))
            return
        if added and b.in_place:  # the finished columns show their state at once
            self._apply_editable()  # type: ignore[attr-defined]
            self._apply_metrics()  # type: ignore[attr-defined]
        QTimer.singleShot(0, self, lambda: self._build_step(gen))

    def _reveal(self, card: PolicyCard) -> None:
        if card is self.card_widgets.get(card.bp.key) and card.isVisible():
            self.scroll.ensureWidgetVisible(card, 20, 40)

    @staticmethod
    def _has_no_policy_card(tiers: list[BoardTier], i: int) -> bool:
        """The "No Policy Traffic" card closes the default tier (or the last one)."""
        return tiers[i].name == "default" or (
            i == len(tiers) - 1 and not any(t.name == "default" for t in tiers)
        )

    def _make_card(
        self, bp: BoardPolicy, lines: tuple[str, ...], into: dict[str, PolicyCard], pseudo: bool = False
    ) -> PolicyCard:
        card = PolicyCard(bp, pseudo=pseudo)
        card.set_shown(lines)
        card.set_highlight(self.highlighted.get(bp.key))
        card.set_selected(bp.key == self.selected_policy)
        card.clicked.connect(self._card_clicked)  # type: ignore[attr-defined]
        card.openRequested.connect(self._card_open)  # type: ignore[attr-defined]
        card.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        card.customContextMenuRequested.connect(lambda pos, c=card: self._card_menu(c, pos))  # type: ignore[attr-defined]
        self._wire_card(card)  # type: ignore[attr-defined]
        into[bp.key] = card
        return card
