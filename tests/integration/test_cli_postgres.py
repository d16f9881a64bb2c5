"""`agora devnet up --db postgresql… --reset-db`: the devnet on the running Postgres instead of SQLite — migrated,
emptied of an earlier devnet's rows, and serving jobs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.services import machine_database

pytestmark = pytest.mark.integration
AGORA = str(Path(sys.executable).parent / "agora")
SPEC = {
    "version": 1,
    "model": {"kind": "mlp", "layers": [64, 16, 10], "activation": "relu"},
    "dataset": {"id": "builtin:digits", "batch_size": 32, "shuffle_seed": 7},
    "loss": "cross_entropy",
    "optimizer": {"kind": "sgd", "lr": 0.1},
    "steps": 10,
    "seed": 5,
    "checkpoint_every": 5,
}


def run(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGORA_")}
    env["AGORA_DEVNET_DIR"] = str(root)
    return subprocess.run([AGORA, *args], check=False, capture_output=True, text=True, env=env, timeout=180)


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    # A database of this run's own, dropped at the end: the shared `test` database belongs to other suites.
    with machine_database("agora_cli_devnet") as url:
        yield url


def test_devnet_on_postgres_starts_empty_and_serves_jobs(database: str, tmp_path: Path) -> None:
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(SPEC))
    for round_ in range(2):
        root = tmp_path / f"devnet-{round_}"
        up = run(root, "devnet", "up", "--workers", "0", "--no-verifier", "--no-referee", "--db", database,
                 "--reset-db", "--json")
        assert up.returncode == 0, up.stdout + up.stderr
        try:
            assert json.loads(up.stdout)["database"] == database
            # Each devnet is a new chain: the earlier round's job must be gone.
            assert json.loads(run(root, "jobs", "list", "--json").stdout) == []
            sub = run(root, "jobs", "submit", str(spec), "--price", "0.001ether", "--json")
            assert sub.returncode == 0, sub.stderr
            assert json.loads(sub.stdout)["job"]["status"] == "open"
        finally:
            assert run(root, "devnet", "down").returncode == 0
