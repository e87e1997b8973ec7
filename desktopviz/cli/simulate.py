"""`desktopviz simulate SCENARIO --duration 2h [--db FILE] [--seed N] [--event ID@TIME ...]`.

Runs the simulator headless as fast as the machine allows, writes every flow log into a flow
store, shows a plain-text progress bar on stderr and ends with a summary on stdout.
Exit codes: 0 done, 1 the scenario is invalid, 2 bad usage (unknown event, bad duration,
database already there).
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path
from typing import TextIO

from desktopviz.cli import CommandError

_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?$")
BATCH_LOGS = 5000  # flow logs per store transaction


def parse_duration(text: str) -> float:
    """Seconds in `90s`, `30m`, `2h`, `1h30m`, `1h30m15s` or a plain number of seconds."""
    t = text.strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", t):
        return float(t)
    m = _DURATION.match(t)
    if not t or m is None or not any(m.groups()):
        raise ValueError(f"invalid duration {text!r} (examples: 90s, 30m, 2h, 1h30m)")
    h, mi, s = (float(g) if g else 0.0 for g in m.groups())
    return h * 3600 + mi * 60 + s


def format_duration(seconds: float) -> str:
    """The short form used by the progress bar: `54m`, `2h`, `1h30m`, `45s`."""
    s = int(round(seconds))
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    out = (f"{h}h" if h else "") + (f"{m}m" if m else "") + (f"{sec}s" if sec and not h else "")
    return out or "0s"


def parse_event(text: str) -> tuple[str, float]:
    event_id, sep, at = text.rpartition("@")
    if not sep or not event_id:
        raise ValueError(f"invalid --event {text!r}: expected ID@TIME, e.g. deploy-rogue@10m")
    return event_id, parse_duration(at)


class Progress:
    """`\\r[####    ] 45% 54m/2h` on a stream, redrawn at most ten times a second."""

    def __init__(self, total: float, stream: TextIO, width: int = 30) -> None:
        self.total = max(total, 1e-9)
        self.stream = stream
        self.width = width
        self._last = -1.0

    def show(self, done: float, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < 0.1:
            return
        self._last = now
        frac = min(1.0, done / self.total)
        bar = "#" * int(frac * self.width)
        self.stream.write(
            f"\r[{bar:<{self.width}}] {int(frac * 100):3d}% {format_duration(done)}/{format_duration(self.total)}"
        )
        self.stream.flush()

    def end(self) -> None:
        self.show(self.total, force=True)
        self.stream.write("\n")
        self.stream.flush()


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("simulate", help="run a scenario headless and write its flow logs to a database")
    p.add_argument("scenario", help="scenario folder or file")
    p.add_argument("--duration", default="1h", help="simulated time to run: 90s, 30m, 2h, 1h30m (default 1h)")
    p.add_argument("--db", help="flow database to write (default: <scenario>-<seed>.db here)")
    p.add_argument("--seed", type=int, help="random seed (default: the scenario's)")
    p.add_argument(
        "--event",
        action="append",
        default=[],
        metavar="ID@TIME",
        help="fire a scenario event at a simulated time, e.g. deploy-rogue@10m (repeatable)",
    )
    p.add_argument("--force", action="store_true", help="replace the database if it exists")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from desktopviz.core.scenario import ScenarioError, load_scenario
    from desktopviz.core.simulator import Simulator
    from desktopviz.core.store import FlowStore, StoreError

    try:
        duration = parse_duration(args.duration)
        events = [parse_event(e) for e in args.event]
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    try:
        scenario = load_scenario(args.scenario)
    except ScenarioError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    except OSError as exc:
        raise CommandError(f"{args.scenario}: {exc.strerror or exc}") from None
    known = {ev.id for ev in scenario.events}
    for event_id, _ in events:
        if event_id not in known:
            listed = ", ".join(sorted(known)) or "none"
            raise CommandError(f"unknown event {event_id!r} (scenario events: {listed})")
    seed = scenario.settings.seed if args.seed is None else args.seed
    db = Path(args.db) if args.db else Path.cwd() / f"{scenario.name}-{seed}.db"
    if db.exists():
        if not args.force:
            raise CommandError(f"{db} already exists (use --force to replace it)")
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
    sim = Simulator(scenario, seed=seed)
    for event_id, at in events:
        sim.schedule(event_id, at)
    try:
        store = FlowStore(db, create=True)
    except StoreError as exc:
        raise CommandError(str(exc)) from None
    for key, value in (("scenario", scenario.name), ("seed", str(seed)), ("duration", str(duration))):
        store.set_meta(key, value)
    progress = None if args.quiet else Progress(duration, sys.stderr)
    wall = time.perf_counter()
    pending: list = []
    written = 0
    try:
        while sim.now - sim.start_time < duration - 1e-9:
            step = min(sim.flush_interval, duration - (sim.now - sim.start_time))
            pending.extend(sim.advance(step))
            if len(pending) >= BATCH_LOGS:
                written += store.insert(pending)
                pending = []
            if progress:
                progress.show(sim.now - sim.start_time)
        pending.extend(sim.flush())
        written += store.insert(pending)
    finally:
        store.close()
    if progress:
        progress.end()
    elapsed = time.perf_counter() - wall
    for warning in sim.warnings:
        print(f"desktopviz: warning: {warning}", file=sys.stderr)
    s = sim.stats
    print(
        f"Simulated {format_duration(duration)} of {scenario.name} (seed {seed}) in {elapsed:.1f} s: "
        f"{written} flow logs written to {db}"
    )
    print(f"  allowed {s.allowed}, denied {s.denied}")
    for reporter in ("src", "dst"):
        a = s.by_reporter_action.get(f"{reporter}/allow", 0)
        d = s.by_reporter_action.get(f"{reporter}/deny", 0)
        print(f"  reporter {reporter}: {a + d} ({a} allowed, {d} denied)")
    if sim.fired:
        fired = ", ".join(f"{eid}@{format_duration(t - sim.start_time)}" for t, eid in sim.fired)
        print(f"  events fired: {fired}")
    return 0
