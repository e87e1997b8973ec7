"""The items of a JSON-lines file of Calico flow logs, for the importer (in this process or in
its reader process, :mod:`import_worker`).

:class:`LineItems` turns a file's lines into what the importer stores: ``(where, row, digest)``
for a canonical record (:mod:`import_fast`, or an :class:`~desktopviz.core.import_extract.Extractor`'s
``extract``), ``(where, varying values, key, digest, extractor)`` for a line the extractor
splits (``keyed=True``: :mod:`import_keyed`), ``(where, document)`` for one the general path
must normalise, or an :class:`Issue`. :meth:`LineItems.items` with a keyed preparer puts the
lines the extractor splits straight into it instead (the reader process's loop).
"""

from __future__ import annotations

import contextlib
import zlib
from collections.abc import Iterator
from typing import Any

from desktopviz.core.import_digest import KEYED_VERSIONS, READER_VERSION, digester, item_hasher
from desktopviz.core.import_extract import Extractor
from desktopviz.core.import_fast import HAVE_ORJSON, row_from_calico
from desktopviz.core.import_fast import loads as fast_loads
from desktopviz.core.import_keyed import KeyedPreparer
from desktopviz.core.import_read import Issue, Source, parse_line, read_failed

__all__ = ["MAX_BUILDS", "REBUILD_AFTER", "TAIL_BATCH", "Item", "LineItems"]

TAIL_BATCH = 1000  # the smallest batch size the last part of a file is read in (LineItems._next_batch)

# what LineItems gives (import_worker adds its Handover)
Item = tuple[str, Any] | tuple[str, tuple[Any, ...], bytes] | Issue | Any
REBUILD_AFTER = 32  # canonical lines in a row that the extractor declined: build a new one
MAX_BUILDS = 8  # extractors built per file at most


class LineItems:
    """The items of a JSON-lines file from line ``skip + 1`` on; ``lines`` counts the lines
    read so far (including the skipped ones), ``position()`` the bytes of the file read.

    A file's canonical records go through an :class:`~desktopviz.core.import_extract.Extractor`
    built from the first one (and built again from a later one if the key order changes);
    the lines it declines are parsed whole."""

    def __init__(
        self,
        source: Source,
        skip: int = 0,
        keyed: bool = False,
        digest_version: int = READER_VERSION,
        secret: bytes | None = None,
    ) -> None:
        self.source, self.skip, self.lines = source, skip, skip
        self.digest_version = digest_version  # of the digests given (import_digest)
        # ValueError for a version this code does not know, or one that needs the store's
        # secret without it; keyed, version 3 gives key digests (the writer completes them)
        self.row_hash = item_hasher(digest_version, secret, keyed)
        self._digester = digester(secret) if digest_version in KEYED_VERSIONS and not keyed else None
        self.extracted = 0  # lines the extractor took
        self._batch_at = 0  # the position in the file where the last batch ended
        # with keyed, an extracted line comes as (where, varying values, key, digest, extractor)
        # (Extractor.split_key) instead of (where, row, digest)
        self.keyed = keyed

    def position(self) -> int:
        return self.source.position()

    def __iter__(self) -> Iterator[Item]:
        return self.items()

    def items(self, prep: KeyedPreparer | None = None, batch: int = 0) -> Iterator[Item | None]:
        """The items; with ``prep`` (keyed), a line the extractor splits is added to ``prep``
        here, without an item, and None comes after each line at whose end ``prep`` holds
        ``batch`` records or more (fewer for the file's last part: :meth:`_next_batch`; after
        the items of that line: the caller adds them to
        ``prep``, and takes a batch only at a None), so the reader's loop (:func:`_handovers`)
        makes no call per line."""
        keyed, skip = self.keyed, self.skip
        ext: Extractor | None = None
        builds = 0
        strikes = REBUILD_AFTER  # canonical lines the extractor did not take, in a row
        split = None  # ext.split_hot while it splits lines into prep
        known: dict[Any, int] = {}  # prep's ids of ext's keys, and prep's columns (set with split)
        add_kid = add_ints = add_digest = add_where = size = _unbound
        lineno = 0
        hot = 0  # lines the hot path took since self.extracted was last brought up to date
        with self.source.open() as stream, contextlib.ExitStack() as done:
            done.callback(lambda: setattr(self, "extracted", self.extracted + hot))
            next_line = stream.__next__
            while True:
                try:
                    raw = next_line()
                except StopIteration:
                    break
                except (OSError, EOFError, zlib.error) as exc:
                    self.lines = max(self.lines, lineno)
                    yield read_failed(self.source, lineno + 1, exc)
                    break
                lineno += 1
                if lineno <= skip:
                    continue
                if split is not None:  # the hot path: straight into prep's columns
                    got = split(raw)
                    if got is not None:  # (self.lines and self.extracted are brought up to date at a yield)
                        ints, ekey, digest = got
                        kid = known.get(ekey)
                        if kid is None:
                            kid = prep.split_key_id(ext, ekey)  # type: ignore[union-attr]
                        add_kid(kid)
                        add_ints(ints)
                        add_digest(digest)
                        add_where(lineno)
                        hot += 1
                        strikes = 0
                        if size() >= batch:  # type: ignore[operator]
                            self.lines, self.extracted, hot = lineno, self.extracted + hot, 0
                            yield None
                            batch = self._next_batch(batch)
                            add_kid, add_ints, add_digest, add_where, size = prep.columns()  # type: ignore[union-attr]
                            known = prep.known(ext)  # type: ignore[union-attr]
                        continue
                    self.lines = lineno
                    if ext.key_off or ext.off:  # type: ignore[union-attr]
                        split = None  # too many distinct texts to number: not from the next line on
                elif ext is not None:
                    self.lines = lineno
                    if keyed and not ext.key_off:  # (key_off: too many distinct texts to number)
                        got = ext.split_key(raw)
                        if got is not None:
                            self.extracted += 1
                            strikes = 0
                            yield str(lineno), got[0], got[1], got[2], ext
                            continue
                    else:
                        got = ext.extract(raw)
                    if got is not None:
                        self.extracted += 1
                        strikes = 0
                        yield str(lineno), got[0], got[1]
                        if prep is not None and len(prep) >= batch:
                            yield None
                            batch = self._next_batch(batch)
                        continue
                else:
                    self.lines = lineno
                if ext is not None and ext.off:  # its caches do not pay for this file
                    ext, builds = None, MAX_BUILDS
                items, built, strikes = self._declined(raw, lineno, strikes, builds)
                yield from items
                if built is not None:
                    ext, builds = built, builds + 1
                    if prep is not None and keyed:
                        split = ext.split_hot
                if prep is not None and len(prep) >= batch:
                    yield None
                    batch = self._next_batch(batch)
                if split is not None:  # (whether a batch was taken or not: cheap here)
                    add_kid, add_ints, add_digest, add_where, size = prep.columns()  # type: ignore[union-attr]
                    known = prep.known(ext)  # type: ignore[union-attr]
            self.lines = max(self.lines, lineno)  # (the hot path's last lines)

    def _next_batch(self, batch: int) -> int:
        """The size of the next batch: the same, but an eighth of it (down to TAIL_BATCH) while
        less of the file is left than the last batch took. The writer stores the last batch
        after the reader has ended, so a small one ends the import sooner (~0.15 s of a
        1,000,000-line import here)."""
        at = self.source.position()
        last, self._batch_at = self._batch_at, at
        if batch > TAIL_BATCH and self.source.size - at < at - last:
            return max(batch // 8, TAIL_BATCH)
        return batch

    def _declined(
        self, raw: bytes, lineno: int, strikes: int, builds: int
    ) -> tuple[list[Item], Extractor | None, int]:
        """A line no extractor took: its items (the fast path's or the general path's), and
        a new extractor built from it when the last REBUILD_AFTER canonical lines were all
        declined; with the count of those lines."""
        obj = fast_loads(raw)
        if type(obj) is dict and "hits" not in obj and "_source" not in obj:
            row = row_from_calico(obj)
            if row is not None:
                strikes += 1
                ext = None
                if strikes >= REBUILD_AFTER and builds < MAX_BUILDS:
                    ext, strikes = Extractor.build(obj, row, self.digest_version, self._digester), 0
                return [(str(lineno), row, self.row_hash(row))], ext, strikes
            if not HAVE_ORJSON:  # the general path must see what json.loads makes of the line
                return [(str(lineno), obj)], None, strikes
        return list(parse_line(self.source.name, lineno, raw)), None, strikes


def _unbound(*_: Any) -> None:  # pragma: no cover - a column used before prep gave it
    raise AssertionError("prep's columns are not bound")
