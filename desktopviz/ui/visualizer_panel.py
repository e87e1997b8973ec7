"""The right-hand panel of the Flow Visualizer: view switch, the four dropdown filters
(Status, Namespace, Name, Flow), details of what is hovered or selected, the policies of a
selected endpoint or flow, and the Denied / Allowed Traffic tables.

Signals:
    viewChanged(str): 'namespace' | 'names' | 'status'.
    statusChanged(str): 'any' | 'allowed' | 'denied'.
    namespacePicked(str): a namespace chosen in its dropdown ('' = all).
    namePicked(str, str): (namespace, name) chosen in the Name dropdown (('', '') = all).
    flowPicked(int): index into the flows last given to set_choices (-1 = all).
    policyActivated(str): a policy's trace name was clicked.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktopviz.core.flowgraph import Flow, NodeKey, endpoint_label, namespace_label
from desktopviz.ui.visualizer_data import TrafficRow, policy_of_trace
from desktopviz.ui.visualizer_style import STATUS_COLOURS
from desktopviz.ui.visualizer_tables import TrafficTable

VIEWS = (("namespace", "Namespaces"), ("names", "Names"), ("status", "Status"))
STATUS_CHOICES = (("any", "Any status"), ("allowed", "Allowed"), ("denied", "Denied"))


# The view tab shown is marked in the highlight colour: Fusion's pressed look is hard to tell
# from the others in the dark palette.
TAB_STYLE = (
    "QPushButton { padding: 4px 8px; border: 1px solid palette(mid); background: palette(button); }"
    "QPushButton:hover { border-color: palette(highlight); }"
    "QPushButton:checked { background: palette(highlight); color: palette(highlighted-text);"
    " border-color: palette(highlight); font-weight: 600; }"
)


class VisualizerPanel(QWidget):
    viewChanged = Signal(str)
    statusChanged = Signal(str)
    namespacePicked = Signal(str)
    namePicked = Signal(str, str)
    flowPicked = Signal(int)
    policyActivated = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumWidth(300)  # the chart beside it gets the room on a 1280-wide screen
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        tabs = QHBoxLayout()
        tabs.setSpacing(0)
        self.view_group = QButtonGroup(self)
        self.view_buttons: dict[str, QPushButton] = {}
        for key, text in VIEWS:
            b = QPushButton(text)
            b.setCheckable(True)
            b.setStyleSheet(TAB_STYLE)
            tabs.addWidget(b)
            self.view_group.addButton(b)
            self.view_buttons[key] = b
            b.clicked.connect(lambda _=False, k=key: self.viewChanged.emit(k))
        self.view_buttons["namespace"].setChecked(True)
        lay.addLayout(tabs)
        self.status_box = QComboBox()
        for key, text in STATUS_CHOICES:
            self.status_box.addItem(text, key)
        self.ns_box, self.name_box, self.flow_box = QComboBox(), QComboBox(), QComboBox()
        for box in (self.status_box, self.ns_box, self.name_box, self.flow_box):
            box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            box.setMinimumContentsLength(18)
            lay.addWidget(box)
        self.status_box.currentIndexChanged.connect(
            lambda i: self.statusChanged.emit(self.status_box.itemData(i))
        )
        # the dropdowns' item data, kept here: a list of texts goes to Qt in one call (addItems),
        # not one call per item with its data (thousands of calls per refresh early in a session)
        self._data: dict[QComboBox, list[Any]] = {self.ns_box: [], self.name_box: [], self.flow_box: []}
        self.ns_box.activated.connect(
            lambda i: self.namespacePicked.emit(self._data_of(self.ns_box, i) or "")
        )
        self.name_box.activated.connect(self._name_activated)
        self.flow_box.activated.connect(lambda i: self.flowPicked.emit(self._data_of(self.flow_box, i)))
        self.details = QLabel()
        self.details.setWordWrap(True)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.details)
        self.policies_label = QLabel()
        self.policies = QListWidget()
        self.policies.setMaximumHeight(130)
        self.policies.itemClicked.connect(self._policy_clicked)
        self.policies.itemActivated.connect(self._policy_clicked)
        lay.addWidget(self.policies_label)
        lay.addWidget(self.policies)
        self.denied = TrafficTable("Denied Traffic")
        self.allowed = TrafficTable("Allowed Traffic")
        self.denied.fit_rows = True  # the rogue pod's few rows shown whole, not in a 5-row box
        lay.addWidget(self.denied, 1)
        lay.addWidget(self.allowed, 1)
        self.set_policies(None, [])
        self._names: list[NodeKey] = []
        self._choices_sig: object = None
        self._selection_text = ("", "", "")
        self.set_choices([], [], [])  # "All Namespaces", … before the first data, not blank boxes

    # -- filling ------------------------------------------------------------------------------
    def set_view(self, view: str) -> None:
        self.view_buttons[view].setChecked(True)

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt override
        """380 px wide when the window has room (the tables' names need it), 300 at least."""
        return QSize(380, super().sizeHint().height())

    def set_choices(
        self,
        namespaces: Sequence[str],
        names: Sequence[NodeKey],
        flows: Sequence[Flow],
        sig: object = None,
    ) -> None:
        """Fill the Namespace, Name and Flow dropdowns with what the current data holds
        (nothing is done when ``sig``, their signature, is that of the items shown)."""
        if sig is None:
            sig = (tuple(namespaces), tuple(names), tuple((f.src, f.dst, f.status) for f in flows))
        if sig == self._choices_sig:
            return
        self._choices_sig = sig
        for box, first, items in (
            (self.ns_box, "All Namespaces", [(namespace_label(n), n) for n in namespaces]),
            (self.name_box, "All Names", [(endpoint_label(*k), k) for k in names]),
            (self.flow_box, "All Flows", [(f"{f.label()} ({f.status})", i) for i, f in enumerate(flows)]),
        ):
            box.blockSignals(True)
            box.clear()
            box.addItems([first, *(text for text, _data in items)])
            box.blockSignals(False)
            first_data = "" if box is self.ns_box else (None if box is self.name_box else -1)
            self._data[box] = [first_data, *(data for _text, data in items)]
        self._names = list(names)
        self.show_selection(*self._selection_text)

    def _data_of(self, box: QComboBox, i: int) -> Any:
        data = self._data[box]
        return data[i] if 0 <= i < len(data) else None

    def _name_activated(self, i: int) -> None:
        key = self._data_of(self.name_box, i)
        self.namePicked.emit(*(key if key else ("", "")))

    @staticmethod
    def _show(box: QComboBox, text: str) -> None:
        box.blockSignals(True)
        i = box.findText(text) if text else 0
        if i >= 0:
            box.setCurrentIndex(i)
        else:
            box.setEditable(False)
            box.setCurrentIndex(0)
        box.blockSignals(False)

    def show_selection(self, namespace: str, name: str, flow: str) -> None:
        """Show the selection (or the hovered item) in the dropdowns, without filtering
        (``namespace``/``name`` raw as in the store, ``flow`` as the Flow dropdown shows it)."""
        self._show(self.ns_box, namespace_label(namespace) if namespace else "")
        self._show(self.name_box, endpoint_label(namespace, name) if name else "")
        self._show(self.flow_box, flow)

    def remember_selection(self, namespace: str, name: str, flow: str) -> None:
        self._selection_text = (namespace, name, flow)
        self.show_selection(namespace, name, flow)

    def restore_selection(self) -> None:
        self.show_selection(*self._selection_text)

    def set_status(self, status: str) -> None:
        i = self.status_box.findData(status)
        if i >= 0:
            self.status_box.setCurrentIndex(i)

    def set_details(self, html: str) -> None:
        self.details.setText(html)

    def set_tables(self, tables: dict[str, list[TrafficRow]], colour: dict[str, QColor]) -> None:
        self.denied.set_rows(tables.get("denied", []), colour)
        self.allowed.set_rows(tables.get("allowed", []), colour)

    def set_policies(self, title: str | None, entries: Sequence[str]) -> None:
        """``title`` such as "3 policies applied to the endpoint"; entries are trace names or
        trace entries (clicking one emits policyActivated with the policy's trace name)."""
        self.policies_label.setVisible(title is not None)
        self.policies.setVisible(bool(entries))
        self.policies_label.setText(title or "")
        self.policies.clear()
        for e in entries:
            item = QListWidgetItem(e)
            item.setData(Qt.ItemDataRole.UserRole, policy_of_trace(e))
            if "|deny|" in e:
                item.setForeground(STATUS_COLOURS["denied"].darker(120))
            self.policies.addItem(item)

    def _policy_clicked(self, item: QListWidgetItem) -> None:
        self.policyActivated.emit(item.data(Qt.ItemDataRole.UserRole))
