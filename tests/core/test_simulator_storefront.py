"""Acceptance: `desktopviz simulate scenarios/storefront --duration 30m --event deploy-rogue@10m`
and what the flow store then holds (checked with SQL), plus the command's error paths."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from desktopviz.cli import main
from desktopviz.cli.simulate import format_duration, parse_duration

START = 1_767_258_000  # scenario startTime 2026-01-01T09:00:00Z
ROGUE_AT = START + 600


@pytest.fixture(scope="module")
def run(tmp_path_factory, request) -> tuple[sqlite3.Connection, str, str]:
    storefront = Path(request.config.rootpath) / "scenarios" / "storefront"
    db = tmp_path_factory.mktemp("sim") / "s.db"
    code = main(
        [
            "simulate",
            str(storefront),
            "--duration",
            "30m",
            "--event",
            "deploy-rogue@10m",
            "--db",
            str(db),
            "--quiet",
        ]
    )
    assert code == 0
    conn = sqlite3.connect(str(db))
    conn.row_factory = sqlite3.Row
    yield conn, str(db), str(storefront)
    conn.close()


def q(conn: sqlite3.Connection, sql: str, *args: object) -> list[sqlite3.Row]:
    return conn.execute(sql, args).fetchall()


def test_allowed_storefront_flows_from_the_first_interval(run):
    conn, _, _ = run
    rows = q(
        conn,
        "SELECT DISTINCT reporter, source_name_aggr, dest_name_aggr FROM flow_logs "
        "WHERE start_time = ? AND action = 'allow' AND dest_namespace = 'storefront'",
        START,
    )
    pairs = {
        (r["reporter"], r["source_name_aggr"].split("-")[0], r["dest_name_aggr"].split("-")[0]) for r in rows
    }
    for pair in [("frontend", "microservice1"), ("frontend", "microservice2"), ("microservice1", "backend")]:
        assert ("src", *pair) in pairs and ("dst", *pair) in pairs
    assert q(conn, "SELECT min(start_time) m FROM flow_logs")[0]["m"] == START
    assert {r["d"] for r in q(conn, "SELECT DISTINCT end_time - start_time d FROM flow_logs")} == {15}


def test_rogue_pod_denied_after_minute_ten(run):
    conn, _, _ = run
    before = q(
        conn,
        "SELECT count(*) n FROM flow_logs WHERE source_name_aggr LIKE 'rogue-%' AND start_time < ?",
        ROGUE_AT,
    )
    assert before[0]["n"] == 0
    denied = q(
        conn,
        "SELECT * FROM flow_logs WHERE source_name_aggr LIKE 'rogue-%' AND reporter = 'dst' AND action = 'deny'",
    )
    assert denied and min(r["start_time"] for r in denied) == ROGUE_AT
    targets = {r["dest_name_aggr"].split("-")[0] for r in denied}
    assert {"frontend", "microservice1", "microservice2", "backend", "logging"} <= targets
    ms = [r for r in denied if r["dest_name_aggr"].startswith(("microservice1-", "microservice2-"))]
    for r in ms:
        enforced = json.loads(r["policies"])["enforced_policies"]
        assert enforced[-1].endswith("|default|storefront/default.trusted|deny|2")
        assert r["packets_out"] == 0 and r["bytes_out"] == 0 and r["packets_in"] > 0
        # denied flows: aggregation level 1 (names and IPs kept, source port null)
        assert r["source_port"] is None and r["source_ip"] and r["source_name"].startswith("rogue-")
        assert r["dest_ip"] and r["dest_name"] != "-"
    hits = q(
        conn,
        "SELECT count(*) n FROM flow_logs WHERE source_name_aggr LIKE 'rogue-%' AND reporter='dst' "
        "AND policies LIKE '%|default|storefront/default.trusted|deny|2%'",
    )
    assert hits[0]["n"] > 0


def test_rogue_src_logs_show_security_and_platform_tiers_passing(run):
    conn, _, _ = run
    rows = q(
        conn,
        "SELECT * FROM flow_logs WHERE source_name_aggr LIKE 'rogue-%' AND reporter = 'src' "
        "AND dest_namespace = 'storefront'",
    )
    assert rows
    for r in rows:
        assert r["action"] == "allow" and r["packets_in"] == 0 and r["bytes_in"] == 0 and r["packets_out"] > 0
        enforced = json.loads(r["policies"])["enforced_policies"]
        tiers = [e.split("|")[1] for e in enforced]
        assert tiers[:2] == ["security", "platform"]
        assert enforced[0].split("|")[3] == "pass"
        # platform.logging allows everyone's egress to logging; elsewhere the platform tier passes
        if not r["dest_name_aggr"].startswith("logging-"):
            assert enforced[1].split("|")[3] == "pass"
        assert [int(e.split("|")[0]) for e in enforced] == list(range(len(enforced)))
        assert r["process_name"] == "/usr/bin/curl"


def test_twilio_flows_from_microservice2_name_the_network_set_and_domain(run):
    conn, _, _ = run
    rows = q(conn, "SELECT * FROM flow_logs WHERE dest_name_aggr = 'twilio'")
    assert rows
    for r in rows:
        assert r["source_name_aggr"].startswith("microservice2-")
        assert (r["dest_type"], r["dest_namespace"], r["reporter"], r["action"]) == (
            "ns",
            "storefront",
            "src",
            "allow",
        )
        assert json.loads(r["dest_domains"]) == ["api.twilio.com"]
        assert r["dest_port"] == 443 and r["proto"] == "tcp"
    lookups = q(
        conn,
        "SELECT count(*) n FROM flow_logs WHERE source_name_aggr LIKE 'microservice2-%' "
        "AND dest_service_name = 'kube-dns' AND proto = 'udp' AND dest_port = 53",
    )
    assert lookups[0]["n"] > 0


def test_every_field_filled_as_calico_fills_it(run):
    conn, _, _ = run
    rows = q(conn, "SELECT * FROM flow_logs")
    assert len(rows) > 1000
    for r in rows:
        assert r["reporter"] in ("src", "dst") and r["action"] in ("allow", "deny")
        assert r["proto"] in ("tcp", "udp")
        assert r["source_type"] in ("wep", "hep", "ns", "net") and r["dest_type"] in (
            "wep",
            "hep",
            "ns",
            "net",
        )
        assert r["host"].startswith("ip-10-0-1-")
        level = 2 if r["action"] == "allow" else 1
        assert r["source_port"] is None  # levels 1 and 2
        if level == 2:
            assert r["source_ip"] is None and r["dest_ip"] is None
            assert r["source_name"] == "-" and r["dest_name"] == "-"
        for side in ("source", "dest"):
            if r[f"{side}_type"] == "wep":
                assert r[f"{side}_name_aggr"].endswith("*") or r[f"{side}_name_aggr"].endswith(
                    tuple("0123456789")
                )
                labels = json.loads(r[f"{side}_labels"])["labels"]
                assert labels and not any(lab.startswith("projectcalico.org/") for lab in labels)
            if r[f"{side}_type"] in ("net",):
                assert r[f"{side}_name_aggr"] in ("pub", "pvt") and r[f"{side}_namespace"] == "-"
        if r["dest_service_name"] == "-":
            assert r["dest_service_namespace"] == "-" and r["dest_service_port"] == "-"
            assert r["dest_service_port_num"] is None
        else:
            assert r["dest_service_port"] != "-" and r["dest_service_port_num"] > 0
        pol = json.loads(r["policies"])
        assert (
            set(pol) >= {"enforced_policies", "pending_policies", "all_policies"} and pol["enforced_policies"]
        )
        final = pol["enforced_policies"][-1].split("|")
        assert final[3] == r["action"]
        assert r["num_flows"] >= max(r["num_flows_started"], r["num_flows_completed"])
        if r["action"] == "deny":
            assert (r["bytes_out"], r["packets_out"]) == (0, 0) if r["reporter"] == "dst" else True
        assert r["process_id"] == "-" and r["http_requests_allowed_in"] == 0
        assert r["start_time"] % 15 == 0 and r["end_time"] == r["start_time"] + 15


def test_external_clients_only_have_dst_logs(run):
    conn, _, _ = run
    rows = q(conn, "SELECT DISTINCT reporter FROM flow_logs WHERE source_type IN ('ns', 'net')")
    assert {r["reporter"] for r in rows} == {"dst"}
    rows = q(conn, "SELECT DISTINCT reporter FROM flow_logs WHERE dest_type IN ('ns', 'net')")
    assert {r["reporter"] for r in rows} == {"src"}


def test_summary_unknown_event_bad_scenario_and_existing_db(run, tmp_path, capsys):
    _, db, storefront = run
    code = main(["simulate", storefront, "--duration", "1m", "--db", str(tmp_path / "a.db"), "--quiet"])
    out = capsys.readouterr().out
    assert code == 0
    assert "flow logs written" in out and "reporter src" in out and "reporter dst" in out and "denied" in out
    assert main(["simulate", storefront, "--duration", "1m", "--db", db, "--quiet"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["simulate", storefront, "--event", "nope@1m", "--db", str(tmp_path / "b.db")]) == 2
    assert "unknown event 'nope'" in capsys.readouterr().err
    assert main(["simulate", storefront, "--duration", "soon", "--db", str(tmp_path / "c.db")]) == 2
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "scenario.yaml").write_text(
        "apiVersion: desktopviz/v1\nkind: Scenario\nmetadata: {name: x}\nspec: 7\n"
    )
    assert main(["simulate", str(bad), "--duration", "1m", "--db", str(tmp_path / "d.db")]) in (1, 2)
    assert capsys.readouterr().err.strip()


def test_default_db_name_is_scenario_and_seed(run, tmp_path, monkeypatch):
    _, _, storefront = run
    monkeypatch.chdir(tmp_path)
    assert main(["simulate", storefront, "--duration", "30s", "--seed", "3", "--quiet"]) == 0
    assert (tmp_path / "storefront-3.db").exists()


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30m", 1800), ("2h", 7200), ("90s", 90), ("1h30m", 5400), ("45", 45), ("1h30m15s", 5415)],
)
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


def test_duration_errors_and_format():
    for bad in ("", "m", "5x", "1m1h"):
        with pytest.raises(ValueError):
            parse_duration(bad)
    assert (
        format_duration(3240) == "54m" and format_duration(7200) == "2h" and format_duration(5400) == "1h30m"
    )
