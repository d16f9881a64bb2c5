"""View, shape and copy ops: they move or relabel values and compute nothing, so the native op is exact.

Each returns exactly what the ATen overload returns (a view where ATen returns a view). Kernels never write
into their inputs, so handing out views is safe. `_to_copy` keeps the tensor on its device (the recorded
`device=` is the exporting machine's); a float->float conversion is a correctly rounded IEEE cast.
"""

from __future__ import annotations

import torch
from torch import Tensor

from verde.repops.aten.registry import kernel


@kernel("aten.view.default", "aten._unsafe_view.default", "aten.reshape.default")
def view(x: Tensor, size: list[int]) -> Tensor:
    """x with shape `size` (one -1 allowed); reshape copies when x's strides do not allow a view."""
    return x.reshape(size)


@kernel("aten.permute.default")
def permute(x: Tensor, dims: list[int]) -> Tensor:
    return x.permute(dims)


@kernel("aten.transpose.int")
def transpose(x: Tensor, dim0: int, dim1: int) -> Tensor:
    return x.transpose(dim0, dim1)


@kernel("aten.t.default")
def t(x: Tensor) -> Tensor:
    return x.t()


@kernel("aten.expand.default")
def expand(x: Tensor, size: list[int], *, implicit: bool = False) -> Tensor:
    return x.expand(size)


@kernel("aten.expand_copy.default")
def expand_copy(x: Tensor, size: list[int], *, implicit: bool = False) -> Tensor:
    return x.expand(size).clone()


@kernel("aten.slice.Tensor")
def slice_(x: Tensor, dim: int = 0, start: int | None = None, end: int | None = None, step: int = 1) -> Tensor:
    """x[start:end:step] along dim (out-of-range bounds clamp, as in Python and ATen)."""
    return torch.ops.aten.slice.Tensor(x, dim, start, end, step)


@kernel("aten.select.int")
def select(x: Tensor, dim: int, index: int) -> Tensor:
    return x.select(dim, index)


@kernel("aten.cat.default")
def cat(tensors: list[Tensor], dim: int = 0) -> Tensor:
    return torch.cat(list(tensors), dim)


@kernel("aten.stack.default")
def stack(tensors: list[Tensor], dim: int = 0) -> Tensor:
    return torch.stack(list(tensors), dim)


@kernel("aten.split.Tensor")
def split(x: Tensor, split_size: int, dim: int = 0) -> list[Tensor]:
    return list(torch.split(x, split_size, dim))


@kernel("aten.split_with_sizes.default")
def split_with_sizes(x: Tensor, split_sizes: list[int], dim: int = 0) -> list[Tensor]:
    return list(torch.split(x, list(split_sizes), dim))


@kernel("aten.unbind.int")
def unbind(x: Tensor, dim: int = 0) -> list[Tensor]:
    return list(torch.unbind(x, dim))


@kernel("aten.unsqueeze.default")
def unsqueeze(x: Tensor, dim: int) -> Tensor:
    return x.unsqueeze(dim)


@kernel("aten.squeeze.dim")
def squeeze_dim(x: Tensor, dim: int) -> Tensor:
    return x.squeeze(dim)


@kernel("aten.squeeze.dims")
def squeeze_dims(x: Tensor, dim: list[int]) -> Tensor:
    return x.squeeze(tuple(dim))


@kernel("aten.squeeze.default")
def squeeze(x: Tensor) -> Tensor:
    return x.squeeze()


@kernel("aten.flatten.using_ints")
def flatten(x: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    return x.flatten(start_dim, end_dim)


@kernel("aten.clone.default")
def clone(x: Tensor, *, memory_format: torch.memory_format | None = None) -> Tensor:
    """A contiguous copy (layout never changes values, so memory_format only picks contiguous or not)."""
    return x.clone(memory_format=torch.contiguous_format)


@kernel("aten.alias.default", "aten.detach.default", "aten.lift_fresh_copy.default")
def alias(x: Tensor) -> Tensor:
    return x.detach()


@kernel("aten.copy.default")
def copy(x: Tensor, src: Tensor, non_blocking: bool = False) -> Tensor:
    """src broadcast to x's shape, cast to x's dtype, on x's device (x's values are not used)."""
    return src.to(device=x.device, dtype=x.dtype).expand(x.shape).clone()


@kernel("aten._to_copy.default")
def to_copy(x: Tensor, *, dtype: torch.dtype | None = None, layout=None, device=None, pin_memory=None,
            non_blocking: bool = False, memory_format=None) -> Tensor:
    """x cast to dtype (a correctly rounded IEEE conversion) as a fresh tensor on x's own device."""
    return x.to(dtype=dtype or x.dtype, copy=True)
