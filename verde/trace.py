"""A run's execution trace at its three levels (PROTOCOL §3), with Merkle roots and proofs, finer levels by replay.

Levels (``S`` steps, checkpoint interval ``C``, ``N`` ops per step):

0. segments — ``[L[0], L[C], L[2C], …, L[S]]``; its root is the trace root posted with the result.
1. steps of segment ``k`` — ``[L[kC], …, L[min((k+1)C, S)]]``, replayed from checkpoint ``kC``.
2. ops of step ``s`` — ``[c[0] = L[s-1], c[1], …, c[N] = L[s]]``, replayed from the state after ``s-1``.

``L[t] = H(state_t)``; ``c[j] = keccak256(c[j-1] ‖ H(out_j))`` for ``1 ≤ j < N``, ``c[N] = H(out_N)``.
Each level is a ``verde.merkle`` tree (position-bound keccak256; the rule is written in that module's
docstring and is the one DisputeGame verifies). ``Trace.leaves(level, index)`` is the entry point the
bisection solver uses: level 0 ignores ``index``, level 1 takes a segment ``k``, level 2 a step ``s``.

The referee side — ``op_inputs`` (what a party hands over), ``verify_op_inputs`` (checking them against
agreed hashes) and ``referee_output_hash`` (recomputing one op) — needs no trace of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from torch import Tensor

from verde.checkpoint import Checkpoint
from verde.datasets import Dataset, batch, load_dataset
from verde.interpreter import Interpreter, State, execute_op, op_chain, output_hash
from verde.merkle import MerkleTree, keccak256
from verde.program import BATCH_NAMES, Op, build_program
from verde.spec import JobSpec, parse_spec
from verde.tensorhash import slots_hash, state_hash, state_hash_of, tensor_hash

SEGMENTS, STEPS, OPS = 0, 1, 2


def checkpoint_steps(spec: JobSpec) -> list[int]:
    """``0, C, 2C, …`` and ``S``: the steps whose state is kept and whose leaves form level 0."""
    steps = list(range(0, spec.steps, spec.checkpoint_every))
    return steps + [spec.steps]


class TraceError(ValueError):
    """A request outside the trace, or a checkpoint that does not match its committed leaf."""


@dataclass(frozen=True)
class OpInputs:
    """What op ``op_index`` of step ``step`` consumed, with the hashes that let a referee check it.

    ``tensors`` maps each of ``op.inputs`` to its tensor. ``prior_hashes`` is ``H(out_1..j-1)``:
    re-chained from ``prev_leaf`` it must give the agreed ``c[j-1]``. ``state_hashes`` is ``H(t)`` of
    each tensor of the state after step ``step-1`` in program order: combined it must give ``L[step-1]``.
    """

    step: int
    op_index: int
    op: Op
    tensors: dict[str, Tensor]
    prior_hashes: list[bytes]
    state_hashes: list[bytes]
    prev_leaf: bytes  # c[0] = L[step-1]
    chain: bytes  # c[j-1]


class Trace:
    """One party's trace of one job: the segment leaves of its run, and checkpoints to replay from.

    ``checkpoints`` gives the state after each step of ``checkpoint_steps``: a dict (in memory) or a
    loader ``step -> State | Checkpoint`` (e.g. ``load_state`` over the worker's checkpoint files).
    Replays run on the interpreter's device with its fault, if any, so a faulty party's finer levels
    stay consistent with its own root.
    """

    def __init__(self, interpreter: Interpreter, segment_leaves: list[bytes],
                 checkpoints: Mapping[int, State] | Callable[[int], State | Checkpoint]):
        self.interpreter = interpreter
        self.spec = interpreter.spec
        expected = len(checkpoint_steps(self.spec))
        if len(segment_leaves) != expected:
            raise TraceError(f"{len(segment_leaves)} segment leaves, the spec has {expected}")
        self._segment_leaves = list(segment_leaves)
        self._load = checkpoints.__getitem__ if isinstance(checkpoints, Mapping) else checkpoints
        self._trees: dict[tuple[int, int], MerkleTree] = {}
        self._step_leaves: dict[int, list[bytes]] = {}
        self._op_hashes: dict[int, list[bytes]] = {}
        self._prev_leaves: dict[int, bytes] = {}
        self._cursor: tuple[int, State] | None = None  # the last replayed state, to walk forward from

    # -- sizes -------------------------------------------------------------------------------------
    @property
    def n_segments(self) -> int:
        """Segments ``k = 0 .. n_segments-1`` (level 0 has ``n_segments + 1`` leaves)."""
        return len(self._segment_leaves) - 1

    @property
    def n_ops(self) -> int:
        return self.interpreter.n_ops

    def segment_bounds(self, k: int) -> tuple[int, int]:
        """First and last step of segment ``k``: ``(kC, min((k+1)C, S))``."""
        if not 0 <= k < self.n_segments:
            raise TraceError(f"segment {k} outside 0..{self.n_segments - 1}")
        c = self.spec.checkpoint_every
        return k * c, min((k + 1) * c, self.spec.steps)

    # -- leaves ------------------------------------------------------------------------------------
    def segment_leaves(self) -> list[bytes]:
        return list(self._segment_leaves)

    def step_leaves(self, k: int) -> list[bytes]:
        """``[L[kC], …, L[min((k+1)C, S)]]``, replayed from checkpoint ``kC``."""
        if k not in self._step_leaves:
            lo, hi = self.segment_bounds(k)
            state = self._checkpoint(lo)
            leaves = [state_hash(state)]
            if leaves[0] != self._segment_leaves[k]:
                raise TraceError(f"checkpoint {lo} does not hash to the committed leaf L[{lo}]")
            for s in range(lo + 1, hi + 1):
                state = self.interpreter.step(state, s).state
                leaves.append(state_hash(state))
            if leaves[-1] != self._segment_leaves[k + 1]:
                raise TraceError(f"replaying segment {k} does not reproduce the committed leaf L[{hi}]")
            self._cursor = (hi, state)
            self._step_leaves[k] = leaves
        return list(self._step_leaves[k])

    def op_leaves(self, s: int) -> list[bytes]:
        """``c[0..N]`` of step ``s``, replayed from the state after ``s - 1``."""
        if s not in self._op_hashes:
            self._op_hashes[s] = self._replay_step(s, keep=False)[1].op_hashes or []
        return op_chain(self._prev_leaves[s], self._op_hashes[s])

    def op_output_hashes(self, s: int) -> list[bytes]:
        """``H(out_1..N)`` of step ``s`` (``H(out_N) = L[s]``), replayed like ``op_leaves``."""
        self.op_leaves(s)
        return list(self._op_hashes[s])

    def leaves(self, level: int, index: int = 0) -> list[bytes]:
        """Level 0: segment leaves (``index`` ignored); 1: step leaves of segment ``index``; 2: op chain of step ``index``."""
        if level == SEGMENTS:
            return self.segment_leaves()
        if level == STEPS:
            return self.step_leaves(index)
        if level == OPS:
            return self.op_leaves(index)
        raise TraceError(f"level {level} outside 0..2")

    def final_slots_hash(self) -> bytes:
        """``slotsHash`` of the final state (checkpoint ``S``): with the final model hash it makes ``L[S]`` (§7)."""
        return slots_hash(self._checkpoint(self.spec.steps))

    # -- Merkle ------------------------------------------------------------------------------------
    def tree(self, level: int, index: int = 0) -> MerkleTree:
        key = (level, 0 if level == SEGMENTS else index)
        if key not in self._trees:
            self._trees[key] = MerkleTree(self.leaves(level, index))
        return self._trees[key]

    def root(self, level: int = SEGMENTS, index: int = 0) -> bytes:
        return self.tree(level, index).root

    @property
    def trace_root(self) -> bytes:
        return self.root(SEGMENTS)

    def proof(self, level: int, index: int, position: int) -> list[bytes]:
        """Merkle proof of leaf ``position`` in the tree ``(level, index)``."""
        return self.tree(level, index).proof(position)

    # -- referee material ---------------------------------------------------------------------------
    def op_inputs(self, s: int, j: int) -> OpInputs:
        """The tensors op ``j`` of step ``s`` consumed, with ``H(out_1..j-1)`` and the previous state's tensor hashes."""
        op = self.interpreter.program.op(j)
        prev_state, out = self._replay_step(s, keep=True)
        assert out.env is not None and out.op_hashes is not None
        self._op_hashes.setdefault(s, out.op_hashes)
        prev_leaf = state_hash(prev_state)
        prior = out.op_hashes[: j - 1]
        return OpInputs(
            step=s,
            op_index=j,
            op=op,
            tensors={name: out.env[name] for name in op.inputs},
            prior_hashes=prior,
            state_hashes=[tensor_hash(t) for t in prev_state.values()],
            prev_leaf=prev_leaf,
            chain=rechain(prev_leaf, prior),
        )

    def state_at(self, t: int) -> State:
        """The state after step ``t``, replayed from the nearest checkpoint (what a party hands the referee)."""
        return dict(self._state_at(t))

    # -- replay ------------------------------------------------------------------------------------
    def _checkpoint(self, t: int) -> State:
        try:
            state = self._load(t)
        except (KeyError, FileNotFoundError):
            raise TraceError(f"no checkpoint for step {t}") from None
        if isinstance(state, Checkpoint):
            state = state.state
        device = self.interpreter.device
        return {k: v.to(device) for k, v in state.items()}

    def _state_at(self, t: int) -> State:
        if not 0 <= t <= self.spec.steps:
            raise TraceError(f"step {t} outside 0..{self.spec.steps}")
        base = (t // self.spec.checkpoint_every) * self.spec.checkpoint_every
        if self._cursor is not None and base <= self._cursor[0] <= t:
            start, state = self._cursor
        else:
            start, state = base, self._checkpoint(base)
        for s in range(start + 1, t + 1):
            state = self.interpreter.step(state, s).state
        self._cursor = (t, state)
        return state

    def _replay_step(self, s: int, *, keep: bool):
        if not 1 <= s <= self.spec.steps:
            raise TraceError(f"step {s} outside 1..{self.spec.steps}")
        prev = self._state_at(s - 1)
        out = self.interpreter.step(prev, s, hash_ops=True, keep=keep)
        self._prev_leaves[s] = state_hash(prev)
        return prev, out



def rechain(prev_leaf: bytes, prior_hashes: list[bytes]) -> bytes:
    """``c[j-1]`` from ``c[0] = L[s-1]`` and ``H(out_1..j-1)``: the chain folded over the prior hashes."""
    c = prev_leaf
    for h in prior_hashes:
        c = keccak256(c + h)
    return c


def referee_output_hash(spec: JobSpec | dict, s: int, j: int, inputs: Mapping[str, Tensor]) -> bytes:
    """``H(out_j)`` of op ``j`` at step ``s`` recomputed alone from ``inputs`` with RepOps — the referee's answer."""
    return output_hash(execute_op(spec, j, inputs, s))


def verify_op_inputs(spec: JobSpec | dict, given: OpInputs, agreed_prev_leaf: bytes, agreed_chain: bytes,
                     dataset: Dataset | None = None, data: bytes | None = None) -> None:
    """Check handed-over inputs against what both parties agreed on; raise ``TraceError`` on any mismatch.

    ``agreed_prev_leaf`` is ``L[s-1]`` (= agreed ``c[0]``), ``agreed_chain`` is the agreed ``c[j-1]``.
    State tensors are checked through ``state_hashes`` (which must combine to ``L[s-1]``), earlier op
    outputs through ``prior_hashes`` (which must re-chain to ``c[j-1]``), and the batch ``x``/``y`` by
    rebuilding it from the spec and the dataset.
    """
    spec = parse_spec(spec)
    program = build_program(spec)
    s, j = given.step, given.op_index
    op = program.op(j)
    if len(given.state_hashes) != len(program.state_names) or state_hash_of(
            program.state_names, given.state_hashes) != agreed_prev_leaf:
        raise TraceError("state tensor hashes do not combine to the agreed L[s-1]")
    if len(given.prior_hashes) != j - 1:
        raise TraceError(f"expected {j - 1} prior output hashes, got {len(given.prior_hashes)}")
    if rechain(agreed_prev_leaf, list(given.prior_hashes)) != agreed_chain:
        raise TraceError(f"prior output hashes do not re-chain to the agreed c[{j - 1}]")
    state_pos = {name: i for i, name in enumerate(program.state_names)}
    out_pos = {o.output: o.index for o in program.ops}
    x = y = None
    for name in op.inputs:
        if name not in given.tensors:
            raise TraceError(f"input {name} missing")
        h = output_hash(given.tensors[name])
        if name in BATCH_NAMES:
            if x is None or y is None:
                ds = dataset if dataset is not None else load_dataset(spec, data)
                x, y = batch(spec, ds, s)
                if program.graph is not None:  # the graph's own sample shape (e.g. 64 pixels as 1x8x8)
                    x = x.reshape(program.graph.inputs["x"].shape)
            expected = tensor_hash(x if name == "x" else y)
        elif name in state_pos:
            expected = given.state_hashes[state_pos[name]]
        else:
            expected = given.prior_hashes[out_pos[name] - 1]
        if h != expected:
            raise TraceError(f"input {name} does not match its agreed hash")
