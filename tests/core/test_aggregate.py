"""Aggregation levels, names, nulls and labels as Felix writes them (calico.md §1.1, §1.2, §1.4)."""

from __future__ import annotations

import pytest

from desktopviz.core.aggregate import IntervalAggregator, make_template, proto_name
from desktopviz.core.model import ContainerPort, NetworkSet, Pod
from desktopviz.core.sim_endpoints import external_info, pod_info, subnet_type
from desktopviz.core.sim_traffic import ServiceTarget

ALLOW = ("0|__PROFILE__|__PROFILE__.kns.demo|allow|0",)


def _pod(name: str, ip: str, node: str = "node-1", **labels: str) -> Pod:
    return Pod(
        name=f"client-6b687c8dcb-{name}",
        namespace="demo",
        labels={"app": "client", **labels},
        ip=ip,
        node=node,
        ports=[ContainerPort(80, "TCP", "http")],
        generate_name="client-6b687c8dcb-",
    )


SERVER = Pod(
    name="nginx-86c57db685-h6792",
    namespace="demo",
    labels={"app": "nginx"},
    ip="10.244.1.9",
    node="node-2",
    generate_name="nginx-86c57db685-",
)
SVC = ServiceTarget("demo", "nginx", "http", 80)


def _logs(level: int, members: list[tuple[Pod, int | None]], reporter: str = "src", trace=ALLOW):
    agg = IntervalAggregator()
    for pod, sport in members:
        t = make_template(
            level=level,
            reporter=reporter,
            action="allow",
            src=pod_info(pod),
            dst=pod_info(SERVER),
            protocol="TCP",
            port=80,
            service=SVC,
            enforced=trace,
            all_policies=trace,
        )
        agg.add(t, 100, 50, 3, 2, 1, 1, 1, trace, sport)
    return agg.logs(1000, 1300)


# The docs' worked example: 4 raw flows, 2 client pods of one ReplicaSet, 2 source ports.
FOUR = [
    (_pod("aaaaa", "10.244.0.5"), 40001),
    (_pod("aaaaa", "10.244.0.5"), 40002),
    (_pod("bbbbb", "10.244.0.6"), 40003),
    (_pod("bbbbb", "10.244.0.6"), 40004),
]


@pytest.mark.parametrize(("level", "rows"), [(0, 4), (1, 2), (2, 1), (3, 1)])
def test_levels_merge_as_documented(level, rows):
    logs = _logs(level, FOUR)
    assert len(logs) == rows
    assert sum(log.num_flows for log in logs) == 4
    assert sum(log.bytes_in for log in logs) == 400


def test_level0_keeps_everything():
    log = _logs(0, FOUR[:1])[0]
    assert (log.source_ip, log.source_port, log.source_name) == (
        "10.244.0.5",
        40001,
        "client-6b687c8dcb-aaaaa",
    )
    assert (log.dest_ip, log.dest_port, log.dest_name) == ("10.244.1.9", 80, "nginx-86c57db685-h6792")
    assert log.source_name_aggr == "client-6b687c8dcb-*"
    assert log.dest_service_port == "http" and log.dest_service_port_num == 80


def test_level1_nulls_source_port_only():
    log = _logs(1, FOUR[:2])[0]
    assert log.source_port is None
    assert log.source_ip == "10.244.0.5" and log.source_name == "client-6b687c8dcb-aaaaa"
    assert log.dest_port == 80


def test_level2_nulls_ips_and_names():
    log = _logs(2, FOUR)[0]
    assert log.source_ip is None and log.dest_ip is None and log.source_port is None
    assert log.source_name == "-" and log.dest_name == "-"
    assert log.source_name_aggr == "client-6b687c8dcb-*" and log.dest_name_aggr == "nginx-86c57db685-*"
    assert log.dest_port == 80 and log.dest_service_port == "http"


def test_level3_also_drops_dest_port_and_service_port_name():
    log = _logs(3, FOUR)[0]
    assert log.dest_port is None
    assert log.dest_service_port == "-"
    assert log.dest_service_name == "nginx" and log.dest_service_port_num == 80  # Felix keeps the number


def test_labels_are_intersected_across_members():
    pods = [
        (_pod("aaaaa", "10.244.0.5", version="v1"), None),
        (_pod("bbbbb", "10.244.0.6", version="v2"), None),
    ]
    log = _logs(2, pods)[0]
    labels = log.source_labels["labels"]
    assert "app=client" in labels
    assert not any(lab.startswith("version=") for lab in labels)
    # Felix's IntersectLabels skips projectcalico.org/* keys: the lab's entry shows only pod labels
    assert labels == ["app=client"]


def test_one_log_per_distinct_enforced_trace():
    agg = IntervalAggregator()
    for trace in (ALLOW, ("0|default|demo/default.allow-web|allow|1",)):
        t = make_template(
            level=2,
            reporter="src",
            action="allow",
            src=pod_info(FOUR[0][0]),
            dst=pod_info(SERVER),
            protocol="TCP",
            port=80,
            service=None,
            enforced=trace,
            all_policies=trace,
        )
        agg.add(t, 1, 1, 1, 1, 1, 1, 1, trace)
    logs = agg.logs(0, 15)
    assert len(logs) == 2
    assert {tuple(log.policies["enforced_policies"]) for log in logs} == {
        ALLOW,
        ("0|default|demo/default.allow-web|allow|1",),
    }


def test_nodes_actions_and_reporters_never_merge():
    agg = IntervalAggregator()
    for node, action, reporter in [
        ("node-1", "allow", "src"),
        ("node-2", "allow", "src"),
        ("node-1", "deny", "src"),
    ]:
        pod = _pod("aaaaa", "10.244.0.5", node=node)
        t = make_template(
            level=3,
            reporter=reporter,
            action=action,
            src=pod_info(pod),
            dst=pod_info(SERVER),
            protocol="TCP",
            port=80,
            service=None,
            enforced=ALLOW,
            all_policies=ALLOW,
        )
        agg.add(t, 1, 1, 1, 1, 1, 1, 1, ALLOW)
    logs = agg.logs(0, 15)
    assert len(logs) == 3
    assert {log.host for log in logs} == {"node-1", "node-2"}


def test_no_service_is_dashes_and_null_number():
    agg = IntervalAggregator()
    t = make_template(
        level=2,
        reporter="src",
        action="allow",
        src=pod_info(FOUR[0][0]),
        dst=pod_info(SERVER),
        protocol="TCP",
        port=80,
        service=None,
        enforced=ALLOW,
        all_policies=ALLOW,
    )
    agg.add(t, 1, 1, 1, 1, 1, 1, 1, ALLOW)
    log = agg.logs(0, 15)[0]
    assert (log.dest_service_namespace, log.dest_service_name, log.dest_service_port) == ("-", "-", "-")
    assert log.dest_service_port_num is None


@pytest.mark.parametrize(
    ("proto", "name"),
    [
        ("TCP", "tcp"),
        ("UDP", "udp"),
        ("ICMP", "icmp"),
        ("ICMPv6", "icmp6"),
        ("SCTP", "sctp"),
        ("47", "47"),
        ("4", "ipip"),
    ],
)
def test_proto_names(proto, name):
    assert proto_name(proto) == name


@pytest.mark.parametrize(
    ("ip", "kind"),
    [
        ("10.1.2.3", "pvt"),
        ("172.20.0.1", "pvt"),
        ("192.168.4.4", "pvt"),
        ("8.8.8.8", "pub"),
        ("172.32.0.1", "pub"),
    ],
)
def test_plain_networks_are_pub_or_pvt(ip, kind):
    info = external_info(ip, None, None)
    assert subnet_type(ip) == kind
    assert (info.type, info.name, info.name_aggr, info.namespace) == ("net", "-", kind, "-")


def test_network_set_identity():
    gns = NetworkSet("google-dns", None, {"kind": "dns"}, nets=["8.8.8.0/24"])
    info = external_info("8.8.8.8", None, gns)
    assert (info.type, info.name, info.name_aggr, info.namespace) == ("ns", "google-dns", "google-dns", "-")
    nns = NetworkSet("twilio", "storefront", {}, nets=["54.172.60.0/23"])
    info = external_info("54.172.60.10", "api.twilio.com", nns)
    assert (info.type, info.name_aggr, info.namespace) == ("ns", "twilio", "storefront")


def test_icmp_has_no_ports():
    agg = IntervalAggregator()
    t = make_template(
        level=0,
        reporter="src",
        action="allow",
        src=pod_info(FOUR[0][0]),
        dst=pod_info(SERVER),
        protocol="ICMP",
        port=None,
        service=None,
        enforced=ALLOW,
        all_policies=ALLOW,
    )
    agg.add(t, 1, 1, 1, 1, 1, 1, 1, ALLOW)
    log = agg.logs(0, 15)[0]
    assert log.proto == "icmp" and log.source_port is None and log.dest_port is None
