"""The checked-in console build (coordinator/console_dist, what the coordinator serves) is what console/ builds
today: a source change without `cd console && npm run build` fails here, as stale ABIs fail test_compile."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DIST = ROOT / "coordinator" / "console_dist"


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_checked_in_console_build_is_current(tmp_path: Path) -> None:
    vite = ROOT / "console" / "node_modules" / ".bin" / "vite"
    assert vite.exists(), "console/node_modules is missing: run `make setup` (npm ci in console/)"
    out = tmp_path / "dist"
    proc = subprocess.run([str(vite), "build", "--outDir", str(out), "--emptyOutDir", "--logLevel", "error"],
                          check=False, cwd=ROOT / "console", capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    built, shipped = _tree(out), _tree(DIST)
    assert sorted(built) == sorted(shipped), "rebuild the console: cd console && npm run build"
    stale = [name for name in built if built[name] != shipped[name]]
    assert not stale, f"stale console build ({stale}): cd console && npm run build"
