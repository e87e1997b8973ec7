"""`desktopviz screenshot`: pictures of the application without a screen."""

from __future__ import annotations

import sqlite3

import pytest
from PySide6.QtGui import QImage

from desktopviz.cli import main

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints")


def test_window_png_after_a_simulation_with_the_rogue_pod(qapp, tmp_path, capsys):
    out = tmp_path / "window.png"
    db = tmp_path / "run.db"
    code = main(
        [
            "screenshot",
            "--sim",
            "3m",
            "--event",
            "deploy-rogue@1m",
            "--size",
            "1200x800",
            "--db",
            str(db),
            "-o",
            str(out),
        ]
    )
    assert code == 0
    image = QImage(str(out))
    assert (image.width(), image.height()) == (1200, 800)
    con = sqlite3.connect(str(db))
    denied = con.execute(
        "SELECT count(*) FROM flow_logs WHERE source_name_aggr LIKE 'rogue-%' AND action='deny'"
    )
    assert denied.fetchone()[0] > 0
    con.close()


@pytest.mark.parametrize("panel", ["visualizer", "board", "flows"])
def test_one_panel_from_a_stored_database(qapp, tmp_path, panel):
    db = tmp_path / "run.db"
    assert main(["screenshot", "--sim", "1m", "--db", str(db), "-o", str(tmp_path / "first.png")]) == 0
    out = tmp_path / f"{panel}.png"
    assert main(["screenshot", str(db), "--panel", panel, "--size", "1400x900", "-o", str(out)]) == 0
    image = QImage(str(out))
    assert not image.isNull() and 100 < image.width() <= 1400 and 100 < image.height() <= 900
    # One panel, shown alone at the requested size (not the window squeezed into a dock).
    assert image.width() == 1400 and image.height() > 700
    # Not a blank picture: more than a handful of distinct colours.
    colours = {image.pixel(x, y) for x in range(0, image.width(), 7) for y in range(0, image.height(), 7)}
    assert len(colours) > 5


def test_svg_with_the_status_view(qapp, tmp_path):
    out = tmp_path / "shot.svg"
    assert (
        main(["screenshot", "--sim", "1m", "--view", "status", "--panel", "visualizer", "-o", str(out)]) == 0
    )
    text = out.read_text(encoding="utf-8")
    assert "<svg" in text and len(text) > 2000


def test_bad_requests_are_usage_errors(qapp, tmp_path, capsys):
    assert main(["screenshot", "-o", str(tmp_path / "x.gif")]) == 2
    assert "png or .svg" in capsys.readouterr().err
    assert main(["screenshot", "--sim", "ten", "-o", str(tmp_path / "x.png")]) == 2
    assert "bad duration" in capsys.readouterr().err
    assert main(["screenshot", "--sim", "1m", "--event", "nope@1m", "-o", str(tmp_path / "x.png")]) == 2
    assert "deploy-rogue" in capsys.readouterr().err
    notdb = tmp_path / "junk.db"
    notdb.write_text("junk")
    assert main(["screenshot", str(notdb), "-o", str(tmp_path / "x.png")]) == 2
    assert "junk.db" in capsys.readouterr().err


def test_dark_theme_and_the_policy_view_and_editor_panels(qapp, tmp_path):
    from PySide6.QtGui import QPalette

    common = ["--sim", "2m", "--event", "deploy-rogue@1m", "--size", "1000x700"]
    view = tmp_path / "view.png"
    args = [*common, "--panel", "policy", "--policy", "storefront/default.trusted", "--theme", "dark"]
    assert main(["screenshot", *args, "-o", str(view)]) == 0
    image = QImage(str(view))
    assert image.width() == 1000 and image.pixelColor(image.width() // 2, 40).lightnessF() < 0.3
    assert qapp.palette().color(QPalette.ColorRole.Window).lightnessF() > 0.5  # not left dark
    editor = tmp_path / "editor.png"
    assert main(["screenshot", *common, "--panel", "editor", "-o", str(editor)]) == 0
    image = QImage(str(editor))
    assert (image.width(), image.height()) == (1000, 700)
    assert image.pixelColor(image.width() // 2, 40).lightnessF() > 0.7


def test_policy_panels_need_a_policy_that_exists(qapp, tmp_path, capsys):
    out = tmp_path / "x.png"
    assert (
        main(["screenshot", "--sim", "1m", "--panel", "editor", "--policy", "nope/none", "-o", str(out)]) == 2
    )
    assert "nope/none" in capsys.readouterr().err


def test_the_what_if_preview_of_a_policy_file(qapp, tmp_path, monkeypatch, capsys):
    """--preview shows the editor's Preview in the visualizer: here trusted also admits the
    rogue pod, so its two denied flows would be allowed."""
    from desktopviz.core.paths import default_scenario
    from desktopviz.core.policy_edit import PolicySet
    from desktopviz.core.policy_edit_yaml import to_yaml
    from desktopviz.core.scenario import load_scenario
    from desktopviz.ui.main_window import MainWindow

    doc = PolicySet.from_cluster(load_scenario(default_scenario()).cluster).document(
        "storefront/default.trusted"
    )
    doc["spec"]["ingress"].insert(0, {"action": "Allow", "source": {"selector": "app == 'rogue'"}})
    edit = tmp_path / "edit.yaml"
    edit.write_text(to_yaml(doc))
    shown = []
    real = MainWindow._show_preview
    monkeypatch.setattr(
        MainWindow,
        "_show_preview",
        lambda self, r, *a, **k: (shown.append((r, a, k)), real(self, r, *a, **k)),
    )
    out = tmp_path / "preview.png"
    args = ["screenshot", "--sim", "3m", "--event", "deploy-rogue@1m", "--size", "1200x800"]
    assert main([*args, "--panel", "visualizer", "--preview", str(edit), "-o", str(out)]) == 0
    result, _, options = next(s for s in shown if s[0] is not None)
    assert result.deny_to_allow == 2 and result.allow_to_deny == 0 and options == {"applied": True}
    assert QImage(str(out)).width() == 1200
    assert main([*args, "--preview", str(tmp_path / "missing.yaml"), "-o", str(out)]) == 2
    assert "--preview" in capsys.readouterr().err
