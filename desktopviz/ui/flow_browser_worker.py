"""The table model's worker queries: counts and pages that did not fit in a frame.

Each job opens its own read-only connection (SQLite connections belong to one thread), is
skipped if the model's generation moved on before it started, and registers its connection
so the model can interrupt it when the query changes.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from PySide6.QtCore import QObject, QRunnable, Signal

from desktopviz.ui import flow_browser_data as data


class WorkerSignals(QObject):
    page = Signal(int, int, object)  # generation, page number, rows
    count = Signal(int, object)  # generation, count (or error text)
    failed = Signal(int, str)


class PageJob(QRunnable):
    """One worker query on its own connection; cancelled jobs are skipped or interrupted."""

    def __init__(self, model: Any, gen: int, kind: str, arg: Any) -> None:
        super().__init__()
        self.model, self.gen, self.kind, self.arg = model, gen, kind, arg
        self.signals = model._signals

    def run(self) -> None:
        m = self.model
        if self.gen != m._gen or m._path is None:
            return
        try:
            conn = data.open_readonly(m._path)
        except Exception as exc:  # noqa: BLE001 - reported as a view error
            self.signals.failed.emit(self.gen, str(exc))
            return
        m._running.add(conn)
        try:
            if self.gen != m._gen:
                return
            if self.kind == "count":
                self.signals.count.emit(self.gen, data.count(conn, self.arg))
            else:
                page, q, total, anchors, start, length = self.arg
                rows = data.fetch_page(conn, q, start, length, total, anchors)
                self.signals.page.emit(self.gen, page, rows)
        except sqlite3.OperationalError as exc:
            if "interrupt" not in str(exc):
                self.signals.failed.emit(self.gen, str(exc))
        except Exception as exc:  # noqa: BLE001
            self.signals.failed.emit(self.gen, str(exc))
        finally:
            m._running.discard(conn)
            conn.close()
