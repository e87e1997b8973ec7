"""Numbering an import's label sets and traces in the reader process.

The import's writer (the process holding the SQLite connection) is the bottleneck of a
parallel import, so the reader process (:mod:`import_worker`) numbers the distinct label sets
and policy traces it meets itself (*local* ids, from 1) and sends each text once, the first
time it is used, a trace with its ``trace_hits`` entries; the writer maps local ids to the
ids its connection assigns (:mod:`import_apply`). A :class:`Preparer` holds that numbering;
:class:`~desktopviz.core.import_keyed.KeyedPreparer` builds the batches on it.

:func:`normalise` is the general path for a document the fast path did not take.
"""

from __future__ import annotations

from operator import attrgetter
from typing import Any

from desktopviz.core.flowlog import FIELDS
from desktopviz.core.import_calico import RecordError, flowlog_from_calico
from desktopviz.core.import_read import json_type
from desktopviz.core.store_ingest import _dumps, label_key, parse_hits, trace_key
from desktopviz.core.store_rollup import Hit, HitKeys

__all__ = ["CACHE_LIMIT", "Key", "Preparer", "normalise"]

Key = tuple[int, bytes]
CACHE_LIMIT = 50_000  # texts numbered before the reader starts over (between batches)
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


class Preparer:
    """The reader process's numbering of label sets and traces (local ids, from 1), and each
    trace's hit keys (for the rollup sums)."""

    def __init__(self) -> None:
        self._labels: dict[Any, int] = {}  # content key -> local id
        self._traces: dict[Any, int] = {}
        self._trace_hids: dict[int, tuple[int, ...]] = {}  # local trace id -> hit keys
        self._bad: set[int] = set()  # local trace ids with entries that are not hits
        self._hit_keys = HitKeys()
        self._reset = True

    def _start_over(self) -> None:
        self.__init__()  # type: ignore[misc]

    def _label(self, value: Any, new: list[tuple[int, str]]) -> int:
        """The local id of a labels value; a new one's text goes to ``new``."""
        key = label_key(value)
        lid = self._labels.get(key)
        if lid is None:
            lid = self._labels[key] = len(self._labels) + 1
            new.append((lid, _dumps(value)))
        return lid

    def _trace(self, value: Any, new: list[tuple[int, str, tuple[Hit, ...]]]) -> int | None:
        """The local id of a policies value (None for null); a new one's text and entries go to ``new``."""
        if value is None:
            return None
        key = trace_key(value)
        r = self._traces.get(key)
        if r is None:
            r = self._traces[key] = len(self._traces) + 1
            hits, bad = parse_hits(value, False)
            if bad:
                self._bad.add(r)
            self._trace_hids[r] = self._hit_keys.of(hits)
            new.append((r, _dumps(value), hits))
        return r
