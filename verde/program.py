"""Training programs: a job spec turned into the fixed, ordered list of operators that one training step runs.

Every step runs the same ``N`` ops (``Program.ops``; ``N`` is the job's ``opsPerStep``). An op names its
inputs; a name is one of

* a state tensor after the previous step: parameters ``w{i}``, ``b{i}`` (layer ``i``, ``w`` is in×out so
  the forward product is ``h @ w``), then optimizer slots ``m.<p>``, ``v.<p>`` (Adam) or ``buf.<p>`` (SGD
  with momentum) — ``Program.state_names`` is this order, the order ``H(state)`` hashes in;
* the step's batch, ``x`` and ``y`` (a pure function of the spec and the step number);
* the output of an earlier op of the same step.

Op ``j`` (1-based, as in PROTOCOL §2) has ``kind`` = the RepOps function it calls and ``attrs`` = its
constant arguments; ``transpose`` lists inputs consumed as ``t.T`` (a view, not a computation). The last op
has kind ``state``: it gathers the new values of every state tensor, in ``state_names`` order, and its
output hash is ``H(state)`` = ``L[s]``. The order within a step is forward (per layer: matmul, bias_add,
activation), loss, backward (per layer from the top: dW, db, dX, activation backward), optimizer (all
moment/buffer updates, then all parameter updates).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from verde.spec import AdamSpec, JobSpec, SGDSpec, canonical_json, parse_spec

BATCH_NAMES = ("x", "y")
STATE_KIND = "state"


@dataclass(frozen=True)
class Op:
    index: int  # j, 1-based position in the step
    kind: str  # the RepOps function (or "state")
    inputs: tuple[str, ...]
    output: str
    attrs: dict[str, Any] = field(default_factory=dict, hash=False, compare=True)
    transpose: tuple[int, ...] = ()  # positions in `inputs` consumed transposed


@dataclass(frozen=True)
class Program:
    spec: JobSpec
    params: tuple[str, ...]
    slots: tuple[str, ...]
    ops: tuple[Op, ...]
    loss_output: str = "loss"
    logits_output: str | None = None  # what held-out accuracy reads (None: the program has no logits)
    graph: Any = field(default=None, compare=False)  # verde.graph.format.Graph for graph programs

    @property
    def state_names(self) -> tuple[str, ...]:
        return self.params + self.slots

    @property
    def n_ops(self) -> int:
        """``N`` — ops per step (``opsPerStep`` on chain)."""
        return len(self.ops)

    def op(self, j: int) -> Op:
        """Op ``j`` (1-based)."""
        if not 1 <= j <= len(self.ops):
            raise IndexError(f"op index {j} outside 1..{len(self.ops)}")
        return self.ops[j - 1]

    @property
    def depth(self) -> int:
        return len(self.spec.model.layers) - 1  # type: ignore[union-attr]  (MLP programs only)


class _Builder:
    def __init__(self) -> None:
        self.ops: list[Op] = []

    def add(self, kind: str, inputs: tuple[str, ...], output: str, transpose: tuple[int, ...] = (),
            **attrs: Any) -> str:
        self.ops.append(Op(len(self.ops) + 1, kind, inputs, output, attrs, transpose))
        return output


def build_program(spec: JobSpec) -> Program:
    """The op list for one step of ``spec``; deterministic in the spec alone."""
    spec = parse_spec(spec)
    if spec.model.kind == "graph":
        from verde.graph.program import build_graph_program

        return build_graph_program(spec)
    return _build_cached(canonical_json(spec))


@lru_cache(maxsize=64)
def _build_cached(canonical: bytes) -> Program:
    return _build(parse_spec(canonical))


def _build(spec: JobSpec) -> Program:
    depth = len(spec.model.layers) - 1
    act = spec.model.activation
    params: list[str] = []
    for i in range(depth):
        params += [f"w{i}", f"b{i}"]
    opt = spec.optimizer
    slots = optimizer_slots(opt, params)

    b = _Builder()
    # forward
    h = "x"
    for i in range(depth):
        a = b.add("matmul", (h, f"w{i}"), f"a{i}")
        z = b.add("bias_add", (a, f"b{i}"), f"z{i}")
        if i < depth - 1:
            h = b.add(act, (z,), f"h{i + 1}")
    logits = f"z{depth - 1}"
    # loss, and the gradient of the mean loss with respect to the logits
    if spec.loss == "cross_entropy":
        p = b.add("softmax", (logits,), "p")
        b.add("cross_entropy", (p, "y"), "loss")
        b.add("cross_entropy_backward", (p, "y"), f"dz{depth - 1}")
    else:
        b.add("mse", (logits, "y"), "loss")
        b.add("mse_backward", (logits, "y"), f"dz{depth - 1}")
    # backward
    grads: dict[str, str] = {}
    for i in reversed(range(depth)):
        dz = f"dz{i}"
        h_in = "x" if i == 0 else f"h{i}"
        grads[f"w{i}"] = b.add("matmul", (h_in, dz), f"dw{i}", transpose=(0,))
        grads[f"b{i}"] = b.add("sum", (dz,), f"db{i}", dim=0)
        if i > 0:
            dh = b.add("matmul", (dz, f"w{i}"), f"dh{i}", transpose=(1,))
            # relu/gelu differentiate at their input z; tanh from its output (1 - h^2)
            at = f"h{i}" if act == "tanh" else f"z{i - 1}"
            b.add(f"{act}_backward", (dh, at), f"dz{i - 1}")
    append_optimizer(b, opt, params, grads)
    return Program(spec=spec, params=tuple(params), slots=tuple(slots), ops=tuple(b.ops),
                   logits_output=logits)


def optimizer_slots(opt: SGDSpec | AdamSpec, params: list[str]) -> list[str]:
    """The optimizer's state tensors, in state order: Adam's ``m.<p>`` then ``v.<p>``, SGD-momentum's ``buf.<p>``."""
    if isinstance(opt, AdamSpec):
        return [f"m.{p}" for p in params] + [f"v.{p}" for p in params]
    if opt.momentum > 0:
        return [f"buf.{p}" for p in params]
    return []


def append_optimizer(b: _Builder, opt: SGDSpec | AdamSpec, params: list[str], grads: dict[str, str]) -> None:
    """The optimizer ops (every slot first, then every parameter) and the final ``state`` op."""
    grads = dict(grads)
    slots = optimizer_slots(opt, params)
    new: dict[str, str] = {}
    if isinstance(opt, AdamSpec):
        beta1, beta2 = opt.betas
        if opt.kind == "adam" and opt.weight_decay > 0:
            # Adam's L2 form: the decay joins the gradient before the moments see it.
            for name in params:
                decay = b.add("scale", (name,), f"decay.{name}", c=opt.weight_decay)
                grads[name] = b.add("add", (grads[name], decay), f"g.{name}")
        for name in params:
            new[f"m.{name}"] = b.add("adam_m", (f"m.{name}", grads[name]), f"new.m.{name}", beta1=beta1)
        for name in params:
            new[f"v.{name}"] = b.add("adam_v", (f"v.{name}", grads[name]), f"new.v.{name}", beta2=beta2)
        decoupled = opt.weight_decay if opt.kind == "adamw" else 0.0
        for name in params:
            new[name] = b.add(
                "adam_param", (name, new[f"m.{name}"], new[f"v.{name}"]), f"new.{name}",
                lr=opt.lr, beta1=beta1, beta2=beta2, eps=opt.eps, weight_decay=decoupled,
            )
    else:
        assert isinstance(opt, SGDSpec)
        if opt.momentum > 0:
            for name in params:
                new[f"buf.{name}"] = b.add(
                    "sgd_momentum_buf", (f"buf.{name}", grads[name]), f"new.buf.{name}", momentum=opt.momentum
                )
            steps = {name: new[f"buf.{name}"] for name in params}
        else:
            steps = dict(grads)
        for name in params:
            new[name] = b.add(
                "sgd_param", (name, steps[name]), f"new.{name}", lr=opt.lr, weight_decay=opt.weight_decay
            )
    state_names = params + slots
    b.add(STATE_KIND, tuple(new[n] for n in state_names), STATE_KIND)
