"""Policy files for a headless what-if: tiers and policies that replace, add to or delete from
a scenario's policy set.

A document with the same kind, namespace and name as an existing policy replaces it; a new
one is added; one annotated `desktopviz.io/delete: "true"` deletes the policy it names.
Tiers are created or changed. Every problem is reported as `file:line:col: field: message`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from desktopviz.core.model import Policy, Tier
from desktopviz.core.policy_edit import PolicySet
from desktopviz.core.policy_edit_yaml import EditIssue, PolicyEditError, is_delete_marker, parse_text, to_yaml


@dataclass(frozen=True)
class FileIssue:
    file: str
    issue: EditIssue

    def __str__(self) -> str:
        i = self.issue
        where = f"{self.file}:{i.line}:{i.column}" if i.line else self.file
        return f"{where}: {i.path + ': ' if i.path else ''}{i.message}"


class PolicyFilesError(ValueError):
    """Policy files that cannot be applied; `issues` lists every problem with its file."""

    def __init__(self, issues: list[FileIssue]) -> None:
        self.issues = issues
        super().__init__("\n".join(str(i) for i in issues))


def policy_files(path: str | Path) -> list[Path]:
    root = Path(path)
    if root.is_dir():
        return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in (".yaml", ".yml"))
    return [root]


def apply_policy_files(policy_set: PolicySet, path: str | Path) -> list[str]:
    """Apply every tier and policy document under `path` to the set (as one change per
    document); returns what was done, e.g. `replace storefront/default.trusted`."""
    files = policy_files(path)
    if not Path(path).exists():
        raise PolicyFilesError([FileIssue(str(path), EditIssue("", "no such file or folder"))])
    problems: list[FileIssue] = []
    parsed: list[tuple[str, object, dict, str]] = []
    for f in files:
        try:
            text = f.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(FileIssue(str(f), EditIssue("", f"cannot read: {exc}")))
            continue
        items, issues = parse_text(text, str(f))
        problems += [FileIssue(str(f), i) for i in issues]
        parsed += [(str(f), obj, doc, text) for obj, doc in items]
    if problems:
        raise PolicyFilesError(problems)
    done: list[str] = []
    for _f, obj, _, _ in parsed:  # tiers first: policies may live in a new tier
        if isinstance(obj, Tier):
            policy_set.add_tier(obj.name, obj.order, obj.default_action)
            done.append(f"tier {obj.name}")
    for f, obj, doc, _ in parsed:
        if not isinstance(obj, Policy):
            continue
        try:
            if is_delete_marker(doc):
                if obj.key not in policy_set.policies:
                    raise PolicyEditError([EditIssue("metadata.name", f"no policy {obj.key!r} to delete")])
                policy_set.delete(obj.key)
                done.append(f"delete {obj.key}")
            elif obj.key in policy_set.policies:
                policy_set.replace(obj.key, to_yaml(doc))
                done.append(f"replace {obj.key}")
            else:
                policy_set.add(to_yaml(doc))
                done.append(f"add {obj.key}")
        except PolicyEditError as exc:
            loc = obj.location
            problems += [
                FileIssue(f, EditIssue(i.path, i.message, loc.line if loc else 0, loc.column if loc else 0))
                for i in exc.issues
            ]
    if problems:
        raise PolicyFilesError(problems)
    return done


__all__ = ["FileIssue", "PolicyFilesError", "apply_policy_files", "policy_files"]
