"""Geometry of the Flow Visualizer: ring angles, chord outlines, hit-testing, label fitting.

Qt-free so it is unit-tested and runs in a worker thread. Coordinates are in units of the
circle's outer radius (1.0), centred on (0, 0), y pointing down as on screen; angles are in
radians, clockwise from 12 o'clock. Three rings from the outside in: namespaces, aggregated
names (grey), flow ends (status colours); chords run inside the flow ring.

To stay readable (and fast: Qt fills one antialiased ribbon in ~0.25 ms) the layout merges
names whose share of the circle is below a threshold into one "other" name per namespace, and
draws chords only for the largest flows; the rest stay visible as "other flows" ends.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from desktopviz.core.flowgraph import Flow, NodeKey, StableOrder, build_graph, name_label, namespace_label

TAU = 2 * math.pi
OTHER = "(other)"  # name of the merged-names segment of a namespace


@dataclass(frozen=True)
class Radii:
    """Ring radii as fractions of the outer radius."""

    ns_outer: float = 1.0
    ns_inner: float = 0.935
    name_outer: float = 0.93
    name_inner: float = 0.875
    flow_outer: float = 0.87
    flow_inner: float = 0.835
    chord: float = 0.83


@dataclass
class LayoutOptions:
    metric: str = "connections"  # connections | packets | bytes
    ns_gap: float = 0.03  # radians between namespaces
    name_gap: float = 0.005  # radians between names of a namespace
    max_gap_share: float = 0.15  # gaps take at most this share of the circle
    min_name_angle: float = 0.005  # names thinner than this merge into "(other)"
    max_names: int = 400
    max_chords: int = 300  # Qt fills an antialiased ribbon in ~0.25-2 ms: draw what a person can read
    min_chord_angle: float = 0.0008  # thinner flow ends get no chord
    arrow: float = 0.045  # length of the arrow head at the destination (0 = none)
    radii: Radii = field(default_factory=Radii)


@dataclass
class LayoutFlow:
    """One drawn flow: input flows merged by (source, destination, status)."""

    src: NodeKey
    dst: NodeKey
    status: str
    denied_at: str | None
    value: float
    members: list[int]  # indices into the input flows
    chord: int | None = None  # index into Layout.chords
    changed: bool = False  # what-if preview: some member's verdict changes
    uncertain: bool = False  # what-if preview: some member cannot be decided from the record


@dataclass
class Segment:
    ring: str  # "namespace" | "name" | "flow"
    a0: float
    a1: float
    namespace: str
    name: str | None = None
    flow: int | None = None  # LayoutFlow index (flow ring); None = the "other flows" end
    side: str | None = None  # "src" | "dst" for flow ends
    status: str = "allowed"  # allowed | denied | denied_remote | unknown | uncertain | other
    value: float = 0.0
    merged: int = 0  # names (name ring) or flows (flow ring) merged into this segment
    flows: list[int] = field(default_factory=list)  # LayoutFlow indices it takes part in

    @property
    def mid(self) -> float:
        return (self.a0 + self.a1) / 2

    @property
    def span(self) -> float:
        return self.a1 - self.a0


@dataclass
class Chord:
    flow: int
    points: list[tuple[float, float]]  # closed outline, unit coordinates
    bbox: tuple[float, float, float, float]


@dataclass
class Hit:
    kind: str  # "namespace" | "name" | "flow" | "chord"
    index: int  # into Layout.namespaces / names / ends / chords
    flows: set[int]  # LayoutFlow indices to highlight


@dataclass
class Label:
    text: str
    x: float
    y: float
    rotation: float  # degrees, clockwise
    align: str  # "center" | "left" | "right"
    kind: str  # "namespace" | "name"
    namespace: str = ""


@dataclass
class Layout:
    flows: list[LayoutFlow] = field(default_factory=list)
    namespaces: list[Segment] = field(default_factory=list)
    names: list[Segment] = field(default_factory=list)
    ends: list[Segment] = field(default_factory=list)
    chords: list[Chord] = field(default_factory=list)  # in drawing order (largest first)
    radii: Radii = field(default_factory=Radii)
    total: float = 0.0
    merged_names: int = 0
    hidden_flows: int = 0  # flows without a chord (shown in "other flows" ends)
    _edges: np.ndarray | None = None

    def hit_test(self, x: float, y: float) -> Hit | None:
        """What is under the point (unit coordinates): a ring segment or the topmost chord."""
        r = math.hypot(x, y)
        th = point_angle(x, y)
        R = self.radii
        for ring, lo, hi, kind in (
            (self.namespaces, R.ns_inner, R.ns_outer, "namespace"),
            (self.names, R.name_inner, R.name_outer, "name"),
            (self.ends, R.flow_inner, R.flow_outer, "flow"),
        ):
            if lo <= r <= hi:
                i = _find(ring, th)
                return None if i is None else Hit(kind, i, set(ring[i].flows))
        if r < R.chord and self.chords:
            i = self._chord_at(x, y)
            if i is not None:
                return Hit("chord", i, {self.chords[i].flow})
        return None

    def _chord_at(self, x: float, y: float) -> int | None:
        if self._edges is None:
            self.prepare_hit_test()
        e = self._edges
        assert e is not None
        y1, y2 = e[:, 1], e[:, 3]
        crosses = (y1 > y) != (y2 > y)
        if not crosses.any():
            return None
        e = e[crosses]
        x1, y1, x2, y2 = e[:, 0], e[:, 1], e[:, 2], e[:, 3]
        xs = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
        ids = e[xs > x, 4].astype(np.int64)
        inside = np.nonzero(np.bincount(ids, minlength=len(self.chords)) % 2)[0]
        return int(inside[-1]) if len(inside) else None

    def prepare_hit_test(self) -> None:
        """Build the edge table of the chord outlines (done once, in the layout worker)."""
        if not self.chords:
            self._edges = np.zeros((0, 5))
            return
        lengths = np.array([len(c.points) for c in self.chords])
        pts = np.array([xy for c in self.chords for xy in c.points], dtype=np.float64)
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        prev = np.arange(len(pts)) - 1
        prev[starts] = starts + lengths - 1  # each outline is closed: its first edge starts at its last point
        ids = np.repeat(np.arange(len(self.chords), dtype=np.float64), lengths)
        self._edges = np.column_stack([pts[prev], pts, ids])


def point_angle(x: float, y: float) -> float:
    """Angle of a point, clockwise from 12 o'clock, in [0, 2π)."""
    return math.atan2(x, -y) % TAU


def polar(r: float, a: float) -> tuple[float, float]:
    return (r * math.sin(a), -r * math.cos(a))


def _find(ring: list[Segment], th: float) -> int | None:
    i = bisect.bisect_right([s.a0 for s in ring], th) - 1
    if i >= 0 and ring[i].a0 <= th <= ring[i].a1:
        return i
    return None


def _end_status(status: str, denied_at: str | None, side: str, uncertain: bool = False) -> str:
    if uncertain:
        return "uncertain"
    if status == "denied":
        return "denied_remote" if side == "src" and denied_at == "dst" else "denied"
    return status


def compute_layout(
    flows: Sequence[Flow],
    order: StableOrder | None = None,
    options: LayoutOptions | None = None,
    chord_status: str | None = None,
) -> Layout:
    """Lay out the flows around the circle (see module docstring). With ``chord_status``
    ("allowed" | "denied") the rings still hold every flow but only flows with that status
    get chords (Calico's Status filter: the circle stays, the other chords go)."""
    opt = options or LayoutOptions()
    lay = Layout(radii=opt.radii)
    if not flows:
        return lay
    vals = [max(f.value(opt.metric), 0.0) for f in flows]
    positive = [v for v in vals if v > 0]
    floor = (min(positive) if positive else 1.0) * 0.5
    vals = [v if v > 0 else floor for v in vals]
    if order is None:
        order = StableOrder()
    if not order.knows(f.src for f in flows) or not order.knows(f.dst for f in flows):
        order.update(build_graph(flows, opt.metric))

    # 1. name totals and the "other" merge
    tot: dict[NodeKey, float] = {}
    for f, v in zip(flows, vals, strict=True):
        tot[f.src] = tot.get(f.src, 0.0) + v
        tot[f.dst] = tot.get(f.dst, 0.0) + v
    grand = sum(tot.values())
    lay.total = grand
    usable = TAU * (1 - opt.max_gap_share)
    ranked = sorted(tot, key=lambda k: -tot[k])
    keep = {
        k for i, k in enumerate(ranked) if i < opt.max_names and tot[k] / grand * usable >= opt.min_name_angle
    }
    merged_count: dict[NodeKey, int] = {}
    rekey: dict[NodeKey, NodeKey] = {}
    for k in tot:
        if k in keep:
            rekey[k] = k
        else:
            rekey[k] = (k[0], OTHER)
            merged_count[(k[0], OTHER)] = merged_count.get((k[0], OTHER), 0) + 1
    lay.merged_names = sum(merged_count.values())

    # 2. layout flows: merged by (src, dst, status)
    index: dict[tuple[NodeKey, NodeKey, str], int] = {}
    for i, (f, v) in enumerate(zip(flows, vals, strict=True)):
        key = (rekey[f.src], rekey[f.dst], f.status)
        j = index.get(key)
        if j is None:
            index[key] = len(lay.flows)
            lay.flows.append(LayoutFlow(key[0], key[1], f.status, f.denied_at, v, [i]))
            lf = lay.flows[-1]
        else:
            lf = lay.flows[j]
            lf.value += v
            lf.members.append(i)
            if f.denied_at == "src":
                lf.denied_at = "src"
        lf.changed = lf.changed or f.changed
        lf.uncertain = lf.uncertain or f.uncertain
    name_tot: dict[NodeKey, float] = {}
    for lf in lay.flows:
        name_tot[lf.src] = name_tot.get(lf.src, 0.0) + lf.value
        name_tot[lf.dst] = name_tot.get(lf.dst, 0.0) + lf.value

    # 3. angles of namespaces and names
    ns_rank = order.namespace_rank()
    by_ns: dict[str, list[NodeKey]] = {}
    for k in name_tot:
        by_ns.setdefault(k[0], []).append(k)
    ns_list = sorted(by_ns, key=lambda n: (ns_rank.get(n, len(ns_rank)), n))
    n_names = len(name_tot)
    gaps = opt.ns_gap * len(ns_list) + opt.name_gap * (n_names - len(ns_list))
    scale = min(1.0, TAU * opt.max_gap_share / gaps) if gaps > 0 else 1.0
    ns_gap, name_gap = opt.ns_gap * scale, opt.name_gap * scale
    k_ang = (TAU - gaps * scale) / grand
    a = ns_gap / 2
    name_seg: dict[NodeKey, Segment] = {}
    for ns in ns_list:
        rank = order.name_rank(ns)
        keys = sorted(by_ns[ns], key=lambda k: (k[1] == OTHER, rank.get(k[1], len(rank)), k[1]))
        ns_start = a
        for i, k in enumerate(keys):
            if i:
                a += name_gap
            seg = Segment("name", a, a + name_tot[k] * k_ang, ns, k[1], value=name_tot[k])
            seg.merged = merged_count.get(k, 0)
            name_seg[k] = seg
            lay.names.append(seg)
            a = seg.a1
        lay.namespaces.append(Segment("namespace", ns_start, a, ns, value=sum(name_tot[k] for k in keys)))
        a += ns_gap

    # 4. which flows get chords
    by_value = sorted(range(len(lay.flows)), key=lambda j: -lay.flows[j].value)
    big = [j for j in by_value if lay.flows[j].value * k_ang >= opt.min_chord_angle]
    wanted = [j for j in big if chord_status in (None, lay.flows[j].status)]
    chorded = set(wanted[: opt.max_chords])
    own_end = chorded | set([j for j in big if j not in set(wanted)][: opt.max_chords])
    lay.hidden_flows = sum(1 for lf in lay.flows if chord_status in (None, lf.status)) - len(chorded)

    # 5. flow ends inside each name, ordered by where the peer sits (fewer crossings)
    ends_of: dict[NodeKey, list[tuple[float, int, str]]] = {k: [] for k in name_seg}
    other_of: dict[NodeKey, list[int]] = {}
    for j, lf in enumerate(lay.flows):
        for side, me, peer in (("src", lf.src, lf.dst), ("dst", lf.dst, lf.src)):
            if j not in own_end:
                other_of.setdefault(me, []).append(j)
                continue
            d = (name_seg[peer].mid - name_seg[me].mid) % TAU if peer != me else math.pi
            ends_of[me].append((d, j, side))
    end_at: dict[tuple[int, str], Segment] = {}
    for k, seg in name_seg.items():
        a = seg.a0
        for _d, j, side in sorted(ends_of[k], key=lambda t: (-t[0], t[1], t[2])):
            lf = lay.flows[j]
            e = Segment("flow", a, a + lf.value * k_ang, k[0], k[1], j, side, value=lf.value, flows=[j])
            e.status = _end_status(lf.status, lf.denied_at, side, lf.uncertain)
            end_at[(j, side)] = e
            lay.ends.append(e)
            seg.flows.append(j)
            a = e.a1
        if k in other_of:
            js = other_of[k]
            v = sum(lay.flows[j].value for j in js)
            e = Segment("flow", a, a + v * k_ang, k[0], k[1], None, None, "other", v, len(js), list(js))
            lay.ends.append(e)
            seg.flows.extend(js)
    for ns_seg in lay.namespaces:
        ns_seg.flows = sorted({j for s in lay.names if s.namespace == ns_seg.namespace for j in s.flows})

    # 6. chord outlines, largest first so small chords are drawn (and hit) on top
    for j in by_value:
        if j in chorded:
            s, t = end_at[(j, "src")], end_at[(j, "dst")]
            pts = chord_outline(s.a0, s.a1, t.a0, t.a1, opt.radii.chord, opt.arrow)
            xs, ys = [p[0] for p in pts], [p[1] for p in pts]
            lay.flows[j].chord = len(lay.chords)
            lay.chords.append(Chord(j, pts, (min(xs), min(ys), max(xs), max(ys))))
    lay.prepare_hit_test()
    return lay


def _arc(r: float, a0: float, a1: float) -> list[tuple[float, float]]:
    n = max(1, int(abs(a1 - a0) / 0.04) + 1)
    return [polar(r, a0 + (a1 - a0) * i / n) for i in range(n + 1)]


def _curve(
    r0: float, a0: float, r1: float, a1: float, r: float, steps: int = 18
) -> list[tuple[float, float]]:
    """Quadratic Bézier between two points near the ring, bending toward the centre the more
    the points are apart (adjacent ends make a shallow loop, opposite ones pass the centre)."""
    d = (a1 - a0) % TAU
    dist = min(d, TAU - d)
    mid = a0 + d / 2 if d <= math.pi else a0 - (TAU - d) / 2
    cx, cy = polar(r * 0.75 * (1 - dist / math.pi) ** 1.5, mid)
    (x0, y0), (x1, y1) = polar(r0, a0), polar(r1, a1)
    out = []
    for i in range(1, steps + 1):
        t = i / steps
        u = 1 - t
        out.append((u * u * x0 + 2 * u * t * cx + t * t * x1, u * u * y0 + 2 * u * t * cy + t * t * y1))
    return out


def chord_outline(
    s0: float, s1: float, t0: float, t1: float, r: float, arrow: float = 0.0
) -> list[tuple[float, float]]:
    """Closed outline of a ribbon from the source arc [s0, s1] to the destination arc [t0, t1];
    with ``arrow`` > 0 the destination end is an arrow head whose tip touches the ring."""
    pts = _arc(r, s0, s1)
    if arrow > 0:
        h = min(arrow, r * 0.5)
        pts += _curve(r, s1, r - h, t0, r)
        pts.append(polar(r, (t0 + t1) / 2))
        pts.append(polar(r - h, t1))
    else:
        pts += _curve(r, s1, r, t0, r)
        pts += _arc(r, t0, t1)[1:]
    pts += _curve(r - (min(arrow, r * 0.5) if arrow > 0 else 0), t1, r, s0, r)
    return pts


def fit_labels(
    layout: Layout, radius_px: float, char_px: float = 6.5, line_px: float = 13.0, max_chars: int = 30
) -> list[Label]:
    """Labels that fit: namespace names along their ring (shortened with … when needed),
    aggregated names radially outside the circle where their segment is at least a line high."""
    R = layout.radii
    out: list[Label] = []
    r_ns = (R.ns_inner + R.ns_outer) / 2
    for s in layout.namespaces:
        text = namespace_label(s.namespace)
        room = int((s.span * r_ns * radius_px - 10) / char_px)
        if room < 3:
            continue
        if len(text) > room:
            text = text[: room - 1] + "…"
        deg = math.degrees(s.mid)
        rot = deg - 180 if 90 < deg < 270 else (deg + 180) % 360 - 180  # readable: in [-90, 90]
        out.append(
            Label(
                text,
                *polar(r_ns, s.mid),
                rotation=rot,
                align="center",
                kind="namespace",
                namespace=s.namespace,
            )
        )
    for s in layout.names:
        if s.span * radius_px < line_px * 0.9:
            continue
        text = f"{OTHER} ×{s.merged}" if s.name == OTHER else name_label(s.namespace, str(s.name))
        if len(text) > max_chars:
            text = text[: max_chars - 1] + "…"
        deg = math.degrees(s.mid)
        left = deg > 180
        rot = deg - 270 if left else deg - 90
        x, y = polar(R.ns_outer + 8 / max(radius_px, 1), s.mid)
        out.append(
            Label(
                text,
                x,
                y,
                rotation=rot,
                align="right" if left else "left",
                kind="name",
                namespace=s.namespace,
            )
        )
    return out
