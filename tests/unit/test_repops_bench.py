"""`agora bench repops` machinery on a tiny model: figures are present, positive and consistent."""

from __future__ import annotations

import torch

from agora.benches import repops as bench


def test_measure_tiny_model_reports_ratio_and_hash_share():
    m = bench.measure([8, 16, 3], batch=8, dataset="builtin:synthetic-blobs", reps=3, run_steps=5)
    assert m["native_ms"] > 0 and m["repops_ms"] > 0
    assert abs(m["ratio"] - m["repops_ms"] / m["native_ms"]) < 1e-9
    assert 0 < m["hash_share"] < 1
    assert m["hash_ms"] > 0


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
