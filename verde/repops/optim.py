"""SGD-momentum and Adam(W) updates, one output tensor per function, in correctly rounded float32 ops.

Scalars (learning rate, betas, bias corrections) are computed as Python floats by a fixed sequence of
IEEE double operations (powers by repeated squaring, never libm pow) and rounded to float32 before use.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from verde.repops.elementwise import f32, sqrt


def ipow(base: float, n: int) -> float:
    """base**n for n >= 0 by square-and-multiply: the same IEEE multiplications on every machine."""
    result, sq = 1.0, float(base)
    while n > 0:
        if n & 1:
            result *= sq
        sq *= sq
        n >>= 1
    return result


def sgd_momentum_buf(buf: Tensor, grad: Tensor, momentum: float) -> Tensor:
    """momentum * buf + grad (torch.optim.SGD's buffer, dampening 0; start from a zero buffer)."""
    return torch.mul(buf, f32(momentum)).add_(grad)


def sgd_param(param: Tensor, d: Tensor, lr: float, weight_decay: float = 0.0) -> Tensor:
    """param - lr * (d + weight_decay * param); d is the momentum buffer or the raw gradient.

    Weight decay is applied here, not folded into the momentum buffer (torch.optim.SGD folds it in);
    the two agree when momentum or weight_decay is 0.
    """
    if weight_decay:
        d = torch.mul(param, f32(weight_decay)).add_(d)
    return torch.sub(param, torch.mul(d, f32(lr)))


def adam_m(m: Tensor, grad: Tensor, beta1: float) -> Tensor:
    """beta1 * m + (1 - beta1) * grad."""
    return torch.mul(m, f32(beta1)).add_(torch.mul(grad, f32(1.0 - beta1)))


def adam_v(v: Tensor, grad: Tensor, beta2: float) -> Tensor:
    """beta2 * v + (1 - beta2) * grad^2."""
    return torch.mul(v, f32(beta2)).add_(torch.mul(grad, grad).mul_(f32(1.0 - beta2)))


def adam_param(param: Tensor, m: Tensor, v: Tensor, step: int, lr: float, beta1: float, beta2: float,
               eps: float, weight_decay: float = 0.0) -> Tensor:
    """AdamW update at 1-based `step` (m, v already updated for this step).

    Mathematically torch.optim.AdamW's p' = p (1 - lr wd) - (lr / bc1) m / (sqrt(v) / sqrt(bc2) + eps),
    bc_i = 1 - beta_i**step; evaluated as p (1 - lr wd) - ((lr sqrt(bc2) / bc1) m) / (sqrt(v) + eps sqrt(bc2))
    so that the scalar work happens once in Python and the tensor work is five passes.
    """
    if step < 1:
        raise ValueError("adam step counts from 1")
    bc1 = 1.0 - ipow(beta1, step)
    root_bc2 = math.sqrt(1.0 - ipow(beta2, step))
    p = torch.mul(param, f32(1.0 - lr * weight_decay)) if weight_decay else param
    denom = sqrt(v).add_(f32(eps * root_bc2))
    return torch.sub(p, torch.mul(m, f32(lr * root_bc2 / bc1)).div_(denom))
