"""Policies compiled the way Felix sees them: selectors rewritten as Calico's update processors
do (calico.md §2.8) and rules turned into small match objects.

Selector matching is done once per *label class* (every endpoint or network set with the same
Calico labels shares a class), so a rule's peer test is "is the peer's class, or the class of
a network set holding its address, in this set".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from desktopviz.core.model import LABEL_NAMESPACE, LABEL_SERVICEACCOUNT, EntityRule, Policy, Rule
from desktopviz.core.policy_match import (
    Net,
    Packet,
    Peer,
    PortMatch,
    domain_matches,
    domain_pattern,
    in_nets,
    parse_net,
    protocol_number,
)
from desktopviz.core.selector import Selector, SelectorError, parse_selector


class PolicyCompileError(ValueError):
    """A policy the engine cannot compile (bad selector, CIDR or protocol); names the field."""

    def __init__(self, policy: Policy, path: str, message: str) -> None:
        where = f"{policy.location.file}:{policy.location.line}: " if policy.location else ""
        super().__init__(f"{where}{policy.kind} {policy.key}: {path}: {message}")
        self.policy_key = policy.key
        self.path = path


def _prefixed(text: str, prefix: str) -> str:
    return str(parse_selector(text).with_prefix(prefix))


def _and(parts: list[str]) -> str:
    parts = [p for p in parts if p]
    if not parts:
        return ""
    if len(parts) == 1:
        return parts[0]
    return "(" + ") && (".join(parts) + ")"


def policy_selector_text(policy: Policy) -> str:
    """The selector Felix uses to pick the endpoints a policy applies to (§2.8)."""
    sel = (policy.selector or "").strip()
    if policy.is_global:
        parts = [sel or "all()"]
        if policy.namespace_selector and policy.namespace_selector.strip():
            ns_sel = _prefixed(policy.namespace_selector, "pcns.").replace("all()", f"has({LABEL_NAMESPACE})")
            parts.append(ns_sel)
        if policy.service_account_selector and policy.service_account_selector.strip():
            sa = _prefixed(policy.service_account_selector, "pcsa.").replace(
                "all()", f"has({LABEL_SERVICEACCOUNT})"
            )
            parts.append(sa)
        return _and(parts)
    parts = (
        [sel, f"{LABEL_NAMESPACE} == '{policy.namespace}'"]
        if sel
        else [f"{LABEL_NAMESPACE} == '{policy.namespace}'"]
    )
    if policy.service_account_selector and policy.service_account_selector.strip():
        parts.append(_prefixed(policy.service_account_selector, "pcsa."))
    return _and(parts)


def entity_selector_text(entity: EntityRule, namespace: str | None) -> str:
    """Calico's `GetEntityRuleSelector` (rules.go): the positive selector of a rule side, with
    the namespace clause added when any selector field is used; "" = no selector constraint."""
    sa_parts: list[str] = []
    if entity.service_account_selector and entity.service_account_selector.strip():
        sa_parts.append(_prefixed(entity.service_account_selector, "pcsa."))
    if entity.service_account_names:
        names = "', '".join(entity.service_account_names)
        sa_parts.append(str(parse_selector(f"{LABEL_SERVICEACCOUNT} in {{ '{names}' }}")))
    sa_sel = _and(sa_parts)
    ns_text = (entity.namespace_selector or "").strip()
    ns_sel = ""
    if ns_text:
        ns_sel = _prefixed(ns_text, "pcns.")
        ns_sel = ns_sel.replace("all()", f"has({LABEL_NAMESPACE})").replace(
            "global()", f"!has({LABEL_NAMESPACE})"
        )
    elif namespace:
        ns_sel = f"{LABEL_NAMESPACE} == '{namespace}'"
    selector = _and([sa_sel, (entity.selector or "").strip()])
    not_sel = (entity.not_selector or "").strip()
    if ns_sel and (selector or not_sel or ns_text):
        selector = f"({ns_sel}) && ({selector})" if selector else ns_sel
    return selector


class SelectorSet:
    """The label classes one Felix selector matches; grows as new classes appear."""

    __slots__ = ("selector", "classes")

    def __init__(self, selector: Selector) -> None:
        self.selector = selector
        self.classes: set[int] = set()


class SelectorSets:
    """Interned selector sets, evaluated against every label class."""

    def __init__(self) -> None:
        self._by_text: dict[str, SelectorSet] = {}
        self._class_labels: list[dict[str, str]] = []

    def get(self, text: str) -> SelectorSet:
        sel = parse_selector(text)
        key = str(sel)
        found = self._by_text.get(key)
        if found is None:
            found = SelectorSet(sel)
            match = sel.matches
            found.classes.update(i for i, labels in enumerate(self._class_labels) if match(labels))
            self._by_text[key] = found
        return found

    def add_class(self, labels: dict[str, str]) -> int:
        cid = len(self._class_labels)
        self._class_labels.append(labels)
        for s in self._by_text.values():
            if s.selector.matches(labels):
                s.classes.add(cid)
        return cid

    def labels_of(self, cid: int) -> dict[str, str]:
        return self._class_labels[cid]


def _matches_set(peer: Peer, classes: set[int]) -> bool:
    return peer.cls in classes or (bool(peer.sets) and not peer.sets.isdisjoint(classes))


class CompiledEntity:
    """One side (source or destination) of a rule."""

    __slots__ = (
        "sel",
        "not_sel",
        "nets",
        "not_nets",
        "ports",
        "not_ports",
        "service",
        "service_ports",
        "domains",
    )

    def __init__(self) -> None:
        self.sel: SelectorSet | None = None
        self.not_sel: SelectorSet | None = None
        self.nets: tuple[Net, ...] = ()
        self.not_nets: tuple[Net, ...] = ()
        self.ports: PortMatch | None = None
        self.not_ports: PortMatch | None = None
        self.service: str | None = None
        self.service_ports = False  # destination service without explicit ports: the Service's ports
        self.domains: tuple = ()

    @property
    def empty(self) -> bool:
        return not any(
            (
                self.sel,
                self.not_sel,
                self.nets,
                self.not_nets,
                self.ports,
                self.not_ports,
                self.service,
                self.domains,
            )
        )

    def matches(self, peer: Peer, port: int | None, proto: int) -> bool:
        if self.sel is not None and not _matches_set(peer, self.sel.classes):
            return False
        if self.not_sel is not None and _matches_set(peer, self.not_sel.classes):
            return False
        if self.nets and not in_nets(peer.ip, self.nets):
            return False
        if self.not_nets and in_nets(peer.ip, self.not_nets):
            return False
        if self.ports is not None and not self.ports.matches(peer, port, proto):
            return False
        if self.not_ports is not None and self.not_ports.matches(peer, port, proto):
            return False
        if self.service is not None:
            targets = peer.services.get(self.service)
            if targets is None or (self.service_ports and (proto, port) not in targets):
                return False
        if self.domains and not domain_matches(self.domains, peer.domain):
            return False
        return True


class CompiledRule:
    """A rule ready for matching against (source peer, destination peer, packet)."""

    __slots__ = (
        "index",
        "rule",
        "action",
        "lower_action",
        "proto",
        "not_proto",
        "ip_version",
        "icmp",
        "not_icmp",
        "src",
        "dst",
        "matches",
    )

    def __init__(self, index: int, rule: Rule) -> None:
        self.index = index
        self.rule = rule
        self.action = rule.action
        self.lower_action = rule.action.lower()
        self.proto = protocol_number(rule.protocol) if rule.protocol is not None else None
        self.not_proto = protocol_number(rule.not_protocol) if rule.not_protocol is not None else None
        self.ip_version = rule.ip_version
        self.icmp = (rule.icmp.type, rule.icmp.code) if rule.icmp and rule.icmp.type is not None else None
        self.not_icmp = (
            (rule.not_icmp.type, rule.not_icmp.code)
            if rule.not_icmp and rule.not_icmp.type is not None
            else None
        )
        self.src: CompiledEntity | None = None
        self.dst: CompiledEntity | None = None
        self.matches: Callable[[Peer, Peer, Packet], object] = self.match_generic

    def specialize(self) -> None:
        """Replace `matches` by a function generated for this rule's conditions only."""
        self.matches = build_matcher(self)

    def match_generic(self, src: Peer, dst: Peer, pkt: Packet) -> bool:
        """Reference matcher (and the fallback): every condition in turn."""
        if self.proto is not None and pkt.proto != self.proto:
            return False
        if self.not_proto is not None and pkt.proto == self.not_proto:
            return False
        if self.ip_version is not None and pkt.ip_version != self.ip_version:
            return False
        if self.icmp is not None:
            t, c = self.icmp
            if pkt.icmp_type != t or (c is not None and pkt.icmp_code != c):
                return False
        if self.not_icmp is not None:
            t, c = self.not_icmp
            if pkt.icmp_type == t and (c is None or pkt.icmp_code == c):
                return False
        if self.src is not None and not self.src.matches(src, pkt.src_port, pkt.proto):
            return False
        if self.dst is not None and not self.dst.matches(dst, pkt.port, pkt.proto):
            return False
        return True


def _service_ok(peer: Peer, service: str, with_ports: bool, port: int | None, proto: int) -> bool:
    targets = peer.services.get(service)
    return targets is not None and (not with_ports or (proto, port) in targets)


def build_matcher(cr: CompiledRule) -> Callable[[Peer, Peer, Packet], object]:
    """Generate `m(src, dst, pkt)` testing just the conditions the rule has, as one boolean
    expression (constants are bound by name, never written into the source)."""
    env: dict[str, object] = {"in_nets": in_nets, "domain_matches": domain_matches, "service_ok": _service_ok}

    def const(value: object) -> str:
        name = f"c{len(env)}"
        env[name] = value
        return name

    def member(peer: str, classes: set[int]) -> str:
        s = const(classes)
        return f"({peer}.cls in {s} or ({peer}.sets and not {peer}.sets.isdisjoint({s})))"

    def ports(pm: PortMatch, peer: str, port: str) -> str:
        if pm.names:
            return f"{const(pm)}.matches({peer}, {port}, pkt.proto)"
        tests = [f"{port} == {lo}" if lo == hi else f"{lo} <= {port} <= {hi}" for lo, hi in pm.ranges]
        return f"({port} is not None and ({' or '.join(tests)}))"

    conds: list[str] = []
    if cr.proto is not None:
        conds.append(f"pkt.proto == {int(cr.proto)}")
    if cr.not_proto is not None:
        conds.append(f"pkt.proto != {int(cr.not_proto)}")
    if cr.ip_version is not None:
        conds.append(f"pkt.ip_version == {int(cr.ip_version)}")
    if cr.icmp is not None:
        conds.append(f"pkt.icmp_type == {int(cr.icmp[0])}")
        if cr.icmp[1] is not None:
            conds.append(f"pkt.icmp_code == {int(cr.icmp[1])}")
    if cr.not_icmp is not None:
        code = f" and pkt.icmp_code == {int(cr.not_icmp[1])}" if cr.not_icmp[1] is not None else ""
        conds.append(f"not (pkt.icmp_type == {int(cr.not_icmp[0])}{code})")
    for ent, peer, port in ((cr.src, "src", "pkt.src_port"), (cr.dst, "dst", "pkt.port")):
        if ent is None:
            continue
        if ent.sel is not None:
            conds.append(member(peer, ent.sel.classes))
        if ent.not_sel is not None:
            conds.append("not " + member(peer, ent.not_sel.classes))
        if ent.nets:
            conds.append(f"in_nets({peer}.ip, {const(ent.nets)})")
        if ent.not_nets:
            conds.append(f"not in_nets({peer}.ip, {const(ent.not_nets)})")
        if ent.ports is not None:
            conds.append(ports(ent.ports, peer, port))
        if ent.not_ports is not None:
            conds.append("not " + ports(ent.not_ports, peer, port))
        if ent.service is not None:
            conds.append(
                f"service_ok({peer}, {const(ent.service)}, {bool(ent.service_ports)}, {port}, pkt.proto)"
            )
        if ent.domains:
            conds.append(f"domain_matches({const(ent.domains)}, {peer}.domain)")
    code = "def m(src, dst, pkt):\n    return " + (" and ".join(conds) or "True") + "\n"
    exec(compile(code, f"<rule {cr.index}>", "exec"), env)  # noqa: S102 - generated from validated fields
    return env["m"]  # type: ignore[return-value]


@dataclass
class CompiledPolicy:
    policy: Policy
    key: str
    selection: SelectorSet
    ingress: tuple[CompiledRule, ...]
    egress: tuple[CompiledRule, ...]
    governs_ingress: bool
    governs_egress: bool

    def rules(self, direction: str) -> tuple[CompiledRule, ...]:
        return self.ingress if direction == "ingress" else self.egress

    def governs(self, direction: str) -> bool:
        return self.governs_ingress if direction == "ingress" else self.governs_egress


def enforced_key_of(policy: Policy) -> str | None:
    """For a staged policy, the key of the enforced policy it would create, replace or delete."""
    return policy.key.replace("staged:", "", 1) if policy.staged else None


def _entity(
    sets: SelectorSets, policy: Policy, ent: EntityRule, path: str, is_dst: bool
) -> CompiledEntity | None:
    ns = None if policy.is_global else policy.namespace
    out = CompiledEntity()
    try:
        pos = entity_selector_text(ent, ns)
        if pos:
            out.sel = sets.get(pos)
        if ent.not_selector and ent.not_selector.strip():
            out.not_sel = sets.get(ent.not_selector)
    except SelectorError as exc:
        raise PolicyCompileError(policy, path, f"invalid selector: {exc}") from exc
    try:
        out.nets = tuple(parse_net(n) for n in ent.nets)
        out.not_nets = tuple(parse_net(n) for n in ent.not_nets)
    except ValueError as exc:
        raise PolicyCompileError(policy, path, f"invalid CIDR: {exc}") from exc
    out.ports = PortMatch.of(ent.ports)
    out.not_ports = PortMatch.of(ent.not_ports)
    if ent.services is not None:
        svc_ns = ent.services.namespace or policy.namespace or "default"
        out.service = f"{svc_ns}/{ent.services.name}"
        out.service_ports = is_dst and out.ports is None
    out.domains = tuple(domain_pattern(d) for d in ent.domains)
    return None if out.empty else out


def compile_policy(sets: SelectorSets, policy: Policy) -> CompiledPolicy:
    """Compile one policy: its selection selector and every rule of both directions."""
    try:
        selection = sets.get(policy_selector_text(policy))
    except SelectorError as exc:
        raise PolicyCompileError(policy, "spec.selector", f"invalid selector: {exc}") from exc
    compiled: dict[str, list[CompiledRule]] = {"ingress": [], "egress": []}
    for direction in ("ingress", "egress"):
        for i, rule in enumerate(policy.rules(direction)):
            path = f"spec.{direction}[{i}]"
            try:
                cr = CompiledRule(i, rule)
            except ValueError as exc:
                raise PolicyCompileError(policy, path, str(exc)) from exc
            cr.src = _entity(sets, policy, rule.source, f"{path}.source", False)
            cr.dst = _entity(sets, policy, rule.destination, f"{path}.destination", True)
            cr.specialize()
            compiled[direction].append(cr)
    types = policy.types or ["Ingress", "Egress"]  # empty types govern both (Felix back-compat)
    return CompiledPolicy(
        policy=policy,
        key=policy.key,
        selection=selection,
        ingress=tuple(compiled["ingress"]),
        egress=tuple(compiled["egress"]),
        governs_ingress="Ingress" in types,
        governs_egress="Egress" in types,
    )
