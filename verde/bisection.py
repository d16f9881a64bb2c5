"""The bisection solver: a party's next DisputeGame move from the game's state and its own trace (pure, no I/O).

The rules mirror contracts/src/libraries/Game.sol (docs/PROTOCOL.md §6) exactly — split points, level lengths,
how a round narrows the interval — so a player can compute its move, and tests can replay whole games off-chain:

* interval ``[lo, hi]`` at ``level`` (0 segments, 1 steps of segment ``index``, 2 op chain of step ``index``);
* ``m = min(k, hi - lo)`` parts, split points ``p_t = lo + t(hi - lo) // m``; a reveal covers ``p_1..p_{m-1}``
  (the very first round also ``p_0 = 0`` and ``p_m = hi``);
* the interval becomes ``[p_{t-1}, p_t]`` for the first ``t`` whose elements differ;
* at ``hi = lo + 1`` both descend (finer root + proofs of its first and last leaf) or, at level 2, reveal
  ``H(out_hi)``;
* equal roots open the game in ProveFinal (PROTOCOL §7): the defender alone proves its last segment leaf is
  ``keccak256(finalModelHash ‖ slotsHash)`` (a source that knows its final slots hash answers it).

A ``LeafSource`` gives a party's leaves per level and op output hashes; ``verde.trace.Trace`` (through
``TraceSource``) and ``SyntheticTrace`` (tests, benches) are the two kinds.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from enum import IntEnum
from typing import TYPE_CHECKING, Protocol

from verde.merkle import MerkleTree, depth_for, keccak256

if TYPE_CHECKING:
    from verde.trace import Trace

SEGMENTS, STEPS, OPS = 0, 1, 2


class Phase(IntEnum):
    """Game.Phase."""

    NONE = 0
    BISECT = 1
    DESCEND = 2
    REVEAL = 3
    REFEREE = 4
    SETTLED = 5
    PROVE_FINAL = 6


class Role(IntEnum):
    """Which side a player is on (the bit it holds in Game.State.moved)."""

    DEFENDER = 1
    CHALLENGER = 2

    @property
    def other(self) -> Role:
        return Role.CHALLENGER if self is Role.DEFENDER else Role.DEFENDER


class LeafSource(Protocol):
    """A party's trace as the game sees it."""

    def leaves(self, level: int, index: int) -> list[bytes]:
        """Level 0: segment leaves (index ignored); 1: step leaves of segment index; 2: op chain of step index."""
        ...

    def output_hash(self, step: int, op: int) -> bytes:
        """``H(out_op)`` of op ``op`` (1-based) at step ``step`` (1-based)."""
        ...


# ---------------------------------------------------------------------------------------------- geometry


@dataclass(frozen=True)
class Shape:
    """A job's trace shape: S steps, checkpoint interval C, N ops per step."""

    steps: int
    checkpoint_every: int
    ops_per_step: int

    @property
    def segments(self) -> int:
        return -(-self.steps // self.checkpoint_every)

    def steps_in_segment(self, seg: int) -> int:
        c = self.checkpoint_every
        return min((seg + 1) * c, self.steps) - seg * c

    def level_length(self, level: int, index: int) -> int:
        if level == SEGMENTS:
            return self.segments + 1
        if level == STEPS:
            return self.steps_in_segment(index) + 1
        return self.ops_per_step + 1

    def finer(self, level: int, lo: int, index: int) -> tuple[int, int]:
        """(level, index) below the interval [lo, lo + 1] of (level, index)."""
        if level == SEGMENTS:
            return STEPS, lo
        if level == STEPS:
            return OPS, index * self.checkpoint_every + lo + 1
        raise ValueError("the op level has no finer level")


def parts(lo: int, hi: int, k: int) -> int:
    return min(k, hi - lo)


def split_points(lo: int, hi: int, k: int) -> list[int]:
    """``p_0 .. p_m`` of the interval (both ends included)."""
    m = parts(lo, hi, k)
    return [lo + (t * (hi - lo)) // m for t in range(m + 1)]


def positions(lo: int, hi: int, k: int, ends_known: bool) -> list[int]:
    """The positions a reveal covers, ascending (Game.positions)."""
    points = split_points(lo, hi, k)
    return points[1:-1] if ends_known else points


@dataclass(frozen=True)
class Narrowed:
    """What a round decided: the next interval with its elements, or an early end of the first round."""

    lo: int
    hi: int
    agreed: bytes
    hi_defender: bytes
    hi_challenger: bytes
    initial_state_disputed: bool = False  # first round: L[0] differs → the referee rules on L[0]
    same_final_state: bool = False  # first round: L[S] equal → the defender wins


def narrow(lo: int, hi: int, k: int, ends_known: bool, defender: Sequence[bytes], challenger: Sequence[bytes],
           agreed: bytes = b"", hi_defender: bytes = b"", hi_challenger: bytes = b"") -> Narrowed:
    """Game._narrowRound: the first sub-interval where agreement turns into disagreement."""
    points = split_points(lo, hi, k)
    m = len(points) - 1
    d, c = list(defender), list(challenger)
    if not ends_known:
        if d[0] != c[0]:
            return Narrowed(lo, hi, b"", d[0], c[0], initial_state_disputed=True)
        if d[-1] == c[-1]:
            return Narrowed(lo, hi, d[0], d[-1], c[-1], same_final_state=True)
        agreed, hi_defender, hi_challenger = d[0], d[-1], c[-1]
        d, c = d[1:-1], c[1:-1]
    t = 1
    while t < m and d[t - 1] == c[t - 1]:
        t += 1
    if t > 1:
        agreed = d[t - 2]
    if t < m:
        hi_defender, hi_challenger = d[t - 1], c[t - 1]
    return Narrowed(points[t - 1], points[t], agreed, hi_defender, hi_challenger)


# ---------------------------------------------------------------------------------------------- multiproofs


def multiproof(tree: MerkleTree, indices: Sequence[int]) -> list[bytes]:
    """The siblings a bottom-up walk from the strictly ascending `indices` needs, in the order it needs them
    (MerkleProof.verifyMulti): at each level, left to right, a node whose sibling is not itself known takes the
    next word. Same tree rule as verde.merkle; split points share their upper siblings, so this is far shorter
    than one proof per element."""
    known = list(indices)
    if not known or any(b <= a for a, b in itertools.pairwise(known)) or known[-1] >= tree.n:
        raise ValueError(f"indices must be strictly ascending within 0..{tree.n - 1}: {known}")
    out: list[bytes] = []
    for b in range(tree.depth):
        nxt: list[int] = []
        r = 0
        while r < len(known):
            i = known[r]
            if i % 2 == 0 and r + 1 < len(known) and known[r + 1] == i + 1:
                r += 2
            else:
                out.append(tree.levels[b][i ^ 1])
                r += 1
            nxt.append(i >> 1)
        known = nxt
    return out


def verify_multiproof(root: bytes, n: int, indices: Sequence[int], leaves: Sequence[bytes],
                      proof: Sequence[bytes]) -> bool:
    """Python twin of MerkleProof.verifyMulti (the contract must agree bit for bit)."""
    if n < 1 or not indices or len(indices) != len(leaves):
        return False
    if any(i >= n for i in indices) or any(b <= a for a, b in itertools.pairwise(indices)):
        return False
    nodes = list(zip(indices, leaves))
    p = 0
    for _ in range(depth_for(n)):
        nxt = []
        r = 0
        while r < len(nodes):
            i, h = nodes[r]
            if i % 2 == 0 and r + 1 < len(nodes) and nodes[r + 1][0] == i + 1:
                parent = keccak256(h + nodes[r + 1][1])
                r += 2
            else:
                if p == len(proof):
                    return False
                sib = proof[p]
                p += 1
                parent = keccak256(h + sib) if i % 2 == 0 else keccak256(sib + h)
                r += 1
            nxt.append((i >> 1, parent))
        nodes = nxt
    return p == len(proof) and len(nodes) == 1 and nodes[0][1] == root


# ---------------------------------------------------------------------------------------------- moves


@dataclass(frozen=True)
class Reveal:
    """DisputeGame.reveal arguments: own elements, their multiproof, and the first mover's elements (or []).

    ``slots_hash`` is set on the defender's first-round reveal (DisputeGame.revealFirst): the slotsHash of its
    final state, which with the submitted finalModelHash must give its L[S] (PROTOCOL §7)."""

    elements: list[bytes]
    proofs: list[bytes]
    other_elements: list[bytes]
    slots_hash: bytes | None = None


@dataclass(frozen=True)
class Descend:
    """DisputeGame.descend arguments."""

    finer_root: bytes
    first_proof: list[bytes]
    last_proof: list[bytes]


@dataclass(frozen=True)
class RevealOutput:
    """DisputeGame.revealOutput argument."""

    output_hash: bytes


@dataclass(frozen=True)
class ProveFinal:
    """DisputeGame.proveFinal arguments: the final state's slots hash and the proof of the last segment leaf."""

    slots_hash: bytes
    proof: list[bytes]


Move = Reveal | Descend | RevealOutput | ProveFinal


@dataclass(frozen=True)
class GameView:
    """What the solver needs of Game.State, seen by one player (the chain client fills it)."""

    phase: Phase
    level: int
    lo: int
    hi: int
    index: int
    ends_known: bool
    moved: int  # Game.State.moved bits
    shape: Shape
    k: int
    other_elements: tuple[bytes, ...] = ()  # the first mover's elements of this round, when the other moved first

    def has_moved(self, role: Role) -> bool:
        return bool(self.moved & int(role))


class TreeCache:
    """Merkle trees of one party's levels, built once each (level 0 and the two disputed finer trees)."""

    def __init__(self, source: LeafSource) -> None:
        self.source = source
        self._trees: dict[tuple[int, int], MerkleTree] = {}

    def tree(self, level: int, index: int) -> MerkleTree:
        key = (level, 0 if level == SEGMENTS else index)
        if key not in self._trees:
            self._trees[key] = MerkleTree(self.source.leaves(level, index))
        return self._trees[key]

    def root(self) -> bytes:
        return self.tree(SEGMENTS, 0).root


def next_move(view: GameView, role: Role, trees: TreeCache) -> Move | None:
    """The move `role` owes now, or None when it owes none (already moved, or the game is past the parties)."""
    if view.has_moved(role):
        return None
    if view.phase == Phase.BISECT:
        tree = trees.tree(view.level, view.index)
        pos = positions(view.lo, view.hi, view.k, view.ends_known)
        elements = [tree.leaf(p) for p in pos]
        proofs = multiproof(tree, pos)
        other = list(view.other_elements) if view.has_moved(role.other) else []
        slots = None
        if role is Role.DEFENDER and view.level == SEGMENTS and not view.ends_known:
            final_slots = getattr(trees.source, "final_slots_hash", None)
            slots = final_slots() if final_slots is not None else None
        return Reveal(elements, proofs, other, slots)
    if view.phase == Phase.DESCEND:
        level, index = view.shape.finer(view.level, view.lo, view.index)
        tree = trees.tree(level, index)
        return Descend(tree.root, tree.proof(0), tree.proof(tree.n - 1))
    if view.phase == Phase.REVEAL:
        return RevealOutput(trees.source.output_hash(view.index, view.hi))
    if view.phase == Phase.PROVE_FINAL and role is Role.DEFENDER:
        final_slots = getattr(trees.source, "final_slots_hash", None)
        if final_slots is None:
            return None  # a hash-only source has no final state to open
        tree = trees.tree(SEGMENTS, 0)
        return ProveFinal(final_slots(), tree.proof(tree.n - 1))
    return None


def plan(view: GameView, role: Role, trees: TreeCache) -> list[Move]:
    """Every move `role` can make now in one transaction (DisputeGame.multicall), in order.

    The round's second mover closes it and — knowing the new interval without the other party — goes on:
    opens the next round, descends, or reveals its output; the second descender opens the new level's first
    round. A first mover stops: the other party answers next.
    """
    moves: list[Move] = []
    current: GameView | None = view
    while current is not None:
        mv = next_move(current, role, trees)
        if mv is None:
            break
        moves.append(mv)
        current = after_move(current, role, mv)
    return moves


def after_move(view: GameView, role: Role, move: Move) -> GameView | None:
    """The game right after `role`'s move when it follows from that move alone; None when the other moves next
    (we moved first) or the game leaves the parties (referee, settlement)."""
    if not view.has_moved(role.other):
        return None
    if isinstance(move, Reveal):
        mine, theirs = move.elements, list(view.other_elements)
        d, c = (mine, theirs) if role is Role.DEFENDER else (theirs, mine)
        res = narrow(view.lo, view.hi, view.k, view.ends_known, d, c)
        if res.initial_state_disputed or res.same_final_state:
            return None
        phase = Phase.BISECT if res.hi > res.lo + 1 else (Phase.REVEAL if view.level == OPS else Phase.DESCEND)
        return replace(view, phase=phase, lo=res.lo, hi=res.hi, ends_known=True, moved=0, other_elements=())
    if isinstance(move, Descend):
        level, index = view.shape.finer(view.level, view.lo, view.index)
        hi = view.shape.level_length(level, index) - 1
        phase = Phase.BISECT if hi > 1 else (Phase.REVEAL if level == OPS else Phase.DESCEND)
        return replace(view, phase=phase, level=level, index=index, lo=0, hi=hi, moved=0, other_elements=())
    return None


# ---------------------------------------------------------------------------------------------- sources


class TraceSource:
    """A ``verde.trace.Trace`` as a LeafSource (op output hashes come from one hashed replay of the step)."""

    def __init__(self, trace: Trace) -> None:
        self.trace = trace
        self._outputs: dict[int, list[bytes]] = {}

    def leaves(self, level: int, index: int) -> list[bytes]:
        return self.trace.leaves(level, index)

    def final_slots_hash(self) -> bytes:
        return self.trace.final_slots_hash()

    def output_hash(self, step: int, op: int) -> bytes:
        n = self.trace.n_ops
        if op == n:
            return self.trace.op_leaves(step)[n]
        if step not in self._outputs:
            # H(out_1..N-1) are exactly the prior hashes op N is handed.
            self._outputs[step] = list(self.trace.op_inputs(step, n).prior_hashes)
        return self._outputs[step][op - 1]


@dataclass
class SyntheticTrace:
    """A trace-shaped LeafSource from hashes alone, generated lazily per level (tests and benches).

    Honest: ``H(out_j)`` at step s = keccak("out" ‖ s ‖ j), ``L[s] = H(out_N)``, ``L[0]`` = keccak("init").
    ``fault = (step, op)``: that op's output and every later one differ (the state after `step` too);
    ``bad_init`` lies about L[0]. Chains follow PROTOCOL §2 exactly.
    """

    shape: Shape
    fault: tuple[int, int] | None = None
    salt: bytes = b"liar"
    bad_init: bool = False
    _chains: dict[int, list[bytes]] = field(default_factory=dict, repr=False)

    def output_hash(self, step: int, op: int) -> bytes:
        tag = b"out"
        if self.fault is not None and (step, op) >= self.fault:
            tag = b"bad" + self.salt
        return keccak256(tag + step.to_bytes(8, "big") + op.to_bytes(8, "big"))

    def state(self, s: int) -> bytes:
        if s == 0:
            return keccak256(b"init" + (self.salt if self.bad_init else b""))
        return self.output_hash(s, self.shape.ops_per_step)

    def leaves(self, level: int, index: int) -> list[bytes]:
        sh = self.shape
        if level == SEGMENTS:
            return [self.state(min(i * sh.checkpoint_every, sh.steps)) for i in range(sh.segments + 1)]
        if level == STEPS:
            first = index * sh.checkpoint_every
            return [self.state(first + i) for i in range(sh.steps_in_segment(index) + 1)]
        if index not in self._chains:
            n = sh.ops_per_step
            chain = [self.state(index - 1)]
            for j in range(1, n):
                chain.append(keccak256(chain[-1] + self.output_hash(index, j)))
            chain.append(self.output_hash(index, n))
            self._chains[index] = chain
        return list(self._chains[index])
