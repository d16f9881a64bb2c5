"""`agora bench repops`: one training step with RepOps vs native PyTorch float32, and the share of a run spent hashing.

Graph workloads (issue 13): the example CNN (examples/digits-cnn) and character GPT (examples/char-gpt), their
graph programs against the same nn.Module (the example's model.py) trained by plain eager PyTorch with autograd
and torch.optim, from the same weights, on the same batches in the same order, with the same optimizer. Besides
the step ratio and hash share, each reports the learning gap after the spec's own steps: the CNN's held-out
accuracy difference (RepOps - eager) and the GPT's relative held-out loss difference ((RepOps - eager) / eager),
both evaluated in the program's way (whole held-out batches, mean of batch losses).

Two models (issue 3, part 7): MLP 64-128-10 batch 32 on builtin:digits and MLP 784-1024-1024-10 batch 128
on builtin:synthetic-blobs, both with Adam. The RepOps step is the job's own program run by
``verde.interpreter.Interpreter`` (no hashing); the native step is nn.Linear + autograd +
torch.optim.Adam on the same batch. Repetitions alternate between the two so that load from other
processes hits both alike, and the ratio is the median of each adjacent pair's ratio; both run with the same
thread count.

``hash_share`` is the steady-state share of a normal run's time spent on commitments: a normal run
hashes the state (parameters and Adam slots) once per checkpoint interval (PROTOCOL §2), so it is
``h / (C * t_step + h)`` with ``C = checkpoint_every`` (100, as in the reference spec), ``t_step`` the
mean compute time per step and ``h`` the mean time of one state hash, both measured by
``Interpreter.run`` (its RunStats time compute and hashing apart) over a short run that checkpoints at
its first and last step.
"""

from __future__ import annotations

import importlib.util
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import torch

from verde.interpreter import Interpreter

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
GRAPHS: dict[str, dict[str, Any]] = {
    "cnn": {"example": "digits-cnn", "reps": 30, "run_steps": 20, "gap": "accuracy_gap"},
    "gpt": {"example": "char-gpt", "reps": 20, "run_steps": 5, "gap": "eval_loss_gap"},
}

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

    return _time_steps(interp, state, native_step, reps, run_steps, clock)


def example_spec(example: str, **overrides: Any) -> tuple[dict[str, Any], bytes | None]:
    """An example's spec (its artifacts handed to the store) and the bytes of its uploaded dataset, if any."""
    from verde.graph import store

    d = EXAMPLES / example
    store.add_directory(d)
    spec = {**json.loads((d / "spec.json").read_text()), **overrides}
    ds = spec["dataset"]["id"]
    return spec, store.get(ds) if ds.startswith("sha256:") else None


def example_module(example: str) -> ModuleType:
    """The example's model.py (our own checked-in code: the bench plays the client here)."""
    loaded = importlib.util.spec_from_file_location(f"agora_example_{example.replace('-', '_')}",
                                                    EXAMPLES / example / "model.py")
    assert loaded is not None and loaded.loader is not None
    mod = importlib.util.module_from_spec(loaded)
    loaded.loader.exec_module(mod)
    return mod


def _eager_optimizer(spec: dict[str, Any], params: Any) -> torch.optim.Optimizer:
    opt = spec["optimizer"]
    kind = opt["kind"]
    if kind == "sgd":
        return torch.optim.SGD(params, lr=opt["lr"], momentum=opt.get("momentum", 0.0),
                               weight_decay=opt.get("weight_decay", 0.0))
    cls = torch.optim.Adam if kind == "adam" else torch.optim.AdamW
    return cls(params, lr=opt["lr"], betas=tuple(opt.get("betas", (0.9, 0.999))), eps=opt.get("eps", 1e-8),
               weight_decay=opt.get("weight_decay", 0.0))


def _eager_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))


def eager_evaluate(model: torch.nn.Module, interp: Interpreter) -> dict[str, float]:
    """Held-out loss and accuracy of an eager model, batched exactly as ``Interpreter.evaluate`` does."""
    ds, bs = interp.dataset, interp.spec.dataset.batch_size
    shape = interp.program.graph.inputs["x"].shape
    losses, correct, total = [], 0, 0
    with torch.no_grad():
        for i in range(int(ds.x_test.shape[0]) // bs):
            x = ds.x_test[i * bs:(i + 1) * bs].reshape(shape)
            y = ds.y_test[i * bs:(i + 1) * bs]
            logits = model(x)
            losses.append(float(_eager_loss(logits, y)))
            correct += int((logits.argmax(dim=-1) == y).sum())
            total += y.numel()
    return {"loss": sum(losses) / len(losses), "accuracy": correct / total}


def eager_train(example: str, spec: dict[str, Any], interp: Interpreter) -> torch.nn.Module:
    """The example's module trained by plain PyTorch: same initial weights, batches and optimizer as the spec."""
    model = example_module(example).build()
    model.load_state_dict({name.replace("/", "."): t for name, t in interp.initial_state().items()
                           if name in interp.program.params})
    opt = _eager_optimizer(spec, model.parameters())
    for s in range(1, spec["steps"] + 1):
        x, y = interp.batch(s)
        opt.zero_grad(set_to_none=True)
        _eager_loss(model(x), y).backward()
        opt.step()
    return model


def learning_gap(example: str, kind: str) -> dict[str, float]:
    """RepOps vs eager after the example spec's steps: held-out accuracy and loss of both, and the gap."""
    from verde.runner import run_spec

    spec, data = example_spec(example)
    result = run_spec(spec, data=data)
    interp = result.trace.interpreter
    eager = eager_evaluate(eager_train(example, spec, interp), interp)
    repops_eval: dict[str, Any] = {"loss": result.eval_loss, "accuracy": result.accuracy}
    if repops_eval["accuracy"] is None:
        repops_eval["accuracy"] = interp.evaluate(result.final_state, ("accuracy",))["accuracy"]
    gap = (repops_eval["accuracy"] - eager["accuracy"] if kind == "accuracy_gap"
           else (repops_eval["loss"] - eager["loss"]) / eager["loss"])
    return {"repops_loss": repops_eval["loss"], "eager_loss": eager["loss"],
            "repops_accuracy": repops_eval["accuracy"], "eager_accuracy": eager["accuracy"], kind: gap}


def measure_graph(example: str, reps: int, run_steps: int,
                  clock: Callable[[], float] = time.perf_counter) -> dict[str, float]:
    """Median step times (ms) of an example graph program vs its eager module, and the hash share of a normal run."""
    spec, data = example_spec(example, steps=run_steps, checkpoint_every=run_steps)
    interp = Interpreter(spec, data=data)
    state = interp.initial_state()
    model = example_module(example).build()
    model.load_state_dict({name.replace("/", "."): t for name, t in state.items() if name in interp.program.params})
    opt = _eager_optimizer(spec, model.parameters())
    x, y = interp.batch(1)

    def native_step() -> None:
        opt.zero_grad(set_to_none=True)
        _eager_loss(model(x), y).backward()
        opt.step()

    return _time_steps(interp, state, native_step, reps, run_steps, clock)


def _time_steps(interp: Interpreter, state: dict[str, torch.Tensor], native_step: Callable[[], None], reps: int,
                run_steps: int, clock: Callable[[], float]) -> dict[str, float]:
    cur = dict(state)
    step_no = 0

    def repops_step() -> None:
        nonlocal cur, step_no
        step_no += 1
        cur = interp.step(cur, step_no).state

    for _ in range(3):
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
    # the ratio of each adjacent pair, then their median: load that comes and goes (other processes, a busy
    # host) slows both steps of a pair alike, so it cancels here where it would not between two medians
    ratio = statistics.median(r / n for n, r in zip(t_native, t_repops))
    checkpoints = 0

    def count(_step: int, _state: object, _leaf: bytes) -> None:
        nonlocal checkpoints
        checkpoints += 1

    _, stats = interp.run(state, 0, run_steps, on_checkpoint=count)
    per_step = stats.compute_s / stats.steps
    per_hash = stats.hash_s / checkpoints
    return {
        "native_ms": native_s * 1e3,
        "repops_ms": repops_s * 1e3,
        "ratio": ratio,
        "hash_ms": per_hash * 1e3,
        "hash_share": per_hash / (CHECKPOINT_EVERY * per_step + per_hash),
    }


def blas_kernels() -> dict[str, Any]:
    """Which OpenBLAS kernels numpy runs (threadpoolctl), and OPENBLAS_CORETYPE when the environment pins them."""
    import os

    from threadpoolctl import threadpool_info

    info: dict[str, Any] = next((i for i in threadpool_info() if i.get("internal_api") == "openblas"), {})
    return {"architecture": info.get("architecture"), "coretype_env": os.environ.get("OPENBLAS_CORETYPE")}


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
                                  "clock": "thread_cpu" if threads == 1 else "wall", "blas": blas_kernels()}
        pinned = result["blas"].get("coretype_env")
        if pinned:
            print(f"note: OPENBLAS_CORETYPE={pinned} in the environment pins numpy's OpenBLAS to its "
                  f"{result['blas'].get('architecture')} kernels; RepOps' float64 GEMM (exact whatever kernel runs "
                  "it) is then slower than on the CPU's own. To measure those, run this command alone with "
                  "OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset.")
        for name, cfg in SIZES.items():
            m = measure(**{k: cfg[k] for k in ("layers", "batch", "dataset", "reps", "run_steps")}, clock=clock)
            print(
                f"{name:5s} MLP {'-'.join(map(str, cfg['layers']))} batch {cfg['batch']}: "
                f"native {m['native_ms']:.2f} ms, RepOps {m['repops_ms']:.2f} ms, ratio {m['ratio']:.2f}; "
                f"state hash {m['hash_ms']:.2f} ms per {CHECKPOINT_EVERY} steps -> hash share {m['hash_share']:.2%}"
            )
            result[name] = {"ratio": round(m["ratio"], 3), "hash_share": round(m["hash_share"], 5),
                            "native_ms": round(m["native_ms"], 3), "repops_ms": round(m["repops_ms"], 3)}
        for name, cfg in GRAPHS.items():
            m = measure_graph(cfg["example"], cfg["reps"], cfg["run_steps"], clock=clock)
            g = learning_gap(cfg["example"], cfg["gap"])
            what = (f"accuracy RepOps {g['repops_accuracy']:.4f} vs eager {g['eager_accuracy']:.4f}"
                    if cfg["gap"] == "accuracy_gap" else
                    f"eval loss RepOps {g['repops_loss']:.4f} vs eager {g['eager_loss']:.4f}")
            print(
                f"{name:5s} graph {cfg['example']}: native {m['native_ms']:.2f} ms, RepOps {m['repops_ms']:.2f} ms, "
                f"ratio {m['ratio']:.2f}; hash share {m['hash_share']:.2%}; {what} (gap {g[cfg['gap']]:+.4f})"
            )
            result[name] = {"ratio": round(m["ratio"], 3), "hash_share": round(m["hash_share"], 5),
                            cfg["gap"]: round(g[cfg["gap"]], 5), "native_ms": round(m["native_ms"], 3),
                            "repops_ms": round(m["repops_ms"], 3)}
        return result
    finally:
        torch.set_num_threads(before)
