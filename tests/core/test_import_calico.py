"""Importing Calico flow logs: every field kept with Calico's meaning, every policy generation
indexed the same way, Elasticsearch exports, gzip, duplicates and malformed lines."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pytest

from desktopviz.core.importers import import_files
from desktopviz.core.store import FlowStore

DATA = Path(__file__).parent / "data" / "import"


def rows(db: Path) -> list:
    with FlowStore(db, readonly=True) as store:
        return [log for _, log in store.rows(order_by="id")]


def hits(db: Path) -> list[tuple]:
    with FlowStore(db, readonly=True) as store:
        return [
            tuple(r)
            for r in store.conn.execute(
                "SELECT kind, idx, tier, policy, namespace, action, rule_index FROM policy_hits ORDER BY flow_log_id, kind, idx"
            )
        ]


def test_felix_flows_log_keeps_every_field(tmp_path: Path) -> None:
    db = tmp_path / "c.sqlite"
    summary = import_files([DATA / "calico_v5.jsonl"], db)
    assert (summary.total("records_read"), summary.total("imported"), summary.issue_count) == (5, 5, 0)
    first, to_pub, to_pvt, from_set, from_hep = rows(db)
    want = {json.loads(line)["dest_port"]: json.loads(line) for line in (DATA / "calico_v5.jsonl").open()}
    assert {k: v for k, v in first.to_dict().items() if k in want[8080]} == want[8080]
    # level 0 log: IPs, pod names, source port, domains, NAT ports, process
    assert (to_pub.source_ip, to_pub.source_name, to_pub.source_port) == (
        "10.244.1.5",
        "frontend-864f4fcdfd-2hhv4",
        40312,
    )
    assert (to_pub.dest_name, to_pub.dest_name_aggr, to_pub.dest_type, to_pub.dest_namespace) == (
        "-",
        "pub",
        "net",
        "-",
    )
    assert to_pub.dest_domains == ["example.com"]
    assert to_pub.nat_outgoing_ports == [61001, 61002]
    assert to_pub.process_name == "/usr/bin/curl"
    assert to_pub.dest_labels is None
    # missing optional fields take what Felix writes when a feature is off
    assert (to_pvt.dest_name_aggr, to_pvt.proto, to_pvt.action) == ("pvt", "udp", "deny")
    assert (to_pvt.dest_service_name, to_pvt.process_name, to_pvt.process_id) == ("-", "-", "-")
    assert (to_pvt.bytes_in, to_pvt.num_flows_completed, to_pvt.host) == (0, 0, "ip-10-0-1-11")
    assert to_pvt.policies["all_policies"] == []
    # a global network set and ICMP: null ports
    assert (from_set.source_type, from_set.source_name_aggr, from_set.source_namespace) == (
        "ns",
        "public-ip-range",
        "-",
    )
    assert (from_set.source_port, from_set.dest_port, from_set.proto) == (None, None, "icmp")
    assert (from_hep.source_type, from_hep.source_name_aggr, from_hep.source_labels) == (
        "hep",
        "ip-10-0-1-10",
        None,
    )
    # a '-' rule index is unknown (-2)
    assert from_hep.policies["enforced_policies"] == ["0|default|dev/knp.default.allow-nginx|allow|-2"]


def test_pending_trace_with_a_staged_policy_is_indexed(tmp_path: Path) -> None:
    db = tmp_path / "c.sqlite"
    import_files([DATA / "calico_v5.jsonl"], db)
    found = hits(db)
    assert ("pending", 1, "default", "storefront/default.staged:lockdown", "storefront", "deny", -1) in found
    assert ("enforced", 1, "default", "storefront/default.backend", "storefront", "allow", 0) in found
    assert ("enforced", 0, "__PROFILE__", "__PROFILE__.kns.dev", None, "allow", 0) in found


def test_legacy_all_policies_are_the_enforced_trace(tmp_path: Path) -> None:
    db = tmp_path / "c.sqlite"
    summary = import_files([DATA / "calico_v4.jsonl"], db)
    assert summary.total("imported") == 3
    dst, src, denied = rows(db)
    assert dst.policies["all_policies"] == ["0|default|policy-demo/default.access-nginx|allow|-2"]
    # labels given as a plain list and as a {k: v} dict become Calico's labels object
    assert src.source_labels == {"labels": ["run=access"]}
    assert src.dest_labels == {"labels": ["run=nginx"]}
    found = hits(db)
    assert ("enforced", 0, "default", "policy-demo/default.access-nginx", "policy-demo", "allow", -2) in found
    assert ("enforced", 0, "__PROFILE__", "__PROFILE__.kns.policy-demo", None, "allow", -2) in found
    assert (
        "enforced",
        0,
        "default",
        "policy-demo/default.deny-access-nginx",
        "policy-demo",
        "deny",
        -2,
    ) in found
    # the staged entry of the legacy field only counts as pending
    staged = [h for h in found if "staged:" in h[3]]
    assert [h[0] for h in staged] == ["pending"]


def test_kind_prefixed_traces_are_stored_in_format_b(tmp_path: Path) -> None:
    db = tmp_path / "c.sqlite"
    summary = import_files([DATA / "calico_kinds.jsonl"], db)
    assert summary.issue_count == 0
    policies = [log.policies["enforced_policies"][0].split("|")[2] for log in rows(db)]
    assert policies == [
        "storefront/tier1.trusted",
        "storefront/tier1.trusted",
        "security.pci-whitelist",
        "dev/knp.default.allow-nginx",
        "__PROFILE__.kns.dev",
        "storefront/tier1.staged:lockdown",
        "security.staged:quarantine",
        "dev/staged:knp.default.deny-all",
        "kube-baseline.baseline",
        "tier1.__NO_MATCH__",
    ]
    rules = [r[6] for r in hits(db) if r[0] == "enforced"]
    assert rules[1] == -2 and rules[-1] == -1


def test_elasticsearch_response_and_times(tmp_path: Path) -> None:
    db = tmp_path / "c.sqlite"
    summary = import_files([DATA / "calico_es_response.json"], db)
    assert (summary.files[0].format, summary.total("imported"), summary.issue_count) == ("calico", 3, 0)
    a, b, c = rows(db)
    assert (a.start_time, a.end_time) == (1714564800, 1714565100)
    assert (b.start_time, b.end_time) == (1714564800, 1714565100)  # ISO 8601 strings
    assert (c.start_time, c.end_time) == (1714565100, 1714565100)  # only @timestamp (epoch ms)


def test_json_array_of_documents(tmp_path: Path) -> None:
    db = tmp_path / "c.sqlite"
    summary = import_files([DATA / "calico_array.json"], db)
    assert (summary.total("imported"), summary.issue_count) == (2, 0)


def test_gzip_is_detected_from_content_not_name(tmp_path: Path) -> None:
    packed = tmp_path / "flows-2024-05-01"  # no .gz suffix
    with gzip.open(packed, "wb") as f:
        f.write((DATA / "calico_v5.jsonl").read_bytes())
    db = tmp_path / "c.sqlite"
    summary = import_files([packed], db)
    assert (summary.files[0].format, summary.total("imported")) == ("calico", 5)
    assert rows(db) == rows_of_plain(tmp_path)


def rows_of_plain(tmp_path: Path) -> list:
    db = tmp_path / "plain.sqlite"
    import_files([DATA / "calico_v5.jsonl"], db)
    return rows(db)


def test_importing_twice_adds_nothing(tmp_path: Path) -> None:
    db = tmp_path / "c.sqlite"
    import_files([DATA / "calico_v5.jsonl"], db)
    again = import_files([DATA / "calico_v5.jsonl", DATA / "calico_array.json"], db)
    # calico_array.json holds two of the same records, pretty-printed: same content, same digest
    assert (again.total("imported"), again.total("duplicates")) == (0, 7)
    assert len(rows(db)) == 5
    with FlowStore(db, readonly=True) as store:
        history = store.conn.execute(
            "SELECT path, status, imported, duplicates FROM imports ORDER BY id"
        ).fetchall()
    assert [tuple(r)[1:] for r in history] == [("done", 5, 0), ("done", 0, 5), ("done", 0, 2)]


def test_malformed_lines_are_reported_and_the_rest_imports(tmp_path: Path) -> None:
    db = tmp_path / "c.sqlite"
    summary = import_files([DATA / "calico_malformed.jsonl"], db)
    messages = [str(i) for i in summary.issues]
    assert messages == [
        "calico_malformed.jsonl:2: not JSON (Expecting ',' delimiter at column 27)",
        "calico_malformed.jsonl:4: start_time: not a time ('yesterday')",
        "calico_malformed.jsonl:5: policies.enforced_policies[0]: not a policy trace entry "
        "(expected 4 or 5 fields separated by |): 'not a trace'",
        "calico_malformed.jsonl:6: action: expected allow or deny ('maybe')",
        "calico_malformed.jsonl:7: not a flow log (a JSON string, expected an object)",
        "calico_malformed.jsonl:8: dest_port: not an integer ('eighty')",
    ]
    # line 9 repeats line 1: a duplicate, not a new record
    f = summary.files[0]
    assert (f.records_read, f.imported, f.duplicates, f.skipped) == (8, 2, 1, 6)
    assert sorted(log.dest_port for log in rows(db)) == [84, 8080]


def test_truncated_gzip_keeps_what_was_read(tmp_path: Path) -> None:
    packed = gzip.compress((DATA / "calico_v5.jsonl").read_bytes() * 50)
    broken = tmp_path / "cut.gz"
    broken.write_bytes(packed[: len(packed) // 2])
    db = tmp_path / "c.sqlite"
    summary = import_files([broken], db, fmt="calico")
    assert summary.issue_count == 1
    assert "cannot read further" in str(summary.issues[0])
    assert summary.total("imported") == 5  # the rest are repeats of the same five


def test_unknown_content_is_reported_per_file(tmp_path: Path) -> None:
    odd = tmp_path / "notes.txt"
    odd.write_text("hello\nworld\n")
    db = tmp_path / "c.sqlite"
    summary = import_files([odd, DATA / "calico_v4.jsonl"], db)
    assert [f.status for f in summary.files] == ["failed", "done"]
    assert "cannot tell the format" in str(summary.issues[0])
    assert summary.total("imported") == 3


@pytest.mark.parametrize("fmt", ["calico", "auto"])
def test_forced_format_is_used(tmp_path: Path, fmt: str) -> None:
    copy = tmp_path / "data.bin"
    shutil.copy(DATA / "calico_v4.jsonl", copy)
    summary = import_files([copy], tmp_path / "c.sqlite", fmt=fmt)
    assert summary.files[0].format == "calico"


def test_a_broken_first_line_does_not_hide_the_rest(tmp_path: Path) -> None:
    lines = (DATA / "calico_v5.jsonl").read_text().splitlines()
    path = tmp_path / "flows.log"
    path.write_text(lines[0][:70] + "\n" + "\n".join(lines[1:]) + "\n")
    summary = import_files([path], tmp_path / "c.sqlite")
    assert [i.where for i in summary.issues] == ["1"]
    assert summary.total("imported") == 4


@pytest.mark.parametrize("junk", [[1], {"a": 1}, True, -1.5, "x", None, 10**30, "", "\ud800"])
def test_hostile_values_never_stop_an_import(tmp_path: Path, junk: object) -> None:
    """Any JSON value in any field gives an imported record or a reported line, never a crash."""
    base = json.loads((DATA / "calico_v5.jsonl").read_text().splitlines()[0])
    path = tmp_path / "junk.jsonl"
    with path.open("w") as f:
        for i, name in enumerate([*base, "policies.enforced_policies"]):
            doc = dict(base, dest_port=10_000 + i)
            if "." in name:
                doc["policies"] = dict(base["policies"], enforced_policies=[junk])
            else:
                doc[name] = junk
            f.write(json.dumps(doc) + "\n")
    summary = import_files([path], tmp_path / "c.sqlite")
    f = summary.files[0]
    assert f.status == "done"
    assert f.imported + f.skipped + f.duplicates == f.records_read == len(base) + 1
    with FlowStore(tmp_path / "c.sqlite", readonly=True) as store:
        assert store.count() == f.imported


def test_records_another_import_stores_meanwhile_are_duplicates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two imports of the same documents at once (two windows, or the CLI while the app
    imports): the second found them new, then the first stored them before the second's
    write. The second's write sees that inside its transaction, stores nothing twice, and
    counts them as duplicates."""
    from desktopviz.core import import_db

    db = tmp_path / "c.sqlite"
    first = import_files([DATA / "calico_array.json"], db)
    assert first.total("imported") == 2
    real_unseen = import_db.ImportWriter.unseen
    raced: list[int] = []

    def stale(self, keys):  # noqa: ANN001, ANN202 - what unseen said before the other import committed
        if not raced:
            raced.append(len(keys))
            self._pending.update(keys)
            return [True] * len(keys)
        return real_unseen(self, keys)

    monkeypatch.setattr(import_db.ImportWriter, "unseen", stale)
    second = import_files([DATA / "calico_array.json"], db)
    assert raced == [2]
    assert (second.total("imported"), second.total("duplicates"), second.issue_count) == (0, 2, 0)
    assert len(rows(db)) == 2
    with FlowStore(db, readonly=True) as store:
        history = store.conn.execute(
            "SELECT status, imported, duplicates FROM imports ORDER BY id"
        ).fetchall()
    assert [tuple(r) for r in history] == [("done", 2, 0), ("done", 0, 2)]


def test_a_write_refuses_records_another_import_stored_after_the_check(tmp_path: Path) -> None:
    """ImportWriter.write on two connections: both found the same digests new; the second
    write stores nothing and says so (StoredMeanwhile), so the importer asks again."""
    from desktopviz.core.import_db import ImportWriter, StoredMeanwhile

    db = tmp_path / "c.sqlite"
    import_files([DATA / "calico_v5.jsonl"], db)
    from test_import_handover import good
    from test_store_rollup import values

    log = values(good(1, seed=5)[0])
    with FlowStore(db) as one, FlowStore(db) as two:
        writers = [ImportWriter(s, "x.json", "calico") for s in (one, two)]
        keys = [(1, b"a" * 16)]
        assert all(w.unseen(keys) == [True] for w in writers)
        writers[0].write([log], keys, {"imported": 1})
        assert two.count() == 6
        with pytest.raises(StoredMeanwhile):
            writers[1].write([log], keys, {"imported": 1})
        assert two.count() == 6 and writers[1].counts["imported"] == 0
