"""`desktopviz validate PATH`: load a scenario and print a summary, or every error.

Exit codes: 0 valid, 1 invalid (each error printed as `file:line:col: field.path: message`),
2 the path does not exist.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

from desktopviz.cli import CommandError
from desktopviz.core.model import Scenario


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("validate", help="check a scenario file or folder and summarise it")
    p.add_argument("path", help="a scenario YAML file or a folder of YAML files")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from desktopviz.core.scenario import ScenarioError, load_scenario

    path = Path(args.path)
    if not path.exists():
        raise CommandError(f"no such file or folder: {args.path}")
    try:
        scenario = load_scenario(path)
    except ScenarioError as exc:
        for issue in exc.errors:
            print(str(issue), file=sys.stderr)
        n = len(exc.errors)
        print(f"{args.path}: {n} error{'s' if n != 1 else ''}", file=sys.stderr)
        return 1
    print(summary(scenario))
    return 0


def summary(s: Scenario) -> str:
    """Counts per kind, tiers in evaluation order with their policies, events, skipped kinds."""
    c = s.cluster
    lines = [f"scenario {s.name}: valid ({len(s.files)} file{'s' if len(s.files) != 1 else ''})"]
    if s.description:
        lines.append(f"  {' '.join(s.description.split())}")
    kinds: Counter[str] = Counter()
    kinds["Namespace"] = len(c.namespaces)
    kinds["ServiceAccount"] = len(c.service_accounts)
    for w in c.workloads.values():
        kinds[w.kind] += 1
    kinds["Pod"] = len(c.pods)
    kinds["Service"] = len(c.services)
    for ns in c.network_sets.values():
        kinds["NetworkSet" if ns.namespace else "GlobalNetworkSet"] += 1
    kinds["HostEndpoint"] = len(c.host_endpoints)
    kinds["Tier"] = len(c.tiers)
    for p in c.policies.values():
        kinds[p.kind] += 1
    lines.append("objects:")
    lines.extend(f"  {kind:<32} {n}" for kind, n in kinds.items() if n)
    st = s.settings
    lines.append(
        f"cluster: {len(st.nodes)} nodes ({', '.join(st.nodes)}), pods {st.pod_cidr}, services "
        f"{st.service_cidr}, flush every {st.flush_interval} s, aggregation allowed "
        f"{st.aggregation_allowed} / denied {st.aggregation_denied}"
    )
    lines.append("tiers (in evaluation order):")
    for tier in c.tiers_in_order():
        order = "no order" if tier.order is None else f"order {tier.order:.15g}"
        lines.append(f"  {tier.name} ({order}, default action {tier.default_action})")
        for p in c.policies_in_order(tier.name):
            porder = "-" if p.order is None else f"{p.order:.15g}"
            staged = " [staged]" if p.staged else ""
            lines.append(f"    {porder:>6}  {p.key}{staged}  ({p.kind}, {', '.join(p.types)})")
    lines.append(f"externals: {len(s.externals)}  traffic streams: {len(s.traffic)}")
    if s.events:
        lines.append("events:")
        for ev in s.events:
            when = "on demand" if ev.at is None else f"at {ev.at:g} s"
            acts = ", ".join(a.kind for a in ev.actions)
            lines.append(f"  {ev.id}: {ev.name} ({when}; {acts})")
    if s.skipped:
        skipped = Counter(d.kind for d in s.skipped)
        lines.append("skipped (not modelled): " + ", ".join(f"{k} x{n}" for k, n in sorted(skipped.items())))
    return "\n".join(lines)
