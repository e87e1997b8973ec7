"""Calico rules and entity rules: parsed into model.Rule/EntityRule with canonical values and
validated as Calico's API server does (calico.md §2.8, §2.10).

Canonical values: action `Allow|Deny|Pass|Log`; protocol `TCP|UDP|ICMP|ICMPv6|SCTP|UDPLite`
or a number; ports `80`, `"6040:6050"` or a port name; nets as CIDRs (a single address
becomes /32 or /128). Selectors are kept as written, after checking them with
:func:`desktopviz.core.selector.parse_selector`.
"""

from __future__ import annotations

import ipaddress
import re

from desktopviz.core.k8s_convert import port_name_error, valid_port_name
from desktopviz.core.model import EntityRule, Rule, SourceLocation
from desktopviz.core.scenario_rule_fields import (
    ICMP_PROTOCOLS,
    check_annotations,
    check_domain,
    check_http,
    parse_icmp,
    parse_services,
)
from desktopviz.core.scenario_yaml import Node, describe, plain

ACTIONS = {"allow": "Allow", "deny": "Deny", "pass": "Pass", "log": "Log"}
PROTOCOLS = {
    "tcp": "TCP",
    "udp": "UDP",
    "icmp": "ICMP",
    "icmpv6": "ICMPv6",
    "sctp": "SCTP",
    "udplite": "UDPLite",
}
PROTOCOL_NUMBERS = {"TCP": 6, "UDP": 17, "ICMP": 1, "ICMPv6": 58, "SCTP": 132, "UDPLite": 136}
_PORT_PROTOCOLS = {"TCP", "UDP", "SCTP", 6, 17, 132}

RULE_FIELDS = frozenset(
    {
        "action",
        "protocol",
        "notProtocol",
        "ipVersion",
        "icmp",
        "notICMP",
        "source",
        "destination",
        "http",
        "metadata",
    }
)
ENTITY_FIELDS = frozenset(
    {
        "selector",
        "notSelector",
        "namespaceSelector",
        "nets",
        "notNets",
        "ports",
        "notPorts",
        "serviceAccounts",
        "services",
        "domains",
    }
)
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
_GLOBAL = re.compile(r"\bglobal\s*\(")


def location(node: Node) -> SourceLocation:
    return SourceLocation(node.file, node.line, node.col, node.path)


def mentions_global(text: str) -> bool:
    """True if `global()` appears in the selector outside string literals."""
    return bool(_GLOBAL.search(_QUOTED.sub("''", text)))


def check_selector(node: Node, *, allow_global: bool = False) -> str | None:
    """The selector text if it parses (reporting the parser's column otherwise)."""
    from desktopviz.core.selector import SelectorError, parse_selector

    text = node.as_str()
    if text is None:
        return None
    if len(text) > 1024:  # CRD schema maxLength
        node.error(f"a selector has at most 1024 characters, got {len(text)}")
        return None
    try:
        parse_selector(text)
    except SelectorError as exc:
        node.error(f"{exc.message} (column {exc.column + 1})")
        return None
    if mentions_global(text) and not (allow_global and text.strip() == "global()"):
        node.error("global() is only allowed as the whole namespaceSelector of a rule")
        return None
    return text


def parse_protocol(node: Node) -> str | int | None:
    v = node.value
    if isinstance(v, str) and v.isdigit():
        v = int(v)
    if isinstance(v, bool):
        node.error(f"expected a protocol name or number, got {describe(v)}")
        return None
    if isinstance(v, int):
        if not 1 <= v <= 255:
            node.error(f"protocol number must be 1-255, got {v}")
            return None
        return v
    if isinstance(v, str) and v.lower() in PROTOCOLS:
        return PROTOCOLS[v.lower()]
    node.error(f"unknown protocol {v!r} (expected TCP, UDP, ICMP, ICMPv6, SCTP, UDPLite or 1-255)")
    return None


def parse_port(node: Node) -> tuple[int | str | None, bool]:
    """One port entry: (canonical value, is_numeric)."""
    v = node.value
    if isinstance(v, bool):
        node.error(f"expected a port, range or port name, got {describe(v)}")
        return None, False
    if isinstance(v, int):
        if not 1 <= v <= 65535:
            node.error(f"port must be 1-65535, got {v}")
            return None, True
        return v, True
    if not isinstance(v, str) or not v:
        node.error(f"expected a port, range or port name, got {describe(v)}")
        return None, False
    if v.isdigit():
        return parse_port(Node(int(v), node.file, node.line, node.col, node.path, node.issues))
    if ":" in v:
        lo_s, _, hi_s = v.partition(":")
        if not (lo_s.isdigit() and hi_s.isdigit()):
            node.error(f"invalid port range {v!r} (expected 'first:last')")
            return None, True
        lo, hi = int(lo_s), int(hi_s)
        if not (1 <= lo <= 65535 and 1 <= hi <= 65535) or lo > hi:
            node.error(f"invalid port range {v!r} (1-65535, first <= last)")
            return None, True
        return (lo if lo == hi else f"{lo}:{hi}"), True
    if not valid_port_name(v):
        node.error(port_name_error(v))
        return None, False
    return v, False


def parse_cidr(node: Node) -> str | None:
    """A CIDR or single address, canonical (`10.0.0.1` -> `10.0.0.1/32`)."""
    text = node.as_str()
    if text is None:
        return None
    try:
        return str(ipaddress.ip_network(text.strip(), strict=False))
    except ValueError:
        node.error(f"invalid CIDR {text!r}")
        return None


class _RuleState:
    """Facts about a rule needed by cross-field checks."""

    def __init__(self, protocol: str | int | None) -> None:
        self.protocol = protocol
        self.versions: set[int] = set()


def parse_entity(
    node: Node, rule: _RuleState, *, side: str, direction: str, action: str, is_global: bool = False
) -> EntityRule:
    ent = EntityRule()
    if not node.is_map():
        return ent
    node.check_keys(ENTITY_FIELDS, f"a rule {side}")
    for key, attr in (("selector", "selector"), ("notSelector", "not_selector")):
        child = node.get(key)
        if child is not None:
            setattr(ent, attr, check_selector(child))
    child = node.get("namespaceSelector")
    if child is not None:
        ent.namespace_selector = check_selector(child, allow_global=True)
    for key, attr in (("nets", "nets"), ("notNets", "not_nets")):
        child = node.get(key)
        if child is None:
            continue
        items = child.items()
        if len(items) > 256:
            child.error("at most 256 entries")
        nets = []
        for item in items:
            cidr = parse_cidr(item)
            if cidr is None:
                continue
            if key == "notNets" and cidr in ("0.0.0.0/0", "::/0"):
                item.error(f"{cidr} is not allowed in notNets")
                continue
            rule.versions.add(ipaddress.ip_network(cidr).version)
            nets.append(cidr)
        setattr(ent, attr, nets)
    for key, attr in (("ports", "ports"), ("notPorts", "not_ports")):
        child = node.get(key)
        if child is None:
            continue
        items = child.items()
        if len(items) > 50:
            child.error("at most 50 entries")
        ports: list[int | str] = []
        for item in items:
            port, numeric = parse_port(item)
            if port is None:
                continue
            # validator.go validateRule: a protocol without ports takes no port at all; numeric
            # ports and ranges need one with ports (a named port may go without a protocol)
            if rule.protocol is not None and rule.protocol not in _PORT_PROTOCOLS:
                item.error(f"protocol {rule.protocol} has no ports (ports need TCP, UDP or SCTP)")
            elif numeric and rule.protocol is None:
                item.error("numeric ports and ranges need protocol TCP, UDP or SCTP")
            ports.append(port)
        setattr(ent, attr, ports)
    sa = node.get("serviceAccounts")
    if sa is not None and sa.is_map():
        sa.check_keys({"names", "selector"}, "serviceAccounts")
        names = sa.get("names")
        if names is not None:
            ent.service_account_names = names.as_str_list()
        sel = sa.get("selector")
        if sel is not None:
            ent.service_account_selector = check_selector(sel)
    svc = node.get("services")
    if svc is not None:
        parse_services(svc, node, ent, side=side, direction=direction, is_global=is_global)
    dom = node.get("domains")
    if dom is not None:
        if side != "destination" or direction != "egress" or action != "Allow":
            dom.error("domains are only allowed in the destination of egress Allow rules")
        elif ent.nets or ent.selector:
            dom.error("domains cannot be combined with nets or selector")
        ent.domains = [d for d in (check_domain(i) for i in dom.items()) if d]
    return ent


def parse_rule(node: Node, direction: str, *, is_global: bool = False) -> Rule | None:
    """One rule of a Calico policy's `ingress` or `egress` list."""
    if not node.is_map():
        return None
    node.check_keys(RULE_FIELDS, "a rule")
    act = node.get("action")
    action: str | None = None
    if act is None:
        node.missing("action")
    elif isinstance(act.value, str) and act.value.lower() in ACTIONS:
        action = ACTIONS[act.value.lower()]
    else:
        act.error(f"unknown action {act.value!r} (expected Allow, Deny, Pass or Log)")
    proto = node.get("protocol")
    protocol = parse_protocol(proto) if proto is not None else None
    nproto = node.get("notProtocol")
    not_protocol = parse_protocol(nproto) if nproto is not None else None
    ipv = node.get("ipVersion")
    ip_version = ipv.as_int() if ipv is not None else None
    if ipv is not None and ip_version not in (None, 4, 6):
        ipv.error(f"ipVersion must be 4 or 6, got {ip_version}")
        ip_version = None
    for pnode, pvalue in ((proto, protocol), (nproto, not_protocol)):
        want = ICMP_PROTOCOLS.get(pvalue)  # type: ignore[arg-type]
        if pnode is not None and ip_version is not None and want not in (None, ip_version):
            pnode.error(f"protocol {pvalue} needs ipVersion {want}")
    state = _RuleState(protocol)
    rule = Rule(action=action or "Deny", protocol=protocol, not_protocol=not_protocol, ip_version=ip_version)  # type: ignore[arg-type]
    for key, attr in (("icmp", "icmp"), ("notICMP", "not_icmp")):
        child = node.get(key)
        if child is not None:
            setattr(rule, attr, parse_icmp(child, protocol, negated=key == "notICMP"))
    for side in ("source", "destination"):
        child = node.get(side)
        if child is not None:
            setattr(
                rule,
                side,
                parse_entity(
                    child, state, side=side, direction=direction, action=action or "", is_global=is_global
                ),
            )
    if len(state.versions) > 1:
        node.error("IPv4 and IPv6 nets cannot be mixed in one rule")
    elif ip_version is not None and state.versions and state.versions != {ip_version}:
        node.error(f"nets do not match ipVersion {ip_version}")
    http = node.get("http")
    if http is not None and http.is_map():
        check_http(http, action, protocol, direction)
        rule.http = plain(http.value)
    md = node.get("metadata")
    if md is not None and md.is_map():
        check_annotations(md)
    if action is None:
        return None
    rule.location = location(node)
    rule.raw = plain(node.value)
    return rule


def parse_rules(parent: Node, key: str, direction: str, *, is_global: bool = False) -> list[Rule]:
    child = parent.get(key)
    if child is None:
        return []
    items = child.items()
    if len(items) > 1024:  # CRD schema maxItems
        child.error(f"at most 1024 {direction} rules")
    rules = (parse_rule(item, direction, is_global=is_global) for item in items)
    return [r for r in rules if r is not None]
