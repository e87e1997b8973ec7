"""Review of the sixth session (issue 10: the importer's keyed batches in both processes, numpy
sums, hour-level rollups; schema 4 without the 5-minute rollup level).

Each import here is compared with ``import_files(..., keyed=False)`` (the store's own insert):
every stored table, the ``imports`` rows and the summary. Rollup group ids are compared by
the values they stand for (hit group ids follow batch boundaries, and a keyed batch ends where
a line does, so an Elasticsearch line across a boundary numbers them in another order), and
the issues as a sorted list (they are listed batch by batch). Readers are compared with the
answer read from the raw logs alone, for ranges that are not hour-aligned.
"""

from __future__ import annotations

import gzip
import json
import pickle
import random
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from import_lines import LINES
from test_import_digest_sets import one_secret
from test_store_rollup import varied_logs

from desktopviz.core import queries, queries_policy, queries_series
from desktopviz.core.import_db import stored_digests
from desktopviz.core.import_extract import Extractor
from desktopviz.core.import_read import Source
from desktopviz.core.import_sums import batch_sums, python_sums
from desktopviz.core.import_worker import ParallelItems
from desktopviz.core.importers import ImportSummary, import_files
from desktopviz.core.queries import flow_aggregates, policy_metrics, time_series
from desktopviz.core.store import FlowStore

_TABLES = ("flow_keys", "flow_data", "label_sets", "traces", "trace_hits", "flow_sums")
_HIT_SUMS = (
    "SELECT s.level, s.bucket, g.kind, g.policy, g.tier, g.reporter, g.rule_index, g.action, s.namespace, "
    "s.hits, s.num_flows, s.packets_in, s.packets_out, s.bytes_in, s.bytes_out "
    "FROM hit_sums AS s JOIN hit_groups AS g ON g.id = s.group_id"
)


def _tables(db: Path) -> dict[str, Any]:
    """Every table the import writes (hit groups by their values, not their ids)."""
    c = sqlite3.connect(db)
    try:
        out: dict[str, Any] = {t: c.execute(f"SELECT * FROM {t} ORDER BY 1, 2").fetchall() for t in _TABLES}
        # rows and sets together (a version-3 store's sets depend on batch boundaries)
        out["import_digests"] = sorted(stored_digests(c))
        out["flow_groups"] = c.execute("SELECT * FROM flow_groups ORDER BY id").fetchall()
        out["hit_groups"] = sorted(
            map(repr, c.execute("SELECT kind, policy, tier, reporter, rule_index, action FROM hit_groups"))
        )
        out["hit_sums"] = sorted(map(repr, c.execute(_HIT_SUMS)))
        out["series_rollup"] = c.execute("SELECT * FROM series_rollup ORDER BY 1, 2, 3").fetchall()
        out["imports"] = c.execute(
            "SELECT path, format, status, records_read, imported, duplicates, skipped FROM imports ORDER BY id"
        ).fetchall()
        out["flow_logs"] = c.execute("SELECT * FROM flow_logs ORDER BY id").fetchall()
        return out
    finally:
        c.close()


def _summary(s: ImportSummary) -> tuple[Any, ...]:
    files = [(f.records_read, f.imported, f.duplicates, f.skipped, f.flow_logs, f.status) for f in s.files]
    return files, sorted(str(i) for i in s.issues)


def _compare(groups: list[list[Path]], tmp: Path, batch: int | None, parallel: bool = True) -> dict[str, Any]:
    """Import the groups of files with the store's insert, as keyed batches here and (with
    ``parallel``) from the reader process; every store and summary must be the same."""
    modes = [("ref", False, False), ("keyed", False, True)] + ([("par", True, True)] if parallel else [])
    got = {}
    with one_secret():  # version-3 stores: one secret, equal digests of equal records
        for name, par, keyed in modes:
            db = tmp / f"{name}.sqlite"
            sums = [_summary(import_files(g, db, parallel=par, keyed=keyed, batch=batch)) for g in groups]
            got[name] = (sums, _tables(db))
    ref = got.pop("ref")
    for name, other in got.items():
        assert other[0] == ref[0], name
        for t in ref[1]:
            assert other[1][t] == ref[1][t], (name, t)
    return {"summaries": ref[0], **ref[1]}


def _line(**changes: Any) -> str:
    return json.dumps({**json.loads(LINES[0]), **changes})


# -- defects ----------------------------------------------------------------------------------


def test_numpy_sums_floor_start_times_near_the_int64_minimum_as_python_does() -> None:
    starts = [-(2**63), -(2**63) + 1000, 5]
    ends = [0, 0, 10]
    cnt = [[1, 2, 3]] * 5
    for step in (300, 3600):
        got: tuple[dict[Any, list[int]], ...] = ({}, {}, {})
        want: tuple[dict[Any, list[int]], ...] = ({}, {}, {})
        batch_sums([0, 0, 1], [None, 0, 0], [0, 0, 0], starts, ends, cnt, got, step)  # type: ignore[arg-type]
        python_sums([0, 0, 1], [None, 0, 0], [0, 0, 0], starts, ends, cnt, want, step)  # type: ignore[arg-type]
        assert [list(d.items()) for d in got] == [list(d.items()) for d in want]


@pytest.mark.parametrize("start", [-(2**63), -(2**63) + 1799])
def test_a_start_time_at_the_int64_minimum_gets_what_the_store_insert_gives_it(
    tmp_path: Path, start: int
) -> None:
    lines = [_line(start_time=1714564800 + i, bytes_in=i) for i in range(4)]
    lines.append(_line(start_time=start, end_time=0))
    path = tmp_path / "a.log"
    path.write_text("\n".join(lines) + "\n")
    _compare([[path]], tmp_path, batch=None, parallel=False)


# -- regression checks that pass --------------------------------------------------------------

_ODD_TIMES = [
    2**64,
    2**63,
    -(2**63) - 1,
    2**63 - 1,
    -(2**62),
    -5,
    -3601,
    1.5,
    1714564800.0,
    0.0,
    None,
    10**30,
]
_ODD_COUNTS = [1.5, None, -7, 2**62, 2**63 - 1, 2**64, -(2**63), 10**20, 3.0, -1, True]


def _hostile_lines(rng: random.Random, n: int) -> list[str]:
    """Calico lines with odd times and counters, missing fields, another key order, documents,
    Elasticsearch responses of two records, broken lines and repeated lines."""
    base = [json.loads(x) for x in LINES]
    out: list[str] = []
    for _ in range(n):
        d = dict(rng.choice(base))
        d["start_time"] = rng.choice([1714564800, 0, -7200]) + rng.randrange(0, 3 * 3600, 37)
        d["end_time"] = d["start_time"] + rng.choice([300, 0, -5])
        d["bytes_in"] = rng.randrange(10**6)
        d["source_name_aggr"] = rng.choice(["a", "b", d.get("source_name_aggr")])
        r = rng.random()
        if r < 0.04:
            d["start_time"] = rng.choice(_ODD_TIMES)
        elif r < 0.08:
            d["end_time"] = rng.choice(_ODD_TIMES)
        elif r < 0.15:
            d[rng.choice(["num_flows", "packets_in", "packets_out", "bytes_in", "bytes_out"])] = rng.choice(
                _ODD_COUNTS
            )
        elif r < 0.18:
            d.pop(rng.choice(list(d)))
        elif r < 0.2:
            d = dict(reversed(list(d.items())))
        line = json.dumps(d, separators=(",", ":")) if rng.random() < 0.5 else json.dumps(d)
        r = rng.random()
        if r < 0.03:
            line = json.dumps({"hits": {"hits": [{"_source": d}, {"_source": dict(d, bytes_in=1)}]}})
        elif r < 0.04:
            line = json.dumps({"_source": d})
        elif r < 0.05:
            line = "{broken"
        elif r < 0.09 and out:
            line = rng.choice(out)
        out.append(line)
    return out


@pytest.mark.parametrize(("seed", "batch"), [(0, 1), (1, 7), (2, 33), (3, None)])
def test_hostile_files_store_what_the_store_insert_stores(
    tmp_path: Path, seed: int, batch: int | None
) -> None:
    """A file, then a gzip file overlapping it and the file again (duplicates across files and
    within batches), with every kind of odd value: all three paths store the same."""
    rng = random.Random(seed)
    lines = _hostile_lines(rng, 160)
    first = tmp_path / "a.log"
    first.write_text("\n".join(lines) + "\n")
    second = tmp_path / "b.log.gz"
    with gzip.open(second, "wt") as f:
        f.write("\n".join(lines[70:] + lines[:15]) + "\n")
    got = _compare([[first], [second, first]], tmp_path, batch, parallel=seed % 2 == 1)
    (one,), _ = got["summaries"][0]
    assert one[1] > 100 and one[3] > 0  # most stored, some refused
    again = got["summaries"][1][0][1]  # the file again: all duplicates or refused again
    assert (again[0], again[1], again[2], again[3]) == (one[0], 0, one[1] + one[2], one[3])


def test_an_extractor_rebuilt_and_switched_off_mid_file_stores_what_the_store_insert_stores(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One template's lines (split by the extractor), then another key order (built again),
    back (built again), then every text new (its caches stop paying: off, lines parsed whole)."""
    built: list[Any] = []
    real_build = Extractor.build.__func__  # type: ignore[attr-defined]

    def build(cls: Any, *a: Any, **kw: Any) -> Any:
        built.append(real_build(cls, *a, **kw))
        return built[-1]

    monkeypatch.setattr(Extractor, "build", classmethod(build))
    template = json.loads(LINES[0])
    lines = []
    for i in range(6000):
        d = dict(template, start_time=1714564800 + i * 7, bytes_in=i)
        d["end_time"] = d["start_time"] + 300
        if 100 <= i < 180:
            d = dict(reversed(list(d.items())))
        if 300 <= i < 5600:
            d.update(source_name=f"pod-{i}", source_ip=f"10.0.{i // 250}.{i % 250}", dest_name=f"d-{i}")
        if i % 97 == 0:
            d["num_flows"] = 1.5
        lines.append(json.dumps(d, separators=(",", ":")))
    path = tmp_path / "a.log"
    path.write_text("\n".join(lines) + "\n")
    overlap = tmp_path / "b.log"
    overlap.write_text("\n".join(lines[4000:4500] + lines[:100]) + "\n")
    got = _compare([[overlap], [path]], tmp_path, batch=256)
    assert len(built) >= 3 and any(e.off for e in built)  # (over the imports of both files)
    assert got["summaries"][1][0][0][:4] == (6000, 5345, 593, 62)


def _raw_segments(lo: int, hi: int, levels: Any = None) -> list[tuple[None, int, int]]:
    return [] if lo >= hi else [(None, lo, hi)]


def test_readers_give_the_raw_answer_for_ranges_not_aligned_to_hours(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Board metrics, visualizer aggregates and time series (5-minute buckets and others) from
    day and hour rollups plus raw ends equal the answer from the logs alone."""
    t = 1_700_000_000
    rng = random.Random(1)
    ranges: list[tuple[int | None, int | None]] = [(None, None), (t + 310, None), (None, t + 3599)]
    for _ in range(25):
        a = rng.choice([t, t - 400, -1000]) + rng.randrange(-4000, 100_000)
        ranges.append((a, a + rng.choice([1, 299, 301, 3599, 3601, 7200, 90_000]) + rng.randrange(400)))
    with FlowStore(tmp_path / "s.sqlite") as store:
        store.insert(varied_logs(800, seed=11), strict=False)

        def answers() -> list[Any]:
            out: list[Any] = []
            for a, b in ranges:
                out += [flow_aggregates(store, a, b), policy_metrics(store, a, b)]
                if a is not None and b is not None:
                    out += [time_series(store, a, b, bs) for bs in (300, 600, 3600, 7)]
            return out

        got = answers()
        for mod in (queries, queries_policy, queries_series):
            monkeypatch.setattr(mod, "segments", _raw_segments)
        assert got == answers()


@pytest.mark.parametrize("message", [5, (5, 0, 0)])
def test_a_child_message_of_the_wrong_shape_is_read_on_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, message: Any
) -> None:
    path = tmp_path / "a.log"
    path.write_text("\n".join(LINES) + "\n")
    payload = pickle.dumps(message)
    data = len(payload).to_bytes(8, "little") + payload
    code = f"import sys; sys.stdout.buffer.write(bytes.fromhex({data.hex()!r})); sys.stdout.buffer.flush()"
    monkeypatch.setattr(
        ParallelItems,
        "_start",
        lambda self: subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE),
    )
    reader = ParallelItems(Source(path), batch=3)
    items = list(reader)
    assert reader.fell_back and len(items) == len(LINES)


@pytest.mark.parametrize("keyed", [False, True])
def test_a_refused_record_repeated_in_a_batch_is_refused_twice(tmp_path: Path, keyed: bool) -> None:
    bad = _line(bytes_in=2**64)  # SQLite cannot take it
    lines = [_line(start_time=1714564800 + i) for i in range(4)]
    path = tmp_path / "a.log"
    path.write_text("\n".join([*lines[:2], bad, *lines[2:], bad]) + "\n")
    got = [_summary(import_files([path], tmp_path / f"{b}.sqlite", keyed=keyed, batch=b)) for b in (1, 100)]
    assert got[0] == got[1]
    (files, issues) = got[1]
    assert files[0][:4] == (6, 4, 0, 2) and [i.split(": ")[0] for i in issues] == ["a.log:3", "a.log:6"]


@pytest.mark.parametrize("parallel", [False, True])
def test_records_another_import_stores_during_a_keyed_import_are_counted_as_duplicates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, parallel: bool
) -> None:
    """While a keyed import writes its second batch, another import stores part of the same
    file: the keyed batches holding those records find them inside their transaction and go
    to the store's insert, which counts them as duplicates; nothing is stored twice."""
    from test_import_handover import good, lines_of

    from desktopviz.core import import_apply

    lines = lines_of(good(300, seed=2))
    path, part = tmp_path / "a.log", tmp_path / "b.log"
    path.write_text("\n".join(lines) + "\n")
    part.write_text("\n".join(lines[100:250]) + "\n")
    db = tmp_path / "x.sqlite"
    real = import_apply.KeyedWriter.write
    writes: list[int] = []
    other_import: list[Any] = []

    def racing(self: Any, b: Any, counts: dict[str, int]) -> bool:
        writes.append(b.n)
        if len(writes) == 2 and not other_import:  # the other import's own writes come here too
            other_import.append(_summary(import_files([part], db, keyed=True, batch=40)))
        return bool(real(self, b, counts))

    monkeypatch.setattr(import_apply.KeyedWriter, "write", racing)
    got = _summary(import_files([path], db, keyed=True, batch=100, parallel=parallel))
    n, other = len(lines), len(lines[100:250])
    assert other_import == [([(other, other, 0, 0, other, "done")], [])]
    assert got == ([(n, n - other, other, 0, n - other, "done")], [])
    c = sqlite3.connect(db)
    try:
        assert c.execute("SELECT count(*) FROM flow_data").fetchone()[0] == n
        assert len(stored_digests(c)) == n
        assert c.execute(
            "SELECT records_read, imported, duplicates, skipped, status FROM imports"
        ).fetchall() == [
            (n, n - other, other, 0, "done"),
            (other, other, 0, 0, "done"),
        ]
    finally:
        c.close()
