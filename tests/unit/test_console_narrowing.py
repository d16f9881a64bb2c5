"""The console's bisection drawing logic (console/src/narrowing.js) under `node --test`: split points, the first
round's ends, each level's final interval and the step/op it names."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_narrowing_js_passes_its_node_tests() -> None:
    node = shutil.which("node")
    assert node, "Node.js is needed (README: Node.js 20)"
    proc = subprocess.run([node, "--test", "console/test/"], check=False, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "# fail 0" in proc.stdout and "# pass 0" not in proc.stdout
