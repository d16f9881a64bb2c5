"""The held-out evaluation a worker reports: when it happens, and that it is the same bits on every run."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

from verde.evaluation import eval_steps, evaluate
from verde.graph import store
from verde.interpreter import Interpreter

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "digits-cnn"
MLP = {"version": 1, "model": {"kind": "mlp", "layers": [64, 16, 10]},
       "dataset": {"id": "builtin:digits", "batch_size": 32}, "loss": "cross_entropy",
       "optimizer": {"kind": "adam", "lr": 0.01}, "steps": 20, "seed": 1, "checkpoint_every": 10}


def test_eval_points_are_every_n_steps_and_the_last():
    spec = SimpleNamespace(steps=35, eval=SimpleNamespace(every=10))
    assert eval_steps(spec) == [10, 20, 30, 35]
    assert eval_steps(spec, after=20) == [30, 35]  # a resumed run does not evaluate twice
    assert eval_steps(SimpleNamespace(steps=30, eval=None)) == [30]
    assert eval_steps(SimpleNamespace(steps=30, eval=SimpleNamespace(every=0))) == [30]
    assert eval_steps(spec, after=35) == []


def test_mlp_evaluation_is_reproducible_and_learns():
    interp = Interpreter(MLP)
    s0 = interp.initial_state()
    s, _ = interp.run(s0, 0, 20)
    first, again = evaluate(interp, s, 20), evaluate(Interpreter(MLP), s, 20)
    assert first == again  # bit for bit: a verifier reproduces the reported figure
    assert first.loss < evaluate(interp, s0, 0).loss and 0 < first.accuracy <= 1


def test_graph_evaluation_uses_the_graph_program():
    store.add_directory(EXAMPLE)
    spec = json.loads((EXAMPLE / "spec.json").read_text())
    interp = Interpreter(spec)
    ev = evaluate(interp, interp.initial_state(), 0)
    assert ev.loss is not None and ev.accuracy is not None and ev.loss > 1.5  # untrained: about ln(10)
    assert ev == evaluate(Interpreter(spec), interp.initial_state(), 0)
