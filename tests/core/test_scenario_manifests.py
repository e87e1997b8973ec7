"""Real manifests load unchanged; unmodelled kinds are skipped; pods are named and placed the
way Kubernetes would; Calico rules come out in canonical form; the Scenario document's
traffic and events are read as written."""

from __future__ import annotations

import ipaddress
import shutil
from pathlib import Path

import pytest

from desktopviz.core.model import EndpointRef, Policy, Scenario, Workload
from desktopviz.core.scenario import load_scenario

DATA = Path(__file__).parent / "data" / "scenarios" / "manifests"


@pytest.fixture(scope="module")
def shop() -> Scenario:
    return load_scenario(DATA)


def test_deployment_with_extra_fields(shop):
    w = shop.cluster.workloads["shop/shop"]
    assert (w.kind, w.replicas, w.service_account) == ("Deployment", 3, "shop")
    assert w.labels == {"app": "shop", "version": "v2"}
    assert [(p.port, p.protocol, p.name) for p in w.ports] == [
        (8080, "TCP", "http"),
        (9090, "TCP", "metrics"),
    ]
    assert len(w.pods) == 3 and all(p.key in shop.cluster.pods for p in w.pods)
    assert len({p.generate_name for p in w.pods}) == 1
    assert len({p.name for p in w.pods}) == 3


def test_other_kinds_are_skipped_and_lists_unpacked(shop):
    assert sorted((d.kind, d.name) for d in shop.skipped) == [
        ("networking.k8s.io/v1/Ingress", "shop"),
        ("v1/ConfigMap", "shop-config"),
    ]
    assert {"shop/shop", "shop/db"} <= set(shop.cluster.services)
    assert shop.skipped[0].location.line > 0


def test_files_in_events_folder_are_not_loaded(shop):
    assert "shop/canary" not in shop.cluster.workloads
    assert all("events" not in Path(f).parts for f in shop.files)


def test_namespace_labels_and_built_ins(shop):
    ns = shop.cluster.namespaces
    assert ns["shop"].labels == {"env": "prod", "kubernetes.io/metadata.name": "shop"}
    assert ns["default"].labels == {"kubernetes.io/metadata.name": "default"}
    assert "kube-system" in ns
    tier = shop.cluster.tiers["default"]
    assert (tier.order, tier.default_action) == (1_000_000, "Deny")


def test_pod_manifest_keeps_its_name_ip_and_node(shop):
    pod = shop.cluster.pods["shop/debug"]
    assert (pod.ip, pod.node, pod.generate_name, pod.workload) == ("10.244.9.9", "worker-2", None, None)
    assert pod.name_aggr == "debug"
    (job,) = [p for p in shop.cluster.pods.values() if p.generate_name == "job-"]
    assert job.name.startswith("job-") and len(job.name) == len("job-") + 5
    assert job.name_aggr == "job-*"


def test_statefulset_and_daemonset_pods(shop):
    db = shop.cluster.workloads["shop/db"]
    assert [p.name for p in db.pods] == ["db-0", "db-1"]
    assert {p.generate_name for p in db.pods} == {"db-"}
    assert db.pods[1].labels["statefulset.kubernetes.io/pod-name"] == "db-1"
    agent = shop.cluster.workloads["kube-system/agent"]
    assert sorted(p.node for p in agent.pods) == ["worker-1", "worker-2"]
    assert all(p.name_aggr == "agent-*" for p in agent.pods)


def test_pod_ips_are_unique_and_in_the_node_blocks(shop):
    pods = list(shop.cluster.pods.values())
    ips = [p.ip for p in pods]
    assert len(set(ips)) == len(ips)
    net = ipaddress.ip_network("10.244.0.0/16")
    assert all(ipaddress.ip_address(ip) in net for ip in ips)
    blocks: dict[str, set[str]] = {}
    for p in pods:
        if p.key != "shop/debug":
            blocks.setdefault(p.node, set()).add(str(ipaddress.ip_network(p.ip + "/24", strict=False)))
    assert sorted(blocks) == ["worker-1", "worker-2"]
    assert all(len(b) == 1 for b in blocks.values())
    assert blocks["worker-1"] != blocks["worker-2"]


def test_services_get_cluster_ips(shop):
    svc = shop.cluster.services
    assert svc["shop/db"].cluster_ip == "10.96.7.7"
    ip = ipaddress.ip_address(svc["shop/shop"].cluster_ip)
    assert ip in ipaddress.ip_network("10.96.0.0/16")
    assert [(p.port, p.target_port, p.name) for p in svc["shop/shop"].ports] == [
        (80, "http", "http"),
        (9090, 9090, "metrics"),
    ]


def test_names_are_stable_across_loads(tmp_path, shop):
    again = load_scenario(DATA)
    assert [(p.key, p.ip, p.node) for p in again.cluster.pods.values()] == [
        (p.key, p.ip, p.node) for p in shop.cluster.pods.values()
    ]
    copy = tmp_path / "copy"
    shutil.copytree(DATA, copy)
    moved = load_scenario(copy)
    assert sorted(moved.cluster.pods) == sorted(shop.cluster.pods)
    assert moved.cluster.services["shop/shop"].cluster_ip == shop.cluster.services["shop/shop"].cluster_ip


def test_calico_rules_are_canonical(shop):
    p: Policy = shop.cluster.policies["shop/default.allow-shop"]
    assert (p.name, p.tier, p.types) == ("allow-shop", "default", ["Ingress", "Egress"])
    (rule,) = p.ingress
    assert (rule.action, rule.protocol) == ("Allow", "TCP")
    assert rule.source.nets == ["10.244.9.9/32"]
    assert rule.destination.ports == [8080, "9000:9100", "http", 443]
    assert rule.raw["action"] == "allow"
    assert rule.location.line == 12 and rule.location.path == "spec.ingress[0]"
    assert p.egress[0].protocol == 17
    assert p.raw["metadata"]["name"] == "allow-shop"


def test_global_policy_types_tiers_and_staged(shop):
    g = shop.cluster.policies["ops.egress-only"]
    assert (g.order, g.types, g.namespace_selector, g.namespace) == (5.5, ["Egress"], "env == 'prod'", None)
    assert g.egress[0].destination.namespace_selector == "global()"
    assert (g.egress[1].icmp.type, g.egress[1].icmp.code) == (8, 0)
    assert g.egress[2].destination.domains == ["*.example.com"]
    staged = shop.cluster.policies["ops.staged:lockdown"]
    assert (staged.staged, staged.staged_action, staged.types) == (True, "Delete", ["Ingress"])
    assert shop.cluster.tiers["ops"].default_action == "Pass"


def test_kubernetes_policies_are_converted(shop):
    knp = shop.cluster.policies["shop/knp.default.db"]
    assert (knp.kind, knp.order, knp.tier) == ("KubernetesNetworkPolicy", 1000.0, "default")
    sknp = shop.cluster.policies["shop/staged:knp.default.deny-all"]
    assert sknp.kind == "StagedKubernetesNetworkPolicy" and sknp.types == ["Ingress", "Egress"]


def test_network_sets_and_host_endpoints(shop):
    ns = shop.cluster.network_sets["partners"]
    assert (ns.namespace, ns.nets, ns.domains) == (
        None,
        ["192.0.2.7/32", "2001:db8::/32"],
        ["partner.example.com"],
    )
    hep = shop.cluster.host_endpoints["worker-1-eth0"]
    assert (hep.node, hep.interface_name, hep.expected_ips) == ("worker-1", "eth0", ["192.168.1.11"])
    assert hep.ports[0].name == "ssh"


def test_settings(shop):
    st = shop.settings
    assert (st.nodes, st.flush_interval, st.aggregation_allowed, st.aggregation_denied) == (
        ["worker-1", "worker-2"],
        300,
        3,
        0,
    )
    assert (st.seed, st.start_time, st.service_cidr) == (42, 1_700_000_000, "10.96.0.0/16")
    assert shop.name == "shop-test"


def test_traffic_is_read_as_written(shop):
    t = shop.traffic
    assert (t[0].source, t[0].destination) == (
        EndpointRef("workload", "shop/shop"),
        EndpointRef("service", "shop/shop"),
    )
    assert (
        t[0].port,
        t[0].protocol,
        t[0].rate,
        t[0].duration,
        t[0].bytes_out,
        t[0].reply_ratio,
        t[0].stop,
    ) == (
        80,
        "TCP",
        2.5,
        90.0,
        100,
        3.0,
        3600.0,
    )
    assert (t[1].source.kind, t[1].destination.value, t[1].port) == ("workload", "shop/db", 5432)
    assert t[2].port == 5432  # named container port of the StatefulSet
    assert (t[3].source, t[3].protocol, t[3].port) == (EndpointRef("external", "partner"), "TCP", 22)
    assert (t[4].dns, t[4].process_name, t[4].destination.kind) == (True, "/app", "domain")
    assert (t[5].protocol, t[5].port, t[5].source.kind) == ("ICMP", None, "hostendpoint")
    assert t[0].location.path == "spec.traffic[0]"


def test_events(shop):
    canary = shop.event("canary")
    assert (canary.name, canary.at) == ("Deploy the canary", 600.0)
    deploy, scale = canary.actions
    (w,) = deploy.objects
    assert isinstance(w, Workload) and w.key == "shop/canary" and len(w.pods) == 1
    assert w.pods[0].ip not in {p.ip for p in shop.cluster.pods.values()}
    assert (deploy.traffic[0].source.value, deploy.traffic[0].start) == ("shop/canary", 30.0)
    assert (scale.kind, scale.target, scale.replicas) == ("scale", "Deployment shop/shop", 5)
    tighten = shop.event("tighten")
    assert tighten.at is None
    apply, delete_policy, delete = tighten.actions
    assert isinstance(apply.objects[0], Policy) and apply.objects[0].ingress == []
    assert (delete_policy.kind, delete_policy.target) == ("delete-policy", "ops.egress-only")
    assert (delete.kind, delete.target) == ("delete", "Deployment shop/canary")


def test_event_objects_are_only_visible_to_their_event(tmp_path):
    scenario = (
        (DATA / "scenario.yaml")
        .read_text()
        .replace(
            "    - {from: {hostendpoint: worker-1-eth0}",
            "    - {from: {workload: shop/canary}, to: {ip: 192.0.2.7}, port: 443}\n    - {from: {hostendpoint: worker-1-eth0}",
        )
    )
    copy = tmp_path / "s"
    shutil.copytree(DATA, copy)
    (copy / "scenario.yaml").write_text(scenario)
    from desktopviz.core.scenario import ScenarioError

    with pytest.raises(ScenarioError) as info:
        load_scenario(copy)
    (err,) = info.value.errors
    assert err.path == "spec.traffic[5].from" and "unknown workload 'shop/canary'" in err.message


def test_listed_types_may_leave_out_a_direction_with_rules(tmp_path):
    """Calico accepts `types: [Egress]` with ingress rules and ignores them (calico.md §2.3)."""
    path = tmp_path / "p.yaml"
    path.write_text(
        "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {name: p}\n"
        "spec:\n  types: [Egress]\n  ingress: [{action: Deny}]\n  egress: [{action: Allow}]\n"
    )
    p = load_scenario(path).cluster.policies["default.p"]
    assert p.types == ["Egress"] and len(p.ingress) == 1


def test_every_namespace_has_a_default_service_account(shop):
    sas = shop.cluster.service_accounts
    assert {"default/default", "kube-system/default", "shop/default", "shop/shop"} <= set(sas)
    assert sas["shop/default"].name == "default" and sas["shop/default"].namespace == "shop"
