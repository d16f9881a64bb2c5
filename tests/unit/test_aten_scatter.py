"""Accumulating scatters add duplicate indices exactly: the result does not depend on the order of the
(index, value) pairs, and equals the exactly rounded sum when the values fit the slot's grid."""

from __future__ import annotations

import math

import torch
from test_aten_kernels import ints, u

from verde import rng
from verde.repops.aten import KERNELS, random_stream

INDEX_PUT = KERNELS["aten.index_put.default"]


def _bits(t: torch.Tensor) -> bytes:
    return t.contiguous().numpy().tobytes()


def _spread(stream: str, *shape: int) -> torch.Tensor:
    """Values over ±30 binades: any float32 summation order would round differently."""
    return u(stream, *shape) * torch.exp2(ints(stream + "e", 61, *shape).float() - 30)


def test_index_put_accumulate_is_independent_of_pair_order():
    base, idx, vals = _spread("b", 4, 3), ints("i", 4, 3000), _spread("v", 3000, 3)
    ref = INDEX_PUT(base, [idx], vals, True)
    for seed in range(3):
        p = rng.permutation(seed, "perm", 3000)
        assert _bits(INDEX_PUT(base, [idx[p]], vals[p], True)) == _bits(ref)


def test_index_put_accumulate_equals_the_correctly_rounded_exact_sum():
    # multiples of 2**-10 below 2**10: on every slot's grid, so the kernel's sum is exact before rounding
    idx = ints("i", 5, 4000)
    vals = (ints("v", 2**21, 4000).float() - 2**20) / 1024
    out = INDEX_PUT(torch.zeros(5), [idx], vals, True)
    for slot in range(5):
        exact = math.fsum(vals[idx == slot].double().tolist())
        assert out[slot].item() == torch.tensor(exact, dtype=torch.float64).float().item()


def test_index_put_accumulate_over_a_column_block_and_negative_indices():
    x, vals = u("x", 3, 6, 2), u("v", 3, 5, 2)  # values shaped like x[:, idx]
    idx = torch.tensor([0, -1, 5, 0, 0])
    out = INDEX_PUT(x, [None, idx], vals, True)
    ref = x.double().clone()
    for j, i in enumerate(idx.tolist()):
        ref[:, i] += vals[:, j].double()
    torch.testing.assert_close(out, ref.float(), rtol=0, atol=1e-6)


def test_embedding_dense_backward_sums_duplicates_and_skips_padding():
    grad, idx = _spread("g", 6, 50, 8), ints("i", 7, 6, 50)
    fn = KERNELS["aten.embedding_dense_backward.default"]
    out = fn(grad, idx, 7, 3, False)
    assert torch.equal(out[3], torch.zeros(8))
    p = rng.permutation(1, "p", 300)
    shuffled = fn(grad.reshape(300, 8)[p], idx.reshape(300)[p], 7, 3, False)
    assert _bits(shuffled) == _bits(out)
    ref = torch.ops.aten.embedding_dense_backward.default(grad.double(), idx, 7, 3, False)
    torch.testing.assert_close(out, ref.float(), rtol=1e-6, atol=0)


def test_scatter_add_along_dim_1_is_order_independent():
    x, idx, src = _spread("x", 3, 4), ints("i", 4, 3, 500), _spread("s", 3, 500)
    fn = KERNELS["aten.scatter_add.default"]
    out = fn(x, 1, idx, src)
    p = rng.permutation(2, "p", 500)
    assert _bits(fn(x, 1, idx[:, p], src[:, p])) == _bits(out)
    torch.testing.assert_close(out, x.double().scatter_add(1, idx, src.double()).float(), rtol=1e-6, atol=0)


def test_max_pool_backward_adds_overlapping_windows_exactly():
    x = torch.zeros(1, 1, 5, 5)
    x[0, 0, 2, 2] = 1.0  # the max of all four overlapping 3×3 windows (stride 2)
    vals, idx = KERNELS["aten.max_pool2d_with_indices.default"](x, [3, 3], [2, 2])
    assert vals.flatten().tolist() == [1.0] * 4
    assert idx.flatten().tolist() == [12, 12, 12, 12]
    # float32 left to right gives 0 (2**30 absorbs the 1); the exact sum 1 + 2**-30 rounds to 1
    grad = torch.tensor([[[[1.0, 2.0**-30], [2.0**30, -(2.0**30)]]]])
    out = KERNELS["aten.max_pool2d_with_indices_backward.default"](grad, x, [3, 3], [2, 2], [0, 0], [1, 1],
                                                                    False, idx)
    assert out[0, 0, 2, 2].item() == 1.0
    assert torch.count_nonzero(out).item() == 1


def test_dropout_masks_come_from_the_stream():
    drop = KERNELS["aten.native_dropout.default"]
    x = u("x", 64, 64)
    with random_stream(7, "step0/node3"):
        out, mask = drop(x, 0.25, True)
        again, mask2 = drop(x, 0.25, True)
    assert torch.equal(mask, mask2) and _bits(out) == _bits(again)
    _, other = drop(x, 0.25, True, seed=7, stream="step1/node3")
    assert not torch.equal(mask, other)
    assert torch.equal(drop(x, 0.25, True, seed=7, stream="step0/node3")[1], mask)
    assert abs(mask.float().mean().item() - 0.75) < 0.03
    assert torch.equal(out, torch.where(mask, x * torch.tensor(1 / 0.75, dtype=torch.float32), 0.0))
    same, ones = drop(x, 0.25, False)
    assert torch.equal(same, x) and bool(ones.all())
    back = KERNELS["aten.native_dropout_backward.default"](x, mask, 1 / 0.75)
    assert torch.equal(back, out)
