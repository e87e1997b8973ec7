"""Make ``store_v1.sqlite``: a small flow store in schema 1, written by the schema-1 code.

Run with the schema-1 sources first on the path (commit f5130e2):

    git archive f5130e2 desktopviz | tar -x -C /tmp/v1src
    PYTHONPATH=/tmp/v1src .venv/bin/python tests/core/data/make_store_v1.py

It holds 240 synthetic logs (tests/perf/_synth.py) plus the awkward cases a migration must
keep: null labels and null policies, empty policies, legacy ``all_policies``-only traces,
``transit_policies``, a trace entry that is not a policy hit (stored leniently), a label set
that is not Calico's list form, lists in every list field.
"""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(1, str(HERE.parents[1] / "perf"))

from _synth import iter_logs  # noqa: E402

from desktopviz.core.flowlog import FlowLog, labels_field  # noqa: E402
from desktopviz.core.store import SCHEMA_VERSION, FlowStore  # noqa: E402

OUT = HERE / "store_v1.sqlite"
EXPECTED = HERE / "store_v1_expected.json"
FILTERS = (
    "",
    "source_namespace = storefront",
    "action = deny and reporter = dst",
    "dest_labels.app = frontend",
    "not dest_labels.app = frontend",
    "source_labels has fw-zone",
    "labels contains rogue",
    "dest_labels.fw-zone != dmz",
    'policy = "identity/default.sessions"',
    "policy = storefront/default.trusted and policy_action = allow",
    "not policy = security.pass-to-platform",
    "policy != security.pass-to-platform",
    "tier = security and rule = -1",
    "pending_policy = storefront/default.staged:lock",
    "policies contains transit",
    "not policies exists",
    "dest_domains = api.twilio.com",
)


def plain(o: object) -> object:
    """JSON-ready: dict keys that are tuples become "a|b" (the tests compare the same form)."""
    if isinstance(o, dict):
        return {"|".join(map(str, k)) if isinstance(k, tuple) else str(k): plain(v) for k, v in o.items()}
    if isinstance(o, list | tuple):
        return [plain(v) for v in o]
    return o


def answers(path: Path) -> dict:
    """What the schema-1 queries answer on the file (compared after the migration)."""
    import dataclasses

    from desktopviz.core.board_traces import layout_from_store
    from desktopviz.core.filterlang import compile_filter
    from desktopviz.core.queries import count_rows, flow_aggregates, policy_metrics, time_series

    with FlowStore(path, readonly=True) as s:
        lo, hi = s.time_range()
        counts = {}
        for text in FILTERS:
            f = compile_filter(text, now=hi)
            counts[text] = count_rows(s, f.sql, f.params)
        layout = layout_from_store(s)
        return {
            "time_range": [lo, hi],
            "counts": counts,
            "aggregates": [dataclasses.asdict(a) for a in flow_aggregates(s)],
            "aggregates_mid": [dataclasses.asdict(a) for a in flow_aggregates(s, lo + 400, hi - 400)],
            "aggregates_labels": [
                dataclasses.asdict(a) for a in flow_aggregates(s, dest_labels="app == 'frontend'")
            ],
            "metrics": {k: dataclasses.asdict(v) for k, v in sorted(policy_metrics(s).items())},
            "metrics_mid": {
                k: dataclasses.asdict(v) for k, v in sorted(policy_metrics(s, lo + 400, hi - 400).items())
            },
            "series": [dataclasses.asdict(b) for b in time_series(s, lo, hi, 300)],
            "board": [[t.name, [p.key for p in t.policies]] for t in layout.tiers],
            "board_endpoints": {p.key: sorted(p.endpoint_keys) for p in layout.policies()},
        }


def special(start: int) -> list[FlowLog]:
    base = dict(
        end_time=start + 300,
        source_ip="10.0.0.5",
        source_name="rogue-75d986bcfb-abcde",
        source_name_aggr="rogue-75d986bcfb-*",
        source_namespace="storefront",
        source_type="wep",
        source_port=40000,
        dest_ip=None,
        dest_name="-",
        dest_name_aggr="pub",
        dest_namespace="-",
        dest_type="net",
        dest_port=443,
        proto="tcp",
        num_flows=3,
        bytes_in=10,
        bytes_out=20,
        packets_in=1,
        packets_out=2,
        host="node-9",
    )
    lab = labels_field({"app": "rogue"})
    return [
        FlowLog(
            start_time=start,
            source_labels=lab,
            dest_labels=None,
            action="deny",
            reporter="src",
            policies=None,
            **base,
        ),  # type: ignore[arg-type]
        FlowLog(
            start_time=start + 1,
            source_labels=None,
            dest_labels=None,
            action="allow",
            reporter="src",
            policies={},
            **base,
        ),  # type: ignore[arg-type]
        FlowLog(
            start_time=start + 2,
            source_labels=lab,
            dest_labels={"labels": []},
            action="allow",
            reporter="src",
            policies={
                "all_policies": [
                    "0|default|storefront/default.trusted|allow|1",
                    "1|default|storefront/default.staged:lock|deny|0",
                ]
            },
            **base,
        ),  # type: ignore[arg-type]
        FlowLog(
            start_time=start + 3,
            source_labels=lab,
            dest_labels=None,
            action="allow",
            reporter="fwd",
            policies={
                "enforced_policies": [],
                "pending_policies": [],
                "all_policies": [],
                "transit_policies": ["0|default|default.transit|allow|0"],
            },
            **base,
        ),  # type: ignore[arg-type]
        FlowLog(
            start_time=start + 4,
            source_labels={"labels": ["b=2", "a=1"]},
            dest_labels=lab,
            action="deny",
            reporter="src",
            policies={
                "enforced_policies": ["0|security|security.block|deny|3", "junk"],
                "pending_policies": ["0|security|security.block|deny|3"],
                "all_policies": [],
            },
            dest_domains=["api.twilio.com"],
            process_args=["-x"],
            original_source_ips=["1.2.3.4"],
            nat_outgoing_ports=[1, 2],
            **base,
        ),  # type: ignore[arg-type]
        FlowLog(
            start_time=start + 5,
            source_labels=lab,
            dest_labels=lab,
            action="allow",
            reporter="dst",
            policies={
                "enforced_policies": None,
                "pending_policies": ["0|default|x.y|allow|0"],
                "all_policies": None,
            },
            **base,
        ),  # type: ignore[arg-type]
    ]


def main() -> None:
    assert SCHEMA_VERSION == 1, "run with the schema-1 sources first on the path"
    for p in (OUT, Path(f"{OUT}-wal"), Path(f"{OUT}-shm")):
        p.unlink(missing_ok=True)
    logs = list(iter_logs(240, seed=7))
    with FlowStore(OUT) as store:
        store.set_meta("scenario", "synthetic v1 fixture")
        store.insert(logs[:120])
        store.insert(special(logs[119].start_time + 10), strict=False)
        store.insert(logs[120:])
    c = sqlite3.connect(OUT)
    c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    c.execute("PRAGMA journal_mode=DELETE")
    c.execute("VACUUM")
    c.close()
    import json

    EXPECTED.write_text(
        json.dumps(plain(answers(OUT)), sort_keys=True, separators=(",", ":"), default=str) + "\n"
    )
    print(OUT, OUT.stat().st_size)


if __name__ == "__main__":
    main()
