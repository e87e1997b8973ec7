"""The Policy Board's model, without Qt: tiers and policies in engine order, cards, metrics.

A :class:`BoardLayout` lists tiers left to right and each tier's policies top to bottom
exactly as :class:`~desktopviz.core.policy.PolicyEngine` evaluates them (calico.md §2.1,
§2.2: Kubernetes NetworkPolicies in ``default`` at order 1000; profiles are not policies).
Without a scenario (a stored or imported run) the layout comes from the traces in the
store (:mod:`desktopviz.core.board_traces`). :func:`card_metrics` joins the store's
per-policy metrics (:func:`desktopviz.core.queries.policy_metrics`) onto the cards: enforced
hits for enforced policies, pending hits for staged ones (what they would do).
:func:`visible_keys` applies the board's filters.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from desktopviz.core.model import Cluster, Policy, Scenario
from desktopviz.core.queries import HitMetrics, PolicyMetrics, Traffic
from desktopviz.core.selector import parse_selector

Kind = Literal["Calico", "Global", "Kubernetes"]
FilterMode = Literal["all", "denying", "unused", "staged", "enforced"]
FILTER_MODES: dict[str, str] = {
    "all": "Show all policies",
    "denying": "Only show policies denying traffic",
    "unused": "Only show unused policies",
    "staged": "Only show staged policies",
    "enforced": "Only show enforced policies",
}
PROFILE_TIER = "__PROFILE__"
METRICS = ("connections", "allowed", "denied", "passed")


@dataclass
class BoardPolicy:
    """One card: a policy by its trace name (the key every layer uses)."""

    key: str
    name: str  # as shown: the name without namespace, tier prefix and `staged:`
    tier: str
    order: float | None = None
    namespace: str | None = None
    kind: Kind = "Calico"
    staged: bool = False
    policy: Policy | None = None  # None: known only from flow-log traces
    endpoints: int | None = None  # endpoints it selects (or, from traces, endpoints seen)
    endpoint_keys: frozenset[str] = frozenset()  # for the label filter
    position: int = 0  # 0-based place inside its tier

    @property
    def scope(self) -> str:
        return self.namespace or "global"

    @property
    def types(self) -> list[str]:
        return list(self.policy.types) if self.policy else []

    @property
    def order_text(self) -> str:
        if self.order is None:
            return "—"
        return f"{self.order:.0f}" if float(self.order).is_integer() else f"{self.order:g}"


@dataclass
class BoardTier:
    name: str
    order: float | None = None
    default_action: str | None = None  # None: unknown (layout from traces)
    policies: list[BoardPolicy] = field(default_factory=list)


@dataclass
class BoardLayout:
    """Tiers in evaluation order; `labels` maps endpoint keys to their Calico labels."""

    tiers: list[BoardTier] = field(default_factory=list)
    source: Literal["scenario", "store"] = "scenario"
    labels: dict[str, Mapping[str, str]] = field(default_factory=dict)

    def policies(self) -> Iterator[BoardPolicy]:
        for tier in self.tiers:
            yield from tier.policies

    def keys(self) -> list[str]:
        return [p.key for p in self.policies()]

    def find(self, key: str) -> BoardPolicy | None:
        for p in self.policies():
            if p.key == key:
                return p
        return None

    def tier(self, name: str) -> BoardTier | None:
        for t in self.tiers:
            if t.name == name:
                return t
        return None

    def add_traces(
        self, found: Iterable[tuple[str, str]], tier_rank: Mapping[str, float] | None = None
    ) -> int:
        """Add policies seen in flow logs (tier, trace name) but not on the board (added by
        events, or a stored run): at the end of their tier; unknown tiers by their rank in
        the traces, before `default`. Returns how many were added."""
        known = set(self.keys())
        rank = tier_rank or {}
        added = 0
        for tier_name, key in sorted(found, key=lambda tk: (rank.get(tk[0], 1e9), tk)):
            if tier_name == PROFILE_TIER or key in known:
                continue
            tier = self.tier(tier_name)
            if tier is None:
                tier = BoardTier(tier_name)
                at = next((i for i, t in enumerate(self.tiers) if t.name == "default"), len(self.tiers))
                self.tiers.insert(at, tier)
            bp = policy_from_trace(tier_name, key)
            bp.position = len(tier.policies)
            tier.policies.append(bp)
            known.add(key)
            added += 1
        return added


def policy_from_trace(tier: str, key: str) -> BoardPolicy:
    """A card for a trace name only (calico.md §1.3 format (b)): kind, namespace, staged."""
    ns, sep, rest = key.partition("/")
    namespace = ns if sep else None
    if not sep:
        rest = key
    staged = "staged:" in rest
    kubernetes = "knp.default." in rest
    name = rest.replace("staged:", "", 1)
    if kubernetes:
        name = name.split("knp.default.", 1)[1]
    elif name.startswith(tier + "."):
        name = name[len(tier) + 1 :]
    kind: Kind = "Kubernetes" if kubernetes else ("Calico" if namespace else "Global")
    return BoardPolicy(key=key, name=name, tier=tier, namespace=namespace, kind=kind, staged=staged)


def kind_of(policy: Policy) -> Kind:
    if policy.is_kubernetes:
        return "Kubernetes"
    return "Global" if policy.is_global else "Calico"


def _endpoint_key(ep: Any) -> str:
    return str(getattr(ep, "key", ep))


def layout_from_cluster(cluster: Cluster | Scenario, engine: Any = None) -> BoardLayout:
    """Tiers and policies in the engine's evaluation order, with selected endpoint counts.

    `engine` is a PolicyEngine over the cluster (built here if not given; that takes about
    two seconds for 2,000 pods and 300 policies, so callers in a GUI do this off-thread)."""
    if isinstance(cluster, Scenario):
        cluster = cluster.cluster
    if engine is None:
        from desktopviz.core.policy import PolicyEngine

        engine = PolicyEngine(cluster)
    layout = BoardLayout(source="scenario")
    by_tier: dict[str, list[Policy]] = {}
    for policy in engine.policies_in_order():
        by_tier.setdefault(policy.tier, []).append(policy)
    for tier in engine.tiers_in_order():
        if tier.name == PROFILE_TIER:
            continue
        bt = BoardTier(tier.name, tier.order, tier.default_action)
        for i, policy in enumerate(by_tier.get(tier.name, [])):
            selected = engine.selected_endpoints(policy.key)
            keys = []
            for ep in selected:
                k = _endpoint_key(ep)
                keys.append(k)
                if k not in layout.labels:
                    layout.labels[k] = engine.endpoint_labels(ep)
            bt.policies.append(
                BoardPolicy(
                    key=policy.key,
                    name=policy.short_name,
                    tier=policy.tier,
                    order=policy.order,
                    namespace=None if policy.is_global else policy.namespace,
                    kind=kind_of(policy),
                    staged=policy.staged,
                    policy=policy,
                    endpoints=len(selected),
                    endpoint_keys=frozenset(keys),
                    position=i,
                )
            )
        layout.tiers.append(bt)
    return layout


# -- metrics ---------------------------------------------------------------------------------
def packets(t: Traffic) -> int:
    return t.packets_in + t.packets_out


def nbytes(t: Traffic) -> int:
    return t.bytes_in + t.bytes_out


def card_metrics(layout: BoardLayout, metrics: Mapping[str, PolicyMetrics]) -> dict[str, HitMetrics]:
    """Each card's metrics: enforced hits, or pending hits for a staged policy (its would-be
    traffic). Policies without traffic get empty metrics."""
    out: dict[str, HitMetrics] = {}
    for bp in layout.policies():
        pm = metrics.get(bp.key)
        if pm is None:
            out[bp.key] = HitMetrics()
        else:
            out[bp.key] = pm.pending if bp.staged else pm.enforced
    return out


def metric_value(hm: HitMetrics, name: str) -> int:
    """Connections (num_flows), or allowed/denied/passed packets (in + out)."""
    if name == "connections":
        return hm.total.connections
    part = {"allowed": hm.allowed, "denied": hm.denied, "passed": hm.passed}[name]
    return packets(part)


def no_policy_traffic(metrics: Mapping[str, PolicyMetrics]) -> HitMetrics:
    """Traffic that no policy selected (decided by profiles): the "No Policy Traffic" card."""
    total = HitMetrics()
    for pm in metrics.values():
        if pm.tier == PROFILE_TIER:
            for part in ("total", "allowed", "denied", "passed"):
                src, dst = getattr(pm.enforced, part), getattr(total, part)
                dst.add(
                    src.logs, [src.connections, src.packets_in, src.packets_out, src.bytes_in, src.bytes_out]
                )
    return total


# -- filters ---------------------------------------------------------------------------------
def label_matches(layout: BoardLayout, selector: str) -> set[str]:
    """Endpoint keys whose labels match a Calico selector (SelectorError if it is invalid)."""
    sel = parse_selector(selector)
    return {k for k, labels in layout.labels.items() if sel.matches(labels)}


def visible_keys(
    layout: BoardLayout,
    cards: Mapping[str, HitMetrics],
    mode: str = "all",
    label_selector: str = "",
    search: str = "",
) -> set[str]:
    """The cards the board shows: filter mode (FILTER_MODES), a label selector that at least
    one selected endpoint must match, and a case-insensitive name search."""
    matching = label_matches(layout, label_selector) if label_selector.strip() else None
    needle = search.strip().lower()
    out: set[str] = set()
    for bp in layout.policies():
        hm = cards.get(bp.key) or HitMetrics()
        if mode == "denying" and hm.denied.logs == 0:
            continue
        if mode == "unused" and hm.total.logs > 0:
            continue
        if mode == "staged" and not bp.staged:
            continue
        if mode == "enforced" and bp.staged:
            continue
        if matching is not None and not (bp.endpoint_keys & matching):
            continue
        if needle and needle not in bp.key.lower() and needle not in bp.name.lower():
            continue
        out.add(bp.key)
    return out
