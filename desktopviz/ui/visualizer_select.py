"""Hover, selection and the panel contents of the Flow Visualizer (a mixin of FlowVisualizer,
kept apart to keep modules small): hits become selection dicts, the panel's dropdowns,
details, policies and traffic tables follow the hover and the selection."""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QRunnable, Signal

from desktopviz.core.flowgraph import endpoint_key, endpoint_label, namespace_label
from desktopviz.core.geometry import OTHER, Hit, Layout, LayoutFlow, Segment
from desktopviz.ui.visualizer_data import (
    TYPE_NAMES,
    Focus,
    endpoint_policies,
    flow_policies,
    fmt_rate,
)
from desktopviz.ui.visualizer_worker import dropdown_choices, tables_for

if TYPE_CHECKING:
    from desktopviz.ui.visualizer import FlowVisualizer

    _Base = FlowVisualizer
else:
    _Base = object


class _PolicySignals(QObject):
    done = Signal(object, object)  # (selection key, entries)


class _PolicyJob(QRunnable):
    def __init__(self, key: object, fn: Any, signals: _PolicySignals) -> None:
        super().__init__()
        self.key, self.fn, self.signals = key, fn, signals

    def run(self) -> None:
        try:
            entries = self.fn()
        except Exception as exc:  # a store being written may be briefly busy
            entries = [f"could not read the policies: {exc}"]
        self.signals.done.emit(self.key, entries)


def flow_text(src: tuple[str, str], dst: tuple[str, str], status: str) -> str:
    return f"{endpoint_label(*src)} → {endpoint_label(*dst)} ({status})"


class SelectionMixin(_Base):
    def _init_selection(self) -> None:
        self._selection: dict[str, Any] = {}
        self._combo_flows: list[Any] = []
        self._policy_signals = _PolicySignals(self)
        self._policy_signals.done.connect(self._on_flow_policies)

    # -- hits to selections ------------------------------------------------------------------------
    def _layout(self) -> Layout | None:
        return self._result.scene.layout if self._result else None

    def _stats(self, flows: set[int]) -> dict[str, float]:
        out = {"connections": 0.0, "packets": 0.0, "bytes": 0.0, "allowed": 0.0, "denied": 0.0}
        if not self._result:
            return out
        lay, src = self._result.scene.layout, self._result.scene.flows
        for j in flows:
            for m in lay.flows[j].members:
                f = src[m]
                out["connections"] += f.connections
                out["packets"] += f.packets
                out["bytes"] += f.bytes
                if f.status in ("allowed", "denied"):
                    out[f.status] += f.connections
        s = self._result.loaded.seconds
        return {k: v / s for k, v in out.items()}

    def _describe(self, hit: Hit) -> dict[str, Any]:
        lay = self._layout()
        assert lay is not None
        if hit.kind == "namespace":
            s = lay.namespaces[hit.index]
            return {"kind": "namespace", "namespace": s.namespace, "flows": len(hit.flows)}
        if hit.kind == "name" or (hit.kind == "flow" and lay.ends[hit.index].flow is None):
            s = lay.names[hit.index] if hit.kind == "name" else lay.ends[hit.index]
            d: dict[str, Any] = {
                "kind": "name",
                "namespace": s.namespace,
                "name": s.name,
                "flows": len(hit.flows),
            }
            if s.name == OTHER:
                d["merged"] = next(
                    (n.merged for n in lay.names if (n.namespace, n.name) == (s.namespace, OTHER)), 0
                )
            else:
                d["type"] = self._type_of(s.namespace, s.name or "")
            return d
        j = lay.ends[hit.index].flow if hit.kind == "flow" else lay.chords[hit.index].flow
        assert j is not None
        return self._flow_dict(lay.flows[j], j)

    def _flow_dict(self, lf: LayoutFlow, j: int) -> dict[str, Any]:
        st = self._stats({j})
        return {
            "kind": "flow",
            "namespace": lf.src[0],
            "name": lf.src[1],
            "source": endpoint_key(*lf.src),
            "dest": endpoint_key(*lf.dst),
            "source_label": endpoint_label(*lf.src),
            "dest_label": endpoint_label(*lf.dst),
            "status": lf.status,
            "denied_at": lf.denied_at,
            "connections": st["connections"],
            "packets": st["packets"],
            "bytes": st["bytes"],
        }

    def _type_of(self, ns: str, name: str) -> str:
        for f in self._result.scene.flows if self._result else []:
            if f.src == (ns, name):
                return f.src_type
            if f.dst == (ns, name):
                return f.dst_type
        return ""

    # -- hover ------------------------------------------------------------------------------------
    def _on_hover(self, hit: Hit | None) -> None:
        if hit is None or self._result is None:
            self.canvas.tooltip_text = ""
            self.panel.restore_selection()
            self._details(self._selection)
            return
        d = self._describe(hit)
        st = self._stats(hit.flows)
        lines = [self._title(d)]
        if d.get("type"):
            lines.append(
                f"type {TYPE_NAMES.get(d['type'], d['type'])} · namespace {namespace_label(d['namespace'])}"
            )
        lines.append(
            f"CPS {fmt_rate(st['connections'])} · PPS {fmt_rate(st['packets'])} · BPS {fmt_rate(st['bytes'])}"
        )
        lines.append(f"allowed {fmt_rate(st['allowed'])} CPS · denied {fmt_rate(st['denied'])} CPS")
        lines.extend(self._preview_lines(hit.flows))
        self.canvas.tooltip_text = "\n".join(lines)
        self.canvas.update()
        flow = flow_text(*self._flow_key(d)) if d["kind"] == "flow" else ""
        self.panel.show_selection(d["namespace"], d.get("name") or "", flow)
        self._details(d, st)

    def _preview_lines(self, flows: set[int]) -> list[str]:
        """What a what-if preview says about the hovered flows: changes and uncertainty."""
        res = self._result
        if res is None or not res.scene.preview:
            return []
        lay, src = res.scene.layout, res.scene.flows
        members = [src[m] for j in flows for m in lay.flows[j].members]
        out = []
        changed = [f for f in members if f.changed]
        if changed:
            verbs = {"allow": "allowed", "deny": "denied"}
            moves = sorted(
                {
                    f"{verbs.get(f.before_action or '', f.before_action)} → {f.status}"
                    if self._preview is not None and self._preview.applied
                    else f"{f.status} → {verbs.get(f.before_action or '', f.before_action)}"
                    for f in changed
                }
            )
            out.append(f"changed by the edit: {', '.join(moves)} ({len(changed)} flows)")
        unsure = [f for f in members if f.uncertain]
        if unsure:
            out.append(f"uncertain ({len(unsure)} flows): the record does not decide the verdict")
            reasons = sorted({r for f in unsure for r in f.reasons})
            out.extend(f"  · {r}" for r in reasons[:3])
        return out

    @staticmethod
    def _title(d: dict[str, Any]) -> str:
        if d["kind"] == "namespace":
            return f"Namespace {namespace_label(d['namespace'])}"
        if d["kind"] == "name":
            if d.get("name") == OTHER:
                return f"{namespace_label(d['namespace'])}: {d.get('merged', 0)} small names merged"
            return endpoint_label(d["namespace"], d["name"])
        extra = " by remote" if d["status"] == "denied" and d.get("denied_at") == "dst" else ""
        src = d.get("source_label") or endpoint_label(*d["source"].split(":", 1))
        dst = d.get("dest_label") or endpoint_label(*d["dest"].split(":", 1))
        return f"{src} → {dst} ({d['status']}{extra})"

    @staticmethod
    def _flow_key(d: dict[str, Any]) -> tuple[tuple[str, str], tuple[str, str], str]:
        src = tuple(d["source"].split(":", 1))
        dst = tuple(d["dest"].split(":", 1))
        return src, dst, d["status"]  # type: ignore[return-value]

    def _details(self, d: dict[str, Any], st: dict[str, float] | None = None) -> None:
        if not d:
            self.panel.set_details("")
            return
        if st is None:
            st = self._stats(self._selected_flows())
        self.panel.set_details(
            f"<b>{escape(self._title(d))}</b><br>"
            f"CPS {fmt_rate(st['connections'])} · PPS {fmt_rate(st['packets'])} · BPS {fmt_rate(st['bytes'])}<br>"
            f"<span style='color:#2a8f6c'>allowed {fmt_rate(st['allowed'])} CPS</span> · "
            f"<span style='color:#b84a00'>denied {fmt_rate(st['denied'])} CPS</span>"
        )

    # -- selection --------------------------------------------------------------------------------
    def _on_click(self, hit: Hit | None) -> None:
        self._select(self._describe(hit) if hit is not None and self._result else None)

    def _on_double_click(self, hit: Hit) -> None:
        if self._result is None:
            return
        self._select(self._describe(hit))
        self.zoom_in()

    def selection(self) -> dict[str, Any]:
        return dict(self._selection)

    def _select(self, d: dict[str, Any] | None) -> None:
        d = d or {}
        if d == self._selection:
            return
        self._selection = d
        flow = flow_text(*self._flow_key(d)) if d.get("kind") == "flow" else ""
        self.panel.remember_selection(d.get("namespace", ""), d.get("name") or "", flow)
        self._apply_selection()
        self._details(d)
        self._show_policies()
        self._update_tables()
        self.selectionChanged.emit(dict(d))
        if d.get("kind") == "flow":
            self.flowSelected.emit(dict(d))

    def _selected_segments(self, lay: Layout) -> tuple[list[Segment], set[int]]:
        d = self._selection
        if not d:
            return [], set()
        if d["kind"] == "namespace":
            segs = [s for s in lay.namespaces if s.namespace == d["namespace"]]
        elif d["kind"] == "name":
            segs = [s for s in lay.names if (s.namespace, s.name) == (d["namespace"], d["name"])]
        else:
            src, dst, status = self._flow_key(d)
            js = {j for j, lf in enumerate(lay.flows) if (lf.src, lf.dst, lf.status) == (src, dst, status)}
            return [e for e in lay.ends if e.flow in js], js
        return segs, {j for s in segs for j in s.flows}

    def _selected_flows(self) -> set[int]:
        lay = self._layout()
        return self._selected_segments(lay)[1] if lay else set()

    def _apply_selection(self) -> None:
        lay = self._layout()
        if lay is None:
            self.canvas.set_selection([], set())
            return
        segs, flows = self._selected_segments(lay)
        self.canvas.set_selection(segs, flows)

    def _pick_namespace(self, ns: str) -> None:
        self._focus.clear()
        if ns:
            self._select({"kind": "namespace", "namespace": ns})
            self._focus.append(Focus("namespace", ns))
        else:
            self._select(None)
        self._schedule(False, True)

    def _pick_name(self, ns: str, name: str) -> None:
        self._focus = [f for f in self._focus if f.kind == "namespace"]
        if name:
            self._select({"kind": "name", "namespace": ns, "name": name})
            self._focus.append(Focus("name", ns, name))
        elif self._focus:
            self._select({"kind": "namespace", "namespace": self._focus[-1].namespace})
        else:
            self._select(None)
        self._schedule(False, True)

    def _pick_flow(self, i: int) -> None:
        lay = self._layout()
        flows = self._combo_flows
        if i is None or i < 0 or lay is None or i >= len(flows):
            self._select(None)
            return
        f = flows[i]
        js = [j for j, lf in enumerate(lay.flows) if (lf.src, lf.dst, lf.status) == (f.src, f.dst, f.status)]
        if js:
            self._select(self._flow_dict(lay.flows[js[0]], js[0]))

    # -- panel contents ---------------------------------------------------------------------------
    def _after_render(self) -> None:
        res = self._result
        if res is None:
            return
        ns_sel = self._namespace_of_choice()
        if res.choices is None or res.choices[0] != ns_sel:  # the worker's are for another selection
            res.choices = (ns_sel, *dropdown_choices(res.loaded.flows, res.shown, ns_sel))
        _ns, namespaces, names, self._combo_flows, sig = res.choices
        self.panel.set_choices(namespaces, names, self._combo_flows, sig)
        self._apply_selection()
        self._update_tables()
        if self._selection:
            self._details(self._selection)

    def _namespace_of_choice(self) -> str:
        """The namespace the Name dropdown is limited to (selection, else zoom)."""
        return self._selection.get("namespace") or (self._focus[0].namespace if self._focus else "")

    def _table_key(self) -> tuple[Any, ...]:
        """What the traffic tables depend on besides the flows: the selection and the view."""
        d = self._selection
        by_name = self._view != "namespace" or bool(self._focus) or bool(d)
        fkey = self._flow_key(d) if d.get("kind") == "flow" else None
        return (d.get("kind"), d.get("namespace"), d.get("name"), fkey, by_name)

    def _update_tables(self) -> None:
        res = self._result
        if res is None:
            return
        key = self._table_key()
        if res.tables is not None and res.table_key == key:  # computed by the worker
            tables = res.tables
        else:
            tables = tables_for(res.shown, res.loaded.seconds, key)
            res.tables, res.table_key = tables, key
        self.panel.set_tables(tables, res.scene.ns_colour)

    def _show_policies(self) -> None:
        d = self._selection
        if d.get("kind") == "name" and d.get("name") != OTHER and self._engine is not None:
            pols = endpoint_policies(self._engine, d["namespace"], d["name"])
            self.panel.set_policies(
                f"{len(pols)} policies applied to the endpoint", [p.trace_name for p in pols]
            )
        elif d.get("kind") == "flow":
            key = self._flow_key(d)
            res = self._result
            if self._path is not None and res is not None and self._preview is None:
                lay = res.scene.layout
                members = [
                    res.scene.flows[m]
                    for lf in lay.flows
                    if (lf.src, lf.dst, lf.status) == key
                    for m in lf.members
                ]
                if members:
                    self.panel.set_policies("Policies that evaluated this flow: reading…", [])
                    path, f, lo, hi = self._path, members[0], res.loaded.since, res.loaded.until
                    self._pool.start(
                        _PolicyJob(key, lambda: flow_policies(path, f, lo, hi), self._policy_signals)
                    )
                    return
            entries = []
            if res is not None:
                entries = sorted(
                    {p for f in res.shown if (f.src, f.dst, f.status) == key for p in f.policies}
                )
            title = f"{len(entries)} policy evaluations of this flow"
            if self._preview is not None:
                title = f"{len(entries)} rules deciding this flow with the edit"
            self.panel.set_policies(title, entries)
        else:
            self.panel.set_policies(None, [])

    def _on_flow_policies(self, key: object, entries: object) -> None:
        if self._selection.get("kind") == "flow" and self._flow_key(self._selection) == key:
            lst = list(entries)  # type: ignore[call-overload]
            self.panel.set_policies(f"{len(lst)} policy evaluations of this flow", lst)
