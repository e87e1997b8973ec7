"""How the Flow Visualizer reads: the chart follows a dark palette, the legend and the notes
never overlap, non-namespaced ends are named in Calico/Whisker words (calico.md §1.2) in
dropdowns, tables, tooltips and ring labels, and the "Last …" presets say which absolute range
they cover (counted back from the newest flow log)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from PySide6.QtCore import QRectF
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QPalette
from viz_helpers import mouse_move as hover
from viz_helpers import wait_rendered as wait

from desktopviz.core.flowgraph import Flow
from desktopviz.core.geometry import fit_labels, polar
from desktopviz.ui.visualizer import FlowVisualizer
from desktopviz.ui.visualizer_text import BUTTONS, legend_layout

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints")
T0 = 1_767_225_600


def flow(src: str, dst: str, action: str = "allow", conns: float = 5, stype: str = "wep", dtype: str = "wep"):
    (sn, sa), (dn, da) = src.split(":"), dst.split(":")
    return Flow(
        sn,
        sa,
        stype,
        dn,
        da,
        dtype,
        action,
        connections=conns,
        packets=conns,
        bytes=conns * 100,
        start=T0,
        end=T0 + 300,
    )


FLOWS = [
    flow("storefront:frontend-*", "-:pub", conns=8, dtype="net"),
    flow("-:public-ip-range", "storefront:frontend-*", conns=12, stype="ns"),
    flow("storefront:backend-*", "-:pvt", "deny", 3, dtype="net"),
    flow("storefront:frontend-*", "storefront:backend-*", conns=10),
]


@pytest.fixture
def viz(qtbot):
    w = FlowVisualizer()
    qtbot.addWidget(w)
    w.resize(1400, 900)
    w.show()
    w.set_flows(FLOWS)
    wait(qtbot, w)
    yield w
    w.shutdown()


def dark_palette() -> QPalette:
    p = QPalette()
    for role, colour in (
        (QPalette.ColorRole.Window, "#202124"),
        (QPalette.ColorRole.Base, "#1b1c1f"),
        (QPalette.ColorRole.Text, "#e8eaed"),
        (QPalette.ColorRole.WindowText, "#e8eaed"),
        (QPalette.ColorRole.Button, "#2d2f33"),
        (QPalette.ColorRole.ButtonText, "#e8eaed"),
        (QPalette.ColorRole.ToolTipBase, "#2d2f33"),
        (QPalette.ColorRole.ToolTipText, "#e8eaed"),
    ):
        p.setColor(role, QColor(colour))
    return p


def test_the_chart_is_dark_under_a_dark_palette_with_light_labels(qtbot, viz):
    img = viz.canvas.grab().toImage()
    assert img.pixelColor(8, 8).lightnessF() > 0.9  # light palette: light chart
    with qtbot.waitSignal(viz.rendered, timeout=30000):
        viz.setPalette(dark_palette())
    wait(qtbot, viz)
    img = viz.canvas.grab().toImage()
    assert img.pixelColor(8, 8).lightnessF() < 0.2
    assert img.pixelColor(8, img.height() - 8).lightnessF() < 0.2
    # the name labels outside the circle are drawn in the palette's text colour
    lay = viz.current_layout()
    vp = viz.canvas.viewport()
    bright = 0
    for lb in fit_labels(lay, vp.R):
        if lb.kind != "name":
            continue
        x, y = vp.to_px(lb.x, lb.y)
        for dx in range(-30, 31):
            for dy in range(-30, 31):
                c = img.pixelColor(int(x) + dx, int(y) + dy)
                if c.lightnessF() > 0.75 and c.saturationF() < 0.15:
                    bright += 1
    assert bright > 40


def test_legend_and_notes_never_overlap_at_any_width():
    font = QFont()
    font.setPixelSize(12)
    fm = QFontMetricsF(font)
    items = ["Allowed", "Denied", "Denied by remote", "Unknown", "Uncertain", "Changed"]
    notes = ["37 small names merged into “(other)”", "812 small flows shown on the inner ring only"]
    for w in (1600, 1203, 1000, 800, 600, 420, 360):
        plan = legend_layout(
            w,
            900,
            fm.height() + 4,
            fm.horizontalAdvance("Legend:"),
            [fm.horizontalAdvance(t) for t in items],
            [fm.horizontalAdvance(n) for n in notes],
        )
        boxes = plan.boxes
        assert len(boxes) == 1 + len(items) + len(notes)
        buttons = QRectF(w - BUTTONS[0], 0, BUTTONS[0], BUTTONS[1])  # the chart's tool buttons
        for i, a in enumerate(boxes):
            assert a.left() >= 0 and a.right() <= w, (w, a)
            assert not a.intersects(buttons), (w, a)
            for b in boxes[i + 1 :]:
                assert not a.intersects(b), (w, a, b)


def test_a_window_1600_wide_keeps_the_note_off_the_legend(qtbot):
    """Many small names: the "merged" note and the legend both drawn, apart."""
    w = FlowVisualizer()
    qtbot.addWidget(w)
    w.resize(1600, 1000)
    w.show()
    many = [
        flow("storefront:frontend-*", f"ns{i % 7}:app{i}-*", conns=1 if i > 10 else 400) for i in range(600)
    ]
    w.set_flows(many)
    wait(qtbot, w)
    scene = w._result.scene
    assert "small names merged" in scene.note
    glyphs = w._glyphs.snapshot()
    keys = [(n, 12, False) for n in scene.note.split("; ")]
    assert all(k in glyphs for k in keys)  # drawn (the GUI thread made what the worker lacked)
    title = glyphs[("Legend:", 12, True)]
    from desktopviz.ui.visualizer_labels import legend_items

    iw = [glyphs[(t, 12, False)].advance for _, t in legend_items(scene)]
    plan = legend_layout(
        w.canvas.width(),
        w.canvas.height(),
        title.height + 4,
        title.advance,
        iw,
        [glyphs[k].advance for k in keys],
    )
    for i, a in enumerate(plan.boxes):
        for b in plan.boxes[i + 1 :]:
            assert not a.intersects(b)
    w.shutdown()


def test_non_namespaced_ends_are_named_global_and_public_or_private_network(qtbot, viz):
    names = [viz.panel.name_box.itemText(i) for i in range(viz.panel.name_box.count())]
    assert "Public network" in names and "Private network" in names
    assert "Global:public-ip-range" in names
    assert not any(n.startswith("-:") or n in ("pub", "pvt") for n in names)
    namespaces = [viz.panel.ns_box.itemText(i) for i in range(viz.panel.ns_box.count())]
    assert "Global" in namespaces and "-" not in namespaces
    flows = [viz.panel.flow_box.itemText(i) for i in range(viz.panel.flow_box.count())]
    assert any("→ Public network" in f for f in flows)
    assert any(f.startswith("Global:public-ip-range →") for f in flows)
    viz.set_view("names")
    wait(qtbot, viz)
    tables = viz.panel.allowed.labels() + viz.panel.denied.labels()
    assert "Global:public-ip-range" in tables and not any("-:" in t for t in tables)
    assert viz.panel.denied.peers("storefront:backend-*") == ["Private network"]
    lay = viz.current_layout()
    texts = {lb.text for lb in fit_labels(lay, viz.canvas.viewport().R)}
    assert {"Public network", "Private network", "Global"} <= texts
    # the tooltip names it the same way; the selection keeps Calico's raw key for other views
    seg = next(s for s in lay.names if s.name == "pub")
    R = lay.radii
    hover(viz, viz.canvas.unit_to_widget(*polar((R.name_inner + R.name_outer) / 2, seg.mid)))
    assert viz.canvas.tooltip_text.splitlines()[0] == "Public network"
    assert viz.panel.name_box.currentText() == "Public network"
    j = next(j for j, lf in enumerate(lay.flows) if lf.dst == ("-", "pub"))
    d = viz._flow_dict(lay.flows[j], j)
    assert d["dest"] == "-:pub" and d["dest_label"] == "Public network"


def test_last_minutes_presets_show_the_absolute_range_of_the_data(qtbot, tmp_path):
    from desktopviz.core.flowlog import FlowLog
    from desktopviz.core.store import FlowStore

    end = T0 + 7200
    log = FlowLog(
        start_time=end - 300,
        end_time=end,
        source_ip=None,
        source_name="-",
        source_name_aggr="frontend-*",
        source_namespace="storefront",
        source_type="wep",
        source_port=None,
        source_labels=None,
        dest_ip=None,
        dest_name="-",
        dest_name_aggr="pub",
        dest_namespace="-",
        dest_type="net",
        dest_port=443,
        dest_labels=None,
        proto="tcp",
        action="allow",
        reporter="src",
        num_flows=1,
    )
    with FlowStore(tmp_path / "s.db") as st:
        st.insert([log])
    w = FlowVisualizer()
    qtbot.addWidget(w)
    w.set_store(tmp_path / "s.db")
    wait(qtbot, w)
    w.filter_bar.set_preset(3600)
    wait(qtbot, w)
    tip = w.filter_bar.time_box.toolTip()

    def utc(t: int) -> str:
        return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S")

    assert "counted back from the newest flow log" in tip
    assert f"{utc(end - 3600)} – {utc(end)} UTC" in tip
    w.shutdown()


def test_traffic_tables_pass_the_model_tester_and_update_numbers_in_place(qtbot, qtmodeltester, viz):
    model = viz.panel.allowed.model_
    qtmodeltester.check(model)
    resets: list[int] = []
    model.modelReset.connect(lambda: resets.append(1))
    more = [Flow(**{**f.__dict__, "connections": f.connections * 3}) for f in FLOWS]
    viz.set_flows(more)  # same rows and peers, new numbers
    wait(qtbot, viz)
    assert resets == []
    qtmodeltester.check(model)


@pytest.mark.parametrize("size", [(900, 560), (1500, 900)])
def test_the_circle_fills_the_chart_and_labels_keep_off_the_legend_and_buttons(qtbot, size):
    """The circle takes most of the chart (not a dot in a sea of margin on a laptop screen);
    the names run outwards as far as there is room, never under the legend, the notes or the
    tool buttons, and never off the chart."""
    import math

    from desktopviz.ui.visualizer_labels import _label_groups, legend_items
    from desktopviz.ui.visualizer_text import legend_layout

    w = FlowVisualizer()
    qtbot.addWidget(w)
    w.resize(*size)
    w.show()
    long = [
        flow(
            f"ns{i % 5}:a-very-long-workload-name-{i:02d}-5d9f8c7b6a-*",
            f"ns{(i + 1) % 5}:svc{i}-*",
            conns=20 + i,
        )
        for i in range(30)
    ]
    w.set_flows(long)
    wait(qtbot, w)
    c = w.canvas
    cw, ch = c.width(), c.height()
    vp = c.viewport()
    assert 2 * vp.R >= 0.55 * min(cw, ch - 30), (cw, ch, vp.R)
    scene = w._result.scene
    glyphs = w._glyphs.snapshot()
    title = glyphs[("Legend:", 12, True)]
    iw = [glyphs[(t, 12, False)].advance for _, t in legend_items(scene)]
    nk = [(n, 12, False) for n in scene.note.split("; ") if n]
    plan = legend_layout(cw, ch, title.height + 4, title.advance, iw, [glyphs[k].advance for k in nk])
    bar = c._bar.geometry()
    names = [(keys, lb) for keys, lb in _label_groups(scene, vp, cw, ch) if lb.kind == "name"]
    assert len(names) >= 10 and any(lb.text.endswith("…") for _, lb in names)
    for keys, lb in names:
        g = glyphs.get(keys[0])
        assert g is not None  # drawn
        x, y = vp.to_px(lb.x, lb.y)
        n = math.hypot(lb.x, lb.y)
        for k in range(1, 11):  # points along the text, outwards from the ring
            px, py = x + lb.x / n * g.advance * k / 10, y + lb.y / n * g.advance * k / 10
            assert 0 <= px <= cw and 0 <= py <= ch, (lb.text, px, py)
            assert not bar.contains(int(px), int(py)), lb.text
            assert not any(b.contains(px, py) for b in plan.boxes), lb.text
    w.shutdown()


def test_before_any_data_the_chart_says_why_it_is_empty(qtbot):
    w = FlowVisualizer()
    qtbot.addWidget(w)
    w.resize(1000, 700)
    w.show()
    assert "No flow logs yet" in w.canvas.empty_text
    img = w.canvas.grab().toImage()
    mid = img.height() // 2
    dark = sum(
        1
        for x in range(0, img.width(), 2)
        for y in range(mid - 30, mid + 30)
        if img.pixelColor(x, y).lightnessF() < 0.6
    )
    assert dark > 50  # text drawn in the middle
    assert w.panel.ns_box.currentText() == "All Namespaces" and w.panel.flow_box.currentText() == "All Flows"
    w.shutdown()
