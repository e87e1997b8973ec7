"""Import digest version 3 (import_digest's module doc): a keyed multilinear hash of a record's
key digest and nine varying ints under a per-store secret, computed by the keyed writer a batch
at a time (import_complete); anything but 64-bit ints gets BLAKE2b. Checked against the
definition written out here, and the import paths against the store's own insert."""

from __future__ import annotations

import hashlib
import json
import marshal
import random
import struct
from pathlib import Path

import numpy as np
import pytest
from test_import_digest_sets import one_secret
from test_import_handover import good, write

from desktopviz.core.flowlog import FIELDS
from desktopviz.core.import_calico import flowlog_from_calico
from desktopviz.core.import_complete import DigestCompleter, int64_columns
from desktopviz.core.import_db import digest_secret, record_hash, stored_digests
from desktopviz.core.import_digest import (
    SECRET_SIZE,
    DigesterV3,
    key_digest,
    key_of,
    new_secret,
    row_hasher,
    varying_of,
)
from desktopviz.core.importers import import_files
from desktopviz.core.store import FlowStore, StoreError

_M64 = 2**64


def by_the_definition(secret: bytes, kd: bytes, varying: tuple[int, ...]) -> bytes:
    """Four words, each the top half of (m0 + sum of m_i * x_i) mod 2**64 over the 32-bit words
    x_i of the key digest and of each value (low word first), multipliers from the secret."""
    m = struct.unpack(f"<{SECRET_SIZE // 8}Q", secret)
    terms = len(m) // 4
    x = list(struct.unpack("<4I", kd))
    for v in varying:
        u = v % _M64
        x += [u % 2**32, u // 2**32]
    out = b""
    for j in range(4):
        row = m[j * terms : (j + 1) * terms]
        acc = (row[0] + sum(a * b for a, b in zip(row[1:], x, strict=True))) % _M64
        out += struct.pack("<I", acc // 2**32)
    return out


EDGES = [0, 1, -1, 2**31, 2**32, 2**63 - 1, -(2**63), 1767225600]


def random_ints(rng: random.Random) -> tuple[int, ...]:
    return tuple(
        rng.choice([rng.choice(EDGES), rng.randrange(-(2**63), 2**63), rng.randrange(10**6)])
        for _ in range(9)
    )


def test_the_digest_is_the_multilinear_hash_of_its_definition() -> None:
    rng = random.Random(3)
    for _ in range(20):
        secret, kd = new_secret(), rng.randbytes(16)
        d = DigesterV3(secret)
        rows = [random_ints(rng) for _ in range(50)]
        want = [by_the_definition(secret, kd, r) for r in rows]
        assert [d.digest(kd, r) for r in rows] == want
        blob = d.batch(np.tile(d.key_base(kd), (len(rows), 1)), np.array(rows, dtype=np.int64))
        assert [blob[i * 16 : i * 16 + 16] for i in range(len(rows))] == want


def test_values_that_are_not_64_bit_ints_get_blake2b_of_their_marshal_form() -> None:
    d, kd = DigesterV3(new_secret()), bytes(range(16))
    base = (1767225600, 1767225900, 1, 2, 3, 4, 5, 6, 7)
    for odd in (5.0, True, 2**63, -(2**63) - 1, None, "7"):
        varying = (*base[:4], odd, *base[5:])
        want = hashlib.blake2b(b"m" + kd + marshal.dumps(varying, 0), digest_size=16).digest()
        assert d.digest(kd, varying) == want
    # 1 and 1.0 and True are equal to Python, and are three different records here
    forms = {d.digest(kd, (*base[:4], v, *base[5:])) for v in (1, 1.0, True)}
    assert len(forms) == 3


def test_each_store_has_its_own_secret_and_a_row_digest_is_its_key_digest_and_ints() -> None:
    a, b = new_secret(), new_secret()
    assert a != b and len(a) == SECRET_SIZE
    row = tuple(range(len(FIELDS)))
    assert DigesterV3(a).row(row) == by_the_definition(a, key_digest(key_of(row)), varying_of(row))
    rng = random.Random(5)
    kd = rng.randbytes(16)
    ints = random_ints(rng)
    assert DigesterV3(a).digest(kd, ints) != DigesterV3(b).digest(kd, ints)
    with pytest.raises(ValueError, match="secret"):
        DigesterV3(a[:-1])
    with pytest.raises(ValueError, match="needs the store's secret"):
        row_hasher(3)


def test_the_completer_takes_int64_columns_in_numpy_and_anything_else_row_by_row() -> None:
    assert int64_columns([[1, 2], [3, 4]]) is not None
    assert int64_columns([[1, 2], [3, 2**63]]) is None  # beyond 64 bits
    assert int64_columns([[1, 2], [3, 4.0]]) is None  # a float
    assert int64_columns([[1, True], [3, 4]]) is None  # a bool
    assert int64_columns([[1.0, 2], [3, 4]], checked=1) is None  # the columns before `checked` are looked at
    assert int64_columns([[1, 2], [3, 4]], checked=1).tolist() == [[1, 2], [3, 4]]
    assert DigestCompleter(new_secret()).digester is not None


def _lines_with_label_orders(tmp: Path) -> Path:
    """Records, and the same records with their source labels in another order (a label set's
    text keeps the order read, so these are other records), each twice."""
    logs = [json.loads(x.to_json()) for x in good(30, 4)]
    lines = []
    for d in logs:
        lines.append(json.dumps(d, separators=(",", ":")))
        flipped = dict(d)
        labels = d.get("source_labels") or {}
        if isinstance(labels, dict) and len(labels.get("labels") or []) > 1:
            flipped["source_labels"] = {"labels": list(reversed(labels["labels"]))}
            lines.append(json.dumps(flipped, separators=(",", ":")))
    return write(tmp / "orders.log", lines + lines)


def test_records_that_differ_in_label_order_only_are_different_records_in_every_path(tmp_path: Path) -> None:
    path = _lines_with_label_orders(tmp_path)
    half = len(path.read_text().splitlines()) // 2
    modes = (("ref", {"keyed": False}), ("keyed", {"parallel": False}), ("par", {"parallel": True}))
    with one_secret():  # (the three stores' digests are compared)
        got = {name: _imported(path, tmp_path / f"{name}.sqlite", half, kw) for name, kw in modes}
    assert got["keyed"] == got["ref"] and got["par"] == got["ref"]
    assert len(got["ref"][0]) == half


def _imported(path: Path, db: Path, half: int, kw: dict) -> tuple:
    s = import_files([path], db, batch=7, **kw)
    assert (s.total("imported"), s.total("duplicates")) == (half, half)
    with FlowStore(db, readonly=True) as store:
        return stored_digests(store), store.conn.execute("SELECT * FROM flow_logs ORDER BY id").fetchall()


def test_a_record_digests_alike_from_every_path_of_one_store(tmp_path: Path) -> None:
    """Imported once by the reader process, the same records are duplicates when imported
    again by the store's insert or in this process, in a store with its own secret."""
    path = write(tmp_path / "a.log", [x.to_json() for x in good(80, 9)])
    db = tmp_path / "one.sqlite"
    first = import_files([path], db, parallel=True, batch=16)
    assert first.total("imported") > 0
    for kw in ({"keyed": False}, {"parallel": False}, {"parallel": True}):
        again = import_files([path], db, batch=5, **kw)
        assert (again.total("imported"), again.total("duplicates")) == (0, first.total("imported"))
    with FlowStore(db, readonly=True) as store:
        secret = digest_secret(store)
        held = stored_digests(store)
    logs = [flowlog_from_calico(json.loads(x)) for x in path.read_text().splitlines()]
    assert held == {(g.start_time, record_hash(g, 3, secret)) for g in logs}


def test_importing_into_a_store_opened_read_only_is_refused_clearly(tmp_path: Path) -> None:
    path = write(tmp_path / "a.log", [x.to_json() for x in good(20, 2)])
    db = tmp_path / "ro.sqlite"
    import_files([path], db)
    before = db.read_bytes()
    with FlowStore(db, readonly=True) as store:
        with pytest.raises(StoreError, match="opened read-only"):
            import_files([path], store)
    assert db.read_bytes() == before


def test_rows_digested_a_batch_at_a_time_get_the_digests_of_one_at_a_time() -> None:
    """The store's insert path (Elasticsearch documents, JSON arrays) digests its batches with
    DigesterV3.rows; rows whose varying values are not all 64-bit ints among them."""
    rng = random.Random(8)
    d = DigesterV3(new_secret())
    odd = [1.5, True, 2**64, None, -(2**63) - 1]
    rows = []
    for log in good(60, 4):
        row = list(json.loads(json.dumps(list(log_row(log)))))
        if rng.random() < 0.3:
            row[FIELDS.index(rng.choice(["bytes_in", "packets_out", "start_time"]))] = rng.choice(odd)
        rows.append(tuple(row))
    assert d.rows(rows) == [d.row(r) for r in rows] and d.rows([]) == []
    keys = [(0, None if i % 3 else b"x" * 16) for i in range(len(rows))]
    filled = d.fill(rows, keys)
    assert [k[1] for k in filled] == [b"x" * 16 if i % 3 == 0 else d.row(r) for i, r in enumerate(rows)]


def log_row(log: object) -> tuple:
    return tuple(getattr(log, n) for n in FIELDS)
