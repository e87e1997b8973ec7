"""Reading Calico JSON lines for the import, in this process or in a second one.

:class:`~desktopviz.core.import_lines.LineItems` turns a file's lines into what the importer
stores: ``(where, row, digest)`` for a canonical record (:mod:`import_fast`), ``(where,
document)`` for one the general path must normalise, or an :class:`Issue`. :class:`ParallelItems` reads them in a child process
(``python -m desktopviz.core.import_worker``) while this process writes to the store: either
the same items in the same order, or (``batch=``, what the importer uses) whole batches
made ready for the store as :class:`Handover` items: keyed batches (:mod:`import_keyed`: per
record a key id and the nine varying integers, each key's values and each label set's and
trace's text sent once; digest keys, or for digest version 3 each key's digest once), so
that the writer maps ids, makes the rollup rows and runs SQL (:mod:`import_apply`). The lines the extractor splits go straight into the batch in the reader's loop
(:meth:`LineItems.items` with the batch's preparer: no item and no call per line). With a core to spare, reading then costs the writer
only unpickling (see :func:`parallel_pays`). If the child fails, vanishes or sends something
unreadable, reading goes on here from the first line the child did not deliver, so the
result never depends on the child. Digests are of the store's digest version
(:mod:`import_digest`), given to the child on its command line; the child never has a
version-3 store's secret (the writer completes those digests, :mod:`import_complete`).
"""

from __future__ import annotations

import contextlib
import gc
import os
import pickle
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, NamedTuple

import desktopviz
from desktopviz.core.import_digest import KEYED_VERSIONS, READER_VERSION, item_hasher, seen_key
from desktopviz.core.import_keyed import KeyedBatch, KeyedPreparer
from desktopviz.core.import_lines import Item, LineItems
from desktopviz.core.import_prepare import normalise
from desktopviz.core.import_read import Issue, Source

__all__ = [
    "CHUNK_LINES",
    "Handover",
    "LineItems",
    "ParallelItems",
    "can_run_parallel",
    "parallel_pays",
    "spare_core",
]


class Handover(NamedTuple):
    """A batch prepared by the reader process, with the lines it skipped meanwhile."""

    issues: list[Issue]
    read: int  # records read (the batch's, and those skipped as not flow logs)
    batch: KeyedBatch


CHUNK_LINES = 2000  # lines per message from the child
QUEUE_MESSAGES = 16  # messages read ahead (about 1.3 MB each)
MAX_MESSAGE = 1 << 30  # bytes: a longer length prefix is garbage (a batch takes a few MB)
_PACKAGE_ROOT = str(Path(desktopviz.__file__).resolve().parent.parent)


def can_run_parallel() -> bool:
    """A second process can run: two or more cores, and a Python interpreter to start (not a
    frozen application, whose executable would start the application again)."""
    return (os.cpu_count() or 1) > 1 and not getattr(sys, "frozen", False) and bool(sys.executable)


def spare_core() -> bool:
    """Whether a core is free now: the 1-minute load average leaves at least one of them idle
    (True where the load average is not available)."""
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):  # pragma: no cover - Windows
        return True
    return load + 1 <= (os.cpu_count() or 1)


def parallel_pays() -> bool:
    """Whether reading in a second process is worth it by default: it takes the reading,
    parsing and digests (about a quarter of the work) off the writer, and costs both
    processes ~2 µs a record to hand over; on a machine whose cores are all busy the second
    process only takes CPU time from the writer (docs/import.md, Speed)."""
    return can_run_parallel() and spare_core()


class ParallelItems:
    """:class:`LineItems` of a file, read by a child process (see the module doc). Close it
    (or exhaust it) to end the child; ``position()`` is the child's progress in the file.

    With ``batch``, the child sends each ``batch`` records it reads (and the lines it skipped
    meanwhile) as one :class:`Handover`, a keyed batch (:mod:`import_keyed`); a
    batch ends at the end of a line. Lines read here after a failure come as items."""

    def __init__(
        self,
        source: Source,
        chunk_lines: int = CHUNK_LINES,
        batch: int | None = None,
        digest_version: int = READER_VERSION,
        secret: bytes | None = None,
    ) -> None:
        self.source, self.chunk_lines, self.batch = source, chunk_lines, batch
        # ValueError for a version this code does not know (or that needs the secret, without it)
        item_hasher(digest_version, secret, bool(batch))
        if digest_version in KEYED_VERSIONS and not batch:
            raise ValueError(
                f"a reader process gives digests of version {digest_version} only in keyed batches "
                "(the writer completes them: the child never has the store's secret)"
            )
        self.digest_version = digest_version  # the child computes digests of this version
        self.secret = secret  # the store's, for reading on here (never given to the child)
        self.lines = 0
        self._position = 0
        self.fell_back = False
        self._proc: subprocess.Popen[bytes] | None = None
        self._drain: _Drain | None = None

    def position(self) -> int:
        return self._position

    def _start(self) -> subprocess.Popen[bytes]:
        env = dict(os.environ)  # the child imports this very desktopviz
        env["PYTHONPATH"] = os.pathsep.join(p for p in (_PACKAGE_ROOT, env.get("PYTHONPATH")) if p)
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "desktopviz.core.import_worker",
                str(self.source.path),
                str(self.chunk_lines),
                str(self.batch or 0),
                str(self.digest_version),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
        )

    def __iter__(self) -> Iterator[Item]:
        try:
            self._proc = self._start()
            assert self._proc.stdout is not None
            self._drain = _Drain(self._proc.stdout)
            self._drain.start()
            yield from self._from_child(self._drain.messages)
        except (OSError, EOFError, pickle.UnpicklingError, ValueError, _ChildFailed):
            self.fell_back = True
        finally:
            self.close()
        if self.fell_back:  # go on here after the last line the child delivered
            rest = LineItems(
                self.source, skip=self.lines, digest_version=self.digest_version, secret=self.secret
            )
            for item in rest:
                self.lines, self._position = rest.lines, rest.position()
                yield item

    def _from_child(self, messages: queue.Queue[bytes | None]) -> Iterator[Item]:
        while True:
            data = messages.get()
            if data is None:
                raise EOFError("the reader process ended early")
            try:
                message = pickle.loads(data)
            except Exception as exc:  # noqa: BLE001 - whatever the child sent, read on here
                raise _ChildFailed(f"unreadable message: {exc}") from None
            if message is None:  # the end
                return
            if type(message) is str:
                raise _ChildFailed(message)
            if not (type(message) is tuple and len(message) == 3 and type(message[0]) is list) or not (
                type(message[1]) is int and type(message[2]) is int
            ):
                raise _ChildFailed(f"unexpected message: {type(message).__name__}")
            items, self._position, lines = message
            yield from items
            self.lines = lines  # only once every item of those lines was taken

    def close(self) -> None:
        """End the child (if still running) and the thread reading from it."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.kill()
        drain = self._drain
        while drain is not None and drain.is_alive():  # let it put its end mark and stop
            with contextlib.suppress(queue.Empty):
                drain.messages.get(timeout=0.05)
        with contextlib.suppress(OSError):
            if proc.stdout is not None:
                proc.stdout.close()
        proc.wait()


class _Drain(threading.Thread):
    """Reads the child's messages as bytes into a queue, so the child can run ahead of the
    writer (the pipe alone holds 64 KB). Waiting on the pipe does not hold the GIL; the
    unpickling happens in the consumer. Puts None at the end of the stream."""

    def __init__(self, stream: IO[bytes]) -> None:
        super().__init__(name="import-reader", daemon=True)
        self.stream = stream
        self.messages: queue.Queue[bytes | None] = queue.Queue(maxsize=QUEUE_MESSAGES)

    def _read(self, n: int) -> bytes | None:
        data = self.stream.read(n)
        return data if data is not None and len(data) == n else None

    def run(self) -> None:
        try:
            while True:
                head = self._read(8)
                size = None if head is None else int.from_bytes(head, "little")
                if size is None or size > MAX_MESSAGE:  # the end, or not a length the child wrote
                    break
                data = self._read(size)
                if data is None:
                    break
                self.messages.put(data)
        except (OSError, ValueError, OverflowError, MemoryError):
            pass
        finally:  # the consumer then reads on from the first line it did not receive
            self.messages.put(None)


class _ChildFailed(Exception):
    pass


def _handovers(reader: LineItems, batch: int) -> Iterator[tuple[Handover, int]]:
    """(keyed batch, lines whose every record it holds) of every ``batch`` records (more when
    a line holds several: a batch ends where a line does; the file's last part in batches of
    an eighth, ``LineItems._next_batch``), the last one maybe shorter. The
    lines the extractor splits go into the batch inside ``reader.items``; the others come
    here as items."""
    prep = KeyedPreparer(reader.digest_version)
    name = reader.source.name
    row_hash = reader.row_hash
    issues: list[Issue] = []
    failed = 0  # records read that are not in the batch (their issues are)
    add_row = prep.add_row
    for item in reader.items(prep, batch):
        if item is None:  # the end of a line, and the batch is full
            yield Handover(issues, len(prep) + failed, prep.take()), reader.lines
            issues, failed = [], 0
            continue
        if type(item) is Issue:
            issues.append(item)
            continue
        if len(item) == 3:  # (lines the extractor splits go into prep in reader.items)
            where, row, digest = item  # type: ignore[misc]
        else:
            where, obj = item  # type: ignore[misc]
            got = normalise(obj)
            if type(got) is str:
                issues.append(Issue(name, where, got))
                failed += 1
                continue
            row, digest = got, row_hash(got)  # type: ignore[arg-type]
        add_row(row, seen_key(row[0], digest), where)  # FIELDS[0] is start_time
    yield Handover(issues, len(prep) + failed, prep.take()), reader.lines


def _serve(
    path: str,
    out: IO[bytes],
    chunk_lines: int = CHUNK_LINES,
    batch: int = 0,
    digest_version: int = READER_VERSION,
) -> None:
    """The child: send (items, position, lines) for every ``chunk_lines`` lines (or each
    keyed batch, as a one-item list, with ``batch``), then None; digests of ``digest_version``."""
    reader = LineItems(Source(path), keyed=bool(batch), digest_version=digest_version)

    def dump(message: Any) -> None:  # length-prefixed pickles
        data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        out.write(len(data).to_bytes(8, "little"))
        out.write(data)

    chunk: list[Item] = []
    last = 0
    try:
        if batch:
            for handover, lines in _handovers(reader, batch):
                dump(([handover], reader.position(), lines))
                out.flush()
            dump(None)
            out.flush()
            return
        for item in reader:
            chunk.append(item)
            if reader.lines - last >= chunk_lines:
                dump((chunk, reader.position(), reader.lines))
                out.flush()
                chunk, last = [], reader.lines
        dump((chunk, reader.source.size, reader.lines))
        dump(None)
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which reads on itself
        dump(f"{type(exc).__name__}: {exc}")
    out.flush()


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    gc.disable()  # as in the importer: no cycles among parsed records, the collector only costs
    with contextlib.suppress(BrokenPipeError):  # the parent stopped reading (cancelled)
        # through the module's own name, so what is pickled names it (not __main__)
        from desktopviz.core import import_worker

        import_worker._serve(sys.argv[1], sys.stdout.buffer, *map(int, sys.argv[2:5]))
