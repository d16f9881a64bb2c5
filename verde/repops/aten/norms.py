"""Normalisations: layer norm (+ backward) and (log-)softmax (+ backward), in float64 with exact sums.

Each output is computed from the float32 inputs by correctly rounded float64 ops, exact (order-independent)
sums and the fixed exp/log polynomials, and rounded once to float32. Max-subtraction uses the exact max.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from verde.repops.aten.registry import kernel
from verde.repops.elementwise import div_scalar
from verde.repops.reduce import grid_sum64
from verde.repops.transcendental import exp64, log64


def _flat_norm(x: Tensor, normalized_shape) -> tuple[Tensor, int, list[int]]:
    k = len(normalized_shape)
    if list(x.shape[x.dim() - k:]) != list(normalized_shape):
        raise ValueError(f"layer_norm: input {tuple(x.shape)} does not end in {tuple(normalized_shape)}")
    n = math.prod(normalized_shape)
    stat_shape = list(x.shape[:x.dim() - k]) + [1] * k
    return x.to(torch.float64).reshape(-1, n), n, stat_shape


@kernel("aten.native_layer_norm.default")
def native_layer_norm(x: Tensor, normalized_shape, weight: Tensor | None, bias: Tensor | None,
                      eps: float) -> tuple[Tensor, Tensor, Tensor]:
    """(out, mean, rstd): out = (x - mean) * rstd * weight + bias over the trailing normalized_shape dims,
    rstd = 1/sqrt(biased var + eps); mean and rstd have x's leading shape with 1s for the normalized dims."""
    x64, n, stat_shape = _flat_norm(x, normalized_shape)
    mu = div_scalar(grid_sum64(x64, 1, keepdim=True), float(n))
    d = x64 - mu
    var = div_scalar(grid_sum64(d * d, 1, keepdim=True), float(n))
    rstd = torch.div(1.0, torch.sqrt(var.add_(float(eps))))
    y = d.mul_(rstd)
    if weight is not None:
        y = y.mul_(weight.to(torch.float64).reshape(1, n))
    if bias is not None:
        y = y.add_(bias.to(torch.float64).reshape(1, n))
    return (y.to(x.dtype).view(x.shape), mu.to(x.dtype).view(stat_shape), rstd.to(x.dtype).view(stat_shape))


@kernel("aten.native_layer_norm_backward.default")
def native_layer_norm_backward(grad: Tensor, x: Tensor, normalized_shape, mean: Tensor, rstd: Tensor,
                               weight: Tensor | None, bias: Tensor | None, output_mask) -> tuple:
    """(grad_input, grad_weight, grad_bias) given the forward's mean/rstd; masked-off entries are None.

    xhat = (x - mean) rstd, g = grad * weight: dx = rstd (g - mean(g) - xhat mean(g xhat)),
    dweight = sum over rows of grad xhat, dbias = sum over rows of grad."""
    x64, n, _ = _flat_norm(x, normalized_shape)
    g64 = grad.to(torch.float64).reshape(-1, n)
    r = rstd.to(torch.float64).reshape(-1, 1)
    xhat = (x64 - mean.to(torch.float64).reshape(-1, 1)).mul_(r)
    dx = dw = db = None
    if output_mask[0]:
        g = g64 * weight.to(torch.float64).reshape(1, n) if weight is not None else g64
        mg = div_scalar(grid_sum64(g, 1, keepdim=True), float(n))
        mgx = div_scalar(grid_sum64(g * xhat, 1, keepdim=True), float(n))
        dx = (g - mg).sub_(xhat * mgx).mul_(r).to(x.dtype).view(x.shape)
    if output_mask[1] and weight is not None:
        dw = grid_sum64(g64 * xhat, 0).to(weight.dtype).view(weight.shape)
    if output_mask[2] and bias is not None:
        db = grid_sum64(g64, 0).to(bias.dtype).view(bias.shape)
    return dx, dw, db


def _shifted(x: Tensor, dim: int) -> Tensor:
    """x - max(x, dim) in float64 (exact: both are float32 values)."""
    return x.to(torch.float64) - x.amax(dim=dim, keepdim=True).to(torch.float64)


@kernel("aten._softmax.default")
def softmax(x: Tensor, dim: int, half_to_float: bool = False) -> Tensor:
    """exp(x - max) / sum(exp(x - max)) along dim."""
    e = exp64(_shifted(x, dim))
    return e.div_(grid_sum64(e, dim, keepdim=True)).to(x.dtype)


@kernel("aten._softmax_backward_data.default")
def softmax_backward_data(grad: Tensor, out: Tensor, dim: int, input_dtype=None) -> Tensor:
    """out * (grad - sum(grad * out, dim))."""
    g, y = grad.to(torch.float64), out.to(torch.float64)
    s = grid_sum64(g * y, dim, keepdim=True)
    return (g - s).mul_(y).to(grad.dtype)


@kernel("aten._log_softmax.default")
def log_softmax(x: Tensor, dim: int, half_to_float: bool = False) -> Tensor:
    """(x - max) - log(sum(exp(x - max))) along dim."""
    z = _shifted(x, dim)
    lse = log64(grid_sum64(exp64(z), dim, keepdim=True))
    return z.sub_(lse).to(x.dtype)


@kernel("aten._log_softmax_backward_data.default")
def log_softmax_backward_data(grad: Tensor, out: Tensor, dim: int, input_dtype=None) -> Tensor:
    """grad - exp(out) * sum(grad, dim)."""
    g = grad.to(torch.float64)
    s = grid_sum64(g, dim, keepdim=True)
    return (g - exp64(out.to(torch.float64)).mul_(s)).to(grad.dtype)
