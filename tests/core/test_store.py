"""The flow store keeps Calico flow logs exactly, indexes their policy traces, and refuses
files it cannot read with a message that names the file."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from desktopviz.core.flowlog import FIELDS, FlowLog, labels_field
from desktopviz.core.store import FlowStore, StoreError, record_from_row


def flow(
    reporter: str = "src",
    action: str = "allow",
    enforced: list[str] | None = None,
    pending: list[str] | None = None,
    start: int = 1_700_000_000,
    **kw: object,
) -> FlowLog:
    enforced = ["0|__PROFILE__|__PROFILE__.kns.storefront|allow|0"] if enforced is None else enforced
    pending = list(enforced) if pending is None else pending
    base: dict[str, object] = dict(
        start_time=start,
        end_time=start + 300,
        source_ip=None,
        source_name="-",
        source_name_aggr="frontend-864f4fcdfd-*",
        source_namespace="storefront",
        source_type="wep",
        source_port=None,
        source_labels=labels_field({"app": "frontend", "fw-zone": "dmz"}),
        dest_ip=None,
        dest_name="-",
        dest_name_aggr="backend-6b687c8dcb-*",
        dest_namespace="storefront",
        dest_type="wep",
        dest_port=80,
        dest_labels=labels_field({"app": "backend", "fw-zone": "restricted"}),
        proto="tcp",
        action=action,
        reporter=reporter,
        policies={"enforced_policies": enforced, "pending_policies": pending, "all_policies": enforced},
        num_flows=47,
        num_flows_started=47,
        num_flows_completed=40,
        packets_in=282,
        packets_out=239,
        bytes_in=18236,
        bytes_out=52519,
        host="node-1",
    )
    base.update(kw)
    return FlowLog(**base)  # type: ignore[arg-type]


def full_record() -> FlowLog:
    """A level-0 log with every optional field set, including arrays and nulls."""
    return flow(
        source_ip="10.48.0.12",
        source_name="frontend-864f4fcdfd-2hhv4",
        source_port=None,  # ICMP has no ports
        dest_ip="52.1.2.3",
        dest_name="-",
        dest_name_aggr="pub",
        dest_namespace="-",
        dest_type="net",
        dest_port=None,
        dest_labels=None,
        proto="icmp",
        dest_service_namespace="-",
        dest_service_name="-",
        dest_service_port="-",
        dest_service_port_num=None,
        dest_domains=["api.twilio.com", "twilio.com"],
        process_name="/usr/bin/curl",
        num_process_names=1,
        process_id="1234",
        num_process_ids=1,
        process_args=["-s", "https://api.twilio.com"],
        num_process_args=1,
        original_source_ips=["203.0.113.9"],
        num_original_source_ips=1,
        nat_outgoing_ports=[40000, 40001],
        tcp_mean_smooth_rtt=1200,
        http_requests_allowed_in=3,
    )


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "flows.sqlite"


def test_records_round_trip_exactly(db: Path) -> None:
    logs = [full_record(), flow(reporter="dst", source_labels=None, policies={})]
    with FlowStore(db) as store:
        assert store.insert(logs) == 2
        assert store.count() == 2
        got = [store.get(1), store.get(2)]
    assert got[0].to_dict() == logs[0].to_dict()
    assert got[0].to_json() == logs[0].to_json()
    assert got[0].source_port is None and got[0].dest_labels is None and got[0].dest_name == "-"
    assert got[1].source_labels is None


def test_columns_are_calico_fields_with_json_text(db: Path) -> None:
    with FlowStore(db) as store:
        store.insert([full_record()])
        cols = [r[1] for r in store.conn.execute("PRAGMA table_info(flow_logs)")]
        assert cols == ["id", *FIELDS, "source_labels_id", "dest_labels_id", "trace_id", "key_id"]
        row = store.conn.execute("SELECT dest_domains, source_labels, policies FROM flow_logs").fetchone()
        assert row[0] == '["api.twilio.com","twilio.com"]'
        assert row[1] == '{"labels":["app=frontend","fw-zone=dmz"]}'
        assert record_from_row(store.conn.execute("SELECT * FROM flow_logs").fetchone()) == full_record()


def test_policy_hits_rows_match_traces(db: Path) -> None:
    enforced = [
        "0|security|security.pass-to-next|pass|-1",
        "1|default|storefront/default.trusted|allow|2",
    ]
    pending = ["0|security|security.pass-to-next|pass|-1", "1|default|storefront/default.staged:lock|deny|0"]
    with FlowStore(db) as store:
        store.insert([flow("dst", enforced=enforced, pending=pending)])
        rows = store.conn.execute(
            "SELECT flow_log_id, reporter, kind, idx, tier, policy, namespace, action, rule_index, start_time, "
            "num_flows, packets_in, bytes_out FROM policy_hits ORDER BY kind, idx"
        ).fetchall()
    assert [tuple(r) for r in rows] == [
        (1, "dst", "enforced", 0, "security", "security.pass-to-next", None, "pass", -1, 1_700_000_000, 47, 282, 52519),
        (1, "dst", "enforced", 1, "default", "storefront/default.trusted", "storefront", "allow", 2, 1_700_000_000, 47, 282, 52519),
        (1, "dst", "pending", 0, "security", "security.pass-to-next", None, "pass", -1, 1_700_000_000, 47, 282, 52519),
        (1, "dst", "pending", 1, "default", "storefront/default.staged:lock", "storefront", "deny", 0, 1_700_000_000, 47, 282, 52519),
    ]  # fmt: skip


def test_four_field_traces_and_profiles(db: Path) -> None:
    # calico.md §1.3 (a): the oldest format has no rule index (stored as -2, unknown).
    with FlowStore(db) as store:
        store.insert([flow(enforced=["0|__PROFILE__|__PROFILE__.kns.policy-demo|allow"])])
        r = store.conn.execute(
            "SELECT tier, policy, namespace, rule_index FROM policy_hits LIMIT 1"
        ).fetchone()
    assert tuple(r) == ("__PROFILE__", "__PROFILE__.kns.policy-demo", None, -2)


def test_legacy_all_policies_only(db: Path) -> None:
    legacy = {"all_policies": ["0|default|policy-demo/default.access-nginx|allow|0", "1|t|t.staged:x|deny|0"]}
    with FlowStore(db) as store:
        store.insert([flow(policies=legacy)])
        rows = store.conn.execute("SELECT kind, policy FROM policy_hits ORDER BY kind, idx").fetchall()
    assert [tuple(r) for r in rows] == [
        ("enforced", "policy-demo/default.access-nginx"),
        ("pending", "policy-demo/default.access-nginx"),
        ("pending", "t.staged:x"),
    ]


def test_bad_trace_stores_nothing_unless_lenient(db: Path) -> None:
    bad = flow(enforced=["not a trace"])
    with FlowStore(db) as store:
        with pytest.raises(StoreError, match="not a trace"):
            store.insert([flow(), bad])
        assert store.count() == 0
        assert store.insert([flow(), bad], strict=False) == 2
        assert store.skipped_traces == 2  # enforced and pending copies
        assert store.get(2).policies["enforced_policies"] == ["not a trace"]


def test_ids_continue_across_inserts_and_reopen(db: Path) -> None:
    with FlowStore(db) as store:
        store.insert([flow(), flow()])
    with FlowStore(db) as store:
        store.insert([flow(reporter="dst")])
        assert store.get(3).reporter == "dst"
        with pytest.raises(KeyError):
            store.get(4)


def test_time_range_and_rows(db: Path) -> None:
    with FlowStore(db) as store:
        assert store.time_range() is None
        store.insert([flow(start=1000), flow(start=1300), flow(start=1600)])
        assert store.time_range() == (1000, 1900)
        assert [log.start_time for _, log in store.rows(since=1300)] == [1300, 1600]
        assert [i for i, _ in store.rows(until=1600, descending=True)] == [2, 1]
        assert [i for i, _ in store.rows(where_sql="start_time = ?", params=[1600])] == [3]


def test_meta_records_creation(db: Path) -> None:
    with FlowStore(db) as store:
        store.set_meta("scenario", "storefront")
        store.set_meta("seed", 42)
    with FlowStore(db, create=False) as store:
        assert store.get_meta("scenario") == "storefront"
        assert store.get_meta("seed") == "42"
        assert store.get_meta("schema_version") == "4"
        assert store.get_meta("created_at")
        assert store.get_meta("nothing", "x") == "x"


def test_missing_file(db: Path) -> None:
    with pytest.raises(StoreError, match=str(db)):
        FlowStore(db, create=False)
    with pytest.raises(StoreError, match="no such flow store"):
        FlowStore(db, readonly=True)
    assert not db.exists()


def test_not_sqlite(db: Path) -> None:
    db.write_text("start_time,end_time\n1,2\n" * 100)
    with pytest.raises(StoreError, match=f"{db}.*not a SQLite database"):
        FlowStore(db)


def test_other_sqlite_database(db: Path) -> None:
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE notes (x)")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match=f"{db}.*not a desktopviz flow store"):
        FlowStore(db)


@pytest.mark.parametrize(
    ("version", "message"),
    [("5", "newer desktopviz; this version reads schema 4"), ("0", "older")],
)
def test_other_schema_version(db: Path, version: str, message: str) -> None:
    with FlowStore(db) as store:
        store.insert([flow()])
    conn = sqlite3.connect(db)
    conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (version,))
    conn.commit()
    dump = list(conn.iterdump())
    conn.close()
    for readonly in (True, False):
        with pytest.raises(StoreError, match=f"{db}.*schema {version}.*{message}"):
            FlowStore(db, readonly=readonly)
    conn = sqlite3.connect(db)
    assert list(conn.iterdump()) == dump  # refused, not touched
    conn.close()


def test_readonly(db: Path) -> None:
    with FlowStore(db) as store:
        store.insert([flow()])
    with FlowStore(db, readonly=True) as ro:
        assert ro.count() == 1
        with pytest.raises(StoreError, match="read-only"):
            ro.insert([flow()])
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            ro.conn.execute("DELETE FROM flow_data")


def test_reader_sees_writer_commits(db: Path) -> None:
    writer = FlowStore(db)
    reader = FlowStore(db, readonly=True)
    assert reader.count() == 0
    writer.insert([flow(), flow(reporter="dst")])
    assert reader.count() == 2
    assert reader.get(2).reporter == "dst"
    writer.close()
    reader.close()


def test_writer_thread_and_reader_thread(db: Path) -> None:
    FlowStore(db).close()
    done = threading.Event()

    def write() -> None:
        with FlowStore(db) as w:
            for i in range(20):
                w.insert([flow(start=1000 + 300 * i)])
        done.set()

    t = threading.Thread(target=write)
    t.start()
    t.join()
    assert done.is_set()
    with FlowStore(db, readonly=True) as r:
        assert r.count() == 20


def test_folder_and_empty_file(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="folder"):
        FlowStore(tmp_path)
    empty = tmp_path / "empty.sqlite"
    empty.write_bytes(b"")
    with pytest.raises(StoreError, match=f"{empty}.*not a desktopviz flow store"):
        FlowStore(empty, readonly=True)
    with FlowStore(empty) as store:  # an empty file is a new store
        assert store.count() == 0


def test_a_new_file_another_process_creates_meanwhile_is_opened_not_created_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two imports into one new file at once: the second to take the write lock finds the
    schema the first made and opens it (it used to fail: "table label_sets already exists")."""
    db = tmp_path / "new.sqlite"
    real = FlowStore._create_schema

    def racing(self: FlowStore) -> bool:  # the other process wins between the look and the lock
        monkeypatch.setattr(FlowStore, "_create_schema", real)
        FlowStore(self.path).close()
        return real(self)

    monkeypatch.setattr(FlowStore, "_create_schema", racing)
    with FlowStore(db) as store:
        assert store.count() == 0 and store.get_meta("application") == "desktopviz-flowstore"
    code = "import sys; from desktopviz.core.store import FlowStore; FlowStore(sys.argv[1]).close()"
    other = tmp_path / "other.sqlite"
    procs = [subprocess.Popen([sys.executable, "-c", code, str(other)]) for _ in range(4)]
    assert [p.wait(timeout=60) for p in procs] == [0, 0, 0, 0]
    with FlowStore(other, readonly=True) as store:
        assert store.count() == 0
