"""Geometry of the Flow Visualizer rings and chords (calico.md §4.1): angles, order, merge, hits."""

import math

import pytest

from desktopviz.core.flowgraph import Flow, StableOrder, build_graph, flow_from_row, merge_flows
from desktopviz.core.geometry import OTHER, TAU, LayoutOptions, compute_layout, fit_labels, polar


def flow(src, dst, action="allow", conns=1.0, denied_at=None, stype="wep", dtype="wep"):
    (sn, sa), (dn, da) = src.split(":"), dst.split(":")
    return Flow(
        sn,
        sa,
        stype,
        dn,
        da,
        dtype,
        action,
        denied_at,
        connections=conns,
        packets=conns * 3,
        bytes=conns * 100,
    )


STOREFRONT = [
    flow("storefront:frontend-*", "storefront:microservice1-*", conns=4),
    flow("storefront:frontend-*", "storefront:microservice2-*", conns=4),
    flow("storefront:microservice1-*", "storefront:backend-*", conns=2),
    flow("storefront:microservice2-*", "storefront:backend-*", conns=2),
    flow("storefront:backend-*", "storefront:logging-*", conns=1),
    flow("storefront:microservice2-*", "-:pub", conns=1, dtype="net"),
    flow("storefront:frontend-*", "kube-system:coredns-*", conns=3),
    flow("storefront:rogue-*", "storefront:backend-*", "deny", 1, "dst"),
]


def test_angles_fill_the_circle_with_gaps():
    lay = compute_layout(STOREFRONT)
    names = sum(s.span for s in lay.names)
    gaps = TAU - names
    assert 0 < gaps < TAU * 0.2
    for ns in lay.namespaces:
        inner = [s for s in lay.names if s.namespace == ns.namespace]
        assert ns.a0 == pytest.approx(inner[0].a0) and ns.a1 == pytest.approx(inner[-1].a1)
    for s in lay.names:
        ends = [e for e in lay.ends if (e.namespace, e.name) == (s.namespace, s.name)]
        assert sum(e.span for e in ends) == pytest.approx(s.span)
    assert all(0 <= s.a0 < s.a1 <= TAU for s in lay.names)


def test_segment_size_follows_volume():
    lay = compute_layout(STOREFRONT)
    span = {s.name: s.span for s in lay.names}
    # frontend: 4 + 4 + 3 = 11 connections; logging: 1
    assert span["frontend-*"] / span["logging-*"] == pytest.approx(11)
    by_bytes = compute_layout(
        [flow("a:x", "a:y", conns=1), flow("a:x", "a:z", conns=1)], options=LayoutOptions(metric="bytes")
    )
    assert len(by_bytes.names) == 3


def test_non_namespaced_endpoints_share_the_global_pseudo_namespace():
    lay = compute_layout(STOREFRONT)
    assert "-" in {s.namespace for s in lay.namespaces}
    labels = fit_labels(lay, radius_px=400)
    assert "Global" in {lb.text for lb in labels if lb.kind == "namespace"}


def test_order_is_stable_when_a_flow_is_added():
    order = StableOrder()
    compute_layout(STOREFRONT, order)
    before = list(order.names["storefront"])
    ns_before = list(order.namespaces)
    more = STOREFRONT + [flow("storefront:cart-*", "storefront:backend-*", conns=5)]
    compute_layout(more, order)
    after = order.names["storefront"]
    assert [n for n in after if n != "cart-*"] == before
    assert order.namespaces == ns_before
    # inserted next to its heaviest neighbour
    assert after.index("cart-*") == after.index("backend-*") + 1


def test_heavy_peers_are_neighbours():
    flows = [
        flow("n:a", "n:b", conns=10),
        flow("n:c", "n:d", conns=10),
        flow("n:a", "n:c", conns=0.1),
        flow("n:b", "n:e", conns=0.1),
    ]
    order = StableOrder()
    order.update(build_graph(flows))
    o = order.names["n"]
    assert abs(o.index("a") - o.index("b")) == 1
    assert abs(o.index("c") - o.index("d")) == 1


def test_tiny_names_merge_into_other_instead_of_vanishing():
    flows = [flow("big:a", "big:b", conns=1000)]
    flows += [flow(f"small:n{i}", "big:b", conns=0.01) for i in range(200)]
    lay = compute_layout(flows)
    others = [s for s in lay.names if s.name == OTHER]
    assert len(others) == 1 and others[0].namespace == "small" and others[0].merged == 200
    assert lay.merged_names == 200
    assert sum(s.value for s in lay.names) == pytest.approx(2 * (1000 + 200 * 0.01))


def test_chords_are_capped_and_the_rest_shown_as_other_flows():
    flows = [flow(f"n:s{i}", f"m:d{i}", conns=10 + i) for i in range(20)]
    lay = compute_layout(flows, options=LayoutOptions(max_chords=5))
    assert len(lay.chords) == 5 and lay.hidden_flows == 15
    drawn = {lay.flows[c.flow].value for c in lay.chords}
    assert drawn == {25, 26, 27, 28, 29}
    assert any(e.status == "other" for e in lay.ends)


def test_flow_end_status_colours():
    lay = compute_layout(STOREFRONT)
    rogue = [e for e in lay.ends if e.name == "rogue-*"]
    assert [e.status for e in rogue] == ["denied_remote"]  # allowed at source, denied by remote
    j = rogue[0].flow
    dst_end = [e for e in lay.ends if e.flow == j and e.side == "dst"]
    assert dst_end[0].status == "denied" and dst_end[0].name == "backend-*"
    assert {e.status for e in lay.ends if e.name == "frontend-*"} == {"allowed"}


def _seg(lay, ring, **kw):
    return next(s for s in getattr(lay, ring) if all(getattr(s, k) == v for k, v in kw.items()))


def test_hit_testing_rings_at_known_points():
    lay = compute_layout(STOREFRONT)
    R = lay.radii
    ns = _seg(lay, "namespaces", namespace="kube-system")
    hit = lay.hit_test(*polar((R.ns_inner + R.ns_outer) / 2, ns.mid))
    assert hit.kind == "namespace" and lay.namespaces[hit.index].namespace == "kube-system"
    name = _seg(lay, "names", name="backend-*")
    hit = lay.hit_test(*polar((R.name_inner + R.name_outer) / 2, name.mid))
    assert hit.kind == "name" and lay.names[hit.index].name == "backend-*"
    assert len(hit.flows) == 4  # from microservice1, microservice2, rogue; to logging
    end = lay.ends[3]
    hit = lay.hit_test(*polar((R.flow_inner + R.flow_outer) / 2, end.mid))
    assert hit.kind == "flow" and hit.index == 3 and hit.flows == {end.flow}
    # the gap between two namespaces hits nothing; outside the circle neither
    first = lay.namespaces[0]
    assert lay.hit_test(*polar(0.97, first.a0 - 0.005)) is None
    assert lay.hit_test(1.2, 0) is None


def test_hit_testing_chords_at_known_points():
    flows = [flow("a:x", "b:y", conns=5), flow("a:z", "b:w", conns=5)]
    lay = compute_layout(flows, options=LayoutOptions(arrow=0))
    for c in lay.chords:
        lf = lay.flows[c.flow]
        src_end = next(e for e in lay.ends if e.flow == c.flow and e.side == "src")
        # just inside the ring, in the middle of the chord's source end
        hit = lay.hit_test(*polar(lay.radii.chord * 0.97, src_end.mid))
        assert hit.kind == "chord" and lay.flows[lay.chords[hit.index].flow] is lf
    # the chords x→y and z→w leave a hole between them near the ring
    x_end = next(e for e in lay.ends if e.name == "x")
    z_end = next(e for e in lay.ends if e.name == "z")
    gap = (x_end.a1 + z_end.a0) / 2 if x_end.a1 < z_end.a0 else (z_end.a1 + x_end.a0) / 2
    assert lay.hit_test(*polar(lay.radii.chord * 0.99, gap)) is None


def test_chord_arrow_tip_touches_the_ring_at_the_destination():
    lay = compute_layout([flow("a:x", "b:y", conns=5)])
    dst = next(e for e in lay.ends if e.side == "dst")
    tip = polar(lay.radii.chord, dst.mid)
    pts = lay.chords[0].points
    assert min(math.dist(p, tip) for p in pts) < 1e-9


def test_labels_fit_or_are_left_out():
    flows = [flow("storefront:frontend-*", "storefront:backend-*", conns=100)]
    flows += [flow(f"tiny{i}:n", "storefront:backend-*", conns=0.5) for i in range(40)]
    lay = compute_layout(flows)
    labels = fit_labels(lay, radius_px=300)
    texts = {lb.text for lb in labels}
    assert "storefront" in texts and "frontend-*" in texts
    assert "tiny3" not in texts
    for lb in labels:  # never upside down
        assert -90 <= lb.rotation <= 90


def test_rows_from_the_store_become_flows():
    row = {
        "source_namespace": "storefront",
        "source_name_aggr": "rogue-847f5dfbb5-*",
        "source_type": "wep",
        "dest_namespace": "-",
        "dest_name_aggr": "pub",
        "dest_type": "net",
        "action": "deny",
        "num_flows": 3,
        "packets": 9,
        "bytes": 300,
        "source_labels": {"labels": ["app=rogue"]},
    }
    f = flow_from_row(row)
    assert f.src == ("storefront", "rogue-847f5dfbb5-*") and f.dst == ("-", "pub") and f.status == "denied"
    assert f.connections == 3 and f.src_labels == {"app": "rogue"}
    merged = merge_flows([f, flow_from_row(row)])
    assert len(merged) == 1 and merged[0].connections == 6


def test_status_filter_keeps_the_rings_but_draws_only_matching_chords():
    full = compute_layout(STOREFRONT)
    denied = compute_layout(STOREFRONT, chord_status="denied")
    assert [(s.name, round(s.span, 9)) for s in denied.names] == [
        (s.name, round(s.span, 9)) for s in full.names
    ]
    assert [denied.flows[c.flow].status for c in denied.chords] == ["denied"]
    assert any(e.status == "allowed" and e.flow is not None for e in denied.ends)  # rings still show them


def test_whatif_markers_reach_the_layout_and_uncertain_ends_are_not_given_a_verdict():
    flows = [
        flow("storefront:rogue-*", "storefront:backend-*", "allow", 2),
        flow("-:public-ip-range", "storefront:frontend-*", "allow", 5, stype="ns"),
    ]
    flows[0].changed, flows[0].before_action = True, "deny"
    flows[1].uncertain = True
    lay = compute_layout(flows)
    by_src = {lf.src[1]: lf for lf in lay.flows}
    assert by_src["rogue-*"].changed and not by_src["rogue-*"].uncertain
    assert by_src["public-ip-range"].uncertain and not by_src["public-ip-range"].changed
    j = lay.flows.index(by_src["public-ip-range"])
    assert {e.status for e in lay.ends if e.flow == j} == {"uncertain"}
    j = lay.flows.index(by_src["rogue-*"])
    assert {e.status for e in lay.ends if e.flow == j} == {"allowed"}


def test_whatif_rows_keep_their_markers_when_merged():
    row = {
        "source_namespace": "storefront",
        "source_name_aggr": "rogue-*",
        "dest_namespace": "storefront",
        "dest_name_aggr": "backend-*",
        "action": "allow",
        "num_flows": 3,
        "changed": True,
        "before_action": "deny",
    }
    a, b = flow_from_row(row), flow_from_row({**row, "changed": False, "uncertain": True})
    (m,) = merge_flows([a, b])
    assert m.changed and m.uncertain and m.before_action == "deny" and m.connections == 6


def test_plain_networks_are_named_as_whisker_names_them():
    from desktopviz.core.flowgraph import endpoint_key, endpoint_label, namespace_label

    assert namespace_label("-") == "Global" and namespace_label("") == "Global"
    assert endpoint_label("-", "pub") == "Public network"
    assert endpoint_label("-", "pvt") == "Private network"
    assert endpoint_label("-", "public-ip-range") == "Global:public-ip-range"
    assert endpoint_label("storefront", "pub") == "storefront:pub"  # only plain networks
    assert endpoint_key("-", "pub") == "-:pub"
    lay = compute_layout([flow("storefront:frontend-*", "-:pub", conns=5, dtype="net")])
    texts = {lb.text for lb in fit_labels(lay, 400)}
    assert "Public network" in texts and "Global" in texts and "pub" not in texts
