"""The flows of the Flow Visualizer as a graph, and a stable order of namespaces and names.

A *flow* here is what the visualizer draws as one chord: the traffic between two aggregated
endpoints (namespace + aggregated name such as ``frontend-864f4fcdfd-*``) with one status over
the chosen time range. The flows form a networkx graph (names as nodes, flows as weighted
edges); :class:`StableOrder` places namespaces around the circle and names inside each
namespace so that heavy peers sit next to each other (short chords, few crossings) and keeps
that order when new flows arrive, so the picture does not reshuffle.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

GLOBAL_NS = "-"  # Calico's namespace of non-namespaced endpoints (nets, global sets, HEPs)
METRICS = ("connections", "packets", "bytes")
STATUSES = ("allowed", "denied", "unknown")

NodeKey = tuple[str, str]  # (namespace, aggregated name)


@dataclass
class Flow:
    """Traffic between two aggregated endpoints over a time range (one chord).

    ``denied_at`` says which side's policy denied it: ``"src"`` (egress at the client) or
    ``"dst"`` (ingress at the server; "denied by remote" seen from the source).
    """

    src_namespace: str
    src_name: str
    src_type: str
    dst_namespace: str
    dst_name: str
    dst_type: str
    action: str  # "allow" | "deny" | anything else = unknown
    denied_at: str | None = None
    connections: float = 0.0
    packets: float = 0.0
    bytes: float = 0.0
    start: int = 0
    end: int = 0
    src_labels: Mapping[str, str] | None = None
    dst_labels: Mapping[str, str] | None = None
    policies: tuple[str, ...] = ()  # trace strings that evaluated the flow, if known
    changed: bool = False  # what-if preview: the verdict changes with the edit
    uncertain: bool = False  # what-if preview: the record does not decide the verdict
    before_action: str | None = None  # what-if preview: the other side of a change
    reasons: tuple[str, ...] = ()  # what-if preview: why uncertain, notes

    @property
    def src(self) -> NodeKey:
        return (self.src_namespace, self.src_name)

    @property
    def dst(self) -> NodeKey:
        return (self.dst_namespace, self.dst_name)

    @property
    def status(self) -> str:
        a = (self.action or "").lower()
        if a == "allow":
            return "allowed"
        if a == "deny":
            return "denied"
        return "unknown"

    def value(self, metric: str = "connections") -> float:
        return float(getattr(self, metric))

    def label(self) -> str:
        return f"{endpoint_label(*self.src)} → {endpoint_label(*self.dst)}"


NET_NAMES = {"pub": "Public network", "pvt": "Private network"}


def is_global(namespace: str | None) -> bool:
    return namespace in (None, "", GLOBAL_NS)


def namespace_label(namespace: str) -> str:
    """How a namespace is shown: Calico's ``-`` is shown as "Global" (as Whisker does;
    Kubernetes namespaces are lower case, so it cannot be mistaken for one)."""
    return "Global" if is_global(namespace) else namespace


def name_label(namespace: str, name: str) -> str:
    """How an aggregated name is shown: the plain networks ``pub``/``pvt`` of a non-namespaced
    end as "Public network"/"Private network" (Whisker's words, calico.md §1.2)."""
    return NET_NAMES.get(name, name) if is_global(namespace) else name


def endpoint_label(namespace: str, name: str) -> str:
    """``namespace:name`` as shown in tables, dropdowns and tooltips: ``Global:`` for
    non-namespaced ends (``Global:public-ip-range``), and a plain network by its name alone
    ("Public network")."""
    if is_global(namespace) and name in NET_NAMES:
        return NET_NAMES[name]
    return f"{namespace_label(namespace)}:{name_label(namespace, name)}"


def endpoint_key(namespace: str, name: str) -> str:
    """The raw ``namespace:name`` of an end (``-:pub``): machine-readable, not for display."""
    return f"{namespace or GLOBAL_NS}:{name}"


def _get(obj: Any, *names: str, default: Any = None) -> Any:
    for n in names:
        if isinstance(obj, Mapping):
            if n in obj:
                return obj[n]
        elif hasattr(obj, n):
            return getattr(obj, n)
    return default


def flow_from_row(row: Any) -> Flow:
    """Build a Flow from a query result row (dataclass or dict) with Calico-style field names.

    Accepts both this module's names (``src_namespace``) and flow-log names
    (``source_namespace``, ``source_name_aggr``, ``num_flows``...), so the visualizer adapts to
    the store's aggregate rows.
    """
    if isinstance(row, Flow):
        return row
    labels_s = _get(row, "src_labels", "source_labels")
    labels_d = _get(row, "dst_labels", "dest_labels")
    return Flow(
        src_namespace=str(_get(row, "src_namespace", "source_namespace", default=GLOBAL_NS)),
        src_name=str(_get(row, "src_name", "source_name_aggr", "source_name", default="-")),
        src_type=str(_get(row, "src_type", "source_type", default="net")),
        dst_namespace=str(_get(row, "dst_namespace", "dest_namespace", default=GLOBAL_NS)),
        dst_name=str(_get(row, "dst_name", "dest_name_aggr", "dest_name", default="-")),
        dst_type=str(_get(row, "dst_type", "dest_type", default="net")),
        action=str(_get(row, "action", default="")),
        denied_at=_get(row, "denied_at", "denied_by", default=None),
        connections=float(_get(row, "connections", "num_flows", default=0) or 0),
        packets=float(_get(row, "packets", default=0) or 0),
        bytes=float(_get(row, "bytes", default=0) or 0),
        start=int(_get(row, "start", "start_time", "first_seen", default=0) or 0),
        end=int(_get(row, "end", "end_time", "last_seen", default=0) or 0),
        src_labels=_labels(labels_s),
        dst_labels=_labels(labels_d),
        policies=tuple(_get(row, "policies", default=()) or ()),
        changed=bool(_get(row, "changed", default=False)),
        uncertain=bool(_get(row, "uncertain", default=False)),
        before_action=_get(row, "before_action", default=None),
    )


def _labels(value: Any) -> dict[str, str] | None:
    if value is None:
        return None
    if isinstance(value, Mapping) and "labels" in value and isinstance(value["labels"], list):
        return dict(item.partition("=")[::2] for item in value["labels"])
    if isinstance(value, Mapping):
        return {str(k): str(v) for k, v in value.items()}
    return None


def merge_flows(flows: Iterable[Flow]) -> list[Flow]:
    """Sum flows with the same endpoints and status (order of first appearance kept)."""
    out: dict[tuple[NodeKey, NodeKey, str], Flow] = {}
    for f in flows:
        k = (f.src, f.dst, f.status)
        g = out.get(k)
        if g is None:
            out[k] = Flow(**{**f.__dict__})
            continue
        g.connections += f.connections
        g.packets += f.packets
        g.bytes += f.bytes
        g.start = min(g.start, f.start) if g.start and f.start else (g.start or f.start)
        g.end = max(g.end, f.end)
        if f.denied_at == "src" or g.denied_at is None:
            g.denied_at = f.denied_at or g.denied_at
        if f.policies:
            g.policies = tuple(dict.fromkeys(g.policies + f.policies))
        g.changed = g.changed or f.changed
        g.uncertain = g.uncertain or f.uncertain
        g.before_action = g.before_action or f.before_action
        if f.reasons:
            g.reasons = tuple(dict.fromkeys(g.reasons + f.reasons))
    return list(out.values())


def build_graph(flows: Iterable[Flow], metric: str = "connections") -> nx.Graph:
    """Undirected weighted graph: nodes are (namespace, name), edge weight = summed flow volume."""
    g = nx.Graph()
    for f in flows:
        w = max(f.value(metric), 0.0)
        for key, typ in ((f.src, f.src_type), (f.dst, f.dst_type)):
            if key not in g:
                g.add_node(key, namespace=key[0], name=key[1], type=typ, total=0.0)
            g.nodes[key]["total"] += w
        if f.src == f.dst:
            continue
        if g.has_edge(f.src, f.dst):
            g[f.src][f.dst]["weight"] += w
        else:
            g.add_edge(f.src, f.dst, weight=w)
    return g


def _greedy_chain(items: Sequence[Any], weight: Any, total: Any) -> list[Any]:
    """Order items so heavy pairs are neighbours: start at the heaviest, then repeatedly append
    the unplaced item most strongly tied to the chain's last item (ties: heaviest overall)."""
    left = sorted(items, key=lambda i: (-total(i), str(i)))
    if not left:
        return []
    chain = [left.pop(0)]
    while left:
        last = chain[-1]
        best = max(range(len(left)), key=lambda j: (weight(last, left[j]), total(left[j]), -j))
        chain.append(left.pop(best))
    return chain


@dataclass
class StableOrder:
    """Order of namespaces and of names inside each, stable across updates.

    The first update orders everything greedily by edge weight; later updates keep every known
    item where it was and insert a new item right after its heaviest already-placed neighbour
    (or at the end when it has none), so the picture does not reshuffle as flows arrive.
    Items that disappear keep their place in memory in case they come back.
    """

    namespaces: list[str] = field(default_factory=list)
    names: dict[str, list[str]] = field(default_factory=dict)

    def reset(self) -> None:
        self.namespaces.clear()
        self.names.clear()

    def update(self, graph: nx.Graph) -> None:
        ns_w: dict[tuple[str, str], float] = {}
        ns_total: dict[str, float] = {}
        for a, b, w in graph.edges(data="weight", default=0.0):
            na, nb = a[0], b[0]
            if na != nb:
                k = (na, nb) if na < nb else (nb, na)
                ns_w[k] = ns_w.get(k, 0.0) + w
        for node, data in graph.nodes(data=True):
            ns_total[node[0]] = ns_total.get(node[0], 0.0) + data.get("total", 0.0)

        def nsw(a: str, b: str) -> float:
            return ns_w.get((a, b) if a < b else (b, a), 0.0)

        new_ns = [n for n in ns_total if n not in self.namespaces]
        if not self.namespaces:
            self.namespaces = _greedy_chain(new_ns, nsw, lambda n: ns_total[n])
        else:
            for n in sorted(new_ns, key=lambda n: (-ns_total[n], n)):
                self._insert(self.namespaces, n, lambda p, n=n: nsw(n, p))

        by_ns: dict[str, list[NodeKey]] = {}
        for node in graph.nodes:
            by_ns.setdefault(node[0], []).append(node)
        for ns, nodes in by_ns.items():
            known = self.names.setdefault(ns, [])
            new = [k for k in nodes if k[1] not in known]
            if not new:
                continue

            def w(a: NodeKey, b: NodeKey) -> float:
                return float(graph[a][b]["weight"]) if graph.has_edge(a, b) else 0.0

            def tot(k: NodeKey) -> float:
                return float(graph.nodes[k].get("total", 0.0))

            if not known:
                known.extend(k[1] for k in _greedy_chain(new, w, tot))
            else:
                for k in sorted(new, key=lambda k: (-tot(k), k[1])):
                    self._insert(known, k[1], lambda p, k=k, ns=ns: w(k, (ns, p)))

    @staticmethod
    def _insert(order: list[str], item: str, tie: Any) -> None:
        best, best_w = -1, 0.0
        for i, p in enumerate(order):
            wt = tie(p)
            if wt > best_w:
                best, best_w = i, wt
        if best < 0:
            order.append(item)
        else:
            order.insert(best + 1, item)

    def knows(self, keys: Iterable[NodeKey]) -> bool:
        """Whether every (namespace, name) already has a place (then no update is needed)."""
        cache: dict[str, set[str]] = {}
        for ns, name in keys:
            known = cache.get(ns)
            if known is None:
                known = cache[ns] = set(self.names.get(ns, ()))
            if name not in known:
                return False
        return True

    def namespace_rank(self) -> dict[str, int]:
        return {n: i for i, n in enumerate(self.namespaces)}

    def name_rank(self, namespace: str) -> dict[str, int]:
        return {n: i for i, n in enumerate(self.names.get(namespace, []))}
