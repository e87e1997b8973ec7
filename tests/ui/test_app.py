"""Starting the application: `desktopviz` with no argument shows storefront traffic at once;
bad input never ends the application."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from desktopviz.ui import app as app_module
from desktopviz.ui.main_window import MainWindow
from desktopviz.ui.sim_controller import running_threads
from desktopviz.ui.theme import apply_theme, is_dark

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints")


def _run_until(check, timeout_ms=30_000):
    """Run `run_app` until `check(window)` holds for its main window, then close it: the
    last window closing ends the event loop. (No explicit quit(): a second quit arriving
    after exec() returned would end every later event loop of the test session at once.)"""
    seen: dict[str, object] = {}

    def poll() -> None:
        windows = [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible()]
        if windows and check(windows[0]):
            seen["window"] = windows[0]
            timer.stop()
            windows[0].close()

    timer = QTimer()
    timer.timeout.connect(poll)
    timer.start(20)
    guard = QTimer()
    guard.setSingleShot(True)
    guard.timeout.connect(lambda: [w.close() for w in QApplication.topLevelWidgets()])
    guard.start(timeout_ms)
    return timer, guard, seen


def test_no_argument_opens_storefront_and_traffic_arrives(qapp, qtbot):
    timer, guard, seen = _run_until(lambda w: w.controller is not None and w.controller.last is not None)
    code = app_module.run_app(None)
    guard.stop()
    assert code == 0
    w = seen.get("window")
    assert w is not None, "no flow logs arrived"
    assert w.scenario is not None and w.scenario.name == "storefront"
    assert w.session_path and w.session_path.endswith("storefront")
    assert not running_threads()
    w.deleteLater()


def test_a_bad_path_shows_an_error_and_the_app_keeps_running(qapp, qtbot, tmp_path, shown_messages):
    bogus = tmp_path / "nothing.yaml"
    bogus.write_text(": : not yaml [\n")
    timer, guard, seen = _run_until(lambda w: bool(shown_messages))
    code = app_module.run_app(str(bogus))
    guard.stop()
    assert code == 0
    assert seen.get("window") is not None, "the window went away"
    assert shown_messages[0][0] == "error" and "nothing.yaml" in shown_messages[0][2]
    seen["window"].deleteLater()


def test_both_palettes_are_readable(qapp):
    for dark in (False, True):
        apply_theme(qapp, dark)
        pal = qapp.palette()
        assert is_dark(pal) is dark
        text, base = pal.color(pal.ColorRole.Text), pal.color(pal.ColorRole.Base)
        assert abs(text.lightness() - base.lightness()) > 150  # strong contrast
    assert qapp.style().name().lower() == "fusion"
    apply_theme(qapp, False)
