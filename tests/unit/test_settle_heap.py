"""A serving process settles its heap once started (app.settle_heap): start-up's objects are
frozen out of later collections and young objects are collected less often. Run in a child
process, so this test's own process keeps Python's defaults."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

_CHILD = """
import asyncio, gc
import app
before = (gc.get_freeze_count(), gc.get_threshold())
asyncio.run(app.settle_heap())
print(before[0], before[1][0], gc.get_freeze_count() > 1000, gc.get_threshold()[0],
      gc.get_threshold()[1:] == before[1][1:])
"""


def test_a_serving_process_freezes_start_up_and_collects_young_objects_less_often() -> None:
    out = subprocess.run(
        [sys.executable, "-c", _CHILD], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == ["0", "700", "True", "50000", "True"]
