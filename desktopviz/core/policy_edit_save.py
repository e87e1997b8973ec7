"""Write an edited policy set back into a scenario folder without losing anything else.

Only the YAML documents of policies and tiers that were changed or deleted are cut out of
the files they came from (byte for byte: comments and every other document stay as they
were; each touched file is first copied to `<file>.bak`), and the new versions go into one
file (default `policies-edited.yaml`). Loading the folder again gives the edited set.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import yaml

from desktopviz.core.policy_edit import PolicySet
from desktopviz.core.policy_edit_yaml import EditIssue, PolicyEditError, documents_yaml, tier_document

EDITED_FILE = "policies-edited.yaml"


def _chunks(text: str) -> list[tuple[int, int]]:
    """(first line, last line), 1-based, of each `---`-separated chunk of a YAML file."""
    lines = text.splitlines()
    out: list[tuple[int, int]] = []
    start = 1
    for i, line in enumerate(lines, 1):
        if line.startswith("---"):
            if i > start:
                out.append((start, i - 1))
            start = i + 1
    if start <= len(lines):
        out.append((start, len(lines)))
    return out


def _single_object(chunk: str) -> bool:
    try:
        value = yaml.safe_load(chunk)
    except yaml.YAMLError:
        return False
    return isinstance(value, dict) and not str(value.get("kind", "")).endswith("List")


def save_to_scenario(policy_set: PolicySet, folder: str | Path, filename: str = EDITED_FILE) -> list[Path]:
    """Save the changes since the set was opened into a scenario folder; returns the files
    written. Raises PolicyEditError (nothing written) if a changed document cannot be cut out
    cleanly (e.g. it is one item of a `kind: List`)."""
    root = Path(folder)
    if not root.is_dir():
        raise PolicyEditError([EditIssue("", f"{root} is not a scenario folder")])
    d = policy_set.delta()
    base = policy_set.base
    target = root / filename
    cut: dict[Path, set[int]] = {}  # file → lines of documents to remove
    changed_tiers = {t.name for t in d.tiers} | set(d.removed_tiers)
    old_objects: list[Any] = [base.policies[k] for k in d.removed if k in base.policies]
    old_objects += [base.policies[p.key] for p in d.applied if p.key in base.policies]
    old_objects += [base.tiers[n] for n in changed_tiers if n in base.tiers]
    for obj in old_objects:
        loc = obj.location
        if loc is None or not loc.file:
            continue
        path = Path(loc.file)
        if not path.is_absolute():
            path = root / path
        if path.exists() and root.resolve() in path.resolve().parents:
            cut.setdefault(path.resolve(), set()).add(loc.line)
    new_texts: dict[Path, str] = {}
    for path, lines in cut.items():
        text = path.read_text(encoding="utf-8")
        all_lines = text.splitlines(keepends=True)
        drop: set[int] = set()
        for first, last in _chunks(text):
            if any(first <= ln <= last for ln in lines):
                chunk = "".join(all_lines[first - 1 : last])
                if not _single_object(chunk):
                    raise PolicyEditError(
                        [EditIssue("", f"{path}:{first}: the document holds several objects; export instead")]
                    )
                drop.update(range(first, last + 1))
                if last < len(all_lines) and all_lines[last].startswith("---"):
                    drop.add(last + 1)  # its separator
        kept = [ln for i, ln in enumerate(all_lines, 1) if i not in drop]
        new_texts[path] = "".join(kept)
    written: list[Path] = []
    for path, text in new_texts.items():
        shutil.copyfile(path, path.with_name(path.name + ".bak"))
        path.write_text(text, encoding="utf-8")
        written.append(path)
    docs = [tier_document(t) for t in d.tiers if t.name in policy_set.tiers]
    docs += [policy_set.document(p.key) for p in d.applied]
    if docs:
        existing = new_texts.get(target.resolve())
        if existing is None and target.exists():
            existing = target.read_text(encoding="utf-8")
        head = (existing.rstrip("\n") + "\n---\n") if existing and existing.strip() else ""
        target.write_text(head + documents_yaml(docs), encoding="utf-8")
        if target not in written:
            written.append(target)
    return written


__all__ = ["EDITED_FILE", "save_to_scenario"]
