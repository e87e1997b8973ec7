"""Imported runs in the store: the simulator's logs survive export + import unchanged, an
interrupted import leaves a consistent store, and the Policy Board finds the imported policies."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from desktopviz.core.board_traces import layout_from_store
from desktopviz.core.export import write_jsonl
from desktopviz.core.import_apply import KeyedWriter
from desktopviz.core.import_db import ImportWriter, import_history, stored_digests
from desktopviz.core.importers import import_files
from desktopviz.core.paths import default_scenario
from desktopviz.core.queries_policy import policy_metrics
from desktopviz.core.scenario import load_scenario
from desktopviz.core.simulator import Simulator
from desktopviz.core.store import FlowStore, record_from_row

DATA = Path(__file__).parent / "data" / "import"


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A storefront run with the rogue pod, stored, and exported as Calico JSON lines."""
    tmp = tmp_path_factory.mktemp("roundtrip")
    sim = Simulator(load_scenario(default_scenario()), seed=11)
    logs = sim.advance(120)
    sim.fire("deploy-rogue")
    logs += sim.advance(240)
    logs += sim.flush()
    db = tmp / "sim.sqlite"
    with FlowStore(db) as store:
        store.insert(logs)
        with (tmp / "flows.log").open("w") as fp:
            write_jsonl(store, fp)
    return db, tmp / "flows.log"


def table(db: Path, sql: str) -> list[tuple]:
    with FlowStore(db, readonly=True) as store:
        return [tuple(r) for r in store.conn.execute(sql)]


def records(db: Path) -> list:
    with FlowStore(db, readonly=True) as store:
        return [
            record_from_row(r) for r in store.conn.execute("SELECT * FROM flow_logs ORDER BY start_time, id")
        ]


def indexes(db: Path, tables: str = "NOT LIKE 'import%'") -> list[tuple]:
    """The store's indexes (by default not those of the importer's own tables)."""
    sql = f"SELECT name, tbl_name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name {tables} ORDER BY name"
    return table(db, sql)


@pytest.mark.parametrize("bulk", [False, True], ids=["insert", "bulk"])
def test_simulated_logs_round_trip_through_calico_json(
    simulated: tuple[Path, Path], tmp_path: Path, bulk: bool
) -> None:
    sim_db, flows_log = simulated
    db = tmp_path / "imported.sqlite"
    summary = import_files([flows_log], db, batch=700, bulk=bulk)
    original = records(sim_db)
    assert any(log.source_name_aggr.startswith("rogue-") for log in original)
    assert summary.issue_count == 0 and summary.bulk == bulk
    assert summary.total("imported") == len(original) > 1000
    assert records(db) == original
    hits_sql = "SELECT reporter, kind, idx, tier, policy, namespace, action, rule_index, start_time, num_flows FROM policy_hits ORDER BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10"
    assert table(db, hits_sql) == table(sim_db, hits_sql)
    for rollup, keys in (("hit_rollup", 8), ("flow_rollup", 12), ("series_rollup", 3), ("label_sets", 1)):
        rollup_sql = f"SELECT * FROM {rollup} ORDER BY {', '.join(map(str, range(1, keys + 1)))}"
        assert table(db, rollup_sql) == table(sim_db, rollup_sql), rollup
    assert indexes(db) == indexes(sim_db)  # a bulk load rebuilds exactly the store's indexes
    assert [i[0] for i in indexes(db, "LIKE 'import%'")] == [
        "ix_import_digest_sets_time"
    ]  # and keeps the importer's


def test_imported_store_is_marked_and_opens_as_usual(simulated: tuple[Path, Path], tmp_path: Path) -> None:
    db = tmp_path / "imported.sqlite"
    import_files([simulated[1]], db)
    with FlowStore(db, readonly=True) as store:  # the schema check tolerates the import tables
        assert store.get_meta("source") == "import"
        assert store.count() > 0
        history = import_history(store)
    assert [(h["status"], h["format"], h["path"]) for h in history] == [("done", "calico", str(simulated[1]))]


def test_cancelled_import_is_consistent_and_resumes(simulated: tuple[Path, Path], tmp_path: Path) -> None:
    db = tmp_path / "imported.sqlite"
    batches = []

    def cancel() -> bool:
        batches.append(1)
        return len(batches) >= 2

    first = import_files([simulated[1]], db, batch=300, cancel=cancel)
    assert first.cancelled and first.files[0].status == "cancelled"
    with sqlite3.connect(db) as conn:
        stored = conn.execute("SELECT count(*) FROM flow_logs").fetchone()[0]
        seen = len(stored_digests(conn))  # (rows, or a version-3 store's sets)
        recorded = conn.execute("SELECT status, imported FROM imports").fetchall()
    assert stored == seen == 600
    assert recorded == [("cancelled", 600)]
    rest = import_files([simulated[1]], db)
    assert (rest.total("duplicates"), rest.total("imported")) == (600, len(records(simulated[0])) - 600)
    assert sorted(map(repr, records(db))) == sorted(map(repr, records(simulated[0])))


def test_interrupt_inside_a_batch_rolls_it_back(
    simulated: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C while the third batch is being written (its logs already inserted, not committed)."""
    db = tmp_path / "imported.sqlite"
    real_rows = ImportWriter._rows
    calls = []

    def rows(self, logs, hashes):  # noqa: ANN001, ANN202
        calls.append(1)
        yield from real_rows(self, logs, hashes)
        if len(calls) == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(ImportWriter, "_rows", rows)
    summary = import_files([simulated[1]], db, batch=250, keyed=False)
    assert summary.cancelled
    with sqlite3.connect(db) as conn:
        counts = [conn.execute("SELECT count(*) FROM flow_logs").fetchone()[0], len(stored_digests(conn))]
        hits = conn.execute("SELECT count(DISTINCT flow_log_id) FROM policy_hits").fetchone()[0]
        imported = conn.execute("SELECT imported FROM imports").fetchone()[0]
    assert counts == [500, 500]
    assert hits <= 500 and imported == 500


def test_interrupt_inside_a_keyed_batch_rolls_it_back(
    simulated: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same with keyed batches (Calico lines read here): Ctrl-C once the third batch's
    rows, digests and rollups are written, before its commit."""
    db = tmp_path / "imported.sqlite"
    real_insert = KeyedWriter._insert
    calls = []

    def insert(self, b):  # noqa: ANN001, ANN202
        calls.append(1)
        real_insert(self, b)
        if len(calls) == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(KeyedWriter, "_insert", insert)
    summary = import_files([simulated[1]], db, batch=250)
    assert summary.cancelled and len(calls) == 3
    with sqlite3.connect(db) as conn:
        counts = [conn.execute("SELECT count(*) FROM flow_logs").fetchone()[0], len(stored_digests(conn))]
        imported = conn.execute("SELECT imported FROM imports").fetchone()[0]
        sums = conn.execute("SELECT sum(logs) FROM flow_rollup WHERE level = 3600").fetchone()[0]
    assert counts == [500, 500] and imported == 500 and sums == 500
    rest = import_files([simulated[1]], db)  # carries on: the committed batches are duplicates
    assert (rest.total("duplicates"), rest.total("imported")) == (500, len(records(simulated[0])) - 500)
    assert sorted(map(repr, records(db))) == sorted(map(repr, records(simulated[0])))


def test_policy_board_shows_imported_tiers_and_policies(tmp_path: Path) -> None:
    db = tmp_path / "imported.sqlite"
    import_files([DATA / "calico_v5.jsonl", DATA / "calico_kinds.jsonl"], db)
    with FlowStore(db, readonly=True) as store:
        layout = layout_from_store(store.conn)
        metrics = policy_metrics(store.conn)
    tiers = [t.name for t in layout.tiers]
    assert {"security", "tier1", "kube-baseline", "default"} <= set(tiers)
    assert tiers[-1] == "default"
    cards = {p.key: p for p in layout.policies()}
    assert cards["storefront/tier1.trusted"].kind == "Calico"
    assert cards["security.pci-whitelist"].kind == "Global"
    assert cards["dev/knp.default.allow-nginx"].kind == "Kubernetes"
    assert cards["storefront/tier1.staged:lockdown"].staged
    assert metrics["storefront/default.backend"].enforced.allowed.connections == 47
    assert metrics["storefront/default.staged:lockdown"].pending.denied.connections == 47


def test_policy_board_of_a_hubble_import(tmp_path: Path) -> None:
    db = tmp_path / "hubble.sqlite"
    import_files([DATA / "hubble.jsonl"], db)
    with FlowStore(db, readonly=True) as store:
        layout = layout_from_store(store.conn)
        metrics = policy_metrics(store.conn)
    assert [t.name for t in layout.tiers] == ["default"]
    names = {p.key: (p.name, p.kind) for p in layout.policies()}
    assert names["storefront/default.allow-backend"] == ("allow-backend", "Calico")
    assert names["storefront/knp.default.backend-ingress"] == ("backend-ingress", "Kubernetes")
    assert metrics["storefront/default.deny-rogue"].enforced.denied.packets_in == 2
