"""RepOps give the same bits whatever CPU kernels run them: scalar vs AVX2 vs AVX-512 ATen kernels, MKL ISA levels."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import torch

import verde.repops as R
from verde import rng


def hashes() -> list[str]:
    """sha256 of a battery of RepOps outputs; inputs come from verde.rng (torch.randn differs by kernel)."""
    def u(stream: str, shape: tuple[int, ...]) -> torch.Tensor:
        return rng.uniform(5, stream, shape) * 2 - 1

    a = u("a", (96, 300)) * torch.exp2(rng.randint(5, "e", 41, (96, 300)).float() - 20)
    b = u("b", (300, 70))
    x = u("x", (64, 33)) * 8
    y = rng.randint(5, "y", 33, 64)
    p = R.softmax(x)
    outs = [R.matmul(a, b), R.matmul(a.T, a), R.sum(a), R.mean(a, dim=1), R.exp(x), R.log(x.abs()), R.tanh(x),
            R.gelu(x), R.gelu_backward(x, x), R.tanh_backward(x, x), p, R.cross_entropy(p, y),
            R.cross_entropy_backward(p, y), R.mse(x, x * 0.5), R.relu_backward(x, x),
            R.adam_param(x, x, x.abs(), 7, 1e-3, 0.9, 0.999, 1e-8, 0.01), R.adam_v(x, x, 0.999),
            rng.kaiming_uniform(3, 4, 64, (64, 64)), rng.permutation(3, 4, 1000)]
    return [hashlib.sha256(o.contiguous().numpy().tobytes()).hexdigest() for o in outs]


def _run(env_extra: dict[str, str]) -> list[str]:
    root = Path(__file__).resolve().parents[2]
    code = "import json; from tests.unit.test_repops_isa import hashes; print(json.dumps(hashes()))"
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, **env_extra}, cwd=root,
                         capture_output=True, text=True, timeout=120, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_same_bits_with_scalar_kernels_and_old_blas_isa():
    native = hashes()  # this process: the best kernels the CPU has
    scalar = _run({"ATEN_CPU_CAPABILITY": "default", "MKL_ENABLE_INSTRUCTIONS": "SSE4_2", "OMP_NUM_THREADS": "1"})
    assert native == scalar
    if torch.backends.cpu.get_cpu_capability() == "AVX512":
        assert native == _run({"ATEN_CPU_CAPABILITY": "avx2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"})
