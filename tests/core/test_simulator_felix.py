"""What the simulator writes, end to end with the real policy engine, against calico.md §1:
flush intervals, connection counts across intervals, denied packets, staged traces and the
split by enforced trace, and the storefront lab's rogue pod (seed visibility-lab.txt,
screens/rogue-pod-view.png)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from desktopviz.core.scenario import load_scenario
from desktopviz.core.simulator import Simulator

START = 1_767_225_600

MANIFESTS = """
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: client, namespace: shop}
spec:
  replicas: 1
  selector: {matchLabels: {app: client}}
  template:
    metadata: {labels: {app: client}}
    spec: {containers: [{name: c, image: curl}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: server, namespace: shop}
spec:
  replicas: 1
  selector: {matchLabels: {app: server}}
  template:
    metadata: {labels: {app: server}}
    spec:
      containers: [{name: s, image: nginx, ports: [{name: http, containerPort: 8080}]}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  selector: {app: server}
  ports: [{port: 80, targetPort: 8080}]
"""


def _scenario(tmp_path: Path, traffic: str, *, extra: str = "", settings: str = "", events: str = ""):
    folder = tmp_path / "sc"
    folder.mkdir()
    (folder / "manifests.yaml").write_text(MANIFESTS + extra, encoding="utf-8")
    body = f"""
    apiVersion: desktopviz/v1
    kind: Scenario
    metadata: {{name: t}}
    spec:
      cluster:
        nodes: [node-1, node-2]
        seed: 3
        {settings}
      traffic:
    {textwrap.indent(textwrap.dedent(traffic).strip(), "    ")}
    """
    text = textwrap.dedent(body) + events
    (folder / "scenario.yaml").write_text(text, encoding="utf-8")
    return load_scenario(folder)


def test_default_flush_interval_is_five_minutes_on_aligned_boundaries(tmp_path):
    # §1.5: flowLogsFlushInterval 300 s; each log covers exactly one interval
    sc = _scenario(tmp_path, "- {from: {workload: shop/client}, to: {service: shop/web}, rate: 1}")
    sim = Simulator(sc)
    logs = sim.advance(900)
    assert {(log.start_time, log.end_time) for log in logs} == {
        (START + k * 300, START + (k + 1) * 300) for k in range(3)
    }
    (log,) = [g for g in logs if g.reporter == "src" and g.start_time == START]
    # an unnamed Service port: port name "-", its number kept (Felix getService)
    assert (log.dest_service_name, log.dest_service_port, log.dest_service_port_num) == ("web", "-", 80)
    assert log.dest_port == 8080


def test_open_connections_carry_into_the_next_interval(tmp_path):
    # §1.1 num_flows = connections active at any point of the interval: the ones still open
    # at its start (Felix resets flowsRefs to the active set) plus the ones that started
    sc = _scenario(
        tmp_path,
        "- {from: {workload: shop/client}, to: {service: shop/web}, rate: 0.5, duration: 90s}",
        settings="flushInterval: 15s",
    )
    logs = [log for log in Simulator(sc).advance(600) if log.reporter == "src"]
    logs.sort(key=lambda log: log.start_time)
    assert [log.start_time for log in logs] == [START + 15 * k for k in range(40)]
    open_now = 0
    for log in logs:
        assert log.num_flows == open_now + log.num_flows_started
        assert log.num_flows_completed <= log.num_flows
        open_now = log.num_flows - log.num_flows_completed
    assert any(log.num_flows > log.num_flows_started > 0 for log in logs)


@pytest.mark.parametrize(("wait", "low", "high"), [("100ms", 1.0, 1.01), ("10m", 6.7, 6.95)])
def test_a_denied_client_sends_its_syn_and_the_retries_it_waits_for(tmp_path, wait, low, high):
    # Linux retries a SYN at 1, 3, 7, 15, 31, 63 s while the client waits (mean 10 min: about
    # 1 + 5.8 packets); the lab's denied flows show ~1 packet of 60 bytes per connection
    # (rogue-pod-view.png: CPS 1.00, PPS 1.04, BPS 62.4)
    deny = """
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-all, namespace: shop}
spec: {podSelector: {}, policyTypes: [Ingress]}
"""
    sc = _scenario(
        tmp_path,
        f"- {{from: {{workload: shop/client}}, to: {{service: shop/web}}, rate: 20, duration: {wait}}}",
        extra=deny,
    )
    logs = [log for log in Simulator(sc).advance(300) if log.reporter == "dst"]
    (log,) = logs
    assert log.action == "deny"
    assert log.policies["enforced_policies"] == ["0|default|shop/knp.default.deny-all|deny|-1"]
    assert low <= log.packets_in / log.num_flows_started <= high
    assert log.bytes_in == 60 * log.packets_in and (log.packets_out, log.bytes_out) == (0, 0)
    assert log.num_flows_completed == log.num_flows_started == log.num_flows
    # denied: aggregation level 1, names and IPs kept, source port null
    assert log.source_ip and log.source_name.startswith("client-") and log.source_port is None


STAGED = """
---
apiVersion: projectcalico.org/v3
kind: Tier
metadata: {name: audit}
spec: {order: 10}
---
apiVersion: projectcalico.org/v3
kind: StagedGlobalNetworkPolicy
metadata: {name: audit.watch}
spec:
  tier: audit
  selector: app == 'server'
  types: [Ingress]
  ingress: [{action: Pass}]
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: allow-client, namespace: shop}
spec:
  selector: app == 'server'
  types: [Ingress]
  ingress: [{action: Allow, source: {selector: app == 'client'}}]
"""


def test_staged_policies_only_in_pending_and_legacy_traces_with_enforced_indices_closed_up(tmp_path):
    # §1.3: enforced skips staged hits and renumbers from 0; pending treats them as enforced;
    # all_policies (legacy) mixes both
    sc = _scenario(
        tmp_path, "- {from: {workload: shop/client}, to: {service: shop/web}, rate: 1}", extra=STAGED
    )
    (log,) = [g for g in Simulator(sc).advance(300) if g.reporter == "dst"]
    pol = log.policies
    assert pol["enforced_policies"] == ["0|default|shop/default.allow-client|allow|0"]
    assert pol["pending_policies"] == [
        "0|audit|audit.staged:watch|pass|0",
        "1|default|shop/default.allow-client|allow|0",
    ]
    assert pol["all_policies"] == pol["pending_policies"]


SWITCH = """
  events:
    - id: switch
      name: Switch the allow policy
      actions:
        - apply:
            manifests:
              - apiVersion: projectcalico.org/v3
                kind: NetworkPolicy
                metadata: {name: allow-first, namespace: shop}
                spec:
                  order: 1
                  selector: app == 'server'
                  types: [Ingress]
                  ingress: [{action: Allow}]
"""


def test_a_flow_seen_under_two_enforced_traces_is_two_logs_with_the_same_figures(tmp_path):
    # §1.3 one log per distinct enforced trace; Felix copies the flow's statistics into each
    sc = _scenario(
        tmp_path,
        "- {from: {workload: shop/client}, to: {service: shop/web}, rate: 2, duration: 1s}",
        extra=STAGED,
        events=SWITCH,
    )
    sim = Simulator(sc)
    sim.advance(150)
    sim.fire("switch")
    dst = [log for log in sim.advance(150) if log.reporter == "dst"]
    assert sorted(log.policies["enforced_policies"][0] for log in dst) == [
        "0|default|shop/default.allow-client|allow|0",
        "0|default|shop/default.allow-first|allow|0",
    ]
    a, b = dst
    figures = ("bytes_in", "bytes_out", "packets_in", "packets_out", "num_flows", "num_flows_started")
    assert [getattr(a, f) for f in figures] == [getattr(b, f) for f in figures]
    assert a.num_flows_started > 400  # the whole interval's connections, in each log
    assert (
        a.policies["pending_policies"]
        == b.policies["pending_policies"]
        == [
            "0|audit|audit.staged:watch|pass|0",
            "1|default|shop/default.allow-first|allow|0",
        ]
    )


@pytest.fixture(scope="module")
def rogue_logs(request):
    storefront = Path(request.config.rootpath) / "scenarios" / "storefront"
    sim = Simulator(load_scenario(storefront))
    sim.advance(60)
    sim.fire("deploy-rogue")
    return [log for log in sim.advance(120) if log.source_name_aggr.startswith("rogue-")]


PROBED = ("backend", "frontend", "logging", "microservice1", "microservice2")
ZONE = {
    "frontend": "storefront/default.dmz|deny|1",
    "microservice1": "storefront/default.trusted|deny|2",
    "microservice2": "storefront/default.trusted|deny|2",
    "backend": "storefront/default.restricted|deny|2",
    "logging": "storefront/default.restricted|deny|2",
}


def test_lab_rogue_pod_is_denied_by_each_storefront_destination(rogue_logs):
    denied = [log for log in rogue_logs if log.action == "deny" and log.dest_namespace == "storefront"]
    assert {log.dest_name_aggr.rsplit("-", 2)[0] for log in denied} == set(PROBED)
    for log in denied:
        # denied at the destination's ingress by the zone policies of the default tier
        assert log.reporter == "dst" and log.dest_type == "wep"
        app = log.dest_name_aggr.rsplit("-", 2)[0]
        assert log.policies["enforced_policies"] == [
            "0|security|security.pci-whitelist|pass|1",
            "1|platform|platform.allow-kube-dns|pass|2",
            f"2|default|{ZONE[app]}",
        ]
        assert log.source_namespace == "storefront" and log.source_name.startswith("rogue-")
        assert log.source_labels == {
            "labels": ["app=rogue", f"pod-template-hash={log.source_name_aggr[6:-2]}"]
        }
        assert log.packets_out == 0 and log.packets_in >= log.num_flows_started > 0
        # the Service shows on the server's node only when the rogue runs there (DNAT seen)
        assert log.dest_service_name in (app, "-")
        assert log.dest_service_namespace == ("storefront" if log.dest_service_name == app else "-")
    # the rogue's own node saw its egress allowed (the packets left, no replies came)
    src = [log for log in rogue_logs if log.reporter == "src" and log.dest_namespace == "storefront"]
    assert {log.dest_name_aggr.rsplit("-", 2)[0] for log in src} == set(PROBED)
    assert all(log.action == "allow" and log.packets_in == 0 and log.packets_out > 0 for log in src)
    assert {log.dest_service_name for log in src} == set(PROBED)


def test_lab_rogue_pod_calls_to_the_public_ip_range_are_denied_at_the_source(rogue_logs):
    public = [log for log in rogue_logs if log.dest_name_aggr == "public-ip-range"]
    assert public
    for log in public:
        # the view's "-:public-ip-range": a GlobalNetworkSet, namespace "-"
        assert (log.reporter, log.action, log.dest_type, log.dest_namespace) == ("src", "deny", "ns", "-")
        assert log.dest_name == "public-ip-range" and log.dest_ip == "93.184.216.34"  # level 1
        assert log.policies["enforced_policies"] == [
            "0|security|security.pci-whitelist|pass|1",
            "1|platform|platform.twilio-integration|deny|2",
        ]
    assert not any(log.reporter == "dst" for log in rogue_logs if log.dest_type in ("ns", "net"))
