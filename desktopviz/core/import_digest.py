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

A store records the version its digests were written with in ``meta.import_digest_version``
(:func:`desktopviz.core.import_db.digest_version`): a store holding version-1 digests keeps
version 1, so what earlier versions imported is still recognised.
"""

from __future__ import annotations

import hashlib
import marshal
import struct
from collections.abc import Callable
from operator import itemgetter
from typing import Any

from desktopviz.core.flowlog import FIELDS, VARYING_FIELDS

__all__ = [
    "DIGEST_VERSION",
    "VERSIONS",
    "key_digest",
    "key_prefix",
    "pack_digests",
    "row_hash_v1",
    "row_hash_v2",
    "row_hasher",
    "unpack_digests",
    "varying_tail",
]

DIGEST_VERSION = 2  # what a store without digests gets
VERSIONS = (1, 2)
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


def row_hasher(version: int) -> Callable[[tuple[Any, ...]], bytes]:
    """The row digest function of a digest version (ValueError for an unknown one)."""
    if version == 1:
        return row_hash_v1
    if version == 2:
        return row_hash_v2
    raise ValueError(f"unknown import digest version {version!r} (known: {', '.join(map(str, VERSIONS))})")
