"""Softmax, cross-entropy and MSE (values and gradients) from RepOps: fixed formulas, exact reductions.

Internals run in float64 (correctly rounded ops, exact sums) and each function rounds once to float32.
"""

from __future__ import annotations

import torch
from torch import Tensor

from verde.repops.elementwise import div_scalar, f32
from verde.repops.reduce import exact_sum64
from verde.repops.transcendental import exp64, log64

# log of a probability is taken at least at the smallest normal float32, so an underflowed softmax
# entry gives a large finite loss instead of inf.
_TINY = 2.0**-126


def softmax(logits: Tensor) -> Tensor:
    """Row-wise softmax of (B×C) logits, max-subtracted (the max is exact, so the shift is too)."""
    z = (logits - logits.amax(dim=1, keepdim=True)).to(torch.float64)
    e = exp64(z)
    return (e / exact_sum64(e, dim=1, keepdim=True)).to(torch.float32)


def cross_entropy(probs: Tensor, labels: Tensor) -> Tensor:
    """Mean over the batch of -log probs[i, labels[i]] (0-dim float32); labels are int64 class indices."""
    p = probs.gather(1, labels.to(torch.int64).unsqueeze(1)).squeeze(1).to(torch.float64)
    nll = log64(p.clamp(min=_TINY)).neg_()
    return div_scalar(exact_sum64(nll), p.shape[0]).to(torch.float32)


def cross_entropy_backward(probs: Tensor, labels: Tensor) -> Tensor:
    """d loss / d logits = (probs - onehot(labels)) / B."""
    onehot = torch.zeros_like(probs).scatter_(1, labels.to(torch.int64).unsqueeze(1), 1.0)
    return div_scalar(probs - onehot, probs.shape[0])


def mse(pred: Tensor, target: Tensor) -> Tensor:
    """mean((pred - target)^2) over all elements (0-dim float32)."""
    d = pred.to(torch.float64) - target.to(torch.float64)
    return div_scalar(exact_sum64(d * d), d.numel()).to(torch.float32)


def mse_backward(pred: Tensor, target: Tensor) -> Tensor:
    """d mse / d pred = 2 (pred - target) / numel."""
    return torch.mul(pred - target, f32(2.0 / pred.numel()))
