"""Write an edited policy set back into a scenario folder without losing anything else.

The YAML documents of policies and tiers that were changed or deleted are found by what they
define (each `---` chunk of the scenario's files is read and its key compared; stale line
numbers never matter, so saving twice is safe) and cut out byte for byte: comments and every
other document stay as they were. Every file rewritten is first copied to `<file>.bak`. The
new versions go into one file (default `policies-edited.yaml`; saved again, its older
versions are replaced). Loading the folder again gives the edited set.

:func:`save_scenario_as` saves into another folder: an empty one first gets a copy of the
scenario's files.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from desktopviz.core.policy_edit import PolicySet
from desktopviz.core.policy_edit_yaml import (
    EditIssue,
    PolicyEditError,
    doc_key,
    documents_yaml,
    tier_document,
)

EDITED_FILE = "policies-edited.yaml"
_POLICY_KINDS = {
    "NetworkPolicy",
    "GlobalNetworkPolicy",
    "StagedNetworkPolicy",
    "StagedGlobalNetworkPolicy",
    "StagedKubernetesNetworkPolicy",
}


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


def _defines(doc: Any, keys: set[str], tiers: set[str]) -> bool:
    """Whether a document is one of the changed policies or tiers."""
    if not isinstance(doc, dict):
        return False
    kind = str(doc.get("kind", ""))
    md = doc.get("metadata") if isinstance(doc.get("metadata"), dict) else {}
    if kind == "Tier":
        return md.get("name") in tiers
    if kind in _POLICY_KINDS:
        return doc_key(doc) in keys
    return False


def _cut(path: Path, keys: set[str], tiers: set[str]) -> str | None:
    """The file's text without the chunks defining `keys`/`tiers` (None: nothing to cut)."""
    text = path.read_text(encoding="utf-8")
    all_lines = text.splitlines(keepends=True)
    drop: set[int] = set()
    for first, last in _chunks(text):
        chunk = "".join(all_lines[first - 1 : last])
        try:
            value = yaml.safe_load(chunk)
        except yaml.YAMLError:
            continue
        items = (
            value.get("items")
            if isinstance(value, dict) and str(value.get("kind", "")).endswith("List")
            else None
        )
        if isinstance(items, list):
            if any(_defines(item, keys, tiers) for item in items):
                raise PolicyEditError(
                    [EditIssue("", f"{path}:{first}: the document holds several objects; export instead")]
                )
            continue
        if _defines(value, keys, tiers):
            drop.update(range(first, last + 1))
            if last < len(all_lines) and all_lines[last].startswith("---"):
                drop.add(last + 1)  # its separator
    if not drop:
        return None
    return "".join(ln for i, ln in enumerate(all_lines, 1) if i not in drop)


def _yaml_files(root: Path) -> list[Path]:
    from desktopviz.core.scenario import scenario_files

    return scenario_files(root)


def save_to_scenario(
    policy_set: PolicySet,
    folder: str | Path,
    filename: str = EDITED_FILE,
    *,
    files: Iterable[str | Path] | None = None,
) -> list[Path]:
    """Save the changes since the set was opened into a scenario folder; returns the files
    written. `files`: the scenario's YAML files (default: every one under the folder, as the
    loader reads them). Raises PolicyEditError (nothing written) if a changed document
    cannot be cut out cleanly (e.g. it is one item of a `kind: List`)."""
    root = Path(folder)
    if not root.is_dir():
        raise PolicyEditError([EditIssue("", f"{root} is not a scenario folder")])
    d = policy_set.delta()
    keys = set(d.removed) | {p.key for p in d.applied}
    tiers = {t.name for t in d.tiers} | set(d.removed_tiers)
    target = (root / filename).resolve()
    paths = (
        [Path(f).resolve() for f in files] if files is not None else [p.resolve() for p in _yaml_files(root)]
    )
    if target.exists() and target not in paths:
        paths.append(target)
    new_texts: dict[Path, str] = {}
    for path in paths:
        if path.is_file():
            cut = _cut(path, keys, tiers)
            if cut is not None:
                new_texts[path] = cut
    docs = [tier_document(t) for t in d.tiers if t.name in policy_set.tiers]
    docs += [policy_set.document(p.key) for p in d.applied]
    if docs:
        existing = new_texts.get(target)
        if existing is None and target.exists():
            existing = target.read_text(encoding="utf-8")
        head = (existing.rstrip("\n") + "\n---\n") if existing and existing.strip() else ""
        new_texts[target] = head + documents_yaml(docs)
    written: list[Path] = []
    for path, text in new_texts.items():
        if path.exists():
            shutil.copyfile(path, path.with_name(path.name + ".bak"))
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def save_scenario_as(
    policy_set: PolicySet, source: str | Path, folder: str | Path, filename: str = EDITED_FILE
) -> list[Path]:
    """Save into `folder`: the scenario's own folder (or file) is saved in place; a folder
    without YAML files first gets a copy of the scenario (`source`: its file or folder);
    another scenario folder is saved into as it is."""
    src, dest = Path(source).resolve(), Path(folder).resolve()
    if src.is_file() and dest == src.parent:
        return save_to_scenario(policy_set, dest, src.name, files=[src])
    if src.is_dir() and dest == src:
        return save_to_scenario(policy_set, dest, filename)
    dest.mkdir(parents=True, exist_ok=True)
    copied: list[Path] = []
    if not _yaml_files(dest):
        if src.is_dir():
            shutil.copytree(src, dest, dirs_exist_ok=True, ignore=shutil.ignore_patterns("*.bak"))
        else:
            shutil.copyfile(src, dest / src.name)
        copied = _yaml_files(dest)
    written = save_to_scenario(policy_set, dest, filename)
    return written + [p for p in copied if p not in written]


__all__ = ["EDITED_FILE", "save_scenario_as", "save_to_scenario"]
