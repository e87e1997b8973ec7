"""Broken scenarios fail with the file, line, column and field of each mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from desktopviz.core.scenario import ScenarioError, ScenarioIssue, load_scenario

DATA = Path(__file__).parent / "data" / "scenarios"


def errors_of(path: Path | str) -> list[ScenarioIssue]:
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    return info.value.errors


def only_error(name: str) -> ScenarioIssue:
    errs = errors_of(DATA / name)
    assert len(errs) == 1, "\n".join(map(str, errs))
    assert Path(errs[0].file).name == name
    return errs[0]


@pytest.mark.parametrize(
    ("name", "line", "column", "path", "words"),
    [
        ("bad-yaml.yaml", 15, 6, "", "invalid YAML"),
        ("bad-selector.yaml", 10, 19, "spec.ingress[0].source.selector", "(column 8)"),
        ("unknown-tier.yaml", 6, 9, "spec.tier", "tier 'security' does not exist"),
        ("missing-namespace.yaml", 5, 14, "metadata.namespace", "namespace 'shop' does not exist"),
        ("duplicates.yaml", 21, 9, "metadata.name", "duplicate Deployment shop/web"),
        ("wrong-types.yaml", 12, 13, "spec.replicas", "expected an integer, got string 'three'"),
        (
            "port-without-protocol.yaml",
            10,
            17,
            "spec.ingress[0].destination.ports[0]",
            "need protocol TCP, UDP or SCTP",
        ),
        ("bad-cidr.yaml", 9, 7, "spec.nets[1]", "invalid CIDR '10.300.0.0/16'"),
        ("unknown-traffic-endpoint.yaml", 25, 11, "spec.traffic[0].to", "unknown service 'shop/api'"),
    ],
)
def test_each_mistake_is_located(name, line, column, path, words):
    err = only_error(name)
    assert (err.line, err.column, err.path) == (line, column, path)
    assert words in err.message


def test_message_format_is_file_line_col_path():
    err = only_error("bad-selector.yaml")
    text = str(err)
    assert text.startswith(f"{err.file}:10:19: spec.ingress[0].source.selector: ")
    assert "quoted string" in text


def test_duplicate_names_the_first_definition():
    err = only_error("duplicates.yaml")
    assert "first defined at" in err.message and "duplicates.yaml:6" in err.message


def test_several_independent_errors_are_all_reported():
    errs = errors_of(DATA / "several-errors.yaml")
    got = [(e.line, e.path) for e in errs]
    assert got == [
        (7, "spec.selector"),
        (10, "spec.ingress[0].action"),
        (12, "spec.egress[0]"),
        (22, "spec.replicas"),
    ]
    assert "IPv4 and IPv6" in errs[2].message
    text = str(ScenarioError(errs))
    assert len(text.splitlines()) == 4


def test_errors_in_a_folder_name_each_file(tmp_path):
    (tmp_path / "a.yaml").write_text((DATA / "unknown-tier.yaml").read_text())
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "b.yml").write_text((DATA / "bad-cidr.yaml").read_text())
    errs = errors_of(tmp_path)
    assert [Path(e.file).name for e in errs] == ["a.yaml", "b.yml"]


def test_missing_path():
    errs = errors_of("/no/such/scenario")
    assert "no such file" in errs[0].message


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(text)
    return path


def test_unsafe_yaml_tags_are_refused(tmp_path):
    path = write(tmp_path, "apiVersion: v1\nkind: Namespace\nmetadata: !!python/object:os.system {name: x}\n")
    tags = [e for e in errors_of(path) if "unsupported tag" in e.message]
    assert [(e.line, e.column) for e in tags] == [(3, 11)]


def test_duplicate_yaml_keys(tmp_path):
    path = write(tmp_path, "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n  name: b\n")
    (err,) = errors_of(path)
    assert (err.line, err.column) == (5, 3) and "duplicate key 'name'" in err.message


@pytest.mark.parametrize(
    ("rule", "path", "words"),
    [
        ("{action: Allow, protocol: TCPX}", "spec.egress[0].protocol", "unknown protocol"),
        ("{action: Allow, protocol: 256}", "spec.egress[0].protocol", "1-255"),
        ("{action: Allow, icmp: {type: 8}}", "spec.egress[0].icmp", "ICMP or ICMPv6"),
        ("{action: Allow, protocol: ICMP, icmp: {code: 0}}", "spec.egress[0].icmp", "code needs a type"),
        (
            "{action: Allow, destination: {notNets: [0.0.0.0/0]}}",
            "spec.egress[0].destination.notNets[0]",
            "notNets",
        ),
        (
            "{action: Allow, destination: {services: {name: a}, selector: \"x == 'y'\"}}",
            "spec.egress[0].destination.services",
            "cannot be combined",
        ),
        (
            "{action: Deny, destination: {domains: [api.example.com]}}",
            "spec.egress[0].destination.domains",
            "egress Allow",
        ),
        (
            "{action: Allow, destination: {namespaceSelector: \"global() && a == 'b'\"}}",
            "spec.egress[0].destination.namespaceSelector",
            "global()",
        ),
        (
            "{action: Allow, destination: {selektor: all()}}",
            "spec.egress[0].destination.selektor",
            "unknown field",
        ),
        (
            "{action: Allow, protocol: TCP, destination: {ports: ['90:80']}}",
            "spec.egress[0].destination.ports[0]",
            "range",
        ),
    ],
)
def test_rule_validation(tmp_path, rule, path, words):
    text = (
        "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata:\n  name: default.p\n"
        f"spec:\n  egress:\n    - {rule}\n"
    )
    errs = errors_of(write(tmp_path, text))
    assert [e.path for e in errs] == [path], errs
    assert words in errs[0].message
    assert errs[0].line == 7


@pytest.mark.parametrize(
    ("doc", "path", "words"),
    [
        (
            "kind: Tier\nmetadata: {name: t}\n---\napiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\n"
            "metadata: {name: p}\nspec: {tier: t}",
            "metadata.name",
            "must be named 't.<name>'",
        ),
        ("kind: GlobalNetworkPolicy\nmetadata: {name: knp.default.x}", "metadata.name", "reserved"),
        (
            "kind: NetworkPolicy\nmetadata: {name: p}\nspec: {namespaceSelector: all()}",
            "spec.namespaceSelector",
            "unknown field",
        ),
        (
            "kind: GlobalNetworkPolicy\nmetadata: {name: p}\nspec: {types: [Sideways]}",
            "spec.types[0]",
            "Ingress or Egress",
        ),
        (
            "kind: GlobalNetworkPolicy\nmetadata: {name: p}\nspec: {order: high}",
            "spec.order",
            "expected a number",
        ),
        (
            "kind: GlobalNetworkPolicy\nmetadata: {name: p}\nspec: {doNotTrack: true}",
            "spec",
            "applyOnForward",
        ),
        (
            "kind: StagedGlobalNetworkPolicy\nmetadata: {name: p}\nspec: {stagedAction: Maybe}",
            "spec.stagedAction",
            "stagedAction",
        ),
        (
            "kind: Tier\nmetadata: {name: t}\nspec: {defaultAction: Allow}",
            "spec.defaultAction",
            "Deny or Pass",
        ),
    ],
)
def test_policy_validation(tmp_path, doc, path, words):
    errs = errors_of(write(tmp_path, "apiVersion: projectcalico.org/v3\n" + doc + "\n"))
    assert [e.path for e in errs] == [path], errs
    assert words in errs[0].message


def test_label_values_must_be_strings(tmp_path):
    text = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n  labels:\n    pci: true\n"
    (err,) = errors_of(write(tmp_path, text))
    assert (err.line, err.path) == (6, "metadata.labels.pci") and "strings" in err.message


def test_workload_selector_must_match_template(tmp_path):
    text = """apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector:
    matchLabels: {app: api}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: nginx}]}
"""
    (err,) = errors_of(write(tmp_path, text))
    assert err.path == "spec.selector.matchLabels" and "does not match" in err.message


def test_missing_service_account(tmp_path):
    text = """apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  serviceAccountName: builder
  containers: [{name: web, image: nginx}]
"""
    (err,) = errors_of(write(tmp_path, text))
    assert err.path == "spec.serviceAccountName" and "service account 'builder'" in err.message


def test_kubernetes_network_policy_errors_are_located(tmp_path):
    text = """apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: np}
spec:
  podSelector: {}
  ingress:
    - ports:
        - {protocol: TCP, port: 70000}
"""
    (err,) = errors_of(write(tmp_path, text))
    assert err.line == 8 and err.path.startswith("spec.ingress[0].ports[0]")


def _settings_doc(value: str) -> str:
    return (
        "apiVersion: desktopviz/v1\nkind: Scenario\nmetadata: {name: t}\nspec:\n"
        f"  cluster:\n    nodes: [node-1]\n    flowLogsEnableHostEndpoint: {value}\n"
    )


def test_flow_logs_enable_host_endpoint_setting(tmp_path):
    # Felix's flowLogsEnableHostEndpoint: off unless the scenario turns it on (calico.md §2.12)
    assert load_scenario(write(tmp_path, _settings_doc("true"))).settings.flow_logs_enable_host_endpoint
    (tmp_path / "s.yaml").unlink()
    off = load_scenario(write(tmp_path, _settings_doc("false")))
    assert off.settings.flow_logs_enable_host_endpoint is False
    (tmp_path / "s.yaml").unlink()
    (err,) = errors_of(write(tmp_path, _settings_doc("'yes'")))
    assert err.line == 7 and "flowLogsEnableHostEndpoint" in err.path and "true or false" in err.message
