"""mm / addmm / bmm and convolution (+ backward) on RepOps' exact-integer float64 GEMM.

Every product is formed by `matmul64`: rows of A and columns of B are rounded to `mantissa_bits(K)` bits
below their own maximum (verde/repops/matmul.py), so one float64 GEMM/BMM computes the exact dot products
whatever blocking, thread count or device runs it. Convolution is im2col (`unfold`, a pure copy) + that
GEMM; the input gradient's col2im (`fold`) adds overlapping patches, which is made exact the same way: the
float64 columns are rounded to a grid shared by each (image, channel) with room for kh*kw terms.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from verde.repops.aten.registry import kernel
from verde.repops.matmul import gemm64, mantissa_bits
from verde.repops.quantize import absmax, exponent, quantize_f64, round_to_grid_f64
from verde.repops.reduce import grid_sum64


def _float32(*xs: Tensor) -> None:
    for x in xs:
        if x.dtype != torch.float32:
            raise TypeError(f"RepOps matmul kernels take float32 tensors, got {x.dtype}")


def matmul64(a: Tensor, b: Tensor) -> Tensor:
    """a (…×m×k) @ b (…×k×n) as float64, exactly the dot products of the grid-rounded operands.

    2-D or batched (3-D, either side may be 2-D and broadcast); one exponent per row of a and per column
    of b, in each batch entry.
    """
    k = a.shape[-1]
    if b.shape[-2] != k:
        raise ValueError(f"matmul needs (…×m×k) @ (…×k×n), got {tuple(a.shape)} @ {tuple(b.shape)}")
    bits = mantissa_bits(k)
    qa = quantize_f64(a, a.dim() - 1, bits)
    qb = quantize_f64(b, b.dim() - 2, bits)
    return gemm64(qa, qb)


@kernel("aten.mm.default")
def mm(a: Tensor, b: Tensor) -> Tensor:
    """a (m×k) @ b (k×n), float32, bit-reproducible (one rounding of the exact product of rounded operands)."""
    _float32(a, b)
    if a.dim() != 2 or b.dim() != 2:
        raise ValueError(f"mm needs 2-D operands, got {tuple(a.shape)} @ {tuple(b.shape)}")
    return matmul64(a, b).to(torch.float32)


@kernel("aten.bmm.default")
def bmm(a: Tensor, b: Tensor) -> Tensor:
    """a (B×m×k) @ b (B×k×n), float32, per batch entry exactly as mm."""
    _float32(a, b)
    if a.dim() != 3 or b.dim() != 3 or a.shape[0] != b.shape[0]:
        raise ValueError(f"bmm needs (B×m×k) @ (B×k×n), got {tuple(a.shape)} @ {tuple(b.shape)}")
    return matmul64(a, b).to(torch.float32)


@kernel("aten.addmm.default")
def addmm(bias: Tensor, a: Tensor, b: Tensor, *, beta=1, alpha=1) -> Tensor:
    """beta * bias + alpha * (a @ b), bias broadcast to m×n; the sum is taken in float64 and rounded once."""
    _float32(bias, a, b)
    if a.dim() != 2 or b.dim() != 2:
        raise ValueError(f"addmm needs 2-D operands, got {tuple(a.shape)} @ {tuple(b.shape)}")
    prod = matmul64(a, b)
    if alpha != 1:
        prod = prod * float(torch.tensor(alpha, dtype=torch.float32))
    c = bias.to(torch.float64)
    if beta != 1:
        c = c * float(torch.tensor(beta, dtype=torch.float32))
    return prod.add_(c).to(torch.float32)


# ---- convolution ---------------------------------------------------------------------------------------

def _pairs(x: Tensor, w: Tensor, stride, padding, dilation
           ) -> tuple[Tensor, Tensor, tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """1-D convolutions as 2-D ones with height 1; 2-D passes through; anything else is refused."""
    if x.dim() == 3:
        return x.unsqueeze(2), w.unsqueeze(2), (1, *stride), (0, *padding), (1, *dilation)
    if x.dim() != 4:
        raise ValueError(f"convolution supports 1-D and 2-D inputs, got {x.dim() - 2}-D")
    return x, w, tuple(stride), tuple(padding), tuple(dilation)


def _check(transposed: bool, output_padding, groups: int, x: Tensor, w: Tensor) -> None:
    if transposed or any(output_padding):
        raise ValueError("transposed convolution is not supported")
    if groups < 1 or x.shape[1] != w.shape[1] * groups or w.shape[0] % groups:
        raise ValueError(f"convolution channels do not match: input {tuple(x.shape)}, weight "
                         f"{tuple(w.shape)}, groups {groups}")


def _out_hw(x: Tensor, w: Tensor, stride, padding, dilation) -> tuple[int, int]:
    return tuple((x.shape[2 + i] + 2 * padding[i] - dilation[i] * (w.shape[2 + i] - 1) - 1) // stride[i] + 1
                 for i in range(2))


@kernel("aten.convolution.default")
def convolution(x: Tensor, w: Tensor, bias: Tensor | None, stride, padding, dilation, transposed: bool,
                output_padding, groups: int) -> Tensor:
    """N×C×(H×)W input, O×(C/groups)×(kh×)kw weight, optional bias (O,): the cross-correlation ATen computes.

    im2col + exact GEMM (float64, one rounding at the end, bias added in float64 first).
    """
    _float32(x, w)
    _check(transposed, output_padding, groups, x, w)
    one_d = x.dim() == 3
    x2, w2, st, pad, dil = _pairs(x, w, stride, padding, dilation)
    ho, wo = _out_hw(x2, w2, st, pad, dil)
    n, o = x2.shape[0], w2.shape[0]
    cg, og = w2.shape[1], o // groups
    outs = []
    for g in range(groups):
        cols = F.unfold(x2[:, g * cg:(g + 1) * cg], w2.shape[2:], dilation=dil, padding=pad, stride=st)
        outs.append(matmul64(w2[g * og:(g + 1) * og].reshape(og, -1), cols))  # N × og × L
    out = outs[0] if groups == 1 else torch.cat(outs, 1)
    if bias is not None:
        out = out.add_(bias.to(torch.float64).view(1, o, 1))
    out = out.to(torch.float32).view(n, o, ho, wo)
    return out.squeeze(2) if one_d else out


def _fold_exact(cols64: Tensor, cg: int, kk: int, hw: tuple[int, ...], kernel_hw, dil, pad, st) -> Tensor:
    """col2im of float64 columns (N × cg·kk × L) with every addition exact (shared grid per image channel)."""
    n, _, ll = cols64.shape
    v = cols64.reshape(n, cg, kk * ll)
    e = exponent(absmax(v, 2, keepdim=True))
    bits = 52 - max(int(kk - 1).bit_length(), 0)
    q = round_to_grid_f64(v, e, min(bits, 51)).view(n, cg * kk, ll)
    return F.fold(q, hw, kernel_hw, dilation=dil, padding=pad, stride=st)


@kernel("aten.convolution_backward.default")
def convolution_backward(grad: Tensor, x: Tensor, w: Tensor, bias_sizes, stride, padding, dilation,
                         transposed: bool, output_padding, groups: int, output_mask) -> tuple:
    """(grad_input, grad_weight, grad_bias) of `convolution`; entries whose output_mask is False are None.

    grad_weight = grad (O × N·L) @ cols (N·L × C·kk) and grad_input = fold(W^T @ grad) by the exact GEMM;
    grad_bias = exact sum of grad over N, H, W.
    """
    _float32(grad, x, w)
    _check(transposed, output_padding, groups, x, w)
    one_d = x.dim() == 3
    x2, w2, st, pad, dil = _pairs(x, w, stride, padding, dilation)
    g2 = grad.unsqueeze(2) if one_d else grad
    n, o = x2.shape[0], w2.shape[0]
    cg, og = w2.shape[1], o // groups
    kh_kw = tuple(w2.shape[2:])
    kk = kh_kw[0] * kh_kw[1]
    gm = g2.reshape(n, o, -1)  # N × O × L
    gi = gw = gb = None
    if output_mask[2]:
        gb = grid_sum64(gm.transpose(0, 1).reshape(o, -1), 1).to(torch.float32)
    if output_mask[0] or output_mask[1]:
        gis, gws = [], []
        for g in range(groups):
            gmg = gm[:, g * og:(g + 1) * og]
            wg = w2[g * og:(g + 1) * og].reshape(og, -1)
            if output_mask[1]:
                cols = F.unfold(x2[:, g * cg:(g + 1) * cg], kh_kw, dilation=dil, padding=pad, stride=st)
                a = gmg.transpose(0, 1).reshape(og, -1)  # og × N·L
                b = cols.transpose(1, 2).reshape(-1, cols.shape[1])  # N·L × cg·kk
                gws.append(matmul64(a, b).to(torch.float32).view(og, cg, *kh_kw))
            if output_mask[0]:
                cols64 = matmul64(wg.t(), gmg)  # N × cg·kk × L
                gis.append(_fold_exact(cols64, cg, kk, tuple(x2.shape[2:]), kh_kw, dil, pad, st))
        if output_mask[1]:
            gw = gws[0] if groups == 1 else torch.cat(gws, 0)
            gw = gw.squeeze(2) if one_d else gw
        if output_mask[0]:
            gi = (gis[0] if groups == 1 else torch.cat(gis, 1)).to(torch.float32)
            gi = gi.squeeze(2) if one_d else gi
    return gi, gw, gb
