"""The referee process: watches DisputeGame for games waiting on the referee and posts the correct hash in time.

For a game stuck on op ``j`` of step ``s`` it takes the op inputs the parties handed over (arena/evidence.py),
checks them against the agreed hashes and recomputes that one op with RepOps (verifier/referee.py's
`VerdeOracle`). If no hand-over checks out within `grace_s`, it recomputes the inputs itself by replaying the
spec honestly up to step ``s`` — slower, but a game is never voided for want of inputs. One log line per ruling,
with the referee's compute time.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

from arena.evidence import EvidenceBoard
from chain.dispute_game import GamePhase, GameState
from chain.errors import ChainError
from client.api import ApiError
from verde.runner import run_spec
from verde.spec import JobSpec, parse_spec
from verde.trace import OpInputs
from verifier.chain_context import ChainContext, find_job
from verifier.referee import VerdeOracle
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
    def __init__(self, settings: VerifierSettings, grace_s: float = 5.0) -> None:
        self.settings = settings
        self.ctx = ChainContext(settings)
        self.board = EvidenceBoard(self.ctx.api, settings.broker_url)
        self.grace_s = grace_s
        self.rulings: dict[int, Ruling] = {}
        self._open: set[int] = set()
        self._seen = 0
        self._waiting_since: dict[int, float] = {}
        self._job_ids: dict[int, int] = {}
        self._specs: dict[int, tuple[JobSpec, bytes | None]] = {}

    def _spec(self, chain_job_id: int) -> tuple[JobSpec, bytes | None] | None:
        if chain_job_id not in self._specs:
            job_id = find_job(self.ctx.api, chain_job_id, self._job_ids)
            if job_id is None:
                return None
            spec = parse_spec(self.ctx.api.spec_bytes(job_id))
            data = self.ctx.api.dataset_bytes(spec.dataset.id) if spec.dataset.id.startswith("sha256:") else None
            self._specs[chain_job_id] = (spec, data)
        return self._specs[chain_job_id]

    def _own_replay(self, spec: JobSpec, data: bytes | None):
        def provide(s: int, j: int) -> OpInputs:
            return run_spec(spec, data=data).trace.op_inputs(s, j)

        return provide

    def rule_if_due(self, game_id: int) -> Ruling | None:
        st: GameState = self.ctx.game.state(game_id)
        if st.settled:
            self._open.discard(game_id)
            return None
        if st.phase != GamePhase.REFEREE:
            return None
        found = self._spec(st.job_id)
        if found is None:
            return None
        spec, data = found
        first = self._waiting_since.setdefault(game_id, time.monotonic())
        providers = list(self.board.providers(self.ctx.game.address, game_id, spec))
        handed = len(providers)
        late = time.monotonic() - first >= self.grace_s
        if late:
            providers.append(self._own_replay(spec, data))
        fetch = [0.0]

        def timed(provide):
            def call(s: int, j: int) -> OpInputs:
                t = time.perf_counter()
                try:
                    return provide(s, j)
                finally:
                    fetch[0] += time.perf_counter() - t

            return call

        oracle = VerdeOracle(spec, [timed(p) for p in providers], data=data)
        t0 = time.perf_counter()
        h = oracle.correct_hash(st)
        took = time.perf_counter() - t0 - fetch[0]
        if h is None:
            if late:
                log.error("game %d: cannot compute the disputed op (%s)", game_id, "; ".join(oracle.rejected))
            return None
        receipt = self.ctx.game.rule(game_id, h)
        # The oracle stops at the first provider whose inputs check out; each one before it is in `rejected`.
        source = "initial state" if st.level == 0 else ("own replay" if len(oracle.rejected) >= handed else "hand-over")
        ruling = Ruling(game_id, "0x" + h.hex(), took, fetch[0], source, list(oracle.rejected))
        self.rulings[game_id] = ruling
        self._open.discard(game_id)
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

    def run(self, stop: threading.Event) -> None:
        log.info("referee %s watching %s", self.ctx.address, self.ctx.game.address)
        while not stop.is_set():
            try:
                self.tick()
            except Exception as exc:  # noqa: BLE001 - a node or coordinator blip must not stop the referee
                log.warning("referee: %s", exc)
            stop.wait(self.settings.game_poll_s)
