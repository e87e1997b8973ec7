"""Simulator state per stream and per cohort, and the run statistics.

A *cohort* is the set of a stream's connections that were opened under the same enforced
verdict. Connections keep the verdict they started with (calico.md §2.5: policy changes apply
to new connections), so when a policy change alters a stream's verdict a new cohort starts
and the old one drains. A cohort holds its flow-log templates; its counts live in a CohortTable row (sim_table.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from desktopviz.core.aggregate import RowTemplate, make_template
from desktopviz.core.flowlog import FlowLog
from desktopviz.core.model import ClusterSettings
from desktopviz.core.sim_endpoints import EndpointInfo
from desktopviz.core.sim_traffic import PORT_PROTOCOLS, StreamSpec
from desktopviz.core.sim_volume import ephemeral_ports
from desktopviz.core.verdict import PolicyHit, SideResult, Verdict

PORT_ROWS_CAP = 64  # level 0: at most this many per-connection rows per cohort and interval


def reports(end: EndpointInfo, settings: ClusterSettings) -> bool:
    """Whether Felix writes flow logs for this end: a pod always; a host endpoint only with
    `flowLogsEnableHostEndpoint` (default false, calico.md §1.5, §2.12); outside IPs never."""
    if end.type == "wep":
        return True
    return end.type == "hep" and settings.flow_logs_enable_host_endpoint


class Stream:
    """Connections of one StreamSpec; `verdict` is the engine's answer under generation `gen`."""

    __slots__ = ("spec", "verdict", "gen", "cohort", "cohorts")

    def __init__(self, spec: StreamSpec) -> None:
        self.spec = spec
        self.verdict: Verdict | None = None
        self.gen = -1
        self.cohort: Cohort | None = None
        self.cohorts: list[Cohort] = []


def legacy_all_policies(side: SideResult) -> tuple[str, ...]:
    """The deprecated `all_policies` (enforced and staged mixed, worked out at flow start).
    Without staged hits it is the enforced trace. With them: the staged hits of the pending
    trace merged with the enforced hits, tier by tier in evaluation order (staged first in a
    tier, as the pending evaluation meets them first), re-indexed from 0."""
    staged = [h for h in side.pending_trace if "staged:" in h.name]
    if not staged:
        return tuple(side.enforced_strings)
    tier_pos: dict[str, int] = {}
    for h in (*side.pending_trace, *side.trace):
        tier_pos.setdefault(h.tier, len(tier_pos))
    items = [(tier_pos[h.tier], 0, h) for h in staged] + [(tier_pos[h.tier], 1, h) for h in side.trace]
    items.sort(key=lambda x: (x[0], x[1]))
    return tuple(
        str(PolicyHit(i, h.tier, h.name, h.action, h.rule_index)) for i, (_, _, h) in enumerate(items)
    )


def dnat_seen_at_destination(spec: StreamSpec) -> bool:
    """Whether the server's node saw the Service DNAT. Felix fills `dest_service_*` from the
    pre-DNAT destination of a NATed conntrack entry (ENT collector `reportMetrics`: `isDNAT` ->
    `GetServiceFromPreDNATDest`). kube-proxy (or the eBPF dataplane) translates the ClusterIP
    on the client's node, so the server's node sees a NATed connection only when the client
    runs on it, or when the connection entered the cluster there (an outside client)."""
    return spec.src.node is None or spec.src.node == spec.dst.node


class Cohort:
    """A stream's connections opened under one enforced verdict."""

    __slots__ = (
        "stream",
        "verdict",
        "signature",
        "idx",
        "templates",
        "needs_ports",
        "ports",
        "_pending_for",
        "_pending",
    )

    def __init__(self, stream: Stream, verdict: Verdict, settings: ClusterSettings) -> None:
        self.stream = stream
        self.verdict = verdict
        self.signature = Cohort.signature_of(verdict)
        self.idx = -1  # row in the simulator's CohortTable
        self.templates: list[tuple[RowTemplate, str]] = []
        spec = stream.spec
        eg, ing = verdict.egress, verdict.ingress
        common: dict[str, Any] = {
            "src": spec.src,
            "dst": spec.dst,
            "protocol": spec.protocol,
            "port": spec.port,
            "service": spec.service,
        }
        if eg is not None and reports(spec.src, settings):
            level = settings.aggregation_allowed if eg.action == "allow" else settings.aggregation_denied
            t = make_template(
                level=level,
                reporter="src",
                action=eg.action,
                enforced=tuple(eg.enforced_strings),
                all_policies=legacy_all_policies(eg),
                domains=spec.domains,
                process_name=spec.process_name,
                **common,
            )
            self.templates.append((t, "egress"))
        if ing is not None and reports(spec.dst, settings) and (eg is None or eg.action == "allow"):
            level = settings.aggregation_allowed if ing.action == "allow" else settings.aggregation_denied
            t = make_template(
                level=level,
                reporter="dst",
                action=ing.action,
                enforced=tuple(ing.enforced_strings),
                all_policies=legacy_all_policies(ing),
                **{**common, "service": spec.service if dnat_seen_at_destination(spec) else None},
            )
            self.templates.append((t, "ingress"))
        self.needs_ports = spec.protocol in PORT_PROTOCOLS and any(t.level == 0 for t, _ in self.templates)
        self.ports: list[int] = []
        self._pending_for: Verdict | None = None
        self._pending: list[tuple[RowTemplate, tuple[str, ...]]] = []

    @staticmethod
    def signature_of(v: Verdict) -> tuple[Any, ...]:
        eg, ing = v.egress, v.ingress
        return (
            v.action,
            None if eg is None else (eg.action, eg.trace),
            None if ing is None else (ing.action, ing.trace),
        )

    def sides(self, current: Verdict) -> list[tuple[RowTemplate, tuple[str, ...]]]:
        """(template, pending trace) per reporter; pending comes from `current`, the verdict
        under the policies in force now (falls back to the cohort's own verdict)."""
        if current is not self._pending_for:
            out = []
            for t, direction in self.templates:
                side = getattr(current, direction) or getattr(self.verdict, direction)
                out.append((t, tuple(side.pending_strings) if side is not None else ()))
            self._pending = out
            self._pending_for = current
        return self._pending


Counters = tuple[int, int, int, int, int, int, int]


def _split(total: int, weights: list[int], whole: int) -> list[int]:
    """Split an integer total in proportion to weights (summing to `whole`)."""
    if whole <= 0:
        return [0] * len(weights)
    parts = [total * w // whole for w in weights]
    parts[0] += total - sum(parts)
    return parts


def port_rows(
    rng: np.random.Generator, c: Cohort, counters: Counters, comp_old: int
) -> list[tuple[int | None, Counters]]:
    """Level 0: per-connection rows keyed by source port. Open connections keep their port
    across intervals (`c.ports`); new ones get ephemeral ports; above PORT_ROWS_CAP
    connections per interval, connections share ports (as port reuse would)."""
    c2s_b, s2c_b, c2s_p, s2c_p, nf, started, completed = counters
    carry = nf - started
    old = c.ports[: min(carry, PORT_ROWS_CAP)]
    while len(old) < min(carry, PORT_ROWS_CAP):
        old.append(ephemeral_ports(rng, 1)[0])
    new = ephemeral_ports(rng, min(started, max(1, PORT_ROWS_CAP - len(old)))) if started else []
    slots: list[list[int]] = []  # [port, flows, started, completed]
    for i, port in enumerate(old):
        n = carry // len(old) + (1 if i < carry % len(old) else 0)
        slots.append([port, n, 0, 0])
    for i, port in enumerate(new):
        n = started // len(new) + (1 if i < started % len(new) else 0)
        slots.append([port, n, n, 0])
    done_old = min(comp_old, carry)
    done_new = max(0, completed - done_old)
    for lo, hi, done in ((0, len(old), done_old), (len(old), len(slots), done_new)):
        if done <= 0 or hi <= lo:
            continue
        flows = np.array([slots[k][1] for k in range(lo, hi)], dtype=np.int64)
        picks = rng.multivariate_hypergeometric(flows, min(done, int(flows.sum())))
        for k, d in zip(range(lo, hi), picks.tolist(), strict=True):
            slots[k][3] = d
    weights = [s[1] for s in slots]
    cb = _split(c2s_b, weights, nf)
    sb = _split(s2c_b, weights, nf)
    cp = _split(c2s_p, weights, nf)
    sp = _split(s2c_p, weights, nf)
    c.ports = [s[0] for s in slots if s[1] > s[3]][:PORT_ROWS_CAP]
    return [(s[0], (cb[k], sb[k], cp[k], sp[k], s[1], s[2], s[3])) for k, s in enumerate(slots) if s[1] > 0]


@dataclass
class SimStats:
    """Running counters: flow logs written, by action and by reporter."""

    logs: int = 0
    allowed: int = 0
    denied: int = 0
    intervals: int = 0
    connections: int = 0  # connections started
    by_reporter: dict[str, int] = field(default_factory=dict)
    by_reporter_action: dict[str, int] = field(default_factory=dict)

    def count(self, logs: list[FlowLog], by_reporter_action: dict[tuple[str, str], int]) -> None:
        """Add one interval: its logs and their (reporter, action) counts."""
        self.intervals += 1
        self.logs += len(logs)
        for (reporter, action), n in by_reporter_action.items():
            if action == "allow":
                self.allowed += n
            else:
                self.denied += n
            self.by_reporter[reporter] = self.by_reporter.get(reporter, 0) + n
            k = f"{reporter}/{action}"
            self.by_reporter_action[k] = self.by_reporter_action.get(k, 0) + n

    def as_dict(self) -> dict[str, Any]:
        return {
            "logs": self.logs,
            "allowed": self.allowed,
            "denied": self.denied,
            "intervals": self.intervals,
            "connections": self.connections,
            "by_reporter": dict(self.by_reporter),
            "by_reporter_action": dict(self.by_reporter_action),
        }
