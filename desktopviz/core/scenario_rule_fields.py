"""Checks of a Calico rule's optional fields, as Calico's API server makes them (validator.go,
the CRD CEL rules; sources in tests/core/test_scenario_calico_validation.py): service matches,
ICMP matches, HTTP matches, rule annotations and domain names. Used by
:mod:`desktopviz.core.scenario_rules`."""

from __future__ import annotations

import re

from desktopviz.core.k8s_convert import valid_qualified_name
from desktopviz.core.model import EntityRule, IcmpMatch, ServiceMatch
from desktopviz.core.scenario_yaml import Node

ICMP_PROTOCOLS = {"ICMP": 4, "ICMPv6": 6, 1: 4, 58: 6}  # and their ipVersion (CRD CEL rules)
_DOMAIN_LABEL = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")


def check_domain(node: Node) -> str | None:
    """A domain name or a wildcard pattern (`*.twilio.com`: one `*`, whole label, not last)."""
    text = node.as_str()
    if text is None:
        return None
    name = text.rstrip(".").lower()
    labels = name.split(".")
    stars = [i for i, lab in enumerate(labels) if "*" in lab]
    ok = bool(name) and len(name) <= 253
    if len(stars) > 1 or any(labels[i] != "*" for i in stars) or (stars and stars[0] == len(labels) - 1):
        ok = False
    if ok and not all(lab == "*" or _DOMAIN_LABEL.match(lab) for lab in labels):
        ok = False
    if not ok:
        node.error(f"invalid domain name {text!r}")
        return None
    return name


def parse_services(
    svc: Node, node: Node, ent: EntityRule, *, side: str, direction: str, is_global: bool
) -> None:
    if not svc.is_map():
        return
    svc.check_keys({"name", "namespace"}, "services")
    name = svc.get("name")
    ns = svc.get("namespace")
    if name is None:
        svc.missing("name")
        return
    ent.services = ServiceMatch(name.as_str() or "", ns.as_str() if ns is not None else None)
    problems = []  # one error for the field, naming every problem (validateEntityRule, *PolicySpec)
    clash = [
        k
        for k in ("selector", "notSelector", "namespaceSelector", "nets", "notNets", "serviceAccounts")
        if node.has(k)
    ]
    if clash:
        problems.append(f"services cannot be combined with {', '.join(clash)}")
    if not ent.services.name:
        problems.append("a service match needs a service name")
    if is_global and not ent.services.namespace:
        problems.append("a service match in a global policy needs a namespace")
    if side == "destination" and direction != "egress":
        problems.append("destination services are only allowed in egress rules")
    if side == "source" and direction != "ingress":
        problems.append("source services are only allowed in ingress rules")
    if side == "destination" and (node.has("ports") or node.has("notPorts")):
        problems.append("destination services cannot be combined with ports (the service's ports are used)")
    if problems:
        svc.error("; ".join(problems))


def parse_icmp(node: Node, protocol: str | int | None, *, negated: bool) -> IcmpMatch | None:
    if not node.is_map():
        return None
    node.check_keys({"type", "code"}, "icmp")
    t = node.get("type")
    c = node.get("code")
    match = IcmpMatch(
        type=t.as_int(0, 254) if t is not None else None,
        code=c.as_int(0, 255) if c is not None else None,
    )
    if c is not None and t is None:
        node.error("an ICMP code needs a type")
    if protocol not in ICMP_PROTOCOLS and not negated:  # Calico checks `icmp` only, not `notICMP`
        node.error("ICMP matches need protocol ICMP or ICMPv6")
    return match


def check_http(node: Node, action: str | None, protocol: str | int | None, direction: str) -> None:
    """validator.go validateHTTPRule and ruleUsesAppLayerPolicy, CRD CEL rules: ingress Allow
    rules, protocol TCP (or 6) or none, methods without duplicates, paths `/...`."""
    node.check_keys({"methods", "paths", "headers"}, "http")
    if direction == "egress":
        node.error("HTTP matches are not allowed in egress rules")
    if action != "Allow":
        node.error("HTTP matches are only allowed in Allow rules")
    if protocol not in (None, "TCP", 6):
        node.error("HTTP matches need protocol TCP (or no protocol)")
    methods = node.get("methods")
    names = methods.as_str_list() if methods is not None else []
    if methods is not None and len(set(names)) != len(names):
        methods.error(f"duplicate HTTP methods in {names}")
    paths = node.get("paths")
    for child in (methods, paths):  # CRD schema: maxItems 20
        if child is not None and isinstance(child.value, list) and len(child.value) > 20:
            child.error("at most 20 entries")
    for item in paths.items() if paths is not None else []:
        if not item.is_map():
            continue
        item.check_keys({"exact", "prefix"}, "an HTTP path")
        exact, prefix = item.get("exact"), item.get("prefix")
        if exact is not None and prefix is not None:
            item.error("an HTTP path has either exact or prefix, not both")
            continue
        which = exact if exact is not None else prefix
        value = which.as_str() if which is not None else None
        if not value:
            item.error("an HTTP path needs exact or prefix")
        elif len(value) > 1024 or not value.startswith("/") or any(ch in value for ch in "? #"):
            item.error(f"invalid HTTP path {value!r} (starts with '/', no '?', '#' or space)")


def check_annotations(node: Node) -> None:
    """Rule metadata: annotation keys are qualified names (validator.go validateRuleMetadata)."""
    node.check_keys({"annotations"}, "rule metadata")
    ann = node.get("annotations")
    for key, child in ann.entries() if ann is not None else []:
        if not valid_qualified_name(key.lower()):
            child.error(f"invalid annotation key {key!r}")
