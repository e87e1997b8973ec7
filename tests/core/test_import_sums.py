"""A keyed batch's rollup sums with numpy are those of the Python loop (store_rollup.sum_logs),
in the same order, whatever the values: big, negative, beyond 64 bits, or not ints."""

from __future__ import annotations

import random
from typing import Any

import pytest

from desktopviz.core.import_sums import batch_sums, python_sums


def both(
    fids: list[int], gids: list[int | None], starts: list[Any], ends: list[Any], cnt: list[list[Any]]
) -> None:
    sids = [f % 2 for f in fids]
    for step in (300, 3600):
        got: tuple[dict[Any, list[int]], ...] = ({}, {}, {})
        want: tuple[dict[Any, list[int]], ...] = ({}, {}, {})
        batch_sums(fids, gids, sids, starts, ends, cnt, got, step)  # type: ignore[arg-type]
        python_sums(fids, gids, sids, starts, ends, cnt, want, step)  # type: ignore[arg-type]
        for g, w in zip(got, want, strict=True):
            assert list(g.items()) == list(w.items())  # the same sums, in the same order
            ints = all(type(x) is int for col in [starts, ends, *cnt] for x in col)
            assert not ints or all(type(v) is int for vs in g.values() for v in vs)


def records(rng: random.Random, n: int, big: int) -> tuple[Any, ...]:
    fids = [rng.randrange(6) for _ in range(n)]
    gids = [None if f == 0 else rng.choice([None, f % 3, 7]) for f in fids]
    starts = [
        rng.choice([-600, -1, 0, 299, 300, 1767225600, 1767225899]) + rng.randrange(900) for _ in range(n)
    ]
    ends = [s + rng.randrange(-5, 400) for s in starts]
    cnt = [[rng.randrange(-big, big) for _ in range(n)] for _ in range(5)]
    return fids, gids, starts, ends, cnt


@pytest.mark.parametrize("seed", range(20))
def test_sums_agree_with_the_python_loop(seed: int) -> None:
    rng = random.Random(seed)
    both(*records(rng, rng.randrange(1, 400), rng.choice([3, 10**6, 10**15])))


def test_values_that_do_not_fit_are_summed_in_python() -> None:
    rng = random.Random(1)
    fids, gids, starts, ends, cnt = records(rng, 50, 1000)
    cnt[2][7] = 2**63  # beyond int64
    both(fids, gids, starts, ends, cnt)
    cnt[2][7] = 2**62 - 1  # fits, but a sum might not
    cnt[3][8] = 2**62 - 1
    both(fids, gids, starts, ends, cnt)
    starts[3] = 2**70
    both(fids, gids, starts, ends, cnt)
    cnt[1][4] = 2.5  # a float
    both(fids, gids, starts, ends, cnt)


def test_a_batch_of_one_and_records_in_no_group() -> None:
    both([4], [None], [5], [9], [[1], [2], [3], [4], [5]])
    both([1, 1, 2], [None, None, None], [0, 1, 300], [1, 2, 301], [[1, 1, 1]] * 5)
