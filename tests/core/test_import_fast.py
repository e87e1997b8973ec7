"""The import's fast path gives exactly what the general path gives: the same stored values,
the same digests (a file imported by an earlier version is still recognised), and the same
reported problems, whichever JSON parser is installed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from import_lines import BASE, DATA, LINES

from desktopviz.core import import_fast, import_lines
from desktopviz.core.import_calico import flowlog_from_calico
from desktopviz.core.import_db import _fields, digest_secret, digest_version, record_hash, stored_digests
from desktopviz.core.import_digest import DIGEST_VERSION, row_hash_v2
from desktopviz.core.importers import import_files
from desktopviz.core.store import FlowStore


def general(doc: dict[str, Any]) -> tuple[Any, ...] | str:
    """What the general path makes of a document: its values, or the error message."""
    try:
        return _fields(flowlog_from_calico(doc))
    except (ValueError, TypeError, AttributeError, OverflowError) as exc:
        return f"error: {exc}"


def test_felix_records_take_the_fast_path_with_the_same_values_and_digests() -> None:
    for line in LINES:
        doc = json.loads(line)
        row = import_fast.row_from_calico(doc)
        expected = general(doc)
        assert row is None or row == expected, line
        if row is not None:
            assert import_fast.row_hash(row) == record_hash(flowlog_from_calico(doc))
            assert row_hash_v2(row) == record_hash(flowlog_from_calico(doc), 2)
    assert import_fast.row_from_calico(BASE) is not None  # the Felix v5 record is canonical


ODD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.sampled_from(
        ["", "-", "tcp", "TCP", " udp", "6", "icmp", "allow", "Deny", "src", "fwd", "1767225600"]
    ),
    st.sampled_from([1_767_225_600_000, "2026-01-01T00:00:00Z", 1.5e9]),
    st.just({"labels": ["a=b"]}),
    st.just({"labels": ["a=b", 7]}),
    st.just({"a": "b"}),
    st.just(["a=b"]),
    st.just({"enforced_policies": ["0|t|t.p|allow|0"], "pending_policies": [], "all_policies": []}),
    st.just({"enforced_policies": ["np:ns/p"], "pending_policies": None, "all_policies": [1]}),
    st.just(["0|default|default.p|deny|-1"]),
    st.lists(st.one_of(st.text(max_size=3), st.integers()), max_size=3),
)


@settings(max_examples=400, deadline=None)
@given(
    changes=st.dictionaries(st.sampled_from([*BASE, "@timestamp"]), ODD_VALUES, max_size=4),
    drop=st.booleans(),
)
def test_any_record_is_either_declined_or_identical(changes: dict[str, Any], drop: bool) -> None:
    doc = dict(BASE, **changes)
    if drop:  # a field missing instead
        for name in changes:
            doc.pop(name, None)
    row = import_fast.row_from_calico(doc)
    if row is not None:
        assert row == general(doc)


def parsers() -> list[Any]:
    out: list[Any] = [pytest.param(False, id="json")]
    if import_fast.HAVE_ORJSON:
        out.append(pytest.param(True, id="orjson"))
    return out


@pytest.mark.parametrize("use_orjson", parsers())
def test_lines_orjson_would_read_differently_are_stored_as_json_reads_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, use_orjson: bool
) -> None:
    """Integers beyond 64 bits (orjson makes them floats), NaN, a byte-order mark."""
    if not use_orjson:
        monkeypatch.setattr(import_lines, "HAVE_ORJSON", False)
        monkeypatch.setattr(import_lines, "fast_loads", _stdlib_loads)
    big = 123456789012345678901234567890
    docs = [
        dict(BASE, source_name=big, dest_port=1),
        dict(BASE, source_labels={"labels": [f"id={big}", big]}, dest_port=2),
        dict(BASE, bytes_in=big, dest_port=3),
    ]
    lines = [json.dumps(d) for d in docs]
    lines.append(
        json.dumps(dict(BASE, dest_port=4, bytes_in=-7)).replace('"bytes_in": -7', '"bytes_in": NaN')
    )
    path = tmp_path / "odd.jsonl"
    path.write_bytes(
        b"\xef\xbb\xbf" + "\n".join([json.dumps(dict(BASE, dest_port=5)), *lines]).encode() + b"\n"
    )
    summary = import_files([path], tmp_path / "c.sqlite")
    with FlowStore(tmp_path / "c.sqlite", readonly=True) as store:
        stored = {log.dest_port: log for _, log in store.rows()}
    assert sorted(stored) == [1, 2, 5]
    assert stored[1].source_name == str(big)
    assert stored[2].source_labels == {"labels": [f"id={big}", big]}
    assert [(i.where, i.message) for i in summary.issues] == [  # store rejections come with the batch
        ("5", "bytes_in: not an integer (nan)"),
        ("4", "rejected by the store: Python int too large to convert to SQLite INTEGER"),
    ]


def _stdlib_loads(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None


def test_a_file_imported_by_the_general_path_is_recognised(tmp_path: Path) -> None:
    """The digests are the general path's (of a new store's version): importing after them
    finds only duplicates."""
    path = DATA / "calico_v5.jsonl"
    db = tmp_path / "c.sqlite"
    first = import_files([path], db)
    with FlowStore(db, readonly=True) as store:
        seen = stored_digests(store)
        version = digest_version(store)
        secret = digest_secret(store, version)
    assert version == DIGEST_VERSION
    docs = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    logs = [flowlog_from_calico(d) for d in docs]
    assert seen == {(log.start_time, record_hash(log, version, secret)) for log in logs}
    again = import_files([path], db)
    assert again.total("duplicates") == first.total("imported") and again.total("imported") == 0


def test_records_imported_by_the_previous_version_are_recognised(tmp_path: Path) -> None:
    """The previous version kept the digests alone in import_seen; they are still looked up."""
    path = DATA / "calico_v5.jsonl"
    db = tmp_path / "c.sqlite"
    first = import_files([path], db)
    logs = [flowlog_from_calico(json.loads(x)) for x in path.read_text().splitlines() if x.strip()]
    with FlowStore(db) as store:  # what the previous version left: version 1 digests in import_seen
        c = store.conn
        c.executemany("INSERT INTO import_seen (hash) VALUES (?)", [(record_hash(log),) for log in logs])
        c.execute("DROP TABLE import_digests")
        c.execute("DROP TABLE import_digest_sets")
        c.execute("DELETE FROM meta WHERE key IN ('import_digest_version', 'import_digest_secret')")
    other = tmp_path / "more.jsonl"
    lines = path.read_text().splitlines()
    other.write_text("\n".join([*lines, json.dumps(dict(BASE, dest_port=1))]) + "\n")
    again = import_files([other], db)
    assert again.total("duplicates") == first.total("imported") and again.total("imported") == 1
    third = import_files([other], db)  # and what this version wrote is found in its own table
    assert third.total("duplicates") == first.total("imported") + 1
