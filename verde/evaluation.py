"""The held-out evaluation of a training state: loss and accuracy, computed with the job's own RepOps program.

Every party computes it the same way and gets the same bits (the forward ops are the program's, the loss is
RepOps'), so a verifier that replays a job reproduces the figure a worker reported. Graph programs bring their
own evaluation (``Interpreter.evaluate``, over whole held-out batches); MLP programs use their forward ops here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from verde.datasets import targets
from verde.repops import losses


@dataclass(frozen=True)
class Evaluation:
    step: int
    loss: float | None  # mean held-out loss; None when there is no held-out data
    accuracy: float | None  # share of held-out samples whose top logit is the label; None for regression

    def to_json(self) -> dict[str, Any]:
        return {"step": self.step, "loss": self.loss, "accuracy": self.accuracy}


def evaluate(interpreter: Any, state: Any, step: int) -> Evaluation:
    """Held-out loss and accuracy of ``state`` (the training state after ``step``)."""
    ds, spec = interpreter.dataset, interpreter.spec
    if spec.model.kind == "graph":  # the graph program runs its own forward nodes over the held-out batches
        metrics = tuple(spec.eval.metrics) if spec.eval is not None else ("loss", "accuracy")
        found = interpreter.evaluate(state, metrics)
        return Evaluation(step, found.get("loss"), found.get("accuracy"))
    if ds.x_test.shape[0] == 0:
        return Evaluation(step, None, None)
    logits = interpreter.forward(state, ds.x_test)
    y = targets(spec, ds, ds.y_test).to(logits.device)
    if spec.loss == "cross_entropy":
        loss = float(losses.cross_entropy(losses.softmax(logits), y))
    else:
        loss = float(losses.mse(logits, y))
    accuracy = None
    if ds.classes is not None:
        accuracy = float((logits.argmax(dim=1).cpu() == ds.y_test).sum()) / ds.x_test.shape[0]
    return Evaluation(step, loss, accuracy)


def eval_steps(spec: Any, after: int = 0) -> list[int]:
    """The steps after ``after`` at which a job is evaluated: every ``eval.every`` steps (v2) and the last step."""
    every = spec.eval.every if getattr(spec, "eval", None) is not None else 0
    steps = list(range(every * (after // every + 1), spec.steps, every)) if every else []
    return [*steps, spec.steps] if after < spec.steps else []
