"""Counter-based RNG: reproducible bits, independent streams, sane distributions."""

from __future__ import annotations

import math

import torch

from verde import rng


def test_same_seed_same_bits_and_streams_differ():
    a = rng.uniform(7, "init:0", (50, 40))
    assert torch.equal(a, rng.uniform(7, "init:0", (50, 40)))
    assert not torch.equal(a, rng.uniform(7, "init:1", (50, 40)))
    assert not torch.equal(a, rng.uniform(8, "init:0", (50, 40)))
    assert (a != rng.uniform(7, 3, (50, 40))).float().mean() > 0.99


def test_prefix_property_and_thread_independence():
    # element i depends only on (seed, stream, i): a longer draw extends a shorter one
    long, short = rng.uniform(1, 2, 1000), rng.uniform(1, 2, 300)
    assert torch.equal(long[:300], short)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = rng.bits32(5, 6, torch.arange(100_000))
        torch.set_num_threads(2)
        assert torch.equal(one, rng.bits32(5, 6, torch.arange(100_000)))
    finally:
        torch.set_num_threads(before)


def test_known_answer_pins_the_generator():
    # any change to the mixing breaks every published trace root, so pin a few values
    assert rng.bits32(0, 0, torch.arange(3)).tolist() == [3249385332, 1831342165, 991477849]
    assert rng.permutation(1234, "shuffle", 8).tolist() == [3, 7, 0, 6, 2, 5, 1, 4]
    u = rng.uniform(1234, "init", 4)
    assert u.dtype == torch.float32
    assert torch.all((u * 2**24) == torch.floor(u * 2**24))


def test_uniform_moments():
    u = rng.uniform(3, 0, 200_000).double()
    assert u.min() >= 0 and u.max() < 1
    assert abs(u.mean().item() - 0.5) < 0.005
    assert abs(u.var().item() - 1 / 12) < 0.002
    counts = torch.histc(u, bins=16, min=0, max=1)
    assert counts.min() > 200_000 / 16 * 0.95


def test_permutation_is_a_permutation_and_varies():
    p = rng.permutation(9, "shuffle:0", 1797)
    assert torch.equal(torch.sort(p).values, torch.arange(1797))
    assert not torch.equal(p, rng.permutation(9, "shuffle:1", 1797))
    assert not torch.equal(p, torch.arange(1797))
    keys = rng.bits32(9, "shuffle:0", torch.arange(1 << 16))
    assert torch.unique(keys).numel() == 1 << 16  # a bijection: sort keys never tie


def test_randint_bernoulli_kaiming():
    r = rng.randint(1, 1, 10, 50_000)
    assert r.min() == 0 and r.max() == 9
    assert torch.bincount(r, minlength=10).min() > 4500
    mask = rng.bernoulli_mask(2, "dropout", (1000, 100), 0.8)
    assert mask.dtype == torch.bool and abs(mask.float().mean().item() - 0.8) < 0.01
    assert not rng.bernoulli_mask(2, "d", 100, 0.0).any() and rng.bernoulli_mask(2, "d", 100, 1.0).all()
    w = rng.kaiming_uniform(4, "w0", 64, (128, 64))
    bound = math.sqrt(6 / 64)
    assert w.abs().max() <= bound and w.abs().max() > 0.95 * bound
    assert abs(w.double().var().item() - bound**2 / 3) < 0.05 * bound**2 / 3
