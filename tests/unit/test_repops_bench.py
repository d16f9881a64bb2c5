"""`agora bench repops` machinery on a tiny model: figures are present, positive and consistent."""

from __future__ import annotations

import pytest
import torch

from agora.benches import repops as bench


def test_measure_tiny_model_reports_ratio_and_hash_share():
    m = bench.measure([8, 16, 3], batch=8, dataset="builtin:synthetic-blobs", reps=3, run_steps=5)
    assert m["native_ms"] > 0 and m["repops_ms"] > 0
    assert m["ratio"] > 0
    assert 0 < m["hash_share"] < 1
    assert m["hash_ms"] > 0


def test_ratio_is_the_median_of_adjacent_pairs():
    """Each repetition times a native step then a RepOps step; the ratio is the median of the pairs' ratios, so a
    slowdown that hits one pair (a busy host) cancels, where a ratio of the two medians would carry it."""
    from verde.interpreter import Interpreter

    spec, _ = bench.example_spec("digits-cnn", steps=2, checkpoint_every=2)
    interp = Interpreter(spec)
    pairs = [(1.0, 3.0), (3.0, 6.3), (2.0, 8.0)]  # pair ratios 3, 2.1, 4 -> 3; medians 2 and 6.3 -> 3.15
    ticks, now = [], 0.0
    for native, repops in pairs:
        ticks += [now, now + native, now + native + repops]
        now += native + repops
    clock = iter(ticks).__next__
    m = bench._time_steps(interp, interp.initial_state(), lambda: None, len(pairs), 2, clock)
    assert m["native_ms"] == pytest.approx(2000.0) and m["repops_ms"] == pytest.approx(6300.0)
    assert m["ratio"] == pytest.approx(3.0)


def test_graph_workload_figures_and_learning_gap_against_eager():
    m = bench.measure_graph("digits-cnn", reps=2, run_steps=2)
    assert m["native_ms"] > 0 and m["repops_ms"] > 0 and 0 < m["hash_share"] < 1
    spec, _ = bench.example_spec("digits-cnn", steps=3, checkpoint_every=3)
    from verde.interpreter import Interpreter

    interp = Interpreter(spec)
    model = bench.eager_train("digits-cnn", spec, interp)
    eager = bench.eager_evaluate(model, interp)
    # eager training moved the weights, and its evaluation reads whole held-out batches like the program's
    assert 0 <= eager["accuracy"] <= 1 and eager["loss"] > 0
    assert any(not torch.equal(p.detach(), interp.initial_state()[n.replace(".", "/")])
               for n, p in model.named_parameters())
