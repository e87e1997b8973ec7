"""Simulator behaviour with a hand-built cluster and a stand-in engine (test_simulator_fakes)."""

from __future__ import annotations

import pytest
from test_simulator_fakes import FakeEngine, small_scenario

from desktopviz.core.model import (
    ContainerPort,
    EndpointRef,
    Event,
    EventAction,
    Pod,
    Policy,
    Service,
    ServicePort,
    Traffic,
    Workload,
)
from desktopviz.core.simulator import Simulator, UnknownEventError

START = 1_767_225_600


def _sim(seed: int = 7, **settings):
    sc = small_scenario(**settings)
    return Simulator(sc, seed=seed, engine=FakeEngine(sc.cluster))


def _key(log):
    return tuple(log.to_dict().items()).__repr__()


def test_same_seed_same_logs_and_other_seed_differs():
    a, b, c = _sim(1).advance(120), _sim(1).advance(120), _sim(2).advance(120)
    assert [_key(x) for x in a] == [_key(x) for x in b]
    assert [_key(x) for x in a] != [_key(x) for x in c]


def test_intervals_follow_the_flush_interval_on_the_simulated_clock():
    sim = _sim()
    assert sim.now == START
    logs = sim.advance(40)
    assert sim.now == START + 40
    assert {(log.start_time, log.end_time) for log in logs} == {(START, START + 15), (START + 15, START + 30)}
    assert sim.flush() and all(log.end_time == START + 40 for log in sim.flush() or [])
    it = _sim().intervals()
    start, first = next(it)
    assert start == START and first and all(log.end_time == START + 15 for log in first)


def test_flush_writes_the_partial_interval():
    sim = _sim()
    sim.advance(20)
    partial = sim.flush()
    assert partial and {(log.start_time, log.end_time) for log in partial} == {(START + 15, START + 20)}
    assert sim.flush() == []


def test_pod_to_service_gives_src_and_dst_logs_with_service_fields():
    logs = _sim().advance(15)
    web = [log for log in logs if log.dest_service_name == "backend"]
    assert {log.reporter for log in web} == {"src", "dst"}
    for log in web:
        assert log.dest_service_namespace == "storefront"
        assert log.dest_service_port == "web" and log.dest_service_port_num == 80
        assert log.dest_port == 8080  # the named targetPort "http" on the pod
        assert log.proto == "tcp" and log.action == "allow"
        # allowed flows aggregate at level 2 by default
        assert log.source_ip is None and log.source_name == "-" and log.source_port is None
        assert log.source_name_aggr == "frontend-5d8f7c9b4-*" and log.dest_name_aggr == "backend-5d8f7c9b4-*"
    src = [log for log in web if log.reporter == "src"]
    # the server's node sees the Service only for clients on the same node (the ClusterIP
    # is translated on the client's node; Felix reads the service from a NATed conntrack entry)
    dst = [log for log in logs if log.reporter == "dst" and log.dest_name_aggr.startswith("backend-")]
    dst = [log for log in dst if log.source_name_aggr.startswith("frontend-")]
    assert {(log.host, log.dest_service_name) for log in dst} == {
        ("node-1", "backend"),
        ("node-1", "-"),
        ("node-2", "backend"),
        ("node-2", "-"),
    }
    for log in dst:
        if log.dest_service_name == "-":
            assert (log.dest_service_namespace, log.dest_service_port) == ("-", "-")
            assert log.dest_service_port_num is None and log.dest_port == 8080
    # host = the reporting endpoint's node; both nodes have frontends and backends
    assert {log.host for log in src} == {"node-1", "node-2"} == {log.host for log in dst}
    assert all(
        log.policies["enforced_policies"] == ["0|__PROFILE__|__PROFILE__.kns.storefront|allow|0"]
        for log in src
    )
    assert all(
        log.policies["enforced_policies"] == ["0|default|storefront/default.trusted|allow|0"] for log in dst
    )
    # the same connections seen from both sides: src out == dst in
    assert sum(log.bytes_out for log in src) == sum(log.bytes_in for log in dst)
    assert sum(log.packets_in for log in src) == sum(log.packets_out for log in dst)
    assert sum(log.num_flows_started for log in src) == sum(log.num_flows_started for log in dst)
    assert all(log.process_name == "/usr/bin/curl" and log.num_process_names == 1 for log in src)
    assert all(log.process_name == "-" for log in dst)


def test_rogue_event_denied_at_destination():
    sim = _sim()
    before = sim.advance(30)
    assert not any(log.source_name_aggr.startswith("rogue-") for log in before)
    assert [e.id for e in sim.events_available()] == ["deploy-rogue"]
    sim.fire("deploy-rogue")
    assert sim.events_available() == []
    logs = sim.advance(15)
    rogue = [log for log in logs if log.source_name_aggr.startswith("rogue-")]
    dst = [log for log in rogue if log.reporter == "dst"]
    src = [log for log in rogue if log.reporter == "src"]
    assert dst and src
    for log in dst:
        assert log.action == "deny"
        assert log.policies["enforced_policies"] == ["0|default|storefront/default.trusted|deny|2"]
        assert log.packets_in > 0 and log.packets_out == 0 and log.bytes_out == 0
        # denied flows aggregate at level 1: names and IPs kept, source port null
        assert log.source_port is None and log.source_ip is not None and log.source_name != "-"
    for log in src:  # the client's egress allowed it; replies never came
        assert log.action == "allow"
        assert log.packets_out > 0 and log.packets_in == 0 and log.bytes_in == 0
    assert sim.stats.denied == len(dst)


def test_scheduled_event_fires_at_its_time():
    sim = _sim()
    sim.schedule("deploy-rogue", 30)
    logs = sim.advance(60)
    first = min(log.start_time for log in logs if log.source_name_aggr.startswith("rogue-"))
    assert first == START + 30
    with pytest.raises(UnknownEventError):
        sim.fire("nope")
    with pytest.raises(KeyError):
        sim.schedule("nope", 5)


def test_externals_network_set_domain_and_public_net():
    logs = _sim().advance(60)
    twilio = [log for log in logs if log.dest_name_aggr == "twilio"]
    assert twilio and all(log.reporter == "src" for log in twilio)  # nobody reports for the outside
    for log in twilio:
        assert (log.dest_type, log.dest_namespace, log.dest_domains) == (
            "ns",
            "storefront",
            ["api.twilio.com"],
        )
        assert log.dest_port == 443
    pub = [log for log in logs if log.dest_type == "net"]
    assert pub and all(
        log.dest_name_aggr == "pub" and log.dest_name == "-" and log.dest_namespace == "-" for log in pub
    )
    assert all(log.dest_labels == {"labels": []} for log in pub)


def test_connection_counts_are_consistent_over_time():
    sim = _sim()
    logs = sim.advance(600)
    web = [log for log in logs if log.dest_service_name == "backend" and log.reporter == "src"]
    started = sum(log.num_flows_started for log in web)
    completed = sum(log.num_flows_completed for log in web)
    assert 20 * 600 * 0.9 < started < 20 * 600 * 1.1  # rate 20/s
    assert completed <= started and started - completed < 50
    for log in web:
        assert log.num_flows >= log.num_flows_started and log.num_flows >= log.num_flows_completed
    mean_out = sum(log.bytes_out for log in web) / started
    assert 360 < mean_out < 440  # 400 bytes per connection


def test_long_connections_span_intervals():
    sc = small_scenario()
    sc.traffic = [
        Traffic(
            EndpointRef("workload", "storefront/frontend"),
            EndpointRef("workload", "storefront/backend"),
            port=8080,
            rate=2.0,
            duration=120.0,
            bytes_out=12000,
        )
    ]
    sim = Simulator(sc, seed=3, engine=FakeEngine(sc.cluster))
    logs = [log for log in sim.advance(300) if log.reporter == "src"]
    later = [log for log in logs if log.start_time >= START + 60]
    assert any(log.num_flows > log.num_flows_started for log in later)
    assert sum(log.num_flows_completed for log in logs) < sum(log.num_flows_started for log in logs)
    assert all(log.bytes_out > 0 for log in later)


def test_policy_change_applies_to_new_connections_only():
    sc = small_scenario()
    sc.traffic = [
        Traffic(
            EndpointRef("workload", "storefront/frontend"),
            EndpointRef("workload", "storefront/backend"),
            port=8080,
            rate=1.0,
            duration=600.0,
        )
    ]
    engine = FakeEngine(sc.cluster)
    sim = Simulator(sc, seed=5, engine=engine)
    sim.advance(60)
    sim.apply_policy(Policy("NetworkPolicy", "lockdown", "storefront"))
    logs = [log for log in sim.advance(15) if log.reporter == "dst"]
    traces = {tuple(log.policies["enforced_policies"]) for log in logs}
    # old connections keep the allow trace, new ones are denied: one log per distinct trace
    assert ("0|default|storefront/default.trusted|allow|0",) in traces
    assert ("0|default|storefront/default.lockdown|deny|-1",) in traces
    old = [log for log in logs if log.action == "allow"]
    # ...and their pending trace shows what would happen now
    assert all(
        log.policies["pending_policies"] == ["0|default|storefront/default.lockdown|deny|-1"] for log in old
    )
    assert all(log.num_flows_started == 0 for log in old)
    sim.remove_policy("storefront/default.lockdown")
    assert engine.applied == ["storefront/default.lockdown", "-storefront/default.lockdown"]


def test_thousands_of_connections_are_a_handful_of_rows_and_few_engine_calls():
    sc = small_scenario()
    sc.traffic = [
        Traffic(
            EndpointRef("workload", "storefront/frontend"),
            EndpointRef("workload", "storefront/backend"),
            port=8080,
            rate=20000.0,
            duration=0.1,
        )
    ]
    engine = FakeEngine(sc.cluster)
    sim = Simulator(sc, seed=1, engine=engine)
    logs = sim.advance(15)
    assert sum(log.num_flows_started for log in logs if log.reporter == "src") > 250_000
    assert len(logs) <= 8  # 2 reporters x 2 nodes x (src node, dst node) combinations at level 2
    assert engine.calls == 6  # one evaluation per (client pod, server pod)


def test_level0_rows_carry_ephemeral_source_ports():
    sc = small_scenario(aggregation_allowed=0)
    sc.traffic = sc.traffic[:1]
    sim = Simulator(sc, seed=2, engine=FakeEngine(sc.cluster))
    logs = sim.advance(15)
    src = [log for log in logs if log.reporter == "src"]
    assert len(src) > 20
    assert all(32768 <= log.source_port <= 60999 for log in src)
    assert all(log.source_ip and log.dest_ip and log.source_name != "-" for log in src)
    ports = {(log.source_ip, log.source_port) for log in src}
    dst_ports = {(log.source_ip, log.source_port) for log in logs if log.reporter == "dst"}
    assert ports == dst_ports  # both ends see the same 5-tuples


def test_dns_lookups_go_to_kube_dns_first():
    sc = small_scenario()
    dns = Workload("Deployment", "coredns", "kube-system", 1, {"k8s-app": "kube-dns"})
    pod = Pod(
        "coredns-7db6d8ff4d-x2x2x",
        "kube-system",
        {"k8s-app": "kube-dns"},
        "10.244.0.3",
        "node-1",
        ports=[ContainerPort(53, "UDP", "dns")],
        generate_name="coredns-7db6d8ff4d-",
        workload="kube-system/coredns",
    )
    dns.pods.append(pod)
    sc.cluster.workloads[dns.key] = dns
    sc.cluster.pods[pod.key] = pod
    sc.cluster.services["kube-system/kube-dns"] = Service(
        "kube-dns",
        "kube-system",
        {"k8s-app": "kube-dns"},
        "10.96.0.10",
        [ServicePort(53, "dns", "UDP", "dns")],
    )
    sc.traffic[1].dns = True  # backend -> twilio looks the name up
    sim = Simulator(sc, seed=4, engine=FakeEngine(sc.cluster))
    logs = sim.advance(60)
    lookups = [log for log in logs if log.dest_service_name == "kube-dns"]
    assert lookups and all(log.proto == "udp" and log.dest_port == 53 for log in lookups)
    assert {log.source_name_aggr for log in lookups} == {"backend-5d8f7c9b4-*"}
    assert all(
        log.dest_service_port == "dns" and log.dest_service_namespace == "kube-system" for log in lookups
    )
    lookups_started = sum(log.num_flows_started for log in lookups if log.reporter == "src")
    calls = sum(
        log.num_flows_started for log in logs if log.dest_name_aggr == "twilio" and log.reporter == "src"
    )
    assert 0.6 * calls < lookups_started < 1.5 * calls + 5


def test_delete_and_scale_events_change_who_talks():
    sc = small_scenario()
    scale = EventAction("scale", target="Deployment storefront/frontend", replicas=1)
    kill = EventAction("delete", target="Deployment storefront/backend")
    sc.events += [Event("scale-down", "Scale", None, [scale]), Event("kill-backend", "Delete", None, [kill])]
    sim = Simulator(sc, seed=4, engine=FakeEngine(sc.cluster))
    sim.advance(15)
    sim.fire("scale-down")
    logs = sim.advance(15)
    assert len([p for p in sc.cluster.pods if "/frontend-" in p]) == 1
    # the pod left on node-1 still opens connections; the one removed from node-2 opens none
    fe = [log for log in logs if log.reporter == "src" and log.source_name_aggr.startswith("frontend")]
    assert {log.host for log in fe if log.num_flows_started} == {"node-1"}
    sim.fire("kill-backend")
    logs = sim.advance(30)
    assert not any(log.num_flows_started for log in logs if log.dest_name_aggr.startswith("backend"))
    assert not any(
        log.source_name_aggr.startswith("backend") and log.start_time >= START + 45 for log in logs
    )


def test_stats_count_every_log():
    sim = _sim()
    sim.fire("deploy-rogue")
    logs = sim.advance(45) + sim.flush()
    s = sim.stats
    assert s.logs == len(logs)
    assert s.allowed == sum(1 for log in logs if log.action == "allow")
    assert s.denied == sum(1 for log in logs if log.action == "deny") > 0
    assert s.by_reporter["src"] + s.by_reporter["dst"] == s.logs


def test_records_are_complete_flow_logs():
    from desktopviz.core.flowlog import FIELDS, FlowLog

    for log in _sim().advance(30):
        d = log.to_dict()
        assert tuple(d) == FIELDS
        assert FlowLog(**d) == log


def test_real_engine_runs_are_deterministic(storefront_path):
    from desktopviz.core.scenario import load_scenario

    def run(seed: int) -> list[str]:
        sim = Simulator(load_scenario(storefront_path), seed=seed)
        sim.schedule("deploy-rogue", 30)
        return [log.to_json() for log in sim.advance(90)]

    assert run(11) == run(11)


def test_deleting_a_pod_ends_its_open_connections():
    sc = small_scenario()
    sc.traffic = [
        Traffic(
            EndpointRef("workload", "storefront/frontend"),
            EndpointRef("workload", "storefront/backend"),
            port=8080,
            rate=1.0,
            duration=3600.0,
        )
    ]
    kill = EventAction("delete", target="Deployment storefront/backend")
    sc.events.append(Event("kill-backend", "Delete", None, [kill]))
    sim = Simulator(sc, seed=4, engine=FakeEngine(sc.cluster))
    sim.advance(60)
    sim.fire("kill-backend")
    last = [log for log in sim.advance(15) if log.reporter == "src"]
    # the open connections are reported once more, as completed, and then never again
    assert last and all(
        log.num_flows == log.num_flows_completed and log.num_flows_started == 0 for log in last
    )
    assert sim.advance(30) == []


def test_denied_at_the_source_has_no_dst_log():
    sc = small_scenario()
    for pod in sc.cluster.pods.values():
        if pod.workload == "storefront/frontend":
            pod.labels["app"] = "exfil"
    sim = Simulator(sc, seed=4, engine=FakeEngine(sc.cluster))
    logs = [log for log in sim.advance(30) if log.dest_service_name == "backend"]
    assert logs and {(log.reporter, log.action) for log in logs} == {("src", "deny")}
    for log in logs:
        assert log.policies["enforced_policies"] == ["0|security|security.block-exfil|deny|0"]
        assert log.packets_out > 0 and log.packets_in == 0 and log.bytes_in == 0
        assert log.source_name != "-" and log.source_port is None  # denied: level 1


def _hep_scenario():
    from desktopviz.core.model import HostEndpoint

    sc = small_scenario()
    sc.cluster.host_endpoints["node-1-eth0"] = HostEndpoint(
        "node-1-eth0", "node-1", "eth0", ["10.0.1.10"], {"host": "node-1"}
    )
    sc.traffic = [
        Traffic(
            EndpointRef("hostendpoint", "node-1-eth0"),
            EndpointRef("workload", "storefront/backend"),
            port=8080,
            protocol="TCP",
            rate=2.0,
        )
    ]
    return sc


def test_host_endpoint_is_named_after_its_host_and_reports_only_when_enabled():
    # calico.md §1.2: HEP name = HEP name, aggregated name = host, namespace "-";
    # §2.12/§1.5: flowLogsEnableHostEndpoint defaults to false, so only the pod reports
    sc = _hep_scenario()
    logs = Simulator(sc, seed=4, engine=FakeEngine(sc.cluster)).advance(30)
    assert logs and {log.reporter for log in logs} == {"dst"}
    for log in logs:
        assert (log.source_type, log.source_name_aggr, log.source_namespace) == ("hep", "node-1", "-")
        assert log.source_labels == {"labels": ["host=node-1"]}
        assert log.dest_type == "wep" and log.host in {"node-1", "node-2"}
    sc = _hep_scenario()
    sc.settings.flow_logs_enable_host_endpoint = True
    logs = Simulator(sc, seed=4, engine=FakeEngine(sc.cluster)).advance(30)
    src = [log for log in logs if log.reporter == "src"]
    assert src and all(
        (log.source_type, log.source_name_aggr, log.source_namespace, log.host)
        == ("hep", "node-1", "-", "node-1")
        for log in src
    )
    assert {log.reporter for log in logs} == {"src", "dst"}
