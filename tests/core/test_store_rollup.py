"""The rollups an insert writes equal the sums of the stored rows, however the logs arrive
(records or value tuples, shared or separate objects, one batch or many, in a bulk load or
not), and the rows themselves are stored exactly when most of a batch's columns are null."""

from __future__ import annotations

import random
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from test_store import flow, full_record

from desktopviz.core.flowlog import FIELDS, FlowLog, labels_field
from desktopviz.core.store import FlowStore, StoreError
from desktopviz.core.store_bulk import bulk_load
from desktopviz.core.store_rollup import COUNTERS, FINEST, FLOW_KEY, ROLLUP_LEVELS

# -- an independent oracle: the rollups summed by SQLite from flow_rows and trace_hits ----------


def _floor(expr: str, level: int) -> str:
    return f"((({expr}) / {level} - (({expr}) % {level} < 0)) * {level})"  # Python's // * level


def oracle(conn: sqlite3.Connection) -> dict[str, list[tuple[Any, ...]]]:
    start = "CAST(f.start_time AS INTEGER)"
    keys = [f"ifnull(f.{k}, '-')" for k in FLOW_KEY] + [
        "ifnull(f.source_labels_id, 0)",
        "ifnull(f.dest_labels_id, 0)",
    ]
    sums = ", ".join(f"ifnull(sum(f.{c}), 0)" for c in COUNTERS)
    out: dict[str, list[tuple[Any, ...]]] = {"flow_rollup": [], "hit_rollup": [], "series_rollup": []}
    for level in ROLLUP_LEVELS:
        out["flow_rollup"] += conn.execute(
            f"SELECT {level}, {_floor(start, level)} AS b, {', '.join(keys)}, count(*), {sums}, min({start}), "
            f"max(CAST(f.end_time AS INTEGER)) FROM flow_rows AS f GROUP BY b, {', '.join(keys)}"
        ).fetchall()
        out["hit_rollup"] += conn.execute(
            f"SELECT {level}, {_floor(start, level)} AS b, h.kind, h.policy, h.tier, f.reporter, h.rule_index, "
            f"h.action, min(h.namespace), count(*), {sums} FROM flow_rows AS f "
            "JOIN trace_hits AS h ON h.trace_id = f.trace_id "
            "GROUP BY b, h.kind, h.policy, h.tier, f.reporter, h.rule_index, h.action"
        ).fetchall()
    out["series_rollup"] = conn.execute(
        f"SELECT {_floor(start, FINEST)} AS b, ifnull(f.action, '-') AS a, ifnull(f.reporter, '-') AS r, count(*), "
        "ifnull(sum(f.num_flows), 0), ifnull(sum(f.bytes_in), 0) + ifnull(sum(f.bytes_out), 0) "
        "FROM flow_rows AS f GROUP BY b, a, r"
    ).fetchall()
    return {t: sorted(map(tuple, rows), key=repr) for t, rows in out.items()}


def stored(conn: sqlite3.Connection) -> dict[str, list[tuple[Any, ...]]]:
    return {
        t: sorted(map(tuple, conn.execute(f"SELECT * FROM {t}").fetchall()), key=repr)
        for t in ("flow_rollup", "hit_rollup", "series_rollup")
    }


# -- varied logs --------------------------------------------------------------------------------

TRACES = [
    {"enforced_policies": ["0|security|security.pass-to-next|pass|-1", "1|default|storefront/default.web|allow|0"],
     "pending_policies": ["0|security|security.pass-to-next|pass|-1", "1|default|storefront/default.staged:x|deny|0"],
     "all_policies": []},
    {"enforced_policies": ["0|default|storefront/default.web|allow|0", "1|default|storefront/default.web|allow|0"],
     "pending_policies": [], "all_policies": []},  # one entry twice: counted twice
    {"all_policies": ["0|default|policy-demo/default.access|allow|1", "1|t|t.staged:y|deny|0"]},  # legacy
    {"enforced_policies": ["0|__PROFILE__|__PROFILE__.kns.storefront|allow|0"], "pending_policies": None,
     "all_policies": None},
    {},  # empty: a trace without hits
    {"enforced_policies": ["not a trace", "0|default|storefront/default.web|deny|-1"], "pending_policies": []},
]  # fmt: skip
LABELS = [labels_field({"app": "frontend"}), labels_field({"app": "backend", "v": "2"}), None, {"labels": []}]


def varied_logs(n: int, seed: int = 7) -> list[FlowLog]:
    rng = random.Random(seed)
    logs = []
    for i in range(n):
        start = rng.choice(
            [1_700_000_000, 1_700_000_299, 1_700_003_600, 1_700_090_000, -301, 0]
        ) + rng.randrange(900)
        kw: dict[str, Any] = dict(
            start=start,
            end_time=start + rng.choice([0, 5, 300]),
            reporter=rng.choice(["src", "dst"]),
            action=rng.choice(["allow", "deny"]),
            policies=rng.choice(TRACES) if rng.random() < 0.9 else None,  # read back as {}
            source_labels=rng.choice(LABELS),
            dest_labels=rng.choice(LABELS),
            source_namespace=rng.choice(["storefront", "-", "catalog"]),
            dest_name_aggr=rng.choice(["backend-*", "pub", "api-*"]),
            num_flows=rng.randrange(50),
            bytes_in=rng.randrange(10**6),
            packets_out=rng.randrange(1000),
        )
        if i % 97 == 0:
            return_value = full_record()
            kw.update(dest_domains=return_value.dest_domains, nat_outgoing_ports=[40000 + i])
        logs.append(flow(**kw))
    return logs


def read_back(log: FlowLog) -> FlowLog:
    """What the store gives back for a log (null policies read as {}, as always)."""
    return log if log.policies is not None else FlowLog(**{**log.to_dict(), "policies": {}})


def values(log: FlowLog) -> tuple[Any, ...]:
    return tuple(getattr(log, n) for n in FIELDS)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "flows.sqlite"


@pytest.mark.parametrize("form", ["records", "tuples"])
@pytest.mark.parametrize("batch", [1, 7, 5000])
def test_rollups_are_the_sums_of_the_rows(db: Path, form: str, batch: int) -> None:
    logs = varied_logs(600 if batch > 1 else 120)
    items: list[Any] = logs if form == "records" else [values(x) for x in logs]
    with FlowStore(db) as store:
        for i in range(0, len(items), batch):
            store.insert(items[i : i + batch], strict=False)
        assert stored(store.conn) == oracle(store.conn)
        assert [store.get(i + 1) for i in range(len(logs))] == [read_back(x) for x in logs]


def test_same_rows_and_rollups_in_a_bulk_load_and_with_shared_objects(tmp_path: Path) -> None:
    logs = varied_logs(900, seed=11)
    # an importer hands over the same objects for repeated values: share them across rows
    pool: dict[str, Any] = {}
    shared = []
    for log in logs:
        v = list(values(log))
        for i in range(len(FIELDS)):
            if isinstance(v[i], (dict, list)):
                v[i] = pool.setdefault(repr(v[i]), v[i])
        shared.append(tuple(v))
    with FlowStore(tmp_path / "plain.sqlite") as plain:
        for i in range(0, len(logs), 100):
            plain.insert(logs[i : i + 100], strict=False)
        want = {
            t: plain.conn.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall()
            for t in ("label_sets", "traces")
        }
        want_rollups = stored(plain.conn)
        want_rows = [tuple(r) for r in plain.conn.execute("SELECT * FROM flow_logs ORDER BY id")]
    with FlowStore(tmp_path / "bulk.sqlite") as bulk:
        with bulk_load(bulk):
            for i in range(0, len(shared), 250):
                bulk.insert(shared[i : i + 250], strict=False)
        assert {t: bulk.conn.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall() for t in want} == want
        assert stored(bulk.conn) == want_rollups == oracle(bulk.conn)
        assert [tuple(r) for r in bulk.conn.execute("SELECT * FROM flow_logs ORDER BY id")] == want_rows


def test_a_value_changed_between_inserts_is_stored_as_it_is_then(db: Path) -> None:
    labels = {"labels": ["app=a"]}
    base = values(flow())
    i = FIELDS.index("source_labels")
    with FlowStore(db) as store:
        store.insert([base[:i] + (labels,) + base[i + 1 :]] * 3)
        labels["labels"].append("v=2")  # the same object, mutated
        store.insert([base[:i] + (labels,) + base[i + 1 :]] * 2)
        got = [store.get(k).source_labels for k in range(1, 6)]
    assert got == [{"labels": ["app=a"]}] * 3 + [{"labels": ["app=a", "v=2"]}] * 2


@pytest.mark.parametrize(
    ("field", "first", "second"),
    [
        ("policies", {"enforced_policies": None, "pending_policies": [], "all_policies": []},
         {"enforced_policies": [], "pending_policies": [], "all_policies": []}),
        ("source_labels", {"labels": [1]}, {"labels": [True]}),
    ],
)  # fmt: skip
def test_values_that_compare_equal_keep_their_own_text(db: Path, field: str, first: Any, second: Any) -> None:
    """The store's caches of label sets and traces tell null from [] and 1 from True, so
    each log reads back the value it was stored with."""
    i = FIELDS.index(field)
    base = values(flow())
    with FlowStore(db) as store:
        store.insert([base[:i] + (first,) + base[i + 1 :]])
        store.insert([base[:i] + (second,) + base[i + 1 :]])
        got = [getattr(store.get(k), field) for k in (1, 2)]
    assert got == [first, second]


def test_a_column_set_in_one_row_of_a_batch(db: Path) -> None:
    """Columns null in a whole batch are not bound; one row that has them keeps them."""
    logs = [flow(start=1_700_000_000 + k) for k in range(50)]
    logs[31] = full_record()
    with FlowStore(db) as store:
        store.insert(logs)
        store.insert([flow(source_ip="10.0.0.1", process_args=[])])
        assert [store.get(k + 1) for k in range(51)] == [*logs, flow(source_ip="10.0.0.1", process_args=[])]


def test_a_refused_trace_names_its_log_and_stores_nothing(db: Path) -> None:
    logs = [values(flow(start=1_700_000_000 + k)) for k in range(10)]
    logs[6] = values(flow(start=1_700_000_777, enforced=["nope"], reporter="dst"))
    with FlowStore(db) as store:
        with pytest.raises(
            StoreError, match=r"flow log starting 1700000777 \(dst frontend-864f4fcdfd-\* -> "
        ):
            store.insert(logs)
        assert store.count() == 0
        assert stored(store.conn) == {"flow_rollup": [], "hit_rollup": [], "series_rollup": []}
        assert store.insert(logs, strict=False) == 10
        assert stored(store.conn) == oracle(store.conn)


def test_a_load_killed_mid_batch_keeps_rollups_equal_to_its_rows(db: Path) -> None:
    """Rollups are written in each batch's transaction: a process killed in the middle of a
    bulk load (indexes dropped, a batch half read) leaves committed batches with their sums."""
    code = (
        "import os, sys\n"
        f"sys.path[:0] = [{str(Path(__file__).parent)!r}, {str(Path(__file__).parents[2])!r}]\n"
        "from test_store_rollup import values, varied_logs\n"
        "from desktopviz.core.store import FlowStore\n"
        "from desktopviz.core.store_bulk import bulk_load\n"
        "logs = [values(x) for x in varied_logs(700, seed=5)]\n"
        "def dying():\n"
        "    yield from logs[600:650]\n"
        "    os._exit(9)  # killed while the third batch is being read\n"
        "store = FlowStore(sys.argv[1])\n"
        "with bulk_load(store):\n"
        "    store.insert(logs[:300], strict=False)\n"
        "    store.insert(logs[300:600], strict=False)\n"
        "    store.insert(dying(), strict=False)\n"
    )
    assert subprocess.run([sys.executable, "-c", code, str(db)], check=False).returncode == 9
    with FlowStore(db) as store:  # a writable open puts the dropped indexes back
        assert store.count() == 600
        assert stored(store.conn) == oracle(store.conn)
        assert [store.get(i + 1) for i in range(600)] == [
            read_back(x) for x in varied_logs(700, seed=5)[:600]
        ]


def typed_rows(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
    """Every flow_rows value with its SQLite storage class."""
    cols = [r[1] for r in conn.execute("PRAGMA table_info(flow_rows)")]
    sql = f"SELECT {', '.join(f'typeof({c}), {c}' for c in cols)} FROM flow_rows ORDER BY id"
    return [tuple(r) for r in conn.execute(sql)]


@pytest.mark.parametrize(
    ("field", "value", "odd"),
    [
        ("process_name", 'o\'neil -- ; "x"', None),
        ("process_name", "café", None),
        ("dest_service_port", 5, 5.0),  # a text column: 5 and 5.0 are stored as '5' and '5.0'
        ("tcp_mean_mss", 7, True),
        ("tcp_mean_mss", 2**62 + 1, None),
        ("tcp_mean_mss", -(2**63), None),
        ("host", "", None),
    ],
)
def test_a_batch_stores_what_single_inserts_store(tmp_path: Path, field: str, value: Any, odd: Any) -> None:
    """The column-wise batch insert stores each value with the storage class and text one
    bound value gets (values of one column in every row but one, or all)."""
    i = FIELDS.index(field)
    base = [values(flow(start=1_700_000_000 + k)) for k in range(200)]
    rows = [r[:i] + (value,) + r[i + 1 :] for r in base]
    if odd is not None:
        rows[150] = rows[150][:i] + (odd,) + rows[150][i + 1 :]
    with FlowStore(tmp_path / "batch.sqlite") as batch, FlowStore(tmp_path / "single.sqlite") as single:
        batch.insert(rows)
        for r in rows:  # one row per insert: every value bound
            single.insert([r])
        assert typed_rows(batch.conn) == typed_rows(single.conn)
        assert stored(batch.conn) == stored(single.conn)


def test_an_integer_out_of_sqlite_range_is_refused_in_a_batch(db: Path) -> None:
    i = FIELDS.index("tcp_lost_packets")
    rows = [values(flow(start=1_700_000_000 + k)) for k in range(100)]
    rows = [r[:i] + (2**63,) + r[i + 1 :] for r in rows]
    with FlowStore(db) as store:
        with pytest.raises(OverflowError):
            store.insert(rows)
        assert store.count() == 0
