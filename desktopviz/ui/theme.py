"""Light and dark palettes on the Fusion style, following the system colour scheme.

Both palettes keep text at a contrast readable on a laptop screen; the status colours
(allowed green, denied red) are shared with the views so every panel speaks the same
colours as Calico's Flow Visualizer legend.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

ALLOWED = QColor("#2e9e4f")
DENIED = QColor("#d93636")
DENIED_BY_DEST = QColor("#f08a8a")
UNKNOWN = QColor("#9e9e9e")


def _palette(dark: bool) -> QPalette:
    p = QPalette()
    if dark:
        window, base, alt, text = "#2b2d31", "#1f2124", "#26282c", "#e8e8e8"
        button, highlight, link, mid = "#35373c", "#3d7bd9", "#7fb2ff", "#4a4d53"
        disabled = "#80848c"
    else:
        window, base, alt, text = "#f3f4f6", "#ffffff", "#f5f7fa", "#1d2025"
        button, highlight, link, mid = "#e8eaee", "#2f6fd0", "#1a5bbf", "#c5c9d0"
        disabled = "#8a8f98"
    roles = {
        QPalette.ColorRole.Window: window,
        QPalette.ColorRole.WindowText: text,
        QPalette.ColorRole.Base: base,
        QPalette.ColorRole.AlternateBase: alt,
        QPalette.ColorRole.ToolTipBase: base,
        QPalette.ColorRole.ToolTipText: text,
        QPalette.ColorRole.PlaceholderText: disabled,
        QPalette.ColorRole.Text: text,
        QPalette.ColorRole.Button: button,
        QPalette.ColorRole.ButtonText: text,
        QPalette.ColorRole.BrightText: "#ffffff",
        QPalette.ColorRole.Highlight: highlight,
        QPalette.ColorRole.HighlightedText: "#ffffff",
        QPalette.ColorRole.Link: link,
        QPalette.ColorRole.Mid: mid,
        QPalette.ColorRole.Midlight: alt,
        QPalette.ColorRole.Dark: mid,
    }
    for role, colour in roles.items():
        p.setColor(role, QColor(colour))
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.WindowText, QPalette.ColorRole.ButtonText):
        p.setColor(QPalette.ColorGroup.Disabled, role, QColor(disabled))
    return p


def system_is_dark() -> bool:
    """The system's colour scheme (Qt 6.5+ style hints); light when unknown."""
    app = QGuiApplication.instance()
    if app is None:
        return False
    return QGuiApplication.styleHints().colorScheme() == Qt.ColorScheme.Dark


def is_dark(palette: QPalette | None = None) -> bool:
    pal = palette or QApplication.palette()
    return pal.color(QPalette.ColorRole.Window).lightness() < 128


def apply_theme(app: QApplication, dark: bool | None = None) -> None:
    """Fusion style with the light or dark palette (default: the system's scheme)."""
    app.setStyle("Fusion")
    app.setPalette(_palette(system_is_dark() if dark is None else dark))


def follow_system(app: QApplication) -> None:
    """Re-apply the palette whenever the system switches between light and dark."""
    hints = QGuiApplication.styleHints()
    hints.colorSchemeChanged.connect(lambda scheme: apply_theme(app, scheme == Qt.ColorScheme.Dark))
