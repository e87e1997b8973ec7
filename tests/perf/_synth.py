"""Synthetic, realistic flow logs for benchmarks: a storefront-like cluster seen by Calico.

About 60 aggregated endpoints in 12 namespaces plus public/private networks, a network set and
host endpoints; about 250 endpoint pairs that talk; every 5-minute flush interval each pair
writes a ``src`` log (if the source is a Calico endpoint) and a ``dst`` log (if the packet
reached a Calico endpoint), sometimes split across nodes; tiered traces with pass, allow,
deny, end-of-tier (-1) and profile entries, staged policies in pending traces; labels as
Calico writes them. Deterministic for a seed.

``make_store(path, n_rows, seed)`` fills a FlowStore; ``iter_batches`` yields FlowLog lists.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from desktopviz.core.flowlog import FlowLog, labels_field
from desktopviz.core.store import FlowStore

T_START = 1_767_225_600  # 2026-01-01T00:00:00Z
INTERVAL = 300

_APPS = {
    "storefront": ["frontend", "backend", "logging", "microservice1", "microservice2", "rogue"],
    "dev": ["centos", "nginx", "tester"],
    "kube-system": ["coredns", "metrics-server"],
    "calico-system": ["calico-kube-controllers", "calico-typha"],
    "tigera-manager": ["tigera-manager"],
    "monitoring": ["prometheus", "alertmanager", "grafana"],
    "payments": ["payments-api", "payments-worker", "ledger-db"],
    "catalog": ["catalog-api", "catalog-cache", "search"],
    "identity": ["auth", "sessions", "user-db"],
    "shipping": ["shipping-api", "tracker", "carrier-gw"],
    "ingress-nginx": ["ingress-nginx-controller"],
    "logging": ["fluentd", "elasticsearch", "kibana"],
}
_ZONES = {"frontend": "dmz", "backend": "restricted", "logging": "restricted", "rogue": ""}


def _endpoints(rng: random.Random) -> list[dict[str, Any]]:
    eps: list[dict[str, Any]] = []
    for ns, apps in _APPS.items():
        for app in apps:
            h = f"{rng.getrandbits(40):010x}"
            labels = {
                "app": app,
                "pod-template-hash": h[:9],
                "projectcalico.org/namespace": ns,
                "projectcalico.org/orchestrator": "k8s",
                "projectcalico.org/serviceaccount": "default" if app == "rogue" else app,
            }
            zone = _ZONES.get(app, "trusted" if ns == "storefront" else "")
            if zone:
                labels["fw-zone"] = zone
            if rng.random() < 0.5:
                labels["version"] = f"v{rng.randint(1, 3)}"
            eps.append(dict(ns=ns, aggr=f"{app}-{h[:9]}-*", type="wep", labels=labels_field(labels), app=app))
    eps.append(dict(ns="-", aggr="pub", type="net", labels=None, app="pub"))
    eps.append(dict(ns="-", aggr="pvt", type="net", labels=None, app="pvt"))
    eps.append(dict(ns="-", aggr="twilio", type="ns", labels=labels_field({"saas": "twilio"}), app="twilio"))
    for i in range(3):
        eps.append(
            dict(ns="-", aggr=f"node-{i}", type="hep", labels=labels_field({"node": f"node-{i}"}), app="node")
        )
    return eps


def _trace(rng: random.Random, ep: dict[str, Any], action: str) -> list[str]:
    """A tiered trace ending in `action` for an endpoint (security → platform → app tier → profile)."""
    ns = ep["ns"]
    out = ["0|security|security.pass-to-platform|pass|-1"]
    if action == "deny" and rng.random() < 0.3:
        out = ["0|security|security.quarantine|deny|" + str(rng.randint(0, 2))]
        return out
    out.append("1|platform|platform.platform-default|pass|-1")
    if ns == "-":
        out.append(
            f"2|default|default.global-{ep['app']}|{action}|{rng.randint(0, 3) if action == 'allow' else -1}"
        )
        return out
    if rng.random() < 0.2 and action == "allow":
        out.append(f"2|__PROFILE__|__PROFILE__.kns.{ns}|allow|0")
        return out
    zone = ep["labels"]["labels"][0].split("=")[1] if ep["labels"] and ns == "storefront" else ep["app"]
    rule = rng.randint(0, 4) if action == "allow" else -1
    out.append(f"2|default|{ns}/default.{zone}|{action}|{rule}")
    return out


def _pairs(rng: random.Random, eps: list[dict[str, Any]], n: int = 250) -> list[dict[str, Any]]:
    weps = [e for e in eps if e["type"] == "wep"]
    by_app = {e["app"]: e for e in eps}
    pairs: list[dict[str, Any]] = []
    seen: set[tuple[str, str, int]] = set()
    while len(pairs) < n:
        r = rng.random()
        if r < 0.08:
            src, dst = rng.choice([by_app["pub"], by_app["pvt"]]), rng.choice(weps)
        elif r < 0.14:
            src, dst = rng.choice(weps), rng.choice([by_app["pub"], by_app["twilio"], by_app["pvt"]])
        elif r < 0.17:
            src, dst = rng.choice([e for e in eps if e["type"] == "hep"]), rng.choice(weps)
        elif r < 0.22:
            src, dst = by_app["rogue"], rng.choice(weps)
        else:
            src, dst = rng.choice(weps), rng.choice(weps)
        if src is dst:
            continue
        port = rng.choice([53, 80, 443, 5432, 6379, 8080, 9090, 9200])
        if (src["aggr"], dst["aggr"], port) in seen:
            continue
        seen.add((src["aggr"], dst["aggr"], port))
        rogue = src["app"] == "rogue"
        deny_src = rogue and dst["ns"] != "storefront" or (not rogue and rng.random() < 0.03)
        deny_dst = not deny_src and dst["type"] in ("wep", "hep") and (rogue or rng.random() < 0.04)
        calico_src = src["type"] in ("wep", "hep")
        calico_dst = dst["type"] in ("wep", "hep") and not deny_src
        staged = rng.random() < 0.1
        src_action = "deny" if deny_src else "allow"
        dst_action = "deny" if deny_dst else "allow"
        src_trace = _trace(rng, src, src_action) if calico_src else []
        dst_trace = _trace(rng, dst, dst_action) if calico_dst else []
        pend_dst = list(dst_trace)
        if staged and pend_dst:
            pend_dst[-1] = f"{len(pend_dst) - 1}|default|{dst['ns']}/default.staged:lockdown|deny|0"
        pairs.append(
            dict(
                src=src, dst=dst, port=port, proto="udp" if port == 53 else "tcp",
                src_log=calico_src, dst_log=calico_dst, src_action=src_action, dst_action=dst_action,
                src_trace=src_trace, dst_trace=dst_trace, pend_dst=pend_dst,
                rate=rng.choice([1, 1, 2, 3, 5, 8, 20, 50]),
                split=rng.random() < 0.3,
            )
        )  # fmt: skip
    return pairs


def _copy_labels(labels: dict[str, list[str]] | None) -> dict[str, list[str]] | None:
    """A new labels object, as the simulator makes one per log (no sharing to exploit)."""
    return None if labels is None else {"labels": [str(x) for x in labels["labels"]]}


def _log(p: dict[str, Any], reporter: str, start: int, rng: random.Random, host: str) -> FlowLog:
    src, dst = p["src"], p["dst"]
    nf = max(1, int(p["rate"] * (0.5 + rng.random())))
    action = p["src_action"] if reporter == "src" else p["dst_action"]
    trace = p["src_trace"] if reporter == "src" else p["dst_trace"]
    pending = trace if reporter == "src" else p["pend_dst"]
    pk_req = nf * rng.randint(3, 12)
    pk_rep = 0 if action == "deny" or (reporter == "src" and p["dst_action"] == "deny") else int(pk_req * 0.8)
    by_req, by_rep = pk_req * rng.randint(60, 400), pk_rep * rng.randint(100, 1400)
    if reporter == "src":
        pin, pout, bin_, bout = pk_rep, pk_req, by_rep, by_req
    else:
        pin, pout, bin_, bout = pk_req, pk_rep, by_req, by_rep
    return FlowLog(
        start_time=start,
        end_time=start + INTERVAL,
        source_ip=None,
        source_name="-",
        source_name_aggr=src["aggr"],
        source_namespace=src["ns"],
        source_type=src["type"],
        source_port=None,
        source_labels=_copy_labels(src["labels"]),
        dest_ip=None,
        dest_name="-",
        dest_name_aggr=dst["aggr"],
        dest_namespace=dst["ns"],
        dest_type=dst["type"],
        dest_port=p["port"],
        dest_labels=_copy_labels(dst["labels"]),
        proto=p["proto"],
        action=action,
        reporter=reporter,
        policies={
            "enforced_policies": list(trace),
            "pending_policies": list(pending),
            "all_policies": list(trace),
        },
        dest_service_namespace=dst["ns"] if dst["type"] == "wep" else "-",
        dest_service_name=dst["app"] if dst["type"] == "wep" else "-",
        dest_service_port="http" if dst["type"] == "wep" else "-",
        dest_service_port_num=p["port"] if dst["type"] == "wep" else None,
        bytes_in=bin_,
        bytes_out=bout,
        packets_in=pin,
        packets_out=pout,
        num_flows=nf,
        num_flows_started=max(0, nf - rng.randint(0, 2)),
        num_flows_completed=max(0, nf - rng.randint(0, 3)),
        host=host,
    )


def iter_logs(n_rows: int, seed: int = 1, start: int = T_START) -> Iterator[FlowLog]:
    """Exactly n_rows flow logs, in time order, interval after interval."""
    rng = random.Random(seed)
    eps = _endpoints(rng)
    pairs = _pairs(rng, eps)
    made = 0
    t = start
    while True:
        for p in pairs:
            if rng.random() < 0.12:  # quiet this interval
                continue
            for rep in ("src", "dst"):
                if not p[f"{rep}_log"]:
                    continue
                for part in range(2 if p["split"] else 1):
                    yield _log(p, rep, t, rng, f"node-{part}")
                    made += 1
                    if made >= n_rows:
                        return
        t += INTERVAL


def iter_batches(n_rows: int, seed: int = 1, batch: int = 2000) -> Iterator[list[FlowLog]]:
    buf: list[FlowLog] = []
    for log in iter_logs(n_rows, seed):
        buf.append(log)
        if len(buf) >= batch:
            yield buf
            buf = []
    if buf:
        yield buf


def make_store(path: str | Path, n_rows: int, seed: int = 1, batch: int = 2000) -> Path:
    """Create (or extend) a flow store at `path` with n_rows synthetic logs."""
    with FlowStore(path) as store:
        store.set_meta("scenario", "synthetic")
        store.set_meta("seed", seed)
        for logs in iter_batches(n_rows, seed, batch):
            store.insert(logs)
    return Path(path)
