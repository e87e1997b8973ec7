"""Integer-keyed rollups: flow_rollup and hit_rollup read as before (views with the old
columns), each rollup key is stored once however many inserts add to it, and a rolled-back
insert leaves no group id behind that a later insert would reuse."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from test_store_rollup import oracle, stored, values, varied_logs

from desktopviz.core import store_rollup
from desktopviz.core.sql_rows import RowInsert
from desktopviz.core.store import FlowStore
from desktopviz.core.store_groups import GroupIndex

FLOW_ROLLUP = (
    "level bucket source_namespace source_name_aggr source_type dest_namespace dest_name_aggr dest_type "
    "action reporter source_labels_id dest_labels_id logs num_flows packets_in packets_out bytes_in "
    "bytes_out min_start max_end"
).split()
HIT_ROLLUP = (
    "level bucket kind policy tier reporter rule_index action namespace hits num_flows packets_in "
    "packets_out bytes_in bytes_out"
).split()


def _columns(c: sqlite3.Connection, name: str) -> list[str]:
    return [r[1] for r in c.execute(f"PRAGMA table_info({name})")]


def test_the_rollup_views_have_the_old_tables_columns(tmp_path: Path) -> None:
    with FlowStore(tmp_path / "f.sqlite") as store:
        c = store.conn
        kinds = dict(c.execute("SELECT name, type FROM sqlite_master WHERE name LIKE '%rollup'").fetchall())
        assert kinds == {"flow_rollup": "view", "hit_rollup": "view", "series_rollup": "table"}
        assert _columns(c, "flow_rollup") == FLOW_ROLLUP
        assert _columns(c, "hit_rollup") == HIT_ROLLUP


def test_each_rollup_key_is_stored_once_across_inserts(tmp_path: Path) -> None:
    logs = [values(x) for x in varied_logs(600, seed=3)]
    with FlowStore(tmp_path / "f.sqlite") as store:
        c = store.conn
        for i in range(0, len(logs), 100):
            store.insert(logs[i : i + 100], strict=False)
        assert stored(c) == oracle(c)
        for name, keys in (("flow", FLOW_ROLLUP[2:12]), ("hit", HIT_ROLLUP[2:8])):
            distinct = c.execute(
                f"SELECT count(*) FROM (SELECT DISTINCT {', '.join(keys)} FROM {name}_rollup)"
            )
            assert c.execute(f"SELECT count(*) FROM {name}_groups").fetchone()[0] == distinct.fetchone()[0]
        # the same logs again, one insert: no new group, every sum doubled
        groups = c.execute("SELECT count(*) FROM flow_groups").fetchone()[0]
        before = stored(c)
        store.insert(logs, strict=False)
        assert c.execute("SELECT count(*) FROM flow_groups").fetchone()[0] == groups
        assert stored(c)["flow_rollup"] == sorted(
            ((*r[:12], *(2 * v for v in r[12:18]), *r[18:]) for r in before["flow_rollup"]), key=repr
        )
        assert stored(c) == oracle(c)


def test_an_insert_rolled_back_after_its_groups_leaves_no_stale_id(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The groups of a failed insert are gone with it; the next insert makes them again
    instead of reusing the cached ids of rows that no longer exist."""
    logs = [values(x) for x in varied_logs(300, seed=8)]
    with FlowStore(tmp_path / "f.sqlite") as store:
        store.insert(logs[:100], strict=False)
        monkeypatch.setattr(store_rollup, "_SERIES_SQL", RowInsert("INSERT INTO no_such_table", 6))
        with pytest.raises(sqlite3.OperationalError):
            store.insert(logs[100:], strict=False)  # after the flow and hit sums, new groups included
        monkeypatch.undo()
        assert store.count() == 100
        store.insert(logs[100:], strict=False)
        c = store.conn
        assert stored(c) == oracle(c)
        orphans = c.execute(
            "SELECT count(*) FROM flow_sums WHERE group_id NOT IN (SELECT id FROM flow_groups)"
        ).fetchone()[0]
        assert orphans == 0


def test_group_index_values_compare_as_stored(tmp_path: Path) -> None:
    """A number in a TEXT key column is stored as text: 5 finds the group of '5', 5.0 another."""
    with FlowStore(tmp_path / "f.sqlite") as store:
        c = store.conn
        index = GroupIndex(c, "hit_groups", ("kind", "policy", "tier", "reporter", "rule_index", "action"))
        c.execute("BEGIN")
        a = index.id_of(("enforced", "p", "t", "src", 0, "allow"))
        b = index.id_of(("enforced", "p", "t", "src", 0, "allow"))
        five = index.id_of(("enforced", "5", "t", "src", 0, "allow"))
        other = GroupIndex(c, "hit_groups", ("kind", "policy", "tier", "reporter", "rule_index", "action"))
        assert other.id_of(("enforced", 5, "t", "src", 0, "allow")) == five  # found through UNIQUE
        assert index.id_of(("enforced", 5.0, "t", "src", 0, "allow")) not in (five, a)
        assert a == b != five
        c.execute("ROLLBACK")
        index.reset()
        c.execute("BEGIN")
        assert index.id_of(("enforced", "p", "t", "src", 0, "allow")) == a  # made again
        assert c.execute("SELECT count(*) FROM hit_groups").fetchone()[0] == 1
        c.execute("ROLLBACK")
