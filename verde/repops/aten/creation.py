"""Factory ops (full, zeros, arange, scalar_tensor, ...): exact values on `context.device()`.

The exported `device=` is ignored (see context.py); `empty*` returns zeros so that no node's output depends
on uninitialised memory. Float arange is computed as start + i * step in float64 and rounded once, the same
on every device (ATen's own float arange formula differs between CPU and CUDA kernels).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from verde.repops.aten.context import device
from verde.repops.aten.registry import kernel


def _dtype_of_fill(value, dtype: torch.dtype | None) -> torch.dtype:
    if dtype is not None:
        return dtype
    if isinstance(value, bool):
        return torch.bool
    if isinstance(value, int):
        return torch.int64
    return torch.get_default_dtype()


@kernel("aten.full.default")
def full(size: list[int], fill_value, *, dtype=None, layout=None, pin_memory=None, **_ignored) -> Tensor:
    return torch.full(list(size), fill_value, dtype=_dtype_of_fill(fill_value, dtype), device=device())


@kernel("aten.zeros.default")
def zeros(size: list[int], *, dtype=None, layout=None, pin_memory=None, **_ignored) -> Tensor:
    return torch.zeros(list(size), dtype=dtype or torch.get_default_dtype(), device=device())


@kernel("aten.ones.default")
def ones(size: list[int], *, dtype=None, layout=None, pin_memory=None, **_ignored) -> Tensor:
    return torch.ones(list(size), dtype=dtype or torch.get_default_dtype(), device=device())


@kernel("aten.empty.memory_format")
def empty(size: list[int], *, dtype=None, layout=None, pin_memory=None, memory_format=None,
          **_ignored) -> Tensor:
    return zeros(size, dtype=dtype)


@kernel("aten.full_like.default")
def full_like(x: Tensor, fill_value, *, dtype=None, layout=None, pin_memory=None, memory_format=None,
              **_ignored) -> Tensor:
    return torch.full(x.shape, fill_value, dtype=dtype or x.dtype, device=x.device)


@kernel("aten.zeros_like.default", "aten.empty_like.default")
def zeros_like(x: Tensor, *, dtype=None, layout=None, pin_memory=None, memory_format=None,
               **_ignored) -> Tensor:
    return torch.zeros(x.shape, dtype=dtype or x.dtype, device=x.device)


@kernel("aten.ones_like.default")
def ones_like(x: Tensor, *, dtype=None, layout=None, pin_memory=None, memory_format=None,
              **_ignored) -> Tensor:
    return torch.ones(x.shape, dtype=dtype or x.dtype, device=x.device)


@kernel("aten.new_zeros.default", "aten.new_empty.default")
def new_zeros(x: Tensor, size: list[int], *, dtype=None, layout=None, pin_memory=None, **_ignored) -> Tensor:
    return torch.zeros(list(size), dtype=dtype or x.dtype, device=x.device)


@kernel("aten.new_ones.default")
def new_ones(x: Tensor, size: list[int], *, dtype=None, layout=None, pin_memory=None, **_ignored) -> Tensor:
    return torch.ones(list(size), dtype=dtype or x.dtype, device=x.device)


@kernel("aten.new_full.default")
def new_full(x: Tensor, size: list[int], fill_value, *, dtype=None, layout=None, pin_memory=None,
             **_ignored) -> Tensor:
    return torch.full(list(size), fill_value, dtype=dtype or x.dtype, device=x.device)


@kernel("aten.scalar_tensor.default")
def scalar_tensor(s, *, dtype=None, layout=None, pin_memory=None, **_ignored) -> Tensor:
    return torch.full((), s, dtype=dtype or torch.get_default_dtype(), device=device())


def _arange(start, end, step, dtype) -> Tensor:
    ints = all(isinstance(v, int) and not isinstance(v, bool) for v in (start, end, step))
    if dtype is None:
        dtype = torch.int64 if ints else torch.get_default_dtype()
    if step == 0:
        raise ValueError("arange step must be nonzero")
    if ints:
        return torch.arange(start, end, step, dtype=torch.int64, device=device()).to(dtype)
    n = max(0, math.ceil((end - start) / step))  # as ATen sizes it (in double)
    i = torch.arange(n, dtype=torch.float64, device=device())
    return i.mul_(float(step)).add_(float(start)).to(dtype)


@kernel("aten.arange.start_step")
def arange_start_step(start, end, step=1, *, dtype=None, layout=None, pin_memory=None, **_ignored) -> Tensor:
    return _arange(start, end, step, dtype)


@kernel("aten.arange.start")
def arange_start(start, end, *, dtype=None, layout=None, pin_memory=None, **_ignored) -> Tensor:
    return _arange(start, end, 1, dtype)


@kernel("aten.arange.default")
def arange(end, *, dtype=None, layout=None, pin_memory=None, **_ignored) -> Tensor:
    return _arange(0, end, 1, dtype)


@kernel("aten.empty_permuted.default")
def empty_permuted(size: list[int], physical_layout: list[int], *, dtype=None, layout=None, pin_memory=None,
                   **_ignored) -> Tensor:
    """Zeros of `size` (the physical layout does not change values)."""
    return zeros(size, dtype=dtype)
