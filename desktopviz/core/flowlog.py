"""The flow-log record: one row per aggregated flow, per reporter, per flush interval.

Field names and values exactly as Calico Enterprise writes them (calico.md §1.1): times in
Unix seconds, `-` for names not included, JSON null (None) for aggregated IPs and ports,
lower-case `allow`/`deny` and `src`/`dst`, labels as ``{"labels": ["k=v", ...]}`` and the
policies field as ``{"enforced_policies": [...], "pending_policies": [...],
"all_policies": [...]}``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any

# Every field of a Calico flow log that desktopviz stores, in Calico's order.
FIELDS: tuple[str, ...] = (
    "start_time",
    "end_time",
    "source_ip",
    "source_name",
    "source_name_aggr",
    "source_namespace",
    "source_type",
    "source_port",
    "source_labels",
    "dest_ip",
    "dest_name",
    "dest_name_aggr",
    "dest_namespace",
    "dest_type",
    "dest_port",
    "dest_labels",
    "dest_service_namespace",
    "dest_service_name",
    "dest_service_port",
    "dest_service_port_num",
    "dest_domains",
    "proto",
    "action",
    "reporter",
    "policies",
    "bytes_in",
    "bytes_out",
    "packets_in",
    "packets_out",
    "num_flows",
    "num_flows_started",
    "num_flows_completed",
    "http_requests_allowed_in",
    "http_requests_denied_in",
    "process_name",
    "num_process_names",
    "process_id",
    "num_process_ids",
    "process_args",
    "num_process_args",
    "original_source_ips",
    "num_original_source_ips",
    "nat_outgoing_ports",
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
    "host",
)

# Fields whose value is a JSON structure (stored as JSON text in SQLite).
JSON_FIELDS = frozenset(
    {
        "source_labels",
        "dest_labels",
        "policies",
        "dest_domains",
        "process_args",
        "original_source_ips",
        "nat_outgoing_ports",
    }
)

# The integer fields that change from one flush interval to the next, in FIELDS order: the two
# times and the traffic counters (bytes_in to num_flows_completed, consecutive in FIELDS); a flow
# log's other fields are its *key* (schema 3's flow_keys, the importer's cache of repeated texts).
VARYING_FIELDS: tuple[str, ...] = (
    "start_time",
    "end_time",
    *FIELDS[FIELDS.index("bytes_in") : FIELDS.index("num_flows_completed") + 1],
)

NOT_INCLUDED = "-"  # Calico's FieldNotIncluded


@dataclass
class FlowLog:
    """One Calico flow log. Defaults are what Felix writes when a feature is off."""

    start_time: int
    end_time: int
    source_ip: str | None
    source_name: str
    source_name_aggr: str
    source_namespace: str
    source_type: str  # wep, hep, ns, net
    source_port: int | None
    source_labels: dict[str, list[str]] | None
    dest_ip: str | None
    dest_name: str
    dest_name_aggr: str
    dest_namespace: str
    dest_type: str
    dest_port: int | None
    dest_labels: dict[str, list[str]] | None
    proto: str
    action: str  # allow, deny
    reporter: str  # src, dst
    policies: dict[str, list[str]] = field(
        default_factory=lambda: {"enforced_policies": [], "pending_policies": [], "all_policies": []}
    )
    dest_service_namespace: str = NOT_INCLUDED
    dest_service_name: str = NOT_INCLUDED
    dest_service_port: str = NOT_INCLUDED
    dest_service_port_num: int | None = None
    dest_domains: list[str] | None = None
    bytes_in: int = 0
    bytes_out: int = 0
    packets_in: int = 0
    packets_out: int = 0
    num_flows: int = 0
    num_flows_started: int = 0
    num_flows_completed: int = 0
    http_requests_allowed_in: int = 0
    http_requests_denied_in: int = 0
    process_name: str = NOT_INCLUDED
    num_process_names: int = 0
    process_id: str = NOT_INCLUDED
    num_process_ids: int = 0
    process_args: list[str] | None = None
    num_process_args: int = 0
    original_source_ips: list[str] | None = None
    num_original_source_ips: int = 0
    nat_outgoing_ports: list[int] | None = None
    tcp_mean_send_congestion_window: int = 0
    tcp_min_send_congestion_window: int = 0
    tcp_mean_smooth_rtt: int = 0
    tcp_max_smooth_rtt: int = 0
    tcp_mean_min_rtt: int = 0
    tcp_max_min_rtt: int = 0
    tcp_mean_mss: int = 0
    tcp_min_mss: int = 0
    tcp_total_retransmissions: int = 0
    tcp_lost_packets: int = 0
    tcp_unrecovered_to: int = 0
    host: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The record as Calico's JSON document (field order of FIELDS)."""
        d = asdict(self)
        return {k: d[k] for k in FIELDS}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FlowLog:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


def labels_field(labels: dict[str, str] | None) -> dict[str, list[str]] | None:
    """Calico's labels object: ``{"labels": ["k=v", ...]}`` sorted by key."""
    if labels is None:
        return None
    return {"labels": [f"{k}={v}" for k, v in sorted(labels.items())]}


def parse_labels_field(value: dict[str, list[str]] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in (value or {}).get("labels", []) or []:
        k, _, v = item.partition("=")
        out[k] = v
    return out
