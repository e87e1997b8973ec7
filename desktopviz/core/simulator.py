"""The traffic simulator: scenario traffic → connections → verdicts → Calico flow logs.

Synchronous and deterministic for a seed, on a simulated clock that starts at
`settings.start_time`; no threads, no Qt. `advance(seconds)` returns the flow logs of every
flush interval it completed; `flush()` writes the partial last interval.

How it stays cheap: traffic is resolved into *streams* (one per traffic entry, source
endpoint and destination endpoint). Per interval, one vectorised Poisson draw gives every
stream's new connections; a stream's connections are kept in *cohorts* (same enforced
verdict, i.e. opened under the same policies), each holding only a count of open
connections (sim_volume.py explains the maths). Each cohort has a precomputed flow-log
template per reporter (aggregate.py); per interval only counters are added. Work therefore
grows with the number of flow-log rows, not with the number of connections.

Policy semantics (calico.md §2.3, §2.5): a connection is evaluated by the engine in force when
it starts and keeps that verdict and trace (its cohort); a `src` log with the egress trace is
written when the client is a pod, a `dst` log with the ingress trace when the server is one
and the packet got there (host endpoints report only with `flowLogsEnableHostEndpoint`). `pending_policies` is re-evaluated with the policies
in force at each interval's end, as Felix's continuous policy evaluation does.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterator
from typing import Any

import numpy as np

from desktopviz.core.aggregate import IntervalAggregator
from desktopviz.core.flowlog import FlowLog
from desktopviz.core.model import Event, Policy, Scenario, Tier, Traffic
from desktopviz.core.sim_cohort import Cohort, SimStats, Stream, port_rows
from desktopviz.core.sim_events import EventApplier
from desktopviz.core.sim_table import CohortTable
from desktopviz.core.sim_traffic import Resolver, StreamSpec, TrafficError, dns_streams, resolve
from desktopviz.core.sim_volume import (
    SYN_BYTES,
    completion_probability_new,
    completion_probability_open,
    denied_packets,
    draw_bytes,
    packets_for,
)
from desktopviz.core.verdict import Verdict


class UnknownEventError(KeyError):
    """`fire`/`schedule` got an event id the scenario does not define."""

    def __str__(self) -> str:
        return f"unknown event {self.args[0]!r}"


class Simulator:
    """Runs a scenario and produces Calico flow logs per flush interval.

    `engine` may be given (tests); by default a `PolicyEngine` over the scenario's cluster."""

    def __init__(self, scenario: Scenario, seed: int | None = None, *, engine: Any = None) -> None:
        self.scenario = scenario
        self.settings = scenario.settings
        self.cluster = scenario.cluster
        if engine is None:
            from desktopviz.core.policy import PolicyEngine

            engine = PolicyEngine(scenario.cluster)
        self.engine = engine
        self.seed = int(self.settings.seed if seed is None else seed)
        self.rng = np.random.default_rng(self.seed)
        self.flush_interval = max(1, int(self.settings.flush_interval))
        self.start_time = int(self.settings.start_time)
        self.now: float = float(self.start_time)
        self.stats = SimStats()
        self.warnings: list[str] = []
        self._interval_start = self.start_time
        self._agg = IntervalAggregator()
        self._gen = 0  # bumps whenever policies or endpoints change
        self._traffic: list[tuple[int, Traffic, float]] = []
        self._next_uid = 0
        self._streams: dict[tuple[object, ...], Stream] = {}
        self._live: list[Stream] = []
        self._arrays: dict[str, np.ndarray] = {}
        self._table = CohortTable()
        self._stale = 0  # cohorts replaced or torn down since the last compaction
        self._cur = np.zeros(0, dtype=np.int64)
        self._sgen = np.zeros(0, dtype=np.int64)
        self._dirty = True
        self._schedule: list[tuple[float, int, str]] = []
        self._seq = 0
        self.fired: list[tuple[float, str]] = []
        self._resolver = Resolver(self.cluster, scenario.externals, self._classify)
        self._events = EventApplier(self)
        for t in scenario.traffic:
            self.add_traffic(t, base_time=self.start_time)
        for ev in scenario.events:
            if ev.at is not None:
                self._push(self.start_time + float(ev.at), ev.id)

    # ------------------------------------------------------------------ public API

    def advance(self, seconds: float) -> list[FlowLog]:
        """Run `seconds` of simulated time; return the logs of every interval completed."""
        target = self.now + max(0.0, float(seconds))
        out: list[FlowLog] = []
        while True:
            self._fire_due()
            if self.now >= target - 1e-9:
                break
            boundary = self._interval_start + self.flush_interval
            stop = min(target, float(boundary))
            if self._schedule:
                stop = min(stop, max(self._schedule[0][0], self.now))
            if stop > self.now:
                self._generate(self.now, stop, float(boundary))
                self.now = stop
            if self.now >= boundary - 1e-9:
                self.now = float(boundary)
                out.extend(self._close_interval(boundary))
        return out

    def intervals(self) -> Iterator[tuple[int, list[FlowLog]]]:
        """Endless iterator of (interval start, logs), one flush interval per step."""
        while True:
            start = self._interval_start
            logs = self.advance(start + self.flush_interval - self.now)
            yield start, logs

    def flush(self) -> list[FlowLog]:
        """Close the partial current interval at `now` (on shutdown, so nothing is lost)."""
        end = int(self.now)
        if end <= self._interval_start:
            return []
        return self._close_interval(end)

    def fire(self, event_id: str) -> None:
        """Fire an event now (a triggered one, or a timed one ahead of time)."""
        event = self._event(event_id)
        self.fired.append((self.now, event_id))
        self._events.apply(event)

    def schedule(self, event_id: str, at: float) -> None:
        """Fire `event_id` at `at` seconds after the scenario start."""
        self._event(event_id)
        self._push(self.start_time + float(at), event_id)

    def events_available(self) -> list[Event]:
        """Events that only fire when triggered and have not fired yet."""
        done = {eid for _, eid in self.fired}
        return [ev for ev in self.scenario.events if ev.at is None and ev.id not in done]

    def apply_policy(self, policy: Policy) -> None:
        """Create or replace a policy; it applies to connections that start from now on."""
        self.engine.apply_policy(policy)
        self.cluster.policies[policy.key] = policy
        self.invalidate_verdicts()

    def remove_policy(self, key: str) -> None:
        self.engine.remove_policy(key)
        self.cluster.policies.pop(key, None)
        self.invalidate_verdicts()

    def set_tier(self, tier: Tier) -> None:
        """Create or change a tier (order, default action); new connections only."""
        self.engine.set_tier(tier)
        self.cluster.tiers[tier.name] = tier
        self.invalidate_verdicts()

    def add_traffic(self, traffic: Traffic, base_time: float | None = None) -> None:
        """Start a traffic entry (its start/stop are relative to `base_time`, default now)."""
        uid = self._next_uid
        self._next_uid += 1
        self._traffic.append((uid, traffic, self.now if base_time is None else float(base_time)))
        self._dirty = True

    def invalidate_verdicts(self) -> None:
        """Policies changed: new connections get a fresh verdict."""
        self._gen += 1

    def invalidate_endpoints(self) -> None:
        """Pods or services changed: re-resolve traffic, and re-evaluate."""
        self._gen += 1
        self._dirty = True

    # ------------------------------------------------------------------ internals

    def _event(self, event_id: str) -> Event:
        try:
            return self.scenario.event(event_id)
        except KeyError:
            raise UnknownEventError(event_id) from None

    def _push(self, at: float, event_id: str) -> None:
        self._seq += 1
        heapq.heappush(self._schedule, (at, self._seq, event_id))

    def _fire_due(self) -> None:
        while self._schedule and self._schedule[0][0] <= self.now + 1e-9:
            _, _, event_id = heapq.heappop(self._schedule)
            self.fire(event_id)

    def _classify(self, ip: str, hint: str | None, domain: str | None) -> Any:
        return self.engine.classify_ip(ip, namespace_hint=hint, domain=domain)

    def _rebuild_streams(self) -> None:
        self._resolver.reset()
        specs: list[StreamSpec] = []
        for uid, traffic, base in self._traffic:
            try:
                specs.extend(resolve(traffic, uid, base, self._resolver))
            except TrafficError as exc:
                msg = f"traffic {traffic.source} -> {traffic.destination}: {exc}"
                if msg not in self.warnings:
                    self.warnings.append(msg)
        specs.extend(dns_streams(specs, self._resolver))
        fresh: dict[tuple[object, ...], Stream] = {}
        for spec in specs:
            stream = self._streams.get(spec.key)
            if stream is None:
                stream = Stream(spec)
            else:
                stream.spec = spec
            fresh[spec.key] = stream
        term = self._table.cols["term"]
        for key, stream in self._streams.items():
            if key not in fresh:
                for c in stream.cohorts:
                    if c.idx >= 0:
                        term[c.idx] = True
                stream.cohort = None  # its connections end; nothing new starts
                self._stale += 1
        self._streams = fresh
        self._live = list(fresh.values())
        inf = math.inf
        self._arrays = {
            "rate": np.array([s.spec.rate for s in self._live], dtype=np.float64),
            "start": np.array([s.spec.start for s in self._live], dtype=np.float64),
            "stop": np.array([inf if s.spec.stop is None else s.spec.stop for s in self._live]),
            "dur": np.array([s.spec.duration for s in self._live], dtype=np.float64),
        }
        # Each live stream's current cohort row, valid while `_sgen` equals the generation.
        self._cur = np.array([s.cohort.idx if s.cohort else -1 for s in self._live], dtype=np.int64)
        self._sgen = np.array([s.gen if s.cohort else -1 for s in self._live], dtype=np.int64)
        self._dirty = False

    def _verdict(self, stream: Stream) -> Verdict:
        if stream.gen != self._gen or stream.verdict is None:
            spec = stream.spec
            stream.verdict = self.engine.evaluate(
                spec.src.endpoint, spec.dst.endpoint, spec.protocol, spec.port
            )
            stream.gen = self._gen
        return stream.verdict

    def _cohort(self, stream: Stream) -> Cohort:
        verdict = self._verdict(stream)
        cur = stream.cohort
        if cur is None or cur.signature != Cohort.signature_of(verdict):
            if cur is not None:
                self._stale += 1
            cur = Cohort(stream, verdict, self.settings)
            stream.cohort = cur
            stream.cohorts.append(cur)
            self._table.add(cur)
        return cur

    def _generate(self, t0: float, t1: float, end: float) -> None:
        """New connections in [t0, t1) of the interval that ends at `end`."""
        if self._dirty:
            self._rebuild_streams()
        if not self._live:
            return
        a = self._arrays
        lo = np.maximum(t0, a["start"])
        hi = np.minimum(t1, a["stop"])
        span = np.clip(hi - lo, 0.0, None)
        n = self.rng.poisson(a["rate"] * span)
        idx = np.flatnonzero(n)
        if idx.size == 0:
            return
        nn = n[idx]
        p = completion_probability_new(a["dur"][idx], lo[idx], hi[idx], end)
        done = self.rng.binomial(nn, p)
        stale = idx[self._sgen[idx] != self._gen]
        if stale.size:
            live = self._live
            for i in stale.tolist():
                self._cur[i] = self._cohort(live[i]).idx
                self._sgen[i] = self._gen
        rows = self._cur[idx]  # distinct: a cohort belongs to one stream
        cols = self._table.cols
        cols["started"][rows] += nn
        cols["comp_new"][rows] += done
        cols["share_new"][rows] += nn * p

    def _close_interval(self, end: int) -> list[FlowLog]:
        start = self._interval_start
        table = self._table
        if table.n:
            self._account(float(end - start))
        self._agg.counts = {}
        logs = self._agg.logs(start, end)
        self._interval_start = end
        self.stats.count(logs, self._agg.counts)
        if self._stale > 256 and self._stale * 2 > table.n:
            table.compact()
            self._stale = 0
            self._dirty = True  # stream -> row indexes changed
        return logs

    def _account(self, length: float) -> None:
        """Turn the interval's counts into flow-log rows and roll open connections over."""
        rng = self.rng
        t = self._table
        carry_all, started_all = t.col("carry"), t.col("started")
        act = np.flatnonzero((carry_all > 0) | (started_all > 0))
        if act.size == 0:
            return
        carry, started = carry_all[act], started_all[act]
        self.stats.connections += int(started.sum())
        comp_new, share_new = t.col("comp_new")[act], t.col("share_new")[act]
        m, denied, term = t.col("dur")[act], t.col("denied")[act], t.col("term")[act]
        b_out, b_in = t.col("b_out")[act], t.col("b_in")[act]
        p_out, p_in = t.col("p_out")[act], t.col("p_in")[act]
        p_old = completion_probability_open(m, length)
        comp_old = np.where(term, carry, rng.binomial(carry, p_old))
        share = np.where(term, carry, carry * p_old) + share_new
        completed = np.where(denied, started, comp_old + comp_new)
        num_flows = carry + started
        c2s_b = draw_bytes(rng, share, b_out)
        s2c_b = draw_bytes(rng, share, b_in)
        c2s_p = packets_for(c2s_b, share, b_out, p_out, started)
        s2c_p = packets_for(s2c_b, share, b_in, p_in, started)
        if denied.any():
            d = np.flatnonzero(denied)
            tcp = t.col("tcp")[act][d]
            dp = denied_packets(rng, started[d], tcp, t.col("syn")[act][d])
            per_pk = np.where(tcp, float(SYN_BYTES), b_out[d] / np.maximum(p_out[d], 1.0))
            c2s_p[d] = dp
            c2s_b[d] = np.rint(dp * per_pk)
            s2c_p[d] = 0
            s2c_b[d] = 0.0
        # roll over: open connections stay, counters restart
        carry_all[act] = np.where(denied | term, 0, num_flows - completed)
        started_all[act] = 0
        t.col("comp_new")[act] = 0
        t.col("share_new")[act] = 0.0
        c2s_bi = np.rint(c2s_b).astype(np.int64).tolist()
        s2c_bi = np.rint(s2c_b).astype(np.int64).tolist()
        c2s_pl, s2c_pl = c2s_p.tolist(), s2c_p.tolist()
        nf_l, st_l, cp_l = num_flows.tolist(), started.tolist(), completed.tolist()
        old_l = comp_old.tolist()
        term_l = term.tolist()
        agg = self._agg
        cohorts = t.cohorts
        for j, i in enumerate(act.tolist()):
            c = cohorts[i]
            # pending: the verdict under today's policies; a torn-down stream's endpoint is
            # gone, so its last connections keep the verdict they had
            current = c.verdict if term_l[j] else self._verdict(c.stream)
            counters = (c2s_bi[j], s2c_bi[j], c2s_pl[j], s2c_pl[j], nf_l[j], st_l[j], cp_l[j])
            if c.needs_ports:
                rows = port_rows(rng, c, counters, old_l[j])
            else:
                rows = [(None, counters)]
            for tmpl, pending in c.sides(current):
                src_side = tmpl.count_key[0] == "src"
                for port, (cb, sb, cp, sp, n_f, n_s, n_c) in rows:
                    if src_side:
                        agg.add(tmpl, sb, cb, sp, cp, n_f, n_s, n_c, pending, port)
                    else:
                        agg.add(tmpl, cb, sb, cp, sp, n_f, n_s, n_c, pending, port)
