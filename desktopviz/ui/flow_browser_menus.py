"""Menus and persisted choices of the flow-log browser.

Cell menu (Kibana and Wireshark): "Filter for value" / "Filter out value" add a pill; "Apply
as filter" edits the query bar (Selected, Not selected, …and selected, …or selected, …and
not selected, …or not selected). Labels and policies cells offer one entry per label or
policy. Header menu: the column chooser. Settings live under ``flow_browser/`` in QSettings.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from PySide6.QtWidgets import QMenu, QWidget

from desktopviz.core.filterlang import combine, term
from desktopviz.ui import settings as app_settings
from desktopviz.ui.flow_browser_data import ALL_COLUMNS, DEFAULT_COLUMNS, enforced_names

MAX_HISTORY = 20
COMBINE = (
    ("Selected", "replace", False),
    ("Not Selected", "replace", True),
    ("…and Selected", "and", False),
    ("…or Selected", "or", False),
    ("…and not Selected", "and", True),
    ("…or not Selected", "or", True),
)


def combine_query(current: str, selected: str, how: str, negate: bool) -> str:
    """Wireshark's "Apply as Filter" combinations of the query bar with a selected term."""
    sel = f"not {selected}" if negate and not selected.startswith("not ") else selected
    if negate and selected.startswith("not "):
        sel = selected[4:]
    if how == "replace" or not current.strip():
        return sel
    return combine([current, sel], how)


def cell_terms(column: str, value: Any) -> list[tuple[str, str, Any]]:
    """(menu caption, field, value) choices a cell offers for filtering."""
    if column in ("source_labels", "dest_labels"):
        labels = json.loads(value).get("labels", []) if isinstance(value, str) else []
        out = []
        for kv in labels:
            k, _, v = kv.partition("=")
            out.append((f"{column}.{k} = {v}", f"{column}.{k}", v))
        return out
    if column == "policies":
        pol = json.loads(value) if isinstance(value, str) else {}
        return [(f"policy = {n}", "policy", n) for n in enforced_names(pol)]
    if column in ("dest_domains", "process_args", "original_source_ips", "nat_outgoing_ports"):
        items = json.loads(value) if isinstance(value, str) else []
        return [(f"{column} = {v}", column, v) for v in items or []]
    if column == "start_time" or column == "end_time":
        return [(f"{column} = {value}", column, value)]
    return [(f"{column} = {value}" if value is not None else f"{column} missing", column, value)]


def build_cell_menu(
    parent: QWidget,
    column: str,
    value: Any,
    add_pill: Callable[[str, Any, bool], None],
    apply_query: Callable[[str, str, bool], None],
    copy: Callable[[str], None],
    row_json: Callable[[], str],
) -> QMenu:
    menu = QMenu(parent)
    terms = cell_terms(column, value)
    if len(terms) == 1:
        _, field, v = terms[0]
        menu.addAction("Filter for value", lambda: add_pill(field, v, False))
        menu.addAction("Filter out value", lambda: add_pill(field, v, True))
        sub = menu.addMenu("Apply as filter")
        sub.setToolTipsVisible(True)
        text = term(field, v)
        for caption, how, negate in COMBINE:
            act = sub.addAction(caption, lambda h=how, n=negate: apply_query(text, h, n))
            act.setToolTip(text)
    elif terms:
        for caption_for, negate in (("Filter for", False), ("Filter out", True)):
            sub = menu.addMenu(caption_for)
            for caption, field, v in terms:
                sub.addAction(caption, lambda f=field, x=v, n=negate: add_pill(f, x, n))
    menu.addSeparator()
    shown = "" if value is None else str(value)
    menu.addAction("Copy value", lambda: copy(shown))
    menu.addAction("Copy row as JSON", lambda: copy(row_json()))
    return menu


def selection_filter(selection: dict[str, Any] | None) -> tuple[str, str]:
    """(pill label, filter text) of a Flow Visualizer selection: a namespace, a name (either
    end) or a flow (source and destination); ("", "") for none."""
    sel = selection or {}
    kind, ns, name = sel.get("kind"), sel.get("namespace"), sel.get("name")
    if kind == "namespace" and ns:
        return f"selected: {ns}", term("namespace", ns)
    if kind == "name" and ns and name:
        src = combine([term("source_namespace", ns), term("source_name_aggr", name)])
        dst = combine([term("dest_namespace", ns), term("dest_name_aggr", name)])
        return f"selected: {ns}/{name}", f"({src}) or ({dst})"
    if kind == "flow" and ns and name:
        dns, _, dname = str(sel.get("dest", "")).partition(":")
        parts = [term("source_namespace", ns), term("source_name_aggr", name)]
        parts += [term("dest_namespace", dns), term("dest_name_aggr", dname)]
        return f"selected: {ns}/{name} → {dns}/{dname}", combine(parts)
    return "", ""


def build_column_menu(parent: QWidget, shown: list[str], set_columns: Callable[[list[str]], None]) -> QMenu:
    menu = QMenu(parent)
    menu.addSection("Columns")
    for name in ALL_COLUMNS:
        act = menu.addAction(name)
        act.setCheckable(True)
        act.setChecked(name in shown)

        def toggled(on: bool, n: str = name) -> None:
            cols = [c for c in shown if c != n]
            if on:
                cols.append(n)
            set_columns(cols or list(DEFAULT_COLUMNS))

        act.toggled.connect(toggled)
    menu.addSeparator()
    menu.addAction("Reset to Calico's columns", lambda: set_columns(list(DEFAULT_COLUMNS)))
    return menu


# -- persisted choices ------------------------------------------------------------------------
def _value(key: str, default: Any) -> Any:
    return app_settings.settings().value(f"flow_browser/{key}", default)


def _set(key: str, value: Any) -> None:
    s = app_settings.settings()
    s.setValue(f"flow_browser/{key}", value)
    s.sync()


def _list(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value] if value else []
    return [str(v) for v in (value or [])]


def load_columns() -> list[str]:
    cols = [c for c in _list(_value("columns", [])) if c in ALL_COLUMNS]
    return cols or list(DEFAULT_COLUMNS)


def save_columns(columns: list[str]) -> None:
    _set("columns", list(columns))


def load_history() -> list[str]:
    return _list(_value("history", []))[:MAX_HISTORY]


def push_history(text: str) -> list[str]:
    if not text.strip():
        return load_history()
    items = [text] + [t for t in load_history() if t != text]
    _set("history", items[:MAX_HISTORY])
    return items[:MAX_HISTORY]


def load_saved() -> dict[str, str]:
    raw = _value("saved", "{}")
    try:
        d = json.loads(raw) if isinstance(raw, str) else {}
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in d.items()} if isinstance(d, dict) else {}


def save_filter(name: str, text: str) -> dict[str, str]:
    d = load_saved()
    d[name] = text
    _set("saved", json.dumps(d))
    return d


def delete_saved(name: str) -> dict[str, str]:
    d = load_saved()
    d.pop(name, None)
    _set("saved", json.dumps(d))
    return d


def load_flag(key: str, default: bool) -> bool:
    v = _value(key, default)
    return v in (True, "true", "1", 1) if not isinstance(v, bool) else v


def save_flag(key: str, on: bool) -> None:
    _set(key, bool(on))
