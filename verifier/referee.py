"""The referee role: when a game reaches its last step, check the handed-over op inputs against the agreed hashes
(DESIGN §5), recompute that one operator with verde, and post the hash. A missing ruling voids the game.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from chain.dispute_game import DisputeGame, GamePhase, GameState
from chain.sender import TxReceipt


class Oracle(Protocol):
    """Knows the correct hash of the game's final question, or None when it cannot answer."""

    def correct_hash(self, state: GameState) -> bytes | None: ...


InputsProvider = Callable[[int, int], object]  # (step, op) -> verde.trace.OpInputs


@dataclass
class VerdeOracle:
    """Recomputes with verde: op j of step s from inputs any party hands over, checked against the agreed chain.

    Level 0 (the parties disagree on L[0]): the initial state's hash, from the spec alone.
    """

    spec: object  # verde.spec.JobSpec or its dict
    providers: Sequence[InputsProvider]
    data: bytes | None = None
    rejected: list[str] = field(default_factory=list)  # why handed-over inputs were refused

    def correct_hash(self, state: GameState) -> bytes | None:
        from verde.interpreter import Interpreter
        from verde.tensorhash import state_hash
        from verde.trace import TraceError, referee_output_hash, verify_op_inputs

        if state.level == 0:
            interp = Interpreter(self.spec, data=self.data)  # type: ignore[arg-type]
            return state_hash(interp.initial_state())
        s, j = state.index, state.hi
        for provide in self.providers:
            try:
                given = provide(s, j)
                # c[j-1] is agreed on-chain; re-chaining the given prior hashes from the given L[s-1] must hit it,
                # which pins L[s-1] too (the agreed c[j-1] was chained from it by the honest side).
                verify_op_inputs(self.spec, given, given.prev_leaf, state.agreed, data=self.data)  # type: ignore[attr-defined, arg-type]
            except (TraceError, LookupError, ValueError) as exc:
                self.rejected.append(str(exc))
                continue
            return referee_output_hash(self.spec, s, j, given.tensors)  # type: ignore[attr-defined, arg-type]
        return None


@dataclass
class Referee:
    """Rules on games waiting for it (the client must sign as the contract's referee)."""

    game: DisputeGame
    oracle: Oracle
    receipts: list[TxReceipt] = field(default_factory=list)

    def step(self, game_id: int) -> bool:
        """Rules if the game waits for the referee and the oracle can answer; True when it posted a ruling."""
        state = self.game.state(game_id)
        if state.phase != GamePhase.REFEREE:
            return False
        h = self.oracle.correct_hash(state)
        if h is None:
            return False
        self.receipts.append(self.game.rule(game_id, h))
        return True
