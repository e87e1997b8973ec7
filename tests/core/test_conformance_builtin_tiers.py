"""Conformance: the built-in tiers of calico.md §2.1 exist without a Tier document.

§2.1 table: `kube-admin` (v3.32+; order 1,000, defaultAction Pass), `default` (1,000,000, Deny)
and `kube-baseline` (v3.32+; 10,000,000, Pass) are Calico's own, with fixed orders; a policy may
name them without the scenario declaring them, and a Tier document naming them is taken as
for `default` (same values accepted, others refused). Their 3.29-3.31 names
(`adminnetworkpolicy`, `baselineadminnetworkpolicy`) stay ordinary tiers to declare. The board
shows a built-in tier other than `default` only when it holds policies or is declared.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from test_calico_semantics import SERVER, load, np_, tier
from test_conformance_tiers import PROFILE_1, no_match_gnp, rule_gnp

from desktopviz.core.board import layout_from_cluster
from desktopviz.core.paths import default_scenario
from desktopviz.core.policy_edit import PolicySet
from desktopviz.core.scenario import ScenarioError, load_scenario


def test_policies_in_undeclared_kube_admin_and_kube_baseline_load_and_run_in_order(tmp_path: Path) -> None:
    """§2.1 table: kube-admin (1,000) runs before default (1,000,000), kube-baseline
    (10,000,000) after it, with no Tier document for either."""
    w = load(
        tmp_path, rule_gnp("kube-baseline.p", "Pass"), rule_gnp("kube-admin.p", "Pass"), rule_gnp("p", "Pass")
    )
    assert w.ingress("ns1/client", "ns1/server") == [
        "0|kube-admin|kube-admin.p|pass|0",
        "1|default|default.p|pass|0",
        "2|kube-baseline|kube-baseline.p|pass|0",
        "3|__PROFILE__|__PROFILE__.kns.ns1|allow|0",
    ]
    tiers = w.cluster.tiers
    assert (tiers["kube-admin"].order, tiers["kube-admin"].default_action) == (1000.0, "Pass")
    assert (tiers["kube-baseline"].order, tiers["kube-baseline"].default_action) == (10_000_000.0, "Pass")
    assert [t.name for t in w.cluster.tiers_in_order()] == ["kube-admin", "default", "kube-baseline"]


@pytest.mark.parametrize("name", ["kube-admin", "kube-baseline"])
def test_undeclared_built_in_tier_passes_at_its_end(tmp_path: Path, name: str) -> None:
    """§2.1 table: defaultAction Pass, also when the tier is not declared."""
    w = load(tmp_path, no_match_gnp(f"{name}.p"))
    assert w.ingress("ns1/client", "ns1/server") == [f"0|{name}|{name}.p|pass|-1", PROFILE_1]


def test_a_namespaced_policy_may_name_kube_admin(tmp_path: Path) -> None:
    w = load(tmp_path, np_("kube-admin.p", "ns1", f"tier: kube-admin\n{SERVER}\ningress:\n- action: Deny"))
    assert w.ingress("ns1/client", "ns1/server") == ["0|kube-admin|ns1/kube-admin.p|deny|0"]


@pytest.mark.parametrize(
    ("doc", "order", "action"),
    [
        ("metadata: {name: kube-admin}\nspec: {order: 1000, defaultAction: Pass}", 1000.0, "Pass"),
        ("metadata: {name: kube-baseline}\nspec: {defaultAction: Pass}", 10_000_000.0, "Pass"),
    ],
)
def test_a_tier_document_naming_a_built_in_tier_is_taken_like_default(
    tmp_path: Path, doc: str, order: float, action: str
) -> None:
    """§2.1: the built-in tiers keep their fixed values; a document that says so is accepted
    (as a `default` Tier document is), and the tier is shown even without policies."""
    w = load(tmp_path, f"apiVersion: projectcalico.org/v3\nkind: Tier\n{doc}")
    name = doc.split("name: ")[1].split("}")[0]
    t = w.cluster.tiers[name]
    assert (t.order, t.default_action) == (order, action) and t.location is not None
    assert name in [bt.name for bt in layout_from_cluster(w.cluster).tiers]


@pytest.mark.parametrize(
    ("spec", "field", "message"),
    [
        ("{order: 50}", "spec.order", "the order of tier 'kube-admin' is fixed at 1000"),
        ("{order: 1000, defaultAction: Deny}", "spec.defaultAction", "must be Pass"),
    ],
)
def test_a_tier_document_changing_a_built_in_tier_is_refused(
    tmp_path: Path, spec: str, field: str, message: str
) -> None:
    """§2.1: fixed orders (Calico's validation refuses others, as for `default`): the error
    names the file, the line and the field."""
    with pytest.raises(ScenarioError) as err:
        load(
            tmp_path,
            f"apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: {{name: kube-admin}}\nspec: {spec}",
        )
    [issue] = err.value.errors
    assert issue.file.endswith("policies.yaml") and issue.line == 4 and issue.path == field
    assert message in issue.message


@pytest.mark.parametrize("name", ["adminnetworkpolicy", "baselineadminnetworkpolicy"])
def test_old_names_of_the_admin_tiers_must_be_declared(tmp_path: Path, name: str) -> None:
    """§2.1: `kube-admin`/`kube-baseline` are the v3.32 names; the old ones are ordinary tiers."""
    with pytest.raises(ScenarioError) as err:
        load(tmp_path, rule_gnp(f"{name}.p", "Pass"))
    assert any(
        e.path == "spec.tier" and f"tier {name!r} does not exist" in e.message for e in err.value.errors
    )
    w = load(tmp_path, tier(name), rule_gnp(f"{name}.p", "Pass"))
    assert w.ingress("ns1/client", "ns1/server")[0] == f"0|{name}|{name}.p|pass|0"


def test_the_board_shows_built_in_tiers_only_when_they_hold_policies(tmp_path: Path) -> None:
    """§4.2 board columns: `default` is always there; kube-admin and kube-baseline, undeclared,
    only when a policy is in them."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    empty = load(tmp_path / "a", rule_gnp("p", "Allow"))
    assert [t.name for t in layout_from_cluster(empty.cluster).tiers] == ["default"]
    used = load(tmp_path / "b", rule_gnp("kube-admin.p", "Pass"))
    layout = layout_from_cluster(used.cluster)
    assert [t.name for t in layout.tiers] == ["kube-admin", "default"]
    assert layout.tier("kube-admin").default_action == "Pass"  # type: ignore[union-attr]


def test_the_editor_accepts_built_in_tiers_and_exports_no_tier_document_for_them(tmp_path: Path) -> None:
    """A policy put into kube-baseline from the editor needs no Tier; the export loads back."""
    scenario = load_scenario(default_scenario())
    ps = PolicySet.from_cluster(scenario.cluster)
    assert {"kube-admin", "kube-baseline"} <= {t.name for t in ps.tiers_in_order()}
    doc = ps.new_document("kube-baseline", None)
    policy = ps.add(doc)
    assert policy.key == "kube-baseline.new-policy"
    moved = ps.move("security.block-feodo", tier="kube-admin")
    assert moved.key == "kube-admin.block-feodo"
    text = ps.export_yaml()
    assert "name: kube-baseline\n" not in text and "name: kube-admin\n" not in text
    folder = tmp_path / "sf"
    shutil.copytree(default_scenario(), folder, ignore=shutil.ignore_patterns("4*-*.yaml", "50-*.yaml"))
    (folder / "export.yaml").write_text(text)
    again = load_scenario(folder)
    assert {"kube-baseline.new-policy", "kube-admin.block-feodo"} <= set(again.cluster.policies)
    assert again.cluster.tiers["kube-admin"].order == 1000.0


ADMIN_EVENT = """
  events:
    - id: admin
      name: An admin policy
      actions:
        - apply:
            manifests:
              - apiVersion: projectcalico.org/v3
                kind: GlobalNetworkPolicy
                metadata: {name: kube-admin.block}
                spec:
                  tier: kube-admin
                  selector: app == 'server'
                  ingress: [{action: Deny, source: {selector: app == 'client'}}]
"""


def test_an_event_may_apply_a_policy_in_an_undeclared_built_in_tier(tmp_path: Path) -> None:
    """§2.1: kube-admin exists in the running cluster too; its policy runs first (order 1,000)."""
    from test_simulator_felix import _scenario

    from desktopviz.core.simulator import Simulator

    sc = _scenario(
        tmp_path, "- {from: {workload: shop/client}, to: {service: shop/web}, rate: 1}", events=ADMIN_EVENT
    )
    sim = Simulator(sc)
    sim.advance(300)
    sim.fire("admin")
    dst = [log for log in sim.advance(600) if log.reporter == "dst"]
    assert dst and dst[-1].action == "deny"
    assert dst[-1].policies["enforced_policies"] == ["0|kube-admin|kube-admin.block|deny|0"]
