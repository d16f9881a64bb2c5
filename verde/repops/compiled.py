"""RepOps' hottest CPU programs as compiled loops (verde/repops/csrc/compiled.c), to the same bits.

Each function here runs, in one pass over the data, the same IEEE operations in the same order as its Python
definition (the float64 programs of transcendental.py, quantize.quantize_f64, reduce.grid_sum64), so it
returns the same bits; the C file says why the compiler cannot change them (-ffp-contract=off, no fast-math,
no libm). tests/unit/test_repops_compiled.py compares every one with its Python definition, bit for bit.

They take only what they were written for — plain, contiguous (or, for operands, densely permuted) CPU
tensors — and return None for anything else, and everything when the extension is not built (no C
compiler at install) or ``VERDE_COMPILED=0`` is set: the caller then runs its Python definition. CUDA
always runs the Python definitions.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable

import torch
from torch import Tensor

try:  # built by `pip install -e .` (pyproject: tool.setuptools.ext-modules, optional)
    from verde.repops import _compiled as _lib

    BUILT = True
except ImportError:  # pragma: no cover - a machine without a C compiler
    BUILT = False

ENABLED = BUILT and os.environ.get("VERDE_COMPILED", "1") != "0"

_BITS = {torch.float32: 32, torch.float64: 64}


def _plain(x: Tensor) -> bool:
    return (type(x) is Tensor and x.device.type == "cpu" and x.dtype in _BITS and not x.requires_grad
            and x.is_contiguous() and x.numel() > 0)


@functools.cache
def _coefficients(coeffs: tuple[float, ...]) -> Tensor:
    """A polynomial's coefficients as a float64 buffer the C code reads (kept for the process)."""
    return torch.tensor(coeffs, dtype=torch.float64)


def exp(x: Tensor, coeffs: tuple[float, ...], out: Tensor | None = None) -> Tensor | None:
    """transcendental.exp64_'s program on x (float32 or float64) into out (x's dtype; may be x itself)."""
    if not ENABLED or not _plain(x) or (out is not None and not (_plain(out) and out.dtype == x.dtype
                                                                  and out.shape == x.shape)):
        return None
    out = torch.empty_like(x) if out is None else out
    c = _coefficients(coeffs)
    _lib.exp(x.data_ptr(), out.data_ptr(), x.numel(), _BITS[x.dtype], c.data_ptr(), c.numel())
    return out


# erf's tail (transcendental._erf_tail): a function giving its Taylor table (built on first use), 1 / step, step
Tail = tuple[Callable[[], Tensor], float, float]


def _fix_tails(kind: int, x: Tensor, out: Tensor, tail: Tail, bound: float, scale: float = 1.0, half: bool = False,
               grad: Tensor | None = None, exp_coeffs: tuple[float, ...] = (0.0,) * 4) -> None:
    """Overwrite out's elements whose x is past erf's switch (|x| > bound, NaN) with their tail values."""
    table_fn, inv_step, step = tail
    table, ce = table_fn(), _coefficients(exp_coeffs)
    _lib.tails(kind, x.data_ptr(), 0 if grad is None else grad.data_ptr(), out.data_ptr(), x.numel(),
               _BITS[x.dtype], table.data_ptr(), table.shape[1], inv_step, step, scale, bound, int(half),
               ce.data_ptr(), ce.numel(), 1.0 / math.sqrt(2.0 * math.pi))


def erf(x: Tensor, coeffs: tuple[float, ...], bound: float, tail: Tail, scale: float = 1.0,
        half: bool = False) -> Tensor | None:
    """transcendental._erf_scaled's erf(x scale) (halved if half; coeffs the fit for that scale, halved too) of
    float32 or float64 x, in x's dtype: the polynomial on x clamped to ±bound, the elements past it (few, usually
    none) then from the tail table."""
    if not ENABLED or not _plain(x):
        return None
    out = torch.empty_like(x)
    c = _coefficients(coeffs)
    if _lib.erf(x.data_ptr(), out.data_ptr(), x.numel(), _BITS[x.dtype], c.data_ptr(), c.numel(), bound):
        _fix_tails(0, x, out, tail, bound, scale, half)
    return out


def gelu_erf(x: Tensor, coeffs: tuple[float, ...], bound: float, tail: Tail) -> Tensor | None:
    """transcendental.gelu_erf of float32 x (coeffs: the halved fit of erf(x / sqrt 2), bound its switch)."""
    if not ENABLED or not _plain(x) or x.dtype != torch.float32:
        return None
    out = torch.empty_like(x)
    c = _coefficients(coeffs)
    if _lib.gelu_erf(x.data_ptr(), out.data_ptr(), x.numel(), c.data_ptr(), c.numel(), bound):
        _fix_tails(1, x, out, tail, bound, 1.0 / math.sqrt(2.0), True)
    return out


def gelu_erf_backward(grad: Tensor, x: Tensor, coeffs: tuple[float, ...], bound: float,
                      exp_coeffs: tuple[float, ...], tail: Tail) -> Tensor | None:
    """transcendental.gelu_erf_backward of float32 grad and x of one shape, as gelu_erf."""
    if (not ENABLED or not _plain(x) or not _plain(grad) or x.dtype != torch.float32
            or grad.dtype != torch.float32 or grad.shape != x.shape):
        return None
    out = torch.empty_like(x)
    c, ce = _coefficients(coeffs), _coefficients(exp_coeffs)
    if _lib.gelu_erf_backward(grad.data_ptr(), x.data_ptr(), out.data_ptr(), x.numel(), c.data_ptr(), c.numel(),
                              bound, ce.data_ptr(), ce.numel(), 1.0 / math.sqrt(2.0 * math.pi)):
        _fix_tails(2, x, out, tail, bound, 1.0 / math.sqrt(2.0), True, grad, exp_coeffs)
    return out


def _grid_k(bits: int) -> float:
    """The exact constant that turns a slice maximum's power of two into its rounding constant M for a grid of
    `bits` bits below it (quantize.grid_magic_f64)."""
    return 1.5 * 2.0 ** (53 - bits)


def _dense_order(x: Tensor) -> list[int] | None:
    """x's dims from outermost to innermost in memory when x is a permutation of a contiguous tensor."""
    if x.is_contiguous():
        return list(range(x.dim()))
    strides = x.stride()
    order = sorted(range(x.dim()), key=lambda d: (-strides[d], -x.shape[d]))
    expected = 1
    for d in reversed(order):
        if x.shape[d] != 1 and strides[d] != expected:
            return None
        expected *= x.shape[d]
    return order


def _blocks(shape: list[int], order: list[int], dim: int) -> tuple[int, int, int]:
    """(A, n, B): the sizes of the memory dims outside `dim`, `dim` itself and inside it."""
    p = order.index(dim)
    return math.prod(shape[d] for d in order[:p]), shape[dim], math.prod(shape[d] for d in order[p + 1:])


def quantize_f64(x: Tensor, dim: int, bits: int) -> Tensor | None:
    """quantize.quantize_f64 of float32 x (contiguous, or a permutation of a contiguous tensor, as transposed
    matmul operands are): the float64 result has x's strides."""
    if (not ENABLED or type(x) is not Tensor or x.device.type != "cpu" or x.dtype != torch.float32
            or x.requires_grad or x.numel() == 0 or x.dim() == 0 or not 1 <= bits <= 51):
        return None
    order = _dense_order(x)
    if order is None:
        return None
    a, n, b = _blocks(list(x.shape), order, dim % x.dim())
    out = torch.empty_strided(x.shape, x.stride(), dtype=torch.float64)
    _lib.quantize(x.data_ptr(), out.data_ptr(), a, n, b, _grid_k(bits))
    return out


def grid_sum64(x: Tensor, dim: int, keepdim: bool, bits: int) -> Tensor | None:
    """reduce.grid_sum64 of contiguous float32 or float64 x along dim, on the grid of `bits` (_sum_bits)."""
    if not ENABLED or not _plain(x) or x.dim() == 0 or not 1 <= bits <= 51:
        return None
    dim %= x.dim()
    shape = list(x.shape)
    a, n, b = _blocks(shape, list(range(x.dim())), dim)
    out_shape = shape[:dim] + ([1] if keepdim else []) + shape[dim + 1:]
    out = torch.empty(out_shape, dtype=torch.float64)
    _lib.grid_sum(x.data_ptr(), out.data_ptr(), a, n, b, _BITS[x.dtype], _grid_k(bits))
    return out


def _rows(x: Tensor, n: int) -> int | None:
    """How many rows of n a plain contiguous float32 x holds (None unless it is such a tensor)."""
    if not ENABLED or not _plain(x) or x.dtype != torch.float32 or n < 1 or x.numel() % n:
        return None
    return x.numel() // n


def _row_param(p: Tensor | None, n: int) -> int | None:
    """A layer norm weight or bias as a data pointer (0 for None); None when it is not n plain float32s."""
    if p is None:
        return 0
    if not _plain(p) or p.dtype != torch.float32 or p.numel() != n:
        return None
    return p.data_ptr()


def layer_norm(x: Tensor, n: int, weight: Tensor | None, bias: Tensor | None, eps: float, bits: int
               ) -> tuple[Tensor, Tensor, Tensor] | None:
    """aten/norms.native_layer_norm over x's trailing n elements: (y like x, mean and rstd per row), float32;
    bits is reduce._sum_bits(n)."""
    rows, w, b = _rows(x, n), _row_param(weight, n), _row_param(bias, n)
    if rows is None or w is None or b is None:
        return None
    y, mu, rstd = torch.empty_like(x), torch.empty(rows), torch.empty(rows)
    _lib.layer_norm(x.data_ptr(), w, b, y.data_ptr(), mu.data_ptr(), rstd.data_ptr(), rows, n, float(eps),
                    _grid_k(bits))
    return y, mu, rstd


def _last_dim_rows(x: Tensor, dim: int) -> tuple[int, int] | None:
    """(rows, n) when dim is x's last and x is plain contiguous float32: n = x.shape[-1]."""
    if x.dim() == 0 or dim % x.dim() != x.dim() - 1:
        return None
    n = x.shape[-1]
    rows = _rows(x, n)
    return None if rows is None else (rows, n)


def softmax(x: Tensor, dim: int, exp_coeffs: tuple[float, ...], bits: int) -> Tensor | None:
    """aten/norms.softmax along x's last dim (float32); bits is reduce._sum_bits(n)."""
    shape = _last_dim_rows(x, dim)
    if shape is None:
        return None
    out, c = torch.empty_like(x), _coefficients(exp_coeffs)
    _lib.softmax(x.data_ptr(), out.data_ptr(), 0, 0, *shape, c.data_ptr(), c.numel(), _grid_k(bits))
    return out


def log_softmax(x: Tensor, dim: int, exp_coeffs: tuple[float, ...], bits: int,
                log64: Callable[[Tensor], Tensor]) -> Tensor | None:
    """aten/norms.log_softmax along x's last dim (float32): the rows' maxima and exact sums of exp64(x - max)
    in one pass, log64 of the sums (few: one per row), then (x - max) - lse in another."""
    shape = _last_dim_rows(x, dim)
    if shape is None:
        return None
    rows, n = shape
    sums, maxima = torch.empty(rows, dtype=torch.float64), torch.empty(rows, dtype=torch.float64)
    c = _coefficients(exp_coeffs)
    _lib.softmax(x.data_ptr(), 0, sums.data_ptr(), maxima.data_ptr(), rows, n, c.data_ptr(), c.numel(),
                 _grid_k(bits))
    lse = log64(sums).contiguous()
    out = torch.empty_like(x)
    _lib.shift_sub(x.data_ptr(), maxima.data_ptr(), lse.data_ptr(), out.data_ptr(), rows, n)
    return out
