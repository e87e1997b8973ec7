"""Kubernetes NetworkPolicy conformance, after the upstream netpol e2e model.

Namespaces x, y, z (labels `ns=<name>` and `kubernetes.io/metadata.name`), each with pods a, b,
c (label `pod=<name>`) serving TCP, UDP and SCTP on ports 80 and 81 through named container ports
`serve-<port>-<proto>`. Each case applies a set of Kubernetes NetworkPolicies (written as the
YAML a user would apply), loads the cluster with `load_scenario` and checks the full 9x9
reachability matrix for one or more (protocol, port) probes through
`PolicyEngine.evaluate(src_pod, dst_pod, protocol, port).action`.

Expectations come from the Kubernetes NetworkPolicy API (networking.k8s.io/v1) and
calico.md §2.9. Loopback (a pod to itself) is not checked, as upstream (`ignoreLoopback`):
its treatment differs between CNIs (kubernetes/kubernetes#95879).

Truth tables print `.` for allowed and `X` for denied (upstream's convention), rows are
sources, columns destinations.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from desktopviz.core import model

NAMESPACES = ("x", "y", "z")
POD_NAMES = ("a", "b", "c")
PODS = tuple(f"{ns}/{p}" for ns in NAMESPACES for p in POD_NAMES)
PROTOCOLS = ("TCP", "UDP", "SCTP")
SERVED_PORTS = (80, 81)


# ---------------------------------------------------------------------------------------------
# Reachability: the expected matrix, built like upstream's Reachability helpers.


def _matches(spec: str, pod: str) -> bool:
    """`*` = every pod, `x` = every pod of namespace x, `x/a` = one pod, `*/a` = pod a anywhere."""
    if spec == "*":
        return True
    ns, _, name = pod.partition("/")
    s_ns, _, s_name = spec.partition("/")
    return s_ns in ("*", ns) and (not s_name or s_name in ("*", name))


class Reachability:
    """A 9x9 truth table: (source pod, destination pod) -> allowed."""

    def __init__(self, default: bool = True) -> None:
        self.matrix: dict[tuple[str, str], bool] = {(s, d): default for s in PODS for d in PODS}

    def expect(self, src: str, dst: str, allowed: bool) -> Reachability:
        for s in PODS:
            for d in PODS:
                if _matches(src, s) and _matches(dst, d):
                    self.matrix[(s, d)] = allowed
        return self

    def expect_all_ingress(self, dst: str, allowed: bool) -> Reachability:
        return self.expect("*", dst, allowed)

    def expect_all_egress(self, src: str, allowed: bool) -> Reachability:
        return self.expect(src, "*", allowed)

    @classmethod
    def table(cls, text: str) -> Reachability:
        """Parse rows like `x/a  . . X  . . .  X X X` (columns in PODS order; `.` allowed, `X` denied)."""
        r = cls()
        rows = [line.split() for line in text.strip().splitlines() if line.strip()]
        assert [row[0] for row in rows] == list(PODS), "table rows must be x/a .. z/c in order"
        for row in rows:
            cells = "".join(row[1:])
            assert len(cells) == len(PODS), f"row {row[0]} needs {len(PODS)} cells"
            for dst, cell in zip(PODS, cells, strict=True):
                assert cell in ".X", f"bad cell {cell!r}"
                r.matrix[(row[0], dst)] = cell == "."
        return r

    def render(self, marks: set[tuple[str, str]] | None = None) -> str:
        lines = ["      " + " ".join(f"{d:>4}" for d in PODS)]
        for s in PODS:
            cells = []
            for d in PODS:
                c = "-" if s == d else ("." if self.matrix[(s, d)] else "X")
                if marks and (s, d) in marks:
                    c += "!"
                cells.append(f"{c:>4}")
            lines.append(f"{s:>5} " + " ".join(cells))
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# The cluster as YAML manifests.


def _pod_doc(ns: str, name: str, extra_ports: Iterable[tuple[str, int, str]]) -> dict[str, Any]:
    containers = []
    for port in SERVED_PORTS:
        for proto in PROTOCOLS:
            containers.append(
                {
                    "name": f"cont-{port}-{proto.lower()}",
                    "image": "registry.k8s.io/e2e-test-images/agnhost:2.43",
                    "ports": [
                        {"containerPort": port, "name": f"serve-{port}-{proto.lower()}", "protocol": proto}
                    ],
                }
            )
    extra = [{"containerPort": p, "name": n, "protocol": proto} for n, p, proto in extra_ports]
    if extra:
        containers.append(
            {"name": "cont-extra", "image": "registry.k8s.io/e2e-test-images/agnhost:2.43", "ports": extra}
        )
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": {"pod": name}},
        "spec": {"containers": containers},
    }


def cluster_docs(extra_ports: dict[str, list[tuple[str, int, str]]] | None = None) -> list[dict[str, Any]]:
    extra_ports = extra_ports or {}
    docs: list[dict[str, Any]] = []
    for ns in NAMESPACES:
        docs.append(
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": ns, "labels": {"ns": ns, "kubernetes.io/metadata.name": ns}},
            }
        )
    for ns in NAMESPACES:
        for p in POD_NAMES:
            docs.append(_pod_doc(ns, p, extra_ports.get(f"{ns}/{p}", [])))
    return docs


def load_cluster(
    directory: Path, docs: list[dict[str, Any]], policies: list[dict[str, Any]]
) -> model.Cluster:
    """Write the manifests into `directory` and load them the way a user's scenario is loaded."""
    from desktopviz.core.scenario import load_scenario

    directory.mkdir(parents=True, exist_ok=True)
    (directory / "cluster.yaml").write_text(yaml.safe_dump_all(docs, sort_keys=False), encoding="utf-8")
    if policies:
        (directory / "policies.yaml").write_text(
            yaml.safe_dump_all(policies, sort_keys=False), encoding="utf-8"
        )
    return load_scenario(directory).cluster


def netpol(
    name: str,
    ns: str,
    pod_selector: dict[str, Any] | None = None,
    *,
    ingress: list[dict[str, Any]] | None = None,
    egress: list[dict[str, Any]] | None = None,
    types: list[str] | None = None,
) -> dict[str, Any]:
    spec: dict[str, Any] = {"podSelector": pod_selector if pod_selector is not None else {}}
    if types is not None:
        spec["policyTypes"] = types
    if ingress is not None:
        spec["ingress"] = ingress
    if egress is not None:
        spec["egress"] = egress
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": ns},
        "spec": spec,
    }


def pod_is(name: str) -> dict[str, Any]:
    return {"matchLabels": {"pod": name}}


def ns_is(name: str) -> dict[str, Any]:
    return {"matchLabels": {"ns": name}}


def cidr32(ip: str) -> str:
    return f"{ip}/32"


def supernet(ips: Iterable[str]) -> str:
    """The smallest IPv4 network holding every address (for ipBlock cidr fields)."""
    addrs = [ipaddress.ip_address(i) for i in ips]
    net = ipaddress.ip_network(f"{addrs[0]}/32")
    while not all(a in net for a in addrs):
        net = net.supernet()
    return str(net)


# ---------------------------------------------------------------------------------------------
# The cases.

Probe = tuple[str, int, Reachability]
PolicyFactory = Callable[[dict[str, str]], list[dict[str, Any]]]


@dataclass
class Case:
    id: str
    policies: PolicyFactory  # pod key -> IP, for ipBlock cases
    probes: list[Probe]
    extra_ports: dict[str, list[tuple[str, int, str]]] = field(default_factory=dict)


def fixed(*policies: dict[str, Any]) -> PolicyFactory:
    return lambda _ips: list(policies)


def R(default: bool = True) -> Reachability:
    return Reachability(default)


DENY_INGRESS_X = netpol("deny-ingress", "x", types=["Ingress"])
DENY_EGRESS_X = netpol("deny-egress", "x", types=["Egress"])

CASES: list[Case] = [
    Case("no-policy-all-allowed", fixed(), [("TCP", 80, R()), ("UDP", 81, R()), ("SCTP", 80, R())]),
    Case(
        "default-deny-ingress-x",
        fixed(DENY_INGRESS_X),
        [("TCP", 80, R().expect_all_ingress("x", False)), ("UDP", 81, R().expect_all_ingress("x", False))],
    ),
    Case(
        "default-deny-egress-x",
        fixed(DENY_EGRESS_X),
        [("TCP", 80, R().expect_all_egress("x", False)), ("SCTP", 81, R().expect_all_egress("x", False))],
    ),
    Case(
        "default-deny-both-x",
        fixed(netpol("deny-all", "x", types=["Ingress", "Egress"])),
        [
            (
                "TCP",
                80,
                Reachability.table(
                    """
                    x/a  XXX XXX XXX
                    x/b  XXX XXX XXX
                    x/c  XXX XXX XXX
                    y/a  XXX ... ...
                    y/b  XXX ... ...
                    y/c  XXX ... ...
                    z/a  XXX ... ...
                    z/b  XXX ... ...
                    z/c  XXX ... ...
                    """
                ),
            )
        ],
    ),
    Case(
        "allow-from-same-namespace",
        fixed(netpol("allow-same-ns", "x", ingress=[{"from": [{"podSelector": {}}]}])),
        [("TCP", 80, R().expect_all_ingress("x", False).expect("x", "x", True))],
    ),
    Case(
        "allow-from-namespace-by-label",
        fixed(netpol("from-y", "x", pod_is("a"), ingress=[{"from": [{"namespaceSelector": ns_is("y")}]}])),
        [("TCP", 80, R().expect_all_ingress("x/a", False).expect("y", "x/a", True))],
    ),
    Case(
        "namespace-by-kubernetes-metadata-name",
        fixed(
            netpol(
                "from-z",
                "x",
                pod_is("a"),
                ingress=[
                    {"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "z"}}}]}
                ],
            )
        ),
        [("TCP", 81, R().expect_all_ingress("x/a", False).expect("z", "x/a", True))],
    ),
    Case(
        "pod-and-namespace-selector-in-one-peer-is-and",
        fixed(
            netpol(
                "y-b-only",
                "x",
                pod_is("a"),
                ingress=[{"from": [{"namespaceSelector": ns_is("y"), "podSelector": pod_is("b")}]}],
            )
        ),
        [("TCP", 80, R().expect_all_ingress("x/a", False).expect("y/b", "x/a", True))],
    ),
    Case(
        "pod-and-namespace-selector-in-two-peers-is-or",
        fixed(
            netpol(
                "y-or-b",
                "x",
                pod_is("a"),
                ingress=[{"from": [{"namespaceSelector": ns_is("y")}, {"podSelector": pod_is("b")}]}],
            )
        ),
        [
            (
                "TCP",
                80,
                R().expect_all_ingress("x/a", False).expect("y", "x/a", True).expect("x/b", "x/a", True),
            )
        ],
    ),
    Case(
        "empty-namespace-selector-means-all-namespaces",
        fixed(
            netpol(
                "any-ns-pod-c",
                "x",
                pod_is("a"),
                ingress=[{"from": [{"namespaceSelector": {}, "podSelector": pod_is("c")}]}],
            )
        ),
        [("TCP", 80, R().expect_all_ingress("x/a", False).expect("*/c", "x/a", True))],
    ),
    Case(
        "empty-pod-selector-peer-means-policy-namespace",
        fixed(netpol("x-pods", "x", pod_is("a"), ingress=[{"from": [{"podSelector": {}}]}])),
        [("TCP", 80, R().expect_all_ingress("x/a", False).expect("x", "x/a", True))],
    ),
    Case(
        "ingress-ipblock-with-except",
        lambda ips: [
            netpol(
                "ipblock",
                "x",
                pod_is("a"),
                ingress=[
                    {"from": [{"ipBlock": {"cidr": supernet(ips.values()), "except": [cidr32(ips["y/b"])]}}]}
                ],
            )
        ],
        [("TCP", 80, R().expect("y/b", "x/a", False)), ("UDP", 80, R().expect("y/b", "x/a", False))],
    ),
    Case(
        "egress-to-ipblock",
        lambda ips: [
            netpol(
                "to-y-a",
                "x",
                pod_is("a"),
                egress=[{"to": [{"ipBlock": {"cidr": cidr32(ips["y/a"])}}]}],
                types=["Egress"],
            )
        ],
        [("TCP", 80, R().expect_all_egress("x/a", False).expect("x/a", "y/a", True))],
    ),
    Case(
        "egress-to-ipblock-with-except",
        lambda ips: [
            netpol(
                "all-but-two",
                "x",
                pod_is("a"),
                egress=[
                    {
                        "to": [
                            {
                                "ipBlock": {
                                    "cidr": supernet(ips.values()),
                                    "except": [cidr32(ips["x/b"]), cidr32(ips["z/c"])],
                                }
                            }
                        ]
                    }
                ],
                types=["Egress"],
            )
        ],
        [("TCP", 81, R().expect("x/a", "x/b", False).expect("x/a", "z/c", False))],
    ),
    Case(
        "named-port-ingress",
        fixed(netpol("serve-80-tcp-only", "x", pod_is("a"), ingress=[{"ports": [{"port": "serve-80-tcp"}]}])),
        [
            ("TCP", 80, R()),
            ("TCP", 81, R().expect_all_ingress("x/a", False)),
            ("UDP", 80, R().expect_all_ingress("x/a", False)),
        ],
    ),
    Case(
        "named-port-egress-udp",
        fixed(
            netpol(
                "to-y-serve-81-udp",
                "x",
                pod_is("a"),
                egress=[
                    {
                        "to": [{"namespaceSelector": ns_is("y")}],
                        "ports": [{"protocol": "UDP", "port": "serve-81-udp"}],
                    }
                ],
                types=["Egress"],
            )
        ),
        [
            ("UDP", 81, R().expect_all_egress("x/a", False).expect("x/a", "y", True)),
            ("UDP", 80, R().expect_all_egress("x/a", False)),
            ("TCP", 81, R().expect_all_egress("x/a", False)),
        ],
    ),
    Case(
        "named-port-resolves-per-pod",
        fixed(netpol("web", "x", ingress=[{"ports": [{"port": "web"}]}])),
        [
            ("TCP", 8080, R().expect_all_ingress("x", False).expect("*", "x/b", True)),
            ("TCP", 8081, R().expect_all_ingress("x", False).expect("*", "x/c", True)),
            ("TCP", 80, R().expect_all_ingress("x", False)),
        ],
        extra_ports={"x/b": [("web", 8080, "TCP")], "x/c": [("web", 8081, "TCP")]},
    ),
    Case(
        "endport-range-80-81",
        fixed(
            netpol(
                "range",
                "x",
                pod_is("a"),
                ingress=[{"ports": [{"protocol": "TCP", "port": 80, "endPort": 81}]}],
            )
        ),
        [
            ("TCP", 80, R()),
            ("TCP", 81, R()),
            ("TCP", 82, R().expect_all_ingress("x/a", False)),
            ("UDP", 80, R().expect_all_ingress("x/a", False)),
        ],
    ),
    Case(
        "endport-range-81-82",
        fixed(
            netpol(
                "range",
                "x",
                pod_is("a"),
                ingress=[{"ports": [{"protocol": "TCP", "port": 81, "endPort": 82}]}],
            )
        ),
        [("TCP", 80, R().expect_all_ingress("x/a", False)), ("TCP", 81, R())],
    ),
    Case(
        "udp-only-rule-blocks-tcp",
        fixed(netpol("udp-81", "x", pod_is("a"), ingress=[{"ports": [{"protocol": "UDP", "port": 81}]}])),
        [
            ("UDP", 81, R()),
            ("TCP", 81, R().expect_all_ingress("x/a", False)),
            ("UDP", 80, R().expect_all_ingress("x/a", False)),
        ],
    ),
    Case(
        "sctp-rule",
        fixed(netpol("sctp-80", "x", pod_is("a"), ingress=[{"ports": [{"protocol": "SCTP", "port": 80}]}])),
        [
            ("SCTP", 80, R()),
            ("SCTP", 81, R().expect_all_ingress("x/a", False)),
            ("TCP", 80, R().expect_all_ingress("x/a", False)),
        ],
    ),
    Case(
        "ports-without-protocol-default-to-tcp",
        fixed(netpol("port-80", "x", pod_is("a"), ingress=[{"ports": [{"port": 80}]}])),
        [
            ("TCP", 80, R()),
            ("UDP", 80, R().expect_all_ingress("x/a", False)),
            ("SCTP", 80, R().expect_all_ingress("x/a", False)),
        ],
    ),
    Case(
        "several-ports-in-one-rule",
        fixed(
            netpol(
                "two-ports",
                "x",
                pod_is("a"),
                ingress=[{"ports": [{"protocol": "TCP", "port": 80}, {"protocol": "UDP", "port": 81}]}],
            )
        ),
        [
            ("TCP", 80, R()),
            ("UDP", 81, R()),
            ("TCP", 81, R().expect_all_ingress("x/a", False)),
            ("UDP", 80, R().expect_all_ingress("x/a", False)),
        ],
    ),
    Case(
        "multiple-policies-add-up",
        fixed(
            netpol("from-y", "x", pod_is("a"), ingress=[{"from": [{"namespaceSelector": ns_is("y")}]}]),
            netpol("from-z", "x", pod_is("a"), ingress=[{"from": [{"namespaceSelector": ns_is("z")}]}]),
        ),
        [("TCP", 80, R().expect_all_ingress("x/a", False).expect("y", "x/a", True).expect("z", "x/a", True))],
    ),
    Case(
        "empty-ingress-rule-allows-all-even-with-deny-all",
        fixed(DENY_INGRESS_X, netpol("allow-all", "x", ingress=[{}])),
        [("TCP", 80, R()), ("UDP", 81, R())],
    ),
    Case(
        "empty-egress-rule-allows-all-even-with-deny-all",
        fixed(DENY_EGRESS_X, netpol("allow-all-egress", "x", egress=[{}], types=["Egress"])),
        [("TCP", 80, R()), ("SCTP", 81, R())],
    ),
    Case(
        "egress-type-without-egress-rules-denies-egress",
        fixed(netpol("a-no-egress", "x", pod_is("a"), types=["Egress"])),
        [("TCP", 80, R().expect_all_egress("x/a", False))],
    ),
    Case(
        "ingress-type-ignores-egress-rules",
        fixed(
            netpol(
                "ingress-only",
                "x",
                ingress=[{}],
                egress=[{"to": [{"podSelector": pod_is("b")}]}],
                types=["Ingress"],
            )
        ),
        [("TCP", 80, R())],
    ),
    Case(
        # Kubernetes API defaulting: with policyTypes unset, a policy with an egress section
        # affects egress, and every policy affects ingress (NetworkPolicySpec.policyTypes).
        "policy-types-omitted-with-egress-rules-governs-both",
        fixed(netpol("egress-to-b", "x", pod_is("a"), egress=[{"to": [{"podSelector": pod_is("b")}]}])),
        [
            (
                "TCP",
                80,
                R()
                .expect_all_ingress("x/a", False)
                .expect_all_egress("x/a", False)
                .expect("x/a", "x/b", True),
            )
        ],
    ),
    Case(
        "policy-types-omitted-without-egress-is-ingress-only",
        fixed(netpol("ingress-from-b", "x", pod_is("a"), ingress=[{"from": [{"podSelector": pod_is("b")}]}])),
        [("TCP", 80, R().expect_all_ingress("x/a", False).expect("x/b", "x/a", True))],
    ),
    Case(
        "policy-in-one-namespace-does-not-affect-others",
        fixed(netpol("deny-y-a", "y", pod_is("a"), types=["Ingress"])),
        [("TCP", 80, R().expect_all_ingress("y/a", False))],
    ),
    Case(
        "match-expressions-in",
        fixed(
            netpol(
                "from-b-or-c",
                "x",
                pod_is("a"),
                ingress=[
                    {
                        "from": [
                            {
                                "namespaceSelector": {},
                                "podSelector": {
                                    "matchExpressions": [
                                        {"key": "pod", "operator": "In", "values": ["b", "c"]}
                                    ]
                                },
                            }
                        ]
                    }
                ],
            )
        ),
        [
            (
                "TCP",
                80,
                R().expect_all_ingress("x/a", False).expect("*/b", "x/a", True).expect("*/c", "x/a", True),
            )
        ],
    ),
    Case(
        "match-expressions-not-in",
        fixed(
            netpol(
                "not-from-y-z",
                "x",
                pod_is("a"),
                ingress=[
                    {
                        "from": [
                            {
                                "namespaceSelector": {
                                    "matchExpressions": [
                                        {"key": "ns", "operator": "NotIn", "values": ["y", "z"]}
                                    ]
                                }
                            }
                        ]
                    }
                ],
            )
        ),
        [("TCP", 80, R().expect_all_ingress("x/a", False).expect("x", "x/a", True))],
    ),
    Case(
        "match-expressions-exists",
        fixed(
            netpol(
                "pods-with-label-from-z",
                "x",
                {"matchExpressions": [{"key": "pod", "operator": "Exists"}]},
                ingress=[
                    {
                        "from": [
                            {
                                "namespaceSelector": ns_is("z"),
                                "podSelector": {"matchExpressions": [{"key": "pod", "operator": "Exists"}]},
                            }
                        ]
                    }
                ],
            )
        ),
        [("TCP", 80, R().expect_all_ingress("x", False).expect("z", "x", True))],
    ),
    Case(
        "match-expressions-does-not-exist-selects-nothing",
        fixed(
            netpol(
                "pods-without-label",
                "x",
                {"matchExpressions": [{"key": "pod", "operator": "DoesNotExist"}]},
                types=["Ingress", "Egress"],
            )
        ),
        [("TCP", 80, R())],
    ),
    Case(
        "match-expressions-does-not-exist-peer-matches-nothing",
        fixed(
            netpol(
                "from-unlabelled",
                "x",
                pod_is("a"),
                ingress=[
                    {
                        "from": [
                            {
                                "namespaceSelector": {},
                                "podSelector": {
                                    "matchExpressions": [{"key": "pod", "operator": "DoesNotExist"}]
                                },
                            }
                        ]
                    }
                ],
            )
        ),
        [("TCP", 80, R().expect_all_ingress("x/a", False))],
    ),
    Case(
        "egress-only-to-pod-b-in-x-on-port-81",
        fixed(
            netpol(
                "a-to-b-81",
                "x",
                pod_is("a"),
                egress=[{"to": [{"podSelector": pod_is("b")}], "ports": [{"protocol": "TCP", "port": 81}]}],
                types=["Egress"],
            )
        ),
        [
            ("TCP", 81, R().expect_all_egress("x/a", False).expect("x/a", "x/b", True)),
            ("TCP", 80, R().expect_all_egress("x/a", False)),
        ],
    ),
    Case(
        "deny-all-then-allow-from-one-pod",
        fixed(
            DENY_INGRESS_X,
            netpol("a-from-b", "x", pod_is("a"), ingress=[{"from": [{"podSelector": pod_is("b")}]}]),
        ),
        [("TCP", 80, R().expect_all_ingress("x", False).expect("x/b", "x/a", True))],
    ),
    Case(
        "egress-to-namespace-y-only",
        fixed(netpol("to-y", "x", egress=[{"to": [{"namespaceSelector": ns_is("y")}]}], types=["Egress"])),
        [
            (
                "TCP",
                80,
                Reachability.table(
                    """
                    x/a  XXX ... XXX
                    x/b  XXX ... XXX
                    x/c  XXX ... XXX
                    y/a  ... ... ...
                    y/b  ... ... ...
                    y/c  ... ... ...
                    z/a  ... ... ...
                    z/b  ... ... ...
                    z/c  ... ... ...
                    """
                ),
            )
        ],
    ),
    Case(
        "egress-allowed-but-ingress-denied",
        fixed(
            netpol(
                "a-to-anyone",
                "x",
                pod_is("a"),
                egress=[{"to": [{"namespaceSelector": {}}]}],
                types=["Egress"],
            ),
            netpol("b-from-z", "y", pod_is("b"), ingress=[{"from": [{"namespaceSelector": ns_is("z")}]}]),
        ),
        [("TCP", 80, R().expect_all_ingress("y/b", False).expect("z", "y/b", True))],
    ),
    Case(
        "egress-and-ingress-both-needed",
        fixed(
            netpol(
                "a-to-y-only",
                "x",
                pod_is("a"),
                egress=[{"to": [{"namespaceSelector": ns_is("y")}]}],
                types=["Egress"],
            ),
            netpol(
                "y-from-x-a",
                "y",
                ingress=[{"from": [{"namespaceSelector": ns_is("x"), "podSelector": pod_is("a")}]}],
            ),
        ),
        [
            (
                "TCP",
                80,
                R().expect_all_egress("x/a", False).expect_all_ingress("y", False).expect("x/a", "y", True),
            )
        ],
    ),
]


# ---------------------------------------------------------------------------------------------
# The test.


@pytest.fixture(scope="module")
def base_ips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The IPs the loader gives the pods of the base cluster (no policies)."""
    cluster = load_cluster(tmp_path_factory.mktemp("base"), cluster_docs(), [])
    ips = {key: pod.ip for key, pod in cluster.pods.items() if pod.ip}
    assert sorted(ips) == sorted(PODS), f"expected one IP per pod, got {ips}"
    return ips


def _find_pods(cluster: model.Cluster) -> dict[str, model.Pod]:
    pods = {p: cluster.pods.get(p) for p in PODS}
    missing = [k for k, v in pods.items() if v is None]
    assert not missing, f"pods missing from the loaded cluster: {missing}"
    return pods  # type: ignore[return-value]


def actual_reachability(cluster: model.Cluster, protocol: str, port: int) -> Reachability:
    from desktopviz.core.policy import PolicyEngine

    return engine_reachability(PolicyEngine(cluster), _find_pods(cluster), protocol, port)


def engine_reachability(engine: Any, pods: dict[str, model.Pod], protocol: str, port: int) -> Reachability:
    r = Reachability()
    for s in PODS:
        for d in PODS:
            if s == d:
                continue
            verdict = engine.evaluate(pods[s], pods[d], protocol, port)
            assert verdict.action in ("allow", "deny")
            r.matrix[(s, d)] = verdict.action == "allow"
    return r


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_reachability_matrix(case: Case, tmp_path: Path, base_ips: dict[str, str]) -> None:
    policies = case.policies(base_ips)
    cluster = load_cluster(tmp_path / "scenario", cluster_docs(case.extra_ports), policies)
    pods = _find_pods(cluster)
    # ipBlock cases were written with the base cluster's IPs: the loader must be deterministic.
    assert {k: p.ip for k, p in pods.items()} == base_ips
    failures = []
    for protocol, port, expected in case.probes:
        got = actual_reachability(cluster, protocol, port)
        wrong = {
            (s, d) for s in PODS for d in PODS if s != d and got.matrix[(s, d)] != expected.matrix[(s, d)]
        }
        if wrong:
            failures.append(
                f"{protocol}/{port}: {len(wrong)} wrong cells (marked !)\n"
                f"expected:\n{expected.render(wrong)}\ngot:\n{got.render(wrong)}"
            )
    assert not failures, f"case {case.id}:\n" + "\n\n".join(failures)


def _diff(expected: Reachability, got: Reachability, what: str) -> str | None:
    wrong = {(s, d) for s in PODS for d in PODS if s != d and got.matrix[(s, d)] != expected.matrix[(s, d)]}
    if not wrong:
        return None
    return f"{what}: {len(wrong)} wrong cells (marked !)\nexpected:\n{expected.render(wrong)}\ngot:\n{got.render(wrong)}"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_policies_applied_and_removed_live(case: Case, tmp_path: Path, base_ips: dict[str, str]) -> None:
    """The same matrices when the policies arrive one by one on a running engine (what the
    simulator does when a user applies a policy), after verdicts were already cached; and all
    allowed again once they are removed."""
    from desktopviz.core.policy import PolicyEngine

    final = load_cluster(tmp_path / "final", cluster_docs(case.extra_ports), case.policies(base_ips))
    base = load_cluster(tmp_path / "base", cluster_docs(case.extra_ports), [])
    engine = PolicyEngine(base)
    pods = _find_pods(base)
    for protocol, port, _ in case.probes:  # fill the verdict caches first
        assert _diff(R(), engine_reachability(engine, pods, protocol, port), "before") is None
    for policy in final.policies.values():
        engine.apply_policy(policy)
    failures = [
        _diff(expected, engine_reachability(engine, pods, protocol, port), f"applied {protocol}/{port}")
        for protocol, port, expected in case.probes
    ]
    for key in list(final.policies):
        engine.remove_policy(key)
    failures += [
        _diff(R(), engine_reachability(engine, pods, protocol, port), f"removed {protocol}/{port}")
        for protocol, port, _ in case.probes
    ]
    problems = [f for f in failures if f]
    assert not problems, f"case {case.id}:\n" + "\n\n".join(problems)


def test_pod_relabelled_and_added_live(tmp_path: Path) -> None:
    """Pods that change or appear on a running engine are selected by their new labels."""
    from desktopviz.core.policy import PolicyEngine

    pols = [
        DENY_INGRESS_X,
        netpol("a-from-b", "x", pod_is("a"), ingress=[{"from": [{"podSelector": pod_is("b")}]}]),
    ]
    cluster = load_cluster(tmp_path, cluster_docs(), pols)
    engine = PolicyEngine(cluster)
    x_a, x_b = cluster.pods["x/a"], cluster.pods["x/b"]
    assert engine.evaluate(x_b, x_a, "TCP", 80).action == "allow"
    relabelled = model.Pod(
        name="b", namespace="x", labels={"pod": "bee"}, ip=x_b.ip, node=x_b.node, ports=x_b.ports
    )
    engine.add_pod(relabelled)
    assert engine.evaluate(relabelled, x_a, "TCP", 80).action == "deny"
    newcomer = model.Pod(name="d", namespace="x", labels={"pod": "b"}, ip="10.244.99.9", node=x_b.node)
    engine.add_pod(newcomer)
    assert engine.evaluate(newcomer, x_a, "TCP", 80).action == "allow"
    assert engine.evaluate(cluster.pods["y/b"], newcomer, "TCP", 80).action == "deny"  # default deny in x
    engine.remove_pod("x/d")
    assert "x/d" not in cluster.pods


def test_case_count_and_unique_ids() -> None:
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids))
    assert len(ids) >= 25


def test_policies_are_kubernetes_policies_in_default_tier(tmp_path: Path) -> None:
    """calico.md §2.9: a k8s NetworkPolicy becomes a policy of tier `default`, order 1000,
    named `<ns>/knp.default.<name>` in traces."""
    cluster = load_cluster(tmp_path, cluster_docs(), [DENY_INGRESS_X])
    policy = cluster.policies["x/knp.default.deny-ingress"]
    assert policy.kind == "KubernetesNetworkPolicy"
    assert policy.tier == "default"
    assert policy.order == 1000
    assert policy.namespace == "x"
    assert policy.types == ["Ingress"]


def test_default_deny_trace_names_the_knp_with_end_of_tier(tmp_path: Path) -> None:
    """A default-deny policy selects the pod but has no rules: the tier's end-of-tier deny
    applies, naming that policy with rule index -1 (calico.md §1.3(b), §2.9)."""
    from desktopviz.core.policy import PolicyEngine

    cluster = load_cluster(tmp_path, cluster_docs(), [DENY_INGRESS_X])
    engine = PolicyEngine(cluster)
    verdict = engine.evaluate(cluster.pods["y/a"], cluster.pods["x/a"], "TCP", 80)
    assert verdict.action == "deny"
    assert verdict.egress is not None and verdict.egress.enforced_strings == [
        "0|__PROFILE__|__PROFILE__.kns.y|allow|0"
    ]
    assert verdict.ingress is not None
    assert verdict.ingress.enforced_strings == ["0|default|x/knp.default.deny-ingress|deny|-1"]


def test_allow_trace_names_the_knp_and_rule_index(tmp_path: Path) -> None:
    """Two peers become two Allow rules (calico.md §2.9: one rule per (protocol, peer)); the
    trace names the rule that matched."""
    from desktopviz.core.policy import PolicyEngine

    pol = netpol(
        "y-or-b",
        "x",
        pod_is("a"),
        ingress=[{"from": [{"namespaceSelector": ns_is("y")}, {"podSelector": pod_is("b")}]}],
    )
    cluster = load_cluster(tmp_path, cluster_docs(), [pol])
    engine = PolicyEngine(cluster)
    v_y = engine.evaluate(cluster.pods["y/c"], cluster.pods["x/a"], "TCP", 80)
    v_b = engine.evaluate(cluster.pods["x/b"], cluster.pods["x/a"], "TCP", 80)
    assert v_y.ingress is not None and v_y.ingress.enforced_strings == [
        "0|default|x/knp.default.y-or-b|allow|0"
    ]
    assert v_b.ingress is not None and v_b.ingress.enforced_strings == [
        "0|default|x/knp.default.y-or-b|allow|1"
    ]


# ---------------------------------------------------------------------------------------------
# Random policies against a reference model written from the Kubernetes API documentation
# (networking.k8s.io/v1 NetworkPolicy): a pod is isolated in a direction when a policy of its
# namespace selects it with that policy type; then traffic is allowed iff some such policy has
# a rule whose peers (or none) and ports (or none) match. Both ends must allow.

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


def _selector_matches(sel: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    if sel is None:
        return True
    for k, v in (sel.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for e in sel.get("matchExpressions") or []:
        k, op, vals = e["key"], e["operator"], e.get("values") or []
        ok = {
            "In": k in labels and labels[k] in vals,
            "NotIn": k not in labels or labels[k] not in vals,
            "Exists": k in labels,
            "DoesNotExist": k not in labels,
        }[op]
        if not ok:
            return False
    return True


def _ns_labels(ns: str) -> dict[str, str]:
    return {"ns": ns, "kubernetes.io/metadata.name": ns}


def _peer_matches(peer: dict[str, Any], policy_ns: str, pod: model.Pod) -> bool:
    if "ipBlock" in peer:
        ip = ipaddress.ip_address(pod.ip or "0.0.0.0")
        block = peer["ipBlock"]
        return ip in ipaddress.ip_network(block["cidr"]) and not any(
            ip in ipaddress.ip_network(e) for e in block.get("except", [])
        )
    ns_sel, pod_sel = peer.get("namespaceSelector"), peer.get("podSelector")
    if ns_sel is None:
        return pod.namespace == policy_ns and _selector_matches(pod_sel, pod.labels)
    return _selector_matches(ns_sel, _ns_labels(pod.namespace)) and _selector_matches(pod_sel, pod.labels)


def _port_matches(entry: dict[str, Any], target: model.Pod, protocol: str, port: int) -> bool:
    proto = entry.get("protocol", "TCP")
    if proto != protocol:
        return False
    want = entry.get("port")
    if want is None:
        return True
    if isinstance(want, str):
        return any(cp.name == want and cp.protocol == proto and cp.port == port for cp in target.ports)
    return want <= port <= entry.get("endPort", want)


def _types(spec: dict[str, Any]) -> list[str]:
    if spec.get("policyTypes"):
        return spec["policyTypes"]
    return ["Ingress", "Egress"] if spec.get("egress") else ["Ingress"]


def _side_allows(
    policies: list[dict[str, Any]],
    me: model.Pod,
    peer: model.Pod,
    target: model.Pod,
    direction: str,
    proto: str,
    port: int,
) -> bool:
    key, peers_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
    selecting = [
        p
        for p in policies
        if p["metadata"]["namespace"] == me.namespace
        and direction in _types(p["spec"])
        and _selector_matches(p["spec"]["podSelector"], me.labels)
    ]
    if not selecting:
        return True
    for p in selecting:
        for rule in p["spec"].get(key) or []:
            peers, ports = rule.get(peers_key), rule.get("ports")
            if peers and not any(_peer_matches(x, p["metadata"]["namespace"], peer) for x in peers):
                continue
            if ports and not any(_port_matches(x, target, proto, port) for x in ports):
                continue
            return True
    return False


def reference_allowed(
    policies: list[dict[str, Any]], src: model.Pod, dst: model.Pod, proto: str, port: int
) -> bool:
    return _side_allows(policies, src, dst, dst, "Egress", proto, port) and _side_allows(
        policies, dst, src, dst, "Ingress", proto, port
    )


_POD_LABEL = st.sampled_from(POD_NAMES)
_NS = st.sampled_from(NAMESPACES)


def _label_selector(key: str, values: st.SearchStrategy[str]) -> st.SearchStrategy[dict[str, Any]]:
    return st.one_of(
        st.just({}),
        values.map(lambda v: {"matchLabels": {key: v}}),
        st.tuples(
            st.sampled_from(["In", "NotIn"]), st.lists(values, min_size=1, max_size=2, unique=True)
        ).map(lambda t: {"matchExpressions": [{"key": key, "operator": t[0], "values": t[1]}]}),
        st.sampled_from(["Exists", "DoesNotExist"]).map(
            lambda op: {"matchExpressions": [{"key": key, "operator": op}]}
        ),
    )


_POD_SEL = _label_selector("pod", _POD_LABEL)
_NS_SEL = _label_selector("ns", _NS)
_IPBLOCK = st.tuples(st.sampled_from(PODS), st.lists(st.sampled_from(PODS), max_size=2, unique=True))


@st.composite
def _peer(draw: st.DrawFn) -> dict[str, Any] | tuple[str, list[str]]:
    kind = draw(st.sampled_from(["pod", "ns", "both", "ip"]))
    if kind == "pod":
        return {"podSelector": draw(_POD_SEL)}
    if kind == "ns":
        return {"namespaceSelector": draw(_NS_SEL)}
    if kind == "both":
        return {"namespaceSelector": draw(_NS_SEL), "podSelector": draw(_POD_SEL)}
    return ("ipBlock", *draw(_IPBLOCK))  # resolved to addresses once the IPs are known


@st.composite
def _port(draw: st.DrawFn) -> dict[str, Any]:
    entry: dict[str, Any] = {}
    proto = draw(st.sampled_from([None, "TCP", "UDP", "SCTP"]))
    if proto:
        entry["protocol"] = proto
    kind = draw(st.sampled_from(["none", "number", "range", "name"]))
    if kind == "number":
        entry["port"] = draw(st.sampled_from([80, 81]))
    elif kind == "range":
        start = draw(st.sampled_from([79, 80, 81]))
        entry["port"], entry["endPort"] = start, start + draw(st.integers(0, 2))
    elif kind == "name":
        entry["port"] = (
            f"serve-{draw(st.sampled_from([80, 81]))}-{draw(st.sampled_from(['tcp', 'udp', 'sctp']))}"
        )
    return entry


_RULES = st.one_of(
    st.none(),
    st.lists(
        st.fixed_dictionaries(
            {},
            optional={
                "peers": st.lists(_peer(), min_size=1, max_size=2),
                "ports": st.lists(_port(), min_size=1, max_size=2),
            },
        ),
        max_size=2,
    ),
)


@st.composite
def _policy(draw: st.DrawFn, index: int) -> dict[str, Any]:
    types = draw(st.sampled_from([None, ["Ingress"], ["Egress"], ["Ingress", "Egress"]]))
    return {
        "name": f"p{index}",
        "ns": draw(_NS),
        "podSelector": draw(_POD_SEL),
        "types": types,
        "ingress": draw(_RULES),
        "egress": draw(_RULES),
    }


def _materialise(raw: dict[str, Any], ips: dict[str, str]) -> dict[str, Any]:
    def peer(p: Any) -> dict[str, Any]:
        if isinstance(p, tuple):
            _, cidr_pod, excepts = p
            block: dict[str, Any] = {
                "cidr": supernet(ips.values()) if cidr_pod == "x/a" else cidr32(ips[cidr_pod])
            }
            if excepts and block["cidr"] != cidr32(ips[cidr_pod]):
                block["except"] = [cidr32(ips[e]) for e in excepts]
            return {"ipBlock": block}
        return p

    def rules(rs: list[dict[str, Any]] | None, peers_key: str) -> list[dict[str, Any]] | None:
        if rs is None:
            return None
        out = []
        for r in rs:
            rule: dict[str, Any] = {}
            if "peers" in r:
                rule[peers_key] = [peer(p) for p in r["peers"]]
            if "ports" in r:
                rule["ports"] = r["ports"]
            out.append(rule)
        return out

    return netpol(
        raw["name"],
        raw["ns"],
        raw["podSelector"],
        ingress=rules(raw["ingress"], "from"),
        egress=rules(raw["egress"], "to"),
        types=raw["types"],
    )


# DESKTOPVIZ_CONFORMANCE_EXAMPLES raises the example count for a longer hunt.
@settings(
    max_examples=int(os.environ.get("DESKTOPVIZ_CONFORMANCE_EXAMPLES", "40")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    raw=st.integers(1, 3).flatmap(lambda n: st.tuples(*[_policy(i) for i in range(n)])),
    probes=st.lists(
        st.tuples(st.sampled_from(PROTOCOLS), st.sampled_from([80, 81])), min_size=1, max_size=2, unique=True
    ),
)
def test_random_policies_match_the_kubernetes_reference(
    raw: tuple[dict[str, Any], ...],
    probes: list[tuple[str, int]],
    tmp_path_factory: pytest.TempPathFactory,
    base_ips: dict[str, str],
) -> None:
    from desktopviz.core.policy import PolicyEngine

    policies = [_materialise(r, base_ips) for r in raw]
    cluster = load_cluster(tmp_path_factory.mktemp("ref"), cluster_docs(), policies)
    pods = _find_pods(cluster)
    engine = PolicyEngine(cluster)
    for protocol, port in probes:
        expected = Reachability()
        for s in PODS:
            for d in PODS:
                expected.matrix[(s, d)] = reference_allowed(policies, pods[s], pods[d], protocol, port)
        problem = _diff(expected, engine_reachability(engine, pods, protocol, port), f"{protocol}/{port}")
        assert problem is None, f"{problem}\npolicies:\n{yaml.safe_dump_all(policies, sort_keys=False)}"
