"""The `desktopviz/v1 Scenario` document: cluster settings, external endpoints, traffic and
events (the format is described in :mod:`desktopviz.core.scenario`).

Parsing here checks the shape of each field; whether traffic ends and event targets exist is
checked by :mod:`desktopviz.core.scenario_refs` once every object is known.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from pathlib import Path

from desktopviz.core.model import (
    ClusterSettings,
    Event,
    EventAction,
    ExternalEndpoint,
)
from desktopviz.core.scenario_k8s import check_name
from desktopviz.core.scenario_rule_fields import check_domain
from desktopviz.core.scenario_rules import location, parse_cidr
from desktopviz.core.scenario_traffic import TrafficDraft, parse_duration, parse_traffic
from desktopviz.core.scenario_yaml import Document, Issues, Node, load_documents

ACTION_KEYS = {
    "deploy": "deploy",
    "delete": "delete",
    "scale": "scale",
    "apply": "apply",
    "deletePolicy": "delete-policy",
}
_EVENT_ID = re.compile(r"^[a-z0-9]([-a-z0-9_.]*[a-z0-9])?$")


@dataclass
class ActionDraft:
    action: EventAction
    node: Node
    documents: list[Document] | list[Node] = field(default_factory=list)
    traffic: list[TrafficDraft] = field(default_factory=list)


@dataclass
class EventDraft:
    event: Event
    actions: list[ActionDraft] = field(default_factory=list)


@dataclass
class SpecDraft:
    name: str | None = None
    description: str = ""
    settings: ClusterSettings = field(default_factory=ClusterSettings)
    externals: dict[str, ExternalEndpoint] = field(default_factory=dict)
    traffic: list[TrafficDraft] = field(default_factory=list)
    events: list[EventDraft] = field(default_factory=list)


def parse_scenario_doc(root: Node, base_dir: Path, issues: Issues) -> SpecDraft:
    draft = SpecDraft()
    root.check_keys({"apiVersion", "kind", "metadata", "spec"}, "a Scenario")
    md = root.get("metadata")
    if md is not None and md.is_map():
        md.check_keys({"name", "description", "labels", "annotations"}, "Scenario metadata")
        n = md.get("name")
        draft.name = n.as_str() if n is not None else None
        d = md.get("description")
        draft.description = (d.as_str() or "") if d is not None else ""
    spec = root.get("spec")
    if spec is None or not spec.is_map():
        return draft
    spec.check_keys({"cluster", "externals", "traffic", "events"}, "a Scenario spec")
    cl = spec.get("cluster")
    if cl is not None and cl.is_map():
        draft.settings = parse_settings(cl)
    ext = spec.get("externals")
    for item in ext.items() if ext is not None else []:
        e = parse_external(item)
        if e is None:
            continue
        if e.name in draft.externals:
            item.get("name").error(f"duplicate external endpoint {e.name!r}")  # type: ignore[union-attr]
            continue
        draft.externals[e.name] = e
    tr = spec.get("traffic")
    draft.traffic = [t for t in (parse_traffic(i) for i in (tr.items() if tr is not None else [])) if t]
    ev = spec.get("events")
    seen: set[str] = set()
    for item in ev.items() if ev is not None else []:
        e = parse_event(item, base_dir, issues)
        if e is None:
            continue
        if e.event.id in seen:
            item.get("id").error(f"duplicate event id {e.event.id!r}")  # type: ignore[union-attr]
            continue
        seen.add(e.event.id)
        draft.events.append(e)
    return draft


def parse_settings(node: Node) -> ClusterSettings:
    s = ClusterSettings()
    node.check_keys(
        {
            "nodes",
            "podCIDR",
            "serviceCIDR",
            "flushInterval",
            "aggregation",
            "flowLogsEnableHostEndpoint",
            "seed",
            "startTime",
        },
        "cluster settings",
    )
    nodes = node.get("nodes")
    if nodes is not None:
        names = [n for n in (check_name(i) for i in nodes.items()) if n]
        if not names and isinstance(nodes.value, list):
            nodes.error("at least one node is needed")
        elif len(set(names)) != len(names):
            nodes.error("node names must be unique")
        elif names:
            s.nodes = names
    for key, attr in (("podCIDR", "pod_cidr"), ("serviceCIDR", "service_cidr")):
        child = node.get(key)
        if child is not None:
            cidr = parse_cidr(child)
            if cidr is not None:
                if ipaddress.ip_network(cidr).num_addresses < 16:
                    child.error(f"{cidr} is too small")
                else:
                    setattr(s, attr, cidr)
    fi = node.get("flushInterval")
    if fi is not None:
        secs = parse_duration(fi, positive=True)
        if secs is not None:
            if secs != int(secs):
                fi.error("the flush interval must be a whole number of seconds")
            else:
                s.flush_interval = int(secs)
    agg = node.get("aggregation")
    if agg is not None and agg.is_map():
        agg.check_keys({"allowed", "denied"}, "aggregation")
        for key in ("allowed", "denied"):
            child = agg.get(key)
            if child is not None:
                level = child.as_int(0, 3)
                if level is not None:
                    setattr(s, f"aggregation_{key}", level)
    hep = node.get("flowLogsEnableHostEndpoint")
    if hep is not None:
        flag = hep.as_bool()
        if flag is not None:
            s.flow_logs_enable_host_endpoint = flag
    seed = node.get("seed")
    if seed is not None:
        value = seed.as_int()
        if value is not None:
            s.seed = value
    st = node.get("startTime")
    if st is not None:
        ts = st.as_timestamp()
        if ts is not None:
            s.start_time = ts
    return s


def parse_external(node: Node) -> ExternalEndpoint | None:
    if not node.is_map():
        return None
    node.check_keys({"name", "ips", "domains", "description"}, "an external endpoint")
    name_node = node.get("name")
    if name_node is None:
        node.missing("name")
        return None
    name = check_name(name_node)
    ips_node = node.get("ips")
    ips = [c for c in (parse_cidr(i) for i in (ips_node.items() if ips_node is not None else [])) if c]
    ips = [c[:-3] if c.endswith("/32") else c[:-4] if c.endswith("/128") else c for c in ips]
    dn = node.get("domains")
    domains = [d for d in (check_domain(i) for i in (dn.items() if dn is not None else [])) if d]
    if any("*" in d for d in domains):
        dn.error("domains of an external endpoint must be plain names, not wildcards")  # type: ignore[union-attr]
    if not ips_node:
        node.error("an external endpoint needs at least one address or CIDR in ips", path=node.path + ".ips")
    if name is None:
        return None
    return ExternalEndpoint(name, ips, domains, location(node))


def parse_event(node: Node, base_dir: Path, issues: Issues) -> EventDraft | None:
    if not node.is_map():
        return None
    node.check_keys({"id", "name", "at", "actions", "description"}, "an event")
    id_node = node.get("id")
    event_id = id_node.as_str() if id_node is not None else None
    if id_node is None:
        node.missing("id")
    elif event_id is not None and not _EVENT_ID.match(event_id):
        id_node.error(f"invalid event id {event_id!r} (lower-case letters, digits, '-', '_', '.')")
        event_id = None
    name_node = node.get("name")
    name = (name_node.as_str() if name_node is not None else None) or event_id or ""
    at_node = node.get("at")
    at = parse_duration(at_node) if at_node is not None else None
    draft = EventDraft(Event(event_id or "", name, at, location=location(node)))
    acts = node.get("actions")
    if acts is None:
        node.missing("actions")
    for item in acts.items() if acts is not None else []:
        a = parse_action(item, base_dir, issues)
        if a is not None:
            draft.actions.append(a)
            draft.event.actions.append(a.action)
    return draft if event_id else None


def _manifests(node: Node, base_dir: Path, issues: Issues) -> list[Document] | list[Node]:
    """Documents from `manifests: [...]` (inline) and/or `file:`/`files:` (relative paths)."""
    docs: list = []
    man = node.get("manifests")
    if man is not None:
        docs.extend(man.items())
    for key in ("file", "files"):
        child = node.get(key)
        if child is None:
            continue
        paths = [child] if isinstance(child.value, str) else child.items()
        for p in paths:
            rel = p.as_str()
            if rel is None:
                continue
            path = (base_dir / rel).resolve()
            if not path.is_file():
                p.error(f"file not found: {rel} (relative to {base_dir})")
                continue
            text = path.read_text(encoding="utf-8")
            docs.extend(load_documents(text, str(base_dir / rel), issues))
    return docs


def parse_action(node: Node, base_dir: Path, issues: Issues) -> ActionDraft | None:
    if not node.is_map():
        return None
    keys = [k for k in node.value if k in ACTION_KEYS]
    if len(keys) != 1 or len(node.value) != 1:
        node.error(f"an action has exactly one of: {', '.join(ACTION_KEYS)}")
        return None
    body = node.get(keys[0])
    kind = ACTION_KEYS[keys[0]]
    if body is None:
        node.error(f"{keys[0]} needs a value", path=f"{node.path}.{keys[0]}")
        return None
    action = EventAction(kind, location=location(body))  # type: ignore[arg-type]
    draft = ActionDraft(action, body)
    if kind in ("deploy", "apply"):
        if isinstance(body.value, list):
            draft.documents = body.items()
        elif isinstance(body.value, dict) and "kind" in body.value:
            draft.documents = [body]
        elif body.is_map():
            allowed = {"manifests", "file", "files"} | ({"traffic"} if kind == "deploy" else set())
            body.check_keys(allowed, f"a {keys[0]} action")
            draft.documents = _manifests(body, base_dir, issues)
            tr = body.get("traffic")
            draft.traffic = [
                t for t in (parse_traffic(i) for i in (tr.items() if tr is not None else [])) if t
            ]
        if not draft.documents:
            body.error(f"{keys[0]} needs manifests (inline list, manifests: or file:)")
    elif kind in ("delete", "delete-policy"):
        action.target = body.as_str()
    else:  # scale
        if body.is_map():
            body.check_keys({"target", "workload", "replicas"}, "a scale action")
            tnode = body.get("target") or body.get("workload")
            if tnode is None:
                body.missing("target")
            else:
                action.target = tnode.as_str()
            rnode = body.get("replicas")
            if rnode is None:
                body.missing("replicas")
            else:
                action.replicas = rnode.as_int(0, 10_000)
    return draft
