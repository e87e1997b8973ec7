"""`desktopviz gui [SCENARIO | DB]` (also the default command): open the application."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("gui", help="open the application (the default command)")
    p.add_argument("path", nargs="?", help="a scenario file or folder, or a flow database")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from desktopviz.ui.app import run_app  # Qt only when the GUI is asked for

    return run_app(args.path)
