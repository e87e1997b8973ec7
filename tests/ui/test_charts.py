"""The flow browser's allowed/denied strip as a user sees and drags it."""

from __future__ import annotations

from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QColor, QImage

from desktopviz.core.queries import TimeBucket
from desktopviz.ui.charts import TimeStrip
from desktopviz.ui.theme import ALLOWED, DENIED

T0 = 1_767_225_600  # 2026-01-01 00:00 UTC


def strip_with_data(qtbot) -> TimeStrip:
    strip = TimeStrip()
    qtbot.addWidget(strip)
    strip.resize(900, 180)
    buckets = [TimeBucket(T0 + 60 * i, allowed_logs=20, denied_logs=5 if i >= 5 else 0) for i in range(10)]
    strip.set_series(buckets, 60, None, None)
    strip.show()
    qtbot.waitExposed(strip)
    return strip


def picture(strip: TimeStrip) -> QImage:
    return strip.plot.grab().toImage()


def colour_near(img: QImage, x: int, colour: QColor) -> bool:
    """Some pixel of the column at x has nearly this colour (the shaded region tints it)."""
    return any(
        sum(abs(a - b) for a, b in zip(img.pixelColor(x, y).getRgb()[:3], colour.getRgb()[:3], strict=True))
        < 60
        for y in range(img.height())
    )


def test_bars_show_allowed_on_top_of_denied_where_there_is_denied_traffic(qtbot) -> None:
    strip = strip_with_data(qtbot)
    plot = strip.plot
    img = picture(strip)
    early = int(plot.x_of(T0 + 60 * 2 + 30))  # no denied traffic in the 3rd bucket
    late = int(plot.x_of(T0 + 60 * 7 + 30))
    assert colour_near(img, early, QColor(ALLOWED)) and not colour_near(img, early, QColor(DENIED))
    assert colour_near(img, late, QColor(ALLOWED)) and colour_near(img, late, QColor(DENIED))
    assert strip.totals() == (200, 25)
    assert strip.region() == (T0, T0 + 600)  # the whole data until a range is chosen


def drag(qtbot, strip: TimeStrip, t_from: float, t_to: float) -> tuple[int, int]:
    plot = strip.plot
    y = plot.height() // 2
    a, b = QPoint(int(plot.x_of(t_from)), y), QPoint(int(plot.x_of(t_to)), y)
    with qtbot.waitSignal(strip.rangeSelected) as blocker:
        qtbot.mousePress(plot, Qt.MouseButton.LeftButton, pos=a)
        qtbot.mouseMove(plot, QPoint((a.x() + b.x()) // 2, y))
        qtbot.mouseMove(plot, b)
        qtbot.mouseRelease(plot, Qt.MouseButton.LeftButton, pos=b)
    return tuple(blocker.args)  # type: ignore[return-value]


def test_dragging_an_edge_then_the_region_chooses_a_time_range(qtbot) -> None:
    strip = strip_with_data(qtbot)
    per_px = 600 / strip.plot.plot_rect().width()
    since, until = drag(qtbot, strip, T0 + 600, T0 + 300)  # the right edge, to the middle
    assert since == T0 and abs(until - (T0 + 301)) <= 2 * per_px + 1
    since2, until2 = drag(qtbot, strip, T0 + 150, T0 + 250)  # inside: the region moves along
    assert abs(since2 - (since + 100)) <= 2 * per_px + 1 and abs(until2 - (until + 100)) <= 2 * per_px + 1


def test_dragging_outside_the_region_draws_a_new_one(qtbot) -> None:
    strip = strip_with_data(qtbot)
    strip.select_range(T0, T0 + 120)
    per_px = 600 / strip.plot.plot_rect().width()
    since, until = drag(qtbot, strip, T0 + 480, T0 + 360)  # right to left
    assert abs(since - (T0 + 360)) <= 2 * per_px + 1 and abs(until - (T0 + 481)) <= 2 * per_px + 1


def test_no_data_says_so_and_cannot_be_dragged(qtbot) -> None:
    strip = TimeStrip()
    qtbot.addWidget(strip)
    strip.set_series([], 60, None, None)
    assert strip.caption.text() == "No flow logs in this range"
    assert strip.region() is None
