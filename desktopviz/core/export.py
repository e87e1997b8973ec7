"""Export flow logs from a store as CSV (for spreadsheets) or JSON lines (as Calico writes them).

Both stream rows from SQLite in batches, so memory stays constant whatever the store size.

CSV: a header of the Calico field names (:data:`desktopviz.core.flowlog.FIELDS` order), JSON
fields as compact JSON text, nulls as empty cells. A text cell that a spreadsheet would run
as a formula (first character ``=``, ``+``, ``-``, ``@``, tab or carriage return, as OWASP
describes CSV injection) is prefixed with a single quote ``'``. Two exceptions keep data
readable without opening a hole: a cell that is exactly ``-`` (Calico's "not included"
placeholder; a lone minus is not a formula), and values of numeric columns that SQLite holds
as numbers (written as numbers, so a negative count stays a number). A numeric column that
holds text (imported junk) is treated as text and neutralised.
"""

from __future__ import annotations

import csv
import sqlite3
from collections.abc import Callable, Sequence
from typing import IO, Any

from desktopviz.core.flowlog import FIELDS
from desktopviz.core.queries import build_where
from desktopviz.core.store import FlowStore, connection_of, record_from_row

FORMULA_CHARS = ("=", "+", "-", "@", "\t", "\r")
Progress = Callable[[int], None]
Cancel = Callable[[], bool]


class ExportCancelled(Exception):
    """The export was cancelled; ``rows`` were written before it stopped."""

    def __init__(self, rows: int) -> None:
        super().__init__(f"export cancelled after {rows} rows")
        self.rows = rows


def safe_cell(value: Any) -> Any:
    """A CSV cell that no spreadsheet runs as a formula (see module doc)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return value
    text = str(value)
    if text and text != "-" and text.startswith(FORMULA_CHARS):
        return "'" + text
    return text


def _cursor(
    store_or_conn: FlowStore | sqlite3.Connection,
    since: int | None,
    until: int | None,
    where_sql: str,
    params: Sequence[Any],
) -> sqlite3.Cursor:
    where, args = build_where(since, until, where_sql, params)
    cur = connection_of(store_or_conn).cursor()
    cur.row_factory = None
    return cur.execute(f"SELECT {', '.join(FIELDS)} FROM flow_logs {where} ORDER BY start_time, id", args)


def _stream(
    cur: sqlite3.Cursor,
    write: Callable[[tuple[Any, ...]], None],
    progress: Progress | None,
    cancel: Cancel | None,
) -> int:
    n = 0
    while True:
        if cancel is not None and cancel():
            raise ExportCancelled(n)
        batch = cur.fetchmany(2000)
        if not batch:
            return n
        for row in batch:
            write(row)
        n += len(batch)
        if progress is not None:
            progress(n)


def write_csv(
    store_or_conn: FlowStore | sqlite3.Connection,
    fp: IO[str],
    since: int | None = None,
    until: int | None = None,
    where_sql: str = "",
    params: Sequence[Any] = (),
    progress: Progress | None = None,
    cancel: Cancel | None = None,
) -> int:
    """Write flow logs (since <= start_time < until, oldest first) as CSV; returns the row count.

    ``fp`` should be opened with ``newline=""``. ``progress(rows_so_far)`` is called after each
    batch; ``cancel()`` returning True stops the export with :class:`ExportCancelled`."""
    writer = csv.writer(fp)
    writer.writerow(FIELDS)
    cur = _cursor(store_or_conn, since, until, where_sql, params)
    return _stream(cur, lambda row: writer.writerow([safe_cell(v) for v in row]), progress, cancel)


def write_jsonl(
    store_or_conn: FlowStore | sqlite3.Connection,
    fp: IO[str],
    since: int | None = None,
    until: int | None = None,
    where_sql: str = "",
    params: Sequence[Any] = (),
    progress: Progress | None = None,
    cancel: Cancel | None = None,
) -> int:
    """Write flow logs as JSON lines, one Calico document per line; returns the row count."""
    cur = _cursor(store_or_conn, since, until, where_sql, params)
    return _stream(cur, lambda row: fp.write(record_from_row(row).to_json() + "\n"), progress, cancel)
