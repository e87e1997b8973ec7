"""What-if preview in the Flow Visualizer (calico.md §4.3 Preview): the picture as it would be
with an edited policy set, from a :class:`~desktopviz.core.whatif.WhatIfResult`.

The flows come from :func:`desktopviz.core.whatif_aggregate.whatif_aggregates` (counted as
the live picture counts them). A flow whose verdict the edit changes is marked ``changed``;
one the record cannot decide is marked ``uncertain`` and keeps its recorded verdict: it is
drawn grey and hatched, never guessed. The banner says what the preview is and holds the
"Changes applied" and "Only changed flows" toggles and the way back to live data.

Signals of :class:`PreviewBanner`:
    togglesChanged(bool, bool): (changes applied, only changed flows).
    closed(): "← Back to live data" was clicked.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QCheckBox, QFrame, QHBoxLayout, QLabel, QPushButton, QWidget

from desktopviz.core.flowgraph import Flow, flow_from_row, merge_flows
from desktopviz.core.whatif import FlowChange, WhatIfResult
from desktopviz.ui.visualizer_data import Loaded

BANNER_STYLE = (
    "QFrame#previewBanner { background: rgba(230, 159, 0, 0.16); "
    "border: 1px solid rgba(230, 159, 0, 0.75); border-radius: 4px; }"
)


@dataclass(frozen=True)
class PreviewState:
    result: WhatIfResult
    applied: bool = True
    only_changed: bool = False
    title: str = ""


def preview_title(result: WhatIfResult) -> str:
    """The policies the edit touched, as the banner names them."""
    keys = list(result.changed_keys)
    if not keys:
        return "no policy change"
    return ", ".join(keys[:3]) + (f" and {len(keys) - 3} more" if len(keys) > 3 else "")


def _pair(fc: FlowChange) -> tuple[str, str]:
    return (fc.source, fc.dest)


def banner_text(state: PreviewState) -> str:
    """ "Preview: <policy> — N flows change (a → d, d → a), M uncertain", counting flows as the
    picture does: one per source and destination."""
    r = state.result
    changes = r.changes
    pairs = {_pair(c) for c in changes}
    a2d = {_pair(c) for c in changes if c.before == "allow" and c.after == "deny"}
    d2a = {_pair(c) for c in changes if c.before == "deny" and c.after == "allow"}
    unsure = {_pair(c) for c in r.uncertain}
    n = len(pairs)
    title = state.title or preview_title(r)
    return (
        f"Preview: {title} — {n} flow{'' if n == 1 else 's'} change "
        f"({len(a2d)} allow → deny, {len(d2a)} deny → allow), {len(unsure)} uncertain"
    )


def _notes(result: WhatIfResult) -> dict[tuple[str, str, str, str], tuple[list[str], list[str]]]:
    """Per (src ns, src name, dst ns, dst name): the trace entries deciding the changed or
    uncertain rows, and why rows are uncertain."""
    out: dict[tuple[str, str, str, str], tuple[list[str], list[str]]] = {}
    for fc in result.rows:
        if not (fc.changed or fc.uncertain) or fc.src_side is None or fc.dst_side is None:
            continue
        s, d = fc.src_side, fc.dst_side
        rules, reasons = out.setdefault((s.namespace, s.name_aggr, d.namespace, d.name_aggr), ([], []))
        if fc.rule and fc.rule not in rules:
            rules.append(fc.rule)
        if fc.uncertain and fc.reason and fc.reason not in reasons:
            reasons.append(fc.reason)
    return out


def preview_flows(state: PreviewState) -> list[Flow]:
    """The flows of the preview picture, with changed/uncertain markers, deciding rules and
    reasons (runs in the worker)."""
    from desktopviz.core.whatif_aggregate import whatif_aggregates

    notes = _notes(state.result)
    flows = []
    for agg in whatif_aggregates(state.result, applied=state.applied, only_changed=state.only_changed):
        f = flow_from_row(agg)
        got = notes.get((f.src_namespace, f.src_name, f.dst_namespace, f.dst_name))
        if got is not None and (f.changed or f.uncertain):
            f.policies = tuple(got[0])
            f.reasons = tuple(got[1]) if f.uncertain else ()
        flows.append(f)
    return merge_flows(flows)


def preview_loaded(state: PreviewState) -> Loaded:
    flows = preview_flows(state)
    r = state.result
    lo = r.since if r.since is not None else min((f.start for f in flows), default=0)
    hi = r.until if r.until is not None else max((f.end for f in flows), default=1)
    return Loaded(flows, r.since, r.until, float(max(1, hi - lo)), None)


class PreviewBanner(QFrame):
    togglesChanged = Signal(bool, bool)
    closed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("previewBanner")
        self.setStyleSheet(BANNER_STYLE)
        row = QHBoxLayout(self)
        row.setContentsMargins(8, 4, 8, 4)
        self.back = QPushButton("← Back")
        self.back.setToolTip("Close the preview and show the live data again")
        self.text = QLabel()
        self.text.setWordWrap(True)
        self.applied = QCheckBox("Changes applied")
        self.applied.setToolTip("On: the flows as they would be with the edit. Off: as recorded.")
        self.only_changed = QCheckBox("Only changed flows")
        self.only_changed.setToolTip("Show only the flows the edit changes or cannot decide")
        row.addWidget(self.back)
        row.addWidget(self.text, 1)
        row.addWidget(self.applied)
        row.addWidget(self.only_changed)
        self.back.clicked.connect(self.closed)
        self.applied.toggled.connect(self._toggled)
        self.only_changed.toggled.connect(self._toggled)

    def show_state(self, state: PreviewState) -> None:
        """Show this preview's text and toggles (without emitting togglesChanged)."""
        for box, on in ((self.applied, state.applied), (self.only_changed, state.only_changed)):
            box.blockSignals(True)
            box.setChecked(on)
            box.blockSignals(False)
        self.text.setText(banner_text(state))

    def _toggled(self, _on: bool) -> None:
        self.togglesChanged.emit(self.applied.isChecked(), self.only_changed.isChecked())
