"""Conformance: random entity rules against a matcher written from calico.md §2.8 and §2.11.

Each example is one policy on the server — a ns1 NetworkPolicy or a GlobalNetworkPolicy — with
one ingress Allow rule whose `source` combines selector, notSelector, namespaceSelector,
serviceAccounts (names, selector) and nets. Sources: the ns1 client, the ns2 pod, a host
endpoint and four outside addresses (one in a ns1 NetworkSet, one in a ns2 NetworkSet, one in
a GlobalNetworkSet, one in none). The expectation is computed here, independently of the
engine, from the reference text:

* labels (§2.6, §2.7): pod labels + `pcns.<ns label>`, `pcns.projectcalico.org/name`,
  `pcsa.<sa label>`, `pcsa.projectcalico.org/name`, `projectcalico.org/namespace`,
  `…/orchestrator`, `…/serviceaccount`; a NetworkSet its labels + `pcns.*` +
  `projectcalico.org/namespace`; a GlobalNetworkSet and a HEP only their own labels;
* §2.8 EntityRule: namespaceSelector with `pcns.` keys, `all()` → has(namespace label),
  `global()` → !has(namespace label); none in a NetworkPolicy → its namespace; the namespace
  clause only with a selector, notSelector or namespaceSelector (serviceAccounts count as a
  selector, ANDed with it); notSelector unscoped and negative;
* §2.11: an address counts as a member of a selector when its own endpoint or a network set
  holding it matches.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_calico_semantics import SERVER, gnp, hep, load, np_

from desktopviz.core.model import ExternalPeer

Labels = dict[str, str]
Pred = Callable[[Labels, str], bool]  # (labels, key prefix) -> match

NS = "projectcalico.org/namespace"
SELECTORS: dict[str, Pred] = {
    "all()": lambda lb, p: True,
    "app == 'other'": lambda lb, p: lb.get(p + "app") == "other",
    "app == 'client'": lambda lb, p: lb.get(p + "app") == "client",
    "role == 'partners'": lambda lb, p: lb.get(p + "role") == "partners",
    "!has(app)": lambda lb, p: p + "app" not in lb,
    "has(role)": lambda lb, p: p + "role" in lb,
}
NS_SELECTORS: dict[str, Pred] = {
    "all()": lambda lb, p: NS in lb,
    "global()": lambda lb, p: NS not in lb,
    "env == 'dev'": lambda lb, p: lb.get(p + "env") == "dev",
    "env == 'prod'": lambda lb, p: lb.get(p + "env") == "prod",
    "env != 'prod'": lambda lb, p: lb.get(p + "env") != "prod",
}
SA_SELECTORS: dict[str, Pred] = {
    "role == 'batch'": lambda lb, p: lb.get(p + "role") == "batch",
    "has(role)": lambda lb, p: p + "role" in lb,
}
NETS = ["100.64.0.0/16", "8.8.8.0/24", "192.168.10.0/24", "10.0.0.0/8"]

SETS = """
apiVersion: projectcalico.org/v3
kind: NetworkSet
metadata: {name: partners, namespace: ns1, labels: {role: partners}}
spec: {nets: [100.64.1.0/24]}
---
apiVersion: projectcalico.org/v3
kind: NetworkSet
metadata: {name: batch-peers, namespace: ns2, labels: {role: partners, app: other}}
spec: {nets: [100.64.2.0/24]}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkSet
metadata: {name: cloud, labels: {role: partners}}
spec: {nets: [100.64.3.0/24]}
"""


def _ns_labels(ns: str, env: str) -> Labels:
    return {
        "pcns.env": env,
        "pcns.kubernetes.io/metadata.name": ns,
        "pcns.projectcalico.org/name": ns,
        NS: ns,
    }


NS1 = _ns_labels("ns1", "prod")
NS2 = _ns_labels("ns2", "dev")
SET_LABELS: dict[str, tuple[str, Labels]] = {
    "100.64.1.0/24": ("ns1", {**NS1, "role": "partners"}),
    "100.64.2.0/24": ("ns2", {**NS2, "role": "partners", "app": "other"}),
    "100.64.3.0/24": ("-", {"role": "partners"}),
}
# source name -> (own labels or None for a plain address, address)
ENDPOINTS: dict[str, tuple[Labels | None, str | None]] = {
    "ns1/client": (
        {
            **NS1,
            "app": "client",
            "pcsa.role": "frontend",
            "pcsa.projectcalico.org/name": "client-sa",
            "projectcalico.org/orchestrator": "k8s",
            "projectcalico.org/serviceaccount": "client-sa",
        },
        None,
    ),
    "ns2/other": (
        {
            **NS2,
            "app": "other",
            "pcsa.role": "batch",
            "pcsa.projectcalico.org/name": "other-sa",
            "projectcalico.org/orchestrator": "k8s",
            "projectcalico.org/serviceaccount": "other-sa",
        },
        None,
    ),
    "node-1-eth0": ({"role": "node"}, "192.168.10.1"),
    "100.64.1.7": (None, "100.64.1.7"),
    "100.64.2.7": (None, "100.64.2.7"),
    "100.64.3.7": (None, "100.64.3.7"),
    "8.8.8.8": (None, "8.8.8.8"),
}


@st.composite
def _source(draw: st.DrawFn) -> dict[str, object]:
    src: dict[str, object] = {}
    if draw(st.booleans()):
        src["selector"] = draw(st.sampled_from(list(SELECTORS)))
    if draw(st.integers(0, 3)) == 0:
        src["notSelector"] = draw(st.sampled_from(list(SELECTORS)[1:]))
    if draw(st.booleans()):
        src["namespaceSelector"] = draw(st.sampled_from(list(NS_SELECTORS)))
    if draw(st.integers(0, 3)) == 0:
        sa: dict[str, object] = {}
        if draw(st.booleans()):
            sa["names"] = draw(st.sampled_from([["client-sa"], ["other-sa"], ["client-sa", "other-sa"]]))
        if draw(st.booleans()) or not sa:
            sa["selector"] = draw(st.sampled_from(list(SA_SELECTORS)))
        src["serviceAccounts"] = sa
    if draw(st.integers(0, 3)) == 0:
        src["nets"] = [draw(st.sampled_from(NETS))]
    return src


def _yaml(src: dict[str, object]) -> str:
    parts = []
    for key, value in src.items():
        if key == "serviceAccounts":
            sa = value  # type: ignore[assignment]
            inner = []
            if "names" in sa:  # type: ignore[operator]
                inner.append(f"names: [{', '.join(sa['names'])}]")  # type: ignore[index]
            if "selector" in sa:  # type: ignore[operator]
                inner.append(f'selector: "{sa["selector"]}"')  # type: ignore[index]
            parts.append(f"serviceAccounts: {{{', '.join(inner)}}}")
        elif key == "nets":
            parts.append(f"nets: [{', '.join(value)}]")  # type: ignore[arg-type]
        else:
            parts.append(f'{key}: "{value}"')
    return "{" + ", ".join(parts) + "}"


def _positive(src: dict[str, object], policy_ns: str | None) -> Callable[[Labels], bool] | None:
    """The positive selector of the rule side (§2.8), None when it has no selector constraint."""
    tests: list[Callable[[Labels], bool]] = []
    sa = src.get("serviceAccounts")
    if isinstance(sa, dict):
        if "selector" in sa:
            pred = SA_SELECTORS[sa["selector"]]
            tests.append(lambda lb, pred=pred: pred(lb, "pcsa."))
        if "names" in sa:
            names = set(sa["names"])
            tests.append(lambda lb, names=names: lb.get("projectcalico.org/serviceaccount") in names)
    if "selector" in src:
        pred = SELECTORS[str(src["selector"])]
        tests.append(lambda lb, pred=pred: pred(lb, ""))
    ns_test: Callable[[Labels], bool] | None = None
    if "namespaceSelector" in src:
        pred = NS_SELECTORS[str(src["namespaceSelector"])]
        ns_test = lambda lb, pred=pred: pred(lb, "pcns.")  # noqa: E731
    elif policy_ns is not None:
        ns_test = lambda lb: lb.get(NS) == policy_ns  # noqa: E731
    if ns_test is not None and (tests or "notSelector" in src or "namespaceSelector" in src):
        tests.append(ns_test)
    if not tests:
        return None
    return lambda lb: all(t(lb) for t in tests)


def _members(name: str) -> list[Labels]:
    """The label sets that stand for this source: its endpoint's, and every set holding it."""
    own, ip = ENDPOINTS[name]
    out = [own] if own is not None else []
    if ip is not None:
        addr = ipaddress.ip_address(ip)
        out += [labels for cidr, (_, labels) in SET_LABELS.items() if addr in ipaddress.ip_network(cidr)]
    return out


def _expected(src: dict[str, object], policy_ns: str | None, name: str, address: str) -> bool:
    members = _members(name)
    pos = _positive(src, policy_ns)
    if pos is not None and not any(pos(m) for m in members):
        return False
    if "notSelector" in src:
        pred = SELECTORS[str(src["notSelector"])]
        if any(pred(m, "") for m in members):
            return False
    if "nets" in src:
        if not any(ipaddress.ip_address(address) in ipaddress.ip_network(n) for n in src["nets"]):  # type: ignore[union-attr]
            return False
    return True


@settings(
    max_examples=int(os.environ.get("DESKTOPVIZ_CONFORMANCE_EXAMPLES", "40")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(src=_source(), is_global=st.booleans())
def test_random_entity_rules_match_the_reference(
    src: dict[str, object], is_global: bool, tmp_path_factory: pytest.TempPathFactory
) -> None:
    body = f"{SERVER}\ningress:\n- {{action: Allow, source: {_yaml(src)}}}"
    doc = gnp("p", body) if is_global else np_("p", "ns1", body)
    w = load(tmp_path_factory.mktemp("ent"), SETS, hep(["projectcalico-default-allow"]), doc)
    key = "default.p" if is_global else "ns1/default.p"
    for name, (_, ip) in ENDPOINTS.items():
        if name in w.cluster.pods:
            source: object = w.cluster.pods[name]
            address = w.cluster.pods[name].ip or ""
        elif name in w.cluster.host_endpoints:
            source, address = w.cluster.host_endpoints[name], str(ip)
        else:
            source, address = ExternalPeer(ip=name), name
        v = w.engine.evaluate(source, w.cluster.pods["ns1/server"], "TCP", 8080)  # type: ignore[arg-type]
        assert v.ingress is not None
        allowed = _expected(src, None if is_global else "ns1", name, address)
        want = f"0|default|{key}|allow|0" if allowed else f"0|default|{key}|deny|-1"
        assert v.ingress.enforced_strings == [want], f"{name}: source {_yaml(src)} in {key}"
