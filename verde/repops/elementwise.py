"""Correctly rounded IEEE elementwise ops — thin wrappers so a training program only ever calls RepOps.

+ − × ÷ sqrt are correctly rounded on every IEEE device. Python scalars are first rounded to float32
(`f32`) so it does not matter whether a kernel multiplies in float or in double: for these ops, double
rounding through float64 gives the correctly rounded float32 result (53 >= 2*24 + 2).
No `alpha=`/addcmul/lerp forms, which some backends contract into an FMA.
"""

from __future__ import annotations

import struct

import torch
from torch import Tensor


def f32(c: float) -> float:
    """The Python float nearest to c that is exactly representable in float32."""
    return struct.unpack("<f", struct.pack("<f", float(c)))[0]


def div_scalar(x: Tensor, c: float) -> Tensor:
    """x / c, a true IEEE division. The divisor is a 0-dim tensor on x's device, never a Python scalar:
    CUDA replaces division by a CPU scalar with multiplication by its reciprocal, which rounds differently."""
    return torch.div(x, torch.full((), c, dtype=x.dtype, device=x.device))


def add(a: Tensor, b: Tensor) -> Tensor:
    return torch.add(a, b)


def sub(a: Tensor, b: Tensor) -> Tensor:
    return torch.sub(a, b)


def mul(a: Tensor, b: Tensor) -> Tensor:
    return torch.mul(a, b)


def div(a: Tensor, b: Tensor) -> Tensor:
    return torch.div(a, b)


def sqrt(x: Tensor) -> Tensor:
    return torch.sqrt(x)


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
    return torch.where(x > 0, x, torch.zeros((), dtype=x.dtype, device=x.device))


def relu_backward(grad: Tensor, x: Tensor) -> Tensor:
    """grad where x > 0, else 0 (the subgradient at 0 is 0, as in torch)."""
    return torch.where(x > 0, grad, torch.zeros((), dtype=grad.dtype, device=grad.device))
