"""Review of the seventh session (issue 10: digest version 3 computed by the keyed writer,
digest sets per start time, smaller tail batches, the writer's sums on int64 columns).

The reference for what is stored is ``import_files(..., keyed=False)`` (the store's own
insert); keyed batches read here (``parallel=False``) and from the reader process
(``parallel=True``) must store the same: every table, every digest (rows and sets together,
through ``stored_digests``), the ``imports`` rows and the summaries. Stores compared digest for
digest are made inside ``one_secret()``.
"""

from __future__ import annotations

import json
import random
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from import_lines import LINES
from test_import_digest_sets import one_secret
from test_session6_review import _compare, _summary, _tables

from desktopviz.core import import_db
from desktopviz.core.flowlog import VARYING_FIELDS
from desktopviz.core.import_db import DIGEST_SECRET_META, DIGEST_VERSION_META, stored_digests
from desktopviz.core.import_digest import (
    SECRET_SIZE,
    DigesterV3,
    key_digest,
    new_secret,
    open_secret,
    row_hasher,
    seen_key,
)
from desktopviz.core.import_prepare import normalise
from desktopviz.core.importers import import_files
from desktopviz.core.store import FlowStore, StoreError

BASE = json.loads(LINES[0])
T0 = 1714564800
_EDGES = [0, 1, -1, 2**31, 2**32 - 1, 2**32, -(2**32), 2**62, 2**63 - 1, -(2**63), -(2**63) + 1, 12345]


def _line(**changes: Any) -> str:
    return json.dumps({**BASE, **changes}, separators=(",", ":"))


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def _stored_rows(db: Path) -> int:
    c = sqlite3.connect(db)
    try:
        return int(c.execute("SELECT count(*) FROM flow_logs").fetchone()[0])
    finally:
        c.close()


def _meta(db: Path, key: str) -> str | None:
    c = sqlite3.connect(db)
    try:
        row = c.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]
    finally:
        c.close()


def _expected_digests(db: Path, lines: list[str]) -> set[tuple[int, bytes]]:
    """What the store's version-3 digests of ``lines`` (one Calico record a line) must be,
    from the definition: row_hasher(3, the store's secret) of each normalised row."""
    secret = open_secret(_meta(db, DIGEST_SECRET_META))
    assert secret is not None
    digest = row_hasher(3, secret)
    out = set()
    for line in lines:
        row = normalise(json.loads(line))
        assert type(row) is tuple, row
        out.add(seen_key(row[0], digest(row)))
    return out


# -- the digest itself --------------------------------------------------------------------------


def test_the_batch_digests_equal_the_record_digests_at_the_64_bit_edges() -> None:
    rng = random.Random(5)
    d = DigesterV3(new_secret())
    kds = [key_digest((i, "k")) for i in range(3)]
    rows = [tuple(rng.choice(_EDGES) for _ in VARYING_FIELDS) for _ in range(300)]
    rows += [tuple([v] * len(VARYING_FIELDS)) for v in _EDGES]
    kids = [rng.randrange(3) for _ in rows]
    bases = np.stack([d.key_base(kds[k]) for k in kids])
    blob = d.batch(bases, np.array(rows, dtype=np.int64))
    one = b"".join(d.digest(kds[k], r) for k, r in zip(kids, rows, strict=True))
    assert blob == one
    assert len(set(blob[i : i + 16] for i in range(0, len(blob), 16))) == len(
        set(zip(kids, rows, strict=True))
    )


def test_values_python_finds_equal_keep_their_own_version_3_digests() -> None:
    d = DigesterV3(new_secret())
    kd = key_digest(("k",))
    forms = [(1,) * 9, (1.0,) * 9, (True,) * 9, (1,) * 8 + (1.0,), (1,) * 8 + (2**64 + 1,)]
    assert len({d.digest(kd, v) for v in forms}) == len(forms)
    assert d.digest(kd, (0,) * 8 + (0.0,)) != d.digest(kd, (0,) * 8 + (-0.0,))


def test_a_secret_of_the_wrong_size_is_refused() -> None:
    for bad in (b"", b"x" * (SECRET_SIZE - 1), b"x" * (SECRET_SIZE + 1)):
        with pytest.raises(ValueError):
            DigesterV3(bad)


def test_a_look_up_in_sets_finds_exactly_the_stored_digests_sharing_long_prefixes() -> None:
    """Digests that share their first 8 bytes (the numpy search's key), queried in numbers
    below and above FEW, with digests that are not stored but share a stored one's prefix."""
    from desktopviz.core.import_db_sets import FEW, held_in_sets, sorted_blob

    rng = random.Random(2)
    prefixes = [bytes(rng.randrange(256) for _ in range(8)) for _ in range(5)]
    pool = list({p + bytes(rng.randrange(256) for _ in range(8)) for p in prefixes for _ in range(40)})
    rng.shuffle(pool)
    stored = pool[: len(pool) // 2]
    blobs = [
        sorted_blob(b"".join(stored[: len(stored) // 3])),
        sorted_blob(b"".join(stored[len(stored) // 3 :])),
    ]
    for n in (1, FEW, FEW + 1, len(pool)):
        query = rng.sample(pool, n)
        assert sorted(held_in_sets(blobs, query)) == sorted(h for h in query if h in set(stored))


# -- every path stores what the store's insert stores -----------------------------------------


def _mixed_lines(n: int) -> list[str]:
    """Canonical lines (the extractor and its hot path take them), lines it declines, nulls in
    counters, negative counters and start times at the int64 edges, in one file."""
    out = []
    for i in range(n):
        changes: dict[str, Any] = {"start_time": T0 + 60 * (i % 13), "bytes_in": i, "num_flows": i % 5}
        r = i % 17
        if r == 3:
            changes["num_flows_started"] = None
        elif r == 5:
            changes["bytes_out"] = -i
        elif r == 7:
            changes["packets_in"] = 2**62 + i
        elif r == 11:
            changes["source_name_aggr"] = f"pod-{i}-*"
        out.append(_line(**changes))
    out += [_line(start_time=2**63 - 1, end_time=2**63 - 1), _line(start_time=-(2**62), end_time=0)]
    return out


@pytest.mark.parametrize(("parallel", "keyed"), [(False, False), (False, True), (True, True)])
def test_version_3_digests_are_their_definition_from_every_path(
    tmp_path: Path, parallel: bool, keyed: bool
) -> None:
    lines = _mixed_lines(150)
    path = _write(tmp_path / "a.log", lines)
    db = tmp_path / "s.db"
    first = import_files([path], db, parallel=parallel, keyed=keyed, batch=16)
    assert _meta(db, DIGEST_VERSION_META) == "3"
    assert first.total("imported") == len(lines) and first.total("skipped") == 0
    c = sqlite3.connect(db)
    try:
        assert c.execute("SELECT count(*) FROM import_digest_sets").fetchone()[0] > 0
    finally:
        c.close()
    assert stored_digests(sqlite3.connect(db)) == _expected_digests(db, lines)
    again = import_files([path], db, parallel=parallel, keyed=keyed, batch=16)
    assert (again.total("imported"), again.total("duplicates")) == (0, len(lines))


def _es_line(docs: list[str]) -> str:
    return json.dumps({"hits": {"hits": [{"_source": json.loads(d)} for d in docs]}})


@pytest.mark.parametrize(("parallel", "keyed"), [(False, False), (False, True), (True, True)])
def test_the_same_records_as_lines_elasticsearch_hits_and_an_array_are_stored_once(
    tmp_path: Path, parallel: bool, keyed: bool
) -> None:
    """Records as JSON lines (the extractor's), then as Elasticsearch responses with several
    hits a line mixed with some of the lines again (duplicates inside a batch), then as a JSON
    array document: the second and third files are all duplicates."""
    lines = _mixed_lines(60)
    plain = _write(tmp_path / "a.log", lines)
    es = [_es_line(lines[i : i + 3]) for i in range(0, len(lines), 3)]
    mixed = _write(tmp_path / "b.log", [x for pair in zip(es, lines, strict=False) for x in pair])
    array = tmp_path / "c.json"
    array.write_text(json.dumps([json.loads(x) for x in lines]))
    db = tmp_path / "s.db"
    got = [
        import_files([p], db, parallel=parallel, keyed=keyed, batch=8).files[0] for p in (plain, mixed, array)
    ]
    n = len(lines)
    assert [(f.records_read, f.imported, f.duplicates, f.skipped) for f in got] == [
        (n, n, 0, 0),
        (n + len(es), 0, n + len(es), 0),
        (n, 0, n, 0),
    ]
    assert stored_digests(sqlite3.connect(db)) == _expected_digests(db, lines)


def test_records_that_differ_in_label_order_only_keep_their_own_digests(tmp_path: Path) -> None:
    """Label lists in another order are other records (their marshal bytes, so their reference
    digests, differ; the store keeps them as two label sets): numbered apart in the reader (its
    hot path included), both are stored, in every path, and each is found again."""
    labels = BASE["source_labels"]["labels"]
    lines = []
    for i in range(80):
        order = labels if i % 2 else list(reversed(labels))
        lines.append(_line(start_time=T0 + 300 * (i % 4), bytes_in=i // 2, source_labels={"labels": order}))
    path = _write(tmp_path / "a.log", lines)
    got = _compare([[path], [path]], tmp_path, batch=9)
    assert got["summaries"][0][0] == [(80, 80, 0, 0, 80, "done")]
    assert got["summaries"][1][0] == [(80, 0, 80, 0, 0, "done")]
    assert len(got["flow_keys"]) == 2 and len(got["import_digests"]) == 80


def test_what_is_stored_does_not_depend_on_the_batch_size(tmp_path: Path) -> None:
    """The same hostile file, imported twice in each mode with batches of 1, 7, 64 records and
    the default: every table, digest and count the same."""
    from test_session6_review import _hostile_lines

    lines = _hostile_lines(random.Random(11), 150)
    path = _write(tmp_path / "a.log", lines)
    got = {}
    with one_secret():
        for parallel, keyed in ((False, False), (False, True), (True, True)):
            for batch in (1, 7, 64, None) if not parallel else (7, None):
                db = tmp_path / f"{parallel}{keyed}{batch}.db"
                sums = [
                    _summary(import_files([path], db, parallel=parallel, keyed=keyed, batch=batch))
                    for _ in range(2)
                ]
                got[(parallel, keyed, batch)] = (sums, _tables(db))
    want = got.pop((False, False, None))
    for name, (sums, tables) in got.items():
        assert sums == want[0], name
        for t in want[1]:
            assert tables[t] == want[1][t], (name, t)


def test_the_tail_batches_store_what_the_store_insert_stores(tmp_path: Path) -> None:
    """A file long enough for its last part to be read in smaller batches (down to
    TAIL_BATCH), in the reader process and here."""
    from desktopviz.core.import_lines import TAIL_BATCH

    lines = [
        _line(start_time=T0 + 60 * (i // 500), bytes_in=i, source_name_aggr=f"p{i % 40}-*")
        for i in range(9000)
    ]
    path = _write(tmp_path / "a.log", lines)
    got = _compare([[path]], tmp_path, batch=4 * TAIL_BATCH)
    assert got["summaries"][0][0] == [(9000, 9000, 0, 0, 9000, "done")]


def test_a_reader_that_numbers_its_keys_from_scratch_mid_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reader's caches overflow (import_prepare.CACHE_LIMIT): its next batch numbers keys
    from scratch, and the writer's digest completer forgets its key digests too."""
    from test_import_handover import good, lines_of

    from desktopviz.core import import_prepare

    monkeypatch.setattr(import_prepare, "CACHE_LIMIT", 4)
    lines = lines_of(good(300, 5)) + _mixed_lines(60) + lines_of(good(300, 5))
    path = _write(tmp_path / "a.log", lines)
    got = _compare([[path], [path]], tmp_path, batch=13, parallel=False)
    assert got["summaries"][1][0][0][1] == 0  # the file again: nothing new


def test_calico_records_at_start_time_0_and_hubble_events_share_the_rows_and_are_found_again(
    tmp_path: Path,
) -> None:
    """Calico records at start time 0 (kept as rows, like Hubble events) and at other start
    times (sets), then a Hubble file, then both again: every path stores what the store's
    insert stores and the second time nothing."""
    from import_lines import DATA

    lines = [_line(start_time=s, end_time=s + 300, bytes_in=i) for i in range(20) for s in (0, -300, T0)]
    path = _write(tmp_path / "a.log", lines)
    hubble = DATA / "hubble.jsonl"
    got = _compare([[path], [hubble], [path, hubble]], tmp_path, batch=7)
    assert got["summaries"][0][0] == [(60, 60, 0, 0, 60, "done")]
    assert [f[1] for f in got["summaries"][2][0]] == [0, 0]  # nothing new the second time
    assert sum(1 for s, _ in got["import_digests"] if s == 0) == 20 + got["summaries"][1][0][0][1]


# -- the store's version and secret ------------------------------------------------------------


@pytest.mark.parametrize(("parallel", "keyed"), [(False, False), (False, True), (True, True)])
def test_a_version_2_store_stays_version_2_and_recognises_its_records(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, parallel: bool, keyed: bool
) -> None:
    from desktopviz.core.import_digest import row_hash_v2

    one, two = _mixed_lines(40), [_line(start_time=T0 + 7, bytes_in=10**6 + i) for i in range(30)]
    a, b = _write(tmp_path / "a.log", one), _write(tmp_path / "b.log", two)
    db = tmp_path / "s.db"
    with monkeypatch.context() as mp:
        mp.setattr(import_db, "DIGEST_VERSION", 2)
        import_files([a], db, keyed=False)
    again = import_files([a, b], db, parallel=parallel, keyed=keyed, batch=8)
    assert [(f.imported, f.duplicates) for f in again.files] == [(0, len(one)), (len(two), 0)]
    assert _meta(db, DIGEST_VERSION_META) == "2" and _meta(db, DIGEST_SECRET_META) is None
    rows = [normalise(json.loads(x)) for x in one + two]
    assert stored_digests(sqlite3.connect(db)) == {seen_key(r[0], row_hash_v2(r)) for r in rows}
    c = sqlite3.connect(db)
    try:
        assert c.execute("SELECT count(*) FROM import_digest_sets").fetchone()[0] == 0
    finally:
        c.close()


def test_hubble_events_in_a_version_3_store_stay_rows_and_are_found_again(tmp_path: Path) -> None:
    from import_lines import DATA

    db = tmp_path / "s.db"
    first = import_files([DATA / "hubble.jsonl"], db)
    again = import_files([DATA / "hubble.jsonl"], db)
    assert _meta(db, DIGEST_VERSION_META) == "3"
    assert first.total("imported") > 0
    assert (again.total("imported"), again.total("duplicates")) == (0, first.total("imported"))
    c = sqlite3.connect(db)
    try:
        assert c.execute("SELECT count(*) FROM import_digest_sets").fetchone()[0] == 0
        assert c.execute("SELECT DISTINCT start_time FROM import_digests").fetchall() == [(0,)]
    finally:
        c.close()


@pytest.mark.parametrize(("parallel", "keyed"), [(False, False), (False, True), (True, True)])
def test_an_interrupted_write_leaves_whole_batches_and_the_import_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, parallel: bool, keyed: bool
) -> None:
    """Ctrl-C after a batch's digest sets were written, before its transaction commits: the
    batch is rolled back whole, and importing again stores exactly what one import stores."""
    from test_import_handover import good, lines_of

    path = _write(tmp_path / "a.log", lines_of(good(400, 2)))
    ref = tmp_path / "ref.db"
    db = tmp_path / "s.db"
    real = import_db.record_digest_sets
    calls = []

    def interrupted(c: sqlite3.Connection, by_start: Any) -> None:
        real(c, by_start)
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt

    with one_secret():
        import_files([path], ref, keyed=False, batch=40)
        with monkeypatch.context() as mp:
            mp.setattr(import_db, "record_digest_sets", interrupted)
            first = import_files([path], db, parallel=parallel, keyed=keyed, batch=40)
        mid = _tables(db)
        assert first.cancelled and len(mid["flow_logs"]) == len(mid["import_digests"]) == 80
        again = import_files([path], db, parallel=parallel, keyed=keyed, batch=40)
    want, got = _tables(ref), _tables(db)
    for t in want:
        if t != "imports":
            assert got[t] == want[t], t
    assert (again.total("imported"), again.total("duplicates")) == (len(want["flow_logs"]) - 80, 80)


def test_two_imports_of_one_file_at_once_into_a_new_store(tmp_path: Path) -> None:
    """Two processes import the same file into one store at once (reader processes, keyed
    batches): they agree on the version and the secret, and each record is stored once."""
    import subprocess
    import sys

    from test_import_handover import good, lines_of

    lines = lines_of(good(1500, 4))
    path = _write(tmp_path / "a.log", lines)
    db = tmp_path / "s.db"
    FlowStore(db).close()  # (two processes creating the store itself at once: not this review's)
    code = (
        "import sys\nfrom desktopviz.core.importers import import_files\n"
        "s = import_files([sys.argv[1]], sys.argv[2], parallel=True, batch=100)\n"
        "print(s.total('imported'), s.total('duplicates'))\n"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(path), str(db)], stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=120)[0].split() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    n = _stored_rows(db)
    assert sorted(int(o[0]) + int(o[1]) for o in outs) == [n, n]
    assert sum(int(o[0]) for o in outs) == n
    assert _meta(db, DIGEST_VERSION_META) == "3"
    assert stored_digests(sqlite3.connect(db)) == _expected_digests(db, lines)


def test_a_read_only_open_gives_the_stores_version_and_secret_and_writes_nothing(tmp_path: Path) -> None:
    from desktopviz.core.import_db import digest_secret, digest_version

    path = _write(tmp_path / "a.log", _mixed_lines(20))
    db = tmp_path / "s.db"
    import_files([path], db)
    before = (tmp_path / "s.db").read_bytes()
    with FlowStore(db, readonly=True) as store:
        assert digest_version(store) == 3
        assert digest_secret(store) == open_secret(_meta(db, DIGEST_SECRET_META))
    assert (tmp_path / "s.db").read_bytes() == before


@pytest.mark.parametrize(("parallel", "keyed"), [(False, False), (False, True), (True, True)])
def test_a_schema_3_store_imported_into_by_the_last_version_keeps_version_2_after_the_upgrade(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, parallel: bool, keyed: bool
) -> None:
    """A schema-3 file with the import tables the previous importer wrote (version-2 digest
    rows, no digest sets table, no secret): opened for an import it is upgraded to schema 4,
    keeps version 2 and recognises every record."""
    from test_store_levels import make_v3

    lines = _mixed_lines(50)
    path = _write(tmp_path / "a.log", lines)
    db = tmp_path / "s.db"
    with monkeypatch.context() as mp:
        mp.setattr(import_db, "DIGEST_VERSION", 2)
        import_files([path], db, keyed=False)
    c = sqlite3.connect(db)
    c.execute("DROP TABLE import_digest_sets")
    c.commit()
    c.close()
    assert make_v3(db) > 0
    again = import_files([path], db, parallel=parallel, keyed=keyed, batch=8)
    assert (again.total("imported"), again.total("duplicates")) == (0, len(lines))
    assert _meta(db, "schema_version") == "4" and _meta(db, DIGEST_VERSION_META) == "2"
    assert _meta(db, DIGEST_SECRET_META) is None


# -- defects: the first three mended in 4341eb3 (plain tests now), the last one open -------------


def _new_store_with_secret(db: Path, secret_hex: str) -> None:
    """A new version-3 store (its version and secret recorded by an import of nothing) whose
    secret is then replaced."""
    with FlowStore(db) as store:
        import_db.ImportWriter(store, "x.log", "calico").finish("done")
        assert store.get_meta(DIGEST_VERSION_META) == "3"
        store.set_meta(DIGEST_SECRET_META, secret_hex)


@pytest.mark.parametrize(("parallel", "keyed"), [(False, False), (False, True), (True, True)])
def test_a_degenerate_secret_never_makes_distinct_records_duplicates(
    tmp_path: Path, parallel: bool, keyed: bool
) -> None:
    lines = [_line(bytes_in=i) for i in range(10)]  # one start time, ten distinct records
    path = _write(tmp_path / "a.log", lines)
    db = tmp_path / "s.db"
    _new_store_with_secret(db, "00" * SECRET_SIZE)
    try:
        got = import_files([path], db, parallel=parallel, keyed=keyed)
    except StoreError:  # refused as damaged, as a secret of the wrong size is: fine
        return
    assert (got.total("imported"), got.total("duplicates")) == (10, 0)
    assert _stored_rows(db) == 10


@pytest.mark.parametrize("text", ["03", " 3", "+3"])
def test_a_version_written_in_another_form_never_replaces_the_stores_secret(
    tmp_path: Path, text: str
) -> None:
    lines = _mixed_lines(30)
    path = _write(tmp_path / "a.log", lines)
    db = tmp_path / "s.db"
    import_files([path], db)
    secret = _meta(db, DIGEST_SECRET_META)
    c = sqlite3.connect(db)
    c.execute("UPDATE meta SET value = ? WHERE key = ?", (text, DIGEST_VERSION_META))
    c.commit()
    c.close()
    try:
        again = import_files([path], db)
    except StoreError:  # refused as a version it cannot read: fine, as long as nothing changed
        assert _meta(db, DIGEST_SECRET_META) == secret
        return
    assert _meta(db, DIGEST_SECRET_META) == secret
    assert (again.total("imported"), again.total("duplicates")) == (0, len(lines))


def test_a_reader_process_giving_version_3_rows_reads_the_file(tmp_path: Path) -> None:
    from test_import_handover import good, lines_of

    from desktopviz.core.import_lines import LineItems
    from desktopviz.core.import_read import Source
    from desktopviz.core.import_worker import ParallelItems

    path = _write(tmp_path / "a.log", lines_of(good(100, 3)))
    secret = new_secret()
    try:
        reader = ParallelItems(Source(path), digest_version=3, secret=secret)
    except ValueError:  # refused up front: fine too
        return
    items = list(reader)
    assert items == list(LineItems(Source(path), digest_version=3, secret=secret))
    assert not reader.fell_back


@pytest.mark.parametrize("word", ["ff" * 8, "0123456789abcdef"])
def test_a_secret_of_equal_multipliers_never_makes_distinct_records_duplicates(
    tmp_path: Path, word: str
) -> None:
    """A damaged secret of the right size (all multipliers equal: a digest would depend on the
    sum of the record's words only) is refused: the secret is kept with a BLAKE2b check."""
    lines = [_line(bytes_in=i, bytes_out=9 - i) for i in range(10)]  # one start time, ten distinct records
    path = _write(tmp_path / "a.log", lines)
    db = tmp_path / "s.db"
    _new_store_with_secret(db, word * (SECRET_SIZE // 8))
    try:
        got = import_files([path], db, keyed=False)
    except StoreError:  # refused as damaged: fine
        return
    assert (got.total("imported"), got.total("duplicates")) == (10, 0)
