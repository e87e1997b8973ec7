"""Starting the application: QApplication, theme, the main window and its first session."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QTimer
from PySide6.QtGui import QGuiApplication, QIcon
from PySide6.QtWidgets import QApplication

from desktopviz import __version__
from desktopviz.core import paths
from desktopviz.ui.theme import apply_theme, follow_system


def ensure_display() -> None:
    """Use the offscreen platform when there is no display (headless machines, CI)."""
    if sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or os.environ.get("QT_QPA_PLATFORM")
    ):
        os.environ["QT_QPA_PLATFORM"] = "offscreen"


# the offscreen platform's harmless complaints (size hints; raising a window it does not stack)
_QUIET = ("This plugin does not support propagateSizeHints()", "This plugin does not support raise()")


def quiet_offscreen_warnings() -> None:
    """Drop the offscreen platform's harmless complaints; pass the rest on."""
    from PySide6.QtCore import QtMsgType, qInstallMessageHandler

    def handler(kind: QtMsgType, context: object, message: str) -> None:
        if any(q in message for q in _QUIET):
            return
        sys.stderr.write(f"{message}\n")

    qInstallMessageHandler(handler)


def create_app(argv: list[str] | None = None) -> QApplication:
    """The QApplication (created once), with names for QSettings, Fusion and the palette."""
    app = QApplication.instance()
    if app is None:
        ensure_display()
        QCoreApplication.setOrganizationName("desktopviz")
        QCoreApplication.setApplicationName("desktopviz")
        QCoreApplication.setApplicationVersion(__version__)
        QGuiApplication.setDesktopFileName("desktopviz")
        app = QApplication(argv if argv is not None else sys.argv[:1])
    assert isinstance(app, QApplication)
    # The GUI thread re-takes the GIL on every call from Qt into Python (item data, paint
    # events); with the simulation and view workers busy, a 5 ms switch interval makes each
    # of those wait. 1 ms keeps the window responsive at a small cost in worker throughput.
    sys.setswitchinterval(0.001)
    apply_theme(app)
    follow_system(app)
    icon = paths.resources_dir() / "icons" / "desktopviz.svg"
    if icon.exists():
        app.setWindowIcon(QIcon(str(icon)))
    return app


def open_initial(window, path: str | Path | None) -> bool:  # noqa: ANN001 - MainWindow
    """Open `path` (scenario or database), or the built-in storefront scenario."""
    return window.open_path(path) if path else window.open_scenario(paths.default_scenario())


def run_app(path: str | None = None) -> int:
    """`desktopviz [SCENARIO | DB]`: open the window and run the event loop."""
    from desktopviz.ui.file_kinds import is_database_path
    from desktopviz.ui.sim_process import prestart

    if not path or not is_database_path(Path(path)):  # a scenario: its simulation's process
        prestart()  # starts loading while the application and the window are made and shown
    app = create_app()
    from desktopviz.ui.main_window import MainWindow

    window = MainWindow()
    window.show()
    # Open after the window is on screen, so a bad path shows its dialog over the window.
    QTimer.singleShot(0, lambda: open_initial(window, path))
    app.aboutToQuit.connect(window.shutdown)
    code = app.exec()
    window.shutdown()
    return int(code)
