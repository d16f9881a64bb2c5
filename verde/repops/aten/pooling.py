"""2-D max and average pooling (+ backward) from unfold/fold copies, exact selections and exact sums.

Max pooling takes, per window, the first maximal element (torch.argmax's documented tie rule, also ATen's
own: a later element must be strictly greater); its index is the flat h*W + w position in the input plane.
The backward adds gradients into those positions with the exact scatter (overlapping windows may pick the
same element). Average pooling sums each window exactly and divides once; its backward spreads grad/count
over the window and col2im's additions are made exact as in convolution's input gradient.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from verde.repops.aten.indexing import scatter_add64
from verde.repops.aten.matmul import _fold_exact
from verde.repops.aten.registry import kernel
from verde.repops.reduce import grid_sum64


def _pair(v, default=None) -> list[int]:
    if v is None or (isinstance(v, (list, tuple)) and len(v) == 0):
        return list(default)
    if isinstance(v, int):
        return [v, v]
    return [v[0], v[0]] if len(v) == 1 else [int(v[0]), int(v[1])]


def _geometry(x: Tensor, kernel_size, stride, padding, dilation, ceil_mode: bool):
    if ceil_mode:
        raise ValueError("pooling with ceil_mode=True is not supported")
    if x.dim() not in (3, 4):
        raise ValueError(f"2-D pooling needs a 3-D or 4-D input, got {tuple(x.shape)}")
    k = _pair(kernel_size)
    s = _pair(stride, k)
    p = _pair(padding)
    d = _pair(dilation, [1, 1])
    if any(2 * pi > ki for pi, ki in zip(p, k)):
        raise ValueError(f"pooling padding {p} must be at most half the kernel {k}")
    h, w = x.shape[-2:]
    ho = (h + 2 * p[0] - d[0] * (k[0] - 1) - 1) // s[0] + 1
    wo = (w + 2 * p[1] - d[1] * (k[1] - 1) - 1) // s[1] + 1
    return k, s, p, d, ho, wo


def _planes(x: Tensor) -> Tensor:
    """x as (N·C) × 1 × H × W."""
    return x.reshape(-1, 1, *x.shape[-2:])


@kernel("aten.max_pool2d_with_indices.default")
def max_pool2d_with_indices(x: Tensor, kernel_size, stride=(), padding=0, dilation=1,
                            ceil_mode: bool = False) -> tuple[Tensor, Tensor]:
    """(values, indices): each window's first maximal element and its flat index in the input plane."""
    k, s, p, d, ho, wo = _geometry(x, kernel_size, stride, padding, dilation, ceil_mode)
    w = x.shape[-1]
    planes = F.pad(_planes(x), (p[1], p[1], p[0], p[0]), value=-math.inf)
    cols = F.unfold(planes, k, dilation=d, stride=s)  # (N·C) × kk × L
    pos = torch.argmax(cols, dim=1, keepdim=True)
    vals = torch.gather(cols, 1, pos).view(*x.shape[:-2], ho, wo)
    pos = pos.view(-1, ho * wo)
    ky, kx = pos // k[1], pos % k[1]
    l_idx = torch.arange(ho * wo, device=x.device)
    oy, ox = l_idx // wo, l_idx % wo
    iy = oy * s[0] - p[0] + ky * d[0]
    ix = ox * s[1] - p[1] + kx * d[1]
    return vals, (iy * w + ix).view(*x.shape[:-2], ho, wo)


@kernel("aten.max_pool2d_with_indices_backward.default")
def max_pool2d_with_indices_backward(grad: Tensor, x: Tensor, kernel_size, stride, padding, dilation,
                                     ceil_mode: bool, indices: Tensor) -> Tensor:
    """Gradient of max pooling: grad added (exactly) at each window's chosen input position."""
    _geometry(x, kernel_size, stride, padding, dilation, ceil_mode)
    h, w = x.shape[-2:]
    nc = math.prod(x.shape[:-2])
    base = torch.zeros(nc, h * w, dtype=torch.float64, device=x.device)
    out = scatter_add64(base, 1, indices.reshape(nc, -1), grad.reshape(nc, -1).to(torch.float64))
    return out.to(grad.dtype).view(x.shape)


def _counts(x: Tensor, k, s, p, count_include_pad: bool, divisor_override) -> Tensor | float:
    if divisor_override:
        return float(divisor_override)
    if count_include_pad or not any(p):
        return float(k[0] * k[1])
    ones = torch.ones(1, 1, *x.shape[-2:], dtype=torch.float64, device=x.device)
    return F.unfold(ones, k, padding=p, stride=s).sum(1, keepdim=True)  # small exact integers


@kernel("aten.avg_pool2d.default")
def avg_pool2d(x: Tensor, kernel_size, stride=(), padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override=None) -> Tensor:
    """Window sums (exact) divided by the window size (or the count of non-padding elements / the override)."""
    k, s, p, _, ho, wo = _geometry(x, kernel_size, stride, padding, 1, ceil_mode)
    cols = F.unfold(_planes(x).to(torch.float64), k, padding=p, stride=s)  # (N·C) × kk × L
    sums = grid_sum64(cols, 1, keepdim=True)
    cnt = _counts(x, k, s, p, count_include_pad, divisor_override)
    out = torch.div(sums, cnt if isinstance(cnt, Tensor) else torch.full((), cnt, dtype=torch.float64,
                                                                          device=x.device))
    return out.to(x.dtype).view(*x.shape[:-2], ho, wo)


@kernel("aten.avg_pool2d_backward.default")
def avg_pool2d_backward(grad: Tensor, x: Tensor, kernel_size, stride, padding, ceil_mode: bool,
                        count_include_pad: bool, divisor_override) -> Tensor:
    """grad / count spread over each window; overlapping windows add exactly."""
    k, s, p, _, ho, wo = _geometry(x, kernel_size, stride, padding, 1, ceil_mode)
    cnt = _counts(x, k, s, p, count_include_pad, divisor_override)
    g = grad.reshape(-1, 1, ho * wo).to(torch.float64)
    g = torch.div(g, cnt if isinstance(cnt, Tensor) else torch.full((), cnt, dtype=torch.float64,
                                                                    device=x.device))
    cols = g.expand(-1, k[0] * k[1], -1)
    out = _fold_exact(cols, 1, k[0] * k[1], tuple(x.shape[-2:]), k, [1, 1], p, s)
    return out.to(grad.dtype).view(x.shape)
