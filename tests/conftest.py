"""Test-wide set-up: Qt offscreen, and QSettings isolated per test."""

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

REPO = Path(__file__).resolve().parent.parent
STOREFRONT = REPO / "scenarios" / "storefront"
SHARED_REFERENCE = REPO.parent / "shared" / "reference"


@pytest.fixture(autouse=True)
def _isolated_settings(tmp_path, monkeypatch):
    """Every test gets its own settings and data folders, so no test sees another's state."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("DESKTOPVIZ_DATA_DIR", str(tmp_path / "data" / "desktopviz"))
    if "PySide6.QtCore" in sys.modules:
        from PySide6.QtCore import QSettings

        QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path / "config"))
        QSettings.setPath(QSettings.Format.NativeFormat, QSettings.Scope.UserScope, str(tmp_path / "config"))
    yield


@pytest.fixture
def storefront_path() -> Path:
    return STOREFRONT
