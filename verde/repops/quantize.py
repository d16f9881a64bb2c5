"""Rounding to a shared exponent — the arithmetic that makes RepOps reductions independent of order.

To round x (|x| <= 2**e) to the nearest multiple of 2**(e-bits), add M = 1.5 * 2**p with p = e - bits +
(mantissa bits of the format) and subtract it again: the sum lands in the binade whose ulp is exactly the
grid step, so the single correctly rounded IEEE addition does the rounding (ties to even) and the
subtraction is exact. M is built from bits (no pow/ldexp, whose accuracy is platform-dependent), so every
helper here gives the same bits on any CPU and on CUDA. Exponents come from torch.frexp (exact).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from verde.repops import compiled

# Below this size abs().amax() (two cheap ops) beats amax/amin (no temporary); both give the same value.
_SMALL = 1 << 16


def absmax(x: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    """max |x| over dim (all elements when None)."""
    if x.numel() <= _SMALL:
        return x.abs().amax(dim=() if dim is None else dim, keepdim=keepdim)
    # no |x| copy of a large operand; aminmax is several times slower than amax + amin on CPU
    if dim is None:
        return torch.maximum(x.amax(), x.amin().neg_())
    return torch.maximum(x.amax(dim=dim, keepdim=keepdim), x.amin(dim=dim, keepdim=keepdim).neg_())


_INT = {torch.float32: torch.int32, torch.float64: torch.int64}


def slice_absmax(x: Tensor, dim: int) -> Tensor:
    """max |x| over `dim`, keepdim, in x's dtype (float32 or float64).

    Maxima are exact, so any way of taking them gives the same values; the fastest measured (one thread) is
    picked by layout. ATen's float amax is slow when the reduced dim is the contiguous one (no SIMD over a
    row; measured 2-3x for rows of 16-64) and when the contiguous dim of an N-d tensor has <= 16 elements
    (attention heads). In the first case |x| is reduced as integers: non-negative IEEE floats order as their
    bit patterns (a NaN's above inf's, so a NaN slice still gives a NaN, its payload possibly another of the
    slice's); in the second the reduced dim is moved first in a contiguous copy.
    """
    a = x.abs()
    dim %= a.dim()
    if a.shape[dim] > 1 and a.stride(dim) == 1 and a.dtype in _INT:
        return a.view(_INT[a.dtype]).amax(dim=dim, keepdim=True).view(a.dtype)
    if a.dim() >= 3:
        for d in range(a.dim()):
            if a.stride(d) == 1 and a.shape[d] > 1:
                if d != dim and a.shape[d] <= 16:
                    return a.movedim(dim, 0).contiguous().amax(dim=0, keepdim=True).movedim(0, dim)
                break
    return a.amax(dim=dim, keepdim=True)


def exponent(mx: Tensor) -> Tensor:
    """frexp exponent (int32): the smallest e with |mx| < 2**e (0 for zeros)."""
    return torch.frexp(mx).exponent


def magic_f32(e: Tensor, bits: int) -> Tensor | None:
    """M = 1.5 * 2**(e - bits + 23) as float32, or None when it would overflow (|x| near the float32 max).

    Valid for bits <= 22 (the sum x + M must stay in M's binade). The exponent is clamped below at -126:
    the grid is then 2**-149 or finer, on which every float32 already lies, so the rounding changes nothing.
    """
    field = e + (150 - bits)  # biased exponent of M
    # x + M may round up to 2**(p+1), which must stay finite: p <= 126, i.e. field <= 253
    if int(field.max()) > 253:
        return None
    return ((field.clamp_(min=1) << 23) | 0x400000).view(torch.float32)


def magic_f64(e: Tensor, bits: int) -> Tensor:
    """M = 1.5 * 2**(e - bits + 52) as float64 (bits <= 51). e is clamped at -1000 so M stays a normal
    number: values below 2**-1000 (never a float32) may round to zero, deterministically."""
    return (((e.to(torch.int64).clamp_(min=-1000) + (1023 + 52 - bits)) << 52) | (1 << 51)).view(torch.float64)


def round_to_grid_f64(x64: Tensor, e: Tensor, bits: int) -> Tensor:
    """float64 x (|x| <= 2**e, e broadcastable int) rounded to the nearest multiple of 2**(e-bits), ties to even."""
    m = magic_f64(e, bits)
    return (x64 + m).sub_(m)


_F64_EXPONENT = 0x7FF0000000000000


def grid_magic_f64(mx64: Tensor, bits: int) -> Tensor:
    """magic_f64(exponent(mx64), bits) in three ops, for float64 maxima of float32 data (|mx| >= 2**-1000).

    2**floor(log2 mx) is mx with its mantissa bits cleared (exact bit masking), and M = 1.5 * 2**(e - bits
    + 52) with e = floor(log2 mx) + 1 is that power of two times the exact constant 1.5 * 2**(53 - bits).
    A zero maximum gives M = 0 (nothing to round); an infinite or NaN one gives a NaN slice.
    """
    p = (mx64.view(torch.int64) & _F64_EXPONENT).view(torch.float64)
    return p.mul_(1.5 * 2.0 ** (53 - bits))


def slice_magic_f64(mx: Tensor, bits: int) -> Tensor:
    """grid_magic_f64(mx.to(float64), bits) for slice maxima mx (float32 or float64).

    On the CPU the same three exact operations (widening, the exponent mask, the multiplication of a power
    of two by 1.5 * 2**(53 - bits)) run in numpy on a view of mx: on these small tensors a numpy call costs
    about a third of an ATen one (measured 3.3 vs 6.0 us for the three). Elsewhere (CUDA, other dtypes, autograd,
    tensor subclasses) the ATen ops; both give the same bits.
    """
    if mx.device.type != "cpu" or mx.dtype not in _INT or mx.requires_grad or type(mx) is not Tensor:
        return grid_magic_f64(mx.to(torch.float64), bits)
    a = mx.numpy().astype(np.float64)
    v = a.view(np.int64)
    np.bitwise_and(v, _F64_EXPONENT, out=v)
    a *= 1.5 * 2.0 ** (53 - bits)
    return torch.from_numpy(a)


def quantize_f64(x: Tensor, dim: int, bits: int) -> Tensor:
    """float32 x rounded, per slice along `dim`'s complement, to `bits` (<= 22) bits below the slice's max;
    returned as float64.

    The same values as verde.repops.matmul.quantize (same grid, round to nearest even) for slices whose maximum
    is a normal float32 (for a subnormal one `magic_f32` clamps the grid to 2**-149, here it is 2**(e - bits)), in
    as few kernels as it takes: the slice maxima, the rounding constant M = 1.5 * 2**(e - bits + 52) as the
    float64 maximum with its mantissa cleared times the exact 1.5 * 2**(53 - bits) (grid_magic_f64), then
    x + M - M in place on the float64 copy. float64 throughout, so no M can overflow and no operand needs a check (or a device
    sync) first; a zero maximum gives M = 0 (nothing to round). On the CPU a float32 operand is rounded in
    float32 first and widened after (`_slice_magic_f32`: the same values, ~15-20 % cheaper for large
    operands), unless a maximum is too large for a float32 M. A densely laid out float32 CPU operand takes
    the float64 route in one compiled loop instead (compiled.quantize_f64: the same values).
    """
    fast = compiled.quantize_f64(x, dim, bits) if bits <= 22 else None
    if fast is not None:
        return fast
    mx = slice_absmax(x, dim)
    if (x.dtype == torch.float32 and bits <= 22 and mx.device.type == "cpu" and not x.requires_grad
            and type(mx) is Tensor):
        m32 = _slice_magic_f32(mx.numpy(), bits)
        if m32 is not None:
            m = torch.from_numpy(m32)
            return torch.add(x, m).sub_(m).to(torch.float64)
    m = slice_magic_f64(mx, bits)
    return x.to(torch.float64, copy=True).add_(m).sub_(m)


_F32_EXPONENT = 0x7F800000


def _slice_magic_f32(mx: np.ndarray, bits: int) -> np.ndarray | None:
    """The float32 rounding constants M = 1.5 * 2**(e - bits + 23) for float32 slice maxima (CPU, numpy), or
    None unless every M is a normal float32 built from a normal maximum: a maximum of 2**(103 + bits) or more
    (M overflows), inf or NaN, or a nonzero subnormal maximum (its exponent is not in its bits) take the
    float64 route.

    x + M - M in float32 rounds x to the same grid as the float64 route, ties to even alike (M is an even
    multiple of its ulp in both formats, and x + M stays in M's binade since |x| <= 2**e <= M / 3), and the
    float32 passes move half the bytes. A zero maximum gives M = 0 (nothing to round), as in float64.
    """
    if mx.size:
        nonzero_min = np.where(mx == 0, np.float32(np.inf), mx).min()
        if not (bool(mx.max() < 2.0 ** (103 + bits)) and bool(nonzero_min >= 2.0**-126)):
            return None
    return (mx.view(np.int32) & _F32_EXPONENT).view(np.float32) * np.float32(1.5 * 2.0 ** (24 - bits))
