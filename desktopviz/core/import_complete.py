"""The keyed writer's side of digest version 3: a batch's record digests, computed a batch at a time.

A version-2 reader hashes every record with BLAKE2b as it splits the line, which cost it
2.8-3.5 µs a record (the hash, the digest column, the per-start-time sort): the reader was the
slower of the two processes. A version-3 reader (:mod:`~desktopviz.core.import_keyed`) sends
each key's digest once, in :attr:`KeyedBatch.new_key_digests`, and no record digests. The
writer, which holds the store's secret, completes the batch here: with one numpy matrix
product (:meth:`DigesterV3.batch`) when all nine varying columns are plain ints within 64 bits
(all that Felix writes), else record by record (:meth:`DigesterV3.digest`, which gives the same
digests). Then it fills in what a version-2 reader sends: the digests in row order, the digest
keys' start times where ``seen_key`` changes them (``seen_fix``), the digests per start time
sorted (``by_start``) and whether no digest comes twice (``unique``). What the store's insert
computes for the same rows (``row_hasher(3, secret)``) is the same, digest for digest.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from desktopviz.core.import_counters import COUNTERS_AT
from desktopviz.core.import_digest import DIGEST_SIZE, digester, pack_digests, seen_key
from desktopviz.core.import_keyed import _START, KeyedBatch, by_start_groups, seen_starts

__all__ = ["DigestCompleter", "int64_columns", "sorted_groups"]

_INT = frozenset({int})
_WORDS = 4


def int64_columns(ints: list[list[Any]], checked: int | None = None) -> np.ndarray | None:
    """The varying columns as an int64 array (columns, records) when every value is a plain
    int (not a bool or float) within 64 bits, else None. ``checked``: the columns from there
    on are known to hold such ints (read from counters text), so only those before it are
    looked at (a third of a microsecond a record less)."""
    if not all(_INT.issuperset(map(type, col)) for col in ints[:checked]):
        return None
    try:
        return np.array(ints, dtype=np.int64)
    except OverflowError:
        return None


def sorted_groups(starts: np.ndarray, blob: bytes) -> tuple[list[tuple[int, bytes]], bool]:
    """(start time, its digests sorted, as one blob) for every start time in order, and
    whether no (start time, digest) comes twice: what ``by_start_groups`` and a set of the
    digests give, for int64 start times and a blob of DIGEST_SIZE-byte digests, in numpy (an
    equal digest means an equal start time: the digest covers it)."""
    n = len(starts)
    if not n:
        return [], True
    halves = np.frombuffer(blob, dtype=">u8").reshape(n, 2)  # big-endian: byte order is number order
    order = np.lexsort((halves[:, 1], halves[:, 0], starts))
    s, h = starts[order], halves[order]
    repeated = (s[1:] == s[:-1]) & (h[1:, 0] == h[:-1, 0]) & (h[1:, 1] == h[:-1, 1])
    rows = h.tobytes()
    edges = np.flatnonzero(s[1:] != s[:-1]) + 1
    bounds = [0, *edges.tolist(), n]
    times = s[bounds[:-1]].tolist()
    size = DIGEST_SIZE
    groups = [(t, rows[lo * size : hi * size]) for t, lo, hi in zip(times, bounds, bounds[1:], strict=False)]
    return groups, not bool(repeated.any())


class DigestCompleter:
    """Completes the version-3 batches of one reader (its local key ids) under a store's secret."""

    def __init__(self, secret: bytes) -> None:
        self.digester = digester(secret)
        self._kd: dict[int, bytes] = {}  # local key id -> key digest
        self._bases = np.zeros((0, _WORDS), dtype=np.uint64)  # local key id -> DigesterV3.key_base

    def _learn(self, b: KeyedBatch) -> None:
        if b.reset:
            self._kd.clear()
            self._bases = np.zeros((0, _WORDS), dtype=np.uint64)
        new = b.new_key_digests or ()
        if not new:
            return
        top = max(kid for kid, _ in new) + 1
        if top > len(self._bases):
            grown = np.zeros((top, _WORDS), dtype=np.uint64)
            grown[: len(self._bases)] = self._bases
            self._bases = grown
        self._kd.update(new)
        kids, kds = zip(*new, strict=True)
        self._bases[list(kids)] = self.digester.key_bases(kds)

    def complete(self, b: KeyedBatch) -> KeyedBatch:
        """The batch with its digests, digest keys per start time and uniqueness filled in (a
        batch whose reader computed them, versions 1 and 2, as it is)."""
        if b.new_key_digests is None:
            return b
        text_only = b.counters is not None and b.counters[1] is None  # every row's counters came as text
        b = b.with_counters()
        self._learn(b)
        ints = b.ints
        starts = ints[_START]
        arr = int64_columns(ints, COUNTERS_AT if text_only else None) if b.n else None
        seen_fix: dict[int, int] = {}
        if arr is not None:
            blob = self.digester.batch(self._bases[np.asarray(b.kids, dtype=np.intp)], arr.T)
            by_start, unique = sorted_groups(arr[_START], blob)
            return b._replace(digests=blob, seen_fix=seen_fix, by_start=by_start, unique=unique, columns=arr)
        kd, digest = self._kd, self.digester.digest
        digests = [digest(kd[k], row) for k, row in zip(b.kids, zip(*ints, strict=True), strict=True)]
        for i, s in enumerate(starts):
            k = seen_key(s, b"")[0]
            if k is not s and k != s:
                seen_fix[i] = k
        return b._replace(
            digests=pack_digests(digests),
            seen_fix=seen_fix,
            by_start=by_start_groups(seen_starts(ints, seen_fix), digests),
            unique=len(set(digests)) == b.n,
        )
