"""nll_loss forward/backward (cross-entropy's tail when it is not decomposed): exact sums, one rounding."""

from __future__ import annotations

import torch
from torch import Tensor

from verde.repops.aten.registry import kernel
from verde.repops.reduce import exact_sum64

_REDUCTIONS = {0: "none", 1: "mean", 2: "sum"}


def _picked(x: Tensor, target: Tensor, weight: Tensor | None, ignore_index: int):
    x2 = x.unsqueeze(0) if x.dim() == 1 else x
    t = target.reshape(-1).to(torch.int64)
    valid = t != ignore_index
    tc = torch.where(valid, t, 0)
    if bool(((tc < 0) | (tc >= x2.shape[1])).any()):
        raise IndexError(f"nll_loss: target out of range for {x2.shape[1]} classes")
    w = weight.to(torch.float64)[tc] if weight is not None else torch.ones_like(tc, dtype=torch.float64)
    w = torch.where(valid, w, 0.0)
    return x2, tc, w


@kernel("aten.nll_loss_forward.default")
def nll_loss_forward(x: Tensor, target: Tensor, weight: Tensor | None, reduction: int,
                     ignore_index: int) -> tuple[Tensor, Tensor]:
    """(loss, total_weight): -w[t] x[i, t] per row (N×C or C input), then none/mean/sum (reduction 0/1/2)."""
    if reduction not in _REDUCTIONS:
        raise ValueError(f"nll_loss reduction must be 0, 1 or 2, got {reduction}")
    x2, tc, w = _picked(x, target, weight, ignore_index)
    vals = x2.gather(1, tc.unsqueeze(1)).squeeze(1).to(torch.float64).mul_(w).neg_()
    total = exact_sum64(w)
    if reduction == 0:
        return vals.to(x.dtype).view(target.shape), total.to(x.dtype)
    s = exact_sum64(vals)
    out = s / total if reduction == 1 else s
    return out.to(x.dtype), total.to(x.dtype)


@kernel("aten.nll_loss_backward.default")
def nll_loss_backward(grad: Tensor, x: Tensor, target: Tensor, weight: Tensor | None, reduction: int,
                      ignore_index: int, total_weight: Tensor) -> Tensor:
    """d loss / d x: -w[t] * grad (/ total_weight for mean) at each row's target class, 0 elsewhere."""
    x2, tc, w = _picked(x, target, weight, ignore_index)
    g = grad.to(torch.float64).reshape(-1) if reduction == 0 else grad.to(torch.float64).reshape(1)
    v = w.neg().mul_(g)
    if reduction == 1:
        v = v / total_weight.to(torch.float64)
    out = torch.zeros(x2.shape, dtype=torch.float64, device=x.device)
    out.scatter_(1, tc.unsqueeze(1), v.unsqueeze(1))  # one slot per row: a plain write
    return out.to(x.dtype).view(x.shape)
