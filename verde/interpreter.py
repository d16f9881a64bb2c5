"""The interpreter that runs a training program with RepOps: whole steps, hashed steps, or one op alone.

Modes (DESIGN §4, PROTOCOL §2):

* ``Interpreter.run`` — a normal run: no per-op hashing; the state is hashed only at checkpoint steps
  (``0, C, 2C, …, S``), giving the segment leaves. Compute and hashing time are measured apart.
* ``Interpreter.step(..., hash_ops=True)`` — one step with every op output hashed: ``H(out_1..N)``,
  from which the op chain ``c[0..N]`` follows (``verde.trace.op_chain``).
* ``execute_op`` — op ``j`` of the program alone, from its input tensors (what the referee runs).
* Resuming is ``step``/``run`` from any state and step number (e.g. a loaded checkpoint).

Graph programs (``verde.graph.program``) run through the same loop: each op's call is bound once per interpreter
(``_plan``: the RepOps ATen kernel with its literal arguments resolved), so a step only looks names up;
each run of optimizer ops (all ``adam_m``, …) is computed as one over all parameters (``verde.opruns``).
A normal step (not ``keep``) drops each tensor after the last op that reads it (``_dead_after``), and the
first Interpreter asks malloc to keep freed memory (``_keep_freed_memory``): values are unaffected.

``Fault`` makes a run wrong on purpose, for tests and the faulty workers of DESIGN §11. A faulty
interpreter is faulty in every replay too, so a cheater's finer trace levels stay consistent with its root.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import Tensor

from verde import opruns, repops, rng
from verde.datasets import Dataset, batch, load_dataset
from verde.merkle import keccak256
from verde.program import STATE_KIND, Op, Program, build_program
from verde.spec import JobSpec, parse_spec
from verde.tensorhash import state_hash, state_hash_of, tensor_hash

State = dict[str, Tensor]

# Init gains (kaiming_uniform: bound = gain * sqrt(3 / fan_in)); the output layer gets gain 1.
_GAIN = {"relu": math.sqrt(2.0), "gelu": math.sqrt(2.0), "tanh": 5.0 / 3.0}


@dataclass(frozen=True)
class Fault:
    """A deliberate error.

    * ``perturb``: at ``step``, add ``delta`` to the largest element of op ``op_index``'s output (the
      largest, so that a ReLU pre-activation's nudge is not masked); when ``delta`` vanishes in rounding
      the element moves to the next float instead. ``op_index=None`` means the last op (the new state):
      the first parameter tensor is nudged — DESIGN §11's ``perturb-step=K``.
    * ``lazy``: from ``step`` on, steps compute but keep the previous state (DESIGN §11's ``lazy``).
    * ``wrong-final``: the run is honest but reports a different final model hash (``verde.runner``).
    """

    step: int
    op_index: int | None = None
    kind: Literal["perturb", "lazy", "wrong-final"] = "perturb"
    delta: float = 1e-2


@dataclass
class RunStats:
    steps: int = 0
    compute_s: float = 0.0
    hash_s: float = 0.0

    @property
    def hash_share(self) -> float:
        total = self.compute_s + self.hash_s
        return self.hash_s / total if total else 0.0


@dataclass
class StepOutcome:
    state: State
    loss: Tensor
    op_hashes: list[bytes] | None = None  # H(out_1..N), when hashed
    env: dict[str, Tensor] | None = field(default=None, repr=False)  # every tensor of the step, when kept


def _apply(op: Op, args: list[Tensor], step: int) -> Tensor:
    for pos in op.transpose:
        args[pos] = args[pos].T
    fn = getattr(repops, op.kind)
    if op.kind == "adam_param":
        return fn(*args, step=step, **op.attrs)
    return fn(*args, **op.attrs)


def _plan(program: Program, device: torch.device) -> list[Callable[[dict, int], object]]:
    """One callable per op, ``call(env, step) -> output``, built once: the step loop only looks names up."""
    calls: list[Callable[[dict, int], object]] = []
    for op in program.ops:
        if "node" in op.attrs:  # a graph node (verde.graph.program)
            calls.append(_graph_call(op, device))
        else:  # an MLP op, an optimizer op or the state op (never called: the step gathers the state itself)
            calls.append(_op_call(op))
    for start, stop in opruns.runs(program.ops):  # optimizer runs: one set of kernels for all parameters
        run = opruns.Run(program.ops[start:stop], getattr(repops, program.ops[start].kind), _op_call)
        for k in range(stop - start):
            calls[start + k] = run.call(k)
    return calls


def _op_call(op: Op) -> Callable[[dict, int], object]:
    """``_apply`` of an MLP or optimizer op with its kernel looked up once; the common untransposed ones direct."""
    if op.transpose or op.kind == STATE_KIND:
        return lambda env, step: _apply(op, [env[n] for n in op.inputs], step)
    fn, names, attrs = getattr(repops, op.kind), op.inputs, op.attrs
    if op.kind == "adam_param":
        return lambda env, step: fn(*[env[n] for n in names], step=step, **attrs)
    return lambda env, step: fn(*[env[n] for n in names], **attrs)


def _graph_call(op: Op, device: torch.device) -> Callable[[dict, int], object]:
    from verde.graph.format import GETITEM, Ref
    from verde.graph.program import bind_args
    from verde.repops.aten import KERNELS
    from verde.repops.aten.pointwise import SAME_DEVICE_BINARY

    args0, slots, kwargs0 = bind_args(op, device)
    if op.kind == GETITEM:
        (_, src), = slots
        index = args0[1]
        return lambda env, step: env[src][index]
    fn = KERNELS[op.kind]

    def resolve(v: object, env: dict) -> object:
        if isinstance(v, Ref):
            return env[v.name]
        if isinstance(v, list):
            return [resolve(x, env) for x in v]
        return v

    def has_ref(v: object) -> bool:
        return isinstance(v, Ref) or (isinstance(v, list) and any(has_ref(x) for x in v))

    # a tensor reference inside a list (cat, index_put) is resolved per call; literal lists (sizes) are not
    nested = any(isinstance(a, list) and has_ref(a) for a in args0) or any(has_ref(v) for v in kwargs0.values())
    if nested:
        def call_nested(env: dict, step: int) -> object:
            args = [resolve(a, env) for a in args0]
            for i, name in slots:
                args[i] = env[name]
            return fn(*args, **{k: resolve(v, env) for k, v in kwargs0.items()})
        return call_nested
    if (device.type == "cpu" and op.kind in SAME_DEVICE_BINARY and len(args0) == 2 and not kwargs0
            and [i for i, _ in slots] == [0, 1]):
        fn = SAME_DEVICE_BINARY[op.kind]  # two tensors on the CPU: the kernel is exactly this torch op
    return _direct_call(fn, args0, slots, kwargs0)


def _direct_call(fn: Callable, args0: list, slots: list[tuple[int, str]], kwargs0: dict
                 ) -> Callable[[dict, int], object]:
    """The call of a node whose tensor arguments are all top-level: the common shapes (tensors first, then
    literals, no keywords) as closures that look names up and call, with no per-call list building."""
    positions = [i for i, _ in slots]
    names = [n for _, n in slots]
    if not kwargs0 and positions == list(range(len(slots))):
        rest = tuple(args0[len(slots):])
        if len(names) == 1:
            (a,) = names
            if not rest:
                return lambda env, step: fn(env[a])
            return lambda env, step: fn(env[a], *rest)
        if len(names) == 2:
            a, b = names
            if not rest:
                return lambda env, step: fn(env[a], env[b])
            return lambda env, step: fn(env[a], env[b], *rest)
        if len(names) == 3 and not rest:
            a, b, c = names
            return lambda env, step: fn(env[a], env[b], env[c])

    def call(env: dict, step: int) -> object:
        args = args0.copy()
        for i, name in slots:
            args[i] = env[name]
        return fn(*args, **kwargs0)
    return call


def _nudge(t: Tensor | tuple, delta: float) -> Tensor | tuple:
    if isinstance(t, (tuple, list)):  # a multi-output node: nudge its first tensor
        first = next(i for i, v in enumerate(t) if v is not None)
        return (*t[:first], _nudge(t[first], delta), *t[first + 1:])
    t = t.clone()
    flat = t.view(-1)
    i = int(torch.argmax(flat))
    old = flat[i].clone()
    new = old + delta
    if bool(new == old):
        new = torch.nextafter(old, torch.tensor(math.inf, dtype=old.dtype, device=old.device))
    flat[i] = new
    return t


def execute_op(spec: JobSpec | dict, op_index: int, inputs: Mapping[str, Tensor], step: int) -> Tensor | State:
    """Op ``op_index`` (1-based) of ``spec``'s program at ``step``, from its named inputs, with RepOps.

    Returns the output tensor, or for the last op the new state (its hash is ``H(state)``).
    """
    program = build_program(parse_spec(spec))
    op = program.op(op_index)
    missing = [n for n in op.inputs if n not in inputs]
    if missing:
        raise KeyError(f"op {op_index} ({op.kind}) needs inputs {', '.join(missing)}")
    if op.kind == STATE_KIND:
        return {name: inputs[src] for name, src in zip(program.state_names, op.inputs)}
    if "node" in op.attrs:  # a graph node: its kernel on the device its inputs live on
        devices = [t.device for t in inputs.values() if isinstance(t, Tensor)]
        return _graph_call(op, devices[0] if devices else torch.device("cpu"))(dict(inputs), step)
    return _apply(op, [inputs[n] for n in op.inputs], step)


_NO_TENSOR = bytes(32)


def output_hash(out: Tensor | State | tuple) -> bytes:
    """``H(out_j)``: the tensor hash; for the state op the state hash; for a node returning several tensors
    ``keccak256(H(t_1) ‖ … ‖ H(t_k))`` with 32 zero bytes where it returns none."""
    if isinstance(out, dict):
        return state_hash(out)
    if isinstance(out, (tuple, list)):  # split and friends return lists
        return keccak256(b"".join(_NO_TENSOR if t is None else tensor_hash(t) for t in out))
    return tensor_hash(out)


def initial_state(program: Program, device: str | torch.device = "cpu") -> State:
    """Parameters from the spec's seed (kaiming-uniform weights, zero biases) or, for a graph program, the
    client's weights; zero optimizer slots."""
    spec = program.spec
    if program.graph is not None:
        from verde.graph.program import initial_parameters

        params = initial_parameters(spec)
        slots = {slot: torch.zeros_like(params[slot.split(".", 1)[1]]) for slot in program.slots}
        return {k: v.to(device) for k, v in {**params, **slots}.items()}
    layers = spec.model.layers
    depth = len(layers) - 1
    state: State = {}
    for i in range(depth):
        gain = 1.0 if i == depth - 1 else _GAIN[spec.model.activation]
        state[f"w{i}"] = rng.kaiming_uniform(spec.seed, f"init.w{i}", layers[i], (layers[i], layers[i + 1]), gain=gain)
        state[f"b{i}"] = torch.zeros(layers[i + 1], dtype=torch.float32)
    for slot in program.slots:
        state[slot] = torch.zeros_like(state[slot.split(".", 1)[1]])
    return {k: v.to(device) for k, v in state.items()}


def _dead_after(program: Program) -> list[tuple[str, ...]]:
    """For each op but the last, the names of step tensors that no later op reads (the state op's inputs and
    the loss excepted, and the step's starting state, which the caller holds anyway)."""
    held = set(program.ops[-1].inputs) | {program.loss_output} | set(program.state_names)
    last_read: dict[str, int] = {}
    for i, op in enumerate(program.ops[:-1]):
        for name in op.inputs:
            last_read[name] = i
        last_read.setdefault(op.output, i)  # an output nothing reads is dropped at once
    dead: list[list[str]] = [[] for _ in program.ops[:-1]]
    for name, i in last_read.items():
        if name not in held:
            dead[i].append(name)
    return [tuple(d) for d in dead]


_HEAP_TUNED = False


def _keep_freed_memory() -> None:
    """Ask glibc's malloc to keep freed tensor memory for reuse instead of handing it back to the kernel.

    A RepOps step allocates and frees hundreds of float64 temporaries of 0.1-2 MB. With glibc's defaults
    many of them are mmap'ed and unmapped each time, so every step pays thousands of page faults (measured:
    ~1,000-4,000 per GPT step, several ms). Raising the mmap and trim thresholds makes them ordinary heap
    blocks that the next step reuses. Values and bits are unaffected; only where memory comes from. A no-op
    off glibc (the call is looked up and skipped when absent).
    """
    global _HEAP_TUNED
    if _HEAP_TUNED:
        return
    _HEAP_TUNED = True
    try:
        import ctypes

        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return
    m_trim_threshold, m_top_pad, m_mmap_threshold = -1, -2, -3
    mallopt(m_mmap_threshold, 32 << 20)  # glibc's maximum: blocks below 32 MiB come from the heap
    mallopt(m_trim_threshold, 512 << 20)  # keep up to 512 MiB of freed heap
    mallopt(m_top_pad, 64 << 20)


class Interpreter:
    """Runs one spec's program on one device; optionally faulty."""

    def __init__(self, spec: JobSpec | dict, dataset: Dataset | None = None, *, data: bytes | None = None,
                 device: str | torch.device = "cpu", fault: Fault | None = None):
        self.spec = parse_spec(spec)
        self.program = build_program(self.spec)
        self.dataset = dataset if dataset is not None else load_dataset(self.spec, data)
        self.device = torch.device(device)
        if fault is not None:
            if not 1 <= fault.step <= self.spec.steps:
                raise ValueError(f"fault step {fault.step} outside 1..{self.spec.steps}")
            if fault.op_index is not None and not 1 <= fault.op_index <= self.program.n_ops:
                raise ValueError(f"fault op {fault.op_index} outside 1..{self.program.n_ops}")
        self.fault = fault
        _keep_freed_memory()
        self._calls = _plan(self.program, self.device)
        self._dead_after = _dead_after(self.program)
        # (call, output, tensors dead after it) per op but the state op: a normal step's whole loop
        self._lean = [(self._calls[op.index - 1], op.output, self._dead_after[op.index - 1])
                      for op in self.program.ops[:-1]]
        graph = self.program.graph
        self._x_shape = graph.inputs["x"].shape if graph is not None else None
        if graph is not None:
            from verde.datasets import check_graph_fits

            x, y = graph.inputs["x"], graph.inputs["y"]
            check_graph_fits(self.dataset, x.shape[1:], x.dtype, y.shape[1:], y.dtype)

    @property
    def n_ops(self) -> int:
        return self.program.n_ops

    def initial_state(self) -> State:
        return initial_state(self.program, self.device)

    def batch(self, step: int) -> tuple[Tensor, Tensor]:
        x, y = batch(self.spec, self.dataset, step, self.device)
        if self._x_shape is not None:  # e.g. digits' 64 pixels as the graph's 1x8x8 images
            x = x.reshape(self._x_shape)
        return x, y

    def step(self, state: Mapping[str, Tensor], step: int, *, hash_ops: bool = False, keep: bool = False
             ) -> StepOutcome:
        """Run training step ``step`` (1-based) from the state after step ``step - 1``."""
        program, fault = self.program, self.fault
        perturb_at = None
        if fault is not None and fault.kind == "perturb" and fault.step == step:
            perturb_at = fault.op_index if fault.op_index is not None else program.n_ops
        env: dict[str, Tensor] = dict(state)
        env["x"], env["y"] = self.batch(step)
        hashes: list[bytes] | None = [] if hash_ops else None
        by_output: dict[str, bytes] = {}
        calls = self._calls
        dead = None if keep else self._dead_after
        with self._device_context():
            if hashes is None and perturb_at is None and dead is not None:  # a normal step: the lean loop
                for call, output, gone in self._lean:
                    env[output] = call(env, step)
                    for name in gone:
                        del env[name]
            else:
                for op in program.ops[:-1]:
                    out = calls[op.index - 1](env, step)
                    if perturb_at == op.index:
                        out = _nudge(out, fault.delta)  # type: ignore[union-attr]
                    env[op.output] = out
                    if hashes is not None:
                        h = output_hash(out)
                        hashes.append(h)
                        by_output[op.output] = h
                    if dead is not None:  # tensors no later op reads go back to the allocator while they are hot
                        for name in dead[op.index - 1]:
                            del env[name]
        last = program.ops[-1]
        new_state = {name: env[src] for name, src in zip(program.state_names, last.inputs)}
        state_changed = False
        if fault is not None and fault.kind == "lazy" and step >= fault.step:
            new_state, state_changed = dict(state), True
        if perturb_at == last.index:
            first = program.params[0]
            new_state[first] = _nudge(new_state[first], fault.delta)  # type: ignore[union-attr]
            state_changed = True
        if hashes is not None:
            if state_changed:
                hashes.append(state_hash(new_state))
            else:  # the state's tensors are op outputs already hashed
                hashes.append(state_hash_of(program.state_names, (by_output[src] for src in last.inputs)))
        return StepOutcome(new_state, env[program.loss_output], hashes, env if keep else None)

    def _device_context(self) -> contextlib.AbstractContextManager:
        """Graph kernels allocate constants on the run's device (the graph records the exporter's)."""
        if self.program.graph is None or self.device.type == "cpu":
            return contextlib.nullcontext()
        from verde.repops.aten.context import on_device

        return on_device(self.device)

    def evaluate(self, state: Mapping[str, Tensor], metrics: tuple[str, ...] = ("loss", "accuracy")
                 ) -> dict[str, float]:
        """Held-out loss and/or accuracy of a graph program with its own forward nodes (RepOps).

        The graph is exported for one batch shape, so the held-out set runs in whole batches in order (a
        last partial batch is left out); the loss is the mean of the batch losses, summed in order in
        float64. Accuracy counts positions whose largest logit is the label.
        """
        program, ds = self.program, self.dataset
        bs = self.spec.dataset.batch_size
        n_batches = int(ds.x_test.shape[0]) // bs
        wanted = {program.loss_output} | ({program.logits_output} if program.logits_output else set())
        last = max(op.index for op in program.ops if op.output in wanted)
        losses: list[float] = []
        correct = total = 0
        env: dict[str, object] = dict(state)
        for i in range(n_batches):
            x = ds.x_test[i * bs:(i + 1) * bs].to(self.device)
            env["x"] = x.reshape(self._x_shape) if self._x_shape is not None else x
            env["y"] = ds.y_test[i * bs:(i + 1) * bs].to(self.device)
            with self._device_context():
                for op in program.ops[:last]:
                    env[op.output] = self._calls[op.index - 1](env, 0)
            losses.append(float(env[program.loss_output]))  # type: ignore[arg-type]
            if program.logits_output and ds.classes is not None:
                logits = env[program.logits_output]
                pred = logits.argmax(dim=-1).cpu()  # type: ignore[union-attr]
                correct += int((pred == env["y"].cpu()).sum())  # type: ignore[union-attr]
                total += pred.numel()
        out: dict[str, float] = {}
        if "loss" in metrics and losses:
            out["loss"] = sum(losses) / len(losses)
        if "accuracy" in metrics and total:
            out["accuracy"] = correct / total
        return out

    def run(self, state: Mapping[str, Tensor], start: int, stop: int, *,
            on_checkpoint: Callable[[int, State, bytes], None] | None = None,
            on_step: Callable[[int, float], None] | None = None) -> tuple[State, RunStats]:
        """Normal run from the state after step ``start`` up to step ``stop``.

        ``on_checkpoint(step, state, H(state))`` fires at every checkpoint step in ``[start, stop]``
        (multiples of ``checkpoint_every``, step 0, and the job's last step) — the segment leaves.
        """
        spec = self.spec
        every, last = spec.checkpoint_every, spec.steps
        stats = RunStats()
        sync = self.device.type == "cuda"
        cur: State = dict(state)

        def checkpoint(t: int) -> None:
            if sync:
                torch.cuda.synchronize(self.device)
            t0 = time.perf_counter()
            leaf = state_hash(cur)
            stats.hash_s += time.perf_counter() - t0
            if on_checkpoint is not None:
                on_checkpoint(t, cur, leaf)

        if start % every == 0 or start == last:
            checkpoint(start)
        t0 = time.perf_counter()
        for s in range(start + 1, stop + 1):
            out = self.step(cur, s)
            cur = out.state
            stats.steps += 1
            if on_step is not None:
                on_step(s, float(out.loss))
            if s % every == 0 or s == last:
                if sync:
                    torch.cuda.synchronize(self.device)
                stats.compute_s += time.perf_counter() - t0
                checkpoint(s)
                t0 = time.perf_counter()
        if sync:
            torch.cuda.synchronize(self.device)
        stats.compute_s += time.perf_counter() - t0
        return cur, stats

    def forward(self, state: Mapping[str, Tensor], x: Tensor) -> Tensor:
        """The model's outputs (logits) for inputs ``x`` with the program's own forward ops (RepOps)."""
        env: dict[str, Tensor] = dict(state)
        env["x"] = x.to(self.device)
        logits = self.program.logits_output
        for op in self.program.ops:
            env[op.output] = _apply(op, [env[n] for n in op.inputs], 0)
            if op.output == logits:
                return env[logits]
        raise AssertionError("program has no logits op")  # build_program always emits one


def op_chain(prev_leaf: bytes, op_hashes: list[bytes]) -> list[bytes]:
    """``c[0..N]`` of PROTOCOL §2 from ``L[s-1]`` and ``H(out_1..N)``: chained except the last (``c[N] = H(state)``)."""
    chain = [prev_leaf]
    for h in op_hashes[:-1]:
        chain.append(keccak256(chain[-1] + h))
    chain.append(op_hashes[-1])
    return chain
