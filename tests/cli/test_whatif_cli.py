"""`desktopviz whatif DB --policies FILE_OR_DIR`: exit codes 0 / 3 / 2 and the JSON report."""

from __future__ import annotations

import json

import pytest

from desktopviz.cli import main
from desktopviz.core.paths import default_scenario
from desktopviz.core.policy_edit import PolicySet
from desktopviz.core.policy_edit_yaml import to_yaml
from desktopviz.core.scenario import load_scenario
from desktopviz.core.simulator import Simulator
from desktopviz.core.store import FlowStore

TRUSTED = "storefront/default.trusted"


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    path = tmp_path_factory.mktemp("whatif-cli") / "run.db"
    scenario = load_scenario(default_scenario())
    sim = Simulator(scenario)
    with FlowStore(path) as store:
        store.set_meta("scenario", scenario.name)
        store.insert(sim.advance(30))
        sim.fire("deploy-rogue")
        store.insert(sim.advance(120))
    return path


def trusted_doc() -> dict:
    ps = PolicySet.from_cluster(load_scenario(default_scenario()).cluster)
    return ps.document(TRUSTED)


def write(tmp_path, doc: dict, name: str = "edit.yaml"):
    path = tmp_path / name
    path.write_text(to_yaml(doc))
    return path


def test_a_change_exits_3_with_json_listing_the_flows(db, tmp_path, capsys):
    doc = trusted_doc()
    doc["spec"]["ingress"].insert(0, {"action": "Allow", "source": {"selector": "app == 'rogue'"}})
    code = main(["whatif", str(db), "--policies", str(write(tmp_path, doc)), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 3
    assert out["changed"] == 2 and out["deny_to_allow"] == 2 and out["allow_to_deny"] == 0
    assert out["uncertain"] == 0 and out["applied"] == [f"replace {TRUSTED}"]
    for flow in out["flows"]:
        assert set(flow) >= {
            "source",
            "dest",
            "port",
            "proto",
            "reporter",
            "before",
            "after",
            "rule",
            "uncertain",
        }
        assert flow["source"].startswith("storefront/rogue-") and flow["reporter"] == "dst"
        assert (flow["before"], flow["after"], flow["port"], flow["proto"]) == ("deny", "allow", 8080, "tcp")


def test_the_same_policies_exit_0_with_a_summary_table(db, tmp_path, capsys):
    code = main(
        [
            "whatif",
            str(db),
            "--policies",
            str(write(tmp_path, trusted_doc())),
            "--scenario",
            str(default_scenario()),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert out.startswith("0 flow group(s) would change verdict")


def test_a_delete_annotation_deletes_the_policy(db, tmp_path, capsys):
    doc = trusted_doc()
    doc["metadata"]["annotations"] = {"desktopviz.io/delete": "true"}
    code = main(["whatif", str(db), "--policies", str(tmp_path_dir(tmp_path, doc))])
    out = capsys.readouterr().out
    assert code == 3
    assert f"delete {TRUSTED}" in out and "→" in out


def tmp_path_dir(tmp_path, doc):
    folder = tmp_path / "policies"
    folder.mkdir()
    write(folder, doc)
    return folder


def test_bad_input_exits_2_naming_file_line_and_field(db, tmp_path, capsys):
    doc = trusted_doc()
    doc["spec"]["selector"] = "fw-zone == 'trusted"
    path = write(tmp_path, doc)
    code = main(["whatif", str(db), "--policies", str(path)])
    err = capsys.readouterr().err
    assert code == 2
    assert f"{path}:9:" in err and "spec.selector" in err and "closing" in err


@pytest.mark.parametrize(
    "argv",
    [
        ["whatif", "missing.db", "--policies", "x.yaml"],
        ["whatif", "{db}", "--policies", "missing.yaml"],
        ["whatif", "{db}", "--policies", "{policy}", "--since", "yesterday"],
    ],
)
def test_usage_errors_exit_2(db, tmp_path, capsys, argv):
    policy = write(tmp_path, trusted_doc())
    code = main([a.format(db=db, policy=policy) for a in argv])
    assert code == 2
    assert capsys.readouterr().err.startswith("desktopviz: ")


def test_since_limits_the_range(db, tmp_path, capsys):
    doc = trusted_doc()
    doc["spec"]["ingress"].insert(0, {"action": "Allow", "source": {"selector": "app == 'rogue'"}})
    with FlowStore(db, create=False, readonly=True) as store:
        first, _ = store.time_range()
    code = main(
        ["whatif", str(db), "--policies", str(write(tmp_path, doc)), "--until", str(first + 30), "--json"]
    )
    assert code == 0 and json.loads(capsys.readouterr().out)["changed"] == 0
