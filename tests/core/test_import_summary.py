"""The import summary lists skipped records file by file and by line, whatever order the
batches reported them in (a record the store refuses comes with its batch, after lines read
later that did not parse)."""

from __future__ import annotations

from desktopviz.core.import_read import Issue
from desktopviz.core.import_summary import FileSummary, ImportSummary, by_line


def test_issues_are_listed_by_file_and_line() -> None:
    s = ImportSummary("x.sqlite", files=[FileSummary("a.log", "calico"), FileSummary("b.log", "calico")])
    for issue in [
        Issue("a.log", "5244", "not JSON"),
        Issue("a.log", "103", "rejected by the store"),
        Issue("b.log", "2", "not JSON"),
        Issue("a.log", "7:hits[2]", "no start_time"),
        Issue("a.log", "7:hits[0]", "no start_time"),
        Issue("a.log", "", "cannot read further"),
        Issue("a.log", "1000", "not JSON"),
    ]:
        s.add_issue(issue)
    listed = [line.strip() for line in s.text().splitlines() if line.startswith("  ")][-7:]
    assert listed == [
        "a.log: cannot read further",
        "a.log:7:hits[2]: no start_time",  # (one line's issues as they came)
        "a.log:7:hits[0]: no start_time",
        "a.log:103: rejected by the store",
        "a.log:1000: not JSON",
        "a.log:5244: not JSON",
        "b.log:2: not JSON",
    ]
    assert [i.where for i in s.issues][:2] == ["5244", "103"]  # (kept as they came)
    assert by_line([]) == []
