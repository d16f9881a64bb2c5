"""RepOps ATen kernels give the same bits whatever CPU kernels run them (scalar vs AVX2 vs AVX-512 ATen
kernels, MKL ISA levels), checked in fresh processes on the heavy kernels."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import torch
from test_aten_kernels import CASES, run_case

HEAVY = ("mm", "addmm", "bmm", "convolution", "convolution_backward", "native_layer_norm",
         "native_layer_norm_backward", "_softmax", "_log_softmax", "_softmax_backward_data",
         "embedding_dense_backward", "index_put", "scatter_add", "max_pool2d_with_indices_backward",
         "sum", "mean", "_native_batch_norm_legit_functional", "native_batch_norm_backward",
         "native_group_norm", "native_group_norm_backward", "exp", "log", "tanh", "erf", "gelu", "gelu_backward", "sigmoid", "silu", "rsqrt", "pow")


def hashes() -> list[str]:
    """sha256 of every output of the heavy cases, in CASES order."""
    out = []
    for i, (name, *_) in enumerate(CASES):
        if name.split(".")[1] in HEAVY:
            out += [hashlib.sha256(t.contiguous().numpy().tobytes()).hexdigest() for t in run_case(i)]
    return out


def _run(env_extra: dict[str, str]) -> list[str]:
    root = Path(__file__).resolve().parents[2]
    # the test modules import each other by file name (pytest puts tests/unit on sys.path; so does this)
    code = ("import json, sys; sys.path.insert(0, 'tests/unit'); from test_aten_isa import hashes; "
            "print(json.dumps(hashes()))")
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, **env_extra}, cwd=root,
                         capture_output=True, text=True, timeout=300, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_same_bits_with_scalar_and_avx2_kernels():
    native = hashes()  # this process: the best kernels the CPU has
    assert len(native) > 30
    assert native == _run({"ATEN_CPU_CAPABILITY": "default", "MKL_ENABLE_INSTRUCTIONS": "SSE4_2",
                           "OMP_NUM_THREADS": "1"})
    if torch.backends.cpu.get_cpu_capability() == "AVX512":
        assert native == _run({"ATEN_CPU_CAPABILITY": "avx2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"})


def test_same_bits_without_the_compiled_loops():
    """verde/repops/compiled.py's C loops against the ATen/numpy programs they replace (what CUDA runs)."""
    assert hashes() == _run({"VERDE_COMPILED": "0"})
