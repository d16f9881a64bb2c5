"""Elementwise kernels: IEEE correctly rounded + − × ÷ (and exact selections/comparisons) or float64 programs.

Rules (verde/repops/__init__.py): a Python scalar operand is rounded to the tensor's float format first; a
division divides by a tensor on the dividend's device (CUDA turns division by a host scalar into a
multiplication by its reciprocal); `alpha=` is applied as its own multiplication, never fused into the add;
transcendentals (exp, log, tanh, erf, sigmoid, GELU, pow with a non-integer exponent) are the fixed float64
polynomials of verde.repops.transcendental, rounded once. Integer and boolean arithmetic is exact natively.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from verde.repops import transcendental as T
from verde.repops.aten.registry import kernel
from verde.repops.elementwise import f32 as _f32
from verde.repops.elementwise import relu as _relu
from verde.repops.elementwise import sqrt as _sqrt

_F32_MAX = 3.4028234663852886e38


def _local(x: Tensor, other):
    """other on x's device: a 0-dim host tensor would otherwise be a 'CPU scalar' with its own CUDA kernels.
    (Exported graphs also pass Python numbers to .Tensor overloads; those are rounded like scalars.)"""
    if not isinstance(other, Tensor):
        return _scalar(x, other)
    return other if other.device == x.device else other.to(x.device)


def _lhs(x, other) -> Tensor:
    """x as a tensor: exported graphs also put Python numbers first (`sub.Tensor(1, y)` for 1 - y). The number
    becomes a 0-dim tensor on other's device, in other's dtype when that is a float (ATen's promotion)."""
    if isinstance(x, Tensor):
        return x
    if isinstance(other, Tensor) and other.is_floating_point():
        return torch.full((), _scalar(other, x), dtype=other.dtype, device=other.device)
    dtype = torch.bool if isinstance(x, bool) else torch.int64 if isinstance(x, int) else torch.float32
    return torch.full((), x, dtype=dtype, device=other.device if isinstance(other, Tensor) else None)


def _scalar(x: Tensor, c):
    """A Python scalar as the tensor op will see it: rounded to float32 for float32 tensors (bools/ints kept)."""
    if isinstance(c, bool) or not isinstance(c, float):
        return c
    if x.dtype == torch.float32 or not x.is_floating_point():
        return _f32(c) if abs(c) <= _F32_MAX or math.isinf(c) else c
    return c


def _scaled(x: Tensor, other, alpha) -> Tensor | float:
    if alpha == 1:
        return other
    if isinstance(other, Tensor):
        return torch.mul(_local(x, other), _scalar(other, alpha))
    return _scalar(x, other * alpha)


def _is_float(x: Tensor) -> bool:
    return x.is_floating_point()


@kernel("aten.add.Tensor")
def add(x: Tensor, other: Tensor, *, alpha=1) -> Tensor:
    """x + alpha * other (the product rounded on its own first)."""
    x = _lhs(x, other)
    return torch.add(x, _local(x, _scaled(x, other, alpha)))


@kernel("aten.add.Scalar")
def add_scalar(x: Tensor, other, alpha=1) -> Tensor:
    return torch.add(x, _scalar(x, other * alpha))


@kernel("aten.sub.Tensor")
def sub(x: Tensor, other: Tensor, *, alpha=1) -> Tensor:
    x = _lhs(x, other)
    return torch.sub(x, _local(x, _scaled(x, other, alpha)))


@kernel("aten.sub.Scalar")
def sub_scalar(x: Tensor, other, alpha=1) -> Tensor:
    return torch.sub(x, _scalar(x, other * alpha))


@kernel("aten.rsub.Scalar")
def rsub_scalar(x: Tensor, other, alpha=1) -> Tensor:
    """other - alpha * x."""
    return torch.sub(_scalar(x, other), _scaled(x, x, alpha))


@kernel("aten.rsub.Tensor")
def rsub(x: Tensor, other: Tensor, *, alpha=1) -> Tensor:
    x = _lhs(x, other)
    return torch.sub(_local(x, other), _scaled(x, x, alpha))


@kernel("aten.mul.Tensor")
def mul(x: Tensor, other: Tensor) -> Tensor:
    x = _lhs(x, other)
    return torch.mul(x, _local(x, other))


# For two tensors on one device the kernels above are exactly these torch ops (`_lhs` and `_local` pass
# tensors through; alpha is a keyword, absent here): the interpreter binds them directly on the CPU.
SAME_DEVICE_BINARY = {"aten.mul.Tensor": torch.mul, "aten.add.Tensor": torch.add, "aten.sub.Tensor": torch.sub}


@kernel("aten.mul.Scalar")
def mul_scalar(x: Tensor, other) -> Tensor:
    return torch.mul(x, _scalar(x, other))


def _true_div(x: Tensor, other: Tensor) -> Tensor:
    return torch.div(x, _local(x, other))


@kernel("aten.div.Tensor")
def div(x: Tensor, other: Tensor) -> Tensor:
    """x / other, IEEE true division (integers promote to float32 first, as in ATen)."""
    x = _lhs(x, other)
    return _true_div(x, other)


@kernel("aten.div.Scalar")
def div_scalar(x: Tensor, other) -> Tensor:
    dt = x.dtype if _is_float(x) else torch.get_default_dtype()
    return torch.div(x.to(dt), torch.full((), _scalar(x.to(dt), other), dtype=dt, device=x.device))


@kernel("aten.div.Tensor_mode")
def div_mode(x: Tensor, other: Tensor, *, rounding_mode: str | None = None) -> Tensor:
    """Division then 'trunc'/'floor' of the correctly rounded quotient (exact for integers)."""
    x = _lhs(x, other)
    other = _local(x, other)
    if rounding_mode is None:
        return torch.div(x, other)
    if not _is_float(x) and not _is_float(other):
        return torch.div(x, other, rounding_mode=rounding_mode)
    q = torch.div(x, other)
    if rounding_mode == "trunc":
        return torch.trunc(q)
    if rounding_mode == "floor":
        return torch.floor(q)
    raise ValueError(f"div rounding_mode must be None, 'trunc' or 'floor', got {rounding_mode!r}")


@kernel("aten.neg.default")
def neg(x: Tensor) -> Tensor:
    return torch.neg(x)


@kernel("aten.abs.default")
def abs_(x: Tensor) -> Tensor:
    return torch.abs(x)


@kernel("aten.sign.default")
def sign(x: Tensor) -> Tensor:
    return torch.sign(x)


@kernel("aten.floor.default")
def floor(x: Tensor) -> Tensor:
    return torch.floor(x)


@kernel("aten.ceil.default")
def ceil(x: Tensor) -> Tensor:
    return torch.ceil(x)


@kernel("aten.trunc.default")
def trunc(x: Tensor) -> Tensor:
    return torch.trunc(x)


@kernel("aten.round.default")
def round_(x: Tensor) -> Tensor:
    """Round half to even (exact)."""
    return torch.round(x)


@kernel("aten.reciprocal.default")
def reciprocal(x: Tensor) -> Tensor:
    x = _floatify(x)
    return torch.div(torch.ones((), dtype=x.dtype, device=x.device), x)


def _floatify(x: Tensor) -> Tensor:
    return x if _is_float(x) else x.to(torch.get_default_dtype())


def _via64(fn, x: Tensor) -> Tensor:
    """fn evaluated on float64 x, rounded once to x's float dtype."""
    x = _floatify(x)
    return fn(x.to(torch.float64)).to(x.dtype)


@kernel("aten.sqrt.default")
def sqrt(x: Tensor) -> Tensor:
    """Correctly rounded square root (via float64, see verde.repops.elementwise.sqrt)."""
    return _sqrt(_floatify(x))


@kernel("aten.rsqrt.default")
def rsqrt(x: Tensor) -> Tensor:
    """1 / sqrt(x): float64 sqrt and division (each correctly rounded), rounded once."""
    return _via64(lambda v: torch.div(1.0, torch.sqrt(v)), x)


@kernel("aten.exp.default")
def exp(x: Tensor) -> Tensor:
    x = _floatify(x)
    if x.dtype == torch.float32:
        return T.exp(x)
    return T.exp64_(x.to(torch.float64, copy=True)).to(x.dtype)


def _log64(v: Tensor) -> Tensor:
    finite_pos = (v > 0) & (v < math.inf)
    y = T.log64(torch.where(finite_pos, v, 1.0))
    y = torch.where(v == 0, -math.inf, y)
    y = torch.where(v == math.inf, math.inf, y)
    return torch.where((v < 0) | torch.isnan(v), math.nan, y)


@kernel("aten.log.default")
def log(x: Tensor) -> Tensor:
    """Natural log; log(0) = -inf, log(<0) = nan. Subnormal float32 inputs are normal in float64, so exact."""
    return _via64(_log64, x)


@kernel("aten.tanh.default")
def tanh(x: Tensor) -> Tensor:
    return _via64(T.tanh64, x)


@kernel("aten.erf.default")
def erf(x: Tensor) -> Tensor:
    x = _floatify(x)
    if x.dtype == torch.float32:
        return T.erf(x)
    return _via64(T.erf64, x)


def _sigmoid64(v: Tensor) -> Tensor:
    # 1 / (1 + e^-x); exp64 clamps its argument, so huge |x| gives exactly 0 or 1 without inf/inf.
    return torch.div(1.0, T.exp64_(-v).add_(1.0))


@kernel("aten.sigmoid.default")
def sigmoid(x: Tensor) -> Tensor:
    return _via64(_sigmoid64, x)


@kernel("aten.silu.default")
def silu(x: Tensor) -> Tensor:
    """x * sigmoid(x), written x / (1 + e^-x)."""
    return _via64(lambda v: torch.div(v, T.exp64_(-v).add_(1.0)), x)


@kernel("aten.silu_backward.default")
def silu_backward(grad: Tensor, x: Tensor) -> Tensor:
    """grad * s (1 + x (1 - s)), s = sigmoid(x)."""
    x64 = x.to(torch.float64)
    s = _sigmoid64(x64)
    d = (1.0 - s).mul_(x64).add_(1.0).mul_(s)
    return d.mul_(grad.to(torch.float64)).to(grad.dtype)


@kernel("aten.sigmoid_backward.default")
def sigmoid_backward(grad: Tensor, y: Tensor) -> Tensor:
    """grad * y (1 - y) given y = sigmoid(x), in float64, rounded once."""
    y64 = y.to(torch.float64)
    return (1.0 - y64).mul_(y64).mul_(grad.to(torch.float64)).to(grad.dtype)


@kernel("aten.tanh_backward.default")
def tanh_backward(grad: Tensor, y: Tensor) -> Tensor:
    """grad * (1 - y^2) given y = tanh(x)."""
    return T.tanh_backward(grad, y)


@kernel("aten.gelu.default")
def gelu(x: Tensor, *, approximate: str = "none") -> Tensor:
    """GELU: x Phi(x) (erf form, 'none') or the tanh form ('tanh')."""
    if approximate == "none":
        return T.gelu_erf(x)
    if approximate == "tanh":
        return T.gelu(x)
    raise ValueError(f"gelu approximate must be 'none' or 'tanh', got {approximate!r}")


@kernel("aten.gelu_backward.default")
def gelu_backward(grad: Tensor, x: Tensor, *, approximate: str = "none") -> Tensor:
    if approximate == "none":
        return T.gelu_erf_backward(grad, x)
    if approximate == "tanh":
        return T.gelu_backward(grad, x)
    raise ValueError(f"gelu approximate must be 'none' or 'tanh', got {approximate!r}")


@kernel("aten.relu.default")
def relu(x: Tensor) -> Tensor:
    """x where x > 0 else +0 (a selection; NaN propagates)."""
    if not _is_float(x):
        return torch.clamp(x, min=0)
    return _relu(x)


@kernel("aten.threshold_backward.default")
def threshold_backward(grad: Tensor, x: Tensor, threshold) -> Tensor:
    """grad where x > threshold, else 0 (a selection)."""
    return torch.ops.aten.threshold_backward.default(grad, _local(grad, x), threshold)


@kernel("aten.leaky_relu.default")
def leaky_relu(x: Tensor, negative_slope=0.01) -> Tensor:
    return torch.where(x > 0, x, torch.mul(x, _scalar(x, negative_slope)))


@kernel("aten.hardtanh.default")
def hardtanh(x: Tensor, min_val=-1, max_val=1) -> Tensor:
    return torch.clamp(x, _scalar(x, min_val), _scalar(x, max_val))


def _ipow64(v: Tensor, n: int) -> Tensor:
    """v**n (n >= 1) in float64 by square-and-multiply: a fixed sequence of correctly rounded products."""
    result: Tensor | None = None
    sq = v
    while n > 0:
        if n & 1:
            result = sq if result is None else result * sq
        n >>= 1
        if n:
            sq = sq * sq
    if result is None:
        raise ValueError("integer power needs an exponent >= 1")
    return result


def _pow64(v: Tensor, e: float) -> Tensor:
    if float(e).is_integer() and abs(e) <= 64:
        n = int(e)
        if n == 0:
            return torch.ones_like(v)
        p = _ipow64(v, abs(n))
        return p if n > 0 else torch.div(1.0, p)
    if e == 0.5:
        return torch.sqrt(v)
    if e == -0.5:
        return torch.div(1.0, torch.sqrt(v))
    # x**e = exp(e log x) for x > 0; 0**e = 0 (e > 0) or inf (e < 0); negative x gives nan (non-integer e)
    y = T.exp64_(_log64(v).mul_(e))
    y = torch.where(v == 0, 0.0 if e > 0 else math.inf, y)
    return torch.where(v == math.inf, math.inf if e > 0 else 0.0, y)


@kernel("aten.pow.Tensor_Scalar")
def pow_scalar(x: Tensor, exponent) -> Tensor:
    """x**exponent: integer exponents by repeated float64 products, 1/2 and -1/2 by the float64 root,
    others as exp(e log x) from the fixed polynomials; rounded once. Integer tensors stay exact integers."""
    if not _is_float(x) and isinstance(exponent, int) and exponent >= 0:
        return torch.pow(x, exponent)
    if exponent == 2:
        return torch.mul(_floatify(x), _floatify(x))  # one correctly rounded product, as ATen does
    return _via64(lambda v: _pow64(v, float(exponent)), x)


@kernel("aten.pow.Tensor_Tensor")
def pow_tensor(x: Tensor, exponent: Tensor) -> Tensor:
    """x**e elementwise, as exp(e log|x|) with the sign of x for integer e (float64, rounded once)."""
    x, e = torch.broadcast_tensors(_floatify(x), _local(x, exponent).to(_floatify(x).dtype))
    x64, e64 = x.to(torch.float64), e.to(torch.float64)
    mag = T.exp64_(_log64(x64.abs()).mul_(e64))
    mag = torch.where(x64 == 0, torch.where(e64 > 0, 0.0, torch.where(e64 == 0, 1.0, math.inf)), mag)
    odd = torch.remainder(e64, 2.0) == 1.0
    integral = torch.floor(e64) == e64
    y = torch.where((x64 < 0) & odd, -mag, mag)
    y = torch.where((x64 < 0) & ~integral, math.nan, y)
    return torch.where(e64 == 0, 1.0, y).to(x.dtype)


@kernel("aten.pow.Scalar")
def pow_base_scalar(base, exponent: Tensor) -> Tensor:
    """base**exponent for a Python base: exp(e log base) (float64, rounded once)."""
    e = _floatify(exponent)
    return pow_tensor(torch.full((), _scalar(e, float(base)), dtype=e.dtype, device=e.device), e)


@kernel("aten.where.self")
def where(cond: Tensor, x: Tensor, other: Tensor) -> Tensor:
    return torch.where(_local(x, cond), x, _local(x, other))


@kernel("aten.masked_fill.Scalar")
def masked_fill(x: Tensor, mask: Tensor, value) -> Tensor:
    return x.masked_fill(_local(x, mask), _scalar(x, value))


@kernel("aten.masked_fill.Tensor")
def masked_fill_tensor(x: Tensor, mask: Tensor, value: Tensor) -> Tensor:
    return x.masked_fill(_local(x, mask), _local(x, value))


@kernel("aten.clamp.default")
def clamp(x: Tensor, min=None, max=None) -> Tensor:
    """A selection: min/max (Python scalars, rounded to x's format) bound x; NaN propagates."""
    return torch.clamp(x, None if min is None else _scalar(x, min), None if max is None else _scalar(x, max))


@kernel("aten.clamp.Tensor")
def clamp_tensor(x: Tensor, min: Tensor | None = None, max: Tensor | None = None) -> Tensor:
    return torch.clamp(x, None if min is None else _local(x, min), None if max is None else _local(x, max))


@kernel("aten.clamp_min.default")
def clamp_min(x: Tensor, min) -> Tensor:
    return torch.clamp(x, min=_scalar(x, min))


@kernel("aten.clamp_max.default")
def clamp_max(x: Tensor, max) -> Tensor:
    return torch.clamp(x, max=_scalar(x, max))


@kernel("aten.maximum.default")
def maximum(x: Tensor, other: Tensor) -> Tensor:
    x = _lhs(x, other)
    return torch.maximum(x, _local(x, other))


@kernel("aten.minimum.default")
def minimum(x: Tensor, other: Tensor) -> Tensor:
    x = _lhs(x, other)
    return torch.minimum(x, _local(x, other))


def _compare(name: str, fn):
    @kernel(f"aten.{name}.Scalar")
    def scalar_cmp(x: Tensor, other) -> Tensor:
        return fn(x, _scalar(x, other))

    @kernel(f"aten.{name}.Tensor")
    def tensor_cmp(x: Tensor, other: Tensor) -> Tensor:
        x = _lhs(x, other)
        return fn(x, _local(x, other))

    scalar_cmp.__doc__ = tensor_cmp.__doc__ = f"Exact comparison `{name}` (bool result)."
    return scalar_cmp, tensor_cmp


for _name, _fn in [("eq", torch.eq), ("ne", torch.ne), ("lt", torch.lt), ("le", torch.le),
                   ("gt", torch.gt), ("ge", torch.ge)]:
    _compare(_name, _fn)


@kernel("aten.logical_and.default")
def logical_and(x: Tensor, other: Tensor) -> Tensor:
    x = _lhs(x, other)
    return torch.logical_and(x, _local(x, other))


@kernel("aten.logical_or.default")
def logical_or(x: Tensor, other: Tensor) -> Tensor:
    x = _lhs(x, other)
    return torch.logical_or(x, _local(x, other))


@kernel("aten.logical_xor.default")
def logical_xor(x: Tensor, other: Tensor) -> Tensor:
    x = _lhs(x, other)
    return torch.logical_xor(x, _local(x, other))


@kernel("aten.logical_not.default")
def logical_not(x: Tensor) -> Tensor:
    return torch.logical_not(x)


@kernel("aten.bitwise_and.Tensor")
def bitwise_and(x: Tensor, other: Tensor) -> Tensor:
    x = _lhs(x, other)
    return torch.bitwise_and(x, _local(x, other))


@kernel("aten.bitwise_or.Tensor")
def bitwise_or(x: Tensor, other: Tensor) -> Tensor:
    x = _lhs(x, other)
    return torch.bitwise_or(x, _local(x, other))


@kernel("aten.bitwise_xor.Tensor")
def bitwise_xor(x: Tensor, other: Tensor) -> Tensor:
    x = _lhs(x, other)
    return torch.bitwise_xor(x, _local(x, other))


@kernel("aten.bitwise_not.default")
def bitwise_not(x: Tensor) -> Tensor:
    return torch.bitwise_not(x)


@kernel("aten.isnan.default")
def isnan(x: Tensor) -> Tensor:
    return torch.isnan(x)
