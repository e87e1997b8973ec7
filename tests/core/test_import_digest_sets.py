"""Import digest version 3 in the store: the store's secret, and each write's digests kept as
one set per start time (``import_digest_sets``) instead of a row per record. A record stored
once is found again whatever form its digest has; a damaged secret refuses the import;
version 1 and 2 stores are written as before."""

from __future__ import annotations

import json
import random
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from test_store_rollup import varied_logs

from desktopviz.core import import_db
from desktopviz.core.flowlog import FlowLog
from desktopviz.core.import_calico import flowlog_from_calico
from desktopviz.core.import_db import (
    DIGEST_SECRET_META,
    DIGEST_VERSION_META,
    ImportWriter,
    StoredMeanwhile,
    _fields,
    digest_secret,
    digest_version,
    ensure_tables,
    record_digest_groups,
    record_hash,
    stored_digests,
)
from desktopviz.core.import_db_sets import held_in_sets
from desktopviz.core.import_digest import (
    DIGEST_SIZE,
    SECRET_SIZE,
    new_secret,
    row_hasher,
    seal_secret,
    seen_key,
)
from desktopviz.core.importers import import_files
from desktopviz.core.store import FlowStore, StoreError

Key = tuple[int, bytes]


@contextmanager
def one_secret() -> Iterator[None]:
    """Every store that gets a secret meanwhile gets the same one, so that two version-3
    stores that hold digests of the same records hold the same digests (as version-2 ones
    do): what a test comparing two stores' digests needs."""
    secret = new_secret()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(import_db, "new_secret", lambda: secret)
        yield


def logs_of(n: int, seed: int) -> list[FlowLog]:
    """Distinct varied logs the store takes (a few start times each)."""
    seen: dict[bytes, FlowLog] = {}
    for log in varied_logs(n, seed):
        if "not a trace" in json.dumps(log.policies):  # (the store's insert refuses those)
            continue
        seen.setdefault(record_hash(log, 2), log)
    return list(seen.values())


def import_logs(store: FlowStore, logs: list[FlowLog]) -> tuple[int, int]:
    """What the importer's store's-insert path does with a batch: digests of the store's
    version, the new ones written with their records; (imported, duplicates)."""
    w = ImportWriter(store, "x.log", "calico")
    digest = row_hasher(w.digest_version, w.secret)
    keys = [seen_key(log.start_time, digest(_fields(log))) for log in logs]
    new = w.unseen(keys)
    fresh = [log for log, n in zip(logs, new, strict=True) if n]
    counts = {"imported": len(fresh), "duplicates": len(logs) - len(fresh)}
    w.write(fresh, [k for k, n in zip(keys, new, strict=True) if n], counts)
    w.finish("done")
    return counts["imported"], counts["duplicates"]


def dump(db: Path) -> list[str]:
    c = sqlite3.connect(db)
    try:
        return list(c.iterdump())
    finally:
        c.close()


def set_rows(db: Path) -> list[tuple[int, bytes]]:
    c = sqlite3.connect(db)
    try:
        return c.execute("SELECT start_time, digests FROM import_digest_sets ORDER BY rowid").fetchall()
    finally:
        c.close()


def row_count(db: Path) -> int:
    c = sqlite3.connect(db)
    try:
        return int(c.execute("SELECT count(*) FROM import_digests").fetchone()[0])
    finally:
        c.close()


@pytest.fixture
def v3(monkeypatch: pytest.MonkeyPatch) -> None:
    """New stores get version 3 (as they will once the importer computes it)."""
    monkeypatch.setattr(import_db, "DIGEST_VERSION", 3)


# -- the version and the secret ---------------------------------------------------------------


def test_a_new_store_gets_version_3_and_a_secret_of_its_own(tmp_path: Path, v3: None) -> None:
    secrets = []
    for name in ("a.db", "b.db"):
        with FlowStore(tmp_path / name) as store:
            w = ImportWriter(store, "x.log", "calico")
            assert w.digest_version == 3 and w.secret is not None and len(w.secret) == SECRET_SIZE
            assert store.get_meta(DIGEST_VERSION_META) == "3"
            assert store.get_meta(DIGEST_SECRET_META) == seal_secret(w.secret)  # (with its check)
            assert digest_secret(store) == w.secret
            secrets.append(w.secret)
    assert secrets[0] != secrets[1]


def test_two_imports_opening_a_new_store_at_once_share_its_secret(tmp_path: Path, v3: None) -> None:
    with FlowStore(tmp_path / "s.db") as one, FlowStore(tmp_path / "s.db") as two:
        first, second = ImportWriter(one, "a.log", "calico"), ImportWriter(two, "a.log", "calico")
        assert first.secret == second.secret is not None


@pytest.mark.parametrize("new_version", [2, 3])
def test_a_store_keeps_its_version_while_it_holds_digests(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, new_version: int
) -> None:
    """Whatever version new stores get: a store with digests keeps the version they were
    written with; one without digests gets the new stores' version."""
    logs = logs_of(40, seed=1)
    held = {}
    for version in (2, 3):
        monkeypatch.setattr(import_db, "DIGEST_VERSION", version)
        with FlowStore(tmp_path / f"v{version}.db") as store:
            import_logs(store, logs)
            held[version] = stored_digests(store)
    monkeypatch.setattr(import_db, "DIGEST_VERSION", new_version)
    for version in (2, 3):
        with FlowStore(tmp_path / f"v{version}.db") as store:
            secret = store.get_meta(DIGEST_SECRET_META)
            assert import_logs(store, logs) == (0, len(logs))  # recognised: the same version
            assert digest_version(store) == version and store.get_meta(DIGEST_VERSION_META) == str(version)
            assert store.get_meta(DIGEST_SECRET_META) == secret and stored_digests(store) == held[version]
    with FlowStore(tmp_path / "empty.db") as store:  # recorded, but no digest: the new stores' version
        store.set_meta(DIGEST_VERSION_META, 5 - new_version)
        assert digest_version(store) == new_version
        assert (digest_secret(store) is not None) == (new_version == 3)
    with FlowStore(tmp_path / "old.db") as store:  # digests from before the version was recorded
        ensure_tables(store)
        store.conn.execute("INSERT INTO import_digests VALUES (1, ?)", (b"\1" * DIGEST_SIZE,))
        assert digest_version(store) == 1 and digest_secret(store) is None
    with FlowStore(tmp_path / "sets.db") as store:  # digest sets alone are digests too
        ensure_tables(store)
        store.set_meta(DIGEST_VERSION_META, 3)
        store.set_meta(DIGEST_SECRET_META, seal_secret(b"\xab" * SECRET_SIZE))
        store.conn.execute("INSERT INTO import_digest_sets VALUES (1, ?)", (b"\1" * DIGEST_SIZE,))
        assert digest_version(store) == 3 and digest_secret(store) == b"\xab" * SECRET_SIZE
    with FlowStore(tmp_path / "future.db") as store:
        ensure_tables(store)
        store.set_meta(DIGEST_VERSION_META, 4)
        with pytest.raises(StoreError, match="import digests of version '4'"):
            digest_version(store)


@pytest.mark.parametrize("damage", ["missing", "short", "not hex"])
def test_a_damaged_secret_refuses_the_import_and_changes_nothing(
    tmp_path: Path, v3: None, damage: str
) -> None:
    db = tmp_path / "s.db"
    with FlowStore(db) as store:
        import_logs(store, logs_of(30, seed=2))
        if damage == "missing":
            store.conn.execute("DELETE FROM meta WHERE key = ?", (DIGEST_SECRET_META,))
        else:
            secret = store.get_meta(DIGEST_SECRET_META) or ""
            store.set_meta(DIGEST_SECRET_META, secret[:-2] if damage == "short" else "zz" + secret[2:])
    before = dump(db)
    with FlowStore(db) as store:
        with pytest.raises(StoreError) as err:
            ImportWriter(store, "x.log", "calico")
    assert str(db) in str(err.value) and DIGEST_SECRET_META in str(err.value)
    assert ("missing" if damage == "missing" else "damaged") in str(err.value)
    assert dump(db) == before  # no file recorded as running, no new secret


# -- digest sets ------------------------------------------------------------------------------


def test_a_version_3_store_keeps_each_write_as_sets_and_stores_each_record_once(
    tmp_path: Path, v3: None
) -> None:
    db = tmp_path / "s.db"
    logs = logs_of(300, seed=3)
    first, second = logs[:200], logs[100:]
    with FlowStore(db) as store:
        assert import_logs(store, first) == (200, 0)
        assert import_logs(store, second) == (len(second) - 100, 100)
        assert import_logs(store, logs) == (0, len(logs))
        assert store.count() == len(logs)
        secret = digest_secret(store)
        want = {seen_key(log.start_time, record_hash(log, 3, secret)) for log in logs}
        assert stored_digests(store) == want
        history = [(h["imported"], h["duplicates"]) for h in import_db.import_history(store)]
    assert history == [(200, 0), (len(second) - 100, 100), (0, len(logs))]
    assert row_count(db) == 0  # no start time 0 here: all in sets
    sets = set_rows(db)
    starts = {start for start, _ in want}
    # one set per start time and write (the third wrote nothing), each sorted, holding the digests
    assert len(sets) <= 2 * len(starts) and {s for s, _ in sets} == starts
    got = []
    for start, blob in sets:
        assert len(blob) % DIGEST_SIZE == 0
        digests = [blob[i : i + DIGEST_SIZE] for i in range(0, len(blob), DIGEST_SIZE)]
        assert digests == sorted(digests)
        got += [(start, h) for h in digests]
    assert sorted(got) == sorted(want)  # each exactly once


def test_start_time_0_and_digests_of_another_size_stay_rows(tmp_path: Path, v3: None) -> None:
    """Hubble events are all keyed at start time 0: a set there would grow without end."""
    db = tmp_path / "s.db"
    logs = logs_of(20, seed=4)
    events = [(0, bytes([i]) * DIGEST_SIZE) for i in range(len(logs))]
    with FlowStore(db) as store:
        w = ImportWriter(store, "h.json", "hubble")
        assert w.unseen(events) == [True] * len(events)
        w.write(logs, events, {"imported": len(logs)})
        w2 = ImportWriter(store, "h.json", "hubble")
        assert w2.unseen(events) == [False] * len(events)
        c = store.conn
        c.execute("BEGIN IMMEDIATE")
        w2.record_groups([(0, b"\xf7" * DIGEST_SIZE), (5, [b"odd"]), (7, b"\x08" * 2 * DIGEST_SIZE)])
        c.execute("COMMIT")
        assert w2.stored([(5, [b"odd"]), (7, [b"\x08" * DIGEST_SIZE, b"\x09" * DIGEST_SIZE])]) == {
            (5, b"odd"),
            (7, b"\x08" * DIGEST_SIZE),
        }
    assert row_count(db) == len(events) + 2
    assert set_rows(db) == [(7, b"\x08" * 2 * DIGEST_SIZE)]


def test_rows_and_sets_of_one_start_time_are_both_found(tmp_path: Path, v3: None) -> None:
    """The keyed writer records rows (record_digest_groups) until it writes in the store's form."""
    a, b, c_ = (bytes([i]) * DIGEST_SIZE for i in (1, 2, 3))
    with FlowStore(tmp_path / "s.db") as store:
        w = ImportWriter(store, "x.log", "calico")
        c = store.conn
        c.execute("BEGIN IMMEDIATE")
        record_digest_groups(c, [(9, a)])
        w.record_groups([(9, b)])
        c.execute("COMMIT")
        assert w.stored([(9, [a, b, c_]), (10, [a])]) == {(9, a), (9, b)}
        assert w.unseen([(9, c_), (9, a), (9, b), (9, c_)]) == [True, False, False, False]
        assert stored_digests(store) == {(9, a), (9, b)}


def test_a_record_another_import_stored_meanwhile_is_not_stored_twice(tmp_path: Path, v3: None) -> None:
    logs = logs_of(50, seed=5)
    with FlowStore(tmp_path / "s.db") as one, FlowStore(tmp_path / "s.db") as two:
        writers = [ImportWriter(s, "x.log", "calico") for s in (one, two)]
        digest = row_hasher(3, writers[0].secret)
        keys = [seen_key(log.start_time, digest(_fields(log))) for log in logs]
        assert all(writers[0].unseen(keys)) and all(writers[1].unseen(keys))
        writers[0].write(logs, keys, {"imported": len(logs)})
        with pytest.raises(StoredMeanwhile):
            writers[1].write(logs, keys, {"imported": len(logs)})
        assert one.count() == len(logs) and len(stored_digests(one)) == len(keys)
        assert writers[1].unseen(keys) == [False] * len(keys)


def test_a_version_2_store_is_written_as_before(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(import_db, "DIGEST_VERSION", 2)
    db = tmp_path / "s.db"
    logs = logs_of(200, seed=6)
    with FlowStore(db) as store:
        assert import_logs(store, logs[:150]) == (150, 0)
        assert import_logs(store, logs) == (len(logs) - 150, 150)
        assert digest_version(store) == 2 and digest_secret(store) is None
        assert store.get_meta(DIGEST_SECRET_META) is None
        rows = {tuple(r) for r in store.conn.execute("SELECT start_time, hash FROM import_digests")}
        assert rows == stored_digests(store) == {seen_key(g.start_time, record_hash(g, 2)) for g in logs}
    assert set_rows(db) == []


@pytest.mark.parametrize("queried", [3, 200])  # the exact search alone, and numpy's
def test_a_look_up_in_sets_finds_exactly_the_stored_digests(queried: int) -> None:
    """Against a Python set, with stored digests that share their first 8 bytes (which the
    numpy search cannot tell apart by themselves), digests of another size and empty rows."""
    rnd = random.Random(queried)
    prefix = rnd.randbytes(8)
    rows = []
    for _ in range(4):
        digests = [rnd.randbytes(DIGEST_SIZE) for _ in range(50)]
        digests += [prefix + rnd.randbytes(8) for _ in range(5)]
        rows.append(sorted(digests))
    held = {h for row in rows for h in row}
    pool = sorted(held) + [rnd.randbytes(DIGEST_SIZE) for _ in range(100)]
    pool += [prefix + rnd.randbytes(8) for _ in range(20)] + [b"short", b""]
    for _ in range(20):
        hs = rnd.sample(pool, queried)
        got = held_in_sets([b"".join(row) for row in rows] + [b""], hs)
        assert sorted(got) == sorted(h for h in hs if h in held)
    assert held_in_sets([], pool) == [] and held_in_sets([b"".join(rows[0])], []) == []


@pytest.mark.parametrize(
    ("keyed", "parallel"), [(False, False), (True, False), (True, True)], ids=["insert", "keyed", "reader"]
)
def test_a_file_imported_twice_into_a_version_3_store_is_stored_once(
    tmp_path: Path, v3: None, keyed: bool, parallel: bool
) -> None:
    """Through the importer (the store's insert, keyed batches here, a reader process): the
    second import finds every record, and the sets hold exactly the records' digests."""
    logs = logs_of(400, seed=7)
    path = tmp_path / "a.log"
    path.write_text("\n".join(log.to_json() for log in logs) + "\n")
    db = tmp_path / "s.db"
    first = import_files([path], db, keyed=keyed, parallel=parallel, batch=64)
    again = import_files([path], db, keyed=keyed, parallel=parallel, batch=64)
    assert first.total("imported") == len(logs) and first.issue_count == 0
    assert (again.total("imported"), again.total("duplicates")) == (0, len(logs))
    with FlowStore(db, readonly=True) as store:
        assert store.count() == len(logs) and digest_version(store) == 3
        secret = digest_secret(store)
        parsed = [flowlog_from_calico(json.loads(log.to_json())) for log in logs]
        assert stored_digests(store) == {seen_key(g.start_time, record_hash(g, 3, secret)) for g in parsed}
    assert row_count(db) == 0 and set_rows(db)


def test_a_damaged_secret_refuses_the_import_of_a_file(tmp_path: Path, v3: None) -> None:
    logs = logs_of(40, seed=8)
    path = tmp_path / "a.log"
    path.write_text("\n".join(log.to_json() for log in logs) + "\n")
    db = tmp_path / "s.db"
    import_files([path], db)
    with FlowStore(db) as store:
        store.set_meta(DIGEST_SECRET_META, "00")
    before = dump(db)
    with pytest.raises(StoreError, match=DIGEST_SECRET_META):
        import_files([path], db)
    assert dump(db) == before


def test_digests_given_out_of_order_are_still_found(tmp_path: Path, v3: None) -> None:
    """A set row is searched as sorted: one given unsorted is sorted when written."""
    rnd = random.Random(9)
    digests = [rnd.randbytes(DIGEST_SIZE) for _ in range(300)]
    with FlowStore(tmp_path / "s.db") as store:
        w = ImportWriter(store, "x.log", "calico")
        store.conn.execute("BEGIN IMMEDIATE")
        w.record_groups([(5, b"".join(digests))])
        store.conn.execute("COMMIT")
        assert w.stored([(5, digests[::-1])]) == {(5, h) for h in digests}
        assert [
            tuple(r) for r in store.conn.execute("SELECT start_time, digests FROM import_digest_sets")
        ] == [(5, b"".join(sorted(digests)))]
