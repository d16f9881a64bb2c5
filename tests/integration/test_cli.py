"""The real `agora` command against a devnet (no workers: fast to start): devnet status, provider stake / unstake /
withdraw / status, jobs submit / list / show / events / --plot, and bad input answered with one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
AGORA = str(Path(sys.executable).parent / "agora")
REPO = Path(__file__).resolve().parents[2]
SPEC = {
    "version": 1,
    "model": {"kind": "mlp", "layers": [64, 16, 10], "activation": "relu"},
    "dataset": {"id": "builtin:digits", "batch_size": 32, "shuffle_seed": 7},
    "loss": "cross_entropy",
    "optimizer": {"kind": "adam", "lr": 0.01},
    "steps": 20,
    "seed": 3,
    "checkpoint_every": 10,
}


def run(root: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("AGORA_")}
    full["AGORA_DEVNET_DIR"] = str(root)
    full.update(env or {})
    return subprocess.run([AGORA, *args], check=False, capture_output=True, text=True, env=full, timeout=180, cwd=REPO)


def ok(root: Path, *args: str, env: dict[str, str] | None = None) -> str:
    p = run(root, *args, env=env)
    assert p.returncode == 0, f"agora {' '.join(args)}: {p.stdout}\n{p.stderr}"
    return p.stdout


def one_line_error(p: subprocess.CompletedProcess[str], *needles: str) -> str:
    assert p.returncode != 0, p.stdout
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), p.stderr
    assert "Traceback" not in p.stderr + p.stdout
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def devnet(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("cli-devnet")
    up = run(root, "devnet", "up", "--workers", "0", "--no-verifier", "--no-referee", "--clock", "unbonding=10")
    assert up.returncode == 0, up.stdout + up.stderr
    assert "coordinator" in up.stdout and "client.key" in up.stdout and "coordinator-api" in up.stdout
    yield root
    down = run(root, "devnet", "down")
    assert down.returncode == 0
    assert "stopped" in down.stdout
    assert run(root, "devnet", "down").stdout.strip() == "nothing to stop"  # idempotent


@pytest.fixture(scope="module")
def provider_key(devnet: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    # anvil dev account 8: funded, unused by the devnet's roles.
    path = tmp_path_factory.mktemp("keys") / "provider.key"
    path.write_text("0xdbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97\n")
    return path


def test_status_json_names_endpoints_and_running_processes(devnet: Path) -> None:
    st = json.loads(ok(devnet, "devnet", "status", "--json"))
    assert st["coordinator"].startswith("http://127.0.0.1:") and st["rpc"].startswith("http://127.0.0.1:")
    assert st["chain_id"] == 31337 and Path(st["deployment"]).exists()
    for name in ("anvil", "coordinator-api", "coordinator-indexer"):
        proc = st["processes"][name]
        assert proc["state"] == "running" and proc["pid"] > 0 and Path(proc["log"]).exists()


def test_stake_unstake_withdraw_status(devnet: Path, provider_key: Path) -> None:
    k = ["--key-file", str(provider_key)]
    out = json.loads(ok(devnet, "provider", "stake", "1.5ether", *k, "--json"))
    assert out["provider"]["free_stake_wei"] == str(15 * 10**17)
    out = json.loads(ok(devnet, "provider", "unstake", "0.5ether", *k, "--json"))
    assert out["provider"]["free_stake_wei"] == str(10**18)
    assert out["provider"]["unbonding_wei"] == str(5 * 10**17)
    # Still unbonding: withdraw says when, in one line.
    one_line_error(run(devnet, "provider", "withdraw", *k), "unbonding")
    time.sleep(max(0.0, out["provider"]["unbonding_release_at"] - time.time()) + 1.5)
    out = json.loads(ok(devnet, "provider", "withdraw", *k, "--json"))
    assert out["paid_wei"] == {"unbonded stake": str(5 * 10**17)}
    assert out["provider"]["unbonding_wei"] == "0"
    one_line_error(run(devnet, "provider", "withdraw", *k), "nothing to withdraw")
    st = json.loads(ok(devnet, "provider", "status", *k, "--json"))
    assert st["free_stake_wei"] == str(10**18) and st["locked_stake_wei"] == "0"
    assert "free stake" in ok(devnet, "provider", "status", *k)


def test_insufficient_stake_is_one_line(devnet: Path, provider_key: Path) -> None:
    one_line_error(run(devnet, "provider", "unstake", "500ether", "--key-file", str(provider_key)),
                   "insufficient free stake")


def test_submit_list_show_events_and_plot(devnet: Path, tmp_path: Path) -> None:
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(SPEC))
    out = json.loads(ok(devnet, "jobs", "submit", str(spec), "--price", "0.01ether", "--deadline", "30m", "--json"))
    job_id = out["job"]["id"]
    assert out["escrow_tx"].startswith("0x")
    # No workers on this devnet: the escrow is seen and the job waits, open.
    assert out["job"]["status"] == "open"
    listed = json.loads(ok(devnet, "jobs", "list", "--json"))
    assert job_id in [j["id"] for j in listed]
    shown = json.loads(ok(devnet, "jobs", "show", str(job_id), "--json"))
    assert shown["job"]["price_wei"] == str(10**16) and shown["job"]["num_steps"] == 20
    assert "open" in ok(devnet, "jobs", "show", str(job_id))
    kinds = [e["kind"] for e in json.loads(ok(devnet, "jobs", "events", str(job_id), "--json"))]
    assert "JobPosted" in kinds
    png = tmp_path / "loss.png"
    ok(devnet, "jobs", "show", str(job_id), "--plot", str(png))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # watch gives up with a one-line hint when asked to wait less than the job takes
    one_line_error(run(devnet, "jobs", "watch", str(job_id), "--timeout", "1"), "still open")


def test_bad_input_is_one_line_that_says_what_to_do(devnet: Path, tmp_path: Path) -> None:
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(SPEC))
    bad_key = tmp_path / "bad.key"
    bad_key.write_text("not a key\n")
    one_line_error(run(devnet, "jobs", "submit", str(spec), "--price", "0.01ether", "--key-file", str(bad_key)),
                   "does not hold a private key")
    one_line_error(run(devnet, "jobs", "submit", str(spec), "--price", "0.01ether", "--key-file",
                       str(tmp_path / "missing.key")), "not found")
    one_line_error(run(devnet, "jobs", "submit", str(spec), "--price", "0.01"), "unit")
    one_line_error(run(devnet, "jobs", "show", "987654"), "not found")
    one_line_error(run(devnet, "disputes", "show", "987654"), "not found")
    bad_spec = tmp_path / "bad-spec.json"
    bad_spec.write_text(json.dumps({**SPEC, "steps": 0}))
    one_line_error(run(devnet, "jobs", "submit", str(bad_spec), "--price", "0.01ether"), "steps")
    # wrong network: a deployment file for another chain
    st = json.loads(ok(devnet, "devnet", "status", "--json"))
    other = json.loads(Path(st["deployment"]).read_text())
    other["chainId"] = 11155111
    wrong = tmp_path / "11155111.json"
    wrong.write_text(json.dumps(other))
    one_line_error(run(devnet, "provider", "status", other["deployer"], "--deployment", str(wrong)), "wrong network")
    # no devnet and no environment: say how to get one
    one_line_error(run(tmp_path / "nowhere", "jobs", "list"), "agora devnet up")


def test_every_command_explains_itself() -> None:
    for args in (["devnet"], ["devnet", "up"], ["jobs"], ["jobs", "submit"], ["provider", "stake"],
                 ["disputes", "show"]):
        p = subprocess.run([AGORA, *args, "--help"], check=False, capture_output=True, text=True, timeout=60)
        assert p.returncode == 0 and "Usage:" in p.stdout and len(p.stdout.splitlines()) > 4, args
