"""The hand-written Calico flow-log lines the importer tests share (tests/core/data/import/)."""

from __future__ import annotations

import json
from pathlib import Path

DATA = Path(__file__).parent / "data" / "import"
LINES = [
    line
    for name in ("calico_v5.jsonl", "calico_v4.jsonl", "calico_kinds.jsonl")
    for line in (DATA / name).read_text().splitlines()
    if line.strip()
]
BASE = json.loads(LINES[0])
