"""Calico flow-log documents (Felix's flows.log, Elasticsearch ``tigera_secure_ee_flows*``) → FlowLog.

Every field of calico.md §1.1 is read with Calico's meaning kept: ``-`` stays ``-``, JSON null
stays None, ``pub``/``pvt`` stay names. What is normalised, so every view can rely on it:

* times: Unix seconds (int or float), epoch milliseconds (values above 10^11), numeric strings
  or ISO 8601 strings; without ``start_time`` the record's ``end_time`` (or ``@timestamp``) is
  used for both ends;
* labels: ``{"labels": ["k=v", ...]}`` as Calico writes them; a plain list or a ``{k: v}`` dict
  becomes that form;
* policies: every entry normalised to the format (b) string (:mod:`import_traces`), in the
  keys ``enforced_policies``, ``pending_policies``, ``all_policies`` (``transit_policies``
  kept when present); a legacy record with only ``all_policies`` keeps it there, and the store
  indexes its non-staged entries as the enforced trace (calico.md §1.3);
* ``proto`` given as a protocol number becomes Calico's name (``6`` → ``tcp``).

Errors name the field: ``start_time: not a time ('yesterday')``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

from desktopviz.core.flowlog import NOT_INCLUDED, FlowLog
from desktopviz.core.import_traces import TraceFormatError, normalise_list

PROTO_NAMES = {1: "icmp", 4: "ipip", 6: "tcp", 17: "udp", 50: "esp", 58: "icmp6", 132: "sctp"}
ACTIONS = frozenset({"allow", "deny"})
REPORTERS = frozenset({"src", "dst", "fwd"})
_MS_THRESHOLD = 100_000_000_000  # a "Unix time" above this is in milliseconds (year 5138 in seconds)
POLICY_KEYS = ("enforced_policies", "pending_policies", "all_policies")

_KEYWORDS = (  # text fields, `-` when missing
    "source_name",
    "source_name_aggr",
    "source_namespace",
    "source_type",
    "dest_name",
    "dest_name_aggr",
    "dest_namespace",
    "dest_type",
    "dest_service_namespace",
    "dest_service_name",
    "dest_service_port",
    "process_name",
    "process_id",
)
_NULLABLE_TEXT = ("source_ip", "dest_ip")
_NULLABLE_INT = ("source_port", "dest_port", "dest_service_port_num")
_COUNTS = (
    "bytes_in",
    "bytes_out",
    "packets_in",
    "packets_out",
    "num_flows",
    "num_flows_started",
    "num_flows_completed",
    "http_requests_allowed_in",
    "http_requests_denied_in",
    "num_process_names",
    "num_process_ids",
    "num_process_args",
    "num_original_source_ips",
    "tcp_mean_send_congestion_window",
    "tcp_min_send_congestion_window",
    "tcp_mean_smooth_rtt",
    "tcp_max_smooth_rtt",
    "tcp_mean_min_rtt",
    "tcp_max_min_rtt",
    "tcp_mean_mss",
    "tcp_min_mss",
    "tcp_total_retransmissions",
    "tcp_lost_packets",
    "tcp_unrecovered_to",
)
_TEXT_LISTS = ("dest_domains", "process_args", "original_source_ips")
_new = object.__new__
_kw_get = itemgetter(*_KEYWORDS)
_count_get = itemgetter(*_COUNTS)
_KEYWORDS_SET = frozenset(_KEYWORDS)
_COUNTS_SET = frozenset(_COUNTS)
_STR = frozenset({str})
_INT = frozenset({int})
_CACHE_LIMIT = 20_000
_policy_cache: dict[Any, dict[str, list[str]]] = {}


class RecordError(ValueError):
    """A record that cannot be imported; the message starts with the field name."""


def parse_time(value: Any, field: str) -> int:
    """Unix seconds from seconds, milliseconds, a numeric string or an ISO 8601 string."""
    if type(value) is int:
        return value // 1000 if value > _MS_THRESHOLD else value
    if isinstance(value, float) and value == value and abs(value) < 1e16:
        return int(value // 1000 if value > _MS_THRESHOLD else value)
    if isinstance(value, str):
        text = value.strip()
        try:
            return parse_time(float(text), field)
        except ValueError:
            pass
        try:
            dt = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            pass
        else:
            if dt.tzinfo is None:
                dt = dt.replace(tzinfo=UTC)
            return int(dt.timestamp())
    raise RecordError(f"{field}: not a time ({value!r})")


def _int(value: Any, field: str) -> int:
    if type(value) is int:
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    raise RecordError(f"{field}: not an integer ({value!r})")


def _text(value: Any, field: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise RecordError(f"{field}: not text ({value!r})")


def labels_value(value: Any, field: str) -> dict[str, list[str]] | None:
    """Calico's labels object from the object itself, a list of ``k=v`` or a ``{k: v}`` dict."""
    if value is None:
        return None
    if type(value) is dict:
        if len(value) == 1 and "labels" in value:
            inner = value["labels"]
            if inner is None:
                return {"labels": []}
            if type(inner) is dict:
                return {"labels": [f"{k}={v}" for k, v in sorted(inner.items())]}
            value = inner
        else:
            return {"labels": [f"{k}={v}" for k, v in sorted(value.items())]}
    if type(value) is list:
        for item in value:
            if type(item) is not str:
                raise RecordError(f"{field}: labels must be strings k=v ({item!r})")
        return {"labels": value}
    raise RecordError(f"{field}: not a labels object ({value!r})")


def policies_value(value: Any) -> dict[str, list[str]]:
    """The policies object with every entry in format (b); see the module doc.

    Results are cached by content and shared between records (flow logs repeat the same
    traces interval after interval): treat them as read-only."""
    if value is None:
        return {k: [] for k in POLICY_KEYS}
    if type(value) is list:  # some exports flatten the legacy field to a bare list
        value = {"all_policies": value}
    if type(value) is not dict:
        raise RecordError(f"policies: not an object ({value!r})")
    get = value.get
    parts = (get("enforced_policies"), get("pending_policies"), get("all_policies"), get("transit_policies"))
    key: Any = None
    if all(p is None or type(p) is list for p in parts):
        key = tuple(tuple(p) if p else () for p in parts)
        hit = _policy_cache.get(key)
        if hit is not None:
            return hit
    out: dict[str, list[str]] = {}
    try:
        for name in POLICY_KEYS:
            out[name] = normalise_list(get(name), f"policies.{name}")
        if get("transit_policies"):
            out["transit_policies"] = normalise_list(get("transit_policies"), "policies.transit_policies")
    except TraceFormatError as exc:
        raise RecordError(str(exc)) from None
    if key is not None:
        if len(_policy_cache) > _CACHE_LIMIT:
            _policy_cache.clear()
        _policy_cache[key] = out
    return out


def _proto(value: Any) -> str:
    if isinstance(value, str):
        low = value.strip().lower()
        if low.isdigit():
            return PROTO_NAMES.get(int(low), low)
        return low or NOT_INCLUDED
    if type(value) is int:
        return PROTO_NAMES.get(value, str(value))
    raise RecordError(f"proto: not a protocol ({value!r})")


def _list(value: Any, field: str, kind: type) -> list[Any] | None:
    if value is None:
        return None
    if type(value) is not list:
        raise RecordError(f"{field}: not a list ({value!r})")
    for item in value:
        if type(item) is not kind:
            if kind is int:
                return [_int(v, field) for v in value]
            raise RecordError(f"{field}: not a list of {kind.__name__} ({item!r})")
    return value


def flowlog_from_calico(d: dict[str, Any]) -> FlowLog:
    """One Calico document as a FlowLog; RecordError names the first bad field."""
    get = d.get
    out: dict[str, Any] = {}
    start = get("start_time")
    end = get("end_time")
    if end is None:
        end = get("@timestamp")
    if start is None and end is None:
        raise RecordError("start_time: missing (and no end_time or @timestamp)")
    st = start if type(start) is int and start < _MS_THRESHOLD else None
    if st is None and start is not None:
        st = parse_time(start, "start_time")
    et = end if type(end) is int and end < _MS_THRESHOLD else None
    if et is None and end is not None:
        et = parse_time(end, "end_time")
    out["start_time"] = st if st is not None else et
    out["end_time"] = et if et is not None else st
    for name in _NULLABLE_TEXT:
        v = get(name)
        out[name] = v if v is None or type(v) is str else _text(v, name)
    vals = _kw_get(d) if _KEYWORDS_SET <= d.keys() else None
    if vals is not None and _STR.issuperset(map(type, vals)):
        out.update(zip(_KEYWORDS, vals, strict=True))
    else:
        for name in _KEYWORDS:
            v = get(name, NOT_INCLUDED)
            out[name] = v if type(v) is str else (NOT_INCLUDED if v is None else _text(v, name))
    for name in _NULLABLE_INT:
        v = get(name)
        out[name] = v if v is None or type(v) is int else _int(v, name)
    sl = get("source_labels")
    out["source_labels"] = (
        sl
        if type(sl) is dict and type(sl.get("labels")) is list and len(sl) == 1
        else (labels_value(sl, "source_labels"))
    )
    dl = get("dest_labels")
    out["dest_labels"] = (
        dl
        if type(dl) is dict and type(dl.get("labels")) is list and len(dl) == 1
        else (labels_value(dl, "dest_labels"))
    )
    v = get("proto", NOT_INCLUDED)
    out["proto"] = v if type(v) is str and v in ("tcp", "udp") else _proto(v)
    v = get("action")
    if v not in ACTIONS:
        v = _text(v, "action").strip().lower() if v is not None else None
        if v not in ACTIONS:
            raise RecordError(f"action: expected allow or deny ({get('action')!r})")
    out["action"] = v
    v = get("reporter")
    if v not in REPORTERS:
        v = _text(v, "reporter").strip().lower() if v is not None else None
        if v not in REPORTERS:
            raise RecordError(f"reporter: expected src, dst or fwd ({get('reporter')!r})")
    out["reporter"] = v
    out["policies"] = policies_value(get("policies"))
    vals = _count_get(d) if _COUNTS_SET <= d.keys() else None
    if vals is not None and _INT.issuperset(map(type, vals)):
        out.update(zip(_COUNTS, vals, strict=True))
    else:
        for name in _COUNTS:
            v = get(name, 0)
            out[name] = v if type(v) is int else (0 if v is None else _int(v, name))
    for name in _TEXT_LISTS:
        out[name] = _list(get(name), name, str)
    out["nat_outgoing_ports"] = _list(get("nat_outgoing_ports"), "nat_outgoing_ports", int)
    host = get("host", "")
    out["host"] = host if type(host) is str else ("" if host is None else _text(host, "host"))
    log = _new(FlowLog)
    log.__dict__ = out  # every dataclass field is set above; skips the 55-argument __init__
    return log
