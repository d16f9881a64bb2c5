"""RepOps ATen kernels agree with the native ATen ops (exactly where nothing is rounded) and cover the graphs.

`CASES` is also the battery the thread-count and CPU-ISA tests hash (test_aten_threads, test_aten_isa).
Inputs come from verde.rng (torch.randn's bits differ between CPU kernels).
"""

from __future__ import annotations

import math

import pytest
import torch

from verde import rng
from verde.repops.aten import KERNELS, on_device

A = torch.ops.aten
EXACT = (0.0, 0.0)


def u(stream: str, *shape: int, scale: float = 1.0) -> torch.Tensor:
    """float32 uniform in (-scale, scale), reproducible on every machine."""
    return (rng.uniform(11, stream, shape) * 2 - 1) * scale


def ints(stream: str, n: int, *shape: int) -> torch.Tensor:
    return rng.randint(11, stream, n, shape)


def _conv_args(stride, pad, groups=1, cin=4, cout=6):
    x, w, b = u("cx", 3, cin, 9, 9), u("cw", cout, cin // groups, 3, 3), u("cb", cout)
    return (x, w, b, [stride, stride], [pad, pad], [1, 1], False, [0, 0], groups)


def _conv_bw_args(stride, pad, groups=1, cin=4, cout=6):
    x, w, b, *rest = _conv_args(stride, pad, groups, cin, cout)
    out = A.convolution.default(x, w, b, *rest)
    return (u("cg", *out.shape), x, w, [cout], *rest, [True, True, True])


def _pool_args():
    return (u("px", 2, 3, 8, 8), [2, 2])


def _pool_bw_args(kernel, stride):
    x = ints("pxi", 7, 2, 3, 9, 9).float()  # many ties: the first maximal element must win
    _, idx = A.max_pool2d_with_indices.default(x, kernel, stride)
    return (u("pg", *idx.shape), x, kernel, stride, [0, 0], [1, 1], False, idx)


def _ln_args():
    return (u("lx", 4, 5, 32, scale=3.0) + 1.5, [32], u("lw", 32), u("lb", 32), 1e-5)


def _ln_bw_args():
    x, shape, w, b, eps = _ln_args()
    # inputs derived by RepOps, not ATen: ATen's own bits differ between CPU kernels (test_aten_isa)
    _, mean, rstd = KERNELS["aten.native_layer_norm.default"](x, shape, w, b, eps)
    return (u("lg", *x.shape), x, shape, mean, rstd, w, b, [True, True, True])


def _softmax_bw_args(log: bool):
    x = u("sx", 6, 7, 20, scale=4.0)
    y = KERNELS["aten._log_softmax.default" if log else "aten._softmax.default"](x, -1, False)
    return (u("sg", *x.shape), y, -1, torch.float32)


def _bn_args(training: bool):
    return (u("bx", 4, 3, 5, 5, scale=2.0) + 0.5, u("bw", 3), u("bb", 3), u("bm", 3), u("bv", 3).abs() + 0.5,
            training, 0.1, 1e-5)


def _bn_bw_args(train: bool):
    x, w, b, rm, rv, _, _, eps = _bn_args(True)
    _, mean, rstd, _, _ = KERNELS["aten._native_batch_norm_legit_functional.default"](x, w, b, rm, rv, True,
                                                                                        0.1, eps)
    return (u("bg", *x.shape), x, w, rm, rv, mean, rstd, train, eps, [True, True, True])


def _gn_args():
    return (u("gx", 4, 6, 5, 5, scale=2.0) + 0.5, u("gw", 6), u("gb", 6), 4, 6, 25, 3, 1e-5)


def _gn_bw_args():
    x, w, b, n, c, hw, g, eps = _gn_args()
    _, mean, rstd = KERNELS["aten.native_group_norm.default"](x, w, b, n, c, hw, g, eps)
    return (u("gg", *x.shape), x, mean, rstd, w, n, c, hw, g, [True, True, True])


def _embed_bw_args():
    return (u("eg", 5, 7, 16), ints("ei", 10, 5, 7), 10, -1, False)


# (overload, args builder, kwargs, (rtol, atol)); tolerances are a few float32 ulps of the output's scale
CASES: list[tuple[str, object, dict, tuple[float, float]]] = [
    ("aten.mm.default", lambda: (u("a", 40, 300), u("b", 300, 30)), {}, (1e-5, 2e-5)),
    ("aten.addmm.default", lambda: (u("c", 30), u("a", 40, 300), u("b", 300, 30)), {}, (1e-5, 2e-5)),
    ("aten.bmm.default", lambda: (u("a", 3, 20, 64), u("b", 3, 64, 10)), {}, (1e-5, 1e-5)),
    ("aten.convolution.default", lambda: _conv_args(1, 1), {}, (1e-5, 1e-5)),
    ("aten.convolution.default", lambda: _conv_args(2, 1, groups=2), {}, (1e-5, 1e-5)),
    ("aten.convolution_backward.default", lambda: _conv_bw_args(1, 1), {}, (1e-5, 3e-5)),
    ("aten.convolution_backward.default", lambda: _conv_bw_args(2, 0, groups=2), {}, (1e-5, 3e-5)),
    ("aten.native_layer_norm.default", _ln_args, {}, (1e-5, 1e-5)),
    ("aten.native_layer_norm_backward.default", _ln_bw_args, {}, (1e-5, 2e-5)),
    ("aten._native_batch_norm_legit_functional.default", lambda: _bn_args(True), {}, (1e-5, 1e-5)),
    ("aten._native_batch_norm_legit_functional.default", lambda: _bn_args(False), {}, (1e-5, 1e-5)),
    ("aten._native_batch_norm_legit_no_training.default", lambda: (*_bn_args(False)[:5], 0.1, 1e-5), {},
     (1e-5, 1e-5)),
    ("aten.native_batch_norm_backward.default", lambda: _bn_bw_args(True), {}, (1e-5, 2e-5)),
    ("aten.native_batch_norm_backward.default", lambda: _bn_bw_args(False), {}, (1e-5, 2e-5)),
    ("aten.native_group_norm.default", _gn_args, {}, (1e-5, 1e-5)),
    ("aten.native_group_norm_backward.default", _gn_bw_args, {}, (1e-5, 2e-5)),
    ("aten._softmax.default", lambda: (u("sx", 6, 7, 20, scale=4.0), -1, False), {}, (1e-6, 1e-7)),
    ("aten._softmax.default", lambda: (u("sx", 6, 7, 20, scale=4.0), 1, False), {}, (1e-6, 1e-7)),
    ("aten._log_softmax.default", lambda: (u("sx", 6, 7, 20, scale=4.0), -1, False), {}, (1e-6, 1e-6)),
    ("aten._softmax_backward_data.default", lambda: _softmax_bw_args(False), {}, (1e-5, 1e-7)),
    ("aten._log_softmax_backward_data.default", lambda: _softmax_bw_args(True), {}, (1e-5, 1e-6)),
    ("aten.embedding.default", lambda: (u("w", 10, 16), ints("ei", 10, 5, 7)), {}, EXACT),
    ("aten.embedding_dense_backward.default", _embed_bw_args, {}, (1e-6, 1e-6)),
    ("aten.index_put.default", lambda: (u("ix", 10, 4), [ints("ii", 10, 50)], u("iv", 50, 4), True), {},
     (1e-6, 1e-6)),
    ("aten.index_put.default", lambda: (u("ix", 10, 4), [torch.tensor([3, 1, 7])], u("iv", 3, 4), False),
     {}, EXACT),
    ("aten.scatter_add.default", lambda: (u("sa", 6, 5), 0, ints("si", 6, 30, 5), u("ss", 30, 5)), {},
     (1e-6, 1e-6)),
    ("aten.gather.default", lambda: (u("g", 6, 9), 1, ints("gi", 9, 6, 4)), {}, EXACT),
    ("aten.scatter.value", lambda: (u("g", 6, 9), 1, ints("gi", 9, 6, 1), -1.0), {}, EXACT),
    ("aten.index.Tensor", lambda: (u("g", 6, 9), [None, ints("gi", 9, 4)]), {}, EXACT),
    ("aten.max_pool2d_with_indices.default", _pool_args, {}, EXACT),
    ("aten.max_pool2d_with_indices.default", lambda: (ints("pxi", 7, 2, 3, 9, 9).float(), [3, 3], [2, 2],
                                                      [1, 1]), {}, EXACT),
    ("aten.max_pool2d_with_indices_backward.default", lambda: _pool_bw_args([2, 2], [2, 2]), {}, EXACT),
    ("aten.max_pool2d_with_indices_backward.default", lambda: _pool_bw_args([3, 3], [2, 2]), {}, (1e-6, 1e-6)),
    ("aten.avg_pool2d.default", lambda: (u("px", 2, 3, 8, 8), [2, 2]), {}, (1e-6, 1e-7)),
    ("aten.avg_pool2d_backward.default", lambda: (u("pg", 2, 3, 4, 4), u("px", 2, 3, 7, 7), [3, 3], [2, 2],
                                                  [1, 1], False, False, None), {}, (1e-6, 1e-7)),
    ("aten.sum.dim_IntList", lambda: (u("r", 5, 6, 70), [0, 2]), {}, (1e-5, 1e-5)),
    ("aten.sum.dim_IntList", lambda: (u("r", 5, 6, 70), []), {}, (1e-5, 1e-5)),
    ("aten.sum.dim_IntList", lambda: (u("r", 5, 6, 70), [1], True), {}, (1e-5, 1e-5)),
    ("aten.mean.dim", lambda: (u("r", 5, 6, 70), [-1]), {}, (1e-6, 1e-6)),
    ("aten.amax.default", lambda: (u("r", 5, 6, 70), [1]), {}, EXACT),
    ("aten.var.correction", lambda: (u("r", 5, 6, 70), [2]), {"correction": 0}, (1e-5, 1e-6)),
    ("aten.exp.default", lambda: (u("t", 1000, scale=30.0),), {}, (2e-7, 0.0)),
    ("aten.log.default", lambda: (u("t", 1000, scale=30.0).abs(),), {}, (2e-7, 1e-7)),
    ("aten.tanh.default", lambda: (u("t", 1000, scale=5.0),), {}, (2e-7, 1e-7)),
    ("aten.erf.default", lambda: (u("t", 1000, scale=5.0),), {}, (2e-7, 1e-7)),
    ("aten.sigmoid.default", lambda: (u("t", 1000, scale=20.0),), {}, (2e-7, 1e-7)),
    ("aten.silu.default", lambda: (u("t", 1000, scale=20.0),), {}, (2e-7, 1e-7)),
    ("aten.gelu.default", lambda: (u("t", 1000, scale=8.0),), {}, (2e-7, 1e-7)),
    ("aten.gelu.default", lambda: (u("t", 1000, scale=8.0),), {"approximate": "tanh"}, (2e-7, 1e-7)),
    ("aten.gelu_backward.default", lambda: (u("g", 1000), u("t", 1000, scale=8.0)), {}, (1e-6, 1e-7)),
    ("aten.gelu_backward.default", lambda: (u("g", 1000), u("t", 1000, scale=8.0)), {"approximate": "tanh"},
     (1e-6, 1e-6)),
    ("aten.silu_backward.default", lambda: (u("g", 1000), u("t", 1000, scale=8.0)), {}, (1e-6, 1e-7)),
    ("aten.sigmoid_backward.default", lambda: (u("g", 1000), u("t", 1000).abs()), {}, (1e-6, 1e-7)),
    ("aten.tanh_backward.default", lambda: (u("g", 1000), u("t", 1000)), {}, (1e-6, 1e-7)),
    ("aten.rsqrt.default", lambda: (u("t", 1000).abs() + 1e-3,), {}, (2e-7, 0.0)),
    ("aten.sqrt.default", lambda: (u("t", 1000).abs(),), {}, (2e-7, 0.0)),  # ATen's CPU sqrt is MKL's
    ("aten.pow.Tensor_Scalar", lambda: (u("t", 1000, scale=3.0), 2), {}, EXACT),
    ("aten.pow.Tensor_Scalar", lambda: (u("t", 1000, scale=3.0), 3), {}, (2e-7, 1e-7)),
    ("aten.pow.Tensor_Scalar", lambda: (u("t", 1000, scale=3.0).abs(), 1.7), {}, (4e-7, 1e-7)),
    ("aten.pow.Tensor_Scalar", lambda: (u("t", 1000, scale=3.0).abs() + 0.1, -0.5), {}, (2e-7, 0.0)),
    ("aten.relu.default", lambda: (u("t", 1000),), {}, EXACT),
    ("aten.threshold_backward.default", lambda: (u("g", 1000), u("t", 1000), 0), {}, EXACT),
    ("aten.add.Tensor", lambda: (u("a", 30, 20), u("b", 20)), {}, EXACT),
    ("aten.add.Tensor", lambda: (u("a", 30, 20), u("b", 20)), {"alpha": 0.5}, (1e-7, 1e-7)),
    ("aten.sub.Tensor", lambda: (u("a", 30, 20), u("b", 30, 1)), {}, EXACT),
    ("aten.sub.Tensor", lambda: (1, u("b", 30, 4)), {}, EXACT),  # graphs write 1 - y this way
    ("aten.mul.Tensor", lambda: (u("a", 30, 20), u("b", 30, 20)), {}, EXACT),
    ("aten.mul.Tensor", lambda: (u("a", 30, 20), torch.tensor(0.3)), {}, EXACT),
    ("aten.mul.Scalar", lambda: (u("a", 30, 20), 0.5), {}, EXACT),
    ("aten.div.Tensor", lambda: (u("a", 30, 20), u("b", 30, 20) + 2.0), {}, EXACT),
    ("aten.div.Scalar", lambda: (u("a", 30, 20), 3.0), {}, EXACT),
    ("aten.rsub.Scalar", lambda: (u("a", 30, 20), 1.0), {}, EXACT),
    ("aten.neg.default", lambda: (u("a", 30, 20),), {}, EXACT),
    ("aten.where.self", lambda: (u("c", 30, 20) > 0, u("a", 30, 20), torch.tensor(-math.inf)), {}, EXACT),
    ("aten.clamp.default", lambda: (ints("ci", 100, 40) - 50, -32, 31), {}, EXACT),
    ("aten.clamp.default", lambda: (u("a", 30, 20), -0.5, None), {}, EXACT),
    ("aten.eq.Scalar", lambda: (torch.tensor([1.0, -math.inf, 0.0]), -math.inf), {}, EXACT),
    ("aten.ne.Scalar", lambda: (ints("ci", 5, 40) - 1, -1), {}, EXACT),
    ("aten.lt.Scalar", lambda: (u("a", 40), 0.25), {}, EXACT),
    ("aten.le.Scalar", lambda: (u("a", 40), 0), {}, EXACT),
    ("aten.ge.Scalar", lambda: (ints("ci", 5, 40), 2), {}, EXACT),
    ("aten.gt.Tensor", lambda: (u("a", 40), u("b", 40)), {}, EXACT),
    ("aten.logical_and.default", lambda: (u("a", 40) > 0, u("b", 40) > 0), {}, EXACT),
    ("aten.bitwise_and.Tensor", lambda: (u("a", 40) > 0, u("b", 40) > 0), {}, EXACT),
    ("aten.any.dim", lambda: (u("a", 4, 10) > 0.8, -1, True), {}, EXACT),
    ("aten.view.default", lambda: (u("a", 6, 20), [3, 40]), {}, EXACT),
    ("aten.permute.default", lambda: (u("a", 2, 3, 4), [2, 0, 1]), {}, EXACT),
    ("aten.transpose.int", lambda: (u("a", 2, 3, 4), 0, 2), {}, EXACT),
    ("aten.expand.default", lambda: (u("a", 3, 1), [3, 5]), {}, EXACT),
    ("aten.slice.Tensor", lambda: (u("a", 10, 4), 0, 2, 9, 3), {}, EXACT),
    ("aten.cat.default", lambda: ([u("a", 2, 3), u("b", 4, 3)], 0), {}, EXACT),
    ("aten.split_with_sizes.default", lambda: (u("a", 2, 9), [2, 3, 4], 1), {}, EXACT),
    ("aten.unsqueeze.default", lambda: (u("a", 2, 9), -2), {}, EXACT),
    ("aten.squeeze.dims", lambda: (u("a", 2, 1, 9), [1]), {}, EXACT),
    ("aten.clone.default", lambda: (u("a", 2, 9).t(),), {"memory_format": torch.contiguous_format}, EXACT),
    ("aten._to_copy.default", lambda: (ints("ci", 9, 7),), {"dtype": torch.float32}, EXACT),
    ("aten.full.default", lambda: ([3, 3], True), {"dtype": torch.bool}, EXACT),
    ("aten.full_like.default", lambda: (u("a", 2, 9), 0), {}, EXACT),
    ("aten.arange.start_step", lambda: (0, 32), {}, EXACT),
    ("aten.arange.start_step", lambda: (0.5, 3.0, 0.25), {}, EXACT),
    ("aten.scalar_tensor.default", lambda: (-math.inf,), {"dtype": torch.float32}, EXACT),
    ("aten.nll_loss_forward.default", lambda: (u("nl", 8, 5), ints("nt", 5, 8), None, 1, -100), {},
     (1e-6, 1e-7)),
    ("aten.nll_loss_backward.default", lambda: (torch.tensor(0.7), u("nl", 8, 5), ints("nt", 5, 8), None, 1,
                                                -100, torch.tensor(8.0)), {}, (1e-6, 1e-7)),
]


def _ids() -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for name, *_ in CASES:
        seen[name] = seen.get(name, 0) + 1
        out.append(f"{name.removeprefix('aten.')}-{seen[name]}")
    return out


def _native(name: str):
    _, op, overload = name.split(".")
    return getattr(getattr(A, op), overload)


def _flat(out) -> list[torch.Tensor]:
    return [t for t in (list(out) if isinstance(out, (tuple, list)) else [out]) if t is not None]


def run_case(i: int) -> list[torch.Tensor]:
    name, build, kwargs, _ = CASES[i]
    return _flat(KERNELS[name](*build(), **kwargs))


@pytest.mark.parametrize("i", range(len(CASES)), ids=_ids())
def test_kernel_agrees_with_native(i):
    name, build, kwargs, (rtol, atol) = CASES[i]
    args = build()
    ours, ref = _flat(KERNELS[name](*args, **kwargs)), _flat(_native(name)(*args, **kwargs))
    assert len(ours) == len(ref)
    for o, r in zip(ours, ref):
        assert o.shape == r.shape and o.dtype == r.dtype, (o.shape, o.dtype, r.shape, r.dtype)
        if (rtol, atol) == EXACT:
            assert torch.equal(o, r)
        else:
            scale = r.abs().max().item() if r.numel() else 0.0
            torch.testing.assert_close(o, r, rtol=rtol, atol=atol * max(scale, 1.0))


def test_kernels_are_pure():
    x = u("a", 5, 6)
    before = x.clone()
    for name in ["aten.exp.default", "aten.relu.default", "aten.clone.default", "aten.gelu.default"]:
        KERNELS[name](x)
    KERNELS["aten.index_put.default"](x, [torch.tensor([1, 1])], u("v", 2, 6), True)
    assert torch.equal(x, before)


def test_registry_names_are_the_printed_overload_names():
    for name in KERNELS:
        assert str(_native(name)) == name


# every overload in the core-ATen joint graphs of a small CNN (conv/relu/max-pool/linear/cross-entropy) and a
# char-GPT (embeddings, causal SDPA under the MATH backend, LayerNorm, GELU, dropout) exported by torch 2.13
GRAPH_OVERLOADS = [
    "_log_softmax.default", "_softmax.default", "_to_copy.default", "add.Tensor", "addmm.default",
    "alias.default", "any.dim", "arange.start_step", "bitwise_and.Tensor", "bitwise_not.default",
    "bmm.default", "cat.default", "clamp.default", "clone.default", "convolution.default",
    "convolution_backward.default", "div.Tensor", "embedding.default", "eq.Scalar", "erf.default",
    "exp.default", "expand.default", "full.default", "full_like.default", "gather.default", "ge.Scalar",
    "gelu.default", "index_put.default", "le.Scalar", "logical_and.default", "logical_not.default",
    "lt.Scalar", "max_pool2d_with_indices.default", "max_pool2d_with_indices_backward.default",
    "mm.default", "mul.Scalar", "mul.Tensor", "native_dropout.default", "native_layer_norm.default",
    "ne.Scalar", "neg.default", "permute.default", "relu.default", "scalar_tensor.default",
    "scatter.value", "split_with_sizes.default", "squeeze.dims", "sub.Tensor", "sum.dim_IntList",
    "tanh.default", "unsqueeze.default", "view.default", "where.self",
]


def test_every_overload_of_the_example_graphs_has_a_kernel():
    missing = [n for n in GRAPH_OVERLOADS if "aten." + n not in KERNELS]
    assert not missing


def test_factories_use_the_run_device_not_the_recorded_one():
    with on_device("meta"):
        assert KERNELS["aten.full.default"]([2], 1.0, device=torch.device("cpu")).device.type == "meta"
        assert KERNELS["aten.arange.start_step"](0, 4, device=torch.device("cpu")).device.type == "meta"
        assert KERNELS["aten.scalar_tensor.default"](0.5, device=torch.device("cpu")).device.type == "meta"
    moved = KERNELS["aten._to_copy.default"](u("a", 3), dtype=torch.float64, device=torch.device("meta"))
    assert moved.device.type == "cpu" and moved.dtype == torch.float64


def test_bad_arguments_give_one_line_errors():
    with pytest.raises(ValueError, match="mm needs 2-D"):
        KERNELS["aten.mm.default"](u("a", 2, 3, 4), u("b", 4, 5))
    with pytest.raises(IndexError, match="embedding: index out of range"):
        KERNELS["aten.embedding.default"](u("w", 4, 3), torch.tensor([4]))
    with pytest.raises(ValueError, match="transposed convolution"):
        KERNELS["aten.convolution.default"](*_conv_args(1, 1)[:6], True, [0, 0], 1)
    with pytest.raises(ValueError, match="random stream"):
        KERNELS["aten.native_dropout.default"](u("a", 4), 0.5, True)
