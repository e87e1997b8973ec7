"""What an import did (:class:`ImportSummary`) and how far it got (:class:`ImportProgress`)."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from desktopviz.core.import_read import Issue

__all__ = ["MAX_ISSUES", "FileSummary", "ImportProgress", "ImportSummary", "by_line"]

MAX_ISSUES = 1000  # kept for the report; all are counted
_LINE = re.compile(r"[0-9]+")  # the line number an issue's where starts with ("17", "3:hits[2]")


@dataclass
class FileSummary:
    path: str
    format: str
    records_read: int = 0
    imported: int = 0  # input records now in the store (Calico documents, Hubble events)
    duplicates: int = 0
    skipped: int = 0  # malformed or rejected, each reported as an issue
    ignored: int = 0  # well-formed records that hold no flow (Hubble L7 responses, lost events...)
    flow_logs: int = 0  # flow-log rows written
    status: str = "done"  # done, cancelled, failed


@dataclass
class ImportSummary:
    """What an import did: per file counts, the skipped records (first MAX_ISSUES), and
    counts of ignored non-flow records by reason."""

    db_path: str
    files: list[FileSummary] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)
    issue_count: int = 0
    ignored: Counter[str] = field(default_factory=Counter)
    cancelled: bool = False
    seconds: float = 0.0
    bulk: bool = False  # loaded with the indexes dropped and rebuilt at the end
    reindex_seconds: float = 0.0  # of ``seconds``, rebuilding them
    parallel: bool = False  # JSON lines read by a second process

    def total(self, attr: str) -> int:
        return sum(int(getattr(f, attr)) for f in self.files)

    def add_issue(self, issue: Issue) -> None:
        self.issue_count += 1
        if len(self.issues) < MAX_ISSUES:
            self.issues.append(issue)

    def text(self, max_issues: int = 50) -> str:
        """A human summary: totals, per-file lines, ignored reasons, skipped records (by line)."""
        t = self.total
        head = "Import cancelled" if self.cancelled else "Imported"
        lines = [
            f"{head}: {t('records_read')} records read, {t('imported')} imported, "
            f"{t('duplicates')} duplicates, {t('skipped')} skipped, {t('ignored')} ignored "
            f"→ {t('flow_logs')} flow logs in {self.db_path} ({self.seconds:.1f} s)"
        ]
        if len(self.files) > 1:
            for f in self.files:
                lines.append(
                    f"  {f.path} [{f.format}, {f.status}]: {f.records_read} read, {f.imported} imported, "
                    f"{f.duplicates} duplicates, {f.skipped} skipped"
                )
        for reason, n in self.ignored.most_common():
            lines.append(f"ignored {n}: {reason}")
        if self.issue_count:
            lines.append(f"skipped {self.issue_count}:")
            lines.extend(f"  {i}" for i in by_line(self.issues)[:max_issues])
            if self.issue_count > max_issues:
                lines.append(f"  … and {self.issue_count - max_issues} more")
        return "\n".join(lines)


def by_line(issues: list[Issue]) -> list[Issue]:
    """The issues file by file (in the order the files come), by line within a file (the
    file's own issues first). Issues come batch by batch: a record the store refuses is
    reported with its batch, after lines read later that did not parse."""
    files: dict[str, int] = {}

    def key(issue: Issue) -> tuple[int, int]:
        digits = _LINE.match(issue.where)
        return files.setdefault(issue.file, len(files)), int(digits.group()) if digits else -1

    return sorted(issues, key=key)  # (stable: the issues of one line as they came)


@dataclass(frozen=True)
class ImportProgress:
    file_index: int  # 0-based
    files: int
    path: str
    bytes_done: int
    bytes_total: int
    records: int  # records read in this file so far
    # "reading" the files, or "indexing": the files are read and the store's indexes are being
    # built again after a bulk load (it cannot be cancelled: the store needs its indexes)
    phase: str = "reading"
