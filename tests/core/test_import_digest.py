"""Digest version 2 keeps the duplicate semantics of version 1 (equal exactly when version 1
digests are equal, on generated rows with values of every type the store keeps), and a store
keeps the version its digests were written with: a new store gets version 2, a store holding
version 1 digests (earlier versions, or upgraded from schema 2) keeps recognising what was
imported into it, also when a reader process computes the digests."""

from __future__ import annotations

import hashlib
import json
import marshal
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from import_lines import BASE, DATA
from test_store_rollup import varied_logs

from desktopviz.core import import_db
from desktopviz.core.flowlog import FIELDS, VARYING_FIELDS
from desktopviz.core.import_calico import RecordError, flowlog_from_calico
from desktopviz.core.import_db import (
    DIGEST_SECRET_META,
    DIGEST_VERSION_META,
    digest_secret,
    record_hash,
    stored_digests,
)
from desktopviz.core.import_digest import (
    DIGEST_VERSION,
    key_digest,
    key_of,
    row_hash_v1,
    row_hash_v2,
    row_hasher,
    varying_of,
    varying_tail,
)
from desktopviz.core.importers import import_files
from desktopviz.core.store import FlowStore, StoreError

# values whose version 1 bytes differ although Python may call them equal (1 == 1.0 == True)
TRICKY = [0, 1, -1, 1.0, 0.0, -0.0, True, False, "1", "", "0", None, 2**31, 2**63 - 1, 2**63]
TRICKY += [-(2**63), -(2**63) - 1, 2**70, float("inf"), 1.5, "a", "\x00", "é"]
VALUE = st.one_of(
    st.sampled_from(TRICKY),
    st.integers(min_value=-3, max_value=3),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=4),
    st.booleans(),
    st.none(),
)
ROW = st.lists(VALUE, min_size=len(FIELDS), max_size=len(FIELDS)).map(tuple)


@settings(max_examples=600, deadline=None)
@given(a=ROW, edits=st.dictionaries(st.integers(0, len(FIELDS) - 1), st.sampled_from(TRICKY), max_size=3))
def test_version_2_digests_are_equal_exactly_when_version_1_digests_are(
    a: tuple[Any, ...], edits: dict[int, Any]
) -> None:
    b = tuple(edits.get(i, v) for i, v in enumerate(a))  # often equal, or equal to Python only
    same_v1 = row_hash_v1(a) == row_hash_v1(b)
    assert same_v1 == (marshal.dumps(a, 0) == marshal.dumps(b, 0))
    assert (row_hash_v2(a) == row_hash_v2(b)) == same_v1
    reference = key_digest(key_of(a)) + varying_tail(varying_of(a))  # the documented layout
    assert row_hash_v2(a) == hashlib.blake2b(reference, digest_size=16).digest()


@settings(max_examples=300, deadline=None)
@given(
    position=st.sampled_from([FIELDS.index(n) for n in (*VARYING_FIELDS, "dest_port", "host", "policies")]),
    pair=st.sampled_from(
        [(1, 1.0), (1, True), (1, "1"), (0, False), (0, None), (0.0, -0.0), (2**63 - 1, 2**63), (0, "")]
    ),
)
def test_values_equal_to_python_but_stored_apart_give_different_digests(
    position: int, pair: tuple[Any, Any]
) -> None:
    row = list(flowlog_fields(BASE))
    a, b = list(row), list(row)
    a[position], b[position] = pair
    assert row_hash_v2(tuple(a)) != row_hash_v2(tuple(b))
    assert row_hash_v2(tuple(a)) == row_hash_v2(tuple(list(a)))  # and equal rows, equal digests


def flowlog_fields(doc: dict[str, Any]) -> tuple[Any, ...]:
    log = flowlog_from_calico(doc)
    return tuple(getattr(log, n) for n in FIELDS)


def test_version_2_is_the_key_digest_then_the_packed_ints() -> None:
    """The documented layout (docs): BLAKE2b-128 of the key's digest, ``q`` and nine <q ints."""
    import struct

    row = flowlog_fields(BASE)
    data = key_digest(key_of(row)) + b"q" + struct.pack("<9q", *varying_of(row))
    assert row_hash_v2(row) == hashlib.blake2b(data, digest_size=16).digest()
    odd = list(row)
    odd[FIELDS.index("bytes_in")] = 2**64
    tail = b"m" + marshal.dumps(varying_of(tuple(odd)), 0)
    want = hashlib.blake2b(key_digest(key_of(tuple(odd))) + tail, digest_size=16).digest()
    assert row_hash_v2(tuple(odd)) == want
    assert row_hasher(1) is row_hash_v1 and row_hasher(2) is row_hash_v2
    with pytest.raises(ValueError, match="unknown import digest version 4"):
        row_hasher(4)
    with pytest.raises(ValueError, match="needs the store's secret"):
        row_hasher(3)


def digests(db: Path) -> set[tuple[int, bytes]]:
    with FlowStore(db, readonly=True) as store:
        return stored_digests(store)


def secret_of(db: Path) -> bytes:
    with FlowStore(db, readonly=True) as store:
        secret = digest_secret(store)
        assert secret is not None
        return secret


def version_of(db: Path) -> str | None:
    with FlowStore(db, readonly=True) as store:
        return store.get_meta(DIGEST_VERSION_META)


def file_of(tmp: Path, n: int = 300, seed: int = 5) -> tuple[Path, list[Any]]:
    """A Calico file of varied logs and the FlowLogs the importer makes of its lines."""
    lines, logs = [], []
    for log in varied_logs(n, seed=seed):
        try:  # (some have traces the importer reports)
            logs.append(flowlog_from_calico(json.loads(log.to_json())))
        except RecordError:
            continue
        lines.append(log.to_json())
    path = tmp / f"logs_{n}_{seed}.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path, logs


@pytest.mark.parametrize("parallel", [False, True])
def test_a_new_store_gets_version_3_and_finds_its_duplicates(tmp_path: Path, parallel: bool) -> None:
    path, logs = file_of(tmp_path)
    db = tmp_path / "new.sqlite"
    first = import_files([path], db, parallel=parallel, batch=64)
    assert version_of(db) == str(DIGEST_VERSION) == "3"
    secret = secret_of(db)
    assert digests(db) == {(log.start_time, record_hash(log, 3, secret)) for log in logs}
    again = import_files([path], db, parallel=parallel, batch=64)
    assert again.total("imported") == 0 and again.total("duplicates") == first.total("imported") > 0


def _as_earlier_version(db: Path, logs: list[Any]) -> None:
    """What an earlier version leaves: version 1 digests, no digest version in the meta."""
    with FlowStore(db) as store:
        c = store.conn
        c.execute("DELETE FROM import_digests")
        c.execute("DELETE FROM import_digest_sets")
        c.execute("DELETE FROM meta WHERE key = ?", (DIGEST_SECRET_META,))
        c.executemany(
            "INSERT OR IGNORE INTO import_digests (start_time, hash) VALUES (?, ?)",
            [(log.start_time, record_hash(log, 1)) for log in logs],
        )
        c.execute("DELETE FROM meta WHERE key = ?", (DIGEST_VERSION_META,))


@pytest.mark.parametrize("parallel", [False, True])
def test_a_store_with_version_1_digests_keeps_version_1(tmp_path: Path, parallel: bool) -> None:
    """Its records are recognised (read here or by the reader process, which is told the
    version), and what is imported into it gets version 1 digests."""
    path, logs = file_of(tmp_path)
    db = tmp_path / "old.sqlite"
    first = import_files([path], db, parallel=False)
    _as_earlier_version(db, logs)
    again = import_files([path], db, parallel=parallel, batch=64)
    assert again.total("imported") == 0 and again.total("duplicates") == first.total("imported") > 0
    assert version_of(db) == "1"
    more, more_logs = file_of(tmp_path, 120, seed=11)
    added = import_files([more], db, parallel=parallel, batch=64)
    assert added.total("imported") > 0
    assert {(log.start_time, record_hash(log, 1)) for log in more_logs} <= digests(db)
    assert not {(log.start_time, record_hash(log, 2)) for log in more_logs} & digests(db)
    third = import_files([path, more], db, parallel=parallel, batch=64)
    assert third.total("imported") == 0 and version_of(db) == "1"


def test_a_store_imported_into_before_without_digests_of_its_own_gets_version_3(tmp_path: Path) -> None:
    """A store with flow logs but no import digests (simulated, or every import of it failed)."""
    path, logs = file_of(tmp_path, 50)
    db = tmp_path / "sim.sqlite"
    with FlowStore(db) as store:
        store.insert(logs[:10], strict=False)
    import_files([path], db)
    assert version_of(db) == "3"
    assert digests(db) == {(log.start_time, record_hash(log, 3, secret_of(db))) for log in logs}


@pytest.mark.parametrize("parallel", [False, True])
def test_a_store_with_version_2_digests_keeps_version_2(
    tmp_path: Path, parallel: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store an earlier desktopviz imported into (version 2, digests as rows) recognises
    its records and goes on with version-2 digests, read here or by the reader process."""
    path, logs = file_of(tmp_path)
    db = tmp_path / "v2.sqlite"
    with monkeypatch.context() as m:
        m.setattr(import_db, "DIGEST_VERSION", 2)
        first = import_files([path], db, parallel=False, batch=64)
    assert version_of(db) == "2"
    again = import_files([path], db, parallel=parallel, batch=64)
    assert again.total("imported") == 0 and again.total("duplicates") == first.total("imported") > 0
    more, more_logs = file_of(tmp_path, 120, seed=11)
    assert import_files([more], db, parallel=parallel, batch=64).total("imported") > 0
    assert version_of(db) == "2"
    want = {(log.start_time, record_hash(log, 2)) for log in [*logs, *more_logs]}
    assert digests(db) == want
    with FlowStore(db, readonly=True) as store:
        rows = store.conn.execute("SELECT count(*) FROM import_digests").fetchone()[0]
        assert rows == len(want) and store.get_meta(DIGEST_SECRET_META) is None


def test_a_digest_version_this_code_does_not_know_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "future.sqlite"
    with FlowStore(db) as store:
        store.set_meta(DIGEST_VERSION_META, "4")
    with pytest.raises(StoreError, match="import digests of version '4'"):
        import_files([DATA / "calico_v5.jsonl"], db)
    with FlowStore(db, readonly=True) as store:
        assert store.count() == 0 and store.get_meta(DIGEST_VERSION_META) == "4"
        assert not store.conn.execute("SELECT * FROM imports").fetchall()  # no file recorded as running


def test_a_store_upgraded_from_schema_2_recognises_what_was_imported_into_it(tmp_path: Path) -> None:
    """A schema-2 file with the import tables of that version's importer (version 1 digests
    in import_digests) is upgraded to schema 3 and keeps version 1."""
    from test_store_migrate_v2 import make_v2

    path, logs = file_of(tmp_path, 200, seed=3)
    db = tmp_path / "v2.sqlite"
    make_v2(db, logs, tmp_path)
    c = sqlite3.connect(db)
    c.execute("CREATE TABLE import_seen (hash BLOB PRIMARY KEY) WITHOUT ROWID")
    c.execute(
        "CREATE TABLE import_digests (start_time INTEGER NOT NULL, hash BLOB NOT NULL, "
        "PRIMARY KEY (start_time, hash)) WITHOUT ROWID"
    )
    c.executemany(
        "INSERT OR IGNORE INTO import_digests VALUES (?, ?)",
        [(g.start_time, record_hash(g, 1)) for g in logs],
    )
    c.commit()
    c.close()
    again = import_files([path], db, parallel=True, batch=50)
    assert again.total("imported") == 0 and again.total("duplicates") == len(logs)
    with FlowStore(db, readonly=True) as store:
        assert store.get_meta("upgraded_from_schema") == "2" and store.get_meta(DIGEST_VERSION_META) == "1"


def test_hubble_events_are_recognised_whatever_the_version(tmp_path: Path) -> None:
    """Hubble events are digested as parsed (not as rows): the same in either version's store."""
    db = tmp_path / "h.sqlite"
    first = import_files([DATA / "hubble.jsonl"], db)
    assert version_of(db) == "3" and first.total("imported") > 0
    again = import_files([DATA / "hubble.jsonl"], db)
    assert again.total("imported") == 0 and again.total("duplicates") > 0
    with FlowStore(db) as store:
        store.set_meta(DIGEST_VERSION_META, "1")
    third = import_files([DATA / "hubble.jsonl"], db)
    assert third.total("imported") == 0 and third.total("duplicates") == again.total("duplicates")
