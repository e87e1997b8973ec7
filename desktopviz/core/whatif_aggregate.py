"""The Flow Visualizer's picture of a what-if: flow aggregates as they would be.

:func:`whatif_aggregates` turns a :class:`~desktopviz.core.whatif.WhatIfResult` into
:class:`WhatIfAggregate` rows, the same dataclass the visualizer draws from
(:class:`desktopviz.core.queries.FlowAggregate`, counted the same way: an allowed
connection's volume from the reporter nearest the destination, denials summed over
reporters) plus `changed`, `uncertain` and `before_action`. With `applied=False` the
recorded picture is returned (the "Changes applied" toggle off); `only_changed=True` keeps
only aggregates that changed or are uncertain ("Only changed flows").

How each log row moves when the change is applied: a `src` row takes the new egress
verdict; a `dst` row takes the new ingress verdict, or disappears when the source now
denies (the packet never gets there; the `src` row carries the denial); a `src` row that
was denied and is now allowed gains a computed `dst` row with the destination's verdict.
"""

from __future__ import annotations

from dataclasses import dataclass

from desktopviz.core.queries import FlowAggregate
from desktopviz.core.whatif import FlowChange, WhatIfResult


@dataclass
class WhatIfAggregate(FlowAggregate):
    """A FlowAggregate with what-if markers (the visualizer draws it like any other)."""

    changed: bool = False
    uncertain: bool = False
    before_action: str | None = None  # the action before the change, when it changed


@dataclass
class _Row:
    reporter: str
    action: str
    fc: FlowChange
    synthetic: bool = False


def _rows(result: WhatIfResult, applied: bool) -> list[_Row]:
    out: list[_Row] = []
    for fc in result.rows:
        if not applied or fc.uncertain:
            out.append(_Row(fc.reporter, fc.recorded, fc))
            continue
        if fc.src_denies:
            continue  # the src row carries the denial
        out.append(_Row(fc.reporter, fc.after, fc))
        if fc.derived and fc.dst_side is not None and fc.dst_side.type in ("wep", "hep"):
            out.append(_Row("dst", fc.final_after, fc, synthetic=True))
    return out


def whatif_aggregates(
    result: WhatIfResult, *, applied: bool = True, only_changed: bool = False
) -> list[WhatIfAggregate]:
    """Aggregates per (source, destination, action), as flow_aggregates counts them."""
    pairs: dict[tuple[str, ...], list[_Row]] = {}
    for row in _rows(result, applied):
        s, d = row.fc.src_side, row.fc.dst_side
        assert s is not None and d is not None
        key = (s.namespace, s.name_aggr, s.type, d.namespace, d.name_aggr, d.type)
        pairs.setdefault(key, []).append(row)
    out: list[WhatIfAggregate] = []
    for key, rows in pairs.items():
        reps = {r.reporter for r in rows}
        volume_rep = next((r for r in ("dst", "src", "fwd") if r in reps), None)
        for action in sorted({r.action for r in rows}):
            use = [r for r in rows if r.action == action and (action == "deny" or r.reporter == volume_rep)]
            if not use:
                continue
            agg = WhatIfAggregate(*key, action)  # type: ignore[arg-type]
            used: list[str] = []
            for r in use:
                _add(agg, r)
                if r.reporter not in used:
                    used.append(r.reporter)
                if action == "deny":
                    if r.reporter == "src":
                        agg.denied_at_src += r.fc.num_flows
                    elif r.reporter == "dst":
                        agg.denied_at_dst += r.fc.num_flows
                    if agg.denied_by is None or r.reporter == "src":
                        agg.denied_by = r.reporter  # type: ignore[assignment]
                moved = r.fc.changed or r.synthetic
                agg.changed = agg.changed or (applied and moved) or (not applied and r.fc.changed)
                agg.uncertain = agg.uncertain or r.fc.uncertain
                if r.fc.changed:
                    agg.before_action = r.fc.before if applied else r.fc.after
            agg.reporter = "+".join(sorted(used, key=("src", "fwd", "dst").index))
            out.append(agg)
    if only_changed:
        out = [a for a in out if a.changed or a.uncertain]
    out.sort(
        key=lambda a: (a.source_namespace, a.source_name_aggr, a.dest_namespace, a.dest_name_aggr, a.action)
    )
    return out


def _add(agg: WhatIfAggregate, row: _Row) -> None:
    fc = row.fc
    pin, pout, bin_, bout = fc.packets_in, fc.packets_out, fc.bytes_in, fc.bytes_out
    if fc.reporter == "dst":  # the destination's "in" is the source's "out"
        pin, pout, bin_, bout = pout, pin, bout, bin_
    agg.logs += fc.logs
    agg.num_flows += fc.num_flows
    agg.packets_in += pin
    agg.packets_out += pout
    agg.bytes_in += bin_
    agg.bytes_out += bout
    agg.start_time = fc.start_time if not agg.start_time else min(agg.start_time, fc.start_time)
    agg.end_time = max(agg.end_time, fc.end_time)


__all__ = ["WhatIfAggregate", "whatif_aggregates"]
