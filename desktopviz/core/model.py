"""The cluster model: what a scenario describes, in the shape the engine and simulator use.

Plain dataclasses, no behaviour beyond naming rules that every layer must agree on (Calico's
policy names in traces, aggregated endpoint names, the labels Calico adds to endpoints).
Loaded by :mod:`desktopviz.core.scenario`; evaluated by :mod:`desktopviz.core.policy`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Labels = dict[str, str]

# Calico label names (reference calico.md §2.6–2.8).
LABEL_NAMESPACE = "projectcalico.org/namespace"
LABEL_ORCHESTRATOR = "projectcalico.org/orchestrator"
LABEL_SERVICEACCOUNT = "projectcalico.org/serviceaccount"
LABEL_NAME = "projectcalico.org/name"
NS_LABEL_PREFIX = "pcns."
SA_LABEL_PREFIX = "pcsa."
K8S_NS_NAME_LABEL = "kubernetes.io/metadata.name"

# Tiers whose order and default action Calico fixes (calico.md §2.1 table): name -> (order,
# defaultAction). Calico's validation rejects any other value for them.
FIXED_TIERS: dict[str, tuple[float, str]] = {
    "default": (1_000_000.0, "Deny"),
    "kube-admin": (1_000.0, "Pass"),
    "kube-baseline": (10_000_000.0, "Pass"),
    "adminnetworkpolicy": (1_000.0, "Pass"),  # the kube-admin tier's name in v3.29-3.31
    "baselineadminnetworkpolicy": (10_000_000.0, "Pass"),
}
# Of those, the tiers that exist without a Tier document: `default`, and `kube-admin` and
# `kube-baseline` since v3.32. Their older names (`adminnetworkpolicy`,
# `baselineadminnetworkpolicy`) are ordinary tiers here: a scenario declares them.
BUILTIN_TIERS = ("default", "kube-admin", "kube-baseline")


@dataclass(frozen=True)
class SourceLocation:
    """Where something was written: file, 1-based line and column, and the field path."""

    file: str
    line: int
    column: int = 1
    path: str = ""

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}"
        return f"{where}: {self.path}" if self.path else where

    def child(self, path: str) -> SourceLocation:
        return SourceLocation(self.file, self.line, self.column, path)


@dataclass
class Namespace:
    name: str
    labels: Labels = field(default_factory=dict)
    location: SourceLocation | None = None


@dataclass
class ServiceAccount:
    name: str
    namespace: str
    labels: Labels = field(default_factory=dict)
    location: SourceLocation | None = None


@dataclass(frozen=True)
class ContainerPort:
    port: int
    protocol: str = "TCP"  # upper case: TCP, UDP, SCTP
    name: str | None = None


@dataclass
class Pod:
    """One pod (a Calico WorkloadEndpoint). `labels` are the pod's own labels."""

    name: str
    namespace: str
    labels: Labels = field(default_factory=dict)
    ip: str | None = None
    node: str | None = None
    service_account: str = "default"
    ports: list[ContainerPort] = field(default_factory=list)
    generate_name: str | None = None  # e.g. "frontend-864f4fcdfd-"
    workload: str | None = None  # "namespace/name" of the owning workload, if any
    location: SourceLocation | None = None

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def name_aggr(self) -> str:
        """Calico's aggregated name: `generateName` + `*`, or the pod name (calico.md §1.1)."""
        return f"{self.generate_name}*" if self.generate_name else self.name


@dataclass
class Workload:
    """A Deployment, StatefulSet, DaemonSet or ReplicaSet and the pods it expands to."""

    kind: str
    name: str
    namespace: str
    replicas: int = 1
    labels: Labels = field(default_factory=dict)  # pod template labels
    ports: list[ContainerPort] = field(default_factory=list)
    service_account: str = "default"
    pods: list[Pod] = field(default_factory=list)
    location: SourceLocation | None = None

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class ServicePort:
    port: int
    target_port: int | str  # a number or a container port name
    protocol: str = "TCP"
    name: str | None = None


@dataclass
class Service:
    name: str
    namespace: str
    selector: Labels | None = None  # None: no selector (no backing pods)
    cluster_ip: str | None = None
    ports: list[ServicePort] = field(default_factory=list)
    location: SourceLocation | None = None

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass
class NetworkSet:
    """A NetworkSet (namespace set) or GlobalNetworkSet (namespace None)."""

    name: str
    namespace: str | None = None
    labels: Labels = field(default_factory=dict)
    nets: list[str] = field(default_factory=list)
    domains: list[str] = field(default_factory=list)
    location: SourceLocation | None = None

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}" if self.namespace else self.name


@dataclass
class HostEndpoint:
    name: str
    node: str
    interface_name: str | None = None
    expected_ips: list[str] = field(default_factory=list)
    labels: Labels = field(default_factory=dict)
    profiles: list[str] = field(default_factory=list)
    ports: list[ContainerPort] = field(default_factory=list)  # named ports
    location: SourceLocation | None = None

    @property
    def key(self) -> str:
        return self.name

    @property
    def name_aggr(self) -> str:
        """A host endpoint aggregates to its host (node) name (calico.md §1.2)."""
        return self.node


@dataclass(frozen=True)
class ExternalPeer:
    """A plain address outside Calico's endpoints (maybe inside a NetworkSet), or a domain
    name with the address it resolved to."""

    ip: str | None = None
    domain: str | None = None


Endpoint = Pod | HostEndpoint | ExternalPeer


@dataclass
class Tier:
    name: str
    order: float | None = None  # None: evaluated last
    default_action: Literal["Deny", "Pass"] = "Deny"
    location: SourceLocation | None = None


def builtin_tier(name: str) -> Tier | None:
    """The tier Calico has without a Tier document, with its fixed order and action (None: not built in)."""
    if name not in BUILTIN_TIERS:
        return None
    order, action = FIXED_TIERS[name]
    return Tier(name, order, action)  # type: ignore[arg-type]


@dataclass
class ServiceMatch:
    name: str
    namespace: str | None = None


@dataclass
class EntityRule:
    """The source or destination part of a Calico rule (calico.md §2.8, §2.10)."""

    selector: str | None = None
    not_selector: str | None = None
    namespace_selector: str | None = None
    nets: list[str] = field(default_factory=list)
    not_nets: list[str] = field(default_factory=list)
    ports: list[int | str] = field(default_factory=list)  # 80, "6040:6050", or a named port
    not_ports: list[int | str] = field(default_factory=list)
    service_account_names: list[str] = field(default_factory=list)
    service_account_selector: str | None = None
    services: ServiceMatch | None = None
    domains: list[str] = field(default_factory=list)


@dataclass
class IcmpMatch:
    type: int | None = None
    code: int | None = None


@dataclass
class Rule:
    action: Literal["Allow", "Deny", "Pass", "Log"]
    protocol: str | int | None = None  # canonical upper-case name (TCP, UDP, ICMP, ...) or a number
    not_protocol: str | int | None = None
    ip_version: int | None = None
    icmp: IcmpMatch | None = None
    not_icmp: IcmpMatch | None = None
    source: EntityRule = field(default_factory=EntityRule)
    destination: EntityRule = field(default_factory=EntityRule)
    http: dict[str, Any] | None = None
    location: SourceLocation | None = None
    raw: dict[str, Any] | None = None  # the rule as written (Calico form), for YAML export


PolicyKind = Literal[
    "NetworkPolicy",
    "GlobalNetworkPolicy",
    "KubernetesNetworkPolicy",
    "StagedNetworkPolicy",
    "StagedGlobalNetworkPolicy",
    "StagedKubernetesNetworkPolicy",
]


@dataclass
class Policy:
    """A Calico policy in Calico form. Kubernetes NetworkPolicies arrive already converted
    (kind KubernetesNetworkPolicy, tier default, order 1000; calico.md §2.9).

    `name` is the name as written in metadata (`trusted`, `default.trusted`,
    `security.quarantine`, or the Kubernetes policy's own name)."""

    kind: PolicyKind
    name: str
    namespace: str | None = None
    tier: str = "default"
    order: float | None = None
    selector: str = ""  # "" = all()
    namespace_selector: str | None = None  # GlobalNetworkPolicy only
    service_account_selector: str | None = None
    types: list[str] = field(default_factory=lambda: ["Ingress"])  # after defaulting (§2.4)
    ingress: list[Rule] = field(default_factory=list)
    egress: list[Rule] = field(default_factory=list)
    staged_action: str | None = None  # staged kinds: Set (default), Delete, Learn, Ignore
    do_not_track: bool = False
    pre_dnat: bool = False
    apply_on_forward: bool = False
    location: SourceLocation | None = None
    raw: dict[str, Any] | None = None  # the document as written, for YAML export

    @property
    def staged(self) -> bool:
        return self.kind.startswith("Staged")

    @property
    def is_global(self) -> bool:
        return self.kind in ("GlobalNetworkPolicy", "StagedGlobalNetworkPolicy")

    @property
    def is_kubernetes(self) -> bool:
        return self.kind in ("KubernetesNetworkPolicy", "StagedKubernetesNetworkPolicy")

    @property
    def short_name(self) -> str:
        """The name without its tier prefix (`trusted` for `default.trusted`)."""
        if self.is_kubernetes:
            return self.name
        prefix = self.tier + "."
        return self.name[len(prefix) :] if self.name.startswith(prefix) else self.name

    @property
    def tiered_name(self) -> str:
        """Calico's stored name: `<tier>.<name>` (`knp.default.<name>` for Kubernetes)."""
        if self.is_kubernetes:
            return f"knp.default.{self.name}"
        return f"{self.tier}.{self.short_name}"

    @property
    def trace_name(self) -> str:
        """The policy's name in flow-log traces, format (b) of calico.md §1.3; also the key
        every layer uses to identify a policy."""
        ns = f"{self.namespace}/" if self.namespace and not self.is_global else ""
        if self.kind == "KubernetesNetworkPolicy":
            return f"{ns}knp.default.{self.name}"
        if self.kind == "StagedKubernetesNetworkPolicy":
            return f"{ns}staged:knp.default.{self.name}"
        if self.staged:
            return f"{ns}{self.tier}.staged:{self.short_name}"
        return f"{ns}{self.tier}.{self.short_name}"

    @property
    def key(self) -> str:
        return self.trace_name

    def rules(self, direction: str) -> list[Rule]:
        return self.ingress if direction == "ingress" else self.egress


@dataclass
class Profile:
    name: str  # e.g. "kns.storefront"
    ingress: list[Rule] = field(default_factory=list)
    egress: list[Rule] = field(default_factory=list)
    labels_to_apply: Labels = field(default_factory=dict)


@dataclass
class Cluster:
    """Everything that exists in the simulated cluster at one moment."""

    namespaces: dict[str, Namespace] = field(default_factory=dict)
    service_accounts: dict[str, ServiceAccount] = field(default_factory=dict)  # "ns/name"
    workloads: dict[str, Workload] = field(default_factory=dict)  # "ns/name"
    pods: dict[str, Pod] = field(default_factory=dict)  # "ns/name"
    services: dict[str, Service] = field(default_factory=dict)  # "ns/name"
    network_sets: dict[str, NetworkSet] = field(default_factory=dict)  # NetworkSet.key
    host_endpoints: dict[str, HostEndpoint] = field(default_factory=dict)
    tiers: dict[str, Tier] = field(default_factory=dict)
    policies: dict[str, Policy] = field(default_factory=dict)  # Policy.key (trace name)

    def namespace_labels(self, namespace: str) -> Labels:
        ns = self.namespaces.get(namespace)
        labels = dict(ns.labels) if ns else {}
        labels.setdefault(K8S_NS_NAME_LABEL, namespace)
        return labels

    def pod_calico_labels(self, pod: Pod) -> Labels:
        """The labels Calico matches selectors against for a pod's WorkloadEndpoint: inherited
        profile labels (`pcns.*`, `pcsa.*`), then the pod's own labels, then the labels Calico
        adds (calico.md §2.6, §2.7). The pod's own labels win over inherited ones."""
        labels: Labels = {}
        for k, v in self.namespace_labels(pod.namespace).items():
            labels[NS_LABEL_PREFIX + k] = v
        labels[NS_LABEL_PREFIX + LABEL_NAME] = pod.namespace
        sa = self.service_accounts.get(f"{pod.namespace}/{pod.service_account}")
        for k, v in (sa.labels if sa else {}).items():
            labels[SA_LABEL_PREFIX + k] = v
        labels[SA_LABEL_PREFIX + LABEL_NAME] = pod.service_account
        labels.update(pod.labels)
        labels[LABEL_NAMESPACE] = pod.namespace
        labels[LABEL_ORCHESTRATOR] = "k8s"
        if len(pod.service_account) < 63:
            labels[LABEL_SERVICEACCOUNT] = pod.service_account
        return labels

    def network_set_calico_labels(self, netset: NetworkSet) -> Labels:
        """A NetworkSet's labels plus `projectcalico.org/namespace` and inherited namespace
        labels; a GlobalNetworkSet has only its own labels (calico.md §2.7)."""
        if netset.namespace is None:
            return dict(netset.labels)
        labels: Labels = {}
        for k, v in self.namespace_labels(netset.namespace).items():
            labels[NS_LABEL_PREFIX + k] = v
        labels[NS_LABEL_PREFIX + LABEL_NAME] = netset.namespace
        labels.update(netset.labels)
        labels[LABEL_NAMESPACE] = netset.namespace
        return labels

    def tiers_in_order(self) -> list[Tier]:
        """Tiers in evaluation order: ordered first by order, no order last, ties by name."""
        return sorted(self.tiers.values(), key=tier_sort_key)

    def policies_in_order(self, tier: str) -> list[Policy]:
        """A tier's policies in evaluation order: by order (missing = last), ties by the
        stored key name (`<ns>/<tier>.<name>` or `<tier>.<name>`, Calico v3.30)."""
        pols = [p for p in self.policies.values() if p.tier == tier]
        return sorted(pols, key=policy_sort_key)


def tier_sort_key(t: Tier) -> tuple[bool, float, str]:
    """(no order, order, name): tiers with an order first, lowest first, ties by name."""
    return (t.order is None, t.order if t.order is not None else 0.0, t.name)


def policy_sort_key(p: Policy) -> tuple[bool, float, str]:
    """(no order, order, tie key): the tie key is Calico v3.30's backend key name,
    `[<ns>/]<tier>.<name>`, with `staged:` before the name part for staged kinds
    (`ns/staged:tier.name`, `staged:tier.name`, `ns/staged:knp.default.name`; CAL
    staged*policyprocessor.go), so a staged policy ties after enforced `<tier>.*` names."""
    ns = f"{p.namespace}/" if p.namespace and not p.is_global else ""
    staged = "staged:" if p.staged else ""
    return (p.order is None, p.order if p.order is not None else 0.0, ns + staged + p.tiered_name)


# ---------------------------------------------------------------------------------------
# The scenario: what manifests cannot say (desktopviz/v1 Scenario document).


@dataclass
class ClusterSettings:
    nodes: list[str] = field(default_factory=lambda: ["node-1", "node-2", "node-3"])
    pod_cidr: str = "10.244.0.0/16"
    service_cidr: str = "10.96.0.0/12"
    flush_interval: int = 300  # seconds (Felix default; storefront uses 15)
    aggregation_allowed: int = 2
    aggregation_denied: int = 1
    # Felix's flowLogsEnableHostEndpoint: host endpoints report their own flow logs (default off)
    flow_logs_enable_host_endpoint: bool = False
    seed: int = 1
    start_time: int = 1_767_225_600  # simulated clock origin, Unix seconds (2026-01-01T00:00Z)


@dataclass
class ExternalEndpoint:
    """Something outside the cluster: a name, its IPs or CIDRs and the domains that resolve
    to them."""

    name: str
    ips: list[str] = field(default_factory=list)  # addresses or CIDRs
    domains: list[str] = field(default_factory=list)
    location: SourceLocation | None = None


EndpointRefKind = Literal["workload", "pod", "service", "external", "ip", "domain", "hostendpoint"]


@dataclass(frozen=True)
class EndpointRef:
    """A traffic end as written in a scenario: `workload: ns/name`, `pod: ns/name`,
    `service: ns/name`, `external: name`, `ip: 1.2.3.4`, `domain: api.example.com`,
    `hostendpoint: name`."""

    kind: EndpointRefKind
    value: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.value}"


@dataclass
class Traffic:
    """A stream of connections from one endpoint to another."""

    source: EndpointRef
    destination: EndpointRef
    port: int | None = None  # None for ICMP
    protocol: str = "TCP"
    rate: float = 1.0  # new connections per second (across all source replicas)
    duration: float = 1.0  # mean seconds a connection lasts
    bytes_out: int = 500  # client -> server bytes per connection
    bytes_in: int | None = None  # server -> client; None: bytes_out * reply_ratio
    reply_ratio: float = 2.0
    packets_out: int | None = None  # None: derived from bytes
    packets_in: int | None = None
    dns: bool = False  # look the domain up through kube-dns first
    start: float = 0.0  # seconds after the scenario starts (or after its event fired)
    stop: float | None = None
    process_name: str | None = None
    location: SourceLocation | None = None


EventActionKind = Literal["deploy", "delete", "scale", "apply", "delete-policy"]


@dataclass
class EventAction:
    kind: EventActionKind
    objects: list[Any] = field(default_factory=list)  # deploy/apply: parsed model objects
    traffic: list[Traffic] = field(default_factory=list)  # deploy: traffic that starts with it
    target: str | None = None  # delete/scale/delete-policy: "Kind ns/name" or policy key
    replicas: int | None = None  # scale
    location: SourceLocation | None = None


@dataclass
class Event:
    id: str
    name: str
    at: float | None = None  # seconds after start; None = only when triggered
    actions: list[EventAction] = field(default_factory=list)
    location: SourceLocation | None = None


@dataclass
class SkippedDocument:
    kind: str
    name: str
    location: SourceLocation


@dataclass
class Scenario:
    name: str
    cluster: Cluster
    settings: ClusterSettings = field(default_factory=ClusterSettings)
    externals: dict[str, ExternalEndpoint] = field(default_factory=dict)
    traffic: list[Traffic] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    skipped: list[SkippedDocument] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    description: str = ""

    def event(self, event_id: str) -> Event:
        for ev in self.events:
            if ev.id == event_id:
                return ev
        raise KeyError(event_id)
