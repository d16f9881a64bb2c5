"""exp, log, tanh, GELU from correctly rounded float64 ops: fixed range reduction, fixed polynomials, one final rounding.

torch.exp/tanh are not correctly rounded and differ between CPU (Sleef/SVML), CUDA (libdevice) and vector
widths. Here each function is a fixed sequence of float64 + − × ÷ (each correctly rounded on every IEEE
device, one kernel per op so nothing is contracted into an FMA) and exact bit manipulation, evaluated to
~1e-13 relative error, then rounded once to float32 — within 1 ulp of the true value (almost always the
correctly rounded one) and identical everywhere.
"""

from __future__ import annotations

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
    acc = torch.full_like(x, coeffs[-1])
    for c in reversed(coeffs[:-1]):
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



# erf(t) = 2/sqrt(pi) * sum_n (-1)^n t^(2n+1) / (n! (2n+1)), used for |t| < 2 (z = t^2 < 4: 32 terms leave a
# truncation below 1e-17; the largest term is ~1.5, so cancellation costs under one digit).
_ERF_SWITCH = 2.0
_ERF_TAYLOR = [(-1.0) ** n / (math.factorial(n) * (2 * n + 1)) * (2.0 / math.sqrt(math.pi)) for n in range(32)]
# erfc(t) = e^(-t^2)/sqrt(pi) / (t + (1/2)/(t + 1/(t + (3/2)/(t + ...)))) for t >= 2: 48 levels of the
# continued fraction, evaluated bottom-up (a fixed sequence), give ~5e-16 relative error at t = 2.
_ERFC_CF_TERMS = 48
_INV_SQRT_PI = 1.0 / math.sqrt(math.pi)


def _erf_small(t: Tensor) -> Tensor:
    return _horner(_ERF_TAYLOR, t * t).mul_(t)


def _erfc_large(t: Tensor) -> Tensor:
    f = t.clone()
    for k in range(_ERFC_CF_TERMS, 0, -1):
        f = torch.div(k * 0.5, f).add_(t)
    return exp64(t * t * -1.0).mul_(_INV_SQRT_PI).div_(f)


def _split(t: Tensor, small, large) -> Tensor:
    """small(t) where t < 2, large(t) elsewhere, each evaluated only on its own elements."""
    out = torch.empty_like(t)
    lo = t < _ERF_SWITCH
    out[lo] = small(t[lo])
    hi = ~lo
    out[hi] = large(t[hi])
    return out


def erfc64_pos(t: Tensor) -> Tensor:
    """erfc(t) for float64 t >= 0 (relative error ~1e-13 everywhere, also deep in the tail)."""
    return _split(t.clamp(max=27.0), lambda s: 1.0 - _erf_small(s), _erfc_large)


def erf64(x: Tensor) -> Tensor:
    """erf of float64 x: Taylor series below |x| = 2, 1 - erfc (continued fraction) above; odd by construction."""
    t = x.abs().clamp_(max=27.0)
    y = _split(t, _erf_small, lambda s: 1.0 - _erfc_large(s))
    return torch.copysign(y, x)


def erf(x: Tensor) -> Tensor:
    return erf64(x.to(torch.float64)).to(torch.float32)


def normal_cdf64(x: Tensor) -> Tensor:
    """Phi(x) = erfc(-x / sqrt 2) / 2 for float64 x, accurate in relative terms in the lower tail too."""
    u = x * (1.0 / math.sqrt(2.0))
    pos = 0.5 * (1.0 + erf64(u))
    neg = 0.5 * erfc64_pos(u.neg().clamp_(min=0.0))
    return torch.where(u >= 0, pos, neg)


def gelu_erf(x: Tensor) -> Tensor:
    """GELU, exact form x * Phi(x) (torch's approximate='none')."""
    x64 = x.to(torch.float64)
    return (x64 * normal_cdf64(x64)).to(torch.float32)


def gelu_erf_backward(grad: Tensor, x: Tensor) -> Tensor:
    """grad * (Phi(x) + x phi(x)), phi(x) = e^(-x^2/2) / sqrt(2 pi)."""
    x64 = x.to(torch.float64)
    pdf = exp64(x64 * x64 * -0.5).mul_(1.0 / math.sqrt(2.0 * math.pi))
    d = pdf.mul_(x64).add_(normal_cdf64(x64))
    return d.mul_(grad.to(torch.float64)).to(torch.float32)
