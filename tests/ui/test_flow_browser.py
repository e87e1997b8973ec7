"""The flow-log browser as a user drives it, over flow logs from the real simulator (storefront
scenario with the rogue pod deployed)."""

from __future__ import annotations

import csv
import json
import sqlite3
from pathlib import Path

import pytest
from PySide6.QtCore import QModelIndex

from desktopviz.core import paths
from desktopviz.core.scenario import load_scenario
from desktopviz.core.simulator import Simulator
from desktopviz.core.store import FlowStore
from desktopviz.ui.flow_browser import FlowBrowser
from desktopviz.ui.flow_table_model import RawRole

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints")  # the offscreen platform


@pytest.fixture(scope="module")
def sim_logs() -> list:
    sim = Simulator(load_scenario(paths.default_scenario()), seed=7)
    logs = sim.advance(300)
    sim.fire("deploy-rogue")
    logs += sim.advance(240)
    return logs


@pytest.fixture(scope="module")
def sim_db(tmp_path_factory: pytest.TempPathFactory, sim_logs: list) -> Path:
    path = tmp_path_factory.mktemp("browser") / "flows.db"
    with FlowStore(path) as s:
        s.insert(sim_logs)
    return path


@pytest.fixture
def browser(qtbot, sim_db: Path) -> FlowBrowser:
    b = FlowBrowser()
    qtbot.addWidget(b)
    b.resize(1400, 800)
    b.set_store(str(sim_db))
    b.show()
    qtbot.waitUntil(lambda: b.model.total() is not None)  # the worker read the first page and count
    yield b
    b.shutdown()


def all_values(qtbot, b: FlowBrowser, column: str) -> list:
    m = b.model
    qtbot.waitUntil(lambda: m.total() is not None)
    col = m.columns().index(column)
    out = []
    for row in range(m.rowCount()):
        m.data(m.index(row, col))
        qtbot.waitUntil(lambda r=row: m.is_loaded(r))
        out.append(m.data(m.index(row, col), RawRole))
    return out


def count_sql(db: Path, where: str, args: tuple = ()) -> int:
    with FlowStore(db, readonly=True) as s:
        return int(s.conn.execute(f"SELECT count(*) FROM flow_logs WHERE {where}", args).fetchone()[0])


def cell(qtbot, b: FlowBrowser, column: str, where: str) -> QModelIndex:
    """The first cell of a column holding a value (pages loaded as needed)."""
    m = b.model
    qtbot.waitUntil(lambda: m.total() is not None)
    col = m.columns().index(column)
    for row in range(m.rowCount()):
        idx = m.index(row, col)
        m.data(idx)
        qtbot.waitUntil(lambda r=row: m.is_loaded(r))
        if m.data(idx, RawRole) == where:
            return idx
    raise AssertionError(f"no {column} = {where}")


def first(qtbot, b: FlowBrowser, column: str) -> QModelIndex:
    """The first row's cell of a column, once its page is loaded."""
    b.model.data(b.model.index(0, 0))
    qtbot.waitUntil(lambda: b.model.is_loaded(0))
    return b.model.index(0, b.model.columns().index(column))


def row_id(qtbot, b: FlowBrowser, row: int) -> int:
    b.model.row_values(row)
    qtbot.waitUntil(lambda: b.model.is_loaded(row))
    return b.model.row_id(row)


def live_browser(qtbot, path: Path, logs: list, *, follow: bool) -> FlowBrowser:
    """A shown browser on a new store holding `logs` (more are inserted while it runs)."""
    with FlowStore(path) as w:
        w.insert(logs)
    b = FlowBrowser()
    qtbot.addWidget(b)
    b.resize(1200, 700)
    b.follow_button.setChecked(follow)
    b.set_store(str(path))
    b.show()
    return b


def trigger(menu, *path: str) -> None:
    for name in path[:-1]:
        menu = next(a.menu() for a in menu.actions() if a.text() == name)
    next(a for a in menu.actions() if a.text() == path[-1]).trigger()


def test_filter_for_value_adds_a_pill_and_shows_only_that_namespace(
    qtbot, browser: FlowBrowser, sim_db
) -> None:
    total = browser.model.total()
    assert total == count_sql(sim_db, "1")
    namespaces = set(all_values(qtbot, browser, "source_namespace"))
    assert {"storefront", "kube-system"} <= namespaces or len(namespaces) > 1
    trigger(browser.cell_menu(cell(qtbot, browser, "source_namespace", "storefront")), "Filter for value")
    assert [p.caption() for p in browser.pills.pills] == ["source_namespace: storefront"]
    assert browser.filter_text() == "source_namespace = storefront"
    shown = all_values(qtbot, browser, "source_namespace")
    assert set(shown) == {"storefront"}
    assert len(shown) == count_sql(sim_db, "source_namespace = 'storefront'") < total
    assert "match the filter" in browser.count_label.text()


def test_filter_out_value_then_invert_disable_and_remove_the_pill(
    qtbot, browser: FlowBrowser, sim_db
) -> None:
    all_rows = browser.model.total()
    trigger(browser.cell_menu(cell(qtbot, browser, "source_namespace", "storefront")), "Filter out value")
    assert browser.pills.pills[0].caption() == "NOT source_namespace: storefront"
    assert "storefront" not in set(all_values(qtbot, browser, "source_namespace"))
    browser.pills.invert(0)
    assert set(all_values(qtbot, browser, "source_namespace")) == {"storefront"}
    browser.pills.toggle(0)  # disabled: every row again
    assert browser.filter_text() == ""
    qtbot.waitUntil(lambda: browser.model.total() == all_rows)
    browser.pills.toggle(0)
    browser.pills.remove(0)
    assert browser.pills.pills == []
    qtbot.waitUntil(lambda: browser.model.total() == all_rows)


def test_pills_and_the_query_bar_combine_with_and(qtbot, browser: FlowBrowser, sim_db) -> None:
    browser.add_pill("source_namespace", "storefront")
    browser.set_filter("action = deny")
    assert browser.filter_text() == "action = deny and source_namespace = storefront"
    n = count_sql(sim_db, "action = 'deny' AND source_namespace = 'storefront'")
    qtbot.waitUntil(lambda: browser.model.total() is not None)  # a slow count goes to the worker
    assert n > 0 and browser.model.total() == n


def test_wireshark_apply_as_filter_combinations_edit_the_query(qtbot, browser: FlowBrowser) -> None:
    browser.set_filter("reporter = dst")
    idx = cell(qtbot, browser, "action", "allow")
    trigger(browser.cell_menu(idx), "Apply as filter", "…and not Selected")
    assert browser.query_bar.applied_text() == "reporter = dst and not action = allow"
    assert set(all_values(qtbot, browser, "action")) == {"deny"}
    trigger(browser.cell_menu(first(qtbot, browser, "action")), "Apply as filter", "…or Selected")
    assert browser.query_bar.applied_text() == "(reporter = dst and not action = allow) or action = deny"
    trigger(browser.cell_menu(first(qtbot, browser, "action")), "Apply as filter", "Selected")
    assert browser.query_bar.applied_text() == "action = deny"


def test_rogue_flow_detail_shows_the_default_trusted_deny(qtbot, browser: FlowBrowser) -> None:
    browser.set_filter("source_name_aggr contains rogue and action = deny and dest_labels.fw-zone = trusted")
    qtbot.waitUntil(lambda: (browser.model.total() or 0) > 0)
    first(qtbot, browser, "action")  # the row is on screen (its page may come from the worker)
    browser.select_row(0)
    d = browser.detail
    assert "rogue" in d.title.text() and "deny at dst" in d.title.text()
    assert ("storefront/default.trusted", "deny") in d.trace_actions("enforced")
    doc = json.loads(d.json.toPlainText())
    assert doc["action"] == "deny" and doc["reporter"] == "dst"
    assert any("storefront/default.trusted|deny" in e for e in doc["policies"]["enforced_policies"])
    row = d.trace_names("enforced").index("storefront/default.trusted")
    with qtbot.waitSignal(browser.policyActivated) as blocker:
        d.enforced.cellClicked.emit(row, 2)
    assert blocker.args == ["storefront/default.trusted"]
    labels = [d.fields.topLevelItem(i) for i in range(d.fields.topLevelItemCount())]
    src_labels = next(i for i in labels if i.text(0) == "source_labels")
    assert "source_labels.app" in [src_labels.child(j).text(0) for j in range(src_labels.childCount())]


def test_policy_filter_finds_the_denied_flows(qtbot, browser: FlowBrowser, sim_db) -> None:
    browser.set_filter('policy = "storefront/default.trusted" and policy_action = deny')
    actions = set(all_values(qtbot, browser, "action"))
    assert actions == {"deny"}
    assert set(all_values(qtbot, browser, "dest_name_aggr")) and browser.model.total() > 0


def test_typing_an_invalid_filter_marks_the_error_and_keeps_the_rows(qtbot, browser: FlowBrowser) -> None:
    before = browser.model.total()
    edit = browser.query_bar.edit
    qtbot.keyClicks(edit, "action = deny and sourc_namespace = x")
    err = browser.query_bar.error()
    assert err is not None and err.column == 18 and "did you mean source_namespace" in err.message
    assert browser.query_bar.message.isVisible() and "column 19" in browser.query_bar.message.text()
    browser.query_bar.apply()
    assert browser.model.total() == before  # not applied
    # a red underline under the unknown field
    img = edit.grab().toImage()
    x = int(edit.x_of(err.column + 3))
    reds = [img.pixelColor(x, y) for y in range(img.height())]
    assert any(c.red() > 180 and c.green() < 100 and c.blue() < 100 for c in reds)
    edit.clear()
    qtbot.keyClicks(edit, "action = deny")
    assert browser.query_bar.error() is None and not browser.query_bar.message.isVisible()


def test_time_range_from_outside_filters_without_echo(qtbot, browser: FlowBrowser, sim_db) -> None:
    with FlowStore(sim_db, readonly=True) as s:
        lo, hi = s.time_range()
    since, until = lo + 120, lo + 240
    emitted = []
    browser.timeRangeChanged.connect(lambda a, b: emitted.append((a, b)))
    browser.set_time_range(since, until)
    assert emitted == []
    times = all_values(qtbot, browser, "start_time")
    assert times and all(since <= t < until for t in times)
    assert len(times) == count_sql(sim_db, "start_time >= ? AND start_time < ?", (since, until))
    browser.set_time_range(None, None)
    assert browser.time_picker.preset() is None


def test_picker_and_chart_drag_emit_time_range(qtbot, browser: FlowBrowser, sim_db) -> None:
    with FlowStore(sim_db, readonly=True) as s:
        lo, hi = s.time_range()
    with qtbot.waitSignal(browser.timeRangeChanged) as blocker:
        browser.time_picker.set_preset(15 * 60)
    assert blocker.args == [hi - 900, None]  # counted back from the newest flow log
    qtbot.waitUntil(lambda: browser.last_chart is not None and bool(browser.strip._buckets))
    with qtbot.waitSignal(browser.timeRangeChanged) as blocker:
        browser.strip.select_range(lo + 60, lo + 180)  # what a finished drag does
    since, until = blocker.args
    assert abs(since - (lo + 60)) <= 1 and abs(until - (lo + 181)) <= 1
    times = all_values(qtbot, browser, "start_time")
    assert times and all(since <= t < until for t in times)


def test_charts_count_what_the_table_shows_and_top_denied_filters(qtbot, browser: FlowBrowser) -> None:
    browser.set_filter("source_namespace = storefront")
    qtbot.waitUntil(
        lambda: browser.last_chart is not None and browser._filter_sql in ("", browser._filter_sql)
    )
    qtbot.waitUntil(lambda: sum(browser.strip.totals()) == browser.model.total())
    top = browser.top.rows()
    assert any("rogue" in r for r in top)
    with qtbot.waitSignal(browser.pills.changed):
        tree = browser.top.tree
        item = tree.topLevelItem(0).child(0)
        tree.itemClicked.emit(item, 0)
    assert browser.pills.pills[-1].label.startswith("source: storefront/rogue")
    assert set(all_values(qtbot, browser, "action")) <= {"allow", "deny"}


def test_visualizer_selection_becomes_a_replaceable_pill(qtbot, browser: FlowBrowser) -> None:
    browser.set_selection({"kind": "namespace", "namespace": "kube-system"})
    assert [p.label for p in browser.pills.pills] == ["selected: kube-system"]
    browser.set_selection(
        {"kind": "flow", "namespace": "storefront", "name": "rogue-*", "dest": "storefront:x-*"}
    )
    assert len(browser.pills.pills) == 1
    qtbot.waitUntil(lambda: browser.model.total() == 0)
    browser.set_selection(None)
    assert browser.pills.pills == []
    qtbot.waitUntil(lambda: (browser.model.total() or 0) > 0)


def test_column_choice_saved_filters_and_history_persist(qtbot, browser: FlowBrowser, sim_db) -> None:
    browser.set_columns([*browser.model.columns(), "host"])
    browser.set_filter("action = deny")
    browser.save_filter("denied", "action = deny")
    other = FlowBrowser()
    qtbot.addWidget(other)
    try:
        assert other.model.columns()[-1] == "host"
        texts = [a.text() for a in other.saved_menu.actions()]
        assert "denied" in texts and "action = deny" in texts
    finally:
        other.shutdown()


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_export_writes_every_filtered_row(
    qtbot, browser: FlowBrowser, sim_db, tmp_path: Path, fmt: str
) -> None:
    browser.set_filter("reporter = src")
    qtbot.waitUntil(lambda: browser.model.total() is not None)
    n = browser.model.total()
    out = tmp_path / f"out.{fmt}"
    job = browser.export_to(out, fmt, dialog=False)
    with qtbot.waitSignal(job.finished, timeout=20_000) as blocker:
        pass
    assert blocker.args == [n, str(out)]
    if fmt == "csv":
        rows = list(csv.DictReader(out.open(newline="")))
        assert len(rows) == n and {r["reporter"] for r in rows} == {"src"}
    else:
        docs = [json.loads(line) for line in out.read_text().splitlines()]
        assert len(docs) == n and all(d["reporter"] == "src" for d in docs)


def test_cancelled_export_leaves_no_file(qtbot, sim_db, tmp_path: Path) -> None:
    from desktopviz.ui.flow_browser_export import ExportJob

    out = tmp_path / "x.csv"
    job = ExportJob(str(sim_db), str(out), "csv", "", ())
    job.cancel()
    with qtbot.waitSignal(job.finished) as blocker:
        job.run()
    assert blocker.args[0] == -1 and "cancelled" in blocker.args[1]
    assert not out.exists()


def test_new_rows_keep_the_users_rows_in_view_unless_following(qtbot, tmp_path: Path, sim_logs) -> None:
    path, half = tmp_path / "live.db", len(sim_logs) // 2
    b = live_browser(qtbot, path, sim_logs[:half], follow=False)
    try:
        qtbot.waitUntil(lambda: b.model.total() is not None)
        b.table.scrollTo(b.model.index(40, 0))
        qtbot.waitUntil(lambda: b.table.indexAt(b.table.viewport().rect().topLeft()).row() > 0)
        top = b.table.indexAt(b.table.viewport().rect().topLeft())
        top_id = row_id(qtbot, b, top.row())
        selected_id = row_id(qtbot, b, top.row() + 2)
        b.select_row(top.row() + 2)
        with FlowStore(path) as w:
            w.insert(sim_logs[half:])
        with qtbot.waitSignal(b.model.refreshed):  # read by the worker
            b.refresh()
        assert b.model.total() == len(sim_logs)
        new_top = b.table.indexAt(b.table.viewport().rect().topLeft())
        assert row_id(qtbot, b, new_top.row()) == top_id
        assert row_id(qtbot, b, b.table.currentIndex().row()) == selected_id
        b.follow_button.setChecked(True)
        assert b.table.indexAt(b.table.viewport().rect().topLeft()).row() == 0
    finally:
        b.shutdown()


def test_no_store_and_a_bad_file_are_handled(qtbot, tmp_path: Path) -> None:
    b = FlowBrowser()
    qtbot.addWidget(b)
    try:
        assert b.model.rowCount() == 0 and "No flow database" in b.count_label.text()
        bad = tmp_path / "not.db"
        bad.write_text("hello")
        with qtbot.waitSignal(b.error) as blocker:
            b.set_store(str(bad))
        assert "not" in blocker.args[0].lower()
        assert b.model.rowCount() == 0
    finally:
        b.shutdown()


def test_a_table_filled_by_the_worker_stays_at_the_newest_rows(qtbot, sim_db) -> None:
    """On a busy machine the first page and the count come from the worker: the rows then
    arrive in an empty table, which must stay at its top (it once scrolled to the oldest)."""
    b = FlowBrowser()
    qtbot.addWidget(b)
    b.resize(1200, 700)
    b.follow_button.setChecked(False)
    b.show()
    b.set_store(str(sim_db))
    try:
        qtbot.waitUntil(lambda: (b.model.total() or 0) > 0 and b.model.is_loaded(0))
        assert b.table.verticalScrollBar().value() == 0
        newest = sqlite3.connect(sim_db).execute("SELECT max(start_time) FROM flow_logs").fetchone()[0]
        assert b.model.data(b.model.index(0, b.model.columns().index("start_time")), RawRole) == newest
    finally:
        b.shutdown()


def test_following_shows_the_new_rows_at_once_with_their_content(qtbot, tmp_path: Path, sim_logs) -> None:
    """Follow on: each refresh brings the newest rows into view already read (the newest
    rows come with the refresh's answer: no "…" row while a simulation runs)."""
    path, half = tmp_path / "live.db", len(sim_logs) // 2
    b = live_browser(qtbot, path, sim_logs[:half], follow=True)
    try:
        qtbot.waitUntil(lambda: b.model.total() is not None)
        with FlowStore(path) as w:
            w.insert(sim_logs[half:])
        with qtbot.waitSignal(b.model.refreshed):
            b.refresh()
        assert b.table.indexAt(b.table.viewport().rect().topLeft()).row() == 0
        visible = range(b.table.rowAt(b.table.viewport().height() - 1) or 10)
        assert all(b.model.is_loaded(r) for r in visible)
        newest = sqlite3.connect(path).execute("SELECT max(id) FROM flow_logs").fetchone()[0]
        assert b.model.row_id(0) == newest
    finally:
        b.shutdown()


def test_a_last_minutes_range_counts_back_from_the_newest_data(qtbot, sim_db) -> None:
    """The newest data time is read with the first page (not on the GUI thread): a "Last 15
    minutes" range chosen before the store opened applies to the store's own clock."""
    b = FlowBrowser()
    qtbot.addWidget(b)
    b.time_picker.set_preset(15 * 60)
    b.set_store(str(sim_db))
    try:
        qtbot.waitUntil(lambda: b.time_range()[0] is not None)
        newest = sqlite3.connect(sim_db).execute("SELECT max(end_time) FROM flow_logs").fetchone()[0]
        assert b.time_range() == (newest - 15 * 60, None)
        qtbot.waitUntil(lambda: b.model.total() is not None)
        since = newest - 15 * 60
        assert b.model.total() == count_sql(sim_db, "start_time >= ?", (since,))
    finally:
        b.shutdown()


def test_a_new_filter_replaces_the_rows_without_emptying_the_table(
    qtbot, browser: FlowBrowser, sim_db
) -> None:
    """The worker reads the new filter's first page while the old rows stay on screen: the
    table never shows zero rows in between (it would flash at every refresh when following a
    "Last …" range), then shows only matching rows and their count."""
    sizes: list[int] = []
    browser.model.modelReset.connect(lambda: sizes.append(browser.model.rowCount()))
    before = browser.model.rowCount()
    browser.set_filter("action = deny")
    assert browser.model.rowCount() == before  # still the old rows while the worker reads
    qtbot.waitUntil(lambda: browser.model.total() is not None)
    assert sizes and 0 not in sizes  # replaced at once, never emptied first
    n = count_sql(sim_db, "action = 'deny'")
    assert browser.model.rowCount() == n and f"{n:,} flow logs match the filter" in browser.count_label.text()
    assert set(all_values(qtbot, browser, "action")) == {"deny"}
