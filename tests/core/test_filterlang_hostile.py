"""Hostile filter text: nothing typed may read or change anything but the flow tables.

Every input either raises a clean FilterError or runs as a literal value; afterwards the
store holds exactly what it held before (same tables, same rows)."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from desktopviz.core.filterlang import FilterError, compile_filter, term
from desktopviz.core.flowlog import FlowLog
from desktopviz.core.queries import count_rows, flow_rows
from desktopviz.core.store import FlowStore

HOSTILE = [
    "action = deny; DROP TABLE flow_logs",
    "action = 'deny'; DROP TABLE flow_logs; --",
    'action = "deny\\"; DROP TABLE flow_logs; --"',
    "action = deny -- comment",
    "action = deny /* x */",
    "flow_logs.action = deny",
    "sqlite_master exists",
    "meta = x",
    "(SELECT 1) = 1",
    "action = (SELECT name FROM sqlite_master)",
    "source_namespace = ' OR 1=1 --",
    "source_namespace = \"' OR '1'='1\"",
    "dest_labels.app') OR 1=1 -- = x",
    'dest_labels.app = "x\') OR (1=1"',
    'policy = "x\')) OR 1=1 --"',
    'action = "\x00"',
    "host = 'a\x00b'",
    "source_namespace = 'ストアフロント'",
    'source_namespace = "\U0001f600"',
    'source_namespace = "\u202eevil"',
    "action = " + "A" * 9000,
    "host = '" + "x" * 5000 + "'",
    "dest_port = 99999999999999999999999",
    "dest_port = -9223372036854775809",
    "start_time >= 9999-99-99",
    "start_time >= now-99999999999999w",
    "dest_port in (" + ", ".join(str(i) for i in range(250)) + ")",
    "ATTACH DATABASE '/tmp/x.db' AS x",
    "PRAGMA writable_schema = 1",
    "id = 1 UNION SELECT * FROM meta",
    "\\",
    "'",
    '"',
    "(((",
    ")))",
    "",
    "   ",
    "\n\t\r",
]


def _fingerprint(path: Path) -> str:
    db = sqlite3.connect(path)
    try:
        h = hashlib.sha256()
        for name, sql in db.execute("SELECT name, sql FROM sqlite_master ORDER BY name"):
            h.update(f"{name}|{sql}".encode())
        for table in ("flow_logs", "policy_hits", "meta", "label_sets"):
            for row in db.execute(f"SELECT * FROM {table} ORDER BY rowid"):
                h.update(repr(row).encode())
        return h.hexdigest()
    finally:
        db.close()


def _log(i: int) -> FlowLog:
    return FlowLog(
        start_time=1_767_258_000 + i, end_time=1_767_258_015 + i, source_ip=None, source_name="-",
        source_name_aggr="frontend-*", source_namespace="storefront", source_type="wep", source_port=None,
        source_labels={"labels": ["app=frontend"]}, dest_ip=None, dest_name="-", dest_name_aggr="backend-*",
        dest_namespace="storefront", dest_type="wep", dest_port=80, dest_labels={"labels": ["app=backend"]},
        proto="tcp", action="allow", reporter="dst",
        policies={"enforced_policies": ["0|default|storefront/default.x|allow|0"], "pending_policies": []},
    )  # fmt: skip


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("hostile") / "flows.db"
    with FlowStore(path) as s:
        s.insert([_log(i) for i in range(20)])
    return path


def _run(path: Path, text: str) -> None:
    """Compile and run a filter on a writable connection; a FilterError is a fine answer."""
    try:
        f = compile_filter(text, now=1_767_258_100)
    except FilterError as exc:
        assert 0 <= exc.column <= len(text)
        assert exc.pointer().startswith(text)
        return
    with FlowStore(path) as store:
        n = count_rows(store, f.sql, f.params)
        rows = flow_rows(store, f.sql, f.params, limit=50)
        assert len(rows) == min(n, 50)
        assert n in (0, 20) or 0 < n < 20


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_filter_is_an_error_or_a_literal(db: Path, text: str) -> None:
    before = _fingerprint(db)
    _run(db, text)
    assert _fingerprint(db) == before


@pytest.mark.parametrize(
    "value", ["'; DROP TABLE flow_logs; --", 'a"b', "x\x00y", "\u00e9\u00e8", "\\", "-", ""]
)
def test_filter_for_any_value_matches_it_literally(db: Path, value: str) -> None:
    """What "Filter for value" builds from any cell text is valid and matches that text only."""
    text = term("host", value)
    f = compile_filter(text)
    assert f.params == (value,)
    before = _fingerprint(db)
    with FlowStore(path=db) as store:
        assert count_rows(store, f.sql, f.params) == (20 if value == "" else 0)  # host is "" in every log
    assert _fingerprint(db) == before


_PIECES = st.sampled_from(
    ["action", "=", "!=", "<", "(", ")", "'", '"', ";", "--", "DROP", "TABLE", "flow_logs", "and", "or",
     "not", "in", ",", "exists", "contains", "dest_labels.app", "policy", "\\", "\x00", "é", "*", "1", " "]
)  # fmt: skip


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(_PIECES, max_size=14).map(" ".join) | st.text(max_size=60))
def test_fuzzed_filters_never_escape(db: Path, text: str) -> None:
    before = _fingerprint(db)
    _run(db, text)
    assert _fingerprint(db) == before
