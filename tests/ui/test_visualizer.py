"""The Flow Visualizer as the lab uses it (seed "Using the Flow Visualizer", calico.md §4.1):
hover names a segment in the panel, select + zoom, the Status view after the rogue pod,
the denied filter, policies of an endpoint and of a flow, the top filter bar, export."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QColor, QImage, QWheelEvent
from PySide6.QtWidgets import QApplication
from viz_helpers import mouse_move as move
from viz_helpers import wait_rendered

from desktopviz.core.geometry import polar
from desktopviz.ui.visualizer import FlowVisualizer

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints")
STOREFRONT = Path(__file__).resolve().parents[2] / "scenarios" / "storefront"


@pytest.fixture(scope="module")
def storefront_db(tmp_path_factory):
    """Storefront simulated 5 minutes, then the rogue pod deployed, 5 minutes more."""
    from desktopviz.core.scenario import load_scenario
    from desktopviz.core.simulator import Simulator
    from desktopviz.core.store import FlowStore

    scenario = load_scenario(STOREFRONT)
    sim = Simulator(scenario, seed=3)
    logs = sim.advance(300)
    sim.fire("deploy-rogue")
    logs += sim.advance(300)
    logs += sim.flush()
    path = tmp_path_factory.mktemp("viz") / "storefront.db"
    store = FlowStore(path)
    store.insert(logs)
    store.close()
    return path


@pytest.fixture
def viz(qtbot, storefront_db):
    w = FlowVisualizer()
    qtbot.addWidget(w)
    w.resize(1400, 900)
    w.show()
    w.set_store(storefront_db)
    wait_rendered(qtbot, w)
    yield w
    w.shutdown()


def ring_point(w: FlowVisualizer, ring: str, pred) -> QPoint:
    lay = w.current_layout()
    seg = next(s for s in getattr(lay, ring) if pred(s))
    R = lay.radii
    r = {
        "namespaces": (R.ns_inner + R.ns_outer) / 2,
        "names": (R.name_inner + R.name_outer) / 2,
        "ends": (R.flow_inner + R.flow_outer) / 2,
    }[ring]
    return w.canvas.unit_to_widget(*polar(r, seg.mid))


def click(qtbot, w: FlowVisualizer, pos: QPoint) -> None:
    qtbot.mouseClick(w.canvas, Qt.MouseButton.LeftButton, pos=pos)


def pixel(w: FlowVisualizer, pos: QPoint) -> QColor:
    img: QImage = w.canvas.grab().toImage()
    return img.pixelColor(pos)


def test_hovering_a_namespace_segment_names_it_in_the_panel(viz):
    move(viz, ring_point(viz, "namespaces", lambda s: s.namespace == "storefront"))
    assert viz.panel.ns_box.currentText() == "storefront"
    assert "Namespace storefront" in viz.canvas.tooltip_text
    assert "CPS" in viz.panel.details.text()
    move(viz, ring_point(viz, "names", lambda s: s.name.startswith("backend-")))
    assert viz.panel.name_box.currentText().startswith("storefront:backend-")
    # leaving the circle puts the selection (none) back
    move(viz, QPoint(5, 5))
    assert viz.panel.ns_box.currentText() == "All Namespaces"


def test_click_then_zoom_shows_only_that_namespace_and_its_peers(qtbot, viz):
    full = {(s.namespace, s.name) for s in viz.current_layout().names}
    assert ("acme", "payments-db-*") in full
    with qtbot.waitSignal(viz.selectionChanged) as sig:
        click(qtbot, viz, ring_point(viz, "namespaces", lambda s: s.namespace == "storefront"))
    assert sig.args[0] == {"kind": "namespace", "namespace": "storefront", "flows": sig.args[0]["flows"]}
    qtbot.mouseClick(viz.canvas.buttons["zoom_in"], Qt.MouseButton.LeftButton)
    wait_rendered(qtbot, viz)
    lay = viz.current_layout()
    assert all("storefront" in (lf.src[0], lf.dst[0]) for lf in lay.flows)
    names = {(s.namespace, s.name) for s in lay.names}
    assert ("acme", "payments-db-*") not in names  # not a peer of storefront
    assert any(ns == "kube-system" for ns, _ in names)  # coredns is a peer
    assert {ns for ns, _ in names} >= {"storefront", "kube-system"}
    # Escape zooms back out
    viz.canvas.setFocus()
    qtbot.keyClick(viz.canvas, Qt.Key.Key_Escape)
    wait_rendered(qtbot, viz)
    assert {(s.namespace, s.name) for s in viz.current_layout().names} == full


def test_double_click_on_a_name_zooms_into_it(qtbot, viz):
    pos = ring_point(viz, "names", lambda s: s.name.startswith("logging-"))
    qtbot.mouseDClick(viz.canvas, Qt.MouseButton.LeftButton, pos=pos)
    wait_rendered(qtbot, viz)
    lay = viz.current_layout()
    assert lay.flows and all(
        lf.src[1].startswith("logging-") or lf.dst[1].startswith("logging-") for lf in lay.flows
    )


def test_status_view_shows_red_chords_starting_at_the_rogue_pod(qtbot, viz):
    viz.set_view("status")
    wait_rendered(qtbot, viz)
    lay = viz.current_layout()
    rogue_out = [
        (j, lf) for j, lf in enumerate(lay.flows) if lf.src[1].startswith("rogue-") and lf.status == "denied"
    ]
    assert len(rogue_out) >= 5  # backend, frontend, logging, microservice1, microservice2 (+ feeds)
    img = viz.canvas.grab().toImage()
    reds = 0
    for j, lf in rogue_out:
        if lf.chord is None:
            continue
        end = next(e for e in lay.ends if e.flow == j and e.side == "src")
        if end.span * viz.canvas.viewport().R < 4:
            continue
        for frac in (0.97, 0.93):
            c = img.pixelColor(viz.canvas.unit_to_widget(*polar(lay.radii.chord * frac, end.mid)))
            assert c.red() > 170 and c.green() < 150 and c.blue() < 110, (lf.dst, c.name())
        reds += 1
    assert reds >= 5
    # an allowed chord is green
    j, lf = next((j, lf) for j, lf in enumerate(lay.flows) if lf.status == "allowed" and lf.chord is not None)
    end = next(e for e in lay.ends if e.flow == j and e.side == "src")
    c = img.pixelColor(viz.canvas.unit_to_widget(*polar(lay.radii.chord * 0.97, end.mid)))
    assert c.green() > c.red() + 40


def _chord_start_pixel(w, lay, j):
    end = next(e for e in lay.ends if e.flow == j and e.side == "src")
    return w.canvas.unit_to_widget(*polar(lay.radii.chord * 0.96, end.mid))


def test_denied_filter_hides_green_flows(qtbot, viz):
    viz.set_view("status")
    lay = viz.current_layout()
    green = [
        (lf.src, lf.dst)
        for j, lf in enumerate(lay.flows)
        if lf.status == "allowed"
        and lf.chord is not None
        and pixel(viz, _chord_start_pixel(viz, lay, j)).green()
        > pixel(viz, _chord_start_pixel(viz, lay, j)).red() + 40
    ]
    assert len(green) >= 5
    viz.panel.status_box.setCurrentIndex(viz.panel.status_box.findText("Denied"))
    wait_rendered(qtbot, viz)
    assert viz.shown_flows() and all(f.status == "denied" for f in viz.shown_flows())
    lay = viz.current_layout()
    assert lay.chords and all(lay.flows[c.flow].status == "denied" for c in lay.chords)
    img = viz.canvas.grab().toImage()
    for j, lf in enumerate(lay.flows):
        if (lf.src, lf.dst) in green:  # where a green chord started there is no green any more
            c = img.pixelColor(_chord_start_pixel(viz, lay, j))
            assert not (c.green() > c.red() + 40), (lf.src, lf.dst, c.name())
    assert viz.panel.allowed.labels() == []
    assert any(lbl.startswith("storefront:rogue-") for lbl in viz.panel.denied.labels())


def test_selecting_a_name_shows_the_policies_applied_to_it(qtbot, viz):
    from desktopviz.core.policy import PolicyEngine
    from desktopviz.core.scenario import load_scenario

    viz.set_engine(PolicyEngine(load_scenario(STOREFRONT).cluster))
    click(qtbot, viz, ring_point(viz, "names", lambda s: s.name.startswith("backend-")))
    m = re.fullmatch(r"(\d+) policies applied to the endpoint", viz.panel.policies_label.text())
    assert m and int(m.group(1)) >= 1
    assert viz.panel.policies.count() == int(m.group(1))
    item = viz.panel.policies.item(0)
    with qtbot.waitSignal(viz.policyActivated) as sig:
        viz.panel.policies.itemClicked.emit(item)
    assert sig.args[0] == item.text()


def test_selecting_a_flow_shows_the_policies_that_evaluated_it(qtbot, viz):
    lay = viz.current_layout()
    j = next(
        j
        for j, lf in enumerate(lay.flows)
        if lf.src[1].startswith("rogue-") and lf.dst[1].startswith("backend-")
    )
    end = next(e for e in lay.ends if e.flow == j and e.side == "src")
    pos = viz.canvas.unit_to_widget(*polar(lay.radii.chord * 0.96, end.mid))
    with qtbot.waitSignal(viz.flowSelected) as sig:
        click(qtbot, viz, pos)
    assert sig.args[0]["source"].startswith("storefront:rogue-") and sig.args[0]["status"] == "denied"
    qtbot.waitUntil(lambda: viz.panel.policies.count() > 0, timeout=10000)
    entries = [viz.panel.policies.item(i).text() for i in range(viz.panel.policies.count())]
    assert any("|deny|" in e for e in entries)
    assert viz.panel.flow_box.currentText().startswith("storefront:rogue-")


def test_label_selectors_are_validated_as_typed(qtbot, viz):
    edit = viz.filter_bar.selectors["src"]
    edit.setText("app == ")
    assert "border" in edit.styleSheet()
    assert re.search(r"column \d+", viz.filter_bar.errors["src"].text())
    edit.setText("app == 'rogue'")
    assert edit.styleSheet() == ""
    wait_rendered(qtbot, viz)
    flows = viz.shown_flows()
    assert flows and all(f.src_name.startswith("rogue-") for f in flows)


def test_endpoint_type_filter(qtbot, viz):
    assert any(f.dst_type == "ns" for f in viz.shown_flows())
    viz.filter_bar.types["dst"]["ns"].setChecked(False)
    wait_rendered(qtbot, viz)
    assert viz.shown_flows() and all(f.dst_type != "ns" for f in viz.shown_flows())


def test_time_range_before_the_rogue_pod_has_no_rogue_flows(qtbot, viz, storefront_db):
    from desktopviz.core.store import FlowStore

    with FlowStore(storefront_db, readonly=True) as st:
        lo, _hi = st.time_range()
    viz.set_time_range(lo, lo + 240)
    wait_rendered(qtbot, viz)
    assert viz.shown_flows() and not any(f.src_name.startswith("rogue-") for f in viz.shown_flows())
    with qtbot.waitSignal(viz.timeRangeChanged):
        viz.filter_bar.set_preset(None)
    wait_rendered(qtbot, viz)
    assert any(f.src_name.startswith("rogue-") for f in viz.shown_flows())


def test_wheel_zooms_around_the_cursor(qtbot, viz):
    pos = QPointF(500, 300)
    before = viz.canvas.viewport().to_unit(pos.x(), pos.y())
    ev = QWheelEvent(
        pos,
        QPointF(viz.canvas.mapToGlobal(pos.toPoint())),
        QPoint(0, 0),
        QPoint(0, 240),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(viz.canvas, ev)
    assert viz.canvas.zoom == pytest.approx(1.44)
    after = viz.canvas.viewport().to_unit(pos.x(), pos.y())
    assert after == pytest.approx(before)
    wait_rendered(qtbot, viz)


def test_export_png_and_svg(viz, tmp_path):
    viz.export_image(tmp_path / "v.png")
    img = QImage(str(tmp_path / "v.png"))
    assert not img.isNull() and img.width() >= 400
    viz.export_image(tmp_path / "v.svg")
    text = (tmp_path / "v.svg").read_text(encoding="utf-8")
    assert "<svg" in text and "path" in text


def test_names_view_and_empty_store(qtbot, viz):
    viz.set_view("names")
    wait_rendered(qtbot, viz)
    assert viz.panel.view_buttons["names"].isChecked()
    with pytest.raises(ValueError):
        viz.set_view("bogus")
    viz.set_store(None)
    wait_rendered(qtbot, viz)
    assert viz.current_layout().names == []


def test_many_new_labels_are_made_over_several_turns_with_the_same_picture(
    qtbot, storefront_db, tmp_path, monkeypatch
):
    """A first picture's label outlines are made a few at a time (the GUI thread stays
    responsive) and the picture shown is the same as when they are made at once."""
    import desktopviz.ui.visualizer as visualizer_module
    from desktopviz.ui.visualizer_text import GlyphCache

    def picture(slice_s: float, name: str) -> tuple[QImage, int]:
        monkeypatch.setattr(visualizer_module, "TEXT_SLICE_S", slice_s)
        calls = []
        real = GlyphCache.make_for
        monkeypatch.setattr(
            GlyphCache, "make_for", lambda self, keys, s: calls.append(s) or real(self, keys, s)
        )
        w = FlowVisualizer()
        qtbot.addWidget(w)
        w.resize(1000, 700)
        w.show()
        w.set_store(storefront_db)
        qtbot.waitUntil(lambda: w.is_idle() and w.current_layout() is not None, timeout=30000)
        w.export_image(tmp_path / name)
        w.shutdown()
        return QImage(str(tmp_path / name)), len([s for s in calls if s is not None])

    at_once, turns_at_once = picture(10.0, "once.png")
    spread, turns_spread = picture(0.0, "spread.png")
    assert turns_at_once == 1
    assert turns_spread > 1
    assert spread == at_once


def test_picking_from_the_dropdowns_names_what_was_picked(qtbot, viz):
    panel = viz.panel
    i = panel.ns_box.findText("storefront")
    assert i > 0
    with qtbot.waitSignal(panel.namespacePicked) as sig:
        panel.ns_box.activated.emit(i)
    assert sig.args == ["storefront"]
    i = next(k for k in range(panel.name_box.count()) if panel.name_box.itemText(k).startswith("storefront:"))
    with qtbot.waitSignal(panel.namePicked) as sig:
        panel.name_box.activated.emit(i)
    assert sig.args[0] == "storefront" and sig.args[1]
    with qtbot.waitSignal(panel.flowPicked) as sig:
        panel.flow_box.activated.emit(2)
    assert sig.args == [1]  # the second flow (the first item is All Flows)
    with qtbot.waitSignal(panel.namespacePicked) as sig:
        panel.ns_box.activated.emit(0)
    assert sig.args == [""]  # All Namespaces
