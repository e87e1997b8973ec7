"""Duplicate digests of imported records, in two versions.

* **Version 1** (every store written before digest version 2): BLAKE2b-128 of
  ``marshal.dumps(row, 0)``, the record's values in FIELDS order (~1,260 bytes). It covers
  the times and counters, so nothing of it can be reused from one record to the next.
* **Version 2**: BLAKE2b-128 of the 16-byte :func:`key_digest` of the record's *key* (every
  field but :data:`~desktopviz.core.flowlog.VARYING_FIELDS`: BLAKE2b-128 of ``marshal.dumps``
  version 0 of those values in FIELDS order), then the nine varying values: a form byte
  ``q`` and the nine values as signed little-endian 64-bit integers when all nine are plain
  ints that fit (what Felix writes, and all the extractor reads), else a form byte ``m`` and
  ``marshal.dumps`` version 0 of the nine-tuple. The key digest is the same for every record
  of a key, so the extractor computes it once per key and hashes 89 bytes a line.

Marshal writes a tuple as its length and then each item's bytes, and each item's bytes are
self-delimiting and tell its type (``1``, ``1.0``, ``"1"`` and ``True`` differ), so two rows
have equal version-1 bytes exactly when their key parts and their varying parts have equal
bytes; the form byte keeps the two forms of the varying part apart. Version 2 digests are
therefore equal exactly when version 1 digests are (up to BLAKE2b collisions): the duplicate
semantics do not change (``tests/core/test_import_digest.py`` checks it on generated rows).

* **Version 3** (new stores): the same two parts, but the nine ints are not hashed with
  BLAKE2b line by line. When all nine are plain ints that fit in 64 bits, the digest is a
  *keyed multilinear hash* (Lemire and Kaser, "Strongly universal string hashing is fast",
  2014) of the 22 32-bit words of the key digest and the nine values: four 32-bit words, each
  the top half of ``m0 + sum(m_i * x_i) mod 2**64`` for 64-bit multipliers drawn at random per
  store (:func:`new_secret`, kept in the store's meta). The family is strongly universal:
  two different records collide in a word with probability 2**-32 over the choice of the
  multipliers, so in all four with 2**-128, whatever the records, as long as they were not
  chosen knowing the store's multipliers. It is a matrix product, so the writer computes a
  whole batch with numpy (:meth:`DigesterV3.batch`) instead of one BLAKE2b call per line in
  the reader, which cost 2.8-3.5 µs a record there. Anything else (floats, bools, ints beyond
  64 bits) gets BLAKE2b-128 of ``m``, the key digest and ``marshal.dumps`` version 0 of the
  nine-tuple. Digests are per store: the same record has different version-3 digests in two
  stores, and the same one in one store from any input.

A store records the version its digests were written with in ``meta.import_digest_version``
(:func:`desktopviz.core.import_db.digest_version`): a store holding version-1 digests keeps
version 1, so what earlier versions imported is still recognised.
"""

from __future__ import annotations

import functools
import hashlib
import marshal
import os
import struct
from collections.abc import Callable, Iterable, Sequence
from operator import itemgetter
from operator import mul as _mul
from typing import Any

import numpy as np

from desktopviz.core.flowlog import FIELDS, VARYING_FIELDS

__all__ = [
    "DIGEST_VERSION",
    "READER_VERSION",
    "DigesterV3",
    "digester",
    "fits64",
    "SECRET_SIZE",
    "new_secret",
    "open_secret",
    "seal_secret",
    "VERSIONS",
    "key_digest",
    "key_prefix",
    "pack_digests",
    "row_hash_v1",
    "row_hash_v2",
    "item_hasher",
    "row_hasher",
    "row_key_digest",
    "seen_key",
    "valid_secret",
    "unpack_digests",
    "varying_tail",
]

DIGEST_VERSION = 3  # what a store without digests gets
# what a reader gives when not told (outside an import, no store: the newest version whose
# digests need no store secret); an import passes its store's version
READER_VERSION = 2
VERSIONS = (1, 2, 3)
KEYED_VERSIONS = frozenset({3})  # versions whose digests need the store's secret (DigesterV3)
DIGEST_SIZE = 16
INT_FORM = b"q"  # the nine varying values as <9q
MARSHAL_FORM = b"m"  # anything else: marshal version 0 of the nine-tuple
KEY_POSITIONS = tuple(i for i, n in enumerate(FIELDS) if n not in VARYING_FIELDS)
VARYING_POSITIONS = tuple(FIELDS.index(n) for n in VARYING_FIELDS)
key_of: Callable[[Any], tuple[Any, ...]] = itemgetter(*KEY_POSITIONS)
varying_of: Callable[[Any], tuple[Any, ...]] = itemgetter(*VARYING_POSITIONS)
pack_varying: Callable[..., bytes] = struct.Struct("<" + "q" * len(VARYING_FIELDS)).pack
_blake2b = hashlib.blake2b
_dumps = marshal.dumps
_ONLY_INT = frozenset({int})
_SIZES = frozenset({DIGEST_SIZE})


def row_hash_v1(values: tuple[Any, ...]) -> bytes:
    """Version 1: BLAKE2b-128 of the whole row's marshal version 0 bytes."""
    return _blake2b(_dumps(values, 0), digest_size=DIGEST_SIZE).digest()


def key_digest(key: tuple[Any, ...]) -> bytes:
    """BLAKE2b-128 of a key's values (every field but the varying ones, FIELDS order), marshal version 0."""
    return _blake2b(_dumps(key, 0), digest_size=DIGEST_SIZE).digest()


def pack_digests(digests: list[bytes]) -> bytes | list[bytes]:
    """Digests as the importer hands them on and binds them: one blob when each has
    DIGEST_SIZE bytes (all the importer makes), else the list as it is."""
    return b"".join(digests) if _SIZES.issuperset(map(len, digests)) else digests


def unpack_digests(digests: bytes | list[bytes]) -> list[bytes]:
    """The digests of :func:`pack_digests`' form, as a list."""
    if type(digests) is not bytes:
        return list(digests)
    return [digests[i : i + DIGEST_SIZE] for i in range(0, len(digests), DIGEST_SIZE)]


def key_prefix(key: tuple[Any, ...]) -> bytes:
    """What a version 2 digest hashes before the varying ints in their packed form (cacheable per key)."""
    return key_digest(key) + INT_FORM


def varying_tail(varying: tuple[Any, ...]) -> bytes:
    """The varying part of a version 2 digest's input: form byte and values."""
    if _ONLY_INT.issuperset(map(type, varying)):  # (not bool: packed, True would be 1)
        try:
            return INT_FORM + pack_varying(*varying)
        except struct.error:  # an int beyond 64 bits
            pass
    return MARSHAL_FORM + _dumps(tuple(varying), 0)


def _runs(positions: tuple[int, ...]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for i in positions:
        if out and out[-1][1] == i:
            out[-1] = (out[-1][0], i + 1)
        else:
            out.append((i, i + 1))
    return out


def _row_hash_v2(values: tuple[Any, ...]) -> bytes:
    data = key_digest(key_of(values)) + varying_tail(varying_of(values))
    return _blake2b(data, digest_size=DIGEST_SIZE).digest()


_KEY_RUNS, _VARYING_RUNS = _runs(KEY_POSITIONS), _runs(VARYING_POSITIONS)
row_hash_v2: Callable[[tuple[Any, ...]], bytes] = _row_hash_v2
if len(_KEY_RUNS) == 2 and len(_VARYING_RUNS) == 2:  # FIELDS as they are: slices cost less than itemgetters
    (_a, _b), (_c, _d) = _KEY_RUNS
    (_e, _f), (_g, _h) = _VARYING_RUNS

    def _row_hash_v2_slices(values: tuple[Any, ...]) -> bytes:
        if not isinstance(values, tuple):  # (a list's slices are lists: marshalled otherwise)
            return _row_hash_v2(values)
        data = key_digest(values[_a:_b] + values[_c:_d]) + varying_tail(values[_e:_f] + values[_g:_h])
        return _blake2b(data, digest_size=DIGEST_SIZE).digest()

    row_hash_v2 = _row_hash_v2_slices
row_hash_v2.__doc__ = """Version 2 digest of a row (its values in FIELDS order)."""


def fits64(values: Iterable[Any]) -> bool:
    """Whether every value is a plain int (not a bool) within 64 bits: what versions 2 and 3
    pack as integers (anything else takes the marshal form)."""
    values = tuple(values)
    return _ONLY_INT.issuperset(map(type, values)) and all(_MIN64 <= v < _MAX64 for v in values)


def seen_key(start: Any, digest: bytes) -> tuple[int, bytes]:
    """The digest key (start time, digest) a record with this start time is stored under (0
    when SQLite cannot hold it: the store refuses such a record anyway). Here rather than in
    ``import_db`` so that the reader process does not load the store's modules."""
    return (start if type(start) is int and _MIN64 <= start < _MAX64 else 0, digest)


def row_key_digest(values: tuple[Any, ...]) -> bytes:
    """The key digest of a row (its values in FIELDS order): what a version-3 reader sends
    the writer, which completes the record's digest (:class:`DigesterV3`)."""
    return key_digest(key_of(values))


def check_version(version: int) -> None:
    """ValueError for a digest version this code does not know."""
    if version not in VERSIONS:
        raise ValueError(
            f"unknown import digest version {version!r} (known: {', '.join(map(str, VERSIONS))})"
        )


def item_hasher(version: int, secret: bytes | None, keyed: bool) -> Callable[[tuple[Any, ...]], bytes]:
    """What a reader puts with a row: its digest of ``version``, except that a keyed reader of
    a version whose digests need the store's secret gives the row's key digest (the keyed
    writer completes it, :mod:`~desktopviz.core.import_apply`)."""
    check_version(version)
    if keyed and version in KEYED_VERSIONS:
        return row_key_digest
    return row_hasher(version, secret)


def row_hasher(version: int, secret: bytes | None = None) -> Callable[[tuple[Any, ...]], bytes]:
    """The row digest function of a digest version (ValueError for an unknown one, or for
    version 3 without a valid ``secret``)."""
    check_version(version)
    if version == 1:
        return row_hash_v1
    if version == 2:
        return row_hash_v2
    if secret is None:
        raise ValueError(f"import digest version {version} needs the store's secret")
    return digester(secret).row


_WORDS = 4  # 32-bit words of a version-3 digest
_KEY_CHUNKS = DIGEST_SIZE // 4  # 32-bit words of the key digest
_INT_CHUNKS = 2 * len(VARYING_FIELDS)  # two 32-bit words per varying value
_TERMS = 1 + _KEY_CHUNKS + _INT_CHUNKS  # m0 and one multiplier per word
SECRET_SIZE = 8 * _WORDS * _TERMS  # bytes: the multipliers of the four words
_LOW = np.uint64(0xFFFFFFFF)
_32 = np.uint64(32)
_MASK64 = (1 << 64) - 1
_MIN64, _MAX64 = -(2**63), 2**63
_PACK4 = struct.Struct(f"<{_WORDS}I").pack
_KEY_SUMS = 100_000  # key digests whose sums digest() keeps
_LANE_SHIFTS = tuple(128 * j for j in range(_WORDS))


def new_secret() -> bytes:
    """Random multipliers for a store's version-3 digests."""
    return os.urandom(SECRET_SIZE)


_CHECK = 8  # bytes of the BLAKE2b check kept after a secret


def seal_secret(secret: bytes) -> str:
    """The meta text of a secret: its bytes and an 8-byte BLAKE2b check of them, in hex, so
    that any damage to it is found (:func:`open_secret`), not only a zeroed one."""
    return (secret + _blake2b(secret, digest_size=_CHECK).digest()).hex()


def open_secret(text: str | None) -> bytes | None:
    """The secret of a :func:`seal_secret` text, or None when it is missing or damaged (not
    hex, another size, a check that does not match, or not :func:`valid_secret`)."""
    if text is None:
        return None
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        return None
    secret, check = raw[:-_CHECK], raw[-_CHECK:]
    if len(raw) != SECRET_SIZE + _CHECK or _blake2b(secret, digest_size=_CHECK).digest() != check:
        return None
    return secret if valid_secret(secret) else None


SEALED_SIZE = 2 * (SECRET_SIZE + _CHECK)  # hex digits of a sealed secret


def valid_secret(secret: Any) -> bool:
    """Whether ``secret`` can be a store's: SECRET_SIZE bytes, and no multiplier 0 (a zeroed or
    damaged secret would make records collide: with all multipliers 0, every record of 64-bit
    ints would get the same digest; :func:`new_secret` makes one with probability ~2**-57)."""
    if type(secret) is not bytes or len(secret) != SECRET_SIZE:
        return False
    m = np.frombuffer(secret, dtype="<u8").reshape(_WORDS, _TERMS)
    return bool(m[:, 1:].all())


class DigesterV3:
    """Version-3 digests (see the module doc) under one store's ``secret``."""

    def __init__(self, secret: bytes) -> None:
        if not valid_secret(secret):
            raise ValueError(f"an import digest secret has {SECRET_SIZE} bytes and no multiplier 0")
        m = np.frombuffer(secret, dtype="<u8").reshape(_WORDS, _TERMS).astype(np.uint64)
        self._m0 = m[:, 0].copy()
        self._mkey = m[:, 1 : 1 + _KEY_CHUNKS].T.copy()  # (key words, 4)
        self._mint = m[:, 1 + _KEY_CHUNKS :].T.copy()  # (int words, 4)
        # the same as Python ints, word by word: the four words' multipliers in one int, 128
        # bits apart (a product of a multiplier and a 32-bit word has 96 bits, 23 of them 101)
        self._lanes = [sum(int(m[j, i]) << s for j, s in enumerate(_LANE_SHIFTS)) for i in range(_TERMS)]
        self._int_lanes = self._lanes[1 + _KEY_CHUNKS :]
        self._key_sums: dict[bytes, int] = {}  # key digest -> its part of the four sums (a cache)
        self._unpack_key = struct.Struct(f"<{_KEY_CHUNKS}I").unpack

    def key_bases(self, kds: Sequence[bytes]) -> np.ndarray:
        """The four sums' terms of each key digest (``m0`` included), mod 2**64, as an array
        (keys, 4): the same for every record of a key."""
        words = np.frombuffer(b"".join(kds), dtype="<u4").reshape(len(kds), _KEY_CHUNKS)
        return self._m0 + words.astype(np.uint64) @ self._mkey

    def key_base(self, kd: bytes) -> np.ndarray:
        """:meth:`key_bases` of one key digest."""
        return self.key_bases([kd])[0]

    def batch(self, bases: np.ndarray, ints: np.ndarray) -> bytes:
        """The digests of records whose nine values are all plain ints within 64 bits, as one
        blob (DIGEST_SIZE bytes a record, in row order): ``bases`` (records, 4) from
        :meth:`key_base`, ``ints`` (records, 9) int64."""
        x = np.ascontiguousarray(ints, dtype=np.int64).view(np.uint64)
        words = np.empty((x.shape[0], _INT_CHUNKS), dtype=np.uint64)
        np.bitwise_and(x, _LOW, out=words[:, 0::2])
        np.right_shift(x, _32, out=words[:, 1::2])
        acc = bases + words @ self._mint
        return (acc >> _32).astype("<u4").tobytes()

    def digest(self, kd: bytes, varying: tuple[Any, ...]) -> bytes:
        """One record's digest from its key digest and its nine varying values (any types)."""
        if fits64(varying):
            acc = self._key_sums.get(kd)
            if acc is None:
                if len(self._key_sums) >= _KEY_SUMS:
                    self._key_sums.clear()
                words = (1, *self._unpack_key(kd))  # (1: m0's word)
                acc = self._key_sums[kd] = sum(map(_mul, self._lanes, words))
            words = []
            for v in varying:
                u = v & _MASK64
                words += (u & 0xFFFFFFFF, u >> 32)
            acc += sum(map(_mul, self._int_lanes, words))  # the four sums, 128 bits apart: no carry
            return _PACK4(*[((acc >> s) & _MASK64) >> 32 for s in _LANE_SHIFTS])
        return _blake2b(MARSHAL_FORM + kd + _dumps(tuple(varying), 0), digest_size=DIGEST_SIZE).digest()

    def row(self, values: tuple[Any, ...]) -> bytes:
        """A row's digest (its values in FIELDS order)."""
        return self.digest(key_digest(key_of(values)), varying_of(values))

    def rows(self, rows: list[tuple[Any, ...]]) -> list[bytes]:
        """The digests of rows (values in FIELDS order), :meth:`row`'s, a batch at a time: the
        key digests row by row, the rest with one matrix product for the rows whose nine
        values are all plain ints within 64 bits (about 5 µs a row less than :meth:`row`)."""
        kds = [key_digest(key_of(r)) for r in rows]
        varying = [varying_of(r) for r in rows]
        out: list[bytes | None] = [None] * len(rows)
        fits = [i for i, v in enumerate(varying) if fits64(v)]
        if fits:
            bases = self.key_bases([kds[i] for i in fits])
            blob = self.batch(bases, np.array([varying[i] for i in fits], dtype=np.int64))
            for j, i in enumerate(fits):
                out[i] = blob[j * DIGEST_SIZE : (j + 1) * DIGEST_SIZE]
        return [self.digest(kds[i], varying[i]) if d is None else d for i, d in enumerate(out)]

    def fill(self, rows: list[tuple[Any, ...]], keys: list[tuple[int, Any]]) -> list[tuple[int, Any]]:
        """``keys`` ((start time, digest) of each row) with the digests still None made, all
        in one :meth:`rows`."""
        todo = [i for i, k in enumerate(keys) if k[1] is None]
        if not todo:
            return keys
        keys = list(keys)
        for i, digest in zip(todo, self.rows([rows[i] for i in todo]), strict=True):
            keys[i] = (keys[i][0], digest)
        return keys


@functools.lru_cache(maxsize=8)
def digester(secret: bytes) -> DigesterV3:
    """The DigesterV3 of a secret, one per secret for the whole process (making one costs
    ~60 µs, ``record_hash`` asks per record; and its cache of key sums is shared)."""
    return DigesterV3(secret)
