"""A client's own PyTorch model through the whole marketplace, on one devnet (issue 14): the example CNN's graph and
weights are uploaded by `agora jobs submit`, a worker trains it, the verifier replicates it, the job finalizes, and
the client downloads the weights into the same nn.Module, whose held-out loss by plain PyTorch agrees with the
reported one; a worker that perturbs one node of the backward pass is caught at that node and slashed.

(The GPT example is the same path with a larger graph; on a 2-core machine its RepOps steps are too slow for an
e2e test of a few minutes, so this test trains the CNN.)"""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from torch.nn import functional as F

from chain.dispute_game import DisputeGame
from tests.e2e.conftest import Devnet, agora

pytestmark = pytest.mark.e2e
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "digits-cnn"
STEPS, FAULT_STEP = 24, 16
CHEAT = f"perturb-node={FAULT_STEP}:convolution_backward"


@pytest.fixture(scope="module")
def dn(devnet_factory) -> Devnet:  # type: ignore[no-untyped-def]
    # a little more challenge window than the default: the verifier replays two CNN jobs one after the other
    return devnet_factory("--workers", "2", "--faulty-worker", CHEAT, "--clock", "challenge-window=40")


def _spec_dir(tmp: Path, seed: int) -> Path:
    d = tmp / f"cnn-{seed}"
    d.mkdir()
    for name in ("graph.json", "weights.safetensors"):
        shutil.copy(EXAMPLE / name, d / name)
    spec = json.loads((EXAMPLE / "spec.json").read_text())
    spec.update(steps=STEPS, checkpoint_every=8, verification={"replicas": 2, "spot_check": 1.0})
    spec["dataset"] = {**spec["dataset"], "shuffle_seed": seed}
    (d / "spec.json").write_text(json.dumps(spec))
    return d / "spec.json"


def _module():  # type: ignore[no-untyped-def]
    found = importlib.util.spec_from_file_location("digits_cnn_model", EXAMPLE / "model.py")
    assert found is not None and found.loader is not None
    module = importlib.util.module_from_spec(found)
    found.loader.exec_module(module)
    return module


def _eager_eval_loss(model: torch.nn.Module, spec: dict) -> float:
    """The held-out loss as the job reports it (whole batches in order, mean of batch losses), in plain PyTorch."""
    from verde.datasets import load_dataset
    from verde.spec import parse_spec

    ds = load_dataset(parse_spec(spec))
    bs = spec["dataset"]["batch_size"]
    losses = []
    with torch.no_grad():
        for i in range(ds.x_test.shape[0] // bs):
            x = ds.x_test[i * bs:(i + 1) * bs].reshape(bs, 1, 8, 8)
            losses.append(float(F.cross_entropy(model(x), ds.y_test[i * bs:(i + 1) * bs])))
    return sum(losses) / len(losses)


def test_a_user_model_is_trained_verified_downloaded_and_a_cheater_caught(dn: Devnet, tmp_path: Path) -> None:
    fault_of = dn.state.params["faulty_workers"]
    honest_job = cheated_job = None
    for seed in range(1, 7):  # one job each for the honest worker and the cheater (the matcher rotates)
        if honest_job is not None and cheated_job is not None:
            break
        spec_file = _spec_dir(tmp_path, seed)
        out = agora(["jobs", "submit", str(spec_file), "--price", "0.01ether"], dn.root).stdout
        assert "model.graph" in out and ("uploaded graph.json" in out or "already there" in out), out
        job_id = int(json.loads(agora(["jobs", "list", "--json"], dn.root).stdout)[0]["id"])
        job = dn.wait_job(job_id, lambda j: bool(j.get("provider")), timeout_s=180, what="a provider")
        if dn.name_of(job["provider"]) in fault_of:
            cheated_job = cheated_job or (job_id, spec_file)
        else:
            honest_job = honest_job or (job_id, spec_file)
    assert honest_job is not None and cheated_job is not None, "the two workers did not both get a job"

    # -- the honest job: finalized, replicated, its weights load into the client's own module
    job_id, spec_file = honest_job
    spec = json.loads(spec_file.read_text())
    job = dn.wait_status(job_id, {"finalized", "failed"}, timeout_s=360)
    assert job["status"] == "finalized", dn.logs_tail()
    assert job["ops_per_step"] > 71 and job["num_params"] == 3818
    result = dn.api.result(job_id)
    reported = result["evaluation"]
    assert reported["step"] == STEPS and reported["loss"] > 0 and 0 < reported["accuracy"] <= 1
    events = dn.events(job_id)
    assert "evaluation" in {e["kind"] for e in events}
    # the verifier's replay computed the same held-out figures, bit for bit
    assert any(e["kind"] == "verification" and "held-out evaluation reproduced" in e["message"] for e in events), \
        [e["message"] for e in events if e["kind"] == "verification"]
    out = tmp_path / "model.safetensors"
    text = agora(["jobs", "download", str(job_id), "-o", str(out)], dn.root).stdout
    assert "matches the on-chain finalModelHash" in text
    model = _module().DigitsCNN()
    model.load_state_dict(load_file(str(out)))  # the module's own parameter names
    eager = _eager_eval_loss(model, spec)
    assert abs(eager - reported["loss"]) <= 1e-3 * reported["loss"], (eager, reported)
    points = dn.api.progress(job_id)["points"]
    assert [p["step"] for p in points] == list(range(1, STEPS + 1))  # the curve starts at step 1
    shown = agora(["jobs", "show", str(job_id)], dn.root).stdout
    assert "held-out" in shown and "accuracy" in shown

    # -- the cheater: caught at the node it perturbed, slashed, the client refunded
    bad_id, bad_spec_file = cheated_job
    d = dn.wait_settled(bad_id, timeout_s=420)
    assert d["outcome"] == "challenger_wins", d
    assert dn.api.job(bad_id)["status"] == "failed"
    from verde.graph import store
    from verde.program import build_program
    from verde.spec import parse_spec

    store.add_directory(EXAMPLE)
    program = build_program(parse_spec(json.loads(bad_spec_file.read_text())))
    target = next(n for n in program.graph.nodes if n.name == "convolution_backward")
    game = DisputeGame.connect(dn.ledger.deployment, dn.ledger.w3, "0x" + "11" * 32)
    state = game.state(int(d["id"]))
    assert (state.level, state.index, state.hi) == (2, FAULT_STEP, target.index), state
    assert program.op(state.hi).kind == "aten.convolution_backward.default"
    net = dn.net_changes()
    cheater = next(n for n in fault_of)
    assert net[cheater] < 0, net  # slashed beyond anything it was paid
