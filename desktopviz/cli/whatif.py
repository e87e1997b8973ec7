"""`desktopviz whatif DB --policies FILE_OR_DIR`: which recorded flows an edit of the policies
would change (calico.md §4.3 Preview, headless).

Loads the scenario (--scenario, or the one the database names), applies the policy files
(same kind/namespace/name replaces, new adds, `desktopviz.io/delete: "true"` deletes),
re-evaluates the flow logs of the time range and prints a summary table or JSON.
Exit codes: 0 nothing changes, 3 some flows would change verdict, 2 bad input.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import sys
from pathlib import Path
from typing import Any, TextIO

from desktopviz.cli import CommandError

EXIT_CHANGES = 3
_DURATION = re.compile(r"^(\d+)([smhd])$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "whatif",
        help="preview a policy change on recorded flow logs (exit 3 if verdicts change)",
        description="Re-evaluate the flow logs of DB against the scenario's policies with the "
        "documents of FILE_OR_DIR applied, and list the flows whose verdict would change "
        "(allow → deny, deny → allow) and the rule that now decides them. Flows the record "
        "cannot decide are reported as uncertain. Exit 0: nothing changes; 3: some flows "
        "would change; 2: bad input.",
    )
    p.add_argument("db", help="flow database (from `desktopviz simulate` or the app)")
    p.add_argument("--policies", required=True, metavar="FILE_OR_DIR", help="policy and tier YAML")
    p.add_argument("--scenario", help="scenario folder or file (default: the one the DB names)")
    p.add_argument("--since", help="Unix seconds, ISO date-time, or a duration before the newest log (15m)")
    p.add_argument("--until", help="Unix seconds or ISO date-time (exclusive)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)


def _time(text: str | None, newest: int | None) -> int | None:
    if text is None:
        return None
    t = text.strip()
    if t.lstrip("-").isdigit():
        return int(t)
    m = _DURATION.match(t)
    if m:
        if newest is None:
            return None
        return newest - int(m.group(1)) * _UNIT[m.group(2)]
    try:
        when = dt.datetime.fromisoformat(t.replace("Z", "+00:00"))
    except ValueError:
        raise CommandError(
            f"bad time {text!r} (Unix seconds, ISO date-time, or a duration like 15m)"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return int(when.timestamp())


def _scenario_path(args: argparse.Namespace, meta: dict[str, str]) -> Path:
    from desktopviz.core.paths import scenarios_dir

    if args.scenario:
        return Path(args.scenario)
    files = [Path(f) for f in (meta.get("scenario_files") or "").split(",") if f]
    if files and all(f.exists() for f in files):
        parents = {f.parent for f in files}
        return parents.pop() if len(parents) == 1 else Path(*Path(files[0]).parts[:1])
    name = meta.get("scenario") or ""
    for cand in (Path(name), scenarios_dir() / name):
        if name and cand.exists():
            return cand
    raise CommandError("the database does not name a scenario that exists here: pass --scenario PATH")


def evaluate_policy_files(
    store: Any, cluster: Any, policies: str | Path, since: int | None = None, until: int | None = None
) -> tuple[Any, list[str]]:
    """What the policy editor's Preview computes: the flow logs of `store` (since..until)
    re-evaluated with the documents of `policies` applied to `cluster`'s policies; and what
    was applied. Bad documents raise PolicyFilesError (an unreadable path OSError): each
    command words its own message."""
    from desktopviz.core.policy_edit import PolicySet
    from desktopviz.core.whatif import evaluate_whatif
    from desktopviz.core.whatif_files import apply_policy_files

    policy_set = PolicySet.from_cluster(cluster)
    done = apply_policy_files(policy_set, policies)
    return evaluate_whatif(store, cluster, policy_set.base, policy_set.state, since, until), done


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    from desktopviz.core.scenario import ScenarioError, load_scenario
    from desktopviz.core.store import FlowStore, StoreError
    from desktopviz.core.whatif_files import PolicyFilesError

    out = out or sys.stdout
    if not Path(args.db).exists():
        raise CommandError(f"{args.db}: no such flow database")
    try:
        store = FlowStore(args.db, create=False, readonly=True)
    except StoreError as exc:
        raise CommandError(str(exc)) from None
    try:
        path = _scenario_path(args, store.meta())
        try:
            scenario = load_scenario(path)
        except ScenarioError as exc:
            raise CommandError(f"the scenario {path} is invalid:\n{exc}") from None
        newest = store.time_range()
        since = _time(args.since, newest[1] if newest else None)
        until = _time(args.until, newest[1] if newest else None)
        try:
            result, done = evaluate_policy_files(store, scenario.cluster, args.policies, since, until)
        except PolicyFilesError as exc:
            raise CommandError(f"cannot apply {args.policies}:\n{exc}") from None
    finally:
        store.close()
    if args.json:
        data = result.to_json()
        data["applied"] = done
        data["scenario"] = str(path)
        json.dump(data, out, indent=2)
        out.write("\n")
    else:
        _table(result, done, out)
    return EXIT_CHANGES if result.changes else 0


def _table(result: Any, done: list[str], out: TextIO) -> None:
    out.write(
        f"{len(result.changes)} flow group(s) would change verdict "
        f"({result.allow_to_deny} allow → deny, {result.deny_to_allow} deny → allow), "
        f"{len(result.uncertain)} uncertain, {len(result.rows)} evaluated\n"
    )
    out.write(f"Applied: {', '.join(done) or 'nothing'}\n")
    listed = [r for r in result.rows if r.changed or r.uncertain]
    if not listed:
        return
    head = ("SOURCE", "DESTINATION", "PORT", "PROTO", "REPORTER", "CHANGE", "FLOWS", "DECIDED BY")
    rows = [
        (
            r.source,
            r.dest,
            "-" if r.port is None else str(r.port),
            r.proto,
            r.reporter,
            f"uncertain ({r.before})" if r.uncertain else f"{r.before} → {r.after}",
            str(r.num_flows),
            r.reason if r.uncertain else r.rule,
        )
        for r in listed
    ]
    widths = [max(len(x[i]) for x in (head, *rows)) for i in range(len(head) - 1)]
    out.write("\n")
    for row in (head, *rows):
        cells = [c.ljust(w) for c, w in zip(row, widths, strict=False)]
        out.write("  ".join([*cells, row[-1]]).rstrip() + "\n")
