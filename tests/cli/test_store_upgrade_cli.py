"""A command given a flow database of an older desktopviz says on stderr that it upgrades it
(once), then works on it as on any store."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "core"))
from test_store_migrate_v2 import make_v2  # noqa: E402
from test_store_rollup import values, varied_logs  # noqa: E402

from desktopviz.cli import main  # noqa: E402
from desktopviz.core.store import SCHEMA_VERSION, stored_schema  # noqa: E402


def test_query_on_a_schema_2_store_announces_the_upgrade_once(tmp_path, capsys):
    db = tmp_path / "old.sqlite"
    make_v2(db, [values(x) for x in varied_logs(200, seed=5)], tmp_path)
    assert main(["query", str(db), "--count"]) == 0
    out, err = capsys.readouterr()
    assert out.strip() == "202"  # make_v2 adds two odd rows to the 200 logs
    assert f"upgrading from flow-store schema 2 to {SCHEMA_VERSION}" in err and "old.sqlite" in err
    assert stored_schema(db) == SCHEMA_VERSION
    assert main(["query", str(db), "--count"]) == 0
    assert "upgrading" not in capsys.readouterr().err
