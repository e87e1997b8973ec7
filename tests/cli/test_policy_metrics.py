"""`desktopviz policy-metrics DB`: the Policy Board's metrics on the command line."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from desktopviz.cli import main

STOREFRONT = Path(__file__).resolve().parents[2] / "scenarios" / "storefront"
START = 1_767_258_000


@pytest.fixture(scope="module")
def db(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("pm") / "run.db"
    code = main(
        [
            "simulate",
            str(STOREFRONT),
            "--duration",
            "10m",
            "--event",
            "deploy-rogue@5m",
            "--db",
            str(path),
            "--quiet",
        ]
    )
    assert code == 0
    return path


@pytest.fixture
def bare_db(db, tmp_path) -> Path:
    """The same run with nothing in its meta saying which scenario made it."""
    copy = tmp_path / "bare.db"
    shutil.copy(db, copy)
    conn = sqlite3.connect(copy)
    conn.execute("DELETE FROM meta WHERE key LIKE 'scenario%'")
    conn.commit()
    conn.close()
    return copy


def run_json(capsys, *args: str) -> dict:
    assert main(["policy-metrics", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def _policy(report: dict, name: str) -> dict:
    for tier in report["tiers"]:
        for pol in tier["policies"]:
            if pol["name"] == name:
                return pol
    raise KeyError(name)


def test_json_board_order_and_rules_with_scenario(db, capsys):
    report = run_json(capsys, str(db), "--scenario", str(STOREFRONT))
    assert [t["name"] for t in report["tiers"]] == ["security", "platform", "default"]
    assert [p["name"] for p in report["tiers"][0]["policies"]] == [
        "security.quarantine",
        "security.block-feodo",
        "security.pci-whitelist",
    ]
    trusted = _policy(report, "storefront/default.trusted")
    assert set(trusted["metrics"]) >= {"connections", "allowed", "denied", "passed"}
    assert trusted["metrics"]["denied"] > 0 and trusted["endpoints"] == 2
    ingress = trusted["rules"]["ingress"]
    assert [r["index"] for r in ingress] == [0, 1, 2]
    assert [r["action"] for r in ingress] == ["Allow", "Allow", "Deny"]
    assert "fw-zone == 'dmz'" in ingress[0]["text"]
    assert ingress[2]["metrics"]["denied"] > 0 and ingress[2]["metrics"]["allowed"] == 0
    assert trusted["end_of_tier"]["ingress"]["index"] == -1
    # Rule metrics add up to the policy's.
    total = sum(r["metrics"]["connections"] for d in ("ingress", "egress") for r in trusted["rules"][d])
    total += sum(r["metrics"]["connections"] for r in trusted["end_of_tier"].values())
    assert total == trusted["metrics"]["connections"]
    staged = _policy(report, "storefront/default.staged:restricted")
    assert staged["staged"] and staged["metrics_from"] == "pending" and staged["metrics"]["denied"] > 0


def test_scenario_named_in_the_store_meta_is_used(db, capsys):
    report = run_json(capsys, str(db))
    assert report["source"] == "scenario" and report["scenario"]
    assert "fw-zone" in _policy(report, "storefront/default.trusted")["rules"]["ingress"][0]["text"]


def test_without_scenario_policies_come_from_the_traces(bare_db, capsys):
    report = run_json(capsys, str(bare_db))
    assert report["source"] == "store" and report["scenario"] is None
    trusted = _policy(report, "storefront/default.trusted")
    assert trusted["metrics"]["denied"] > 0
    assert all("unknown" in r["text"] for r in trusted["rules"]["ingress"])
    names = [p["name"] for t in report["tiers"] for p in t["policies"]]
    assert not any(n.startswith("__PROFILE__") for n in names)
    assert main(["policy-metrics", str(bare_db)]) == 0
    out = capsys.readouterr().out
    assert "rule texts unknown" in out and "storefront/default.trusted" in out


def test_time_range(db, capsys):
    before = run_json(capsys, str(db), "--until", str(START + 300))
    assert _policy(before, "storefront/default.trusted")["metrics"]["denied"] == 0
    after = run_json(capsys, str(db), "--since", "-2m")
    assert _policy(after, "storefront/default.trusted")["metrics"]["denied"] > 0
    assert after["span_seconds"] == 120


def test_text_output_and_peers(db, capsys):
    assert main(["policy-metrics", str(db), "--peers"]) == 0
    out = capsys.readouterr().out
    assert out.index("Tier security") < out.index("Tier platform") < out.index("Tier default")
    assert "[STAGED]" in out and "storefront/rogue-" in out


@pytest.mark.parametrize(
    "args",
    [
        ["policy-metrics", "/nonexistent/x.db"],
        ["policy-metrics", "{db}", "--since", "yesterday"],
        ["policy-metrics", "{db}", "--scenario", "/nonexistent/scenario"],
    ],
)
def test_usage_errors_exit_2(db, capsys, args):
    assert main([a.format(db=db) for a in args]) == 2
    assert "desktopviz:" in capsys.readouterr().err
