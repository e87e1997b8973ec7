"""Load a scenario: real Kubernetes and Calico manifests plus one `desktopviz/v1 Scenario`
document for what manifests cannot say (cluster settings, outside endpoints, traffic, events).

`load_scenario(path)` takes one YAML file or a folder (every `*.yaml`/`*.yml` below it, sorted,
each file possibly holding many `---` documents) and returns a :class:`model.Scenario`, or
raises :class:`ScenarioError` listing every problem as `file:line:col: field.path: message`.

Kinds read: v1 Namespace, Pod, Service, ServiceAccount; apps/v1 Deployment, StatefulSet,
DaemonSet, ReplicaSet; networking.k8s.io/v1 NetworkPolicy; projectcalico.org/v3 Tier,
NetworkPolicy, GlobalNetworkPolicy, StagedNetworkPolicy, StagedGlobalNetworkPolicy,
StagedKubernetesNetworkPolicy, NetworkSet, GlobalNetworkSet, HostEndpoint. `kind: List`
is unpacked; other kinds are skipped (listed in `Scenario.skipped`); fields we do not model
are ignored. The `default` and `kube-system` namespaces and the `default` tier (order
1000000, Deny) always exist; everything else must be defined by a document.

The Scenario document (all fields optional; durations are seconds or `90s`, `10m`, `1h30m`)::

    apiVersion: desktopviz/v1
    kind: Scenario
    metadata:
      name: storefront                    # default: the folder or file name
      description: The lab's application
    spec:
      cluster:
        nodes: [node-1, node-2, node-3]
        podCIDR: 10.244.0.0/16            # one block per node: 10.244.0.0/24, 10.244.1.0/24...
        serviceCIDR: 10.96.0.0/12
        flushInterval: 15s                # Calico's default is 300 s
        aggregation: {allowed: 2, denied: 1}   # levels 0-3 (calico.md §1.4)
        seed: 1
        startTime: 2026-01-01T00:00:00Z   # or Unix seconds
      externals:                          # things outside the cluster
        - name: twilio
          ips: [54.172.60.10, 54.172.61.0/24]
          domains: [api.twilio.com]
      traffic:                            # connection streams running from the start
        - from: {workload: storefront/frontend}   # workload | pod | external | ip | hostendpoint
          to: {service: storefront/microservice1} # also service | domain
          port: 8080                      # number or port name; optional for one-port services
          protocol: TCP                   # TCP (default), UDP, SCTP, ICMP, ICMPv6
          rate: 2                         # new connections per second (all replicas together)
          duration: 1s                    # how long each connection lasts
          bytes: 600                      # client -> server per connection (alias bytesOut)
          bytesIn: 2400                   # server -> client; default bytes * replyRatio
          replyRatio: 4
          packets: 6                      # optional, alias packetsOut; packetsIn likewise
          dns: true                       # look the name up through kube-dns first
          start: 0                        # seconds after the start (or after its event)
          stop: 30m
          process: /usr/bin/curl
      events:
        - id: deploy-rogue
          name: Deploy rogue pod
          at: 10m                         # optional; without it, fired only by the user
          actions:
            - deploy:                     # manifests inline, or file: / files: (relative)
                manifests: [{apiVersion: apps/v1, kind: Deployment, ...}]
                traffic: [{from: {workload: storefront/rogue}, to: ..., ...}]
            - apply: {file: quarantine.yaml}   # or an inline document / list of documents
            - scale: {target: Deployment storefront/frontend, replicas: 3}
            - delete: Deployment storefront/rogue
            - deletePolicy: storefront/default.trusted   # the policy key (trace name)

Endpoint references may also be written as strings: `from: workload:storefront/frontend`.
Objects an event deploys may be referenced only by that event's traffic. Files under the
folder's `events/` sub-folder are not loaded with the scenario: keep manifests that only an
event deploys there (`file: events/rogue.yaml`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from desktopviz.core.model import Cluster, ClusterSettings, Scenario
from desktopviz.core.scenario_docs import Parsed, Registry, parse_documents
from desktopviz.core.scenario_pods import PodPlacer
from desktopviz.core.scenario_refs import View, check_policy_key, check_target, check_traffic
from desktopviz.core.scenario_spec import EventDraft, SpecDraft, parse_scenario_doc
from desktopviz.core.scenario_yaml import Issues, ScenarioError, ScenarioIssue, load_documents

__all__ = ["ScenarioError", "ScenarioIssue", "load_scenario", "scenario_files"]

EVENTS_DIR = "events"


def scenario_files(path: Path) -> list[Path]:
    """The YAML files of a scenario path: the file itself, or every *.yaml/*.yml below a
    folder except those under its `events/` sub-folder (manifests only events deploy)."""
    if path.is_dir():
        files = [
            p
            for p in path.rglob("*")
            if p.is_file() and p.suffix in (".yaml", ".yml") and p.relative_to(path).parts[0] != EVENTS_DIR
        ]
        return sorted(files, key=lambda p: p.relative_to(path).as_posix())
    return [path]


def load_scenario(path: str | Path) -> Scenario:
    """Load and validate a scenario file or folder; raise ScenarioError with every problem."""
    root = Path(path)
    issues = Issues()
    if not root.exists():
        raise ScenarioError([ScenarioIssue(str(path), 0, 0, "", "no such file or folder")])
    files = scenario_files(root)
    base_dir = root if root.is_dir() else root.parent
    parsed = Parsed()
    for f in files:
        shown = str(f) if root.is_dir() else str(path)
        try:
            text = f.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            issues.add(shown, 0, 0, "", f"cannot read: {exc}")
            continue
        parse_documents(load_documents(text, shown, issues), issues, parsed)
    if root.is_dir() and not files:
        issues.add(str(path), 0, 0, "", "the folder holds no *.yaml or *.yml files")
    spec = SpecDraft()
    for extra in parsed.scenario_docs[1:]:
        extra.error(
            f"only one Scenario document is allowed (the first is at "
            f"{parsed.scenario_docs[0].file}:{parsed.scenario_docs[0].line})"
        )
    if parsed.scenario_docs:
        spec = parse_scenario_doc(parsed.scenario_docs[0], base_dir, issues)
    settings = spec.settings
    registry = Registry(issues, settings)
    registry.add_all(parsed)
    placer = _placer(settings, issues, parsed)
    service_ips: set[str] = set()
    if placer is not None:
        registry.finish(placer, service_ips, parsed.headless)
    cluster = registry.cluster
    events = _events(spec, cluster, settings, placer, service_ips, issues) if placer is not None else []
    view = View([cluster], spec.externals)
    traffic = [t for t in (check_traffic(d, view) for d in spec.traffic) if t is not None]
    issues.raise_if_any()
    scenario = Scenario(
        name=spec.name or (root.name if root.is_dir() else root.stem),
        cluster=cluster,
        settings=settings,
        externals=spec.externals,
        traffic=traffic,
        events=[e.event for e in events],
        skipped=parsed.skipped,
        files=[str(f) for f in files],
        description=spec.description,
    )
    return scenario


def _placer(settings: ClusterSettings, issues: Issues, parsed: Parsed) -> PodPlacer | None:
    try:
        return PodPlacer(settings, set())
    except ValueError as exc:
        node = parsed.scenario_docs[0] if parsed.scenario_docs else None
        if node is not None:
            node.error(str(exc), path="spec.cluster.podCIDR")
        else:
            issues.add("<settings>", 0, 0, "", str(exc))
        return None


def _events(
    spec: SpecDraft,
    cluster: Cluster,
    settings: ClusterSettings,
    placer: PodPlacer,
    service_ips: set[str],
    issues: Issues,
) -> list[EventDraft]:
    """Parse each event's manifests into its own overlay, check its traffic against the base
    cluster plus that overlay, then check every delete/scale/deletePolicy target."""
    overlays: list[Cluster] = []
    for ev in spec.events:
        reg = Registry(issues, settings, base=cluster)
        per_action: list[tuple[Any, int, int]] = []
        headless: set[str] = set()
        for act in ev.actions:
            if act.action.kind not in ("deploy", "apply"):
                continue
            sub = parse_documents(act.documents, issues)
            for doc in sub.scenario_docs:
                doc.error("a Scenario document cannot be deployed by an event")
            start = len(reg.order)
            reg.add_all(sub)
            per_action.append((act, start, len(reg.order)))
            headless |= sub.headless
        reg.finish(placer, service_ips, headless)
        for act, start, end in per_action:
            act.action.objects = list(reg.order[start:end])
        view = View([cluster, reg.cluster], spec.externals)
        for act in ev.actions:
            act.action.traffic = [t for t in (check_traffic(d, view) for d in act.traffic) if t is not None]
        overlays.append(reg.cluster)
    everything = View([cluster, *overlays], spec.externals)
    for ev in spec.events:
        for act in ev.actions:
            a = act.action
            if a.kind in ("delete", "scale"):
                a.target = check_target(act.node, a.target, everything, scale=a.kind == "scale")
            elif a.kind == "delete-policy":
                a.target = check_policy_key(act.node, a.target, everything)
    return spec.events
