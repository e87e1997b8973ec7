"""Small hand-built clusters and a stand-in policy engine for simulator tests.

The fake engine answers like Calico would for simple cases: every pod egress passes the
`kns` profile; ingress to a pod labelled `zone=trusted` is allowed from `zone=dmz` pods by
`storefront/default.trusted` rule 0 and denied by its rule 2 otherwise; pods without a zone
fall through to their profile."""

from __future__ import annotations

import ipaddress

from desktopviz.core.model import (
    Cluster,
    ClusterSettings,
    ContainerPort,
    EndpointRef,
    Event,
    EventAction,
    ExternalEndpoint,
    HostEndpoint,
    NetworkSet,
    Pod,
    Scenario,
    Service,
    ServicePort,
    Traffic,
    Workload,
)
from desktopviz.core.verdict import PolicyHit, SideResult, Verdict


def _profile(ns: str, direction: str, index: int = 0) -> PolicyHit:
    return PolicyHit(index, "__PROFILE__", f"__PROFILE__.kns.{ns}", "allow", 0)


class FakeEngine:
    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.calls = 0
        self.applied: list[str] = []
        self.deny_all_ingress = False

    def classify_ip(self, ip: str, namespace_hint: str | None = None, domain: str | None = None):
        for pod in self.cluster.pods.values():
            if pod.ip == ip:
                return pod
        addr = ipaddress.ip_address(ip)
        for ns in self.cluster.network_sets.values():
            if any(addr in ipaddress.ip_network(n) for n in ns.nets):
                return ns
        return None

    def evaluate(self, src, dst, protocol, port):
        self.calls += 1
        for ep in (src, dst):
            if isinstance(ep, Pod) and ep.key not in self.cluster.pods:
                raise KeyError(f"unknown endpoint {ep.key}")
        egress = None
        if isinstance(src, HostEndpoint):
            tr = (PolicyHit(0, "default", "default.host-egress", "allow", 0),)
            egress = SideResult("egress", "allow", tr, "allow", tr)
        if isinstance(src, Pod) and src.labels.get("app") == "exfil":
            tr = (PolicyHit(0, "security", "security.block-exfil", "deny", 0),)
            return Verdict(SideResult("egress", "deny", tr, "deny", tr), None, "deny", "deny")
        if isinstance(src, Pod):
            tr = (_profile(src.namespace, "egress"),)
            egress = SideResult("egress", "allow", tr, "allow", tr)
        ingress = None
        if isinstance(dst, Pod):
            zone = dst.labels.get("zone")
            src_zone = src.labels.get("zone") if isinstance(src, Pod) else None
            if self.deny_all_ingress:
                tr = (PolicyHit(0, "default", "storefront/default.lockdown", "deny", -1),)
                ingress = SideResult("ingress", "deny", tr, "deny", tr)
            elif zone == "trusted":
                if src_zone in ("dmz", "trusted"):
                    tr = (PolicyHit(0, "default", "storefront/default.trusted", "allow", 0),)
                    ingress = SideResult("ingress", "allow", tr, "allow", tr)
                else:
                    tr = (PolicyHit(0, "default", "storefront/default.trusted", "deny", 2),)
                    ingress = SideResult("ingress", "deny", tr, "deny", tr)
            else:
                tr = (_profile(dst.namespace, "ingress"),)
                ingress = SideResult("ingress", "allow", tr, "allow", tr)
        action = "deny" if any(s is not None and s.action == "deny" for s in (egress, ingress)) else "allow"
        return Verdict(egress, ingress, action, action)

    def add_pod(self, pod):
        self.cluster.pods[pod.key] = pod

    def remove_pod(self, key):
        self.cluster.pods.pop(key, None)

    def apply_policy(self, policy):
        self.applied.append(policy.key)
        self.deny_all_ingress = True

    def remove_policy(self, key):
        self.applied.append("-" + key)
        self.deny_all_ingress = False

    def set_tier(self, tier):
        pass


def _workload(name: str, ns: str, replicas: int, labels: dict[str, str], first_ip: int, nodes: list[str]):
    w = Workload("Deployment", name, ns, replicas, labels, [ContainerPort(8080, "TCP", "http")])
    for i in range(replicas):
        pod = Pod(
            name=f"{name}-5d8f7c9b4-{'abcde'[i]}x{i}zz",
            namespace=ns,
            labels={**labels, "pod-template-hash": "5d8f7c9b4"},
            ip=f"10.244.0.{first_ip + i}",
            node=nodes[i % len(nodes)],
            ports=[ContainerPort(8080, "TCP", "http")],
            generate_name=f"{name}-5d8f7c9b4-",
            workload=f"{ns}/{name}",
        )
        w.pods.append(pod)
    return w


def small_scenario(**settings_kw) -> Scenario:
    nodes = ["node-1", "node-2"]
    settings = ClusterSettings(nodes=nodes, flush_interval=15, **settings_kw)
    cluster = Cluster()
    fe = _workload("frontend", "storefront", 2, {"app": "frontend", "zone": "dmz"}, 10, nodes)
    be = _workload("backend", "storefront", 3, {"app": "backend", "zone": "trusted"}, 20, nodes)
    for w in (fe, be):
        cluster.workloads[w.key] = w
        for p in w.pods:
            cluster.pods[p.key] = p
    cluster.services["storefront/backend"] = Service(
        "backend", "storefront", {"app": "backend"}, "10.96.0.50", [ServicePort(80, "http", "TCP", "web")]
    )
    cluster.network_sets["storefront/twilio"] = NetworkSet(
        "twilio", "storefront", {"type": "external"}, nets=["54.172.60.0/23"], domains=["api.twilio.com"]
    )
    externals = {"twilio": ExternalEndpoint("twilio", ["54.172.60.10"], ["api.twilio.com"])}
    traffic = [
        Traffic(
            EndpointRef("workload", "storefront/frontend"),
            EndpointRef("service", "storefront/backend"),
            port=80,
            rate=20.0,
            duration=0.5,
            bytes_out=400,
            process_name="/usr/bin/curl",
        ),
        Traffic(
            EndpointRef("workload", "storefront/backend"),
            EndpointRef("external", "twilio"),
            port=443,
            rate=1.0,
            duration=2.0,
            bytes_out=900,
        ),
        Traffic(
            EndpointRef("workload", "storefront/frontend"),
            EndpointRef("ip", "8.8.4.4"),
            port=443,
            protocol="TCP",
            rate=0.5,
        ),
    ]
    rogue = Workload("Deployment", "rogue", "storefront", 1, {"app": "rogue"})
    events = [
        Event(
            "deploy-rogue",
            "Deploy rogue",
            None,
            [
                EventAction(
                    "deploy",
                    objects=[rogue],
                    traffic=[
                        Traffic(
                            EndpointRef("workload", "storefront/rogue"),
                            EndpointRef("service", "storefront/backend"),
                            port=80,
                            rate=5.0,
                        )
                    ],
                )
            ],
        )
    ]
    return Scenario("small", cluster, settings, externals, traffic, events)
