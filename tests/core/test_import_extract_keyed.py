"""The keyed form of the extractor: a line's changing integers and a key give back exactly the
row and digest ``split`` gives, keys stay answerable after the caches are cleared, two texts
never share a key, and ``split_key`` declines exactly the lines ``split`` declines."""

from __future__ import annotations

import gc
import json
import weakref
from itertools import islice
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from import_lines import BASE, LINES
from test_import_extract import (
    INT_FIELDS,
    NASTY_TEXT,
    ODD,
    ORDERS,
    TEXT_EDITS,
    TEXT_FIELDS,
    extractor,
    line,
    reorder,
)

from desktopviz.core import import_extract, import_extract_keyed
from desktopviz.core.flowlog import FIELDS
from desktopviz.core.import_digest import row_hasher
from desktopviz.core.import_extract import KEY_FIELDS, VARYING, VARYING_FIELDS, Extractor
from desktopviz.core.import_fast import loads, row_from_calico

_VI = [FIELDS.index(n) for n in VARYING_FIELDS]
_KI = [FIELDS.index(n) for n in KEY_FIELDS]
BENCH = Path("/tmp/desktopviz_bench_import_1000000.jsonl")


# dest_port ends the first segment: a known text can be the start of another line's segment
PORT_LAST = [
    "start_time",
    "end_time",
    *(k for k in BASE if k not in VARYING and k != "dest_port"),
    "dest_port",
]
PORT_LAST += [k for k in BASE if k in VARYING and k not in PORT_LAST]
KEYED_ORDERS = {**ORDERS, "port_last": PORT_LAST}  # and a line that ends with a block


def merge(ints: tuple[int, ...], values: tuple[Any, ...]) -> tuple[Any, ...]:
    row: list[Any] = [None] * len(FIELDS)
    for i, v in zip(_VI, ints, strict=True):
        row[i] = v
    for i, v in zip(_KI, values, strict=True):
        row[i] = v
    return tuple(row)


def same(ext: Extractor, raw: bytes) -> bool:
    """split_key agrees with split (the same lines declined, the same row and digest); True if taken."""
    want = ext.extract(raw)
    got = ext.split_key(raw)
    assert (got is None) == (want is None), raw
    if got is None:
        return False
    ints, key, digest = got
    assert len(ints) == len(VARYING_FIELDS) and all(type(i) is int for i in ints)
    assert (merge(ints, ext.key_values(key)), digest) == want, raw
    return True


def test_the_field_lists_split_fields_in_its_order() -> None:
    assert set(VARYING_FIELDS) == VARYING and len(VARYING_FIELDS) + len(KEY_FIELDS) == len(FIELDS)
    assert list(VARYING_FIELDS) == [n for n in FIELDS if n in VARYING]
    assert list(KEY_FIELDS) == [n for n in FIELDS if n not in VARYING]


@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize("order", list(ORDERS))
def test_felix_records_give_the_rows_of_split(order: str, version: int) -> None:
    ext = extractor(ORDERS[order], version)
    docs = [reorder(dict(BASE, **json.loads(t)), ORDERS[order]) for t in LINES]
    taken = [same(ext, line(d)) for d in docs]
    assert sum(taken) >= 10
    assert same(ext, line(reorder(BASE, ORDERS[order])))


@pytest.mark.parametrize("version", [1, 2])
def test_missing_varying_fields_get_the_value_every_line_gets(version: int) -> None:
    order = [k for k in BASE if k not in ("num_flows_started", "packets_in", "host")]
    ext = extractor(order, version)
    assert same(ext, line(reorder(dict(BASE, bytes_in=5), order)))
    got = ext.split_key(line(reorder(dict(BASE, bytes_in=5), order)))
    assert got is not None
    row = merge(got[0], ext.key_values(got[1]))
    assert row[FIELDS.index("bytes_in")] == 5
    assert row == ext.extract(line(reorder(dict(BASE, bytes_in=5), order)))[0]  # type: ignore[index]


def test_equal_keys_mean_equal_values_and_keys_outlive_the_caches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(import_extract, "CACHE_LIMIT", 3)
    ext = extractor(ORDERS["felix"])
    other = extractor(ORDERS["fields"])
    keys: dict[int, tuple[Any, ...]] = {}
    for round_ in range(3):
        for i in range(8):
            doc = dict(BASE, dest_port=i, host=f"n{i % 2}", bytes_in=round_)
            for e in (ext, other):
                got = e.split_key(line(reorder(doc, ORDERS["felix" if e is ext else "fields"])))
                assert got is not None
                values = e.key_values(got[1])
                assert keys.setdefault(got[1], values) == values  # a key never means other values
                assert values[KEY_FIELDS.index("dest_port")] == i
    assert len(keys) > 16  # caches cleared: texts seen again get new keys, old keys still answer
    for key, values in keys.items():
        owner = ext if key in ext._key_values.by_serial or _owns(ext, key) else other
        assert owner.key_values(key) == values
    with pytest.raises(KeyError):
        ext.key_values(max(keys) << 40)


def _owns(ext: Extractor, key: int) -> bool:
    try:
        ext.key_values(key)
    except KeyError:
        return False
    return True


@pytest.mark.parametrize("version", [1, 2])
def test_past_the_key_limit_split_key_declines_and_split_goes_on(
    monkeypatch: pytest.MonkeyPatch, version: int
) -> None:
    monkeypatch.setattr(import_extract, "KEY_LIMIT", 4)
    ext = extractor(ORDERS["fields"], version)
    lines = [line(dict(BASE, dest_port=i)) for i in range(6)]
    got = [ext.split_key(raw) for raw in lines]
    assert all(g is not None for g in got[:2]) and all(g is None for g in got[3:])
    assert all(ext.split(raw) is not None for raw in lines)
    hasher = row_hasher(version)  # texts without a serial: the digest from the row's values
    assert all(ext.extract(raw)[1] == hasher(row_from_calico(loads(raw))) for raw in lines)  # type: ignore[index,arg-type]
    assert ext.key_values(got[0][1])[KEY_FIELDS.index("dest_port")] == 0  # type: ignore[index]


def test_truncated_lines_are_declined() -> None:
    ext = extractor(ORDERS["fields"])
    raw = line(BASE)
    cuts = [raw.index(b',"source_ip"'), raw.index(b',"http_requests'), len(raw) - 2]  # after a block
    for n in [*range(0, len(raw) - 2, 7), *cuts]:  # without the closing brace
        assert ext.split(raw[:n]) is None and ext.split_key(raw[:n]) is None


@settings(max_examples=400, deadline=None)
@given(
    order=st.sampled_from(list(KEYED_ORDERS)),
    changes=st.dictionaries(st.sampled_from([*BASE, "@timestamp", "extra", "hits"]), ODD, max_size=4),
    drop=st.lists(st.sampled_from(list(BASE)), max_size=2),
    edit=st.one_of(st.none(), st.sampled_from(TEXT_EDITS)),
    version=st.sampled_from([1, 2]),
)
def test_any_line_is_declined_by_both_or_identical(
    order: str, changes: dict[str, Any], drop: list[str], edit: tuple[bytes, bytes] | None, version: int
) -> None:
    ext = extractor(KEYED_ORDERS[order], version)
    assert same(ext, line(reorder(BASE, KEYED_ORDERS[order])))  # its texts are the first guesses
    doc = reorder(dict(BASE, **changes), KEYED_ORDERS[order])
    for name in drop:
        doc.pop(name, None)
    raw = line(doc)
    if edit is not None:
        raw = raw.replace(edit[0], edit[1], 1)
    same(ext, raw)
    same(ext, raw)  # from the caches


@settings(max_examples=300, deadline=None)
@given(
    order=st.sampled_from(list(KEYED_ORDERS)),
    texts=st.dictionaries(st.sampled_from(TEXT_FIELDS), NASTY_TEXT, max_size=3),
    ints=st.dictionaries(
        st.sampled_from(INT_FIELDS),
        st.one_of(
            st.integers(-(2**63), 2**63 - 1), st.sampled_from([0, -1, 2**31, -(2**31) - 1, 10**18 - 1])
        ),
        max_size=4,
    ),
    version=st.sampled_from([1, 2]),
)
def test_canonical_records_with_odd_text_and_numbers_give_the_rows_of_split(
    order: str, texts: dict[str, str], ints: dict[str, int], version: int
) -> None:
    ext = extractor(KEYED_ORDERS[order], version)
    same(ext, line(reorder(BASE, KEYED_ORDERS[order])))
    for doc in (dict(BASE, **texts), dict(BASE, **texts, **ints)):
        raw = line(reorder(doc, KEYED_ORDERS[order]))
        same(ext, raw)
        same(ext, raw)


def test_times_in_milliseconds_are_declined() -> None:
    ext = extractor(ORDERS["felix"])
    for t in (99_999_999_999, 100_000_000_000, -(10**17), 0):
        same(ext, line(reorder(dict(BASE, start_time=t), ORDERS["felix"])))
        same(ext, line(reorder(dict(BASE, end_time=t), ORDERS["felix"])))


@pytest.mark.parametrize("version", [1, 2])
def test_bench_lines_give_the_rows_of_split(version: int) -> None:
    """The generated bench data (tests/perf/_synth.py), when it is there, then a sample of it:
    the rows and digests of split, and the digests of the fast path's rows."""
    if BENCH.exists():
        with BENCH.open("rb") as fp:
            raws = list(islice(fp, 20_000))
    else:
        import sys

        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "perf"))
        from _synth import iter_logs

        raws = [(log.to_json() + "\n").encode() for log in iter_logs(3000, seed=3)]
    doc = loads(raws[0])
    row = row_from_calico(doc)
    assert row is not None
    ext = Extractor.build(doc, row, version)
    assert ext is not None
    assert all(same(ext, raw) for raw in raws)
    hasher = row_hasher(version)
    for raw in raws[:3000]:
        got = ext.extract(raw)
        assert got is not None and got[1] == hasher(row_from_calico(loads(raw)))  # type: ignore[arg-type]


def test_keys_are_small_ints() -> None:
    ext = extractor(ORDERS["felix"])
    got = ext.split_key(line(reorder(BASE, ORDERS["felix"])))
    assert got is not None and type(got[1]) is int and got[1] > 0
    assert got[1].bit_length() <= import_extract_keyed.SERIAL_BITS * 4


def test_a_known_text_that_starts_a_longer_segment_is_not_taken_for_it() -> None:
    ext = extractor(PORT_LAST)
    for port in (53, 530, 5300, 53, 530):
        doc = reorder(dict(BASE, dest_port=port, bytes_in=port), PORT_LAST)
        assert same(ext, line(doc))
        got = ext.split_key(line(doc))
        assert got is not None and ext.key_values(got[1])[KEY_FIELDS.index("dest_port")] == port


def test_many_texts_with_the_same_beginning_are_all_found_again() -> None:
    ext = extractor(PORT_LAST)
    ports = [1000 + i for i in range(3 * import_extract_keyed.FP_BUCKET)]
    for _ in range(2):
        for port in ports:
            assert same(ext, line(reorder(dict(BASE, dest_port=port), PORT_LAST)))
    assert all(
        len(bucket) <= import_extract_keyed.FP_BUCKET
        for step in ext.plan
        for bucket in getattr(step, "fp", {}).values()
    )


def test_a_key_between_the_times_and_the_next_segment_is_declined() -> None:
    ext = extractor(ORDERS["fields"])
    raw = line(BASE)
    assert same(ext, raw)
    odd = raw.replace(b',"source_ip"', b',"extra":5,"source_ip"', 1)
    assert not same(ext, odd) and not same(ext, odd)
    odd = raw.replace(b',"source_ip"', b' ,"source_ip"', 1)
    assert not same(ext, odd)


def test_an_extractor_goes_with_its_last_user_without_the_collector() -> None:
    """The importer runs with the collector off: its extractors must not live in a cycle."""
    was = gc.isenabled()
    gc.disable()
    try:
        ext = extractor(ORDERS["felix"])
        assert same(ext, line(reorder(BASE, ORDERS["felix"])))
        split_key, gone = ext.split_key, weakref.ref(ext)
        del ext
        assert gone() is None
        assert (
            split_key(line(reorder(dict(BASE, host="new"), ORDERS["felix"]))) is None
        )  # owner gone: declined
    finally:
        if was:
            gc.enable()


@pytest.mark.parametrize("fill", [None, 2**64, True])
def test_a_missing_varying_value_that_is_not_a_64_bit_int_gives_the_digest_of_the_row(fill: Any) -> None:
    """row_from_calico fills a missing counter with 0; any other value still gives its row's
    version 2 digest (the varying part then in marshal form)."""
    doc = {k: v for k, v in BASE.items() if k != "num_flows_started"}
    row = list(row_from_calico(doc))  # type: ignore[arg-type]
    row[FIELDS.index("num_flows_started")] = fill
    ext = Extractor.build(doc, tuple(row), 2)
    assert ext is not None
    raw = line(dict(doc, bytes_in=9))
    got = ext.split_key(raw)
    assert got is not None and ext.extract(raw) == (merge(got[0], ext.key_values(got[1])), got[2])
    want = list(row)
    want[FIELDS.index("bytes_in")] = 9
    assert got[2] == row_hasher(2)(tuple(want)) != row_hasher(2)(tuple(row))
