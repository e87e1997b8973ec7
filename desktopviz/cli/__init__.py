"""The `desktopviz` command line.

`desktopviz [SCENARIO | DB]` opens the application (the default command). Every other
command lives in its own module of this package and is found automatically: a module that
defines ``register(subparsers)`` adds its sub-command, whose parser sets ``func`` to a callable
taking the parsed arguments and returning the exit code.

Exit codes: 0 success, 1 the input is invalid (validate), 2 bad usage or unreadable input,
3 a what-if found changes.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence
from pathlib import Path

from desktopviz import __version__


class CommandError(Exception):
    """A user error a command reports as `desktopviz: <message>` with exit code 2."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


def _command_modules() -> list[str]:
    pkg = sys.modules[__name__]
    return sorted(m.name for m in pkgutil.iter_modules(pkg.__path__) if not m.name.startswith("_"))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="desktopviz",
        description="Calico-style flow visualizer, Policy Board and flow-log browser. "
        "With no command, opens the application on SCENARIO or DB (default: the built-in "
        "storefront scenario).",
    )
    parser.add_argument("--version", action="version", version=f"desktopviz {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _command_modules():
        module = importlib.import_module(f"{__name__}.{name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(sub)
    return parser


# Commands that open their ``db`` argument for writing; the others read it (read-only).
WRITING_COMMANDS = frozenset({"import"})


def announce_upgrade(db: object, *, readonly: bool = True) -> None:
    """Say on stderr that opening ``db`` will upgrade it in place (an older desktopviz wrote
    it, and a ``readonly`` open cannot read it as it is): the command then pauses for that once."""
    if not isinstance(db, (str, Path)):
        return
    from desktopviz.core.store import SCHEMA_VERSION, stored_schema, upgrade_note, upgrades_on_open

    version = stored_schema(db)
    if version is not None and upgrades_on_open(version, readonly=readonly):
        print(
            f"desktopviz: {db}: upgrading from flow-store schema {version} to {SCHEMA_VERSION} "
            f"(once per file; {upgrade_note(version)})…",
            file=sys.stderr,
        )


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    commands = set()
    for action in parser._subparsers._group_actions if parser._subparsers else []:  # noqa: SLF001
        commands.update(getattr(action, "choices", {}) or {})
    if not args_list or (args_list[0] not in commands and args_list[0] not in ("-h", "--help", "--version")):
        args_list = ["gui", *args_list]
    args = parser.parse_args(args_list)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    announce_upgrade(getattr(args, "db", None), readonly=args.command not in WRITING_COMMANDS)
    try:
        return int(func(args) or 0)
    except CommandError as exc:
        print(f"desktopviz: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        return 130
