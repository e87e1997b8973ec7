"""`desktopviz explain`: walk through Calico's evaluation of one connection the way a person
reads it: each side, each tier, each policy that selected the endpoint, the rule that matched
(with its place in the YAML), and the trace strings the flow logs would carry."""

from __future__ import annotations

import argparse
from typing import Any

from desktopviz.cli import CommandError
from desktopviz.cli.reach import load
from desktopviz.core.model import ExternalPeer, HostEndpoint, Pod
from desktopviz.core.policy import PolicyEngine, SideTrace
from desktopviz.core.policy_eval import Step
from desktopviz.core.policy_match import PacketError
from desktopviz.core.policy_query import (
    QueryError,
    Resolved,
    check_port,
    check_protocol,
    resolve,
    service_target,
)
from desktopviz.core.policy_text import describe_policy, describe_rule


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "explain",
        help="explain step by step how policy decides one connection",
        description="Walk through Calico's tiered policy evaluation for one connection: the egress "
        "side at the source, the ingress side at the destination, every tier and policy that "
        "selected the endpoint, the rule that decided, and the enforced and pending trace strings "
        "exactly as flow logs show them. NS/NAME may be a workload, a pod or a Service (a Service "
        "resolves to a backing pod and its targetPort; svc:NS/NAME forces the Service).",
    )
    p.add_argument("scenario", help="scenario folder or file")
    p.add_argument(
        "--from", dest="source", required=True, metavar="NS/NAME", help="source workload, pod or IP"
    )
    p.add_argument("--to", dest="dest", required=True, metavar="NS/NAME|IP|DOMAIN", help="destination")
    p.add_argument("--port", type=int, help="destination port (omit for ICMP)")
    p.add_argument("--protocol", default="TCP", help="TCP, UDP, SCTP, ICMP, ... (default TCP)")
    p.set_defaults(func=run)


def _name(ep: Pod | HostEndpoint | ExternalPeer) -> str:
    if isinstance(ep, Pod):
        return f"pod {ep.key} ({ep.ip or 'no IP'})"
    if isinstance(ep, HostEndpoint):
        return f"host endpoint {ep.name} on {ep.node}"
    if ep.domain:
        return f"{ep.domain} ({ep.ip or 'unresolved'})"
    return f"address {ep.ip}"


def _num(value: float) -> str:
    return f"{value:.0f}" if float(value).is_integer() else f"{value:g}"


def _where(step: Step) -> str:
    loc = step.rule.location if step.rule is not None else None
    return f"  [{loc}]" if loc else ""


def _steps(lines: list[str], steps: list[Step], engine: PolicyEngine) -> None:
    for s in steps:
        if s.kind == "tier":
            t = engine.tier(s.tier)
            order = f"order {_num(t.order)}" if t.order is not None else "no order"
            lines.append(f"    Tier {s.tier} ({order}, default action {t.default_action})")
        elif s.kind == "policy-nomatch" and s.policy is not None:
            lines.append(f"      {describe_policy(s.policy)}: selects the endpoint; no rule matched")
        elif s.kind == "log" and s.policy is not None and s.rule is not None:
            lines.append(
                f"      {s.policy.key} rule {s.rule_index}: {describe_rule(s.rule)} -> logged, go on{_where(s)}"
            )
        elif s.kind == "rule" and s.policy is not None and s.rule is not None:
            lines.append(f"      {describe_policy(s.policy)}")
            lines.append(f"        rule {s.rule_index} matched: {describe_rule(s.rule)}{_where(s)}")
            then = {"pass": "pass: go to the next tier", "allow": "allow", "deny": "deny"}[s.action or "deny"]
            lines.append(f"        -> {then}")
        elif s.kind == "end-of-tier":
            lines.append(
                f"      no policy of the tier matched: end-of-tier {s.action} (named after {s.profile})"
            )
        elif s.kind == "profile":
            verdict = "allows everything (rule 0)" if s.action == "allow" else "has no matching rule"
            lines.append(f"    Profile {s.profile}: {verdict}")
        elif s.kind == "no-profile":
            lines.append("    No profile: the endpoint's traffic is denied")


def _side(lines: list[str], side: SideTrace, engine: PolicyEngine) -> None:
    where = "source" if side.direction == "egress" else "destination"
    lines.append(f"{side.direction.capitalize()} at the {where}, {_name(side.endpoint)}:")
    labels = engine.endpoint_labels(side.endpoint)
    own = {k: v for k, v in labels.items() if not k.startswith(("pcns.", "pcsa.", "projectcalico.org/"))}
    lines.append("  labels: " + (", ".join(f"{k}={v}" for k, v in sorted(own.items())) or "(none)"))
    lines.append("  Enforced evaluation:")
    _steps(lines, side.steps, engine)
    r = side.result
    lines.append(f"  => {r.action.upper()}")
    lines.append("  enforced_policies: " + ", ".join(r.enforced_strings))
    if side.pending_steps is side.steps or r.pending_trace == r.trace:
        lines.append("  pending_policies:  " + ", ".join(r.pending_strings) + "  (same as enforced)")
    else:
        lines.append("  Pending evaluation (staged policies as if enforced):")
        _steps(lines, side.pending_steps, engine)
        lines.append(f"  => {r.pending_action.upper()}")
        lines.append("  pending_policies:  " + ", ".join(r.pending_strings))
    lines.append("")


def explain_text(
    scenario: Any, engine: PolicyEngine, src: Resolved, dst: Resolved, protocol: str, port: int | None
) -> str:
    lines: list[str] = []
    if dst.service is not None and isinstance(dst.endpoint, Pod):
        target = service_target(dst.service, dst.endpoint, port, protocol)
        if target is None:
            ports = ", ".join(f"{sp.protocol}/{sp.port}" for sp in dst.service.ports) or "none"
            raise CommandError(f"service {dst.label} has no port {protocol}/{port} (its ports: {ports})")
        port, how = target
        lines.append(f"{dst.note}; {how}")
    verdict, sides = engine.explain(src.endpoint, dst.endpoint, protocol, port)
    what = f"{protocol}/{port}" if port is not None else protocol
    lines.insert(0, f"Connection {src.label} -> {dst.label} {what}")
    lines.insert(1, f"  from {_name(src.endpoint)} to {_name(dst.endpoint)}")
    if dst.kind == "domain" and dst.note:
        lines.append(dst.note)
    lines.append("")
    for side in sides:
        _side(lines, side, engine)
    for note in verdict.notes:
        lines.append(f"Note: {note}")
    where = {"src": " at the source (egress)", "dst": " at the destination (ingress)"}.get(
        verdict.denied_at or "", ""
    )
    lines.append(
        f"Verdict: {verdict.action.upper()}{where}; pending (staged as enforced): {verdict.pending_action.upper()}"
    )
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    try:
        protocol = check_protocol(args.protocol)
        port = check_port(args.port)
    except QueryError as exc:
        raise CommandError(str(exc)) from None
    if port is None and protocol not in ("ICMP", "ICMPv6"):
        raise CommandError(f"--port is required for {protocol}")
    scenario, engine = load(args.scenario)
    try:
        src = resolve(scenario, engine, args.source)
        if src.service is not None:
            raise CommandError("--from must be a workload, pod, host endpoint or IP, not a Service")
        dst = resolve(scenario, engine, args.dest, port, protocol)
        print(explain_text(scenario, engine, src, dst, protocol, port))
    except (QueryError, PacketError) as exc:
        raise CommandError(str(exc)) from None
    return 0
