"""The flow-log table model over a real store: Qt's model contract, paging, sorting, live rows."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import QModelIndex, Qt

from desktopviz.core.filterlang import compile_filter
from desktopviz.core.store import FlowStore
from desktopviz.ui.flow_browser_data import PAGE
from desktopviz.ui.flow_table_model import FlowTableModel, RawRole

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "perf"))
from _synth import iter_logs, make_store  # noqa: E402

N = 10_000


@pytest.fixture(scope="module")
def big_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_store(tmp_path_factory.mktemp("model") / "flows.db", N, seed=3)


@pytest.fixture
def model(qtbot, big_store: Path) -> FlowTableModel:
    m = FlowTableModel()
    m.set_path(str(big_store))
    qtbot.waitUntil(lambda: m.total() is not None, timeout=10_000)
    yield m
    m.shutdown()


def _wait_loaded(qtbot, m: FlowTableModel, row: int) -> None:
    m.data(m.index(row, 0))
    qtbot.waitUntil(lambda: m.is_loaded(row), timeout=10_000)


def test_qtmodeltester_on_a_10000_row_store(qtmodeltester, model: FlowTableModel) -> None:
    assert model.rowCount() == N
    qtmodeltester.check(model, force_py=True)


def test_rows_are_newest_first_and_pages_agree_with_sql(
    qtbot, model: FlowTableModel, big_store: Path
) -> None:
    with FlowStore(big_store, readonly=True) as s:
        expected = [
            r[0] for r in s.conn.execute("SELECT id FROM flow_logs ORDER BY start_time DESC, id DESC")
        ]
    # first rows, a middle page, the very end (read from below), and back in the middle (anchor)
    for row in (0, 1, PAGE - 1, PAGE, N // 2, N - 1, N - PAGE - 3, N // 2 + PAGE + 7, 3 * PAGE + 1):
        _wait_loaded(qtbot, model, row)
        assert model.row_id(row) == expected[row], row


def test_sort_in_sql_on_indexed_columns(qtbot, model: FlowTableModel, big_store: Path) -> None:
    col = model.columns().index("source_namespace")
    model.sort(col, Qt.SortOrder.AscendingOrder)
    _wait_loaded(qtbot, model, 0)
    _wait_loaded(qtbot, model, N - 1)
    first = model.data(model.index(0, col), RawRole)
    last = model.data(model.index(N - 1, col), RawRole)
    with FlowStore(big_store, readonly=True) as s:
        lo, hi = s.conn.execute(
            "SELECT min(source_namespace), max(source_namespace) FROM flow_logs"
        ).fetchone()
    assert (first, last) == (lo, hi)
    # bytes is not indexed: sorting by it is refused and the order stays
    model.sort(model.columns().index("bytes"), Qt.SortOrder.AscendingOrder)
    assert model.sort_column() == ("source_namespace", False)


def test_filter_shows_only_matching_rows(qtbot, model: FlowTableModel) -> None:
    f = compile_filter("action = deny and reporter = dst")
    model.set_query(f.sql, f.params)
    qtbot.waitUntil(lambda: model.total() is not None)
    n = model.total()
    assert 0 < n < N and model.rowCount() == n
    col = model.columns().index("action")
    for row in (0, n - 1):
        _wait_loaded(qtbot, model, row)
        assert model.data(model.index(row, col)) == "deny"
        assert model.data(model.index(row, col), Qt.ItemDataRole.BackgroundRole) is not None


def test_display_is_human_readable_with_raw_tooltips(qtbot, model: FlowTableModel) -> None:
    _wait_loaded(qtbot, model, 0)
    cols = model.columns()
    t = model.index(0, cols.index("start_time"))
    assert model.data(t).startswith("2026-01-") and len(model.data(t)) == 19
    assert model.data(t, Qt.ItemDataRole.ToolTipRole).isdigit()
    b = model.index(0, cols.index("bytes"))
    assert model.data(b, RawRole) == int(model.data(b).replace(",", ""))
    pol = model.index(0, cols.index("policies"))
    assert re.match(r"^\S+ \((allow|deny|pass)\)( · after .+)?$", model.data(pol)), model.data(pol)
    tip = model.data(pol, Qt.ItemDataRole.ToolTipRole).splitlines()
    assert tip[0] == "enforced_policies:" and "|" in tip[1]


def test_new_rows_join_at_the_top_and_selection_follows_its_row(qtbot, tmp_path: Path) -> None:
    path = tmp_path / "live.db"
    logs = list(iter_logs(3 * PAGE, seed=5))
    with FlowStore(path) as w:
        w.insert(logs[: 2 * PAGE])
    m = FlowTableModel()
    assert m.rowCount() == 0
    with qtbot.waitSignal(m.countChanged, timeout=10_000):  # read by the worker
        m.set_path(str(path))
    try:
        assert m.rowCount() == 2 * PAGE
        kept = m.row_id(10)
        assert kept is not None  # the first page came with the count
        persistent = m.index(10, 0)
        from PySide6.QtCore import QPersistentModelIndex

        p = QPersistentModelIndex(persistent)
        with FlowStore(path) as w:
            w.insert(logs[2 * PAGE :])
        with qtbot.waitSignal(m.rowsInserted) as blocker, qtbot.waitSignal(m.refreshed) as answered:
            assert m.refresh()
        assert answered.args == [PAGE]
        assert blocker.args[1] == 0  # inserted at the top (newest first)
        assert m.rowCount() == 3 * PAGE
        assert p.row() == 10 + PAGE
        assert m.row_id(p.row()) == kept  # its page stayed cached, moved down
        assert m.is_loaded(0) and m.is_loaded(PAGE - 1)  # the new rows came with their content
        with qtbot.waitSignal(m.refreshed) as answered:
            m.refresh()
        assert answered.args == [0]
    finally:
        m.shutdown()


def test_every_read_is_the_workers_and_a_row_not_read_yet_shows_a_placeholder(
    qtbot, model: FlowTableModel
) -> None:
    f = compile_filter("reporter = src")
    _wait_loaded(qtbot, model, 0)
    with qtbot.waitSignal(model.busyChanged, check_params_cb=lambda busy: not busy, timeout=10_000):
        model.set_query(f.sql, f.params)
        assert model.total() is None  # nothing read on this thread: the worker counts...
        assert model.rowCount() == N and model.data(model.index(0, 0)) != "…"  # ...the old rows stay
    assert model.total() > PAGE and model.rowCount() == model.total()
    assert model.data(model.index(0, 0)) != "…"  # the first page came with the query
    far = model.total() - 1
    assert model.data(model.index(far, 0)) == "…"  # not read yet: a placeholder, no blocking
    qtbot.waitUntil(lambda: model.is_loaded(far), timeout=10_000)
    assert model.data(model.index(far, 0)) != "…"


def test_no_store_means_no_rows(qtbot) -> None:
    m = FlowTableModel()
    assert m.rowCount() == 0 and m.data(m.index(0, 0)) is None
    assert m.rowCount(QModelIndex()) == 0
    m.shutdown()


def test_rows_stay_right_while_batches_keep_arriving_on_top(qtbot, tmp_path: Path) -> None:
    """A live run adds a few dozen rows at a time: rows already read keep their content as
    they move down, the new ones on top read right, and every row agrees with SQL."""
    path = tmp_path / "live.db"
    logs = list(iter_logs(2 * PAGE + 5 * 37, seed=9))
    with FlowStore(path) as w:
        w.insert(logs[: 2 * PAGE])
    m = FlowTableModel()
    m.set_path(str(path))

    def check(rows: list[int]) -> None:
        with FlowStore(path, readonly=True) as s:
            expected = [
                r[0] for r in s.conn.execute("SELECT id FROM flow_logs ORDER BY start_time DESC, id DESC")
            ]
        assert m.rowCount() == len(expected)
        for row in rows:
            _wait_loaded(qtbot, m, row)
            assert m.row_id(row) == expected[row], row

    try:
        qtbot.waitUntil(lambda: m.total() is not None, timeout=10_000)
        check([0, 5, PAGE - 1, PAGE, 2 * PAGE - 1])
        done = 2 * PAGE
        for _ in range(5):
            with FlowStore(path) as w:
                w.insert(logs[done : done + 37])
            done += 37
            with qtbot.waitSignal(m.refreshed) as answered:
                m.refresh()
            assert answered.args == [37]
            check([0, 1, 36, 37, 60, PAGE - 1, PAGE + 40, m.rowCount() - 1])
    finally:
        m.shutdown()


def _ids(path: Path, order: str) -> list[int]:
    with FlowStore(path, readonly=True) as s:
        return [r[0] for r in s.conn.execute(f"SELECT id FROM flow_logs ORDER BY {order}")]


def test_in_another_order_the_rows_shown_stay_until_read_again(qtbot, tmp_path: Path) -> None:
    """Sorted by namespace, new rows land anywhere: the rows on screen keep showing (no "…"
    flashing at every refresh of a live run) and are replaced by the right ones once read."""
    path = tmp_path / "live.db"
    logs = list(iter_logs(PAGE + 100, seed=11))
    with FlowStore(path) as w:
        w.insert(logs[:PAGE])
    m = FlowTableModel()
    try:
        col = m.columns().index("source_namespace")
        with qtbot.waitSignal(m.countChanged, timeout=10_000):
            m.set_path(str(path))
        with qtbot.waitSignal(m.countChanged, timeout=10_000):
            m.sort(col, Qt.SortOrder.AscendingOrder)
        order = "source_namespace, start_time, id"
        for row in (0, 50):
            _wait_loaded(qtbot, m, row)
        with FlowStore(path) as w:
            w.insert(logs[PAGE:])
        with qtbot.waitSignal(m.refreshed) as answered:
            m.refresh()
        assert answered.args == [100] and m.rowCount() == PAGE + 100
        assert not m.is_loaded(0)  # stale: to be read again...
        assert m.data(m.index(0, 0)) != "…"  # ...while its old rows stay on screen
        expected = _ids(path, order)
        for row in (0, 50, PAGE + 99):
            _wait_loaded(qtbot, m, row)
            assert m.row_id(row) == expected[row], row
    finally:
        m.shutdown()


def test_oldest_first_new_rows_join_at_the_bottom(qtbot, tmp_path: Path) -> None:
    path = tmp_path / "live.db"
    logs = list(iter_logs(PAGE + 40, seed=13))
    with FlowStore(path) as w:
        w.insert(logs[: PAGE - 10])
    m = FlowTableModel()
    try:
        with qtbot.waitSignal(m.countChanged, timeout=10_000):
            m.set_path(str(path))
        with qtbot.waitSignal(m.countChanged, timeout=10_000):
            m.sort(0, Qt.SortOrder.AscendingOrder)  # start_time, oldest first
        assert m.newest_first() is False
        _wait_loaded(qtbot, m, PAGE - 11)
        with FlowStore(path) as w:
            w.insert(logs[PAGE - 10 :])
        with qtbot.waitSignal(m.rowsInserted) as inserted, qtbot.waitSignal(m.refreshed):
            m.refresh()
        assert inserted.args[1] == PAGE - 10  # at the bottom
        expected = _ids(path, "start_time, id")
        for row in (0, PAGE - 11, PAGE - 10, PAGE + 39):
            _wait_loaded(qtbot, m, row)
            assert m.row_id(row) == expected[row], row
    finally:
        m.shutdown()


def test_a_refresh_asked_while_one_is_read_follows_it(qtbot, tmp_path: Path) -> None:
    path = tmp_path / "live.db"
    logs = list(iter_logs(60, seed=17))
    with FlowStore(path) as w:
        w.insert(logs[:20])
    m = FlowTableModel()
    try:
        with qtbot.waitSignal(m.countChanged, timeout=10_000):
            m.set_path(str(path))
        answers: list[int] = []
        m.refreshed.connect(answers.append)
        with FlowStore(path) as w:
            w.insert(logs[20:40])
        assert m.refresh()
        with FlowStore(path) as w:
            w.insert(logs[40:])
        assert m.refresh()  # the first is with the worker: this one runs after it
        qtbot.waitUntil(lambda: m.rowCount() == 60, timeout=10_000)
        assert sum(answers) == 40  # no rows counted twice
        assert [m.row_id(r) for r in (0, 59)] == [_ids(path, "start_time DESC, id DESC")[r] for r in (0, 59)]
    finally:
        m.shutdown()
