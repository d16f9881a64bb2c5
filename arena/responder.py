"""Plays one side of a DisputeGame: asks the pure solver (verde.bisection) for the owed move, sends it, and
calls timeout() once the other side (or the referee) has let its deadline pass.

Time is injected (`now`, default: the latest block's timestamp) so tests and the devnet can move clocks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

from chain.dispute_game import DisputeGame, GamePhase, GameState
from chain.sender import TxReceipt
from verde.bisection import (
    SEGMENTS,
    Descend,
    GameView,
    LeafSource,
    Move,
    Phase,
    ProveFinal,
    Reveal,
    RevealOutput,
    Role,
    Shape,
    TreeCache,
    plan,
)
from verde.merkle import keccak256


class Action(Enum):
    """What one `Responder.step` did."""

    MOVED = "moved"
    WAITING = "waiting"  # nothing owed by us, the other side still has time
    TIMED_OUT = "timed_out"  # we called timeout(): the other side (or the referee) was silent
    SETTLED = "settled"


def view_of(state: GameState, k: int, other_elements: list[bytes] | None = None) -> GameView:
    """The solver's view of the on-chain state."""
    return GameView(
        phase=Phase(int(state.phase)), level=state.level, lo=state.lo, hi=state.hi, index=state.index,
        ends_known=state.ends_known, moved=state.moved,
        shape=Shape(state.num_steps, state.checkpoint_every, state.ops_per_step), k=k,
        other_elements=tuple(other_elements or ()),
    )


@dataclass
class Responder:
    """One party (the client's signing account) in game `game_id`, with its own trace as the leaf source."""

    game: DisputeGame
    game_id: int
    source: LeafSource
    now: Callable[[], int] | None = None
    receipts: list[TxReceipt] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.trees = TreeCache(self.source)
        self._role: Role | None = None

    def _now(self) -> int:
        if self.now is not None:
            return self.now()
        return int(self.game.sender.w3.eth.get_block("latest")["timestamp"])

    @property
    def role(self) -> Role:
        if self._role is None:
            bit = self.game.state(self.game_id).role_bit(self.game.account)
            if bit == 0:
                raise PermissionError(f"{self.game.account} is not a party of game {self.game_id}")
            self._role = Role(bit)
        return self._role

    def moves(self) -> int:
        return len(self.receipts)

    def step(self) -> Action:
        state = self.game.state(self.game_id)
        if state.settled:
            return Action.SETTLED
        role = self.role
        other = role.other
        if state.deadline <= self._now():
            # Our own clock has run out too if we still owed a move: timeout() settles either way.
            self.game.timeout(self.game_id)
            return Action.TIMED_OUT
        other_elements = None
        if state.phase == GamePhase.BISECT and state.moved & int(other):
            party = state.defender if other is Role.DEFENDER else state.challenger
            other_elements = self.game.revealed_elements(self.game_id, party, state)
        moves = plan(view_of(state, self.game.config().k, other_elements), role, self.trees)
        if moves and isinstance(moves[0], ProveFinal) and not self._can_prove_final(state, moves[0]):
            # Our final state does not hold the reported model: the proof would revert, so only the clock decides.
            return Action.WAITING
        if not moves:
            return Action.WAITING
        first = moves[0]
        if isinstance(first, Reveal) and first.slots_hash is not None and self._binds_in_first_round() and \
                keccak256(state.agreed + first.slots_hash) != first.elements[-1]:
            # Our final state does not hold the reported model: revealFirst would revert; only the clock decides.
            return Action.WAITING
        if len(moves) == 1:
            fn, args = self._call(moves[0])
            r = self.game.contract.transact(fn, *args)
        else:
            r = self.game.multicall([self.game.contract.calldata(*self._call_flat(m)) for m in moves])
        self.receipts.append(r)
        return Action.MOVED

    def _binds_in_first_round(self) -> bool:
        """Whether this DisputeGame takes the defender's final-state binding with its first reveal (revealFirst)."""
        try:
            self.game.contract.calldata("revealFirst", 0, [], [], [], b"\x00" * 32)
        except AttributeError:
            return False
        return True

    def _can_prove_final(self, state: GameState, move: ProveFinal) -> bool:
        tree = self.trees.tree(SEGMENTS, 0)
        return keccak256(state.final_model_hash + move.slots_hash) == tree.leaf(tree.n - 1)

    def _call_flat(self, move: Move) -> tuple:
        fn, args = self._call(move)
        return (fn, *args)

    def _call(self, move: Move) -> tuple[str, tuple]:
        """The DisputeGame function and arguments of one solver move."""
        g = self.game_id
        if isinstance(move, Reveal):
            if move.slots_hash is not None and self._binds_in_first_round():
                return "revealFirst", (g, move.elements, move.proofs, move.other_elements, move.slots_hash)
            return "reveal", (g, move.elements, move.proofs, move.other_elements)
        if isinstance(move, Descend):
            return "descend", (g, move.finer_root, move.first_proof, move.last_proof)
        if isinstance(move, RevealOutput):
            return "revealOutput", (g, move.output_hash)
        if isinstance(move, ProveFinal):
            return "proveFinal", (g, move.slots_hash, move.proof)
        raise TypeError(move)  # pragma: no cover - the solver has no other moves
