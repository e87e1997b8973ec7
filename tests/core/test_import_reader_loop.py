"""The reader process's loop (import_worker._handovers over LineItems.items) puts the lines the
extractor splits straight into the batch. Whatever the file holds (other key orders that
make the extractor be built again, malformed lines, several records on a line, floats, a
start time beyond 64 bits, duplicates, an extractor that stops numbering keys), its batches
hold the records, issues and line counts that reading the same file item by item gives."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from test_import_handover import good, write

from desktopviz.core import import_extract, import_lines
from desktopviz.core.import_complete import DigestCompleter
from desktopviz.core.import_digest import READER_VERSION, new_secret, row_hasher, seen_key
from desktopviz.core.import_prepare import normalise
from desktopviz.core.import_read import Issue, Source
from desktopviz.core.import_worker import LineItems, _handovers


def hostile_lines(seed: int) -> list[str]:
    logs = [json.loads(x.to_json()) for x in good(120, seed)]
    out = [json.dumps(d, separators=(",", ":")) for d in logs[:40]]
    # another key order (the extractor declines it; after 32 such lines it is built again)
    out += [json.dumps(dict(reversed(list(d.items()))), separators=(",", ":")) for d in logs[40:80]]
    out += ["{not json", "", "[1, 2]", '{"start_time": "yesterday"}']
    hits = {"hits": {"hits": [{"_source": d} for d in logs[80:83]]}}
    out.append(json.dumps(hits))  # several records on one line
    odd = dict(logs[83])
    odd["bytes_in"] = 5.0  # a float where an int belongs
    out.append(json.dumps(odd, separators=(",", ":")))
    far = dict(logs[84])
    far["start_time"] = far["end_time"] = 2**70  # beyond what SQLite holds
    out.append(json.dumps(far, separators=(",", ":")))
    out += [json.dumps(d, separators=(",", ":")) for d in logs[85:]]
    out += out[:5]  # duplicates of earlier lines
    return out


def by_items(path: Path, secret: bytes | None = None) -> tuple[list[Any], list[str], int]:
    """(records as (digest key, where), issues, records read) read item by item (with a
    ``secret``: version 3, not keyed, as the store's insert reads them)."""
    version = READER_VERSION if secret is None else 3
    row_hash = row_hasher(version, secret)
    recs: list[Any] = []
    issues: list[str] = []
    read = 0
    for item in LineItems(Source(path), keyed=secret is None, digest_version=version, secret=secret):
        if type(item) is Issue:
            issues.append(str(item))
            continue
        read += 1
        if len(item) == 5:
            where, ints, _ekey, digest, _ext = item
            recs.append(((ints[0], digest), where))
            continue
        if len(item) == 3:
            where, row, digest = item
        else:
            where, obj = item
            row = normalise(obj)
            if type(row) is str:
                issues.append(f"{path.name}:{where}: {row}")
                continue
            digest = row_hash(row)
        recs.append((seen_key(row[0], digest), where))
    return recs, issues, read


def by_batches(
    path: Path, batch: int, secret: bytes | None = None
) -> tuple[list[Any], list[str], list[int], int]:
    """(records as (digest key, where), issues, lines of each batch, records read) from the loop
    (with a ``secret``: version-3 batches, their digests completed as the writer does)."""
    version, complete = READER_VERSION, None
    if secret is not None:
        version, complete = 3, DigestCompleter(secret).complete
    recs: list[Any] = []
    issues: list[str] = []
    lines: list[int] = []
    read = 0
    sizes: list[int] = []
    for handover, upto in _handovers(LineItems(Source(path), keyed=True, digest_version=version), batch):
        b = handover.batch if complete is None else complete(handover.batch)
        recs += list(zip(b.row_keys(), b.where_texts(), strict=True))
        issues += [str(i) for i in handover.issues]
        lines.append(upto)
        read += handover.read
        sizes.append(b.n)
    assert all(n >= batch for n in sizes[:-1])  # only the last batch ends short
    return recs, issues, lines, read


@pytest.mark.parametrize("version", [2, 3])
@pytest.mark.parametrize("batch", [1, 7, 50, 10_000])
def test_batches_hold_what_items_give(tmp_path: Path, batch: int, version: int) -> None:
    """Version 3: the reader sends key digests, the writer's completer makes the digests the
    store's insert makes of the same records."""
    path = write(tmp_path / "mix.log", hostile_lines(31))
    secret = new_secret() if version == 3 else None
    want, want_issues, want_read = by_items(path, secret)
    got, issues, lines, read = by_batches(path, batch, secret)
    assert got == want and len(got) > 100
    assert issues == want_issues and issues  # the malformed lines, named by line
    assert read == want_read
    assert lines == sorted(lines) and lines[-1] == len(path.read_text().splitlines())


@pytest.mark.parametrize("version", [2, 3])
def test_an_extractor_that_stops_numbering_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, version: int
) -> None:
    """Past KEY_LIMIT keys split_key declines every line; the loop reads on through extract()
    and the general path without losing or repeating a line."""
    monkeypatch.setattr(import_extract, "KEY_LIMIT", 3)
    path = write(tmp_path / "many.log", hostile_lines(32))
    secret = new_secret() if version == 3 else None
    want, _, _ = by_items(path, secret)
    got, _, _, _ = by_batches(path, 9, secret)
    assert got == want


def test_the_last_part_of_a_file_comes_in_smaller_batches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once less of the file is left than the last batch took, batches are an eighth of the
    last one's size, down to TAIL_BATCH (the writer stores the last one after the reader
    ends); the records are the same."""
    monkeypatch.setattr(import_lines, "TAIL_BATCH", 10)
    lines = [json.dumps(json.loads(x.to_json()), separators=(",", ":")) for x in good(400, 12)]
    path = write(tmp_path / "long.log", lines)
    want, _, _ = by_items(path)
    sizes = [h.batch.n for h, _ in _handovers(LineItems(Source(path), keyed=True), 100)]
    assert sizes[:3] == [100, 100, 100] and sum(sizes) == len(want) == len(lines)
    tail = sizes[3:]
    assert tail[0] == 12 and tail == sorted(tail, reverse=True)  # an eighth, then again, ...
    assert all(n >= 10 for n in tail[:-1])  # ... down to TAIL_BATCH; the very last may be shorter
