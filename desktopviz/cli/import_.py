"""`desktopviz import FILE... --db DB [--format auto|calico|hubble]`: real flow logs into a flow store.

Calico flow logs (Felix's flows.log, Elasticsearch exports) and Hubble flows (``hubble observe
-o json``, exporter files), plain or gzip; the format is detected from the content. A progress
bar goes to standard error, the summary (with every skipped line as ``file:line: reason``) to
standard output. Ctrl-C stops after the current batch is rolled back; what was committed stays
and importing the same files again skips it. Exit codes: 0 done, 2 bad usage or nothing could
be read, 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import TextIO

from desktopviz.cli import CommandError


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "import",
        help="import Calico or Hubble flow logs (JSON, gzip) into a flow database",
        description="Import real flow logs into a desktopviz flow database (created if missing).",
    )
    p.add_argument(
        "files", nargs="+", metavar="FILE", help="flow-log files (JSON lines or JSON documents, gzip ok)"
    )
    p.add_argument("--db", required=True, help="the flow database to import into (.sqlite)")
    p.add_argument(
        "--format", dest="fmt", choices=("auto", "calico", "hubble"), default="auto", help="default: detect"
    )
    p.add_argument(
        "--interval",
        type=int,
        default=15,
        help="Hubble: seconds per flow-log interval (default 15, as Goldmane)",
    )
    p.add_argument(
        "--aggregation",
        type=int,
        choices=(0, 1, 2, 3),
        default=2,
        help="Hubble: Calico aggregation level (0 per 5-tuple, 1 no source port, 2 pod prefixes [default], 3 no dest port)",
    )
    p.add_argument(
        "--max-issues", type=int, default=50, help="skipped records listed in the summary (default 50)"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar on standard error")
    p.set_defaults(func=run)


class ProgressBar:
    """A one-line progress bar on a terminal (nothing when the stream is not a terminal)."""

    def __init__(self, stream: TextIO, enabled: bool) -> None:
        self.stream = stream
        self.enabled = enabled and stream.isatty()
        self._last = 0.0

    def __call__(self, p: object) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        indexing = getattr(p, "phase", "reading") == "indexing"
        if now - self._last < 0.1 and not indexing:
            return
        self._last = now
        done, total = getattr(p, "bytes_done", 0), max(1, getattr(p, "bytes_total", 1))
        frac = min(1.0, done / total)
        width = 30
        bar = "#" * int(frac * width)
        name = str(getattr(p, "path", ""))[-40:]
        index, files = getattr(p, "file_index", 0) + 1, getattr(p, "files", 1)
        records = getattr(p, "records", 0)
        if indexing:
            self.stream.write(
                f"\r[{bar:<{width}}] {frac:4.0%} read; building the store's indexes…" + " " * 30
            )
            self.stream.flush()
            return
        self.stream.write(f"\r[{bar:<{width}}] {frac:4.0%} {index}/{files} {name} {records:,} records ")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\r" + " " * 100 + "\r")
            self.stream.flush()


def run(args: argparse.Namespace) -> int:
    from desktopviz.core.importers import ImportFileError, import_files
    from desktopviz.core.store import StoreError

    if args.interval < 1:
        raise CommandError("--interval must be at least 1 second")
    bar = ProgressBar(sys.stderr, not args.no_progress)
    try:
        summary = import_files(
            args.files, args.db, fmt=args.fmt, interval=args.interval, level=args.aggregation, progress=bar
        )
    except (StoreError, ImportFileError) as exc:
        raise CommandError(str(exc)) from None
    finally:
        bar.close()
    print(summary.text(max_issues=max(0, args.max_issues)))
    if summary.cancelled:
        return 130
    if all(f.status == "failed" for f in summary.files):
        return 2
    return 0
