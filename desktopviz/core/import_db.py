"""The importer's own tables in a flow store, and batch writes that keep them consistent.

* ``import_digests(start_time, hash)``: a 128-bit digest of every record imported (the
  normalised Calico record, or the raw Hubble event), so importing a file again adds
  nothing. The key starts with the record's start time (0 for Hubble events) so that the
  digests of one batch, which come from a few flush intervals, land on a few neighbouring
  pages: keyed by the digest alone (``import_seen(hash)``, before) every batch wrote pages all
  over the table, and recording a digest cost ~9 µs at a million rows instead of ~3, growing
  with the table. The digest covers the start time, so the pair is exactly as unique.
  ``import_seen`` of files imported by earlier versions is still looked up (not written).
* ``import_digest_sets(start_time, digests)`` (version-3 stores): one row per start time and
  write, its digests concatenated and sorted (:func:`record_digest_sets`). A row per digest
  cost the writer 1.1-1.5 µs a record (a WITHOUT ROWID B-tree insert each); a set row costs
  0.1 (``tests/perf/bench_digest_sets.py``). Start time 0 (every Hubble event: a set there
  would grow without end and be read whole by every look-up) and digests of another size
  stay ``import_digests`` rows. A look-up reads the start time's set rows and searches them
  with numpy (:mod:`~desktopviz.core.import_db_sets`); rows are looked up too (the keyed
  writer may have written some). :func:`stored_digests` gives both as one set.
* The digest version (:mod:`~desktopviz.core.import_digest`) is recorded in
  ``meta.import_digest_version`` (:func:`digest_version`): a store keeps its version while it
  holds any digest (one with digests written before the version was recorded keeps version
  1), one without digests gets :data:`DIGEST_VERSION`. A keyed version (3) has the store's
  random secret in ``meta.import_digest_secret`` (hex, :func:`digest_secret`), made when the
  version is recorded: a store whose secret is missing or damaged is refused (StoreError),
  since nothing it holds could be recognised;
* ``imports``: one row per imported file (path, format, times, status and counts), updated
  with every batch.

All are written in the *same transaction* as the flow logs of a batch (through the store's
connection, inside ``FlowStore.insert``), so an interrupted import (Ctrl-C, a cancelled
dialog, a crash) leaves either a whole batch with its hashes or neither: importing the file
again picks up where it stopped. The store opens databases with extra tables as usual (its
schema check only looks at ``meta`` and ``flow_logs``).
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
from bisect import bisect_right
from collections.abc import Iterable, Iterator, Sequence
from operator import attrgetter
from typing import Any

from desktopviz.core.flowlog import FIELDS, FlowLog
from desktopviz.core.import_db_sets import has_table, held_in_sets, sorted_blob, stored_digests  # noqa: F401 (re-exported)
from desktopviz.core.import_digest import (
    DIGEST_SIZE,
    DIGEST_VERSION,
    KEYED_VERSIONS,
    SEALED_SIZE,
    VERSIONS,
    new_secret,
    open_secret,
    pack_digests,
    row_hasher,
    seal_secret,
)
from desktopviz.core.store import FlowStore, StoreError

_fields = attrgetter(*FIELDS)
Record = Any  # a FlowLog, or anything with its field attributes (import_fast.Row)
Key = tuple[int, bytes]  # (start time, digest) in import_digests
_INT64 = 2**63
CHUNK = 500  # hashes per IN (...) lookup
COUNT_COLUMNS = ("records_read", "imported", "duplicates", "skipped")
# a file's counts (COUNT_COLUMNS order), then its imports id
COUNTS_SQL = f"UPDATE imports SET {', '.join(c + ' = ?' for c in COUNT_COLUMNS)} WHERE id = ?"
_AFTER = b"\xff" * (DIGEST_SIZE + 1)  # sorts after every digest of the same start time
# One statement per start time: its digests bound as one blob, cut into rows by SQLite
# (binding two values a row through executemany cost 3.6 us a digest, this 1.3-1.5).
_DIGESTS_SQL = (
    "WITH RECURSIVE i(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM i WHERE n + 1 < ?2) "
    f"INSERT OR IGNORE INTO import_digests (start_time, hash) SELECT ?1, substr(?3, n * {DIGEST_SIZE} + 1, "
    f"{DIGEST_SIZE}) FROM i"
)
_DIGEST_SQL = "INSERT OR IGNORE INTO import_digests (start_time, hash) VALUES (?, ?)"
_SET_SQL = "INSERT INTO import_digest_sets (start_time, digests) VALUES (?, ?)"
SET_VERSIONS = frozenset({3})  # digest versions whose stores keep a write's digests as sets
_SETS_OF_SQL = "SELECT digests FROM import_digest_sets WHERE start_time = ?"
_ANY_ROW_SQL = "SELECT 1 FROM import_digests WHERE start_time = ? LIMIT 1"
Groups = Sequence[tuple[int, bytes | list[bytes]]]  # (start time, digests in pack_digests' form)


def record_hash(log: FlowLog, version: int = 1, secret: bytes | None = None) -> bytes:
    """Digest of a normalised record's content (the same record from flows.log or from an
    Elasticsearch export gives the same digest). marshal version 0 writes values by content
    only (no references, no interning flags), so equal records give equal bytes. ``version``:
    the digest version (:mod:`~desktopviz.core.import_digest`), ``secret`` the store's for a
    keyed one (:func:`digest_secret`)."""
    return row_hasher(version, secret)(_fields(log))


def event_hash(obj: Any) -> bytes:
    """Digest of a raw input record (a Hubble event) as parsed."""
    return hashlib.blake2b(repr(obj).encode(), digest_size=16).digest()


def group_keys(keys: Sequence[Key]) -> list[tuple[int, bytes | list[bytes]]]:
    """Sorted (start time, digest) keys as (start time, digests in
    :func:`~desktopviz.core.import_digest.pack_digests`' form) groups."""
    groups = []
    n = len(keys)
    lo = 0
    while lo < n:
        start = keys[lo][0]
        hi = bisect_right(keys, (start, _AFTER), lo)
        groups.append((start, pack_digests([h for _, h in keys[lo:hi]])))
        lo = hi
    return groups


def record_digests(c: sqlite3.Connection, keys: Sequence[Key]) -> None:
    """Record (start time, digest) keys, sorted, in that order as ``import_digests`` rows (the
    caller holds the transaction): the digests of each start time in one statement."""
    record_digest_groups(c, group_keys(keys))


def record_digest_groups(c: sqlite3.Connection, by_start: Groups) -> None:
    """Record each start time's digests as ``import_digests`` rows (the caller holds the
    transaction), in :func:`~desktopviz.core.import_digest.pack_digests`' form: a blob in one
    statement per start time, else (a digest of another size: none the importer makes) one by
    one. (A version-3 store's writer calls :meth:`ImportWriter.record_groups`.)"""
    for start, digests in by_start:
        if type(digests) is bytes:
            c.execute(_DIGESTS_SQL, (start, len(digests) // DIGEST_SIZE, digests))
        else:
            c.executemany(_DIGEST_SQL, [(start, h) for h in digests])


def record_digest_sets(c: sqlite3.Connection, by_start: Groups) -> None:
    """Record each start time's digests as one ``import_digest_sets`` row (the caller holds
    the transaction; digests sorted within a start time, else sorted here), except start time
    0 (Hubble events, all keyed there: a set would grow without end and be loaded whole by
    every look-up) and digests not in blob form, which go to ``import_digests`` rows."""
    rows = []
    rest = []
    for start, digests in by_start:
        if start != 0 and type(digests) is bytes:
            if digests:
                rows.append((start, sorted_blob(digests)))
        else:
            rest.append((start, digests))
    if rows:
        c.executemany(_SET_SQL, rows)
    if rest:
        record_digest_groups(c, rest)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def ensure_tables(store: FlowStore) -> None:
    c = store.conn
    c.execute(
        "CREATE TABLE IF NOT EXISTS import_seen (hash BLOB PRIMARY KEY) WITHOUT ROWID"
    )  # earlier versions
    c.execute(
        "CREATE TABLE IF NOT EXISTS import_digests (start_time INTEGER NOT NULL, hash BLOB NOT NULL, "
        "PRIMARY KEY (start_time, hash)) WITHOUT ROWID"
    )
    c.execute(
        "CREATE TABLE IF NOT EXISTS imports (id INTEGER PRIMARY KEY, path TEXT NOT NULL, format TEXT NOT NULL, "
        "started_at TEXT NOT NULL, finished_at TEXT, status TEXT NOT NULL, records_read INTEGER NOT NULL DEFAULT 0, "
        "imported INTEGER NOT NULL DEFAULT 0, duplicates INTEGER NOT NULL DEFAULT 0, "
        "skipped INTEGER NOT NULL DEFAULT 0)"
    )
    c.execute(
        "CREATE TABLE IF NOT EXISTS import_digest_sets (start_time INTEGER NOT NULL, digests BLOB NOT NULL)"
    )
    c.execute("CREATE INDEX IF NOT EXISTS ix_import_digest_sets_time ON import_digest_sets (start_time)")


DIGEST_VERSION_META = "import_digest_version"
DIGEST_SECRET_META = "import_digest_secret"  # hex, for a version in KEYED_VERSIONS


def digest_version(store: FlowStore) -> int:
    """The digest version of the store's import digests (:mod:`~desktopviz.core.import_digest`),
    recorded in its meta: the recorded one while the store holds any digest (rows, sets or
    ``import_seen``), 1 when it holds digests written before the version was recorded, else
    (no digest) :data:`DIGEST_VERSION`. Recording a keyed version (3) also records a new
    secret (:func:`digest_secret`). Decided in one write transaction, so two imports opening
    a new store at once agree. Call after :func:`ensure_tables`; StoreError for a version
    this code does not know."""
    c = store.conn
    own = not store.readonly and not c.in_transaction
    if own:
        c.execute("BEGIN IMMEDIATE")
    try:
        version = _decide_version(store)
        if own:
            c.execute("COMMIT")
    except BaseException:
        if own and c.in_transaction:
            c.execute("ROLLBACK")
        raise
    return version


def _decide_version(store: FlowStore) -> int:
    c = store.conn
    recorded = store.get_meta(DIGEST_VERSION_META)
    if recorded is not None:
        try:
            version = int(recorded)
        except ValueError:
            version = -1
        if version not in VERSIONS:
            raise StoreError(
                f"{store.path}: import digests of version {recorded!r}, written by a newer desktopviz "
                f"(this one knows versions {', '.join(map(str, VERSIONS))})"
            )
    held = any(
        has_table(c, t) and c.execute(f"SELECT 1 FROM {t} LIMIT 1").fetchone() is not None
        for t in ("import_digests", "import_seen", "import_digest_sets")
    )
    if held:
        version = 1 if recorded is None else version
    else:
        version = DIGEST_VERSION
    if not store.readonly:
        # a new secret only while no digest exists (a store holding digests keeps its secret,
        # whatever form its version text has: digest_secret refuses it if damaged)
        if not held and version in KEYED_VERSIONS and (recorded != str(version) or not _secret_of(store)):
            store.set_meta(DIGEST_SECRET_META, seal_secret(new_secret()))
        if recorded != str(version):
            store.set_meta(DIGEST_VERSION_META, version)
    return version


def _secret_of(store: FlowStore) -> bytes | None:
    """The store's secret if it holds an intact one (:func:`open_secret`), else None."""
    return open_secret(store.get_meta(DIGEST_SECRET_META))


def digest_secret(store: FlowStore, version: int | None = None) -> bytes | None:
    """The store's secret for keyed digests (:class:`~desktopviz.core.import_digest.DigesterV3`),
    None for an unkeyed version. ``version``: the store's :func:`digest_version` (found if not
    given). StoreError when a keyed store's secret is missing or damaged."""
    if version is None:
        version = digest_version(store)
    if version not in KEYED_VERSIONS:
        return None
    text = store.get_meta(DIGEST_SECRET_META)
    secret = open_secret(text)
    if secret is None:
        state = "missing" if text is None else "damaged"
        raise StoreError(
            f"{store.path}: import digests of version {version} need the secret in meta "
            f"{DIGEST_SECRET_META!r}, which is {state} ({SEALED_SIZE} hex digits with their check expected): "
            "what was imported into this store cannot be recognised, import into a new store"
        )
    return secret


def import_history(store: FlowStore) -> list[dict[str, Any]]:
    """The rows of the ``imports`` table, oldest first (empty if nothing was ever imported)."""
    c = store.conn
    if not c.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='imports'").fetchone():
        return []
    cur = c.execute("SELECT * FROM imports ORDER BY id")
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


class StoredMeanwhile(Exception):
    """Raised by :meth:`ImportWriter.write` (storing nothing) when another import stored some
    of the records after :meth:`ImportWriter.unseen` found them new: ask again."""


class ImportWriter:
    """Writes one file's batches: flow logs, their digests and the file's counts together."""

    def __init__(self, store: FlowStore, path: str, fmt: str) -> None:
        if store.readonly:
            raise StoreError(f"{store.path}: opened read-only, so nothing can be imported into it")
        self.store = store
        ensure_tables(store)
        # of the digests to look up and write, and the store's secret for a keyed version
        # (refused: nothing written)
        self.digest_version = digest_version(store)
        self.secret = digest_secret(store, self.digest_version)
        self._sets = self.digest_version in SET_VERSIONS  # digests kept as sets (and rows)
        cur = store.conn.execute(
            "INSERT INTO imports (path, format, started_at, status) VALUES (?, ?, ?, 'running')",
            (path, fmt, _now()),
        )
        self.import_id = int(cur.lastrowid or 0)
        self.counts = dict.fromkeys(COUNT_COLUMNS, 0)
        self._pending: set[Key] = set()  # accepted, not yet written (Hubble intervals still open)
        legacy = store.conn.execute("SELECT 1 FROM import_seen LIMIT 1").fetchone()
        self._legacy = legacy is not None  # digests written by earlier versions to look up too

    def unseen(self, keys: Sequence[Key]) -> list[bool]:
        """For each (start time, digest): True if it is new (not in the store, not earlier in
        this import)."""
        found = self._stored(set(keys) - self._pending)
        out = []
        pending = self._pending
        for k in keys:
            new = k not in found and k not in pending
            if new:
                pending.add(k)
            out.append(new)
        return out

    def _stored(self, uniq: set[Key]) -> set[Key]:
        """The keys the store holds digests of (this version's, or an earlier one's)."""
        by_start: dict[int, list[bytes]] = {}
        for start, h in uniq:
            by_start.setdefault(start, []).append(h)
        return self.stored(by_start.items())

    def stored(self, groups: Iterable[tuple[int, Sequence[bytes]]]) -> set[Key]:
        """The (start time, digest) keys of ``groups`` ((start time, its digests) each) that
        the store holds digests of, this version's or an earlier one's. A start time with no
        digest stored at all needs no look-up of its digests (in a file read in time order,
        only a batch's first one or two have any); one with digest sets has its sets loaded
        and intersected."""
        c = self.store.conn
        found: set[Key] = set()
        groups = list(groups)
        for start, hs in groups:
            if self._sets:
                blobs = [r[0] for r in c.execute(_SETS_OF_SQL, (start,))]
                if blobs:
                    found.update((start, h) for h in held_in_sets(blobs, hs))
            if not c.execute(_ANY_ROW_SQL, (start,)).fetchone():
                continue
            for i in range(0, len(hs), CHUNK):
                part = hs[i : i + CHUNK]
                sql = f"SELECT hash FROM import_digests WHERE start_time = ? AND hash IN ({','.join('?' * len(part))})"
                found.update((start, r[0]) for r in c.execute(sql, (start, *part)))
        if self._legacy:
            hs = list({h for _, group in groups for h in group})
            old: set[bytes] = set()
            for i in range(0, len(hs), CHUNK):
                part = hs[i : i + CHUNK]
                sql = f"SELECT hash FROM import_seen WHERE hash IN ({','.join('?' * len(part))})"
                old.update(r[0] for r in c.execute(sql, part))
            found.update((start, h) for start, group in groups for h in group if h in old)
        return found

    def record_groups(self, by_start: Groups) -> None:
        """Record each start time's digests ((start time, digests in
        :func:`~desktopviz.core.import_digest.pack_digests`' form, sorted) pairs) in the
        store's form for its version: ``import_digest_sets`` (:func:`record_digest_sets`) in
        a version-3 store, else ``import_digests`` rows. The caller holds the transaction."""
        if self._sets:
            record_digest_sets(self.store.conn, by_start)
        else:
            record_digest_groups(self.store.conn, by_start)

    def _rows(self, logs: Iterable[Record], keys: Sequence[Key]) -> Iterator[Record]:
        # Runs inside FlowStore.insert's transaction (BEGIN IMMEDIATE: no other import
        # writes meanwhile): digests another import stored since unseen() said they were new
        # make it roll back rather than store those records twice.
        if keys and self._stored(set(keys)):
            raise StoredMeanwhile("another import stored some of these records meanwhile")
        yield from logs
        # Runs inside FlowStore.insert's transaction, after the last log was consumed.
        c = self.store.conn
        self.record_groups(group_keys(sorted(keys)))
        c.execute(COUNTS_SQL, (*(self.counts[k] for k in COUNT_COLUMNS), self.import_id))

    def write(self, logs: Sequence[Record], hashes: Sequence[Key], counts: dict[str, int]) -> None:
        """Store ``logs`` (FlowLogs, or value tuples with the field names as attributes such as
        :data:`desktopviz.core.import_fast.Row`) and mark ``hashes`` ((start time, digest)
        keys) seen in one transaction; ``counts`` (added to the file's totals) are recorded
        with them. Raises StoreError, or StoredMeanwhile, without storing anything."""
        before = dict(self.counts)
        for k, v in counts.items():
            self.counts[k] += v
        try:
            self.store.insert(self._rows(logs, hashes), strict=True)
        except BaseException:
            self.counts = before
            self._pending.difference_update(hashes)
            raise
        self._pending.difference_update(hashes)

    def forget(self, hashes: Iterable[Key]) -> None:
        """Digests accepted by :meth:`unseen` that will not be written after all."""
        self._pending.difference_update(hashes)

    def finish(self, status: str) -> None:
        """Record the file's final status (done, cancelled, failed) and counts."""
        try:
            self.store.conn.execute(
                "UPDATE imports SET finished_at = ?, status = ?, records_read = ?, imported = ?, duplicates = ?, "
                "skipped = ? WHERE id = ?",
                (_now(), status, *(self.counts[k] for k in COUNT_COLUMNS), self.import_id),
            )
        except StoreError:
            pass
