"""The faster rounding helpers the ATen kernels use give exactly the values of the original RepOps ones."""

from __future__ import annotations

import pytest
import torch
from test_aten_kernels import ints, u

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
    core, table = _erf_core_coefficients(), _erf_coefficients()
    _erf_core_coefficients.cache_clear()
    _erf_coefficients.cache_clear()
    assert _erf_core_coefficients() == core and _erf_coefficients() == table
    import mpmath

    xs = torch.linspace(-7.0, 7.0, 701, dtype=torch.float64)
    ref = torch.tensor([float(mpmath.erf(v)) for v in xs.tolist()], dtype=torch.float64)
    assert (erf64(xs) - ref).abs().max().item() < 1e-14
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
    assert (x.abs() >= 1).any() and (x.abs() < 1).any()  # both paths taken
