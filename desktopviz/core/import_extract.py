"""Felix's JSON lines turned into stored rows without parsing them whole: one extractor per key order.

Felix writes every record of a file with the same keys in the same order, and most of a
record repeats from one flush interval to the next: the endpoints with their labels, the
policy trace, the service, the process and TCP fields, the host. Only the times and the
traffic counters change in every record. An :class:`Extractor`, built from one canonical
record of a file (its key order), cuts each line into

* *blocks* of those changing integer fields (:data:`VARYING`), read with an anchored regular
  expression (``"bytes_in":17651,"bytes_out":9528,...``: plain JSON integers, at most 18
  digits), and
* *segments*, the raw text between the blocks, looked up in a cache by their bytes. The first
  time a segment's text is seen, ``{`` + text + ``}`` is parsed, must hold exactly the
  segment's keys in order, and is checked and normalised by
  :func:`~desktopviz.core.import_fast.row_from_calico` (the template record with the
  segment's values put in; its checks are per field), so each distinct text is parsed,
  checked and normalised once.

A line is the concatenation of its pieces: when every piece is valid JSON with its expected
keys, parsing the whole line gives the same values (``{A}`` and ``{B}`` valid make ``{A,B}``
valid, with A's members then B's, and no key is in two pieces). Anything else (another key
order, spaces, a float or a string where an integer belongs, a segment that is not canonical
or not JSON) gives None, and the line takes the general route, so what is stored and what is
reported never depend on this shortcut.

The digest is of the extractor's digest version (:mod:`~desktopviz.core.import_digest`).
Version 1 is :func:`~desktopviz.core.import_fast.row_hash`'s (BLAKE2b-128 of
``marshal.dumps(row, 0)``), put together from marshal bytes computed once per segment text:
marshal version 0 writes a tuple as its length and then its items' bytes, each alone.
Version 2 hashes a key's digest, computed once per key (the segment texts' serials) and
cached, and the line's nine varying ints.

:meth:`Extractor.split_key` is the keyed form the import sends between processes: the line's
:data:`VARYING_FIELDS` values, an int key for its segment texts, and the same digest;
:meth:`Extractor.key_values` gives a key's :data:`KEY_FIELDS` values
(:mod:`~desktopviz.core.import_extract_keyed`: keys, their lifetime and limit, and the
function generated per plan that makes it fast).
"""

from __future__ import annotations

import hashlib
import marshal
import re
from collections.abc import Callable
from itertools import chain
from operator import itemgetter
from typing import Any

from desktopviz.core.flowlog import FIELDS
from desktopviz.core.import_calico import _MS_THRESHOLD
from desktopviz.core.import_digest import (
    DIGEST_SIZE,
    VERSIONS,
    fits64,
    key_digest,
    key_prefix,
    pack_varying,
    row_hash_v2,
    row_key_digest,
    varying_of,
    varying_tail,
)
from desktopviz.core.import_extract_keyed import INT as _INT
from desktopviz.core.import_extract_keyed import (
    KEY_FIELDS,
    KEY_LIMIT,
    SERIAL_BITS,
    VARYING,
    VARYING_FIELDS,
    KeyState,
    KeyValues,
    compile_split_key,
    next_serial,
)
from desktopviz.core.import_extract_keyed import TIMES as _TIMES
from desktopviz.core.import_extract_keyed import TUPLE_HEAD as _TUPLE_HEAD
from desktopviz.core.import_extract_keyed import WS as _WS
from desktopviz.core.import_fast import loads as fast_loads
from desktopviz.core.import_fast import row_from_calico

__all__ = ["KEY_FIELDS", "VARYING", "VARYING_FIELDS", "Extractor", "Parts"]
CACHE_LIMIT = 4096  # texts remembered per segment (cleared when full)
CHECK_AFTER = 4096  # lines before judging whether the cache pays
_FIELD_INDEX = {n: i for i, n in enumerate(FIELDS)}
_dumps = marshal.dumps
_blake2b = hashlib.blake2b
_chain = chain.from_iterable
_REFUSED: tuple[Any, ...] = ()  # a cached segment text that is not canonical

# One line's pieces, in the file's key order: tuples of values (a block's ints, a segment's
# normalised values, shared between the lines with the same text). Extractor.row makes the row.
Parts = list[tuple[Any, ...]]


def _simple_key(key: str) -> bool:
    """A key that JSON writes as itself between quotes (so the line holds it literally)."""
    return key.isascii() and key.isprintable() and '"' not in key and "\\" not in key


class _Block:
    __slots__ = ("match", "times", "names", "runs", "whole")

    def __init__(self, names: list[str], first: bool) -> None:
        self.names = names
        pattern = b",".join(b'"' + n.encode() + b'":' + _INT for n in names)
        self.match = re.compile(pattern if first else b"," + pattern).match
        self.times = tuple(i for i, n in enumerate(names) if n in _TIMES)
        self.runs: list[tuple[int, int]] = []
        self.whole = False  # one run of all its fields (marshal the ints in one go)


class _Segment:
    __slots__ = ("keys", "names", "picks", "cache", "end", "runs", "fp")

    def __init__(self, keys: list[str], end: bytes | None) -> None:
        self.keys = keys
        self.names = [k for k in keys if k in _FIELD_INDEX]
        self.picks = tuple(_FIELD_INDEX[k] for k in self.names)
        self.cache: dict[bytes, tuple[Any, ...]] = {}
        self.end = end  # the text that starts the next block (None: the segment ends the line)
        self.runs: list[tuple[int, int]] = []
        self.fp: dict[Any, tuple[tuple[bytes, tuple[Any, ...]], ...]] = {}  # split_key's guesses


def _runs(pieces: list[list[str]]) -> tuple[list[list[tuple[int, int]]], list[int] | None]:
    """Cut each piece's fields into runs that are also consecutive in FIELDS order, so a
    record's marshal bytes are the runs' bytes in FIELDS order. Returns each piece's runs
    (start, end) and the order to join them in (None: as they come)."""
    owner = {n: (p, i) for p, names in enumerate(pieces) for i, n in enumerate(names)}
    runs: list[list[tuple[int, int]]] = [[] for _ in pieces]
    in_fields: list[tuple[int, int]] = []  # (piece, run number) in FIELDS order
    prev: tuple[int, int] | None = None
    for n in FIELDS:
        p, i = owner[n]
        if prev is not None and prev == (p, i - 1):
            s, _ = runs[p][-1]
            runs[p][-1] = (s, i + 1)
        else:
            runs[p].append((i, i + 1))
            in_fields.append((p, i))
        prev = (p, i)
    for r in runs:
        r.sort()
    flat = [(p, s) for p, r in enumerate(runs) for s, _ in r]
    order = [flat.index(x) for x in in_fields]
    return runs, None if order == list(range(len(order))) else order


class Extractor:
    """Rows and digests of the lines that have the key order of a template record (see the
    module doc). Build with :meth:`build`; ``extract(raw)`` gives (row, digest) or None,
    ``split_key(raw)`` (ints, key, digest) or None (see :meth:`key_values`)."""

    def __init__(
        self, template: dict[str, Any], row: tuple[Any, ...], digest_version: int = 1, digester: Any = None
    ) -> None:
        if digest_version not in VERSIONS:
            raise ValueError(f"unknown digest version {digest_version!r}")
        self.digest_version = digest_version
        # version 3: the store's DigesterV3, or None for a keyed reader (digests are then the
        # key digests: the keyed writer completes them)
        self.digester = digester
        self.key_digests: dict[int, bytes] = {}  # version 3: key -> key digest
        self.key_hashers: dict[int, Any] = {}  # version 2: key -> BLAKE2b state after its key_prefix
        keys = list(template)
        if not all(type(k) is str and _simple_key(k) for k in keys):
            raise ValueError("keys that JSON escapes")
        self.template = template
        self.plan: list[_Block | _Segment] = []
        groups: list[tuple[bool, list[str]]] = []
        for k in keys:
            varying = k in VARYING
            if groups and groups[-1][0] == varying:
                groups[-1][1].append(k)
            else:
                groups.append((varying, [k]))
        for i, (varying, names) in enumerate(groups):
            if varying:
                self.plan.append(_Block(names, i == 0))
            else:
                nxt = groups[i + 1][1][0] if i + 1 < len(groups) else None
                self.plan.append(_Segment(names, None if nxt is None else b',"' + nxt.encode() + b'":'))
        self.last_is_block = type(self.plan[-1]) is _Block
        flat = [n for step in self.plan for n in step.names]
        missing = [n for n in FIELDS if n not in flat]
        self.missing = tuple(row[_FIELD_INDEX[n]] for n in missing)  # what every such line gets
        self.missing_names = tuple(missing)
        order = flat + missing
        self.perm: Callable[[Any], tuple[Any, ...]] | None = None
        if order != list(FIELDS):
            self.perm = itemgetter(*(order.index(n) for n in FIELDS))
        runs, join_order = _runs([step.names for step in self.plan] + [missing])
        for step, r in zip(self.plan, runs, strict=False):
            step.runs = r
            if type(step) is _Block:
                step.whole = r == [(0, len(step.names))]
        self.missing_m = tuple(_dumps(self.missing[s:e], 0)[5:] for s, e in runs[-1])
        # version 2: the blocks' ints (plan order) and the missing varying values, put in
        # VARYING_FIELDS order; packed when the missing ones are ints that fit (block ints do)
        in_blocks = [n for step in self.plan if type(step) is _Block for n in step.names]
        vmissing = [(n, v) for n, v in zip(missing, self.missing, strict=True) if n in VARYING]
        self.vmissing = tuple(v for _, v in vmissing)
        vorder = in_blocks + [n for n, _ in vmissing]
        self.vperm: Callable[[Any], tuple[Any, ...]] = itemgetter(*(vorder.index(n) for n in VARYING_FIELDS))
        self.vpacked = fits64(self.vmissing)
        # blobs start with the tuple's marshal head, then the runs
        self.join_order = None if join_order is None else itemgetter(0, *(i + 1 for i in join_order))
        self.lines = self.misses = 0
        self.off = False  # set once the segment caches stop paying
        self.key_state = KeyState()  # split_key's lines, and key_off
        segments = [step for step in self.plan if type(step) is _Segment]
        self._key_values = KeyValues(
            [s.names for s in segments], dict(zip(missing, self.missing, strict=True))
        )
        # split_key(raw): (VARYING_FIELDS values, key, digest) of a line split takes, None for
        # the others and, once key_off is set, for every line (import_extract_keyed)
        is_block = [type(step) is _Block for step in self.plan]
        self.split_key: Callable[[bytes], tuple[tuple[int, ...], int, bytes] | None] = compile_split_key(
            self, is_block
        )
        # the reader's hot path: version 3 sends a middle block of counters as text (counters_text)
        self.split_hot = compile_split_key(self, is_block, text_counters=True) or self.split_key

    @classmethod
    def build(
        cls, template: dict[str, Any], row: tuple[Any, ...], digest_version: int = 1, digester: Any = None
    ) -> Extractor | None:
        """An extractor for lines with ``template``'s keys (a parsed record that
        ``row_from_calico`` turned into ``row``), giving digests of ``digest_version``, or None
        if its keys cannot be matched literally."""
        if digest_version not in VERSIONS:
            raise ValueError(f"unknown digest version {digest_version!r}")
        try:
            return cls(template, row, digest_version, digester)
        except ValueError:
            return None

    def key_hasher(self, key: int) -> Any:
        """Version 2: the BLAKE2b state after the digest input's constant part (the key's
        digest, the form byte) for a key ``split_key`` gave; cached (copy it before updating)."""
        hashers = self.key_hashers
        if len(hashers) >= KEY_LIMIT:
            hashers.clear()
        got = hashers[key] = _blake2b(key_prefix(self._key_values(key)), digest_size=DIGEST_SIZE)
        return got

    def key_digest(self, key: int) -> bytes:
        """Version 2: the digest of a key's values (``key_values``)."""
        return key_digest(self._key_values(key))

    def _learn(self, seg: _Segment, text: bytes) -> tuple[Any, ...]:
        self.misses += 1
        lines = self.lines + self.key_state.lines
        if lines >= CHECK_AFTER and self.misses * 4 > lines:
            self.off = self.key_off = True  # most texts are new: parsing them whole is cheaper
        obj = fast_loads(b"{" + text + b"}")
        entry = _REFUSED
        if type(obj) is dict and list(obj) == seg.keys:
            doc = dict(self.template)
            doc.update(obj)
            row = row_from_calico(doc)
            if row is not None:
                values = tuple(row[i] for i in seg.picks)
                serial = 0
                if len(self._key_values.by_serial) < KEY_LIMIT:
                    serial = next_serial()
                if serial:
                    self._key_values.by_serial[serial] = values
                else:
                    self.key_off = True  # no key for this text: split_key declines from now on
                blobs = tuple(_dumps(values[s:e], 0)[5:] for s, e in seg.runs)
                entry = (values, blobs, serial)
        if len(seg.cache) >= CACHE_LIMIT:
            seg.cache.clear()
            seg.fp.clear()
        seg.cache[text] = entry
        return entry

    def split(self, raw: bytes) -> tuple[Parts, bytes] | None:
        """The line's pieces and its digest, or None if it does not fit (see the module doc)."""
        if raw[:1] != b"{" or self.off:
            return None
        self.lines += 1
        pos = 1
        v1 = self.digest_version == 1
        key = shift = 0  # version 2: the segments' serials, as split_key's key
        vary: list[int] = []  # version 2: the blocks' ints
        parts: Parts = []
        blobs: list[bytes] = [_TUPLE_HEAD]  # marshal bytes of each run, piece after piece
        for step in self.plan:
            if type(step) is _Block:
                m = step.match(raw, pos)
                if m is None:
                    return None
                ints = tuple(map(int, m.groups()))
                for i in step.times:
                    if ints[i] >= _MS_THRESHOLD:
                        return None
                parts.append(ints)
                if not v1:
                    vary.extend(ints)
                elif step.whole:
                    blobs.append(_dumps(ints, 0)[5:])
                else:
                    for s, e in step.runs:
                        blobs.append(_dumps(ints[s:e], 0)[5:])
                pos = m.end()
                continue
            seg: _Segment = step  # type: ignore[assignment]
            if pos > 1:
                if raw[pos : pos + 1] != b",":
                    return None
                pos += 1
            if seg.end is not None:
                end = raw.find(seg.end, pos)
                if end < 0:
                    return None
            else:
                end = len(raw) - 2 if raw.endswith(b"}\n") else len(raw.rstrip(_WS)) - 1
                if end < pos or raw[end] != 125:  # "}"
                    return None
            text = raw[pos:end]
            entry = seg.cache.get(text)
            if entry is None:
                entry = self._learn(seg, text)
            if not entry:
                return None
            parts.append(entry[0])
            if v1:
                blobs.extend(entry[1])
            elif key >= 0 and entry[2]:
                key |= entry[2] << shift
                shift += SERIAL_BITS
            else:
                key = -1  # no serial: the key digest from the values
            pos = end
        if self.last_is_block and raw[pos:].strip(_WS) != b"}":
            return None
        if not v1:
            return parts, self._digest_v2(parts, key, vary)
        blobs.extend(self.missing_m)
        if self.join_order is not None:
            blobs = self.join_order(blobs)
        return parts, _blake2b(b"".join(blobs), digest_size=16).digest()

    def _digest_v2(self, parts: Parts, key: int, vary: list[int]) -> bytes:
        """Version 2 digest of a line's pieces (``vary``: its blocks' ints), the key's part
        cached when its segments have serials."""
        if self.digest_version == 3:
            return self._digest_v3(parts, key, vary)
        if key < 0:
            return row_hash_v2(self.row(parts))
        ints = self.vperm((*vary, *self.vmissing))
        if not self.vpacked:
            return _blake2b(self.key_digest(key) + varying_tail(ints), digest_size=DIGEST_SIZE).digest()
        h = self.key_hashers.get(key)
        if h is None:
            h = self.key_hasher(key)
        h = h.copy()
        h.update(pack_varying(*ints))
        return h.digest()

    def _digest_v3(self, parts: Parts, key: int, vary: list[int]) -> bytes:
        """Version 3: the record's digest under the store's digester, or its key digest
        without one (a keyed reader's), the key digest cached when its segments have serials."""
        if key < 0:
            row = self.row(parts)
            kd, ints = row_key_digest(row), varying_of(row)
        else:
            kd = self.key_digests.get(key)  # type: ignore[assignment]
            if kd is None:
                if len(self.key_digests) >= KEY_LIMIT:
                    self.key_digests.clear()
                kd = self.key_digests[key] = self.key_digest(key)
            ints = self.vperm((*vary, *self.vmissing))
        return kd if self.digester is None else self.digester.digest(kd, ints)

    def row(self, parts: Parts) -> tuple[Any, ...]:
        """The stored values (FIELDS order) of a line's pieces."""
        flat = tuple(_chain(parts))
        if self.perm is None:
            return flat
        return self.perm(flat + self.missing)

    @property
    def key_off(self) -> bool:
        """split_key declines every line: the caches stopped paying, or KEY_LIMIT serials were handed out."""
        return self.key_state.off

    @key_off.setter
    def key_off(self, value: bool) -> None:
        self.key_state.off = value

    def key_values(self, key: int) -> tuple[Any, ...]:
        """The non-varying values (KEY_FIELDS order, as :meth:`row` gives them) of the lines
        ``split_key`` gave ``key``; KeyError for a key this extractor did not give."""
        return self._key_values(key)

    def extract(self, raw: bytes) -> tuple[tuple[Any, ...], bytes] | None:
        """(row, digest) of a line, or None (take the general route)."""
        got = self.split(raw)
        if got is None:
            return None
        return self.row(got[0]), got[1]
