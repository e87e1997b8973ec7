"""Opening a flow database written by an older desktopviz (schema 2) in the window: it is
upgraded in place behind a busy dialog, then opens as any stored run; a read-only one is
refused with what to do, and the session goes on. A schema-3 one is read as it is: no dialog,
no upgrade (the window reads stores read-only)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "core"))
from test_store_levels import make_v3  # noqa: E402
from test_store_migrate_v2 import make_v2  # noqa: E402
from test_store_rollup import values, varied_logs  # noqa: E402

from desktopviz.core.store import SCHEMA_VERSION, FlowStore, stored_schema  # noqa: E402
from desktopviz.ui import store_upgrade  # noqa: E402
from desktopviz.ui.main_window import MainWindow  # noqa: E402


@pytest.fixture
def v2(tmp_path: Path) -> Path:
    db = tmp_path / "old.sqlite"
    make_v2(db, [values(x) for x in varied_logs(300, seed=3)], tmp_path)
    return db


def test_an_older_database_is_upgraded_behind_a_busy_dialog_and_opens(qtbot, v2, monkeypatch):
    assert stored_schema(v2) == 2
    shown: list[str] = []
    real = store_upgrade.QProgressDialog.show

    def show(self):  # what the user reads while the upgrade runs
        shown.append(self.labelText())
        real(self)

    monkeypatch.setattr(store_upgrade.QProgressDialog, "show", show)
    w = MainWindow()
    qtbot.addWidget(w)
    assert w.open_database(v2) is True
    assert shown == [
        "Upgrading old.sqlite from flow-store schema 2 to 4…\n"
        "This happens once per file and takes about half a minute per million logs."
    ]
    assert SCHEMA_VERSION == 4
    assert stored_schema(v2) == SCHEMA_VERSION
    with FlowStore(v2, create=False, readonly=True) as s:
        assert s.count() == 302  # the 300 logs and make_v2's two odd rows
    assert "old.sqlite" in w.windowTitle()
    assert w.open_database(v2) is True  # current now: no dialog again
    assert len(shown) == 1
    w.close()


def test_a_read_only_older_database_is_refused_with_what_to_do(qtbot, v2, shown_messages, monkeypatch):
    from desktopviz.core import store

    monkeypatch.setattr(store.os, "access", lambda p, mode: False)  # the file and folder are read-only
    w = MainWindow()
    qtbot.addWidget(w)
    assert w.open_database(v2) is False
    assert shown_messages[-1][0] == "error" and "read-only" in shown_messages[-1][2]
    assert stored_schema(v2) == 2
    w.close()


def test_a_file_that_is_not_a_store_is_left_to_the_normal_open(tmp_path):
    bogus = tmp_path / "x.sqlite"
    bogus.write_bytes(b"not sqlite")
    assert stored_schema(bogus) is None
    assert store_upgrade.upgrade_if_needed(None, bogus) is False


def test_a_schema_3_database_opens_as_it_is_without_a_dialog(qtbot, tmp_path, monkeypatch):
    db = tmp_path / "v3.sqlite"
    with FlowStore(db) as s:
        s.insert(varied_logs(200, seed=4), strict=False)
    make_v3(db)
    shown: list[str] = []
    monkeypatch.setattr(store_upgrade.QProgressDialog, "show", lambda self: shown.append(self.labelText()))
    from desktopviz.core import store

    monkeypatch.setattr(store.os, "access", lambda p, mode: False)  # even a read-only file opens
    w = MainWindow()
    qtbot.addWidget(w)
    assert store_upgrade.upgrade_if_needed(w, db) is False
    assert w.open_database(db) is True
    assert shown == [] and stored_schema(db) == 3  # read as it is, not upgraded
    assert "v3.sqlite" in w.windowTitle()
    w.close()
