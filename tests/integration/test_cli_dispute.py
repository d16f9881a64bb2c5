"""The real `agora` command on a devnet whose only worker cheats: `jobs submit --watch` follows the job live until
it is disputed, and `disputes list/show` draw the bisection round by round down to the referee's ruling."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
FAULT_STEP = 12
AGORA = str(Path(sys.executable).parent / "agora")
SPEC = {
    "version": 1,
    "model": {"kind": "mlp", "layers": [64, 16, 10], "activation": "relu"},
    "dataset": {"id": "builtin:digits", "batch_size": 32, "shuffle_seed": 7},
    "loss": "cross_entropy",
    "optimizer": {"kind": "adam", "lr": 0.01},
    "steps": 20,
    "seed": 3,
    "checkpoint_every": 10,
    "verification": {"replicas": 1, "spot_check": 1.0},
}


def run(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGORA_")}
    env["AGORA_DEVNET_DIR"] = str(root)
    return subprocess.run([AGORA, *args], check=False, capture_output=True, text=True, env=env, timeout=300)


def ok(root: Path, *args: str) -> str:
    p = run(root, *args)
    assert p.returncode == 0, f"agora {' '.join(args)}: {p.stdout}\n{p.stderr}"
    return p.stdout


@pytest.fixture(scope="module")
def devnet(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("cli-dispute-devnet")
    up = run(root, "devnet", "up", "--workers", "1", "--faulty-worker", f"perturb-step={FAULT_STEP}")
    assert up.returncode == 0, up.stdout + up.stderr
    assert f"FAULT perturb-step={FAULT_STEP}" in up.stdout
    yield root
    assert run(root, "devnet", "down").returncode == 0


def test_submit_watch_then_disputes_show_narrates_the_game(devnet: Path, tmp_path: Path) -> None:
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(SPEC))
    out = ok(devnet, "jobs", "submit", str(spec), "--price", "0.01ether", "--watch")
    assert "escrowed 0.01 ETH" in out
    assert f"{SPEC['steps']}/{SPEC['steps']} steps" in out  # the bar reached the end
    assert "is disputed" in out, out
    job_id = int(out.split()[1])

    deadline = time.monotonic() + 180
    while True:
        items = json.loads(ok(devnet, "disputes", "list", "--job", str(job_id), "--json"))
        if items and items[0]["outcome"]:
            break
        assert time.monotonic() < deadline, "the dispute did not settle in time"
        time.sleep(2)
    d = items[0]
    assert d["outcome"] == "challenger_wins"
    shown = ok(devnet, "disputes", "show", str(d["id"]))
    for needle in ("level 0: segments", "level 1: steps", "level 2: ops", "round 1", "referee", "challenger_wins"):
        assert needle in shown, shown
    assert "|" in shown and "=" in shown  # the narrowing bars
    assert "failed" in ok(devnet, "jobs", "show", str(job_id))
