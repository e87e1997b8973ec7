"""`desktopviz export-csv DB -o FILE [--since T] [--until T]`: flow logs of a store as CSV.

Times are Unix seconds, ISO 8601 (UTC when no zone is given), or relative to the store's
last time, like ``-15m``, ``-2h``, ``-1d``, ``-30s`` (write ``--since=-15m`` or ``--since -15m``).
"""

from __future__ import annotations

import argparse
import re
import sys
from datetime import UTC, datetime
from pathlib import Path

from desktopviz.cli import CommandError

_RELATIVE = re.compile(r"^-(\d+(?:\.\d+)?)([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_time(text: str, last: int | None) -> int:
    """Unix seconds from a CLI time: number, ISO 8601, or ``-<n><s|m|h|d>`` before ``last``."""
    t = text.strip()
    m = _RELATIVE.match(t)
    if m:
        if last is None:
            raise CommandError(f"relative time {text!r} needs a store with flow logs (this one is empty)")
        return int(last - float(m.group(1)) * _UNITS[m.group(2)])
    try:
        return int(float(t))
    except ValueError:
        pass
    try:
        dt = datetime.fromisoformat(t.replace("Z", "+00:00"))
    except ValueError:
        raise CommandError(
            f"bad time {text!r}: use Unix seconds, ISO 8601 (2024-05-01T12:00:00Z) or relative (-15m, -2h)"
        ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp())


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("export-csv", help="write the flow logs of a flow database as CSV")
    p.add_argument("db", help="a desktopviz flow database (.sqlite)")
    p.add_argument("-o", "--output", required=True, help="the CSV file to write ('-' for standard output)")
    p.add_argument("--since", help="first start time: Unix seconds, ISO 8601, or relative like -15m")
    p.add_argument("--until", help="end of the range (exclusive), same forms as --since")
    # Let "-15m" be a value, not an option (argparse only knows negative numbers).
    p._negative_number_matcher = re.compile(r"^-\d+(?:\.\d+)?[smhd]?$")  # noqa: SLF001
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from desktopviz.core.export import write_csv
    from desktopviz.core.store import FlowStore, StoreError

    try:
        store = FlowStore(args.db, create=False, readonly=True)
    except StoreError as exc:
        raise CommandError(str(exc)) from None
    with store:
        rng = store.time_range()
        last = rng[1] if rng else None
        since = parse_time(args.since, last) if args.since else None
        until = parse_time(args.until, last) if args.until else None
        if args.output == "-":
            n = write_csv(store, sys.stdout, since, until)
            print(f"{n} rows written", file=sys.stderr)
            return 0
        out = Path(args.output)
        try:
            with out.open("w", newline="", encoding="utf-8") as fp:
                n = write_csv(store, fp, since, until)
        except OSError as exc:
            raise CommandError(f"{out}: cannot write: {exc.strerror or exc}") from None
    print(f"{n} rows written to {out}")
    return 0
