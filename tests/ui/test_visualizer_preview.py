"""What-if preview in the Flow Visualizer (calico.md §4.3 Preview): with an edited policy set
the picture shows the flows as they would be; flows the engine cannot decide from the record
are marked uncertain (grey, hatched), never guessed; "← Back" returns to the live data."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from viz_helpers import mouse_move as hover
from viz_helpers import wait_rendered as wait

from desktopviz.core.geometry import polar
from desktopviz.ui.visualizer import FlowVisualizer
from desktopviz.ui.visualizer_labels import legend_items

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints")
STOREFRONT = Path(__file__).resolve().parents[2] / "scenarios" / "storefront"
TRUSTED = "storefront/default.trusted"


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """Storefront: 2 minutes, the rogue pod, 4 minutes more (its flows to the trusted zone
    are denied by storefront/default.trusted)."""
    from desktopviz.core.scenario import load_scenario
    from desktopviz.core.simulator import Simulator
    from desktopviz.core.store import FlowStore

    sim = Simulator(load_scenario(STOREFRONT), seed=5)
    logs = sim.advance(120)
    sim.fire("deploy-rogue")
    logs += sim.advance(240) + sim.flush()
    path = tmp_path_factory.mktemp("preview") / "run.db"
    with FlowStore(path) as store:
        store.insert(logs)
    return path


def whatif(path, edit):
    from desktopviz.core.policy_edit import PolicySet
    from desktopviz.core.scenario import load_scenario
    from desktopviz.core.store import FlowStore
    from desktopviz.core.whatif import evaluate_whatif

    scenario = load_scenario(STOREFRONT)
    ps = PolicySet.from_cluster(scenario.cluster)
    edit(ps)
    with FlowStore(path, readonly=True) as store:
        return evaluate_whatif(store, scenario.cluster, ps.base, ps.state)


def allow_rogue(ps) -> None:
    doc = ps.document(TRUSTED)
    doc["spec"]["ingress"].insert(0, {"action": "Allow", "source": {"selector": "app == 'rogue'"}})
    ps.replace(TRUSTED, doc)


def split_customers(ps) -> None:
    """A dmz rule now allows only part of the customers' range: aggregated-away addresses
    cannot tell which part they came from."""
    doc = ps.document("storefront/default.dmz")
    doc["spec"]["ingress"][0]["source"]["nets"] = ["18.0.0.0/24"]
    ps.replace("storefront/default.dmz", doc)


@pytest.fixture(scope="module")
def rogue_allowed(recorded):
    return whatif(recorded, allow_rogue)


@pytest.fixture(scope="module")
def customers_split(recorded):
    return whatif(recorded, split_customers)


@pytest.fixture
def viz(qtbot, recorded):
    w = FlowVisualizer()
    qtbot.addWidget(w)
    w.resize(1400, 900)
    w.show()
    w.set_store(recorded)
    w.filter_bar.set_preset(None)  # all time: the what-if covers the whole run
    wait(qtbot, w)
    yield w
    w.shutdown()


def rogue_to_trusted(w: FlowVisualizer):
    return [
        f
        for f in w.shown_flows()
        if f.src_name.startswith("rogue-") and f.dst_name.startswith(("microservice1-", "microservice2-"))
    ]


def test_changes_applied_shows_the_rogue_flows_allowed_and_marked_changed(qtbot, viz, rogue_allowed):
    live = rogue_to_trusted(viz)
    assert live and all(f.status == "denied" and not f.changed for f in live)
    viz.set_preview(rogue_allowed)
    wait(qtbot, viz)
    assert viz.banner.isVisible()
    assert viz.banner.text.text() == (
        f"Preview: {TRUSTED} — 2 flows change (0 allow → deny, 2 deny → allow), 0 uncertain"
    )
    assert viz.banner.applied.isChecked() and not viz.banner.only_changed.isChecked()
    flows = rogue_to_trusted(viz)
    assert len(flows) == 2 and all(f.status == "allowed" and f.changed for f in flows)
    assert all(f.before_action == "deny" for f in flows)
    lay = viz.current_layout()
    changed = [lf for lf in lay.flows if lf.changed]
    assert changed and all(lf.src[1].startswith("rogue-") for lf in changed)
    assert ("changed", "Changed") in legend_items(viz._result.scene)
    # the rest of the picture is the recorded one: frontend → microservices still allowed
    assert any(f.src_name.startswith("frontend-") and f.status == "allowed" for f in viz.shown_flows())


def test_the_toggles_show_the_record_and_only_the_changed_flows(qtbot, viz, rogue_allowed):
    viz.set_preview(rogue_allowed)
    wait(qtbot, viz)
    viz.banner.applied.setChecked(False)  # as recorded, still marked as what the edit changes
    wait(qtbot, viz)
    assert viz.preview().applied is False
    flows = rogue_to_trusted(viz)
    assert flows and all(f.status == "denied" and f.changed for f in flows)
    viz.banner.applied.setChecked(True)
    viz.banner.only_changed.setChecked(True)
    wait(qtbot, viz)
    shown = viz.shown_flows()
    assert shown and all(f.changed or f.uncertain for f in shown)
    assert {(f.src_name.split("-")[0], f.dst_name.split("-")[0]) for f in shown} == {
        ("rogue", "microservice1"),
        ("rogue", "microservice2"),
    }


def test_flows_the_record_cannot_decide_are_grey_hatched_and_uncertain(qtbot, viz, customers_split):
    viz.set_preview(customers_split)
    viz.set_view("status")
    wait(qtbot, viz)
    assert "uncertain" in viz.banner.text.text() and not viz.banner.text.text().endswith(" 0 uncertain")
    unsure = [f for f in viz.shown_flows() if f.uncertain]
    assert unsure and all("-" in (f.src_namespace, f.dst_namespace) for f in unsure)
    assert all(f.status == "allowed" for f in unsure)  # the recorded verdict kept, not guessed
    assert all(any("nets" in r for r in f.reasons) for f in unsure)
    lay = viz.current_layout()
    assert ("uncertain", "Uncertain") in legend_items(viz._result.scene)
    js = [j for j, lf in enumerate(lay.flows) if lf.uncertain]
    assert {e.status for e in lay.ends if e.flow in js} == {"uncertain"}
    # the biggest uncertain chord is grey where an allowed one would be green
    j = max((j for j in js if lay.flows[j].chord is not None), key=lambda j: lay.flows[j].value)
    end = next(e for e in lay.ends if e.flow == j and e.side == "src")
    img = viz.canvas.grab().toImage()
    greys = 0
    for frac in (0.97, 0.95, 0.93, 0.91):
        c = img.pixelColor(viz.canvas.unit_to_widget(*polar(lay.radii.chord * frac, end.mid)))
        assert abs(c.green() - c.red()) < 30 and abs(c.green() - c.blue()) < 30, c.name()
        greys += 1
    assert greys == 4
    # hovering it says why
    seg = next(e for e in lay.ends if e.flow == j)
    R = lay.radii
    hover(viz, viz.canvas.unit_to_widget(*polar((R.flow_inner + R.flow_outer) / 2, seg.mid)))
    assert "uncertain" in viz.canvas.tooltip_text and "nets" in viz.canvas.tooltip_text


def test_back_returns_to_the_live_data_and_refresh_does_not_disturb_the_preview(qtbot, viz, rogue_allowed):
    viz.set_preview(rogue_allowed, only_changed=True)
    wait(qtbot, viz)
    n = len(viz.shown_flows())
    viz.refresh()  # new data in the store: the preview stays
    wait(qtbot, viz)
    assert len(viz.shown_flows()) == n and viz.preview() is not None
    qtbot.mouseClick(viz.banner.back, Qt.MouseButton.LeftButton)
    wait(qtbot, viz)
    assert viz.preview() is None and not viz.banner.isVisible()
    assert viz.filter_bar.isEnabled()
    flows = rogue_to_trusted(viz)
    assert flows and all(f.status == "denied" and not f.changed for f in flows)
    assert len(viz.shown_flows()) > n


def test_selecting_a_changed_flow_lists_the_rule_that_decides_it_now(qtbot, viz, rogue_allowed):
    viz.set_preview(rogue_allowed, only_changed=True)
    wait(qtbot, viz)
    lay = viz.current_layout()
    j = next(j for j, lf in enumerate(lay.flows) if lf.changed)
    viz._select(viz._flow_dict(lay.flows[j], j))
    entries = [viz.panel.policies.item(i).text() for i in range(viz.panel.policies.count())]
    assert entries == [f"2|default|{TRUSTED}|allow|0"]
    assert "with the edit" in viz.panel.policies_label.text()
