"""`desktopviz query DB 'FILTER' [--csv | --json] [--limit N] [--count]`: the flow-log browser's
filter language, headless.

Prints the matching flow logs newest first as a table (Calico's flow-table columns), as CSV
(spreadsheet-safe, see :mod:`desktopviz.core.export`) or as JSON lines (Calico documents).
The table shows ``--limit`` rows (default 50); CSV and JSON write every match unless
``--limit`` is given. A bad filter prints the error with a caret under it and exits 2.
The language is described in docs/filter-language.md and :mod:`desktopviz.core.filterlang`.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, TextIO

from desktopviz.cli import CommandError

TABLE_LIMIT = 50
TABLE_COLUMNS = (
    ("start_time", 19),
    ("action", 6),
    ("reporter", 3),
    ("source", 40),
    ("destination", 40),
    ("port", 5),
    ("proto", 5),
    ("flows", 6),
    ("bytes", 10),
    ("policy", 40),
)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "query",
        help="print the flow logs of a flow database that match a filter",
        description="Filter flow logs with the browser's filter language, e.g. "
        "'source_namespace = storefront and action = deny' or 'policy = \"storefront/default.trusted\"'.",
    )
    p.add_argument("db", help="a desktopviz flow database")
    p.add_argument("filter", nargs="?", default="", help="filter text (empty: every flow log)")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--csv", action="store_true", help="write CSV (Calico field names as header)")
    fmt.add_argument("--json", action="store_true", help="write JSON lines, one Calico flow log per line")
    fmt.add_argument("--count", action="store_true", help="print only the number of matching flow logs")
    p.add_argument("--limit", type=int, default=None, help=f"at most N rows (table default {TABLE_LIMIT})")
    p.set_defaults(func=run)


def filter_error_text(exc: Any) -> str:
    """A FilterError as the CLI prints it: the message, the filter and a caret line."""
    lines = exc.pointer().splitlines() or [""]
    caret = lines[1] if len(lines) > 1 else "^"
    return f"bad filter: {exc}\n  {lines[0]}\n  {caret}"


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    from desktopviz.core.filterlang import FilterError, compile_filter
    from desktopviz.core.store import FlowStore, StoreError

    out = out or sys.stdout
    if args.limit is not None and args.limit < 0:
        raise CommandError("--limit must be 0 or more")
    try:
        store = FlowStore(args.db, create=False, readonly=True)
    except StoreError as exc:
        raise CommandError(str(exc)) from None
    with store:
        from desktopviz.ui.flow_browser_data import time_bounds

        rng = time_bounds(store.conn)
        try:
            f = compile_filter(args.filter, now=rng[1] if rng else None)
        except FilterError as exc:
            raise CommandError(filter_error_text(exc)) from None
        if args.count:
            from desktopviz.core.queries import count_rows

            print(count_rows(store, f.sql, f.params), file=out)
            return 0
        if args.csv or args.json:
            return _export(store, f.sql, f.params, args, out)
        return _table(store, f.sql, f.params, TABLE_LIMIT if args.limit is None else args.limit, out)


def _export(store: Any, where: str, params: tuple[Any, ...], args: argparse.Namespace, out: TextIO) -> int:
    from desktopviz.core.export import write_csv, write_jsonl

    if args.limit is not None:  # the newest N matches, written oldest first like every export
        from desktopviz.core.queries_base import table_for
        from desktopviz.core.queries_pages import ids_sql

        inner = f"WHERE {where}" if where else ""
        order = "ORDER BY start_time DESC, id DESC"
        newest = ids_sql(store.conn, inner, params, order, table_for(where), args.limit)
        where = f"id IN ({newest})"
        params = (*params, args.limit, 0)
    writer = write_csv if args.csv else write_jsonl
    n = writer(store, out, where_sql=where, params=params)
    print(f"{n} flow logs", file=sys.stderr)
    return 0


def _cells(log: Any) -> list[str]:
    from desktopviz.ui.flow_browser_data import enforced_names, iso_time

    def end(ns: str, name: str) -> str:
        return name if ns in ("-", "", None) else f"{ns}/{name}"

    names = enforced_names(log.policies)
    return [
        iso_time(log.start_time),
        log.action,
        log.reporter,
        end(log.source_namespace, log.source_name_aggr),
        end(log.dest_namespace, log.dest_name_aggr),
        "" if log.dest_port is None else str(log.dest_port),
        log.proto,
        str(log.num_flows),
        str((log.bytes_in or 0) + (log.bytes_out or 0)),
        names[-1] if names else "",
    ]


def _table(store: Any, where: str, params: tuple[Any, ...], limit: int, out: TextIO) -> int:
    from desktopviz.core.queries import count_rows, flow_rows

    total = count_rows(store, where, params)
    rows = flow_rows(store, where, params, order_by="start_time", descending=True, limit=limit)
    widths = [w for _, w in TABLE_COLUMNS]
    print("  ".join(name.ljust(w) for name, w in TABLE_COLUMNS).rstrip(), file=out)
    for r in rows:
        cells = _cells(r.log)
        line = "  ".join(
            (c if len(c) <= w else c[: w - 1] + "…").ljust(w) for c, w in zip(cells, widths, strict=True)
        )
        print(line.rstrip(), file=out)
    more = total - len(rows)
    tail = f" ({more} more; use --limit or --csv)" if more > 0 else ""
    print(f"{total} flow logs match{tail}", file=out)
    return 0
