"""The built-in storefront scenario: what the lab shows (namespaces, zones, tiers, the rogue
pod event) and that its normal traffic is allowed while the rogue pod's is denied."""

from __future__ import annotations

import ipaddress
import re

import pytest

from desktopviz.core.model import ExternalPeer, Pod, Scenario
from desktopviz.core.paths import default_scenario
from desktopviz.core.scenario import load_scenario


@pytest.fixture(scope="module")
def storefront() -> Scenario:
    return load_scenario(default_scenario())


def test_default_scenario_is_the_storefront_folder(storefront_path):
    assert default_scenario().resolve() == storefront_path.resolve()
    assert (storefront_path / "scenario.yaml").is_file()


def test_counts(storefront):
    c = storefront.cluster
    assert storefront.name == "storefront"
    assert set(c.namespaces) == {"default", "kube-system", "storefront", "acme", "monitoring"}
    sf = sorted(w.name for w in c.workloads.values() if w.namespace == "storefront")
    assert sf == ["backend", "frontend", "logging", "microservice1", "microservice2"]
    assert len(c.workloads) == 12
    assert len(c.pods) == 17
    assert len(c.tiers) == 3
    assert len(c.policies) == 11
    assert storefront.skipped == []


def test_storefront_namespace_labels(storefront):
    ns = storefront.cluster.namespaces["storefront"]
    assert ns.labels == {"twilio": "allowed", "kubernetes.io/metadata.name": "storefront"}


def test_zones_as_in_the_lab(storefront):
    zones = {
        w.name: w.labels.get("fw-zone")
        for w in storefront.cluster.workloads.values()
        if w.namespace == "storefront"
    }
    assert zones == {
        "frontend": "dmz",
        "microservice1": "trusted",
        "microservice2": "trusted",
        "backend": "restricted",
        "logging": "restricted",
    }


def test_pod_names_look_like_kubernetes(storefront):
    pod = storefront.cluster.workloads["storefront/frontend"].pods[0]
    assert re.fullmatch(r"frontend-[4-9bcdf]{10}-[bcdfghjklmnpqrstvwxz2456789]{5}", pod.name)
    assert pod.name_aggr == pod.generate_name + "*"
    assert pod.labels["pod-template-hash"] == pod.generate_name.split("-")[1]
    assert ipaddress.ip_address(pod.ip) in ipaddress.ip_network("10.244.0.0/16")
    assert pod.node in storefront.settings.nodes
    assert [p.name for p in storefront.cluster.workloads["acme/payments-db"].pods] == ["payments-db-0"]
    assert len(storefront.cluster.workloads["monitoring/node-exporter"].pods) == 3


def test_tiers_in_evaluation_order(storefront):
    c = storefront.cluster
    assert [t.name for t in c.tiers_in_order()] == ["security", "platform", "default"]
    assert [p.key for p in c.policies_in_order("security")] == [
        "security.quarantine",
        "security.block-feodo",
        "security.pci-whitelist",
    ]
    assert [p.key for p in c.policies_in_order("platform")] == [
        "platform.logging",
        "platform.twilio-integration",
        "platform.allow-kube-dns",
    ]
    assert [p.key for p in c.policies_in_order("default")] == [
        "storefront/default.dmz",
        "storefront/default.trusted",
        "storefront/default.staged:restricted",
        "storefront/default.restricted",
        "acme/knp.default.payments-db",
    ]


def test_trusted_policy_matches_the_lab_view(storefront):
    p = storefront.cluster.policies["storefront/default.trusted"]
    assert [(r.action, r.source.selector) for r in p.ingress] == [
        ("Allow", "fw-zone == 'dmz'"),
        ("Allow", "fw-zone == 'trusted'"),
        ("Deny", None),
    ]
    assert [(r.action, r.destination.selector) for r in p.egress] == [
        ("Allow", "fw-zone == 'trusted'"),
        ("Allow", "fw-zone == 'restricted'"),
        ("Deny", None),
    ]


def test_settings(storefront):
    st = storefront.settings
    assert st.flush_interval == 15
    assert (st.aggregation_allowed, st.aggregation_denied) == (2, 1)
    assert len(st.nodes) == 3


def test_deploy_rogue_event_waits_for_the_user(storefront):
    ev = storefront.event("deploy-rogue")
    assert ev.name == "Deploy rogue pod"
    assert ev.at is None
    (action,) = ev.actions
    assert action.kind == "deploy"
    (rogue,) = action.objects
    assert rogue.key == "storefront/rogue" and len(rogue.pods) == 1
    assert "fw-zone" not in rogue.pods[0].labels
    assert rogue.pods[0].ip not in {p.ip for p in storefront.cluster.pods.values()}
    targets = {t.destination.value for t in action.traffic if t.destination.kind == "service"}
    assert targets == {
        f"storefront/{n}" for n in ("frontend", "microservice1", "microservice2", "backend", "logging")
    }


# -- verdicts through the policy engine ---------------------------------------------------


def _first_address(ips: list[str]) -> str:
    net = ipaddress.ip_network(ips[0], strict=False)
    return str(net.network_address + (1 if net.num_addresses > 1 else 0))


def _ends(s: Scenario, t, pods: list[Pod]):
    def backing(labels: dict[str, str], ns: str) -> Pod:
        return next(
            p for p in pods if p.namespace == ns and all(p.labels.get(k) == v for k, v in labels.items())
        )

    def end(ref, port):
        if ref.kind == "workload":
            w = next(p for p in pods if p.workload == ref.value)
            return w, port
        if ref.kind == "service":
            svc = s.cluster.services[ref.value]
            sp = next(p for p in svc.ports if p.port == port and p.protocol == t.protocol)
            pod = backing(svc.selector, svc.namespace)
            tp = sp.target_port
            if isinstance(tp, str):
                tp = next(cp.port for cp in pod.ports if cp.name == tp)
            return pod, tp
        if ref.kind == "external":
            e = s.externals[ref.value]
            return ExternalPeer(ip=_first_address(e.ips), domain=(e.domains or [None])[0]), port
        if ref.kind == "domain":
            e = next(e for e in s.externals.values() if ref.value in e.domains)
            return ExternalPeer(ip=_first_address(e.ips), domain=ref.value), port
        raise AssertionError(ref)

    src, _ = end(t.source, t.port)
    dst, port = end(t.destination, t.port)
    return src, dst, port


def test_all_normal_traffic_is_allowed(storefront):
    from desktopviz.core.policy import PolicyEngine

    engine = PolicyEngine(storefront.cluster)
    pods = list(storefront.cluster.pods.values())
    denied = []
    for t in storefront.traffic:
        src, dst, port = _ends(storefront, t, pods)
        v = engine.evaluate(src, dst, t.protocol, port)
        if v.action != "allow":
            denied.append(str(t.source) + " -> " + str(t.destination))
    assert denied == []


def test_staged_policy_changes_pending_verdicts_only(storefront):
    from desktopviz.core.policy import PolicyEngine

    engine = PolicyEngine(storefront.cluster)
    pods = list(storefront.cluster.pods.values())
    (t,) = [
        t
        for t in storefront.traffic
        if t.source.value == "storefront/microservice2" and t.destination.value == "storefront/backend"
    ]
    v = engine.evaluate(*_ends(storefront, t, pods)[:2], t.protocol, _ends(storefront, t, pods)[2])
    assert (v.action, v.pending_action) == ("allow", "deny")
    assert any("default.staged:restricted|deny" in e for e in v.ingress.pending_strings)


def test_rogue_pod_is_denied_at_the_zone_policies(storefront):
    from desktopviz.core.policy import PolicyEngine

    ev = storefront.event("deploy-rogue")
    (action,) = ev.actions
    engine = PolicyEngine(storefront.cluster)
    rogue_pods = [p for w in action.objects for p in w.pods]
    for p in rogue_pods:
        engine.add_pod(p)
    pods = list(storefront.cluster.pods.values()) + rogue_pods
    results = {}
    for t in action.traffic:
        src, dst, port = _ends(storefront, t, pods)
        results[t.destination.value] = engine.evaluate(src, dst, t.protocol, port)
    assert all(v.action == "deny" for v in results.values())
    for name in ("microservice1", "microservice2"):
        v = results[f"storefront/{name}"]
        assert v.denied_at == "dst"
        assert v.ingress.enforced_strings[-1] == "2|default|storefront/default.trusted|deny|2"
    assert (
        results["storefront/backend"]
        .ingress.enforced_strings[-1]
        .endswith("storefront/default.restricted|deny|2")
    )
    assert results["example-site"].egress.enforced_strings[-1].endswith("platform.twilio-integration|deny|2")
    assert results["feodo-c2"].egress.enforced_strings == ["0|security|security.block-feodo|deny|0"]
