"""File ▸ Import…: import Calico or Hubble flow logs into the current or a new flow database.

The import runs in its own QThread (:class:`ImportWorker` around
:func:`desktopviz.core.importers.import_files`, which opens its own FlowStore there); the
dialog shows a progress bar, can cancel (the batch being written is rolled back, what was
committed stays), and ends with the summary: counts and every skipped line.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QCoreApplication, QObject, QThread, Signal, Slot
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from desktopviz.core import paths

FORMAT_CHOICES = (
    ("auto", "Detect from content"),
    ("calico", "Calico flow logs (JSON)"),
    ("hubble", "Hubble flows (JSON)"),
)
LEVEL_CHOICES = (
    (0, "0: one log per connection"),
    (1, "1: without source port"),
    (2, "2: pod prefixes (Calico default)"),
    (3, "3: without destination port"),
)
FILE_FILTER = "Flow logs (*.log *.json *.jsonl *.ndjson *.gz);;All files (*)"


class ImportWorker(QObject):
    """Runs one import off the GUI thread.

    Signals:
        progress(int, str): permille done (by bytes of all files) and a status line.
        indexing(): the files are read; the store's indexes are being built again (a bulk
            load's last step, which cannot be cancelled).
        done(object): the ImportSummary.
        failed(str): an error that stopped the import (the database is not a flow store...).
    """

    progress = Signal(int, str)
    indexing = Signal()
    done = Signal(object)
    failed = Signal(str)

    def __init__(self, files: list[str], db: str, fmt: str, interval: int, level: int) -> None:
        super().__init__()
        self.files, self.db, self.fmt, self.interval, self.level = files, db, fmt, interval, level
        self._cancel = threading.Event()
        self._last = 0.0
        self._sizes = [max(1, Path(f).stat().st_size) if Path(f).is_file() else 1 for f in files]

    def cancel(self) -> None:
        """Stop after the current batch (thread-safe)."""
        self._cancel.set()

    def _progress(self, p: Any) -> None:
        now = time.monotonic()
        indexing = p.phase == "indexing"
        if now - self._last < 0.05 and p.bytes_done < p.bytes_total and not indexing:
            return
        self._last = now
        total = sum(self._sizes)
        done = sum(self._sizes[: p.file_index]) + min(p.bytes_done, self._sizes[p.file_index])
        text = f"{Path(p.path).name} ({p.file_index + 1}/{p.files}): {p.records:,} records"
        if indexing:  # a bulk load's last step: it cannot be cancelled
            done, text = total, "Read; building the store's indexes…"
            self.indexing.emit()
        self.progress.emit(int(1000 * done / total), text)

    @Slot()
    def run(self) -> None:
        from desktopviz.core.importers import import_files

        try:
            summary = import_files(
                self.files,
                self.db,
                fmt=self.fmt,
                interval=self.interval,
                level=self.level,
                progress=self._progress,
                cancel=self._cancel.is_set,
            )
            self.done.emit(summary)
        except Exception as exc:  # noqa: BLE001 - shown to the user
            self.failed.emit(f"{exc}")
        finally:
            thread = self.thread()
            if thread is not None:
                thread.quit()


class ImportDialog(QDialog):
    """Choose files, format and target database; import with progress; show the summary.

    Signals:
        imported(str): the database path, after an import that stored flow logs (also when
            cancelled part-way: what was committed is usable).
    """

    imported = Signal(str)

    def __init__(self, current_db: str | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Import Flow Logs")
        self.setMinimumWidth(620)
        self.current_db = current_db
        self.summary: Any = None
        self._job: tuple[QThread, ImportWorker] | None = None
        self._build()
        self._update_buttons()
        app = QCoreApplication.instance()
        if app is not None:  # quitting with an import running: stop it cleanly first
            app.aboutToQuit.connect(self.shutdown)

    # -- layout ------------------------------------------------------------------------------
    def _build(self) -> None:
        lay = QVBoxLayout(self)
        lay.addWidget(
            QLabel("Calico flow logs (flows.log, Elasticsearch exports) or Hubble flows; gzip is fine.")
        )
        files_row = QHBoxLayout()
        self.file_list = QListWidget()
        self.file_list.setSelectionMode(QListWidget.SelectionMode.ExtendedSelection)
        files_row.addWidget(self.file_list, 1)
        col = QVBoxLayout()
        self.add_button = QPushButton("Add Files…")
        self.add_button.clicked.connect(self._choose_files)
        self.remove_button = QPushButton("Remove")
        self.remove_button.clicked.connect(self._remove_selected)
        col.addWidget(self.add_button)
        col.addWidget(self.remove_button)
        col.addStretch(1)
        files_row.addLayout(col)
        lay.addLayout(files_row)

        form = QFormLayout()
        self.format_combo = QComboBox()
        for key, text in FORMAT_CHOICES:
            self.format_combo.addItem(text, key)
        form.addRow("Format:", self.format_combo)
        self.interval_spin = QSpinBox()
        self.interval_spin.setRange(1, 3600)
        self.interval_spin.setValue(15)
        self.interval_spin.setSuffix(" s")
        form.addRow("Hubble interval:", self.interval_spin)
        self.level_combo = QComboBox()
        for level, text in LEVEL_CHOICES:
            self.level_combo.addItem(text, level)
        self.level_combo.setCurrentIndex(2)
        form.addRow("Hubble aggregation:", self.level_combo)

        self.current_radio = QRadioButton(
            f"Current database ({Path(self.current_db).name})" if self.current_db else "Current database"
        )
        self.new_radio = QRadioButton("New database:")
        group = QButtonGroup(self)
        group.addButton(self.current_radio)
        group.addButton(self.new_radio)
        self.current_radio.setEnabled(bool(self.current_db))
        (self.current_radio if self.current_db else self.new_radio).setChecked(True)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        self.new_path = QLineEdit(str(paths.data_dir() / f"import-{stamp}.sqlite"))
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._choose_db)
        new_row = QHBoxLayout()
        new_row.addWidget(self.new_radio)
        new_row.addWidget(self.new_path, 1)
        new_row.addWidget(browse)
        target = QVBoxLayout()
        target.addWidget(self.current_radio)
        target.addLayout(new_row)
        form.addRow("Into:", target)
        lay.addLayout(form)

        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 1000)
        self.progress_bar.setValue(0)
        self.status_label = QLabel("")
        lay.addWidget(self.progress_bar)
        lay.addWidget(self.status_label)
        self.summary_text = QPlainTextEdit()
        self.summary_text.setReadOnly(True)
        self.summary_text.setPlaceholderText("The summary of the import appears here.")
        lay.addWidget(self.summary_text, 1)

        buttons = QHBoxLayout()
        buttons.addStretch(1)
        self.import_button = QPushButton("Import")
        self.import_button.setDefault(True)
        self.import_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel Import")
        self.cancel_button.clicked.connect(self.cancel)
        self.close_button = QPushButton("Close")
        self.close_button.clicked.connect(self.close)
        for b in (self.import_button, self.cancel_button, self.close_button):
            buttons.addWidget(b)
        lay.addLayout(buttons)

    # -- inputs ------------------------------------------------------------------------------
    def files(self) -> list[str]:
        return [self.file_list.item(i).text() for i in range(self.file_list.count())]

    def add_files(self, files: list[str]) -> None:
        known = set(self.files())
        for f in files:
            if f not in known:
                self.file_list.addItem(f)
                known.add(f)
        self._update_buttons()

    def set_format(self, fmt: str) -> None:
        self.format_combo.setCurrentIndex(max(0, self.format_combo.findData(fmt)))

    def set_new_database(self, path: str) -> None:
        self.new_path.setText(path)
        self.new_radio.setChecked(True)

    def target_db(self) -> str:
        if self.current_radio.isChecked() and self.current_db:
            return self.current_db
        return self.new_path.text().strip()

    def _choose_files(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self, "Import Flow Logs", str(Path.home()), FILE_FILTER)
        self.add_files(files)

    def _remove_selected(self) -> None:
        for item in self.file_list.selectedItems():
            self.file_list.takeItem(self.file_list.row(item))
        self._update_buttons()

    def _choose_db(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "New Flow Database", self.new_path.text(), "Flow databases (*.sqlite *.db)"
        )
        if path:
            self.set_new_database(path)

    def _update_buttons(self) -> None:
        busy = self._job is not None
        self.import_button.setEnabled(not busy and self.file_list.count() > 0)
        self.cancel_button.setEnabled(busy)
        self.close_button.setEnabled(not busy)
        for w in (
            self.add_button,
            self.remove_button,
            self.format_combo,
            self.interval_spin,
            self.level_combo,
        ):
            w.setEnabled(not busy)

    # -- running -----------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._job is not None

    @Slot()
    def start(self) -> None:
        """Start the import in a worker thread."""
        db = self.target_db()
        if self._job is not None or not self.files():
            return
        if not db:
            self.summary_text.setPlainText("Choose the database to import into.")
            return
        thread = QThread()
        worker = ImportWorker(
            self.files(), db, str(self.format_combo.currentData()), self.interval_spin.value(),
            int(self.level_combo.currentData()),
        )  # fmt: skip
        worker.moveToThread(thread)
        worker.progress.connect(self._on_progress)
        worker.indexing.connect(self._on_indexing)
        worker.done.connect(self._on_done)
        worker.failed.connect(self._on_failed)
        thread.started.connect(worker.run)
        thread.finished.connect(self._on_finished)
        self._job = (thread, worker)
        self.summary = None
        self.progress_bar.setValue(0)
        self.cancel_button.setToolTip("")
        self.status_label.setText(f"Importing into {db}…")
        self.summary_text.clear()
        self._update_buttons()
        thread.start()

    @Slot()
    def cancel(self) -> None:
        if self._job is not None:
            self._job[1].cancel()
            self.status_label.setText("Cancelling after the current batch…")

    @Slot(int, str)
    def _on_progress(self, permille: int, text: str) -> None:
        self.progress_bar.setValue(permille)
        self.status_label.setText(text)

    @Slot()
    def _on_indexing(self) -> None:
        self.cancel_button.setEnabled(False)  # too late: the store needs its indexes
        self.cancel_button.setToolTip(
            "The files are read; the indexes are being built and cannot be cancelled."
        )

    @Slot(object)
    def _on_done(self, summary: Any) -> None:
        self.summary = summary
        self.progress_bar.setValue(
            self.progress_bar.maximum() if not summary.cancelled else self.progress_bar.value()
        )
        self.status_label.setText("Cancelled." if summary.cancelled else "Done.")
        self.summary_text.setPlainText(summary.text(max_issues=1000))

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        self.status_label.setText("Import failed.")
        self.summary_text.setPlainText(message)

    @Slot()
    def _on_finished(self) -> None:
        job, self._job = self._job, None
        if job is not None:
            thread, worker = job
            thread.wait()
            worker.deleteLater()
            thread.deleteLater()
        self._update_buttons()
        if self.summary is not None and self.summary.total("flow_logs") > 0:
            self.imported.emit(self.summary.db_path)

    @Slot()
    def shutdown(self) -> None:
        """Cancel a running import and wait for its thread (window closing, tests)."""
        if self._job is not None:
            thread, worker = self._job
            worker.cancel()
            thread.wait()
            self._on_finished()

    def closeEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        self.shutdown()
        super().closeEvent(event)

    def reject(self) -> None:
        if self._job is not None:  # Escape cancels the import instead of hiding a running dialog
            self.cancel()
            return
        super().reject()
