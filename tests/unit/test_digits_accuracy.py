"""The reference spec of DESIGN §7 (MLP 64-128-10 ReLU, digits, batch 32, Adam 1e-3, 1000 steps) learns."""


from verde.runner import run_spec

REFERENCE = {
    "version": 1,
    "model": {"kind": "mlp", "layers": [64, 128, 10], "activation": "relu"},
    "dataset": {"id": "builtin:digits", "batch_size": 32, "shuffle_seed": 7},
    "loss": "cross_entropy",
    "optimizer": {"kind": "adam", "lr": 0.001},
    "steps": 1000,
    "seed": 1234,
    "checkpoint_every": 100,
    "verification": {"replicas": 1, "spot_check": 0.25},
}


def test_reference_spec_reaches_95_percent_held_out_accuracy():
    result = run_spec(REFERENCE, threads=1)
    assert result.accuracy is not None and result.accuracy >= 0.95, result.accuracy
    assert result.final_loss < 0.3
    assert len(result.trace.segment_leaves()) == 11
    # hashing is a small share of a normal run (one state hash per checkpoint)
    assert result.stats.hash_share < 0.05
