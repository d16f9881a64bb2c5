"""The referee process: watches DisputeGame for games waiting on the referee and posts the correct hash in time.

For a game stuck on op ``j`` of step ``s`` (the game's own ``index`` and ``hi``) it fetches the job's spec and
refuses any copy whose keccak256 is not the on-chain specHash, reads every hand-over the parties announced
(arena/evidence.py), checks each against the agreed hashes and recomputes that one op with RepOps
(verifier/referee.py's `VerdeOracle`). If none checks out within `grace_s`, it replays the step itself
(verifier/replay.py) from the nearest state both parties agree on, in a background thread, and keeps ruling
its other games meanwhile — a game is never voided for want of inputs. One log line per ruling, with the
referee's compute time.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

from arena.agreement import agreed_leaves
from arena.evidence import STATE, EvidenceBoard
from chain.dispute_game import GamePhase, GameState
from chain.errors import ChainError
from client.api import ApiError
from client.job_inputs import fetch_job_inputs
from verde.checkpoint import CheckpointError, load_state
from verde.interpreter import State
from verde.spec import JobSpec
from verifier.chain_context import ChainContext, find_job
from verifier.referee import SpecMismatch, VerdeOracle, checked_spec
from verifier.replay import ReplayPool, nearest_start
from verifier.settings import VerifierSettings

log = logging.getLogger("agora.referee")


@dataclass
class Ruling:
    game_id: int
    output_hash: str
    compute_s: float  # checking the inputs against the agreed hashes + recomputing the op (not fetching them)
    fetch_s: float
    source: str  # "hand-over" | "own replay" | "initial state"
    rejected: list[str] = field(default_factory=list)


class RefereeService:
    def __init__(self, settings: VerifierSettings, grace_s: float = 5.0, *, ctx: ChainContext | None = None,
                 board: EvidenceBoard | None = None, replays: ReplayPool | None = None) -> None:
        """`ctx`, `board` and `replays` are built from `settings` unless given (tests pass their own)."""
        self.settings = settings
        self.ctx = ctx if ctx is not None else ChainContext(settings)
        self.board = board if board is not None else EvidenceBoard(self.ctx.api, settings.broker_url)
        self.grace_s = grace_s
        self.rulings: dict[int, Ruling] = {}
        self.replays = replays if replays is not None else ReplayPool()
        self._open: set[int] = set()
        self._seen = 0
        self._waiting_since: dict[int, float] = {}
        self._job_ids: dict[int, int] = {}
        self._specs: dict[int, tuple[JobSpec, bytes | None]] = {}

    def _spec(self, chain_job_id: int) -> tuple[JobSpec, bytes | None] | None:
        """The job's spec, only from a copy that hashes to the on-chain specHash (None until one is found)."""
        if chain_job_id not in self._specs:
            job_id = find_job(self.ctx.api, chain_job_id, self._job_ids)
            if job_id is None:
                return None
            try:
                spec = checked_spec(self.ctx.api.spec_bytes(job_id), self.ctx.market.terms(chain_job_id).spec_hash)
            except SpecMismatch as exc:
                log.error("job %d: refusing the coordinator's spec: %s", chain_job_id, exc)
                return None
            data = fetch_job_inputs(self.ctx.api, spec)  # the dataset; a graph job's graph and weights too
            self._specs[chain_job_id] = (spec, data)
        return self._specs[chain_job_id]

    def _offered_states(self, game_id: int, parties: list[str]) -> list[tuple[int, State]]:
        out: list[tuple[int, State]] = []
        for a in self.board.announcements(self.ctx.game.address, game_id, STATE, parties):
            try:
                ckpt = load_state(self.board.fetch(a.artifact))
            except (LookupError, CheckpointError) as exc:
                log.info("game %d: skipping a handed-over state: %s", game_id, exc)
                continue
            if ckpt.step == a.step:
                out.append((ckpt.step, ckpt.state))
        return out

    def _start_replay(self, game_id: int, st: GameState, spec: JobSpec, data: bytes | None) -> None:
        if self.replays.running(game_id):
            return
        s, j = st.index, st.hi
        parties = [st.defender, st.challenger]
        agreed = agreed_leaves(self.ctx.game, game_id, st, self.ctx.game.config().k)
        start_step, start_state = nearest_start(s, agreed, self._offered_states(game_id, parties))
        self.replays.start(game_id, spec, data, s, j, start_step, start_state)

    def rule_if_due(self, game_id: int) -> Ruling | None:
        st: GameState = self.ctx.game.state(game_id)
        if st.settled:
            self._open.discard(game_id)
            self.replays.forget(game_id)
            return None
        if st.phase != GamePhase.REFEREE:
            return None
        found = self._spec(st.job_id)
        if found is None:
            return None
        spec, data = found
        first = self._waiting_since.setdefault(game_id, time.monotonic())
        fetch = [0.0]
        parties = [st.defender, st.challenger]

        def timed(provide):
            def call(s: int, j: int):
                t = time.perf_counter()
                try:
                    return provide(s, j)
                finally:
                    fetch[0] += time.perf_counter() - t

            return call

        source = "initial state" if st.level == 0 else "hand-over"
        # reading the board (Redis, signature checks) is fetching, not the referee's compute
        providers = [] if st.level == 0 else self.board.providers(self.ctx.game.address, game_id, spec, parties)
        t0 = time.perf_counter()
        oracle = VerdeOracle(spec, [timed(p) for p in providers], data=data)
        h = oracle.correct_hash(st)
        took = time.perf_counter() - t0 - fetch[0]
        if h is None:
            done = self.replays.poll(game_id)
            if done is None:
                if time.monotonic() - first >= self.grace_s:
                    self._start_replay(game_id, st, spec, data)
                return None
            h, source, took = done.output_hash, f"own replay from step {done.start_step}", 0.0
            if done.chain != st.agreed:
                log.warning("game %d: my replay's c[%d] differs from the agreed one (both parties agreed on a lie)",
                            game_id, st.hi - 1)
        receipt = self.ctx.game.rule(game_id, h)
        ruling = Ruling(game_id, "0x" + h.hex(), took, fetch[0], source, list(oracle.rejected))
        self.rulings[game_id] = ruling
        self._open.discard(game_id)
        self.replays.forget(game_id)
        after = self.ctx.game.state(game_id)
        log.info("game %d (job %d): ruled %s on step %d op %d from %s in %.4fs compute (+%.3fs fetching) -> %s "
                 "(tx %s)", game_id, st.job_id, ruling.output_hash, st.index, st.hi, source, took, fetch[0],
                 after.outcome.name, receipt.tx_hash)
        return ruling

    def tick(self) -> None:
        count = self.ctx.game.game_count()
        for gid in range(self._seen + 1, count + 1):
            self._open.add(gid)
        self._seen = max(self._seen, count)
        for gid in sorted(self._open):
            try:
                self.rule_if_due(gid)
            except (ApiError, ChainError) as exc:
                log.warning("game %d: ruling postponed: %s", gid, exc)
            except Exception as exc:  # noqa: BLE001 - one game's trouble (a failed replay) must not stop the others
                log.error("game %d: cannot rule yet: %s", gid, exc)

    def run(self, stop: threading.Event) -> None:
        log.info("referee %s watching %s", self.ctx.address, self.ctx.game.address)
        try:
            while not stop.is_set():
                try:
                    self.tick()
                except Exception as exc:  # noqa: BLE001 - a node or coordinator blip must not stop the referee
                    log.warning("referee: %s", exc)
                stop.wait(self.settings.game_poll_s)
        finally:
            self.replays.shutdown()
