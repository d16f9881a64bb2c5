"""The faster rounding helpers the ATen kernels use give exactly the values of the original RepOps ones."""

from __future__ import annotations

import math

import pytest
import torch
from test_aten_kernels import ints, u

from verde.repops import transcendental as T
from verde.repops.matmul import mantissa_bits, quantize
from verde.repops.quantize import quantize_f64
from verde.repops.reduce import exact_sum64, grid_sum64
from verde.repops.transcendental import _erf_coefficients, _erf_core_coefficients, erf64


def _spread(stream: str, *shape: int, binades: int = 40) -> torch.Tensor:
    x = u(stream, *shape) * torch.exp2(ints(stream + "e", 2 * binades + 1, *shape).float() - binades)
    return x.masked_fill(ints(stream + "z", 20, *shape) == 0, 0.0)


@pytest.mark.parametrize("k", [7, 64, 300, 2100])
def test_quantize_f64_equals_matmul_quantize(k):
    x = _spread("q", 37, k)
    x[3] = 0.0  # an all-zero row
    x[5] *= 2.0**-100  # a row of tiny and subnormal values
    x[6] *= 2.0**84  # a row near the float32 maximum (rounded in float64)
    bits = mantissa_bits(k)
    for dim in (0, 1):
        assert torch.equal(quantize_f64(x, dim, bits), quantize(x, dim, bits))


@pytest.mark.parametrize("dim", [0, 1, 2])
def test_grid_sum64_equals_exact_sum64(dim):
    x = _spread("s", 9, 70, 33)
    x[2] = 0.0
    for v in (x, x.double() * x.double()):
        assert torch.equal(grid_sum64(v, dim, keepdim=True), exact_sum64(v.to(torch.float64), dim, keepdim=True))


def test_erf_constants_are_deterministic_and_accurate():
    # the coefficient tables are computed by mpmath (software arithmetic): recomputing gives the same floats
    core, core2, table = _erf_core_coefficients(), _erf_core_coefficients(2), _erf_coefficients()
    _erf_core_coefficients.cache_clear()
    _erf_coefficients.cache_clear()
    assert _erf_core_coefficients() == core and _erf_core_coefficients(2) == core2 and _erf_coefficients() == table
    import mpmath

    # the documented bound: absolute error < 2e-10 (the polynomial below |x| = 1.9, the table above)
    g = torch.Generator().manual_seed(5)
    xs = torch.cat([torch.linspace(-7.0, 7.0, 701, dtype=torch.float64),
                    (torch.rand(3000, generator=g, dtype=torch.float64) - 0.5) * 12,
                    torch.tensor([1.9, -1.9, 1.8999999999999997, 6.0, 40.0], dtype=torch.float64)])
    ref = torch.tensor([float(mpmath.erf(v)) for v in xs.tolist()], dtype=torch.float64)
    assert (erf64(xs) - ref).abs().max().item() < 2e-10
    ref = torch.tensor([float(mpmath.ncdf(v)) for v in xs.tolist()], dtype=torch.float64)
    assert (T.normal_cdf64(xs) - ref).abs().max().item() < 2e-10
    tiny = torch.tensor([1e-30, -3e-9, 2.0**-140], dtype=torch.float64)
    torch.testing.assert_close(erf64(tiny), tiny * (2 / torch.pi**0.5), rtol=1e-15, atol=0)


def test_erf64_any_layout_gives_the_elementwise_values():
    # the tail (|x| >= 1) is gathered by flat indices: a 0-d tensor, a transposed and a
    # strided view must give exactly the values of the same elements laid out contiguously
    x = _spread("erf", 40, 30, binades=3).double()
    flat = erf64(x.reshape(-1))
    assert torch.equal(erf64(x), flat.view(40, 30))
    assert torch.equal(erf64(x.t()), flat.view(40, 30).t())
    assert torch.equal(erf64(x[::3, 1::2]), flat.view(40, 30)[::3, 1::2])
    scalar = erf64(torch.tensor(-2.0, dtype=torch.float64))
    assert scalar.dim() == 0 and scalar.item() == erf64(torch.tensor([-2.0], dtype=torch.float64)).item()
    assert (x.abs() >= 1.9).any() and (x.abs() < 1.9).any()  # both paths taken


def test_exp_log_tanh_constants_are_deterministic_and_within_their_bounds():
    import mpmath

    fits = T._exp_coefficients(), T._log_coefficients()
    T._exp_coefficients.cache_clear()
    T._log_coefficients.cache_clear()
    assert (T._exp_coefficients(), T._log_coefficients()) == fits
    g = torch.Generator().manual_seed(6)
    # exp64: relative error < 1e-12 on its whole range [-700, 700], including the ends of the reduction interval
    xs = torch.cat([torch.linspace(-700.0, 700.0, 2001, dtype=torch.float64),
                    (torch.rand(2000, generator=g, dtype=torch.float64) - 0.5) * 3,
                    torch.tensor([0.0, -1e-300, 1e-20, 0.34657359027997264, -0.34657359027997264, 700.0, -700.0],
                                 dtype=torch.float64)])
    ref = torch.tensor([float(mpmath.exp(v)) for v in xs.tolist()], dtype=torch.float64)
    assert ((T.exp64(xs) - ref).abs() / ref).max().item() < 1e-12
    # log64: absolute error < 2e-13 on positive normal float64 (1 ulp of |log x| ~ 700), relative near 1
    ys = torch.cat([torch.exp2(torch.linspace(-1020.0, 1020.0, 2001, dtype=torch.float64)),
                    torch.rand(2000, generator=g, dtype=torch.float64) * 3 + 1e-3,
                    torch.tensor([1.0, 0.7071067811865475, 0.7071067811865476, 1.4142135623730951, 2.0**-1022],
                                 dtype=torch.float64)])
    ref = torch.tensor([float(mpmath.log(v)) for v in ys.tolist()], dtype=torch.float64)
    assert (T.log64(ys) - ref).abs().max().item() < 2e-13
    near1 = ys[(ys - 1).abs() < 0.25]
    assert ((T.log64(near1) - ref[(ys - 1).abs() < 0.25]).abs() / ref[(ys - 1).abs() < 0.25].abs().clamp(min=1e-300)).max() < 1e-14
    # tanh64: relative error < 2e-12, also for tiny arguments (e**(-2x) - 1 is taken without cancellation)
    ts = torch.cat([torch.linspace(-30.0, 30.0, 2001, dtype=torch.float64),
                    (torch.rand(2000, generator=g, dtype=torch.float64) - 0.5) * 1e-3,
                    torch.tensor([1e-30, -1e-20, 2.0**-1000, 400.0, -400.0, 1e300], dtype=torch.float64)])
    ref = torch.tensor([float(mpmath.tanh(v)) for v in ts.tolist()], dtype=torch.float64)
    assert ((T.tanh64(ts) - ref).abs() / ref.abs()).max().item() < 2e-12


def test_transcendentals_nan_and_inf():
    nan, inf = math.nan, math.inf
    x = torch.tensor([nan, inf, -inf, 0.0, -0.0, 1e300, -1e300], dtype=torch.float64)
    # a NaN with a payload (the CPU keeps payloads, CUDA does not): still NaN out, never a number built from its bits
    x = torch.cat([x, torch.tensor([0x7FF8000000000123, -0x0008000000000123], dtype=torch.int64).view(torch.float64)])
    e, t, f = T.exp64(x), T.tanh64(x), erf64(x)
    assert e[0].isnan() and e[-2:].isnan().all() and e[1].item() == e[5].item() > 1e304 and 0 < e[2].item() < 1e-303
    assert e[3].item() == 1.0 and e[4].item() == 1.0
    assert t[0].isnan() and t[-2:].isnan().all() and t[1:].tolist()[:6] == [1.0, -1.0, 0.0, -0.0, 1.0, -1.0]
    assert f[0].isnan() and f[-2:].isnan().all() and f[1:].tolist()[:6] == [1.0, -1.0, 0.0, -0.0, 1.0, -1.0]
    assert math.copysign(1.0, t[4].item()) == -1.0 and math.copysign(1.0, f[4].item()) == -1.0
    assert T.normal_cdf64(x)[1:3].tolist() == [1.0, 0.0] and T.normal_cdf64(x)[0].isnan()
