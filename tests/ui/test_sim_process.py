"""The simulation in its own process (the default for the real simulator): the GUI sees the
same controller, commands and signals as with the thread, nothing stored is lost when the
run stops, and a child that dies or a parent that goes away leave a usable database."""

from __future__ import annotations

import io
import os
import signal
import sqlite3
from pathlib import Path

import pytest

from desktopviz.core.scenario import load_scenario
from desktopviz.ui.sim_controller import MAX_SPEED, SimController, running_threads
from desktopviz.ui.sim_process import (
    ENV_SWITCH,
    SimProcessWorker,
    read_message,
    running_processes,
    write_message,
)


def count(db: str | Path, where: str = "1") -> int:
    con = sqlite3.connect(str(db))
    try:
        return int(con.execute(f"SELECT count(*) FROM flow_logs WHERE {where}").fetchone()[0])
    finally:
        con.close()


@pytest.fixture
def storefront(storefront_path):
    return load_scenario(storefront_path)


def storing_child(qtbot, scenario, tmp_path) -> SimController:
    """A started controller whose simulation process runs at full speed and has stored logs."""
    ctl = SimController(scenario, tmp_path / "run.db", speed=MAX_SPEED)
    ctl.start()
    qtbot.waitUntil(lambda: ctl.last is not None and ctl.last.total > 0, timeout=20_000)
    return ctl


def test_messages_round_trip_and_a_cut_stream_reads_as_its_end():
    buf = io.BytesIO()
    write_message(buf, ("interval", (1, {"a": [1.5, None]})))
    write_message(buf, ("stop", None))
    whole = buf.getvalue()
    stream = io.BytesIO(whole)
    assert read_message(stream) == ("interval", (1, {"a": [1.5, None]}))
    assert read_message(stream) == ("stop", None)
    assert read_message(stream) is None
    assert read_message(io.BytesIO(whole[:-3])) is not None  # the first message is whole
    cut = io.BytesIO(whole[: len(whole) // 2 + 2])
    read_message(cut)
    assert read_message(cut) is None  # a message cut short is the end, not garbage


def test_the_real_simulator_runs_in_a_child_and_obeys_commands(qtbot, storefront, tmp_path):
    ctl = SimController(storefront, tmp_path / "run.db", speed=MAX_SPEED)
    assert ctl.in_process and isinstance(ctl._worker, SimProcessWorker)
    with qtbot.waitSignal(ctl.store_opened, timeout=20_000):
        ctl.start()
    qtbot.waitUntil(lambda: ctl.last is not None and ctl.last.total > 0, timeout=20_000)
    pid = ctl._worker.pid
    assert pid is not None and pid != os.getpid() and pid in running_processes()
    with qtbot.waitSignal(ctl.state_changed, check_params_cb=lambda r, s: not r, timeout=10_000):
        ctl.pause()
    paused_at, stored = ctl.sim_time, count(ctl.db_path)
    with qtbot.waitSignal(ctl.state_changed, timeout=10_000):  # a round trip while paused
        ctl.set_speed(60.0)
    assert ctl.speed == 60.0 and not ctl.running
    assert ctl.sim_time == paused_at and count(ctl.db_path) == stored
    with qtbot.waitSignal(ctl.event_fired, check_params_cb=lambda e: e == "deploy-rogue", timeout=10_000):
        ctl.fire("deploy-rogue")
    with qtbot.waitSignal(ctl.state_changed, check_params_cb=lambda r, s: r, timeout=10_000):
        ctl.set_speed(MAX_SPEED)
        ctl.resume()
    rogue = "source_name_aggr LIKE 'rogue%' AND action = 'deny'"
    qtbot.waitUntil(lambda: count(ctl.db_path, rogue) > 0, timeout=30_000)
    final = ctl.shutdown()
    assert final is not None and final.total == count(ctl.db_path)  # nothing lost on stop
    assert final.sim_time >= paused_at
    assert not running_threads() and not running_processes()


def test_a_child_that_dies_is_a_failure_and_the_stored_logs_stay(qtbot, storefront, tmp_path):
    ctl = storing_child(qtbot, storefront, tmp_path)
    with qtbot.waitSignal(ctl.failed, timeout=10_000) as failed:
        os.kill(ctl._worker.pid, signal.SIGKILL)
    assert "ended unexpectedly" in failed.args[0]
    assert ctl.error == failed.args[0]
    qtbot.waitUntil(lambda: not ctl.running, timeout=5000)  # the state that follows the failure
    qtbot.waitUntil(lambda: not ctl.is_alive(), timeout=10_000)
    final = ctl.shutdown()
    assert final is not None and final.db_path == ctl.db_path
    assert count(ctl.db_path) >= final.total > 0  # what it had committed is readable


def test_a_child_that_dies_leaves_the_speed_it_last_ran_at(qtbot, storefront, tmp_path):
    """After the failure the toolbar shows the run paused at the speed it had, not the speed
    it started at."""
    ctl = storing_child(qtbot, storefront, tmp_path)
    with qtbot.waitSignal(ctl.state_changed, check_params_cb=lambda r, s: s == 60.0, timeout=10_000):
        ctl.set_speed(60.0)
    with qtbot.waitSignal(ctl.state_changed, check_params_cb=lambda r, s: not r, timeout=10_000) as state:
        os.kill(ctl._worker.pid, signal.SIGKILL)
    assert state.args == [False, 60.0]
    assert ctl.speed == 60.0 and not ctl.running and ctl.error is not None
    ctl.shutdown()
    assert not running_processes()


def test_the_child_stops_cleanly_when_the_gui_goes_away(qtbot, storefront, tmp_path):
    """The command pipe's end (the GUI process gone) is a stop: the child writes the last
    interval, closes the database and exits."""
    ctl = storing_child(qtbot, storefront, tmp_path)
    with qtbot.waitSignal(ctl.stopped, timeout=20_000) as stopped:
        ctl._worker.commands.close()
    final = stopped.args[0]
    assert ctl.error is None
    assert final.total == count(ctl.db_path) and final.total > 0
    qtbot.waitUntil(lambda: not ctl.is_alive(), timeout=10_000)
    assert ctl.shutdown() == final and not running_processes()


def test_the_thread_is_used_when_asked_or_when_parts_are_injected(
    storefront, tmp_path, monkeypatch, fakes, fake_scenario
):
    assert not SimController(fake_scenario, tmp_path / "a.db", store_factory=fakes.Store).in_process
    monkeypatch.setenv(ENV_SWITCH, "0")
    assert not SimController(storefront, tmp_path / "b.db").in_process
    monkeypatch.delenv(ENV_SWITCH)
    assert SimController(storefront, tmp_path / "c.db").in_process


def test_closing_ends_a_child_that_does_not_answer(qtbot, storefront, tmp_path):
    """A hung simulation process does not hang the window's close: after the wait it is
    ended, and the run's database keeps what it had committed."""
    ctl = storing_child(qtbot, storefront, tmp_path)
    seen = ctl.last.total
    os.kill(ctl._worker.pid, signal.SIGSTOP)  # alive, but deaf
    final = ctl.shutdown(timeout_ms=500)
    assert final is not None and final.total >= seen
    assert not ctl.is_alive() and not running_threads() and not running_processes()
    assert count(ctl.db_path) >= seen


def test_a_child_started_ahead_runs_the_next_simulation(qtbot, storefront, tmp_path):
    """desktopviz starts the simulation's process while it makes the window (prestart): the
    next simulation takes that child instead of starting one; a spare never used exits."""
    from desktopviz.ui import sim_process

    sim_process.prestart()
    spare = sim_process._spare
    assert spare is not None and spare[0].poll() is None
    sim_process.prestart()  # one spare at most
    assert sim_process._spare is spare
    ctl = SimController(storefront, tmp_path / "run.db", speed=MAX_SPEED)
    with qtbot.waitSignal(ctl.store_opened, timeout=20_000):
        ctl.start()
    assert ctl._worker.pid == spare[0].pid and sim_process._spare is None
    assert ctl.shutdown().total == count(ctl.db_path)
    sim_process.prestart()
    unused = sim_process._spare
    sim_process._end_spare()  # what happens at exit
    assert unused[0].poll() is not None and sim_process._spare is None


def test_a_spare_child_that_died_is_replaced(qtbot, storefront, tmp_path):
    from desktopviz.ui import sim_process

    sim_process.prestart()
    dead = sim_process._spare
    dead[0].kill()
    dead[0].wait()
    ctl = SimController(storefront, tmp_path / "run.db", speed=MAX_SPEED)
    with qtbot.waitSignal(ctl.store_opened, timeout=20_000):
        ctl.start()
    assert ctl._worker.pid != dead[0].pid and ctl.error is None
    assert ctl.shutdown().total == count(ctl.db_path)
