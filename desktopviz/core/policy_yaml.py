"""Calico policies as documents: the one place that turns model policies and rules back into
``projectcalico.org/v3`` YAML-ready dicts (used by the board's export and the policy editor)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from desktopviz.core.model import EntityRule, Policy, Rule

CALICO_API = "projectcalico.org/v3"


def plain(value: Any) -> Any:
    """A deep copy as plain dicts, lists and scalars (the loader's values may be subclasses)."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    for t in (bool, int, float, str):
        if isinstance(value, t):
            return t(value)
    return value


def _num(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def entity_document(ent: EntityRule) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for attr, key in (
        ("selector", "selector"),
        ("not_selector", "notSelector"),
        ("namespace_selector", "namespaceSelector"),
    ):
        value = getattr(ent, attr)
        if value is not None:
            out[key] = value
    for attr, key in (
        ("nets", "nets"),
        ("not_nets", "notNets"),
        ("ports", "ports"),
        ("not_ports", "notPorts"),
        ("domains", "domains"),
    ):
        value = getattr(ent, attr)
        if value:
            out[key] = list(value)
    sa: dict[str, Any] = {}
    if ent.service_account_names:
        sa["names"] = list(ent.service_account_names)
    if ent.service_account_selector:
        sa["selector"] = ent.service_account_selector
    if sa:
        out["serviceAccounts"] = sa
    if ent.services is not None:
        svc = {"name": ent.services.name}
        if ent.services.namespace:
            svc["namespace"] = ent.services.namespace
        out["services"] = svc
    return out


def rule_document(rule: Rule) -> dict[str, Any]:
    """A rule in Calico form: as written if known, else from the model."""
    if rule.raw is not None:
        return plain(rule.raw)
    out: dict[str, Any] = {"action": rule.action}
    if rule.protocol is not None:
        out["protocol"] = rule.protocol
    if rule.not_protocol is not None:
        out["notProtocol"] = rule.not_protocol
    if rule.ip_version is not None:
        out["ipVersion"] = rule.ip_version
    for attr, key in (("icmp", "icmp"), ("not_icmp", "notICMP")):
        icmp = getattr(rule, attr)
        if icmp is not None and icmp.type is not None:
            out[key] = {"type": icmp.type, **({"code": icmp.code} if icmp.code is not None else {})}
    for attr, key in (("source", "source"), ("destination", "destination")):
        ent = entity_document(getattr(rule, attr))
        if ent:
            out[key] = ent
    if rule.http:
        out["http"] = plain(rule.http)
    return out


def policy_document(
    policy: Policy, *, name: str | None = None, explicit_staged_action: bool = False
) -> dict[str, Any]:
    """The policy as one Calico (or Kubernetes) document: as written (``Policy.raw``) when
    known, else rebuilt from the model. `name` overrides the metadata name (default: the
    tiered name outside the default tier); `explicit_staged_action` writes `stagedAction`
    on every staged policy, `Set` included."""
    if policy.raw is not None and policy.raw.get("apiVersion") and policy.raw.get("kind"):
        return plain(policy.raw)
    if policy.is_kubernetes:
        raise ValueError(f"{policy.key}: the Kubernetes NetworkPolicy as written is not known")
    if name is None:
        name = policy.tiered_name if policy.tier != "default" else policy.name
    meta: dict[str, Any] = {"name": name}
    if policy.namespace and not policy.is_global:
        meta["namespace"] = policy.namespace
    spec: dict[str, Any] = {"tier": policy.tier}
    if policy.order is not None:
        spec["order"] = _num(policy.order)
    spec["selector"] = policy.selector or "all()"
    if policy.namespace_selector:
        spec["namespaceSelector"] = policy.namespace_selector
    if policy.service_account_selector:
        spec["serviceAccountSelector"] = policy.service_account_selector
    spec["types"] = list(policy.types)
    if policy.ingress:
        spec["ingress"] = [rule_document(r) for r in policy.ingress]
    if policy.egress:
        spec["egress"] = [rule_document(r) for r in policy.egress]
    if policy.staged and explicit_staged_action:
        spec["stagedAction"] = policy.staged_action or "Set"
    elif policy.staged and policy.staged_action and policy.staged_action != "Set":
        spec["stagedAction"] = policy.staged_action
    for attr, key in (
        ("do_not_track", "doNotTrack"),
        ("pre_dnat", "preDNAT"),
        ("apply_on_forward", "applyOnForward"),
    ):
        if getattr(policy, attr):
            spec[key] = True
    return {"apiVersion": CALICO_API, "kind": policy.kind, "metadata": meta, "spec": spec}
