"""Repository hygiene: no run leftovers committed, a .dockerignore that keeps host environments out of the
image, dependencies declared for what the code imports (and nothing declared that it never imports), and
kombu's filesystem transport told where its control folder goes (its default is ./control in the cwd)."""

from __future__ import annotations

import ast
import functools
import importlib.metadata as md
import re
import subprocess
import sys
import tomllib
from pathlib import Path

from worker.celery_app import transport_options

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("agora", "chain", "coordinator", "worker", "verifier", "client", "verde")
# Declared for what they do at run time, not for an import: servers, parsers FastAPI loads by name, data.
RUNTIME_ONLY = {"uvicorn", "httptools", "uvloop", "python-multipart", "scikit-learn", "psycopg"}


def _declared(group: str | None = None) -> set[str]:
    """Distribution names in [project] dependencies (group None), one extra, or every extra (group "*")."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project.get("optional-dependencies", {})
    if group is None:
        reqs = project["dependencies"]
    elif group == "*":
        reqs = [r for rs in extras.values() for r in rs]
    else:
        reqs = extras[group]
    return {re.split(r"[<>=\[;!~ ]", r, maxsplit=1)[0].lower().replace("_", "-") for r in reqs}


@functools.cache
def _imported_distributions() -> dict[str, str]:
    """distribution name -> a file importing it, for every third-party import in the packages."""
    dists = md.packages_distributions()
    found: dict[str, str] = {}
    for pkg in PACKAGES:
        for f in (ROOT / pkg).rglob("*.py"):
            for node in ast.walk(ast.parse(f.read_text(), str(f))):
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.split(".")[0]
                    if top in sys.stdlib_module_names or (ROOT / top).is_dir() or top == "__future__":
                        continue
                    for dist in dists.get(top, [top]):
                        found.setdefault(dist.lower().replace("_", "-"), str(f.relative_to(ROOT)))
    return found


def test_every_direct_import_is_declared():
    # A tool only a benchmark or a test needs (playwright for `agora bench console`) may live in an extra.
    declared = _declared() | _declared("*")
    missing = {d: f for d, f in _imported_distributions().items() if d not in declared}
    assert not missing, f"imported but not declared in pyproject.toml: {missing}"


def test_no_declared_dependency_goes_unused():
    used = set(_imported_distributions()) | RUNTIME_ONLY
    unused = _declared() - used - {"torch"}
    assert not unused, f"declared but never imported: {sorted(unused)} (drop it, or move it to dev)"


def test_test_only_dependencies_are_dev():
    assert "pyyaml" in _declared("dev") and "pyyaml" not in _declared()
    assert "rich" not in _declared()


def test_no_run_leftovers_are_tracked():
    tracked = subprocess.run(["git", "ls-files", "cache", "control"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.split()
    assert tracked == []
    ignored = (ROOT / ".gitignore").read_text().split()
    assert "/cache/" in ignored and "/control/" in ignored


def test_dockerignore_keeps_host_environments_out():
    entries = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    assert {".venv", "node_modules", ".git", ".agora", "*.key"} <= entries


def test_filesystem_broker_control_folder_is_under_the_broker_dir(tmp_path):
    opts = transport_options(60, "filesystem://", str(tmp_path))
    assert opts["control_folder"] == str(tmp_path / "control")
    assert (tmp_path / "control").is_dir()  # kombu mkdirs it without parents


def test_foundry_failure_caches_stay_under_contracts_cache():
    cfg = tomllib.loads((ROOT / "foundry.toml").read_text())
    assert cfg["profile"]["default"]["test_failures_file"].startswith("contracts/cache/")
    assert cfg["fuzz"]["failure_persist_dir"].startswith("contracts/cache/")
    assert cfg["invariant"]["failure_persist_dir"].startswith("contracts/cache/")
