"""Where things are: the built-in scenarios and the user's data folder."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path


def scenarios_dir() -> Path:
    """The folder of built-in scenarios (the repository's `scenarios/`, installed as the
    package `desktopviz.scenarios`)."""
    return Path(str(resources.files("desktopviz.scenarios")))


def default_scenario() -> Path:
    """The storefront scenario of the lab: the default everywhere."""
    return scenarios_dir() / "storefront"


def resources_dir() -> Path:
    return Path(str(resources.files("desktopviz.resources")))


def data_dir() -> Path:
    """The user's data folder for run databases (created on demand).

    `DESKTOPVIZ_DATA_DIR` wins; otherwise `$XDG_DATA_HOME/desktopviz` or
    `~/.local/share/desktopviz`."""
    env = os.environ.get("DESKTOPVIZ_DATA_DIR")
    if env:
        path = Path(env)
    else:
        base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
        path = Path(base) / "desktopviz"
    path.mkdir(parents=True, exist_ok=True)
    return path
