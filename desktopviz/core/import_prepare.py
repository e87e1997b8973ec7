"""A batch of imported records made ready for the store by the reader process.

The import's writer (the process holding the SQLite connection) is the bottleneck of a
parallel import, so everything per record that does not need the database is done by the
reader process (:mod:`import_worker`) instead: a :class:`Preparer` turns a batch of rows
(value tuples in FIELDS order, with their ``import_digests`` keys) into a
:class:`PreparedBatch`:

* the ``flow_rows`` columns as the store binds them: JSON values as their stored text,
  columns null in every row left out, columns with one value in every row sent once;
* label sets and traces numbered by the reader (its own *local* ids, from 1), each text sent
  once, the first time it is used, with a trace's ``trace_hits`` entries; the writer maps
  local ids to the ids its connection assigns (:mod:`import_apply`), in the order the store's
  own insert would meet them (row by row, source labels then destination labels);
* the rollup rows of every level (:func:`store_rollup.rollup_rows`, the store's own sums),
  the flow rollups keyed by local label-set ids;
* the digest keys in row order and sorted, grouped by start time, and whether one is
  repeated in the batch.

:meth:`PreparedBatch.rows` gives the batch's rows back (for the cases the writer hands to
the store's own insert: duplicates, refused records), equal to the rows prepared.
"""

from __future__ import annotations

import json
from bisect import bisect_left
from collections.abc import Sequence
from itertools import chain, repeat
from operator import attrgetter, itemgetter
from typing import Any, NamedTuple

from desktopviz.core.flowlog import FIELDS, JSON_FIELDS
from desktopviz.core.import_calico import RecordError, flowlog_from_calico
from desktopviz.core.import_read import json_type
from desktopviz.core.store_ingest import _dumps, parse_hits
from desktopviz.core.store_rollup import Hit, HitKeys, add_sums, rollup_rows

__all__ = ["CACHE_LIMIT", "PreparedBatch", "Preparer", "literal", "normalise"]

Key = tuple[int, bytes]
CACHE_LIMIT = 50_000  # texts numbered before the reader starts over (between batches)
_I = {n: i for i, n in enumerate(FIELDS)}
_SL, _DL, _POL, _START = _I["source_labels"], _I["dest_labels"], _I["policies"], _I["start_time"]
_OTHER_JSON = frozenset(
    _I[n] for n in FIELDS if n in JSON_FIELDS and n not in ("source_labels", "dest_labels", "policies")
)
_INT64 = 2**63
_NONE_ID = id(None)
_first = itemgetter(0)
_STR = frozenset({str})
_STD_POLICY_KEYS = ["enforced_policies", "pending_policies", "all_policies"]
_chain = chain.from_iterable
_fields = attrgetter(*FIELDS)


def normalise(obj: Any) -> tuple[Any, ...] | str:
    """The row (FIELDS order) of a Calico document the fast path did not take, or the reason
    it is skipped (the general path, wherever it runs)."""
    if type(obj) is not dict:
        return f"not a flow log (a JSON {json_type(obj)}, expected an object)"
    try:
        return _fields(flowlog_from_calico(obj))  # type: ignore[no-any-return]
    except RecordError as exc:
        return str(exc)
    except (TypeError, ValueError, AttributeError, OverflowError) as exc:
        return f"malformed flow log ({exc})"


class PreparedBatch(NamedTuple):
    """One batch as the writer stores it (see the module doc). A column of ``cols`` (FIELDS
    order) is a tuple (one value per row), a 1-item list (the value of every row) or None
    (null in every row); label and trace columns hold local ids, other JSON columns texts."""

    n: int
    reset: bool  # the reader numbers from scratch: forget its earlier local ids
    new_labels: list[tuple[int, str]]  # (local id, text), the first time sent
    new_traces: list[tuple[int, str, tuple[Hit, ...]]]  # (local id, text, entries)
    labels_used: list[int]  # local ids in the order the store meets them
    traces_used: list[int]
    bad_traces: bool  # a trace has an entry that is not a policy hit (the store refuses it)
    cols: list[Any]
    keys: list[Key]  # (start time, digest) in row order
    sorted_keys: list[Key]
    unique: bool  # no key twice in the batch
    starts: list[tuple[int, int, int]]  # (start time, first, end) slices of sorted_keys
    frows: list[tuple[Any, ...]]  # flow_rollup rows as columns; 10 and 11 local label ids
    hrows: list[tuple[Any, ...]]
    srows: list[tuple[Any, ...]]
    wheres: list[str]

    def rows(self, labels: dict[int, str], traces: dict[int, str]) -> list[tuple[Any, ...]]:
        """The batch's rows (FIELDS order), JSON values parsed from their texts (``labels`` and
        ``traces``: the texts of the reader's local ids)."""
        n = self.n
        cols: list[Sequence[Any]] = []
        for i, col in enumerate(self.cols):
            if col is None:
                cols.append(repeat(None, n))  # type: ignore[arg-type]
                continue
            values = list(repeat(col[0], n)) if type(col) is list else col
            if i in (_SL, _DL, _POL) or i in _OTHER_JSON:
                texts = labels if i in (_SL, _DL) else traces if i == _POL else None
                memo: dict[Any, Any] = {None: None}
                out = []
                for x in values:
                    v = memo.get(x, memo)
                    if v is memo:
                        v = memo[x] = json.loads(texts[x] if texts is not None else x)
                    out.append(v)
                values = out
            cols.append(values)
        return list(zip(*cols, strict=False)) if n else []


def literal(value: Any) -> str | None:
    """``value`` as an SQL literal that stores what binding it stores, or None (bind it):
    integers of SQLite's range and ASCII texts."""
    if type(value) is int:
        return str(value) if -_INT64 <= value < _INT64 else None
    if type(value) is str and value.isascii() and "\x00" not in value:
        return "'" + value.replace("'", "''") + "'"
    return None


def _column(col: tuple[Any, ...], n: int) -> Any:
    """A column as sent: None (all null), [value] (one value, of one type), or the tuple."""
    first = col[0]
    if first is None:
        return None if col.count(None) == n else col
    if col.count(first) == n and (type(first) is str or len(set(map(type, col))) == 1):
        return [first]  # (== alone would take 1, 1.0 and True for one value)
    return col


def _trace_key(value: Any) -> Any:
    """A policies value's cache key: its lists of entry texts in Calico's usual form (each
    key one JSON text), else the JSON text itself."""
    if type(value) is dict and list(value) == _STD_POLICY_KEYS:
        key = []
        for x in value.values():
            if x is None:
                key.append(None)
            elif type(x) is list and _STR.issuperset(map(type, x)):
                key.append(tuple(x))
            else:
                return _dumps(value)
        return tuple(key)
    return _dumps(value)


def _texts(col: Sequence[Any]) -> list[Any]:
    """A JSON column as stored texts, each distinct object dumped once."""
    memo = {i: None if v is None else _dumps(v) for i, v in dict(zip(map(id, col), col, strict=True)).items()}
    return list(map(memo.__getitem__, map(id, col)))


class Preparer:
    """The reader process's side: numbers label sets and traces, builds the columns and sums."""

    def __init__(self) -> None:
        self._labels: dict[Any, int] = {}  # content key -> local id
        self._traces: dict[Any, int] = {}
        self._trace_hids: dict[int, tuple[int, ...]] = {}  # local trace id -> hit keys
        self._bad: set[int] = set()  # local trace ids with entries that are not hits
        self._hit_keys = HitKeys()
        self._reset = True

    def _start_over(self) -> None:
        self.__init__()  # type: ignore[misc]

    def batch(self, rows: list[tuple[Any, ...]], keys: list[Key], wheres: list[str]) -> PreparedBatch:
        """Prepare ``rows`` (their ``import_digests`` keys and where they were read)."""
        if max(len(self._labels), len(self._traces), len(self._hit_keys.keys)) > CACHE_LIMIT:
            self._start_over()
        reset, self._reset = self._reset, False
        n = len(rows)
        raw: list[Any] = list(zip(*rows, strict=True)) if n else [()] * len(FIELDS)
        new_labels: list[tuple[int, str]] = []
        new_traces: list[tuple[int, str, tuple[Hit, ...]]] = []
        labels_used: dict[int, None] = {}  # (a dict: ordered, and a set)
        traces_used: dict[int, None] = {}
        sl, dl = self._label_ids(raw[_SL], raw[_DL], new_labels, labels_used)
        tids = self._trace_ids(raw[_POL], new_traces, traces_used)
        cols: list[Any] = list(raw)
        cols[_SL], cols[_DL], cols[_POL] = sl, dl, tids
        for i in _OTHER_JSON:
            col = cols[i]
            if n and (col[0] is not None or col.count(None) != n):
                cols[i] = _texts(col)
        flows: dict[Any, list[int]] = {}
        groups: dict[Any, list[int]] = {}
        if n:
            add_sums(raw, sl, dl, tids, self._trace_hids, flows, groups)
        frows, hrows, srows = rollup_rows(flows, groups, self._trace_hids, self._hit_keys)
        sorted_keys = sorted(keys)
        times = list(map(_first, sorted_keys))
        bounds = [bisect_left(times, t) for t in sorted(set(times))] + [n]
        starts = [(times[lo], lo, hi) for lo, hi in zip(bounds, bounds[1:], strict=False)]
        return PreparedBatch(
            n=n,
            reset=reset,
            new_labels=new_labels,
            new_traces=new_traces,
            labels_used=list(labels_used),
            traces_used=list(traces_used),
            bad_traces=any(t in self._bad for t in traces_used),
            cols=[_column(tuple(c), n) if n else None for c in cols],
            keys=keys,
            sorted_keys=sorted_keys,
            unique=len(set(keys)) == n,
            starts=starts,
            frows=list(zip(*frows, strict=True)),
            hrows=hrows,
            srows=srows,
            wheres=wheres,
        )

    def _label(self, value: Any, new: list[tuple[int, str]]) -> int:
        key: Any  # the texts of Calico's form, else the JSON text (both give one text per key)
        if type(value) is dict and len(value) == 1 and type(ls := value.get("labels")) is list:
            key = tuple(ls) if _STR.issuperset(map(type, ls)) else _dumps(value)
        else:
            key = _dumps(value)
        lid = self._labels.get(key)
        if lid is None:
            lid = self._labels[key] = len(self._labels) + 1
            new.append((lid, _dumps(value)))
        return lid

    def _label_ids(
        self, src: Sequence[Any], dst: Sequence[Any], new: list[tuple[int, str]], used: dict[int, None]
    ) -> tuple[list[Any], list[Any]]:
        """Local ids of both label columns, met row by row, source then destination (the
        order in which the store's insert numbers new sets); each distinct object once (the
        rows hold every object meanwhile, so ``id()`` is not reused)."""
        flat = list(_chain(zip(src, dst, strict=True)))
        memo: dict[int, Any] = {_NONE_ID: None}
        for i, v in dict(zip(map(id, flat), flat, strict=True)).items():  # distinct objects, first met first
            if i not in memo:
                r = memo[i] = self._label(v, new)
                used[r] = None
        get = memo.__getitem__
        return list(map(get, map(id, src))), list(map(get, map(id, dst)))

    def _trace_ids(
        self, col: Sequence[Any], new: list[tuple[int, str, tuple[Hit, ...]]], used: dict[int, None]
    ) -> list[Any]:
        memo: dict[int, Any] = {_NONE_ID: None}
        for i, v in dict(zip(map(id, col), col, strict=True)).items():
            if i in memo:
                continue
            key = _trace_key(v)
            r = self._traces.get(key)
            if r is None:
                r = self._traces[key] = len(self._traces) + 1
                text = _dumps(v)
                hits, bad = parse_hits(v, False)
                if bad:
                    self._bad.add(r)
                self._trace_hids[r] = self._hit_keys.of(hits)
                new.append((r, text, hits))
            memo[i] = r
            used[r] = None
        return list(map(memo.__getitem__, map(id, col)))
