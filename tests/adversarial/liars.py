"""The liar library: parties that read the game and choose their lie.

Each liar is a `LeafSource` (what it claims at every level) played by the real `arena.responder.Responder`, or a
wrapper around a player that changes *when* (or whether) it moves. None of them can make a move the contract
would refuse: they lie only in what the rules let a party say, which is exactly what the game must survive.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from arena.responder import Action, Responder, view_of
from chain.dispute_game import DisputeGame, GamePhase
from verde.bisection import OPS, SEGMENTS, STEPS, Role, TraceSource, plan
from verde.interpreter import Interpreter
from verde.merkle import keccak256
from verde.trace import Trace, checkpoint_steps


class HonestBelow(TraceSource):
    """Commits `level0` (a lie somewhere) but is honest at every finer level, except where its own earlier claims
    force it: the last step leaf of the disputed segment and the last op leaf of the disputed step must be its own
    hi elements, so the lie surfaces only at the very last op (the state) — "a lie only at level 1"."""

    def __init__(self, honest: Trace, level0: list[bytes], final_slots: bytes) -> None:
        super().__init__(honest)
        self.level0 = list(level0)
        self.final_slots = final_slots  # of the state its L[S] claims (it binds its reported hash with it)
        self._claims: dict[tuple[int, int], bytes] = {}

    def final_slots_hash(self) -> bytes:
        return self.final_slots

    def leaves(self, level: int, index: int) -> list[bytes]:
        if level == SEGMENTS:
            return list(self.level0)
        out = super().leaves(level, index)
        if level == STEPS:
            out[-1] = self.level0[index + 1]
            self._claims[(STEPS, index)] = out[-1]
        elif level == OPS:
            c = self.trace.spec.checkpoint_every
            seg = (index - 1) // c
            step_leaves = self.leaves(STEPS, seg)
            out[-1] = step_leaves[index - seg * c]
        return out

    def output_hash(self, step: int, op: int) -> bytes:
        if op == self.trace.n_ops:
            return self.leaves(OPS, step)[-1]
        return super().output_hash(step, op)


class PickedOp(TraceSource):
    """Its own faulty trace at levels 0 and 1; at the op level it moves the disagreement to an op of its choosing
    and lies only in that op's revealed output (every later op output made up, the chain rebuilt from them so
    each of its reveals and descents still checks out) — "a lie only in the reveal"."""

    def __init__(self, liar: Trace, honest: Trace, op: int) -> None:
        super().__init__(liar)
        self.honest = TraceSource(honest)
        self.op = op

    def _claimed(self, s: int) -> list[bytes]:
        n = self.trace.n_ops
        outs = [self.honest.output_hash(s, j) for j in range(1, n)]
        for j in range(self.op, n):
            outs[j - 1] = keccak256(b"picked" + s.to_bytes(8, "big") + j.to_bytes(8, "big"))
        return outs

    def leaves(self, level: int, index: int) -> list[bytes]:
        if level != OPS:
            return super().leaves(level, index)
        own = self.trace.op_leaves(index)  # its own L[s-1] (agreed) and L[s] (its claim) at the two ends
        chain = [own[0]]
        for h in self._claimed(index):
            chain.append(keccak256(chain[-1] + h))
        return chain + [own[-1]]

    def output_hash(self, step: int, op: int) -> bytes:
        if op == self.trace.n_ops:
            return self.trace.op_leaves(step)[-1]
        return self._claimed(step)[op - 1]


class TamperedInterior(TraceSource):
    """The honest trace with one interior segment leaf replaced: honest ends (L[0], L[S]), a tampered middle."""

    def __init__(self, honest: Trace, position: int, junk: bytes = b"\x5a" * 32) -> None:
        super().__init__(honest)
        assert 0 < position < honest.n_segments
        self.position, self.junk = position, junk

    def leaves(self, level: int, index: int) -> list[bytes]:
        out = super().leaves(level, index)
        if level == SEGMENTS:
            out[self.position] = self.junk
        return out


class BoundFake(TraceSource):
    """The mirror of wrong-final: the honest trace whose last leaf is made to bind a made-up model hash,
    L[S] = keccak256(fake ‖ slotsHash_S) — so "the same root" no longer lets the verifier dispute the hash."""

    def __init__(self, honest: Trace, fake_model_hash: bytes) -> None:
        super().__init__(honest)
        self.fake = fake_model_hash
        self.fake_leaf = keccak256(fake_model_hash + honest.final_slots_hash())

    def leaves(self, level: int, index: int) -> list[bytes]:
        real = self.trace.segment_leaves()[-1]
        out = super().leaves(level, index)
        if level == SEGMENTS or (level == STEPS and index == self.trace.n_segments - 1):
            out[-1] = self.fake_leaf if out[-1] == real else out[-1]
        elif level == OPS and index == self.trace.spec.steps:
            out[-1] = self.fake_leaf
        return out

    def output_hash(self, step: int, op: int) -> bytes:
        if step == self.trace.spec.steps and op == self.trace.n_ops:
            return self.fake_leaf
        return super().output_hash(step, op)


@dataclass
class SourcePlayer:
    """Plays a LeafSource (no hand-overs of its own): the liars that are not whole traces."""

    game: DisputeGame
    game_id: int
    source: object
    responder: Responder = field(init=False)

    def __post_init__(self) -> None:
        self.responder = Responder(self.game, self.game_id, self.source)  # type: ignore[arg-type]

    def tick(self) -> Action:
        return self.responder.step()


def owes_move(responder: Responder) -> bool:
    """Whether the solver has a move for this party right now (what a liar checks before stalling)."""
    st = responder.game.state(responder.game_id)
    if st.settled or st.phase == GamePhase.REFEREE:
        return False
    role = responder.role
    other = None
    if st.phase == GamePhase.BISECT and st.moved & int(role.other):
        party = st.defender if role.other is Role.DEFENDER else st.challenger
        other = responder.game.revealed_elements(responder.game_id, party, st)
    return bool(plan(view_of(st, responder.game.config().k, other), role, responder.trees))


@dataclass
class SilentAfter:
    """Plays honestly (for itself) for `moves` transactions, then never again: silence at that phase."""

    inner: object
    moves: int

    def tick(self) -> Action:
        if self.inner.responder.moves() >= self.moves:  # type: ignore[attr-defined]
            return Action.WAITING
        return self.inner.tick()  # type: ignore[attr-defined, no-any-return]


@dataclass
class LastSecond:
    """Moves only at the last second of its window: warps the chain clock to `deadline - margin_s` before each move (under
    chess clocks the first such wait spends nearly its whole budget)."""

    inner: object
    anvil: object
    margin_s: int = 10  # seconds left when it moves (a few, so a busy machine's slow proof still lands in time)
    warps: int = 0

    def tick(self) -> Action:
        r: Responder = self.inner.responder  # type: ignore[attr-defined]
        if owes_move(r):
            st = r.game.state(r.game_id)
            now = self.anvil.timestamp()  # type: ignore[attr-defined]
            if st.deadline - now > self.margin_s:
                self.anvil.increase_time(st.deadline - now - self.margin_s)  # type: ignore[attr-defined]
                self.warps += 1
        return self.inner.tick()  # type: ignore[attr-defined, no-any-return]


class ArtifactShelf:
    """The coordinator's content-addressed artifact store as the evidence board sees it (upload, download),
    kept in memory; `substitute` makes it serve other bytes for an id (a store that lies)."""

    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}
        self.substitutes: dict[str, bytes] = {}

    def upload_artifact(self, data: bytes, kind: str = "blob") -> str:
        ident = hashlib.sha256(data).hexdigest()
        self.blobs[ident] = data
        return ident

    def artifact(self, sha256: str) -> bytes:
        ident = sha256.removeprefix("sha256:")
        if ident in self.substitutes:
            return self.substitutes[ident]
        if ident not in self.blobs:
            from client.api import ApiError

            raise ApiError(404, "not_found", f"no artifact {ident}")
        return self.blobs[ident]


class BatchSwap(Interpreter):
    """A provider that trains step `step` on the batch of step `from_step` (cheaper data loading, or sabotage)."""

    def __init__(self, spec: dict, step: int, from_step: int) -> None:
        super().__init__(spec)
        self.swap_step, self.from_step = step, from_step

    def batch(self, step: int):  # type: ignore[no-untyped-def]
        return super().batch(self.from_step if step == self.swap_step else step)


def trace_of(interp: Interpreter) -> Trace:
    """The trace an interpreter (honest or not) commits to, checkpoints kept in memory."""
    leaves: dict[int, bytes] = {}
    kept: dict[int, dict] = {}

    def keep(t: int, state: dict, leaf: bytes) -> None:
        leaves[t], kept[t] = leaf, dict(state)

    interp.run(interp.initial_state(), 0, interp.spec.steps, on_checkpoint=keep)
    return Trace(interp, [leaves[t] for t in checkpoint_steps(interp.spec)], kept)


class ShelfCoordinator(ArtifactShelf):
    """The few coordinator calls the referee makes (find the job, fetch its spec), over an in-memory shelf."""

    def __init__(self, spec_bytes: bytes) -> None:
        super().__init__()
        self.spec_copy = spec_bytes
        self.chain_job_ids: list[int] = []

    def jobs(self, **_: object):  # type: ignore[no-untyped-def]
        return [{"id": cid, "chain_job_id": cid} for cid in self.chain_job_ids]

    def spec_bytes(self, job_id: int) -> bytes:
        return self.spec_copy

    def dataset_bytes(self, dataset_id: str) -> bytes:
        return self.artifact(dataset_id)


@dataclass
class RefereeDesk:
    """What `verifier.referee_service.RefereeService` needs of its ChainContext: the game, the market, the API."""

    game: DisputeGame
    market: object
    api: ShelfCoordinator
    address: str
