"""Pods from workloads, named, placed and addressed the way Kubernetes and Calico would.

Pod names are stable across loads: a Deployment's pods are `<name>-<hash>-<suffix>` where the
10-character pod-template-hash comes from a hash of `namespace/name` (`frontend-864f4fcdfd-2hhv4`);
StatefulSet pods are `<name>-0`, `<name>-1`; DaemonSets run one pod per node. Pod IPs come
from a per-node block of the pod CIDR, Service cluster IPs from a hash of the Service's name
inside the service CIDR. :class:`PodPlacer` is also what a simulator uses for pods created
later (scale-ups): `PodPlacer.from_pods(settings, list(cluster.pods.values()))`.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math

from desktopviz.core.model import ClusterSettings, Pod, Workload

ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # Kubernetes rand.SafeEncodeString alphabet


def safe_hash(text: str, length: int) -> str:
    """`length` characters of Kubernetes' safe alphabet derived from `text` (stable)."""
    n = int.from_bytes(hashlib.sha256(text.encode()).digest(), "big")
    out = []
    for _ in range(length):
        n, r = divmod(n, len(ALPHABET))
        out.append(ALPHABET[r])
    return "".join(out)


def template_hash(namespace: str, name: str) -> str:
    """The 10-character pod-template-hash of a workload's pods. Kubernetes writes the decimal
    digits of a 32-bit hash through `SafeEncodeString`, so the characters are `4-9bcdf`
    (`864f4fcdfd`); here the hash is of `namespace/name`, so it is stable across loads."""
    h = int.from_bytes(hashlib.sha256(f"{namespace}/{name}".encode()).digest()[:8], "big")
    digits = str(1_000_000_000 + h % (2**32 - 1_000_000_000))
    return "".join(ALPHABET[ord(c) % len(ALPHABET)] for c in digits)


def pod_suffix(namespace: str, base: str, index: int) -> str:
    return safe_hash(f"{namespace}/{base}#{index}", 5)


class PodPlacer:
    """Gives pods a node (round-robin) and an IP from their node's block of the pod CIDR."""

    def __init__(self, settings: ClusterSettings, used_ips: set[str], placed: int = 0) -> None:
        self.nodes = list(settings.nodes) or ["node-1"]
        self.used = set(used_ips)
        self.counter = placed
        net = ipaddress.ip_network(settings.pod_cidr, strict=False)
        bits = math.ceil(math.log2(len(self.nodes))) if len(self.nodes) > 1 else 0
        new_prefix = max(min(24, net.max_prefixlen - 2), net.prefixlen + bits)
        if new_prefix > net.max_prefixlen - 2:
            raise ValueError(f"pod CIDR {settings.pod_cidr} is too small for {len(self.nodes)} nodes")
        blocks = net.subnets(new_prefix=new_prefix)
        self.blocks = {node: next(blocks) for node in self.nodes}
        self.net = net
        self.cursor: dict[str, int] = {}  # next offset to try, per block

    @classmethod
    def from_pods(cls, settings: ClusterSettings, pods: list[Pod]) -> PodPlacer:
        """A placer that continues after existing pods (for scale-ups and new pods)."""
        return cls(settings, {p.ip for p in pods if p.ip}, len(pods))

    def next_node(self) -> str:
        node = self.nodes[self.counter % len(self.nodes)]
        self.counter += 1
        return node

    def place(self, pod: Pod) -> None:
        if pod.node is None:
            pod.node = self.next_node()
        if pod.ip is None:
            pod.ip = self.next_ip(pod.node)
        self.used.add(pod.ip)

    def next_ip(self, node: str) -> str:
        """The first free address of the node's block (then of the whole pod CIDR)."""
        block = self.blocks.get(node)
        for net in ([block] if block is not None else []) + [self.net]:
            key = str(net)
            offset = self.cursor.get(key, 2)
            base = int(net.network_address)
            while offset < net.num_addresses - 1:
                ip = str(ipaddress.ip_address(base + offset))
                offset += 1
                if ip not in self.used:
                    self.cursor[key] = offset
                    self.used.add(ip)
                    return ip
            self.cursor[key] = offset
        raise ValueError(f"the pod CIDR {self.net} has no free address left")


def workload_pod(w: Workload, index: int, node: str | None = None) -> Pod:
    """The `index`-th pod of a workload, named as its controller would name it."""
    labels = dict(w.labels)
    h = template_hash(w.namespace, w.name)
    if w.kind == "Deployment":
        base = f"{w.name}-{h}"
        name, gen = f"{base}-{pod_suffix(w.namespace, base, index)}", f"{base}-"
        labels["pod-template-hash"] = h
    elif w.kind == "StatefulSet":
        name, gen = f"{w.name}-{index}", f"{w.name}-"
        labels["controller-revision-hash"] = f"{w.name}-{h}"
        labels["statefulset.kubernetes.io/pod-name"] = name
    else:  # ReplicaSet, DaemonSet
        name, gen = f"{w.name}-{pod_suffix(w.namespace, w.name, index)}", f"{w.name}-"
        if w.kind == "DaemonSet":
            labels["controller-revision-hash"] = h
            labels["pod-template-generation"] = "1"
    return Pod(
        name=name,
        namespace=w.namespace,
        labels=labels,
        node=node,
        service_account=w.service_account,
        ports=list(w.ports),
        generate_name=gen,
        workload=w.key,
        location=w.location,
    )


def expand_workload(w: Workload, placer: PodPlacer) -> list[Pod]:
    """Fill `w.pods` (DaemonSets: one per node) and place them."""
    if w.kind == "DaemonSet":
        w.replicas = len(placer.nodes)
        pods = [workload_pod(w, i, node) for i, node in enumerate(placer.nodes)]
    else:
        pods = [workload_pod(w, i) for i in range(w.replicas)]
    for pod in pods:
        placer.place(pod)
    w.pods = pods
    return pods


def service_ip(settings: ClusterSettings, key: str, used: set[str]) -> str:
    """A stable cluster IP for `ns/name` inside the service CIDR (hash, then probe)."""
    net = ipaddress.ip_network(settings.service_cidr, strict=False)
    size = net.num_addresses - 12
    if size <= 0:
        raise ValueError(f"service CIDR {settings.service_cidr} is too small")
    start = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") % size
    for i in range(size):
        ip = str(net.network_address + 11 + (start + i) % size)
        if ip not in used:
            used.add(ip)
            return ip
    raise ValueError(f"the service CIDR {net} has no free address left")
