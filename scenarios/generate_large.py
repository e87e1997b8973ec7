"""A large generated cluster for benchmarks and stress tests (desktopviz.scenarios.generate_large).

`generate_large_cluster()` builds, in code, a cluster shaped like a real multi-team one:
namespaces with web → api → db/cache chains, tiers `security` (100), `platform` (200, default
action Pass), `app` (500) and `default`, a mix of GlobalNetworkPolicies, NetworkPolicies and
converted Kubernetes NetworkPolicies, network sets and Services. `generate_large_scenario()`
wraps it with traffic between workloads. Deterministic for a given seed.
"""

from __future__ import annotations

import hashlib
import random

from desktopviz.core.k8s_convert import convert_network_policy
from desktopviz.core.model import (
    Cluster,
    ClusterSettings,
    ContainerPort,
    EndpointRef,
    EntityRule,
    ExternalEndpoint,
    Namespace,
    NetworkSet,
    Pod,
    Policy,
    Rule,
    Scenario,
    Service,
    ServicePort,
    Tier,
    Traffic,
    Workload,
)

ROLES = (  # (role, port, port name)
    ("web", 8080, "http"),
    ("api", 9090, "http"),
    ("db", 5432, "postgres"),
    ("cache", 6379, "redis"),
    ("worker", 7070, "metrics"),
)
CALLS = {"web": ("api",), "api": ("db", "cache"), "worker": ("db", "api"), "db": (), "cache": ()}
TEAMS = ("payments", "search", "identity", "catalog", "shipping", "analytics")
_ALNUM = "bcdfghjklmnpqrstvwxz2456789"


def _hash(text: str, n: int) -> str:
    digest = hashlib.sha256(text.encode()).digest()
    return "".join(_ALNUM[b % len(_ALNUM)] for b in digest[:n])


def _add_workloads(c: Cluster, rng: random.Random, namespaces: int, pods: int) -> None:
    per_ns = max(1, pods // namespaces)
    ip = 0
    for n in range(namespaces):
        ns = f"ns-{n:03d}"
        team = TEAMS[n % len(TEAMS)]
        c.namespaces[ns] = Namespace(ns, {"team": team, "env": "prod" if n % 3 else "staging"})
        # Workloads of 5 replicas (the last one takes the remainder) cycling through the roles.
        remaining, w = per_ns if n < namespaces - 1 else pods - per_ns * (namespaces - 1), 0
        while remaining > 0:
            role, port, pname = ROLES[w % len(ROLES)]
            name = f"{role}-{w // len(ROLES)}" if w >= len(ROLES) else role
            replicas = min(5, remaining)
            labels = {"app": name, "role": role, "team": team, "version": f"v{rng.randint(1, 3)}"}
            wl = Workload("Deployment", name, ns, replicas, labels, [ContainerPort(port, "TCP", pname)])
            gen = f"{name}-{_hash(ns + name, 10)}-"
            for r in range(replicas):
                ip += 1
                pod = Pod(
                    name=gen + _hash(f"{ns}/{name}/{r}", 5),
                    namespace=ns,
                    labels=dict(labels),
                    ip=f"10.244.{ip // 250}.{ip % 250 + 2}",
                    node=f"node-{ip % 20 + 1}",
                    ports=list(wl.ports),
                    generate_name=gen,
                    workload=wl.key,
                )
                wl.pods.append(pod)
                c.pods[pod.key] = pod
            c.workloads[wl.key] = wl
            c.services[wl.key] = Service(
                name, ns, {"app": name}, None, [ServicePort(port, pname, "TCP", pname)]
            )
            remaining -= replicas
            w += 1


def _policies(c: Cluster, rng: random.Random, count: int) -> list[Policy]:
    pols: list[Policy] = []
    nss = sorted(c.namespaces)
    # security tier: quarantine, DNS, deny known-bad ranges, then pass.
    pols.append(
        Policy(
            "GlobalNetworkPolicy",
            "security.quarantine",
            tier="security",
            order=1,
            selector="quarantine == 'true'",
            types=["Ingress", "Egress"],
            ingress=[Rule("Deny")],
            egress=[Rule("Deny")],
        )
    )
    pols.append(
        Policy(
            "GlobalNetworkPolicy",
            "security.allow-dns",
            tier="security",
            order=10,
            selector="all()",
            types=["Egress"],
            egress=[
                Rule(
                    "Allow",
                    protocol="UDP",
                    destination=EntityRule(
                        selector="k8s-app == 'kube-dns'", namespace_selector="all()", ports=[53]
                    ),
                )
            ],
        )
    )
    for i, team in enumerate(TEAMS):
        pols.append(
            Policy(
                "GlobalNetworkPolicy",
                f"security.team-{team}",
                tier="security",
                order=100 + i,
                namespace_selector=f"team == '{team}'",
                types=["Ingress", "Egress"],
                ingress=[Rule("Deny", source=EntityRule(selector="embargoed == 'true'")), Rule("Pass")],
                egress=[Rule("Deny", destination=EntityRule(selector="threat == 'high'")), Rule("Pass")],
            )
        )
    # platform tier (default Pass): monitoring scrape into every team.
    for i, ns in enumerate(nss[: min(len(nss), 40)]):
        pols.append(
            Policy(
                "NetworkPolicy",
                f"platform.monitoring-{i}",
                ns,
                tier="platform",
                order=10,
                selector="has(role)",
                ingress=[
                    Rule(
                        "Allow",
                        protocol="TCP",
                        source=EntityRule(selector="app == 'prometheus'", namespace_selector="all()"),
                        destination=EntityRule(ports=["metrics", 9090]),
                    )
                ],
            )
        )
    # app tier: per-namespace API gateways.
    for i, ns in enumerate(nss[: min(len(nss), 40)]):
        pols.append(
            Policy(
                "NetworkPolicy",
                f"app.api-gateway-{i}",
                ns,
                tier="app",
                order=float(rng.randint(1, 50)),
                selector="role == 'api'",
                types=["Ingress"],
                ingress=[
                    Rule("Log", source=EntityRule(namespace_selector="env == 'staging'")),
                    Rule("Deny", source=EntityRule(namespace_selector="env == 'staging'")),
                    Rule("Pass"),
                ],
            )
        )
    # default tier: the call graph inside each namespace, half as Kubernetes NetworkPolicies.
    i = 0
    while len(pols) < count:
        ns = nss[i % len(nss)]
        callee_role = ("api", "db", "cache")[(i // len(nss)) % 3]
        callers = [r for r, callees in CALLS.items() if callee_role in callees]
        port = dict((r, p) for r, p, _ in ROLES)[callee_role]
        if i % 2:
            doc = {
                "metadata": {"name": f"allow-{callee_role}-{i}", "namespace": ns},
                "spec": {
                    "podSelector": {"matchLabels": {"role": callee_role}},
                    "ingress": [
                        {
                            "from": [
                                {
                                    "podSelector": {
                                        "matchExpressions": [
                                            {"key": "role", "operator": "In", "values": callers}
                                        ]
                                    }
                                }
                            ],
                            "ports": [{"port": port}],
                        }
                    ],
                },
            }
            pols.append(convert_network_policy(doc))
        else:
            pols.append(
                Policy(
                    "NetworkPolicy",
                    f"default.allow-{callee_role}-{i}",
                    ns,
                    order=float(100 + i % 7),
                    selector=f"role == '{callee_role}'",
                    ingress=[
                        Rule(
                            "Allow",
                            protocol="TCP",
                            source=EntityRule(selector=" || ".join(f"role == '{r}'" for r in callers)),
                            destination=EntityRule(ports=[port]),
                        )
                    ],
                )
            )
        i += 1
    return pols[:count]


def generate_large_cluster(
    pods: int = 2000, namespaces: int = 50, policies: int = 300, seed: int = 1
) -> Cluster:
    """A cluster of `pods` pods in `namespaces` namespaces and `policies` policies in 4 tiers."""
    rng = random.Random(seed)
    c = Cluster()
    _add_workloads(c, rng, namespaces, pods)
    c.tiers["security"] = Tier("security", 100)
    c.tiers["platform"] = Tier("platform", 200, "Pass")
    c.tiers["app"] = Tier("app", 500)
    c.tiers["default"] = Tier("default", 1_000_000)
    c.network_sets["threats"] = NetworkSet(
        "threats", None, {"threat": "high"}, ["198.51.100.0/24", "203.0.113.0/24"]
    )
    c.network_sets["saas"] = NetworkSet(
        "saas", None, {"kind": "saas"}, [], ["*.example.com", "api.stripe.com"]
    )
    for n, ns in enumerate(sorted(c.namespaces)[:10]):
        c.network_sets[f"{ns}/partners"] = NetworkSet(
            "partners", ns, {"kind": "partner"}, [f"100.64.{n}.0/24"]
        )
    for p in _policies(c, rng, policies):
        c.policies[p.key] = p
    return c


def generate_large_scenario(
    pods: int = 2000, namespaces: int = 50, policies: int = 300, seed: int = 1
) -> Scenario:
    """The large cluster plus traffic along each namespace's call graph, some of it denied
    (staging callers of APIs), and egress to external domains."""
    c = generate_large_cluster(pods, namespaces, policies, seed)
    rng = random.Random(seed + 1)
    by_ns: dict[str, dict[str, list[str]]] = {}
    for key, wl in c.workloads.items():
        by_ns.setdefault(wl.namespace, {}).setdefault(wl.labels["role"], []).append(key)
    ports = {r: p for r, p, _ in ROLES}
    traffic: list[Traffic] = []
    nss = sorted(by_ns)
    for n, ns in enumerate(nss):
        roles = by_ns[ns]
        for role, callees in CALLS.items():
            for src in roles.get(role, []):
                for callee in callees:
                    for dst in roles.get(callee, [])[:2]:
                        traffic.append(
                            Traffic(
                                EndpointRef("workload", src),
                                EndpointRef("workload", dst),
                                ports[callee],
                                rate=round(rng.uniform(0.5, 5.0), 2),
                                duration=round(rng.uniform(0.2, 3.0), 2),
                            )
                        )
        other = nss[(n + 1) % len(nss)]
        for src in roles.get("web", [])[:1]:
            for dst in by_ns[other].get("api", [])[:1]:
                traffic.append(
                    Traffic(EndpointRef("workload", src), EndpointRef("workload", dst), 9090, rate=0.5)
                )
        for src in roles.get("worker", [])[:1]:
            traffic.append(
                Traffic(EndpointRef("workload", src), EndpointRef("domain", "api.example.com"), 443, rate=0.2)
            )
    return Scenario(
        name="large",
        cluster=c,
        settings=ClusterSettings(nodes=[f"node-{i}" for i in range(1, 21)], flush_interval=300),
        externals={"example-api": ExternalEndpoint("example-api", ["93.184.216.34"], ["api.example.com"])},
        traffic=traffic,
        description=f"Generated: {pods} pods, {namespaces} namespaces, {policies} policies in 4 tiers.",
    )
