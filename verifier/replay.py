"""The referee's fallback when no hand-over checks out: replay the disputed step itself, off its main loop.

A replay starts from the nearest state both parties agree on — a state anyone handed over whose hash is a leaf
both revealed alike on-chain (arena/agreement.py), at or before step ``s - 1`` — or from the initial state
(step 0, which the referee derives from the spec itself). It then runs the steps up to ``s - 1`` and step ``s``
with every op output kept, and answers ``H(out_j)``. Each game's replay runs in a worker thread of
`ReplayPool`, so the referee keeps ruling its other games meanwhile; `poll` never blocks.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from verde.interpreter import Interpreter, State
from verde.merkle import keccak256
from verde.spec import JobSpec
from verde.tensorhash import state_hash
from verde.trace import referee_output_hash

log = logging.getLogger("agora.referee")


@dataclass(frozen=True)
class ReplayResult:
    output_hash: bytes
    chain: bytes  # the replay's own c[j-1]: equal to the agreed one unless both parties agreed on a lie
    start_step: int
    steps_replayed: int


def replay_op(spec: JobSpec, data: bytes | None, s: int, j: int, start_step: int = 0,
              start_state: State | None = None) -> ReplayResult:
    """``H(out_j)`` of step ``s`` replayed honestly from ``start_state`` (the state after ``start_step``)."""
    interp = Interpreter(spec, data=data)
    state = interp.initial_state() if start_state is None else dict(start_state)
    if start_state is None:
        start_step = 0
    for t in range(start_step + 1, s):
        state = interp.step(state, t).state
    out = interp.step(state, s, hash_ops=True, keep=True)
    assert out.env is not None and out.op_hashes is not None
    op = interp.program.op(j)
    h = referee_output_hash(spec, s, j, {name: out.env[name] for name in op.inputs})
    chain = state_hash(state)
    for prior in out.op_hashes[: j - 1]:
        chain = keccak256(chain + prior)
    return ReplayResult(h, chain, start_step, s - start_step)


def nearest_start(s: int, agreed: dict[int, bytes], offered: list[tuple[int, State]]) -> tuple[int, State | None]:
    """The latest offered state at or before ``s - 1`` whose hash is the leaf both parties agreed on there;
    ``(0, None)`` (replay from the spec's initial state) when none is."""
    best: tuple[int, State | None] = (0, None)
    for step, state in offered:
        if step > s - 1 or step <= best[0] or step not in agreed:
            continue
        if state_hash(state) == agreed[step]:
            best = (step, state)
    return best


class ReplayPool:
    """One background replay per game; `poll(game_id)` returns its result once done, never waiting for it."""

    def __init__(self, workers: int = 2, replay: Callable[..., ReplayResult] = replay_op) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="agora-referee-replay")
        self._jobs: dict[int, Future[ReplayResult]] = {}
        self._replay = replay

    def running(self, game_id: int) -> bool:
        return game_id in self._jobs

    def start(self, game_id: int, spec: JobSpec, data: bytes | None, s: int, j: int, start_step: int,
              start_state: State | None) -> None:
        if game_id not in self._jobs:
            log.info("game %d: replaying step %d op %d myself from step %d", game_id, s, j, start_step)
            self._jobs[game_id] = self._pool.submit(self._replay, spec, data, s, j, start_step, start_state)

    def poll(self, game_id: int) -> ReplayResult | None:
        """The finished replay (dropped from the pool), None while it runs; re-raises a replay's error."""
        fut = self._jobs.get(game_id)
        if fut is None or not fut.done():
            return None
        del self._jobs[game_id]
        return fut.result()

    def forget(self, game_id: int) -> None:
        fut = self._jobs.pop(game_id, None)
        if fut is not None:
            fut.cancel()

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
