"""The main window on the real storefront scenario and simulator: what a user of the lab
does (watch traffic, pause, speed up, deploy the rogue pod, open files) and what lands in
the flow database."""

from __future__ import annotations

import csv
import sqlite3
from pathlib import Path

import pytest

from desktopviz.ui.main_window import MainWindow
from desktopviz.ui.sim_controller import MAX_SPEED, running_threads

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints")


def query(db: str | Path, sql: str, *args) -> int:
    con = sqlite3.connect(str(db))
    try:
        return int(con.execute(sql, args).fetchone()[0] or 0)
    finally:
        con.close()


def stored(db) -> int:
    return query(db, "SELECT count(*) FROM flow_logs")


@pytest.fixture
def window(qtbot):
    w = MainWindow()
    qtbot.addWidget(w)
    w.show()
    yield w
    w.close()


@pytest.fixture
def storefront(window, qtbot, storefront_path):
    """The window simulating storefront as fast as possible."""
    with qtbot.waitSignal(window.store_changed, check_params_cb=bool, timeout=20_000):
        assert window.open_scenario(storefront_path, speed=MAX_SPEED)
    qtbot.waitUntil(lambda: window.controller.last is not None, timeout=20_000)
    return window


def test_storefront_traffic_reaches_the_store_and_every_panel(storefront, qtbot):
    w = storefront
    db = w.controller.db_path
    assert Path(db).parent == Path(w.controller.db_path).parent  # a file in the data folder
    qtbot.waitUntil(lambda: stored(db) > 0, timeout=10_000)
    qtbot.waitUntil(lambda: w.flows.model.rowCount() > 0, timeout=10_000)
    qtbot.waitUntil(lambda: len(w.board.layout_.tiers) >= 3 and bool(w.board.metrics), timeout=10_000)
    tiers = [t.name for t in w.board.layout_.tiers]
    assert tiers[:3] == ["security", "platform", "default"]  # evaluation order
    qtbot.waitUntil(lambda: len(w.visualizer.shown_flows()) > 0, timeout=10_000)
    assert "flow logs stored" in w.status_stored.text()
    assert "storefront" in w.windowTitle()


def test_pause_stops_the_store_and_resume_continues(storefront, qtbot):
    w = storefront
    ctl = w.controller
    db = ctl.db_path
    with qtbot.waitSignal(ctl.state_changed, check_params_cb=lambda r, s: not r, timeout=10_000):
        w.play_action.trigger()
    count, clock = stored(db), ctl.sim_time
    with qtbot.waitSignal(ctl.state_changed, timeout=10_000):  # a full round trip to the worker
        w.speed_actions[60.0].trigger()
    assert stored(db) == count and ctl.sim_time == clock
    assert ctl.speed == 60.0
    with qtbot.waitSignal(ctl.state_changed, check_params_cb=lambda r, s: r, timeout=10_000):
        w.play_action.trigger()
    qtbot.waitUntil(lambda: ctl.sim_time > clock, timeout=10_000)


def test_speed_changes_take_effect(window, qtbot, storefront_path):
    with qtbot.waitSignal(window.store_changed, check_params_cb=bool, timeout=20_000):
        window.open_scenario(storefront_path, speed=1.0)
    ctl = window.controller
    start = ctl.scenario.settings.start_time
    qtbot.waitUntil(lambda: ctl.sim_time > start, timeout=10_000)
    assert ctl.speed == 1.0 and ctl.sim_time - start < 60  # 1x: about one second per second
    window.speed_actions[MAX_SPEED].trigger()
    qtbot.waitUntil(lambda: ctl.sim_time - start > 600, timeout=20_000)  # ten minutes in moments


def test_deploy_rogue_pod_from_the_menu_leads_to_denied_flow_logs(storefront, qtbot):
    w = storefront
    db = w.controller.db_path
    acts = {a.text(): a for a in w.menus.sim_menu.actions()}
    assert "Deploy rogue pod" in acts
    rogue = "SELECT count(*) FROM flow_logs WHERE action = 'deny' AND source_name_aggr LIKE 'rogue-%'"
    assert query(db, rogue) == 0
    with qtbot.waitSignal(w.controller.event_fired, timeout=10_000):
        acts["Deploy rogue pod"].trigger()
    qtbot.waitUntil(lambda: query(db, rogue) > 0, timeout=20_000)


def test_broken_scenario_shows_the_error_and_the_session_keeps_running(
    storefront, qtbot, tmp_path, shown_messages
):
    w = storefront
    ctl = w.controller
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        "apiVersion: desktopviz/v1\nkind: Scenario\nmetadata:\n  name: broken\nspec:\n"
        "  traffic:\n    - from: {workload: nowhere/x}\n      to: {workload: nowhere/y}\n"
    )
    assert w.open_path(broken) is False
    level, title, text = shown_messages[-1]
    assert level == "error" and "broken.yaml:7" in text and "spec.traffic[0].from" in text
    assert w.controller is ctl and ctl.is_alive()
    total = ctl.last.total
    qtbot.waitUntil(lambda: ctl.last.total > total, timeout=10_000)
    assert "storefront" in w.windowTitle()


def test_closing_during_a_fast_run_loses_no_interval(qtbot, storefront_path):
    w = MainWindow()
    qtbot.addWidget(w)
    w.show()
    with qtbot.waitSignal(w.store_changed, check_params_cb=bool, timeout=20_000):
        w.open_scenario(storefront_path, speed=MAX_SPEED)
    ctl = w.controller
    qtbot.waitUntil(lambda: ctl.last is not None and ctl.last.total > 500, timeout=30_000)
    results = []
    ctl.stopped.connect(results.append)
    db = ctl.db_path
    w.close()
    assert not running_threads()
    qtbot.waitUntil(lambda: bool(results), timeout=5000)
    final = results[0]
    assert stored(db) == final.total
    assert query(db, "SELECT max(end_time) FROM flow_logs") == int(final.sim_time)
    # Whole intervals, one after the other, none missing.
    ends = sqlite3.connect(db).execute("SELECT DISTINCT end_time FROM flow_logs ORDER BY 1").fetchall()
    steps = {b[0] - a[0] for a, b in zip(ends, ends[1:], strict=False)}
    assert steps <= {15} | {int(final.sim_time) - ends[-2][0]}


def test_a_finished_run_reopens_as_a_stored_run_and_exports_csv(qtbot, storefront_path, tmp_path):
    w = MainWindow()
    qtbot.addWidget(w)
    with qtbot.waitSignal(w.store_changed, check_params_cb=bool, timeout=20_000):
        w.open_scenario(storefront_path, speed=MAX_SPEED)
    qtbot.waitUntil(lambda: w.controller.last is not None and w.controller.last.total > 100, timeout=20_000)
    db = w.controller.db_path
    w.close()
    n = stored(db)
    w2 = MainWindow()
    qtbot.addWidget(w2)
    assert w2.open_path(db)
    assert w2.controller is None and not w2.play_action.isEnabled()
    w2.refresh_now()  # the stored run's figures are read by a worker
    qtbot.waitUntil(lambda: f"{n:,} flow logs stored" in w2.status_stored.text(), timeout=5000)
    out = tmp_path / "logs.csv"
    with qtbot.waitSignal(w2.menus.exported, timeout=20_000) as blocker:
        w2.menus.start_csv_export(db, str(out))
    assert blocker.args == [str(out), n]
    qtbot.waitUntil(lambda: w2.menus.export_csv_action.isEnabled(), timeout=5000)
    with out.open(newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0][:3] == ["start_time", "end_time", "source_ip"] and len(rows) == n + 1
    w2.close()


def test_screenshot_export_of_a_panel(storefront, tmp_path):
    from desktopviz.ui.snapshot import save_widget

    for name in ("window", "board"):
        png = save_widget(storefront.panel(name), tmp_path / f"{name}.png")
        assert png.stat().st_size > 1000
    svg = save_widget(storefront.panel("flows"), tmp_path / "flows.svg")
    assert svg.read_text(encoding="utf-8").lstrip().startswith("<?xml")


def test_views_talk_to_each_other(storefront, qtbot):
    """A policy named in one view opens on the board; the board's "show flows" filters the
    flow logs; a selected flow log marks its policies on the board."""
    w = storefront
    with qtbot.waitSignal(w.controller.state_changed, check_params_cb=lambda r, s: not r, timeout=10_000):
        w.play_action.trigger()  # paused, as a user inspecting flows would
    qtbot.waitUntil(lambda: "storefront/default.trusted" in w.board.card_widgets, timeout=10_000)
    w.visualizer.policyActivated.emit("storefront/default.trusted")
    qtbot.waitUntil(lambda: w.board.pages.currentIndex() == 1, timeout=10_000)
    assert w.board.selected_policy == "storefront/default.trusted"
    w.board.showFlows.emit("action = allow")
    assert w.flows.filter_text() == "action = allow"
    w.board.close_policy()
    qtbot.waitUntil(lambda: w.flows.model.rowCount() > 0, timeout=10_000)
    # The flow browser reports the selected row's flow log id; its policies get marked.
    flow_id = query(w.store_path, "SELECT min(id) FROM flow_logs WHERE policies LIKE '%default.trusted%'")
    w.flows.flowSelected.emit(flow_id)
    assert "storefront/default.trusted" in w.board.highlighted
    w.flows.flowSelected.emit(None)
    assert not w.board.highlighted


def test_a_closed_dock_catches_up_when_it_is_shown_again(storefront, qtbot):
    """A closed dock does not re-read the store while the run goes on; shown again, it shows
    everything stored so far."""
    w = storefront
    ctl = w.controller
    qtbot.waitUntil(lambda: w.flows.model.total() is not None and w.flows.model.total() > 0, timeout=10_000)
    w.flows_dock.close()
    seen = w.flows.model.total()
    db = ctl.db_path
    with qtbot.waitSignal(w.data_refreshed, timeout=10_000):
        pass
    qtbot.waitUntil(lambda: stored(db) > seen, timeout=10_000)
    with qtbot.waitSignal(w.data_refreshed, timeout=10_000):
        pass
    assert w.flows.model.total() == seen  # hidden: not refreshed
    with qtbot.waitSignal(ctl.state_changed, check_params_cb=lambda r, s: not r, timeout=10_000):
        w.play_action.trigger()
    w.flows_dock.show()
    qtbot.waitUntil(lambda: w.flows.model.total() == stored(db), timeout=10_000)
