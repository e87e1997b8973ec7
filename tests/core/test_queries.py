"""What the views read from the store: visualizer aggregates (no double counting of a
connection seen by both reporters), Policy Board metrics per policy and rule, time series,
browser pages and filter values. Expected figures are computed here from the hand-made logs."""

from __future__ import annotations

import random
from collections import defaultdict
from pathlib import Path

import pytest

import desktopviz.core.queries as qmod
import desktopviz.core.queries_policy as pmod
import desktopviz.core.queries_series as smod
from desktopviz.core.flowlog import FlowLog, labels_field
from desktopviz.core.queries import (
    QueryError,
    count_rows,
    distinct_values,
    flow_aggregates,
    flow_rows,
    policy_metrics,
    segments,
    time_series,
)
from desktopviz.core.store import FlowStore

T0 = 1_700_000_000 // 86400 * 86400  # midnight UTC
EP = {
    "frontend": ("storefront", "frontend-864f4fcdfd-*", "wep", {"app": "frontend", "fw-zone": "dmz"}),
    "backend": ("storefront", "backend-6b687c8dcb-*", "wep", {"app": "backend", "fw-zone": "restricted"}),
    "logging": ("storefront", "logging-5d4f7b9c8-*", "wep", {"app": "logging", "fw-zone": "restricted"}),
    "ms1": ("storefront", "microservice1-7c9f8-*", "wep", {"app": "microservice1", "fw-zone": "trusted"}),
    "rogue": ("dev", "rogue-5f6b7-*", "wep", {"app": "rogue"}),
    "pub": ("-", "pub", "net", None),
    "twilio": ("-", "twilio", "ns", {"kind": "saas"}),
}
ALLOW_TRUSTED = "0|default|storefront/default.trusted|allow|1"
PROFILE = "1|__PROFILE__|__PROFILE__.kns.storefront|allow|0"


def log(
    src: str,
    dst: str,
    reporter: str,
    action: str,
    nf: int,
    start: int = T0,
    trace: list[str] | None = None,
    pending: list[str] | None = None,
    pkts: tuple[int, int] = (0, 0),
    byts: tuple[int, int] = (0, 0),
) -> FlowLog:
    s, d = EP[src], EP[dst]
    trace = trace if trace is not None else [f"0|default|storefront/default.trusted|{action}|0"]
    return FlowLog(
        start_time=start,
        end_time=start + 300,
        source_ip=None,
        source_name="-",
        source_name_aggr=s[1],
        source_namespace=s[0],
        source_type=s[2],
        source_port=None,
        source_labels=labels_field(s[3]),
        dest_ip=None,
        dest_name="-",
        dest_name_aggr=d[1],
        dest_namespace=d[0],
        dest_type=d[2],
        dest_port=8080,
        dest_labels=labels_field(d[3]),
        proto="tcp",
        action=action,
        reporter=reporter,
        policies={"enforced_policies": trace, "pending_policies": pending if pending is not None else trace},
        num_flows=nf,
        packets_in=pkts[0],
        packets_out=pkts[1],
        bytes_in=byts[0],
        bytes_out=byts[1],
    )


def scene() -> list[FlowLog]:
    """Six pairs of endpoints; the comment says what really happened to the connections."""
    return [
        # 10 connections frontend -> backend, allowed at both ends; src sent 100 pkts, got 80 back.
        log("frontend", "backend", "src", "allow", 10, pkts=(80, 100), byts=(8000, 10000)),
        log("frontend", "backend", "dst", "allow", 10, pkts=(100, 80), byts=(10000, 8000)),
        # 5 connections rogue -> backend: rogue has no egress policy, backend's ingress denies.
        log("rogue", "backend", "src", "allow", 5, pkts=(0, 5), trace=[PROFILE]),
        log("rogue", "backend", "dst", "deny", 5, pkts=(5, 0)),
        # 7 from the internet: only the destination is a Calico endpoint.
        log("pub", "frontend", "dst", "allow", 7, pkts=(70, 60)),
        # 3 to Twilio: only the source is a Calico endpoint.
        log("frontend", "twilio", "src", "allow", 3, pkts=(20, 30)),
        # 2 rogue -> logging denied by rogue's egress.
        log("rogue", "logging", "src", "deny", 2, pkts=(0, 2)),
        # frontend -> microservice1: 10 attempts, 8 allowed and 2 denied by the destination.
        log("frontend", "ms1", "src", "allow", 10),
        log("frontend", "ms1", "dst", "allow", 8),
        log("frontend", "ms1", "dst", "deny", 2),
    ]


@pytest.fixture
def store(tmp_path: Path) -> FlowStore:
    s = FlowStore(tmp_path / "q.sqlite")
    yield s
    s.close()


def by_pair(aggs: list) -> dict[tuple[str, str, str], object]:
    return {(a.source_name_aggr.split("-")[0], a.dest_name_aggr.split("-")[0], a.action): a for a in aggs}


def test_aggregates_count_each_connection_once(store: FlowStore) -> None:
    store.insert(scene())
    got = by_pair(flow_aggregates(store))
    assert {k: a.num_flows for k, a in got.items()} == {
        ("frontend", "backend", "allow"): 10,
        ("rogue", "backend", "deny"): 5,
        ("pub", "frontend", "allow"): 7,
        ("frontend", "twilio", "allow"): 3,
        ("rogue", "logging", "deny"): 2,
        ("frontend", "microservice1", "allow"): 8,
        ("frontend", "microservice1", "deny"): 2,
    }
    assert sum(a.num_flows for a in got.values()) == 10 + 5 + 7 + 3 + 2 + 10
    fb = got[("frontend", "backend", "allow")]
    assert (fb.packets_out, fb.packets_in, fb.bytes_out, fb.bytes_in) == (100, 80, 10000, 8000)
    assert fb.denied_by is None and fb.packets == 180 and fb.connections == 10


def test_denied_by_source_or_destination(store: FlowStore) -> None:
    store.insert(scene())
    got = by_pair(flow_aggregates(store, action="deny"))
    assert set(got) == {
        ("rogue", "backend", "deny"),
        ("rogue", "logging", "deny"),
        ("frontend", "microservice1", "deny"),
    }
    assert got[("rogue", "backend", "deny")].denied_by == "dst"
    assert got[("rogue", "backend", "deny")].denied_at_dst == 5
    assert got[("rogue", "logging", "deny")].denied_by == "src"
    assert got[("rogue", "logging", "deny")].denied_at_src == 2
    # The rogue pod's attempts on the backend are not "allowed", although its own side allowed them.
    assert ("rogue", "backend", "allow") not in by_pair(flow_aggregates(store, action="allow"))


def test_single_reporter_view(store: FlowStore) -> None:
    store.insert(scene())
    src = by_pair(flow_aggregates(store, reporter="src"))
    assert src[("rogue", "backend", "allow")].num_flows == 5
    assert src[("frontend", "microservice1", "allow")].num_flows == 10
    assert ("pub", "frontend", "allow") not in src


def test_aggregate_filters(store: FlowStore) -> None:
    store.insert(scene())
    assert set(by_pair(flow_aggregates(store, namespaces=["dev"]))) == {
        ("rogue", "backend", "deny"),
        ("rogue", "logging", "deny"),
    }
    assert set(by_pair(flow_aggregates(store, source_types=["net"]))) == {("pub", "frontend", "allow")}
    assert set(by_pair(flow_aggregates(store, dest_types=["ns", "net"]))) == {("frontend", "twilio", "allow")}
    assert set(by_pair(flow_aggregates(store, names=["twilio"]))) == {("frontend", "twilio", "allow")}
    to_zone = by_pair(flow_aggregates(store, dest_labels="fw-zone == 'restricted'"))
    assert set(to_zone) == {
        ("frontend", "backend", "allow"),
        ("rogue", "backend", "deny"),
        ("rogue", "logging", "deny"),
    }
    # An endpoint without labels (a plain network) has no app label.
    assert set(by_pair(flow_aggregates(store, source_labels="!has(app)"))) == {("pub", "frontend", "allow")}


def test_metrics_match_hand_counts(store: FlowStore) -> None:
    rng = random.Random(7)
    traces = [
        ["0|security|security.pass-all|pass|-1", "1|default|storefront/default.trusted|allow|0"],
        ["0|security|security.pass-all|pass|-1", "1|default|storefront/default.trusted|deny|-1"],
        ["0|security|security.quarantine|deny|2"],
        ["0|default|storefront/default.trusted|allow|3", "1|__PROFILE__|__PROFILE__.kns.storefront|allow|0"],
    ]
    logs = []
    for _ in range(400):
        t = rng.choice(traces)
        pend = rng.choice(traces)
        action = "deny" if t[-1].split("|")[3] == "deny" else "allow"
        start = T0 - 2 * 86400 + rng.randrange(0, 5 * 86400)
        logs.append(
            log("frontend", "backend", rng.choice(["src", "dst"]), action, rng.randint(1, 9), start, t, pend,
                pkts=(rng.randint(0, 99), rng.randint(0, 99)), byts=(rng.randint(0, 9999), rng.randint(0, 9999)))
        )  # fmt: skip
    store.insert(logs[:200])
    store.insert(logs[200:])
    for since, until in [
        (None, None),
        (T0 - 3600 * 5 + 17, T0 + 86400 + 3600 * 3 - 5),
        (T0 + 100, T0 + 1000),
        (T0 + 600, T0 + 2 * 3600 + 2400),  # 5-minute-aligned, not hour-aligned
    ]:
        expected: dict = defaultdict(int)
        for lg in logs:
            if (since is not None and lg.start_time < since) or (
                until is not None and lg.start_time >= until
            ):
                continue
            for kind in ("enforced", "pending"):
                for entry in lg.policies[f"{kind}_policies"]:
                    _, _, name, act, rule = entry.split("|")
                    direction = "egress" if lg.reporter == "src" else "ingress"
                    expected[(kind, name, direction, int(rule), act, "c")] += lg.num_flows
                    expected[(kind, name, direction, int(rule), act, "p")] += lg.packets_in
                    expected[(kind, name, direction, int(rule), act, "b")] += lg.bytes_out
        got: dict = defaultdict(int)
        for name, pm in policy_metrics(store, since, until).items():
            for (direction, rule), rm in pm.rules.items():
                for kind in ("enforced", "pending"):
                    hm = getattr(rm, kind)
                    for act, part in (("allow", hm.allowed), ("deny", hm.denied), ("pass", hm.passed)):
                        if part.logs:
                            got[(kind, name, direction, rule, act, "c")] += part.connections
                            got[(kind, name, direction, rule, act, "p")] += part.packets_in
                            got[(kind, name, direction, rule, act, "b")] += part.bytes_out
        assert dict(got) == dict(expected)


def test_policy_totals_and_pass(store: FlowStore) -> None:
    store.insert(
        [
            log("frontend", "backend", "dst", "allow", 4, trace=["0|security|security.p|pass|-1", ALLOW_TRUSTED]),
            log("frontend", "backend", "src", "deny", 3, trace=["0|security|security.p|pass|-1",
                                                                "1|default|storefront/default.trusted|deny|-1"]),
        ]
    )  # fmt: skip
    m = policy_metrics(store)
    p = m["security.p"]
    assert (p.tier, p.namespace) == ("security", None)
    assert (
        p.enforced.connections == 7
        and p.enforced.passed.connections == 7
        and p.enforced.denied.connections == 0
    )
    assert p.rule("ingress", -1).enforced.passed.connections == 4
    assert p.rule("egress", -1).enforced.passed.connections == 3
    t = m["storefront/default.trusted"]
    assert t.namespace == "storefront"
    assert (t.enforced.allowed.connections, t.enforced.denied.connections) == (4, 3)
    assert t.rule("ingress", 1).enforced.allowed.connections == 4
    assert t.rule("egress", -1).enforced.denied.connections == 3
    assert t.rule("egress", 1) is None
    assert set(policy_metrics(store, policies=["security.p"])) == {"security.p"}


def test_rollups_agree_with_raw_logs_over_any_range(store: FlowStore) -> None:
    rng = random.Random(3)
    logs = []
    pairs = [("frontend", "backend"), ("rogue", "backend"), ("pub", "frontend"), ("frontend", "twilio")]
    for _ in range(600):
        s, d = rng.choice(pairs)
        start = T0 - 86400 + rng.randrange(0, 3 * 86400) // 300 * 300
        logs.append(
            log(s, d, rng.choice(["src", "dst"]), rng.choice(["allow", "deny"]), rng.randint(1, 5), start)
        )
    store.insert(logs)
    for since, until in [
        (None, None),
        (T0 - 7, T0 + 86400 + 3599),
        (T0 + 3600, T0 + 7200),
        (T0 + 10, T0 + 20),
        (T0 + 300, T0 + 3600 + 2700),  # 5-minute-aligned, not hour-aligned
        (T0 - 3300, T0 + 86400 + 3600 + 600),
    ]:
        for rep in ("src", "dst"):
            want = sum(
                lg.num_flows
                for lg in logs
                if lg.reporter == rep
                and (since is None or lg.start_time >= since)
                and (until is None or lg.start_time < until)
            )
            assert sum(a.num_flows for a in flow_aggregates(store, since, until, reporter=rep)) == want
    lo, hi = T0 - 86400 + 600, T0 + 2 * 86400 - 3600
    assert time_series(store, lo, hi, 900) == time_series(store, lo, hi, 900, "1 = 1")  # rollup == raw


def test_segments_cut_days_hours_and_edges() -> None:
    assert segments(T0 - 10, T0 + 86400 + 3600 + 5) == [
        (None, T0 - 10, T0),
        (86400, T0, T0 + 86400),
        (3600, T0 + 86400, T0 + 86400 + 3600),
        (None, T0 + 86400 + 3600, T0 + 86400 + 3605),
    ]
    # no 5-minute level: the pieces at the ends are raw, up to an hour each
    assert segments(T0 + 5, T0 + 7500) == [(None, T0 + 5, T0 + 3600), (3600, T0 + 3600, T0 + 7200),
                                           (None, T0 + 7200, T0 + 7500)]  # fmt: skip
    assert segments(T0 + 5, T0 + 900) == [(None, T0 + 5, T0 + 900)]
    assert segments(T0 + 5, T0 + 900, (300,)) == [(None, T0 + 5, T0 + 300), (300, T0 + 300, T0 + 900)]
    assert segments(T0 + 5, T0 + 200) == [(None, T0 + 5, T0 + 200)]


def test_time_series(store: FlowStore) -> None:
    store.insert(scene())
    store.insert([log("rogue", "logging", "src", "deny", 4, start=T0 + 7200)])
    ts = time_series(store, T0, T0 + 3 * 3600, 3600)
    assert [b.start for b in ts] == [T0, T0 + 3600, T0 + 7200]
    assert (ts[0].allowed_logs, ts[0].denied_logs) == (7, 3)
    assert (ts[0].allowed_flows, ts[0].denied_flows) == (10 + 10 + 5 + 7 + 3 + 10 + 8, 5 + 2 + 2)
    assert (ts[1].allowed_logs, ts[1].denied_logs) == (0, 0)
    assert (ts[2].denied_logs, ts[2].denied_flows) == (1, 4)
    filtered = time_series(store, T0, T0 + 3 * 3600, 3600, "reporter = ?", ["src"])
    assert (filtered[0].allowed_logs, filtered[0].denied_logs) == (4, 1)
    minutes = time_series(store, T0, T0 + 600, 300)
    assert [b.allowed_logs for b in minutes] == [7, 0]


def test_flow_rows_pages_and_counts(store: FlowStore) -> None:
    store.insert([log("frontend", "backend", "src", "allow", 1, start=T0 + 300 * i) for i in range(5)])
    store.insert([log("rogue", "backend", "dst", "deny", 1, start=T0 + 300 * i) for i in range(5)])
    page = flow_rows(store, "action = ? AND source_namespace = ?", ["deny", "dev"], limit=2)
    assert [r.log.start_time for r in page] == [T0 + 1200, T0 + 900]
    assert all(r.log.action == "deny" for r in page)
    page2 = flow_rows(store, "action = ?", ["deny"], limit=2, offset=2)
    assert [r.log.start_time for r in page2] == [T0 + 600, T0 + 300]
    asc = flow_rows(store, order_by="id", descending=False, limit=3)
    assert [r.id for r in asc] == [1, 2, 3]
    assert count_rows(store) == 10
    assert count_rows(store, "reporter = ?", ["dst"]) == 5
    with pytest.raises(QueryError, match="order"):
        flow_rows(store, order_by="start_time; DROP TABLE flow_logs")


def test_distinct_values(store: FlowStore) -> None:
    store.insert(scene())
    assert distinct_values(store, "source_namespace") == ["-", "dev", "storefront"]
    assert distinct_values(store, "dest_type") == ["ns", "wep"]
    assert distinct_values(store, "source_type") == ["net", "wep"]
    assert distinct_values(store, "proto") == ["tcp"]
    assert distinct_values(store, "dest_port") == [8080]
    with pytest.raises(QueryError):
        distinct_values(store, "policies")


def test_empty_store(store: FlowStore) -> None:
    assert flow_aggregates(store) == []
    assert policy_metrics(store) == {}
    assert [b.allowed_logs for b in time_series(store, T0, T0 + 600, 300)] == [0, 0]


def test_rollups_give_the_raw_answer(store: FlowStore, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(11)
    names = list(EP)
    logs = []
    for _ in range(800):
        s, d = rng.sample(names, 2)
        start = T0 - 86400 + rng.randrange(0, 3 * 86400) // 60 * 60
        act = rng.choice(["allow", "allow", "deny"])
        trace = [
            "0|security|security.p|pass|-1",
            f"1|default|storefront/default.z|{act}|{rng.randint(-1, 2)}",
        ]
        logs.append(
            log(
                s,
                d,
                rng.choice(["src", "dst"]),
                act,
                rng.randint(1, 5),
                start,
                trace,
                pkts=(rng.randint(0, 9), 3),
            )
        )
    store.insert(logs)
    ranges = [
        (None, None),
        (T0 - 4000, T0 + 86400 + 7000),
        (T0 + 310, T0 + 3 * 3600 + 1190),
        # not hour-aligned: whole 5-minute buckets (once a rollup level) and less at the ends
        (T0 + 900, T0 + 2 * 3600 + 2700),
        (T0 + 600, T0 + 3000),  # inside one hour
        (T0 + 86400 - 1500, T0 + 86400 + 3600 + 1200),  # across a day's end, mid-hour
        (T0 - 86400 + 3300, T0 + 86400 + 300),
    ]
    queries = [
        lambda a, b: flow_aggregates(store, a, b),
        lambda a, b: flow_aggregates(store, a, b, dest_labels="has(fw-zone)", action="deny"),
        lambda a, b: flow_aggregates(store, a, b, namespaces=["dev"], source_types=["wep"]),
        lambda a, b: policy_metrics(store, a, b),
    ]
    with_rollups = [q(a, b) for q in queries for a, b in ranges]
    n = len(ranges)
    assert all(with_rollups[:n]) and all(with_rollups[3 * n :])  # every range has logs and hits
    assert all(with_rollups[i * n + j] for i in (1, 2) for j in range(3))  # and the filtered ones, mostly

    def raw_only(lo: int, hi: int, levels: object = ()) -> list:
        return [(None, lo, hi)] if lo < hi else []

    bounded = [(a, b) for a, b in ranges if a is not None and b is not None]
    series = [time_series(store, a, b, bs) for a, b in bounded for bs in (300, 900, 3600)]
    monkeypatch.setattr(qmod, "segments", raw_only)
    monkeypatch.setattr(pmod, "segments", raw_only)
    monkeypatch.setattr(smod, "segments", raw_only)
    assert [q(a, b) for q in queries for a, b in ranges] == with_rollups
    assert [time_series(store, a, b, bs) for a, b in bounded for bs in (300, 900, 3600)] == series
