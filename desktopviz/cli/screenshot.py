"""`desktopviz screenshot`: a picture of the application without a screen.

Simulates a scenario headless (the core Simulator straight into a flow database, no thread)
or opens a stored run, lays the main window out offscreen, lets the views refresh, and saves
the window or one panel as PNG or SVG.
"""

from __future__ import annotations

import argparse
import re
import tempfile
from pathlib import Path

from desktopviz.cli import CommandError

PANELS = ("window", "visualizer", "board", "flows", "policy", "editor")
THEMES = ("light", "dark")
VIEWS = ("namespace", "names", "status")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> float:
    """`90`, `90s`, `30m`, `1.5h`, `1d` → seconds."""
    m = _DURATION.match(text)
    if not m:
        raise CommandError(f"bad duration {text!r}: use a number with s, m, h or d (e.g. 30m)")
    return float(m.group(1)) * _UNITS[m.group(2)]


def parse_event(text: str) -> tuple[str, float]:
    """`ID@TIME` (time after the scenario start, e.g. `rogue@5m`) → (id, seconds)."""
    event_id, sep, when = text.rpartition("@")
    if not sep or not event_id:
        raise CommandError(f"bad event {text!r}: use ID@TIME, e.g. deploy-rogue@5m")
    return event_id, parse_duration(when)


def parse_size(text: str) -> tuple[int, int]:
    m = re.match(r"^\s*(\d+)\s*[xX×]\s*(\d+)\s*$", text)
    if not m or int(m.group(1)) < 200 or int(m.group(2)) < 150:
        raise CommandError(f"bad size {text!r}: use WIDTHxHEIGHT, at least 200x150 (e.g. 1600x1000)")
    return int(m.group(1)), int(m.group(2))


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "screenshot",
        help="save a picture of the application (headless): simulate a scenario or open a database",
        description="Simulate SCENARIO (default: the built-in storefront) or open the flow database DB, "
        "lay out the window offscreen and save it, or one panel, as PNG or SVG.",
    )
    p.add_argument("path", nargs="?", help="a scenario file or folder, or a flow database")
    p.add_argument("--sim", default="10m", metavar="DURATION", help="simulated time to run (default 10m)")
    p.add_argument(
        "--event",
        action="append",
        default=[],
        metavar="ID@TIME",
        help="fire a scenario event at a simulated time, e.g. deploy-rogue@5m (repeatable)",
    )
    p.add_argument("--view", choices=VIEWS, help="Flow Visualizer view (namespace, names, status)")
    p.add_argument(
        "--panel",
        choices=PANELS,
        default="window",
        help="what to picture (default: window); policy: the policy view of --policy, "
        "editor: the policy editor of --policy",
    )
    p.add_argument(
        "--policy",
        metavar="KEY",
        help="the policy of --panel policy|editor, as in flow-log traces (e.g. storefront/default.trusted; "
        "default: the enforced policy that denied the most connections)",
    )
    p.add_argument(
        "--preview",
        metavar="FILE_OR_DIR",
        help="show the Flow Visualizer's what-if preview of these policy documents, changes applied "
        "(as the policy editor's Preview; the same files as `desktopviz whatif --policies`)",
    )
    p.add_argument("--theme", choices=THEMES, default="light", help="palette (default light)")
    p.add_argument("--size", default="1600x1000", help="window size WIDTHxHEIGHT (default 1600x1000)")
    p.add_argument("--seed", type=int, help="random seed of the simulation (default: the scenario's)")
    p.add_argument("--db", help="write the simulated run to this database (default: a temporary file)")
    p.add_argument("-o", "--output", required=True, help="the picture to write: FILE.png or FILE.svg")
    p.set_defaults(func=run)


def simulate_to_store(
    scenario_path: str | Path,
    db_path: Path,
    seconds: float,
    events: list[tuple[str, float]],
    seed: int | None = None,
):  # noqa: ANN201 - returns the loaded Scenario
    """Run a scenario for `seconds` of simulated time straight into a new flow database."""
    from desktopviz.core.scenario import load_scenario
    from desktopviz.core.simulator import Simulator, UnknownEventError
    from desktopviz.core.store import FlowStore

    try:
        scenario = load_scenario(scenario_path)
    except (ValueError, OSError) as exc:
        raise CommandError(f"cannot load scenario:\n{exc}") from exc
    pristine_name = scenario.name
    import copy

    pristine = copy.deepcopy(scenario)
    sim = Simulator(scenario, seed=seed)
    for event_id, at in events:
        try:
            sim.schedule(event_id, at)
        except UnknownEventError as exc:
            known = ", ".join(ev.id for ev in pristine.events) or "none"
            raise CommandError(f"{exc} in scenario {pristine_name!r} (events: {known})") from None
    if db_path.exists():
        raise CommandError(f"{db_path}: already exists; choose a new database file")
    store = FlowStore(db_path, create=True)
    try:
        store.set_meta("scenario", pristine_name)
        store.set_meta("scenario_path", str(scenario_path))
        store.set_meta("seed", sim.seed)
        step = max(float(sim.flush_interval), 60.0)
        left = seconds
        while left > 1e-9:
            chunk = min(step, left)
            store.insert(sim.advance(chunk))
            left -= chunk
        store.insert(sim.flush())
    finally:
        store.close()
    return pristine


def run(args: argparse.Namespace) -> int:
    from desktopviz.core import paths
    from desktopviz.ui.file_kinds import is_database_path

    out = Path(args.output)
    if out.suffix.lower() not in (".png", ".svg"):
        raise CommandError(f"{out}: the picture must end in .png or .svg")
    if not out.parent.exists():
        raise CommandError(f"{out}: folder {out.parent} does not exist")
    size = parse_size(args.size)
    seconds = parse_duration(args.sim)
    events = [parse_event(e) for e in args.event]
    source = Path(args.path) if args.path else paths.default_scenario()
    if not source.exists():
        raise CommandError(f"{source}: no such file or folder")
    is_db = is_database_path(source)

    with tempfile.TemporaryDirectory(prefix="desktopviz-shot-") as tmp:
        scenario = None
        if is_db:
            if args.event:
                raise CommandError("--event needs a scenario, not a stored database")
            if args.preview:
                raise CommandError("--preview needs the scenario: give the scenario, not a stored database")
            db = source
        else:
            db = Path(args.db) if args.db else Path(tmp) / "run.db"
            scenario = simulate_to_store(source, db, seconds, events, args.seed)
        return _picture(db, scenario, args.panel, args.view, size, out, args.theme, args.policy, args.preview)


def _picture(  # noqa: PLR0913 - the command's options
    db: Path,
    scenario,  # noqa: ANN001 - a Scenario or None
    panel: str,
    view: str | None,
    size: tuple[int, int],
    out: Path,
    theme: str = "light",
    policy: str | None = None,
    preview: str | None = None,
) -> int:
    from desktopviz.ui.app import create_app, quiet_offscreen_warnings
    from desktopviz.ui.snapshot import SnapshotError, save_widget
    from desktopviz.ui.theme import apply_theme

    app = create_app()
    quiet_offscreen_warnings()
    palette = app.palette()
    apply_theme(app, dark=theme == "dark")
    from desktopviz.ui.main_window import MainWindow

    window = MainWindow(persist=False)
    errors: list[str] = []
    window.show_message = lambda level, title, text: errors.append(f"{title}: {text}")  # type: ignore[method-assign]
    try:
        window.resize(*size)
        window.show()
        _give_panel_the_size(window, panel, size)
        if not window.open_database(db, scenario=scenario):
            raise CommandError("; ".join(errors) or f"{db}: cannot open")
        if view is not None:
            set_view = getattr(window.visualizer, "set_view", None)
            if set_view is None:
                raise CommandError("--view needs the Flow Visualizer, which this build does not have")
            set_view(view)
        window.board.show_all_metrics()  # a picture is for reading the numbers
        window.settle()
        if preview is not None:
            window._show_preview(_whatif(db, scenario, preview), applied=True)
            window.settle()
        top = _show_top_denier(window)
        target = window.panel("board" if panel == "policy" else panel) if panel != "editor" else None
        if panel in ("policy", "editor"):
            key = policy or top
            if key is None:
                raise CommandError(f"--panel {panel}: no policy denied traffic; name one with --policy")
            target = _open_policy(window, panel, key, size) or target
        assert target is not None
        _until_the_chart_fits(window)
        try:
            save_widget(target, out, title=f"desktopviz — {window.windowTitle()}")
        except SnapshotError as exc:
            raise CommandError(str(exc)) from exc
    finally:
        for dlg in list(getattr(window, "policy_editors", [])):
            dlg.close()
        window.shutdown()
        window.deleteLater()
        app.processEvents()
        app.setPalette(palette)  # (in-process callers, e.g. tests, keep their palette)
    print(out)
    return 0


def _whatif(db: Path, scenario, policies: str):  # noqa: ANN001, ANN202 - Scenario in, WhatIfResult out
    """What the editor's Preview computes: the recorded flows re-evaluated with the policy
    documents of `policies` applied to the scenario's policies."""
    from desktopviz.cli.whatif import evaluate_policy_files
    from desktopviz.core.store import FlowStore
    from desktopviz.core.whatif_files import PolicyFilesError

    store = FlowStore(db, create=False, readonly=True)
    try:
        return evaluate_policy_files(store, scenario.cluster, policies)[0]
    except (PolicyFilesError, OSError) as exc:
        raise CommandError(f"--preview: {exc}") from exc
    finally:
        store.close()


def _give_panel_the_size(window, panel: str, size: tuple[int, int]) -> None:  # noqa: ANN001
    """A picture of one panel shows that panel at the requested size: the visualizer gets the
    whole window (docks hidden), a dock is floated and sized."""
    if panel == "policy":
        panel = "board"
    if panel == "visualizer":
        window.panel("board").hide()
        window.panel("flows").hide()
    elif panel in ("board", "flows"):
        dock = window.panel(panel)
        dock.setFloating(True)
        dock.resize(*size)
        dock.show()


def _until_the_chart_fits(window) -> None:  # noqa: ANN001 - MainWindow
    """Settle again while the visualizer shows a picture painted for another size (a dock or
    splitter settled after the views did): the picture is never a stretched one."""
    canvas = getattr(window.visualizer, "canvas", None)
    fits = getattr(canvas, "picture_fits", None)
    for _ in range(5):
        if fits is None or fits() or not canvas.isVisible():
            return
        window.settle()


def _open_policy(window, panel: str, key: str, size: tuple[int, int]):  # noqa: ANN001, ANN202
    """Show the policy view of `key` in the board (panel policy) or open its editor (panel
    editor, returned: the widget to picture)."""
    from PySide6.QtWidgets import QApplication

    if panel == "policy":
        window.board.open_policy(key)
        window.settle()
        QApplication.processEvents()
        return None
    dlg = window.open_policy_editor(key)
    if dlg is None:
        raise CommandError(f"--panel editor: cannot edit {key} (a stored run has no scenario to edit)")
    dlg.resize(*size)
    form = getattr(dlg, "form", None)
    if form is not None and form.ingress.list.count():  # a rule shown in the form: more to read
        form.ingress.list.setCurrentRow(0)
    QApplication.processEvents()
    window.settle()
    return dlg


def _show_top_denier(window) -> str | None:  # noqa: ANN001 - MainWindow
    """Scroll the Policy Board to the enforced policy that denied the most connections, if
    any (the card a reader of the picture looks for first); returns its key."""
    cards = getattr(window.board, "cards", {}) or {}
    denied = {
        key: m.denied.connections for key, m in cards.items() if m.denied.connections and "staged:" not in key
    }
    if denied:
        top = max(denied, key=lambda k: (denied[k], k))
        window.board.select_policy(top)
        window.settle()
        window.board.select_policy(top)  # again, now the board's size and cards are final
        from PySide6.QtWidgets import QApplication

        QApplication.processEvents()
        return top
    return None
