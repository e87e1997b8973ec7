"""Keyed batches (a key per distinct non-varying part, nine integers per record) store exactly
what the store's own insert stores: rows and ids, label sets, traces, rollups; also when the
reader numbers from scratch, when a batch is refused and rolled back, and when the store
holds some of the keys already."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_import_handover import everything, good, lines_of, read_back, write
from test_store_rollup import values, varied_logs

from desktopviz.core import import_extract, import_prepare
from desktopviz.core.flowlog import FIELDS
from desktopviz.core.import_apply import REJECTED, KeyedWriter
from desktopviz.core.import_db import ImportWriter, record_digest_groups, record_digests
from desktopviz.core.import_digest import seen_key
from desktopviz.core.import_fast import row_hash
from desktopviz.core.import_keyed import KEY_FIELDS, VARYING_FIELDS, KeyedBatch, KeyedPreparer, join_row
from desktopviz.core.import_read import Source
from desktopviz.core.import_worker import LineItems
from desktopviz.core.importers import import_files
from desktopviz.core.store import FlowStore


def batch_of(prep: KeyedPreparer, rows: list[tuple[Any, ...]]) -> KeyedBatch:
    for k, r in enumerate(rows):
        prep.add_row(r, seen_key(r[0], row_hash(r)), str(k + 1))
    return prep.take()


def grouped(b: KeyedBatch) -> list[tuple[int, bytes]]:
    """A batch's digest keys as its start-time groups give them (in their order)."""
    out = []
    for start, digests in b.by_start:
        hs = digests if type(digests) is list else [digests[i : i + 16] for i in range(0, len(digests), 16)]
        out += [(start, h) for h in hs]
    return out


def inserted(db: Path, parts: list[list[tuple[Any, ...]]]) -> dict[str, Any]:
    """What the store's own insert stores for these batches."""
    with FlowStore(db) as store:
        for part in parts:
            store.insert(part)
    return everything(db, imported=False)


def test_fields_split_into_varying_integers_and_keys() -> None:
    assert VARYING_FIELDS[:2] == ("start_time", "end_time") and len(VARYING_FIELDS) == 9
    assert not set(VARYING_FIELDS) & set(KEY_FIELDS)
    row = values(varied_logs(1, seed=1)[0])
    prep = KeyedPreparer()
    b = batch_of(prep, [row])
    assert b.n == 1 and len(b.ints) == 9 and b.kids == [1]
    assert join_row([c[0] for c in b.ints], _key_of(row)) == row


def _key_of(row: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(row[FIELDS.index(n)] for n in KEY_FIELDS)


def test_keyed_rows_come_back_as_they_were() -> None:
    rows = [values(x) for x in varied_logs(300, seed=9)]
    prep = KeyedPreparer()
    labels: dict[int, str] = {}
    traces: dict[int, str] = {}
    keys: dict[int, tuple[Any, ...]] = {}
    new_keys = []
    for i in range(0, 300, 100):
        part = rows[i : i + 100]
        b = batch_of(prep, part)
        labels.update(b.new_labels)
        traces.update((t, text) for t, text, _ in b.new_traces)
        keys.update(b.new_keys)
        new_keys.append(len(b.new_keys))
        assert b.rows(labels, traces, keys) == [read_back(r) for r in part]
        assert b.unique and b.row_keys() == [seen_key(r[0], row_hash(r)) for r in part]
        assert grouped(b) == sorted(b.row_keys())
        assert b.where_texts() == [str(k + 1) for k in range(len(part))]
    assert len(keys) < len(rows)  # records share keys
    assert sum(new_keys) == len(keys)  # each key's values are sent once


def test_keys_keep_types_apart() -> None:
    """1 and 1.0 are equal in Python but SQLite stores them differently: two keys."""
    row = list(values(good(20, seed=2)[0]))
    other = list(row)
    i = FIELDS.index("dest_port")
    row[i], other[i] = 1, 1.0
    b = batch_of(KeyedPreparer(), [tuple(row), tuple(other)])
    assert b.kids == [1, 2]


def write_all(store: FlowStore, batches: list[KeyedBatch], writer: KeyedWriter | None = None) -> KeyedWriter:
    ap = writer or KeyedWriter(ImportWriter(store, "x", "calico"))
    for b in batches:
        ap.accept(b)
        assert ap.all_new(b)
        ap.write(b, {"imported": b.n})
    return ap


def test_keyed_batches_store_what_the_store_insert_stores(tmp_path: Path) -> None:
    rows = [values(x) for x in good(400, seed=11)]
    parts = [rows[i : i + 37] for i in range(0, len(rows), 37)]
    prep = KeyedPreparer()
    with FlowStore(tmp_path / "b.sqlite") as store:
        write_all(store, [batch_of(prep, p) for p in parts])
    assert everything(tmp_path / "b.sqlite", imported=False) == inserted(tmp_path / "a.sqlite", parts)


def test_a_reader_that_starts_its_numbering_over_maps_to_the_same_ids(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(import_prepare, "CACHE_LIMIT", 2)
    rows = [values(x) for x in good(400, seed=10)]
    parts = [rows[i : i + 37] for i in range(0, len(rows), 37)]
    prep = KeyedPreparer()
    batches = [batch_of(prep, p) for p in parts]
    assert sum(b.reset for b in batches) > 3 and all(b.new_keys for b in batches)
    with FlowStore(tmp_path / "b.sqlite") as store:
        write_all(store, batches)
    assert everything(tmp_path / "b.sqlite", imported=False) == inserted(tmp_path / "a.sqlite", parts)


def test_a_refused_batch_takes_its_keys_with_it(tmp_path: Path) -> None:
    """A batch rolled back (a value SQLite cannot take) had put new keys and label sets in; the
    next batches use some of the same keys and are stored right."""
    logs = good(300, seed=12)
    rows = [values(x) for x in logs]
    bad = list(rows[150])
    bad[FIELDS.index("source_name")] = "\ud800"  # a lone surrogate
    prep = KeyedPreparer()
    first, refused, rest = rows[:100], [*rows[100:150], tuple(bad)], rows[150:]
    b1, b2, b3 = batch_of(prep, first), batch_of(prep, refused), batch_of(prep, rest)
    assert b2.new_keys and set(b3.kids) & set(b2.kids)
    with FlowStore(tmp_path / "b.sqlite") as store:
        ap = write_all(store, [b1])
        ap.accept(b2)
        with pytest.raises(REJECTED):
            ap.write(b2, {"imported": b2.n})
        write_all(store, [b3], ap)
        store.insert(rows[100:150])  # what the importer then does for the good records of the refused batch
    assert everything(tmp_path / "b.sqlite", imported=False) == inserted(
        tmp_path / "a.sqlite", [first, rest, rows[100:150]]
    )


def test_a_batch_refused_after_its_rollup_groups_takes_them_with_it(tmp_path: Path) -> None:
    """A counter SQLite cannot take fails the batch after its keys and rollup groups were
    put in: the next batches, with some of the same flows, get their groups made again."""
    logs = good(300, seed=13)
    rows = [values(x) for x in logs]
    bad = list(rows[150])
    bad[FIELDS.index("bytes_in")] = 2**64
    prep = KeyedPreparer()
    first, refused, rest = rows[:100], [*rows[100:150], tuple(bad)], rows[150:]
    b1, b2, b3 = batch_of(prep, first), batch_of(prep, refused), batch_of(prep, rest)
    assert b2.new_flows and set(b3.flows_used) & {f for f, _ in b2.new_flows}
    with FlowStore(tmp_path / "b.sqlite") as store:
        ap = write_all(store, [b1])
        ap.accept(b2)
        with pytest.raises(REJECTED):
            ap.write(b2, {"imported": b2.n})
        write_all(store, [b3], ap)
        store.insert(rows[100:150])
    assert everything(tmp_path / "b.sqlite", imported=False) == inserted(
        tmp_path / "a.sqlite", [first, rest, rows[100:150]]
    )


def test_keys_the_store_holds_already_are_not_stored_twice(tmp_path: Path) -> None:
    """Keys stored by the store's own insert (on another connection, so found by their digest,
    not in a cache), then keyed batches using some of them and new ones."""
    rows = [values(x) for x in good(300, seed=13)]
    parts = [rows[:100], rows[100:200], rows[200:]]
    prep = KeyedPreparer()
    batches = [batch_of(prep, p) for p in parts[1:]]
    with FlowStore(tmp_path / "b.sqlite") as store:
        store.insert(parts[0])
    with FlowStore(tmp_path / "b.sqlite") as store:
        ap = write_all(store, batches[:1])
        store.insert(parts[2][:10])  # the store's insert between two batches (a batch it sorted out)
        write_all(store, batches[1:], ap)
    got = everything(tmp_path / "b.sqlite", imported=False)
    want = inserted(tmp_path / "a.sqlite", [parts[0], parts[1], parts[2][:10], parts[2]])
    assert got == want
    keys = got["flow_keys"]
    assert len(keys) < len(got["flow_data"]) and len({k[2:] for k in keys}) == len(keys)  # no content twice


def test_a_cancelled_parallel_import_keeps_what_it_counted(tmp_path: Path) -> None:
    """Cancelled after a few batches: those are stored with their rollups and counts;
    importing again adds the rest."""
    lines = lines_of(good(600, seed=15))
    path = write(tmp_path / "a.log", lines)
    db = tmp_path / "x.sqlite"
    calls: list[int] = []

    def cancel() -> bool:
        calls.append(1)
        return len(calls) >= 3

    first = import_files([path], db, parallel=True, batch=50, cancel=cancel)
    assert first.cancelled and 0 < first.total("imported") < len(lines)
    got = everything(db)  # rollups equal the oracle's sums of the stored rows
    assert len(got["flow_data"]) == len(got["import_digests"]) == first.total("imported")
    assert got["imports"][0][2:5] == ("cancelled", first.total("records_read"), first.total("imported"))
    rest = import_files([path], db, parallel=True, batch=50)
    assert rest.total("imported") + first.total("imported") == len(lines)
    assert rest.total("duplicates") == first.total("imported")
    everything(db)


def test_an_extractor_out_of_keys_hands_over_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past KEY_LIMIT distinct texts an extractor gives no more keys: the reader sends those
    lines as rows (extracted the earlier way), and the batches hold the same records."""
    monkeypatch.setattr(import_extract, "KEY_LIMIT", 5)
    path = write(tmp_path / "a.log", lines_of(good(300, seed=16)))
    keyed = list(LineItems(Source(path), keyed=True))
    plain = list(LineItems(Source(path)))
    assert any(len(i) == 5 for i in keyed) and any(len(i) == 3 for i in keyed)
    assert len(keyed) == len(plain)
    for k, p in zip(keyed, plain, strict=True):
        if len(k) == 5:
            where, ints, key, digest, ext = k
            assert (where, join_row(ints, ext.key_values(key)), digest) == p
        else:
            assert k == p


def test_digests_are_recorded_as_given(tmp_path: Path) -> None:
    """Digests are recorded one statement per start time (bound as one blob); any other size
    of digest one by one. Recording them again adds nothing."""
    keys = sorted(
        [(t, bytes([t % 251, i]) * 8) for t in (0, 5, 300, 2**62) for i in range(40)] + [(5, b"x"), (7, b"")]
    )
    with FlowStore(tmp_path / "d.sqlite") as store:
        writer = ImportWriter(store, "x", "calico")
        c = store.conn
        for _ in range(2):
            c.execute("BEGIN")
            record_digests(c, keys)
            c.execute("COMMIT")
        assert writer.unseen(keys) == [False] * len(keys)
        assert [
            tuple(r) for r in c.execute("SELECT start_time, hash FROM import_digests ORDER BY 1, 2")
        ] == keys
    # a keyed batch's groups: a blob per start time, or a list where a digest has another size
    groups = [(t, [h for s, h in keys if s == t]) for t in sorted({s for s, _ in keys})]
    groups = [(t, b"".join(hs) if all(len(h) == 16 for h in hs) else hs) for t, hs in groups]
    assert [type(g) for _, g in groups] == [bytes, list, list, bytes, bytes]
    with FlowStore(tmp_path / "e.sqlite") as store:
        ImportWriter(store, "x", "calico")
        c = store.conn
        for _ in range(2):
            c.execute("BEGIN")
            record_digest_groups(c, groups)
            c.execute("COMMIT")
        assert [
            tuple(r) for r in c.execute("SELECT start_time, hash FROM import_digests ORDER BY 1, 2")
        ] == keys
