"""exp, log, tanh, erf, GELU from correctly rounded float64 ops: fixed range reduction, fixed polynomials, one final rounding.

torch.exp/tanh/erf are not correctly rounded and differ between CPU (Sleef/SVML), CUDA (libdevice) and vector
widths. Here each function is a fixed sequence of float64 + − × ÷ (each correctly rounded on every IEEE
device, one kernel per op so nothing is contracted into an FMA), exact bit manipulation and integer ops,
and exact selections, then rounded once to float32 — within 1 ulp of the true value (almost always the
correctly rounded one) and identical everywhere. The cost is the number of passes over the data, so each
function is written for few passes (in-place ops on buffers it owns, no gathers on the common path).

Float64 error bounds (checked against mpmath in tests/unit/test_aten_exact.py and test_repops.py):
exp64 < 1e-12 relative on [-700, 700]; erf64 < 2e-10 absolute, and relative near 0 (its polynomial's
constant term is 2/sqrt(pi) rounded once); log64 < 2e-13 absolute (1e-14 relative near 1); tanh64 < 2e-12
relative. Every polynomial coefficient is computed once by mpmath (software arithmetic, 30 digits) and rounded
to float64: the same constants on every machine, no libm involved.
"""

from __future__ import annotations

import functools
import math
import struct

import numpy as np
import torch
from torch import Tensor

from verde.repops import compiled

_INV_LN2 = 1.4426950408889634
_LN2 = 0.6931471805599453
# s = x / ln2 + _EXP_SHIFT rounds x / ln2 to an integer k (s = 1.5 * 2**52 + 1024 + k, ulp 1), so s - _EXP_SHIFT is
# k exactly and the low 12 bits of s's bit pattern are k + 1024: shifted left by 52 they are the bits of 2**(k + 1).
_EXP_SHIFT = 1.5 * 2.0**52 + 1024.0
# exp(r) = (R + r) / (R - r) = 1 + 2 r / (R - r) with R(r^2) = r coth(r / 2) (even in r), for |r| <= ln2 / 2:
# R is mpmath's Chebyshev fit in z = r^2 on [0, 0.1202] (> (ln2/2)^2) with 4 coefficients, error < 3e-12,
# which moves exp(r) by < 2 |r| / R^2 * 3e-12 < 6e-13 relative.
_EXP_R_ZMAX = 0.1202
_EXP_R_TERMS = 4
# the bit pattern of sqrt(2)/2 (the lower end of log's mantissa range) as an int64
_SQRT1_2_BITS = struct.unpack("<q", struct.pack("<d", 0.7071067811865476))[0]
# log(m) = 2 atanh(s), s = (m - 1)/(m + 1), |s| <= 3 - 2 sqrt 2: 2 s P(s^2) with P mpmath's Chebyshev fit of
# atanh(sqrt z)/sqrt z on z in [0, 0.0295] (7 coefficients, error < 2e-16), doubled (exactly) for the 2.
_LOG_ZMAX = 0.0295
_LOG_TERMS = 7
_GELU_C = math.sqrt(2.0 / math.pi)
_GELU_A = 0.044715


def _mp():
    import mpmath

    ctx = mpmath.mp.clone()
    ctx.dps = 30
    return ctx


@functools.cache
def _exp_coefficients() -> tuple[float, ...]:
    """R's coefficients (see _EXP_R_ZMAX), lowest degree first."""
    ctx = _mp()

    def rcoth(z):
        return ctx.sqrt(z) / ctx.tanh(ctx.sqrt(z) / 2) if z > 0 else ctx.mpf(2)

    coeffs = ctx.chebyfit(rcoth, [0, ctx.mpf(_EXP_R_ZMAX)], _EXP_R_TERMS)
    return tuple(float(c) for c in reversed(coeffs))


@functools.cache
def _log_coefficients() -> tuple[float, ...]:
    """2 P's coefficients (see _LOG_ZMAX), lowest degree first."""
    ctx = _mp()

    def atanh_ratio(z):
        return ctx.atanh(ctx.sqrt(z)) / ctx.sqrt(z) if z > 0 else ctx.mpf(1)

    coeffs = ctx.chebyfit(atanh_ratio, [0, ctx.mpf(_LOG_ZMAX)], _LOG_TERMS)
    return tuple(2.0 * float(c) for c in reversed(coeffs))


def _horner(coeffs: tuple[float, ...] | list[float], z: Tensor) -> Tensor:
    """sum_i coeffs[i] z**i by Horner's rule (one mul and one add kernel per step, no FMA), len(coeffs) >= 2.

    On the CPU the same multiplications and additions run as numpy ufuncs into one buffer (the same IEEE
    operations in the same order, so the same bits; a numpy call costs a third of an ATen one, and erf's
    polynomial is 20-odd of them)."""
    if _numpy_ok(z):
        return _horner_np(coeffs, z)
    # the first step as z * c_n (no filled buffer): the same correctly rounded product as c_n * z
    acc = torch.mul(z, coeffs[-1]).add_(coeffs[-2])
    for c in reversed(coeffs[:-2]):
        acc.mul_(z).add_(c)
    return acc


@np.errstate(all="ignore")  # NaN and overflow propagate as in ATen, without numpy's warnings
def _horner_np(coeffs: tuple[float, ...] | list[float], z: Tensor) -> Tensor:
    """_horner's operations as numpy ufuncs (CPU)."""
    zn = z.numpy()
    acc = np.multiply(zn, coeffs[-1], out=np.empty_like(zn))  # (out=: a 0-dim array stays an array)
    np.add(acc, coeffs[-2], out=acc)
    for c in reversed(coeffs[:-2]):
        np.multiply(acc, zn, out=acc)
        np.add(acc, c, out=acc)
    return torch.from_numpy(acc)


def _exp_reduced(t: Tensor) -> tuple[Tensor, Tensor]:
    """(q, p) for float64 t in [-700, 700] (a tensor the caller owns; it is overwritten): e**t = (1/2 + q) p and
    e**t - 1 = 2 q 2**k + (2**k - 1), with p = 2**(k + 1), k = round(t / ln2), r = t - k ln2,
    q = r / (R(r^2) - r) = (e**r - 1) / 2.

    k ln2 is one rounded product (|k| <= 1010: error <= 2**-53 * 700 + |k| * 2.3e-17 < 9e-14) and t - k ln2 is
    exact (Sterbenz), so r is within 9e-14 of x - k ln2: exp's relative error from the reduction is < 1e-13."""
    if _numpy_ok(t):
        return _exp_reduced_np(t)
    s = torch.mul(t, _INV_LN2).add_(_EXP_SHIFT)
    r = torch.sub(s, _EXP_SHIFT).mul_(-_LN2).add_(t)
    z = torch.mul(r, r, out=t)
    den = _horner(_exp_coefficients(), z).sub_(r)
    # NaN: s is NaN, its shifted bits are some float and q is NaN, so the result is NaN whatever p is
    p = s.view(torch.int64).bitwise_left_shift_(52).view(torch.float64)
    return r.div_(den), p


def _numpy_ok(t: Tensor) -> bool:
    """A plain float64 CPU tensor: its elementwise programs may run as numpy ufuncs (the same IEEE operations in
    the same order, so the same bits, at a third of an ATen call's fixed cost)."""
    return t.device.type == "cpu" and t.dtype == torch.float64 and not t.requires_grad and type(t) is Tensor


@np.errstate(all="ignore")  # NaN in: NaN through every step, as in ATen, without numpy's warnings
def _exp_reduced_np(t: Tensor) -> tuple[Tensor, Tensor]:
    """_exp_reduced's operations as numpy ufuncs (CPU)."""
    tn = t.numpy()
    s = np.multiply(tn, _INV_LN2, out=np.empty_like(tn))
    np.add(s, _EXP_SHIFT, out=s)
    r = np.subtract(s, _EXP_SHIFT, out=np.empty_like(tn))
    np.multiply(r, -_LN2, out=r)
    np.add(r, tn, out=r)
    np.multiply(r, r, out=tn)
    den = _horner(_exp_coefficients(), t).numpy()
    np.subtract(den, r, out=den)
    p = s.view(np.int64)
    np.left_shift(p, 52, out=p)
    np.divide(r, den, out=r)
    return torch.from_numpy(r), torch.from_numpy(p.view(np.float64))


def exp64_(t: Tensor) -> Tensor:
    """exp64 in place: e**t for a float64 tensor the caller owns (overwritten, and returned; one pass and one
    allocation fewer than exp64)."""
    if t.dtype == torch.float64 and compiled.exp(t, _exp_coefficients(), out=t) is not None:
        return t
    q, p = _exp_reduced(t.clamp_(-700.0, 700.0))
    return q.add_(0.5).mul_(p)


def exp64(x: Tensor) -> Tensor:
    """e**x for float64 x (relative error < 1e-12), x clamped to [-700, 700]: e**x = 2**k e**r, |r| <= ln2/2,
    e**r = (R + r)/(R - r) with a 4-term even R (see _exp_reduced); 2**k from the bits of the rounding shift."""
    fast = compiled.exp(x, _exp_coefficients()) if x.dtype == torch.float64 else None
    if fast is not None:
        return fast
    q, p = _exp_reduced(x.clamp(-700.0, 700.0))
    return q.add_(0.5).mul_(p)


def _expm1_64_(t: Tensor) -> Tensor:
    """e**t - 1 for a float64 tensor the caller owns (overwritten), relatively accurate near 0 (= 2 q there)."""
    q, p = _exp_reduced(t.clamp_(-700.0, 700.0))
    q.mul_(p)  # 2 q 2**k
    return q.add_(p.mul_(0.5).sub_(1.0))  # + (2**k - 1), exact for the k where it matters (|k| <= 53)


def log64(x: Tensor) -> Tensor:
    """Natural log of float64 x (> 0, finite, normal; absolute error < 2e-13): x = m 2**e with m in
    [sqrt(2)/2, sqrt 2) taken from the bits (x's bits minus sqrt(2)/2's split into exponent and mantissa
    parts), log m = 2 atanh(s), s = (m - 1)/(m + 1)."""
    off = _SQRT1_2_BITS
    d = x.view(torch.int64) - off
    e = (d >> 52).to(torch.float64)
    m = d.bitwise_and_((1 << 52) - 1).add_(off).view(torch.float64)
    s = (m - 1.0).div_(m.add_(1.0))
    series = _horner(_log_coefficients(), torch.mul(s, s, out=m)).mul_(s)
    return series.add_(e.mul_(_LN2))


def exp(x: Tensor) -> Tensor:
    """e**x, float32 in and out (inf above ~88.7, 0 below ~-103.9)."""
    fast = compiled.exp(x, _exp_coefficients()) if x.dtype == torch.float32 else None
    if fast is not None:  # the same program in one loop
        return fast
    return exp64_(x.to(torch.float64, copy=True)).to(torch.float32)  # (copy: never overwrite a float64 x)


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
    """tanh of float64 x as E / (-2 - E), E = e**(-2x) - 1 (relatively accurate near 0, so no small-x branch;
    E is at most e**700 - 1 for x <= -350, so no inf / inf)."""
    e = _expm1_64_(x * -2.0)
    return e.div_(-2.0 - e)


def tanh(x: Tensor) -> Tensor:
    return tanh64(x.to(torch.float64)).to(torch.float32)


def _gelu_parts(x64: Tensor) -> tuple[Tensor, Tensor]:
    """(E, u') with E = e^(-2u), u = c (x + a x^3), u' = c (1 + 3 a x^2)."""
    x2 = x64 * x64
    u = (x2 * _GELU_A).add_(1.0).mul_(x64).mul_(-2.0 * _GELU_C)
    du = x2.mul_(3.0 * _GELU_A).add_(1.0).mul_(_GELU_C)
    return exp64_(u), du


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


# erf(x) = x P(x^2) for |x| < 1.9: P(z) = 2/sqrt(pi) + z Q(z), Q mpmath's Chebyshev fit of (erf(sqrt z)/sqrt z -
# 2/sqrt(pi))/z on z in [0, 1.9^2] with 11 coefficients (erf error < 1.1e-10, far below float32's resolution:
# its ulp is 6e-8 near 1; each coefficient more would cost two passes for ~15x less error, which no float32
# result shows; the constant term is 2/sqrt(pi) rounded once, so erf is relatively accurate near 0). The same
# fit for erf(x/sqrt 2) on |x| < 1.9 sqrt 2 serves Phi and GELU with no pass for the scaling, and halved (exactly) for Phi - 1/2 = erf(x/sqrt 2)/2. Every element takes the polynomial
# on its clamped argument (no selection pass); the elements with |x| >= 1.9 (usually none at all: a max and a min
# decide) are then recomputed from the tail table below.
# 1.9 <= |x| <= 6 uses 65 Taylor polynomials of degree 8 centred at i * 3/32 (|s| <= 3/64 from the centre,
# truncation < 6e-15), evaluated only on those elements (their table look-ups are the expensive part).
# Their coefficients come from the closed form erf^(n) = 2/sqrt(pi) (-1)^(n-1) H_{n-1}(x) e^(-x^2).
# Above 6, erf = 1 to float64 precision.
_ERF_SWITCH = 1.9
_ERF_FIT_TERMS = 12
_ERF_STEP = 3.0 / 32.0
_ERF_PIECES = 65
_ERF_DEGREE = 8


@functools.cache
def _erf_core_coefficients(variance: int = 1) -> tuple[float, ...]:
    """Coefficients of P, lowest degree first, with erf(x / sqrt(variance)) = x P(x^2) for
    |x| < _ERF_SWITCH sqrt(variance)."""
    ctx = _mp()
    v = ctx.mpf(variance)
    c0 = 2 / ctx.sqrt(ctx.pi * v)

    def q(z):
        if z == 0:
            return -2 / (3 * ctx.sqrt(ctx.pi) * v * ctx.sqrt(v))
        return (ctx.erf(ctx.sqrt(z / v)) / ctx.sqrt(z) - c0) / z

    coeffs = ctx.chebyfit(q, [0, v * _ERF_SWITCH**2], _ERF_FIT_TERMS - 1)
    return (float(c0), *(float(c) for c in reversed(coeffs)))


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


@functools.cache
def _erf_half_coefficients() -> tuple[float, ...]:
    """The fit for erf(x / sqrt 2), halved (exactly: every step of the evaluation is exactly halved), for
    Phi(x) - 1/2 = erf(x / sqrt 2) / 2 (GELU)."""
    return tuple(c * 0.5 for c in _erf_core_coefficients(2))


_ERF_TABLES: dict[torch.device, Tensor] = {}


def _erf_table(device: torch.device) -> Tensor:
    """(degree + 1) × pieces: row n holds the n-th Taylor coefficient at each centre."""
    t = _ERF_TABLES.get(device)
    if t is None:
        t = _ERF_TABLES[device] = torch.tensor(_erf_coefficients(), dtype=torch.float64, device=device)
    return t


# the tail table as compiled.erf and friends take it (for the elements past the switch)
_TAIL: compiled.Tail = (lambda: _erf_table(torch.device("cpu")), 1.0 / _ERF_STEP, _ERF_STEP)


def _erf_tail(t: Tensor) -> Tensor:
    """erf of float64 t in [0, inf] from the Taylor table (clamped at 6, where erf is 1 in float64); NaN gives
    NaN (its piece index is taken as 0)."""
    t = t.clamp(max=6.0)
    i = torch.round(t * (1.0 / _ERF_STEP)).nan_to_num_(nan=0.0)
    s = t - i * _ERF_STEP
    idx = i.to(torch.int64)
    table = _erf_table(t.device)  # one 1-D gather per coefficient (a 2-D gather along the pieces costs 3x more)
    acc = table[_ERF_DEGREE].index_select(0, idx)
    for n in range(_ERF_DEGREE - 1, -1, -1):
        acc.mul_(s).add_(table[n].index_select(0, idx))
    return acc


def _clamped_indices(x1: Tensor, xc1: Tensor) -> Tensor:
    """Increasing flat indices of the elements the clamp changed (|x| above the bound, inf, NaN: x - xc != 0).

    nonzero() over the whole mask costs ~0.7 ns an element; it is taken over the mask's 8-byte words instead (any
    flagged element makes its word nonzero) and then exactly over the few words' elements."""
    m = torch.sub(x1, xc1).bool()
    if m.numel() % 8:
        return m.nonzero().squeeze(1)
    words = m.view(torch.int64).nonzero().squeeze(1)
    cand = (words * 8).unsqueeze(1).add(torch.arange(8, device=words.device)).view(-1)
    return cand.index_select(0, m.index_select(0, cand).nonzero().squeeze(1))


def _erf_scaled(x: Tensor, variance: int = 1, half: bool = False) -> Tensor:
    """erf(x / sqrt(variance)) (times 1/2 if half) for float64 x, absolute error < 2e-10; odd by construction.

    The polynomial is evaluated on the signed, clamped x (x P(x^2) is odd, so the sign needs no pass of its
    own). If any |x| passes the switch (a max and a min tell), the elements the clamp changed are gathered by
    flat 1-D indices (N-d advanced indexing costs several times more), evaluated on |x / sqrt(variance)| from
    the table and given x's sign on that subset only (NaN among them: the table gives NaN)."""
    x = x.contiguous()  # (a permuted input: the flat indexing below needs one layout; the result is contiguous)
    coeffs = _erf_half_coefficients() if half and variance == 2 else _erf_core_coefficients(variance)
    if half and variance != 2:
        coeffs = tuple(c * 0.5 for c in coeffs)  # exact: every step of the evaluation is exactly halved
    bound = _ERF_SWITCH * math.sqrt(variance)
    fast = compiled.erf(x, coeffs, bound, _TAIL, 1.0 / math.sqrt(variance), half) if x.dtype == torch.float64 else None
    if fast is not None:  # the same program in one loop (and one more over the elements past the switch)
        return fast
    # (a NaN makes the test false: the clamp and the exact test below are taken)
    inside = x.numel() > 0 and bool(x.amax() < bound) and bool(x.amin() > -bound)
    xc = x if inside else x.clamp(-bound, bound)  # inside, the clamp would change nothing: no buffer for it
    y = _horner(coeffs, xc * xc).mul_(xc)
    if inside or y.numel() == 0:
        return y
    x1, y1 = x.view(-1), y.view(-1)
    where = _clamped_indices(x1, xc.view(-1))
    if where.numel():
        t = x1.index_select(0, where)
        if variance != 1:
            t = t * (1.0 / math.sqrt(variance))
        tail = _erf_tail(t.abs()).copysign_(t)
        y1.index_copy_(0, where, tail.mul_(0.5) if half else tail)
    return y


def erf64(x: Tensor) -> Tensor:
    """erf of float64 x (absolute error < 2e-10, relative near 0)."""
    return _erf_scaled(x)


def erf(x: Tensor) -> Tensor:
    """erf, float32 in and out."""
    fast = compiled.erf(x, _erf_core_coefficients(1), _ERF_SWITCH, _TAIL) if x.dtype == torch.float32 else None
    if fast is not None:  # erf64's program in one loop, rounded once
        return fast
    return erf64(x.to(torch.float64)).to(torch.float32)


def normal_cdf64(x: Tensor) -> Tensor:
    """Phi(x) = 1/2 + erf(x / sqrt 2) / 2 for float64 x (absolute error < 2e-10, so the far lower tail,
    Phi < 1e-10, is only absolutely accurate)."""
    return _erf_scaled(x, 2, half=True).add_(0.5)


def gelu_erf(x: Tensor) -> Tensor:
    """GELU, exact form x * Phi(x) = x (1/2 + erf(x / sqrt 2) / 2) (torch's approximate='none')."""
    fast = compiled.gelu_erf(x, _erf_half_coefficients(), _ERF_SWITCH * math.sqrt(2), _TAIL)
    if fast is not None:  # the same program in one loop
        return fast
    x64 = x.to(torch.float64)
    return _erf_scaled(x64, 2, half=True).add_(0.5).mul_(x64).to(x.dtype)


def gelu_erf_backward(grad: Tensor, x: Tensor) -> Tensor:
    """grad * (Phi(x) + x phi(x)), phi(x) = e^(-x^2/2) / sqrt(2 pi)."""
    fast = compiled.gelu_erf_backward(grad, x, _erf_half_coefficients(), _ERF_SWITCH * math.sqrt(2),
                                      _exp_coefficients(), _TAIL)
    if fast is not None:  # the same program in one loop
        return fast
    x64 = x.to(torch.float64)
    pdf = exp64_(torch.mul(x64, x64).mul_(-0.5)).mul_(x64).mul_(1.0 / math.sqrt(2.0 * math.pi))
    d = pdf.add_(normal_cdf64(x64))
    return d.mul_(grad.to(torch.float64)).to(torch.float32)
