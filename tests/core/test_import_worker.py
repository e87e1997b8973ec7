"""Reading in a second process changes nothing but the speed: the same records, counts and
reported lines, in the same order, also when the reader process fails half-way."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

from desktopviz.core import import_worker
from desktopviz.core.import_read import Source
from desktopviz.core.import_worker import LineItems, ParallelItems
from desktopviz.core.importers import ImportSummary, import_files
from desktopviz.core.store import FlowStore

DATA = Path(__file__).parent / "data" / "import"


@pytest.fixture
def mixed(tmp_path: Path) -> Path:
    """Felix records, Elasticsearch hits, broken lines and hostile values, gzipped."""
    lines = [line for name in ("calico_v5.jsonl", "calico_v4.jsonl", "calico_kinds.jsonl")
             for line in (DATA / name).read_text().splitlines() if line.strip()]  # fmt: skip
    base = json.loads(lines[0])
    lines += [
        "{not json",
        "[1, 2]",
        "",
        json.dumps(dict(base, start_time="2026-01-01T00:00:00Z", dest_port=1)),
        json.dumps(dict(base, bytes_in=10**30, dest_port=2)),
        json.dumps(dict(base, action="maybe", dest_port=3)),
        json.dumps(
            {"hits": {"hits": [{"_source": dict(base, dest_port=4)}, {"_source": dict(base, dest_port=5)}]}}
        ),
        lines[0],  # a duplicate
    ]
    path = tmp_path / "mixed.log.gz"
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    return path


def outcome(summary: ImportSummary, db: Path) -> tuple:
    with FlowStore(db, readonly=True) as store:
        logs = [log for _, log in store.rows(order_by="id")]
    f = summary.files[0]
    counts = (f.records_read, f.imported, f.duplicates, f.skipped, f.flow_logs, f.status)
    return counts, [str(i) for i in summary.issues], logs


def test_a_reader_process_gives_the_same_import(mixed: Path, tmp_path: Path) -> None:
    here = import_files([mixed], tmp_path / "a.sqlite", parallel=False, batch=4)
    there = import_files([mixed], tmp_path / "b.sqlite", parallel=True, batch=4)
    assert outcome(there, tmp_path / "b.sqlite") == outcome(here, tmp_path / "a.sqlite")
    assert here.issue_count == 5 and here.total("duplicates") == 1  # [1, 2] is two non-records


def test_items_from_the_child_match_items_read_here(mixed: Path) -> None:
    here = list(LineItems(Source(mixed)))
    reader = ParallelItems(Source(mixed), chunk_lines=3)
    there = list(reader)
    assert there == here and not reader.fell_back
    assert reader.position() == Source(mixed).size


def test_a_reader_process_that_dies_half_way_is_taken_over(
    mixed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The child delivers the first 5 lines and dies; this process reads on from line 6."""
    code = (
        "import sys\n"
        "from desktopviz.core import import_worker as w\n"
        "w.LineItems.__iter__, real = None, w.LineItems.__iter__\n"
        "def first(self):\n"
        "    for item in real(self):\n"
        "        if self.lines > 5:\n"
        "            sys.stdout.buffer.flush(); sys.exit(3)\n"
        "        yield item\n"
        "w.LineItems.__iter__ = first\n"
        "w._serve(sys.argv[1], sys.stdout.buffer, 5)\n"
    )

    def start(self: ParallelItems) -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, "-c", code, str(self.source.path)], stdout=subprocess.PIPE)

    monkeypatch.setattr(ParallelItems, "_start", start)
    reader = ParallelItems(Source(mixed))
    assert list(reader) == list(LineItems(Source(mixed)))
    assert reader.fell_back
    # as the importer runs it: keyed batches (of 2 records), digests of the store's version
    batches = (
        "import sys\n"
        "from desktopviz.core import import_worker as w\n"
        "real = w.LineItems.items\n"
        "def first(self, *args):\n"
        "    for item in real(self, *args):\n"
        "        if self.lines > 5:\n"
        "            sys.stdout.buffer.flush(); sys.exit(3)\n"
        "        yield item\n"
        "w.LineItems.items = first\n"
        "w._serve(sys.argv[1], sys.stdout.buffer, *map(int, sys.argv[2:5]))\n"
    )
    started: list[ParallelItems] = []

    def start_batches(self: ParallelItems) -> subprocess.Popen[bytes]:
        started.append(self)
        args = [str(self.source.path), str(self.chunk_lines), str(self.batch), str(self.digest_version)]
        return subprocess.Popen([sys.executable, "-c", batches, *args], stdout=subprocess.PIPE)

    monkeypatch.setattr(ParallelItems, "_start", start_batches)
    here = import_files([mixed], tmp_path / "a.sqlite", parallel=False, batch=2)
    there = import_files([mixed], tmp_path / "b.sqlite", parallel=True, batch=2)
    assert [r.fell_back for r in started] == [True]
    assert outcome(there, tmp_path / "b.sqlite") == outcome(here, tmp_path / "a.sqlite")


def test_a_cancelled_import_ends_the_reader_process(mixed: Path, tmp_path: Path) -> None:
    started: list[ParallelItems] = []
    real = ParallelItems._start

    def start(self: ParallelItems) -> subprocess.Popen[bytes]:
        started.append(self)
        return real(self)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ParallelItems, "_start", start)
        summary = import_files([mixed], tmp_path / "a.sqlite", parallel=True, batch=2, cancel=lambda: True)
    assert summary.cancelled and summary.total("imported") == 2
    assert started and started[0]._proc is None  # killed and waited for


def test_parallel_reading_needs_a_second_core_that_is_free(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(import_worker.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(import_worker.os, "getloadavg", lambda: (0.4, 0.4, 0.4))
    assert import_worker.can_run_parallel() and import_worker.parallel_pays()
    monkeypatch.setattr(import_worker.os, "getloadavg", lambda: (1.6, 0.4, 0.4))  # both cores busy
    assert import_worker.can_run_parallel() and not import_worker.parallel_pays()
    monkeypatch.setattr(import_worker.os, "cpu_count", lambda: 4)
    assert import_worker.parallel_pays()
    monkeypatch.setattr(import_worker.os, "cpu_count", lambda: 1)
    monkeypatch.setattr(import_worker.os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    assert not import_worker.can_run_parallel() and not import_worker.parallel_pays()


def test_a_garbled_stream_from_the_reader_process_ends_it_quietly(monkeypatch: pytest.MonkeyPatch) -> None:
    """Bytes that are not the child's length-prefixed messages (a length no message has, a
    stream cut short) end the messages, so the importer reads on itself; the thread reading
    them raises nothing."""
    import io
    import threading

    from desktopviz.core.import_worker import _Drain

    failures: list[BaseException] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: failures.append(args.exc_value))
    good = b"abc"
    for tail in (
        (2**64 - 1).to_bytes(8, "little") + b"xx",
        (2**40).to_bytes(8, "little"),
        (10).to_bytes(8, "little") + b"ab",
        b"\x01",
    ):
        drain = _Drain(io.BytesIO(len(good).to_bytes(8, "little") + good + tail))  # type: ignore[arg-type]
        drain.start()
        drain.join(10)
        assert not drain.is_alive()
        assert [drain.messages.get_nowait(), drain.messages.get_nowait()] == [good, None]
    assert failures == []
