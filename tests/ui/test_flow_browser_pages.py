"""The flow-log browser's pages on schema 3: whichever way a page is read (walking the time
index, or listing a rare match through the key index; from the top, from the bottom, from an
anchor), the user sees exactly the rows, in the order, that a plain query over flow_logs gives."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from desktopviz.core import paths, queries_pages
from desktopviz.core.filterlang import compile_filter
from desktopviz.core.queries import count_rows, flow_rows
from desktopviz.core.scenario import load_scenario
from desktopviz.core.simulator import Simulator
from desktopviz.core.store import COLUMNS, FlowStore
from desktopviz.ui import flow_browser_data as data

FILTERS = (
    "",
    "source_namespace = storefront",
    "action = deny and reporter = dst",
    "dest_labels.app = frontend",
    "not source_namespace = storefront",
    "namespace = storefront and bytes > 500",
    "source_name_aggr = nobody or num_flows > 1",
    "not (namespace = storefront and packets_in > 3)",
    "policy_action = allow and rule = 0 and reporter = src",
    "dest_port = 9999",
)


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    sim = Simulator(load_scenario(paths.default_scenario()), seed=3)
    logs = sim.advance(300)
    sim.fire("deploy-rogue")
    logs += sim.advance(120)
    path = tmp_path_factory.mktemp("pages") / "flows.db"
    with FlowStore(path) as s:
        s.insert(logs)
    return path


@pytest.fixture
def conn(db: Path) -> sqlite3.Connection:
    c = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
    yield c
    c.close()


@pytest.fixture(params=["walk", "key index"])
def mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every page with a key test walks the time index, or every one goes through the key index."""
    walk = request.param == "walk"
    monkeypatch.setattr(queries_pages, "RARE_ROWS", 0 if walk else 10**9)
    monkeypatch.setattr(queries_pages, "KEY_US" if walk else "WALK_US", 1e12)
    queries_pages._cache.clear()
    return request.param


def expected(conn: sqlite3.Connection, q: data.Query) -> list[tuple[Any, ...]]:
    sql = f"SELECT {', '.join(COLUMNS)} FROM flow_logs {q.where_clause()} {q.order()}"
    return [tuple(r) for r in conn.execute(sql, q.args())]


@pytest.mark.parametrize("text", FILTERS)
def test_pages_show_the_rows_of_a_plain_query(conn: sqlite3.Connection, mode: str, text: str) -> None:
    f = compile_filter(text, now=0)
    max_id = conn.execute("SELECT max(id) FROM flow_data").fetchone()[0]
    q = data.Query(f.sql, f.params, max_id=max_id - 7)  # a snapshot: the newest rows left out
    want = expected(conn, q)
    assert data.count(conn, q) == len(want)
    size = 50
    down = []
    anchors = data.Anchors()
    for start in range(0, len(want), size):  # scrolling down: each page from the last anchor
        page = data.fetch_page(conn, q, start, min(size, len(want) - start), None, anchors)
        if page:
            anchors.add(start + len(page) - 1, data.row_key(q, page[-1]))
        down += page
    assert down == want
    if want:  # the last page read from below, a middle page with no anchor near it
        last = data.fetch_page(
            conn, q, max(0, len(want) - size), min(size, len(want)), len(want), data.Anchors()
        )
        assert last == want[-size:]
        mid = len(want) // 2
        assert data.fetch_page(conn, q, mid, 10, len(want), data.Anchors()) == want[mid : mid + 10]


@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize(
    ("sort", "text"),
    [("source_namespace", "reporter = dst"), ("action", ""), ("dest_name_aggr", "bytes > 100")],
)
def test_sorted_by_a_key_column(
    conn: sqlite3.Connection, mode: str, sort: str, text: str, descending: bool
) -> None:
    f = compile_filter(text, now=0)
    q = data.Query(f.sql, f.params, sort=sort, descending=descending, max_id=10**9)
    want = expected(conn, q)
    size = 60
    anchors = data.Anchors()
    down = []
    for start in range(0, len(want), size):
        page = data.fetch_page(conn, q, start, min(size, len(want) - start), None, anchors)
        if page:
            anchors.add(start + len(page) - 1, data.row_key(q, page[-1]))
        down += page
    assert down == want
    mid = len(want) // 2  # jumped to: whole values skipped by counting them
    assert data.fetch_page(conn, q, mid, size, None, data.Anchors()) == want[mid : mid + size]
    last = data.fetch_page(conn, q, len(want) - size, size, len(want), data.Anchors())
    assert last == want[-size:]


def test_time_range_and_filter_in_one_condition(conn: sqlite3.Connection, mode: str) -> None:
    """As the browser sends it: the time picker's range, then the compiled filter."""
    lo, hi = data.time_bounds(conn)
    f = compile_filter("action = allow", now=hi)
    q = data.Query(f"start_time >= ? AND start_time < ? AND {f.sql}", (lo + 60, hi - 60, *f.params))
    want = expected(conn, q)
    assert data.count(conn, q) == len(want) > 0
    assert data.fetch_page(conn, q, 0, 30, None, data.Anchors()) == want[:30]


@pytest.mark.parametrize("where", ["action = ? AND source_namespace = ?", "num_flows > ? AND reporter = ?"])
def test_hand_written_conditions(db: Path, mode: str, where: str) -> None:
    """queries.flow_rows / count_rows take hand-written SQL over flow_logs columns."""
    params = ["allow", "storefront"] if "action" in where else [1, "dst"]
    with FlowStore(db, readonly=True) as s:
        want = s.conn.execute(
            f"SELECT id FROM flow_logs WHERE {where} ORDER BY start_time DESC, id DESC", params
        ).fetchall()
        assert count_rows(s, where, params) == len(want) > 0
        assert [r.id for r in flow_rows(s, where, params, limit=25, offset=5)] == [w[0] for w in want[5:30]]


def test_a_walk_reads_the_time_index_and_sorts_only_the_page(conn: sqlite3.Connection) -> None:
    queries_pages._cache.clear()
    f = compile_filter("source_namespace = storefront", now=0)
    q = data.Query(f.sql, f.params, max_id=10**9)
    with pytest.MonkeyPatch.context() as mp:  # as on a large store: many rows per key
        mp.setattr(queries_pages, "RARE_ROWS", 0)
        mp.setattr(queries_pages, "KEY_US", 1e12)
        plan = data.plan_page(q, 0, 256, None, data.Anchors(), conn)
    steps = [r[3] for r in conn.execute(f"EXPLAIN QUERY PLAN {plan.sql}", plan.args)]
    assert any("ix_flow_data_time" in s for s in steps), steps
    assert not any("TEMP B-TREE" in s for s in steps), steps


def test_a_narrow_match_goes_through_the_key_index(conn: sqlite3.Connection) -> None:
    queries_pages._cache.clear()
    f = compile_filter("action = deny and reporter = dst", now=0)
    q = data.Query(f.sql, f.params, max_id=10**9)
    plan = data.plan_page(q, 0, 256, None, data.Anchors(), conn)
    steps = [r[3] for r in conn.execute(f"EXPLAIN QUERY PLAN {plan.sql}", plan.args)]
    assert any("ix_flow_data_key" in s for s in steps), steps


def test_which_groups_of_key_tests_can_use_the_key_index() -> None:
    def groups(text: str) -> list[str]:
        f = compile_filter(text, now=0)
        return [g[0] for g in queries_pages.key_groups(f"start_time >= ? AND ({f.sql}) AND +id <= ?")]

    assert groups("source_namespace = storefront and bytes > 5") == ["(source_namespace = ?)"]
    assert groups("source_namespace = storefront or bytes > 5") == []  # an OR: the time index
    assert groups("not (source_namespace = storefront and bytes > 5)") == []
