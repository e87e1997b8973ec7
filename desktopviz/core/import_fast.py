"""The import's fast path for Calico records already in canonical form (what Felix writes).

Two shortcuts, each exact, each falling back to the general code when a record is unusual:

* :func:`loads` parses a JSON line with ``orjson`` when it is installed (2-3x faster than the
  standard library); None when orjson refuses the line, and the caller then parses it with
  ``json.loads`` as before (NaN, a byte-order mark, lone surrogates...).
* :func:`row_from_calico` turns a parsed document straight into the ``flow_logs`` values in
  :data:`~desktopviz.core.flowlog.FIELDS` order, without building a FlowLog, when every field
  is already canonical (int times in seconds, text, ints, ``{"labels": [str...]}``, a known
  protocol name, allow/deny, src/dst/fwd...); None otherwise, and the caller uses
  :func:`~desktopviz.core.import_calico.flowlog_from_calico` on a ``json.loads`` parse.

The two agree with the general path: a document accepted here has only str, int and None
values wherever the record reads it, where orjson and the standard library parse the same
(orjson turns integers beyond 64 bits into floats: those records fail the type check and go
the general way). :func:`row_hash` of a row equals ``record_hash`` of the same FlowLog, so
digests of files imported by earlier versions still match.
"""

from __future__ import annotations

import json
from collections import namedtuple
from collections.abc import Callable
from functools import partial
from typing import Any

from desktopviz.core.flowlog import FIELDS, NOT_INCLUDED
from desktopviz.core.import_calico import (
    _COUNTS,
    _KEYWORDS,
    _MS_THRESHOLD,
    _NULLABLE_INT,
    _NULLABLE_TEXT,
    _TEXT_LISTS,
    ACTIONS,
    REPORTERS,
    RecordError,
    _proto,
    policies_value,
)
from desktopviz.core.import_digest import row_hash_v1

__all__ = ["HAVE_ORJSON", "Row", "as_row", "loads", "row_from_calico", "row_hash"]

try:  # optional: a faster parser
    import orjson as _orjson
except ImportError:  # pragma: no cover - depends on the environment
    _orjson = None  # type: ignore[assignment]

HAVE_ORJSON = _orjson is not None

# A stored record's values in FIELDS order. A tuple (what the store's insert reads) whose
# attributes name the fields (what the store's error messages read).
Row = namedtuple("Row", FIELDS)  # type: ignore[misc]
as_row: Callable[[Any], Row] = partial(tuple.__new__, Row)  # values tuple -> Row, in C
# Digest (version 1) of a record's values (a plain tuple in FIELDS order): the same bytes as
# ``import_db.record_hash`` of the FlowLog with these values.
row_hash: Callable[[tuple[Any, ...]], bytes] = row_hash_v1


if _orjson is not None:
    _oloads = _orjson.loads
    _oerror = _orjson.JSONDecodeError

    def loads(raw: bytes) -> Any:
        """The parsed line, or None if orjson refuses it (parse it with json.loads then)."""
        try:
            return _oloads(raw)
        except _oerror:
            return None

else:
    _jloads = json.loads

    def loads(raw: bytes) -> Any:
        """The parsed line, or None if it is not JSON (json.loads then reports why)."""
        try:
            return _jloads(raw)
        except (ValueError, UnicodeDecodeError, RecursionError):
            return None


_I = {n: i for i, n in enumerate(FIELDS)}
_DEFAULTS: tuple[Any, ...] = tuple(
    NOT_INCLUDED if n in _KEYWORDS or n == "proto" else 0 if n in _COUNTS else "" if n == "host" else None
    for n in FIELDS
)
_START, _END = _I["start_time"], _I["end_time"]
_SL, _DL, _POL, _PROTO = _I["source_labels"], _I["dest_labels"], _I["policies"], _I["proto"]
_ACTION, _REPORTER = _I["action"], _I["reporter"]
_LIST_IDX = tuple(_I[n] for n in _TEXT_LISTS)
_NAT = _I["nat_outgoing_ports"]
_NONE = type(None)
_STR = frozenset({str})
_INT = frozenset({int})


def _allowed(name: str) -> frozenset[type]:
    if name in ("start_time", "end_time") or name in _COUNTS:
        return frozenset({int})
    if name in _KEYWORDS or name in ("host", "proto", "action", "reporter"):
        return frozenset({str})
    if name in _NULLABLE_TEXT:
        return frozenset({str, _NONE})
    if name in _NULLABLE_INT:
        return frozenset({int, _NONE})
    if name in ("source_labels", "dest_labels"):
        return frozenset({dict, _NONE})
    if name in _TEXT_LISTS or name == "nat_outgoing_ports":
        return frozenset({list, _NONE})
    if name == "policies":
        return frozenset({dict, list, _NONE})
    raise AssertionError(name)  # pragma: no cover - every field is listed above


_ALLOWED = tuple(_allowed(n) for n in FIELDS)
_SIG_LIMIT = 10_000
_signatures: dict[tuple[type, ...], bool] = {}  # field types -> all canonical
_protos: set[str] = {"tcp", "udp"}  # protocol names that _proto keeps as they are


def _signature_ok(sig: tuple[type, ...]) -> bool:
    ok = all(t in allowed for t, allowed in zip(sig, _ALLOWED, strict=True))
    if len(_signatures) > _SIG_LIMIT:
        _signatures.clear()
    _signatures[sig] = ok
    return ok


def _labels_ok(value: Any) -> bool:
    if value is None:
        return True
    if len(value) != 1:
        return False
    items = value.get("labels")
    return type(items) is list and _STR.issuperset(map(type, items))


def _proto_ok(value: str) -> bool:
    if value in _protos:
        return True
    try:
        ok = _proto(value) == value
    except RecordError:
        return False
    if ok and len(_protos) < 1000:
        _protos.add(value)
    return ok


def row_from_calico(d: dict[str, Any]) -> tuple[Any, ...] | None:
    """The record's values in FIELDS order if every field is canonical, else None (use
    ``flowlog_from_calico``, which normalises or names the bad field)."""
    vals = tuple(map(d.get, FIELDS, _DEFAULTS))
    sig = tuple(map(type, vals))
    ok = _signatures.get(sig)
    if ok is None:
        ok = _signature_ok(sig)
    if not ok:
        return None
    if vals[_START] >= _MS_THRESHOLD or vals[_END] >= _MS_THRESHOLD:
        return None
    if vals[_ACTION] not in ACTIONS or vals[_REPORTER] not in REPORTERS:
        return None
    p = vals[_PROTO]
    if p not in _protos and not _proto_ok(p):
        return None
    if not (_labels_ok(vals[_SL]) and _labels_ok(vals[_DL])):
        return None
    for i in _LIST_IDX:
        v = vals[i]
        if v is not None and not _STR.issuperset(map(type, v)):
            return None
    v = vals[_NAT]
    if v is not None and not _INT.issuperset(map(type, v)):
        return None
    try:
        pol = policies_value(vals[_POL])
    except (RecordError, TypeError, ValueError, AttributeError):
        return None
    return (*vals[:_POL], pol, *vals[_POL + 1 :])
