"""The editable policy set behind the policy editor: tiers and policy documents with
validation, undo/redo and a change log of YAML diffs. Pure Python (no Qt).

Every change (new, edit, delete, move, new tier, stage, enforce) is validated first (an edit
that fails changes nothing and raises :class:`PolicyEditError` naming field, line and
column), then recorded as a :class:`Change` from one immutable :class:`PolicySetState` to the
next, so undo and redo are exact and the change log shows each version's YAML diff.
:func:`delta` turns two states into what a running simulation must be told
(:class:`Delta`: policies to apply, keys to remove, tiers to set); :meth:`PolicySet.cluster`
gives a copy of a cluster with the edited policies, for the what-if preview.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from desktopviz.core.model import BUILTIN_TIERS, Cluster, Policy, Tier, builtin_tier, tier_sort_key
from desktopviz.core.policy_edit_enforce import Enforced, enforced_policies
from desktopviz.core.policy_edit_order import insertion_index, place, sequence
from desktopviz.core.policy_edit_state import (
    Change,
    Delta,
    PolicySetState,
    delta,
    rebased,
    rebased_change,
    state_diff,
)
from desktopviz.core.policy_edit_yaml import (
    EditIssue,
    PolicyEditError,
    copy_doc,
    document_of,
    staged_document,
    tier_document,
    to_yaml,
    validate_text,
)

__all__ = ["Change", "Delta", "EditIssue", "PolicyEditError", "PolicySet", "PolicySetState", "delta"]


class PolicySet:
    """Tiers and policies being edited, with history. `subscribe(fn)` calls fn() after every
    change, undo and redo (the editor and board refresh from it)."""

    def __init__(
        self,
        tiers: Mapping[str, Tier],
        policies: Mapping[str, Policy],
        namespaces: Iterable[str] | None = None,
    ) -> None:
        tiers = dict(tiers)
        tiers.setdefault("default", Tier("default", 1_000_000.0, "Deny"))
        self.namespaces = None if namespaces is None else set(namespaces)
        self.base = PolicySetState(tiers, dict(policies))
        self.state = self.base
        self._done: list[Change] = []
        self._undone: list[Change] = []
        self._listeners: list[Callable[[], None]] = []

    @classmethod
    def from_cluster(cls, cluster: Cluster) -> PolicySet:
        return cls(cluster.tiers, cluster.policies, cluster.namespaces)

    # -- reading -----------------------------------------------------------------------------
    @property
    def policies(self) -> Mapping[str, Policy]:
        return self.state.policies

    @property
    def tiers(self) -> Mapping[str, Tier]:
        return self.state.tiers

    def policy(self, key: str) -> Policy:
        try:
            return self.state.policies[key]
        except KeyError:
            raise PolicyEditError([EditIssue("", f"no policy {key!r}")]) from None

    def document(self, key: str) -> dict[str, Any]:
        return document_of(self.policy(key))

    def has_tier(self, name: str) -> bool:
        """A tier of the set, or one Calico has built in (calico.md §2.1)."""
        return name in self.state.tiers or builtin_tier(name) is not None

    def tiers_in_order(self) -> list[Tier]:
        """Every tier a policy can be put in (the built-in ones too), in evaluation order."""
        builtin = {name: builtin_tier(name) for name in BUILTIN_TIERS}
        return sorted({**builtin, **self.state.tiers}.values(), key=tier_sort_key)  # type: ignore[arg-type]

    def in_tier(self, tier: str) -> list[Policy]:
        """A tier's policies in evaluation order."""
        return sequence(list(self.state.policies.values()), tier)

    def cluster(self, base: Cluster) -> Cluster:
        """A copy of `base` with this set's tiers and policies (base is not touched)."""
        out = copy.copy(base)
        for attr in ("namespaces", "service_accounts", "workloads", "pods", "services"):
            setattr(out, attr, dict(getattr(base, attr)))
        out.network_sets = dict(base.network_sets)
        out.host_endpoints = dict(base.host_endpoints)
        out.tiers = dict(self.state.tiers)
        out.policies = dict(self.state.policies)
        return out

    # -- validation -------------------------------------------------------------------------
    def validate(
        self, doc: Mapping[str, Any] | str, replacing: str | None = None
    ) -> tuple[Policy | None, list[EditIssue]]:
        """Check a document (or its YAML text) as it would replace `replacing` (None: new)."""
        text = doc if isinstance(doc, str) else to_yaml(doc)
        policy, _, issues = validate_text(
            text,
            tiers=self.state.tiers,
            existing=self.state.policies,
            namespaces=self.namespaces,
            replacing=replacing,
        )
        return policy, issues

    def _checked(self, doc: Mapping[str, Any] | str, replacing: str | None) -> Policy:
        policy, issues = self.validate(doc, replacing)
        if policy is None:
            raise PolicyEditError(issues, replacing or "")
        return policy

    # -- history -----------------------------------------------------------------------------
    def subscribe(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    def _notify(self) -> None:
        for fn in list(self._listeners):
            fn()

    def _commit(self, label: str, tiers: Mapping[str, Tier], policies: Mapping[str, Policy]) -> Change:
        change = Change(label, self.state, PolicySetState(dict(tiers), dict(policies)))
        self.state = change.after
        self._done.append(change)
        self._undone.clear()
        self._notify()
        return change

    @property
    def can_undo(self) -> bool:
        return bool(self._done)

    @property
    def can_redo(self) -> bool:
        return bool(self._undone)

    def undo(self) -> Change | None:
        if not self._done:
            return None
        change = self._done.pop()
        self._undone.append(change)
        self.state = change.before
        self._notify()
        return change

    def redo(self) -> Change | None:
        if not self._undone:
            return None
        change = self._undone.pop()
        self._done.append(change)
        self.state = change.after
        self._notify()
        return change

    @property
    def next_redo(self) -> Change | None:
        """The change redo would bring back."""
        return self._undone[-1] if self._undone else None

    @property
    def history(self) -> list[Change]:
        """The change log: every change in force, oldest first."""
        return list(self._done)

    def delta(self, since: PolicySetState | None = None) -> Delta:
        """What changed since a state (default: since the set was opened)."""
        return delta(since or self.base, self.state)

    def diff(self, since: PolicySetState | None = None) -> str:
        return state_diff(since or self.base, self.state)

    # -- changes -----------------------------------------------------------------------------
    def new_document(self, tier: str = "default", namespace: str | None = "default") -> dict[str, Any]:
        """A fresh policy document for the form (not added yet)."""
        name = f"{tier}.new-policy"
        n = 1
        ns = f"{namespace}/" if namespace else ""
        while f"{ns}{name}" in self.state.policies:
            n += 1
            name = f"{tier}.new-policy-{n}"
        md: dict[str, Any] = {"name": name}
        if namespace:
            md["namespace"] = namespace
        return {
            "apiVersion": "projectcalico.org/v3",
            "kind": "NetworkPolicy" if namespace else "GlobalNetworkPolicy",
            "metadata": md,
            "spec": {"tier": tier, "selector": "all()", "types": ["Ingress"]},
        }

    def add(
        self,
        doc: Mapping[str, Any] | str,
        *,
        before: str | None = None,
        after: str | None = None,
        at_end: bool = False,
        label: str | None = None,
    ) -> Policy:
        """Add a new policy. With `before`/`after` (a policy key) it is placed next to that
        policy (in its tier; the order is computed); with `at_end` after the last policy of
        its tier; otherwise it keeps its own order."""
        policy = self._checked(doc, None)
        policies = dict(self.state.policies)
        if before is not None or after is not None or at_end:
            policy, renumbered = self._placed(policy, policies, before, after, policy.tier)
            policies.update(renumbered)
        policies[policy.key] = policy
        self._commit(label or f"Create {policy.key}", self.state.tiers, policies)
        return policy

    def replace(self, key: str, doc: Mapping[str, Any] | str, *, label: str | None = None) -> Policy:
        """Replace a policy by an edited document (its key may change: name, namespace, tier)."""
        self.policy(key)
        policy = self._checked(doc, key)
        policies = {k: v for k, v in self.state.policies.items() if k != key}
        policies[policy.key] = policy
        self._commit(label or f"Edit {key}", self.state.tiers, policies)
        return policy

    def delete(self, key: str, *, label: str | None = None) -> None:
        self.policy(key)
        policies = {k: v for k, v in self.state.policies.items() if k != key}
        self._commit(label or f"Delete {key}", self.state.tiers, policies)

    def move(
        self,
        key: str,
        *,
        before: str | None = None,
        after: str | None = None,
        tier: str | None = None,
        label: str | None = None,
    ) -> Policy:
        """Move a policy before or after another one (maybe into that policy's tier), or, with
        only `tier`, to the end of that tier; its order is recomputed (and the tier
        renumbered if there is no room). Moving into another tier renames it `<tier>.<name>`."""
        policy = self.policy(key)
        if policy.is_kubernetes:
            raise PolicyEditError(
                [EditIssue("spec.order", "a Kubernetes NetworkPolicy always has order 1000 in tier default")],
                key,
            )
        policies = {k: v for k, v in self.state.policies.items() if k != key}
        moved, renumbered = self._placed(policy, policies, before, after, tier)
        policies.update(renumbered)
        if moved.key in policies:
            raise PolicyEditError(
                [EditIssue("metadata.name", f"a policy named {moved.key!r} already exists")]
            )
        policies[moved.key] = moved
        where = f"before {before}" if before else f"after {after}" if after else f"to the end of tier {tier}"
        self._commit(label or f"Move {key} {where}", self.state.tiers, policies)
        return moved

    def _placed(
        self,
        policy: Policy,
        others: Mapping[str, Policy],
        before: str | None,
        after: str | None,
        tier: str | None = None,
    ) -> tuple[Policy, dict[str, Policy]]:
        anchor = others.get(before or after or "")
        if anchor is None and (before or after or tier is None):
            raise PolicyEditError([EditIssue("", f"no policy {(before or after)!r} to place it next to")])
        target = anchor.tier if anchor is not None else str(tier)
        if not self.has_tier(target):
            raise PolicyEditError([EditIssue("spec.tier", f"no tier {target!r}")])
        doc = document_of(policy)
        if target != policy.tier:
            doc = _retiered(doc, policy, target)
        seq = sequence(list(others.values()), target)
        order, renumber = place(seq, insertion_index(seq, before, after))
        if policy.is_kubernetes:
            raise PolicyEditError(
                [EditIssue("spec.order", "a Kubernetes NetworkPolicy always has order 1000 in tier default")]
            )
        doc.setdefault("spec", {})["order"] = _num(order)
        moved = self._checked(doc, policy.key if policy.key in self.state.policies else None)
        changed: dict[str, Policy] = {}
        for k, value in renumber.items():
            d = document_of(others[k])
            d.setdefault("spec", {})["order"] = _num(value)
            changed[k] = self._checked(d, k)
        return moved, changed

    def rebase(self, policies: Mapping[str, Policy | None], tiers: Mapping[str, Tier | None]) -> None:
        """Take in changes made outside the editor (a scenario event applied or deleted a
        policy, created a tier): every version of the history gets them (None = removed), so
        undo and redo never revert them and the set matches the simulation."""
        if not policies and not tiers:
            return
        self.base = rebased(self.base, policies, tiers)
        self._done = [rebased_change(c, policies, tiers) for c in self._done]
        self._undone = [rebased_change(c, policies, tiers) for c in self._undone]
        self.state = rebased(self.state, policies, tiers)
        self._notify()

    def add_tier(
        self, name: str, order: float | None = None, default_action: str = "Deny", *, label: str | None = None
    ) -> Tier:
        """Create (or change) a tier, validated like a Tier document."""
        from desktopviz.core.policy_edit_yaml import parse_text

        tier = Tier(name, order, default_action)  # type: ignore[arg-type]
        items, issues = parse_text(to_yaml(tier_document(tier)))
        parsed = [o for o, _ in items if isinstance(o, Tier)]
        if issues or not parsed:
            raise PolicyEditError(issues or [EditIssue("metadata.name", "not a valid tier")], name)
        tiers = dict(self.state.tiers)
        existed = name in tiers
        tiers[name] = parsed[0]
        self._commit(label or f"{'Change' if existed else 'Create'} tier {name}", tiers, self.state.policies)
        return parsed[0]

    def stage(self, doc: Mapping[str, Any] | str, *, label: str | None = None) -> Policy:
        """Save a policy document as a staged policy (kind Staged…, stagedAction Set): traffic
        is unaffected; it replaces a staged policy of the same name."""
        if isinstance(doc, str):
            parsed = self._checked_any(doc)
            doc = document_of(parsed)
        staged = staged_document(doc)
        from desktopviz.core.policy_edit_yaml import doc_key

        key = doc_key(staged)
        replacing = key if key in self.state.policies else None
        policy = self._checked(staged, replacing)
        policies = dict(self.state.policies)
        policies[policy.key] = policy
        self._commit(label or f"Stage {policy.key}", self.state.tiers, policies)
        return policy

    def enforce(
        self, doc: Mapping[str, Any] | str, *, replacing: str | None = None, label: str | None = None
    ) -> Policy | None:
        """Make a policy live (calico.md §2.13). A staged document is turned into its enforced
        kind and the staged policy is deleted; an enforced document replaces `replacing`. A
        staged `stagedAction: Delete` document deletes the enforced policy of its name and
        itself, as one change ("Enforce deletion of …"), and returns None."""
        result = self._enforced(doc, replacing)
        self._commit(label or result.label, self.state.tiers, result.policies)
        return result.policy

    def _enforced(self, doc: Mapping[str, Any] | str, replacing: str | None) -> Enforced:
        if isinstance(doc, str):
            doc = document_of(self._checked_any(doc))
        return enforced_policies(
            self.state.policies, self.state.tiers, doc, replacing=replacing, namespaces=self.namespaces
        )

    def _checked_any(self, text: str) -> Policy:
        policy, _, issues = validate_text(text, tiers=self.state.tiers, namespaces=self.namespaces)
        if policy is None:
            raise PolicyEditError(issues)
        return policy

    def preview_state(self, doc: Mapping[str, Any] | str, replacing: str | None = None) -> PolicySetState:
        """The state as it would be after Enforce of `doc` in place of `replacing` (a staged
        document previews as its enforced kind, as Calico's Preview does; a staged deletion
        previews the deletion), without changing anything. Raises PolicyEditError like the
        change itself would."""
        return PolicySetState(dict(self.state.tiers), self._enforced(doc, replacing).policies)

    # -- export ------------------------------------------------------------------------------
    def export_documents(self, keys: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """Tiers (other than default) then policies in evaluation order, as documents kubectl
        or calicoctl accept (projectcalico.org/v3; Kubernetes policies networking.k8s.io/v1)."""
        from desktopviz.core.policy_edit_export import export_documents

        return export_documents(self.state, keys)

    def export_yaml(self, keys: Iterable[str] | None = None) -> str:
        from desktopviz.core.policy_edit_yaml import documents_yaml

        return documents_yaml(self.export_documents(keys))


def _num(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def _retiered(doc: dict[str, Any], policy: Policy, tier: str) -> dict[str, Any]:
    """The document moved to another tier (Calico names a tiered policy `<tier>.<name>`)."""
    out = copy_doc(doc)
    spec = out.setdefault("spec", {})
    spec["tier"] = tier
    out.setdefault("metadata", {})["name"] = f"{tier}.{policy.short_name}"
    return out
