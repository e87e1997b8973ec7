"""Kubernetes NetworkPolicy → Calico policy, the way Calico's `conversion.go` does it.

calico.md §2.9: tier `default`, order 1000, selector built from `podSelector` with the
`projectcalico.org/orchestrator == 'k8s'` clause, one Allow rule per (protocol, peer) with
protocols in sorted order, ports merged into ranges, `ipBlock` → nets/notNets,
`namespaceSelector: {}` → `all()`. `policyTypes` are taken as the Kubernetes API server
stores them: listed ones, or (none listed) Ingress plus Egress when the spec has egress rules.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Any

from desktopviz.core.model import EntityRule, Policy, Rule, SourceLocation

ORCHESTRATOR_CLAUSE = "projectcalico.org/orchestrator == 'k8s'"
K8S_PROTOCOLS = ("TCP", "UDP", "SCTP")
STAGED_ACTIONS = ("Set", "Delete", "Learn", "Ignore")
# Kubernetes' name rules (apimachinery validation.go): a DNS label, a DNS subdomain, and the
# name part of a qualified name (label keys, annotation keys)
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
LABEL_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")


class ConversionError(ValueError):
    """A Kubernetes NetworkPolicy that cannot be converted; `path` names the bad field."""

    def __init__(self, message: str, path: str = "") -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.message = message
        self.path = path


def _mapping(value: Any, path: str, *, optional: bool = True) -> Mapping[str, Any]:
    if value is None and optional:
        return {}
    if not isinstance(value, Mapping):
        raise ConversionError("expected a mapping", path)
    return value


def _list(value: Any, path: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ConversionError("expected a list", path)
    return value


def _quote(value: Any, path: str) -> str:
    if value is not None and not isinstance(value, str):
        # Kubernetes label values are strings (matchLabels is map[string]string); str(True)
        # would give 'True', which no pod label "true" matches.
        kind = "a boolean" if isinstance(value, bool) else f"a {type(value).__name__}"
        raise ConversionError(f"label values must be strings, got {kind} {value!r} (quote it)", path)
    text = value or ""
    if "'" in text:
        raise ConversionError(f"label value {text!r} contains a quote", path)
    return text


def label_selector_to_calico(sel: Any, path: str, *, pod: bool) -> str:
    """Calico's `k8sSelectorToCalico`: pod selectors start with the orchestrator clause;
    a present but empty namespace selector is `all()`; None gives "" (namespace) or only
    the orchestrator clause (pod)."""
    parts: list[str] = [ORCHESTRATOR_CLAUSE] if pod else []
    if sel is None:
        return " && ".join(parts)
    sel = _mapping(sel, path, optional=False)
    match_labels = _mapping(sel.get("matchLabels"), f"{path}.matchLabels")
    exprs = _list(sel.get("matchExpressions"), f"{path}.matchExpressions")
    if not pod and not match_labels and not exprs:
        return "all()"
    for key in sorted(match_labels):
        parts.append(f"{key} == '{_quote(match_labels[key], f'{path}.matchLabels.{key}')}'")
    for i, expr in enumerate(exprs):
        epath = f"{path}.matchExpressions[{i}]"
        expr = _mapping(expr, epath, optional=False)
        key = expr.get("key")
        if not isinstance(key, str) or not key:
            raise ConversionError("key is required", f"{epath}.key")
        op = expr.get("operator")
        values = _list(expr.get("values"), f"{epath}.values")
        if op in ("In", "NotIn"):
            if not values:
                raise ConversionError(f"operator {op} needs values", f"{epath}.values")
            joined = "', '".join(_quote(v, f"{epath}.values[{j}]") for j, v in enumerate(values))
            word = "in" if op == "In" else "not in"
            parts.append(f"{key} {word} {{ '{joined}' }}")
        elif op in ("Exists", "DoesNotExist"):
            if values:
                raise ConversionError(f"operator {op} takes no values", f"{epath}.values")
            parts.append(f"has({key})" if op == "Exists" else f"! has({key})")
        else:
            raise ConversionError(
                f"unknown operator {op!r} (expected In, NotIn, Exists, DoesNotExist)", f"{epath}.operator"
            )
    return " && ".join(parts)


def _cidr(value: Any, path: str) -> str:
    """A CIDR as Go's net.ParseCIDR reads it (address/prefix-length, host bits masked off);
    a bare address or a dotted netmask is not a CIDR there (nor for Kubernetes)."""
    text = value if isinstance(value, str) else ""
    _, slash, bits = text.partition("/")
    try:
        if not slash or not bits.isdigit():
            raise ValueError(text)
        return str(ipaddress.ip_network(text, strict=False))
    except ValueError as exc:
        raise ConversionError(f"invalid CIDR {value!r} (expected address/prefix-length)", path) from exc


def _except(cidr: str, value: Any, path: str) -> str:
    """An `ipBlock.except` entry: a CIDR strictly inside `cidr` (the API server's
    ValidateIPBlock: contained, with a longer prefix)."""
    net, inner = ipaddress.ip_network(cidr), ipaddress.ip_network(_cidr(value, path))
    inside = inner.version == net.version and inner.subnet_of(net)  # type: ignore[arg-type]
    if not inside or inner.prefixlen <= net.prefixlen:
        raise ConversionError(f"{value!r} must be a strict subset of cidr {cidr}", path)
    return str(inner)


def _peer(peer: Any, path: str) -> EntityRule:
    """One `from`/`to` peer as the selector fields of a Calico EntityRule."""
    peer = _mapping(peer, path, optional=False)
    block = peer.get("ipBlock")
    if block is not None:
        block = _mapping(block, f"{path}.ipBlock", optional=False)
        if peer.get("podSelector") is not None or peer.get("namespaceSelector") is not None:
            raise ConversionError("ipBlock cannot be combined with podSelector or namespaceSelector", path)
        if "cidr" not in block:
            raise ConversionError("cidr is required", f"{path}.ipBlock.cidr")
        cidr = _cidr(block["cidr"], f"{path}.ipBlock.cidr")
        excepts = _list(block.get("except"), f"{path}.ipBlock.except")
        not_nets = [_except(cidr, e, f"{path}.ipBlock.except[{i}]") for i, e in enumerate(excepts)]
        return EntityRule(nets=[cidr], not_nets=not_nets)
    if peer.get("podSelector") is None and peer.get("namespaceSelector") is None:
        raise ConversionError("a peer needs podSelector, namespaceSelector or ipBlock", path)
    selector = label_selector_to_calico(peer.get("podSelector"), f"{path}.podSelector", pod=True)
    ns_sel = label_selector_to_calico(peer.get("namespaceSelector"), f"{path}.namespaceSelector", pod=False)
    return EntityRule(selector=selector, namespace_selector=ns_sel or None)


def _port(entry: Any, path: str) -> tuple[str, int | str | None]:
    """(protocol, port) of one NetworkPolicyPort; port None = every port of the protocol."""
    entry = _mapping(entry, path)
    proto = entry.get("protocol")
    if proto is None:  # absent or null: TCP, the NetworkPolicyPort default
        proto = "TCP"
    if not isinstance(proto, str) or proto.upper() not in K8S_PROTOCOLS:
        raise ConversionError(f"unknown protocol {proto!r} (expected TCP, UDP or SCTP)", f"{path}.protocol")
    proto = proto.upper()
    port = entry.get("port")
    end = entry.get("endPort")
    if port is None:
        if end is not None:
            raise ConversionError("endPort needs port", f"{path}.endPort")
        return proto, None
    if isinstance(port, bool) or not isinstance(port, int | str):
        raise ConversionError(f"invalid port {port!r}", f"{path}.port")
    if isinstance(port, int):
        if not 1 <= port <= 65535:
            raise ConversionError(f"port {port} out of range 1-65535", f"{path}.port")
        if end is None:
            return proto, port
        if isinstance(end, bool) or not isinstance(end, int) or not port <= end <= 65535:
            raise ConversionError(
                f"endPort {end!r} must be a number from port ({port}) to 65535", f"{path}.endPort"
            )
        return proto, port if end == port else f"{port}:{end}"
    if not valid_port_name(port):
        # Kubernetes validates NetworkPolicyPort names (IsValidPortName) before Calico sees them;
        # Calico's own PortFromString would drop the rule ("invalid name for named port"). A
        # quoted number is a string, so a port name, and refused (it has no letter).
        raise ConversionError(port_name_error(port, "port"), f"{path}.port")
    if end is not None:
        raise ConversionError("endPort needs a numeric port", f"{path}.endPort")
    return proto, port


def default_policy_types(egress: bool) -> list[str]:
    """The policyTypes the Kubernetes API server gives a NetworkPolicy that lists none."""
    return ["Ingress", "Egress"] if egress else ["Ingress"]


def valid_qualified_name(key: str) -> bool:
    """Kubernetes IsQualifiedName: an optional DNS-subdomain prefix and '/', then a name of 1-63
    letters, digits, '-', '_' and '.', starting and ending with a letter or digit."""
    prefix, slash, name = key.rpartition("/")
    if slash and (len(prefix) > 253 or not SUBDOMAIN.match(prefix)):
        return False
    return 0 < len(name) <= 63 and LABEL_NAME.match(name) is not None


def port_name_error(name: str, key: str | None = None) -> str:
    """The message for a name :func:`valid_port_name` refuses; for the Kubernetes field ``key``
    (an IntOrString: a quoted number is a name there), a quoted number gets the fix too."""
    message = (
        f"invalid port name {name!r} (IANA service name: at most 15 lower-case letters, digits "
        "and single hyphens, with a letter)"
    )
    if key is not None and name.strip().isdigit():
        message += f"; write a port number without quotes ({key}: {name.strip()})"
    return message


def valid_port_name(name: str) -> bool:
    """Kubernetes IsValidPortName: a DNS label of at most 15 characters with a letter, no '--'."""
    return (
        0 < len(name) <= 15
        and DNS_LABEL.match(name) is not None
        and "--" not in name
        and any(c.isalpha() for c in name)
    )


def _port_bounds(port: int | str) -> tuple[int, int]:
    if isinstance(port, int):
        return port, port
    lo, hi = port.split(":")
    return int(lo), int(hi)


def simplify_ports(ports: list[int | str]) -> list[int | str]:
    """Calico's `SimplifyPorts`: named ports first (as given), then numeric ports merged into
    the fewest ascending ranges (adjacent or overlapping ranges join). As in Calico, when the
    numeric entries cover at most one port number the list is returned unchanged, in its
    order ([80, "foo"] stays so; conversion.go `SimplifyPorts`)."""
    if len(ports) <= 1:
        return list(ports)
    named = [p for p in ports if isinstance(p, str) and ":" not in p]
    ranges = sorted(_port_bounds(p) for p in ports if not (isinstance(p, str) and ":" not in p))
    if sum(hi - lo + 1 for lo, hi in ranges) <= 1:
        return list(ports)
    merged: list[list[int]] = []
    for lo, hi in ranges:
        if merged and lo <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi])
    out: list[int | str] = list(named)
    out.extend(lo if lo == hi else f"{lo}:{hi}" for lo, hi in merged)
    return out


def _rule_raw(rule: Rule, ingress: bool) -> dict[str, Any]:
    peer = rule.source if ingress else rule.destination
    raw: dict[str, Any] = {"action": "Allow"}
    if rule.protocol is not None:
        raw["protocol"] = rule.protocol
    ent: dict[str, Any] = {}
    if peer.selector:
        ent["selector"] = peer.selector
    if peer.namespace_selector:
        ent["namespaceSelector"] = peer.namespace_selector
    if peer.nets:
        ent["nets"] = list(peer.nets)
    if peer.not_nets:
        ent["notNets"] = list(peer.not_nets)
    dst: dict[str, Any] = {} if ingress else ent
    if rule.destination.ports:
        dst["ports"] = list(rule.destination.ports)
    if ingress and ent:
        raw["source"] = ent
    if dst:
        raw["destination"] = dst
    return raw


def _direction_rules(
    items: list[Any], path: str, ingress: bool, location: SourceLocation | None
) -> list[Rule]:
    """Calico's `k8sRuleToCalico` for every ingress/egress item of the spec."""
    rules: list[Rule] = []
    peer_key = "from" if ingress else "to"
    for i, item in enumerate(items):
        ipath = f"{path}[{i}]"
        item = _mapping(item, ipath)
        peers_raw = _list(item.get(peer_key), f"{ipath}.{peer_key}")
        peers: list[EntityRule | None] = [
            _peer(p, f"{ipath}.{peer_key}[{j}]") for j, p in enumerate(peers_raw)
        ]
        ports_raw = _list(item.get("ports"), f"{ipath}.ports")
        by_proto: dict[str, list[int | str] | None] = {}
        if not ports_raw:
            by_proto = {"": None}
        for j, entry in enumerate(ports_raw):
            proto, port = _port(entry, f"{ipath}.ports[{j}]")
            if port is None:
                by_proto[proto] = None
            elif proto not in by_proto:
                by_proto[proto] = [port]
            elif by_proto[proto] is not None:
                by_proto[proto].append(port)  # type: ignore[union-attr]
        if not peers:
            peers = [None]
        for proto in sorted(by_proto):
            ports = simplify_ports(by_proto[proto] or [])
            for peer in peers:
                ent = peer or EntityRule()
                sel = dict(
                    selector=ent.selector,
                    namespace_selector=ent.namespace_selector,
                    nets=list(ent.nets),
                    not_nets=list(ent.not_nets),
                )
                rule = Rule(
                    action="Allow",
                    protocol=proto or None,
                    source=EntityRule(**sel) if ingress else EntityRule(),  # type: ignore[arg-type]
                    destination=EntityRule(ports=list(ports), **({} if ingress else sel)),  # type: ignore[arg-type]
                    location=location.child(ipath) if location else None,
                )
                rule.raw = _rule_raw(rule, ingress)
                rules.append(rule)
    return rules


def convert_network_policy(
    doc: dict[str, Any], location: SourceLocation | None = None, staged: bool = False
) -> Policy:
    """Convert a networking.k8s.io/v1 NetworkPolicy (or, with `staged`, a
    StagedKubernetesNetworkPolicy document) into a model Policy in Calico form."""
    doc_map = _mapping(doc, "", optional=False)
    meta = _mapping(doc_map.get("metadata"), "metadata", optional=False)
    name = meta.get("name")
    if not isinstance(name, str) or not name:
        raise ConversionError("name is required", "metadata.name")
    namespace = meta.get("namespace") or "default"
    if not isinstance(namespace, str):
        raise ConversionError("expected a string", "metadata.namespace")
    spec = _mapping(doc_map.get("spec"), "spec")
    known = {"podSelector", "policyTypes", "ingress", "egress"} | ({"stagedAction"} if staged else set())
    for key in spec:
        if key not in known:
            raise ConversionError(f"unknown field {key!r}", f"spec.{key}")
    selector = label_selector_to_calico(spec.get("podSelector") or {}, "spec.podSelector", pod=True)
    ingress_items = _list(spec.get("ingress"), "spec.ingress")
    egress_items = _list(spec.get("egress"), "spec.egress")
    listed = _list(spec.get("policyTypes"), "spec.policyTypes")
    for i, t in enumerate(listed):
        if t not in ("Ingress", "Egress"):
            raise ConversionError(
                f"unknown policy type {t!r} (expected Ingress or Egress)", f"spec.policyTypes[{i}]"
            )
    if listed:
        types = [t for t in ("Ingress", "Egress") if t in listed]
    elif staged:  # no API server defaulting for the staged kind: conversion.go's [Ingress]
        types = ["Ingress"]
    else:  # a NetworkPolicy as the Kubernetes API server stores it
        types = default_policy_types(bool(egress_items))
    staged_action: str | None = None
    if staged:
        staged_action = spec.get("stagedAction") or "Set"
        if staged_action not in STAGED_ACTIONS:
            raise ConversionError(
                f"unknown stagedAction {staged_action!r} (expected {', '.join(STAGED_ACTIONS)})",
                "spec.stagedAction",
            )
    return Policy(
        kind="StagedKubernetesNetworkPolicy" if staged else "KubernetesNetworkPolicy",
        name=name,
        namespace=namespace,
        tier="default",
        order=1000.0,
        selector=selector,
        types=types,
        ingress=_direction_rules(ingress_items, "spec.ingress", True, location),
        egress=_direction_rules(egress_items, "spec.egress", False, location),
        staged_action=staged_action,
        location=location,
        raw=dict(doc_map),
    )
