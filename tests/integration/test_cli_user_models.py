"""A client brings its own model through the real `agora` command, against a devnet without workers (fast to start):
datasets upload, jobs estimate, jobs submit uploading the graph and weights beside the spec (skipped once the
coordinator has them), and bad inputs — a forbidden op, weights that do not fit, a dataset that does not fit, an
artifact never uploaded — answered with one line and nothing created; a model above every provider's advertised
memory (a real `agora worker start` offering 64 KiB) waits, and `jobs show` and the timeline say why. The example
GPT's corpus and spec upload as they are."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save as st_save

try:
    from test_cli import AGORA, REPO, SPEC, ok, one_line_error, run
except ImportError:  # collected as a package module
    from tests.integration.test_cli import AGORA, REPO, SPEC, ok, one_line_error, run  # type: ignore[no-redef]

pytestmark = pytest.mark.integration
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "digits-cnn"
GPT = EXAMPLE.parent / "char-gpt"


@pytest.fixture(scope="module")
def devnet(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("user-models-devnet")
    up = run(root, "devnet", "up", "--workers", "0", "--no-verifier", "--no-referee")
    assert up.returncode == 0, up.stdout + up.stderr
    yield root
    assert run(root, "devnet", "down").returncode == 0


def _jobs(devnet: Path) -> int:
    return len(json.loads(ok(devnet, "jobs", "list", "--json")))


def _example(tmp_path: Path) -> Path:
    """The example CNN's spec with its graph and weights beside it, in a folder of its own."""
    d = tmp_path / "cnn"
    d.mkdir()
    for name in ("spec.json", "graph.json", "weights.safetensors"):
        shutil.copy(EXAMPLE / name, d / name)
    return d / "spec.json"


def test_datasets_upload_prints_shapes_dtypes_and_the_id(devnet: Path, tmp_path: Path) -> None:
    f = tmp_path / "images.safetensors"
    f.write_bytes(st_save({"x": np.zeros((40, 1, 8, 8), np.float32), "y": np.arange(40, dtype=np.int64) % 10}))
    out = json.loads(ok(devnet, "datasets", "upload", str(f), "--json"))
    assert out["format"] == "safetensors" and out["num_examples"] == 40 and out["kind"] == "classification"
    assert out["arrays"] == [{"name": "x", "shape": [40, 1, 8, 8], "dtype": "float32"},
                             {"name": "y", "shape": [40], "dtype": "int64"}]
    text = ok(devnet, "datasets", "upload", str(f))
    assert out["id"] in text and "40×1×8×8" in text and "float32" in text  # the same bytes: the same id
    bad = tmp_path / "bad.npz"
    np.savez(bad, x=np.zeros((3, 2)), y=np.zeros(4, np.int64))
    one_line_error(run(devnet, "datasets", "upload", str(bad)), "one target row per example")
    one_line_error(run(devnet, "datasets", "upload", str(tmp_path / "missing.npz")), "cannot read")


def test_the_example_gpt_and_its_corpus_upload_as_they_are(devnet: Path, tmp_path: Path) -> None:
    """Regression: the GPT's data.npz held uint8 tokens, outside the documented format (int32/int64), so
    `agora jobs submit` of the example GPT was refused at the dataset upload."""
    spec = json.loads((GPT / "spec.json").read_text())
    out = json.loads(ok(devnet, "datasets", "upload", str(GPT / "data.npz"), "--json"))
    assert out["id"] == spec["dataset"]["id"], out
    assert [(a["name"], a["shape"], a["dtype"]) for a in out["arrays"]] == [
        ("x", [4743, 32], "int32"), ("y", [4743, 32], "int32"),
        ("x_test", [256, 32], "int32"), ("y_test", [256, 32], "int32")]
    est = json.loads(ok(devnet, "jobs", "estimate", str(GPT / "spec.json"), "--price", "0.01ether", "--json"))
    assert est["nodes"] == 477 and est["parameters"] == 114_528, est
    narrow = tmp_path / "tokens-u8.npz"
    np.savez(narrow, x=np.zeros((8, 32), np.uint8), y=np.zeros((8, 32), np.uint8))
    one_line_error(run(devnet, "datasets", "upload", str(narrow)), "uint8", "int32, int64")


def test_submit_uploads_the_model_beside_the_spec_once(devnet: Path, tmp_path: Path) -> None:
    spec = _example(tmp_path)
    est = json.loads(ok(devnet, "jobs", "estimate", str(spec), "--price", "0.01ether", "--json"))
    assert est["nodes"] == 71 and est["parameters"] == 3818 and est["flops_per_step"] > 3 * 10**6
    assert int(est["coordinator"]["collateral_wei"]) > 0 and est["coordinator"]["ops_per_step"] > 71
    text = ok(devnet, "jobs", "estimate", str(spec), "--price", "0.01ether")
    assert "FLOPs per step" in text and "collateral" in text and "already there" in text  # estimate uploaded
    out = ok(devnet, "jobs", "submit", str(spec), "--price", "0.01ether")
    assert "model.graph" in out and "already there" in out and "escrowed" in out
    job = json.loads(ok(devnet, "jobs", "list", "--json"))[0]
    assert job["ops_per_step"] == est["coordinator"]["ops_per_step"] and job["num_params"] == 3818


def test_bad_models_and_data_are_refused_in_one_line_and_create_nothing(devnet: Path, tmp_path: Path) -> None:
    spec_file = _example(tmp_path)
    folder, spec = spec_file.parent, json.loads(spec_file.read_text())
    before = _jobs(devnet)

    def submit(doc: dict, *needles: str) -> None:
        path = folder / "case.json"
        path.write_text(json.dumps(doc))
        one_line_error(run(devnet, "jobs", "submit", str(path), "--price", "0.01ether"), *needles)

    # an artifact that was never uploaded and is not beside the spec
    submit({**spec, "model": {**spec["model"], "graph": "sha256:" + "ab" * 32}}, "model.graph", "beside the spec")
    # a graph with an op no provider may run
    graph = json.loads((folder / "graph.json").read_text())
    graph["nodes"][3]["op"] = "aten.cumsum.default"
    (folder / "evil-graph.json").write_text(json.dumps(graph))
    evil = "sha256:" + hashlib.sha256((folder / "evil-graph.json").read_bytes()).hexdigest()
    submit({**spec, "model": {**spec["model"], "graph": evil}}, "cumsum")
    # weights that do not fit the graph
    (folder / "other.safetensors").write_bytes(st_save({"fc.weight": np.zeros((3, 3), np.float32)}))
    other = "sha256:" + hashlib.sha256((folder / "other.safetensors").read_bytes()).hexdigest()
    submit({**spec, "model": {**spec["model"], "weights": other}}, "weights")
    # a dataset whose samples do not fit the model's input
    np.savez(folder / "data.npz", x=np.zeros((64, 3, 5, 5), np.float32), y=np.zeros(64, np.int64))
    data = "sha256:" + hashlib.sha256((folder / "data.npz").read_bytes()).hexdigest()
    submit({**spec, "dataset": {**spec["dataset"], "id": data}}, "the graph takes")
    # a v1 spec naming an upload that does not exist anywhere
    submit({**SPEC, "dataset": {**SPEC["dataset"], "id": "sha256:" + "cd" * 32}}, "dataset.id")
    assert _jobs(devnet) == before


def test_a_model_above_every_providers_memory_waits_and_says_why(devnet: Path, tmp_path: Path) -> None:
    """A real worker that offers one step 64 KiB (AGORA_MAX_STEP_MEMORY): the CNN, which needs more, is not
    assigned; `agora jobs show` and `agora jobs events` name the memory it needs and the largest on offer."""
    from agora.devnet.accounts import provider_key

    key = tmp_path / "small-provider.key"
    key.write_text(provider_key(1))  # a funded dev account the devnet (no workers) leaves unused
    ok(devnet, "provider", "stake", "1ether", "--key-file", str(key))
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGORA_")}
    env.update(AGORA_DEVNET_DIR=str(devnet), AGORA_MAX_STEP_MEMORY=str(64 * 1024), AGORA_HEARTBEAT_S="1")
    log = (tmp_path / "worker.log").open("w")
    worker = subprocess.Popen([AGORA, "worker", "start", "--key-file", str(key)], stdout=log,
                              stderr=subprocess.STDOUT, env=env, cwd=REPO)
    try:
        spec_file = _example(tmp_path)
        spec = json.loads(spec_file.read_text())
        spec["dataset"] = {**spec["dataset"], "shuffle_seed": 11}  # not the other tests' job
        spec_file.write_text(json.dumps(spec))
        ok(devnet, "jobs", "submit", str(spec_file), "--price", "0.01ether")
        job_id = json.loads(ok(devnet, "jobs", "list", "--json"))[0]["id"]
        deadline, shown = time.monotonic() + 120, ""
        while time.monotonic() < deadline and "largest: 0.1 MiB" not in shown:  # once the worker's beat is in
            shown = ok(devnet, "jobs", "show", str(job_id))
            time.sleep(1)
        status = next(line for line in shown.splitlines() if line.startswith("status"))
        assert "open — no live provider offers the" in status and "MiB one step of this model needs" in status, \
            shown + (tmp_path / "worker.log").read_text()[-2000:]
        assert re.search(r"^provider\s+-$", shown, re.MULTILINE), shown  # nobody took it
        events = ok(devnet, "jobs", "events", str(job_id))
        assert "waiting" in events and "MiB one step of this model needs (largest: 0.1 MiB)" in events, events
    finally:
        worker.terminate()
        worker.wait(timeout=60)
        log.close()
