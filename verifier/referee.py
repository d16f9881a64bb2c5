"""The referee role: when a game reaches its last step, check the handed-over op inputs against the agreed hashes
(DESIGN §5), recompute that one operator with verde, and post the hash. A missing ruling voids the game.

The ruling is a pure function of the game state on-chain (step = ``index``, op = ``hi``, agreed ``c[j-1]``),
the spec whose keccak256 is the job's on-chain specHash (`checked_spec`), and input tensors bound to the agreed
chain; nothing a party uploads can change what is judged.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from arena.evidence import bind
from chain.dispute_game import DisputeGame, GamePhase, GameState
from chain.sender import TxReceipt
from verde.merkle import keccak256
from verde.spec import JobSpec, parse_spec


class Oracle(Protocol):
    """Knows the correct hash of the game's final question, or None when it cannot answer."""

    def correct_hash(self, state: GameState) -> bytes | None: ...


InputsProvider = Callable[[int, int], object]  # (step, op) -> verde.trace.OpInputs


class SpecMismatch(ValueError):
    """A spec copy whose keccak256 is not the job's on-chain specHash: the referee never judges by it."""


def checked_spec(raw: bytes, on_chain_spec_hash: bytes) -> JobSpec:
    """The job's spec from a copy fetched anywhere, refused unless keccak256(copy) is the on-chain specHash."""
    if keccak256(raw) != on_chain_spec_hash:
        raise SpecMismatch(f"spec copy hashes to 0x{keccak256(raw).hex()}, the chain says 0x{on_chain_spec_hash.hex()}")
    return parse_spec(raw)


@dataclass
class VerdeOracle:
    """Recomputes with verde: op j of step s from inputs any party hands over, checked against the agreed chain.

    What is judged comes from the game state alone: the step is ``state.index`` and the op ``state.hi``,
    whatever a hand-over says about itself (each is re-labelled before it is checked), and the inputs must
    re-chain to the agreed ``c[j-1]``. Level 0 (the parties disagree on L[0]): the initial state's hash, from the
    spec alone.
    """

    spec: object  # verde.spec.JobSpec or its dict
    providers: Sequence[InputsProvider]
    data: bytes | None = None
    rejected: list[str] = field(default_factory=list)  # why handed-over inputs were refused

    def correct_hash(self, state: GameState) -> bytes | None:
        from verde.interpreter import Interpreter
        from verde.tensorhash import state_hash
        from verde.trace import TraceError, referee_output_hash, verify_op_inputs

        spec = parse_spec(self.spec)  # type: ignore[arg-type]
        if state.level == 0:
            interp = Interpreter(spec, data=self.data)
            return state_hash(interp.initial_state())
        s, j = state.index, state.hi
        for provide in self.providers:
            try:
                given = bind(provide(s, j), spec, s, j)  # type: ignore[arg-type]
                # c[j-1] is agreed on-chain; re-chaining the given prior hashes from the given L[s-1] must hit it,
                # which pins L[s-1] too (the agreed c[j-1] was chained from it by the honest side).
                verify_op_inputs(spec, given, given.prev_leaf, state.agreed, data=self.data)
            except (TraceError, LookupError, ValueError, AttributeError, TypeError) as exc:
                self.rejected.append(str(exc))
                continue
            return referee_output_hash(spec, s, j, given.tensors)
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
