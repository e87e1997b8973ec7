"""`desktopviz validate`: summary and exit 0, every error and exit 1, missing path exit 2."""

from __future__ import annotations

from pathlib import Path

from desktopviz.cli import main

DATA = Path(__file__).parent / "data" / "scenarios"


def test_valid_storefront_prints_a_summary(storefront_path, capsys):
    assert main(["validate", str(storefront_path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("scenario storefront: valid")
    assert "Deployment                       9" in out
    tiers = out[out.index("tiers (in evaluation order):") :]
    assert (
        tiers.index("security (order 100")
        < tiers.index("platform (order 200")
        < tiers.index("default (order 1000000")
    )
    assert "storefront/default.trusted" in tiers
    assert "storefront/default.staged:restricted [staged]" in tiers
    assert "deploy-rogue: Deploy rogue pod (on demand; deploy)" in out


def test_skipped_kinds_are_listed(capsys):
    assert main(["validate", str(DATA / "manifests")]) == 0
    out = capsys.readouterr().out
    assert "skipped (not modelled): networking.k8s.io/v1/Ingress x1, v1/ConfigMap x1" in out


def test_invalid_scenario_prints_every_error(capsys):
    path = DATA / "several-errors.yaml"
    assert main(["validate", str(path)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith(f"{path}:7:13: spec.selector: expected '=='")
    assert len(err) == 5 and err[-1] == f"{path}: 4 errors"


def test_missing_path_exits_2(tmp_path, capsys):
    assert main(["validate", str(tmp_path / "nope")]) == 2
    assert "no such file or folder" in capsys.readouterr().err
