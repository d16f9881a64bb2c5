"""Order-independent sum and mean: values rounded to a shared exponent, summed exactly in float64, rounded once.

With n terms each a multiple of 2**(e-bits) and |term| <= 2**e, bits = 52 - ceil(log2 n) keeps every
partial sum an exact float64 integer multiple of the grid, so torch.sum's order (threads, SIMD lanes,
CUDA tree) cannot change the result. For n <= 2**20 the grid keeps >= 32 bits below the maximum, so
float32 inputs within 8 binades of the largest one are summed exactly.
"""

from __future__ import annotations

import torch
from torch import Tensor

from verde.repops import compiled
from verde.repops.elementwise import div_scalar
from verde.repops.quantize import absmax, exponent, round_to_grid_f64, slice_absmax, slice_magic_f64


def _sum_bits(n: int) -> int:
    return min(51, 52 - max(int(n - 1).bit_length(), 0))


def exact_sum64(x64: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    """Order-independent float64 sum of a float64 tensor (exact sum of the grid-rounded values)."""
    n = x64.numel() if dim is None else x64.shape[dim]
    e = exponent(absmax(x64, dim, keepdim=True))
    q = round_to_grid_f64(x64, e, _sum_bits(n))
    if dim is None:
        return q.sum().reshape([1] * x64.dim()) if keepdim else q.sum()
    return q.sum(dim=dim, keepdim=keepdim)


def sum(x: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    """Sum of float32 x over `dim` (all elements when None), bit-reproducible, float32 result."""
    return exact_sum64(x.to(torch.float64), dim, keepdim).to(torch.float32)


def mean(x: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    """Mean of float32 x over `dim` (all when None): the exact sum divided by n in float64, rounded once more."""
    n = x.numel() if dim is None else x.shape[dim]
    return div_scalar(exact_sum64(x.to(torch.float64), dim, keepdim), n).to(torch.float32)


def grid_sum64(x: Tensor, dim: int, keepdim: bool = False) -> Tensor:
    """exact_sum64 of x (float32 or float64) along one dim with fewer kernels: the slice maxima are taken in
    x's own format and the rounding constant is built by bit masking (quantize.slice_magic_f64).

    Equal to exact_sum64(x.to(float64), dim, keepdim) for finite inputs whose slice maxima are 0 or at least
    2**-1000 (every float32-derived value); a slice holding inf or NaN sums to NaN. A contiguous CPU tensor
    takes the same program as one compiled loop (compiled.grid_sum64).
    """
    if x.shape[dim] == 1 and x.dtype == torch.float32:
        # one term: the 51-bit grid below |x| holds every float32, so the rounding only maps -0 to +0 and inf
        # to NaN, which (x - x) + x does too; the sum of one term is that term
        x64 = x.to(torch.float64)
        q = (x64 - x64).add_(x64)
        return q if keepdim else q.squeeze(dim)
    fast = compiled.grid_sum64(x, dim, keepdim, _sum_bits(x.shape[dim]))
    if fast is not None:
        return fast
    m = slice_magic_f64(slice_absmax(x, dim), _sum_bits(x.shape[dim]))
    return x.to(torch.float64, copy=True).add_(m).sub_(m).sum(dim=dim, keepdim=keepdim)
