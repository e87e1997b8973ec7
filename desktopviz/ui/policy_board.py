"""The Policy Board (a dock widget): tiers as columns left to right in evaluation order,
policies as cards top to bottom, live metrics, filters, list view, YAML export, and the
policy view of one policy (calico.md §4.2).

View conventions: ``set_store(path_or_None)``, ``refresh()`` (cheap: one rollup query off the
GUI thread, merged while one runs), ``set_time_range(since, until)``; plus
``set_scenario(scenario_or_None, engine=None)`` for the tiers and policies (without one the
board is built from the traces in the store), ``highlight_policies(trace_names)``,
``select_policy(key)``, ``open_policy(key)``, ``set_editable(on, reason)`` (editing requests
as signals: see :mod:`desktopviz.ui.policy_board_edit`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHeaderView,
    QScrollArea,
    QStackedWidget,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from desktopviz.core.board import (
    PROFILE_TIER,
    BoardLayout,
    card_metrics,
    no_policy_traffic,
    policy_from_trace,
    visible_keys,
)
from desktopviz.core.board_yaml import export_yaml
from desktopviz.core.queries import HitMetrics, PolicyMetrics
from desktopviz.core.selector import SelectorError
from desktopviz.ui.policy_board_build import BoardBuilding
from desktopviz.ui.policy_board_card import NO_POLICY_KEY, PolicyCard
from desktopviz.ui.policy_board_column import TierColumn
from desktopviz.ui.policy_board_edit import BoardEditing
from desktopviz.ui.policy_board_model import (
    ENDPOINTS_COLUMN,
    KEY_ROLE,
    METRIC_COLUMNS,
    SCOPE_COLUMN,
    PolicyTableModel,
)
from desktopviz.ui.policy_board_toolbar import BoardToolbar
from desktopviz.ui.policy_board_worker import BoardWorker, build_layout, new_generation, query_metrics
from desktopviz.ui.policy_view import PolicyView
from desktopviz.ui.sim_worker_pacing import gui_busy

BOARD_PAGE, POLICY_PAGE = 0, 1
NAME_COLUMN = 2


class PolicyBoard(BoardBuilding, BoardEditing, QWidget):
    """The Policy Board and, on a second page, the policy view.

    Signals:
        policyActivated(str): a policy (trace name) was clicked.
        showFlows(str): show the flows of a policy or rule (filter text for the flow browser).
        updated(): the board shows new metrics.
        error(str): a query failed (message for the status bar).

    Edit requests (only when ``set_editable(True)``; the board changes nothing itself):
        editRequested(str): edit a policy (pencil, menu, policy view).
        newPolicyRequested(str tier, object before, object after): a new policy there
            (`+ Add policy`: after the tier's last; menu: before/after a card).
        deleteRequested(str), enforceRequested(str) (a staged card), stageRequested(str) (open
            the editor to stage a changed version of an enforced policy).
        moveRequested(str key, object before, object after, str tier): a card was dragged.
        newTierRequested(), editTierRequested(str).
    """

    policyActivated = Signal(str)
    showFlows = Signal(str)
    updated = Signal()
    error = Signal(str)
    editRequested = Signal(str)
    newPolicyRequested = Signal(str, object, object)
    deleteRequested = Signal(str)
    moveRequested = Signal(str, object, object, str)
    newTierRequested = Signal()
    editTierRequested = Signal(str)
    enforceRequested = Signal(str)
    stageRequested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.path: str | None = None
        self.since: int | None = None
        self.until: int | None = None
        self.scenario: Any = None
        self.engine: Any = None
        self.layout_: BoardLayout = BoardLayout(source="store")
        self.metrics: dict[str, PolicyMetrics] = {}
        self.cards: dict[str, HitMetrics] = {}
        self.span = 0.0
        self.visible: set[str] = set()
        self._shown: tuple[Any, ...] | None = None  # what _apply_filters last applied
        self.highlighted: dict[str, int] = {}
        self.selected_policy: str | None = None
        self.card_widgets: dict[str, PolicyCard] = {}
        self.columns: list[TierColumn] = []
        self._pending_open: str | None = None
        self._layout_ready = False
        self.editable = False
        self.edit_reason = "Open a scenario to edit its policies"
        self._init_building()
        self._worker = BoardWorker(self)
        self._worker.done.connect(self._on_done)
        self._worker.failed.connect(lambda kind, msg: self.error.emit(f"Policy Board: {msg}"))

        self.pages = QStackedWidget(self)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(self.pages)
        board_page = QWidget()
        v = QVBoxLayout(board_page)
        v.setContentsMargins(0, 0, 0, 0)
        v.setSpacing(0)
        self.toolbar = BoardToolbar(board_page)
        v.addWidget(self.toolbar)
        self.views = QStackedWidget(board_page)
        v.addWidget(self.views)
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.views.addWidget(self.scroll)
        self.table = QTableView()
        self.model = PolicyTableModel(self.table)
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 8)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)  # sized on new rows, not per refresh
        header.setSectionResizeMode(NAME_COLUMN, QHeaderView.ResizeMode.Stretch)  # long names get the room
        header.setStretchLastSection(False)
        self.model.modelReset.connect(self._size_columns)
        self.table.clicked.connect(lambda idx: self._card_clicked(str(idx.data(KEY_ROLE))))
        self.table.doubleClicked.connect(lambda idx: self.open_policy(str(idx.data(KEY_ROLE))))
        self.views.addWidget(self.table)
        self.pages.addWidget(board_page)
        self.view = PolicyView()
        self.view.backRequested.connect(self.close_policy)
        self.view.showFlows.connect(self.showFlows)
        self.view.policyActivated.connect(self.policyActivated)
        self.view.error.connect(self.error)
        self.view.editRequested.connect(self._edit_card)
        self.pages.addWidget(self.view)

        self.toolbar.filtersChanged.connect(self._apply_filters)
        self.toolbar.linesChanged.connect(self._apply_lines)
        self.toolbar.viewModeChanged.connect(self.set_view_mode)
        self.toolbar.exportRequested.connect(self._export_dialog)
        self.toolbar.addTierRequested.connect(self.newTierRequested)
        self._apply_lines(self.toolbar.lines())
        self._rebuild()

    # -- view API ------------------------------------------------------------------------
    def set_store(self, path: str | Path | None) -> None:
        self.path = str(path) if path else None
        new_generation()
        self._worker.reset()
        self.metrics, self.cards, self.span = {}, {}, 0.0
        self.view.set_store(self.path)
        self._reload_layout()
        self.refresh()

    def set_scenario(self, scenario: Any, engine: Any = None) -> None:
        """The scenario whose tiers and policies the board shows (None: from the traces).
        `engine`, a PolicyEngine over its cluster, saves building one."""
        self.scenario, self.engine = scenario, engine
        self._worker.reset()
        self._reload_layout()
        self.refresh()

    def set_time_range(self, since: int | None, until: int | None) -> None:
        self.since, self.until = since, until
        self.view.set_time_range(since, until)
        self.refresh()

    def refresh(self) -> None:
        """Re-query the metrics of the time range (merged with a query still running)."""
        if self.path is None:
            return
        path, since, until = self.path, self.since, self.until
        self._worker.submit("metrics", lambda: query_metrics(path, since, until))
        if self.pages.currentIndex() == POLICY_PAGE:
            self.view.refresh()

    def is_idle(self) -> bool:
        return self._worker.is_idle() and self.view.is_idle() and not self.is_building()

    def shutdown(self) -> None:
        self._worker.shutdown()
        self.view.shutdown()

    def clear(self) -> None:
        self.set_store(None)

    # -- commands --------------------------------------------------------------------------
    def highlight_policies(self, names: list[str] | tuple[str, ...]) -> None:
        """Mark the policies of a flow's trace (trace names or whole trace entries), numbered
        in trace order; an empty list clears the marks."""
        ranks: dict[str, int] = {}
        for name in names:
            key = name.split("|")[2] if name.count("|") >= 3 else name
            ranks.setdefault(key, len(ranks))
        self.highlighted = ranks
        for key, card in self.card_widgets.items():
            card.set_highlight(ranks.get(key))
        self.model.set_highlighted(ranks)
        first = next((self.card_widgets[k] for k in ranks if k in self.card_widgets), None)
        if first is not None and first.isVisible():
            self.scroll.ensureWidgetVisible(first, 20, 40)

    def select_policy(self, key: str | None) -> None:
        """Select a card (and its list row) by trace name and scroll to it."""
        self.selected_policy = key
        for k, card in self.card_widgets.items():
            card.set_selected(k == key)
        if key is None:
            return
        card = self.card_widgets.get(key)
        if card is not None:
            self.scroll.ensureWidgetVisible(card, 20, 40)
            self._show_whole_column(card)
        row = self.model.row_of(key)
        if row >= 0:
            self.table.selectRow(row)

    def _show_whole_column(self, card: PolicyCard) -> None:
        """Scroll sideways so the card's tier column is seen whole (with its header), not cut
        at the edge of the board, when the board is wide enough for it."""
        page = self.scroll.widget()
        column = next((c for c in self.columns if c.isAncestorOf(card)), None)
        if page is None or column is None:
            return
        bar = self.scroll.horizontalScrollBar()
        left = column.mapTo(page, column.rect().topLeft()).x() - 6
        right = left + column.width() + 12
        view = self.scroll.viewport().width()
        if right - bar.value() > view:
            bar.setValue(right - view)
        if left < bar.value():
            bar.setValue(max(0, left))

    def open_policy(self, key: str) -> None:
        """Show the policy view of a policy (by trace name)."""
        if not self._layout_ready:
            self._pending_open = key
            return
        bp = self.layout_.find(key)
        tier = None
        if bp is None:
            tier_name = PROFILE_TIER if key.startswith("__PROFILE__.") else "default"
            bp = policy_from_trace(tier_name, key)
        else:
            tier = self.layout_.tier(bp.tier)
        self.select_policy(key)
        self.view.show_policy(bp, tier.default_action if tier else None)
        self.pages.setCurrentIndex(POLICY_PAGE)

    def close_policy(self) -> None:
        self.pages.setCurrentIndex(BOARD_PAGE)

    def set_view_mode(self, mode: str) -> None:
        """ "columns" (tiers as columns of cards) or "list" (a table)."""
        self.views.setCurrentIndex(0 if mode == "columns" else 1)
        self._size_columns()  # rows that came while the list was hidden
        button = self.toolbar.columns_button if mode == "columns" else self.toolbar.list_button
        button.setChecked(True)

    def show_all_metrics(self) -> None:
        self.toolbar.show_all()

    def set_filter(self, mode: str = "all", labels: str = "", search: str = "") -> None:
        self.toolbar.set_filter_mode(mode)
        self.toolbar.labels.setText(labels)
        self.toolbar.search.setText(search)
        self._apply_filters()

    def export_text(self, tier: str | None = None) -> str:
        """All policies (or one tier's) as YAML Calico accepts."""
        return export_yaml(self.layout_, None if not tier else [tier])

    def export_to(self, path: str | Path, tier: str | None = None) -> None:
        Path(path).write_text(self.export_text(tier), encoding="utf-8")

    # -- building ------------------------------------------------------------------------
    def _reload_layout(self) -> None:
        scenario, engine, path = self.scenario, self.engine, self.path
        self._layout_ready = False
        self._worker.submit("layout", lambda: build_layout(scenario, engine, path))

    # -- results ---------------------------------------------------------------------------
    def _on_done(self, kind: str, result: Any) -> None:
        if kind == "layout":
            same = bool(self.card_widgets) and result == self.layout_
            self._layout_ready = True
            if not same:  # (a session start asks for the same layout more than once: 30 ms each)
                self.layout_ = result
                self._rebuild()
            if self._pending_open:
                key, self._pending_open = self._pending_open, None
                self.open_policy(key)
        elif kind == "metrics":
            gui_busy(0.03)  # cards to update and repaint: a max-speed simulation steps aside
            self.metrics, self.span = result
            known = set(self.layout_.keys())
            found = [
                (m.tier, k) for k, m in self.metrics.items() if m.tier != PROFILE_TIER and k not in known
            ]
            if self._layout_ready and found and self.layout_.add_traces(found):
                self._rebuild()
            else:
                self._apply_metrics()
            self.updated.emit()

    def _apply_metrics(self) -> None:
        self.cards = card_metrics(self.layout_, self.metrics)
        for key, card in self.card_widgets.items():
            if key == NO_POLICY_KEY:
                card.set_metrics(no_policy_traffic(self.metrics) if self.metrics else None, self.span)
            else:
                card.set_metrics(self.cards.get(key) if self.metrics else None, self.span)
        self.model.set_metrics(self.cards)
        self._apply_filters()

    def _apply_filters(self) -> None:
        tb = self.toolbar
        mode, labels, search = tb.filter_mode(), tb.labels.text(), tb.search.text()
        try:
            self.visible = visible_keys(self.layout_, self.cards, mode, labels, search)
            tb.set_label_error(None)
        except SelectorError as exc:
            tb.set_label_error(f"Invalid selector at column {exc.column + 1}: {exc.message}")
            self.visible = visible_keys(self.layout_, self.cards, mode, "", search)
        filtering = mode != "all" or bool(labels.strip()) or bool(search.strip())
        keys = tuple(bp.key for bp in self.layout_.policies())
        shown = (frozenset(self.visible), filtering, keys, self.layout_.source, len(self.card_widgets))
        if shown == self._shown:
            return  # the same cards and rows as now (every live refresh without a filter)
        self._shown = shown
        for key, card in self.card_widgets.items():
            card.setVisible(key in self.visible or (key == NO_POLICY_KEY and not filtering))
        self.model.set_rows([bp for bp in self.layout_.policies() if bp.key in self.visible])
        total = sum(1 for _ in self.layout_.policies())
        source = "" if self.layout_.source == "scenario" or not total else " · from flow-log traces"
        tb.status.setText(f"{len(self.visible)} of {total} policies{source}")

    def _size_columns(self) -> None:
        if self.views.currentIndex() == 1:
            self.table.resizeColumnsToContents()
            header = self.table.horizontalHeader()
            if header.sectionSize(NAME_COLUMN) > 0:  # the name column takes the rest of the width
                header.setSectionResizeMode(NAME_COLUMN, QHeaderView.ResizeMode.Stretch)

    def _apply_lines(self, lines: tuple[str, ...]) -> None:
        for card in self.card_widgets.values():
            card.set_shown(lines)
        self.table.setColumnHidden(SCOPE_COLUMN, "namespace" not in lines)
        self.table.setColumnHidden(ENDPOINTS_COLUMN, "endpoints" not in lines)
        for name, col in METRIC_COLUMNS.items():
            self.table.setColumnHidden(col, name not in lines)

    # -- interaction -----------------------------------------------------------------------
    def _card_clicked(self, key: str) -> None:
        if key == NO_POLICY_KEY:
            return
        self.select_policy(key)
        self.policyActivated.emit(key)

    def _card_open(self, key: str) -> None:
        if key == NO_POLICY_KEY:
            self.showFlows.emit(f"tier = {PROFILE_TIER} and trace = enforced")
        else:
            self.open_policy(key)

    def _export_dialog(self, tier: str) -> None:
        name = f"{tier or 'policies'}.yaml"
        path, _ = QFileDialog.getSaveFileName(self, "Export policies as YAML", name, "YAML (*.yaml *.yml)")
        if not path:
            return
        try:
            self.export_to(path, tier or None)
        except OSError as exc:
            self.error.emit(f"Export failed: {path}: {exc.strerror or exc}")
