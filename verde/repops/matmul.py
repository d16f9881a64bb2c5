"""Reproducible 2-D matmul: operands rounded to a shared exponent per row/column, then one exact float64 GEMM.

Each row of A is rounded to a grid 2**(e_i - bits) (e_i = exponent of the row's max |a|), each column of B
to 2**(f_j - bits). Every product feeding output (i, j) is then an integer times the same power of two
2**(e_i + f_j - 2 bits), and ``bits`` is chosen so that K * 2**(2 bits) <= 2**52: every partial sum is
an exactly representable float64 whatever the summation order, blocking, SIMD width, thread count or
device. The float64 GEMM therefore returns the exact dot product of the rounded operands, and the only
other rounding is the final cast to float32. ``bits`` is 21 for K <= 1024 and 20 for K <= 4096, i.e.
operands keep ~21 significant bits relative to their row/column maximum (bfloat16 keeps 8).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from verde.repops.quantize import absmax, exponent, magic_f32, round_to_grid_f64

# The float32 rounding trick below needs |x| <= 2**(p-1) for M = 1.5 * 2**p, p = e - bits + 23.
_MAX_BITS_F32 = 22


def mantissa_bits(k: int) -> int:
    """Largest b with 2b + ceil(log2 k) <= 52, capped at 22 (exactness bound of the float64 GEMM)."""
    lg = max(int(k - 1).bit_length(), 0)
    return min(_MAX_BITS_F32, (52 - lg) // 2)


def quantize(x: Tensor, dim: int, bits: int) -> Tensor:
    """x (float32) rounded, per slice along `dim`'s complement, to `bits` bits below the slice's max; as float64.

    dim=1 gives one exponent per row, dim=0 one per column. The rounding is done in float32 (half the
    memory traffic) by adding and subtracting M = 1.5 * 2**p: the sum lands in the binade whose ulp is
    the grid step, so IEEE round-to-nearest-even does the rounding and the subtraction is exact. p is
    clamped below at -126 (grid 2**-149: every float32 is already on it, so nothing changes) and, for
    slices whose max exceeds ~2**(103+bits), the same rounding is done in float64 instead — both paths
    give the same values.
    """
    e = exponent(absmax(x, dim))
    m = magic_f32(e, bits)
    if m is None:
        return round_to_grid_f64(x.to(torch.float64), e.unsqueeze(dim), bits)
    m = m.unsqueeze(dim)
    # (mixed-dtype kernels, e.g. sub with a float64 out=, are slower on CPU than a separate widening pass)
    return (x + m).sub_(m).to(torch.float64)


_BLAS: dict[str, object] = {}


def _blas_limits(threads: int) -> bool:
    """Pin numpy's BLAS to ``threads`` threads (threadpoolctl); False when that cannot be done."""
    if _BLAS.get("threads") == threads:
        return True
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return False
    _BLAS["limits"] = threadpool_limits(limits=threads, user_api="blas")
    _BLAS["threads"] = threads
    return True


def gemm64(a: Tensor, b: Tensor) -> Tensor:
    """a @ b for float64 operands on the grid of ``quantize`` (2-D, or batched with broadcasting).

    Every dot product is exact whatever the BLAS does (module doc), so the library is free: on the CPU the
    float64 product runs on numpy's OpenBLAS, with as many threads as torch uses (measured ~1.3x faster than
    ATen's MKL dgemm on the AMD EPYC development machines, whose MKL does not take its AVX-512 path there).
    Elsewhere (another device, operands that autograd tracks, numpy's BLAS not pinnable to torch's thread
    count) it is torch.matmul.
    """
    if (a.device.type != "cpu" or b.device.type != "cpu" or a.requires_grad or b.requires_grad
            or not _blas_limits(torch.get_num_threads())):
        return torch.matmul(a, b)
    return torch.from_numpy(np.matmul(a.numpy(), b.numpy()))


def matmul(a: Tensor, b: Tensor) -> Tensor:
    """a (m×k) @ b (k×n) in float32, bit-reproducible; a and b may be non-contiguous (e.g. transposed views)."""
    if a.dim() != 2 or b.dim() != 2 or a.shape[1] != b.shape[0]:
        raise ValueError(f"matmul needs (m×k) @ (k×n), got {tuple(a.shape)} @ {tuple(b.shape)}")
    bits = mantissa_bits(a.shape[1])
    qa = quantize(a, 1, bits)
    qb = quantize(b, 0, bits)
    return gemm64(qa, qb).to(torch.float32)
