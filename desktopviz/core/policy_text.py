"""Rules and policies as short readable text (for `explain`, tooltips and the Policy Board)."""

from __future__ import annotations

from desktopviz.core.model import EntityRule, Policy, Rule


def _join(values: list) -> str:
    return ", ".join(str(v) for v in values)


def describe_entity(ent: EntityRule) -> str:
    """The conditions of a rule side, e.g. `selector fw-zone == 'dmz', ports 80`; "" if none."""
    parts: list[str] = []
    if ent.selector:
        parts.append(f"selector {ent.selector}")
    if ent.not_selector:
        parts.append(f"notSelector {ent.not_selector}")
    if ent.namespace_selector:
        parts.append(f"namespaceSelector {ent.namespace_selector}")
    if ent.service_account_names:
        parts.append(f"service accounts {_join(ent.service_account_names)}")
    if ent.service_account_selector:
        parts.append(f"service-account selector {ent.service_account_selector}")
    if ent.services is not None:
        ns = f"{ent.services.namespace}/" if ent.services.namespace else ""
        parts.append(f"service {ns}{ent.services.name}")
    if ent.nets:
        parts.append(f"nets {_join(ent.nets)}")
    if ent.not_nets:
        parts.append(f"notNets {_join(ent.not_nets)}")
    if ent.domains:
        parts.append(f"domains {_join(ent.domains)}")
    if ent.ports:
        parts.append(f"ports {_join(ent.ports)}")
    if ent.not_ports:
        parts.append(f"notPorts {_join(ent.not_ports)}")
    return ", ".join(parts)


def describe_rule(rule: Rule) -> str:
    """One line: `Allow TCP from [selector app == 'a'] to [ports 80]`; `Deny` for a bare rule."""
    words = [rule.action]
    if rule.protocol is not None:
        words.append(str(rule.protocol))
    if rule.not_protocol is not None:
        words.append(f"not {rule.not_protocol}")
    if rule.ip_version is not None:
        words.append(f"IPv{rule.ip_version}")
    if rule.icmp is not None and rule.icmp.type is not None:
        code = f" code {rule.icmp.code}" if rule.icmp.code is not None else ""
        words.append(f"icmp type {rule.icmp.type}{code}")
    if rule.not_icmp is not None and rule.not_icmp.type is not None:
        code = f" code {rule.not_icmp.code}" if rule.not_icmp.code is not None else ""
        words.append(f"not icmp type {rule.not_icmp.type}{code}")
    src = describe_entity(rule.source)
    dst = describe_entity(rule.destination)
    if src:
        words.append(f"from [{src}]")
    if dst:
        words.append(f"to [{dst}]")
    if not src and not dst and rule.protocol is None and rule.not_protocol is None:
        words.append("(matches everything)")
    return " ".join(words)


def describe_policy(policy: Policy) -> str:
    """`NetworkPolicy storefront/default.trusted (tier default, order 10, selector fw-zone == 'trusted')`."""
    bits = [f"tier {policy.tier}"]
    if policy.order is None:
        bits.append("no order")
    else:
        bits.append(
            f"order {policy.order:.0f}" if float(policy.order).is_integer() else f"order {policy.order:g}"
        )
    bits.append(f"selector {policy.selector or 'all()'}")
    if policy.namespace_selector:
        bits.append(f"namespaceSelector {policy.namespace_selector}")
    if policy.staged:
        bits.append(f"stagedAction {policy.staged_action or 'Set'}")
    return f"{policy.kind} {policy.key} ({', '.join(bits)})"
