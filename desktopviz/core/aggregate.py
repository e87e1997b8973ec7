"""Flow-log aggregation per node and per flush interval, as Felix does it (calico.md §1.4).

Every (connection group, reporter) gets a `RowTemplate` once: the flow-log fields that do
not change from interval to interval, already blanked for its aggregation level, and the key
that decides which groups merge. Per interval the simulator only adds counters to templates;
`IntervalAggregator.logs()` turns the merged rows into `FlowLog` records.

Levels (Felix `AggregationKind`): 0 nothing merged; 1 `source_port` null; 2 also
`source_ip`/`dest_ip` null and `source_name`/`dest_name` `-` (pods merged by generateName
prefix, IPs by network set or `pub`/`pvt`); 3 also `dest_port` null and `dest_service_port`
`-` (Felix keeps `dest_service_port_num`). `action` and `reporter` are always in the key, and
so is the reporting node (`host`), the process name (Felix writes one log per process) and the
enforced policy trace (one log per distinct trace, §1.3). Labels are intersected across the
merged members (Felix `aggregateFlowLabels`); pending traces and domains are unioned.
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass
from dataclasses import fields as dc_fields
from typing import Any

from desktopviz.core.flowlog import FlowLog
from desktopviz.core.sim_endpoints import NOT_INCLUDED, EndpointInfo
from desktopviz.core.sim_traffic import ServiceTarget

_PROTO_BY_NAME = {"TCP": "tcp", "UDP": "udp", "ICMP": "icmp", "ICMPv6": "icmp6", "SCTP": "sctp"}
_PROTO_BY_NUMBER = {1: "icmp", 6: "tcp", 17: "udp", 4: "ipip", 50: "esp", 58: "icmp6", 132: "sctp"}
_PROTO_NUMBERS = {"UDPLite": 136, "IPIP": 4, "ESP": 50}
DOMAINS_LIMIT = 5  # flowLogsFileDomainsLimit
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
    level: int
    fields: dict[str, Any]
    src_labels: frozenset[str] | None
    dst_labels: frozenset[str] | None
    enforced: tuple[str, ...]
    all_policies: tuple[str, ...]
    domains: tuple[str, ...]
    count_key: tuple[str, str] = ("", "")


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
        "dest_port": None if level >= 3 else port,
        "dest_service_namespace": service.namespace if service else NOT_INCLUDED,
        "dest_service_name": service.name if service else NOT_INCLUDED,
        "dest_service_port": NOT_INCLUDED if (service is None or level >= 3) else service.port_name,
        "dest_service_port_num": service.port_num if service else None,
        "proto": proto_name(protocol),
        "action": action,
        "reporter": reporter,
        "process_name": process_name or NOT_INCLUDED,
        "num_process_names": 1 if process_name and process_name != NOT_INCLUDED else 0,
        "host": host or "",
    }
    key = (level, tuple(fields.values()), enforced)
    fields = {**_DEFAULTS, **fields}
    return RowTemplate(
        key=key,
        level=level,
        fields=fields,
        src_labels=src.labels,
        dst_labels=dst.labels,
        enforced=enforced,
        all_policies=all_policies,
        domains=domains,
        count_key=(reporter, action),
    )


def _intersect(a: frozenset[str] | None, b: frozenset[str] | None) -> frozenset[str] | None:
    if a is b or b is None:
        return a
    if a is None:
        return b
    return a & b


class IntervalAggregator:
    """Merges the counters of one flush interval into flow-log rows."""

    __slots__ = ("_rows", "counts")

    def __init__(self) -> None:
        self.counts: dict[tuple[str, str], int] = {}  # (reporter, action) -> logs written
        # key -> [template, bytes_in, bytes_out, packets_in, packets_out, num_flows, started,
        #         completed, src_labels, dst_labels, pending (tuple, or set once merged),
        #         domains (sorted tuple), source_port, all_policies (tuple or set)]
        self._rows: dict[tuple[Any, ...], list[Any]] = {}

    def __len__(self) -> int:
        return len(self._rows)

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
        """Add one group's counters; `source_port` is used (and keyed on) at level 0 only."""
        key = t.key if t.level > 0 or source_port is None else (t.key, source_port)
        row = self._rows.get(key)
        if row is None:
            self._rows[key] = [
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
                pending,
                t.domains,
                source_port if t.level == 0 else None,
                t.all_policies,
            ]
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
        if pending is not row[10] and pending != row[10]:
            row[10] = set(row[10]) | set(pending)
        if t.domains and t.domains is not row[11] and len(row[11]) < DOMAINS_LIMIT:
            merged = set(row[11])
            for d in t.domains:
                if len(merged) < DOMAINS_LIMIT:
                    merged.add(d)
            row[11] = tuple(sorted(merged))
        if t.all_policies is not row[13] and t.all_policies != row[13]:
            row[13] = set(row[13]) | set(t.all_policies)

    def logs(self, start: int, end: int) -> list[FlowLog]:
        """The merged rows as flow logs for the interval [start, end); clears the aggregator."""
        out: list[FlowLog] = []
        counts = self.counts
        new = FlowLog.__new__
        for row in self._rows.values():
            t: RowTemplate = row[0]
            d = t.fields.copy()
            d["start_time"] = start
            d["end_time"] = end
            d["source_port"] = row[12]
            d["source_labels"] = _labels_obj(row[8])
            d["dest_labels"] = _labels_obj(row[9])
            d["policies"] = {
                "enforced_policies": _sorted_trace(t.enforced),
                "pending_policies": _sorted_trace(row[10]),
                "all_policies": _sorted_trace(row[13]),
            }
            d["dest_domains"] = list(row[11]) if row[11] else None
            d["bytes_in"] = row[1]
            d["bytes_out"] = row[2]
            d["packets_in"] = row[3]
            d["packets_out"] = row[4]
            d["num_flows"] = row[5]
            d["num_flows_started"] = row[6]
            d["num_flows_completed"] = row[7]
            # Every field is set, so the record is built without the 55-argument __init__.
            log = new(FlowLog)
            log.__dict__ = d
            out.append(log)
            counts[t.count_key] = counts.get(t.count_key, 0) + 1
        self._rows = {}
        return out
