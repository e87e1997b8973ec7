"""Flow-log aggregation per node and per flush interval, as Felix does it (calico.md §1.4).

Every (connection group, reporter) gets a `RowTemplate` once: the flow-log fields that do
not change from interval to interval, already blanked for its aggregation level, and the key
that decides which groups merge. Per interval the simulator only adds counters to templates;
`IntervalAggregator.logs()` turns the merged rows into `FlowLog` records.

Levels (Felix `AggregationKind`): 0 nothing merged; 1 `source_port` null; 2 also
`source_ip`/`dest_ip` null and `source_name`/`dest_name` `-` (pods merged by generateName
prefix, IPs by network set or `pub`/`pvt`); 3 also `dest_port` null and `dest_service_port`
`-` (Felix keeps `dest_service_port_num`). `action` and `reporter` are always in the key, and
so is the reporting node (`host`) and the process name (Felix writes one log per process).

A *flow* (Felix `FlowSpec`: everything above but the trace) that saw several enforced traces in
the interval is written as one log per distinct enforced trace (§1.3), and, as Felix's
`ToFlowLogs` copies the flow's statistics into each of them, every one of those logs carries the
whole flow's counters, labels and pending trace. Labels are intersected across the merged
members (Felix `aggregateFlowLabels`); the pending trace is the latest one computed (Felix
`replaceFlowPendingPolicySet`: not a union); domains are unioned up to the limit.
"""

from __future__ import annotations

import itertools
from dataclasses import MISSING, dataclass
from dataclasses import fields as dc_fields
from typing import Any

from desktopviz.core.flowlog import FlowLog
from desktopviz.core.sim_endpoints import NOT_INCLUDED, EndpointInfo
from desktopviz.core.sim_traffic import ServiceTarget

_PROTO_BY_NAME = {"TCP": "tcp", "UDP": "udp", "ICMP": "icmp", "ICMPv6": "icmp6", "SCTP": "sctp"}
_PROTO_BY_NUMBER = {1: "icmp", 6: "tcp", 17: "udp", 4: "ipip", 50: "esp", 58: "icmp6", 132: "sctp"}
_PROTO_NUMBERS = {"UDPLite": 136, "IPIP": 4, "ESP": 50}
_PORT_PROTOS = frozenset({"tcp", "udp", "sctp", "136"})
DOMAINS_LIMIT = 5  # flowLogsFileDomainsLimit
# Felix's process_args when no arguments are known (`toFlowProcessReportedStats`).
NO_PROCESS_ARGS: list[str] = [NOT_INCLUDED]
# What Felix writes for the fields the simulator does not fill (features off: TCP stats,
# process IDs and args, NAT ports, original IPs, L7 counters).
_DEFAULTS: dict[str, Any] = {
    f.name: f.default for f in dc_fields(FlowLog) if f.default is not MISSING and f.name != "policies"
}


def proto_name(protocol: str) -> str:
    """Felix's `proto` value: tcp, udp, icmp, icmp6, sctp, ipip, esp, else the number (§1.1)."""
    if protocol in _PROTO_BY_NAME:
        return _PROTO_BY_NAME[protocol]
    if protocol.isdigit():
        return _PROTO_BY_NUMBER.get(int(protocol), protocol)
    number = _PROTO_NUMBERS.get(protocol)
    if number is not None:
        return _PROTO_BY_NUMBER.get(number, str(number))
    return protocol.lower()


def _trace_order(entry: str) -> tuple[int, str]:
    head = entry.split("|", 1)[0]
    return (int(head) if head.lstrip("-").isdigit() else 1 << 30, entry)


def sort_trace(entries: set[str] | tuple[str, ...] | list[str]) -> list[str]:
    """Trace entries are a set in Calico; sorting by the leading index reads them in order."""
    return sorted(entries, key=_trace_order)


_TRACE_CACHE: dict[tuple[str, ...], list[str]] = {}
# Flow keys as small numbers: hashing an int per counter update instead of a 20-field tuple.
_FLOW_IDS: dict[tuple[Any, ...], int] = {}
_FLOW_COUNTER = itertools.count()
_LABELS_CACHE: dict[frozenset[str], dict[str, list[str]]] = {}


def _sorted_trace(entries: tuple[str, ...] | set[str]) -> list[str]:
    """The entries sorted by index; one shared list per distinct tuple (read-only records)."""
    if isinstance(entries, set):
        return sort_trace(entries)
    found = _TRACE_CACHE.get(entries)
    if found is None:
        if len(_TRACE_CACHE) > 100_000:
            _TRACE_CACHE.clear()
        found = _TRACE_CACHE[entries] = sort_trace(entries)
    return found


def _labels_obj(labels: frozenset[str] | None) -> dict[str, list[str]] | None:
    """Calico's labels object, sorted by key. One shared object per distinct label set (the
    simulator's flow logs are read-only records: the store serialises them)."""
    if labels is None:
        return None
    found = _LABELS_CACHE.get(labels)
    if found is None:
        if len(_LABELS_CACHE) > 100_000:
            _LABELS_CACHE.clear()
        found = _LABELS_CACHE[labels] = {"labels": sorted(labels, key=lambda s: (s.partition("=")[0], s))}
    return found


@dataclass(frozen=True)
class RowTemplate:
    """The static part of one reporter's flow log for a group of connections."""

    key: tuple[Any, ...]
    flow_id: int  # one number per distinct key without the trace (Felix's FlowMeta, a FlowSpec)
    level: int
    fields: dict[str, Any]
    src_labels: frozenset[str] | None
    dst_labels: frozenset[str] | None
    enforced: tuple[str, ...]
    all_policies: tuple[str, ...]
    domains: tuple[str, ...]
    count_key: tuple[str, str] = ("", "")
    source_port: int | None = None  # written when no per-connection port is given


def make_template(
    *,
    level: int,
    reporter: str,
    action: str,
    src: EndpointInfo,
    dst: EndpointInfo,
    protocol: str,
    port: int | None,
    service: ServiceTarget | None,
    enforced: tuple[str, ...],
    all_policies: tuple[str, ...],
    domains: tuple[str, ...] = (),
    process_name: str | None = None,
) -> RowTemplate:
    """Build the template of a `reporter` (`src`/`dst`) log at aggregation `level` (0-3)."""
    level = min(3, max(0, level))
    host = src.node if reporter == "src" else dst.node
    prefix = level >= 2
    proto = proto_name(protocol)
    # Felix's JSON has null ports for ICMP (proto 1) and for ports aggregated away; another
    # protocol without ports has 0 in its 5-tuple, so 0 is written (ENT json_serializer.go).
    if proto == "icmp" or level >= 3:
        dest_port: int | None = None
    else:
        dest_port = 0 if port is None else port
    no_ports = proto != "icmp" and proto not in _PORT_PROTOS
    fields: dict[str, Any] = {
        "source_ip": None if prefix else src.ip,
        "source_name": NOT_INCLUDED if prefix else src.name,
        "source_name_aggr": src.name_aggr,
        "source_namespace": src.namespace,
        "source_type": src.type,
        "dest_ip": None if prefix else dst.ip,
        "dest_name": NOT_INCLUDED if prefix else dst.name,
        "dest_name_aggr": dst.name_aggr,
        "dest_namespace": dst.namespace,
        "dest_type": dst.type,
        "dest_port": dest_port,
        "dest_service_namespace": service.namespace if service else NOT_INCLUDED,
        "dest_service_name": service.name if service else NOT_INCLUDED,
        "dest_service_port": NOT_INCLUDED if (service is None or level >= 3) else service.port_name,
        "dest_service_port_num": service.port_num if service else None,
        "proto": proto,
        "action": action,
        "reporter": reporter,
        "process_name": process_name or NOT_INCLUDED,
        "num_process_names": 1 if process_name and process_name != NOT_INCLUDED else 0,
        "host": host or "",
    }
    meta = (level, tuple(fields.values()))
    flow_id = _FLOW_IDS.get(meta)
    if flow_id is None:
        if len(_FLOW_IDS) > 1_000_000:
            _FLOW_IDS.clear()  # ids are never reused (counter), so old templates keep theirs
        flow_id = _FLOW_IDS[meta] = next(_FLOW_COUNTER)
    fields = {**_DEFAULTS, **fields, "process_args": NO_PROCESS_ARGS}
    return RowTemplate(
        key=(*meta, enforced),
        flow_id=flow_id,
        level=level,
        fields=fields,
        src_labels=src.labels,
        dst_labels=dst.labels,
        enforced=enforced,
        all_policies=all_policies,
        domains=domains,
        count_key=(reporter, action),
        source_port=0 if (level == 0 and no_ports) else None,
    )


def _intersect(a: frozenset[str] | None, b: frozenset[str] | None) -> frozenset[str] | None:
    if a is b or b is None:
        return a
    if a is None:
        return b
    return a & b


class IntervalAggregator:
    """Merges the counters of one flush interval into flow-log rows."""

    __slots__ = ("_flows", "counts")

    def __init__(self) -> None:
        self.counts: dict[tuple[str, str], int] = {}  # (reporter, action) -> logs written
        # flow (Felix FlowSpec) -> [latest pending trace, row, row...], one row per enforced
        # trace; a row is [template, bytes_in, bytes_out, packets_in, packets_out, num_flows,
        # started, completed, src_labels, dst_labels, None, domains (sorted tuple),
        # source_port, all_policies (tuple or set)]
        self._flows: dict[Any, list[Any]] = {}

    def __len__(self) -> int:
        return sum(len(flow) - 1 for flow in self._flows.values())

    def add(
        self,
        t: RowTemplate,
        bytes_in: int,
        bytes_out: int,
        packets_in: int,
        packets_out: int,
        num_flows: int,
        started: int,
        completed: int,
        pending: tuple[str, ...],
        source_port: int | None = None,
    ) -> None:
        """Add one group's counters; `source_port` is used (and keyed on) at level 0 only.
        `pending` replaces the flow's pending trace (the latest evaluation wins)."""
        if t.level > 0 or source_port is None:
            fkey: Any = t.flow_id
            source_port = t.source_port
        else:
            fkey = (t.flow_id, source_port)
        flow = self._flows.get(fkey)
        row: list[Any] | None = None
        if flow is not None:
            flow[0] = pending
            enforced = t.enforced
            for candidate in flow[1:] if len(flow) > 2 else (flow[1],):
                have = candidate[0].enforced
                if have is enforced or have == enforced:
                    row = candidate
                    break
        if row is None:
            row = [
                t,
                bytes_in,
                bytes_out,
                packets_in,
                packets_out,
                num_flows,
                started,
                completed,
                t.src_labels,
                t.dst_labels,
                None,
                t.domains,
                source_port,
                t.all_policies,
            ]
            if flow is None:
                self._flows[fkey] = [pending, row]
            else:
                flow.append(row)
            return
        row[1] += bytes_in
        row[2] += bytes_out
        row[3] += packets_in
        row[4] += packets_out
        row[5] += num_flows
        row[6] += started
        row[7] += completed
        if row[8] is not t.src_labels:
            row[8] = _intersect(row[8], t.src_labels)
        if row[9] is not t.dst_labels:
            row[9] = _intersect(row[9], t.dst_labels)
        if t.domains and t.domains is not row[11] and len(row[11]) < DOMAINS_LIMIT:
            row[11] = _merge_domains(row[11], t.domains)
        if t.all_policies is not row[13] and t.all_policies != row[13]:
            row[13] = set(row[13]) | set(t.all_policies)

    def logs(self, start: int, end: int) -> list[FlowLog]:
        """The merged rows as flow logs for the interval [start, end); clears the aggregator."""
        out: list[FlowLog] = []
        append = out.append
        counts = self.counts
        new = FlowLog.__new__
        for flow in self._flows.values():
            pending = _sorted_trace(flow[0])
            if len(flow) == 2:
                pairs: Any = ((flow[1], flow[1]),)
            else:
                rows = flow[1:]
                shared = _flow_totals(rows)
                pairs = [(row, shared) for row in rows]
            for row, src in pairs:
                t: RowTemplate = row[0]
                d = t.fields.copy()
                d["start_time"] = start
                d["end_time"] = end
                d["source_port"] = row[12]
                d["policies"] = {
                    "enforced_policies": _sorted_trace(t.enforced),
                    "pending_policies": pending,
                    "all_policies": _sorted_trace(row[13]),
                }
                d["source_labels"] = _labels_obj(src[8])
                d["dest_labels"] = _labels_obj(src[9])
                d["dest_domains"] = list(src[11]) if src[11] else None
                d["bytes_in"] = src[1]
                d["bytes_out"] = src[2]
                d["packets_in"] = src[3]
                d["packets_out"] = src[4]
                d["num_flows"] = src[5]
                d["num_flows_started"] = src[6]
                d["num_flows_completed"] = src[7]
                # Every field is set, so the record is built without the 55-argument __init__.
                log = new(FlowLog)
                log.__dict__ = d
                append(log)
                counts[t.count_key] = counts.get(t.count_key, 0) + 1
        self._flows = {}
        return out


def _merge_domains(have: tuple[str, ...], more: tuple[str, ...]) -> tuple[str, ...]:
    merged = set(have)
    for d in more:
        if len(merged) >= DOMAINS_LIMIT:
            break
        merged.add(d)
    return tuple(sorted(merged))


def _flow_totals(rows: list[list[Any]]) -> list[Any]:
    """One flow's statistics over all its traces (a row-shaped list: counters at 1-7, labels
    at 8-9, domains at 11), which Felix copies into each of the flow's per-trace logs."""
    total: list[Any] = [None, 0, 0, 0, 0, 0, 0, 0, rows[0][8], rows[0][9], None, rows[0][11]]
    for row in rows:
        for i in range(1, 8):
            total[i] += row[i]
    for row in rows[1:]:
        total[8] = _intersect(total[8], row[8])
        total[9] = _intersect(total[9], row[9])
        if row[11] and len(total[11]) < DOMAINS_LIMIT:
            total[11] = _merge_domains(total[11], row[11])
    return total
