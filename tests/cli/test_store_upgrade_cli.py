"""A command given a flow database of an older desktopviz says on stderr that it upgrades it
(once), then works on it as on any store. A schema-3 database is upgraded (quickly) only by a
command that writes it (import); the commands that read it read it as it is, silently."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "core"))
from test_store_levels import make_v3  # noqa: E402
from test_store_migrate_v2 import make_v2  # noqa: E402
from test_store_rollup import values, varied_logs  # noqa: E402

from desktopviz.cli import main  # noqa: E402
from desktopviz.core.store import SCHEMA_VERSION, FlowStore, stored_schema  # noqa: E402

DATA = Path(__file__).resolve().parents[1] / "core" / "data" / "import"


def test_query_on_a_schema_2_store_announces_the_upgrade_once(tmp_path, capsys):
    db = tmp_path / "old.sqlite"
    make_v2(db, [values(x) for x in varied_logs(200, seed=5)], tmp_path)
    assert main(["query", str(db), "--count"]) == 0
    out, err = capsys.readouterr()
    assert out.strip() == "202"  # make_v2 adds two odd rows to the 200 logs
    assert f"old.sqlite: upgrading from flow-store schema 2 to {SCHEMA_VERSION} " in err
    assert "(once per file; about half a minute per million logs)" in err
    assert stored_schema(db) == SCHEMA_VERSION
    assert main(["query", str(db), "--count"]) == 0
    assert "upgrading" not in capsys.readouterr().err


def _v3(tmp_path: Path) -> Path:
    db = tmp_path / "v3.sqlite"
    with FlowStore(db) as s:
        s.insert(varied_logs(200, seed=6), strict=False)
    make_v3(db)
    return db


def test_a_command_reading_a_schema_3_store_reads_it_as_it_is(tmp_path, capsys):
    db = _v3(tmp_path)
    assert main(["query", str(db), "--count"]) == 0
    out, err = capsys.readouterr()
    assert out.strip() == "200" and "upgrading" not in err
    assert stored_schema(db) == 3


def test_an_import_into_a_schema_3_store_announces_the_quick_upgrade(tmp_path, capsys):
    db = _v3(tmp_path)
    assert main(["import", str(DATA / "calico_v5.jsonl"), "--db", str(db), "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert (
        f"desktopviz: {db}: upgrading from flow-store schema 3 to 4 "
        "(once per file; about a second per million logs)…"
    ) in err
    assert stored_schema(db) == 4
    assert main(["import", str(DATA / "calico_v5.jsonl"), "--db", str(db), "--no-progress"]) == 0
    assert "upgrading" not in capsys.readouterr().err
