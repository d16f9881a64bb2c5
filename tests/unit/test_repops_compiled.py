"""The compiled RepOps loops (verde/repops/compiled.py) give the bits of their Python definitions.

Every function is run twice on the same inputs, once with the compiled loops and once with
``compiled.ENABLED`` off (the ATen/numpy programs, which CUDA runs too), and the results are compared bit for
bit: random data at several scales, and the awkward values (±0, subnormals, the float32 extremes, values at
and beyond erf's switch, inf, NaN). NaN results are compared as NaN positions (which NaN pattern x86 or CUDA
produces is not part of the trace rules).
"""

from __future__ import annotations

import math
import os
import shutil

import pytest
import torch

from verde.repops import compiled
from verde.repops import transcendental as T
from verde.repops.aten import KERNELS
from verde.repops.quantize import quantize_f64
from verde.repops.reduce import grid_sum64

# Skipped only where the loops cannot be built (no C compiler) or are switched off (VERDE_COMPILED=0). Where a
# compiler is, a build that quietly failed (the extension is optional) fails here instead of being skipped.
pytestmark = pytest.mark.skipif(os.environ.get("VERDE_COMPILED") == "0" or shutil.which("cc") is None,
                                reason="no C compiler for the compiled RepOps loops, or VERDE_COMPILED=0")

F32_MAX = 3.4028234663852886e38
SPECIAL = [0.0, -0.0, 1e-45, -1e-45, 1.17e-38, -1.17e-38, 1e-30, 1.0, -1.0, 1.9, -1.9, 1.9 * math.sqrt(2),
           2.6870057, 2.6870058, 5.9, 6.1, 30.0, -30.0, 88.7, 89.0, -103.9, -110.0, 700.0, 1e10, -1e30, F32_MAX,
           -F32_MAX, math.inf, -math.inf, math.nan]


def test_the_loops_are_built_where_a_compiler_is() -> None:
    assert compiled.BUILT and compiled.ENABLED, "pip built no verde.repops._compiled on a machine with a C compiler"


def _python(fn, *args):
    saved = compiled.ENABLED
    compiled.ENABLED = False
    try:
        return fn(*args)
    finally:
        compiled.ENABLED = saved


def _assert_same_bits(fast: torch.Tensor, ref: torch.Tensor) -> None:
    assert fast.dtype == ref.dtype and fast.shape == ref.shape  # (strides may differ: values are compared)
    nan_f, nan_r = torch.isnan(fast), torch.isnan(ref)
    assert torch.equal(nan_f, nan_r), "NaN in different places"
    ints = {torch.float32: torch.int32, torch.float64: torch.int64}[fast.dtype]
    keep = ~nan_f
    same = fast.view(ints)[keep] == ref.view(ints)[keep]
    assert bool(same.all()), (f"{int((~same).sum())} of {int(keep.sum())} differ, first: "
                              f"{fast[keep][~same][:3].tolist()} vs {ref[keep][~same][:3].tolist()}")


def _inputs(dtype: torch.dtype, scales=(1e-3, 0.3, 1.0, 2.0, 8.0, 100.0), n: int = 4099) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(5)
    xs = [torch.randn(n, generator=g, dtype=torch.float64).mul_(s).to(dtype) for s in scales]
    xs.append(torch.tensor(SPECIAL, dtype=torch.float64).to(dtype))
    xs.append(torch.tensor([v for v in SPECIAL if not math.isnan(v)] * 3, dtype=torch.float64).to(dtype))
    return xs


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_exp(dtype) -> None:
    for x in _inputs(dtype, scales=(1e-3, 1.0, 10.0, 100.0, 1000.0)):
        if dtype == torch.float32:
            _assert_same_bits(T.exp(x), _python(T.exp, x))
        _assert_same_bits(T.exp64(x.double()), _python(T.exp64, x.double()))
        _assert_same_bits(T.exp64_(x.double().clone()), _python(T.exp64_, x.double().clone()))


def test_exp64_in_place_writes_its_argument() -> None:
    t = torch.linspace(-5, 5, 101, dtype=torch.float64)
    ref = _python(T.exp64, t)
    out = T.exp64_(t)
    _assert_same_bits(out, ref)
    _assert_same_bits(t, ref)


def test_erf_and_normal_cdf() -> None:
    for x in _inputs(torch.float32):
        _assert_same_bits(T.erf(x), _python(T.erf, x))
        _assert_same_bits(KERNELS["aten.erf.default"](x), _python(KERNELS["aten.erf.default"], x))
        x64 = x.double()
        _assert_same_bits(T.erf64(x64), _python(T.erf64, x64))
        _assert_same_bits(T.normal_cdf64(x64), _python(T.normal_cdf64, x64))


def test_gelu_erf_forward_and_backward() -> None:
    g = torch.Generator().manual_seed(9)
    for x in _inputs(torch.float32):
        grad = torch.randn(x.shape, generator=g)
        _assert_same_bits(T.gelu_erf(x), _python(T.gelu_erf, x))
        _assert_same_bits(T.gelu_erf_backward(grad, x), _python(T.gelu_erf_backward, grad, x))
        gelu = KERNELS["aten.gelu.default"]
        _assert_same_bits(gelu(x), _python(gelu, x))
    x = torch.randn(512, 256, generator=g)  # the char-gpt MLP's shape, a few elements past the switch
    _assert_same_bits(T.gelu_erf(x), _python(T.gelu_erf, x))
    grad = torch.randn(x.shape, generator=g)
    _assert_same_bits(T.gelu_erf_backward(grad, x), _python(T.gelu_erf_backward, grad, x))


def test_elements_past_the_switch_take_the_tail_table() -> None:
    x = torch.tensor([0.5, 3.0, -4.0, math.nan, 1.9, -1.9, 2.7, -2.6870058, 7.0, -math.inf], dtype=torch.float32)
    grad = torch.linspace(-1, 1, x.numel())
    for fn, args in ((T.erf, (x,)), (T.erf64, (x.double(),)), (T.normal_cdf64, (x.double(),)),
                     (T.gelu_erf, (x,)), (T.gelu_erf_backward, (grad, x))):
        _assert_same_bits(fn(*args), _python(fn, *args))
    assert abs(float(T.erf(x)[1]) - math.erf(3.0)) < 1e-7
    assert abs(float(T.gelu_erf(x)[6]) - 2.7 * (1 + math.erf(2.7 / math.sqrt(2))) / 2) < 1e-6


def _layouts(shape: tuple[int, ...], dtype=torch.float32, scale: float = 1.0) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(11)
    x = (torch.randn(shape, generator=g, dtype=torch.float64) * scale).to(dtype)
    out = [x] if x.dim() < 2 else [x, x.transpose(-1, -2)]
    if x.dim() == 3:
        out.append(x.permute(2, 0, 1))
    return out


@pytest.mark.parametrize("shape", [(512, 64), (7, 300), (1, 9), (9, 1), (16, 32, 33), (64, 1, 16)])
@pytest.mark.parametrize("bits", [20, 21, 22])
def test_quantize_f64(shape, bits) -> None:
    for scale in (1e-30, 1.0, 1e20):
        for x in _layouts(shape, scale=scale):
            for dim in range(x.dim()):
                _assert_same_bits(quantize_f64(x, dim, bits), _python(quantize_f64, x, dim, bits))


def test_quantize_f64_awkward_values() -> None:
    specials = torch.tensor(SPECIAL, dtype=torch.float32)
    x = torch.randn(30, 30)
    x[3] = specials  # a row with inf / NaN / the extremes
    x[:, 5] = specials  # and a column
    x[7] = 0.0
    x[8] = -0.0
    x[9] = 1e-45 * torch.arange(30)  # subnormal maxima
    x[10, 10] = 2.0 ** 125  # a maximum whose float32 rounding constant would overflow
    for t in (x, x.t()):
        for dim in (0, 1):
            _assert_same_bits(quantize_f64(t, dim, 21), _python(quantize_f64, t, dim, 21))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", [(512, 256), (35,), (3, 1000, 2), (64, 32, 32), (1, 5), (5, 1)])
def test_grid_sum64(dtype, shape) -> None:
    for scale in (1e-20, 1.0, 1e15):
        x = _layouts(shape, dtype, scale)[0]
        for dim in range(x.dim()):
            for keepdim in (False, True):
                _assert_same_bits(grid_sum64(x, dim, keepdim), _python(grid_sum64, x, dim, keepdim))


def test_grid_sum64_awkward_values() -> None:
    specials = torch.tensor(SPECIAL, dtype=torch.float32)
    x = torch.randn(30, 30)
    x[3] = specials
    x[:, 5] = specials
    x[7] = -0.0
    x[9] = 1e-45 * torch.arange(30)
    for t in (x, x.double()):
        for dim in (0, 1):
            _assert_same_bits(grid_sum64(t, dim), _python(grid_sum64, t, dim))


def test_non_plain_tensors_take_the_python_path() -> None:
    x = torch.randn(8, 8)
    assert compiled.exp(x[:, ::2], (1.0, 2.0)) is None  # not contiguous
    assert compiled.exp(x.requires_grad_(), (1.0, 2.0)) is None
    assert compiled.quantize_f64(torch.randn(4, 4).expand(3, 4, 4), 1, 21) is None  # not dense
    assert compiled.grid_sum64(torch.randn(4, 4).t(), 0, False, 40) is None
    assert compiled.grid_sum64(torch.zeros(0, 4), 0, False, 40) is None


# ---- the same bits at every ISA level the build vectorizes for --------------------------------------------

# (haswell: AVX2 with FMA, which -ffp-contract=off keeps out of every multiply-add)
ISA_BUILDS = {"scalar -O0": ["-O0"], "sse2": ["-O3", "-march=x86-64"], "avx2": ["-O3", "-mavx2"],
              "haswell": ["-O3", "-march=haswell"], "avx512": ["-O3", "-mavx512f", "-mfma"]}


def _build(tmp_path, name: str, flags: list[str]):
    """compiled.c built with `flags` only (no per-ISA clones), loaded as its own module."""
    import importlib.machinery
    import importlib.util
    import shutil
    import subprocess
    import sysconfig
    from pathlib import Path

    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler on this machine")
    src = Path(compiled.__file__).with_name("csrc") / "compiled.c"
    out = tmp_path / name.replace(" ", "_") / "_compiled.so"
    out.parent.mkdir()
    subprocess.run([cc, *flags, "-ffp-contract=off", "-fno-fast-math", "-fno-trapping-math", "-fno-math-errno",
                    "-fPIC", "-shared",
                    "-DVERDE_NO_CLONES", f"-I{sysconfig.get_paths()['include']}", str(src), "-o", str(out)],
                   check=True, capture_output=True, timeout=120)
    loader = importlib.machinery.ExtensionFileLoader("_compiled", str(out))
    spec = importlib.util.spec_from_file_location("_compiled", str(out), loader=loader)
    assert spec is not None
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


def _all_outputs() -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(21)
    out: list[torch.Tensor] = []
    for x in _inputs(torch.float32, scales=(0.5, 3.0, 100.0), n=1031):
        grad = torch.randn(x.shape, generator=g)
        out += [T.exp(x), T.exp64(x.double()), T.erf(x), T.erf64(x.double()), T.gelu_erf(x),
                T.gelu_erf_backward(grad, x)]
    for x in _layouts((33, 70), scale=3.0) + _layouts((8, 17, 5)):
        for dim in range(x.dim()):
            out += [quantize_f64(x, dim, 21), grid_sum64(x.contiguous(), dim), grid_sum64(x.double().contiguous(), dim)]
    x = torch.randn(40, 70, generator=g) * 3.0
    x[3, ::3] = -math.inf
    w, b = torch.randn(70, generator=g), torch.randn(70, generator=g)
    out += list(KERNELS["aten.native_layer_norm.default"](x, [70], w, b, 1e-5))
    out += [KERNELS["aten._softmax.default"](x, 1), KERNELS["aten._log_softmax.default"](x, 1)]
    return out


def test_same_bits_at_every_isa_level(tmp_path, monkeypatch) -> None:
    reference = _python(_all_outputs)
    has_avx512 = torch.backends.cpu.get_cpu_capability() == "AVX512"
    for name, flags in ISA_BUILDS.items():
        if name == "avx512" and not has_avx512:
            continue
        monkeypatch.setattr(compiled, "_lib", _build(tmp_path, name, flags))
        for fast, ref in zip(_all_outputs(), reference, strict=True):
            _assert_same_bits(fast, ref)


@pytest.mark.parametrize("shape", [(512, 64), (16, 32, 64), (3, 7), (5, 1), (64, 32, 32)])
def test_layer_norm_and_softmax_rows(shape) -> None:
    g = torch.Generator().manual_seed(31)
    ln, sm, lsm = (KERNELS[k] for k in ("aten.native_layer_norm.default", "aten._softmax.default",
                                       "aten._log_softmax.default"))
    for scale in (1e-20, 1.0, 50.0, 1e20):
        x = torch.randn(shape, generator=g) * scale
        n = shape[-1]
        w, b = torch.randn(n, generator=g), torch.randn(n, generator=g)
        for args in ((x, [n], w, b, 1e-5), (x, [n], None, None, 1e-5), (x, [n], w, None, 0.0)):
            for fast, ref in zip(ln(*args), _python(ln, *args), strict=True):
                _assert_same_bits(fast, ref)
        _assert_same_bits(sm(x, -1), _python(sm, x, -1))
        _assert_same_bits(lsm(x, -1), _python(lsm, x, -1))


def test_rows_with_awkward_values() -> None:
    specials = torch.tensor(SPECIAL, dtype=torch.float32)
    x = torch.randn(6, specials.numel())
    x[0] = specials
    x[1] = -math.inf  # a fully masked row
    x[2, ::2] = -math.inf  # a causal-mask-like row
    x[3] = 0.0
    x[4] = 1e-45
    ln, sm, lsm = (KERNELS[k] for k in ("aten.native_layer_norm.default", "aten._softmax.default",
                                       "aten._log_softmax.default"))
    n = x.shape[1]
    for fast, ref in zip(ln(x, [n], None, None, 1e-5), _python(ln, x, [n], None, None, 1e-5), strict=True):
        _assert_same_bits(fast, ref)
    _assert_same_bits(sm(x, 1), _python(sm, x, 1))
    _assert_same_bits(lsm(x, 1), _python(lsm, x, 1))
