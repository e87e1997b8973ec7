"""The per-key-order extractor gives exactly what parsing the whole line gives: the same stored
values and digests (files imported by earlier versions are still recognised), or it declines
the line and the general path handles it, on Felix's records and on hostile ones."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from import_lines import BASE, LINES

from desktopviz.core import import_db, import_lines
from desktopviz.core.flowlog import FIELDS
from desktopviz.core.import_calico import flowlog_from_calico
from desktopviz.core.import_db import _fields, record_hash, stored_digests
from desktopviz.core.import_digest import new_secret, row_hash_v2
from desktopviz.core.import_extract import CHECK_AFTER, VARYING, Extractor
from desktopviz.core.import_fast import row_from_calico
from desktopviz.core.import_read import Source
from desktopviz.core.import_worker import LineItems
from desktopviz.core.importers import import_files
from desktopviz.core.store import FlowStore

# Felix's order (calico.md §1.1: nat_outgoing_ports after the source namespace, counters
# grouped differently) and a shuffled one, next to the order of the test files.
FELIX_ORDER = [
    *("start_time", "end_time", "source_ip", "source_name", "source_name_aggr", "source_namespace"),
    *("nat_outgoing_ports", "source_port", "source_type", "source_labels", "dest_ip", "dest_name"),
    *("dest_name_aggr", "dest_namespace", "dest_port", "dest_type", "dest_labels"),
    *("dest_service_namespace", "dest_service_name", "dest_service_port", "dest_service_port_num"),
    *("dest_domains", "proto", "action", "reporter", "policies", "bytes_in", "bytes_out", "num_flows"),
    *("num_flows_started", "num_flows_completed", "packets_in", "packets_out"),
]
_shuffled = list(BASE)
random.Random(7).shuffle(_shuffled)
ORDERS = {
    "fields": list(BASE),
    "felix": FELIX_ORDER + [k for k in BASE if k not in FELIX_ORDER],
    "shuffled": _shuffled,
    "fewer": [k for k in BASE if not k.startswith("tcp_") and k != "host"],
}


def reorder(doc: dict[str, Any], order: list[str]) -> dict[str, Any]:
    out = {k: doc[k] for k in order if k in doc}
    out.update({k: v for k, v in doc.items() if k not in out})
    return out


def line(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, separators=(",", ":")).encode() + b"\n"


def extractor(order: list[str], version: int = 1) -> Extractor:
    doc = reorder(BASE, order)
    row = row_from_calico(doc)
    assert row is not None
    ext = Extractor.build(doc, row, version)
    assert ext is not None
    return ext


def general(raw: bytes, version: int = 1) -> tuple[tuple[Any, ...], bytes] | None:
    """The stored values and digest (of ``version``) the general path gives, None if it reports the line."""
    try:
        doc = json.loads(raw)
        log = flowlog_from_calico(doc)
    except (ValueError, TypeError, AttributeError, OverflowError):
        return None
    return _fields(log), record_hash(log, version)


def check(ext: Extractor, raw: bytes) -> bool:
    """The extractor declines the line or agrees with the general path; True if it took it."""
    got = ext.extract(raw)
    if got is not None:
        assert got == general(raw, ext.digest_version), raw
    return got is not None


@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize("order", list(ORDERS))
def test_felix_records_are_taken_with_the_same_values_and_digests(order: str, version: int) -> None:
    ext = extractor(ORDERS[order], version)
    docs = [reorder(dict(BASE, **json.loads(t)), ORDERS[order]) for t in LINES]  # every key of BASE
    taken = [check(ext, line(d)) for d in docs]
    assert taken == [row_from_calico(d) is not None for d in docs] and sum(taken) >= 10
    # the same line again comes from the caches: still the same
    assert check(ext, line(reorder(BASE, ORDERS[order])))


def test_digests_are_those_of_the_previous_versions() -> None:
    ext = extractor(ORDERS["felix"])
    doc = dict(BASE, bytes_in=2**40, packets_out=-3, start_time=0)  # 'l' and negative marshal forms
    row, digest = ext.extract(line(reorder(doc, ORDERS["felix"])))  # type: ignore[misc]
    assert row == _fields(flowlog_from_calico(doc)) and digest == record_hash(flowlog_from_calico(doc))
    assert len(row) == len(FIELDS)


def test_version_2_digests_are_those_of_the_general_path() -> None:
    """Big, negative and zero counters and times (the packed form), and the same record again
    (its key's digest from the cache), give the general path's version 2 digest."""
    ext = extractor(ORDERS["felix"], 2)
    for doc in (dict(BASE, bytes_in=2**40, packets_out=-3, start_time=0), dict(BASE, bytes_in=10**18 - 1)):
        for _ in range(2):
            row, digest = ext.extract(line(reorder(doc, ORDERS["felix"])))  # type: ignore[misc]
            log = flowlog_from_calico(doc)
            assert row == _fields(log) and digest == record_hash(log, 2) == row_hash_v2(row)
            assert digest != record_hash(log, 1)


ODD = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True),
    st.sampled_from(["", "-", "tcp", "TCP", "6", "allow", "Deny", "src", ' ,"bytes_in":1,"x":"', "\\", '"']),
    st.sampled_from([1_767_225_600_000, 99_999_999_999, 100_000_000_000, "2026-01-01T00:00:00Z", 1.5e9]),
    st.just({"labels": ["a=b"]}),
    st.just({"labels": ["a=b", 7]}),
    st.just({"a": "b", "bytes_in": 5}),
    st.just(["a=b"]),
    st.just({"enforced_policies": ["0|t|t.p|allow|0"], "pending_policies": [], "all_policies": []}),
    st.just({"enforced_policies": ["np:ns/p"], "pending_policies": None, "all_policies": [1]}),
    st.lists(st.one_of(st.text(max_size=4), st.integers()), max_size=3),
)
TEXT_EDITS = [
    (b'"bytes_in":', b'"bytes_in": '),  # spaces
    (b",", b", "),
    (b'"start_time":', b'"start\\u005ftime":'),  # an escaped key
    (b"}\n", b"} \r\n"),
    (b"}\n", b"}}\n"),
    (b"}\n", b"\n"),
    (b":0,", b":00,"),  # not JSON
    (b":0,", b":-0,"),
    (b":0,", b":0.0,"),
    (b":0,", b":1e2,"),
    (b'"-"', b'"\\u002d"'),  # escapes the general path reads the same
    (b'"-"', b'"\\ud800"'),  # a lone surrogate (orjson refuses it)
    (b'"-"', b'"\xff"'),  # not UTF-8
    (b'"-"', b'"\t"'),  # a raw control character
    (b"{", b"\xef\xbb\xbf{"),
    (b"{", b" {"),
    (b"null", b"NaN"),
]


@settings(max_examples=500, deadline=None)
@given(
    order=st.sampled_from(list(ORDERS)),
    changes=st.dictionaries(st.sampled_from([*BASE, "@timestamp", "extra", "hits"]), ODD, max_size=4),
    drop=st.lists(st.sampled_from(list(BASE)), max_size=2),
    edit=st.one_of(st.none(), st.sampled_from(TEXT_EDITS)),
    count=st.integers(min_value=1, max_value=3),
    version=st.sampled_from([1, 2]),
)
def test_any_line_is_either_declined_or_identical(
    order: str,
    changes: dict[str, Any],
    drop: list[str],
    edit: tuple[bytes, bytes] | None,
    count: int,
    version: int,
) -> None:
    ext = extractor(ORDERS[order], version)
    doc = reorder(dict(BASE, **changes), ORDERS[order])
    for name in drop:
        doc.pop(name, None)
    raw = line(doc)
    if edit is not None:
        raw = raw.replace(edit[0], edit[1], count)
    check(ext, raw)
    check(ext, raw)  # a second time from the cache


@pytest.mark.parametrize("version", [1, 2])
def test_a_segment_text_that_holds_a_key_is_not_cut_there(version: int) -> None:
    ext = extractor(ORDERS["fields"], version)
    doc = dict(BASE, source_labels={"labels": ['x=,"bytes_in":1,"bytes_out":2']})
    assert check(ext, line(doc))
    doc = dict(BASE, dest_service_name=',"bytes_in":1')
    assert check(ext, line(doc))


def test_the_extractor_steps_aside_when_its_caches_do_not_pay() -> None:
    ext = extractor(ORDERS["fields"])
    for i in range(CHECK_AFTER + 10):
        check(ext, line(dict(BASE, host=f"node-{i}")))  # every tail is new
    assert ext.off and ext.extract(line(BASE)) is None


def stored(db: Path) -> list[Any]:
    with FlowStore(db, readonly=True) as store:
        return [log for _, log in store.rows(order_by="id")]


def test_an_import_with_the_extractor_stores_what_the_general_path_stores(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two key orders in one file, odd lines between them, a repeated record."""
    docs = [reorder(dict(BASE, dest_port=p, bytes_in=p * 7), ORDERS["fields"]) for p in range(40)]
    docs += [reorder(dict(BASE, dest_port=p, num_flows=p), ORDERS["felix"]) for p in range(40, 100)]
    lines = [line(d) for d in docs]
    lines[5] = lines[5].replace(b'"bytes_in":35', b'"bytes_in":"35"')
    lines[50] = lines[50].replace(b'"proto":"tcp"', b'"proto":6')
    lines.insert(60, b"{broken\n")
    lines.append(lines[3])
    path = tmp_path / "two_orders.jsonl"
    path.write_bytes(b"".join(lines))
    items = LineItems(Source(path))
    assert len(list(items)) == 102 and items.extracted >= 60  # needs the second extractor
    secret = new_secret()  # version-3 stores: one secret, equal digests of equal records
    monkeypatch.setattr(import_db, "new_secret", lambda: secret)
    fast = import_files([path], tmp_path / "fast.sqlite")
    child = import_files([path], tmp_path / "child.sqlite", parallel=True)  # extracted in a reader process
    assert child.parallel and [str(i) for i in child.issues] == [str(i) for i in fast.issues]
    assert stored(tmp_path / "child.sqlite") == stored(tmp_path / "fast.sqlite")
    monkeypatch.setattr(
        import_lines.Extractor, "build", classmethod(lambda cls, d, r, v=1, digester=None: None)
    )
    slow = import_files([path], tmp_path / "slow.sqlite")
    assert (
        [str(i) for i in fast.issues]
        == [str(i) for i in slow.issues]
        == ["two_orders.jsonl:61: not JSON (Expecting property name enclosed in double quotes at column 2)"]
    )
    assert fast.total("imported") == slow.total("imported") == 100 and fast.total("duplicates") == 1
    assert stored(tmp_path / "fast.sqlite") == stored(tmp_path / "slow.sqlite")
    with (
        FlowStore(tmp_path / "fast.sqlite", readonly=True) as a,
        FlowStore(tmp_path / "slow.sqlite", readonly=True) as b,
        FlowStore(tmp_path / "child.sqlite", readonly=True) as c,
    ):
        assert stored_digests(a) == stored_digests(b) == stored_digests(c) != set()


TEXT_FIELDS = [k for k, v in BASE.items() if type(v) is str and k not in ("proto", "action", "reporter")]
INT_FIELDS = [k for k, v in BASE.items() if type(v) is int]
NASTY_TEXT = st.text(alphabet=st.sampled_from('ab-=,:"\\{}[] \té€😀\x00\x1f/'), max_size=12)


@settings(max_examples=300, deadline=None)
@given(
    order=st.sampled_from(list(ORDERS)),
    texts=st.dictionaries(st.sampled_from(TEXT_FIELDS), NASTY_TEXT, max_size=3),
    ints=st.dictionaries(
        st.sampled_from(INT_FIELDS),
        st.one_of(st.integers(-(2**63), 2**63 - 1), st.sampled_from([0, -1, 2**31, -(2**31) - 1, 2**62])),
        max_size=4,
    ),
    labels=st.lists(NASTY_TEXT, max_size=3),
    version=st.sampled_from([1, 2]),
)
def test_canonical_records_with_odd_text_and_numbers_are_identical(
    order: str, texts: dict[str, str], ints: dict[str, int], labels: list[str], version: int
) -> None:
    doc = reorder(dict(BASE, **texts, **ints, dest_labels={"labels": labels}), ORDERS[order])
    raw = line(doc)
    expected = row_from_calico(json.loads(raw)) is not None
    if any(abs(v) >= 10**18 for k, v in ints.items() if k in VARYING):
        expected = False  # counters of 19 digits and more are left to the general path
    assert check(extractor(ORDERS[order], version), raw) == expected  # taken whenever it is canonical
    ensure_ascii = json.dumps(doc).encode() + b"\n"  # escapes and spaces: declined or the same
    check(extractor(ORDERS[order], version), ensure_ascii)
