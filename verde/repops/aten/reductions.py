"""Reductions along dims: float sums/means exactly (shared-exponent grid, verde/repops/reduce.py), then one
rounding; max/min/any/argmax are exact selections whatever order they run in; integer sums are exact.

ATen's `dim=[]` (or None) means all dims for sum/mean/amax/amin.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from verde.repops.aten.registry import kernel
from verde.repops.elementwise import div_scalar
from verde.repops.reduce import grid_sum64


def _dims(x: Tensor, dim) -> list[int]:
    if dim is None or (isinstance(dim, (list, tuple)) and len(dim) == 0):
        return list(range(x.dim()))
    dims = [dim] if isinstance(dim, int) else list(dim)
    return sorted({d % max(x.dim(), 1) for d in dims})


def _exact_sum_dims64(x: Tensor, dims: list[int], keepdim: bool) -> Tensor:
    """Order-independent float64 sum of float x over several dims as ONE exact sum (reduce.grid_sum64):
    a leading or trailing block of dims is flattened in place, other sets are moved last first."""
    if x.dim() == 0:
        return x.to(torch.float64).clone()
    if len(dims) == 1:  # one dim: no reshapes (the common case)
        return grid_sum64(x, dims[0], keepdim)
    nd, k = x.dim(), len(dims)
    keep = [d for d in range(nd) if d not in dims]
    kept_shape = [x.shape[d] for d in keep]
    if dims == list(range(k)):
        s = grid_sum64(x.reshape(-1, *kept_shape), 0)
    elif dims == list(range(nd - k, nd)):
        s = grid_sum64(x.reshape(*kept_shape, -1), len(kept_shape))
    else:
        s = grid_sum64(x.permute(keep + dims).reshape(*kept_shape, -1), len(kept_shape))
    if keepdim:
        s = s.view([1 if d in dims else x.shape[d] for d in range(nd)])
    return s


def sum64(x: Tensor, dim, keepdim: bool = False) -> Tensor:
    """Exact (order-independent) float64 sum of a float tensor over `dim` (ATen's convention for [])."""
    return _exact_sum_dims64(x, _dims(x, dim), keepdim)


def _out_dtype(x: Tensor, dtype: torch.dtype | None) -> torch.dtype:
    if dtype is not None:
        return dtype
    return x.dtype if x.is_floating_point() else torch.int64


@kernel("aten.sum.dim_IntList")
def sum_dim(x: Tensor, dim, keepdim: bool = False, *, dtype: torch.dtype | None = None) -> Tensor:
    """Sum over dims (all when dim is None or []); floats exactly then rounded once, ints/bools as int64."""
    out = _out_dtype(x, dtype)
    if not out.is_floating_point:
        return torch.sum(x, dim=_dims(x, dim), keepdim=keepdim, dtype=out) if x.dim() else x.to(out)
    return sum64(x, dim, keepdim).to(out)


@kernel("aten.sum.default")
def sum_all(x: Tensor, *, dtype: torch.dtype | None = None) -> Tensor:
    return sum_dim(x, None, False, dtype=dtype)


@kernel("aten.mean.dim")
def mean_dim(x: Tensor, dim, keepdim: bool = False, *, dtype: torch.dtype | None = None) -> Tensor:
    """Exact sum / n (an IEEE float64 division), rounded once."""
    dims = _dims(x, dim)
    n = 1
    for d in dims:
        n *= x.shape[d] if x.dim() else 1
    s = _exact_sum_dims64(x, dims, keepdim)
    return div_scalar(s, float(n)).to(dtype or x.dtype)


@kernel("aten.mean.default")
def mean_all(x: Tensor, *, dtype: torch.dtype | None = None) -> Tensor:
    return mean_dim(x, None, False, dtype=dtype)


@kernel("aten.var.correction")
def var(x: Tensor, dim=None, *, correction=None, keepdim: bool = False) -> Tensor:
    """sum((x - mean)^2) / (n - correction), float64 with exact sums, rounded once."""
    dims = _dims(x, dim)
    n = math.prod(x.shape[i] for i in dims)
    x64 = x.to(torch.float64)
    mu = div_scalar(_exact_sum_dims64(x64, dims, True), float(n))
    dev = x64 - mu
    ss = _exact_sum_dims64(dev * dev, dims, keepdim)
    c = 1 if correction is None else correction
    return div_scalar(ss, float(max(n - c, 0))).to(x.dtype)


@kernel("aten.amax.default")
def amax(x: Tensor, dim=(), keepdim: bool = False) -> Tensor:
    return torch.amax(x, dim=_dims(x, dim), keepdim=keepdim)


@kernel("aten.amin.default")
def amin(x: Tensor, dim=(), keepdim: bool = False) -> Tensor:
    return torch.amin(x, dim=_dims(x, dim), keepdim=keepdim)


@kernel("aten.max.dim")
def max_dim(x: Tensor, dim: int, keepdim: bool = False) -> tuple[Tensor, Tensor]:
    """(values, indices) of the max along dim; the index is the first maximal one (argmax's contract)."""
    idx = torch.argmax(x, dim=dim, keepdim=True)
    val = torch.gather(x, dim, idx)
    return (val, idx) if keepdim else (val.squeeze(dim), idx.squeeze(dim))


@kernel("aten.argmax.default")
def argmax(x: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    return torch.argmax(x, dim=dim, keepdim=keepdim)


@kernel("aten.any.dim")
def any_dim(x: Tensor, dim: int, keepdim: bool = False) -> Tensor:
    return torch.any(x, dim=dim, keepdim=keepdim)


@kernel("aten.any.dims")
def any_dims(x: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    return torch.any(x, dim=tuple(_dims(x, dim)), keepdim=keepdim) if x.dim() else x.bool()


@kernel("aten.any.default")
def any_all(x: Tensor) -> Tensor:
    return torch.any(x)


@kernel("aten.all.default")
def all_all(x: Tensor) -> Tensor:
    return torch.all(x)
