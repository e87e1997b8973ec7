"""A live Policy Board summary: tiers and policies in evaluation order with connection,
allowed, denied and passed counts (desktopviz.core.queries.policy_metrics).

The metrics query runs in a one-thread pool with its own read-only store, so the GUI thread
only fills a small tree; requests made while a query runs merge into one follow-up query.
"""

from __future__ import annotations

import traceback
from typing import Any

from PySide6.QtCore import QObject, QRunnable, Qt, QThreadPool, Signal
from PySide6.QtGui import QBrush, QFont
from PySide6.QtWidgets import QHeaderView, QLabel, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

from desktopviz.ui.summary_views import StoreViewBase, compact
from desktopviz.ui.theme import ALLOWED, DENIED

BOARD_COLUMNS = ("Tier / policy", "Conns", "Allowed", "Denied", "Passed")
_RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
Counts = dict[str, list[int]]  # policy key -> [connections, allowed, denied, passed]


def policy_display(key: str) -> str:
    """`default.trusted  (storefront)` for `storefront/default.trusted`; profiles by name."""
    if key.startswith("__PROFILE__."):
        return key[len("__PROFILE__.") :]
    ns, sep, name = key.partition("/")
    return f"{name}  ({ns})" if sep else key


def board_metrics(path: str, since: int | None, until: int | None, want_rank: bool) -> dict[str, Any]:
    """The board's numbers from a store (any thread): counts and tier per policy, and for
    stored runs the tiers' positions in the traces (their evaluation order)."""
    from desktopviz.core.queries import policy_metrics
    from desktopviz.core.store import FlowStore

    store = FlowStore(path, create=False, readonly=True)
    try:
        metrics = policy_metrics(store, since, until)
        rank: dict[str, int] | None = None
        if want_rank:
            rank = {}
            for tier, idx in store.conn.execute(
                "SELECT tier, idx FROM policy_hits WHERE kind = 'enforced' LIMIT 20000"
            ):
                rank[tier] = min(rank.get(tier, idx), idx)
    finally:
        store.close()
    counts: Counts = {}
    for key, m in metrics.items():
        e = m.enforced
        counts[key] = [e.connections, e.allowed.connections, e.denied.connections, e.passed.connections]
    return {"counts": counts, "tiers": {k: m.tier for k, m in metrics.items()}, "rank": rank}


class _Relay(QObject):
    done = Signal(int, object)
    failed = Signal(int, str)


class _Job(QRunnable):
    def __init__(self, token: int, args: tuple[Any, ...], relay: _Relay) -> None:
        super().__init__()
        self.token, self.args, self.relay = token, args, relay

    def run(self) -> None:
        try:
            self.relay.done.emit(self.token, board_metrics(*self.args))
        except Exception:  # noqa: BLE001 - reported in the GUI thread
            self.relay.failed.emit(self.token, traceback.format_exc(limit=3))


class PolicySummaryView(StoreViewBase):
    """Tiers (top to bottom in evaluation order) and their policies with live counts; a
    policy can be selected by trace name. Until the full Policy Board lands.

    Signals:
        updated(): the tree shows new numbers.
    """

    updated = Signal()
    min_refresh_ms = 500

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.scenario: Any = None
        self.selected_policy: str | None = None
        self._tier_rank: dict[str, int] | None = None
        self._token = 0
        self._busy = False
        self._again = False
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)
        self._relay = _Relay(self)
        self._relay.done.connect(self._on_done)
        self._relay.failed.connect(self._on_failed)
        self.tree = QTreeWidget(self)
        self.tree.setColumnCount(len(BOARD_COLUMNS))
        self.tree.setHeaderLabels(list(BOARD_COLUMNS))
        self.tree.setAlternatingRowColors(True)
        self.tree.setUniformRowHeights(True)
        header = self.tree.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for col in range(1, len(BOARD_COLUMNS)):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        self.caption = QLabel("Tiers in evaluation order (top to bottom); connections by policy action.")
        self.caption.setWordWrap(True)
        self.caption.setContentsMargins(6, 2, 6, 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.caption)
        layout.addWidget(self.tree)
        self._bold = QFont()
        self._bold.setBold(True)

    # -- view API ------------------------------------------------------------------------
    def set_scenario(self, scenario: Any) -> None:
        """The scenario whose tiers and policies to list (None for a stored run: the
        policies seen in the flow logs)."""
        self.scenario = scenario
        self._last_refresh = 0.0
        self.refresh()

    def clear(self) -> None:
        self._token += 1  # results of older queries are dropped
        self.tree.clear()
        self._tier_rank = None

    def reload(self, conn: Any) -> None:
        if self.path is None:
            return
        if self._busy:
            self._again = True
            return
        self._busy = True
        args = (self.path, self.since, self.until, self._tier_rank is None and self.scenario is None)
        self._pool.start(_Job(self._token, args, self._relay))

    def is_idle(self) -> bool:
        return not self._busy

    def shutdown(self) -> None:
        """Wait for a running query (before the window goes)."""
        self._token += 1
        self._pool.waitForDone()

    def select_policy(self, key: str | None) -> None:
        """Select and show a policy by trace name (e.g. clicked in the visualizer)."""
        self.selected_policy = key
        self._select(key)

    # -- results (GUI thread) ------------------------------------------------------------
    def _finish(self) -> None:
        self._busy = False
        if self._again:
            self._again = False
            self._last_refresh = 0.0
            self.refresh()

    def _on_done(self, token: int, result: dict[str, Any]) -> None:
        if token == self._token:
            if result["rank"] is not None:
                self._tier_rank = result["rank"]
            self._fill(self._layout(result["tiers"]), result["counts"])
            self.updated.emit()
        self._finish()

    def _on_failed(self, token: int, text: str) -> None:
        if token == self._token:
            self.error.emit(f"Policy Board: {text.strip().splitlines()[-1]}")
        self._finish()

    def _layout(self, tiers_of: dict[str, str]) -> list[tuple[str, list[str]]]:
        """Tiers and their policies in evaluation order: the scenario's, then any policy seen
        only in the flow logs (stored runs, policies added by events)."""
        order: list[tuple[str, list[str]]] = []
        if self.scenario is not None:
            cluster = self.scenario.cluster
            for tier in cluster.tiers_in_order():
                order.append((tier.name, [p.key for p in cluster.policies_in_order(tier.name)]))
        known = {p for _, ps in order for p in ps}
        tiers = [t for t, _ in order]
        rank = self._tier_rank or {}
        extra = [(tier, key) for key, tier in tiers_of.items() if key not in known]
        for tier, key in sorted(extra, key=lambda tk: (tk[0] == "__PROFILE__", rank.get(tk[0], 99), tk)):
            if tier not in tiers:
                tiers.append(tier)
                order.append((tier, []))
            order[tiers.index(tier)][1].append(key)
        return order

    def _fill(self, order: list[tuple[str, list[str]]], counts: Counts) -> None:
        collapsed = {
            self.tree.topLevelItem(i).data(0, Qt.ItemDataRole.UserRole)
            for i in range(self.tree.topLevelItemCount())
            if not self.tree.topLevelItem(i).isExpanded()
        }
        self.tree.setUpdatesEnabled(False)
        self.tree.clear()
        for tier, policies in order:
            titem = QTreeWidgetItem(["Profiles" if tier == "__PROFILE__" else f"tier {tier}"])
            titem.setData(0, Qt.ItemDataRole.UserRole, tier)
            titem.setFont(0, self._bold)
            totals = [0, 0, 0, 0]
            for policy in policies:
                vals = counts.get(policy, [0, 0, 0, 0])
                totals = [a + b for a, b in zip(totals, vals, strict=True)]
                item = QTreeWidgetItem([policy_display(policy), *(compact(v) for v in vals)])
                item.setData(0, Qt.ItemDataRole.UserRole, policy)
                item.setToolTip(0, policy)
                for col, v in enumerate(vals, start=1):
                    item.setToolTip(col, f"{v:,} connections")
                    item.setTextAlignment(col, _RIGHT)
                if vals[1]:
                    item.setForeground(2, QBrush(ALLOWED))
                if vals[2]:
                    item.setForeground(3, QBrush(DENIED))
                titem.addChild(item)
            for col, v in enumerate(totals, start=1):
                titem.setText(col, compact(v))
                titem.setTextAlignment(col, _RIGHT)
            self.tree.addTopLevelItem(titem)
            titem.setExpanded(tier not in collapsed)
        self._select(self.selected_policy)
        self.tree.setUpdatesEnabled(True)

    def _select(self, key: str | None) -> None:
        if key is None:
            return
        for i in range(self.tree.topLevelItemCount()):
            tier = self.tree.topLevelItem(i)
            for j in range(tier.childCount()):
                item = tier.child(j)
                if item.data(0, Qt.ItemDataRole.UserRole) == key:
                    tier.setExpanded(True)
                    self.tree.setCurrentItem(item)
                    self.tree.scrollToItem(item)
                    return
