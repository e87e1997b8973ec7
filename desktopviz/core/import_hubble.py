"""Hubble flow events → Calico flow logs, aggregated per interval (docs/import.md).

Hubble writes one event per observed packet or policy decision (``hubble observe -o json``,
``-o jsonpb``, the Hubble exporter's files). Calico writes one log per aggregated flow, per
reporter, per flush interval. :class:`HubbleAggregator` turns the first into the second:

* the **reporter** is the endpoint where Cilium observed the event: ``traffic_direction``
  ``EGRESS`` → ``src`` (the client's egress), ``INGRESS`` → ``dst``; events without it are
  reported by whichever end is a local endpoint (has an endpoint ``ID``);
* the **connection** is the 5-tuple from the client's side: a reply (``is_reply: true``) has
  its ends swapped back and is counted in the reverse counter (``packets_in`` for ``src``,
  ``packets_out`` for ``dst``), never as a new flow;
* **packets** are Hubble events (Cilium's monitor aggregation reports only some packets) and
  **bytes** stay 0: Hubble flows carry no byte counts;
* the **policy trace** comes from policy-verdict and drop events; trace-point events of the same
  connection inherit the last trace seen for it;
* logs are cut per interval (default 15 s, as Goldmane) and aggregated at a Calico level
  (default 2: pod prefixes, no IPs, no source port); ``num_flows`` counts distinct 5-tuples,
  ``num_flows_started`` TCP connections whose SYN was seen (other protocols: first seen),
  ``num_flows_completed`` TCP connections whose FIN or RST was seen.
"""

from __future__ import annotations

import calendar
import time
from dataclasses import dataclass, field
from typing import Any

from desktopviz.core.flowlog import FlowLog
from desktopviz.core.import_calico import RecordError, parse_time
from desktopviz.core.import_hubble_map import ALLOW_VERDICTS, AUDIT, DENY_VERDICTS, End, endpoint, traces
from desktopviz.core.import_read import json_type

L4_PROTOS = (("TCP", "tcp"), ("UDP", "udp"), ("SCTP", "sctp"), ("ICMPv4", "icmp"), ("ICMPv6", "icmp6"))
NON_FLOW_KEYS = ("lost_events", "node_status", "agent_event", "debug_event")
_MEMORY_LIMIT = 300_000  # connections remembered for trace inheritance / started flags
_minute_cache: dict[str, int] = {}

# Per connection and interval: [fwd, rev, started, completed, client, server, trace, domains,
# http allowed, http denied, (service namespace, service name)]
_FWD, _REV, _STARTED, _DONE, _CLIENT, _SERVER, _TRACE, _DOMAINS, _HTTP_OK, _HTTP_NO, _SVC = range(11)


def hubble_time(value: Any) -> int:
    """Unix seconds of a Hubble RFC 3339 timestamp (``2024-05-01T12:00:00.123456789Z``)."""
    if isinstance(value, str) and len(value) >= 20 and value.endswith("Z") and value[16] == ":":
        minute = _minute_cache.get(value[:16])
        if minute is None:
            try:
                minute = calendar.timegm(time.strptime(value[:16], "%Y-%m-%dT%H:%M"))
            except ValueError:
                raise RecordError(f"time: not a time ({value!r})") from None
            if len(_minute_cache) > 10_000:
                _minute_cache.clear()
            _minute_cache[value[:16]] = minute
        sec = value[17:19]
        if sec.isdigit():
            return minute + int(sec)
    if isinstance(value, dict) and "seconds" in value:  # protobuf Timestamp as an object
        return parse_time(value["seconds"], "time")
    return parse_time(value, "time")


def _port(l4: Any, name: str, proto: str) -> int:
    value = l4.get(name) or 0
    if type(value) is not int or not 0 <= value <= 65535:
        raise RecordError(f"l4.{proto}.{name}: not a port ({value!r})")
    return value


@dataclass
class _Bucket:
    conns: dict[tuple[Any, ...], list[Any]] = field(default_factory=dict)
    hashes: list[Any] = field(default_factory=list)  # the importer's seen keys of the events
    events: int = 0


class HubbleAggregator:
    """Collects Hubble events and hands out finished intervals as Calico flow logs."""

    def __init__(self, interval: int = 15, level: int = 2) -> None:
        if interval < 1:
            raise ValueError("interval must be at least 1 second")
        if level not in (0, 1, 2, 3):
            raise ValueError("aggregation level must be 0, 1, 2 or 3")
        self.interval = interval
        self.level = level
        self.grace = max(30, interval)  # events may arrive this late (several nodes via Relay)
        self._buckets: dict[int, _Bucket] = {}
        self._latest = 0
        self._trace: dict[tuple[Any, ...], Any] = {}
        self._known: set[tuple[Any, ...]] = set()

    # -- events ------------------------------------------------------------------------------
    def add(self, rec: Any, digest: Any = None) -> str | None:
        """Count one event. Returns why it was ignored (not a flow, L7 response...) or None;
        raises RecordError (naming the field) for a malformed one."""
        if not isinstance(rec, dict):
            raise RecordError(f"not a Hubble flow (a JSON {json_type(rec)}, expected an object)")
        flow = rec.get("flow", rec)
        if not isinstance(flow, dict):
            raise RecordError("flow: not an object")
        if flow is rec:
            for k in NON_FLOW_KEYS:
                if k in rec:
                    return f"Hubble {k} record (not a flow)"
        verdict = flow.get("verdict")
        if verdict not in ALLOW_VERDICTS and verdict not in DENY_VERDICTS and verdict != AUDIT:
            if verdict is None:
                raise RecordError("verdict: missing")
            raise RecordError(f"verdict: unknown ({verdict!r})")
        ftype = flow.get("Type")
        if ftype == "SOCK":
            return "socket trace event (no packet)"
        ip = flow.get("IP")
        if not isinstance(ip, dict) or not ip.get("source") or not ip.get("destination"):
            return "event without an IP layer"
        t = hubble_time(flow.get("time") or rec.get("time"))
        l4 = flow.get("l4") or {}
        proto = ""
        x: Any = None
        for key, name in L4_PROTOS:
            x = l4.get(key)
            if x is not None:
                proto = name
                break
        if not proto:
            return "event without a known L4 protocol"
        sport = dport = None
        flags: dict[str, Any] = {}
        if proto in ("tcp", "udp", "sctp"):
            sport, dport = _port(x, "source_port", key), _port(x, "destination_port", key)
            if proto == "tcp":
                flags = x.get("flags") or {}
        is_reply = flow.get("is_reply", flow.get("reply")) is True
        src_ep, dst_ep = flow.get("source") or {}, flow.get("destination") or {}
        client_ep, server_ep = (dst_ep, src_ep) if is_reply else (src_ep, dst_ep)
        direction = flow.get("traffic_direction")
        if direction == "EGRESS":
            reporter = "src"
        elif direction == "INGRESS":
            reporter = "dst"
        elif isinstance(client_ep, dict) and client_ep.get("ID"):
            reporter = "src"
        elif isinstance(server_ep, dict) and server_ep.get("ID"):
            reporter = "dst"
        else:
            return "traffic direction unknown (no local endpoint)"
        node = str(flow.get("node_name") or rec.get("node_name") or "").rpartition("/")[2]
        if is_reply:
            c_ip, s_ip, c_port, s_port = ip["destination"], ip["source"], dport, sport
        else:
            c_ip, s_ip, c_port, s_port = ip["source"], ip["destination"], sport, dport
        action = "allow" if verdict in ALLOW_VERDICTS or verdict == AUDIT else "deny"
        l7 = flow.get("l7")
        request = None
        if ftype == "L7" or isinstance(l7, dict):
            if not (isinstance(l7, dict) and l7.get("type") == "REQUEST" and "http" in l7):
                return "L7 event other than an HTTP request"
            request = action
        key = (node, reporter, action, proto, c_ip, c_port, s_ip, s_port)
        start = t // self.interval * self.interval
        bucket = self._buckets.get(start)
        if bucket is None:
            bucket = self._buckets[start] = _Bucket()
        acc = bucket.conns.get(key)
        if acc is None:
            node_labels = flow.get("node_labels")
            svc = flow.get("source_service" if is_reply else "destination_service")
            svc_key = ("-", "-")
            if isinstance(svc, dict) and svc.get("name"):
                svc_key = (svc.get("namespace") or "-", svc["name"])
            acc = bucket.conns[key] = [
                0,
                0,
                False,
                False,
                endpoint(client_ep, c_ip, node, node_labels),
                endpoint(server_ep, s_ip, node, node_labels),
                None,
                None,
                0,
                0,
                svc_key,
            ]
        if request is not None:
            acc[_HTTP_OK if request == "allow" else _HTTP_NO] += 1
        elif is_reply:
            acc[_REV] += 1
        else:
            acc[_FWD] += 1
        if proto == "tcp":
            if flags.get("SYN") and not flags.get("ACK") and not is_reply:
                acc[_STARTED] = True
            if flags.get("FIN") or flags.get("RST"):
                acc[_DONE] = True
        elif key not in self._known:
            if len(self._known) > _MEMORY_LIMIT:
                self._known.clear()
            self._known.add(key)
            acc[_STARTED] = True
        tr = traces(flow, verdict, "egress" if reporter == "src" else "ingress")
        if tr is not None:
            acc[_TRACE] = tr
            if len(self._trace) > _MEMORY_LIMIT:
                self._trace.clear()
            self._trace[key] = tr
        names = flow.get("source_names" if is_reply else "destination_names")
        if names and isinstance(names, list):
            acc[_DOMAINS] = (acc[_DOMAINS] or set()) | {str(n).rstrip(".") for n in names}
        if digest:
            bucket.hashes.append(digest)
        bucket.events += 1
        if t > self._latest:
            self._latest = t
        return None

    # -- intervals ---------------------------------------------------------------------------
    def closed(self) -> list[tuple[list[FlowLog], list[bytes], int]]:
        """(logs, event digests, events) of every interval no late event can reach any more."""
        limit = self._latest - self.grace
        done = sorted(s for s in self._buckets if s + self.interval <= limit)
        return [self._flush(s) for s in done]

    def drain(self) -> list[tuple[list[FlowLog], list[bytes], int]]:
        """Every interval still open (end of input)."""
        return [self._flush(s) for s in sorted(self._buckets)]

    def _flush(self, start: int) -> tuple[list[FlowLog], list[bytes], int]:
        bucket = self._buckets.pop(start)
        level = self.level
        groups: dict[tuple[Any, ...], list[Any]] = {}
        for key, acc in bucket.conns.items():
            node, rep, action, proto, c_ip, c_port, s_ip, s_port = key
            tr = acc[_TRACE] or self._trace.get(key) or ((), ())
            ce: End = acc[_CLIENT]
            se: End = acc[_SERVER]
            gk = (
                rep,
                action,
                node,
                proto,
                ce[:3],
                se[:3],
                acc[_SVC],
                tr,
                (ce[3], c_ip, se[3], s_ip) if level < 2 else None,
                c_port if level == 0 else None,
                s_port if level < 3 else None,
            )
            g = groups.get(gk)
            if g is None:
                groups[gk] = [acc[_FWD], acc[_REV], 1, int(acc[_STARTED]), int(acc[_DONE]), acc[_HTTP_OK],
                              acc[_HTTP_NO], ce[4], se[4], set(acc[_DOMAINS] or ())]  # fmt: skip
            else:
                g[0] += acc[_FWD]
                g[1] += acc[_REV]
                g[2] += 1
                g[3] += int(acc[_STARTED])
                g[4] += int(acc[_DONE])
                g[5] += acc[_HTTP_OK]
                g[6] += acc[_HTTP_NO]
                g[7] = _intersect(g[7], ce[4])
                g[8] = _intersect(g[8], se[4])
                g[9] |= acc[_DOMAINS] or set()
        logs = [self._log(start, gk, g) for gk, g in groups.items()]
        return logs, bucket.hashes, bucket.events

    def _log(self, start: int, gk: tuple[Any, ...], g: list[Any]) -> FlowLog:
        rep, action, node, proto, ce, se, svc, tr, names, c_port, s_port = gk
        fwd, rev = g[0], g[1]
        enforced, pending = tr
        return FlowLog(
            start_time=start,
            end_time=start + self.interval,
            source_ip=names[1] if names else None,
            source_name=names[0] if names else "-",
            source_name_aggr=ce[2],
            source_namespace=ce[1],
            source_type=ce[0],
            source_port=c_port,
            source_labels=None if g[7] is None else {"labels": list(g[7])},
            dest_ip=names[3] if names else None,
            dest_name=names[2] if names else "-",
            dest_name_aggr=se[2],
            dest_namespace=se[1],
            dest_type=se[0],
            dest_port=s_port,
            dest_labels=None if g[8] is None else {"labels": list(g[8])},
            proto=proto,
            action=action,
            reporter=rep,
            policies={
                "enforced_policies": list(enforced),
                "pending_policies": list(pending),
                "all_policies": list(enforced),
            },
            dest_service_namespace=svc[0],
            dest_service_name=svc[1],
            dest_domains=sorted(g[9])[:5] if g[9] and rep == "src" else None,
            packets_in=rev if rep == "src" else fwd,
            packets_out=fwd if rep == "src" else rev,
            num_flows=g[2],
            num_flows_started=g[3],
            num_flows_completed=g[4],
            http_requests_allowed_in=g[5],
            http_requests_denied_in=g[6],
            host=node,
        )


def _intersect(a: tuple[str, ...] | None, b: tuple[str, ...] | None) -> tuple[str, ...] | None:
    """Labels common to both (Calico keeps only labels shared by every member of a log)."""
    if a is None or b is None:
        return a if b is None else b
    if a == b:
        return a
    other = set(b)
    return tuple(x for x in a if x in other)
