"""Importing Hubble flows: events become Calico flow logs per interval and reporter, replies
count into their connection, policies named by Cilium become policy hits (docs/import.md)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from desktopviz.core.flowlog import FlowLog
from desktopviz.core.import_hubble_map import aggregated_pod_name, calico_labels, subnet_name
from desktopviz.core.importers import import_files
from desktopviz.core.store import FlowStore

DATA = Path(__file__).parent / "data" / "import"
T0 = 1714564800  # 2024-05-01T12:00:00Z, the fixture's first interval
FRONT, BACK, ROGUE = "frontend-864f4fcdfd-*", "backend-5d9c7b8f6d-*", "rogue-75d986bcfb-*"


def logs(db: Path) -> list[FlowLog]:
    with FlowStore(db, readonly=True) as store:
        return [log for _, log in store.rows(order_by="id")]


def one(found: list[FlowLog], **kw: object) -> FlowLog:
    match = [log for log in found if all(getattr(log, k) == v for k, v in kw.items())]
    assert len(match) == 1, (kw, match)
    return match[0]


@pytest.fixture(scope="module")
def level2(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[FlowLog], object]:
    db = tmp_path_factory.mktemp("hubble") / "h.sqlite"
    summary = import_files([DATA / "hubble.jsonl"], db)
    return logs(db), summary


def test_summary_counts_and_skips(level2) -> None:
    _, summary = level2
    f = summary.files[0]
    assert f.format == "hubble"
    assert (f.records_read, f.imported, f.skipped, f.ignored) == (19, 17, 1, 2)
    assert [str(i) for i in summary.issues] == ["hubble.jsonl:13: not JSON (Expecting value at column 40)"]
    assert set(summary.ignored) == {
        "Hubble lost_events record (not a flow)",
        "L7 event other than an HTTP request",
    }


def test_allowed_connection_seen_at_the_client(level2) -> None:
    found, _ = level2
    log = one(found, reporter="src", source_name_aggr=FRONT, dest_name_aggr=BACK, start_time=T0)
    assert (log.end_time, log.proto, log.dest_port, log.action, log.host) == (
        T0 + 15,
        "tcp",
        8080,
        "allow",
        "kind-worker",
    )
    # level 2: no IPs, no pod names, no source port
    assert (log.source_ip, log.source_name, log.source_port, log.dest_ip, log.dest_name) == (
        None,
        "-",
        None,
        None,
        "-",
    )
    # two connections (two source ports); the replies are counted in, not as flows
    assert (log.num_flows, log.num_flows_started, log.num_flows_completed) == (2, 2, 1)
    assert (log.packets_out, log.packets_in, log.bytes_in, log.bytes_out) == (4, 2, 0, 0)
    assert log.policies["enforced_policies"] == ["0|default|storefront/default.allow-backend|allow|-2"]
    assert log.source_labels == {
        "labels": [
            "app=frontend",
            "fw-zone=dmz",
            "projectcalico.org/namespace=storefront",
            "projectcalico.org/orchestrator=k8s",
            "projectcalico.org/serviceaccount=frontend",
        ]
    }


def test_same_connection_seen_at_the_server(level2) -> None:
    found, _ = level2
    log = one(found, reporter="dst", source_name_aggr=FRONT, dest_name_aggr=BACK)
    assert (log.packets_in, log.packets_out, log.num_flows, log.host) == (1, 1, 1, "kind-worker2")
    assert (log.dest_service_namespace, log.dest_service_name) == ("storefront", "backend")
    assert log.policies["enforced_policies"] == ["0|default|storefront/knp.default.backend-ingress|allow|-2"]


def test_dropped_by_a_named_deny_and_by_default_deny(level2) -> None:
    found, _ = level2
    named = one(found, action="deny", dest_name_aggr=BACK)
    assert (named.reporter, named.source_name_aggr, named.packets_in, named.num_flows) == ("dst", ROGUE, 2, 1)
    assert named.policies["enforced_policies"] == ["0|default|storefront/default.deny-rogue|deny|-2"]
    default = one(found, action="deny", dest_name_aggr=FRONT)
    assert default.policies["enforced_policies"] == ["0|default|default.__NO_MATCH__|deny|-1"]


def test_world_peers_are_pub_or_pvt_networks(level2) -> None:
    found, _ = level2
    pub = one(found, dest_name_aggr="pub")
    assert (pub.dest_type, pub.dest_namespace, pub.dest_name, pub.dest_labels) == ("net", "-", "-", None)
    assert pub.dest_domains == ["example.com"]
    assert (pub.packets_out, pub.packets_in) == (1, 1)  # the SYN-ACK from the world is a reply
    pvt = one(found, dest_name_aggr="pvt")
    assert (pvt.proto, pvt.dest_port) == ("udp", 53)


def test_node_itself_is_a_host_endpoint(level2) -> None:
    found, _ = level2
    log = one(found, source_type="hep")
    assert (log.source_name_aggr, log.source_namespace) == ("kind-worker2", "-")
    assert log.source_labels == {"labels": ["kubernetes.io/hostname=kind-worker2", "kubernetes.io/os=linux"]}


def test_audit_verdict_is_allowed_now_denied_pending(level2) -> None:
    found, _ = level2
    log = one(found, dest_port=9090)
    assert log.action == "allow"
    assert log.policies["enforced_policies"] == []
    assert log.policies["pending_policies"] == ["0|default|storefront/default.deny-rogue|deny|-2"]


def test_later_events_start_a_new_interval(level2) -> None:
    found, _ = level2
    later = one(found, start_time=T0 + 15)
    assert (later.num_flows, later.packets_out, later.source_name_aggr) == (1, 1, FRONT)


def test_level_0_keeps_the_five_tuple(tmp_path: Path) -> None:
    db = tmp_path / "h0.sqlite"
    import_files([DATA / "hubble.jsonl"], db, level=0)
    found = logs(db)
    conn1 = one(found, reporter="src", source_port=40000)
    assert (conn1.source_ip, conn1.source_name, conn1.dest_ip, conn1.dest_name) == (
        "10.244.1.5",
        "frontend-864f4fcdfd-2hhv4",
        "10.244.2.9",
        "backend-5d9c7b8f6d-x7k2p",
    )
    assert (conn1.packets_out, conn1.packets_in, conn1.num_flows_completed) == (3, 2, 1)
    assert one(found, source_port=40001).packets_in == 0


def test_longer_interval_merges_events(tmp_path: Path) -> None:
    db = tmp_path / "h60.sqlite"
    import_files([DATA / "hubble.jsonl"], db, interval=60)
    log = one(logs(db), reporter="src", dest_name_aggr=BACK)
    assert (log.start_time, log.end_time, log.num_flows) == (T0, T0 + 60, 3)


def test_gzip_and_reimport(tmp_path: Path) -> None:
    packed = tmp_path / "hubble-export"
    packed.write_bytes(gzip.compress((DATA / "hubble.jsonl").read_bytes()))
    db = tmp_path / "h.sqlite"
    first = import_files([packed], db)
    again = import_files([DATA / "hubble.jsonl"], db)
    assert first.total("flow_logs") == 9
    assert (again.total("flow_logs"), again.total("duplicates")) == (0, 17)


def test_bare_flow_objects_and_pretty_printed_documents(tmp_path: Path) -> None:
    events = [
        json.loads(line) for line in (DATA / "hubble.jsonl").read_text().splitlines() if line.endswith("}")
    ]
    flows = [e["flow"] for e in events if "flow" in e]
    doc = tmp_path / "flows.json"
    doc.write_text(json.dumps(flows, indent=2))
    summary = import_files([doc], tmp_path / "h.sqlite")
    assert (summary.files[0].format, summary.total("imported"), summary.issue_count) == ("hubble", 16, 0)


def test_malformed_events_name_the_field(tmp_path: Path) -> None:
    lines = [
        {"flow": {"time": "2024-05-01T12:00:01Z", "IP": {"source": "1.1.1.1", "destination": "10.0.0.1"}}},
        {"flow": {"verdict": "MAYBE"}},
        {"flow": {"verdict": "FORWARDED", "time": "noon", "IP": {"source": "1.1.1.1", "destination": "10.0.0.1"},
                  "l4": {"TCP": {"source_port": 1, "destination_port": 2}}, "traffic_direction": "INGRESS"}},
    ]  # fmt: skip
    path = tmp_path / "bad.json"
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    summary = import_files([path], tmp_path / "h.sqlite", fmt="hubble")
    assert [str(i) for i in summary.issues] == [
        "bad.json:1: verdict: missing",
        "bad.json:2: verdict: unknown ('MAYBE')",
        "bad.json:3: time: not a time ('noon')",
    ]


@pytest.mark.parametrize(
    ("pod", "workloads", "expected"),
    [
        ("frontend-864f4fcdfd-2hhv4", [{"name": "frontend", "kind": "Deployment"}], "frontend-864f4fcdfd-*"),
        ("web-0", [{"name": "web", "kind": "StatefulSet"}], "web-*"),
        ("fluentd-x7k2p", [{"name": "fluentd", "kind": "DaemonSet"}], "fluentd-*"),
        ("frontend-864f4fcdfd-2hhv4", None, "frontend-864f4fcdfd-*"),  # older Hubble: by the name's shape
        ("debug-shell", None, "debug-shell"),  # a bare pod keeps its name
    ],
)
def test_aggregated_names_are_generate_name_star(pod: str, workloads: object, expected: str) -> None:
    assert aggregated_pod_name(pod, workloads) == expected


def test_labels_and_subnets() -> None:
    assert calico_labels(
        ["k8s:app=x", "reserved:world", "cidr:1.2.3.4/32", "k8s:io.cilium.k8s.policy.cluster=c"], "", False
    ) == ("app=x",)
    assert [
        subnet_name(ip)
        for ip in ("10.1.2.3", "172.20.0.1", "192.168.1.1", "8.8.8.8", "fd00::1", "172.32.0.1")
    ] == [
        "pvt",
        "pvt",
        "pvt",
        "pub",
        "pub",
        "pub",
    ]


def test_icmp_and_events_without_a_direction(tmp_path: Path) -> None:
    """ICMP has no ports (null, as Calico); without traffic_direction the local endpoint reports."""
    local = {
        "ID": 12,
        "namespace": "dev",
        "pod_name": "pinger-6d4cf56db6-x7k2p",
        "labels": ["k8s:app=pinger"],
    }
    echo = {
        "time": "2024-05-01T12:00:01Z",
        "verdict": "FORWARDED",
        "IP": {"source": "10.244.1.9", "destination": "8.8.8.8"},
        "l4": {"ICMPv4": {"type": 8}},
        "source": local,
        "destination": {"identity": 2, "labels": ["reserved:world"]},
        "node_name": "node-a",
    }
    reply = dict(echo, IP={"source": "8.8.8.8", "destination": "10.244.1.9"}, l4={"ICMPv4": {"type": 0}},
                 source=echo["destination"], destination=local, is_reply=True)  # fmt: skip
    path = tmp_path / "icmp.json"
    path.write_text(json.dumps(echo) + "\n" + json.dumps(reply) + "\n")
    import_files([path], tmp_path / "h.sqlite", level=0)
    (log,) = logs(tmp_path / "h.sqlite")
    assert (log.proto, log.source_port, log.dest_port, log.reporter) == ("icmp", None, None, "src")
    assert (log.source_name_aggr, log.dest_name_aggr, log.packets_out, log.packets_in) == (
        "pinger-6d4cf56db6-*",
        "pub",
        1,
        1,
    )
    assert log.source_labels == {
        "labels": ["app=pinger", "projectcalico.org/namespace=dev", "projectcalico.org/orchestrator=k8s"]
    }


@pytest.mark.parametrize("junk", [[1], {"a": 1}, True, -1.5, "x", None, 10**30, ""])
def test_hostile_values_never_stop_an_import(tmp_path: Path, junk: object) -> None:
    """Any JSON value in any field of a Hubble flow gives a counted, ignored or reported event."""
    first = json.loads((DATA / "hubble.jsonl").read_text().splitlines()[0])
    flow = first["flow"]
    docs = []
    for name in flow:
        docs.append({"flow": dict(flow, **{name: junk}), "node_name": "n"})
    for name in ("source", "destination", "l4", "IP"):
        for key in list(flow[name]):
            part = dict(flow[name], **{key: junk})
            docs.append({"flow": dict(flow, **{name: part})})
    path = tmp_path / "junk.jsonl"
    path.write_text("".join(json.dumps(d) + "\n" for d in docs))
    summary = import_files([path], tmp_path / "h.sqlite", fmt="hubble")
    f = summary.files[0]
    assert f.status == "done"
    assert f.imported + f.skipped + f.ignored + f.duplicates == f.records_read == len(docs)


def test_events_another_import_stored_meanwhile_fail_the_file_not_the_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two imports of one Hubble file at once: the second found the events new, then the
    first stored them. Its intervals cannot be split by event after aggregation, so the file
    fails with an issue saying so, and nothing is stored twice."""
    from desktopviz.core import import_db
    from desktopviz.core.importers import import_files
    from desktopviz.core.store import FlowStore

    db = tmp_path / "h.sqlite"
    first = import_files([DATA / "hubble.jsonl"], db)
    with FlowStore(db, readonly=True) as store:
        stored = store.count()
    assert stored and first.total("imported")

    def stale(self, keys):  # noqa: ANN001, ANN202 - what unseen said before the other import committed
        self._pending.update(keys)
        return [True] * len(keys)

    monkeypatch.setattr(import_db.ImportWriter, "unseen", stale)
    second = import_files([DATA / "hubble.jsonl"], db)
    assert [f.status for f in second.files] == ["failed"]
    assert any("another import stored some of these records meanwhile" in str(i) for i in second.issues)
    with FlowStore(db, readonly=True) as store:
        assert store.count() == stored
