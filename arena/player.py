"""Plays one party's side of dispute games to the end: the defender (a worker) and the challenger (a verifier).

A `GamePlayer` wraps `arena.responder.Responder` (the solver's move, sent as a transaction; `timeout()`
once the other side is late) for one game and one trace, and when the game reaches its last step hands the
disputed op's inputs to the referee (arena/evidence.py). `GameTable` ticks every live game a party plays.
Each move is logged in one line.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from arena.evidence import EvidenceBoard
from arena.responder import Action, Responder
from chain.dispute_game import DisputeGame, GamePhase
from chain.errors import ChainError
from verde.bisection import TraceSource
from verde.trace import Trace

log = logging.getLogger("agora.dispute")


@dataclass
class GamePlayer:
    game: DisputeGame
    game_id: int
    trace: Trace
    board: EvidenceBoard | None = None
    label: str = "party"
    responder: Responder = field(init=False)
    _posted: set[tuple[int, int]] = field(default_factory=set, init=False)
    errors: int = field(default=0, init=False)
    outcome: str | None = field(default=None, init=False)
    retry_after_s: float = 1.0  # after a refused move, wait this long before trying again
    _quiet_until: float = field(default=0.0, init=False)

    def __post_init__(self) -> None:
        self.responder = Responder(self.game, self.game_id, TraceSource(self.trace))

    def tick(self) -> Action:
        """One look at the game: move if a move is owed, time the other side out if it is late."""
        if time.monotonic() < self._quiet_until:
            return Action.WAITING
        try:
            self._hand_over_inputs()
            action = self.responder.step()
        except ChainError as exc:
            # A race (the other side moved between our read and our send) or a node blip: look again.
            self.errors += 1
            self._quiet_until = time.monotonic() + self.retry_after_s
            log.warning("game %d [%s]: move failed (%s); retrying", self.game_id, self.label, exc)
            return Action.WAITING
        if action == Action.MOVED:
            st = self.game.state(self.game_id)
            log.info("game %d [%s]: moved -> phase %s level %d [%d, %d] (index %d)", self.game_id, self.label,
                     st.phase.name, st.level, st.lo, st.hi, st.index)
        elif action == Action.TIMED_OUT:
            log.info("game %d [%s]: called timeout()", self.game_id, self.label)
        if action in (Action.SETTLED, Action.TIMED_OUT):
            st = self.game.state(self.game_id)
            if st.settled and self.outcome is None:
                self.outcome = st.outcome.name
                log.info("game %d [%s]: settled, outcome %s", self.game_id, self.label, self.outcome)
        return action

    def _hand_over_inputs(self) -> None:
        """At the op level's last step: hand the referee op j's inputs and the state after step s - 1, once each."""
        if self.board is None:
            return
        st = self.game.state(self.game_id)
        if st.level != 2 or st.phase not in (GamePhase.REVEAL, GamePhase.REFEREE) or st.hi != st.lo + 1:
            return
        key = (st.index, st.hi)
        if key in self._posted:
            return
        self._posted.add(key)
        try:
            given = self.trace.op_inputs(st.index, st.hi)
            artifact = self.board.post(self.game.address, self.game_id, given)
            state = self.board.post_state(self.game.address, self.game_id, st.index - 1,
                                          self.trace.state_at(st.index - 1))
            log.info("game %d [%s]: handed the referee op %d of step %d (artifact %s, state %s)", self.game_id,
                     self.label, st.hi, st.index, artifact, state)
        except Exception as exc:  # noqa: BLE001 - the referee can still recompute; never stop playing for this
            log.warning("game %d [%s]: could not hand over op inputs: %s", self.game_id, self.label, exc)

    @property
    def settled(self) -> bool:
        return self.outcome is not None


class GameTable:
    """The live games one party plays; `tick_all` gives each one look, dropping settled ones."""

    def __init__(self) -> None:
        self.players: dict[int, GamePlayer] = {}
        self.finished: dict[int, str] = {}

    def add(self, player: GamePlayer) -> None:
        if player.game_id not in self.players and player.game_id not in self.finished:
            self.players[player.game_id] = player

    def tick_all(self) -> bool:
        """True when some game moved (so the caller looks again at once rather than sleeping)."""
        moved = False
        for gid, p in list(self.players.items()):
            action = p.tick()
            moved |= action in (Action.MOVED, Action.TIMED_OUT)
            if p.settled or action == Action.SETTLED:
                self.finished[gid] = p.outcome or "SETTLED"
                del self.players[gid]
        return moved


def play_to_end(player: GamePlayer, poll_s: float = 0.2, timeout_s: float = 600.0,
                stop: Callable[[], bool] | None = None) -> str | None:
    """Ticks one game until it settles (or `timeout_s`, or `stop()`); returns the outcome name."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not (stop and stop()):
        action = player.tick()
        if player.settled or action == Action.SETTLED:
            return player.outcome or player.game.state(player.game_id).outcome.name
        if action != Action.MOVED:
            time.sleep(poll_s)
    return None
