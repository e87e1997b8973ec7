"""Keyed batches: an import's records sent as the few values that change per record, plus keys.

A flow log's fields split into the integers that change from one flush interval to the
next (:data:`VARYING_FIELDS`: the times and the traffic counters) and everything else (endpoints,
labels, service, policy trace, process, host), which takes a few hundred to a few thousand
distinct values per file. The reader process (:mod:`import_worker`) numbers those distinct
non-varying parts (*keys*, local ids from 1) and sends, per record, only the key id and the
nine varying integers; each key's values are sent once, in the form the store binds them
(label sets and traces as the reader's local ids, as in :mod:`import_prepare`; other JSON
values as their stored text): once the writer (:mod:`import_apply`) has put the store's ids
in place of the local ones, a key's values are a ``flow_keys`` row as the store writes it, and
a record is a ``flow_data`` row (the store's key id and the nine integers, bound as they come:
the columns are zipped straight into one ``executemany``).

With version 3 the counters of the lines the extractor splits travel as text
(:attr:`KeyedBatch.counters`, :mod:`import_counters`), read into the columns by the writer
(:meth:`KeyedBatch.with_counters`).

A batch also carries the records' line numbers (ints, made texts only when an issue names
one) and, for digest versions 1 and 2, the digests (in row order as one blob, and per start
time sorted as one blob, for the writer's duplicate check and its one statement per start
time). For version 3 it carries each key's digest once instead (:attr:`KeyedBatch.new_key_digests`,
keys numbered by key digest too), and the writer computes the records' digests a batch at a
time (:mod:`import_complete`). Each key comes with
its *flow* (a rollup flow key with its local label-set ids), its *group* (reporter, local
trace id) and its *series* (action, reporter), numbered here and their values sent once,
like keys; the writer sums the batch per (hour, flow), (hour, group) and (5 minutes, series)
with numpy (:func:`import_sums.keyed_sums`: what :func:`store_rollup.add_sums` and
``rollup_rows`` sum) and turns the sums into the rollup rows with the store's own
:func:`store_rollup.rollup_rows`. (The sums were made here until the reader became the
slower of the two processes.) :meth:`KeyedBatch.rows`
gives the records back for the cases the writer hands to the store's own insert (a
duplicate, a trace or a value the store refuses).
"""

from __future__ import annotations

import json
from collections.abc import Hashable, Sequence
from operator import itemgetter
from typing import Any, NamedTuple

import numpy as np

from desktopviz.core import import_prepare
from desktopviz.core.flowlog import FIELDS, JSON_FIELDS, VARYING_FIELDS
from desktopviz.core.import_counters import COUNTERS_AT, counters_text, read_counters
from desktopviz.core.import_digest import KEYED_VERSIONS, READER_VERSION, pack_digests, unpack_digests
from desktopviz.core.import_digest import key_of as _kget
from desktopviz.core.import_digest import varying_of as _vget
from desktopviz.core.import_prepare import Key, Preparer
from desktopviz.core.store_ingest import _dumps
from desktopviz.core.store_keys import KEY_FIELDS
from desktopviz.core.store_rollup import FLOW_KEY, Hit

__all__ = ["KEY_FIELDS", "VARYING_FIELDS", "KeyedBatch", "KeyedPreparer"]

_K = {n: i for i, n in enumerate(KEY_FIELDS)}
_V = {n: i for i, n in enumerate(VARYING_FIELDS)}
_KSL, _KDL, _KPOL = _K["source_labels"], _K["dest_labels"], _K["policies"]
_KJSON = tuple(i for n, i in _K.items() if n in JSON_FIELDS and i not in (_KSL, _KDL, _KPOL))
_KFLOW = tuple(_K[n] for n in FLOW_KEY)
_KREPORTER = _K["reporter"]
_FACTION, _FREPORTER = FLOW_KEY.index("action"), FLOW_KEY.index("reporter")
_NV = len(VARYING_FIELDS)
_START = _V["start_time"]
# a row (FIELDS order) from (varying values, key values)
_SOURCE = [("v", _V[n]) if n in _V else ("k", _K[n]) for n in FIELDS]
_first = itemgetter(0)
_second = itemgetter(1)


def join_row(ints: Sequence[Any], key: Sequence[Any]) -> tuple[Any, ...]:
    """The row (FIELDS order) of varying values and key values."""
    return tuple(ints[i] if s == "v" else key[i] for s, i in _SOURCE)


class KeyedBatch(NamedTuple):
    """One batch as the keyed writer stores it (see the module doc)."""

    n: int
    reset: bool  # the reader numbers from scratch: forget its earlier local ids
    new_labels: list[tuple[int, str]]  # (local id, text), the first time sent
    new_traces: list[tuple[int, str, tuple[Hit, ...]]]  # (local id, text, entries)
    new_keys: list[tuple[int, tuple[Any, ...]]]  # (local key id, stored KEY_FIELDS values)
    labels_used: list[int]  # local ids in the order the store meets them
    traces_used: list[int]
    keys_used: list[int]  # local key ids, first met first
    bad_traces: bool  # a trace has an entry that is not a policy hit (the store refuses it)
    kids: list[int]  # each record's local key id
    ints: list[list[Any]]  # the varying columns (VARYING_FIELDS order)
    digests: bytes | list[bytes]  # in row order: one blob of DIGEST_SIZE-byte digests, else a list
    seen_fix: dict[int, int]  # row -> its digest key's start time where that is not ints[0]'s (seen_key)
    by_start: list[tuple[int, bytes | list[bytes]]]  # (start time, its digests sorted), by start time
    unique: bool  # no key twice in the batch
    new_flows: list[
        tuple[int, tuple[Any, ...]]
    ]  # (flow id, rollup flow key; its last two: local label-set ids)
    new_groups: list[tuple[int, tuple[str, int]]]  # (group id, (reporter, local trace id))
    flows_used: list[int]  # flow ids of the batch's keys
    new_info: list[
        tuple[int, tuple[int, int | None, int]]
    ]  # (local key id, (flow, group or None, series id))
    new_series: list[tuple[int, tuple[Any, Any]]]  # (series id, (action, reporter))
    wheres: list[int | str]  # a record's line number, or where it is (a line and a hit)
    # digest version 3 (the reader sends no digests, by_start and seen_fix empty): (local key
    # id, its key digest) the first time sent; the writer completes the batch (import_complete)
    new_key_digests: list[tuple[int, bytes]] | None = None
    # version 3: the rows the reader's hot path split hold their counters' text in the first
    # counter's column (COUNTERS_AT) and None in the others; the counters of those rows (all
    # when the second item is None, else the rows named there) as one counters_text, which
    # the writer reads into the columns (with_counters, import_complete)
    counters: tuple[bytes, list[int] | None] | None = None
    # set by the writer (import_complete), never sent: the varying columns as one int64 array
    # (VARYING_FIELDS order) when all are plain ints within 64 bits
    columns: Any = None

    def with_counters(self) -> KeyedBatch:
        """The batch with the counters its reader sent as text read into :attr:`ints`."""
        if self.counters is None:
            return self
        text, rows = self.counters
        ints = list(self.ints)
        read = read_counters(text, self.n if rows is None else len(rows))
        for j, values in enumerate(read, COUNTERS_AT):
            if rows is None:
                ints[j] = values
            else:
                col = ints[j] = list(ints[j])
                for r, v in zip(rows, values, strict=True):
                    col[r] = v
        return self._replace(ints=ints, counters=None)

    def where_texts(self) -> list[str]:
        """Where each record is, as issues name it."""
        return [str(w) for w in self.wheres]

    def row_keys(self) -> list[Key]:
        """The records' digest keys (start time, digest) in row order (``seen_key``)."""
        return list(zip(seen_starts(self.ints, self.seen_fix), unpack_digests(self.digests), strict=True))

    def rows(
        self, labels: dict[int, str], traces: dict[int, str], key_values: dict[int, tuple[Any, ...]]
    ) -> list[tuple[Any, ...]]:
        """The batch's rows (FIELDS order), JSON values parsed from their texts (``labels``,
        ``traces``, ``key_values``: what the reader sent for its local ids)."""
        parsed: dict[int, tuple[Any, ...]] = {}
        for kid in set(self.kids):
            vals = list(key_values[kid])
            for i, texts in ((_KSL, labels), (_KDL, labels), (_KPOL, traces)):
                if vals[i] is not None:
                    vals[i] = json.loads(texts[vals[i]])
            for i in _KJSON:
                if vals[i] is not None:
                    vals[i] = json.loads(vals[i])
            parsed[kid] = tuple(vals)
        return [
            join_row(ints, parsed[k]) for k, ints in zip(self.kids, zip(*self.ints, strict=True), strict=True)
        ]


class KeyedPreparer(Preparer):
    """The reader process's side: numbers keys (and, through :class:`Preparer`, label sets
    and traces), gathers a batch's varying columns and sums its rollups."""

    def __init__(self, digest_version: int = READER_VERSION) -> None:
        super().__init__()
        # version 3: each key's digest goes with it, the writer computes the records' digests
        self._version = digest_version
        self._key_digests = digest_version in KEYED_VERSIONS
        self._kids: dict[Hashable, int] = {}  # (stored key values, types, key digest) -> local key id
        self._ext_kids: dict[Any, dict[Hashable, int]] = {}  # extractor -> its key -> local key id
        self._kinfo: list[Any] = [None]  # local key id -> (flow id, group id or None)
        self._fids: dict[tuple[Any, ...], int] = {}  # (flow key values, labels ids) -> flow id
        self._gids: dict[tuple[str, int], int] = {}  # (reporter, trace id) -> group id
        self._sids: dict[tuple[Any, Any], int] = {}  # (action, reporter) -> series id
        self._kv: dict[int, tuple[Any, ...]] = {}  # local key id -> stored values
        self._begin()

    def _start_over(self) -> None:
        self.__init__(self._version)  # type: ignore[misc]

    def _begin(self) -> None:
        self._new_labels: list[tuple[int, str]] = []
        self._new_traces: list[tuple[int, str, tuple[Hit, ...]]] = []
        self._new_keys: list[tuple[int, tuple[Any, ...]]] = []
        self._new_flows: list[tuple[int, tuple[Any, ...]]] = []
        self._new_info: list[tuple[int, tuple[int, int | None, int]]] = []
        self._new_kds: list[tuple[int, bytes]] = []
        self._new_series: list[tuple[int, tuple[Any, Any]]] = []
        self._new_groups: list[tuple[int, tuple[str, int]]] = []
        self._kids_col: list[int] = []
        self._flat: list[Any] = []
        self._digests: list[bytes] = []
        self._seen_fix: dict[int, int] = {}
        self._wheres: list[int | str] = []

    def __len__(self) -> int:
        return len(self._kids_col)

    def columns(self) -> tuple[Any, Any, Any, Any, Any]:
        """The ``append`` of the key ids' and the digests' columns, the ``extend`` of the varying
        values', the ``append`` of the wheres' and the batch's ``len`` (valid until the next
        :meth:`take`): how the reader's loop (``import_lines.LineItems.items``) adds a line an
        extractor splits without a Python call per line."""
        kids = self._kids_col
        return kids.append, self._flat.extend, self._digests.append, self._wheres.append, kids.__len__

    def known(self, ext: Any) -> dict[Hashable, int]:
        """The local key ids of an extractor's keys (valid until the next :meth:`take`; a key
        not in it: :meth:`split_key_id`)."""
        known = self._ext_kids.get(ext)
        if known is None:
            known = self._ext_kids[ext] = {}
        return known

    def split_key_id(self, ext: Any, ekey: Hashable) -> int:
        """The local id of an extractor's key, numbered now if new."""
        known = self.known(ext)
        kid = known.get(ekey)
        if kid is None:
            kd = ext.key_digest(ekey) if self._key_digests else None
            kid = known[ekey] = self._key_id(ext.key_values(ekey), kd)
        return kid

    def _key_id(self, values: tuple[Any, ...], kd: bytes | None = None) -> int:
        """The local id of a row's key values (Python values, KEY_FIELDS order) and, for
        version 3, key digest: two keys the store keeps as one (dicts whose JSON text is the
        same) may have different digests, so each digest gets its own local id."""
        stored = list(values)
        sl = stored[_KSL]
        dl = stored[_KDL]
        stored[_KSL] = None if sl is None else self._label(sl, self._new_labels)
        stored[_KDL] = None if dl is None else self._label(dl, self._new_labels)
        stored[_KPOL] = self._trace(stored[_KPOL], self._new_traces)
        for i in _KJSON:
            if stored[i] is not None:
                stored[i] = _dumps(stored[i])
        # with the types: 1, 1.0 and True are equal keys but are stored differently
        key: Hashable = (tuple(stored), tuple(map(type, stored)), kd)
        try:
            kid = self._kids.get(key)
        except TypeError:  # a value no stored form has (the store refuses it): a key of its own
            kid, key = None, None
        if kid is None:
            kid = len(self._kinfo)
            if key is not None:
                self._kids[key] = kid
            self._kv[kid] = tuple(stored)
            self._new_keys.append((kid, self._kv[kid]))
            info = self._info(stored)
            self._kinfo.append(info)
            self._new_info.append((kid, info))
            if kd is not None:
                self._new_kds.append((kid, kd))
        return kid

    def _info(self, stored: list[Any]) -> tuple[int, int | None, int]:
        """(flow id, group id, series id) of a key: its rollup sums per (hour, flow key, label
        sets) and per (hour, reporter, trace), as ``add_sums`` keys them (per 5 minutes), and
        its series_rollup sums per (5 minutes, action, reporter)."""
        fk = tuple("-" if stored[i] is None else stored[i] for i in _KFLOW)
        fk = (*fk, stored[_KSL] or 0, stored[_KDL] or 0)
        fid = self._fids.get(fk)
        if fid is None:
            fid = self._fids[fk] = len(self._fids)
            self._new_flows.append((fid, fk))
        tid = stored[_KPOL]
        gid = None
        if tid is not None and self._trace_hids[tid]:
            gk = ("-" if stored[_KREPORTER] is None else stored[_KREPORTER], tid)
            gid = self._gids.get(gk)
            if gid is None:
                gid = self._gids[gk] = len(self._gids)
                self._new_groups.append((gid, gk))
        series = (fk[_FACTION], fk[_FREPORTER])
        sid = self._sids.get(series)
        if sid is None:
            sid = self._sids[series] = len(self._sids)
            self._new_series.append((sid, series))
        return fid, gid, sid

    def add_row(self, row: tuple[Any, ...], key: Key, where: int | str) -> None:
        """Add a record (its values in FIELDS order; ``key``: its digest key, ``seen_key``; for
        version 3, the digest is the row's key digest)."""
        if self._key_digests:
            self._kids_col.append(self._key_id(_kget(row), key[1]))
            self._flat.extend(_vget(row))
            self._wheres.append(where)
            return
        self._kids_col.append(self._key_id(_kget(row)))
        ints = _vget(row)
        if key[0] is not ints[_START] and key[0] != ints[_START]:
            self._seen_fix[len(self._digests)] = key[0]
        self._flat.extend(ints)
        self._digests.append(key[1])
        self._wheres.append(where)

    def take(self) -> KeyedBatch:
        """The batch of the records added since the last one."""
        reset, self._reset = self._reset, False
        kids, flat, digests = self._kids_col, self._flat, self._digests
        n = len(kids)
        ints = [flat[i::_NV] for i in range(_NV)]
        counters = None
        if self._key_digests and n:
            counters, ints[COUNTERS_AT] = _counters(ints[COUNTERS_AT])
        keys_used = dict.fromkeys(kids)
        labels_used: dict[int, None] = {}  # row by row, source then destination: as the store meets them
        traces_used: dict[int, None] = {}
        kv, kinfo = self._kv, self._kinfo
        flows_used = list(dict.fromkeys(kinfo[k][0] for k in keys_used))
        for kid in keys_used:
            vals = kv[kid]
            for i in (_KSL, _KDL):
                if vals[i] is not None:
                    labels_used[vals[i]] = None
            if vals[_KPOL] is not None:
                traces_used[vals[_KPOL]] = None
        if self._key_digests:  # the writer computes the digests (import_complete)
            digests, by_start, unique = [], [], True
        else:
            by_start = by_start_groups(seen_starts(ints, self._seen_fix), digests)
            unique = len(set(digests)) == n  # (the same digest at two start times: never new anyway)
        batch = KeyedBatch(
            n=n,
            reset=reset,
            new_labels=self._new_labels,
            new_traces=self._new_traces,
            new_keys=self._new_keys,
            labels_used=list(labels_used),
            traces_used=list(traces_used),
            keys_used=list(keys_used),
            bad_traces=any(t in self._bad for t in traces_used),
            kids=kids,
            ints=ints,
            digests=pack_digests(digests),
            seen_fix=self._seen_fix,
            by_start=by_start,
            unique=unique,
            new_flows=self._new_flows,
            new_groups=self._new_groups,
            flows_used=flows_used,
            new_info=self._new_info,
            new_series=self._new_series,
            wheres=self._wheres,
            new_key_digests=self._new_kds if self._key_digests else None,
            counters=counters,
        )
        if (
            max(len(self._labels), len(self._traces), len(self._kids), len(self._hit_keys.keys))
            > import_prepare.CACHE_LIMIT
        ):
            self._start_over()  # the next batch numbers from scratch (reset)
        else:
            self._begin()
        return batch


def _counters(col: list[Any]) -> tuple[tuple[bytes, list[int] | None] | None, list[Any]]:
    """:attr:`KeyedBatch.counters` of a batch whose first counter column is ``col``, and the
    column with None where it held a text (the texts go as one)."""
    try:
        return (counters_text(col), None), [None] * len(col)  # every row's counters are text (the hot path's)
    except TypeError:  # some rows came another way: their counters are values
        rows = [i for i, v in enumerate(col) if type(v) is bytes]
        if not rows:
            return None, col
        return (counters_text([col[i] for i in rows]), rows), [None if type(v) is bytes else v for v in col]


def seen_starts(ints: Sequence[Sequence[Any]], seen_fix: dict[int, int]) -> Sequence[Any]:
    """Each record's digest-key start time: its start, except where ``seen_key`` kept another."""
    starts = ints[_START]
    if not seen_fix:
        return starts
    starts = list(starts)
    for i, t in seen_fix.items():
        starts[i] = t
    return starts


def by_start_groups(starts: Sequence[Any], digests: list[bytes]) -> list[tuple[int, bytes | list[bytes]]]:
    """(start time, its digests sorted: one blob when each has DIGEST_SIZE bytes, else a
    list) for every start time, in order. ``starts``: ints within 64 bits (``seen_key``)."""
    if not len(starts):
        return []
    s = np.array(starts, dtype=np.int64)
    order = np.argsort(s, kind="stable")
    ordered = s[order]
    edges = np.flatnonzero(np.diff(ordered)) + 1
    bounds = [0, *edges.tolist(), len(ordered)]
    times = ordered[bounds[:-1]].tolist()
    ds = list(map(digests.__getitem__, order.tolist()))
    out: list[tuple[int, bytes | list[bytes]]] = []
    for t, lo, hi in zip(times, bounds, bounds[1:], strict=False):
        out.append((t, pack_digests(sorted(ds[lo:hi]))))
    return out
