"""Liars at the referee (issue 10, holes 3 and 4): hand-overs that lie about their step, junk that would bury the
honest upload, substituted tensors and bytes, a spec copy that is not the job's, and a board with nothing usable
on it. The real referee process logic (`RefereeService.rule_if_due`) judges real games on anvil, reading a real
Redis evidence board; only the coordinator's artifact store is an in-memory shelf.

Each regression here failed on the code before the fix: the referee rebuilt the batch of the step named inside
the hand-over (so `{step: 3, …}` made step 3's batch "correct" for step 7), and read only the first 8 hand-overs
(so 8 junk uploads left it nothing to rule on: Void)."""

from __future__ import annotations

import json
import threading
from dataclasses import replace

import pytest
import redis

from arena.evidence import OP_INPUTS, EvidenceBoard
from chain.dispute_game import GameOutcome, GamePhase
from tests.services import machine_redis_url
from verde.checkpoint import dump_state
from verde.interpreter import Fault
from verde.runner import model_hash, run_spec
from verifier.referee_service import RefereeService
from verifier.replay import ReplayPool, replay_op

from .conftest import SPEC, SPEC_BYTES, Table, player
from .liars import BatchSwap, RefereeDesk, ShelfCoordinator, trace_of

pytestmark = [pytest.mark.integration]

BOARD_URL = machine_redis_url()  # a database of this process's own: game addresses repeat across snapshots


@pytest.fixture()
def shelf() -> ShelfCoordinator:
    r = redis.Redis.from_url(BOARD_URL)
    for key in r.scan_iter("agora:evidence:*"):
        r.delete(key)
    return ShelfCoordinator(SPEC_BYTES)


def board_of(shelf: ShelfCoordinator, who=None) -> EvidenceBoard:
    return EvidenceBoard(shelf, BOARD_URL, signer_key=who.private_key if who is not None else None)  # type: ignore[arg-type]


class Judge:
    """The referee process's per-game step, as `Table.play` ticks it."""

    def __init__(self, table: Table, shelf: ShelfCoordinator, cid: int, grace_s: float = 30.0,
                 replays: ReplayPool | None = None) -> None:
        c = table.cast
        shelf.chain_job_ids.append(cid)
        desk = RefereeDesk(table.game(c.referee), table.market(c.referee), shelf, c.referee.address)
        self.service = RefereeService(None, grace_s, ctx=desk, board=board_of(shelf),  # type: ignore[arg-type]
                                      replays=replays)

    def step(self, gid: int) -> bool:
        return self.service.rule_if_due(gid) is not None


def _to_referee(table: Table, gid: int, players) -> None:
    """Plays until the game waits for the referee (the players hand over at the last step on their own)."""
    g = table.game(table.cast.client)
    for _ in range(300):
        for p in players:
            p.tick()
        if g.state(gid).phase == GamePhase.REFEREE:
            for p in players:
                p.tick()  # the hand-over happens on the tick that sees the Referee phase
            return
    raise AssertionError(g.state(gid))


def test_a_hand_over_that_names_another_step_cannot_make_the_liar_win(table8: Table, honest, shelf):
    """The liar trained step 7 on step 3's batch and hands over {step: 3, …} first — under step 3's key and under
    step 7's. The referee judges the game's step (index = 7) with step 7's batch: the liar loses."""
    t, c = table8, table8.cast
    liar = trace_of(BatchSwap(SPEC, step=7, from_step=3))
    n_ops = honest.trace.n_ops
    cid = t.submitted_job(liar.trace_root, model_hash(liar.interpreter, liar.state_at(SPEC["steps"])), n_ops)
    gid = t.challenge(cid, honest.trace_root)
    liar_board = board_of(shelf, c.provider)
    players = [player(t, c.provider, gid, liar, label="liar"),  # no board: it hands over only its forgery
               player(t, c.verifier, gid, honest.trace, board_of(shelf, c.verifier), label="honest")]
    g = t.game(c.client)
    for _ in range(300):
        for p in players[:1]:
            p.tick()
        st = g.state(gid)
        if st.level == 2 and st.hi == st.lo + 1:
            break
        players[1].tick()
    st = g.state(gid)
    assert st.index == 7
    forged = replace(liar.op_inputs(7, st.hi), step=3)  # its own step-7 tensors, x/y from step 3's batch
    artifact = liar_board.post(g.address, gid, forged)  # announced for step 3 ...
    liar_board._announce(g.address, gid, OP_INPUTS, 7, st.hi, artifact)  # ... and, first, for step 7
    _to_referee(t, gid, players)
    judge = Judge(t, shelf, cid)
    assert t.play(gid, players, judge) == GameOutcome.CHALLENGER_WINS
    ruling = judge.service.rulings[gid]
    assert ruling.source == "hand-over" and ruling.rejected  # the forgery was read, and refused
    t.assert_honest_whole("verifier", "client", liars=("provider",))
    t.assert_conserved()


def test_junk_uploads_cannot_hide_the_honest_hand_over(table8: Table, honest, shelf):
    """Before the honest upload: 8 signed junk uploads on the liar's own list, 8 unsigned ones on the open list,
    8 forged announcements on the honest party's list, a substituted tensor and a store that serves other
    bytes for one id. The referee reads them all, refuses each, and rules from the honest hand-over."""
    t, c = table8, table8.cast
    liar_run = run_spec(SPEC, fault=Fault(step=5, op_index=4))
    cid = t.submitted_job(liar_run.trace_root, liar_run.final_model_hash, honest.trace.n_ops)
    gid = t.challenge(cid, honest.trace_root)
    honest_player = player(t, c.verifier, gid, honest.trace, board_of(shelf, c.verifier), label="honest")
    liar_player = player(t, c.provider, gid, liar_run.trace, label="liar")
    g = t.game(c.client)
    for _ in range(300):
        liar_player.tick()
        st = g.state(gid)
        if st.level == 2 and st.hi == st.lo + 1:
            break
        honest_player.tick()
    st = g.state(gid)
    s, j = st.index, st.hi
    liar_board, open_board = board_of(shelf, c.provider), board_of(shelf)
    r = redis.Redis.from_url(BOARD_URL)
    for i in range(8):
        junk = shelf.upload_artifact(b"junk %d" % i)
        liar_board._announce(g.address, gid, OP_INPUTS, s, j, junk)
        open_board._announce(g.address, gid, OP_INPUTS, s, j, shelf.upload_artifact(b"open junk %d" % i))
        r.rpush(f"agora:evidence:{g.address.lower()}:{gid}:{OP_INPUTS}:{c.verifier.address.lower()}",
                json.dumps({"artifact": junk, "step": s, "op": j, "sig": "0xdead"}))
    genuine = honest.trace.op_inputs(s, j)
    name = next(iter(genuine.tensors))
    bad = dict(genuine.tensors)
    bad[name] = bad[name].clone()
    bad[name].view(-1)[0] += 1.0
    liar_board.post(g.address, gid, replace(genuine, tensors=bad))  # substituted tensor
    # (bytes of its own: identical bytes would share the honest upload's content id)
    swapped = liar_board.post(g.address, gid, replace(genuine, chain=b"\x00" * 32))
    assert swapped is not None
    shelf.substitutes[swapped] = dump_state({}, 0)  # the store serves other bytes under that id
    _to_referee(t, gid, [liar_player, honest_player])
    judge = Judge(t, shelf, cid)
    assert t.play(gid, [liar_player, honest_player], judge) == GameOutcome.CHALLENGER_WINS
    ruling = judge.service.rulings[gid]
    assert ruling.source == "hand-over", ruling
    assert len(ruling.rejected) >= 1
    t.assert_honest_whole("verifier", "client", liars=("provider",))
    t.assert_conserved()


def test_the_referee_refuses_a_spec_copy_that_is_not_the_jobs(table8: Table, honest, shelf):
    t, c = table8, table8.cast
    liar_run = run_spec(SPEC, fault=Fault(step=2, op_index=2))
    cid = t.submitted_job(liar_run.trace_root, liar_run.final_model_hash, honest.trace.n_ops)
    gid = t.challenge(cid, honest.trace_root)
    players = [player(t, c.provider, gid, liar_run.trace, board_of(shelf, c.provider), label="liar"),
               player(t, c.verifier, gid, honest.trace, board_of(shelf, c.verifier), label="honest")]
    _to_referee(t, gid, players)
    shelf.spec_copy = SPEC_BYTES.replace(b'"lr":0.01', b'"lr":0.02')
    assert shelf.spec_copy != SPEC_BYTES
    judge = Judge(t, shelf, cid)
    assert judge.step(gid) is False  # a copy that does not hash to the on-chain specHash is never judged by
    assert t.game(c.client).state(gid).phase == GamePhase.REFEREE
    shelf.spec_copy = SPEC_BYTES
    assert t.play(gid, players, judge) == GameOutcome.CHALLENGER_WINS


def test_with_no_usable_hand_over_the_referee_replays_from_the_nearest_agreed_state(table8: Table, honest, shelf):
    """Nothing checks out on the board (the liar's op inputs only; the honest party hands over its state, the
    liar a made-up one): the referee replays from the state both agreed on-chain — step s − 1, not step 0."""
    t, c = table8, table8.cast
    liar_run = run_spec(SPEC, fault=Fault(step=10, op_index=3))
    cid = t.submitted_job(liar_run.trace_root, liar_run.final_model_hash, honest.trace.n_ops)
    gid = t.challenge(cid, honest.trace_root)
    players = [player(t, c.provider, gid, liar_run.trace, label="liar"),
               player(t, c.verifier, gid, honest.trace, label="honest")]
    _to_referee(t, gid, players)
    st = t.game(c.client).state(gid)
    g = t.game(c.client)
    board_of(shelf, c.verifier).post_state(g.address, gid, st.index - 1, honest.trace.state_at(st.index - 1))
    made_up = {k: v + 1.0 for k, v in honest.trace.state_at(st.index - 1).items()}
    board_of(shelf, c.provider).post_state(g.address, gid, st.index - 1, made_up)
    board_of(shelf, c.provider).post_state(g.address, gid, 8, liar_run.trace.state_at(8))
    judge = Judge(t, shelf, cid, grace_s=0.0)
    assert t.play(gid, players, judge) == GameOutcome.CHALLENGER_WINS
    assert judge.service.rulings[gid].source == f"own replay from step {st.index - 1}"
    t.assert_honest_whole("verifier", "client", liars=("provider",))


def test_a_slow_replay_does_not_stop_the_referee_ruling_other_games(table8: Table, honest, shelf):
    """Game A has no hand-over (its replay is held back); game B has one. B is ruled while A's replay waits."""
    t, c = table8, table8.cast
    gate = threading.Event()

    def held(*args):  # type: ignore[no-untyped-def]
        assert gate.wait(60), "replay never released"
        return replay_op(*args)

    pool = ReplayPool(replay=held)
    games = []
    for step, board in ((4, False), (9, True)):
        liar_run = run_spec(SPEC, fault=Fault(step=step, op_index=2))
        cid = t.submitted_job(liar_run.trace_root, liar_run.final_model_hash, honest.trace.n_ops)
        gid = t.challenge(cid, honest.trace_root)
        honest_board = board_of(shelf, c.verifier) if board else None
        players = [player(t, c.provider, gid, liar_run.trace, label="liar"),
                   player(t, c.verifier, gid, honest.trace, honest_board, label="honest")]
        _to_referee(t, gid, players)
        shelf.chain_job_ids.append(cid)
        games.append(gid)
    desk = RefereeDesk(t.game(c.referee), t.market(c.referee), shelf, c.referee.address)
    service = RefereeService(None, 0.0, ctx=desk, board=board_of(shelf), replays=pool)  # type: ignore[arg-type]
    a, b = games
    g = t.game(c.client)
    try:
        for _ in range(3):
            service.tick()
        assert pool.running(a) and not g.state(a).settled  # A waits on its replay ...
        assert g.state(b).outcome == GameOutcome.CHALLENGER_WINS  # ... while B was ruled meanwhile
        gate.set()
        for _ in range(200):
            service.tick()
            if g.state(a).settled:
                break
            gate.wait(0.05)
        assert g.state(a).outcome == GameOutcome.CHALLENGER_WINS
        assert service.rulings[a].source.startswith("own replay from step ")
    finally:
        gate.set()
        pool.shutdown()


def test_the_oracle_judges_the_games_step_not_the_one_a_hand_over_names(honest):
    """The bare regression of hole 3, no chain: the same forged hand-over first in line. Before the fix the oracle
    rebuilt step 3's batch (the hand-over's own `step`) and answered the liar's hash."""
    from chain.dispute_game import GameOutcome as Outcome
    from chain.dispute_game import GamePhase as Phase
    from chain.dispute_game import GameState
    from verifier.referee import VerdeOracle

    liar = trace_of(BatchSwap(SPEC, step=7, from_step=3))
    honest_ops, liar_ops = honest.trace.op_leaves(7), liar.op_leaves(7)
    j = next(i for i in range(1, len(honest_ops)) if honest_ops[i] != liar_ops[i])  # the first op fed the batch
    forged = replace(liar.op_inputs(7, j), step=3)
    zero = b"\x00" * 32
    st = GameState(defender="0x" + "11" * 20, phase=Phase.REFEREE, level=2, moved=0, ends_known=True, lo=j - 1,
                   hi=j, challenger="0x" + "22" * 20, deadline=0, index=7, num_steps=SPEC["steps"],
                   checkpoint_every=SPEC["checkpoint_every"], ops_per_step=honest.trace.n_ops, outcome=Outcome.NONE,
                   job_id=1, clock_defender=0, clock_challenger=0, round_start=0, root_defender=zero,
                   root_challenger=zero, agreed=honest_ops[j - 1], hi_defender=liar_ops[j], hi_challenger=zero,
                   pending=zero)
    oracle = VerdeOracle(SPEC, [lambda s, k: forged, lambda s, k: honest.trace.op_inputs(s, k)])
    answer = oracle.correct_hash(st)
    assert answer == honest.trace.op_output_hashes(7)[j - 1]  # H(out_j), the honest one
    assert answer != liar.op_output_hashes(7)[j - 1]
    assert len(oracle.rejected) == 1 and "does not match its agreed hash" in oracle.rejected[0], oracle.rejected
