"""Normalisations: layer norm (+ backward) and (log-)softmax (+ backward), in float64 with exact sums.

Each output is computed from the float32 inputs by correctly rounded float64 ops, exact (order-independent)
sums and the fixed exp/log polynomials, and rounded once to float32. Max-subtraction uses the exact max.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from verde.repops import compiled
from verde.repops.aten.registry import kernel
from verde.repops.elementwise import div_scalar
from verde.repops.reduce import _sum_bits, grid_sum64
from verde.repops.transcendental import _exp_coefficients, exp64, exp64_, log64


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
    n = math.prod(normalized_shape)
    fast = (compiled.layer_norm(x, n, weight, bias, eps, _sum_bits(n))
            if list(x.shape[x.dim() - len(normalized_shape):]) == list(normalized_shape) else None)
    if fast is not None:  # the same program, a row at a time in one loop
        y, mu32, rstd32 = fast
        stat_shape = list(x.shape[:x.dim() - len(normalized_shape)]) + [1] * len(normalized_shape)
        return y, mu32.view(stat_shape), rstd32.view(stat_shape)
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
    fast = compiled.softmax(x, dim, _exp_coefficients(), _sum_bits(x.shape[dim])) if x.dim() else None
    if fast is not None:  # the same program, a row at a time in one loop
        return fast
    e = exp64_(_shifted(x, dim))  # (a fresh tensor)
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
    fast = compiled.log_softmax(x, dim, _exp_coefficients(), _sum_bits(x.shape[dim]), log64) if x.dim() else None
    if fast is not None:  # the same program: a pass for the sums, log64 of those, a pass for the result
        return fast
    z = _shifted(x, dim)
    lse = log64(grid_sum64(exp64(z), dim, keepdim=True))
    return z.sub_(lse).to(x.dtype)


@kernel("aten._log_softmax_backward_data.default")
def log_softmax_backward_data(grad: Tensor, out: Tensor, dim: int, input_dtype=None) -> Tensor:
    """grad - exp(out) * sum(grad, dim)."""
    g = grad.to(torch.float64)
    s = grid_sum64(g, dim, keepdim=True)
    return (g - exp64_(out.to(torch.float64, copy=True)).mul_(s)).to(grad.dtype)


def _per_channel(x: Tensor) -> tuple[Tensor, int]:
    """x (N, C, *) as float64 (C, N·L) and n = N·L: one row per channel."""
    c = x.shape[1]
    return x.to(torch.float64).reshape(x.shape[0], c, -1).transpose(0, 1).reshape(c, -1), x.numel() // c


def _channel_view(v: Tensor, x: Tensor) -> Tensor:
    return v.reshape(1, -1, *([1] * (x.dim() - 2)))


def _affine(y: Tensor, weight: Tensor | None, bias: Tensor | None, x: Tensor) -> Tensor:
    if weight is not None:
        y = y.mul_(_channel_view(weight.to(torch.float64), x))
    if bias is not None:
        y = y.add_(_channel_view(bias.to(torch.float64), x))
    return y


def _blend(old: Tensor, new64: Tensor, momentum: float) -> Tensor:
    """(1 - momentum) * old + momentum * new, in float64, rounded once (the running-statistics update)."""
    return (old.to(torch.float64) * (1.0 - momentum)).add_(new64 * momentum).to(old.dtype)


@kernel("aten._native_batch_norm_legit_functional.default")
def batch_norm_functional(x: Tensor, weight: Tensor | None, bias: Tensor | None, running_mean: Tensor,
                          running_var: Tensor, training: bool, momentum: float, eps: float) -> tuple:
    """(out, save_mean, save_rstd, new_running_mean, new_running_var) of BatchNorm over dims (0, 2, ...).

    Training: batch statistics (biased variance normalises; the running variance gets the unbiased one);
    otherwise the running statistics normalise and are returned unchanged (save_* are empty, as in ATen)."""
    if not training:
        out, m, r = batch_norm_no_training(x, weight, bias, running_mean, running_var, momentum, eps)
        return out, m, r, running_mean.clone(), running_var.clone()
    rows, n = _per_channel(x)
    mu = div_scalar(grid_sum64(rows, 1), float(n))
    d = rows - mu.unsqueeze(1)
    ss = grid_sum64(d * d, 1)
    var = div_scalar(ss, float(n))
    rstd = torch.div(1.0, torch.sqrt(var + float(eps)))
    y = (x.to(torch.float64) - _channel_view(mu, x)).mul_(_channel_view(rstd, x))
    out = _affine(y, weight, bias, x).to(x.dtype)
    unbiased = div_scalar(ss, float(max(n - 1, 1)))
    return (out, mu.to(x.dtype), rstd.to(x.dtype), _blend(running_mean, mu, momentum),
            _blend(running_var, unbiased, momentum))


@kernel("aten._native_batch_norm_legit_no_training.default")
def batch_norm_no_training(x: Tensor, weight: Tensor | None, bias: Tensor | None, running_mean: Tensor,
                           running_var: Tensor, momentum: float, eps: float) -> tuple:
    """(out, empty, empty): BatchNorm with the running statistics."""
    rstd = torch.div(1.0, torch.sqrt(running_var.to(torch.float64) + float(eps)))
    y = (x.to(torch.float64) - _channel_view(running_mean.to(torch.float64), x)).mul_(_channel_view(rstd, x))
    empty = torch.zeros(0, dtype=x.dtype, device=x.device)
    return _affine(y, weight, bias, x).to(x.dtype), empty, empty.clone()


@kernel("aten.native_batch_norm_backward.default")
def batch_norm_backward(grad: Tensor, x: Tensor, weight: Tensor | None, running_mean: Tensor | None,
                        running_var: Tensor | None, save_mean: Tensor | None, save_invstd: Tensor | None,
                        train: bool, eps: float, output_mask) -> tuple:
    """(grad_input, grad_weight, grad_bias) of BatchNorm (batch statistics when train, else running)."""
    rows, n = _per_channel(x)
    grows, _ = _per_channel(grad)
    if train:
        if save_mean is None or save_invstd is None:
            raise ValueError("native_batch_norm_backward: train=True needs save_mean and save_invstd")
        mean, rstd = save_mean.to(torch.float64), save_invstd.to(torch.float64)
    else:
        if running_mean is None or running_var is None:
            raise ValueError("native_batch_norm_backward: train=False needs running_mean and running_var")
        mean = running_mean.to(torch.float64)
        rstd = torch.div(1.0, torch.sqrt(running_var.to(torch.float64) + float(eps)))
    xhat = (rows - mean.unsqueeze(1)).mul_(rstd.unsqueeze(1))
    sg, sgx = grid_sum64(grows, 1), grid_sum64(grows * xhat, 1)
    w = weight.to(torch.float64) if weight is not None else torch.ones_like(mean)
    dx = dw = db = None
    if output_mask[0]:
        if train:
            mg, mgx = div_scalar(sg, float(n)), div_scalar(sgx, float(n))
            d = (grows - mg.unsqueeze(1)).sub_(xhat * mgx.unsqueeze(1)).mul_((rstd * w).unsqueeze(1))
        else:
            d = grows * (rstd * w).unsqueeze(1)
        c = x.shape[1]
        dx = d.reshape(c, x.shape[0], -1).transpose(0, 1).reshape(x.shape).to(x.dtype)
    if output_mask[1] and weight is not None:
        dw = sgx.to(weight.dtype)
    if output_mask[2]:
        db = sg.to(grad.dtype)
    return dx, dw, db


@kernel("aten.native_group_norm.default")
def native_group_norm(x: Tensor, weight: Tensor | None, bias: Tensor | None, n: int, c: int, hxw: int,
                      group: int, eps: float) -> tuple[Tensor, Tensor, Tensor]:
    """(out, mean (N, group), rstd (N, group)): statistics over each group of C/group channels × HxW."""
    g = x.to(torch.float64).reshape(n * group, -1)
    m = g.shape[1]
    mu = div_scalar(grid_sum64(g, 1, keepdim=True), float(m))
    d = g - mu
    var = div_scalar(grid_sum64(d * d, 1, keepdim=True), float(m))
    rstd = torch.div(1.0, torch.sqrt(var.add_(float(eps))))
    y = _affine(d.mul_(rstd).reshape(x.shape), weight, bias, x)
    return y.to(x.dtype), mu.to(x.dtype).view(n, group), rstd.to(x.dtype).view(n, group)


@kernel("aten.native_group_norm_backward.default")
def native_group_norm_backward(grad: Tensor, x: Tensor, mean: Tensor, rstd: Tensor, weight: Tensor | None,
                               n: int, c: int, hxw: int, group: int, output_mask) -> tuple:
    """(grad_input, grad_weight, grad_bias) of group norm given its saved mean/rstd."""
    x64, g64 = x.to(torch.float64).reshape(n, c, -1), grad.to(torch.float64).reshape(n, c, -1)
    m = (c // group) * x64.shape[2]
    mu = mean.to(torch.float64).repeat_interleave(c // group, 1).unsqueeze(2)
    r = rstd.to(torch.float64).repeat_interleave(c // group, 1).unsqueeze(2)
    xhat = (x64 - mu).mul_(r)
    dx = dw = db = None
    if output_mask[0]:
        gw = g64 * weight.to(torch.float64).view(1, c, 1) if weight is not None else g64
        per = gw.reshape(n * group, -1)
        xh = xhat.reshape(n * group, -1)
        mg = div_scalar(grid_sum64(per, 1, keepdim=True), float(m))
        mgx = div_scalar(grid_sum64(per * xh, 1, keepdim=True), float(m))
        d = (per - mg).sub_(xh * mgx).reshape(n, c, -1).mul_(r)
        dx = d.reshape(x.shape).to(x.dtype)
    if output_mask[1] and weight is not None:
        dw = grid_sum64((g64 * xhat).transpose(0, 1).reshape(c, -1), 1).to(weight.dtype)
    if output_mask[2]:
        db = grid_sum64(g64.transpose(0, 1).reshape(c, -1), 1).to(grad.dtype)
    return dx, dw, db
