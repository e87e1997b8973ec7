"""Version 3: the reader's hot path sends a line's counters block as text, the writer reads it.

A Felix line's seven counters (``bytes_in`` ... ``num_flows_completed``) stand together in the
line's middle. The reader checks that block with its pattern as ever (the same text it would
read), keeps the text instead of reading seven ints, and sends a batch's texts as one
(``counters_text``: the names taken away). The writer reads them back into the batch's columns
(``KeyedBatch.with_counters``) before it digests the batch. Whatever the lines hold, the
completed batches hold the values the ints path gives, row by row."""

from __future__ import annotations

import json
import pickle
import re
from pathlib import Path
from typing import Any

import pytest
from test_import_handover import good, write

from desktopviz.core import import_extract_keyed
from desktopviz.core.flowlog import VARYING_FIELDS
from desktopviz.core.import_complete import DigestCompleter
from desktopviz.core.import_counters import COUNTERS, COUNTERS_AT, counters_text, read_counters
from desktopviz.core.import_digest import new_secret
from desktopviz.core.import_extract import Extractor
from desktopviz.core.import_extract_keyed import _block_pattern
from desktopviz.core.import_fast import row_from_calico
from desktopviz.core.import_read import Source
from desktopviz.core.import_worker import LineItems, _handovers

EDGE = [0, 1, -1, 7, 10**17, 10**18 - 1, -(10**18 - 1), 123456789012345678]


def block_text(values: list[int]) -> bytes:
    return b"," + b",".join(b'"%s":%d' % (n.encode(), v) for n, v in zip(COUNTERS, values, strict=True))


def test_the_counters_text_holds_the_ints_of_the_blocks() -> None:
    assert all(re.fullmatch("[a-z_]+", n) for n in COUNTERS)  # what counters_text takes away
    rows = [[EDGE[(i + j) % len(EDGE)] for j in range(len(COUNTERS))] for i in range(23)]
    text = counters_text([block_text(r) for r in rows])
    assert text.startswith(b",0,1,-1,")
    assert read_counters(text, len(rows)) == [[r[j] for r in rows] for j in range(len(COUNTERS))]
    assert read_counters(counters_text([]), 0) == [[] for _ in COUNTERS]


def test_a_counters_text_of_another_length_is_refused() -> None:
    text = counters_text([block_text(list(range(7)))])
    with pytest.raises(ValueError, match="7 ints for 2 rows"):
        read_counters(text, 2)


@pytest.mark.parametrize(
    "value",
    ["0", "-0", "5", "-5", "999999999999999999", "-999999999999999999", "1000000000000000000", "007", "00",
     "-", "", "+1", "1.0", "1e3", " 1", "1 ", "--1", "0x1", "true", "null", '"1"', "١"],
)  # fmt: skip
def test_the_pattern_without_groups_takes_what_the_one_with_groups_takes(value: str) -> None:
    """The hot path checks the block with the pattern's uncaptured form: the same texts."""
    with_groups = re.compile(_block_pattern(list(COUNTERS), False, False))
    without = re.compile(_block_pattern(list(COUNTERS), False, False, groups=False))
    for at in range(len(COUNTERS)):
        values = ["3"] * len(COUNTERS)
        values[at] = value
        line = ("," + ",".join(f'"{n}":{v}' for n, v in zip(COUNTERS, values, strict=True)) + ",").encode()
        m, n = with_groups.match(line), without.match(line)
        assert (m is None) == (n is None)
        if m is not None:
            assert m.end() == n.end() == len(line)
            ints = read_counters(counters_text([line[: n.end() - 1]]), 1)
            assert [c[0] for c in ints] == [int(g) for g in m.groups()]


def extractor(template: dict[str, Any], version: int = 3) -> Extractor:
    ext = Extractor.build(template, row_from_calico(template), version)
    assert ext is not None
    return ext


def felix() -> dict[str, Any]:
    return json.loads(good(1, 3)[0].to_json())


def test_only_a_version_3_reader_sends_a_middle_block_of_counters_as_text() -> None:
    d = felix()
    names = list(d)
    assert names.index("bytes_in") > 0 and names[names.index("bytes_in") :][:7] == list(COUNTERS)
    assert "c = raw[" in extractor(d).split_hot.source
    for version in (1, 2):
        ext = extractor(d, version)
        assert ext.split_hot is ext.split_key
    reordered = dict(reversed(list(d.items())))  # the counters in another order
    first = {n: d[n] for n in (*COUNTERS, *(k for k in d if k not in COUNTERS))}  # the line's first block
    last = {n: d[n] for n in (*(k for k in d if k not in COUNTERS), *COUNTERS)}  # its last block
    for template in (reordered, first, last):
        ext = extractor(template)
        assert ext.split_hot is ext.split_key


def lines_with_odd_counters(seed: int) -> list[str]:
    """Felix lines with counters at the edges of what the block pattern takes, and lines the
    hot path declines (19 digits, a float, null, another key order) between them."""
    logs = [json.loads(x.to_json()) for x in good(150, seed)]
    out = []
    for i, d in enumerate(logs):
        d = dict(d)
        for j, n in enumerate(COUNTERS):
            if i % 3 == 0:
                d[n] = EDGE[(i + j) % len(EDGE)]
        if i % 17 == 5:
            d["packets_out"] = 10**18  # 19 digits: declined, read by the general path
        elif i % 17 == 9:
            d["num_flows"] = 2.0
        elif i % 17 == 12:
            d["bytes_out"] = None
        elif i % 17 == 14:
            d = dict(reversed(list(d.items())))
        out.append(json.dumps(d, separators=(",", ":")))
    return out


def completed(path: Path, batch: int, secret: bytes) -> tuple[list[Any], list[Any]]:
    """(each record's key values and varying values, the batches as sent) of the loop."""
    complete = DigestCompleter(secret).complete
    values: dict[int, Any] = {}
    records, sent = [], []
    for handover, _ in _handovers(LineItems(Source(path), keyed=True, digest_version=3), batch):
        sent.append(handover.batch)
        b = complete(pickle.loads(pickle.dumps(handover.batch)))  # as the writer gets it
        if b.reset:
            values.clear()
        values.update(b.new_keys)
        assert b.counters is None
        rows = list(zip(*b.ints, strict=True))
        records += [
            (values[k], row, b.digests[i * 16 : i * 16 + 16])
            for i, (k, row) in enumerate(zip(b.kids, rows, strict=True))
        ]
    return records, sent


@pytest.mark.parametrize("batch", [1, 7, 40, 10_000])
def test_batches_with_counters_as_text_hold_what_the_ints_path_gives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, batch: int
) -> None:
    lines = lines_with_odd_counters(batch)
    path = write(tmp_path / "odd.log", lines)
    secret = new_secret()
    got, sent = completed(path, batch, secret)
    texts = [b.counters for b in sent if b.counters is not None]
    if batch < 10:  # (a line of every 17 to 20 is declined)
        assert any(rows is None for _, rows in texts)  # batches of text only, ...
    if batch > 1:
        assert any(rows is not None for _, rows in texts)  # ... and some with other rows
    for b in sent:  # no line's text goes in the columns
        assert not any(type(v) is bytes for col in b.ints for v in col)
    monkeypatch.setattr(import_extract_keyed, "counters_block", lambda *_: None)
    want, sent = completed(path, batch, secret)
    assert all(b.counters is None for b in sent)
    assert got == want and len(got) == len(lines)
    edges = {row[COUNTERS_AT:] for _, row, _ in got}
    assert tuple(EDGE[:7]) in edges and any(10**18 in row for row in edges)


def test_the_writer_reads_the_counters_of_a_batch_once() -> None:
    d = felix()
    ext = extractor(d)
    raw = (json.dumps(d, separators=(",", ":")) + "\n").encode()
    ints, _, digest = ext.split_hot(raw)
    assert digest is None and type(ints[COUNTERS_AT]) is bytes
    assert ints[COUNTERS_AT + 1 :] == (None,) * (len(VARYING_FIELDS) - COUNTERS_AT - 1)
    want, _, _ = ext.split_key(raw)
    assert read_counters(counters_text([ints[COUNTERS_AT]]), 1) == [[v] for v in want[COUNTERS_AT:]]
    assert ints[:COUNTERS_AT] == want[:COUNTERS_AT]
