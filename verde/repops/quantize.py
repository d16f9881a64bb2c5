"""Exact power-of-two helpers and rounding to a shared exponent — the arithmetic that makes RepOps order-free.

Every helper here is exact (bit manipulation on integer views) or a single correctly rounded IEEE add,
so it gives the same bits on any CPU and on CUDA.
"""

from __future__ import annotations

import torch
from torch import Tensor

# Zero rows/columns get an arbitrary small exponent; every finite float32 is a multiple of 2**-149,
# so clamping the exponent here never changes a rounded value.
_MIN_EXP = -149


def pow2_f64(e: Tensor) -> Tensor:
    """2**e as float64 for an int64 tensor e in [-1022, 1023], built from bits (no pow/ldexp)."""
    return ((e + 1023) << 52).view(torch.float64)


def pow2_f32(e: Tensor) -> Tensor:
    """2**e as float32 for an int64 tensor e in [-126, 127], built from bits."""
    return ((e + 127) << 23).to(torch.int32).view(torch.float32)


def exponent(mx: Tensor) -> Tensor:
    """frexp exponent (int64) of a non-negative tensor: the smallest e with mx < 2**e; zeros give -149.

    Goes through float64 so that float32 subnormals are normal numbers there.
    """
    bits = mx.to(torch.float64).view(torch.int64)
    return ((bits >> 52) - 1022).clamp_(min=_MIN_EXP)


def absmax(x: Tensor, dim: int) -> Tensor:
    """max |x| along dim without writing an abs() copy of x (amax and amin are vectorised; aminmax is
    several times slower on CPU)."""
    return torch.maximum(x.amax(dim=dim), x.amin(dim=dim).neg_())


def round_to_grid_f64(x64: Tensor, e: Tensor, bits: int) -> Tensor:
    """Round float64 x (|x| <= 2**e, e broadcastable) to the nearest multiple of 2**(e-bits), ties to even.

    Adding M = 1.5 * 2**(e-bits+52) puts the sum in a binade whose ulp is exactly 2**(e-bits), so the
    one correctly rounded addition does the rounding and the subtraction of M is exact (bits <= 51).
    """
    m = pow2_f64(e - bits + 52) * 1.5
    return (x64 + m).sub_(m)
