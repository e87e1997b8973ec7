"""Export Policy Board tiers and policies as YAML that Calico accepts.

Calico policies as ``projectcalico.org/v3`` documents, Kubernetes NetworkPolicies as
``networking.k8s.io/v1`` ones: the document as written (``Policy.raw``) when the scenario
kept it, otherwise regenerated from the model. Tiers other than ``default`` come first as
``Tier`` documents, so the file can be applied as it is (``calicoctl apply -f``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import yaml

from desktopviz.core.board import BoardLayout, BoardTier
from desktopviz.core.model import EntityRule, Policy, Rule

CALICO_API = "projectcalico.org/v3"
K8S_API = "networking.k8s.io/v1"
_K8S_KIND = {
    "KubernetesNetworkPolicy": "NetworkPolicy",
    "StagedKubernetesNetworkPolicy": "StagedKubernetesNetworkPolicy",
}


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


def policy_document(policy: Policy) -> dict[str, Any]:
    """The policy as one Calico (or Kubernetes) document."""
    if policy.raw is not None and policy.raw.get("apiVersion") and policy.raw.get("kind"):
        return plain(policy.raw)
    if policy.is_kubernetes:
        raise ValueError(f"{policy.key}: the Kubernetes NetworkPolicy as written is not known")
    meta: dict[str, Any] = {"name": policy.tiered_name if policy.tier != "default" else policy.name}
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
    if policy.staged and policy.staged_action and policy.staged_action != "Set":
        spec["stagedAction"] = policy.staged_action
    for attr, key in (
        ("do_not_track", "doNotTrack"),
        ("pre_dnat", "preDNAT"),
        ("apply_on_forward", "applyOnForward"),
    ):
        if getattr(policy, attr):
            spec[key] = True
    return {"apiVersion": CALICO_API, "kind": policy.kind, "metadata": meta, "spec": spec}


def tier_document(tier: BoardTier) -> dict[str, Any]:
    spec: dict[str, Any] = {}
    if tier.order is not None:
        spec["order"] = _num(tier.order)
    if tier.default_action and tier.default_action != "Deny":
        spec["defaultAction"] = tier.default_action
    return {"apiVersion": CALICO_API, "kind": "Tier", "metadata": {"name": tier.name}, "spec": spec}


def export_documents(
    layout: BoardLayout, tiers: Iterable[str] | None = None
) -> tuple[list[dict[str, Any]], list[str]]:
    """(documents, keys of policies that could not be exported) for some tiers (default all),
    in board order. Policies known only from flow-log traces cannot be exported."""
    wanted = None if tiers is None else set(tiers)
    docs: list[dict[str, Any]] = []
    skipped: list[str] = []
    for tier in layout.tiers:
        if wanted is not None and tier.name not in wanted:
            continue
        if tier.name != "default" and layout.source == "scenario":
            docs.append(tier_document(tier))
        for bp in tier.policies:
            if bp.policy is None:
                skipped.append(bp.key)
                continue
            try:
                docs.append(policy_document(bp.policy))
            except ValueError:
                skipped.append(bp.key)
    return docs, skipped


def export_yaml(layout: BoardLayout, tiers: Iterable[str] | None = None) -> str:
    """The documents as one multi-document YAML text; policies that cannot be exported are
    named in a comment at the top."""
    docs, skipped = export_documents(layout, tiers)
    head = ""
    if skipped:
        head = "# Not exported (known only from flow-log traces): " + ", ".join(skipped) + "\n"
    body = yaml.safe_dump_all(docs, sort_keys=False, default_flow_style=False, allow_unicode=True)
    return head + (body if docs else "")
