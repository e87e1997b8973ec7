"""Calico resources of a scenario (projectcalico.org/v3): Tier, (Staged)(Global)NetworkPolicy,
StagedKubernetesNetworkPolicy, (Global)NetworkSet, HostEndpoint.

Validated as Calico's API server would (calico.md §2.1, §2.2, §2.4, §2.10–2.13). Whether the
tier and namespace exist is checked later, when the whole scenario is known.
"""

from __future__ import annotations

from typing import Any

from desktopviz.core.k8s_convert import STAGED_ACTIONS
from desktopviz.core.model import (
    FIXED_TIERS,
    LABEL_NAMESPACE,
    ContainerPort,
    HostEndpoint,
    NetworkSet,
    Policy,
    Tier,
)
from desktopviz.core.scenario_k8s import check_name, check_port_name, meta
from desktopviz.core.scenario_rule_fields import check_domain
from desktopviz.core.scenario_rules import check_selector, location, parse_cidr, parse_rules
from desktopviz.core.scenario_yaml import Node, plain

POLICY_KINDS = (
    "NetworkPolicy",
    "GlobalNetworkPolicy",
    "StagedNetworkPolicy",
    "StagedGlobalNetworkPolicy",
)
RESERVED_PREFIXES = ("knp.default.", "kanp.adminnetworkpolicy.", "kbanp.baselineadminnetworkpolicy.", "ossg.")
_COMMON_SPEC = {
    "tier",
    "order",
    "selector",
    "serviceAccountSelector",
    "types",
    "ingress",
    "egress",
    "performanceHints",
}
_GLOBAL_SPEC = _COMMON_SPEC | {"namespaceSelector", "doNotTrack", "preDNAT", "applyOnForward"}
PERFORMANCE_HINTS = ("AssumeNeededOnEveryNode",)


def parse_tier(root: Node) -> Tier | None:
    # validator.go validateTier: a tier name is one DNS label (it prefixes policy names)
    name, _, _ = meta(root, namespaced=False, label_name=True)
    spec = root.get("spec")
    fixed = FIXED_TIERS.get(name or "")
    order: float | None = fixed[0] if fixed else None
    default_action = fixed[1] if fixed else "Deny"
    if spec is not None and spec.is_map():
        spec.check_keys({"order", "defaultAction"}, "a Tier spec")
        o = spec.get("order")
        if o is not None:
            value = o.as_number()
            if fixed and value is not None and value != fixed[0]:
                o.error(f"the order of tier {name!r} is fixed at {fixed[0]:.0f}")
            elif value is not None:
                order = value
        da = spec.get("defaultAction")
        if da is not None:
            if da.value not in ("Deny", "Pass"):
                da.error(f"unknown defaultAction {da.value!r} (expected Deny or Pass)")
            elif fixed and da.value != fixed[1]:
                da.error(f"the defaultAction of tier {name!r} must be {fixed[1]}")
            else:
                default_action = da.value
    if name is None:
        return None
    return Tier(name, order, default_action, location(root))  # type: ignore[arg-type]


def _check_policy_name(name_node: Node, name: str, tier: str) -> None:
    """calico.md §2.2: a policy in tier T is named `T.<name>` (`default.` may be left out);
    names.ValidateTieredPolicyName and the validator's name regexes (at most one dot)."""
    if name.startswith(RESERVED_PREFIXES):
        name_node.error(f"policy name {name!r} uses a reserved prefix")
    elif name.count(".") > 1:  # (a DNS subdomain already: meta checked it)
        # validator.go (HEAD) globalNetworkPolicyNameRegex / networkPolicyNameRegex: one optional dot
        name_node.error(f"invalid policy name {name!r} (lower-case DNS label, optionally '<tier>.<name>')")
    elif tier != "default" and not name.startswith(tier + "."):
        name_node.error(f"a policy in tier {tier!r} must be named '{tier}.<name>', got {name!r}")
    elif tier == "default" and "." in name and not name.startswith("default."):
        name_node.error(f"a policy in tier 'default' is named '<name>' or 'default.<name>', got {name!r}")


def parse_policy(root: Node, kind: str) -> Policy | None:
    """A Calico policy document (the enforced and staged Calico kinds)."""
    is_global = kind in ("GlobalNetworkPolicy", "StagedGlobalNetworkPolicy")
    staged = kind.startswith("Staged")
    name, namespace, _ = meta(root, namespaced=not is_global)
    spec = root.get("spec")
    if spec is None:
        spec = Node({}, root.file, root.line, root.col, "spec", root.issues)
    elif not spec.is_map():
        return None
    spec_value = spec.value
    allowed = (_GLOBAL_SPEC if is_global else _COMMON_SPEC) | ({"stagedAction"} if staged else set())
    spec.check_keys(allowed, f"a {kind} spec")
    tier_node = spec.get("tier")
    tier = (tier_node.as_str() if tier_node is not None else None) or "default"
    md = root.get("metadata")
    name_node = md.get("name") if md is not None else None
    if name is not None and name_node is not None:
        _check_policy_name(name_node, name, tier)
    order_node = spec.get("order")
    order = order_node.as_number() if order_node is not None else None
    sel = spec.get("selector")
    selector = (check_selector(sel) or "") if sel is not None else ""
    ns_sel = spec.get("namespaceSelector")
    namespace_selector = check_selector(ns_sel) if ns_sel is not None else None
    sa_sel = spec.get("serviceAccountSelector")
    sa_selector = check_selector(sa_sel) if sa_sel is not None else None
    ingress = parse_rules(spec, "ingress", "ingress", is_global=is_global)
    egress = parse_rules(spec, "egress", "egress", is_global=is_global)
    _check_hints(spec.get("performanceHints"))
    types = _types(spec, spec_value)
    flags = {}
    for key in ("doNotTrack", "preDNAT", "applyOnForward"):
        child = spec.get(key)
        flags[key] = bool(child.as_bool()) if child is not None else False
    if flags["doNotTrack"] and flags["preDNAT"]:
        spec.error("doNotTrack and preDNAT cannot both be true")
    if (flags["doNotTrack"] or flags["preDNAT"]) and not flags["applyOnForward"]:
        spec.error("applyOnForward must be true when doNotTrack or preDNAT is true")
    if flags["preDNAT"] and ("Egress" in types or egress):
        spec.error("preDNAT policies can only have ingress rules (types: [Ingress])")
    staged_action: str | None = None
    if staged:
        sa = spec.get("stagedAction")
        staged_action = "Set"  # also for an empty stagedAction, which is accepted (ENT validator_test)
        if sa is not None:
            if sa.value in STAGED_ACTIONS:
                staged_action = sa.value
            elif sa.value != "":
                sa.error(f"unknown stagedAction {sa.value!r} (expected {', '.join(STAGED_ACTIONS)})")
        if staged_action == "Delete":  # (spec_value is a dict: a map or the empty default)
            # validator.go validateStaged*: with Delete, every spec field but tier is zero-valued
            extra = [k for k, v in spec_value.items() if k not in ("tier", "stagedAction") and _non_zero(v)]
            if extra:
                spec.error(f"stagedAction Delete allows no other fields than tier, got {', '.join(extra)}")
    if name is None or (namespace is None and not is_global):
        return None
    return Policy(
        kind=kind,  # type: ignore[arg-type]
        name=name,
        namespace=None if is_global else namespace,
        tier=tier,
        order=order,
        selector=selector,
        namespace_selector=namespace_selector,
        service_account_selector=sa_selector,
        types=types,
        ingress=ingress,
        egress=egress,
        staged_action=staged_action,
        do_not_track=flags["doNotTrack"],
        pre_dnat=flags["preDNAT"],
        apply_on_forward=flags["applyOnForward"],
        location=location(root),
        raw=plain(root.value),
    )


def _non_zero(value: Any) -> bool:
    """Go zero values: absent, false, "" and empty lists/maps (`order: 0` is set, so not zero)."""
    return not (value is None or value is False or (isinstance(value, (str, list, dict)) and not value))


def _check_hints(node: Node | None) -> None:
    """performanceHints: known values, each at most once (validator_test.go PerformanceHints)."""
    seen: list[Any] = []
    for item in node.items() if node is not None else []:
        if item.value not in PERFORMANCE_HINTS:
            item.error(f"unknown performance hint {item.value!r} (expected {', '.join(PERFORMANCE_HINTS)})")
        elif item.value in seen:
            item.error(f"duplicate performance hint {item.value!r}")
        seen.append(item.value)


def _types(spec: Node, spec_value: Any) -> list[str]:
    """Listed types, or defaulted from the rules present (calico.md §2.4). Rules of a direction
    the listed types leave out are accepted and ignored, as Calico does (§2.3)."""
    tnode = spec.get("types")
    if tnode is None or tnode.value is None or (isinstance(tnode.value, list) and not tnode.value):
        # Calico's client defaults an absent *or empty* list (defaultPolicyTypesField: len == 0).
        has_in = bool(spec_value.get("ingress")) if isinstance(spec_value, dict) else False
        has_out = bool(spec_value.get("egress")) if isinstance(spec_value, dict) else False
        if has_out and not has_in:
            return ["Egress"]
        if has_out:
            return ["Ingress", "Egress"]
        return ["Ingress"]
    listed: list[str] = []
    for item in tnode.items():
        if item.value in ("Ingress", "Egress"):
            if item.value in listed:
                item.error(f"duplicate type {item.value!r}")
            listed.append(item.value)
        else:
            item.error(f"unknown policy type {item.value!r} (expected Ingress or Egress)")
    return [t for t in ("Ingress", "Egress") if t in listed]


def parse_network_set(root: Node, kind: str) -> NetworkSet | None:
    is_global = kind == "GlobalNetworkSet"
    name, namespace, labels = meta(root, namespaced=not is_global)
    md = root.get("metadata")  # (meta reported a metadata or labels that is not a mapping)
    lab = md.get("labels") if md is not None and isinstance(md.value, dict) else None
    for key, child in lab.entries() if lab is not None and isinstance(lab.value, dict) else ():
        if key == LABEL_NAMESPACE:  # whatever its value, null included
            # validator.go validate(Global)NetworkSet: Calico sets this label itself (calico.md §2.7)
            child.error(f"{LABEL_NAMESPACE} is not a valid label name on a network set")
    spec = root.get("spec")
    nets: list[str] = []
    domains: list[str] = []
    if spec is not None and spec.is_map():
        spec.check_keys({"nets", "allowedEgressDomains"}, f"a {kind} spec")
        nn = spec.get("nets")
        for item in nn.items() if nn is not None else []:
            cidr = parse_cidr(item)
            if cidr is not None:
                nets.append(cidr)
        dn = spec.get("allowedEgressDomains")
        for item in dn.items() if dn is not None else []:
            d = check_domain(item)
            if d is not None:
                domains.append(d)
    if name is None:
        return None
    return NetworkSet(name, None if is_global else namespace, labels, nets, domains, location(root))


def parse_host_endpoint(root: Node) -> HostEndpoint | None:
    name, _, labels = meta(root, namespaced=False)
    spec = root.get("spec")
    if spec is None:
        root.missing("spec")
        return None
    if not spec.is_map():
        return None
    spec.check_keys({"node", "interfaceName", "expectedIPs", "profiles", "ports"}, "a HostEndpoint spec")
    node_node = spec.get("node")
    node = check_name(node_node) if node_node is not None else None
    if node_node is None:
        spec.missing("node")
    iface = spec.get("interfaceName")
    interface = iface.as_str() if iface is not None else None
    ips: list[str] = []
    eips = spec.get("expectedIPs")
    for item in eips.items() if eips is not None else []:
        cidr = parse_cidr(item)
        if cidr is not None:
            if not (cidr.endswith("/32") or cidr.endswith("/128")):
                item.error(f"expected an IP address, got {item.value!r}")
                continue
            ips.append(cidr.rsplit("/", 1)[0])
    if interface is None and not ips:
        spec.error("a HostEndpoint needs interfaceName or expectedIPs")
    prof = spec.get("profiles")
    profiles = prof.as_str_list() if prof is not None else []
    ports: list[ContainerPort] = []
    plist = spec.get("ports")
    for p in plist.items() if plist is not None else []:
        if not p.is_map():
            continue
        pname = p.get("name")
        pnum = p.get("port")
        if pname is None or pnum is None:
            p.missing("name" if pname is None else "port")
            continue
        port = pnum.as_int(1, 65535)
        pn = check_port_name(pname)
        proto = p.get("protocol")
        protocol = str(proto.value).upper() if proto is not None else "TCP"
        if protocol not in ("TCP", "UDP", "SCTP") and proto is not None:
            proto.error(f"unknown protocol {proto.value!r} (expected TCP, UDP or SCTP)")
        if port is not None and pn is not None:
            ports.append(ContainerPort(port, protocol, pn))
    if name is None or node is None:
        return None
    return HostEndpoint(name, node, interface, ips, dict(labels), profiles, ports, location(root))


__all__ = [
    "POLICY_KINDS",
    "parse_host_endpoint",
    "parse_network_set",
    "parse_policy",
    "parse_tier",
]
