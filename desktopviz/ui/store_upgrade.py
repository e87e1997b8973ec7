"""Opening a flow store written by an older desktopviz: the in-place upgrade runs on a thread
behind a busy dialog, so the window keeps painting (a million-log schema-2 store takes about
half a minute to become schema 4; docs/store.md). The window opens stores read-only, which
reads a schema-3 file as it is: no upgrade, no dialog."""

from __future__ import annotations

import threading
from pathlib import Path

from PySide6.QtCore import QEventLoop, Qt
from PySide6.QtWidgets import QApplication, QProgressDialog, QWidget

from desktopviz.core.store import SCHEMA_VERSION, FlowStore, stored_schema, upgrade_note, upgrades_on_open

__all__ = ["upgrade_if_needed"]


def upgrade_if_needed(parent: QWidget | None, path: str | Path) -> bool:
    """Upgrade the store at ``path`` in place if an older desktopviz wrote it and a read-only
    open cannot read it as it is (schemas 1 and 2), showing a busy dialog meanwhile; True when
    it did. Raises what opening the store raises (StoreError: read-only file, failed upgrade;
    the file is then unchanged)."""
    version = stored_schema(path)
    if version is None or not upgrades_on_open(version, readonly=True):
        return False
    name = Path(path).name
    dialog = QProgressDialog(
        f"Upgrading {name} from flow-store schema {version} to {SCHEMA_VERSION}…\n"
        f"This happens once per file and takes {upgrade_note(version)}.",
        "",
        0,
        0,
        parent,
    )
    dialog.setWindowTitle("Upgrading flow database")
    dialog.setCancelButton(None)  # one transaction: stopping it half-way would only undo it
    dialog.setWindowModality(Qt.WindowModality.WindowModal)
    dialog.setMinimumDuration(0)
    failure: list[BaseException] = []

    def work() -> None:
        try:
            FlowStore(path, create=False, readonly=True).close()  # upgrades through a writable connection
        except BaseException as exc:  # noqa: BLE001 - re-raised on the GUI thread
            failure.append(exc)

    thread = threading.Thread(target=work, name="desktopviz-store-upgrade", daemon=True)
    thread.start()
    dialog.show()
    while thread.is_alive():
        QApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
        thread.join(0.05)
    dialog.close()
    dialog.deleteLater()
    if failure:
        raise failure[0]
    return True
