"""Enforce of staged policies by stagedAction (calico.md §2.13): `Delete` stages the deletion of
the enforced policy of its name, so enforcing it deletes that policy and the staged one (one
undoable change); `Learn` and `Ignore` enforce their spec like `Set`. Preview shows the same."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_calico_semantics import PROFILE_NS1, World, gnp, knp, load, np_, tier

from desktopviz.core.policy_edit import PolicySet
from desktopviz.core.policy_edit_yaml import PolicyEditError, to_yaml

ALLOW_CLIENT = "selector: app == 'server'\ningress:\n- {action: Allow, source: {selector: app == 'client'}}"
DENY_CLIENT = "selector: app == 'server'\ningress:\n- {action: Deny, source: {selector: app == 'client'}}"
DELETE = "stagedAction: Delete"


def _set(tmp_path: Path, *docs: str) -> tuple[PolicySet, World]:
    world = load(tmp_path, *docs)
    return PolicySet.from_cluster(world.cluster), world


def _verdict(ps: PolicySet, world: World) -> list[str]:
    """The enforced ingress trace of client → server on the set's policies."""
    return World(ps.cluster(world.cluster)).ingress("ns1/client", "ns1/server")


def test_enforcing_a_staged_delete_deletes_the_enforced_policy_and_the_staged_one(tmp_path: Path) -> None:
    """§2.13: `stagedAction: Delete` stages the deletion of the enforced policy of the same
    name; Enforce (delete the staged policy, apply the staged change) deletes that policy."""
    ps, world = _set(
        tmp_path, np_("p", "ns1", DENY_CLIENT), np_("p", "ns1", DELETE, kind="StagedNetworkPolicy")
    )
    assert _verdict(ps, world) == ["0|default|ns1/default.p|deny|0"]
    assert ps.enforce(ps.document("ns1/default.staged:p"), replacing="ns1/default.staged:p") is None
    assert "ns1/default.p" not in ps.policies and "ns1/default.staged:p" not in ps.policies
    assert [p.key for p in ps.in_tier("default")] == []  # no empty "deny everything" policy left
    assert _verdict(ps, world) == [PROFILE_NS1]  # no policy selects the server: its profile allows
    [change] = ps.history
    assert change.label == "Enforce deletion of ns1/default.p"
    assert change.keys == ["ns1/default.p", "ns1/default.staged:p"]
    d = ps.delta()
    assert sorted(d.removed) == ["ns1/default.p", "ns1/default.staged:p"] and d.applied == []
    ps.undo()  # one change: both come back
    assert {"ns1/default.p", "ns1/default.staged:p"} <= set(ps.policies)
    assert _verdict(ps, world) == ["0|default|ns1/default.p|deny|0"]
    ps.redo()
    assert "ns1/default.p" not in ps.policies and "ns1/default.staged:p" not in ps.policies


def test_staged_delete_without_an_enforced_policy_only_removes_itself(tmp_path: Path) -> None:
    """§2.13: with no enforced policy of that name there is nothing else to delete."""
    ps, world = _set(tmp_path, np_("p", "ns1", DELETE, kind="StagedNetworkPolicy"))
    assert ps.enforce(ps.document("ns1/default.staged:p")) is None
    assert ps.policies == {}
    assert ps.history[-1].label == (
        "Enforce deletion of ns1/default.p (no such policy: only the staged ns1/default.staged:p is removed)"
    )
    assert _verdict(ps, world) == [PROFILE_NS1]


def test_staged_delete_deletes_only_the_policy_of_its_kind_and_tier(tmp_path: Path) -> None:
    """§2.13: the staged kind names the enforced kind (StagedGlobalNetworkPolicy → the GNP of
    that name; StagedKubernetesNetworkPolicy → the Kubernetes NetworkPolicy), in its tier."""
    ps, _ = _set(
        tmp_path,
        tier("sec", 10),
        gnp("sec.p", f"tier: sec\n{DENY_CLIENT}"),
        np_("sec.p", "ns1", f"tier: sec\n{DENY_CLIENT}"),
        gnp("sec.p", f"tier: sec\n{DELETE}", kind="StagedGlobalNetworkPolicy"),
        knp("p", "ns1", "podSelector: {}"),
        np_("p", "ns1", DELETE, kind="StagedKubernetesNetworkPolicy"),
    )
    assert ps.enforce(ps.document("sec.staged:p"), replacing="sec.staged:p") is None
    assert "sec.p" not in ps.policies and "ns1/sec.p" in ps.policies
    assert ps.enforce(ps.document("ns1/staged:knp.default.p")) is None
    assert set(ps.policies) == {"ns1/sec.p"}
    assert ps.history[-1].label == "Enforce deletion of ns1/knp.default.p"


def test_staged_delete_enforced_from_yaml_text_as_the_editor_sends_it(tmp_path: Path) -> None:
    ps, _ = _set(tmp_path, np_("p", "ns1", DENY_CLIENT), np_("p", "ns1", DELETE, kind="StagedNetworkPolicy"))
    text = to_yaml(ps.document("ns1/default.staged:p"))
    assert "stagedAction: Delete" in text
    assert ps.enforce(text, replacing="ns1/default.staged:p") is None
    assert ps.policies == {}


def test_staged_delete_with_nothing_to_delete_is_refused(tmp_path: Path) -> None:
    ps, _ = _set(tmp_path, np_("q", "ns1", DENY_CLIENT))
    doc = {
        "apiVersion": "projectcalico.org/v3",
        "kind": "StagedNetworkPolicy",
        "metadata": {"name": "p", "namespace": "ns1"},
        "spec": {"stagedAction": "Delete"},
    }
    with pytest.raises(PolicyEditError, match="no policy 'ns1/default.p'"):
        ps.enforce(doc)
    assert not ps.history and set(ps.policies) == {"ns1/default.q"}


def test_preview_of_a_staged_delete_previews_the_deletion(tmp_path: Path) -> None:
    """§2.13 / §4.3: Preview shows the state Enforce would give, without changing anything."""
    ps, _ = _set(tmp_path, np_("p", "ns1", DENY_CLIENT), np_("p", "ns1", DELETE, kind="StagedNetworkPolicy"))
    before = dict(ps.policies)
    after = ps.preview_state(to_yaml(ps.document("ns1/default.staged:p")), "ns1/default.staged:p")
    assert dict(after.policies) == {}
    assert dict(ps.policies) == before and not ps.history


@pytest.mark.parametrize("action", ["Learn", "Ignore", "Set"])
def test_learn_and_ignore_enforce_their_spec_like_set(tmp_path: Path, action: str) -> None:
    """§2.13 lists Learn and Ignore but says nothing of their Enforce; their spec is a full
    policy spec, so Enforce applies it as for Set: the enforced policy gets it, the staged one
    goes."""
    ps, world = _set(
        tmp_path,
        np_("p", "ns1", DENY_CLIENT),
        np_("p", "ns1", f"stagedAction: {action}\n{ALLOW_CLIENT}", kind="StagedNetworkPolicy"),
    )
    policy = ps.enforce(ps.document("ns1/default.staged:p"), replacing="ns1/default.staged:p")
    assert policy is not None and policy.key == "ns1/default.p" and policy.kind == "NetworkPolicy"
    assert "stagedAction" not in ps.document("ns1/default.p")["spec"]
    assert set(ps.policies) == {"ns1/default.p"}
    assert ps.history[-1].label == "Enforce ns1/default.p"
    assert _verdict(ps, world) == ["0|default|ns1/default.p|allow|0"]
