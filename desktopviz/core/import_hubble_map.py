"""Hubble (Cilium) flow events in Calico's terms: endpoints, labels, actions and policy hits.

See docs/import.md for every choice; in short:

* an end with a ``pod_name`` is a ``wep`` whose aggregated name is the pod's ``generateName``
  plus ``*`` (the pod name without its last dash-component: ``frontend-864f4fcdfd-2hhv4`` →
  ``frontend-864f4fcdfd-*``, ``web-0`` → ``web-*``); ``reserved:host`` is a ``hep`` named after
  the node, ``reserved:remote-node`` a ``hep`` ``remote-node``; ``reserved:world`` and every
  other identity without a pod is a ``net`` named ``pvt``/``pub`` by its IP (calico.md §1.2);
* labels lose their source prefix (``k8s:app=x`` → ``app=x``); Cilium's namespace and service
  account labels become Calico's ``projectcalico.org/namespace`` / ``serviceaccount``; other
  ``io.cilium.*`` labels, namespace labels and ``reserved:``/``cidr:``/``fqdn:`` ones are dropped;
* a policy named in ``*_allowed_by`` / ``*_denied_by`` becomes a hit in tier ``default`` with rule
  index -2: ``ns/knp.default.<name>`` (Kubernetes NetworkPolicy), ``ns/default.<name>``
  (CiliumNetworkPolicy), ``default.<name>`` (CiliumClusterwideNetworkPolicy).
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from desktopviz.core.import_traces import NO_MATCH

ALLOW_VERDICTS = frozenset({"FORWARDED", "REDIRECTED", "TRACED", "TRANSLATED"})
DENY_VERDICTS = frozenset({"DROPPED", "ERROR"})
AUDIT = "AUDIT"
POLICY_DROPS = frozenset({"POLICY_DENIED", "POLICY_DENY", 133, 181})
NO_MATCH_DENY = f"0|default|default.{NO_MATCH}|deny|-1"
KEEP_SOURCES = frozenset({"k8s", "container", "unspec", "any", ""})
LABEL_RENAMES = {
    "io.kubernetes.pod.namespace": "projectcalico.org/namespace",
    "io.cilium.k8s.policy.serviceaccount": "projectcalico.org/serviceaccount",
}
_GENERATED = re.compile(r"^(.+-)([bcdfghjklmnpqrstvwxz2456789]{5}|\d+)$")
_PRIVATE = tuple(ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))
Labels = tuple[str, ...]
End = tuple[str, str, str, str, Labels | None]  # type, namespace, aggregated name, name, labels
_CACHE_LIMIT = 50_000
_ip_kind: dict[str, str] = {}
_ends: dict[Any, End] = {}


def subnet_name(ip: str | None) -> str:
    """``pvt`` for RFC 1918 IPv4 addresses, ``pub`` otherwise (Calico's getSubnetType)."""
    if not ip:
        return "pub"
    kind = _ip_kind.get(ip)
    if kind is None:
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            kind = "pub"
        else:
            kind = "pvt" if addr.version == 4 and any(addr in n for n in _PRIVATE) else "pub"
        if len(_ip_kind) > _CACHE_LIMIT:
            _ip_kind.clear()
        _ip_kind[ip] = kind
    return kind


def aggregated_pod_name(pod: str, workloads: Any) -> str:
    """Calico's aggregated name of a pod: its generateName + ``*``.

    With a controller (``workloads`` listed) the generateName is the pod name without its last
    dash-component; without the field (older Hubble) only names that end like a generated
    suffix (5 characters of Kubernetes' alphabet, or a StatefulSet ordinal) are cut; a bare pod
    keeps its name, as in Calico."""
    head, sep, _tail = pod.rpartition("-")
    if workloads and sep and head:
        return f"{head}-*"
    if workloads is None:
        m = _GENERATED.match(pod)
        if m:
            return f"{m.group(1)}*"
    return pod


def calico_labels(labels: Any, namespace: str, pod: bool) -> Labels:
    """Hubble's ``source:key=value`` labels as Calico's sorted ``key=value`` (see module doc)."""
    out: dict[str, str] = {}
    for item in labels or ():
        if not isinstance(item, str):
            continue
        src, sep, kv = item.partition(":")
        if not sep:
            src, kv = "", item
        if src not in KEEP_SOURCES:
            continue
        key, _, value = kv.partition("=")
        key = LABEL_RENAMES.get(key, key)
        if key.startswith("io.cilium.") or key.startswith("io.kubernetes."):
            continue
        out[key] = value
    if pod:
        if namespace:
            out.setdefault("projectcalico.org/namespace", namespace)
        out.setdefault("projectcalico.org/orchestrator", "k8s")
    return tuple(f"{k}={v}" for k, v in sorted(out.items()))


def endpoint(ep: Any, ip: str | None, node: str, node_labels: Any) -> End:
    """The Calico view of one end of a Hubble flow."""
    if not isinstance(ep, dict):
        return ("net", "-", subnet_name(ip), "-", None)
    pod = ep.get("pod_name") or ""
    ns = ep.get("namespace") or ""
    labels = ep.get("labels") or ()
    workloads = ep.get("workloads")
    key = (pod, ns, tuple(labels), repr(workloads)) if pod else None
    if key is not None:
        hit = _ends.get(key)
        if hit is not None:
            return hit
        end: End = (
            "wep",
            ns or "-",
            aggregated_pod_name(pod, workloads),
            pod,
            calico_labels(labels, ns, True),
        )
        if len(_ends) > _CACHE_LIMIT:
            _ends.clear()
        _ends[key] = end
        return end
    reserved = {x[9:] for x in labels if isinstance(x, str) and x.startswith("reserved:")}
    if "host" in reserved:
        return ("hep", "-", node or "host", node or "-", calico_labels(node_labels, "", False))
    if "remote-node" in reserved:
        return ("hep", "-", "remote-node", "-", None)
    if ns and not reserved:  # a pod known by identity only (name not reported)
        names = [w.get("name") for w in workloads or () if isinstance(w, dict) and w.get("name")]
        aggr = f"{names[0]}-*" if names else "-"
        return ("wep", ns, aggr, "-", calico_labels(labels, ns, True))
    return ("net", "-", subnet_name(ip), "-", None)


def _policy_labels(p: dict[str, Any]) -> dict[str, str]:
    out = {}
    for item in p.get("labels") or ():
        if isinstance(item, str):
            _, _, kv = item.partition(":")
            k, _, v = kv.partition("=")
            out[k] = v
    return out


def policy_name(p: Any) -> str:
    """The Calico trace name of a Cilium policy reference (see module doc)."""
    if not isinstance(p, dict):
        return f"default.{p}"
    labels = _policy_labels(p)
    kind = p.get("kind") or labels.get("io.cilium.k8s.policy.derived-from") or ""
    name = p.get("name") or labels.get("io.cilium.k8s.policy.name") or ""
    ns = p.get("namespace") or labels.get("io.cilium.k8s.policy.namespace") or ""
    if not name:
        name = labels.get("io.cilium.policy.derived-from") or kind or "unnamed"
    if kind == "NetworkPolicy" and ns:
        return f"{ns}/knp.default.{name}"
    if kind == "CiliumClusterwideNetworkPolicy" or not ns:
        return f"default.{name}"
    return f"{ns}/default.{name}"


def _hits(policies: Any, action: str) -> list[str]:
    if not isinstance(policies, list):
        return []
    return [f"{i}|default|{policy_name(p)}|{action}|-2" for i, p in enumerate(policies)]


def traces(
    flow: dict[str, Any], verdict: str, direction: str
) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    """(enforced, pending) trace of a policy verdict or drop event; None for events that carry
    no policy decision (trace points), whose connection keeps the trace it had."""
    allowed = flow.get(f"{direction}_allowed_by")
    denied = flow.get(f"{direction}_denied_by")
    reason = flow.get("drop_reason_desc", flow.get("drop_reason"))
    event = flow.get("event_type")
    is_verdict = isinstance(event, dict) and event.get("type") == 5
    if verdict in DENY_VERDICTS:
        hits = _hits(denied, "deny")
        if not hits and reason in POLICY_DROPS:
            hits = [NO_MATCH_DENY]
        t = tuple(hits)
        return t, t
    enforced = tuple(_hits(allowed, "allow"))
    if verdict == AUDIT:
        pending = tuple(_hits(denied, "deny")) or (NO_MATCH_DENY,)
        return enforced, pending
    if enforced or is_verdict:
        return enforced, enforced
    return None
