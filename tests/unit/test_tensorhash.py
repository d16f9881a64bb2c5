"""H(t) of PROTOCOL §1: binds dtype, shape and bytes; NaN payloads are canonical (they differ between devices)."""

from __future__ import annotations

import torch

from verde.tensorhash import tensor_hash


def test_shape_and_dtype_are_bound() -> None:
    t = torch.arange(6, dtype=torch.float32)
    assert tensor_hash(t) != tensor_hash(t.reshape(2, 3))
    assert tensor_hash(t) != tensor_hash(t.to(torch.float64))
    assert tensor_hash(t.to(torch.int32)) != tensor_hash(t.to(torch.int64))
    assert tensor_hash(t) == tensor_hash(t.clone())
    assert tensor_hash(t.reshape(2, 3).t()) == tensor_hash(t.reshape(2, 3).t().contiguous())


def test_nan_payloads_hash_alike_and_unlike_numbers() -> None:
    bits = torch.tensor([0x7FC00000, 0x7FC00001, -0x00400000, 0x7F800001], dtype=torch.int32)  # four NaNs
    nans = bits.view(torch.float32)
    assert bool(torch.isnan(nans).all())
    canonical = torch.full((4,), float("nan"))
    assert tensor_hash(nans) == tensor_hash(canonical)
    assert tensor_hash(nans) != tensor_hash(torch.zeros(4))
    one = torch.tensor([1.0, float("nan")])
    assert tensor_hash(one) != tensor_hash(torch.tensor([2.0, float("nan")]))
