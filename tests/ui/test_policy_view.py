"""The policy view on its own: rules as sentences at once, numbers when the store answers,
staged policies with their would-be (pending) metrics, Show flows for the whole policy."""

from __future__ import annotations

from pathlib import Path

import pytest

from desktopviz.core.board import layout_from_cluster
from desktopviz.core.scenario import load_scenario
from desktopviz.core.simulator import Simulator
from desktopviz.core.store import FlowStore
from desktopviz.ui.policy_view import PolicyView

STOREFRONT = Path(__file__).resolve().parents[2] / "scenarios" / "storefront"
pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints")  # the offscreen platform


@pytest.fixture(scope="module")
def layout():
    return layout_from_cluster(load_scenario(STOREFRONT))


@pytest.fixture(scope="module")
def run_db(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("view_ui") / "run.db"
    sim = Simulator(load_scenario(STOREFRONT))
    with FlowStore(path) as store:
        store.insert(sim.advance(240))
        sim.fire("deploy-rogue")
        store.insert(sim.advance(240))
    return path


@pytest.fixture
def view(qtbot):
    v = PolicyView()
    qtbot.addWidget(v)
    v.resize(1100, 900)
    v.show()
    yield v
    v.shutdown()


def test_rules_show_at_once_then_their_metrics(qtbot, view, layout, run_db):
    view.show_policy(layout.find("storefront/default.trusted"), "Deny")
    assert set(view.rule_widgets) == {
        ("ingress", 0),
        ("ingress", 1),
        ("ingress", 2),
        ("egress", 0),
        ("egress", 1),
        ("egress", 2),
        ("ingress", -1),
        ("egress", -1),
    }
    first = view.rule_widgets[("ingress", 0)]
    assert (
        "fw-zone == &#x27;dmz&#x27;" in first.sentence.text() or "fw-zone == 'dmz'" in first.sentence.text()
    )
    assert "n/a" in first.metrics.text()
    assert (
        "fw-zone == 'trusted'" in view.facts.text() or "fw-zone == &#x27;trusted&#x27;" in view.facts.text()
    )
    with qtbot.waitSignal(view.updated, timeout=10000):
        view.set_store(run_db)
    assert view.detail.ingress[0].metrics.allowed.connections > 0
    assert "frontend-" in first.peers.text()
    assert "connections" in view.totals.text()
    eot = view.rule_widgets[("ingress", -1)]
    assert "End of tier default" in eot.sentence.text() and "Deny" in eot.sentence.text()


def test_staged_policy_shows_what_it_would_do(qtbot, view, layout, run_db):
    view.set_store(run_db)
    with qtbot.waitSignal(view.updated, timeout=10000):
        view.show_policy(layout.find("storefront/default.staged:restricted"), "Deny")
    assert "STAGED" in view.title.text()
    assert "would be decided" in view.totals.text()
    assert view.detail.ingress[2].metrics.denied.connections > 0
    assert "microservice2-" in view.rule_widgets[("ingress", 2)].peers.text()


def test_show_flows_for_the_policy(qtbot, view, layout, run_db):
    view.set_store(run_db)
    view.show_policy(layout.find("security.block-feodo"), "Deny")
    with qtbot.waitSignal(view.showFlows) as sig:
        view.flows_button.click()
    assert sig.args == ['policy = "security.block-feodo" and trace = enforced']


def test_rule_metrics_line_up_and_rows_without_data_take_one_line(qtbot, view, layout, run_db):
    view.show_policy(layout.find("storefront/default.trusted"), "Deny")
    with qtbot.waitSignal(view.updated, timeout=10000):
        view.set_store(run_db)
    widgets = view.rule_widgets
    lefts = {w.metrics.mapTo(view, w.metrics.rect().topLeft()).x() for w in widgets.values()}
    widths = {w.metrics.width() for w in widgets.values()}
    assert len(lefts) == 1 and len(widths) == 1  # one column of tables, the same width
    allow = widgets[("ingress", 0)].metrics.text()
    assert "inbound ↓" in allow and "outbound ↑" in allow and "total" in allow
    # Allowed traffic: packets/s and bytes/s; Denied and Passed: one n/a line each
    assert allow.count("pkts/s") == 1 and allow.count("bytes/s") == 1
    assert ">Denied</td>" in allow and ">Passed</td>" in allow
    quiet = widgets[("egress", 2)].metrics.text()
    assert "n/a" in quiet and "no traffic" in quiet and "<table" not in quiet
    # the two end-of-tier rows say which direction fell through
    assert "ingress, end of tier" in widgets[("ingress", -1)].sentence.text()
    assert "egress, end of tier" in widgets[("egress", -1)].sentence.text()


def test_no_policy_selected_says_how_to_open_one(qtbot, view, layout):
    assert "No policy selected" in view.title.text() and "Policy Board" in view.title.text()
    assert not view.flows_button.isEnabled()
    view.show_policy(layout.find("storefront/default.trusted"), "Deny")
    assert view.flows_button.isEnabled()
