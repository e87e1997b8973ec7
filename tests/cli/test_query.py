"""`desktopviz query DB FILTER`: the filter language headless."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from desktopviz.cli import main
from desktopviz.core.flowlog import FlowLog, labels_field
from desktopviz.core.store import FlowStore

T0 = 1_767_258_000


def _log(i: int, action: str, src: str, ns: str = "storefront", **kw: object) -> FlowLog:
    return FlowLog(
        start_time=T0 + 15 * i, end_time=T0 + 15 * i + 15, source_ip=None, source_name="-",
        source_name_aggr=f"{src}-*", source_namespace=ns, source_type="wep", source_port=None,
        source_labels=labels_field({"app": src}), dest_ip=None, dest_name="-",
        dest_name_aggr="microservice1-64c59c86bb-*", dest_namespace="storefront", dest_type="wep", dest_port=8080,
        dest_labels=labels_field({"app": "microservice1", "fw-zone": "trusted"}), proto="tcp", action=action,
        reporter="dst", num_flows=3, bytes_in=100, bytes_out=0,
        policies={"enforced_policies": [f"0|default|storefront/default.trusted|{action}|{2 if action == 'deny' else 0}"],
                  "pending_policies": []},
        **kw,
    )  # fmt: skip


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "flows.db"
    with FlowStore(path) as s:
        s.insert(
            [_log(0, "allow", "frontend"), _log(1, "deny", "rogue"), _log(2, "allow", "backend"),
             _log(3, "deny", "rogue", host="=cmd|' /C calc'!A0"), _log(4, "allow", "centos", ns="dev")]
        )  # fmt: skip
    return path


def test_table_output_newest_first(db: Path, capsys) -> None:
    assert main(["query", str(db), "action = deny"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:3] == ["start_time", "action", "reporter"]
    rows = out[1:-1]
    assert len(rows) == 2 and all("deny" in r and "storefront/rogue-*" in r for r in rows)
    assert rows[0].startswith("2026-01-01 09:00:45") and rows[1].startswith("2026-01-01 09:00:15")
    assert "storefront/default.trusted" in rows[0]
    assert out[-1] == "2 flow logs match"


def test_limit_and_count(db: Path, capsys) -> None:
    assert main(["query", str(db), "", "--limit", "2"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 4 and out[-1] == "5 flow logs match (3 more; use --limit or --csv)"
    assert main(["query", str(db), "namespace = dev or policy_action = deny", "--count"]) == 0
    assert capsys.readouterr().out.strip() == "3"


def test_csv_is_every_match_and_spreadsheet_safe(db: Path, capsys) -> None:
    assert main(["query", str(db), "source_labels.app = rogue", "--csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["action"] for r in rows] == ["deny", "deny"]
    assert rows[1]["host"].startswith("'=")  # formula neutralised by core.export


def test_json_lines_with_limit_are_calico_documents(db: Path, capsys) -> None:
    assert main(["query", str(db), "action = allow", "--json", "--limit", "2"]) == 0
    docs = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [d["source_name_aggr"] for d in docs] == ["backend-*", "centos-*"]  # the newest two, oldest first
    assert docs[0]["policies"]["enforced_policies"] == ["0|default|storefront/default.trusted|allow|0"]


def test_bad_filter_prints_a_caret_and_exits_2(db: Path, capsys) -> None:
    assert main(["query", str(db), "action = deny and sourc_namespace = x"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert "did you mean source_namespace" in err[0] and "column 19" in err[0]
    assert err[1].strip() == "action = deny and sourc_namespace = x"
    assert err[2].index("^") - err[1].index("a") == 18


def test_missing_store_exits_2(tmp_path: Path, capsys) -> None:
    assert main(["query", str(tmp_path / "nope.db"), "action = deny"]) == 2
    assert "no such flow store" in capsys.readouterr().err
