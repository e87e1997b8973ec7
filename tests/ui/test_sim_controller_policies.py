"""The simulation thread and policy edits: tiers reach the simulator, events and resets send
a snapshot of the cluster (with what they changed in policies), edits survive a reset, and
a policy an event already removed is not an error."""

from __future__ import annotations

from desktopviz.core.model import Tier
from desktopviz.core.policy_edit import PolicySet
from desktopviz.core.scenario import load_scenario
from desktopviz.core.simulator import Simulator
from desktopviz.ui.sim_controller import SimController

TRUSTED = "storefront/default.trusted"


def controller(qtbot, scenario, tmp_path, sims):
    def factory(sc, seed):
        sims.append(Simulator(sc, seed=seed))
        return sims[-1]

    ctl = SimController(scenario, tmp_path / "run.db", speed=60.0, sim_factory=factory)
    with qtbot.waitSignal(ctl.store_opened, timeout=20_000):
        ctl.start()
    return ctl


def test_events_and_resets_send_snapshots_and_edits_survive_a_reset(qtbot, storefront_path, tmp_path):
    scenario = load_scenario(storefront_path)
    sims: list[Simulator] = []
    ctl = controller(qtbot, scenario, tmp_path, sims)
    try:
        ps = PolicySet.from_cluster(load_scenario(storefront_path).cluster)
        ps.move("security.pci-whitelist", before="security.quarantine")
        for p in ps.delta().applied:
            ctl.apply_policy(p)
        ctl.set_tier(Tier("team", 150.0, "Pass"))
        with qtbot.waitSignal(ctl.cluster_changed, timeout=10_000) as sig:
            ctl.fire("deploy-rogue")
        snap = sig.args[0]
        assert snap.reason == "deploy-rogue" and snap.policies == {} and snap.tiers == {}
        assert any(p.name.startswith("rogue-") for p in snap.cluster.pods.values())
        assert snap.cluster is not sims[-1].cluster  # a copy the GUI may keep
        assert snap.cluster.policies["security.pci-whitelist"].order < 100  # the edit is in it
        ctl.remove_policy("no-such-policy")  # gone already: not an error
        with qtbot.waitSignal(ctl.cluster_changed, timeout=10_000) as sig:
            ctl.reset(tmp_path / "second.db")
        assert sig.args[0].reason == "reset"
        assert not any(p.name.startswith("rogue-") for p in sig.args[0].cluster.pods.values())
        assert len(sims) == 2
        order = [p.key for p in sims[-1].engine.policies_in_order() if p.tier == "security"]
        assert order[0] == "security.pci-whitelist"  # replayed on the new run
        assert sims[-1].engine.tier("team").order == 150.0
        assert ctl.error is None
    finally:
        ctl.shutdown()


def test_a_simulator_without_tiers_ignores_set_tier(qtbot, fakes, fake_scenario, tmp_path):
    ctl = SimController(
        fake_scenario,
        tmp_path / "fake.db",
        speed=60.0,
        sim_factory=lambda sc, seed: fakes.Simulator(sc, seed),
        store_factory=fakes.Store,
    )
    with qtbot.waitSignal(ctl.store_opened, timeout=10_000):
        ctl.start()
    try:
        ctl.set_tier(Tier("team", 1.0))
        with qtbot.waitSignal(ctl.event_fired, timeout=10_000):
            ctl.fire("rogue")
        qtbot.waitUntil(lambda: fakes.count(ctl.db_path, "deny") > 0, timeout=10_000)
        assert ctl.error is None
    finally:
        ctl.shutdown()
