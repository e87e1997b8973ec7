"""Exports: CSV a spreadsheet opens safely (Calico field names as header, no formula runs),
JSON lines as Calico writes them, and the `desktopviz export-csv` command."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from pathlib import Path

import pytest

from desktopviz.cli import main
from desktopviz.core.export import ExportCancelled, safe_cell, write_csv, write_jsonl
from desktopviz.core.flowlog import FIELDS, FlowLog, labels_field
from desktopviz.core.store import FlowStore


def rec(start: int, **kw: object) -> FlowLog:
    base: dict[str, object] = dict(
        start_time=start,
        end_time=start + 300,
        source_ip=None,
        source_name="-",
        source_name_aggr="frontend-864f4fcdfd-*",
        source_namespace="storefront",
        source_type="wep",
        source_port=None,
        source_labels=labels_field({"app": "frontend"}),
        dest_ip="52.1.2.3",
        dest_name="-",
        dest_name_aggr="pub",
        dest_namespace="-",
        dest_type="net",
        dest_port=443,
        dest_labels=None,
        proto="tcp",
        action="allow",
        reporter="src",
        policies={"enforced_policies": ["0|default|storefront/default.dmz|allow|0"], "pending_policies": []},
        num_flows=2,
        bytes_in=100,
        host="node-1",
    )
    base.update(kw)
    return FlowLog(**base)  # type: ignore[arg-type]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "run.sqlite"
    with FlowStore(path) as store:
        store.insert([rec(1000), rec(1300, action="deny"), rec(1600, process_name="=cmd|' /C calc'!A0")])
    return path


def read_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_csv_header_and_values(db: Path) -> None:
    out = io.StringIO()
    with FlowStore(db, readonly=True) as store:
        assert write_csv(store, out) == 3
    text = out.getvalue()
    assert text.splitlines()[0] == ",".join(FIELDS)
    rows = read_csv(text)
    assert [r["start_time"] for r in rows] == ["1000", "1300", "1600"]
    first = rows[0]
    assert first["source_name"] == "-"  # Calico's placeholder stays as it is
    assert first["dest_namespace"] == "-"
    assert first["source_ip"] == ""  # null
    assert first["source_port"] == ""
    assert first["source_labels"] == '{"labels":["app=frontend"]}'
    assert json.loads(first["policies"])["enforced_policies"] == ["0|default|storefront/default.dmz|allow|0"]
    assert first["dest_labels"] == ""
    assert first["bytes_in"] == "100"


def test_csv_neutralises_formulas(db: Path) -> None:
    out = io.StringIO()
    with FlowStore(db, readonly=True) as store:
        write_csv(store, out, since=1600)
    (row,) = read_csv(out.getvalue())
    assert row["process_name"] == "'=cmd|' /C calc'!A0"
    for cell in ("=1+1", "+1", "-1+2", "@SUM(A1)", "\tx", "\rx"):
        assert safe_cell(cell) == "'" + cell
    assert safe_cell("-") == "-"
    assert safe_cell(-5) == -5  # a number, not text a spreadsheet would evaluate
    assert safe_cell("frontend-*") == "frontend-*"
    assert safe_cell(None) == ""


def test_csv_time_range_and_filter(db: Path) -> None:
    with FlowStore(db, readonly=True) as store:
        out = io.StringIO()
        assert write_csv(store, out, since=1300, until=1600) == 1
        assert read_csv(out.getvalue())[0]["action"] == "deny"
        out = io.StringIO()
        assert write_csv(store.conn, out, where_sql="action = ?", params=["allow"]) == 2


def test_jsonl_is_calico_documents(db: Path) -> None:
    out = io.StringIO()
    with FlowStore(db, readonly=True) as store:
        assert write_jsonl(store, out) == 3
    docs = [json.loads(line) for line in out.getvalue().splitlines()]
    assert list(docs[0]) == list(FIELDS)
    assert docs[0] == rec(1000).to_dict()
    assert docs[0]["source_ip"] is None and docs[0]["dest_labels"] is None


def test_progress_and_cancel(tmp_path: Path) -> None:
    path = tmp_path / "big.sqlite"
    with FlowStore(path) as store:
        store.insert(rec(1000 + i) for i in range(4500))
        seen: list[int] = []
        assert write_csv(store, io.StringIO(), progress=seen.append) == 4500
        assert seen == [2000, 4000, 4500]
        calls = iter([False, True])
        with pytest.raises(ExportCancelled) as exc:
            write_jsonl(store, io.StringIO(), cancel=lambda: next(calls))
        assert exc.value.rows == 2000


def test_cli_writes_csv(db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "flows.csv"
    assert main(["export-csv", str(db), "-o", str(out)]) == 0
    assert "3 rows written" in capsys.readouterr().out
    assert len(read_csv(out.read_text())) == 3


@pytest.mark.parametrize(
    ("since", "until", "starts"),
    [
        ("1300", None, ["1300", "1600"]),
        ("-10m", None, ["1300", "1600"]),  # last time = 1900
        (None, "1970-01-01T00:25:00Z", ["1000", "1300"]),
        ("1970-01-01T00:20:00", "-5m", ["1300"]),
    ],
)
def test_cli_time_forms(
    db: Path, tmp_path: Path, since: str | None, until: str | None, starts: list[str]
) -> None:
    out = tmp_path / "flows.csv"
    argv = ["export-csv", str(db), "-o", str(out)]
    if since:
        argv += ["--since", since]
    if until:
        argv += ["--until", until]
    assert main(argv) == 0
    assert [r["start_time"] for r in read_csv(out.read_text())] == starts


def test_cli_bad_inputs_exit_2(tmp_path: Path, db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = str(tmp_path / "x.csv")
    missing = tmp_path / "nope.sqlite"
    assert main(["export-csv", str(missing), "-o", out]) == 2
    assert str(missing) in capsys.readouterr().err
    assert not missing.exists()
    text = tmp_path / "flows.txt"
    text.write_text("hello\n" * 200)
    assert main(["export-csv", str(text), "-o", out]) == 2
    assert "not a SQLite database" in capsys.readouterr().err
    other = tmp_path / "other.sqlite"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()
    assert main(["export-csv", str(other), "-o", out]) == 2
    assert "not a desktopviz flow store" in capsys.readouterr().err
    assert main(["export-csv", str(db), "-o", out, "--since", "yesterday"]) == 2
    assert "bad time 'yesterday'" in capsys.readouterr().err
    assert main(["export-csv", str(db), "-o", str(tmp_path / "no" / "dir" / "x.csv")]) == 2
    assert "cannot write" in capsys.readouterr().err
