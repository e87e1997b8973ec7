"""A version-3 reader sends the counters of the lines its extractor splits as text.

Felix writes a record's seven traffic counters (:data:`COUNTERS`) together, in the line's
middle: ``,"bytes_in":17651,"bytes_out":9528,...,"num_flows_completed":4``. The reader's hot
path (``Extractor.split_hot``, :mod:`~desktopviz.core.import_extract_keyed`) checks that block
with its pattern (JSON ints of at most 18 digits, the names in order) and keeps its text
instead of reading seven ints. A batch sends its texts as one, the names taken away
(:func:`counters_text`: ``,17651,9528,...,4`` a line), and the writer reads them with one
orjson parse (:func:`read_counters`, ``KeyedBatch.with_counters``): the same ints ``int()``
reads from each block's digits. Reading seven ints a line in Python cost the reader, the
slower of the two processes, about 1 µs a line; the writer's parse costs about 0.2.
"""

from __future__ import annotations

from desktopviz.core.flowlog import VARYING_FIELDS

try:  # reads a JSON array of ints the block patterns matched (<= 18 digits) as int() does
    from orjson import loads as _array
except ImportError:  # pragma: no cover - orjson is a dependency; the standard library's then
    from json import loads as _array

__all__ = ["COUNTERS", "COUNTERS_AT", "counters_text", "read_counters"]

COUNTERS = VARYING_FIELDS[2:]  # the varying fields but the times, in order
COUNTERS_AT = 2  # where the first counter is in VARYING_FIELDS
# deleted from a counters block's text to leave its ints: the counters' names are lowercase and _
_NAME_BYTES = b'abcdefghijklmnopqrstuvwxyz_":'


def counters_text(texts: list[bytes]) -> bytes:
    """The counters of the blocks' texts that ``text_counters`` functions give, as
    ``,i,i,i,i,i,i,i`` per text, in order: each text matched its block's pattern, so taking the
    names away leaves its seven JSON ints (of at most 18 digits) and their commas."""
    return b"".join(texts).translate(None, _NAME_BYTES)


def read_counters(text: bytes, rows: int) -> list[list[int]]:
    """The seven counter columns of ``rows`` rows from :func:`counters_text`: the same ints
    ``int()`` reads from each block's digits (ValueError if the text does not hold them)."""
    values = _array(b"[0" + text + b"]")[1:]
    if len(values) != rows * len(COUNTERS):
        raise ValueError(f"counters text of {len(values)} ints for {rows} rows")
    return [values[i :: len(COUNTERS)] for i in range(len(COUNTERS))]
