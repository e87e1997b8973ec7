"""`desktopviz policy-metrics DB [--scenario PATH] [--since T --until T] [--json]`: the Policy
Board's metrics from a flow database, per tier and policy in board order and per rule.

Tiers and policies come from the scenario (``--scenario``, or the one the database names in
its meta: ``scenario_path``, ``scenario_files`` or a built-in scenario's name); without one,
from the traces in the store, and rule texts are then unknown. Times are Unix seconds, ISO
8601 or relative to the store's last time (``-15m``). ``connections`` counts num_flows;
``allowed``/``denied``/``passed`` are packets (in + out); staged policies show the metrics of
their pending (would-be) hits.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

from desktopviz.cli import CommandError
from desktopviz.cli.export_csv import parse_time


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "policy-metrics", help="print the Policy Board metrics (per tier, policy and rule) of a flow database"
    )
    p.add_argument("db", help="a desktopviz flow database")
    p.add_argument("--scenario", help="scenario folder or file giving tiers, policies and rule texts")
    p.add_argument("--since", help="first start time: Unix seconds, ISO 8601, or relative like -15m")
    p.add_argument("--until", help="end of the range (exclusive), same forms as --since")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--peers", action="store_true", help="also list the endpoints behind each rule's traffic")
    p._negative_number_matcher = re.compile(r"^-\d+(?:\.\d+)?[smhd]?$")  # noqa: SLF001
    p.set_defaults(func=run)


def scenario_from_meta(meta: dict[str, str]) -> Path | None:
    """The scenario a database was made from, if it can still be found."""
    from desktopviz.core.paths import scenarios_dir

    candidates: list[Path] = []
    if meta.get("scenario_path"):
        candidates.append(Path(meta["scenario_path"]))
    files = [f for f in (meta.get("scenario_files") or "").split(",") if f]
    if files:
        try:
            candidates.append(Path(os.path.commonpath(files)))
        except ValueError:
            pass
    name = meta.get("scenario")
    if name and re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        candidates.append(scenarios_dir() / name)
    for cand in candidates:
        if cand.exists() and (cand.is_dir() or cand.suffix in (".yaml", ".yml")):
            return cand
    return None


def _fmt(v: int) -> str:
    return f"{v:,}"


def print_text(report: dict[str, Any], out: Any) -> None:
    src = report["scenario"] or "traces in the store (no scenario: rule texts unknown)"
    span = report["span_seconds"]
    print(f"Policy Board from {src}; {span:.0f} s of flow logs", file=out)
    print("connections = num_flows; allowed/denied/passed = packets (in + out)", file=out)
    head = f"    {'POLICY':<44} {'SCOPE':<12} {'KIND':<10} {'ENDPTS':>6} {'CONNS':>9} {'ALLOWED':>10} {'DENIED':>9} {'PASSED':>10}"
    for tier in report["tiers"]:
        bits = []
        if tier["order"] is not None:
            bits.append(f"order {tier['order']:g}")
        if tier["default_action"]:
            bits.append(f"default action {tier['default_action']}")
        print(f"\nTier {tier['name']}" + (f" ({', '.join(bits)})" if bits else ""), file=out)
        print(head, file=out)
        for pol in tier["policies"]:
            m = pol["metrics"]
            name = pol["name"] + (" [STAGED]" if pol["staged"] else "")
            eps = "?" if pol["endpoints"] is None else str(pol["endpoints"])
            print(
                f"    {name:<44} {pol['scope']:<12} {pol['kind']:<10} {eps:>6} {_fmt(m['connections']):>9} "
                f"{_fmt(m['allowed']):>10} {_fmt(m['denied']):>9} {_fmt(m['passed']):>10}",
                file=out,
            )
            rows = [(d, r) for d in ("ingress", "egress") for r in pol["rules"][d]]
            rows += [(d, r) for d, r in pol["end_of_tier"].items()]
            for d, r in rows:
                rm = r["metrics"]
                label = f"{d} {r['index']:>2}  {r['text']}"
                if len(label) > 70:
                    label = label[:69] + "…"
                print(
                    f"      {label:<70} {_fmt(rm['connections']):>9} {_fmt(rm['allowed']):>10} "
                    f"{_fmt(rm['denied']):>9} {_fmt(rm['passed']):>10}",
                    file=out,
                )
                for peer in r.get("peers", []):
                    print(
                        f"          {peer['action']:<5} {peer['endpoint']} ({peer['connections']} conns)",
                        file=out,
                    )
    npt = report["no_policy_traffic"]
    print(f"\nNo policy traffic (profiles): {_fmt(npt['connections'])} connections", file=out)


def run(args: argparse.Namespace) -> int:
    from desktopviz.core.board import layout_from_cluster
    from desktopviz.core.board_report import board_report
    from desktopviz.core.board_traces import layout_from_store, tier_rank, trace_policies
    from desktopviz.core.store import FlowStore, StoreError

    try:
        store = FlowStore(args.db, create=False, readonly=True)
    except StoreError as exc:
        raise CommandError(str(exc)) from None
    with store:
        rng = store.time_range()
        last = rng[1] if rng else None
        since = parse_time(args.since, last) if args.since else None
        until = parse_time(args.until, last) if args.until else None
        scenario_path = Path(args.scenario) if args.scenario else scenario_from_meta(store.meta())
        if scenario_path is not None:
            from desktopviz.core.scenario import ScenarioError, load_scenario

            try:
                scenario = load_scenario(scenario_path)
            except ScenarioError as exc:
                if args.scenario:
                    raise CommandError(f"invalid scenario:\n{exc}") from None
                scenario_path, scenario = None, None
            except OSError as exc:
                raise CommandError(f"{scenario_path}: {exc.strerror or exc}") from None
        if scenario_path is not None and scenario is not None:
            layout = layout_from_cluster(scenario)
            layout.add_traces(trace_policies(store), tier_rank(store))
        else:
            layout = layout_from_store(store, since, until)
        report = board_report(store, layout, since, until, peers=args.peers, scenario=scenario_path)
    if args.json:
        json.dump(report, sys.stdout, indent=2)
        print()
    else:
        print_text(report, sys.stdout)
    return 0
