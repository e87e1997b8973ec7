"""A path given to the app is a flow database (SQLite, or named like one) or a scenario."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from desktopviz.ui.file_kinds import is_database_path


def test_database_by_content_or_name(tmp_path: Path) -> None:
    db = tmp_path / "run.flows"
    sqlite3.connect(db).execute("create table t (x)").connection.close()
    assert is_database_path(db)
    assert is_database_path(tmp_path / "new.SQLITE")  # not there yet: named like one
    scenario = tmp_path / "shop.yaml"
    scenario.write_text("kind: Scenario\n")
    assert not is_database_path(scenario)
    assert not is_database_path(tmp_path)
