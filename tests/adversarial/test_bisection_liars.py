"""Liars in the bisection itself, each a full game on anvil against the honest player, for k = 2, 3 and 8: a wrong
op at seeded random (step, op) positions, a lie only at level 1 and below, a made-up final hash (with the honest
trace, and bound into L[S]), a false challenger, a tampered interior. Every liar loses; the honest side never
loses a wei; the contracts end holding exactly what they owe."""

from __future__ import annotations

import pytest

from chain.dispute_game import GameOutcome
from chain.job_market import JobStatus
from verde.interpreter import Fault
from verde.merkle import keccak256
from verde.runner import run_spec
from verifier.policy import challenge_decision

from .conftest import SPEC, Table, draws, player
from .liars import BoundFake, HonestBelow, PickedOp, SourcePlayer, TamperedInterior

pytestmark = [pytest.mark.integration]


def _faulty(step: int, op: int):
    return run_spec(SPEC, fault=Fault(step=step, op_index=op))


@pytest.mark.parametrize("seed", [11])
def test_wrong_op_at_a_random_position_loses(table: Table, honest, seed):
    """A provider that computes one op wrong at a seeded (step, op) — the lie then propagates honestly."""
    n_ops = honest.trace.n_ops
    (step, op), = draws(seed * 100 + table.k, 1, SPEC["steps"], n_ops)
    liar = _faulty(step, op)
    cid = table.submitted_job(liar.trace_root, liar.final_model_hash, n_ops)
    gid = table.challenge(cid, honest.trace_root)
    c = table.cast
    players = [player(table, c.provider, gid, liar.trace, label="liar"),
               player(table, c.verifier, gid, honest.trace, label="honest")]
    ref = table.referee(lambda s, j: liar.trace.op_inputs(s, j), lambda s, j: honest.trace.op_inputs(s, j))
    assert table.play(gid, players, ref) == GameOutcome.CHALLENGER_WINS
    st = table.game(c.client).state(gid)
    assert st.level == 2 and st.index == step  # the referee judged exactly the faulty step
    assert table.market(c.client).status(cid) == JobStatus.FAILED
    net = table.assert_honest_whole("verifier", "client", liars=("provider",))
    assert net["provider"] < 0 and net["verifier"] > 0  # the liar paid, the honest challenger was rewarded
    table.assert_conserved()


def test_a_lie_only_at_level_one_and_below_loses(table_ends: Table, honest):
    table = table_ends
    """The liar's segment root carries a lie, but at level 1 and at the op level it tells the honest story except
    where its earlier claims force it: it is dragged to the last op of the segment's last step and loses there."""
    liar_run = _faulty(6, 3)
    src = HonestBelow(honest.trace, liar_run.trace.segment_leaves(), liar_run.final_slots_hash)
    cid = table.submitted_job(liar_run.trace_root, liar_run.final_model_hash, honest.trace.n_ops)
    gid = table.challenge(cid, honest.trace_root)
    c = table.cast
    players = [SourcePlayer(table.game(c.provider), gid, src),
               player(table, c.verifier, gid, honest.trace, label="honest")]
    ref = table.referee(lambda s, j: honest.trace.op_inputs(s, j))
    assert table.play(gid, players, ref) == GameOutcome.CHALLENGER_WINS
    st = table.game(c.client).state(gid)
    assert st.index == 8 and st.hi == honest.trace.n_ops  # the segment's last step, its last op (the state)
    table.assert_honest_whole("verifier", "client", liars=("provider",))
    table.assert_conserved()


@pytest.mark.parametrize("where", ["first", "middle"])
def test_a_lie_only_in_the_reveal_at_an_op_of_its_choosing_loses(table8: Table, honest, where):
    """The liar steers the op-level disagreement to the op it picks (the first, or a seeded one) and reveals a
    made-up output there, consistent with everything it committed. The referee recomputes that op: it loses."""
    t, c = table8, table8.cast
    n_ops = honest.trace.n_ops
    (_, mid), = draws(31, 1, SPEC["steps"], n_ops - 1)
    op = 1 if where == "first" else mid
    liar_run = _faulty(9, n_ops)  # its real fault is in the state update; it claims an earlier op went wrong
    src = PickedOp(liar_run.trace, honest.trace, op)
    cid = t.submitted_job(liar_run.trace_root, liar_run.final_model_hash, n_ops)
    gid = t.challenge(cid, honest.trace_root)
    players = [SourcePlayer(t.game(c.provider), gid, src), player(t, c.verifier, gid, honest.trace)]
    assert t.play(gid, players, t.referee(lambda s, j: honest.trace.op_inputs(s, j))) == \
        GameOutcome.CHALLENGER_WINS
    st = t.game(c.client).state(gid)
    assert (st.index, st.hi) == (9, op)  # judged exactly where the liar chose to lie
    t.assert_honest_whole("verifier", "client", liars=("provider",))
    t.assert_conserved()


def test_made_up_final_hash_with_the_honest_trace_loses(table8: Table, honest):
    """wrong-final: the honest root with a random finalModelHash. The verifier challenges with the same root."""
    t, c = table8, table8.cast
    fake = keccak256(b"not the model")
    cid = t.submitted_job(honest.trace_root, fake, honest.trace.n_ops)
    gid = t.challenge(cid, honest.trace_root)
    players = [player(t, c.provider, gid, honest.trace, label="liar"),
               player(t, c.verifier, gid, honest.trace, label="honest")]
    assert t.play(gid, players, t.referee(), stall_after=3) == GameOutcome.CHALLENGER_WINS
    assert players[0].responder.moves() == 0  # it never had a proof to send
    t.assert_honest_whole("verifier", "client", liars=("provider",))
    t.assert_conserved()


def test_made_up_final_hash_bound_into_the_last_leaf_loses(table8: Table, honest):
    table = table8
    """The mirror lie: L[S] = keccak(fake ‖ slotsHash), so the root differs only in its last leaf. Bisection walks
    to the last op of the last step, where the referee's state hash is the honest one."""
    fake = keccak256(b"a model nobody trained")
    src = BoundFake(honest.trace, fake)
    from verde.merkle import MerkleTree

    liar_root = MerkleTree(src.leaves(0, 0)).root
    cid = table.submitted_job(liar_root, fake, honest.trace.n_ops)
    gid = table.challenge(cid, honest.trace_root)
    c = table.cast
    players = [SourcePlayer(table.game(c.provider), gid, src),
               player(table, c.verifier, gid, honest.trace, label="honest")]
    ref = table.referee(lambda s, j: honest.trace.op_inputs(s, j))
    assert table.play(gid, players, ref) == GameOutcome.CHALLENGER_WINS
    assert table.game(c.client).state(gid).index == SPEC["steps"]
    table.assert_honest_whole("verifier", "client", liars=("provider",))
    table.assert_conserved()


@pytest.mark.parametrize("seed", [21])
def test_false_challenger_loses_its_bond_to_the_honest_provider(table8: Table, honest, seed):
    table = table8
    (step, op), = draws(seed + table.k, 1, SPEC["steps"], honest.trace.n_ops)
    made_up = _faulty(step, op)
    c = table.cast
    cid = table.submitted_job(honest.trace_root, honest.final_model_hash, honest.trace.n_ops)
    gid = table.challenge(cid, made_up.trace_root, c.liar_verifier)
    players = [player(table, c.provider, gid, honest.trace, label="honest"),
               player(table, c.liar_verifier, gid, made_up.trace, label="liar")]
    ref = table.referee(lambda s, j: made_up.trace.op_inputs(s, j), lambda s, j: honest.trace.op_inputs(s, j))
    assert table.play(gid, players, ref) == GameOutcome.DEFENDER_WINS
    table.finish(cid)
    assert table.market(c.client).status(cid) == JobStatus.FINALIZED
    net = table.assert_honest_whole("provider", liars=("liar_verifier",))
    assert net["liar_verifier"] < 0
    table.assert_conserved()


def test_tampered_interior_challenger_loses_and_the_verifier_never_takes_that_bait(table8: Table, honest):
    """Honest ends, tampered middle. As a challenger's root it loses at the first round (L[S] equal and bound).
    As a provider's root with the right model, the honest verifier does not challenge: it could not win."""
    t, c = table8, table8.cast
    src = TamperedInterior(honest.trace, position=1)
    from verde.merkle import MerkleTree

    tampered_root = MerkleTree(src.leaves(0, 0)).root
    cid = t.submitted_job(honest.trace_root, honest.final_model_hash, honest.trace.n_ops)
    gid = t.challenge(cid, tampered_root, c.liar_verifier)
    players = [player(t, c.provider, gid, honest.trace, label="honest"),
               SourcePlayer(t.game(c.liar_verifier), gid, src)]
    assert t.play(gid, players, t.referee()) == GameOutcome.DEFENDER_WINS
    assert t.game(c.client).state(gid).level == 0  # decided in the first round
    t.finish(cid)
    t.assert_honest_whole("provider", liars=("liar_verifier",))
    t.assert_conserved()
    # The mirror: a provider that submits the tampered root with the right model is not worth a challenge.
    decision, why = challenge_decision(honest.trace_root, honest.final_model_hash, tampered_root,
                                       honest.final_model_hash)
    assert (decision, why) == ("not_challenged", "model matches, root differs: not challenged")
    assert challenge_decision(honest.trace_root, honest.final_model_hash, honest.trace_root,
                              keccak256(b"fake"))[0] == "challenge"
    assert challenge_decision(honest.trace_root, honest.final_model_hash, tampered_root, keccak256(b"x"))[0] == \
        "challenge"
