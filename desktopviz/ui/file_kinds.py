"""What a path given to the app or to `desktopviz screenshot` is: a flow database or a scenario.

Light on purpose (no Qt): ``run_app`` asks it before the window's modules load, to start
the simulation's process early only for a scenario."""

from __future__ import annotations

from pathlib import Path

DB_SUFFIXES = (".db", ".sqlite", ".sqlite3")


def looks_like_sqlite(path: Path) -> bool:
    """The file starts with SQLite's header."""
    if not path.is_file():
        return False
    with path.open("rb") as fh:
        return fh.read(16) == b"SQLite format 3\x00"


def is_database_path(path: Path) -> bool:
    """A flow database: an SQLite file, or a path named like one (it may not exist yet)."""
    return looks_like_sqlite(path) or path.suffix.lower() in DB_SUFFIXES
