"""Kubernetes objects of a scenario: Namespace, ServiceAccount, Pod, Service and the workload
kinds, with Kubernetes' checks on names, labels and ports. Workloads become pods in
:mod:`desktopviz.core.scenario_pods`.
"""

from __future__ import annotations

import ipaddress

from desktopviz.core.k8s_convert import (
    DNS_LABEL,
    LABEL_NAME,
    SUBDOMAIN,
    port_name_error,
    valid_port_name,
    valid_qualified_name,
)
from desktopviz.core.model import (
    K8S_NS_NAME_LABEL,
    ContainerPort,
    Labels,
    Namespace,
    Pod,
    Service,
    ServiceAccount,
    ServicePort,
    Workload,
)
from desktopviz.core.scenario_rules import location
from desktopviz.core.scenario_yaml import Node, describe

WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet")
_K8S_PROTOCOLS = ("TCP", "UDP", "SCTP")


def check_name(node: Node, *, label: bool = False) -> str | None:
    """A DNS-1123 subdomain (or label, for namespaces and services)."""
    name = node.as_str()
    if name is None:
        return None
    limit = 63 if label else 253
    pattern = DNS_LABEL if label else SUBDOMAIN
    if not name or len(name) > limit or not pattern.match(name):
        kind = "DNS label" if label else "DNS subdomain"
        node.error(
            f"invalid name {name!r}: must be a {kind} (lower-case letters, digits, '-', at most {limit})"
        )
        return None
    return name


def check_labels(node: Node) -> Labels:
    """Kubernetes label keys (optional DNS prefix + name) and string values (calico.md §3.5)."""
    labels: Labels = {}
    for key, child in node.entries():
        if not valid_qualified_name(key):
            child.error(f"invalid label key {key!r}")
            continue
        value = child.value
        if value is None:
            value = ""
        if not isinstance(value, str):
            child.error(f"label values must be strings, got {describe(value)} (quote it)")
            continue
        if value and (len(value) > 63 or not LABEL_NAME.match(value)):
            child.error(f"invalid label value {value!r}")
            continue
        labels[key] = value
    return labels


def meta(root: Node, *, namespaced: bool, label_name: bool = False) -> tuple[str | None, str | None, Labels]:
    """(name, namespace, labels) of a document; namespace 'default' when not given."""
    md = root.get("metadata")
    if md is None or not md.is_map():
        if md is None:
            root.missing("metadata")
        return None, None, {}
    name_node = md.get("name")
    name = check_name(name_node, label=label_name) if name_node is not None else None
    if name_node is None and not (md.has("generateName") and root.value.get("kind") == "Pod"):
        md.missing("name")
    namespace: str | None = None
    if namespaced:
        ns_node = md.get("namespace")
        namespace = check_name(ns_node, label=True) if ns_node is not None else "default"
    lab = md.get("labels")
    labels = check_labels(lab) if lab is not None and lab.is_map() else {}
    return name, namespace, labels


# -- ports --------------------------------------------------------------------------------
def parse_protocol_k8s(node: Node | None) -> str:
    if node is None:
        return "TCP"
    if isinstance(node.value, str) and node.value.upper() in _K8S_PROTOCOLS:
        return node.value.upper()
    node.error(f"unknown protocol {node.value!r} (expected TCP, UDP or SCTP)")
    return "TCP"


def container_ports(pod_spec: Node) -> list[ContainerPort]:
    ports: list[ContainerPort] = []
    containers = pod_spec.get("containers")
    if containers is None:
        return ports
    for c in containers.items():
        if not c.is_map():
            continue
        plist = c.get("ports")
        for p in plist.items() if plist is not None else []:
            if not p.is_map():
                continue
            num = p.get("containerPort")
            port = num.as_int(1, 65535) if num is not None else None
            if num is None:
                p.missing("containerPort")
            pname = p.get("name")
            name = check_port_name(pname) if pname is not None else None
            proto = parse_protocol_k8s(p.get("protocol"))
            if port is not None:
                ports.append(ContainerPort(port, proto, name))
    return ports


def check_port_name(node: Node, key: str | None = None) -> str | None:
    name = node.as_str()
    if name is not None and not valid_port_name(name):
        node.error(port_name_error(name, key))
        return None
    return name


def _service_account(pod_spec: Node) -> str:
    for key in ("serviceAccountName", "serviceAccount"):
        child = pod_spec.get(key)
        if child is not None:
            return check_name(child) or "default"
    return "default"


# -- documents ----------------------------------------------------------------------------
def parse_namespace(root: Node) -> Namespace | None:
    name, _, labels = meta(root, namespaced=False, label_name=True)
    if name is None:
        return None
    labels[K8S_NS_NAME_LABEL] = name
    return Namespace(name, labels, location(root))


def parse_service_account(root: Node) -> ServiceAccount | None:
    name, ns, labels = meta(root, namespaced=True)
    if name is None or ns is None:
        return None
    return ServiceAccount(name, ns, labels, location(root))


def parse_pod(root: Node) -> Pod | None:
    name, ns, labels = meta(root, namespaced=True)
    md = root.get("metadata")
    gen = md.get("generateName") if md is not None else None
    generate_name = gen.as_str() if gen is not None else None
    if ns is None or (name is None and not generate_name):
        return None
    spec = root.get("spec")
    if spec is None or not spec.is_map():
        if spec is None:
            root.missing("spec")
        return None
    ip: str | None = None
    status = root.get("status")
    pod_ip = status.get("podIP") if status is not None and status.is_map() else None
    if pod_ip is not None:
        try:
            ip = str(ipaddress.ip_address(str(pod_ip.value)))
        except ValueError:
            pod_ip.error(f"invalid IP address {pod_ip.value!r}")
    node_name = spec.get("nodeName")
    pod = Pod(
        name=name or "",
        namespace=ns,
        labels=labels,
        ip=ip,
        node=node_name.as_str() if node_name is not None else None,
        service_account=_service_account(spec),
        ports=container_ports(spec),
        generate_name=generate_name,
        location=location(root),
    )
    return pod


def parse_workload(root: Node, kind: str) -> Workload | None:
    name, ns, _ = meta(root, namespaced=True)
    spec = root.get("spec")
    if spec is None:
        root.missing("spec")
        return None
    if not spec.is_map() or name is None or ns is None:
        return None
    replicas = 1
    rep = spec.get("replicas")
    if rep is not None and kind != "DaemonSet":
        checked = rep.as_int(0, 10_000)
        if checked is None:
            return None
        replicas = checked
    template = spec.get("template")
    if template is None or not template.is_map():
        if template is None:
            spec.missing("template")
        return None
    tmeta = template.get("metadata")
    tlabels_node = tmeta.get("labels") if tmeta is not None and tmeta.is_map() else None
    labels = check_labels(tlabels_node) if tlabels_node is not None and tlabels_node.is_map() else {}
    _check_selector_matches(spec, labels)
    pod_spec = template.get("spec")
    if pod_spec is None or not pod_spec.is_map():
        if pod_spec is None:
            template.missing("spec")
        return None
    return Workload(
        kind=kind,
        name=name,
        namespace=ns,
        replicas=replicas,
        labels=labels,
        ports=container_ports(pod_spec),
        service_account=_service_account(pod_spec),
        location=location(root),
    )


def _check_selector_matches(spec: Node, labels: Labels) -> None:
    sel = spec.get("selector")
    if sel is None or not sel.is_map():
        return
    ml = sel.get("matchLabels")
    if ml is None or not ml.is_map():
        return
    wanted = check_labels(ml)
    if any(labels.get(k) != v for k, v in wanted.items()):
        ml.error("selector does not match the template labels (spec.template.metadata.labels)")


def parse_service(root: Node) -> tuple[Service, bool] | None:
    """The Service and whether it is headless (`clusterIP: None`)."""
    name, ns, _ = meta(root, namespaced=True, label_name=True)
    spec = root.get("spec")
    if name is None or ns is None:
        return None
    if spec is None or not spec.is_map():
        if spec is None:
            root.missing("spec")
        return None
    sel = spec.get("selector")
    selector = check_labels(sel) if sel is not None and sel.is_map() else None
    cluster_ip: str | None = None
    cip = spec.get("clusterIP")
    if cip is not None and cip.value != "None":
        try:
            cluster_ip = str(ipaddress.ip_address(str(cip.value)))
        except ValueError:
            cip.error(f"invalid IP address {cip.value!r}")
    ports: list[ServicePort] = []
    plist = spec.get("ports")
    for p in plist.items() if plist is not None else []:
        if not p.is_map():
            continue
        num = p.get("port")
        if num is None:
            p.missing("port")
            continue
        port = num.as_int(1, 65535)
        target: int | str | None = port
        tp = p.get("targetPort")
        if tp is not None:
            # IntOrString, as the API server validates it (ValidatePortNumOrName): a string is a
            # port name, so a quoted number is refused (a name needs a letter)
            if isinstance(tp.value, str):
                target = check_port_name(tp, "targetPort")
            else:
                target = tp.as_int(1, 65535)
        pname = p.get("name")
        pn = check_port_name(pname) if pname is not None else None
        if port is not None and target is not None:
            ports.append(ServicePort(port, target, parse_protocol_k8s(p.get("protocol")), pn))
    return Service(
        name, ns, selector, cluster_ip, ports, location(root)
    ), cip is not None and cip.value == "None"
