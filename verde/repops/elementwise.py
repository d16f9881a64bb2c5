"""Correctly rounded IEEE elementwise ops — thin wrappers so a training program only ever calls RepOps.

+ − × ÷ sqrt are correctly rounded on every IEEE device. Python scalars are first rounded to float32
(`f32`) so it does not matter whether a kernel multiplies in float or in double: for these ops, double
rounding through float64 gives the correctly rounded float32 result (53 >= 2*24 + 2).
No `alpha=`/addcmul/lerp forms, which some backends contract into an FMA.
"""

from __future__ import annotations

import functools
import math
import struct

import numpy as np
import torch
from torch import Tensor


def f32(c: float) -> float:
    """The Python float nearest to c that is exactly representable in float32."""
    return struct.unpack("<f", struct.pack("<f", float(c)))[0]


def div_scalar(x: Tensor, c: float) -> Tensor:
    """x / c, a true IEEE division. The divisor is a 0-dim tensor on x's device, never a Python scalar:
    CUDA replaces division by a CPU scalar with multiplication by its reciprocal, which rounds differently."""
    c = float(c)
    if c == 0.0 or math.isnan(c):  # ±0 are equal as cache keys, NaN never is
        return torch.div(x, torch.full((), c, dtype=x.dtype, device=x.device))
    return torch.div(x, _divisor(c, x.dtype, x.device))


@functools.lru_cache(maxsize=1024)
def _divisor(c: float, dtype: torch.dtype, device: torch.device) -> Tensor:
    """The 0-dim divisor tensor, made once per (value, dtype, device): kernels divide by the same few counts
    every step. Never written to (every use is an out-of-place division)."""
    return torch.full((), c, dtype=dtype, device=device)


def add(a: Tensor, b: Tensor) -> Tensor:
    return torch.add(a, b)


def sub(a: Tensor, b: Tensor) -> Tensor:
    return torch.sub(a, b)


def mul(a: Tensor, b: Tensor) -> Tensor:
    return torch.mul(a, b)


def div(a: Tensor, b: Tensor) -> Tensor:
    return torch.div(a, b)


def sqrt(x: Tensor) -> Tensor:
    """The correctly rounded root (IEEE 754 requires sqrt to be correctly rounded; not every library is).

    ATen's float32 sqrt on the CPU goes through MKL's vector math, which is not correctly rounded and changes
    with the instruction set it picks (seen: 7,186 of 1M results differ by default, 152,738 under SSE4_2). A
    float64 root is within one float64 ulp of the exact one, and the exact root of a float32 is never within
    2^-50 (relative) of a float32 rounding boundary, so rounding it gives the correctly rounded float32 root on
    every ISA and on CUDA. On the CPU a float32 tensor with no negative entry takes numpy's float32 sqrt instead
    (the hardware's IEEE square root, or libm's correctly rounded sqrtf): the same bits (checked on every
    subnormal and 40M other patterns in tests/unit/test_repops.py) at a fifth of the cost — ATen's float64
    sqrt is slow on the CPU. Negative entries take the float64 route, whose NaN is the one kept."""
    if (x.dtype == torch.float32 and x.device.type == "cpu" and not x.requires_grad and x.numel()
            and not bool((x < 0).any())):  # (amin would hide a negative behind a NaN)
        a = x.contiguous().numpy()
        with np.errstate(invalid="ignore"):  # a signalling NaN is quieted, as the float64 route does, silently
            return torch.from_numpy(np.sqrt(a, out=np.empty_like(a)))  # (out=: a 0-dim array stays an array)
    return torch.sqrt(x.to(torch.float64)).to(x.dtype)


def neg(x: Tensor) -> Tensor:
    return torch.neg(x)


def maximum(a: Tensor, b: Tensor) -> Tensor:
    return torch.maximum(a, b)


def bias_add(x: Tensor, b: Tensor) -> Tensor:
    """x (m×n) + b (n,) broadcast over rows."""
    return torch.add(x, b.unsqueeze(0))


def scale(x: Tensor, c: float) -> Tensor:
    """x * c with c rounded to float32 first."""
    return torch.mul(x, f32(c))


def relu(x: Tensor) -> Tensor:
    """max(x, 0) as a pure selection: x where x > 0, else +0 (also for -0). NaN propagates.

    torch.threshold is `x <= 0 ? 0 : x` in both its CPU and CUDA kernels (no rounding, no sign-of-zero
    ambiguity as with max()), vectorised, and ~40x faster than torch.where on CPU.
    """
    return torch.threshold(x, 0.0, 0.0)


def relu_backward(grad: Tensor, x: Tensor) -> Tensor:
    """grad where x > 0, else +0 (the subgradient at 0 is 0, as in torch): `x <= 0 ? 0 : grad` on every device."""
    return torch.ops.aten.threshold_backward(grad, x, 0.0)
