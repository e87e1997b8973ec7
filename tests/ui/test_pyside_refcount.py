"""Regression guard: PySide6 6.12.0 on CPython 3.11 drops a reference to None on every call of a
method that returns nothing, and drawing code then aborts with "Fatal Python error:
none_dealloc". We pin PySide6 below 6.12; this test fails if an upgrade brings the bug back."""

import sys

from PySide6.QtGui import QPainterPath


def test_void_methods_keep_none_refcount():
    path = QPainterPath()
    before = sys.getrefcount(None)
    for i in range(5_000):
        path.moveTo(i, i)
        path.lineTo(i + 1, i)
    after = sys.getrefcount(None)
    # 10,000 calls: a leak of one reference per call would show as a drop of ~10,000.
    assert after >= before - 100, f"None refcount fell from {before} to {after}"
