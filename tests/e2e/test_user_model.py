"""A client's own PyTorch model through the whole marketplace, on one devnet (issue 14), with the example GPT
(examples/char-gpt, ~115k parameters, 477 graph nodes): the client exports it with the real command
(`agora model export model.py:build --example batch.npz -o DIR --spec SPEC`: the same bytes as the checked-in
graph and weights, and the spec names them), `agora jobs submit` uploads the exported graph, weights and the
corpus, a worker trains 24 steps, the verifier replicates the run (the held-out loss reproduced bit for bit), the
job finalizes, and the client downloads the weights into the same nn.Module (`load_state_dict`), whose held-out
loss by plain PyTorch agrees with the reported one to 1e-3 relative. A worker that perturbs one node of the
attention backward pass of a GPT job is caught at that node (the game's op level ends on it; `agora disputes
show` says so) and slashed.

The export runs in the background while the devnet comes up. The CNN (examples/digits-cnn) goes end to end in
the demo (tests/e2e/test_demo.py: trained, a convolution_backward cheater caught); its checked-in artifacts and
its CLI path are covered by tests/unit/test_graph_export.py and tests/integration/test_cli_user_models.py."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from torch.nn import functional as F

from chain.dispute_game import DisputeGame
from tests.e2e.conftest import AGORA, REPO, Devnet, agora
from verde.spec import parse_spec, spec_hash

pytestmark = pytest.mark.e2e
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "char-gpt"
STEPS, FAULT_STEP = 24, 16
FAULT_NODE = "bmm_10"  # the first block's attention backward: deep in the backward pass
CHEAT = f"perturb-node={FAULT_STEP}:{FAULT_NODE}"


@pytest.fixture(scope="module")
def export_started(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, subprocess.Popen[str]]]:
    """The client's export of the GPT from model.py, into a folder of its own (no checked-in copy), started in
    the background: it runs while the devnet comes up."""
    d = tmp_path_factory.mktemp("gpt-export")
    spec = json.loads((EXAMPLE / "spec.json").read_text())
    with np.load(EXAMPLE / "data.npz") as data:  # one training batch, as a client would save it
        bs = spec["dataset"]["batch_size"]
        np.savez(d / "batch.npz", x=data["x"][:bs], y=data["y"][:bs])
    spec["model"] = {"kind": "graph", "graph": "sha256:" + "0" * 64, "weights": "sha256:" + "0" * 64}
    (d / "spec.json").write_text(json.dumps(spec))
    args = ["model", "export", f"{EXAMPLE / 'model.py'}:build", "--example", str(d / "batch.npz"),
            "-o", str(d / "model"), "--spec", str(d / "spec.json"), "--json"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGORA_")}
    proc = subprocess.Popen([*AGORA, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            cwd=REPO)
    yield d, proc
    if proc.poll() is None:  # the module failed before it needed the export (e.g. the devnet did not come up)
        proc.kill()
        proc.communicate()


@pytest.fixture(scope="module")
def exported(export_started: tuple[Path, subprocess.Popen[str]]) -> Path:
    """The folder of the finished export: model/graph.json, model/weights.safetensors and spec.json naming them."""
    d, proc = export_started
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, f"agora model export failed ({proc.returncode}):\n{out}\n{err}"
    summary = json.loads(out)
    assert summary["parameters"] == 114_528 and summary["batch_size"] == 16 and summary["nodes"] == 477, summary
    return d


@pytest.fixture(scope="module")
def dn(devnet_factory, export_started) -> Devnet:  # type: ignore[no-untyped-def]
    # more challenge window than the default: on two loaded cores the verifier re-runs both GPT jobs, one after
    # the other, beside the workers' own runs
    return devnet_factory("--workers", "2", "--faulty-worker", CHEAT, "--clock", "challenge-window=40")


def _spec_dir(exported: Path, tmp: Path, seed: int) -> Path:
    """A job folder as a client has it: the exported graph and weights, the corpus, the spec naming them."""
    d = tmp / f"gpt-{seed}"
    d.mkdir()
    for name in ("graph.json", "weights.safetensors"):
        shutil.copy(exported / "model" / name, d / name)
    shutil.copy(EXAMPLE / "data.npz", d / "data.npz")
    spec = json.loads((exported / "spec.json").read_text())
    spec.update(steps=STEPS, checkpoint_every=8, verification={"replicas": 2, "spot_check": 1.0})
    spec["dataset"] = {**spec["dataset"], "shuffle_seed": seed}
    (d / "spec.json").write_text(json.dumps(spec))
    return d / "spec.json"


def _module():  # type: ignore[no-untyped-def]
    found = importlib.util.spec_from_file_location("char_gpt_model", EXAMPLE / "model.py")
    assert found is not None and found.loader is not None
    module = importlib.util.module_from_spec(found)
    found.loader.exec_module(module)
    return module


def _eager_eval_loss(model: torch.nn.Module, spec: dict[str, Any]) -> float:
    """The held-out loss as the job reports it (verde.evaluation: whole batches in order, the mean of the batch
    losses, each the mean cross-entropy over every position), in plain PyTorch."""
    from verde.datasets import load_dataset

    ds = load_dataset(parse_spec(spec), EXAMPLE / "data.npz")
    bs = spec["dataset"]["batch_size"]
    losses = []
    model.eval()
    with torch.no_grad():
        for i in range(ds.x_test.shape[0] // bs):
            logits = model(ds.x_test[i * bs:(i + 1) * bs])
            y = ds.y_test[i * bs:(i + 1) * bs]
            losses.append(float(F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))))
    return sum(losses) / len(losses)


def test_the_gpt_is_trained_verified_downloaded_and_a_cheater_caught(dn: Devnet, exported: Path,
                                                                     tmp_path: Path) -> None:
    fault_of = dn.state.params["faulty_workers"]
    t0 = time.monotonic()
    honest_job = cheated_job = None
    submitted = 0
    for seed in range(1, 7):  # one job each for the honest worker and the cheater (the matcher rotates)
        if honest_job is not None and cheated_job is not None:
            break
        spec_file = _spec_dir(exported, tmp_path, seed)
        submitted += 1
        out = agora(["jobs", "submit", str(spec_file), "--price", "0.01ether"], dn.root).stdout
        if submitted == 1:  # the exported files (and the corpus) go up from the job's folder, once
            assert all(f"uploaded {name}" in out for name in ("graph.json", "weights.safetensors", "data.npz")), out
        else:
            assert out.count("already there") == 3, out
        escrowed = re.search(r"^job (\d+) \w+: escrowed", out, re.MULTILINE)
        assert escrowed is not None, out
        job_id = int(escrowed.group(1))
        job = dn.wait_job(job_id, lambda j: bool(j.get("provider")), timeout_s=180, what="a provider")
        # specHash fixes the exported graph and weights: it follows from the spec that names them
        assert job["spec_hash"] == spec_hash(parse_spec(json.loads(spec_file.read_text()))), job
        if dn.name_of(job["provider"]) in fault_of:
            cheated_job = cheated_job or (job_id, spec_file)
        else:
            honest_job = honest_job or (job_id, spec_file)
    assert honest_job is not None and cheated_job is not None, "the two workers did not both get a job"
    print(f"both workers have a GPT job after {time.monotonic() - t0:.0f}s ({submitted} submitted)")

    # -- the cheater (settled first: the honest job waits out its challenge window meanwhile): caught at the
    # node it perturbed, slashed
    bad_id, bad_spec_file = cheated_job
    d = dn.wait_settled(bad_id, timeout_s=480)
    assert d["outcome"] == "challenger_wins", d
    print(f"the cheater's dispute settled by {time.monotonic() - t0:.0f}s")
    assert dn.api.job(bad_id)["status"] == "failed"
    from verde.graph import store
    from verde.program import build_program

    store.add_directory(exported / "model")
    program = build_program(parse_spec(json.loads(bad_spec_file.read_text())))
    target = next(n for n in program.graph.nodes if n.name == FAULT_NODE)
    game = DisputeGame.connect(dn.ledger.deployment, dn.ledger.w3, "0x" + "11" * 32)
    state = game.state(int(d["id"]))
    assert (state.level, state.index, state.hi) == (2, FAULT_STEP, target.index), state
    kind = program.op(state.hi).kind
    print(f"cheater caught at step {state.index}, node {state.hi} {kind} ({FAULT_NODE})")
    assert kind == "aten.bmm.default"
    shown = agora(["disputes", "show", str(d["id"])], dn.root).stdout
    assert f"diverged at step {FAULT_STEP}, op {target.index} of" in shown, shown
    net = dn.net_changes()
    cheater = next(n for n in fault_of)
    assert net[cheater] < 0, net  # slashed beyond anything it was paid

    # -- the honest job: finalized, replicated, its weights load into the client's own module
    job_id, spec_file = honest_job
    spec = json.loads(spec_file.read_text())
    job = dn.wait_status(job_id, {"finalized", "failed"}, timeout_s=480)
    assert job["status"] == "finalized", dn.logs_tail()
    print(f"the honest job finalized after {time.monotonic() - t0:.0f}s")
    assert job["ops_per_step"] > 477 and job["num_params"] == 114_528
    result = dn.api.result(job_id)
    reported = result["evaluation"]
    assert reported["step"] == STEPS and reported["loss"] > 0 and reported["accuracy"] is None  # eval: loss only
    events = dn.events(job_id)
    assert "evaluation" in {e["kind"] for e in events}
    # the verifier's replay computed the same held-out figure, bit for bit
    assert any(e["kind"] == "verification" and "held-out evaluation reproduced" in e["message"] for e in events), \
        [e["message"] for e in events if e["kind"] == "verification"]
    weights_file = tmp_path / "model.safetensors"
    text = agora(["jobs", "download", str(job_id), "-o", str(weights_file)], dn.root).stdout
    assert "matches the on-chain finalModelHash" in text
    model = _module().build()
    initial = {k: v.clone() for k, v in model.state_dict().items()}
    model.load_state_dict(load_file(str(weights_file)))  # the module's own parameter names
    assert any(not torch.equal(initial[k], v) for k, v in model.state_dict().items())  # trained weights
    eager = _eager_eval_loss(model, spec)
    print(f"held-out loss after {STEPS} steps: reported {reported['loss']:.6f}, plain PyTorch {eager:.6f}")
    assert abs(eager - reported["loss"]) <= 1e-3 * reported["loss"], (eager, reported)
    points = dn.api.progress(job_id)["points"]
    assert [p["step"] for p in points] == list(range(1, STEPS + 1))  # the curve starts at step 1
    shown = agora(["jobs", "show", str(job_id)], dn.root).stdout
    assert f"loss {reported['loss']:.4f} after step {STEPS}" in shown, shown  # the held-out line


def test_the_export_is_the_checked_in_gpt_and_the_spec_names_it(exported: Path) -> None:
    from verde.graph.store import artifact_id

    model = json.loads((exported / "spec.json").read_text())["model"]
    assert model == {"kind": "graph", "graph": artifact_id((exported / "model" / "graph.json").read_bytes()),
                     "weights": artifact_id((exported / "model" / "weights.safetensors").read_bytes())}
    for name in ("graph.json", "weights.safetensors"):  # the export is deterministic: the example's own files
        assert (exported / "model" / name).read_bytes() == (EXAMPLE / name).read_bytes(), name
    assert model == json.loads((EXAMPLE / "spec.json").read_text())["model"]
