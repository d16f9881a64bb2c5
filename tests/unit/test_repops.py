"""RepOps: bit-identical across thread counts and batch chunking, accurate against float64, gradients match autograd."""

from __future__ import annotations

import math

import pytest
import torch

import verde.repops as R


def _rand(*shape, seed=0, spread=0.0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(*shape, generator=g)
    if spread:
        # exponents spread over ±spread binades, with exact zeros and negatives
        x = x * torch.exp2(torch.randint(-int(spread), int(spread) + 1, shape, generator=g).float())
        x[torch.rand(*shape, generator=g) < 0.05] = 0.0
    return x


def _bits(t: torch.Tensor) -> bytes:
    return t.contiguous().numpy().tobytes()


@pytest.fixture
def threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def _under_threads(fn, n):
    torch.set_num_threads(n)
    return fn()


@pytest.mark.parametrize("spread", [0.0, 30.0])
def test_matmul_same_bits_across_threads_and_row_chunks(threads, spread):
    a, b = _rand(96, 300, seed=1, spread=spread), _rand(300, 70, seed=2, spread=spread)
    one = _under_threads(lambda: R.matmul(a, b), 1)
    two = _under_threads(lambda: R.matmul(a, b), 2)
    chunks = torch.cat([R.matmul(a[i:i + 17], b) for i in range(0, 96, 17)])
    assert _bits(one) == _bits(two) == _bits(chunks)


def test_matmul_transposed_views_equal_contiguous_copies():
    x, g, w = _rand(64, 200, seed=3), _rand(64, 50, seed=4), _rand(50, 200, seed=5)
    assert _bits(R.matmul(x.T, g)) == _bits(R.matmul(x.T.contiguous(), g))
    assert _bits(R.matmul(g, w)) == _bits(R.matmul(g.contiguous(), w.T.contiguous().T))


def test_matmul_is_exact_on_short_integer_operands():
    # operands with few bits survive the rounding unchanged, so the result is the exact product
    a = torch.randint(-50, 50, (20, 30)).float()
    b = torch.randint(-50, 50, (30, 10)).float()
    assert torch.equal(R.matmul(a, b), (a.double() @ b.double()).float())


def test_matmul_zero_rows_and_tiny_and_huge_rows():
    a = _rand(8, 40, seed=6)
    a[0] = 0.0
    a[1] *= 2.0**-140  # subnormal territory
    a[2] *= 2.0**120   # exercises the float64 rounding path
    b = _rand(40, 5, seed=7)
    c = R.matmul(a, b)
    ref = a.double() @ b.double()
    assert torch.all(c[0] == 0)
    assert torch.isfinite(c).all()
    rel = ((c.double() - ref).abs() / (a.double().abs() @ b.double().abs()).clamp(min=1e-300))
    assert rel[2:].max() < 1e-5


@pytest.mark.parametrize("shape", [(128, 784, 1024), (128, 1024, 10), (1024, 128, 1024)])
def test_matmul_error_beats_bfloat16(shape):
    m, k, n = shape
    a, b = _rand(m, k, seed=8), _rand(k, n, seed=9)
    ref = a.double() @ b.double()
    err = (R.matmul(a, b).double() - ref).abs().max().item()
    # bfloat16 inputs with float32 accumulation: the more accurate reading of "a bfloat16 matmul"
    err_bf16 = ((a.bfloat16().float() @ b.bfloat16().float()).double() - ref).abs().max().item()
    err_f32 = ((a @ b).double() - ref).abs().max().item()
    assert err < err_bf16 / 100
    assert err < 64 * err_f32


@pytest.mark.parametrize("spread", [0.0, 40.0])
def test_sum_mean_order_independent(threads, spread):
    x = _rand(257, 33, seed=10, spread=spread)
    perm = torch.randperm(x.numel(), generator=torch.Generator().manual_seed(0))
    flat = x.reshape(-1)
    one = _under_threads(lambda: R.sum(x), 1)
    two = _under_threads(lambda: R.sum(x), 2)
    assert _bits(one) == _bits(two) == _bits(R.sum(flat[perm])) == _bits(R.sum(x.T.reshape(33, 257)))
    assert _bits(R.mean(x)) == _bits(R.mean(flat[perm]))
    rows = R.sum(x, dim=0)
    assert _bits(rows) == _bits(R.sum(x[torch.randperm(257)], dim=0))
    assert _bits(rows) == _bits(R.sum(x.T.contiguous(), dim=1))
    assert torch.allclose(rows.double(), x.double().sum(0), rtol=1e-6, atol=1e-30)
    assert abs(R.mean(x).item() - x.double().mean().item()) <= 1e-6 * x.double().abs().mean().item()


def test_sum_cancellation_is_exact():
    x = torch.tensor([1e30, 1.0, -1e30, 3.0])
    assert R.sum(x).item() == 0.0  # grid is 2**(e-bits) ~ 2**50: the small terms vanish...
    y = torch.tensor([2.0**20, 1.0, -(2.0**20), 3.0])
    assert R.sum(y).item() == 4.0  # ...but within 2**50 of the max everything is exact


def _ulp_err(got: torch.Tensor, ref64: torch.Tensor) -> float:
    ulp = torch.where(ref64 == 0, torch.tensor(2.0**-149, dtype=torch.float64),
                      torch.exp2(torch.floor(torch.log2(ref64.abs())) - 23).clamp(min=2.0**-149))
    return ((got.double() - ref64).abs() / ulp).max().item()


def test_exp_log_within_one_ulp():
    x = torch.cat([torch.linspace(-103, 88.7, 20001), _rand(5000, seed=11) * 5]).float()
    assert _ulp_err(R.exp(x), torch.exp(x.double())) <= 1.0
    y = torch.exp2(torch.linspace(-148, 127, 20001)).float() * (1 + torch.rand(20001))
    y = y[torch.isfinite(y) & (y > 2**-126)]
    assert _ulp_err(R.log(y), torch.log(y.double())) <= 1.0
    special = R.log(torch.tensor([0.0, -1.0, math.inf, 1.0]))
    assert special[0] == -math.inf and math.isnan(special[1]) and special[2] == math.inf and special[3] == 0
    assert R.exp(torch.tensor([-200.0, 200.0])).tolist() == [0.0, math.inf]


def test_tanh_gelu_accuracy():
    x = torch.cat([torch.linspace(-30, 30, 20001), _rand(2000, seed=12) * 1e-3,
                   torch.tensor([0.0, 1e-30, -1e-20])]).float()
    assert _ulp_err(R.tanh(x), torch.tanh(x.double())) <= 1.0
    x64 = x.double()
    ref = 0.5 * x64 * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x64 + 0.044715 * x64**3)))
    assert torch.allclose(R.gelu(x).double(), ref, rtol=1e-6, atol=1e-12)


def test_transcendentals_same_bits_across_threads(threads):
    x = _rand(300, 100, seed=13, spread=3)
    for fn in (R.exp, R.tanh, R.gelu, lambda t: R.log(t.abs() + 1e-3), R.softmax):
        assert _bits(_under_threads(lambda fn=fn: fn(x), 1)) == _bits(_under_threads(lambda fn=fn: fn(x), 2))


def _autograd(fn, *inputs):
    xs = [t.double().requires_grad_() for t in inputs]
    out = fn(*xs)
    g = torch.randn_like(out)
    out.backward(g)
    return g.float(), [x.grad for x in xs]


def test_activation_backward_matches_autograd():
    x = _rand(64, 50, seed=14) * 3
    g, (ref,) = _autograd(torch.relu, x)
    assert torch.equal(R.relu_backward(g, x), torch.where(x > 0, g, 0.0))
    assert torch.equal(R.relu(x), torch.relu(x))
    z = torch.tensor([-0.0, 0.0, -1.0, 2.0])
    assert not torch.signbit(R.relu(z)).any()  # zeros are +0 on every device (max(-0, 0) is not)
    assert not torch.signbit(R.relu_backward(-torch.ones(4), z)[:3]).any()
    g, (ref,) = _autograd(lambda t: torch.nn.functional.gelu(t, approximate="tanh"), x)
    assert torch.allclose(R.gelu_backward(g, x).double(), ref, rtol=1e-5, atol=1e-6)
    g, (ref,) = _autograd(torch.tanh, x)
    assert torch.allclose(R.tanh_backward(g, R.tanh(x)).double(), ref, rtol=1e-5, atol=1e-6)


def test_losses_match_torch():
    logits, labels = _rand(32, 10, seed=15) * 4, torch.randint(0, 10, (32,))
    p = R.softmax(logits)
    assert torch.allclose(p, torch.softmax(logits, 1), rtol=1e-6, atol=1e-7)
    lt = logits.double().requires_grad_()
    loss = torch.nn.functional.cross_entropy(lt, labels)
    loss.backward()
    ce = R.cross_entropy(p, labels)
    assert ce.shape == () and ce.dtype == torch.float32
    assert abs(ce.item() - loss.item()) < 1e-6 * loss.item()
    assert torch.allclose(R.cross_entropy_backward(p, labels).double(), lt.grad, atol=1e-7)
    pred, target = _rand(32, 4, seed=16), _rand(32, 4, seed=17)
    pt = pred.double().requires_grad_()
    ref = torch.nn.functional.mse_loss(pt, target.double())
    ref.backward()
    assert abs(R.mse(pred, target).item() - ref.item()) < 1e-6 * ref.item()
    assert torch.allclose(R.mse_backward(pred, target).double(), pt.grad, rtol=1e-6, atol=1e-9)


def test_sum_and_softmax_chunks_equal():
    logits = _rand(40, 10, seed=18, spread=5)
    assert _bits(R.softmax(logits)) == _bits(torch.cat([R.softmax(logits[:13]), R.softmax(logits[13:])]))


def test_elementwise_wrappers_are_ieee():
    a, b = _rand(100, seed=19), _rand(100, seed=20)
    assert torch.equal(R.add(a, b), a + b) and torch.equal(R.sub(a, b), a - b)
    assert torch.equal(R.mul(a, b), a * b) and torch.equal(R.div(a, b), a / b)
    assert torch.equal(R.neg(a), -a)
    assert torch.equal(R.maximum(a, b), torch.maximum(a, b))
    x = _rand(5, 100, seed=21)
    assert torch.equal(R.bias_add(x, a), x + a)
    assert torch.equal(R.scale(x, 0.1), x * torch.tensor(0.1, dtype=torch.float32))


def test_sqrt_is_correctly_rounded():
    """Exact check: y is the rounded root of x iff x lies between the squares of y's two rounding midpoints.

    Midpoints of float32 neighbours have 25 significant bits, so their squares are exact in float64."""
    g = torch.Generator().manual_seed(31)
    x = torch.exp2(torch.empty(1_000_000).uniform_(-60, 60, generator=g)).float()
    y = R.sqrt(x)
    y64 = y.double()
    lo = (y64 + torch.nextafter(y, torch.tensor(0.0)).double()) / 2
    hi = (y64 + torch.nextafter(y, torch.tensor(float("inf"))).double()) / 2
    x64 = x.double()
    assert bool(((lo * lo <= x64) & (x64 <= hi * hi)).all())


def test_sqrt_numpy_route_gives_the_float64_routes_bits():
    """The CPU float32 route (numpy's IEEE sqrt) and the float64 route (every device) agree bit for bit: every
    subnormal and the lowest normal binades exhaustively, 40M random non-negative patterns (inf and NaNs among
    them), signed zeros; a negative entry sends the whole tensor down the float64 route (its NaN is kept)."""
    def f64_route(t: torch.Tensor) -> torch.Tensor:
        return torch.sqrt(t.to(torch.float64)).to(torch.float32)

    g = torch.Generator().manual_seed(41)
    samples = [torch.arange(0, 2**24, dtype=torch.int32)]
    samples += [torch.randint(0, 2**31, (4_000_000,), generator=g, dtype=torch.int64).to(torch.int32)
                for _ in range(10)]
    for bits in samples:
        x = bits.view(torch.float32)
        y, ref = R.sqrt(x), f64_route(x)
        assert torch.equal(y.view(torch.int32), ref.view(torch.int32))
    for x in (torch.tensor([-0.0, 0.0, 4.0]), torch.tensor(2.0), torch.tensor([4.0, -1.0, float("nan")]),
              torch.rand(6, 5).t()):
        assert torch.equal(R.sqrt(x).view(torch.int32), f64_route(x).view(torch.int32)), x
        assert R.sqrt(x).shape == x.shape


def test_exp_leaves_a_float64_input_alone():
    """exp computes in place on its own float64 copy: a float64 argument (for which .to(float64) is the same
    tensor) is not overwritten."""
    from verde.repops import transcendental as T

    x = torch.linspace(-5, 5, 101, dtype=torch.float64)
    before = x.clone()
    T.exp(x)
    assert torch.equal(x, before)


def test_ops_do_not_mutate_inputs():
    a, b = _rand(16, 8, seed=22), _rand(8, 4, seed=23)
    keep = a.clone(), b.clone()
    R.matmul(a, b), R.sum(a), R.mean(a, dim=1), R.softmax(a), R.gelu(a), R.tanh(a), R.exp(a)
    R.adam_param(a, a, a.abs(), 3, 1e-3, 0.9, 0.999, 1e-8, 0.01)
    assert torch.equal(a, keep[0]) and torch.equal(b, keep[1])


def test_adam_and_sgd_match_torch_optim():
    torch.manual_seed(0)
    w0 = torch.randn(20, 7)
    grads = [torch.randn(20, 7) for _ in range(5)]
    for wd in (0.0, 0.01):
        p = w0.clone().requires_grad_()
        opt = torch.optim.AdamW([p], lr=1e-2, betas=(0.9, 0.999), eps=1e-8, weight_decay=wd)
        w, m, v = w0.clone(), torch.zeros_like(w0), torch.zeros_like(w0)
        for step, g in enumerate(grads, 1):
            p.grad = g.clone()
            opt.step()
            m, v = R.adam_m(m, g, 0.9), R.adam_v(v, g, 0.999)
            w = R.adam_param(w, m, v, step, 1e-2, 0.9, 0.999, 1e-8, wd)
        assert torch.allclose(w, p.detach(), rtol=1e-5, atol=1e-6)
    p = w0.clone().requires_grad_()
    opt = torch.optim.SGD([p], lr=0.1, momentum=0.9)
    w, buf = w0.clone(), torch.zeros_like(w0)
    for g in grads:
        p.grad = g.clone()
        opt.step()
        buf = R.sgd_momentum_buf(buf, g, 0.9)
        w = R.sgd_param(w, buf, 0.1, 0.0)
    assert torch.allclose(w, p.detach(), rtol=1e-5, atol=1e-6)
    p = w0.clone().requires_grad_()
    opt = torch.optim.SGD([p], lr=0.1, weight_decay=0.05)
    w = w0.clone()
    for g in grads:
        p.grad = g.clone()
        opt.step()
        w = R.sgd_param(w, g, 0.1, 0.05)
    assert torch.allclose(w, p.detach(), rtol=1e-5, atol=1e-6)


def test_ipow_is_exact_for_powers_of_two_and_close_otherwise():
    assert R.ipow(0.5, 30) == 2.0**-30
    assert abs(R.ipow(0.999, 1000) - 0.999**1000) < 1e-13


def test_matmul_rounding_paths_agree():
    # the float32 rounding path and the float64 fallback (taken near the float32 max) give the same grid
    from verde.repops.matmul import quantize
    from verde.repops.quantize import absmax, exponent, round_to_grid_f64

    x = _rand(40, 64, seed=24, spread=60)
    x[3] *= 2.0**-100
    for dim in (0, 1):
        e = exponent(absmax(x, dim)).unsqueeze(dim)
        assert torch.equal(quantize(x, dim, 21), round_to_grid_f64(x.double(), e, 21))


def test_matmul_near_float32_max_stays_finite():
    a = torch.full((2, 4), 3.0e38)
    a[1] = -3.4e38
    b = torch.full((4, 3), 2.0**-60)
    c = R.matmul(a, b)
    ref = (a.double() @ b.double()).float()
    assert torch.isfinite(c).all() and torch.allclose(c, ref, rtol=1e-6)


def test_gemm64_any_blas_gives_the_exact_products():
    # numpy's BLAS (CPU) and torch.matmul agree bit for bit on grid-rounded operands: each dot product is exact
    from verde.repops.matmul import gemm64, mantissa_bits
    from verde.repops.quantize import quantize_f64

    cases = [((48, 300), (300, 20)), ((5, 7, 64), (5, 64, 9)), ((6, 33, 16), (16, 12))]
    for i, (sa, sb) in enumerate(cases):
        a, b = _rand(*sa, seed=40 + i, spread=20), _rand(*sb, seed=50 + i, spread=20)
        bits = mantissa_bits(sa[-1])
        qa, qb = quantize_f64(a, a.dim() - 1, bits), quantize_f64(b, b.dim() - 2, bits)
        assert torch.equal(gemm64(qa, qb), torch.matmul(qa, qb))
        assert torch.equal(gemm64(qa.transpose(-1, -2).contiguous().transpose(-1, -2), qb), torch.matmul(qa, qb))
    tracked = quantize_f64(_rand(4, 8, seed=60), 1, 21).requires_grad_()
    out = gemm64(tracked, quantize_f64(_rand(8, 3, seed=61), 0, 21))
    assert out.requires_grad  # autograd-tracked operands stay on torch.matmul


def test_slice_absmax_short_inner_rows_give_the_plain_maxima():
    # the reordered reduction for short contiguous inner dims (attention heads) is the same exact max
    from verde.repops.quantize import quantize_f64, slice_absmax

    for i, shape in enumerate([(6, 8, 16), (5, 3, 7, 4), (4, 9, 33)]):
        x = _rand(*shape, seed=70 + i, spread=30)
        for v in (x, x.transpose(-1, -2)):
            for d in range(v.dim()):
                assert torch.equal(slice_absmax(v, d), v.abs().amax(d, keepdim=True))
        q = quantize_f64(x, x.dim() - 1, 21)
        assert torch.equal(q, quantize_f64(x.contiguous().transpose(-1, -2).contiguous().transpose(-1, -2), x.dim() - 1, 21))


def test_exp_within_one_ulp_over_the_whole_float32_range():
    # every binade of the argument, the last finite result (x = 88.72283172607422), the first inf, and the
    # subnormal results down to the last one that does not round to 0 (exp(x) < 2**-150 rounds to 0)
    g = torch.Generator().manual_seed(41)
    big = torch.nextafter(torch.tensor(88.72283172607422), torch.tensor(math.inf)).item()
    x = torch.cat([torch.empty(200_000).uniform_(-103.97, 88.7228, generator=g),
                   torch.exp2(torch.empty(20_000).uniform_(-149, 6.4, generator=g)) * (1 - 2 * (torch.rand(20_000, generator=g) < 0.5)),
                   torch.tensor([0.0, -0.0, 88.72283172607422, -87.33654022216797, -87.3365478515625, -103.97, -103.972076])])
    assert _ulp_err(R.exp(x), torch.exp(x.double())) <= 1.0
    edge = R.exp(torch.tensor([big, 89.0, 1e30, math.inf, -103.973, -104.0, -1e30, -math.inf, math.nan]))
    assert edge[:4].tolist() == [math.inf] * 4 and edge[4:8].tolist() == [0.0] * 4 and edge[8].isnan()
    assert R.exp(torch.tensor([-103.97])).item() == 2.0**-149


def test_erf_gelu_erf_within_one_ulp():
    from verde.repops import transcendental as T

    g = torch.Generator().manual_seed(42)
    x = torch.cat([torch.empty(100_000).uniform_(-7, 7, generator=g), _rand(20_000, seed=43),
                   _rand(5_000, seed=44, spread=30), torch.tensor([1.9, -1.9, 2.6870057, -2.6870057, 0.0])]).float()
    assert _ulp_err(T.erf(x), torch.erf(x.double())) <= 1.0
    x64 = x.double()
    ref = x64 * 0.5 * (1 + torch.erf(x64 / math.sqrt(2)))
    keep = ref.abs() > 1e-30  # (the far lower tail of Phi is absolute-accurate only)
    assert _ulp_err(T.gelu_erf(x)[keep & (x > -5)], ref[keep & (x > -5)]) <= 1.0
    special = T.gelu_erf(torch.tensor([math.nan, math.inf, 0.0, -40.0]))
    assert special[0].isnan() and special[1:].tolist() == [math.inf, 0.0, -0.0]
    assert T.erf(torch.tensor([math.nan, math.inf, -math.inf])).tolist()[1:] == [1.0, -1.0]
