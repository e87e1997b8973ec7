"""Selector speed: matches per second of a typical policy selector, parse and cached-parse time.

Prints one JSON line. Target: >= 1,000,000 matches/s (the policy engine matches every endpoint
against every policy selector; see desktopviz/core/selector.py).
"""

from __future__ import annotations

import json
import random
import time

from desktopviz.core.selector import parse_selector

SELECTOR = "app == 'frontend' && fw-zone in {'dmz','trusted'} && !has(quarantine)"
N_LABEL_SETS = 10_000


def _label_sets(rng: random.Random) -> list[dict[str, str]]:
    apps = ["frontend", "backend", "db", "cache", "frontend"]
    zones = ["dmz", "trusted", "restricted", "internet"]
    sets = []
    for _ in range(N_LABEL_SETS):
        labels = {"app": rng.choice(apps), "projectcalico.org/namespace": rng.choice(["prod", "dev"])}
        if rng.random() < 0.8:
            labels["fw-zone"] = rng.choice(zones)
        if rng.random() < 0.1:
            labels["quarantine"] = "true"
        for i in range(rng.randrange(4)):
            labels[f"extra-{i}"] = str(rng.randrange(100))
        sets.append(labels)
    return sets


def _best(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    rng = random.Random(7)
    label_sets = _label_sets(rng)

    parse_selector.cache_clear()
    start = time.perf_counter()
    selector = parse_selector(SELECTOR)
    parse_us = (time.perf_counter() - start) * 1e6
    cached_ns = _best(lambda: [parse_selector(SELECTOR) for _ in range(100_000)], 3) / 100_000 * 1e9

    # Uncached parse+compile of 200 distinct selectors, to size the cost of a cold scenario load.
    texts = [f"app == 'a{i}' && fw-zone in {{'dmz','trusted'}} && !has(quarantine)" for i in range(200)]
    parse_selector.cache_clear()
    cold_us = _best(lambda: [parse_selector.__wrapped__(t) for t in texts], 3) / len(texts) * 1e6

    match = selector.matches
    map_s = _best(lambda: sum(map(match, label_sets)), 20)

    def loop() -> int:
        hits = 0
        for labels in label_sets:
            if selector.matches(labels):
                hits += 1
        return hits

    loop_s = _best(loop, 20)
    hits = sum(map(match, label_sets))

    print(
        json.dumps(
            {
                "bench": "selector",
                "selector": str(selector),
                "label_sets": N_LABEL_SETS,
                "hits": hits,
                "matches_per_s": round(N_LABEL_SETS / map_s),
                "matches_per_s_for_loop": round(N_LABEL_SETS / loop_s),
                "first_parse_us": round(parse_us, 1),
                "uncached_parse_us": round(cold_us, 1),
                "cached_parse_ns": round(cached_ns, 1),
                "target_matches_per_s": 1_000_000,
            }
        )
    )


if __name__ == "__main__":
    main()
