"""The main window driven by a small fake simulator (fast, deterministic) writing into a real
flow store: what a user sees and what ends up in the database."""

from __future__ import annotations

import sqlite3

import pytest

from desktopviz.ui.main_window import MainWindow
from desktopviz.ui.sim_controller import MAX_SPEED, running_threads

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints", "does not support raise")


def stored(path) -> int:
    db = sqlite3.connect(str(path))
    try:
        return int(db.execute("SELECT count(*) FROM flow_logs").fetchone()[0])
    finally:
        db.close()


@pytest.fixture
def window(qtbot, fakes):
    w = MainWindow(sim_factory=lambda sc, seed: fakes.Simulator(sc, seed))
    qtbot.addWidget(w)
    w.show()
    yield w
    w.close()


def start(window, qtbot, scenario, tmp_path, speed=MAX_SPEED):
    with qtbot.waitSignal(window.store_changed, check_params_cb=bool, timeout=5000):
        window.start_simulation(scenario, "fake.yaml", db_path=tmp_path / "run.db", speed=speed)
    return tmp_path / "run.db"


def test_flow_logs_arrive_in_the_store_and_the_views(window, qtbot, fake_scenario, tmp_path):
    db = start(window, qtbot, fake_scenario, tmp_path)
    qtbot.waitUntil(lambda: window.flows.model.rowCount() > 0, timeout=5000)
    assert stored(db) > 0
    qtbot.waitUntil(lambda: "flow logs stored" in window.status_stored.text(), timeout=5000)
    assert window.windowTitle().startswith("fake")


def test_pause_resume_and_speed_from_the_toolbar(window, qtbot, fake_scenario, tmp_path):
    db = start(window, qtbot, fake_scenario, tmp_path)
    ctl = window.controller
    qtbot.waitUntil(lambda: stored(db) > 0, timeout=5000)
    assert window.play_action.text() == "Pause"
    with qtbot.waitSignal(ctl.state_changed, check_params_cb=lambda r, s: not r, timeout=5000):
        window.play_action.trigger()
    assert window.play_action.text() == "Play"
    count = stored(db)
    with qtbot.waitSignal(ctl.state_changed, timeout=5000):  # a full worker round-trip
        window.speed_actions[1.0].trigger()
    assert ctl.speed == 1.0
    assert stored(db) == count
    with qtbot.waitSignal(ctl.state_changed, check_params_cb=lambda r, s: r, timeout=5000):
        window.play_action.trigger()
    window.speed_actions[MAX_SPEED].trigger()
    qtbot.waitUntil(lambda: stored(db) > count, timeout=5000)


def test_event_from_the_simulation_menu_leads_to_denied_logs(window, qtbot, fake_scenario, tmp_path):
    db = start(window, qtbot, fake_scenario, tmp_path)
    menu_texts = [a.text() for a in window.menus.sim_menu.actions()]
    assert "Deploy rogue pod" in menu_texts
    act = window.event_actions["rogue"]
    with qtbot.waitSignal(window.controller.event_fired, timeout=5000):
        act.trigger()
    assert not act.isEnabled()  # fired once

    def denied() -> int:
        con = sqlite3.connect(str(db))
        try:
            return int(con.execute("SELECT count(*) FROM flow_logs WHERE action = 'deny'").fetchone()[0])
        finally:
            con.close()

    qtbot.waitUntil(lambda: denied() > 0, timeout=5000)


def test_closing_during_a_fast_run_loses_nothing_and_stops_the_thread(qtbot, fakes, fake_scenario, tmp_path):
    w = MainWindow(sim_factory=lambda sc, seed: fakes.Simulator(sc, seed))
    qtbot.addWidget(w)
    w.show()
    db = start(w, qtbot, fake_scenario, tmp_path)
    ctl = w.controller
    qtbot.waitUntil(lambda: ctl.last is not None and ctl.last.total > 30, timeout=5000)
    results = []
    ctl.stopped.connect(results.append)
    w.close()
    assert not running_threads()
    qtbot.waitUntil(lambda: bool(results), timeout=5000)
    final = results[0]
    assert stored(db) == final.total
    con = sqlite3.connect(str(db))
    try:
        last_end = con.execute("SELECT max(end_time) FROM flow_logs").fetchone()[0]
    finally:
        con.close()
    # The partial interval was flushed: the store reaches the simulated time of the stop.
    assert last_end == int(final.sim_time)


def test_worker_error_is_shown_and_the_app_stays_usable(
    qtbot, fakes, fake_scenario, tmp_path, shown_messages
):
    start_t = fake_scenario.settings.start_time
    w = MainWindow(sim_factory=lambda sc, seed: fakes.Simulator(sc, seed, raise_at=start_t + 60))
    qtbot.addWidget(w)
    w.show()
    start(w, qtbot, fake_scenario, tmp_path)
    qtbot.waitUntil(lambda: bool(w.status_error.text()), timeout=5000)
    assert "simulated failure" in w.status_error.text()
    assert shown_messages and shown_messages[-1][0] == "error"
    assert not w.play_action.isEnabled()
    # Still usable: a new session starts and runs.
    w._sim_factory = lambda sc, seed: fakes.Simulator(sc, seed)
    with qtbot.waitSignal(w.store_changed, check_params_cb=bool, timeout=5000):
        w.start_simulation(fake_scenario, "fake.yaml", db_path=tmp_path / "second.db")
    qtbot.waitUntil(lambda: w.controller.last is not None, timeout=5000)
    assert w.status_error.text() == ""
    w.close()


def test_a_non_database_file_is_refused_and_the_session_continues(
    window, qtbot, fake_scenario, tmp_path, shown_messages
):
    start(window, qtbot, fake_scenario, tmp_path)
    ctl = window.controller
    bogus = tmp_path / "notes.db"
    bogus.write_text("this is not a database\n" * 20)
    assert window.open_database(bogus) is False
    assert shown_messages[-1][0] == "error" and "notes.db" in shown_messages[-1][2]
    assert window.controller is ctl and ctl.is_alive()
    total = ctl.last.total if ctl.last else 0
    qtbot.waitUntil(lambda: ctl.last is not None and ctl.last.total > total, timeout=5000)


def test_a_stored_run_opens_without_simulating(qtbot, fakes, fake_scenario, tmp_path):
    w = MainWindow(sim_factory=lambda sc, seed: fakes.Simulator(sc, seed))
    qtbot.addWidget(w)
    db = start(w, qtbot, fake_scenario, tmp_path)
    qtbot.waitUntil(lambda: w.controller.last is not None and w.controller.last.total > 10, timeout=5000)
    w.close()
    n = stored(db)
    w2 = MainWindow()
    qtbot.addWidget(w2)
    assert w2.open_path(db)
    assert w2.controller is None
    w2.settle()
    qtbot.waitUntil(lambda: w2.flows.model.rowCount() == n, timeout=10_000)
    qtbot.waitUntil(lambda: f"{n:,} flow logs stored" in w2.status_stored.text(), timeout=5000)
    assert not w2.play_action.isEnabled()
    w2.close()


def test_docks_hide_and_come_back_and_layout_persists(qtbot):
    w = MainWindow()
    qtbot.addWidget(w)
    w.show()
    toggle = w.board_dock.toggleViewAction()
    assert toggle in w.menus.view_menu.actions()
    toggle.trigger()
    assert not w.board_dock.isVisible()
    w.close()
    w2 = MainWindow()
    qtbot.addWidget(w2)
    w2.show()
    assert not w2.board_dock.isVisible()
    w2.board_dock.toggleViewAction().trigger()
    assert w2.board_dock.isVisible()
    w2.close()


def test_recent_files_remember_opened_paths(window, qtbot, fake_scenario, tmp_path):
    start(window, qtbot, fake_scenario, tmp_path)
    texts = [a.text() for a in window.menus.recent_menu.actions()]
    assert any(t.endswith("fake.yaml") for t in texts)


def test_import_menu_opens_the_dialog_and_shows_the_imported_database(qtbot, fakes, fake_scenario, tmp_path):
    w = MainWindow(sim_factory=lambda sc, seed: fakes.Simulator(sc, seed))
    qtbot.addWidget(w)
    db = start(w, qtbot, fake_scenario, tmp_path)
    qtbot.waitUntil(lambda: w.controller.last is not None, timeout=5000)
    w.close()
    w2 = MainWindow()
    qtbot.addWidget(w2)
    acts = {a.text(): a for a in w2.menus.file_menu.actions()}
    acts["&Import Flow Logs…"].trigger()
    dialog = w2.menus.import_dialog
    assert dialog is not None and dialog.isVisible()
    dialog.imported.emit(str(db))  # what the dialog says when its import finished
    assert w2.store_path == str(db) and w2.controller is None
    dialog.close()
    w2.close()


def test_the_flow_table_refreshes_less_often_than_the_other_views(window, qtbot, monkeypatch):
    """New data makes every view due; the flow-log table re-reads at most once a second, the
    visualizer and the board five times a second (the clock is driven by a fake monotonic)."""
    from desktopviz.ui import main_refresh

    now = [1000.0]
    monkeypatch.setattr(main_refresh.time, "monotonic", lambda: now[0])
    calls: list[str] = []
    for name, view in window.views.items():
        monkeypatch.setattr(view, "refresh", lambda n=name: calls.append(n))
    window._refreshed.clear()
    window._hold_until = 0.0

    def tick_for(seconds: float) -> None:
        end = now[0] + seconds
        while now[0] < end:
            window._dirty = True  # new data arrives all the time at max speed
            window._on_refresh_clock()
            now[0] += 0.033

    tick_for(2.0)
    assert 2 <= calls.count("flows") <= 3  # once a second (and at once the first time)
    assert calls.count("visualizer") >= 8 and calls.count("board") >= 8
