"""`desktopviz import FILE... --db DB`: summary on stdout with every skipped line, exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest

from desktopviz.cli import main
from desktopviz.core.store import FlowStore

DATA = Path(__file__).resolve().parent.parent / "core" / "data" / "import"


def test_import_reports_counts_and_skipped_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "run.sqlite"
    code = main(["import", str(DATA / "calico_malformed.jsonl"), str(DATA / "hubble.jsonl"), "--db", str(db)])
    out = capsys.readouterr().out
    assert code == 0
    assert "27 records read, 19 imported, 1 duplicates, 7 skipped, 2 ignored" in out
    assert "calico_malformed.jsonl:2: not JSON (Expecting ',' delimiter at column 27)" in out
    assert "calico_malformed.jsonl:4: start_time: not a time ('yesterday')" in out
    assert "hubble.jsonl:13: not JSON (Expecting value at column 40)" in out
    assert "[calico, done]" in out and "[hubble, done]" in out
    with FlowStore(db, readonly=True) as store:
        assert store.count() == 2 + 9
        assert store.get_meta("source") == "import"


def test_second_import_finds_only_duplicates(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "run.sqlite"
    assert main(["import", str(DATA / "calico_v5.jsonl"), "--db", str(db), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["import", str(DATA / "calico_v5.jsonl"), "--db", str(db)]) == 0
    assert "5 records read, 0 imported, 5 duplicates" in capsys.readouterr().out


def test_hubble_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "run.sqlite"
    args = ["import", str(DATA / "hubble.jsonl"), "--db", str(db), "--format", "hubble"]
    assert main([*args, "--interval", "60", "--aggregation", "0"]) == 0
    with FlowStore(db, readonly=True) as store:
        ports = {log.source_port for _, log in store.rows()}
        spans = {log.end_time - log.start_time for _, log in store.rows()}
    assert 40000 in ports and spans == {60}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nowhere.jsonl"], "nowhere.jsonl: no such file"),
        (["--interval", "0"], "--interval must be at least 1 second"),
    ],
)
def test_usage_errors_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    files = [str(tmp_path / a) if a.endswith(".jsonl") else a for a in args]
    if "--interval" in args:
        files = [str(DATA / "calico_v4.jsonl"), *args]
    code = main(["import", *files, "--db", str(tmp_path / "run.sqlite")])
    captured = capsys.readouterr()
    assert code == 2
    assert message in captured.out + captured.err


def test_db_that_is_not_a_flow_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "notes.sqlite"
    bad.write_text("not a database at all, just text " * 100)
    code = main(["import", str(DATA / "calico_v4.jsonl"), "--db", str(bad)])
    assert code == 2
    assert "not a SQLite database" in capsys.readouterr().err


def test_the_progress_line_names_the_index_rebuild() -> None:
    import io

    from desktopviz.cli.import_ import ProgressBar
    from desktopviz.core.import_summary import ImportProgress

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    out = Tty()
    bar = ProgressBar(out, True)
    bar(ImportProgress(0, 1, "flows.log", 10, 10, 7))
    bar(ImportProgress(0, 1, "flows.log", 10, 10, 7, phase="indexing"))  # not held back by the 0.1 s limit
    assert "7 records" in out.getvalue() and out.getvalue().rstrip().endswith("building the store's indexes…")
