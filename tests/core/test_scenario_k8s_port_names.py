"""Pod container port names follow Kubernetes' IsValidPortName (as rule port names do in
scenario_rules): at most 15 characters, lower-case letters, digits and single hyphens, with a
letter, no hyphen at either end."""

from __future__ import annotations

import pytest

from desktopviz.core.scenario import ScenarioError, load_scenario

POD = """apiVersion: v1
kind: Pod
metadata: {{name: web, namespace: default, labels: {{app: web}}}}
spec:
  containers:
    - name: web
      image: nginx
      ports:
        - {{name: {name!r}, containerPort: 8080}}
"""


@pytest.mark.parametrize("name", ["http", "web-1", "h2c", "a", "x" * 15, "1a"])
def test_valid_port_names_load(tmp_path, name):
    path = tmp_path / "pod.yaml"
    path.write_text(POD.format(name=name))
    load_scenario(path)


@pytest.mark.parametrize("name", ["8080", "web--1", "-web", "web-", "Http", "x" * 16, "web_1"])
def test_invalid_port_names_name_the_field(tmp_path, name):
    path = tmp_path / "pod.yaml"
    path.write_text(POD.format(name=name))
    with pytest.raises(ScenarioError) as err:
        load_scenario(path)
    text = str(err.value)
    assert "pod.yaml:9" in text and "invalid port name" in text and repr(name) in text


SERVICE = """apiVersion: v1
kind: Service
metadata: {{name: web, namespace: default}}
spec:
  selector: {{app: web}}
  ports:
    - {{port: 80, targetPort: {target}}}
"""


@pytest.mark.parametrize("target", ["8080", "http", "'http'"])
def test_a_service_target_port_is_a_number_or_a_port_name(tmp_path, target):
    path = tmp_path / "svc.yaml"
    path.write_text(POD.format(name="http") + "---\n" + SERVICE.format(target=target))
    svc = load_scenario(path).cluster.services["default/web"]
    assert svc.ports[0].target_port == (8080 if target == "8080" else "http")


@pytest.mark.parametrize("target", ["'8080'", '"8080"', "' 80'"])
def test_a_quoted_number_is_refused_as_a_target_port_name(tmp_path, target):
    """Kubernetes reads a quoted targetPort as a port name (IntOrString), and its API server
    refuses a name without a letter (ValidatePortNumOrName)."""
    path = tmp_path / "svc.yaml"
    path.write_text(SERVICE.format(target=target))
    with pytest.raises(ScenarioError) as err:
        load_scenario(path)
    text = str(err.value)
    assert "svc.yaml:7" in text and "invalid port name" in text and "without quotes" in text
