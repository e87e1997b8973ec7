"""A schema-2 flow store is upgraded in place to schema 4 without losing or changing anything:
every record (value and storage class) through ``flow_logs``, every trace entry through
``policy_hits``, every rollup (but the 5-minute level of the flow and hit sums, no longer
stored), label set and trace are the same before and after; an upgrade
that fails leaves the schema-2 file whole; a bulk load killed in schema 2 is repaired."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from test_store_migrate import leave_indexes_dropped
from test_store_rollup import values, varied_logs

from desktopviz.core import store_migrate
from desktopviz.core.flowlog import FIELDS
from desktopviz.core.store import HIT_COLUMNS, FlowStore, StoreError
from desktopviz.core.store_ingest import ROW_COLUMNS

V2_DDL = (  # written by schema-2 code (main 454b344, desktopviz/core/store_schema.py): its sqlite_master
    "CREATE TABLE label_sets (id INTEGER PRIMARY KEY, labels TEXT NOT NULL UNIQUE)",
    "CREATE TABLE flow_rows (id INTEGER PRIMARY KEY, start_time INTEGER, end_time INTEGER, source_ip TEXT, source_name TEXT, source_name_aggr TEXT, source_namespace TEXT, source_type TEXT, source_port INTEGER, source_labels_id INTEGER, dest_ip TEXT, dest_name TEXT, dest_name_aggr TEXT, dest_namespace TEXT, dest_type TEXT, dest_port INTEGER, dest_labels_id INTEGER, dest_service_namespace TEXT, dest_service_name TEXT, dest_service_port TEXT, dest_service_port_num INTEGER, dest_domains TEXT, proto TEXT, action TEXT, reporter TEXT, trace_id INTEGER, bytes_in INTEGER, bytes_out INTEGER, packets_in INTEGER, packets_out INTEGER, num_flows INTEGER, num_flows_started INTEGER, num_flows_completed INTEGER, http_requests_allowed_in INTEGER, http_requests_denied_in INTEGER, process_name TEXT, num_process_names INTEGER, process_id TEXT, num_process_ids INTEGER, process_args TEXT, num_process_args INTEGER, original_source_ips TEXT, num_original_source_ips INTEGER, nat_outgoing_ports TEXT, tcp_mean_send_congestion_window INTEGER, tcp_min_send_congestion_window INTEGER, tcp_mean_smooth_rtt INTEGER, tcp_max_smooth_rtt INTEGER, tcp_mean_min_rtt INTEGER, tcp_max_min_rtt INTEGER, tcp_mean_mss INTEGER, tcp_min_mss INTEGER, tcp_total_retransmissions INTEGER, tcp_lost_packets INTEGER, tcp_unrecovered_to INTEGER, host TEXT)",  # noqa: E501
    "CREATE TABLE traces (id INTEGER PRIMARY KEY, policies TEXT NOT NULL UNIQUE)",
    "CREATE TABLE trace_hits (trace_id INTEGER NOT NULL, kind TEXT NOT NULL, idx INTEGER, tier TEXT, policy TEXT, namespace TEXT, action TEXT, rule_index INTEGER)",  # noqa: E501
    "CREATE VIEW flow_logs AS SELECT f.id AS id, f.start_time AS start_time, f.end_time AS end_time, f.source_ip AS source_ip, f.source_name AS source_name, f.source_name_aggr AS source_name_aggr, f.source_namespace AS source_namespace, f.source_type AS source_type, f.source_port AS source_port, sl.labels AS source_labels, f.dest_ip AS dest_ip, f.dest_name AS dest_name, f.dest_name_aggr AS dest_name_aggr, f.dest_namespace AS dest_namespace, f.dest_type AS dest_type, f.dest_port AS dest_port, dl.labels AS dest_labels, f.dest_service_namespace AS dest_service_namespace, f.dest_service_name AS dest_service_name, f.dest_service_port AS dest_service_port, f.dest_service_port_num AS dest_service_port_num, f.dest_domains AS dest_domains, f.proto AS proto, f.action AS action, f.reporter AS reporter, t.policies AS policies, f.bytes_in AS bytes_in, f.bytes_out AS bytes_out, f.packets_in AS packets_in, f.packets_out AS packets_out, f.num_flows AS num_flows, f.num_flows_started AS num_flows_started, f.num_flows_completed AS num_flows_completed, f.http_requests_allowed_in AS http_requests_allowed_in, f.http_requests_denied_in AS http_requests_denied_in, f.process_name AS process_name, f.num_process_names AS num_process_names, f.process_id AS process_id, f.num_process_ids AS num_process_ids, f.process_args AS process_args, f.num_process_args AS num_process_args, f.original_source_ips AS original_source_ips, f.num_original_source_ips AS num_original_source_ips, f.nat_outgoing_ports AS nat_outgoing_ports, f.tcp_mean_send_congestion_window AS tcp_mean_send_congestion_window, f.tcp_min_send_congestion_window AS tcp_min_send_congestion_window, f.tcp_mean_smooth_rtt AS tcp_mean_smooth_rtt, f.tcp_max_smooth_rtt AS tcp_max_smooth_rtt, f.tcp_mean_min_rtt AS tcp_mean_min_rtt, f.tcp_max_min_rtt AS tcp_max_min_rtt, f.tcp_mean_mss AS tcp_mean_mss, f.tcp_min_mss AS tcp_min_mss, f.tcp_total_retransmissions AS tcp_total_retransmissions, f.tcp_lost_packets AS tcp_lost_packets, f.tcp_unrecovered_to AS tcp_unrecovered_to, f.host AS host, f.source_labels_id AS source_labels_id, f.dest_labels_id AS dest_labels_id, f.trace_id AS trace_id FROM flow_rows AS f LEFT JOIN label_sets AS sl ON sl.id = f.source_labels_id LEFT JOIN label_sets AS dl ON dl.id = f.dest_labels_id LEFT JOIN traces AS t ON t.id = f.trace_id",  # noqa: E501
    "CREATE VIEW policy_hits AS SELECT f.id AS flow_log_id, f.reporter AS reporter, h.kind AS kind, h.idx AS idx, h.tier AS tier, h.policy AS policy, h.namespace AS namespace, h.action AS action, h.rule_index AS rule_index, f.start_time AS start_time, f.num_flows AS num_flows, f.packets_in AS packets_in, f.packets_out AS packets_out, f.bytes_in AS bytes_in, f.bytes_out AS bytes_out FROM flow_rows AS f JOIN trace_hits AS h ON h.trace_id = f.trace_id",  # noqa: E501
    "CREATE INDEX ix_flow_rows_time_ids ON flow_rows (start_time, id, trace_id, source_labels_id, dest_labels_id)",  # noqa: E501
    "CREATE INDEX ix_flow_rows_source_namespace_start_time ON flow_rows (source_namespace, start_time)",
    "CREATE INDEX ix_flow_rows_dest_namespace_start_time ON flow_rows (dest_namespace, start_time)",
    "CREATE INDEX ix_flow_rows_source_name_aggr_start_time ON flow_rows (source_name_aggr, start_time)",
    "CREATE INDEX ix_flow_rows_dest_name_aggr_start_time ON flow_rows (dest_name_aggr, start_time)",
    "CREATE INDEX ix_flow_rows_action_time_reporter ON flow_rows (action, start_time, id, reporter)",
    "CREATE INDEX ix_flow_rows_reporter_start_time ON flow_rows (reporter, start_time)",
    "CREATE INDEX ix_flow_rows_trace_id_start_time ON flow_rows (trace_id, start_time)",
    "CREATE INDEX ix_trace_hits_trace_id ON trace_hits (trace_id)",
    "CREATE INDEX ix_trace_hits_policy_trace_id ON trace_hits (policy, trace_id)",
    "CREATE INDEX ix_trace_hits_tier_trace_id ON trace_hits (tier, trace_id)",
    "CREATE TABLE flow_rollup (level INTEGER NOT NULL, bucket INTEGER NOT NULL, source_namespace TEXT NOT NULL, source_name_aggr TEXT NOT NULL, source_type TEXT NOT NULL, dest_namespace TEXT NOT NULL, dest_name_aggr TEXT NOT NULL, dest_type TEXT NOT NULL, action TEXT NOT NULL, reporter TEXT NOT NULL, source_labels_id INTEGER NOT NULL, dest_labels_id INTEGER NOT NULL, logs INTEGER NOT NULL, num_flows INTEGER NOT NULL, packets_in INTEGER NOT NULL, packets_out INTEGER NOT NULL, bytes_in INTEGER NOT NULL, bytes_out INTEGER NOT NULL, min_start INTEGER NOT NULL, max_end INTEGER NOT NULL, PRIMARY KEY (level, bucket, source_namespace, source_name_aggr, source_type, dest_namespace, dest_name_aggr, dest_type, action, reporter, source_labels_id, dest_labels_id)) WITHOUT ROWID",  # noqa: E501
    "CREATE TABLE hit_rollup (level INTEGER NOT NULL, bucket INTEGER NOT NULL, kind TEXT NOT NULL, policy TEXT NOT NULL, tier TEXT NOT NULL, reporter TEXT NOT NULL, rule_index INTEGER NOT NULL, action TEXT NOT NULL, namespace TEXT, hits INTEGER NOT NULL, num_flows INTEGER NOT NULL, packets_in INTEGER NOT NULL, packets_out INTEGER NOT NULL, bytes_in INTEGER NOT NULL, bytes_out INTEGER NOT NULL, PRIMARY KEY (level, bucket, kind, policy, tier, reporter, rule_index, action)) WITHOUT ROWID",  # noqa: E501
    "CREATE TABLE series_rollup (bucket INTEGER NOT NULL, action TEXT NOT NULL, reporter TEXT NOT NULL, logs INTEGER NOT NULL, num_flows INTEGER NOT NULL, bytes INTEGER NOT NULL, PRIMARY KEY (bucket, action, reporter)) WITHOUT ROWID",  # noqa: E501
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)",
)
V2_TABLES = ("label_sets", "traces", "trace_hits", "flow_rollup", "hit_rollup", "series_rollup")
ODD_ROWS = (  # values only SQL (or an older import) writes: a REAL counter, text in a number column
    {"tcp_mean_mss": 1.5, "dest_service_port": "5.0", "num_flows": None, "host": "odd-1"},
    {"source_port": "eighty", "bytes_in": 2**62, "host": "odd-2", "source_labels_id": None},
)


def make_v2(path: Path, logs: list[Any], tmp: Path) -> None:
    """A schema-2 file with these logs: the rows, label sets, traces and rollups that the
    current insert computes (the same as schema 2's), written into schema 2's tables."""
    src = tmp / "src.sqlite"
    with FlowStore(src) as s:
        s.insert(logs[: len(logs) // 2], strict=False)
        s.insert(logs[len(logs) // 2 :], strict=False)
    c = sqlite3.connect(path)
    for sql in V2_DDL:
        c.execute(sql)
    c.execute("ATTACH ? AS s", (str(src),))
    cols = ", ".join(ROW_COLUMNS)
    c.execute(f"INSERT INTO flow_rows ({cols}) SELECT {cols} FROM s.flow_rows ORDER BY id")
    for t in V2_TABLES:
        c.execute(f"INSERT INTO {t} SELECT * FROM s.{t}")
    for t in ("flow_rollup", "hit_rollup"):  # schema 2 stored a 5-minute level too (values: stand-ins)
        rest = ", ".join(r[1] for r in c.execute(f"PRAGMA table_info({t})").fetchall()[1:])
        c.execute(f"INSERT INTO {t} SELECT 300, {rest} FROM {t} WHERE level = 3600")
    c.execute("INSERT INTO meta SELECT * FROM s.meta")
    c.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    top = c.execute("SELECT max(id) FROM flow_rows").fetchone()[0]
    for k, odd in enumerate(ODD_ROWS):
        new = top + k + 1
        rest = ", ".join(ROW_COLUMNS[1:])
        c.execute(f"INSERT INTO flow_rows ({cols}) SELECT {new}, {rest} FROM flow_rows WHERE id = {k + 1}")
        sets = ", ".join(f"{n} = ?" for n in odd)
        c.execute(f"UPDATE flow_rows SET {sets} WHERE id = {new}", [*odd.values()])
    c.commit()
    c.execute("DETACH s")
    c.close()


def contents(db: Path) -> dict[str, Any]:
    """Everything a reader sees: flow_logs (each value with its storage class), policy_hits,
    the tables kept, and the meta facts."""
    c = sqlite3.connect(db)
    try:
        cols = ["id", *FIELDS, "source_labels_id", "dest_labels_id", "trace_id"]
        typed = ", ".join(f"typeof({n}), {n}" for n in cols)
        hits = f"SELECT {', '.join(HIT_COLUMNS)} FROM policy_hits ORDER BY flow_log_id, kind, idx"
        return {
            "flow_logs": c.execute(f"SELECT {typed} FROM flow_logs ORDER BY id").fetchall(),
            "flow_rows": c.execute(
                f"SELECT {', '.join(ROW_COLUMNS)} FROM flow_rows ORDER BY start_time DESC, id DESC"
            ).fetchall(),
            "policy_hits": c.execute(hits).fetchall(),
            **{t: sorted(c.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in V2_TABLES},
            "meta": dict(c.execute("SELECT key, value FROM meta").fetchall()),
        }
    finally:
        c.close()


def upgraded(before: dict[str, Any]) -> dict[str, Any]:
    """What a reader sees after the upgrade: the same, but the 5-minute level of the flow and
    hit rollups, no longer stored."""
    return {
        k: [r for r in v if r[0] != 300] if k in ("flow_rollup", "hit_rollup") else v
        for k, v in before.items()
    }


def sqlite_master(db: Path) -> list[tuple[Any, ...]]:
    c = sqlite3.connect(db)
    try:
        return sorted(c.execute("SELECT type, name, tbl_name, sql FROM sqlite_master").fetchall())
    finally:
        c.close()


@pytest.fixture
def v2(tmp_path: Path) -> Path:
    db = tmp_path / "v2.sqlite"
    make_v2(db, [values(x) for x in varied_logs(400, seed=11)], tmp_path)
    return db


def test_every_record_hit_and_rollup_survives_the_upgrade(v2: Path, tmp_path: Path) -> None:
    before = contents(v2)
    assert len(before["flow_logs"]) == 402 and before["policy_hits"] and before["hit_rollup"]
    with FlowStore(v2) as store:
        assert store.get_meta("schema_version") == "4" and store.get_meta("upgraded_from_schema") == "2"
        assert store.count() == 402
        n_keys = store.conn.execute("SELECT count(*) FROM flow_keys").fetchone()[0]
        assert 2 <= n_keys < 402
        usual = sqlite3.connect(":memory:").execute("PRAGMA secure_delete").fetchone()[0]
        assert store.conn.execute("PRAGMA secure_delete").fetchone()[0] == usual  # restored
    after = contents(v2)
    assert after.pop("meta") == {**before.pop("meta"), "schema_version": "4", "upgraded_from_schema": "2"}
    kept = upgraded(before)
    for key in before:
        assert after[key] == kept[key], key
    assert len(after["flow_rollup"]) < len(before["flow_rollup"])
    kinds = {r[0] for r in sqlite_master(v2) if r[1] in ("flow_rows", "flow_logs", "policy_hits")}
    assert kinds == {"view"}
    # the same schema as a new store's
    FlowStore(tmp_path / "new.sqlite").close()
    assert [r[:3] for r in sqlite_master(v2)] == [r[:3] for r in sqlite_master(tmp_path / "new.sqlite")]
    with FlowStore(v2) as store:  # new logs go on after the old ones, with the keys found again
        log = store.get(1)
        store.insert([log])
        assert store.get(403) == log
        assert store.conn.execute("SELECT count(*) FROM flow_keys").fetchone()[0] == n_keys


def test_a_read_only_open_upgrades_a_writable_schema_2_file_first(v2: Path) -> None:
    with FlowStore(v2, readonly=True) as store:
        assert store.readonly and store.count() == 402
        assert store.get_meta("schema_version") == "4"


def test_a_read_only_schema_2_file_is_refused_with_what_to_do(
    v2: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = contents(v2)
    monkeypatch.setattr("desktopviz.core.store.os.access", lambda *a, **k: False)
    with pytest.raises(StoreError, match=f"{v2}.*schema 2 must be upgraded to schema 4.*read-only; copy it"):
        FlowStore(v2, readonly=True)
    assert contents(v2) == before


def test_an_upgrade_that_fails_leaves_the_schema_2_file_whole(
    v2: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before, schema = contents(v2), sqlite_master(v2)

    def boom(conn: sqlite3.Connection) -> list[str]:
        raise sqlite3.OperationalError("disk full")

    monkeypatch.setattr(store_migrate, "ensure_indexes", boom)
    with pytest.raises(
        StoreError, match=f"{v2}: cannot upgrade flow store schema 2 to 4 .disk full.; the file is"
    ):
        FlowStore(v2)
    assert contents(v2) == before and sqlite_master(v2) == schema
    monkeypatch.undo()
    with FlowStore(v2) as store:
        assert store.count() == 402


def test_indexes_left_dropped_by_a_killed_schema_2_bulk_load(v2: Path, tmp_path: Path) -> None:
    """A schema-2 bulk load killed mid-load left flow_rows and trace_hits indexes dropped and
    recorded: the upgrade forgets those of flow_rows (the table goes; schema 3's indexes are
    made) and the open restores those of trace_hits."""
    c = sqlite3.connect(v2)
    dropped = c.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
        "AND name NOT IN ('ix_flow_rows_time_ids', 'ix_trace_hits_trace_id')"
    ).fetchall()
    assert len(dropped) == 9
    leave_indexes_dropped(c, dropped)
    before = contents(v2)
    with FlowStore(v2) as store:
        assert store.count() == 402
    assert contents(v2) == {
        **upgraded(before),
        "meta": {**before["meta"], "schema_version": "4", "upgraded_from_schema": "2"},
    }
    FlowStore(tmp_path / "new.sqlite").close()
    assert sqlite_master(v2) == sqlite_master(tmp_path / "new.sqlite")


def test_a_process_killed_in_the_middle_of_the_upgrade_leaves_the_schema_2_file_whole(v2: Path) -> None:
    before, schema = contents(v2), sqlite_master(v2)
    code = (
        "import os, sys\n"
        f"sys.path.insert(0, {str(Path(__file__).parents[2])!r})\n"
        "from desktopviz.core import store_migrate\n"
        "from desktopviz.core.store import FlowStore\n"
        "real = store_migrate.copy_logs\n"
        "def dying(c, select):\n"
        "    real(c, select)\n"
        "    os._exit(9)  # every log copied, the old tables not yet dropped, nothing committed\n"
        "store_migrate.copy_logs = dying\n"
        "FlowStore(sys.argv[1])\n"
    )
    assert subprocess.run([sys.executable, "-c", code, str(v2)], check=False).returncode == 9
    assert contents(v2) == before and sqlite_master(v2) == schema
    with FlowStore(v2) as store:
        assert store.count() == 402 and store.get_meta("schema_version") == "4"
