"""Export the browser's filtered rows (all of them) as CSV or JSON lines, off the GUI thread.

The worker streams rows with :func:`desktopviz.core.export.write_csv`/``write_jsonl`` through
its own read-only connection; a progress dialog shows rows written and can cancel (the
partial file is removed).

Signals (ExportJob):
    progress(int): rows written so far.
    finished(int, str): rows written and the file, or (-1, message) on failure/cancel.
"""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QRunnable, Qt, QThreadPool, Signal
from PySide6.QtWidgets import QProgressDialog, QWidget


class ExportJob(QObject):
    progress = Signal(int)
    finished = Signal(int, str)

    def __init__(self, store_path: str, out: str, fmt: str, where: str, params: tuple[Any, ...]) -> None:
        super().__init__()
        if fmt not in ("csv", "jsonl"):
            raise ValueError(f"unknown export format {fmt!r}: csv or jsonl")
        self.store_path, self.out, self.fmt = store_path, out, fmt
        self.where, self.params = where, params
        self._cancel = threading.Event()
        self.rows: int | None = None

    def cancel(self) -> None:
        self._cancel.set()

    def run(self) -> None:
        """Write the file (in whatever thread calls it)."""
        from desktopviz.core.export import ExportCancelled, write_csv, write_jsonl
        from desktopviz.core.store import FlowStore

        writer = write_csv if self.fmt == "csv" else write_jsonl
        path = Path(self.out)
        try:
            with FlowStore(self.store_path, create=False, readonly=True) as store:
                with path.open("w", newline="" if self.fmt == "csv" else None, encoding="utf-8") as fp:
                    n = writer(
                        store,
                        fp,
                        where_sql=self.where,
                        params=self.params,
                        progress=self.progress.emit,
                        cancel=self._cancel.is_set,
                    )
        except ExportCancelled as exc:
            with contextlib.suppress(OSError):
                path.unlink()
            self.finished.emit(-1, f"export cancelled after {exc.rows:,} rows")
            return
        except Exception as exc:  # noqa: BLE001 - shown to the user
            self.finished.emit(-1, f"export failed: {exc}")
            return
        self.rows = n
        self.finished.emit(n, str(path))


class _Runner(QRunnable):
    def __init__(self, job: ExportJob) -> None:
        super().__init__()
        self.job = job

    def run(self) -> None:
        self.job.run()


def start_export(
    pool: QThreadPool, job: ExportJob, total: int | None, parent: QWidget | None
) -> QProgressDialog | None:
    """Run an export on the pool with a progress dialog (None when ``parent`` is None)."""
    dialog = None
    if parent is not None:
        dialog = QProgressDialog(
            f"Exporting flow logs to {Path(job.out).name}…", "Cancel", 0, total or 0, parent
        )
        dialog.setWindowTitle("Export flow logs")
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        dialog.setMinimumDuration(300)
        dialog.canceled.connect(job.cancel)
        job.progress.connect(dialog.setValue)
        job.finished.connect(lambda *_: dialog.reset())
    pool.start(_Runner(job))
    return dialog
