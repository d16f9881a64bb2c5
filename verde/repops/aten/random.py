"""Dropout from verde.rng's counter-based generator (no device RNG): the mask is a function of
(seed, stream, element index) only, identical on every device and thread count.

The seed is not an ATen argument: pass `seed=` and `stream=` (literals) or run inside
`context.random_stream(seed, stream)`; the caller must give each node and each step its own stream.
"""

from __future__ import annotations

import torch
from torch import Tensor

from verde import rng
from verde.repops.aten import context
from verde.repops.aten.registry import kernel
from verde.repops.elementwise import f32


def _key(seed, stream) -> tuple[int, int | str]:
    if seed is not None:
        return int(seed), 0 if stream is None else stream
    key = context.stream()
    if key is None:
        raise ValueError("native_dropout needs a random stream: pass seed=/stream= or use random_stream()")
    return key


@kernel("aten.native_dropout.default")
def native_dropout(x: Tensor, p: float, train: bool | None, *, seed: int | None = None,
                   stream: int | str | None = None) -> tuple[Tensor, Tensor]:
    """(x * keep * 1/(1-p), keep): keep is True with probability 1 - p (quantised to 2**-24).

    With train False (or p == 0) nothing is dropped: (x copy, all-True mask)."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability must be in [0, 1], got {p}")
    if train is False or p == 0.0:
        return x.clone(), torch.ones(x.shape, dtype=torch.bool, device=x.device)
    if p == 1.0:
        return torch.zeros_like(x), torch.zeros(x.shape, dtype=torch.bool, device=x.device)
    s, st = _key(seed, stream)
    keep = rng.bernoulli_mask(s, st, tuple(x.shape), 1.0 - p, device=x.device)
    return torch.mul(x, keep).mul_(f32(1.0 / (1.0 - p))), keep


@kernel("aten.native_dropout_backward.default")
def native_dropout_backward(grad: Tensor, mask: Tensor, scale: float) -> Tensor:
    """grad * mask * scale (scale rounded to float32), as ATen."""
    return torch.mul(grad, mask).mul_(f32(scale))
