"""Batches prepared by the reader process store exactly what the store's own insert stores:
the same rows and ids, label sets, traces, trace entries, rollups, digests and counts, also
when records are already stored, when the store refuses one, and when the reader process
dies half-way or sends something unreadable."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from test_import_digest_sets import one_secret
from test_store_rollup import oracle, stored, varied_logs

from desktopviz.core import import_worker
from desktopviz.core.import_apply import KeyedWriter
from desktopviz.core.import_db import stored_digests
from desktopviz.core.import_read import Source
from desktopviz.core.import_worker import ParallelItems
from desktopviz.core.importers import ImportSummary, import_files

# the store's tables as stored (schema 3: each key once, each record as its key id and nine ints)
TABLES = ("flow_keys", "flow_data", "label_sets", "traces", "trace_hits")


def lines_of(logs: list[Any]) -> list[str]:
    return [log.to_json() for log in logs]


def good(n: int, seed: int) -> list[Any]:
    """Varied logs without the trace entries the import refuses (so batches hold what they read)."""
    return [x for x in varied_logs(n, seed) if "not a trace" not in json.dumps(x.policies)]


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def everything(db: Path, imported: bool = True) -> dict[str, Any]:
    """Every stored table (ids included; the importer's own with ``imported``), the flow logs
    as readers see them, and the rollups next to the SQL oracle's."""
    conn = sqlite3.connect(db)
    try:
        out: dict[str, Any] = {t: conn.execute(f"SELECT * FROM {t} ORDER BY 1, 2").fetchall() for t in TABLES}
        out["flow_logs"] = conn.execute("SELECT * FROM flow_logs ORDER BY id").fetchall()
        if imported:
            # rows and sets together (a version-3 store's sets depend on batch boundaries)
            out["import_digests"] = sorted(stored_digests(conn))
            out["imports"] = conn.execute(
                "SELECT path, format, status, records_read, imported, duplicates, skipped FROM imports ORDER BY id"
            ).fetchall()
        out.update(stored(conn))
        assert stored(conn) == oracle(conn)
        return out
    finally:
        conn.close()


def summary_of(s: ImportSummary) -> tuple[Any, ...]:
    return tuple(
        (f.records_read, f.imported, f.duplicates, f.skipped, f.flow_logs, f.status) for f in s.files
    ), [str(i) for i in s.issues]


def both(files: list[list[Path]], tmp: Path, batch: int, **kw: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """Import the groups of files one after the other, in this process through the store's
    own insert, in this process as keyed batches, and with a reader process; the stores and
    summaries must be the same."""
    out = []
    with one_secret():  # version-3 stores: one secret, equal digests of equal records
        for name, parallel, keyed in (("here", False, False), ("keyed", False, True), ("there", True, True)):
            db = tmp / f"{name}.sqlite"
            sums = [import_files(g, db, parallel=parallel, keyed=keyed, batch=batch, **kw) for g in files]
            assert all(s.parallel == parallel for s in sums)
            out.append(({"summaries": [summary_of(s) for s in sums]}, everything(db)))
    (here_s, here), (keyed_s, keyed_got), (there_s, there) = out
    assert keyed_s == there_s == here_s
    assert keyed_got == here
    assert there == here
    return here_s, here


def test_prepared_batches_store_what_the_store_insert_stores(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    logs = varied_logs(700, seed=3)
    path = write(tmp_path / "a.log", lines_of(logs))
    written: list[int] = []
    real = KeyedWriter.write
    monkeypatch.setattr(KeyedWriter, "write", lambda self, b, c: (written.append(b.n), real(self, b, c))[1])
    summaries, got = both([[path]], tmp_path, batch=50)
    # every batch written as prepared, made here and by the reader process
    assert sum(written) == 2 * len(got["flow_data"]) == 2 * len(got["flow_logs"])
    assert len(got["flow_data"]) > 500 and got["label_sets"] and got["trace_hits"]
    assert 0 < len(got["flow_keys"]) < len(got["flow_data"])  # records share keys
    assert got["flow_rollup"] and got["hit_rollup"] and got["series_rollup"]


def test_records_already_stored_and_a_store_that_has_texts_already(tmp_path: Path) -> None:
    """A second file overlapping the first (duplicates in some batches, none in others), a
    record twice in one batch, and labels and traces the store holds already."""
    logs = lines_of(good(700, seed=4))
    first = write(tmp_path / "first.log", logs[:300])
    second = write(tmp_path / "second.log", logs[250:420] + [logs[400]] + logs[420:])
    summaries, got = both([[first], [second]], tmp_path, batch=40)
    files = summaries["summaries"]
    assert files[1][0][0][2] == 51  # 50 of the first file, one repeated in the second


def test_a_record_the_store_refuses_is_reported_in_a_prepared_batch(tmp_path: Path) -> None:
    logs = [json.loads(x) for x in lines_of(good(120, seed=5))]
    logs[70]["source_name"] = "\ud800"  # a lone surrogate: SQLite cannot take it
    lines = [json.dumps(d) for d in logs]  # (escaped: the line itself is valid JSON)
    summaries, got = both([[write(tmp_path / "a.log", lines)]], tmp_path, batch=30)
    issues = summaries["summaries"][0][1]
    assert len(issues) == 1 and "a.log:71: rejected by the store" in issues[0]


def test_several_records_on_one_line_end_a_batch_with_the_line(tmp_path: Path) -> None:
    logs = [json.loads(x) for x in lines_of(good(80, seed=6))[:60]]
    lines = [json.dumps(d) for d in logs[:9]]
    lines.append(json.dumps({"hits": {"hits": [{"_source": d} for d in logs[9:20]]}}))
    lines += [json.dumps(d) for d in logs[20:]] + ["{broken", "[1, 2]"]
    path = write(tmp_path / "es.log", lines)
    both([[path]], tmp_path, batch=8)
    sizes = [item.batch.n for item in ParallelItems(Source(path), batch=8)]
    assert sizes[:2] == [8, 12] and sum(sizes) == 60  # the second batch ends with the hits line


DYING = (
    "import sys\n"
    "from desktopviz.core import import_worker as w\n"
    "real = w._handovers\n"
    "def some(reader, batch):\n"
    "    for k, got in enumerate(real(reader, batch)):\n"
    "        if k == int(sys.argv[2]):\n"
    "            sys.stdout.buffer.write(bytes.fromhex(sys.argv[3]))  # garbage, or nothing\n"
    "            sys.stdout.buffer.flush(); sys.exit(3)\n"
    "        yield got\n"
    "w._handovers = some\n"
    "w._serve(sys.argv[1], sys.stdout.buffer, 2000, int(sys.argv[4]), int(sys.argv[5]))\n"
)


@pytest.mark.parametrize(
    ("after", "garbage"), [(0, ""), (3, ""), (3, "\x10\x00\x00\x00\x00\x00\x00\x00not a pickle....")]
)
def test_a_reader_process_that_fails_mid_file_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, after: int, garbage: str
) -> None:
    """The child sends ``after`` batches, then dies (or sends an unreadable message): this
    process reads on from the first line of the next batch; the store is the same."""
    path = write(tmp_path / "a.log", lines_of(varied_logs(500, seed=8)))
    started: list[ParallelItems] = []

    def start(self: ParallelItems) -> subprocess.Popen[bytes]:
        started.append(self)
        args = [str(self.source.path), str(after), garbage.encode().hex(), str(self.batch)]
        args.append(str(self.digest_version))  # (the version the child is asked for)
        return subprocess.Popen([sys.executable, "-c", DYING, *args], stdout=subprocess.PIPE)

    monkeypatch.setattr(ParallelItems, "_start", start)
    skips: list[int] = []

    class Recorded(import_worker.LineItems):
        def __init__(self, source: Source, skip: int = 0, **kw: Any) -> None:
            skips.append(skip)
            super().__init__(source, skip, **kw)

    monkeypatch.setattr(import_worker, "LineItems", Recorded)
    both([[path]], tmp_path, batch=60)
    assert started and started[0].fell_back
    # read here from the line after the last batch delivered (three of 60 records: line 180 or later)
    assert skips[-1] == 0 if after == 0 else 180 <= skips[-1] < 500


def read_back(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """A row as its stored texts give it back (JSON values parsed again)."""
    return tuple(json.loads(json.dumps(v)) if isinstance(v, (dict, list)) else v for v in row)
