"""Counter-based random numbers in exact int64 tensor ops — init, shuffling and dropout without any device RNG.

Element i of stream (seed, stream) is a keyed 32-bit hash of the counter i: three rounds of murmur3's
fmix32 finaliser (xor-shift / multiply mod 2**32, each a bijection on 32 bits) with keys derived from the
seed and stream. All intermediate values stay below 2**63 (32×32-bit products are split into 16-bit
halves), so there is no signed overflow and the bits are the same on every CPU, GPU and thread count.
For n < 2**32 the map i -> hash(i) is a bijection, so sorting by it gives a permutation with no ties.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence

import torch
from torch import Tensor

_M32 = 0xFFFFFFFF
_M64 = (1 << 64) - 1


def _mul32(h, c: int):
    """(h * c) mod 2**32 for h in [0, 2**32) without exceeding 2**49 (works on ints and int64 tensors)."""
    return (h * (c & 0xFFFF) + (((h * (c >> 16)) & 0xFFFF) << 16)) & _M32


def _fmix32(h):
    h = h ^ (h >> 16)
    h = _mul32(h, 0x85EBCA6B)
    h = h ^ (h >> 13)
    h = _mul32(h, 0xC2B2AE35)
    return h ^ (h >> 16)


def _stream_id(stream: int | str) -> int:
    if isinstance(stream, str):
        return int.from_bytes(hashlib.sha256(stream.encode()).digest()[:8], "little")
    return int(stream) & _M64


def _keys(seed: int, stream: int | str) -> tuple[int, int, int]:
    s, t = int(seed) & _M64, _stream_id(stream)
    k0 = _fmix32(_fmix32((s & _M32) ^ 0x9E3779B9) ^ (s >> 32))
    k1 = _fmix32(_fmix32(k0 ^ (t & _M32) ^ 0x7F4A7C15) ^ (t >> 32))
    k2 = _fmix32(k1 ^ 0x27D4EB2F)
    return k0, k1, k2


def bits32(seed: int, stream: int | str, counter: Tensor) -> Tensor:
    """32 random bits (int64 in [0, 2**32)) for each int64 counter; a bijection of counter for counter < 2**32."""
    k0, k1, k2 = _keys(seed, stream)
    h = _fmix32((counter & _M32) ^ k0)
    h = _fmix32(h ^ (counter >> 32) ^ k1)
    return _fmix32((h + k2) & _M32)


def _shape(shape: int | Sequence[int]) -> tuple[int, ...]:
    return (int(shape),) if isinstance(shape, int) else tuple(int(d) for d in shape)


def _counters(shape: tuple[int, ...], device) -> Tensor:
    return torch.arange(math.prod(shape), dtype=torch.int64, device=device).reshape(shape)


def uniform(seed: int, stream: int | str, shape: int | Sequence[int], device=None) -> Tensor:
    """float32 uniform on [0, 1): the top 24 of 32 random bits times 2**-24 (exact)."""
    shp = _shape(shape)
    r = bits32(seed, stream, _counters(shp, device))
    return (r >> 8).to(torch.float32).mul_(2.0**-24)


def randint(seed: int, stream: int | str, n: int, shape: int | Sequence[int] = (), device=None) -> Tensor:
    """int64 in [0, n) as floor(r * n / 2**32), n <= 2**31."""
    if not 1 <= n <= 2**31:
        raise ValueError(f"randint needs 1 <= n <= 2**31, got {n}")
    shp = _shape(shape)
    return (bits32(seed, stream, _counters(shp, device)) * n) >> 32


def permutation(seed: int, stream: int | str, n: int, device=None) -> Tensor:
    """A random permutation of range(n) (int64): argsort of n distinct keys (the hash is a bijection)."""
    if not 0 <= n < 2**32:
        raise ValueError(f"permutation needs 0 <= n < 2**32, got {n}")
    keys = bits32(seed, stream, torch.arange(n, dtype=torch.int64, device=device))
    return torch.argsort(keys, stable=True)


def bernoulli_mask(seed: int, stream: int | str, shape: int | Sequence[int], p: float, device=None) -> Tensor:
    """bool tensor, True with probability p (quantised to a multiple of 2**-24): 24 random bits < round(p 2**24).

    For dropout with drop probability q, keep = bernoulli_mask(..., 1 - q).
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"bernoulli_mask needs 0 <= p <= 1, got {p}")
    shp = _shape(shape)
    return (bits32(seed, stream, _counters(shp, device)) >> 8) < round(p * 2**24)


def kaiming_uniform(seed: int, stream: int | str, fan_in: int, shape: int | Sequence[int],
                    gain: float = math.sqrt(2.0), device=None) -> Tensor:
    """float32 U(-bound, bound), bound = gain * sqrt(3 / fan_in) (He init for ReLU by default;
    gain = 1/sqrt(3) gives torch.nn.Linear's default bound 1/sqrt(fan_in))."""
    bound = gain * math.sqrt(3.0 / fan_in)
    bound32 = torch.tensor(bound, dtype=torch.float32).item()
    u = uniform(seed, stream, shape, device)
    return u.mul_(2.0).sub_(1.0).mul_(bound32)
