"""`desktopviz reach`: who can reach whom under the scenario's policies, or (with --from) how
far an attacker gets from a compromised pod through chains of allowed connections."""

from __future__ import annotations

import argparse
import json
from typing import Any

from desktopviz.cli import CommandError
from desktopviz.core.policy import PolicyEngine
from desktopviz.core.policy_query import (
    QueryError,
    check_port,
    check_protocol,
    endpoint_list,
    lateral_movement,
    reach_matrix,
    resolve,
)


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "reach",
        help="who can reach whom (matrix), or lateral movement from a pod (--from)",
        description="Evaluate the scenario's policies for every pair of workloads (or pods with "
        "--pods) on one port and protocol and print the matrix of allowed connections. A workload "
        "pair is allowed when the pair of their first pods is: the pods of one workload share "
        "their labels, so policy treats them alike. With --from, show everything a compromised "
        "pod reaches directly and through chains of allowed connections (all ports the "
        "destinations serve), with the shortest chain to each target and the rule allowing each hop.",
    )
    p.add_argument("scenario", help="scenario folder or file")
    p.add_argument("--port", type=int, default=80, help="destination port (default 80)")
    p.add_argument("--protocol", default="TCP", help="TCP, UDP, SCTP, ICMP, ... (default TCP)")
    p.add_argument("--pods", action="store_true", help="one row per pod instead of per workload")
    p.add_argument("--namespace", nargs="+", action="extend", metavar="NS", help="only these namespaces")
    p.add_argument(
        "--from", dest="source", metavar="NS/NAME", help="lateral movement from this workload or pod"
    )
    p.add_argument("--hops", type=int, default=3, help="longest chain for --from (default 3)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)


def load(path: str) -> tuple[Any, PolicyEngine]:
    from desktopviz.core.scenario import load_scenario

    try:
        scenario = load_scenario(path)
    except (OSError, ValueError) as exc:
        raise CommandError(f"cannot load scenario {path}: {exc}") from None
    return scenario, PolicyEngine(scenario.cluster)


def run(args: argparse.Namespace) -> int:
    try:
        protocol = check_protocol(args.protocol)
        port = check_port(args.port)
    except QueryError as exc:
        raise CommandError(str(exc)) from None
    if args.hops < 1:
        raise CommandError("--hops must be at least 1")
    scenario, engine = load(args.scenario)
    try:
        if args.source:
            return _lateral(scenario, engine, args)
        endpoints = endpoint_list(scenario, args.pods, args.namespace)
    except QueryError as exc:
        raise CommandError(str(exc)) from None
    matrix = reach_matrix(engine, endpoints, protocol, port)
    labels = [e[0] for e in endpoints]
    if args.json:
        print(
            json.dumps({"port": port, "protocol": protocol, "endpoints": labels, "allowed": matrix}, indent=2)
        )
        return 0
    print(f"Who can reach whom on {protocol}/{port} (rows: from, columns: to; Y = allowed, . = denied)")
    width = max((len(s) for s in labels), default=4)
    nums = [str(i + 1) for i in range(len(labels))]
    print(" " * (width + 6) + " ".join(n.rjust(3) for n in nums))
    for i, a in enumerate(labels):
        cells = " ".join(("Y" if matrix[a][b] else ".").rjust(3) for b in labels)
        print(f"{nums[i].rjust(3)}  {a.ljust(width)} {cells}")
    allowed = sum(v for row in matrix.values() for v in row.values())
    print(f"{allowed} of {len(labels) ** 2} pairs allowed")
    return 0


def _lateral(scenario: Any, engine: PolicyEngine, args: argparse.Namespace) -> int:
    start = resolve(scenario, engine, args.source)
    if start.kind not in ("workload", "pod") or start.service is not None:
        raise CommandError(f"--from must be a workload or pod (namespace/name), not {args.source!r}")
    result = lateral_movement(scenario, engine, (start.label, start.endpoint), args.hops)  # type: ignore[arg-type]
    targets = sorted(result.paths, key=lambda t: (len(result.paths[t]), t))
    if args.json:
        out = {
            "from": result.start,
            "hops": args.hops,
            "reachable": {
                t: [
                    {"from": h.source, "to": h.target, "protocol": h.protocol, "port": h.port, "rule": h.rule}
                    for h in result.paths[t]
                ]
                for t in targets
            },
            "edges": [
                {"from": a, "to": b, "ports": d["ports"], "rule": d["rule"]}
                for a, b, d in result.graph.edges(data=True)
            ],
        }
        print(json.dumps(out, indent=2))
        return 0
    print(f"Lateral movement from {result.start} (up to {args.hops} hops, every port the targets serve)")
    if not targets:
        print("  nothing reachable")
    for t in targets:
        chain = result.paths[t]
        print(f"  {t}  ({len(chain)} hop{'s' if len(chain) > 1 else ''})")
        for h in chain:
            print(f"      {h.source} -> {h.target} {h.protocol}/{h.port}: {h.rule}")
    print(f"{len(targets)} reachable")
    return 0
