"""Indexing: gathers and plain scatters copy values (exact natively); accumulating scatters add exactly.

`scatter_add`, `index_put(accumulate=True)` and `embedding_dense_backward` may add several values into one
slot (duplicate indices), in an order ATen leaves to the device. Here each slot's contributions (and its
initial value) are rounded to a grid shared by the slot, 2**(e - bits) with e the exponent of the slot's
largest |value| (an order-independent scatter-amax) and bits = 52 - ceil(log2(terms)) for the most terms a
slot can receive (bounded by the index size, so it depends on shapes only). Every partial sum is then an
exact float64, so the float64 scatter_add gives the same bits in any order; the result is rounded once.
Out-of-range indices are refused with IndexError (ATen's CUDA kernels would assert asynchronously).
"""

from __future__ import annotations

import torch
from torch import Tensor

from verde.repops.aten.registry import kernel
from verde.repops.quantize import exponent, round_to_grid_f64


def _check_range(index: Tensor, size: int, what: str) -> Tensor:
    """index with negative entries wrapped (as ATen's advanced indexing does); refuses out-of-range."""
    if index.numel() and (bool((index < -size).any()) or bool((index >= size).any())):
        raise IndexError(f"{what}: index out of range for size {size}")
    return torch.where(index < 0, index + size, index)


def _grid_bits(terms: int) -> int:
    return min(51, 52 - max(int(terms - 1).bit_length(), 0))


def scatter_add64(base64: Tensor, dim: int, index: Tensor, src64: Tensor) -> Tensor:
    """base64.scatter_add(dim, index, src64) in float64 with every addition exact (see module doc).

    index must be in range and have src64's shape; each slot receives at most index.shape[dim] terms.
    """
    mx = base64.abs().scatter_reduce(dim, index, src64.abs(), "amax", include_self=True)
    e = exponent(mx)
    bits = _grid_bits(index.shape[dim] + 1)
    q_base = round_to_grid_f64(base64, e, bits)
    q_src = round_to_grid_f64(src64, e.gather(dim, index), bits)
    return q_base.scatter_add_(dim, index, q_src)


@kernel("aten.scatter_add.default")
def scatter_add(x: Tensor, dim: int, index: Tensor, src: Tensor) -> Tensor:
    """x with src[i..] added at index along dim (duplicates add exactly, in no particular order)."""
    dim = dim % max(x.dim(), 1)
    index = _check_range(index, x.shape[dim] if x.dim() else 1, "scatter_add")
    src = src[tuple(slice(0, s) for s in index.shape)]
    if not x.is_floating_point():
        return x.scatter_add(dim, index, src)
    return scatter_add64(x.to(torch.float64), dim, index, src.to(torch.float64)).to(x.dtype)


@kernel("aten.scatter.src")
def scatter_src(x: Tensor, dim: int, index: Tensor, src: Tensor) -> Tensor:
    """x with src written at index along dim (a copy; duplicate indices must carry equal values)."""
    return x.scatter(dim, _check_range(index, x.shape[dim], "scatter"), src)


@kernel("aten.scatter.value")
def scatter_value(x: Tensor, dim: int, index: Tensor, value) -> Tensor:
    return x.scatter(dim, _check_range(index, x.shape[dim], "scatter"), value)


@kernel("aten.gather.default")
def gather(x: Tensor, dim: int, index: Tensor, *, sparse_grad: bool = False) -> Tensor:
    return torch.gather(x, dim, _check_range(index, x.shape[dim], "gather"))


@kernel("aten.index_select.default")
def index_select(x: Tensor, dim: int, index: Tensor) -> Tensor:
    return torch.index_select(x, dim, _check_range(index, x.shape[dim], "index_select"))


def _index_tensors(x: Tensor, indices: list) -> tuple[int, list[Tensor]]:
    """(first indexed dim, int64 index tensors in range) for adjacent non-None indices; bool masks expand."""
    pos = [i for i, t in enumerate(indices) if t is not None]
    if not pos:
        raise ValueError("index: at least one index tensor is needed")
    if pos != list(range(pos[0], pos[-1] + 1)):
        raise ValueError("index: non-adjacent index tensors are not supported")
    out, d = [], pos[0]
    for t in indices[pos[0]:pos[-1] + 1]:
        if t.dtype == torch.bool:
            nz = t.nonzero().unbind(1)  # row-major order: deterministic
            for k in nz:
                out.append(_check_range(k, x.shape[d], "index"))
                d += 1
        else:
            out.append(_check_range(t.to(torch.int64), x.shape[d], "index"))
            d += 1
    return pos[0], out


@kernel("aten.index.Tensor")
def index(x: Tensor, indices: list) -> Tensor:
    """Advanced indexing x[..., idx0, idx1, ...] (a gather; values are copied)."""
    first, idx = _index_tensors(x, list(indices))
    return torch.ops.aten.index.Tensor(x, [None] * first + idx)


@kernel("aten.index_put.default")
def index_put(x: Tensor, indices: list, values: Tensor, accumulate: bool = False) -> Tensor:
    """x with values written (accumulate=False) or added (True, duplicates exactly) at x[indices]."""
    first, idx = _index_tensors(x, list(indices))
    if not accumulate:
        return torch.ops.aten.index_put.default(x, [None] * first + idx, values.to(x.device), False)
    k = len(idx)
    xt = x.movedim(list(range(first, first + k)), list(range(k)))  # indexed dims first
    lead, rest = list(xt.shape[:k]), list(xt.shape[k:])
    bshape = torch.broadcast_shapes(*(t.shape for t in idx))
    lin = torch.zeros(bshape, dtype=torch.int64, device=x.device)
    for t, size in zip(idx, lead):
        lin = lin * size + t
    nb = len(bshape)
    # values are laid out like x[indices]: x's dims before `first`, then the index shape, then the rest
    vshape = list(x.shape[:first]) + list(bshape) + list(x.shape[first + k:])
    v = values.to(x.device).expand(vshape).movedim(list(range(first, first + nb)), list(range(nb)))
    r = 1
    for s in rest:
        r *= s
    p = 1
    for s in lead:
        p *= s
    flat_x = xt.reshape(p, r)
    flat_v = v.reshape(-1, r)
    flat_i = lin.reshape(-1, 1).expand(-1, r)
    if x.is_floating_point():
        out = scatter_add64(flat_x.to(torch.float64), 0, flat_i, flat_v.to(torch.float64)).to(x.dtype)
    else:
        out = flat_x.scatter_add(0, flat_i, flat_v.to(x.dtype))
    return out.view(xt.shape).movedim(list(range(k)), list(range(first, first + k))).contiguous()


@kernel("aten.embedding.default")
def embedding(weight: Tensor, indices: Tensor, padding_idx: int = -1, scale_grad_by_freq: bool = False,
              sparse: bool = False) -> Tensor:
    """weight[indices] (rows copied): shape indices.shape + (dim,)."""
    idx = _check_range(indices.to(torch.int64), weight.shape[0], "embedding")
    return weight.index_select(0, idx.reshape(-1)).view(*indices.shape, weight.shape[1])


@kernel("aten.embedding_dense_backward.default")
def embedding_dense_backward(grad: Tensor, indices: Tensor, num_weights: int, padding_idx: int,
                             scale_grad_by_freq: bool) -> Tensor:
    """num_weights × dim gradient: row i sums grad rows whose index is i (exactly; the padding_idx row
    gets nothing). With scale_grad_by_freq each contribution is first divided by its index's count."""
    d = grad.shape[-1]
    idx = _check_range(indices.to(torch.int64).reshape(-1), num_weights, "embedding_dense_backward")
    g = grad.reshape(-1, d).to(torch.float64)
    if scale_grad_by_freq:
        counts = torch.bincount(idx, minlength=num_weights)
        g = g / counts.gather(0, idx).to(torch.float64).unsqueeze(1)
    if padding_idx >= 0:
        g = g.masked_fill((idx == padding_idx).unsqueeze(1), 0.0)
    base = torch.zeros(num_weights, d, dtype=torch.float64, device=grad.device)
    return scatter_add64(base, 0, idx.unsqueeze(1).expand(-1, d), g).to(grad.dtype)
