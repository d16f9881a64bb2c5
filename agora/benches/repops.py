"""`agora bench repops`: one training step with RepOps vs native PyTorch float32, and the share of a run spent hashing.

Two models (issue 3, part 7): MLP 64-128-10 batch 32 on builtin:digits and MLP 784-1024-1024-10 batch 128
on builtin:synthetic-blobs, both with Adam. The RepOps step is the job's own program run by
``verde.interpreter.Interpreter`` (no hashing); the native step is nn.Linear + autograd +
torch.optim.Adam on the same batch. Repetitions alternate between the two so that load from other
processes hits both alike, and the ratio is of medians; both run with the same thread count.

``hash_share`` is the steady-state share of a normal run's time spent on commitments: a normal run
hashes the state (parameters and Adam slots) once per checkpoint interval (PROTOCOL §2), so it is
``h / (C * t_step + h)`` with ``C = checkpoint_every`` (100, as in the reference spec), ``t_step`` the
mean compute time per step and ``h`` the mean time of one state hash, both measured by
``Interpreter.run`` (its RunStats time compute and hashing apart) over a short run that checkpoints at
its first and last step.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import torch

from verde.interpreter import Interpreter

CHECKPOINT_EVERY = 100

SIZES: dict[str, dict[str, Any]] = {
    "small": {"layers": [64, 128, 10], "batch": 32, "dataset": "builtin:digits", "reps": 60, "run_steps": 100},
    "large": {"layers": [784, 1024, 1024, 10], "batch": 128, "dataset": "builtin:synthetic-blobs", "reps": 20,
              "run_steps": 20},
}


def _spec(layers: list[int], batch: int, dataset: str, steps: int, every: int) -> dict[str, Any]:
    return {
        "version": 1,
        "model": {"kind": "mlp", "layers": layers, "activation": "relu"},
        "dataset": {"id": dataset, "batch_size": batch, "shuffle_seed": 7},
        "loss": "cross_entropy",
        "optimizer": {"kind": "adam", "lr": 0.001},
        "steps": steps,
        "seed": 1234,
        "checkpoint_every": every,
    }


def _native(layers: list[int], state: dict[str, torch.Tensor]) -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    mods: list[torch.nn.Module] = []
    for i in range(len(layers) - 1):
        lin = torch.nn.Linear(layers[i], layers[i + 1])
        with torch.no_grad():  # same starting point as the job (w is in×out there)
            lin.weight.copy_(state[f"w{i}"].T)
            lin.bias.copy_(state[f"b{i}"])
        mods.append(lin)
        if i < len(layers) - 2:
            mods.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*mods)
    return model, torch.optim.Adam(model.parameters(), lr=0.001)


def measure(layers: list[int], batch: int, dataset: str, reps: int, run_steps: int,
            clock: Callable[[], float] = time.perf_counter) -> dict[str, float]:
    """Median step times (ms), their ratio, and the hash share of a normal run for one model size."""
    interp = Interpreter(_spec(layers, batch, dataset, run_steps, run_steps))
    state = interp.initial_state()
    model, opt = _native(layers, state)
    loss_fn = torch.nn.CrossEntropyLoss()
    x, y = interp.batch(1)

    def native_step() -> None:
        opt.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
        opt.step()

    cur = dict(state)
    step_no = 0

    def repops_step() -> None:
        nonlocal cur, step_no
        step_no += 1
        cur = interp.step(cur, step_no).state

    for _ in range(3):  # warm-up: allocator, thread pool, lazy init
        native_step()
        repops_step()
    t_native: list[float] = []
    t_repops: list[float] = []
    for _ in range(reps):
        t0 = clock()
        native_step()
        t1 = clock()
        repops_step()
        t2 = clock()
        t_native.append(t1 - t0)
        t_repops.append(t2 - t1)
    native_s, repops_s = statistics.median(t_native), statistics.median(t_repops)

    checkpoints = 0

    def count(_step: int, _state: object, _leaf: bytes) -> None:
        nonlocal checkpoints
        checkpoints += 1

    _, stats = interp.run(state, 0, run_steps, on_checkpoint=count)
    per_step = stats.compute_s / stats.steps
    per_hash = stats.hash_s / checkpoints
    share = per_hash / (CHECKPOINT_EVERY * per_step + per_hash)
    return {
        "native_ms": native_s * 1e3,
        "repops_ms": repops_s * 1e3,
        "ratio": repops_s / native_s,
        "hash_ms": per_hash * 1e3,
        "hash_share": share,
    }


def run(threads: int = 1) -> dict[str, Any]:
    """Bench both sizes; prints a table and returns the JSON object of issue 3, part 7.

    Both sides run with the same ``threads`` (default 1: on a shared, oversubscribed machine OpenMP
    barriers make multi-threaded step times swing by 10x, while the ratio measured quietly is the same).
    With one thread all work runs on the calling thread, so step times are its CPU time
    (``time.thread_time``), which time slices lost to other processes do not inflate; otherwise wall time.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    clock = time.thread_time if threads == 1 else time.perf_counter
    try:
        result: dict[str, Any] = {"bench": "repops", "threads": threads,
                                  "clock": "thread_cpu" if threads == 1 else "wall"}
        for name, cfg in SIZES.items():
            m = measure(**{k: cfg[k] for k in ("layers", "batch", "dataset", "reps", "run_steps")}, clock=clock)
            print(
                f"{name:5s} MLP {'-'.join(map(str, cfg['layers']))} batch {cfg['batch']}: "
                f"native {m['native_ms']:.2f} ms, RepOps {m['repops_ms']:.2f} ms, ratio {m['ratio']:.2f}; "
                f"state hash {m['hash_ms']:.2f} ms per {CHECKPOINT_EVERY} steps -> hash share {m['hash_share']:.2%}"
            )
            result[name] = {"ratio": round(m["ratio"], 3), "hash_share": round(m["hash_share"], 5),
                            "native_ms": round(m["native_ms"], 3), "repops_ms": round(m["repops_ms"], 3)}
        return result
    finally:
        torch.set_num_threads(before)
