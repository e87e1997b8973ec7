"""Export Policy Board tiers and policies as YAML that Calico accepts.

Calico policies as ``projectcalico.org/v3`` documents, Kubernetes NetworkPolicies as
``networking.k8s.io/v1`` ones: the document as written (``Policy.raw``) when the scenario
kept it, otherwise regenerated from the model. Tiers other than ``default`` come first as
``Tier`` documents, so the file can be applied as it is (``calicoctl apply -f``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import yaml

from desktopviz.core.board import BoardLayout, BoardTier
from desktopviz.core.policy_yaml import (  # noqa: F401 - re-exported
    CALICO_API,
    _num,
    entity_document,
    plain,
    policy_document,
    rule_document,
)

K8S_API = "networking.k8s.io/v1"
_K8S_KIND = {
    "KubernetesNetworkPolicy": "NetworkPolicy",
    "StagedKubernetesNetworkPolicy": "StagedKubernetesNetworkPolicy",
}


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
