"""Kubernetes NetworkPolicy values the API server refuses, refused when a scenario is loaded.

calico.md §2.9 converts `ports` and `ipBlock` (→ `nets`/`notNets`); what reaches Calico's
conversion has first passed the Kubernetes API server's validation (apimachinery
`ValidateNetworkPolicyPort`: a string port must be an IANA_SVC_NAME, `IsValidPortName`: at most
15 characters, lower-case letters, digits and '-', with a letter, no '--', no '-' at either
end; `ValidateIPBlock`: each `except` entry is a strict subset of `cidr`). The errors name the
file, the line and the field.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from desktopviz.core.policy_edit import PolicySet
from desktopviz.core.scenario import ScenarioError, load_scenario

KNP = """apiVersion: {api}
kind: {kind}
metadata: {{name: p, namespace: default}}
spec:
  podSelector: {{}}
  ingress:
  - from:
    - ipBlock: {{cidr: {cidr}, except: {excepts}}}
    ports:
    - {{protocol: TCP, port: {port}}}
"""
K8S = ("networking.k8s.io/v1", "NetworkPolicy")
STAGED = ("projectcalico.org/v3", "StagedKubernetesNetworkPolicy")


def _doc(port: str = "80", cidr: str = "10.0.0.0/8", excepts: str = "[]", kinds=K8S) -> str:
    return KNP.format(api=kinds[0], kind=kinds[1], port=port, cidr=cidr, excepts=excepts)


def _load(tmp_path: Path, text: str):
    path = tmp_path / "np.yaml"
    path.write_text(text)
    return load_scenario(path)


def _refused(tmp_path: Path, text: str) -> tuple[int, str, str]:
    with pytest.raises(ScenarioError) as err:
        _load(tmp_path, text)
    [issue] = err.value.errors
    assert issue.file.endswith("np.yaml")
    return issue.line, issue.path, issue.message


@pytest.mark.parametrize("kinds", [K8S, STAGED], ids=["NetworkPolicy", "StagedKubernetesNetworkPolicy"])
@pytest.mark.parametrize("port", ["'80'", '"8080"', "'0443'"])
def test_a_quoted_port_number_is_refused(tmp_path: Path, port: str, kinds) -> None:
    """A string port is a port name (IANA_SVC_NAME), and digits alone have no letter."""
    line, path, message = _refused(tmp_path, _doc(port=port, kinds=kinds))
    digits = port.strip("'\"")
    assert line == 10 and path == "spec.ingress[0].ports[0].port"
    assert f"invalid port name {digits!r}" in message
    assert f"write a port number without quotes (port: {digits})" in message


@pytest.mark.parametrize("port", ["web--1", "-web", "web-", "Http", "x" * 16, "web_1", "''"])
def test_port_names_the_api_server_refuses(tmp_path: Path, port: str) -> None:
    line, path, message = _refused(tmp_path, _doc(port=port))
    assert line == 10 and path == "spec.ingress[0].ports[0].port" and "invalid port name" in message


@pytest.mark.parametrize(
    ("port", "expected"), [("80", 80), ("http", "http"), ("h2c", "h2c"), ("1a", "1a"), ("x" * 15, "x" * 15)]
)
def test_port_numbers_and_valid_names_load(tmp_path: Path, port: str, expected) -> None:
    policy = _load(tmp_path, _doc(port=port)).cluster.policies["default/knp.default.p"]
    assert policy.ingress[0].destination.ports == [expected]


@pytest.mark.parametrize(
    ("cidr", "excepts", "not_nets"),
    [
        ("10.0.0.0/8", "[10.1.0.0/16, 10.2.3.0/24]", ["10.1.0.0/16", "10.2.3.0/24"]),
        ("10.0.0.0/8", "[10.1.2.3/16]", ["10.1.0.0/16"]),  # host bits: the network, as Go parses it
        ("0.0.0.0/0", "[192.168.0.0/16]", ["192.168.0.0/16"]),
        ("fd00::/8", "['fd00:1::/32']", ["fd00:1::/32"]),
        ("10.0.0.0/8", "[10.0.0.1/32]", ["10.0.0.1/32"]),
    ],
)
def test_except_entries_inside_the_cidr_load(tmp_path: Path, cidr: str, excepts: str, not_nets) -> None:
    """§2.9: `ipBlock` → `nets`, `except` → `notNets`."""
    policy = _load(tmp_path, _doc(cidr=cidr, excepts=excepts)).cluster.policies["default/knp.default.p"]
    assert policy.ingress[0].source.not_nets == not_nets


@pytest.mark.parametrize("kinds", [K8S, STAGED], ids=["NetworkPolicy", "StagedKubernetesNetworkPolicy"])
@pytest.mark.parametrize(
    ("cidr", "excepts", "index"),
    [
        ("10.0.0.0/8", "[10.0.0.0/8]", 0),  # the whole cidr: not a strict subset
        ("10.0.0.0/16", "[10.0.0.0/8]", 0),  # larger
        ("10.0.0.0/8", "[10.1.0.0/16, 192.168.0.0/24]", 1),  # outside
        ("10.0.0.0/8", "['fd00::/64']", 0),  # another IP family
        ("10.1.0.0/16", "[10.1.0.0/15]", 0),  # contains the cidr
    ],
)
def test_except_entries_not_strictly_inside_the_cidr_are_refused(
    tmp_path: Path, cidr: str, excepts: str, index: int, kinds
) -> None:
    line, path, message = _refused(tmp_path, _doc(cidr=cidr, excepts=excepts, kinds=kinds))
    assert line == 8 and path == f"spec.ingress[0].from[0].ipBlock.except[{index}]"
    assert f"must be a strict subset of cidr {cidr}" in message


def test_the_policy_editor_refuses_a_quoted_port_with_its_field(tmp_path: Path) -> None:
    """The editor validates with the loader's rules: the same error, at the field."""
    ps = PolicySet({}, {}, ["default"])
    _, issues = ps.validate(_doc(port="'80'"))
    assert [i.path for i in issues] == ["spec.ingress[0].ports[0].port"]
    assert "invalid port name '80'" in issues[0].message
    _, issues = ps.validate(_doc(excepts="[11.0.0.0/16]"))
    assert [i.path for i in issues] == ["spec.ingress[0].from[0].ipBlock.except[0]"]
