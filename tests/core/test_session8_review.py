"""Review of the eighth session's import changes (e0c169f..44489b7): a 64 KB read buffer,
flow_data rows 50 to an INSERT (``store_keys.insert_data``) and version-3 readers sending a
line's seven counters as text (``Extractor.split_hot``, ``KeyedBatch.counters``).

Every import path (the store's own insert, keyed batches made here, a reader process, the
same import with ``counters_block`` switched off, a reader process that dies, re-imports,
gzip, several files) must store the same tables and report the same counts and issues, for
lines whose counters sit at and beyond the edges of what the hot path takes."""

from __future__ import annotations

import gzip
import json
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_import_digest_sets import one_secret
from test_import_handover import DYING, everything, good, summary_of

from desktopviz.core import import_extract, import_extract_keyed, import_worker
from desktopviz.core.flowlog import VARYING_FIELDS
from desktopviz.core.import_complete import DigestCompleter, int64_columns
from desktopviz.core.import_counters import COUNTERS, COUNTERS_AT, counters_text, read_counters
from desktopviz.core.import_digest import new_secret
from desktopviz.core.import_keyed import KeyedBatch
from desktopviz.core.import_read import READ_BUFFER, Source
from desktopviz.core.import_worker import LineItems, ParallelItems, _handovers
from desktopviz.core.importers import import_files
from desktopviz.core.store import FlowStore
from desktopviz.core.store_keys import DATA_COLUMNS, DATA_INSERT, insert_data

AT_ONCE = 50  # flow_data rows a statement (store_keys / sql_rows)
WIDTH = len(DATA_COLUMNS)

# ----------------------------------------------------------------------------------------
# lines


def felix_dicts(n: int, seed: int) -> list[dict[str, Any]]:
    return [json.loads(x.to_json()) for x in good(n, seed)]


def compact(d: dict[str, Any]) -> str:
    return json.dumps(d, separators=(",", ":"))


def with_block(d: dict[str, Any], block: str, where: str = "middle") -> str:
    """A Felix line whose counters block (the text between the commas, no leading comma) is
    ``block``: where Felix writes it, or at the line's start or end."""
    rest = {k: v for k, v in d.items() if k not in COUNTERS}
    if where == "start":
        return "{" + block + "," + compact(rest)[1:]
    if where == "end":
        return compact(rest)[:-1] + "," + block + "}"
    out = {}
    for k, v in d.items():
        if k == COUNTERS[0]:
            out[k] = "@@BLOCK@@"
        elif k not in COUNTERS:
            out[k] = v
    return compact(out).replace('"bytes_in":"@@BLOCK@@"', block)


def block(values: list[str], names: tuple[str, ...] = COUNTERS, sep: str = ":") -> str:
    return ",".join(f'"{n}"{sep}{v}' for n, v in zip(names, values, strict=True))


SEVEN = ["11", "22", "33", "44", "5", "6", "7"]


def at(i: int, value: str) -> list[str]:
    out = list(SEVEN)
    out[i % 7] = value
    return out


# counters blocks at and beyond the edges of the hot path's pattern (ints of at most 18 digits)
ODD_VALUES = [
    "0", "-0", "-1", "-5", "999999999999999999", "-999999999999999999", "1000000000000000000",
    "-1000000000000000000", str(2**63 - 1), str(2**63), str(-(2**63)), str(2**64), "1" * 40,
    "1.0", "-0.0", "0.5", "1e3", "1E3", "-1e2", "1e400", '"5"', '""', "null", "true", "false",
    "[]", "{}", "00", "01", "-", "+1", "0x10",
]  # fmt: skip


def odd_blocks() -> list[str]:
    out = [block(at(i, v)) for i, v in enumerate(ODD_VALUES)]
    out += [block(["0"] * 7), block(["-0"] * 7), block(["999999999999999999"] * 7)]
    out += [block(["-999999999999999999"] * 7), block([str(2**63 - 1)] * 7)]
    out.append(block(SEVEN, sep=": "))  # a space after the colons
    out.append(block(SEVEN).replace(":5,", ": 5 ,"))  # spaces around a value
    out.append(block(SEVEN).replace('"bytes_in"', '"bytes\\u005fin"'))  # an escaped name
    out.append(block(SEVEN).replace('"bytes_out"', '"BYTES_OUT"'))  # another name (uppercase)
    out.append(block(SEVEN).replace('"packets_in"', '"packets_out"'))  # a name twice
    out.append(block(SEVEN).replace('"num_flows_started":5,', ""))  # a counter missing
    out.append(block(SEVEN).replace('"bytes_out"', '"bytes_total":3,"bytes_out"'))  # an extra one
    swapped = (COUNTERS[1], COUNTERS[0], *COUNTERS[2:])
    out.append(block(SEVEN, names=swapped))  # another order
    return out


def hostile_counter_lines(seed: int) -> list[str]:
    """Felix lines (the extractor builds on the first), each tenth or so with an odd counters
    block (see odd_blocks), some with the block at the line's start or end, a run in another
    key order (the extractor is built again), a counter twice in a line, CRLF line ends,
    spaces after the separators, malformed lines and repeats."""
    ds = felix_dicts(260, seed)
    blocks = odd_blocks()
    out: list[str] = []
    for i, d in enumerate(ds):
        if 60 <= i < 100:  # another key order: 32 declined lines build a new extractor
            out.append(compact(dict(reversed(list(d.items())))))
            continue
        k = i % 5
        if k == 1 and blocks:
            out.append(with_block(d, blocks.pop(0)))
        elif k == 3 and i % 15 == 3:
            out.append(with_block(d, block(SEVEN), "start" if i % 2 else "end"))
        elif i % 37 == 7:
            out.append(compact(d)[:-1] + ',"bytes_in":9}')  # the counter twice: the last one wins
        elif i % 41 == 8:
            out.append(compact(d) + "\r")  # a CRLF line end (with the "\n" write adds)
        elif i % 43 == 9:
            out.append(json.dumps(d))  # ", " and ": "
        else:
            out.append(compact(d))
    while blocks:  # (the blocks left, if any)
        out.insert(120, with_block(ds[0], blocks.pop()))
    out += ["{not json", "", "[1, 2]"]
    out += out[150:160]  # repeats of earlier lines
    return out


def write_lines(path: Path, lines: list[str], end: str = "\n") -> Path:
    path.write_bytes(end.join(lines).encode() + (end.encode() if lines else b""))
    return path


# ----------------------------------------------------------------------------------------
# the import paths

PATHS = ("store insert", "keyed", "keyed ints", "reader process")


def import_by(
    path_kind: str, files: list[list[Path]], db: Path, monkeypatch: pytest.MonkeyPatch, **kw: Any
) -> tuple[Any, dict[str, Any]]:
    """Import the groups of files one after the other the ``path_kind`` way: the summaries
    and every table."""
    parallel, keyed = {
        "store insert": (False, False),
        "keyed": (False, True),
        "keyed ints": (False, True),
        "reader process": (True, True),
    }[path_kind]
    with monkeypatch.context() as mp:
        if path_kind == "keyed ints":  # the same import with the counters read as ints
            mp.setattr(import_extract_keyed, "counters_block", lambda *_: None)
        sums = [import_files(g, db, parallel=parallel, keyed=keyed, **kw) for g in files]
    assert all(s.parallel == parallel for s in sums)
    return [summary_of(s) for s in sums], everything(db)


def all_paths(
    files: list[list[Path]],
    tmp: Path,
    monkeypatch: pytest.MonkeyPatch,
    kinds: tuple[str, ...] = PATHS,
    **kw: Any,
) -> tuple[Any, dict[str, Any]]:
    """Every path stores the same tables and reports the same; the store insert's result."""
    got = {}
    with one_secret():
        for kind in kinds:
            got[kind] = import_by(kind, files, tmp / f"{kind.replace(' ', '_')}.sqlite", monkeypatch, **kw)
    want = got[kinds[0]]
    for kind in kinds[1:]:
        assert got[kind][0] == want[0], kind  # summaries: counts and issues
        for table in want[1]:
            assert got[kind][1][table] == want[1][table], (kind, table)
    return want


@pytest.mark.parametrize("batch", [1, 7, 50, None])
def test_odd_counters_are_stored_the_same_by_every_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, batch: int | None
) -> None:
    lines = hostile_counter_lines(81)
    path = write_lines(tmp_path / "odd.log", lines)
    sums, got = all_paths([[path]], tmp_path, monkeypatch, batch=batch)
    files, issues = sums[0]
    assert files[0][1] > 200 and files[0][2] >= 10  # imported, and the ten repeats (and equal values)
    assert any("odd.log:" in i for i in issues)
    stored = {row[-7:] for row in got["flow_data"]}
    assert (0, 0, 0, 0, 0, 0, 0) in stored
    assert (999999999999999999,) * 7 in stored and (-999999999999999999,) * 7 in stored
    assert any("rejected by the store" in i for i in issues)  # (2**63 - 1 seven times: the sums overflow)


def test_hot_path_takes_most_odd_blocks_and_declines_the_rest(tmp_path: Path) -> None:
    """(The comparison above is only worth something if the hot path took the edge blocks.)"""
    path = write_lines(tmp_path / "odd.log", hostile_counter_lines(81))
    sent = [h.batch for h, _ in _handovers(LineItems(Source(path), keyed=True, digest_version=3), 10_000)]
    texts = [b.counters for b in sent if b.counters is not None]
    assert texts and all(rows is not None for _, rows in texts)  # rows of text and rows of values
    taken = sum(len(rows) for _, rows in texts)  # type: ignore[arg-type]
    assert 100 < taken < sum(b.n for b in sent)
    completer = DigestCompleter(new_secret())
    values = set()
    for b in sent:
        rows = b.counters[1] if b.counters is not None else []
        done = completer.complete(b)
        values |= {tuple(col[r] for col in done.ints[COUNTERS_AT:]) for r in rows}  # type: ignore[union-attr]
    assert (0,) * 7 in values and (-999999999999999999,) * 7 in values


def test_reimports_gzip_and_several_files_store_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Duplicates (the keyed writer hands its batch to the store's insert through
    KeyedBatch.rows), gzip, several files in one import, a file imported twice."""
    lines = hostile_counter_lines(82)
    plain = write_lines(tmp_path / "a.log", lines[:150])
    gz = tmp_path / "b.log.gz"
    gz.write_bytes(gzip.compress(("\n".join(lines[100:]) + "\n").encode()))
    sums, got = all_paths([[plain, gz], [gz], [plain]], tmp_path, monkeypatch, batch=20)
    assert sums[1][0][0][1] == 0 and sums[2][0][0][1] == 0  # nothing new the second time
    assert len(got["flow_data"]) > 200


def test_a_refused_record_among_counters_sent_as_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch the store refuses goes through the store's insert record by record (rows()
    of a batch whose counters came as text); the issue names the line."""
    ds = felix_dicts(120, 83)
    ds[70]["source_name"] = "\ud800"  # a lone surrogate: SQLite refuses it
    lines = [compact(d) for d in ds]
    lines[71] = with_block(ds[71], block(["-0"] * 7))
    sums, got = all_paths([[write_lines(tmp_path / "a.log", lines)]], tmp_path, monkeypatch, batch=30)
    issues = sums[0][1]
    assert len(issues) == 1 and "a.log:71: rejected by the store" in issues[0]


@pytest.mark.parametrize(
    "case",
    [
        "empty",
        "one line",
        "no last newline",
        "crlf",
        "blank lines",
        "long lines",
        "one long line",
        "bom",
        "nul",
    ],
)
def test_small_odd_and_long_line_files_store_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    ds = felix_dicts(90, 84)
    lines = [compact(d) for d in ds]
    path = tmp_path / "f.log"
    if case == "empty":
        path.write_bytes(b"")
    elif case == "one line":
        write_lines(path, lines[:1])
    elif case == "no last newline":
        path.write_bytes("\n".join(lines).encode())
    elif case == "crlf":
        write_lines(path, lines, "\r\n")
    elif case == "blank lines":
        write_lines(path, [x for line in lines for x in (line, "", "  ")])
    elif case == "bom":  # a byte-order mark before the first line
        path.write_bytes(b"\xef\xbb\xbf" + "\n".join(lines).encode() + b"\n")
    elif case == "nul":  # NUL bytes inside a counters block and between lines
        lines[40] = lines[40].replace('"bytes_out":', '"bytes_out":\u0000', 1)
        write_lines(path, [x for line in lines for x in (line, "\x00")])
    else:  # lines longer than the read buffer, straddling its edges
        assert READ_BUFFER < 100_000
        for i in range(0, len(ds), 9 if case == "long lines" else 1000):
            ds[i]["dest_domains"] = [f"d{i}-" + "x" * (READ_BUFFER + 1000 * i % 7919)]
        lines = [compact(d) for d in ds]
        write_lines(path, lines)
    if case == "empty":  # (no flow log: compare the summaries)
        with one_secret():
            got = [
                [summary_of(import_files([path], tmp_path / f"{k}.sqlite", parallel=p, keyed=kd, batch=10))]
                for k, p, kd in (("a", False, False), ("b", False, True), ("c", True, True))
            ]
        assert got[0] == got[1] == got[2]
        sums = got[0]
    else:
        sums, _ = all_paths([[path]], tmp_path, monkeypatch, batch=10)
    files, issues = sums[0]
    want = {"empty": 0, "one line": 1, "nul": len(ds) - 1}.get(case, len(ds))
    assert files[0][1] == want


def test_a_small_key_limit_stores_the_same(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past KEY_LIMIT the hot path declines every line (in this process: the reader process
    has its own limit, so it is left out)."""
    monkeypatch.setattr(import_extract, "KEY_LIMIT", 3)
    path = write_lines(tmp_path / "odd.log", hostile_counter_lines(85))
    all_paths([[path]], tmp_path, monkeypatch, kinds=PATHS[:3], batch=9)


@pytest.mark.parametrize(
    ("after", "garbage"), [(0, ""), (2, ""), (2, "\x10\x00\x00\x00\x00\x00\x00\x00garbage.........")]
)
def test_a_reader_process_that_dies_mid_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, after: int, garbage: str
) -> None:
    path = write_lines(tmp_path / "odd.log", hostile_counter_lines(86))
    started: list[ParallelItems] = []

    def start(self: ParallelItems) -> subprocess.Popen[bytes]:
        started.append(self)
        args = [
            str(self.source.path),
            str(after),
            garbage.encode().hex(),
            str(self.batch),
            str(self.digest_version),
        ]
        return subprocess.Popen([sys.executable, "-c", DYING, *args], stdout=subprocess.PIPE)

    monkeypatch.setattr(ParallelItems, "_start", start)
    all_paths([[path]], tmp_path, monkeypatch, kinds=("store insert", "reader process"), batch=40)
    assert started and all(p.fell_back for p in started)


def test_a_cancelled_import_stores_the_same_first_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_lines(tmp_path / "odd.log", hostile_counter_lines(87))
    sums, got = all_paths([[path]], tmp_path, monkeypatch, kinds=PATHS[1:], batch=25, cancel=lambda: True)
    assert 0 < len(got["flow_data"]) < 100


def test_a_file_that_grows_while_it_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Lines appended after the first batch was stored are read too, the same by every path
    read in this process."""
    lines = hostile_counter_lines(88)
    results = []
    for kind in ("store insert", "keyed", "keyed ints"):
        path = write_lines(tmp_path / f"{kind}.log", lines[:100])
        grown: list[bool] = []
        real = FlowStore.insert if kind == "store insert" else import_worker.KeyedPreparer.take

        def grow(*a: Any, _real: Any = real, _path: Path = path, _grown: list[bool] = grown, **k: Any) -> Any:
            if not _grown:
                _grown.append(True)
                with _path.open("ab") as f:
                    f.write(("\n".join(lines[100:]) + "\n").encode())
            return _real(*a, **k)

        with monkeypatch.context() as mp:
            mp.setattr(FlowStore if kind == "store insert" else import_worker.KeyedPreparer,
                       "insert" if kind == "store insert" else "take", grow)  # fmt: skip
            with one_secret():
                results.append(import_by(kind, [[path]], tmp_path / f"{kind}.sqlite", mp, batch=30))
        assert grown
    (s0, t0), (s1, t1), (s2, t2) = results
    assert [f[0][1:] for f in (s0[0], s1[0], s2[0])] == [s0[0][0][1:]] * 3
    for table in ("flow_keys", "flow_data", "flow_logs"):
        assert t0[table] == t1[table] == t2[table]
    assert len(t0["flow_data"]) > 200


# ----------------------------------------------------------------------------------------
# the batches: counters text and the writer's reading of it


def test_a_counters_text_of_a_mixed_batch_goes_back_to_its_rows() -> None:
    texts = [b"," + block(at(i, str(-i * 10**17))).encode() for i in range(7)]
    col: list[Any] = [texts[0], 5, texts[1], texts[2], None, 3.0, texts[3], texts[4], texts[5], texts[6]]
    from desktopviz.core.import_keyed import _counters

    (text, rows), _ = _counters(col)  # type: ignore[misc]
    assert rows == [0, 2, 3, 6, 7, 8, 9]
    read = read_counters(text, len(rows))
    assert [read[i % 7][i] for i in range(7)] == [-i * 10**17 for i in range(7)]


def test_int64_columns_with_checked_counters() -> None:
    ints = [[1, 2], [3, 4], *([[5, 6]] * 7)]
    assert int64_columns(ints, COUNTERS_AT).tolist() == int64_columns(ints).tolist()  # type: ignore[union-attr]
    assert int64_columns([[1.0, 2], *ints[1:]], COUNTERS_AT) is None  # a float start time
    assert int64_columns([[True, 2], *ints[1:]], COUNTERS_AT) is None  # a bool start time


def test_the_names_taken_away_are_exactly_the_counters_names() -> None:
    """counters_text deletes the bytes of the names: a name with another byte (a digit) would
    leave it in the ints' text."""
    assert set("".join(COUNTERS).encode()) <= set(b"abcdefghijklmnopqrstuvwxyz_")
    assert VARYING_FIELDS[COUNTERS_AT:] == COUNTERS
    assert counters_text([b',"bytes_in":-0,"bytes_out":1']) == b",-0,1"


def test_with_counters_leaves_a_batch_without_text_alone() -> None:
    b = KeyedBatch(*([None] * 21))  # type: ignore[arg-type]
    assert b.with_counters() is b


# ----------------------------------------------------------------------------------------
# insert_data


def _data_table(typed: bool, path: Path | None = None) -> sqlite3.Connection:
    if typed:  # the store's own flow_data (INTEGER columns: their affinity)
        assert path is not None
        return FlowStore(path).conn
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.execute(f"CREATE TABLE flow_data ({', '.join(DATA_COLUMNS)})")
    return conn


def _typed(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
    cols = ", ".join(f"{c}, typeof({c})" for c in DATA_COLUMNS)
    return conn.execute(f"SELECT {cols} FROM flow_data ORDER BY rowid").fetchall()


ODD = [
    None,
    1.5,
    True,
    False,
    "7",
    "x",
    b"\x00\x01",
    2**63 - 1,
    -(2**63),
    0,
    -0.0,
    1e300,
    "",
    3,
    float("nan"),
    float("-inf"),
]


@pytest.mark.parametrize("typed", [False, True])
@pytest.mark.parametrize("n", [0, 1, 49, 50, 51, 99, 100, 101, 157])
def test_insert_data_stores_what_one_row_at_a_time_stores(tmp_path: Path, n: int, typed: bool) -> None:
    rows = [(i + 1, 1, *(ODD[(i * 3 + j) % len(ODD)] for j in range(WIDTH - 2))) for i in range(n)]
    one, many = _data_table(typed, tmp_path / "one.sqlite"), _data_table(typed, tmp_path / "many.sqlite")
    one.executemany(DATA_INSERT, rows)
    insert_data(many, (r for r in rows))  # a generator of rows
    assert _typed(many) == _typed(one) and len(_typed(one)) == n


def test_insert_data_takes_rows_as_lists_and_tuples() -> None:
    rows: list[Any] = [[1, 1, *range(9)], (2, 1, *range(9)), [3, 1, *range(9)]]
    conn = _data_table(False)
    insert_data(conn, iter(rows))
    assert [r[0] for r in conn.execute("SELECT id FROM flow_data ORDER BY rowid")] == [1, 2, 3]


@pytest.mark.parametrize("bad_at", [0, 3, 49, 50, 51, 100])
@pytest.mark.parametrize(
    "value", [2**63, -(2**63) - 1, 2**64, [1], {"a": 1}, object(), 1 + 2j, "\ud800"], ids=repr
)
def test_insert_data_raises_the_error_binding_raises(bad_at: int, value: Any) -> None:
    rows = [(i + 1, 1, *([7] * (WIDTH - 2))) for i in range(101)]
    rows[bad_at] = (bad_at + 1, 1, 0, 0, value, *([0] * (WIDTH - 5)))
    with pytest.raises(Exception) as one:
        _data_table(False).executemany(DATA_INSERT, rows)
    with pytest.raises(Exception) as many:
        insert_data(_data_table(False), rows)
    assert type(many.value) is type(one.value)


def test_a_generator_of_rows_that_raises_midway_raises_that() -> None:
    def rows() -> Iterator[tuple[Any, ...]]:
        for i in range(75):
            if i == 60:
                raise KeyError("midway")
            yield (i + 1, 1, *([0] * (WIDTH - 2)))

    conn = _data_table(False)
    with pytest.raises(KeyError, match="midway"):
        insert_data(conn, rows())
    # (what was inserted before the raise, if anything, is the caller's transaction's to undo)
    assert conn.execute("SELECT count(*) FROM flow_data").fetchone()[0] in (0, 50, 60)


def test_a_row_of_the_wrong_length_is_refused_as_executemany_refuses_it() -> None:
    for rows in ([(1, 1, *range(WIDTH - 2)), (2, 1)], [(1,) * (WIDTH + 1)]):
        with pytest.raises(sqlite3.ProgrammingError):
            _data_table(False).executemany(DATA_INSERT, rows)
        with pytest.raises(sqlite3.ProgrammingError):
            insert_data(_data_table(False), rows)


# ----------------------------------------------------------------------------------------
# against the JSON text itself, across versions of the path, and with the caches reset


def es_lines(seed: int) -> list[str]:
    """Elasticsearch exports holding documents with odd counters (the general path)."""
    ds = felix_dicts(12, seed)
    for i, d in enumerate(ds):
        d[COUNTERS[i % 7]] = [0, -1, 999999999999999, -(10**15), 2**40, 5, 6][i % 7]
    return [
        json.dumps({"hits": {"hits": [{"_source": d} for d in ds[:6]]}}),
        *(json.dumps({"_source": d}) for d in ds[6:]),
    ]


def oracle_rows(lines: list[str], tmp: Path) -> set[tuple[Any, ...]]:
    """The flow_logs rows (without ids) the lines hold as Python's json reads them, each
    inserted on its own through the store's insert (the records it refuses left out)."""
    from desktopviz.core.import_prepare import normalise
    from desktopviz.core.import_read import expand

    store = FlowStore(tmp / "oracle.sqlite")
    for line in lines:
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        for _, doc in expand(obj, ""):
            row = normalise(doc)
            if type(row) is str:
                continue
            try:
                store.insert([row])
            except (sqlite3.Error, OverflowError, UnicodeEncodeError, ValueError):
                continue
    rows = {r[1:] for r in store.conn.execute("SELECT * FROM flow_logs")}
    store.close()
    return rows


def test_every_stored_record_is_what_the_json_text_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not only the same by every path: the same as Python's json reads each line (the last
    of a key twice, escaped names, spaces, numbers at the edges)."""
    lines = hostile_counter_lines(89) + es_lines(89)
    path = write_lines(tmp_path / "odd.log", lines)
    _, got = all_paths([[path]], tmp_path, monkeypatch, kinds=("keyed", "keyed ints"), batch=16)
    assert {r[1:] for r in got["flow_logs"]} == oracle_rows(lines, tmp_path)


def test_a_file_imported_by_the_ints_path_is_all_duplicates_for_the_text_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store filled before this session (counters read as ints) and the same file imported
    again now (counters sent as text): the digests agree, nothing is stored twice."""
    lines = hostile_counter_lines(90) + es_lines(90)
    path = write_lines(tmp_path / "odd.log", lines)
    db = tmp_path / "s.sqlite"
    first, _ = import_by("keyed ints", [[path]], db, monkeypatch, batch=33)
    again, _ = import_by("keyed", [[path]], db, monkeypatch, batch=33)
    third, _ = import_by("reader process", [[path]], db, monkeypatch, batch=7)
    (files, _), (files2, _), (files3, _) = first[0], again[0], third[0]
    assert files[0][1] > 200
    assert files2[0][1] == files3[0][1] == 0  # nothing new
    assert files2[0][2] == files3[0][2] == files[0][1] + files[0][2]  # every record a duplicate


def test_the_readers_caches_reset_mid_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A reader whose caches pass CACHE_LIMIT numbers from scratch (a batch with reset): the
    counters texts of the batches after it read as before."""
    from desktopviz.core import import_prepare

    monkeypatch.setattr(import_prepare, "CACHE_LIMIT", 5)
    path = write_lines(tmp_path / "odd.log", hostile_counter_lines(91))
    all_paths([[path]], tmp_path, monkeypatch, kinds=PATHS[:3], batch=12)


@pytest.mark.parametrize("kind", ["store insert", "keyed"])
def test_ctrl_c_inside_a_50_row_insert_loses_nothing_and_stores_nothing_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """Ctrl-C while insert_data runs (after it inserted rows): the batch is undone; importing
    the file again stores what one clean import stores."""
    from desktopviz.core import import_apply, store_ingest

    edge = block(["0", "-0", "-5", "123456789012345678", "-123456789012345678", "7", "1"])
    lines = [with_block(d, edge) if i % 3 == 0 else compact(d) for i, d in enumerate(felix_dicts(300, 92))]
    path = write_lines(tmp_path / "edge.log", lines)
    calls: list[int] = []
    module = store_ingest if kind == "store insert" else import_apply
    real = module.insert_data

    def interrupted(conn: sqlite3.Connection, rows: Any) -> None:
        real(conn, rows)
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt

    db = tmp_path / "s.sqlite"
    with one_secret():
        with monkeypatch.context() as mp:
            mp.setattr(module, "insert_data", interrupted)
            try:  # (the importer may report Ctrl-C as a cancelled import)
                first, _ = import_by(kind, [[path]], db, monkeypatch, batch=60)
            except KeyboardInterrupt:
                first = None
        _, got = import_by(kind, [[path]], db, monkeypatch, batch=60)
        _, clean = import_by(kind, [[path]], tmp_path / "clean.sqlite", monkeypatch, batch=60)
    assert len(calls) == 3
    assert first is None or first[0][0][0][-1] != "done"  # (not reported as a whole import)
    for table in clean:
        if table not in ("imports", "import_digests"):  # (the interrupted import's row and its digests' ids)
            assert got[table] == clean[table], table
    assert sorted(d[1:] for d in got["import_digests"]) == sorted(d[1:] for d in clean["import_digests"])


@pytest.mark.parametrize("bad_at", [0, 10, 49, 50, 60, 99, 100, 130])
@pytest.mark.parametrize("value", [[1], 2**64, "\ud800"], ids=repr)
def test_a_value_sqlite_cannot_bind_is_named_by_its_column(bad_at: int, value: Any) -> None:
    """(Found by this review: the 50-row statement named 'parameter 115'; fixed in 006766f.)
    The error is executemany's of one row, after the same rows were inserted."""
    rows = [(i + 1, 1, *([0] * (WIDTH - 2))) for i in range(140)]
    rows[bad_at] = (bad_at + 1, 1, 0, 0, value, *([0] * (WIDTH - 5)))
    one, many = _data_table(False), _data_table(False)
    with pytest.raises(Exception) as e1:
        one.executemany(DATA_INSERT, rows)
    with pytest.raises(Exception) as e2:
        insert_data(many, rows)
    assert (type(e2.value), str(e2.value)) == (type(e1.value), str(e1.value))
    assert _typed(many) == _typed(one)  # (autocommit: the rows before the refused one)


def fuzzed_lines(seed: int) -> list[str]:
    """Felix lines whose counters blocks are drawn at random from edge values, JSON oddities
    and name changes (fixed seeds: the same lines every run)."""
    import random

    rng = random.Random(seed)
    # (values that keep every sum within 64 bits: the SQL oracle of everything() sums with SQLite)
    tokens = [v for v in ODD_VALUES if len(v.strip("-")) < 16] + ["3", "42", "1" * 15, "-" + "9" * 15]
    out = []
    for d in felix_dicts(220, seed):
        r = rng.random()
        if r < 0.5:
            values = [
                rng.choice(tokens) if rng.random() < 0.3 else str(rng.randrange(-99, 10**6)) for _ in COUNTERS
            ]
            text = block(values)
            if rng.random() < 0.1:
                name = rng.choice(COUNTERS)
                text = text.replace(
                    f'"{name}"', rng.choice([f'"{name.upper()}"', f'"{name} "', '"x"', f'"{name}\\u0020"'])
                )
            out.append(with_block(d, text, rng.choice(["middle"] * 8 + ["start", "end"])))
        else:
            out.append(compact(d))
    return out


@pytest.mark.parametrize("seed", [93, 94, 95])
def test_fuzzed_counters_blocks_store_what_the_json_text_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    lines = fuzzed_lines(seed)
    path = write_lines(tmp_path / "fuzz.log", lines)
    _, got = all_paths([[path]], tmp_path, monkeypatch, kinds=PATHS[:3], batch=[1, 13, 64][seed % 3])
    assert {r[1:] for r in got["flow_logs"]} == oracle_rows(lines, tmp_path)


@pytest.mark.parametrize("gz", [False, True])
def test_the_read_position_goes_up_to_the_file_size_through_the_smaller_buffer(
    tmp_path: Path, gz: bool
) -> None:
    """Progress (Source.position) never goes back and ends at the file's size, with lines
    shorter and longer than the read buffer; every line is read once."""
    ds = felix_dicts(200, 96)
    for i in range(0, len(ds), 7):
        ds[i]["dest_domains"] = ["y" * (READ_BUFFER * (i % 3) + 17 * i)]
    lines = [compact(d) for d in ds]
    data = ("\n".join(lines) + "\n").encode()
    path = tmp_path / ("f.log.gz" if gz else "f.log")
    path.write_bytes(gzip.compress(data) if gz else data)
    source = Source(path)
    reader = LineItems(source, keyed=True, digest_version=3)
    positions, wheres = [], []
    for h, _ in _handovers(reader, 5):
        positions.append(source.position())
        wheres += h.batch.wheres
    assert positions == sorted(positions) and source.position() == source.size
    assert [str(w) for w in wheres] == [str(i) for i in range(1, len(lines) + 1)]


@pytest.mark.parametrize("dup_at", [1, 49, 50, 51, 99])
def test_an_id_twice_raises_the_integrity_error_executemany_raises(tmp_path: Path, dup_at: int) -> None:
    rows = [(i + 1, 1, *([i] * (WIDTH - 2))) for i in range(101)]
    rows[dup_at] = (1, *rows[dup_at][1:])
    one, many = _data_table(True, tmp_path / "one.sqlite"), _data_table(True, tmp_path / "many.sqlite")
    with pytest.raises(sqlite3.IntegrityError) as e1:
        one.executemany(DATA_INSERT, rows)
    with pytest.raises(sqlite3.IntegrityError) as e2:
        insert_data(many, rows)
    assert str(e2.value) == str(e1.value)


def test_a_file_larger_than_the_default_batch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The default batch sizes (made smaller here: a full reader batch of text counters, then
    the smaller tail batches), odd blocks and declined lines spread through it. The store's
    insert takes batches of another size, so it lists the records it refuses at other places
    among the issues (after its own batch's): the same issues, in another order."""
    from desktopviz.core import importers

    monkeypatch.setattr(importers, "PARALLEL_BATCH", 4000)  # (given to the reader process too)
    monkeypatch.setattr(importers, "BATCH", 1500)
    base = felix_dicts(150, 97)
    blocks = odd_blocks()
    lines = []
    n = 5000
    for i in range(n):
        d = dict(base[i % len(base)])
        d["start_time"] += 300 * (i // len(base))
        d["end_time"] += 300 * (i // len(base))
        lines.append(with_block(d, blocks[i % len(blocks)]) if i % 97 == 5 else compact(d))
    path = write_lines(tmp_path / "big.log", lines)
    sums, got = all_paths([[path]], tmp_path, monkeypatch, kinds=("keyed", "keyed ints", "reader process"))
    assert sums[0][0][0][1] > n - n // 90
    with one_secret():
        here, tables = import_by("store insert", [[path]], tmp_path / "here.sqlite", monkeypatch)
    assert here[0][0] == sums[0][0] and sorted(here[0][1]) == sorted(sums[0][1])
    assert here[0][1] != sums[0][1]  # (the order: batch by batch)
    assert [t for t in got if tables[t] != got[t]] == ["import_digests"]  # (sets: by batch boundaries)


@pytest.mark.parametrize("version", [1, 2])
def test_stores_of_older_digest_versions_store_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, version: int
) -> None:
    """Versions 1 and 2 digest in the reader (no counters text); their batches go through
    the 50-row inserts all the same."""
    from desktopviz.core import import_db

    monkeypatch.setattr(import_db, "DIGEST_VERSION", version)
    path = write_lines(tmp_path / "odd.log", hostile_counter_lines(98))
    sums, got = all_paths([[path]], tmp_path, monkeypatch, batch=23)
    conn = sqlite3.connect(tmp_path / "keyed.sqlite")
    try:
        meta = conn.execute("SELECT value FROM meta WHERE key = 'import_digest_version'").fetchone()[0]
    finally:
        conn.close()
    assert meta == str(version)
    assert sums[0][0][0][1] > 200
