"""The keyed form of an extractor's lines: the changing integers, a key for the rest, the digest.

:meth:`~desktopviz.core.import_extract.Extractor.split_key` gives, per line, only the values
of :data:`VARYING_FIELDS` and a *key* standing for the other values (:data:`KEY_FIELDS`),
which :meth:`~desktopviz.core.import_extract.Extractor.key_values` gives back. A key is an
int: the *serials* of the line's segment texts (each distinct text that parsed and checked,
numbered once when first seen, from a counter shared by every extractor of the process, so a
number is never reused), ``SERIAL_BITS`` bits each, in plan order. Equal keys hence mean the
same segment texts, so the same values; keys of two extractors never collide (serials start
at 1, so the number of segments is readable from the key's size).

An extractor remembers the values of every serial it handed out (cleared segment caches do
not forget them), up to :data:`KEY_LIMIT` of them: past that, ``split_key`` declines every
further line of that extractor (the general route takes them), which bounds the memory.

The function is generated per plan (:func:`compile_split_key`): straight-line code with the
plan's regular expressions, caches and constants bound (no loop over the plan, no type checks,
one ``m.groups()`` per block, one join of marshal bytes for the digest). It takes exactly the
lines ``split`` takes, with the same cuts, so the module doc of
:mod:`~desktopviz.core.import_extract` holds for it too. What it does differently:

* a block made of the times only (the bounds of a flush interval, shared by every record of
  it, which Felix writes together) is first compared with the previous line's text (the
  pattern reads the same bytes the same way); else it is cut at the next segment's first key
  and looked up by its text; a new text is read with the block's pattern, which must end
  exactly there (else the line is declined, as ``split``, whose next segment would then not
  start with its first key, declines it);
* a segment's text is first guessed: the known texts whose bytes :data:`FP_SLICE` before
  :data:`FP_WINDOW` (or less, for short segments) are the line's (or, for the segment that
  ends the line, that have its length) are compared in full, with the next block's first key
  after them. Such a text came from a search (it holds no ``,"<key>":`` of that block) and
  that needle cannot overlap itself (a VARYING name holds no ``,``, ``"`` or ``:``), so the
  search would have cut there too. Otherwise: the search, the cache and learning, as
  ``split`` does;
* the patterns carry what surrounds a block (``{``, the ``,`` after it, the line's end) and
  refuse times of 12 digits and more (import_calico's milliseconds), ``split``'s checks; a
  counters block's ints are read by one orjson parse of its groups (JSON ints of at most 18
  digits: the same ints as ``int``).

A version-3 reader's hot path (``Extractor.split_hot``, compiled with ``text_counters``) checks
the block of the seven counters in the line's middle with the same pattern uncaptured, and
gives the block's text in the first counter's place (None in the others'): the batch sends
its texts as one and the writer reads them (:mod:`~desktopviz.core.import_counters`).
"""

from __future__ import annotations

import hashlib
import json
import marshal
import re
import weakref
from itertools import count
from typing import Any

from desktopviz.core.flowlog import FIELDS, VARYING_FIELDS
from desktopviz.core.import_counters import COUNTERS
from desktopviz.core.import_digest import pack_varying, varying_tail
from desktopviz.core.store_keys import KEY_FIELDS

__all__ = [
    "KEY_FIELDS",
    "KEY_LIMIT",
    "SERIAL_BITS",
    "VARYING",
    "VARYING_FIELDS",
    "compile_split_key",
    "counters_block",
]

# Integer fields that change from record to record; everything else is cached by its text.
VARYING = frozenset(VARYING_FIELDS)
TIMES = ("start_time", "end_time")
INT = rb"(-?(?:0|[1-9][0-9]{0,17}))"  # what json and orjson both read as the same int
WS = b" \t\r\n"  # JSON's whitespace (bytes.strip's default would take \v and \f too)
TUPLE_HEAD = b"(" + len(FIELDS).to_bytes(4, "little")  # marshal v0 of a tuple of len(FIELDS)
SERIAL_BITS = 32
KEY_LIMIT = 1 << 16  # serials (distinct segment texts) one extractor remembers for key_values
BLOCK_CACHE_LIMIT = 4096  # texts of a block of times remembered (cleared when full)
FP_WINDOW = 512  # a segment's first bytes that pick the candidate texts to compare
FP_SLICE = 64  # of which the last ones are the key (texts that share the window share these)
FP_BUCKET = 8  # candidate texts remembered per first bytes (or per length, for the line's last segment)
_serials = count(1)
try:  # reads a JSON array of ints the block patterns matched (<= 18 digits) as int() does
    from orjson import loads as _array
except ImportError:  # pragma: no cover - orjson is a dependency; map(int, ...) then
    _array = None  # type: ignore[assignment]


def next_serial() -> int:
    """A segment text's number, never given twice in this process (0 once the bits run out)."""
    serial = next(_serials)
    return serial if serial < 1 << SERIAL_BITS else 0


def field_runs(pieces: list[list[str]]) -> list[tuple[int, int, int]]:
    """(piece, start, end) runs of consecutive fields of a piece that are also consecutive in
    FIELDS, in FIELDS order: a row's marshal bytes are these runs' bytes in this order."""
    owner = {n: (p, i) for p, names in enumerate(pieces) for i, n in enumerate(names)}
    out: list[tuple[int, int, int]] = []
    for n in FIELDS:
        p, i = owner[n]
        if out and out[-1][0] == p and out[-1][2] == i:
            out[-1] = (p, out[-1][1], i + 1)
        else:
            out.append((p, i, i + 1))
    return out


def _int_pattern(name: str, group: bool = True) -> bytes:
    # possessive: the same matches (a digit never stands where the next "," or "}" must), no backtracking
    if name in TIMES:  # the ints below import_calico's _MS_THRESHOLD (10**11: seconds, not ms)
        body = rb"-?+0|[1-9][0-9]{0,10}+|-[1-9][0-9]{0,17}+"
    else:
        body = rb"-?+(?:0|[1-9][0-9]{0,17}+)"
    return b"(" + body + b")" if group else b"(?:" + body + b")"


def _block_pattern(names: list[str], first: bool, last: bool, groups: bool = True) -> bytes:
    """A block's fields, with what surrounds them: ``{`` or ``,`` before, ``,`` or the line's
    end after (the checks the general split makes around a block, folded in); with
    ``groups=False``, the same text matched without capturing the ints (a third faster)."""
    body = b",".join(b'"' + n.encode() + b'":' + _int_pattern(n, groups) for n in names)
    head = b"\\{" if first else b","
    tail = b"[ \\t\\r\\n]*\\}[ \\t\\r\\n]*\\Z" if last else b","
    return head + body + tail


def learn_block(
    match: Any, cache: dict[bytes, Any], runs: list[tuple[int, int]], raw: bytes, start: int, stop: int
) -> Any:
    """A block text's ints and marshal runs, if the block's pattern reads exactly raw[start:stop]."""
    m = match(raw, start)
    if m is None or m.end() != stop:
        return None
    ints = tuple(map(int, m.groups()))
    if len(cache) >= BLOCK_CACHE_LIMIT:
        cache.clear()
    entry = cache[raw[start:stop]] = (ints, tuple(marshal.dumps(ints[s:e], 0)[5:] for s, e in runs))
    return entry


def note(fp: dict[Any, Any], key: Any, item: tuple[Any, ...]) -> None:
    """Remember a segment text (with what follows it, its length, its cache entry) under ``key``
    for the guess that skips the search."""
    bucket = fp.get(key, ())
    if item not in bucket:
        fp[key] = (item, *bucket[: FP_BUCKET - 1])


def _window(ext: Any, step: Any) -> int:
    """How many of a segment's first bytes pick its candidates: 3/4 of the template's text, at
    most FP_WINDOW (a text shorter than the window is never guessed, only looked up)."""
    template = {k: ext.template[k] for k in step.keys}
    size = len(json.dumps(template, separators=(",", ":"), ensure_ascii=False).encode()) - 2
    return max(8, min(FP_WINDOW, size * 3 // 4))


def _segment_code(k: int, step: Any, last: bool, ext: Any, env: dict[str, Any]) -> list[str]:
    """A segment's lines: guess its text from the candidates of its first bytes (middle) or of
    its length (last), verified in full; else search, look up, learn (see the module doc)."""
    env[f"C{k}"], env[f"S{k}"], env[f"FP{k}"] = step.cache, step, step.fp
    out = []
    if last:
        out.append("    end = len(raw) - 2 if raw.endswith(b'}\\n') else len(raw.rstrip(WS)) - 1")
        out += ["    if end < pos or raw[end] != 125:", "        return None"]
        out += [
            f"    for t, e{k} in FP{k}.get(end - pos, ()):",
            "        if raw.startswith(t, pos):",
            "            break",
        ]
        out += ["    else:", "        text = raw[pos:end]"]
        fp_key = "end - pos"
    else:
        env[f"E{k}"], env[f"W{k}"] = step.end, _window(ext, step)
        env[f"A{k}"] = max(0, env[f"W{k}"] - FP_SLICE)  # the window's last bytes only: less to hash
        out.append(f"    for t, n, e{k} in FP{k}.get(raw[pos + A{k} : pos + W{k}], ()):")
        out += [
            "        if raw.startswith(t, pos):",
            "            end = pos + n",
            "            break",
            "    else:",
        ]
        out += [f"        end = raw.find(E{k}, pos)", "        if end < 0:", "            return None"]
        out.append("        text = raw[pos:end]")
        fp_key = f"text[A{k} : W{k}]"
    out += [
        f"        e{k} = C{k}.get(text)",
        f"        if e{k} is None:",
        f"            e{k} = learn(S{k}, text)",
    ]
    out += [f"        if not e{k} or not e{k}[2]:", "            return None"]  # refused, or no serial left
    if last:
        out.append(f"        note(FP{k}, end - pos, (text, e{k}))")
    else:
        out += [
            f"        if len(text) >= W{k}:",
            f"            note(FP{k}, {fp_key}, (text + E{k}, len(text), e{k}))",
        ]
        out.append("    pos = end")
    return out


def _block_code(k: int, step: Any, first: bool, last: bool, nxt: Any, env: dict[str, Any]) -> list[str]:
    """A block's lines: times (the same in every record of a flush interval) looked up by their
    text up to the next key; counters read with the anchored pattern."""
    env[f"M{k}"] = re.compile(_block_pattern(step.names, first, last)).match
    names = [f"v{k}_{i}" for i in range(len(step.names))]
    start = "0" if first else "pos"
    if all(n in TIMES for n in step.names) and not last:
        env[f"N{k}"], env[f"T{k}"], env[f"R{k}"] = b',"' + nxt.keys[0].encode() + b'":', {}, step.runs
        env[f"LT{k}"], env[f"LB{k}"] = b"", None  # the last text (none yet) and its entry
        out = [f"    global LT{k}, LB{k}", f"    if LB{k} is not None and raw.startswith(LT{k}, {start}):"]
        out += [f"        b{k} = LB{k}", f"        pos = {start} + len(LT{k})", "    else:"]
        out += [f"        end = raw.find(N{k}, {start})", "        if end < 0:", "            return None"]
        out += [
            f"        LT{k} = raw[{start} : end + 1]",
            f"        b{k} = T{k}.get(LT{k})",
            f"        if b{k} is None:",
        ]
        out += [
            f"            b{k} = learn_block(M{k}, T{k}, R{k}, raw, {start}, end + 1)",
            f"        LB{k} = b{k}",
            f"        if b{k} is None:",
            "            return None",
            "        pos = end + 1",
        ]
        return [*out, f"    {', '.join(names)}{',' if len(names) == 1 else ''} = b{k}[0]"]
    out = [f"    m = M{k}(raw{'' if first else ', pos'})", "    if m is None:", "        return None"]
    if len(names) == 1:
        out.append(f"    {names[0]} = int(m.group(1))")
    elif _array is not None:  # the groups are JSON ints: one parse reads them all, at half int()'s cost
        out.append(f"    {', '.join(names)} = array(b'[' + b','.join(m.groups()) + b']')")
    else:
        out.append(f"    {', '.join(names)} = map(int, m.groups())")
    return out if last else [*out, "    pos = m.end()"]


class KeyState:
    """What a split_key function and its extractor share: lines seen, and whether to decline."""

    __slots__ = ("lines", "off")

    def __init__(self) -> None:
        self.lines = 0
        self.off = False


def counters_block(ext: Any, is_block: list[bool]) -> int | None:
    """The plan step whose text a version-3 reader sends as it is (``text_counters``): a block
    in the line's middle of exactly the COUNTERS, in order; None if the plan has none, or for
    versions 1 and 2 (they hash the ints in the reader)."""
    if ext.digest_version != 3:
        return None
    last = len(ext.plan) - 1
    for k, step in enumerate(ext.plan):
        if is_block[k] and 0 < k < last and tuple(step.names) == COUNTERS:
            return k
    return None


def compile_split_key(ext: Any, is_block: list[bool], text_counters: bool = False) -> Any:
    """The ``split_key`` function of an extractor (see the module doc), from its plan:
    ``ext.plan`` (blocks and segments, ``is_block`` telling which), ``ext.missing_names``
    and ``ext.missing`` (fields the template lacks, with the values every line gets) and
    ``ext._learn`` (a segment text's cache entry: values, marshal runs, serial), ``ext.key_state``
    (lines seen, and whether to decline every line).

    ``text_counters`` (a plan with a :func:`counters_block`): the function checks that block
    with its pattern as ever, but gives its text instead of its ints, in the first counter's
    place, the other counters None (:func:`counters_text`); None if the plan has no such block."""
    plan = ext.plan
    text_at = counters_block(ext, is_block) if text_counters else None
    if text_counters and text_at is None:
        return None
    ref = weakref.ref(ext)  # no cycle through the function: the extractor goes with its last user

    def learn(seg: Any, text: bytes) -> Any:
        owner = ref()
        return () if owner is None else owner._learn(seg, text)

    env: dict[str, Any] = {"st": ext.key_state, "learn": learn, "learn_block": learn_block, "note": note}
    env.update(
        array=_array, dumps=marshal.dumps, H16=hashlib.blake2b(digest_size=16), WS=WS
    )  # copied: no set-up per line
    lines = ["def split_key(raw):", "    if st.off:", "        return None", "    st.lines += 1"]
    value_of: dict[str, str] = {}  # varying field -> expression
    serial_exprs: list[str] = []
    last = len(plan) - 1
    for k, step in enumerate(plan):
        if k == text_at:  # checked, its text kept: '","bytes_in":1,...,"num_flows_completed":4'
            env[f"M{k}"] = re.compile(_block_pattern(step.names, False, False, groups=False)).match
            lines += [f"    m = M{k}(raw, pos)", "    if m is None:", "        return None"]
            lines += ["    end = m.end()", "    c = raw[pos : end - 1]", "    pos = end"]
            value_of.update((n, "c" if i == 0 else "None") for i, n in enumerate(step.names))
            continue
        if is_block[k]:
            nxt = plan[k + 1] if k < last else None
            lines += _block_code(k, step, k == 0, k == last, nxt, env)
            value_of.update((n, f"v{k}_{i}") for i, n in enumerate(step.names))
            continue
        if k == 0:
            lines += ["    if raw[:1] != b'{':", "        return None", "    pos = 1"]
        lines += _segment_code(k, step, k == last, ext, env)
        shift = SERIAL_BITS * len(serial_exprs)
        serial_exprs.append(f"e{k}[2]" if shift == 0 else f"e{k}[2] << {shift}")
    missing = list(ext.missing_names)
    for n, v in zip(missing, ext.missing, strict=True):
        if n in VARYING:
            value_of[n] = repr(v)  # an int: the same on every line
    # the digest: the marshal bytes of the row's runs, in FIELDS order
    pieces = [list(step.names) for step in plan] + [missing]
    blobs: list[str] = []
    const = TUPLE_HEAD
    for p, s, e in field_runs(pieces):
        if p == len(plan):
            const += marshal.dumps(tuple(ext.missing[s:e]), 0)[5:]
            continue
        if f"T{p}" in env:  # a block of times, from its cache
            expr = f"b{p}[1][{plan[p].runs.index((s, e))}]"
        elif is_block[p]:
            vs = [f"v{p}_{i}" for i in range(s, e)]
            expr = f"dumps({vs[0]}, 0)" if len(vs) == 1 else f"dumps(({', '.join(vs)}), 0)[5:]"
        else:
            expr = f"e{p}[1][{plan[p].runs.index((s, e))}]"
        if const:
            env[f"B{len(blobs)}"] = const
            blobs.append(f"B{len(blobs)}")
            const = b""
        blobs.append(expr)
    if const:
        env[f"B{len(blobs)}"] = const
        blobs.append(f"B{len(blobs)}")
    ints = ", ".join(value_of[n] for n in VARYING_FIELDS)
    key = " | ".join(serial_exprs) or "0"
    if ext.digest_version == 1:
        lines += ["    h = H16.copy()", f"    h.update(b''.join(({', '.join(blobs)},)))"]
        lines.append(f"    return ({ints},), {key}, h.digest()")
    elif ext.digest_version == 3:  # the keyed writer computes the digests, a batch at a time
        lines.append(f"    return ({ints},), {key}, None")
    else:
        lines += _v2_code(ext, ref, ints, key, env)
    source = "\n".join(lines) + "\n"
    exec(compile(source, f"<split_key {id(ext):x}>", "exec"), env)  # noqa: S102
    fn = env["split_key"]
    fn.source = source  # what runs, for debugging
    return fn


def _v2_code(ext: Any, ref: Any, ints: str, key: str, env: dict[str, Any]) -> list[str]:
    """The digest of version 2 (:mod:`~desktopviz.core.import_digest`): a copy of the key's
    hash state (its digest and form byte hashed) from the extractor's cache (made on a miss),
    updated with the nine ints packed (plain ints of at most 18 digits: they fit). A template
    whose missing varying values do not fit, or are not ints, takes ``varying_tail``."""

    def owner() -> Any:
        ext = ref()
        if ext is None:  # pragma: no cover - the function outlived its extractor
            raise ReferenceError("extractor gone")
        return ext

    env.update(KH=ext.key_hashers, PACK=pack_varying, TAIL=varying_tail, B2=hashlib.blake2b)
    env.update(khash=lambda k: owner().key_hasher(k), kdigest=lambda k: owner().key_digest(k))
    if not ext.vpacked:  # a missing varying value that is not a 64-bit int
        return [
            f"    k = {key}",
            f"    t = ({ints},)",
            "    return t, k, B2(kdigest(k) + TAIL(t), digest_size=16).digest()",
        ]
    out = [
        f"    k = {key}",
        "    h = KH.get(k)",
        "    if h is None:",
        "        h = khash(k)",
        "    h = h.copy()",
    ]
    return [*out, f"    h.update(PACK({ints}))", f"    return ({ints},), k, h.digest()"]


class KeyValues:
    """The non-varying values (KEY_FIELDS order) of an extractor's keys: each segment's values
    by serial, put together with the template's missing fields."""

    def __init__(self, segment_names: list[list[str]], missing: dict[str, Any]) -> None:
        self.by_serial: dict[int, tuple[Any, ...]] = {}
        self.count = len(segment_names)
        order = [n for names in segment_names for n in names] + [n for n in missing if n not in VARYING]
        self.tail = tuple(missing[n] for n in missing if n not in VARYING)
        self.pick = [order.index(n) for n in KEY_FIELDS]
        self.mask = (1 << SERIAL_BITS) - 1

    def __call__(self, key: int) -> tuple[Any, ...]:
        flat: list[Any] = []
        for i in range(self.count):
            serial = (key >> (SERIAL_BITS * i)) & self.mask
            flat.extend(self.by_serial[serial])  # KeyError: not a key of this extractor
        if key >> (SERIAL_BITS * self.count):
            raise KeyError(key)
        flat.extend(self.tail)
        return tuple(flat[i] for i in self.pick)
