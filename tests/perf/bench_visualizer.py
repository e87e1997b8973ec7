"""Flow Visualizer speed on a store with 500 names and 5,000 flows, offscreen at 1600×1000.

Prints one JSON line (with CPU time beside wall time: main-thread CPU of the static render and
of the hover frames, the process's CPU and wall seconds): store read, layout, static render (worker part: rings and chords, then
the text filled from label outlines), the GUI-thread time of a finished render while the
time range moves (the figure behind GUI stalls: the worker's picture handed over, dropdowns,
tables; median and max over 24 renders), hover frames (the first frame after the hover changes, which draws the
veil and the ring overlay; steady frames, which blit; and the delay until the worker has
painted the highlighted chords), and hit-test time. The machine load is printed too: on a
shared 2-core machine figures vary several-fold with it.
Targets: frame < 16 ms, static render < 300 ms, hit-test < 1 ms.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from desktopviz.core.flowlog import FlowLog  # noqa: E402

START = time.perf_counter()


def make_logs(n_names: int = 500, n_flows: int = 5000, seed: int = 1) -> list[FlowLog]:
    rnd = random.Random(seed)
    names = [(f"ns-{i % 25:02d}", f"app{i:03d}-{rnd.randrange(16**8):08x}-*") for i in range(n_names)]
    pairs: set[tuple[int, int]] = set()
    while len(pairs) < n_flows:
        a, b = rnd.randrange(n_names), rnd.randrange(n_names)
        if rnd.random() < 0.6:  # most traffic stays inside a namespace
            b = (a // 25) * 25 + rnd.randrange(25) if a // 25 * 25 + 24 < n_names else b
        pairs.add((a, b))
    t0 = 1_700_000_000
    logs = []
    for a, b in pairs:
        (sn, sa), (dn, da) = names[a], names[b]
        action = "deny" if rnd.random() < 0.08 else "allow"
        for rep in ("src", "dst"):
            logs.append(
                FlowLog(
                    start_time=t0,
                    end_time=t0 + 300,
                    source_ip=None,
                    source_name="-",
                    source_name_aggr=sa,
                    source_namespace=sn,
                    source_type="wep",
                    source_port=None,
                    source_labels={"labels": [f"app={sa[:6]}"]},
                    dest_ip=None,
                    dest_name="-",
                    dest_name_aggr=da,
                    dest_namespace=dn,
                    dest_type="wep",
                    dest_port=80,
                    dest_labels={"labels": [f"app={da[:6]}"]},
                    proto="tcp",
                    action=action if rep == "dst" else "allow",
                    reporter=rep,
                    num_flows=max(1, int(rnd.expovariate(0.05))),
                    packets_out=rnd.randrange(10, 1000),
                    bytes_out=rnd.randrange(1000, 100000),
                )
            )
    return logs


def gui_time_per_render(app, w, path: Path) -> list[float]:  # noqa: ANN001
    """GUI-thread ms per finished render (the slot that takes the worker's picture, plus the
    repaint) while the time range grows over 12 five-minute slices of traffic, twice."""
    import dataclasses

    from desktopviz.core.store import FlowStore

    rnd = random.Random(3)
    base = make_logs()
    with FlowStore(path) as st:
        for k in range(1, 12):
            st.insert(
                [
                    dataclasses.replace(
                        log,
                        start_time=log.start_time + k * 300,
                        end_time=log.end_time + k * 300,
                        num_flows=rnd.randint(1, 50),
                    )
                    for log in base
                ]
            )
    times: list[float] = []
    slot = w._on_done

    def timed(res) -> None:  # noqa: ANN001
        t = time.perf_counter()
        slot(res)
        w.canvas.repaint()
        times.append((time.perf_counter() - t) * 1000.0)

    w._signals.done.disconnect()
    w._signals.done.connect(timed)
    t0 = base[0].start_time
    for _ in range(2):
        for k in range(12):
            w.set_time_range(t0, t0 + (k + 1) * 300)
            w.wait_until_idle()  # delivers the result to timed() on this thread
    w._signals.done.disconnect()
    w._signals.done.connect(slot)
    w.set_time_range(None, None)
    w.wait_until_idle()
    return times


def main() -> None:
    from PySide6.QtCore import QPointF
    from PySide6.QtWidgets import QApplication

    from desktopviz.core.store import FlowStore
    from desktopviz.ui.visualizer import FlowVisualizer

    app = QApplication.instance() or QApplication([])
    tmp = Path(tempfile.mkdtemp()) / "bench.db"
    store = FlowStore(tmp)
    store.insert(make_logs())
    store.close()

    w = FlowVisualizer()
    w.resize(1600, 1000)
    w.show()
    app.processEvents()
    canvas = w.canvas  # grow the window until the chart itself is 1600×1000
    w.resize(1600 + 1600 - canvas.width(), 1000 + 1000 - canvas.height())
    app.processEvents()

    t = time.perf_counter()
    w.set_store(tmp)
    w.wait_until_idle()
    first_total = time.perf_counter() - t
    res = w._result
    assert res is not None
    lay = res.scene.layout

    from desktopviz.ui.visualizer_data import load_flows

    t = time.perf_counter()
    loaded = load_flows(tmp, w._query)
    read_s = time.perf_counter() - t

    from desktopviz.core.geometry import compute_layout

    t = time.perf_counter()
    compute_layout(res.shown, w._order, w._options)
    layout_s = time.perf_counter() - t

    from PySide6.QtGui import QPainter

    from desktopviz.ui.visualizer_labels import paint_text, render_image

    cw, ch = canvas.width(), canvas.height()
    vp = canvas.viewport()
    renders, texts, render_cpu = [], [], []
    glyphs = w._glyphs.snapshot()
    for _ in range(3):
        t, c = time.perf_counter(), time.thread_time()
        img, _ = render_image(res.scene, vp, cw, ch)
        renders.append(time.perf_counter() - t)
        render_cpu.append(time.thread_time() - c)
        t = time.perf_counter()
        p = QPainter(img)
        paint_text(p, res.scene, vp, cw, ch, glyphs)
        p.end()
        texts.append(time.perf_counter() - t)
    gui_ms = gui_time_per_render(app, w, tmp)

    # hover frames: hover a namespace (many flows) and a name
    frame_cpu: list[float] = []

    def frame() -> float:
        t, c = time.perf_counter(), time.thread_time()
        canvas.repaint()
        frame_cpu.append(time.thread_time() - c)
        return time.perf_counter() - t

    first_frames, steady, chord_latency, first_cpu = [], [], [], []
    targets = [s for s in lay.namespaces[:5]] + [s for s in lay.names[:10]]
    for seg in targets:
        from desktopviz.core.geometry import polar

        r = 0.97 if seg.ring == "namespace" else 0.9
        pos = QPointF(*vp.to_px(*polar(r, seg.mid)))
        canvas.hover = canvas.hit_at(pos)
        canvas._overlay_key = None
        t0 = time.perf_counter()
        first_frames.append(frame())
        first_cpu.append(frame_cpu[-1])
        while not canvas.chords_ready():  # highlighted chords are painted by a worker
            canvas._pool.waitForDone()
            app.processEvents()
        chord_latency.append(time.perf_counter() - t0)
        steady.extend(frame() for _ in range(5))

    rnd = random.Random(2)
    pts = [QPointF(rnd.uniform(0, cw), rnd.uniform(0, ch)) for _ in range(2000)]
    hit_times = []
    for pt in pts:
        t = time.perf_counter()
        canvas.hit_at(pt)
        hit_times.append(time.perf_counter() - t)
    inner = [
        pt for pt in pts if (pt.x() - vp.cx) ** 2 + (pt.y() - vp.cy) ** 2 < (vp.R * lay.radii.chord) ** 2
    ]
    chord_times = []
    for pt in inner:
        t = time.perf_counter()
        canvas.hit_at(pt)
        chord_times.append(time.perf_counter() - t)

    ms = 1000.0
    print(
        json.dumps(
            {
                "bench": "visualizer",
                "names": len({k for f in loaded.flows for k in (f.src, f.dst)}),
                "flows": len(loaded.flows),
                "chords_drawn": len(lay.chords),
                "names_merged": lay.merged_names,
                "flows_without_chord": lay.hidden_flows,
                "size": [cw, ch],
                "store_read_ms": round(read_s * ms, 1),
                "layout_ms": round(layout_s * ms, 1),
                "static_render_ms": round(statistics.median(renders) * ms, 1),
                "static_render_cpu_ms": round(statistics.median(render_cpu) * ms, 1),
                "text_ms_worker": round(statistics.median(texts) * ms, 1),
                "gui_ms_per_render_median": round(statistics.median(gui_ms), 1),
                "gui_ms_per_render_max": round(max(gui_ms), 1),
                "set_store_to_picture_ms": round(first_total * ms, 1),
                "hover_first_frame_ms_median": round(statistics.median(first_frames) * ms, 2),
                "hover_first_frame_ms_max": round(max(first_frames) * ms, 2),
                "hover_first_frame_cpu_ms_median": round(statistics.median(first_cpu) * ms, 2),
                "hover_steady_frame_ms_median": round(statistics.median(steady) * ms, 2),
                "hover_chords_ready_ms_median": round(statistics.median(chord_latency) * ms, 1),
                "load_average_1min": round(os.getloadavg()[0], 2),
                "process_cpu_s": round(sum(os.times()[:2]), 2),
                "wall_s": round(time.perf_counter() - START, 2),
                "hit_test_ms_mean": round(statistics.mean(hit_times) * ms, 3),
                "hit_test_ms_max": round(max(hit_times) * ms, 3),
                "hit_test_chord_area_ms_mean": round(statistics.mean(chord_times) * ms, 3)
                if chord_times
                else None,
                "targets_ms": {"frame": 16, "static_render": 300, "hit_test": 1},
            }
        )
    )
    w.shutdown()
    w.close()


if __name__ == "__main__":
    main()
