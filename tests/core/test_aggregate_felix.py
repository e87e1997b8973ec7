"""Flow-log fields as Felix writes them, one fact of calico.md §1 per test (aggregation, names,
placeholders, traces), on small hand-built flows fed to the aggregator."""

from __future__ import annotations

import pytest

from desktopviz.core.aggregate import IntervalAggregator, make_template
from desktopviz.core.model import ContainerPort, NetworkSet, Pod, Workload
from desktopviz.core.scenario_pods import workload_pod
from desktopviz.core.sim_endpoints import (
    EndpointInfo,
    external_info,
    netset_for_domain,
    pod_info,
    subnet_type,
)
from desktopviz.core.sim_traffic import ServiceTarget

PROFILE = ("0|__PROFILE__|__PROFILE__.kns.demo|allow|0",)
TRUSTED = ("0|default|demo/default.trusted|allow|0",)
STAGED = ("0|default|demo/default.staged:lockdown|deny|-1",)


def _pod(suffix: str, ip: str, **labels: str) -> Pod:
    return Pod(
        name=f"client-6b687c8dcb-{suffix}",
        namespace="demo",
        labels={"app": "client", **labels},
        ip=ip,
        node="node-1",
        ports=[ContainerPort(80, "TCP", "http")],
        generate_name="client-6b687c8dcb-",
    )


SERVER = pod_info(
    Pod(
        "nginx-86c57db685-h6792",
        "demo",
        {"app": "nginx"},
        ip="10.244.1.9",
        node="node-2",
        generate_name="nginx-86c57db685-",
    )
)


def _template(src: EndpointInfo, dst: EndpointInfo = SERVER, *, level: int = 2, trace=PROFILE, **kw):
    args = {
        "level": level,
        "reporter": "src",
        "action": "allow",
        "src": src,
        "dst": dst,
        "protocol": "TCP",
        "port": 80,
        "service": None,
        "enforced": trace,
        "all_policies": trace,
    }
    args.update(kw)
    return make_template(**args)


def test_a_flow_split_by_enforced_trace_repeats_the_whole_flows_figures_in_each_log():
    # §1.3: one log per distinct enforced trace; Felix's ToFlowLogs copies the flow's stats,
    # labels and (single, latest) pending trace into each of them
    agg = IntervalAggregator()
    a = pod_info(_pod("aaaaa", "10.244.0.5", version="v1"))
    b = pod_info(_pod("bbbbb", "10.244.0.6", version="v2"))
    agg.add(_template(a, trace=PROFILE), 100, 40, 3, 2, 2, 2, 1, PROFILE)
    agg.add(_template(b, trace=TRUSTED), 10, 4, 1, 1, 1, 1, 1, STAGED)
    logs = agg.logs(0, 300)
    assert sorted(tuple(log.policies["enforced_policies"]) for log in logs) == sorted([PROFILE, TRUSTED])
    for log in logs:
        assert (log.bytes_in, log.bytes_out, log.packets_in, log.packets_out) == (110, 44, 4, 3)
        assert (log.num_flows, log.num_flows_started, log.num_flows_completed) == (3, 3, 2)
        assert log.source_labels == {"labels": ["app=client"]}
        assert log.policies["pending_policies"] == list(STAGED)


def test_logs_of_different_flows_are_not_merged_by_the_split():
    agg = IntervalAggregator()
    a = pod_info(_pod("aaaaa", "10.244.0.5"))
    agg.add(_template(a, reporter="src"), 1, 2, 1, 1, 1, 1, 1, PROFILE)
    agg.add(_template(a, reporter="dst", trace=TRUSTED), 5, 6, 1, 1, 1, 1, 1, TRUSTED)
    by_reporter = {log.reporter: log for log in agg.logs(0, 15)}
    assert (by_reporter["src"].bytes_in, by_reporter["dst"].bytes_in) == (1, 5)


def test_pending_trace_is_the_latest_evaluation_not_a_union():
    # Felix replaceFlowPendingPolicySet: the last pending trace computed replaces the others
    agg = IntervalAggregator()
    a = pod_info(_pod("aaaaa", "10.244.0.5"))
    b = pod_info(_pod("bbbbb", "10.244.0.6"))
    agg.add(_template(a), 1, 1, 1, 1, 1, 1, 1, PROFILE)
    agg.add(_template(b), 1, 1, 1, 1, 1, 1, 1, STAGED)
    (log,) = agg.logs(0, 15)
    assert log.policies["pending_policies"] == list(STAGED)
    assert log.policies["enforced_policies"] == list(PROFILE)


def _external(ip: str, netset: NetworkSet | None = None) -> EndpointInfo:
    return external_info(ip, None, netset)


PUBLIC = NetworkSet("public-ip-range", None, {"type": "public"}, nets=["0.0.0.0/1"])


@pytest.mark.parametrize(("level", "rows"), [(1, 2), (2, 1)])
def test_addresses_of_one_network_set_merge_from_level_2(level, rows):
    # §1.4: level 2 merges "IPs in the same NetworkSet"; level 1 keeps each IP
    agg = IntervalAggregator()
    client = pod_info(_pod("aaaaa", "10.244.0.5"))
    for ip in ("8.8.8.8", "9.9.9.9"):
        agg.add(_template(client, _external(ip, PUBLIC), level=level, port=443), 1, 1, 1, 1, 1, 1, 1, PROFILE)
    logs = agg.logs(0, 15)
    assert len(logs) == rows
    for log in logs:
        assert (log.dest_type, log.dest_name_aggr, log.dest_namespace) == ("ns", "public-ip-range", "-")
        assert log.dest_name == ("public-ip-range" if level < 2 else "-")
        assert (log.dest_ip is None) == (level >= 2)
        assert log.dest_labels == {"labels": ["type=public"]}


def test_plain_addresses_merge_into_pub_and_pvt_at_level_2():
    agg = IntervalAggregator()
    client = pod_info(_pod("aaaaa", "10.244.0.5"))
    for ip in ("8.8.8.8", "1.1.1.1", "10.9.9.9", "192.168.1.1"):
        agg.add(_template(client, _external(ip), port=443), 1, 1, 1, 1, 1, 1, 1, PROFILE)
    logs = agg.logs(0, 15)
    assert sorted((log.dest_name_aggr, log.num_flows) for log in logs) == [("pub", 2), ("pvt", 2)]
    for log in logs:
        assert (log.dest_type, log.dest_name, log.dest_namespace, log.dest_ip) == ("net", "-", "-", None)
        assert log.dest_labels == {"labels": []}


@pytest.mark.parametrize(
    ("ip", "kind"),
    [
        ("10.0.0.0", "pvt"),
        ("172.31.255.255", "pvt"),
        ("172.15.255.255", "pub"),
        ("192.169.0.1", "pub"),
        ("100.64.0.1", "pub"),  # carrier-grade NAT is not one of the three ranges
        ("127.0.0.1", "pub"),
        ("fd00::1", "pub"),  # IPv6, even private, counts as pub (§1.2)
        ("2001:db8::1", "pub"),
    ],
)
def test_only_the_three_rfc1918_ranges_are_pvt(ip, kind):
    assert subnet_type(ip) == kind


def test_network_set_precedence_for_a_domain():
    # §1.2: the workload's own namespace first, then global sets, then other namespaces
    from desktopviz.core.model import Cluster

    cluster = Cluster()
    sets = [
        NetworkSet("api", "other", {}, domains=["api.example.com"]),
        NetworkSet("api-global", None, {}, domains=["*.example.com"]),
        NetworkSet("api-own", "shop", {}, domains=["api.example.com"]),
    ]
    for s in sets:
        cluster.network_sets[s.key] = s
    assert netset_for_domain(cluster, "api.example.com", "shop").name == "api-own"
    assert netset_for_domain(cluster, "api.example.com", "ops").name == "api-global"
    del cluster.network_sets[sets[1].key]
    assert netset_for_domain(cluster, "api.example.com", "ops").name == "api"


@pytest.mark.parametrize(
    ("kind", "name", "aggr"),
    [
        ("Deployment", "nginx", "nginx-{h}-*"),
        ("ReplicaSet", "nginx-rs", "nginx-rs-*"),
        ("DaemonSet", "fluentd", "fluentd-*"),
        ("StatefulSet", "db", "db-*"),
    ],
)
def test_pods_aggregate_to_their_generate_name_and_a_star(kind, name, aggr):
    # Felix: name_aggr = generateName + "*" (endpoint.go GetMetadata); Kubernetes gives
    # Deployment pods "<deploy>-<hash>-", the others "<controller>-"
    w = Workload(kind, name, "demo", 2, {"app": name})
    pod = workload_pod(w, 1, "node-1")
    pod.ip = "10.244.0.7"
    info = pod_info(pod)
    h = pod.labels.get("pod-template-hash", "")
    assert info.name_aggr == aggr.format(h=h) and info.name == pod.name and info.type == "wep"
    if kind == "StatefulSet":
        assert pod.name == "db-1"


def test_a_bare_pod_aggregates_to_its_own_name():
    info = pod_info(Pod("debug", "demo", {"run": "debug"}, ip="10.244.0.8", node="node-1"))
    assert (info.name, info.name_aggr) == ("debug", "debug")


def test_labels_written_are_the_endpoints_own_without_calico_ones():
    # §2.7 labels Calico adds are filtered by Felix (utils.IntersectLabels); the lab shows
    # "app=backend, fw-zone=restricted, pod-template-hash=6cfbdd589f"
    pod = _pod("aaaaa", "10.244.0.5", **{"fw-zone": "dmz"})
    pod.labels["projectcalico.org/custom"] = "x"
    agg = IntervalAggregator()
    agg.add(_template(pod_info(pod), level=1), 1, 1, 1, 1, 1, 1, 1, PROFILE)
    (log,) = agg.logs(0, 15)
    assert log.source_labels == {"labels": ["app=client", "fw-zone=dmz"]}
    assert log.dest_labels == {"labels": ["app=nginx"]}
    ns = NetworkSet("twilio", "demo", {"external": "twilio"}, nets=["54.172.60.0/23"])
    assert external_info("54.172.60.10", None, ns).labels == frozenset({"external=twilio"})


def test_domains_are_kept_up_to_the_limit_of_five():
    agg = IntervalAggregator()
    client = pod_info(_pod("aaaaa", "10.244.0.5"))
    for i in range(7):
        t = _template(client, _external("8.8.8.8"), port=443, domains=(f"d{i}.example.com",))
        agg.add(t, 1, 1, 1, 1, 1, 1, 1, PROFILE)
    (log,) = agg.logs(0, 15)
    assert len(log.dest_domains) == 5


@pytest.mark.parametrize("level", [0, 1, 2])
def test_icmp_has_null_ports_at_every_level(level):
    agg = IntervalAggregator()
    t = _template(pod_info(_pod("aaaaa", "10.244.0.5")), level=level, protocol="ICMP", port=None)
    agg.add(t, 1, 1, 1, 1, 1, 1, 1, PROFILE)
    (log,) = agg.logs(0, 15)
    assert (log.proto, log.source_port, log.dest_port) == ("icmp", None, None)


@pytest.mark.parametrize(
    ("level", "sport", "dport"), [(0, 0, 0), (1, None, 0), (2, None, 0), (3, None, None)]
)
def test_other_portless_protocols_write_port_zero_unless_aggregated(level, sport, dport):
    # Felix's JSON nulls a port only for ICMP (proto 1) or when aggregated; GRE has 0 ports
    agg = IntervalAggregator()
    t = _template(pod_info(_pod("aaaaa", "10.244.0.5")), level=level, protocol="47", port=None)
    agg.add(t, 1, 1, 1, 1, 1, 1, 1, PROFILE)
    (log,) = agg.logs(0, 15)
    assert (log.proto, log.source_port, log.dest_port) == ("47", sport, dport)


def test_features_off_fields_as_felix_writes_them():
    agg = IntervalAggregator()
    agg.add(_template(pod_info(_pod("aaaaa", "10.244.0.5"))), 1, 1, 1, 1, 1, 1, 1, PROFILE)
    d = agg.logs(0, 15)[0].to_dict()
    assert (d["process_name"], d["num_process_names"], d["process_id"], d["num_process_ids"]) == (
        "-",
        0,
        "-",
        0,
    )
    assert (d["process_args"], d["num_process_args"]) == (["-"], 0)
    assert d["original_source_ips"] is None and d["num_original_source_ips"] == 0
    assert d["nat_outgoing_ports"] is None and d["dest_domains"] is None
    assert d["http_requests_allowed_in"] == d["http_requests_denied_in"] == 0
    assert d["tcp_mean_smooth_rtt"] == 0


def test_unnamed_service_port_is_a_dash_with_its_number():
    agg = IntervalAggregator()
    svc = ServiceTarget("demo", "nginx", "-", 8080)
    agg.add(_template(pod_info(_pod("aaaaa", "10.244.0.5")), service=svc), 1, 1, 1, 1, 1, 1, 1, PROFILE)
    (log,) = agg.logs(0, 15)
    assert (log.dest_service_namespace, log.dest_service_name, log.dest_service_port) == (
        "demo",
        "nginx",
        "-",
    )
    assert log.dest_service_port_num == 8080


@pytest.mark.parametrize(("level", "rows"), [(0, 4), (1, 3), (2, 2), (3, 1)])
def test_the_docs_worked_example_of_four_raw_flows(level, rows):
    # §1.4: 4 raw flows -> level 0: 4 logs, 1: 3, 2: 2, 3: 1 (client-* -> nginx-*, 7 in / 11 out)
    a = pod_info(_pod("aaaaa", "10.244.0.5"))
    b = pod_info(_pod("bbbbb", "10.244.0.6"))
    raw = [(a, 40001, 80, 2, 3), (a, 40002, 80, 1, 2), (b, 40003, 80, 2, 3), (a, 40004, 443, 2, 3)]
    agg = IntervalAggregator()
    for src, sport, dport, p_in, p_out in raw:
        t = _template(src, level=level, port=dport)
        agg.add(t, 10 * p_in, 10 * p_out, p_in, p_out, 1, 1, 1, PROFILE, sport)
    logs = agg.logs(0, 300)
    assert len(logs) == rows
    assert (sum(g.packets_in for g in logs), sum(g.packets_out for g in logs)) == (7, 11)
    assert {g.dest_port for g in logs} == ({None} if level == 3 else {80, 443})
    if level >= 2:
        assert {(g.source_name_aggr, g.dest_name_aggr) for g in logs} == {
            ("client-6b687c8dcb-*", "nginx-86c57db685-*")
        }
