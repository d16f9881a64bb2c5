"""`agora bench repops` machinery on a tiny model: figures are present, positive and consistent."""

from __future__ import annotations

from agora.benches import repops as bench


def test_measure_tiny_model_reports_ratio_and_hash_share():
    m = bench.measure([8, 16, 3], batch=8, dataset="builtin:synthetic-blobs", reps=3, run_steps=5)
    assert m["native_ms"] > 0 and m["repops_ms"] > 0
    assert abs(m["ratio"] - m["repops_ms"] / m["native_ms"]) < 1e-9
    assert 0 < m["hash_share"] < 1
    assert m["hash_ms"] > 0
