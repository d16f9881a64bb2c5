"""Reproducibility: the same spec gives the same trace whatever the thread count or how a batch is split."""

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from verde.interpreter import Interpreter
from verde.runner import run_spec
from verde.spec import parse_spec
from verde.tensorhash import tensor_hash
from verde.trace import OPS, STEPS

BASE = {
    "version": 1,
    "model": {"kind": "mlp", "layers": [64, 48, 10], "activation": "relu"},
    "dataset": {"id": "builtin:digits", "batch_size": 64, "shuffle_seed": 1},
    "loss": "cross_entropy",
    "optimizer": {"kind": "adam", "lr": 0.003},
    "steps": 20,
    "seed": 9,
    "checkpoint_every": 5,
}

SPECS = {
    "relu-adam-digits": {},
    "gelu-sgd-blobs": {"model": {"kind": "mlp", "layers": [12, 32, 32, 5], "activation": "gelu"},
                       "dataset": {"id": "builtin:synthetic-blobs", "batch_size": 50, "shuffle_seed": 2},
                       "optimizer": {"kind": "sgd", "lr": 0.05, "momentum": 0.9, "weight_decay": 1e-4}},
    "tanh-adamw-regression": {"model": {"kind": "mlp", "layers": [7, 40, 3], "activation": "tanh"},
                              "dataset": {"id": "builtin:synthetic-regression", "batch_size": 33},
                              "loss": "mse", "optimizer": {"kind": "adamw", "lr": 0.01, "weight_decay": 0.01}},
}


def spec(name):
    s = copy.deepcopy(BASE)
    s.update(SPECS[name])
    return parse_spec(s)


@pytest.mark.parametrize("name", sorted(SPECS))
def test_run_spec_same_trace_with_1_and_2_threads(name):
    one = run_spec(spec(name), threads=1)
    two = run_spec(spec(name), threads=2)
    assert one.trace_root == two.trace_root
    assert one.final_model_hash == two.final_model_hash
    assert one.final_loss == two.final_loss
    # finer levels too, replayed under a different thread count than the run
    prev = torch.get_num_threads()
    torch.set_num_threads(2 if prev == 1 else 1)
    try:
        assert one.trace.leaves(STEPS, 2) == two.trace.leaves(STEPS, 2)
        assert one.trace.leaves(OPS, 13) == two.trace.leaves(OPS, 13)
    finally:
        torch.set_num_threads(prev)


def test_forward_same_bits_whether_batch_is_split_or_not():
    """Rows are quantised independently, so splitting a batch into chunks cannot change any output."""
    it = Interpreter(spec("relu-adam-digits"))
    state = it.initial_state()
    x = it.dataset.x_test
    whole = it.forward(state, x)
    chunked = torch.cat([it.forward(state, x[i:i + 7]) for i in range(0, x.shape[0], 7)])
    assert tensor_hash(whole) == tensor_hash(chunked)


def test_run_spec_differs_with_seed():
    a = run_spec(spec("relu-adam-digits"))
    b_spec = copy.deepcopy(BASE)
    b_spec["seed"] = 10
    assert run_spec(b_spec).trace_root != a.trace_root


ISA_VARIANTS = {
    # BLAS kernels (MKL) and ATen's own vector kernels pinned to the oldest instruction sets they know
    # (one process only: a fresh torch import costs seconds on a loaded machine)
    "sse4-default": {"MKL_ENABLE_INSTRUCTIONS": "SSE4_2", "ATEN_CPU_CAPABILITY": "default"},
}

ISA_SPEC = {
    **BASE,
    "model": {"kind": "mlp", "layers": [64, 40, 24, 10], "activation": "gelu"},
    # Adam: its sqrt is the op MKL's vector math used to round differently per instruction set
    "optimizer": {"kind": "adam", "lr": 0.01},
    "steps": 12,
    "checkpoint_every": 4,
}


def test_agora_verde_run_same_root_under_other_cpu_instruction_sets(tmp_path):
    """`agora verde run --json` in fresh processes whose GEMM and vector kernels use other instruction sets."""
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(json.dumps(ISA_SPEC))
    expected = run_spec(ISA_SPEC)
    agora = Path(sys.executable).with_name("agora")
    for name, env in ISA_VARIANTS.items():
        proc = subprocess.run([str(agora), "verde", "run", str(spec_file), "--json", "--threads", "2"],
                              env={**os.environ, **env}, capture_output=True, text=True, timeout=120, check=False)
        assert proc.returncode == 0, proc.stderr
        got = json.loads(proc.stdout.strip().splitlines()[-1])
        assert got["trace_root"] == "0x" + expected.trace_root.hex(), name
        assert got["final_model_hash"] == "0x" + expected.final_model_hash.hex(), name
