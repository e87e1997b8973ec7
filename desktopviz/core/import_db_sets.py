"""Look-ups in a version-3 store's digest sets (``import_digest_sets``, :mod:`import_db`).

A set row holds the digests of one start time and one write, DIGEST_SIZE bytes each, sorted.
A look-up does not split the rows into Python objects (0.1-0.2 µs a stored digest, paid again
by every look-up of that start time: a re-import of 1,000,000 records at 100,000 a start time
cost 4.5 µs a record that way): it binary-searches the queried digests in each row with numpy,
on the rows' first 8 bytes read as big-endian integers (sorted like the digests), then
compares the last 8 of the one stored digest with the same first 8 bytes. Several stored
digests sharing their first 8 bytes (a 2**-64 chance a pair), and a look-up of a few digests,
go through an exact binary search over the row's bytes instead.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

import numpy as np

from desktopviz.core.import_digest import DIGEST_SIZE, unpack_digests
from desktopviz.core.store import FlowStore, connection_of

__all__ = ["has_table", "held_in_sets", "sorted_blob", "stored_digests"]

FEW = 16  # queried digests at most for the exact search alone (numpy costs ~25 µs a call)
_WORDS = DIGEST_SIZE // 8


def has_table(c: sqlite3.Connection, name: str) -> bool:
    return (
        c.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)).fetchone()
        is not None
    )


def stored_digests(conn: FlowStore | sqlite3.Connection) -> set[tuple[int, bytes]]:
    """Every (start time, digest) the store holds, ``import_digests`` rows and
    ``import_digest_sets`` together (not ``import_seen``: no start time): for tests and
    diagnostics."""
    c = connection_of(conn)
    out: set[tuple[int, bytes]] = set()
    if has_table(c, "import_digests"):
        out.update((r[0], r[1]) for r in c.execute("SELECT start_time, hash FROM import_digests"))
    if has_table(c, "import_digest_sets"):
        for start, blob in c.execute("SELECT start_time, digests FROM import_digest_sets"):
            out.update((start, h) for h in unpack_digests(blob))
    return out


def sorted_blob(blob: bytes) -> bytes:
    """``blob``'s DIGEST_SIZE-byte digests in byte order (what a set row must hold for
    :func:`held_in_sets`): as it is when they are (the importer sorts them), else sorted."""
    d = np.frombuffer(blob, dtype=">u8").reshape(-1, _WORDS)
    first, last = d[:, 0], d[:, 1]
    if bool(np.all((first[1:] > first[:-1]) | ((first[1:] == first[:-1]) & (last[1:] >= last[:-1])))):
        return blob
    return d[np.lexsort((last, first))].tobytes()


def in_sorted(blob: bytes, h: bytes) -> bool:
    """Whether ``h`` is one of the sorted DIGEST_SIZE-byte digests of ``blob`` (binary search)."""
    lo, hi = 0, len(blob) // DIGEST_SIZE
    while lo < hi:
        mid = (lo + hi) // 2
        if blob[mid * DIGEST_SIZE : (mid + 1) * DIGEST_SIZE] < h:
            lo = mid + 1
        else:
            hi = mid
    return blob[lo * DIGEST_SIZE : (lo + 1) * DIGEST_SIZE] == h


def held_in_sets(blobs: Sequence[bytes], hs: Sequence[bytes]) -> list[bytes]:
    """The digests of ``hs`` that one of the set rows ``blobs`` holds."""
    query = [h for h in hs if len(h) == DIGEST_SIZE]  # (a set holds nothing else)
    blobs = [b for b in blobs if b]
    if not query or not blobs:
        return []
    if len(query) <= FEW:
        return [h for h in query if any(in_sorted(b, h) for b in blobs)]
    q = np.frombuffer(b"".join(query), dtype=">u8").reshape(-1, _WORDS)
    q_first, q_last = q[:, 0], q[:, 1]
    found = np.zeros(len(query), dtype=bool)
    for blob in blobs:
        stored = np.frombuffer(blob, dtype=">u8").reshape(-1, _WORDS)
        first = stored[:, 0]
        lo = np.searchsorted(first, q_first, "left")
        span = np.searchsorted(first, q_first, "right") - lo
        one = span == 1
        found[one] |= stored[lo[one], 1] == q_last[one]
        for i in np.flatnonzero(span > 1).tolist():  # stored digests sharing their first 8 bytes
            found[i] |= in_sorted(blob, query[i])
    return [query[i] for i in np.flatnonzero(found).tolist()]
