"""The faster operand quantization / grid sums return exactly the bits of the previous implementation.

`_ref_*` below are verbatim copies of the functions as they were before the speed-ups (verde/repops/quantize.py,
reduce.py, aten/matmul.py, aten/reductions.py at c503205); every kernel that uses them is compared bit for bit on
random and edge-case inputs (zeros, signed zeros, negatives, subnormals, values near the float32 maximum,
inf/NaN, permuted / transposed / expanded / sliced operands, broadcast batches). NaNs compare as NaNs (their
payload is not part of any contract).
"""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

import verde.repops.aten.matmul as am
import verde.repops.aten.reductions as ar
from verde.repops.elementwise import div_scalar
from verde.repops.matmul import gemm64, mantissa_bits
from verde.repops.quantize import quantize_f64, slice_absmax
from verde.repops.reduce import grid_sum64

# ---- verbatim reference copies -------------------------------------------------------------------------


def _ref_slice_absmax(x: Tensor, dim: int) -> Tensor:
    a = x.abs()
    if a.dim() >= 3 and a.shape[-1] <= 16 and a.stride(-1) == 1:
        return a.movedim(dim, 0).contiguous().amax(dim=0, keepdim=True).movedim(0, dim)
    return a.amax(dim=dim, keepdim=True)


_F64_EXPONENT = 0x7FF0000000000000


def _ref_grid_magic_f64(mx64: Tensor, bits: int) -> Tensor:
    p = (mx64.view(torch.int64) & _F64_EXPONENT).view(torch.float64)
    return p.mul_(1.5 * 2.0 ** (53 - bits))


def _ref_quantize_f64(x: Tensor, dim: int, bits: int) -> Tensor:
    m = _ref_grid_magic_f64(_ref_slice_absmax(x, dim).to(torch.float64), bits)
    return x.to(torch.float64, copy=True).add_(m).sub_(m)


def _ref_sum_bits(n: int) -> int:
    return min(51, 52 - max(int(n - 1).bit_length(), 0))


def _ref_grid_sum64(x: Tensor, dim: int, keepdim: bool = False) -> Tensor:
    m = _ref_grid_magic_f64(x.abs().amax(dim=dim, keepdim=True).to(torch.float64), _ref_sum_bits(x.shape[dim]))
    return x.to(torch.float64, copy=True).add_(m).sub_(m).sum(dim=dim, keepdim=keepdim)


def _ref_matmul64(a: Tensor, b: Tensor) -> Tensor:
    k = a.shape[-1]
    if b.shape[-2] != k:
        raise ValueError(f"matmul needs (…×m×k) @ (…×k×n), got {tuple(a.shape)} @ {tuple(b.shape)}")
    bits = mantissa_bits(k)
    qa = _ref_quantize_f64(a, a.dim() - 1, bits)
    qb = _ref_quantize_f64(b, b.dim() - 2, bits)
    return gemm64(qa, qb)


def _ref_mm(a: Tensor, b: Tensor) -> Tensor:
    return _ref_matmul64(a, b).to(torch.float32)


def _ref_addmm(bias: Tensor, a: Tensor, b: Tensor, *, beta=1, alpha=1) -> Tensor:
    prod = _ref_matmul64(a, b)
    if alpha != 1:
        prod = prod * float(torch.tensor(alpha, dtype=torch.float32))
    c = bias.to(torch.float64)
    if beta != 1:
        c = c * float(torch.tensor(beta, dtype=torch.float32))
    return prod.add_(c).to(torch.float32)


def _ref_dims(x: Tensor, dim) -> list[int]:
    if dim is None or (isinstance(dim, (list, tuple)) and len(dim) == 0):
        return list(range(x.dim()))
    dims = [dim] if isinstance(dim, int) else list(dim)
    return sorted({d % max(x.dim(), 1) for d in dims})


def _ref_exact_sum_dims64(x: Tensor, dims: list[int], keepdim: bool) -> Tensor:
    if x.dim() == 0:
        return x.to(torch.float64).clone()
    nd, k = x.dim(), len(dims)
    keep = [d for d in range(nd) if d not in dims]
    kept_shape = [x.shape[d] for d in keep]
    if dims == list(range(k)):
        s = _ref_grid_sum64(x.reshape(-1, *kept_shape), 0)
    elif dims == list(range(nd - k, nd)):
        s = _ref_grid_sum64(x.reshape(*kept_shape, -1), len(kept_shape))
    else:
        s = _ref_grid_sum64(x.permute(keep + dims).reshape(*kept_shape, -1), len(kept_shape))
    if keepdim:
        s = s.view([1 if d in dims else x.shape[d] for d in range(nd)])
    return s


def _ref_sum_dim(x: Tensor, dim, keepdim: bool = False, *, dtype=None) -> Tensor:
    out = dtype if dtype is not None else (x.dtype if x.is_floating_point() else torch.int64)
    if not out.is_floating_point:
        return torch.sum(x, dim=_ref_dims(x, dim), keepdim=keepdim, dtype=out) if x.dim() else x.to(out)
    return _ref_exact_sum_dims64(x, _ref_dims(x, dim), keepdim).to(out)


def _ref_mean_dim(x: Tensor, dim, keepdim: bool = False, *, dtype=None) -> Tensor:
    dims = _ref_dims(x, dim)
    n = 1
    for d in dims:
        n *= x.shape[d] if x.dim() else 1
    s = _ref_exact_sum_dims64(x, dims, keepdim)
    return div_scalar(s, float(n)).to(dtype or x.dtype)


# ---- inputs --------------------------------------------------------------------------------------------


def _bits(t: Tensor) -> Tensor:
    return t.view({2: torch.int16, 4: torch.int32, 8: torch.int64}[t.element_size()])


def assert_same_bits(new: Tensor, ref: Tensor) -> None:
    assert new.shape == ref.shape and new.dtype == ref.dtype
    nan = torch.isnan(ref)
    assert torch.equal(torch.isnan(new), nan)
    assert torch.equal(_bits(new.contiguous())[~nan], _bits(ref.contiguous())[~nan])


def _spread(gen: torch.Generator, *shape: int, lo: int = -40, hi: int = 40) -> Tensor:
    x = torch.randn(*shape, generator=gen)
    x = x * torch.exp2(torch.randint(lo, hi + 1, shape, generator=gen).float())
    return x.masked_fill(torch.rand(shape, generator=gen) < 0.05, 0.0)


def _cases(gen: torch.Generator, *shape: int) -> list[Tensor]:
    """Random operands with rows/columns/slices of every awkward kind."""
    out = []
    for lo, hi in ((-3, 3), (-40, 40), (-150, -120), (90, 127)):
        x = _spread(gen, *shape, lo=lo, hi=hi)
        out.append(x)
    x = _spread(gen, *shape)
    flat = x.view(-1)
    n = flat.numel()
    idx = torch.randperm(n, generator=gen)
    flat[idx[: max(1, n // 50)]] = 0.0
    flat[idx[n // 50: n // 50 + max(1, n // 100)]] = -0.0
    flat[idx[n // 20: n // 20 + max(1, n // 100)]] *= 2.0**-130  # subnormals
    out.append(x)
    big = _spread(gen, *shape, lo=100, hi=127)
    big.view(-1)[:: max(1, n // 7)] = torch.finfo(torch.float32).max
    out.append(big)
    out.append(torch.zeros(*shape))
    out.append(-torch.full(shape, 2.0**-149))
    special = _spread(gen, *shape)
    special.view(-1)[idx[:2]] = torch.tensor([float("inf"), float("nan")])[: min(2, n)]
    if n > 3:
        special.view(-1)[idx[2]] = float("-inf")
    out.append(special)
    return out


def _layouts(x: Tensor) -> list[Tensor]:
    """x itself, laid out contiguously, transposed in memory (same values) and as a slice of a larger tensor."""
    ts = [x.contiguous()]
    if x.dim() >= 2:
        ts.append(x.transpose(-1, -2).contiguous().transpose(-1, -2))
    if x.dim() == 3:
        ts.append(x.permute(1, 0, 2).contiguous().permute(1, 0, 2))
        ts.append(x.permute(2, 1, 0).contiguous().permute(2, 1, 0))
    pad = torch.zeros(*[s + 1 for s in x.shape])
    sl = pad[tuple(slice(0, s) for s in x.shape)]
    sl.copy_(x)
    ts.append(sl)
    return ts


# ---- quantization / slice maxima ----------------------------------------------------------------------

SHAPES = [(5,), (7, 1), (1, 9), (33, 17), (64, 256), (3, 5, 7), (8, 32, 16), (8, 16, 32), (4, 1, 16), (2, 16, 1),
          (6, 64, 4)]


@pytest.mark.parametrize("shape", SHAPES)
def test_slice_absmax_and_quantize_f64(shape):
    gen = torch.Generator().manual_seed(len(shape) * 1000 + shape[0])
    for x0 in _cases(gen, *shape):
        for x in _layouts(x0):
            for dim in range(x.dim()):
                assert_same_bits(slice_absmax(x, dim), _ref_slice_absmax(x, dim))
                for bits in (21, 20, 17, 22):
                    assert_same_bits(quantize_f64(x, dim, bits), _ref_quantize_f64(x, dim, bits))
            x64 = x.double() * 3.0
            for dim in range(x.dim()):
                assert_same_bits(slice_absmax(x64, dim), _ref_slice_absmax(x64, dim))


def test_quantize_f64_expanded_inputs():
    gen = torch.Generator().manual_seed(7)
    x = _spread(gen, 1, 5, 16).expand(4, 5, 16)
    y = _spread(gen, 5, 1).expand(5, 16)
    for t, dims in ((x, (0, 1, 2)), (y, (0, 1))):
        for d in dims:
            assert_same_bits(quantize_f64(t, d, 21), _ref_quantize_f64(t, d, 21))


@pytest.mark.parametrize("shape", [(9, 70, 33), (16, 32, 64), (512, 64), (4, 16), (3, 1, 5)])
def test_grid_sum64(shape):
    gen = torch.Generator().manual_seed(sum(shape))
    for x0 in _cases(gen, *shape):
        for x in _layouts(x0):
            for v in (x, x.double() * x.double()):
                for dim in range(v.dim()):
                    for keepdim in (False, True):
                        assert_same_bits(grid_sum64(v, dim, keepdim), _ref_grid_sum64(v, dim, keepdim))


# ---- ATen kernels --------------------------------------------------------------------------------------


@pytest.mark.parametrize("m,k,n", [(1, 1, 1), (5, 7, 3), (64, 16, 32), (48, 96, 64), (17, 300, 9), (3, 1100, 4)])
def test_mm_addmm(m, k, n):
    gen = torch.Generator().manual_seed(m * k + n)
    for a0, b0 in zip(_cases(gen, m, k), _cases(gen, k, n)):
        bias = _spread(gen, n)
        for a in _layouts(a0):
            for b in _layouts(b0)[:2]:
                assert_same_bits(am.mm(a, b), _ref_mm(a, b))
                assert_same_bits(am.addmm(bias, a, b), _ref_addmm(bias, a, b))
                assert_same_bits(am.addmm(bias, a, b, beta=0.5, alpha=3), _ref_addmm(bias, a, b, beta=0.5, alpha=3))


@pytest.mark.parametrize("bsz,m,k,n", [(64, 32, 16, 32), (64, 32, 32, 16), (3, 5, 7, 2), (2, 1, 9, 1)])
def test_bmm_and_broadcast(bsz, m, k, n):
    gen = torch.Generator().manual_seed(bsz + m + k + n)
    for a0, b0 in zip(_cases(gen, bsz, m, k), _cases(gen, bsz, k, n)):
        for a in _layouts(a0):
            for b in _layouts(b0)[:3]:
                assert_same_bits(am.bmm(a, b), _ref_mm(a, b))
        b2 = b0[0]
        assert_same_bits(am.matmul64(a0, b2), _ref_matmul64(a0, b2))
        assert_same_bits(am.matmul64(a0[0], b0), _ref_matmul64(a0[0], b0))
        ae = a0[:1].expand(bsz, m, k)
        assert_same_bits(am.bmm(ae, b0), _ref_mm(ae, b0))


@pytest.mark.parametrize("shape", [(16, 32, 64), (512, 64), (3, 5, 7, 2), (7,), (2, 1, 3)])
def test_sum_mean(shape):
    gen = torch.Generator().manual_seed(len(shape) + shape[0])
    nd = len(shape)
    dimsets: list = [None, [], *range(nd), *([[d, (d + 1) % nd] for d in range(nd)] if nd > 1 else []), [-1]]
    if nd >= 3:
        dimsets += [[0, 1], [0, 2], list(range(1, nd))]
    for x0 in _cases(gen, *shape):
        for x in _layouts(x0):
            for dims in dimsets:
                for keepdim in (False, True):
                    assert_same_bits(ar.sum_dim(x, dims, keepdim), _ref_sum_dim(x, dims, keepdim))
                    assert_same_bits(ar.mean_dim(x, dims, keepdim), _ref_mean_dim(x, dims, keepdim))
    x = torch.tensor(3.5)
    assert_same_bits(ar.sum_dim(x, None), _ref_sum_dim(x, None))
    assert_same_bits(ar.mean_dim(x, []), _ref_mean_dim(x, []))


def test_convolution_paths(monkeypatch):
    """convolution (+ backward) with today's helpers vs with the reference ones (same code otherwise)."""
    gen = torch.Generator().manual_seed(11)
    cases = [((2, 4, 9, 8), (6, 2, 3, 3), 2, (1, 1), (1, 1), (1, 1)),
             ((3, 3, 20), (5, 3, 4), 1, (2,), (1,), (1,)),
             ((1, 2, 6, 6), (4, 2, 2, 2), 1, (2, 2), (0, 0), (2, 2))]
    for xs, ws, groups, st, pad, dil in cases:
        for x, w in zip(_cases(gen, *xs)[:6], _cases(gen, *ws)[:6]):
            bias = _spread(gen, ws[0])
            out = am.convolution(x, w, bias, st, pad, dil, False, [0] * len(st), groups)
            grad = _spread(gen, *out.shape)
            back = am.convolution_backward(grad, x, w, [ws[0]], st, pad, dil, False, [0] * len(st), groups,
                                           [True, True, True])
            with monkeypatch.context() as mp:
                mp.setattr(am, "matmul64", _ref_matmul64)
                mp.setattr(am, "grid_sum64", _ref_grid_sum64)
                ref = am.convolution(x, w, bias, st, pad, dil, False, [0] * len(st), groups)
                ref_back = am.convolution_backward(grad, x, w, [ws[0]], st, pad, dil, False, [0] * len(st),
                                                   groups, [True, True, True])
            assert_same_bits(out, ref)
            for t, r in zip(back, ref_back):
                assert_same_bits(t, r)


def test_negative_dims_half_precision_and_autograd_inputs():
    gen = torch.Generator().manual_seed(3)
    x = _spread(gen, 4, 6, 16)
    for d in (-1, -2, -3):
        assert_same_bits(slice_absmax(x, d), _ref_slice_absmax(x, d))
        assert_same_bits(grid_sum64(x, d, True), _ref_grid_sum64(x, d, True))
    h = _spread(gen, 5, 8, lo=-3, hi=3).to(torch.bfloat16)
    assert_same_bits(grid_sum64(h, 1), _ref_grid_sum64(h, 1))
    assert_same_bits(ar.sum_dim(h, [0]), _ref_sum_dim(h, [0]))
    t = _spread(gen, 6, 9).requires_grad_()
    assert_same_bits(quantize_f64(t, 1, 21).detach(), _ref_quantize_f64(t, 1, 21).detach())
