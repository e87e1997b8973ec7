"""Persistent settings (QSettings, INI format): window layout and recently opened files."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings

MAX_RECENT = 8


def settings() -> QSettings:
    """The application's settings (INI in the user's config folder)."""
    return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, "desktopviz", "desktopviz")


def recent_files() -> list[str]:
    value = settings().value("recent/files", [])
    if isinstance(value, str):
        value = [value]
    return [str(v) for v in (value or []) if v]


def add_recent_file(path: str | Path) -> list[str]:
    """Put `path` first in the recent list (no duplicates, at most MAX_RECENT)."""
    text = str(Path(path).resolve())
    files = [text] + [f for f in recent_files() if f != text]
    files = files[:MAX_RECENT]
    s = settings()
    s.setValue("recent/files", files)
    s.sync()
    return files


def clear_recent_files() -> None:
    s = settings()
    s.remove("recent/files")
    s.sync()


def save_window(geometry: QByteArray, state: QByteArray) -> None:
    s = settings()
    s.setValue("window/geometry", geometry)
    s.setValue("window/state", state)
    s.sync()


def load_window() -> tuple[QByteArray | None, QByteArray | None]:
    s = settings()
    geometry = s.value("window/geometry")
    state = s.value("window/state")
    return (
        geometry if isinstance(geometry, QByteArray) else None,
        state if isinstance(state, QByteArray) else None,
    )
