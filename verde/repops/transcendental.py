"""exp, log, tanh, GELU from correctly rounded float64 ops: fixed range reduction, fixed polynomials, one final rounding.

torch.exp/tanh are not correctly rounded and differ between CPU (Sleef/SVML), CUDA (libdevice) and vector
widths. Here each function is a fixed sequence of float64 + − × ÷ (each correctly rounded on every IEEE
device, one kernel per op so nothing is contracted into an FMA) and exact bit manipulation, evaluated to
~1e-13 relative error, then rounded once to float32 — within 1 ulp of the true value (almost always the
correctly rounded one) and identical everywhere.
"""

from __future__ import annotations

import functools
import math

import torch
from torch import Tensor

_INV_LN2 = 1.4426950408889634
# fdlibm's split of ln 2: the high part has 32 significant bits, so k * _LN2_HI is exact for |k| < 2**21.
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_LN2 = 0.6931471805599453
_EXP_TAYLOR = [1.0 / math.factorial(n) for n in range(11)]  # |r| <= ln2/2: truncation < 3e-13
_SQRT2 = 1.4142135623730951
_ATANH_SERIES = [1.0 / (2 * n + 1) for n in range(8)]  # z = s^2 <= 0.0295: truncation < 1e-13
# tanh(x) = x * P(x^2) for |x| < 1/8 (Taylor; truncation < 1e-16 relative there)
_TANH_TAYLOR = [1.0, -1.0 / 3.0, 2.0 / 15.0, -17.0 / 315.0, 62.0 / 2835.0, -1382.0 / 155925.0,
                21844.0 / 6081075.0, -929569.0 / 638512875.0]
_GELU_C = math.sqrt(2.0 / math.pi)
_GELU_A = 0.044715


def _pow2_f64(k: Tensor) -> Tensor:
    """2**k as float64 for int64 k in [-1022, 1023], built from bits (ldexp/pow are not exact everywhere)."""
    return ((k + 1023) << 52).view(torch.float64)


def _horner(coeffs: list[float], x: Tensor) -> Tensor:
    """sum_i coeffs[i] * x**i by Horner's rule, one mul and one add kernel per step (no FMA)."""
    # the first step as x * c_n (no filled buffer): the same correctly rounded product as c_n * x
    acc = torch.mul(x, coeffs[-1]).add_(coeffs[-2])
    for c in reversed(coeffs[:-2]):
        acc.mul_(x).add_(c)
    return acc


def exp64(x: Tensor) -> Tensor:
    """e**x for float64 x: x = k ln2 + r, |r| <= ln2/2, Taylor(r) * 2**k. Clamped to [-700, 700]."""
    x = x.clamp(-700.0, 700.0)
    k = torch.round(x * _INV_LN2)
    r = (x - k * _LN2_HI).sub_(k * _LN2_LO)
    return _horner(_EXP_TAYLOR, r).mul_(_pow2_f64(k.to(torch.int64)))


def log64(x: Tensor) -> Tensor:
    """Natural log of float64 x (> 0, finite, normal): x = m 2**e with m in [1/√2, √2), log m = 2 atanh(s)."""
    bits = x.view(torch.int64)
    e = (bits >> 52) - 1023
    m = ((bits & ((1 << 52) - 1)) | (1023 << 52)).view(torch.float64)
    big = m > _SQRT2
    m = torch.where(big, m * 0.5, m)
    e = e + big.to(torch.int64)
    s = (m - 1.0) / (m + 1.0)
    z = s * s
    series = _horner(_ATANH_SERIES, z)
    return (series.mul_(s).mul_(2.0)).add_(e.to(torch.float64) * _LN2)


def exp(x: Tensor) -> Tensor:
    """e**x, float32 in and out (inf above ~88.7, 0 below ~-103.9)."""
    return exp64(x.to(torch.float64)).to(torch.float32)


def log(x: Tensor) -> Tensor:
    """Natural log, float32 in and out; log(0) = -inf, log(x<0) = nan, log(inf) = inf."""
    x64 = x.to(torch.float64)
    finite_pos = (x64 > 0) & (x64 < math.inf)
    y = log64(torch.where(finite_pos, x64, 1.0))
    y = torch.where(x64 == 0, -math.inf, y)
    y = torch.where(x64 == math.inf, math.inf, y)
    y = torch.where((x64 < 0) | torch.isnan(x64), math.nan, y)
    return y.to(torch.float32)


def tanh64(x: Tensor) -> Tensor:
    """tanh of float64 x: Taylor below |x| = 1/8, (1 - e^-2|x|)/(1 + e^-2|x|) above; sign restored exactly."""
    t = x.abs()
    e = exp64(t * -2.0)
    big = (1.0 - e) / (e + 1.0)
    small = _horner(_TANH_TAYLOR, t * t).mul_(t)
    return torch.copysign(torch.where(t < 0.125, small, big), x)


def tanh(x: Tensor) -> Tensor:
    return tanh64(x.to(torch.float64)).to(torch.float32)


def _gelu_parts(x64: Tensor) -> tuple[Tensor, Tensor]:
    """(E, u') with E = e^(-2u), u = c (x + a x^3), u' = c (1 + 3 a x^2)."""
    x2 = x64 * x64
    u = (x2 * _GELU_A).add_(1.0).mul_(x64).mul_(_GELU_C)
    du = (x2 * (3.0 * _GELU_A)).add_(1.0).mul_(_GELU_C)
    return exp64(u * -2.0), du


def gelu(x: Tensor) -> Tensor:
    """GELU, tanh form: 0.5 x (1 + tanh u) written as x / (1 + e^(-2u)), which has no cancellation."""
    x64 = x.to(torch.float64)
    e, _ = _gelu_parts(x64)
    return (x64 / e.add_(1.0)).to(torch.float32)


def gelu_backward(grad: Tensor, x: Tensor) -> Tensor:
    """grad * d gelu/dx = grad * (s + 2 x u' s (1 - s)), s = 1/(1 + e^(-2u)), 1 - s = e^(-2u) s."""
    x64 = x.to(torch.float64)
    e, du = _gelu_parts(x64)
    s = 1.0 / (e + 1.0)
    d = (e * s).mul_(s).mul_(du).mul_(x64).mul_(2.0).add_(s)
    return (d.mul_(grad.to(torch.float64))).to(torch.float32)


def tanh_backward(grad: Tensor, y: Tensor) -> Tensor:
    """grad * (1 - y^2) given y = tanh(x), in float64, rounded once."""
    y64 = y.to(torch.float64)
    return ((1.0 - y64 * y64).mul_(grad.to(torch.float64))).to(torch.float32)




# erf(x) = x P(x^2) for |x| < 1: P is mpmath's Chebyshev fit of erf(sqrt z)/sqrt z on z in [0, 1] with 11
# coefficients (error < 4e-16), so the bulk of the arguments costs 10 multiply-adds and no table look-up.
# 1 <= |x| <= 6 uses 65 Taylor polynomials of degree 8 centred at i * 3/32 (|s| <= 3/64 from the centre,
# truncation < 6e-15), evaluated only on those elements (their table look-ups are the expensive part).
# Their coefficients come from the closed form erf^(n) = 2/sqrt(pi) (-1)^(n-1) H_{n-1}(x) e^(-x^2).
# Every coefficient is computed once in mpmath's software arithmetic (30 digits) and rounded to float64:
# the same constants on every machine, no libm involved. Above 6, erf = 1 to float64 precision.
_ERF_SWITCH = 1.0
_ERF_FIT_TERMS = 11
_ERF_STEP = 3.0 / 32.0
_ERF_PIECES = 65
_ERF_DEGREE = 8


def _mp():
    import mpmath

    ctx = mpmath.mp.clone()
    ctx.dps = 30
    return ctx


@functools.cache
def _erf_core_coefficients() -> tuple[float, ...]:
    """P's coefficients, lowest degree first."""
    ctx = _mp()
    coeffs = ctx.chebyfit(lambda z: ctx.erf(ctx.sqrt(z)) / ctx.sqrt(z), [0, _ERF_SWITCH**2], _ERF_FIT_TERMS)
    return tuple(float(c) for c in reversed(coeffs))


@functools.cache
def _erf_coefficients() -> tuple[tuple[float, ...], ...]:
    """(degree + 1) rows × pieces: row n holds the n-th Taylor coefficient of erf at each centre."""
    ctx = _mp()
    rows: list[list[float]] = [[] for _ in range(_ERF_DEGREE + 1)]
    for i in range(_ERF_PIECES):
        c = ctx.mpf(3) * i / 32
        herm = [ctx.mpf(1), 2 * c]  # physicists' Hermite polynomials H_0(c), H_1(c), ...
        for n in range(2, _ERF_DEGREE):
            herm.append(2 * c * herm[-1] - 2 * (n - 1) * herm[-2])
        g = 2 / ctx.sqrt(ctx.pi) * ctx.exp(-c * c)
        rows[0].append(float(ctx.erf(c)))
        for n in range(1, _ERF_DEGREE + 1):
            rows[n].append(float(g * (-1) ** (n - 1) * herm[n - 1] / ctx.factorial(n)))
    return tuple(tuple(r) for r in rows)


_ERF_TABLES: dict[torch.device, Tensor] = {}


def _erf_table(device: torch.device) -> Tensor:
    """pieces × (degree + 1): one row of Taylor coefficients per centre, so one gather fetches them all."""
    t = _ERF_TABLES.get(device)
    if t is None:
        t = _ERF_TABLES[device] = torch.tensor(_erf_coefficients(), dtype=torch.float64, device=device).T.contiguous()
    return t


def _erf_tail(t: Tensor) -> Tensor:
    """erf of float64 t in [1, inf) from the Taylor table (clamped at 6, where erf is 1 in float64)."""
    t = t.clamp(max=6.0)
    i = torch.round(t * (1.0 / _ERF_STEP))
    s = t - i * _ERF_STEP
    coeffs = _erf_table(t.device).index_select(0, i.to(torch.int64))  # len(t) × (degree + 1)
    acc = coeffs[:, _ERF_DEGREE].clone()
    for n in range(_ERF_DEGREE - 1, -1, -1):
        acc.mul_(s).add_(coeffs[:, n])
    return acc


def _horner_from(coeffs: tuple[float, ...], z: Tensor) -> Tensor:
    """sum_i coeffs[i] z**i by Horner's rule (one mul and one add kernel per step, no FMA), len(coeffs) >= 2."""
    acc = torch.mul(z, coeffs[-1]).add_(coeffs[-2])
    for c in reversed(coeffs[:-2]):
        acc.mul_(z).add_(c)
    return acc


def erf64(x: Tensor) -> Tensor:
    """erf of float64 x (absolute error < 1e-14, relative below |x| = 1); odd by construction.

    Below |x| = 1 the polynomial is evaluated on the signed, clamped x (x P(x^2) is odd, so the sign needs no
    pass of its own); the few tail elements are gathered by flat 1-D indices (N-d advanced indexing costs
    several times more), evaluated on |x| and given x's sign on that subset only. NaN needs no special case:
    it fails `|x| >= 1`, so it stays in the polynomial, which propagates it."""
    x = x.contiguous()  # (a permuted input: the flat indexing below needs one layout; the result is contiguous)
    xc = x.clamp(-_ERF_SWITCH, _ERF_SWITCH)
    y = _horner_from(_erf_core_coefficients(), xc * xc).mul_(xc)
    x1, y1 = x.view(-1), y.view(-1)
    where = (x1.abs() >= _ERF_SWITCH).nonzero().squeeze(1)
    if where.numel():
        t = x1.index_select(0, where)
        y1.index_copy_(0, where, _erf_tail(t.abs()).copysign_(t))
    return y


def erf(x: Tensor) -> Tensor:
    return erf64(x.to(torch.float64)).to(torch.float32)


def normal_cdf64(x: Tensor) -> Tensor:
    """Phi(x) = (1 + erf(x / sqrt 2)) / 2 for float64 x (absolute error ~1e-15, so the far lower tail,
    Phi < 1e-12, is only absolutely accurate)."""
    return erf64(x * (1.0 / math.sqrt(2.0))).add_(1.0).mul_(0.5)


def gelu_erf(x: Tensor) -> Tensor:
    """GELU, exact form x * Phi(x) = (x / 2) (1 + erf(x / sqrt 2)) (torch's approximate='none')."""
    x64 = x.to(torch.float64)
    return erf64(x64 * (1.0 / math.sqrt(2.0))).add_(1.0).mul_(x64 * 0.5).to(x.dtype)


def gelu_erf_backward(grad: Tensor, x: Tensor) -> Tensor:
    """grad * (Phi(x) + x phi(x)), phi(x) = e^(-x^2/2) / sqrt(2 pi)."""
    x64 = x.to(torch.float64)
    pdf = exp64(x64 * x64 * -0.5).mul_(1.0 / math.sqrt(2.0 * math.pi))
    d = pdf.mul_(x64).add_(normal_cdf64(x64))
    return d.mul_(grad.to(torch.float64)).to(torch.float32)
