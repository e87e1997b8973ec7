"""The reach and explain commands on the storefront scenario (calico.md §1.3, §2)."""

from __future__ import annotations

import json

import pytest

from desktopviz.cli import main


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_reach_json_has_every_pair(capsys, storefront_path) -> None:
    code, out, _ = run(
        capsys, "reach", str(storefront_path), "--port", "8080", "--json", "--namespace", "storefront"
    )
    assert code == 0
    data = json.loads(out)
    assert data["port"] == 8080 and data["protocol"] == "TCP"
    eps = data["endpoints"]
    assert "storefront/frontend" in eps and all(e.startswith("storefront/") for e in eps)
    assert all(set(data["allowed"][a]) == set(eps) for a in eps)
    assert data["allowed"]["storefront/frontend"]["storefront/microservice1"] is True
    assert data["allowed"]["storefront/frontend"]["storefront/backend"] is False


def test_reach_pods_lists_pods(capsys, storefront_path) -> None:
    code, out, _ = run(capsys, "reach", str(storefront_path), "--pods", "--json", "--namespace", "acme")
    assert code == 0
    eps = json.loads(out)["endpoints"]
    assert "acme/payments-db-0" in eps and len(eps) == 6


def test_reach_text_matrix(capsys, storefront_path) -> None:
    code, out, _ = run(capsys, "reach", str(storefront_path), "--namespace", "storefront", "--port", "8080")
    assert code == 0
    assert "storefront/microservice1" in out and "pairs allowed" in out


@pytest.mark.parametrize(
    "argv",
    [
        ["--port", "70000"],
        ["--protocol", "HTTP"],
        ["--namespace", "nope"],
        ["--from", "storefront/nope"],
    ],
)
def test_reach_rejects_bad_input(capsys, storefront_path, argv) -> None:
    code, _, err = run(capsys, "reach", str(storefront_path), *argv)
    assert code == 2 and err.startswith("desktopviz: ")


def test_lateral_movement_from_frontend(capsys, storefront_path) -> None:
    code, out, _ = run(
        capsys, "reach", str(storefront_path), "--from", "storefront/frontend", "--hops", "2", "--json"
    )
    assert code == 0
    data = json.loads(out)
    direct = data["reachable"]["storefront/microservice1"]
    assert len(direct) == 1 and direct[0]["port"] == 8080
    assert "storefront/default.trusted|allow" in direct[0]["rule"]
    assert len(data["reachable"]["storefront/backend"]) == 2


def test_explain_service_resolves_to_target_port(capsys, storefront_path) -> None:
    code, out, _ = run(
        capsys,
        "explain",
        str(storefront_path),
        "--from",
        "storefront/microservice2",
        "--to",
        "storefront/backend",
        "--port",
        "80",
    )
    assert code == 0
    assert "targetPort http = 8080" in out
    assert "2|default|storefront/default.restricted|allow|0" in out
    assert "2|default|storefront/default.staged:restricted|deny|2" in out
    assert "50-zone-policies.yaml" in out


def test_explain_domain_destination(capsys, storefront_path) -> None:
    code, out, _ = run(
        capsys,
        "explain",
        str(storefront_path),
        "--from",
        "storefront/microservice2",
        "--to",
        "api.twilio.com",
        "--port",
        "443",
    )
    assert code == 0
    assert "1|platform|platform.twilio-integration|allow|0" in out
    assert "Verdict: ALLOW" in out


@pytest.mark.parametrize(
    "argv",
    [
        ["--from", "storefront/nope", "--to", "storefront/backend", "--port", "80"],
        ["--from", "storefront/frontend", "--to", "storefront/backend", "--port", "0"],
        ["--from", "storefront/frontend", "--to", "storefront/backend", "--port", "80", "--protocol", "XYZ"],
        ["--from", "storefront/frontend", "--to", "storefront/backend"],
    ],
)
def test_explain_rejects_bad_input(capsys, storefront_path, argv) -> None:
    code, _, err = run(capsys, "explain", str(storefront_path), *argv)
    assert code == 2 and err.startswith("desktopviz: ")
