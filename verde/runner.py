"""Run a whole job from its spec: the trace root, the final model hash, loss and held-out accuracy, and the trace.

``final_model_hash`` = ``keccak256(H(p_1) ‖ … ‖ H(p_k))`` over the final *parameters* only (``w0, b0,
w1, b1, …`` in program order): the hash of what the client downloads (``model_state`` below), and the first
half of the final leaf ``L[S] = keccak256(final_model_hash ‖ final_slots_hash)`` (PROTOCOL §7).
``trace_root`` is the Merkle root of the segment leaves.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from verde.datasets import Dataset
from verde.interpreter import Fault, Interpreter, RunStats, State
from verde.merkle import keccak256
from verde.spec import JobSpec, parse_spec, spec_hash
from verde.tensorhash import params_hash, slots_hash
from verde.trace import Trace, checkpoint_steps


@dataclass
class RunResult:
    trace_root: bytes
    final_model_hash: bytes
    final_slots_hash: bytes  # slotsHash of the final state: what proveFinal needs besides the model hash
    final_loss: float
    accuracy: float | None  # held-out accuracy; None for regression targets
    trace: Trace
    stats: RunStats
    final_state: State
    eval_loss: float | None = None  # graph programs: mean held-out loss (RepOps forward)

    @property
    def model(self) -> State:
        return model_state(self.trace.interpreter, self.final_state)

    def summary(self) -> dict[str, object]:
        """What ``agora verde run --json`` prints."""
        return {
            "spec_hash": spec_hash(self.trace.spec),
            "trace_root": "0x" + self.trace_root.hex(),
            "final_model_hash": "0x" + self.final_model_hash.hex(),
            "final_loss": self.final_loss,
            "accuracy": self.accuracy,
            **({"eval_loss": self.eval_loss} if self.eval_loss is not None else {}),
            "steps": self.trace.spec.steps,
            "ops_per_step": self.trace.n_ops,
            "compute_s": round(self.stats.compute_s, 4),
            "hash_s": round(self.stats.hash_s, 4),
        }


def model_state(interpreter: Interpreter, state: State) -> State:
    """The parameters of a training state (no optimizer slots), in program order."""
    return {name: state[name] for name in interpreter.program.params}


def model_hash(interpreter: Interpreter, state: State) -> bytes:
    return params_hash(model_state(interpreter, state))


def accuracy(interpreter: Interpreter, state: State) -> float | None:
    """Share of held-out samples whose largest logit is the label (RepOps forward); None for regression."""
    ds = interpreter.dataset
    if interpreter.program.graph is not None:
        return interpreter.evaluate(state, ("accuracy",)).get("accuracy")
    if ds.classes is None or ds.x_test.shape[0] == 0:
        return None
    logits = interpreter.forward(state, ds.x_test)
    return float((logits.argmax(dim=1).cpu() == ds.y_test).sum()) / ds.x_test.shape[0]


def _eval_metrics(spec: JobSpec) -> list[str]:
    return list(spec.eval.metrics) if spec.eval is not None else ["loss", "accuracy"]


def run_spec(spec: JobSpec | dict | str | bytes, *, threads: int | None = None, device: str = "cpu",
             fault: Fault | None = None, data: bytes | None = None, dataset: Dataset | None = None,
             on_step: Callable[[int, float], None] | None = None,
             checkpoint_sink: Callable[[int, State], None] | None = None,
             checkpoint_loader: Callable[[int], State] | None = None) -> RunResult:
    """Train ``spec`` from its seed to its last step.

    Checkpoints (every ``checkpoint_every`` steps, step 0 and the last) stay in memory unless
    ``checkpoint_sink`` takes them (e.g. writes ``verde.checkpoint.dump_state``) and
    ``checkpoint_loader`` reads them back for replays. ``threads`` sets torch's intra-op thread count
    for the run (the results do not depend on it). ``data`` is the ``.npz`` of a ``sha256:`` dataset.
    """
    spec = parse_spec(spec)
    if (checkpoint_sink is None) != (checkpoint_loader is None):
        raise ValueError("pass both checkpoint_sink and checkpoint_loader, or neither")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError("device cuda requested but torch sees no CUDA device")
    previous_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        interp = Interpreter(spec, dataset, data=data, device=device, fault=fault)
        leaves: dict[int, bytes] = {}
        kept: dict[int, State] = {}

        def on_checkpoint(step: int, state: State, leaf: bytes) -> None:
            leaves[step] = leaf
            if checkpoint_sink is not None:
                checkpoint_sink(step, state)
            else:
                kept[step] = state

        last_loss: list[float] = [float("nan")]

        def step_cb(step: int, loss: float) -> None:
            last_loss[0] = loss
            if on_step is not None:
                on_step(step, loss)

        final, stats = interp.run(interp.initial_state(), 0, spec.steps, on_checkpoint=on_checkpoint,
                                  on_step=step_cb)
        trace = Trace(interp, [leaves[t] for t in checkpoint_steps(spec)],
                      checkpoint_loader if checkpoint_loader is not None else kept)
        final_hash = model_hash(interp, final)
        graph = interp.program.graph is not None
        evaluation = interp.evaluate(final, tuple(_eval_metrics(spec))) if graph else {}
        if fault is not None and fault.kind == "wrong-final":
            final_hash = keccak256(b"agora.wrong-final" + final_hash)
        return RunResult(
            trace_root=trace.trace_root,
            final_model_hash=final_hash,
            final_slots_hash=slots_hash(final),
            final_loss=last_loss[0],
            accuracy=evaluation.get("accuracy") if graph else accuracy(interp, final),
            trace=trace,
            stats=stats,
            final_state=final,
            eval_loss=evaluation.get("loss"),
        )
    finally:
        torch.set_num_threads(previous_threads)
