"""Integer-keyed rollups: each rollup key stored once, the sums keyed by (level, bucket, its id).

``flow_rollup`` and ``hit_rollup`` used to be WITHOUT ROWID tables keyed by level, bucket and
eight to ten texts and ids; in flow-log data their finest level has about one row per log, so
each insert walked B-trees of long text keys. Now each distinct key is a row of
``flow_groups`` / ``hit_groups`` (``id INTEGER PRIMARY KEY`` and the key columns, UNIQUE) and
the sums are rows of ``flow_sums`` / ``hit_sums`` keyed by ``(level, bucket, group_id)``
(WITHOUT ROWID). ``flow_rollup`` and ``hit_rollup`` are views with exactly the old tables'
columns, so readers keep working. ``hit_rollup``'s ``namespace`` is not part of its key: it
stays a column of ``hit_sums``, written by a row's first insert and never updated, as before.

:class:`RollupGroups` gives one connection's group ids (a :class:`~store_keys.IdIndex` per
table: cached by content, found through the UNIQUE constraint on a miss, inserted if new).
"""

from __future__ import annotations

import sqlite3
from typing import Any

from desktopviz.core.store_keys import IdIndex
from desktopviz.core.store_rollup import COUNTERS, FLOW_KEY, ROLLUP_LEVELS

__all__ = [
    "FLOW_GROUP",
    "FLOW_SUMS",
    "HIT_GROUP",
    "HIT_SUMS",
    "GroupIndex",
    "RollupGroups",
    "create_rollup_tables",
    "create_rollup_views",
    "delete_unstored_levels",
    "stored_levels_sql",
]

FLOW_GROUP: tuple[str, ...] = (*FLOW_KEY, "source_labels_id", "dest_labels_id")
FLOW_SUMS: tuple[str, ...] = ("logs", *COUNTERS, "min_start", "max_end")
HIT_GROUP: tuple[str, ...] = ("kind", "policy", "tier", "reporter", "rule_index", "action")
HIT_SUMS: tuple[str, ...] = ("hits", *COUNTERS)
_INT_COLS = frozenset({"source_labels_id", "dest_labels_id", "rule_index"})


def _type(col: str) -> str:
    return "INTEGER" if col in _INT_COLS else "TEXT"


def create_rollup_tables(c: sqlite3.Connection) -> None:
    """The groups and sums tables of flow_rollup and hit_rollup (not the views)."""
    for name, group in (("flow", FLOW_GROUP), ("hit", HIT_GROUP)):
        cols = ", ".join(f"{k} {_type(k)} NOT NULL" for k in group)
        c.execute(f"CREATE TABLE {name}_groups (id INTEGER PRIMARY KEY, {cols}, UNIQUE ({', '.join(group)}))")
    sums = ", ".join(f"{k} INTEGER NOT NULL" for k in FLOW_SUMS)
    c.execute(
        "CREATE TABLE flow_sums (level INTEGER NOT NULL, bucket INTEGER NOT NULL, group_id INTEGER NOT NULL, "
        f"{sums}, PRIMARY KEY (level, bucket, group_id)) WITHOUT ROWID"
    )
    hsums = ", ".join(f"{k} INTEGER NOT NULL" for k in HIT_SUMS)
    c.execute(
        "CREATE TABLE hit_sums (level INTEGER NOT NULL, bucket INTEGER NOT NULL, group_id INTEGER NOT NULL, "
        f"namespace TEXT, {hsums}, PRIMARY KEY (level, bucket, group_id)) WITHOUT ROWID"
    )


def create_rollup_views(c: sqlite3.Connection) -> None:
    """``flow_rollup`` and ``hit_rollup`` with the columns of the tables they replace. LEFT
    JOIN on the groups' primary key: SQLite leaves the join out when a query reads no key
    column, and turns it into an inner join (free to start from the groups) when the WHERE
    clause tests one."""
    for name, group, sums in (
        ("flow", FLOW_GROUP, FLOW_SUMS),
        ("hit", HIT_GROUP, ("namespace", *HIT_SUMS)),
    ):
        cols = ["s.level AS level", "s.bucket AS bucket"]
        cols += [f"g.{k} AS {k}" for k in group]
        cols += [f"s.{k} AS {k}" for k in sums]
        c.execute(
            f"CREATE VIEW {name}_rollup AS SELECT {', '.join(cols)} FROM {name}_sums AS s "
            f"LEFT JOIN {name}_groups AS g ON g.id = s.group_id"
        )


def _outside(levels: tuple[int, ...]) -> list[str]:
    """Conditions on ``level`` that together hold for every level not in ``levels``, each a
    range of the sums' primary key (a probe is one B-tree seek; ``NOT IN`` would scan)."""
    lv = sorted(set(levels))
    out = [f"level < {lv[0]}", f"level > {lv[-1]}"]
    out += [f"level > {a} AND level < {b}" for a, b in zip(lv, lv[1:], strict=False)]
    return out


def stored_levels_sql(column: str = "level") -> str:
    """A condition keeping rows of the stored levels (:data:`ROLLUP_LEVELS`) only."""
    return f"{column} IN ({', '.join(map(str, ROLLUP_LEVELS))})"


def delete_unstored_levels(c: sqlite3.Connection) -> int:
    """Delete the ``flow_sums`` / ``hit_sums`` rows of levels no longer stored (the 5-minute
    level schema 3 wrote); returns how many. The schema-3 → 4 upgrade's step: the caller holds
    the transaction. Each condition is a range of the sums' primary key (``NOT IN`` would scan)."""
    return sum(
        c.execute(f"DELETE FROM {t} WHERE {r}").rowcount
        for t in ("flow_sums", "hit_sums")
        for r in _outside(ROLLUP_LEVELS)
    )


class GroupIndex(IdIndex):
    """The ids of one connection's rows of ``flow_groups`` or ``hit_groups``."""

    def __init__(self, conn: sqlite3.Connection, table: str, columns: tuple[str, ...]) -> None:
        super().__init__(conn)
        self.width = len(columns)
        self.text = tuple(i for i, k in enumerate(columns) if k not in _INT_COLS)
        self.what = f"{table} key"
        self._select = f"SELECT id FROM {table} WHERE {' AND '.join(f'{k} = ?' for k in columns)}"
        self._insert = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"

    def find_or_insert(self, values: tuple[Any, ...]) -> int:
        """Compared with ``=``, a bound value takes the column's affinity, as it would stored."""
        c = self.conn
        row = c.execute(self._select, values).fetchone()
        return int(row[0]) if row is not None else int(c.execute(self._insert, values).lastrowid or 0)


class RollupGroups:
    """One connection's flow and hit group ids. The caller holds the transaction; after a
    ROLLBACK call :meth:`reset`."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.flows = GroupIndex(conn, "flow_groups", FLOW_GROUP)
        self.hits = GroupIndex(conn, "hit_groups", HIT_GROUP)

    def reset(self) -> None:
        """Forget the cached ids (a rolled-back transaction's groups no longer exist)."""
        self.flows.reset()
        self.hits.reset()
