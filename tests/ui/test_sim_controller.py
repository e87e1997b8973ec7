"""The simulation thread as the GUI sees it: commands take effect, results arrive as
signals, errors stop the run without killing the app, and stopping loses nothing."""

from __future__ import annotations

import math

from desktopviz.ui.sim_controller import MAX_SPEED, SimController, run_db_path, running_threads


def make_controller(fakes, scenario, tmp_path, *, speed=MAX_SPEED, running=True, raise_at=None):
    return SimController(
        scenario,
        tmp_path / "run.db",
        speed=speed,
        running=running,
        sim_factory=lambda sc, seed: fakes.Simulator(sc, seed, raise_at=raise_at),
        store_factory=fakes.Store,
    )


def test_run_writes_intervals_and_stop_flushes_the_partial_one(qtbot, fakes, fake_scenario, tmp_path):
    ctl = make_controller(fakes, fake_scenario, tmp_path)
    with qtbot.waitSignal(ctl.store_opened, timeout=5000):
        ctl.start()
    qtbot.waitUntil(lambda: ctl.last is not None and ctl.last.total >= 20, timeout=5000)
    ctl.set_speed(1.0)  # leave max speed: now sim time is usually mid-interval
    qtbot.waitUntil(lambda: ctl.speed == 1.0, timeout=5000)
    final = ctl.shutdown()
    assert final is not None
    assert not ctl.is_alive() and not running_threads()
    # Everything the run reported plus the flushed partial interval is in the database.
    assert fakes.count(tmp_path / "run.db") == final.total
    assert final.total >= 20


def test_pause_stops_the_store_growing_and_resume_continues(qtbot, fakes, fake_scenario, tmp_path):
    ctl = make_controller(fakes, fake_scenario, tmp_path)
    ctl.start()
    qtbot.waitUntil(lambda: ctl.last is not None, timeout=5000)
    with qtbot.waitSignal(ctl.state_changed, check_params_cb=lambda r, s: not r, timeout=5000):
        ctl.pause()
    paused_at = ctl.sim_time
    stored = fakes.count(tmp_path / "run.db")
    # Two further worker ticks while paused: the clock and the store stay put.
    with qtbot.waitSignal(ctl.state_changed, timeout=5000):
        ctl.set_speed(MAX_SPEED)
    with qtbot.waitSignal(ctl.state_changed, timeout=5000):
        ctl.set_speed(MAX_SPEED)
    assert ctl.sim_time == paused_at
    assert fakes.count(tmp_path / "run.db") == stored
    ctl.resume()
    qtbot.waitUntil(lambda: fakes.count(tmp_path / "run.db") > stored, timeout=5000)
    qtbot.waitUntil(lambda: ctl.sim_time > paused_at, timeout=5000)
    ctl.shutdown()


def test_speed_changes_take_effect(qtbot, fakes, fake_scenario, tmp_path):
    ctl = make_controller(fakes, fake_scenario, tmp_path, speed=1.0)
    ctl.start()
    qtbot.waitUntil(lambda: ctl.sim_time > fake_scenario.settings.start_time, timeout=5000)
    assert ctl.speed == 1.0
    # At 1x the first flush interval (15 s) is far away; at max speed intervals pour in.
    assert ctl.last is None
    with qtbot.waitSignal(ctl.state_changed, check_params_cb=lambda r, s: math.isinf(s), timeout=5000):
        ctl.set_speed(MAX_SPEED)
    qtbot.waitUntil(lambda: ctl.last is not None and ctl.last.total > 50, timeout=5000)
    ctl.shutdown()


def test_fired_event_shows_up_as_denied_logs(qtbot, fakes, fake_scenario, tmp_path):
    ctl = make_controller(fakes, fake_scenario, tmp_path)
    ctl.start()
    qtbot.waitUntil(lambda: ctl.last is not None, timeout=5000)
    assert ctl.last.denied == 0
    with qtbot.waitSignal(ctl.event_fired, timeout=5000) as blocker:
        ctl.fire("rogue")
    assert blocker.args == ["rogue"]
    qtbot.waitUntil(lambda: ctl.last.denied > 0, timeout=5000)
    ctl.shutdown()
    assert fakes.count(tmp_path / "run.db", "deny") > 0


def test_an_exception_stops_the_run_and_is_reported(qtbot, fakes, fake_scenario, tmp_path):
    start = fake_scenario.settings.start_time
    ctl = make_controller(fakes, fake_scenario, tmp_path, raise_at=start + 100)
    with qtbot.waitSignal(ctl.failed, timeout=5000) as blocker:
        ctl.start()
    assert "simulated failure" in blocker.args[0]
    qtbot.waitUntil(lambda: not ctl.running, timeout=5000)
    # The thread is still alive and obeys commands; closing still works.
    assert ctl.is_alive()
    final = ctl.shutdown()
    assert final is not None and not ctl.is_alive()
    assert fakes.count(tmp_path / "run.db") == final.total


def test_reset_starts_a_new_database_and_keeps_the_old_one(qtbot, fakes, fake_scenario, tmp_path):
    ctl = make_controller(fakes, fake_scenario, tmp_path)
    ctl.start()
    qtbot.waitUntil(lambda: ctl.last is not None and ctl.last.total > 10, timeout=5000)
    first = ctl.db_path
    with qtbot.waitSignal(ctl.store_opened, timeout=5000) as blocker:
        ctl.reset(tmp_path / "second.db")
    assert blocker.args == [str(tmp_path / "second.db")]
    qtbot.waitUntil(lambda: ctl.last is not None and ctl.last.total > 0, timeout=5000)
    ctl.shutdown()
    assert fakes.count(first) > 10
    assert fakes.count(tmp_path / "second.db") > 0


def test_failing_store_is_reported_not_raised(qtbot, fakes, fake_scenario, tmp_path):
    def broken_store(path):
        raise OSError(f"cannot write {path}")

    ctl = SimController(
        fake_scenario,
        tmp_path / "x.db",
        sim_factory=lambda sc, seed: fakes.Simulator(sc, seed),
        store_factory=broken_store,
    )
    with qtbot.waitSignal(ctl.failed, timeout=5000) as blocker:
        ctl.start()
    assert "cannot write" in blocker.args[0]
    ctl.shutdown()


def test_run_db_path_is_named_from_scenario_and_unique(tmp_path):
    a = run_db_path("store front", tmp_path)
    a.touch()
    b = run_db_path("store front", tmp_path)
    assert a.name.startswith("store-front-") and a.suffix == ".db"
    assert a != b


def test_intervals_reach_the_gui_merged_and_nothing_is_lost(qtbot, fakes, fake_scenario, tmp_path):
    """At max speed intervals complete far faster than anyone reads them: the GUI hears of
    them in merged summaries whose counts add up to what was stored."""
    ctl = make_controller(fakes, fake_scenario, tmp_path)
    seen = []
    ctl.interval.connect(seen.append)
    ctl.start()
    qtbot.waitUntil(lambda: ctl.last is not None and ctl.last.total > 200, timeout=5000)
    final = ctl.shutdown()
    qtbot.waitUntil(lambda: seen[-1].total == final.total, timeout=5000)
    assert sum(s.logs for s in seen) == final.total == fakes.count(tmp_path / "run.db")
    assert sum(s.allowed + s.denied for s in seen) == final.total
    assert [s.total for s in seen] == sorted(s.total for s in seen)
    assert sum(s.intervals for s in seen) >= final.total // 2  # two logs an interval (+ flush)
    assert len(seen) < sum(s.intervals for s in seen)  # merged, not one signal an interval


def test_a_busy_gui_holds_the_max_speed_simulation_back(qtbot, fakes, fake_scenario, tmp_path, monkeypatch):
    from desktopviz.ui import sim_worker

    busy = [True]
    monkeypatch.setattr(sim_worker, "gui_is_busy", lambda: busy[0])
    ctl = make_controller(fakes, fake_scenario, tmp_path)
    with qtbot.waitSignal(ctl.state_changed, timeout=5000):
        ctl.start()
    # Two further worker ticks (commands are still served): no simulated time passed.
    for _ in range(2):
        with qtbot.waitSignal(ctl.state_changed, timeout=5000):
            ctl.set_speed(MAX_SPEED)
    assert ctl.sim_time == fake_scenario.settings.start_time and ctl.last is None
    busy[0] = False
    qtbot.waitUntil(lambda: ctl.last is not None and ctl.last.total > 20, timeout=5000)
    ctl.shutdown()


def test_a_gui_busy_during_a_step_defers_its_write_and_nothing_is_lost(
    qtbot, fakes, fake_scenario, tmp_path, monkeypatch
):
    """At max speed a step's store write waits a tick when the GUI starts repainting during
    the step; a pause, or the end of the run, writes what waited."""
    from desktopviz.ui import sim_worker

    calls = [0]

    def busy_every_other_call() -> bool:  # not busy before a step, busy right after it
        calls[0] += 1
        return calls[0] % 2 == 0

    monkeypatch.setattr(sim_worker, "gui_is_busy", busy_every_other_call)
    ctl = make_controller(fakes, fake_scenario, tmp_path)
    seen = []
    ctl.interval.connect(seen.append)
    ctl.start()
    qtbot.waitUntil(lambda: ctl.last is not None and ctl.last.total > 40, timeout=5000)
    with qtbot.waitSignal(ctl.state_changed, check_params_cb=lambda r, s: not r, timeout=5000):
        ctl.pause()
    intervals = round((ctl.sim_time - fake_scenario.settings.start_time) / 15)
    assert fakes.count(tmp_path / "run.db") == 2 * intervals  # every step simulated is stored
    final = ctl.shutdown()
    assert final.total == fakes.count(tmp_path / "run.db") == 2 * intervals
    qtbot.waitUntil(lambda: seen[-1].total == final.total, timeout=5000)
    assert sum(s.logs for s in seen) == final.total
