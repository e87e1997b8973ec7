"""Policy documents for the editor: YAML text ↔ document ↔ model.Policy, validation, diff.

The editor's source of truth is the policy *document* (the Calico or Kubernetes YAML mapping),
so what the user sees in the YAML tab is exactly what is saved, exported or applied. A
document becomes a :class:`~desktopviz.core.model.Policy` through the scenario loader's own
parser (:func:`desktopviz.core.scenario_docs.parse_documents`), so the editor accepts and
rejects exactly what a scenario file would, with the same messages; cross-checks that need
the whole policy set (tier exists, namespace exists, duplicate name) are added here. Errors
are :class:`EditIssue` with the field path and the line and column in the document's YAML
text; selector errors point at the offending character, not at the start of the value.
"""

from __future__ import annotations

import copy
import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from desktopviz.core.k8s_convert import default_policy_types
from desktopviz.core.model import BUILTIN_TIERS, Policy, Tier
from desktopviz.core.policy_yaml import CALICO_API, plain, policy_document

K8S_API = "networking.k8s.io/v1"
DELETE_ANNOTATION = "desktopviz.io/delete"
_STAGED_OF = {
    "NetworkPolicy": "StagedNetworkPolicy",
    "GlobalNetworkPolicy": "StagedGlobalNetworkPolicy",
    "KubernetesNetworkPolicy": "StagedKubernetesNetworkPolicy",
}
_ENFORCED_OF = {v: k for k, v in _STAGED_OF.items()}
_SELECTOR_COL = re.compile(r"\(column (\d+)\)$")


@dataclass(frozen=True)
class EditIssue:
    """One problem with an edit: the field path (`spec.ingress[0].source.selector`), what is
    wrong, and where in the document's YAML text (1-based line and column; 0 = unknown)."""

    path: str
    message: str
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        where = f"line {self.line}, column {self.column}: " if self.line else ""
        return f"{where}{self.path + ': ' if self.path else ''}{self.message}"


class PolicyEditError(ValueError):
    """An edit that cannot be applied; `issues` says why (field, line, column)."""

    def __init__(self, issues: Iterable[EditIssue], subject: str = "") -> None:
        self.issues = list(issues)
        self.subject = subject
        head = f"{subject}: " if subject else ""
        super().__init__(head + "; ".join(str(i) for i in self.issues))


# -- YAML text -------------------------------------------------------------------------------
class _Dumper(yaml.SafeDumper):
    """Block style, keys in document order, lists indented under their key (kubectl style)."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> Any:
        return super().increase_indent(flow, False)


def to_yaml(doc: Mapping[str, Any]) -> str:
    """A document as YAML text (kubectl's layout)."""
    return yaml.dump(plain(doc), Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=1000)


def documents_yaml(docs: Iterable[Mapping[str, Any]]) -> str:
    """Several documents as one multi-document YAML text."""
    return "---\n".join(to_yaml(d) for d in docs)


# -- document kinds ----------------------------------------------------------------------------
def model_kind(doc: Mapping[str, Any]) -> str:
    """The model's kind for a document (`KubernetesNetworkPolicy` for networking.k8s.io/v1)."""
    kind = str(doc.get("kind", ""))
    if kind == "NetworkPolicy" and doc.get("apiVersion") == K8S_API:
        return "KubernetesNetworkPolicy"
    return kind


def doc_key(doc: Mapping[str, Any]) -> str | None:
    """The policy key (trace name) a document will have, without parsing it fully."""
    md = doc.get("metadata") if isinstance(doc.get("metadata"), Mapping) else {}
    spec = doc.get("spec") if isinstance(doc.get("spec"), Mapping) else {}
    name = md.get("name") if isinstance(md, Mapping) else None
    if not isinstance(name, str) or not name:
        return None
    kind = model_kind(doc)
    tier = spec.get("tier") if isinstance(spec, Mapping) and kind != "KubernetesNetworkPolicy" else None
    probe = Policy(
        kind=kind if kind in (*_STAGED_OF, *_ENFORCED_OF) else "NetworkPolicy",  # type: ignore[arg-type]
        name=name,
        namespace=md.get("namespace") if isinstance(md, Mapping) else None,
        tier=tier if isinstance(tier, str) and tier else "default",
    )
    return probe.key


def staged_document(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The staged version of an enforced policy document (kind Staged…, stagedAction Set)."""
    out = plain(doc)
    kind = model_kind(out)
    if kind in _ENFORCED_OF:
        return out
    if kind not in _STAGED_OF:
        raise PolicyEditError([EditIssue("kind", f"cannot stage a {kind or 'document without kind'}")])
    out["apiVersion"] = CALICO_API
    out["kind"] = _STAGED_OF[kind]
    spec = out.setdefault("spec", {})
    if kind == "KubernetesNetworkPolicy":
        spec.setdefault("stagedAction", "Set")
        if not spec.get("policyTypes"):  # as the API server stored the NetworkPolicy: the staged
            # kind gets no such defaulting (a staged copy without types would lose its egress)
            spec["policyTypes"] = default_policy_types(bool(spec.get("egress")))
    else:
        spec["stagedAction"] = "Set"
    return out


def enforced_document(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The enforced version of a staged policy document (calico.md §2.13: Enforce)."""
    out = plain(doc)
    kind = model_kind(out)
    if kind not in _ENFORCED_OF:
        return out
    target = _ENFORCED_OF[kind]
    out["kind"] = "NetworkPolicy" if target == "KubernetesNetworkPolicy" else target
    out["apiVersion"] = K8S_API if target == "KubernetesNetworkPolicy" else CALICO_API
    if isinstance(out.get("spec"), dict):
        out["spec"].pop("stagedAction", None)
    return out


def tier_document(tier: Tier) -> dict[str, Any]:
    spec: dict[str, Any] = {}
    if tier.order is not None:
        spec["order"] = int(tier.order) if float(tier.order).is_integer() else tier.order
    if tier.default_action != "Deny":
        spec["defaultAction"] = tier.default_action
    doc: dict[str, Any] = {"apiVersion": CALICO_API, "kind": "Tier", "metadata": {"name": tier.name}}
    if spec:
        doc["spec"] = spec
    return doc


def is_delete_marker(doc: Mapping[str, Any]) -> bool:
    """True for a document annotated `desktopviz.io/delete: "true"` (the what-if CLI's way to
    say "this policy is deleted")."""
    md = doc.get("metadata")
    ann = md.get("annotations") if isinstance(md, Mapping) else None
    return isinstance(ann, Mapping) and str(ann.get(DELETE_ANNOTATION, "")).lower() == "true"


# -- parsing and validation --------------------------------------------------------------------
def _issue_from(scenario_issue: Any, lines: list[str]) -> EditIssue:
    line, col, msg = scenario_issue.line, scenario_issue.column, scenario_issue.message
    m = _SELECTOR_COL.search(msg)
    if m and 0 < line <= len(lines):
        text = lines[line - 1]
        quoted = 0 < col <= len(text) and text[col - 1] in "'\""
        col = col + (1 if quoted else 0) + int(m.group(1)) - 1
        msg = f"{msg[: m.start()].rstrip()} (character {m.group(1)} of the selector)"
    return EditIssue(scenario_issue.path, msg, line, col)


def parse_text(text: str, file: str = "<editor>") -> tuple[list[Any], list[EditIssue]]:
    """YAML text → (parsed model objects with their documents, issues). Each item of the
    list is (object, document) where object is a Policy, Tier, or None (skipped kind)."""
    from desktopviz.core.scenario_docs import parse_documents
    from desktopviz.core.scenario_yaml import Issues, load_documents

    issues = Issues()
    docs = load_documents(text, file, issues)
    lines = text.splitlines()
    parsed = parse_documents(docs, issues)
    out: list[Any] = [(obj, plain(root.value)) for obj, root in parsed.objects]
    result = [_issue_from(i, lines) for i in issues.items]
    for skipped in parsed.skipped:
        loc = skipped.location
        result.append(EditIssue("kind", f"{skipped.kind} is not a policy or tier", loc.line, loc.column))
    return out, result


def _line_of(text: str, key: str) -> tuple[int, int]:
    """Line and column of the first `key:` in the text (for cross-check errors)."""
    for i, line in enumerate(text.splitlines(), 1):
        stripped = line.lstrip()
        if stripped.startswith(f"{key}:"):
            return i, len(line) - len(stripped) + 1
    return 0, 0


def validate_text(
    text: str,
    *,
    tiers: Iterable[str],
    existing: Iterable[str] = (),
    namespaces: Iterable[str] | None = None,
    replacing: str | None = None,
) -> tuple[Policy | None, dict[str, Any] | None, list[EditIssue]]:
    """Parse one policy document and check it against the policy set: the tier must exist
    (in `tiers`, or built in: `default`, `kube-admin`, `kube-baseline`),
    the namespace too (when known), and the key must not collide with another policy
    (`replacing` is the key of the policy being edited). Returns (policy, document, issues);
    the policy is None whenever there is an issue."""
    items, issues = parse_text(text)
    if not text.strip():
        return None, None, [EditIssue("", "the document is empty")]
    if len(items) + len([i for i in issues if i.path == "kind"]) > 1:
        issues.append(EditIssue("", "write one policy document at a time"))
    policies = [(o, d) for o, d in items if isinstance(o, Policy)]
    if not policies:
        if not issues:
            issues.append(EditIssue("kind", "not a policy document"))
        return None, None, issues
    policy, doc = policies[0]
    if policy.tier not in set(tiers) and policy.tier not in BUILTIN_TIERS:  # calico.md §2.1
        line, col = _line_of(text, "tier")
        issues.append(EditIssue("spec.tier", f"tier {policy.tier!r} does not exist", line, col))
    if namespaces is not None and policy.namespace and policy.namespace not in set(namespaces):
        line, col = _line_of(text, "namespace")
        issues.append(
            EditIssue("metadata.namespace", f"namespace {policy.namespace!r} does not exist", line, col)
        )
    if policy.key != replacing and policy.key in set(existing):
        line, col = _line_of(text, "name")
        issues.append(EditIssue("metadata.name", f"a policy named {policy.key!r} already exists", line, col))
    if not issues:
        issues.extend(_compile_issues(policy))
    return (None if issues else policy), doc, issues


def _compile_issues(policy: Policy) -> list[EditIssue]:
    from desktopviz.core.policy_compile import PolicyCompileError, SelectorSets, compile_policy

    try:
        compile_policy(SelectorSets(), policy)
    except PolicyCompileError as exc:
        return [EditIssue(getattr(exc, "path", ""), getattr(exc, "message", str(exc)))]
    except ValueError as exc:
        return [EditIssue("", str(exc))]
    return []


def policy_from_document(doc: Mapping[str, Any]) -> Policy:
    """A document → Policy, raising PolicyEditError (no cross-checks)."""
    items, issues = parse_text(to_yaml(doc))
    policies = [o for o, _ in items if isinstance(o, Policy)]
    if issues or not policies:
        raise PolicyEditError(issues or [EditIssue("kind", "not a policy document")], doc_key(doc) or "")
    return policies[0]


# -- diff ----------------------------------------------------------------------------------------
def unified_diff(before: Mapping[str, Any] | None, after: Mapping[str, Any] | None, name: str) -> str:
    """The YAML diff of two versions of a document (difflib unified format; None = absent)."""
    a = to_yaml(before).splitlines(keepends=True) if before is not None else []
    b = to_yaml(after).splitlines(keepends=True) if after is not None else []
    return "".join(
        difflib.unified_diff(
            a,
            b,
            fromfile=f"a/{name}" if before is not None else "/dev/null",
            tofile=f"b/{name}" if after is not None else "/dev/null",
        )
    )


def copy_doc(doc: Mapping[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(plain(doc))


__all__ = [
    "CALICO_API",
    "DELETE_ANNOTATION",
    "K8S_API",
    "EditIssue",
    "PolicyEditError",
    "copy_doc",
    "doc_key",
    "documents_yaml",
    "enforced_document",
    "is_delete_marker",
    "model_kind",
    "parse_text",
    "plain",
    "policy_from_document",
    "staged_document",
    "tier_document",
    "to_yaml",
    "unified_diff",
    "validate_text",
]


# -- documents of model policies -----------------------------------------------------------------
def document_of(policy: Policy) -> dict[str, Any]:
    """The policy's document: as written (Policy.raw) when known, else rebuilt from the model."""
    if policy.is_kubernetes and not (policy.raw and policy.raw.get("apiVersion") and policy.raw.get("kind")):
        raise PolicyEditError(
            [EditIssue("", "the Kubernetes NetworkPolicy as written is not known")], policy.key
        )
    return policy_document(policy, name=policy.name, explicit_staged_action=True)
