"""What Enforce does to a policy set (calico.md §2.13), for the change and for its Preview.

A staged policy is enforced by deleting it and creating or updating the enforced policy of
its name with its spec. A staged policy with `stagedAction: Delete` stages the *deletion* of
the enforced policy of its name (same name, namespace and kind without `Staged`): enforcing it
deletes that policy and the staged one (only the staged one when there is no such policy).
`Learn` and `Ignore` carry a full policy spec and enforce like `Set` (the reference does not
say otherwise). An enforced document simply replaces the policy being edited.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from desktopviz.core.model import Policy
from desktopviz.core.policy_edit_yaml import (
    EditIssue,
    PolicyEditError,
    doc_key,
    enforced_document,
    model_kind,
    to_yaml,
    validate_text,
)

__all__ = ["Enforced", "enforced_policies", "staged_action"]


@dataclass(frozen=True)
class Enforced:
    """The policies after an Enforce, the policy made live (None: a deletion was enforced)
    and the change's label."""

    policies: dict[str, Policy]
    policy: Policy | None
    label: str


def staged_action(doc: Mapping[str, Any]) -> str | None:
    """A staged document's stagedAction (`Set` when not written); None for an enforced one."""
    if not model_kind(doc).startswith("Staged"):
        return None
    spec = doc.get("spec")
    value = spec.get("stagedAction") if isinstance(spec, Mapping) else None
    return str(value) if value else "Set"


def enforced_policies(
    policies: Mapping[str, Policy],
    tiers: Iterable[str],
    doc: Mapping[str, Any],
    *,
    replacing: str | None = None,
    namespaces: Iterable[str] | None = None,
) -> Enforced:
    """The policy set's policies with `doc` enforced in place of `replacing` (the key of the
    policy being edited, if any). Raises PolicyEditError when the document is not valid, or
    when a staged deletion names no policy at all."""
    tiers = set(tiers)
    out = dict(policies)
    action = staged_action(doc)
    staged_key = doc_key(doc) if action is not None else None
    if action == "Delete":
        return _deletion(out, tiers, doc, staged_key, replacing, namespaces)
    for key in (staged_key, replacing):
        out.pop(key or "", None)
    enforced = enforced_document(doc)
    if staged_key:  # creates or updates the enforced one
        out.pop(doc_key(enforced) or "", None)
    policy, _, issues = validate_text(to_yaml(enforced), tiers=tiers, existing=out, namespaces=namespaces)
    if policy is None:
        raise PolicyEditError(issues, replacing or "")
    out[policy.key] = policy
    return Enforced(out, policy, f"Enforce {policy.key}")


def _deletion(
    out: dict[str, Policy],
    tiers: set[str],
    doc: Mapping[str, Any],
    staged_key: str | None,
    replacing: str | None,
    namespaces: Iterable[str] | None,
) -> Enforced:
    """Enforce of a `stagedAction: Delete` document: the staged policy and the enforced policy
    of its name go (calico.md §2.13)."""
    others = {k: v for k, v in out.items() if k != staged_key}
    staged, _, issues = validate_text(to_yaml(doc), tiers=tiers, existing=others, namespaces=namespaces)
    if staged is None:
        raise PolicyEditError(issues, replacing or staged_key or "")
    target = doc_key(enforced_document(doc)) or ""
    existed = target in out
    removed = tuple(
        k for k in dict.fromkeys((staged.key, replacing, target)) if k and out.pop(k, None) is not None
    )
    if not removed:
        raise PolicyEditError(
            [EditIssue("metadata.name", f"no policy {target!r} and no staged deletion of it to enforce")],
            staged.key,
        )
    label = f"Enforce deletion of {target}"
    if not existed:
        label += f" (no such policy: only the staged {staged.key} is removed)"
    return Enforced(out, None, label)
