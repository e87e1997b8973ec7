"""File ▸ Import…: the dialog imports off the GUI thread, shows progress and the summary with
skipped lines, can be cancelled, and tells the window which database to open."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from desktopviz.core.importers import PARALLEL_BATCH
from desktopviz.core.store import FlowStore
from desktopviz.ui.import_dialog import ImportDialog

DATA = Path(__file__).resolve().parent.parent / "core" / "data" / "import"


@pytest.fixture
def dialog(qtbot):
    dlg = ImportDialog()
    qtbot.addWidget(dlg)
    yield dlg
    dlg.shutdown()


def run_import(qtbot, dlg: ImportDialog) -> list[str]:
    with qtbot.waitSignal(dlg.imported, timeout=30_000) as blocker:
        dlg.import_button.click()
    qtbot.waitUntil(lambda: not dlg.running, timeout=30_000)
    return blocker.args


def test_import_into_a_new_database(qtbot, dialog: ImportDialog, tmp_path: Path) -> None:
    db = tmp_path / "new.sqlite"
    assert not dialog.import_button.isEnabled()  # nothing to import yet
    assert not dialog.current_radio.isEnabled()  # no database open
    dialog.add_files([str(DATA / "calico_malformed.jsonl"), str(DATA / "hubble.jsonl")])
    dialog.set_new_database(str(db))
    assert run_import(qtbot, dialog) == [str(db)]
    text = dialog.summary_text.toPlainText()
    assert "calico_malformed.jsonl:8: dest_port: not an integer ('eighty')" in text
    assert "hubble.jsonl:13: not JSON" in text
    assert dialog.progress_bar.value() == dialog.progress_bar.maximum()
    assert dialog.close_button.isEnabled() and not dialog.cancel_button.isEnabled()
    with FlowStore(db, readonly=True) as store:
        assert store.count() == 11


def test_import_into_the_current_database(qtbot, tmp_path: Path) -> None:
    current = tmp_path / "current.sqlite"
    FlowStore(current).close()
    dlg = ImportDialog(current_db=str(current))
    qtbot.addWidget(dlg)
    assert dlg.current_radio.isChecked()
    dlg.add_files([str(DATA / "calico_v5.jsonl")])
    dlg.add_files([str(DATA / "calico_v5.jsonl")])  # listed once
    assert dlg.files() == [str(DATA / "calico_v5.jsonl")]
    dlg.set_format("calico")
    assert run_import(qtbot, dlg) == [str(current)]
    with FlowStore(current, readonly=True) as store:
        assert store.count() == 5


def test_cancel_keeps_the_committed_batches(qtbot, dialog: ImportDialog, tmp_path: Path) -> None:
    line = (DATA / "calico_v5.jsonl").read_text().splitlines()[0]
    doc = json.loads(line)
    big = tmp_path / "big.jsonl"
    with big.open("w") as f:
        for i in range(PARALLEL_BATCH + 2000):
            f.write(json.dumps(dict(doc, start_time=1714564800 + i)) + "\n")
    db = tmp_path / "new.sqlite"
    dialog.add_files([str(big)])
    dialog.set_new_database(str(db))
    with qtbot.waitSignal(dialog.imported, timeout=30_000):
        dialog.import_button.click()
        assert dialog.cancel_button.isEnabled() and not dialog.close_button.isEnabled()
        dialog.cancel()  # checked after the first batch (keyed batches of PARALLEL_BATCH records)
    qtbot.waitUntil(lambda: not dialog.running, timeout=30_000)
    assert dialog.summary.cancelled
    assert dialog.summary_text.toPlainText().startswith("Import cancelled")
    with FlowStore(db, readonly=True) as store:
        assert store.count() == PARALLEL_BATCH


def test_a_database_that_is_not_a_flow_store(qtbot, dialog: ImportDialog, tmp_path: Path) -> None:
    bad = tmp_path / "bad.sqlite"
    bad.write_text("just text, not SQLite " * 200)
    dialog.add_files([str(DATA / "calico_v4.jsonl")])
    dialog.set_new_database(str(bad))
    with qtbot.assertNotEmitted(dialog.imported):
        dialog.import_button.click()
        qtbot.waitUntil(lambda: not dialog.running, timeout=30_000)
    assert "not a SQLite database" in dialog.summary_text.toPlainText()
    assert dialog.status_label.text() == "Import failed."


def test_the_index_rebuild_shows_as_the_last_step(qtbot, dialog: ImportDialog, tmp_path: Path) -> None:
    """After the last file is read, a bulk load builds the store's indexes again: the dialog
    says so at 100 % instead of sitting on the last file's count, and Cancel is disabled
    (the rebuild cannot be cancelled)."""
    from desktopviz.core.import_summary import ImportProgress
    from desktopviz.ui.import_dialog import ImportWorker

    src = DATA / "calico_v5.jsonl"
    worker = ImportWorker([str(src)], str(tmp_path / "x.sqlite"), "auto", 15, 2)
    got: list[tuple[int, str]] = []
    worker.progress.connect(lambda permille, text: got.append((permille, text)))
    worker.indexing.connect(dialog._on_indexing)
    worker.progress.connect(dialog._on_progress)
    dialog.cancel_button.setEnabled(True)  # as while an import runs
    size = src.stat().st_size
    worker._progress(ImportProgress(0, 1, str(src), size // 2, size, 3))
    assert "calico_v5.jsonl (1/1): 3 records" in got[0][1] and dialog.cancel_button.isEnabled()
    worker._progress(ImportProgress(0, 1, str(src), size, size, 5, phase="indexing"))
    assert got[-1] == (1000, "Read; building the store's indexes…")
    assert dialog.progress_bar.value() == 1000 and dialog.status_label.text() == got[-1][1]
    assert not dialog.cancel_button.isEnabled() and "cannot be cancelled" in dialog.cancel_button.toolTip()
